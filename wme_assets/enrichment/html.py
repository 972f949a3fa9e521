"""Wikimedia Enterprise article fields derived from Parsoid HTML, as Enterprise's own parser does.

When a MediaWiki endpoint is configured for a project, wme fetches each revision's Parsoid HTML
(:mod:`wme_assets.sources.mediawiki`) and :func:`html_fields` derives from it what Enterprise derives
from the same HTML: ``abstract``, ``categories``, ``templates``, ``sections``, ``infoboxes``,
``images`` (the first one is the main ``image``), ``links`` and the plain ``text``. Without an endpoint
the same fields come from wikitext (:mod:`wme_assets.enrichment.wikitext`) and ``article_body.html``
is left out.

How it mirrors Enterprise
    The rules are those of Enterprise's Go parser (``general/parser/parser.go`` in
    github.com/wikimedia-enterprise/wikimedia-enterprise: goquery over the HTML), re-expressed over an
    lxml tree. The acceptance oracle is that parser's own golden outputs for 87 real Parsoid pages
    (``shared/fixtures/wme-parser-testdata``); ``wme_assets_tests/test_html_enrichment.py`` measures
    the match rate per function. Some of Enterprise's quirks are reproduced on purpose because they
    shape the output consumers already see:

    * the abstract is built by flattening the lead section to HTML, applying Enterprise's
      parenthetical regexes *to the HTML string* (so a ``( … )`` may span tags), then taking the text;
      regexes use Go's ASCII ``\\s`` (a no-break space is not whitespace to RE2);
    * numeric ``<sup>`` becomes U+2070 + digit (so "2" is written U+2072, as Enterprise writes it);
    * lists in the lead become Markdown-ish bullets (``"  - item"``) before flattening;
    * text extraction (``GetText``) inserts a space before a text node when it, its parent or one of
      its next two ancestors follows an element sibling, then collapses whitespace;
    * an image's ``height`` is its ``width`` (Enterprise reads ``width`` twice);
    * a category or template URL is the base URL plus the still-escaped href; a name is the
      unescaped title.

    What differs: Go's HTML5 parser and libxml2 build the same tree for Parsoid's well-formed output,
    but not for every malformed fragment; Relation lists come back sorted by name (Enterprise's come
    from a Go map, in random order).

Performance: one lxml parse per page; every function works on a deep copy of the part of the tree
it changes (Enterprise clones the goquery selection per function for the same reason).
"""

from __future__ import annotations

import copy
import json
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from html import escape as html_escape
from typing import Any
from urllib.parse import unquote

import lxml.html
from lxml import etree

__all__ = [
    "HtmlFields",
    "HtmlImage",
    "HtmlLink",
    "HtmlPart",
    "HtmlRelation",
    "abstract",
    "categories",
    "get_text",
    "html_fields",
    "images",
    "infoboxes",
    "links",
    "parse_html",
    "sections",
    "templates",
]


# ---------------------------------------------------------------------------------------------
# Result types (Enterprise's Go struct names, snake_case as in its JSON tags)


@dataclass
class HtmlRelation:
    """A category or template: ``{"name": "Category:X", "url": "https://…/wiki/Category:X"}``."""

    name: str
    url: str


@dataclass
class HtmlImage:
    content_url: str
    alternative_text: str = ""
    caption: str = ""
    height: int = 0
    width: int = 0


@dataclass
class HtmlLink:
    url: str
    text: str = ""
    images: list[HtmlImage] = field(default_factory=list)


@dataclass
class HtmlPart:
    """One node of ``sections`` / ``infoboxes``: type ``section``, ``paragraph``, ``list``,
    ``list_item``, ``infobox``, ``field`` or ``image``."""

    type: str
    name: str = ""
    value: str = ""
    values: list[str] = field(default_factory=list)
    has_parts: list[HtmlPart] = field(default_factory=list)
    images: list[HtmlImage] = field(default_factory=list)
    links: list[HtmlLink] = field(default_factory=list)


@dataclass
class HtmlFields:
    """Everything :func:`html_fields` derives from one revision's Parsoid HTML."""

    abstract: str
    categories: list[HtmlRelation]
    templates: list[HtmlRelation]
    sections: list[HtmlPart]
    infoboxes: list[HtmlPart]
    images: list[HtmlImage]
    links: list[HtmlLink]
    text: str

    @property
    def image(self) -> HtmlImage | None:
        """The main image: the first image of the first infobox, else the page's first image."""
        for box in self.infoboxes:
            for img in _iter_part_images(box):
                return img
        return self.images[0] if self.images else None


def _iter_part_images(part: HtmlPart) -> Iterator[HtmlImage]:
    yield from part.images
    for child in part.has_parts:
        yield from _iter_part_images(child)


# ---------------------------------------------------------------------------------------------
# Enterprise's regexes. Go's RE2 ``\s`` is ASCII ([\t\n\f\r ]); Python's is Unicode, so every
# pattern that uses ``\s`` is compiled with re.ASCII (a no-break space must *not* match).

_A = re.ASCII
_SPACES = re.compile(r"\s\s+", _A)
_SPACES_OR_HYPHEN = re.compile(r"(\s{2,}-)|\s{2,}", _A)
_BLANK_LINES = re.compile(r"^\s*$\n?", _A | re.MULTILINE)
_FORMULA = re.compile(r"(\d|[A-Z][a-z]?|\))<su[bp]>[0-9+-]{1,3}</su[bp]>")
_MATH_EXPR = re.compile(r"\(( |&nbsp;)*<i>([A-z]|[0-9+-])</i>")
_NESTED_BRACES = re.compile(r"([(（][^()（）]*)([(（][^()（）]+[)）])")
_BRACES_WITH_SPACE = re.compile(r"( |&nbsp;)\([^)]+ [^)]*\)")
_BRACES_WITH_SPACE_COLON_COMMA = re.compile(r"（[^）]+[ ：，][^）]+）")
_EMPTY_BRACES = re.compile(r"\(\s*\)", _A)
_EMPTY_BRACKET = re.compile(r"\[\s*\]", _A)
_SPACE_BEFORE_PUNCT_NON_LATIN = re.compile(r"(\s|&nbsp;)([，。])", _A)
_SPACE_AROUND_PUNCT_LATIN = re.compile(r"(\s|&nbsp;)([,.!?])(\s|&nbsp;|</)", _A)
_SPACE_BEFORE_PUNCT = re.compile(r"(\s|&nbsp;)([,.!?])", _A)
_SPACES_AROUND_PAREN = re.compile(r"(\s*\()\s+|\s+(\))", _A)
_ALL_IN_ONE_DELIMITER = re.compile(r"\s+([:;：；, ，、])", _A)
_PAREN_SEMICOLON = re.compile(r"\(\s*;\s*", _A)
_IS_REF = re.compile(r"\[[0-9]+\]")
_EDIT_TEXT = re.compile(r"\(\s*edit\s*\)", _A)
_NUMERIC = re.compile(r"^[0-9]+$")
_DELIMITER_AT_END = re.compile(r"(?:[:;；,，、]+)$")
_MULTI_LINE = re.compile(r"\n+")


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


# ---------------------------------------------------------------------------------------------
# Selectors (Enterprise's CSS, as predicates over lxml elements)


def _classes(el: Any) -> list[str]:
    return (el.get("class") or "").split()


def _has_class(el: Any, *names: str) -> bool:
    cls = _classes(el)
    return any(n in cls for n in names)


def _is_element(node: Any) -> bool:
    return isinstance(node.tag, str)


def _abstract_drop(el: Any) -> bool:
    """Enterprise's ``rmNodes`` for the abstract: references, pronunciations, hidden and
    non-prose nodes. (Its two ``[data-mw*="target":{"wt":"IPA"]`` selectors are not valid CSS and
    match nothing in goquery; ``[data-mw*="IPA"]`` covers them.)"""
    tag = el.tag
    cls = _classes(el)
    cls_attr = el.get("class") or ""
    data_mw = el.get("data-mw") or ""
    title = el.get("title") or ""
    return (
        "mw-ref" in cls_attr
        or any(
            c in cls
            for c in (
                "mw-reflink-text", "reference", "IPA", "pronunciation", "respelling",
                "geo-nondefault", "geo-multi-punct", "hide-when-compact", "noprint", "noexcerpt",
                "nomobile", "sortkey", "lang-comment", "rt-commentedText",
            )
        )
        or "pronunciation" in title
        or "Help:Pronunciation" in title
        or "IPA" in data_mw
        or "respell" in data_mw
        or (tag == "span" and (el.get("style") == "display:none" or "Z3988" in cls or "error" in cls_attr))
        or el.get("id") == "coordinates"
        or (tag == "table" and "navbox" in cls)
        or (tag == "div" and ("infobox" in cls or "magnify" in cls))
        or (tag == "ul" and "gallery" in cls)
        or el.get("encoding") == "application/x-tex"
    )


_INFOBOX_CLASSES = ("infobox", "infobox_v3", "infobox_v2", "sinottico")

_SECTIONS_DROP_TAGS = frozenset(
    "figure footer input link nav noscript script style sub sup table".split()
)
_SECTIONS_DROP_CLASSES = frozenset(
    """book catlinks citation gallery gallerybox hatnote listaref metadata mw-authority-control
    mw-editsection-bracket mw-editsection-divider mw-editsection-like mw-editsection-visualeditor
    mw-editsection mw-footer-container mw-gallery-packed mw-magiclink-isbn mw-mf-linked-projects
    mw-redirectedfrom NavFrame navigation-not-searchable noprint normdaten portal-bar printfooter
    refbegin-columns refbegin references reflist side-box sister-box sistersitebox
    vector-body-before-content vector-dropdown vector-header-container vector-page-toolbar
    vector-settings""".split()
)
# Headings whose whole section Enterprise drops (ids of Parsoid's <h2 id=…>). Enterprise's list
# misses two commas, which turns "#Notable_people #Primary_sources" and
# "#Article_connexe #Bibliografia" into descendant selectors: Notable_people, Primary_sources and
# Article_connexe are therefore *not* dropped (Bibliografia is, from its own entry).
_SECTIONS_DROP_HEADER_IDS = frozenset(
    """References Explanatory_notes Further_reading See_also External_links Notes Citations
    Secondary_sources Tertiary_sources General_and_cited_sources Bibliography
    Referencias Véase_también Bibliografía Enlaces_externos Ciudades_hermanas Referencias_y_notas
    Literatur Weblinks Einzelnachweise
    Références Voir_aussi Bibliographie Liens_externes Notes_et_références Galerie_photos
    Referências Ver_também Bibliografia Ligações_externas Notas Annexes
    Voci_correlate Altri_progetti Collegamenti_esterni Note_e_riferimenti Note Riferimenti""".split()
)

_CLEAN_LOOKUP = (("class", "noprint"), ("class", "noviewer"), ("class", "navigation-only"), ("style", "display:none"))


# ---------------------------------------------------------------------------------------------
# Tree helpers


def parse_html(html: str | bytes) -> Any:
    """Parse a whole Parsoid document (one parse, shared by every function below)."""
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


# ---------------------------------------------------------------------------------------------
# GetText and cleanHTML


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


# ---------------------------------------------------------------------------------------------
# Categories and templates


def _title(href: str) -> str:
    """Go ``url.QueryUnescape`` of the href without ``./``, underscores as spaces."""
    ttl = href.removeprefix("./").replace("_", " ")
    if re.search(r"%(?![0-9A-Fa-f]{2})", ttl):
        return ttl  # Go fails on a bad escape and keeps the raw title
    return unquote(ttl.replace("+", " "))


def _full_url(href: str, base: str) -> str:
    """Base URL + href (still escaped, as Enterprise's shadowed variable leaves it); "" when the
    href holds an invalid escape (Go then returns QueryUnescape's empty result)."""
    url = base + href.removeprefix("./")
    if re.search(r"%(?![0-9A-Fa-f]{2})", url):
        return ""
    return url


def categories(doc: Any, base: str) -> list[HtmlRelation]:
    found: dict[str, HtmlRelation] = {}
    for link in doc.iter("link"):
        if link.get("rel") != "mw:PageProp/Category" or link.get("href") is None:
            continue
        href = link.get("href").split("#")[0]
        name = _title(href)
        if name:
            found[name] = HtmlRelation(name, _full_url(href, base))
    return sorted(found.values(), key=lambda r: r.name)


_JSON_STRING = r'"((?:[^"\\]|\\.)*)"'
_TEMPLATE_TARGET = {
    "href": re.compile(r'"template":\{"target":\{[^{}]*?"href":' + _JSON_STRING),
    # the wt only from a target object that is whole ({"wt":…,"href":…}): where the break is inside
    # the target itself (Parsoid's unescaped quote in a wt), gjson yields no name
    "wt": re.compile(r'"template":\{"target":\{"wt":' + _JSON_STRING + r'(?:,"href":"(?:[^"\\]|\\.)*")?\}'),
}


def _template_targets(data_mw: str, key: str) -> list[str]:
    """``parts.#.template.target.<key>`` of a data-mw attribute (``href`` or ``wt``). Enterprise
    reads it with gjson, which tolerates the occasional invalid JSON Parsoid writes and yields what
    precedes the break; a regex over that prefix of the raw attribute stands in for it then."""
    try:
        parts = json.loads(data_mw).get("parts")
    except json.JSONDecodeError as err:
        # gjson reads what it can: the parts before the point where the JSON breaks.
        return [json.loads(f'"{m}"') for m in _TEMPLATE_TARGET[key].findall(data_mw[: err.pos])]
    except (ValueError, AttributeError):
        return []
    values = []
    for part in parts if isinstance(parts, list) else ():
        target = (part.get("template") or {}).get("target") if isinstance(part, dict) else None
        if isinstance(target, dict) and isinstance(target.get(key), str):
            values.append(target[key])
    return values


def templates(doc: Any, base: str) -> list[HtmlRelation]:
    found: dict[str, HtmlRelation] = {}
    for el in doc.iter():
        data_mw = el.get("data-mw") if _is_element(el) else None
        if not data_mw or "parts" not in data_mw:
            continue
        for href in _template_targets(data_mw, "href"):
            name = _title(href)
            found[name] = HtmlRelation(name, _full_url(href, base))
    return sorted(found.values(), key=lambda r: r.name)


# ---------------------------------------------------------------------------------------------
# Abstract


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


def _inner_html(el: Any) -> str:
    parts = [html_escape(el.text, quote=False) if el.text else ""]
    for child in el:
        parts.append(etree.tostring(child, encoding="unicode", method="html", with_tail=True))
    # libxml2 writes U+00A0 as &nbsp; in some contexts; Go's renderer writes the raw character,
    # and Enterprise's "( |&nbsp;)" must not match a raw no-break space.
    return "".join(parts).replace("&nbsp;", "\u00a0").replace("&#160;", "\u00a0")


def _remove_nested_braces(s: str) -> str:
    while True:
        new = _NESTED_BRACES.sub(lambda m: m.group(1), s)
        if new == s or not _NESTED_BRACES.search(new):
            return new
        s = new


def abstract(doc: Any) -> str:
    """Enterprise's ``GetAbstract``: the lead section as plain text, parentheticals removed."""
    doc = _detached_copy(doc)
    nihongo = ""
    body = doc.find("body")
    lead = next(body.iter("section"), None) if body is not None else None
    for el in _iter_descendants(lead) if lead is not None else ():
        if "Nihongo" in (el.get("data-mw") or ""):
            nihongo = _text(el)
            break

    for el in [e for e in _iter_descendants(doc) if _abstract_drop(e)]:
        _remove(el)

    body = doc.find("body")
    section = next(body.iter("section"), None) if body is not None else None
    if section is None:
        return nihongo.strip()

    for el in [e for e in _iter_descendants(section) if e.tag in (
        "table", "div", "input", "script", "style", "link", "figure", "figcaption", "caption")]:
        _remove(el)

    # numeric superscripts → U+2070 + digit (Enterprise's arithmetic, so ² is written U+2072)
    for sup in list(section.iter("sup")):
        txt = _text(sup)
        if _NUMERIC.match(txt):
            _replace_with_text(sup, "".join(chr(0x2070 + ord(c) - 48) for c in txt))

    # lists → "\n  - item\n" text
    for lst in _outermost(section, lambda e: e.tag in ("ul", "ol", "dl")):
        out = ["\n"]
        _markdown_list(lst, 1, out)
        _replace_with_text(lst, "".join(out))

    # flatten a/span to their text, so the regexes below see prose rather than markup
    for el in _outermost(section, lambda e: e.tag in ("a", "span")):
        _replace_with_text(el, _text(el))

    for el in _iter_descendants(section):
        for attr in ("about", "data-mw", "id", "typeof"):
            el.attrib.pop(attr, None)
        for attr, val in el.attrib.items():
            if "(" in val or ")" in val:
                el.set(attr, val.replace("(", "substitue_for_open_paren_in_attr").replace(
                    ")", "substitue_for_closed_paren_in_attr"))

    hml = " " + _inner_html(section)
    if not _FORMULA.search(hml) and not _MATH_EXPR.search(hml):
        hml = _remove_nested_braces(hml)
        hml = _BRACES_WITH_SPACE.sub("", hml)
        hml = _BRACES_WITH_SPACE_COLON_COMMA.sub("", hml)
    hml = _EMPTY_BRACES.sub("", hml)
    hml = _EMPTY_BRACKET.sub("", hml)
    hml = _SPACE_BEFORE_PUNCT_NON_LATIN.sub(r"\2", hml)
    hml = _SPACE_AROUND_PUNCT_LATIN.sub(r"\2\3", hml)

    frag = lxml.html.fragment_fromstring(hml, create_parent="div") if hml.strip() else None
    abs_ = _text(frag) if frag is not None else ""
    if not abs_.startswith(nihongo):
        abs_ = f"{nihongo} {abs_}"
    abs_ = _SPACES_OR_HYPHEN.sub(lambda m: m.group(0) if m.group(0).endswith("-") else " ", abs_)
    abs_ = _SPACE_BEFORE_PUNCT.sub(r"\2", abs_)
    abs_ = _PAREN_SEMICOLON.sub("(", abs_)
    abs_ = _BLANK_LINES.sub("", abs_)
    return abs_.strip()


# ---------------------------------------------------------------------------------------------
# Images and links


def images(el: Any) -> list[HtmlImage]:
    """Enterprise's ``GetImages``: every visible ``<img>``, caption from the infobox or figure."""
    out = []
    clean = _clean_html(el)
    for img in clean.iter("img"):
        width = _atoi(img.get("width"))
        caption = ""
        ancestors = list(img.iterancestors())
        for anc in ancestors:
            if _has_class(anc, "infobox-image"):
                caption += "".join(_text(c) for c in _iter_descendants(anc) if _has_class(c, "infobox-caption"))
        if not caption:
            caps = [c for anc in ancestors if anc.tag == "figure" for c in anc.iter("figcaption")]
            caption = get_text(caps) if caps else ""
        out.append(HtmlImage(
            content_url=f"https:{img.get('src') or ''}",
            alternative_text=img.get("alt") or "",
            caption=caption,
            height=width,  # sic: Enterprise reads "width" for both
            width=width,
        ))
    return out


def _atoi(value: str | None) -> int:
    try:
        return int(value or "0")
    except ValueError:
        return 0


def _link_url(href: str, base: str) -> str:
    if href.startswith("./"):
        return base + href[2:]
    if href.startswith("//"):
        return "https:" + href
    if not href.startswith("http"):
        return base + href
    return href


def links(el: Any, base: str) -> list[HtmlLink]:
    """Enterprise's ``GetLinks``: every ``<a>`` but file links, with text and images."""
    out = []
    for a in el.iter("a"):
        href = a.get("href") or ""
        if href.startswith("./File:"):
            continue
        text = get_text(a) or a.get("title") or ""
        out.append(HtmlLink(url=_link_url(href, base), text=text, images=images(a)))
    return out


# ---------------------------------------------------------------------------------------------
# Sections


def _remove_inline_citation(el: Any) -> str:
    txt = _EDIT_TEXT.sub(" ", _IS_REF.sub(" ", get_text(el)))
    return txt.strip().replace(" .", ".")


def _paragraphs(el: Any, base: str) -> list[HtmlPart]:
    part = HtmlPart(type="")
    if el.tag == "p":
        part = HtmlPart(type="paragraph", value=_remove_inline_citation(el), links=links(el, base))
    elif el.tag in ("ol", "ul"):
        items = []
        for li in el.iter("li"):
            item = HtmlPart(type="list_item", value=_remove_inline_citation(li), links=links(li, base))
            if item.value or item.links:
                items.append(item)
        part = HtmlPart(type="list", has_parts=items)
    return [part] if (part.value or part.links or part.has_parts) else []


def _get_sections(el: Any, parent: HtmlPart | None, base: str) -> list[HtmlPart]:
    out: list[HtmlPart] = []
    for child in el:
        if not _is_element(child):
            continue
        if child.tag == "section":
            heading = next((h for h in _iter_descendants(child) if h.tag in ("h2", "h3", "h4", "h5", "h6", "h7")), None)
            name = _IS_REF.sub(" ", get_text(heading)) if heading is not None else ""
            if not name and child.get("data-mw-section-id") == "0":
                name = "Abstract"
            sec = HtmlPart(type="section", name=name)
            sec.has_parts.extend(_get_sections(child, sec, base))
            out.append(sec)
        elif child.tag in ("p", "ul", "ol"):
            if parent is not None:
                parent.has_parts.extend(_paragraphs(child, base))
        else:
            out.extend(_get_sections(child, parent, base))
    return out


def sections(doc: Any, base: str) -> list[HtmlPart]:
    """Enterprise's ``GetSections``: nested sections with their paragraphs and lists; the lead is
    "Abstract"; references, "See also", "External links"… and empty sections are left out."""
    doc = _detached_copy(doc)
    for el in [e for e in _iter_descendants(doc) if _has_class(e, *_INFOBOX_CLASSES)]:
        _remove(el, keep_text_nodes_apart=True)
    for el in [e for e in _iter_descendants(doc)
               if e.getparent() is not None and e.getparent().tag == "section"
               and ((e.tag == "div" and _has_class(e, "reflist")) or e.get("id") == "External_links")]:
        sec = el.getparent()
        if sec.getparent() is not None:
            _remove(sec, keep_text_nodes_apart=True)
    for el in [e for e in _iter_descendants(doc)
               if e.tag in _SECTIONS_DROP_TAGS or e.get("role") == "navigation"
               or any(c in _SECTIONS_DROP_CLASSES for c in _classes(e))]:
        _remove(el, keep_text_nodes_apart=True)
    for el in [e for e in _iter_descendants(doc) if e.get("id") in _SECTIONS_DROP_HEADER_IDS]:
        parent = el.getparent()
        if parent is not None and parent.getparent() is not None:
            _remove(parent, keep_text_nodes_apart=True)
    for sec in list(doc.iter("section")):
        kids = [k for k in sec if _is_element(k)]
        if len(kids) == 1 and kids[0].tag in ("h1", "h2", "h3", "h4", "h5", "h6") and sec.getparent() is not None:
            _remove(sec, keep_text_nodes_apart=True)
    body = doc.find("body")
    return _get_sections(body, None, base) if body is not None else []


# ---------------------------------------------------------------------------------------------
# Infoboxes

_INFOBOX_SECTION_CLASSES = (
    "infobox-above", "infobox-below", "infobox-header", "infobox-subheader",
    "sinottico_divisione", "sinottico_testata", "sinottico_piede", "sinottico_piede2",
)


def _find_class(el: Any, cls: str) -> list[Any]:
    return [d for d in _iter_descendants(el) if _has_class(d, cls)]


def _gtx(els: Any) -> str:
    return _DELIMITER_AT_END.sub("", get_text(els, "tr"))


def _rows_under_class(row: Any, cls: str) -> list[Any]:
    """goquery ``row.Find(".cls tr")``: the ``<tr>`` below ``row`` with a ``.cls`` ancestor, which may
    be *above* ``row`` (a table nested in an ``infobox-full-data`` cell is read through it)."""
    return [tr for tr in row.iterdescendants("tr") if any(_has_class(a, cls) for a in tr.iterancestors())]


def _infobox_part(row: Any, base: str) -> HtmlPart | None:
    lst = ""
    # Enterprise selects every list under .infobox-data first, then replaces each in turn: the last
    # one in document order wins, even a list nested in one already removed (its innermost list).
    for sli in [d for d in _iter_descendants(row) if d.tag in ("ul", "ol", "dl")
                and any(_has_class(a, "infobox-data") for a in d.iterancestors())]:
        out: list[str] = []
        _markdown_list(sli, 1, out)
        lst = _MULTI_LINE.sub("\n", "".join(out))
        _remove(sli, keep_text_nodes_apart=True)

    labels = _find_class(row, "infobox-label")
    lbl = _gtx(labels[0]) if labels else ""
    if not lbl:
        lbl = _gtx(_rows_under_class(row, "infobox-label"))

    dta = ""
    datas = _find_class(row, "infobox-data")
    if not lst:
        dta = _gtx(datas[0]) if datas else ""
        if not dta:
            dta = _gtx(_rows_under_class(row, "infobox-data"))
    if not dta and not lst:
        full = _find_class(row, "infobox-full-data")
        dta = _gtx(full)
        if not dta:
            dta = _gtx(_rows_under_class(row, "infobox-full-data"))
    if not dta and not lst:
        ths = [c for c in row if _is_element(c) and c.tag == "th"]
        tds = [c for c in row if _is_element(c) and c.tag == "td"]
        if len(tds) == 2 and not ths:
            lbl, dta = _gtx(tds[0]), _gtx(tds[-1])
        elif len(tds) == 1 and len(ths) == 1:
            lbl, dta = _gtx(ths[0]), _gtx(tds[0])
        if not dta and not lst:
            dta = _gtx(row)

    ims = images(row)
    if not lbl and not lst and not dta and not ims:
        return None
    typ = "field"
    if (not dta and ims) or _find_class(row, "infobox-image"):
        typ = "image"
    if lst:
        typ = "list"
        for d in datas:
            members: list[Any] = [d.text] if d.text else []
            for c in d:
                if _is_element(c) and c.tag not in ("ul", "ol", "dl"):
                    members.append(c)
                if c.tail:
                    members.append(c.tail)
            dta = _gtx(members)
    return HtmlPart(type=typ, name=lbl, value=dta, images=ims, links=links(row, base), values=lst.split("\n"))


def _in_tree(el: Any, root: Any) -> bool:
    return any(a is root for a in el.iterancestors())


def _infobox(box: Any, doc: Any, base: str) -> HtmlPart:
    ibx = HtmlPart(type="infobox")
    about = box.get("about")
    if about:
        for el in _iter_descendants(doc):
            if el.get("about") != about:
                continue
            data_mw = el.get("data-mw") or ""
            wts = _template_targets(data_mw, "wt") if "parts" in data_mw else []
            if wts:
                ibx.name = wts[0].strip()

    clean = _clean_html(box)
    title = get_text(_find_class(clean, "infobox-title"))
    if _has_class(box, "infobox_v3") and not title:
        title = get_text([d for d in _iter_descendants(clean) if d.tag == "div" and _has_class(d, "entete")])

    section: HtmlPart | None = None
    for row in list(clean.iter("tr")):
        if not _in_tree(row, clean) and row is not clean:
            continue
        heading = ""
        for cls in _INFOBOX_SECTION_CLASSES:
            heading = get_text(_find_class(row, cls))
            if heading:
                break
        if heading:
            section = HtmlPart(type="section", name=heading)
            ibx.has_parts.append(section)
            continue
        if section is None:
            section = HtmlPart(type="section", name=title)
            if _has_class(box, "infobox_v3"):
                section.images = images_of(_find_class(box, "images"))
                legends = _find_class(box, "legend")
                if section.images:
                    section.images[0].caption = get_text(legends[0]) if legends else ""
            ibx.has_parts.append(section)
        part = _infobox_part(row, base)
        if part is not None:
            section.has_parts.append(part)
    return ibx


def images_of(els: list[Any]) -> list[HtmlImage]:
    return [img for el in els for img in images(el)]


def infoboxes(doc: Any, base: str) -> list[HtmlPart]:
    """Enterprise's ``GetInfoBoxes``: every ``.infobox`` (and fr/it variants), its title and rows
    grouped under header rows as sections of fields, lists and images."""
    doc = _detached_copy(doc)
    for wbr in list(doc.iter("wbr")):
        _remove(wbr)
    return [_infobox(box, doc, base) for box in list(_iter_descendants(doc)) if _has_class(box, *_INFOBOX_CLASSES)]


# ---------------------------------------------------------------------------------------------
# Everything at once


def html_fields(html: str | bytes, *, base_url: str | None = None) -> HtmlFields:
    """Derive Enterprise's HTML-based fields from one revision's Parsoid HTML.

    ``base_url`` is the article URL prefix links are resolved against, e.g.
    ``"https://en.wikipedia.org/wiki/"``; ``None`` takes it from the document's ``<base href>``
    (Parsoid writes ``//en.wikipedia.org/wiki/``), which is what Enterprise does. Pass it for HTML
    from a local MediaWiki whose ``<base>`` points at the local server.
    """
    doc = parse_html(html)
    base = base_url if base_url is not None else _base_url(doc)
    return HtmlFields(
        abstract=abstract(doc),
        categories=categories(doc, base),
        templates=templates(doc, base),
        sections=sections(doc, base),
        infoboxes=infoboxes(doc, base),
        images=images(doc),
        links=links(doc, base),
        text=get_text(doc),
    )
