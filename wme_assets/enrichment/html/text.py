"""Enterprise's ``cleanHTML`` and ``GetText`` (an element's plain text, spaced as Go's node model spaces
it), and ``getList`` (lists as ``"  - item"`` lines)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from .dom import _TEXT_NODE_BREAK, _detached_copy, _is_element, _iter_descendants, _remove

# Enterprise's regexes. Go's RE2 ``\s`` is ASCII ([\t\n\f\r ]); Python's is Unicode, so every
# pattern that uses ``\s`` is compiled with re.ASCII (a no-break space must *not* match).
_A = re.ASCII
_SPACES = re.compile(r"\s\s+", _A)
_SPACE_BEFORE_PUNCT = re.compile(r"(\s|&nbsp;)([,.!?])", _A)
_SPACES_AROUND_PAREN = re.compile(r"(\s*\()\s+|\s+(\))", _A)
_ALL_IN_ONE_DELIMITER = re.compile(r"\s+([:;：；, ，、])", _A)


@lru_cache(maxsize=1)
def _all_in_one_patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """``\\p{C}|\\[[^\\]]+\\]|•`` and ``\\s+|&#160;|&nbsp;|\\p{Zs}| `` (RE2 classes Python lacks).

    Go's ``\\p{C}`` is Cc|Cf|Co|Cs (not unassigned code points). Built once, on first use."""
    other, zs = [], []
    for cp in range(0x110000):
        cat = unicodedata.category(chr(cp))
        if cat in ("Cc", "Cf", "Co", "Cs"):
            other.append(cp)
        elif cat == "Zs":
            zs.append(cp)

    def char_class(cps: list[int]) -> str:
        ranges, start, prev = [], cps[0], cps[0]
        for cp in cps[1:]:
            if cp != prev + 1:
                ranges.append((start, prev))
                start = cp
            prev = cp
        ranges.append((start, prev))
        return "".join(
            f"\\U{a:08x}" if a == b else f"\\U{a:08x}-\\U{b:08x}" for a, b in ranges
        )

    empty = re.compile(f"[{char_class(other)}]|\\[[^\\]]+\\]|•")
    space = re.compile(f"\\s+|&#160;|&nbsp;|[{char_class(zs)}]| ", re.ASCII)
    return empty, space


# What cleanHTML removes besides <script> and <style>: (attribute, substring of its value).
_CLEAN_LOOKUP = (("class", "noprint"), ("class", "noviewer"), ("class", "navigation-only"), ("style", "display:none"))


def _clean_html(el: Any) -> Any:
    """Enterprise's ``cleanHTML``: a copy without script/style and hidden/non-printing elements."""
    dup = _detached_copy(el)
    doomed = []
    for d in _iter_descendants(dup):
        if d.tag in ("script", "style") or any(needle in (d.get(attr) or "") for attr, needle in _CLEAN_LOOKUP):
            doomed.append(d)
    for d in doomed:
        _remove(d, keep_text_nodes_apart=True)
    # RemoveWordBreakOpportunity: <wbr> goes, the text on either side joins up.
    for wbr in list(dup.iter("wbr")):
        _remove(wbr)
    return dup


def _prev_sibling_is_element(node: Any, parent: Any, root: Any) -> bool:
    """Whether the DOM node before ``node`` (an element) is an element, in Go's node model where
    text between elements is a node of its own. The root of a cloned selection has no siblings."""
    if node is root or parent is None:
        return False
    prev = node.getprevious()
    if prev is None:
        return False  # first child: before it is parent.text (a text node) or nothing
    if prev.tail:
        return False  # a text node sits between
    return _is_element(prev)


def _get_text_raw(roots: Iterable[Any], ignore: tuple[str, ...] = ()) -> str:
    buf: list[str] = []
    for root in roots:
        if isinstance(root, str):  # a bare text node as a selection member
            buf.append(root.replace(_TEXT_NODE_BREAK, " ") + " ")
            continue
        root = _clean_html(root)

        def parent_of(n: Any, root: Any = root) -> Any:
            return None if n is root else n.getparent()

        def elem_flag(n: Any, root: Any = root) -> bool:
            return _prev_sibling_is_element(n, parent_of(n), root)

        def emit(text: str, parent: Any, prev_el: Any) -> None:
            # nds = [text, parent, grandparent] + [grandparent, great-grandparent] (Go's loop + appends)
            gp = parent_of(parent) if parent is not None else None
            ggp = parent_of(gp) if gp is not None else None
            checks: list[bool] = []
            # the text node itself: its previous sibling is prev_el (an element) or nothing/text
            checks.append(prev_el is not None and _is_element(prev_el) and not text.startswith(" "))
            for n in (parent, gp, gp, ggp):
                if n is not None:
                    checks.append(elem_flag(n))  # element Data is a tag name: never starts with " "
            buf.extend(" " for c in checks if c)
            buf.append(text.replace(_TEXT_NODE_BREAK, " ") + " ")

        def walk(el: Any) -> None:
            if el.text and _is_element(el):
                emit(el.text, el, None)
            for child in el:
                if _is_element(child):
                    if child.tag not in ignore:
                        walk(child)
                if child.tail:
                    emit(child.tail, el, child)

        walk(root)
    s = "".join(buf)
    empty, space = _all_in_one_patterns()
    s = empty.sub("", s)
    s = _ALL_IN_ONE_DELIMITER.sub(r"\1", s)
    s = space.sub(" ", s)
    s = _SPACES.sub(" ", s)
    s = _SPACES_AROUND_PAREN.sub(lambda m: (m.group(1) or "") + (m.group(2) or ""), s)
    s = _SPACE_BEFORE_PUNCT.sub(r"\2", s)
    return s.strip()


def get_text(el: Any | Iterable[Any], *ignore: str) -> str:
    """Enterprise's ``GetText`` of an element (or of several, concatenated)."""
    roots = [el] if (isinstance(el, str) or hasattr(el, "tag")) else list(el)
    return _get_text_raw(roots, ignore)


def _markdown_list(el: Any, depth: int, out: list[str]) -> None:
    """Enterprise's ``getList``: "  "×depth + "- " per item, nested lists one level deeper."""
    is_item = el.tag in ("li", "dt", "dd")
    if is_item:
        out.append("  " * depth + "- ")
    if el.text:
        out.append(el.text.replace(_TEXT_NODE_BREAK, ""))
    for child in el:
        if _is_element(child):
            if child.tag in ("ul", "ol", "dl"):
                out.append("\n")
                _markdown_list(child, depth + 1, out)
            else:
                _markdown_list(child, depth, out)
        if child.tail:
            out.append(child.tail.replace(_TEXT_NODE_BREAK, ""))
    if is_item:
        out.append("\n")
