"""Tables: the ``{| … |}`` data tables outside templates, as Enterprise Structured Contents tables."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .deadline import _Deadline
from .elements import _table_spans
from .regex_renderer import _ASCII_SPACES_RE, _LIST_MARKERS_RE, _plain_value, _RegexRenderer

# Wiki tables are line-based: "{|" opens (after optional indentation), "|}" closes, "|-" starts a row,
# "|+" is the caption, "!" starts header cells (split by "!!" or "||"), "|" data cells (split by "||");
# a cell's attributes are what precedes its first "|" outside links and templates. Lines that start
# with none of these continue the current cell.
_CELL_TOKEN_RE = re.compile(r"\{\{|\}\}|\[\[|\]\]|\|\||!!|\|")
# The marks of a header line where nothing can be inside a link or template: "||" before "|" as above
# (a lone "|" between marks only ends no cell).
_HEADER_MARKS_RE = re.compile(r"\|\||!!")
_SPAN_ATTR_RE = re.compile(r"\b(rowspan|colspan)\s*=\s*[\"']?\s*(\d+)", re.IGNORECASE)
_CLASS_ATTR_RE = re.compile(r"\bclass\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|(\S+))", re.IGNORECASE)
# Tables with these classes are layout, not data: infoboxes (in ``infoboxes``), navigation boxes,
# maintenance message boxes, sidebars.
_NON_DATA_TABLE_CLASSES = frozenset(("infobox", "navbox", "vertical-navbox", "ambox", "metadata", "sidebar",
                                     "mbox-small"))
# Real pages nest tables two or three deep; past this a "{|" line is cell text.
_MAX_TABLE_NESTING = 16
# A span past this is taken as this (a hostile "colspan=1000000" must not allocate a million cells).
_MAX_SPAN = 500
_TABLE_CONFIDENCE_UNCLOSED = 0.5   # the table ran to the end of the page: where it ends is a guess
_TABLE_CONFIDENCE_RAGGED = 0.8     # rows of different widths after spans: columns may not line up
_TABLE_CONFIDENCE_SPAN_CAPPED = 0.5


@dataclass(slots=True)
class _RawCell:
    header: bool
    attrs: str
    lines: list[str]
    nested: dict | None = None


@dataclass(slots=True)
class _RawRow:
    attrs: str
    cells: list[_RawCell] = field(default_factory=list)


def _cell_marks(text: str) -> Iterator[re.Match[str]]:
    """The ``||``, ``!!`` and ``|`` of a table line that are outside links and templates."""
    depth = 0
    for m in _CELL_TOKEN_RE.finditer(text):
        token = m.group()
        if token in ("{{", "[["):
            depth += 1
        elif token in ("}}", "]]"):
            depth = max(0, depth - 1)
        elif depth == 0:
            yield m


def _split_cells(text: str, header: bool) -> list[str]:
    """A table line (without its leading ``|``/``!``) cut into cells at ``||`` (and ``!!`` on a header
    line) outside links and templates."""
    if "||" not in text and "!!" not in text:
        return [text]
    if "{{" not in text and "[[" not in text:  # nothing to be inside: every mark counts
        return _HEADER_MARKS_RE.split(text) if header else text.split("||")
    cells: list[str] = []
    start = 0
    for m in _cell_marks(text):
        token = m.group()
        if token == "||" or (token == "!!" and header):
            cells.append(text[start:m.start()])
            start = m.end()
    cells.append(text[start:])
    return cells


def _cell_attrs(cell: str) -> tuple[str, str]:
    """``(attributes, content)`` of one cell: split at the first ``|`` outside links and templates,
    unless what precedes it holds a link (then it is all content, as in MediaWiki)."""
    if "|" not in cell:
        return "", cell
    if "{{" not in cell and "[[" not in cell and "||" not in cell:  # the first pipe is the mark
        bar = cell.find("|")
        return cell[:bar], cell[bar + 1:]
    for m in _cell_marks(cell):
        if m.group() == "|":
            attrs = cell[:m.start()]
            return ("", cell) if "[[" in attrs else (attrs, cell[m.end():])
    return "", cell


def _table_lines(masked: str, start: int, end: int, template_spans: list[tuple[int, int]],
                 starts: list[int] | None = None) -> list[tuple[str, bool]]:
    """The lines of ``masked[start:end]``, each with whether it begins inside a template's braces
    (a template argument such as ``| name = x`` on its own line is not a table cell). ``starts``: the
    spans' starts, when the caller has them (a page with many tables)."""
    if starts is None:
        starts = [s for s, _ in template_spans]
    out: list[tuple[str, bool]] = []
    pos = start
    for line in masked[start:end].split("\n"):
        i = bisect_right(starts, pos) - 1
        out.append((line, i >= 0 and template_spans[i][0] < pos < template_spans[i][1]))
        pos += len(line) + 1
    return out


def _parse_table(lines: list[tuple[str, bool]], i: int, depth: int = 0) -> tuple[list[_RawRow], str, bool, int]:
    """Rows of the table whose ``{|`` line is ``lines[i]``: ``(rows, table attributes, closed, index
    after the table)``. A nested ``{|`` inside a cell is parsed recursively onto that cell (below
    ``_MAX_TABLE_NESTING`` levels; deeper ones are text, so hostile input cannot exhaust the stack)."""
    attrs = lines[i][0].lstrip(" \t:")[2:]
    rows: list[_RawRow] = []
    row: _RawRow | None = None
    cell: _RawCell | None = None
    i += 1
    while i < len(lines):
        raw, in_template = lines[i]
        line = raw.lstrip(" \t")
        if in_template or not line or line[0] not in "{|!":
            if cell is not None:
                cell.lines.append(raw)
            i += 1
            continue
        if line.startswith("{|") and depth < _MAX_TABLE_NESTING:
            nested_rows, nested_attrs, nested_closed, i = _parse_table(lines, i, depth + 1)
            if cell is None:
                if row is None:
                    row = _RawRow("")
                    rows.append(row)
                cell = _RawCell(False, "", [])
                row.cells.append(cell)
            if cell.nested is None:
                cell.nested = {"rows": nested_rows, "attrs": nested_attrs, "closed": nested_closed}
            continue
        i += 1
        if line.startswith("|}"):
            return rows, attrs, True, i
        if line.startswith("|-"):
            row, cell = _RawRow(line[2:].lstrip("-")), None
            rows.append(row)
        elif line.startswith("|+"):
            cell = None  # the caption (and its continuation lines) is not a row
        elif line[0] in "|!":
            header = line[0] == "!"
            if row is None:
                row = _RawRow("")
                rows.append(row)
            for text in _split_cells(line[1:], header):
                cell_attrs, content = _cell_attrs(text)
                cell = _RawCell(header, cell_attrs, [content])
                row.cells.append(cell)
        elif cell is not None:  # "{" not followed by "|", or a table nested too deep: content
            cell.lines.append(raw)
    return rows, attrs, False, i


def _span(attrs: str, name: str) -> tuple[int, bool]:
    """The cell's ``rowspan``/``colspan`` (1 when absent or 0) and whether it was capped."""
    if "span" not in attrs:
        return 1, False
    for m in _SPAN_ATTR_RE.finditer(attrs):
        if m.group(1).lower() == name:
            n = int(m.group(2)) or 1
            return min(n, _MAX_SPAN), n > _MAX_SPAN
    return 1, False


def _table_classes(attrs: str) -> set[str]:
    m = _CLASS_ATTR_RE.search(attrs) if "class" in attrs else None
    return set((m.group(1) or m.group(2) or m.group(3) or "").lower().split()) if m else set()


def _cell_value(lines: list[str], renderer: _RegexRenderer, rendered: dict[str, str]) -> str:
    """Plain text of a cell; ``rendered`` memoizes it per page (table columns repeat their values:
    the same team, country or year link row after row)."""
    text = lines[0] if len(lines) == 1 else _LIST_MARKERS_RE.sub("", "\n".join(lines))
    value = rendered.get(text)
    if value is None:
        value = rendered[text] = (_plain_value(text, renderer) if len(lines) == 1 else
                                  _ASCII_SPACES_RE.sub(" ", renderer.render_inline(text)).strip())
    return value


def _fill_rowspans(out: list[dict], col: int, pending: dict[int, list]) -> int:
    """Append the cells that rows above span into columns ``col``, ``col + 1``… of this row; the
    column after them."""
    while col in pending:
        left, spanned = pending[col]
        out.append(spanned)
        if left <= 1:
            del pending[col]
        else:
            pending[col][0] = left - 1
        col += 1
    return col


def _build_table(rows: list[_RawRow], closed: bool, identifier: str, renderer: _RegexRenderer,
                 rendered: dict[str, str]) -> dict | None:
    """Enterprise's table shape: ``headers`` (the leading rows of header cells), ``rows``, ``footers``
    (``sortbottom`` rows, and trailing rows of header cells after the body), cells as
    ``{"value", "nested_table"}``. Row- and column-spanning cells are repeated into every position
    they cover, so all rows of a regular table have the same width. ``None`` for a table without
    cells."""
    grid: list[tuple[list[dict], bool, bool]] = []  # (cells, all header cells, sortbottom)
    pending: dict[int, list] = {}  # column → [rows left, cell] of a rowspan
    capped = False
    nested_count = 0
    for row in rows:
        if not row.cells and not pending:
            continue
        out: list[dict] = []
        col = 0
        all_header = bool(row.cells)
        for raw in row.cells:
            if pending:
                col = _fill_rowspans(out, col, pending)
            cell: dict[str, Any] = {"value": _cell_value(raw.lines, renderer, rendered)}
            if raw.nested is not None:
                nested_count += 1
                nested = _build_table(raw.nested["rows"], raw.nested["closed"], f"{identifier}.{nested_count}",
                                      renderer, rendered)
                if nested is not None:
                    cell["nested_table"] = nested
            colspan, capped_c = _span(raw.attrs, "colspan")
            rowspan, capped_r = _span(raw.attrs, "rowspan")
            capped = capped or capped_c or capped_r
            for _ in range(colspan):
                out.append(cell)
                if rowspan > 1:
                    pending[col] = [rowspan - 1, cell]
                col += 1
            all_header = all_header and raw.header
        for c in sorted(k for k in pending if k >= col):  # spans hanging into a short row
            col = _fill_rowspans(out, c, pending)
        if out:
            grid.append((out, all_header, "sortbottom" in row.attrs))
    if not grid:
        return None
    n_headers = 0
    while n_headers < len(grid) and grid[n_headers][1] and not grid[n_headers][2]:
        n_headers += 1
    n_footers = 0
    while (n_footers < len(grid) - n_headers - 1
           and (grid[-1 - n_footers][2] or grid[-1 - n_footers][1])):
        n_footers += 1
    confidence = 1.0
    if not closed:
        confidence *= _TABLE_CONFIDENCE_UNCLOSED
    if len({len(cells) for cells, _h, _f in grid}) > 1:
        confidence *= _TABLE_CONFIDENCE_RAGGED
    if capped:
        confidence *= _TABLE_CONFIDENCE_SPAN_CAPPED
    body = [cells for cells, _h, _f in grid]
    return {
        "identifier": identifier,
        "headers": body[:n_headers],
        "rows": body[n_headers:len(body) - n_footers],
        "footers": body[len(body) - n_footers:],
        "confidence_score": round(confidence, 3),
    }


def _tables(masked: str, template_spans: list[tuple[int, int]], renderer: _RegexRenderer,
            deadline: _Deadline) -> list[tuple[int, dict]]:
    """``(offset, table)`` of every data table outside templates, in page order. Identifiers are
    ``table-<n>``, n counting the page's data tables from 1, and ``table-<n>.<m>`` for the m-th table
    nested in table n: the same wikitext always gives the same identifiers."""
    if "{|" not in masked:
        return []
    starts = [s for s, _ in template_spans]
    out: list[tuple[int, dict]] = []
    rendered: dict[str, str] = {}
    for start, end in _table_spans(masked, deadline):
        i = bisect_right(starts, start) - 1
        if i >= 0 and template_spans[i][1] > start:
            continue  # a table in a template's arguments is that template's business
        lines = _table_lines(masked, start, end, template_spans, starts)
        rows, attrs, closed, _next = _parse_table(lines, 0)
        if _table_classes(attrs) & _NON_DATA_TABLE_CLASSES:
            continue
        table = _build_table(rows, closed, f"table-{len(out) + 1}", renderer, rendered)
        if table is not None:
            out.append((start, table))
    return out
