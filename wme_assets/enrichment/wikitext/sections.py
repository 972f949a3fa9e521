"""Sections: the heading scan, each section's paragraphs and lists (with their links), nested by
level, with the tables each one holds."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .braces import _BRACKETS_RE, _BraceIndex, _outermost, _pairs
from .deadline import _Deadline
from .elements import _BLOCK_ELEMENT_RE, _drop_tables, _scan_elements
from .regex_renderer import _ASCII_SPACES_RE, _BLANK_LINES_RE, _SPACE_RUN_RE, _RegexRenderer, _strip_markup

_HEADING_RE = re.compile(r"^(={1,6})(.+?)(={1,6})[ \t]*$", re.MULTILINE)

# Sections Enterprise leaves out of ``sections`` (seen in its golden outputs: "See also",
# "References", "External links"… and their subsections).
_SKIPPED_SECTIONS = frozenset(s.casefold() for s in (
    "See also", "Notes", "References", "Further reading", "External links", "Sources", "Bibliography",
    "Citations", "Works cited", "Footnotes", "Notes and references", "References and notes",
    "Explanatory notes", "Related pages", "Other websites",
    "Notes et références", "Références", "Voir aussi", "Articles connexes", "Liens externes",
    "Bibliographie", "Annexes",
    "Referências", "Notas", "Ver também", "Ligações externas", "Bibliografia", "Notas e referências",
    "Einzelnachweise", "Weblinks", "Literatur", "Anmerkungen", "Siehe auch",
    "Referencias", "Véase también", "Enlaces externos", "Bibliografía",
    "Примечания", "Литература", "Ссылки", "См. также", "Примітки", "Посилання", "Див. також",
    "脚注", "参考文献", "関連項目", "外部リンク", "Tham khảo", "Chú thích", "Liên kết ngoài", "Xem thêm",
))


# Where a link that displays nothing could start: "[[", then up to a colon nothing that is a bracket or a pipe.
# A link is dropped only when the text before the first colon of its target names a namespace or a language,
# and those names hold no "[", "]" or "|": a section without a match has no link to drop.
_MEDIA_LINK_CANDIDATE_RE = re.compile(r"\[\[[^\[\]|]*:")


@dataclass(slots=True)
class _Heading:
    level: int
    name: str
    start: int  # offset of the heading line in the masked text
    body_start: int


def _heading_matches(text: str) -> Iterator[re.Match[str]]:
    """What ``_HEADING_RE.finditer(text)`` gives (a heading is one line), the pattern tried only at the lines
    that start with "=", found with ``str.find``: the regex engine would try its ``^`` at every character."""
    if text.startswith("="):
        pos = 0
    else:
        pos = text.find("\n=") + 1
        if pos == 0:
            return
    while True:
        m = _HEADING_RE.match(text, pos)
        if m is not None:
            yield m
        pos = text.find("\n=", pos) + 1
        if pos == 0:
            return


def _headings(masked: str, template_spans: list[tuple[int, int]], renderer: _RegexRenderer) -> list[_Heading]:
    """Section headings at brace depth 0 (a heading inside a template's arguments is not a section)."""
    if "=" not in masked:
        return []
    starts = [s for s, _ in template_spans]
    found: list[_Heading] = []
    for m in _heading_matches(masked):
        i = bisect_right(starts, m.start()) - 1
        if i >= 0 and template_spans[i][1] > m.start():
            continue
        left, name, right = m.group(1), m.group(2), m.group(3)
        level = min(len(left), len(right))
        name = "=" * (len(left) - level) + name + "=" * (len(right) - level)
        text = _ASCII_SPACES_RE.sub(" ", renderer.render_inline(name)).strip()
        if text:
            found.append(_Heading(level, text, m.start(), m.end()))
    return found


def _section_parts(body: str, renderer: _RegexRenderer, outermost: list[tuple[int, int]] | None = None) -> list[dict]:
    """Paragraph and list parts of one section's own text (up to its first subsection); ``outermost``:
    its outermost ``{{…}}`` spans when already known."""
    text = renderer.render_block(body, None, outermost)
    parts: list[dict] = []
    list_items: list[dict] = []

    def close_list() -> None:
        if list_items:
            parts.append({"type": "list", "has_parts": list(list_items)})
            list_items.clear()

    for block in _BLANK_LINES_RE.split(text):
        paragraph: list[str] = []
        for line in block.split("\n"):
            line = line.strip()
            if not line:
                continue
            if line[0] in "*#":
                if paragraph:
                    parts.append(_text_part("paragraph", " ".join(paragraph), renderer))
                    paragraph = []
                value = line.lstrip("*#:; \t")
                if value:
                    list_items.append(_text_part("list_item", value, renderer))
                continue
            close_list()
            paragraph.append(line.lstrip(":; \t") if line[0] in ":;" else line)
        if paragraph:
            parts.append(_text_part("paragraph", " ".join(paragraph), renderer))
        close_list()
    return parts


def _text_part(kind: str, rendered_with_links: str, renderer: _RegexRenderer) -> dict:
    links: list[dict] = []
    value = renderer._inline_markup(rendered_with_links, links)
    if "  " in value or "\t" in value:  # most paragraphs have no run of spaces to collapse
        value = _SPACE_RUN_RE.sub(" ", value)
    value = value.strip()
    part: dict[str, Any] = {"type": kind, "value": value}
    if links:
        part["links"] = links
    return part


class _SectionRenderer(_RegexRenderer):
    """Renders section text but keeps ``[[links]]`` in place, so each paragraph can list its own links
    when it is finished (``_text_part``). Its input has no ``<ref>`` any more (stripped once per page)."""

    def render_block(self, text: str, links: list | None = None,
                     outermost: list[tuple[int, int]] | None = None) -> str:
        text = self._templates(text, outermost)
        text = _drop_tables(text)
        if "<" in text:
            text = _scan_elements(text, _BLOCK_ELEMENT_RE, self._block_element, self.deadline)
        # everything but wikilinks now; those are resolved per paragraph
        return _strip_markup(self._drop_media_links(text))

    def _drop_media_links(self, text: str) -> str:
        """Remove file/category/interlanguage links (files can span lines and nest links in their
        captions, so this is done before the text is split into paragraphs). Not ``_replace_outermost``:
        it keeps most links, and copying each one into the output measurably slowed the benchmark."""
        if "[[" not in text or _MEDIA_LINK_CANDIDATE_RE.search(text) is None:
            return text  # most sections: no link there can display nothing
        return self._drop_media_links_scan(text)

    def _drop_media_links_scan(self, text: str) -> str:
        """:meth:`_drop_media_links` without its shortcut: every outermost link looked at."""
        spans, _u, _d = _pairs(text, _BRACKETS_RE, "[[", self.deadline)
        out: list[str] = []
        pos = 0
        for s, e in _outermost(spans):
            target = text[s + 2:e - 2].partition("|")[0]
            if self._link_text(target, None) is None:
                out.append(text[pos:s])
                pos = e
        out.append(text[pos:])
        return "".join(out)


def _build_sections(masked: str, headings: list[_Heading], lead_end: int, renderer: _SectionRenderer,
                    deadline: _Deadline, tables: list[tuple[int, dict]] = (),
                    braces: _BraceIndex | None = None) -> list[dict]:
    """Nested sections: the lead as "Abstract", then one section per heading under its parent.
    A section lists the tables between its heading and the next one in ``table_references`` (a
    table-only section is dropped, its tables go to its parent; a top-level one's are referenced from
    nowhere, though still in ``tables``). ``braces``: the ``{{…}}`` spans of ``masked``, if known."""

    def parts(a: int, b: int) -> list[dict]:
        return _section_parts(masked[a:b], renderer, braces.outermost_in(a, b) if braces is not None else None)

    lead = {"type": "section", "name": "Abstract", "has_parts": parts(0, lead_end)}
    _reference_tables(lead, tables, 0, lead_end)
    sections: list[dict] = [lead]
    stack: list[tuple[int, dict]] = []
    skip_below: int | None = None
    for i, heading in enumerate(headings):
        if i & 31 == 31:
            deadline.check("sections")
        if skip_below is not None:
            if heading.level > skip_below:
                continue
            skip_below = None
        if heading.name.casefold() in _SKIPPED_SECTIONS:
            skip_below = heading.level
            continue
        end = headings[i + 1].start if i + 1 < len(headings) else len(masked)
        section = {"type": "section", "name": heading.name, "has_parts": parts(heading.body_start, end)}
        _reference_tables(section, tables, heading.body_start, end)
        while stack and stack[-1][0] >= heading.level:
            stack.pop()
        (stack[-1][1]["has_parts"] if stack else sections).append(section)
        stack.append((heading.level, section))
    return _prune_empty(sections)


def _reference_tables(section: dict, tables: list[tuple[int, dict]], start: int, end: int) -> None:
    refs = [{"identifier": t["identifier"], "confidence_score": t["confidence_score"]}
            for offset, t in tables if start <= offset < end]
    if refs:
        section["table_references"] = refs


def _prune_empty(parts: list[dict], parent: dict | None = None) -> list[dict]:
    """Drop sections left with no text and no non-empty subsection (a heading over only a table or
    a gallery): Enterprise does not list them. The tables of a dropped subsection are referenced from
    its parent section instead."""
    kept: list[dict] = []
    for part in parts:
        if part.get("type") == "section":
            part["has_parts"] = _prune_empty(part["has_parts"], part)
            if not part["has_parts"]:
                if parent is not None and part.get("table_references"):
                    parent.setdefault("table_references", []).extend(part["table_references"])
                continue
        kept.append(part)
    return kept
