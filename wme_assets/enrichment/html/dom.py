"""The lxml tree: one parse per page, and the helpers every function uses to select, copy, remove and
read elements the way goquery does (Enterprise's CSS selectors become predicates over elements)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import lxml.html

# -- selectors --------------------------------------------------------------------------------------


def _classes(el: Any) -> list[str]:
    return (el.get("class") or "").split()


def _has_class(el: Any, *names: str) -> bool:
    cls = _classes(el)
    return any(n in cls for n in names)


def _is_element(node: Any) -> bool:
    return isinstance(node.tag, str)


# The infobox classes Enterprise's selectors name.
_INFOBOX_CLASSES = ("infobox", "infobox_v3", "infobox_v2", "sinottico")

# -- the tree ---------------------------------------------------------------------------------------


def parse_html(html: str | bytes) -> Any:
    """Parse a whole Parsoid document (one parse, shared by every function of the package)."""
    if isinstance(html, str):
        html = html.encode("utf-8")
    parser = lxml.html.HTMLParser(encoding="utf-8", remove_comments=False)
    doc = lxml.html.document_fromstring(html, parser=parser)
    _empty_wbr_elements(doc)
    return doc


def _empty_wbr_elements(doc: Any) -> None:
    """libxml2 does not know ``<wbr>`` is void and nests what follows it, up to its parent's end,
    inside it (``-<wbr><time>1947</time>)`` → ``<wbr><time>…</time>)</wbr>``); Go's HTML5 parser,
    which Enterprise uses, does not. Move that content back out, after the ``<wbr>``."""
    for wbr in reversed(list(doc.iter("wbr"))):  # innermost first
        if wbr.text is None and len(wbr) == 0:
            continue
        after = wbr.tail
        wbr.tail, wbr.text = wbr.text, None
        anchor = wbr
        for child in list(wbr):
            anchor.addnext(child)  # moves the child's tail along with it
            anchor = child
        anchor.tail = (anchor.tail or "") + (after or "") or None


def _detached_copy(el: Any) -> Any:
    """A deep copy without the tail text (goquery's Clone: the clone has no parent or siblings)."""
    dup = copy.deepcopy(el)
    dup.tail = None
    return dup


# Go's html.Node.RemoveChild leaves the text before and after the removed node as two text nodes,
# and GetText writes a space after every text node; lxml has only one text slot there, so a removal
# that GetText later reads joins the two with this marker, which GetText turns into that space.
# (A noncharacter: valid in XML text, never in real article text.)
_TEXT_NODE_BREAK = "\ufdd0"


def _remove(el: Any, *, keep_text_nodes_apart: bool = False) -> None:
    """Remove an element and its subtree, keeping the text that follows it (its tail).

    ``keep_text_nodes_apart``: remove it as Go's ``RemoveChild`` does before a ``GetText``, so
    the text on either side stays two text nodes (see ``_TEXT_NODE_BREAK``)."""
    parent = el.getparent()
    if parent is None:
        return
    tail = el.tail
    if tail and keep_text_nodes_apart:
        tail = _TEXT_NODE_BREAK + tail
    prev = el.getprevious()
    if tail:
        if prev is not None:
            prev.tail = (prev.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
    parent.remove(el)


def _replace_with_text(el: Any, text: str) -> None:
    el.tail = text + (el.tail or "")
    _remove(el)


def _iter_descendants(el: Any) -> Iterator[Any]:
    """Element descendants in document order (not el itself, no comments)."""
    for d in el.iterdescendants():
        if _is_element(d):
            yield d


def _outermost(root: Any, pred: Any) -> list[Any]:
    """Descendants matching pred that have no matching ancestor below root."""
    out: list[Any] = []

    def walk(node: Any) -> None:
        for child in node:
            if not _is_element(child):
                continue
            if pred(child):
                out.append(child)
            else:
                walk(child)

    walk(root)
    return out


def _text(el: Any) -> str:
    """goquery ``Text()``: every descendant text node, concatenated."""
    return "".join(el.itertext()).replace(_TEXT_NODE_BREAK, "")


def _base_url(doc: Any) -> str:
    for base in doc.iter("base"):
        href = base.get("href") or ""
        if href:
            # Enterprise writes "https:" + href whatever the href is (Parsoid's is "//host/wiki/");
            # an absolute http(s) href is kept as it is.
            return href if href.startswith(("http://", "https://")) else f"https:{href}"
    return ""
