"""Element scans over masked text: ``<ref>``s, block elements (``<gallery>``, ``<div>``…) and
``{| … |}`` tables, each found in one linear pass."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from .deadline import _NO_DEADLINE, _Deadline
from .masking import _closer_finder

_REF_OPEN_RE = re.compile(r"<ref\b([^<>]*?)(/?)>", re.IGNORECASE)
_REF_CLOSE_RE = re.compile(r"</ref\s*>", re.IGNORECASE)
_BLOCK_ELEMENT_RE = re.compile(
    r"<(gallery|references|imagemap|table|div|center|blockquote|poem|timeline)\b([^<>]*)>", re.IGNORECASE
)
_TABLE_LINE_RE = re.compile(r"^[ \t:]*(\{\||\|\})", re.MULTILINE)


def _scan_elements(text: str, open_re: re.Pattern[str], handle: Callable[[str, str, str | None], str],
                   deadline: _Deadline = _NO_DEADLINE) -> str:
    """Replace every ``<tag …>content</tag>`` found by ``open_re`` (group 1 = tag name, group 2 =
    attributes) with ``handle(tag, attrs, content)``; self-closing tags get ``content=None``. Unclosed
    elements stay as text. Linear: a missing closer is searched for once per tag name."""
    out: list[str] = []
    pos = 0
    find_closer = _closer_finder(text)
    steps = 0
    while True:
        m = open_re.search(text, pos)
        if m is None:
            break
        steps += 1
        if steps & 255 == 0:
            deadline.check("element scan")
        start, open_end = m.span()
        tag = m.group(1).lower()
        attrs = m.group(2) or ""
        out.append(text[pos:start])
        if attrs.rstrip().endswith("/"):
            out.append(handle(tag, attrs, None))
            pos = open_end
            continue
        closed = find_closer(tag, open_end)
        if closed is None:
            out.append(text[start:open_end])
            pos = open_end
            continue
        out.append(handle(tag, attrs, text[open_end:closed.start()]))
        pos = closed.end()
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)


def _iter_refs(text: str, deadline: _Deadline = _NO_DEADLINE):
    """``(attrs, content or None, start, end, content start)`` of every ``<ref>`` in masked text. One tag
    name, so one flag does what ``_closer_finder`` does for many (and, per reference, costs less)."""
    pos = 0
    no_closer = False
    steps = 0
    while True:
        m = _REF_OPEN_RE.search(text, pos)
        if m is None:
            return
        steps += 1
        if steps & 255 == 0:
            deadline.check("references")
        if m.group(2):  # <ref name="x" />
            yield m.group(1), None, m.start(), m.end(), m.end()
            pos = m.end()
            continue
        closed = None if no_closer else _REF_CLOSE_RE.search(text, m.end())
        if closed is None:
            no_closer = True
            pos = m.end()
            continue
        yield m.group(1), text[m.end():closed.start()], m.start(), closed.end(), m.end()
        pos = closed.end()


def _strip_refs(text: str, deadline: _Deadline = _NO_DEADLINE,
                refs: list[tuple[str, str | None, int, int, int]] | None = None) -> str:
    """The text without its ``<ref>…</ref>`` and ``<ref/>`` (the same object when it has none).
    ``refs``: ``list(_iter_refs(text))`` when the caller already has it."""
    if "<ref" not in text and "<REF" not in text and "<Ref" not in text:
        return text
    out: list[str] = []
    pos = 0
    for _attrs, _content, start, end, _content_start in (_iter_refs(text, deadline) if refs is None else refs):
        out.append(text[pos:start])
        pos = end
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)


def _table_spans(text: str, deadline: _Deadline = _NO_DEADLINE, *,
                 closed_only: bool = False) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of each outermost ``{| … |}`` wiki table: from the start of its ``{|`` line to
    the end of its ``|}`` line (the newline excluded). An unclosed table runs to the end of the text,
    where MediaWiki closes it (left out with ``closed_only``)."""
    first = text.find("{|")
    if first < 0:
        return
    depth = 0
    start = 0
    for k, m in enumerate(_TABLE_LINE_RE.finditer(text, text.rfind("\n", 0, first) + 1)):
        if k & 255 == 255:
            deadline.check("tables")
        if m.group(1) == "{|":
            if depth == 0:
                start = m.start()
            depth += 1
        elif depth:
            depth -= 1
            if depth == 0:
                end = text.find("\n", m.end())
                yield start, len(text) if end < 0 else end
    if depth and not closed_only:
        yield start, len(text)


def _drop_tables(text: str, *, closed_only: bool = False) -> str:
    """Remove the ``{| … |}`` wiki tables (with ``closed_only``, an unclosed one stays)."""
    if "{|" not in text:
        return text
    out: list[str] = []
    pos = 0
    for start, end in _table_spans(text, closed_only=closed_only):
        out.append(text[pos:start])
        pos = end
    out.append(text[pos:])
    return "".join(out)
