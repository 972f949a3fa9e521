"""Masking: comments removed, ``<nowiki>`` made inert, the content of non-wikitext elements dropped."""

from __future__ import annotations

import re
from collections.abc import Callable

from .deadline import _NO_DEADLINE, _Deadline

# Extension/HTML elements whose content is dropped from every field (not wikitext, or not shown).
_DROPPED_ELEMENTS = (
    "pre|math|chem|ce|syntaxhighlight|source|score|graph|timeline|templatedata|mapframe|maplink|"
    "hiero|includeonly|inputbox|charinsert|indicator|categorytree|dynamicpagelist|section"
)
_MASK_OPEN_RE = re.compile(r"<!--|<(nowiki|" + _DROPPED_ELEMENTS + r")\b([^<>]*)>", re.IGNORECASE)
_TRANSPARENT_TAGS_RE = re.compile(r"</?(?:noinclude|onlyinclude)\s*/?>", re.IGNORECASE)
# Inside <nowiki>, markup characters are literal: turning them into character references keeps the
# text (entities are decoded at the end) while no scan can see a link, template or tag in it.
_NOWIKI_ESCAPES = str.maketrans({
    "[": "&#91;", "]": "&#93;", "{": "&#123;", "}": "&#125;", "|": "&#124;", "<": "&lt;",
    ">": "&gt;", "'": "&#39;", "=": "&#61;", "_": "&#95;", ":": "&#58;", "*": "&#42;", "#": "&#35;",
})
_CLOSERS: dict[str, re.Pattern[str]] = {}


def _closer(tag: str) -> re.Pattern[str]:
    pattern = _CLOSERS.get(tag)
    if pattern is None:
        pattern = _CLOSERS[tag] = re.compile(r"</" + re.escape(tag) + r"\s*>", re.IGNORECASE)
    return pattern


def _closer_finder(text: str) -> Callable[[str, int], re.Match[str] | None]:
    """``find(tag, pos)``: the first ``</tag>`` at or after ``pos`` in ``text``. A tag found to have no
    closer after some position is not searched for again past it, so a page of unclosed openers costs
    one search per tag name, not one per opener."""
    none_after: dict[str, int] = {}

    def find(tag: str, pos: int) -> re.Match[str] | None:
        if none_after.get(tag, len(text) + 1) <= pos:
            return None
        closed = _closer(tag).search(text, pos)
        if closed is None:
            none_after[tag] = pos
        return closed

    return find


def mask_wikitext(text: str, deadline: _Deadline = _NO_DEADLINE) -> str:
    """The wikitext with comments removed, ``<nowiki>`` content made inert (kept as text) and the
    content of non-wikitext elements (``<math>``, ``<pre>``, ``<syntaxhighlight>``, ``<includeonly>``…)
    removed — so no later scan counts a link, category or template that the page does not render.

    Linear time even on hostile input: an element without a closing tag is remembered, so the rest of
    the page is searched for that closer once, not once per opener. As in MediaWiki, an unclosed
    comment runs to the end of the page and an unclosed extension tag is plain text.
    """
    if "<" not in text:
        return text
    out: list[str] = []
    pos = 0
    find_closer = _closer_finder(text)
    search = _MASK_OPEN_RE.search
    steps = 0
    while True:
        m = search(text, pos)
        if m is None:
            break
        steps += 1
        if steps & 255 == 0:
            deadline.check("masking")
        start, open_end = m.span()
        out.append(text[pos:start])
        if m.group(1) is None:  # <!-- comment -->
            end = text.find("-->", open_end)
            pos = len(text) if end < 0 else end + 3
            continue
        tag = m.group(1).lower()
        if m.group(2).rstrip().endswith("/"):  # <nowiki/>, <section begin=x/>
            pos = open_end
            continue
        closed = find_closer(tag, open_end)
        if closed is None:  # unclosed: literal text, as MediaWiki renders it
            out.append(text[start:open_end])
            pos = open_end
            continue
        if tag == "nowiki":
            out.append(text[open_end:closed.start()].translate(_NOWIKI_ESCAPES))
        pos = closed.end()
    out.append(text[pos:])
    masked = "".join(out)
    if "noinclude" in masked or "onlyinclude" in masked:
        masked = _TRANSPARENT_TAGS_RE.sub("", masked)
    return masked
