"""Streaming parser for the ``page_props`` table dump (``{db}-{date}-page_props.sql.gz``).

The dumps site publishes ``page_props`` as a mysqldump: comments, ``SET`` statements, the
``CREATE TABLE`` and extended inserts::

    INSERT INTO `page_props` VALUES (736,'wikibase_item','Q937',NULL),(737,'defaultsort','X',NULL),...;

wme needs one thing from it — the Wikidata item of each page (``pp_propname = 'wikibase_item'``) — but
the parser is general: :func:`iter_page_props` yields every ``(page_id, propname, value)`` row,
optionally only for some property names.

Memory stays flat: the decompressed SQL is read in chunks (1 MiB by default) and only the rows of the
current chunk, plus the one row that may straddle the next chunk, are in memory. A row cut by a chunk
boundary is re-parsed once the next chunk has arrived.

Tokenizer. Values are MySQL literals: ``'strings'`` with backslash escapes (``\\0 \\' \\" \\b \\n \\r
\\t \\Z \\\\``, and ``\\%``/``\\_`` which MySQL keeps *with* the backslash outside LIKE patterns; any
other ``\\x`` is ``x``) or a doubled ``''``, numbers, ``NULL`` and ``0x…`` hex blobs (``--hex-blob``).
A string may hold commas, parentheses, semicolons and newlines. mysqldump writes every ``INSERT`` at
the start of a line and never breaks a value over a line, so lines outside an ``INSERT`` (comments,
``SET``, ``CREATE TABLE``) are skipped line by line. ``INSERT IGNORE``, ``REPLACE`` and a column list
(``--complete-insert``) are understood; an insert into any other table is an error.

Errors. Truncated or malformed input raises :class:`PagePropsParseError` (a :class:`ValueError`) naming
the file, the byte offset in the decompressed SQL (or, when the compressed data itself is cut, the
compressed offset) and the last page id read. mysqldump ends every complete dump with a
``-- Dump completed`` line; a file without it was cut at a statement boundary and is refused too
(``require_complete=False`` accepts such a file, e.g. for hand-written SQL).
"""

from __future__ import annotations

import bisect
import logging
import re
from array import array
from collections.abc import Iterable, Iterator, Mapping
from typing import NamedTuple

from wme_assets.util.sizes import MiB

from .decompress import _DECOMPRESSION_ERRORS, DecompressedStream, Source, open_decompressed
from .errors import DumpParseError
from .errors import describe_source as _describe

__all__ = [
    "PageProp",
    "PagePropsParseError",
    "WikibaseItems",
    "iter_page_props",
    "wikibase_items",
]

log = logging.getLogger(__name__)

DEFAULT_CHUNK_SIZE = MiB
# pp_value is a BLOB (at most 64 KiB); a "row" much longer than that means an unterminated string,
# and reading on would pull the rest of a multi-GB file into memory.
MAX_ROW_BYTES = 16 << 20
# Enough bytes to recognise what a line is (INSERT …, "-- Dump completed") before deciding.
_LOOKAHEAD = 64
# An INSERT header (with a --complete-insert column list) is far shorter than this.
_MAX_HEADER_BYTES = 4096

TABLE = b"page_props"
DEFAULT_COLUMNS = ("pp_page", "pp_propname", "pp_value", "pp_sortkey")
_TRAILER = b"-- Dump completed"


class PagePropsParseError(DumpParseError):
    """A page_props dump is truncated, corrupt or not what the parser understands.

    Same attributes as :class:`DumpParseError`: ``name``, ``offset`` (``offset_kind`` says whether into the
    SQL text or the file as stored) and ``last_page_id`` (of the last row read, ``None`` before the first).
    """


class PageProp(NamedTuple):
    """One ``page_props`` row (``pp_sortkey`` is not kept: nothing in wme reads it)."""

    page_id: int
    propname: str
    value: str | bytes  # str (UTF-8, undecodable bytes replaced) unless raw_values=True


# --------------------------------------------------------------------------------------------------
# Literals
# --------------------------------------------------------------------------------------------------

# The "unrolled loop" form keeps matching linear: no nested quantifier can backtrack exponentially.
_STRING = rb"'[^'\\]*(?:(?:\\.|'')[^'\\]*)*'"
_HEX = rb"0[xX][0-9A-Fa-f]*"
_NUMBER = rb"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"
_VALUE = rb"(" + _STRING + rb"|" + _HEX + rb"|" + _NUMBER + rb"|NULL)"

# Fast path: a whole row exactly as mysqldump writes it (3 or 4 columns, no blanks), with the separator
# that follows it, so a match is always a complete row. Anything else goes to the general tokenizer.
_ROW = re.compile(
    rb"\(" + _VALUE + rb"," + _VALUE + rb"," + _VALUE + rb"(?:," + _VALUE + rb")?\)([,;])",
    re.DOTALL,
)
# General tokenizer: one token after optional blanks. Group names say what was found.
_TOKEN = re.compile(
    rb"\s*(?:(?P<value>" + _STRING + rb"|" + _HEX + rb"|" + _NUMBER + rb"|NULL)|(?P<punct>[(),;]))",
    re.DOTALL,
)
# An unterminated string that runs to the end of the buffer (may be completed by the next chunk).
_OPEN_STRING = re.compile(rb"\s*'[^'\\]*(?:(?:\\.|'')[^'\\]*)*(?:\\|')?\Z", re.DOTALL)
# The start of a number or hex literal that the next chunk may complete ("1.5e", "0x1").
_PARTIAL_NUMBER = re.compile(rb"[-+0-9.eExX]*[0-9A-Fa-f]*")
_BLANKS = re.compile(rb"\s*")
_INSERT_START = re.compile(rb"(?:INSERT|REPLACE)\b", re.IGNORECASE)
_INSERT_HEAD = re.compile(
    rb"(?:INSERT(?:\s+(?:IGNORE|LOW_PRIORITY|DELAYED|HIGH_PRIORITY))*|REPLACE(?:\s+LOW_PRIORITY)?)"
    rb"\s+INTO\s+(?:`(?P<qtable>[^`]+)`|(?P<table>\w+))\s*(?:\((?P<columns>[^)]*)\)\s*)?VALUES\s*",
    re.IGNORECASE,
)
_COLUMN_NAME = re.compile(rb"`([^`]+)`|(\w+)")

_UNESCAPE = re.compile(rb"\\(.)|''", re.DOTALL)
_ESCAPES = {
    b"0": b"\x00",
    b"'": b"'",
    b'"': b'"',
    b"b": b"\x08",
    b"n": b"\n",
    b"r": b"\r",
    b"t": b"\t",
    b"Z": b"\x1a",
    b"\\": b"\\",
    # MySQL keeps the backslash of \% and \_ outside LIKE patterns (they exist for LIKE).
    b"%": b"\\%",
    b"_": b"\\_",
}


def _unescape_match(match: re.Match) -> bytes:
    char = match.group(1)
    if char is None:  # a doubled quote ''
        return b"'"
    return _ESCAPES.get(char, char)


def _page_id(token: bytes) -> int | bytes | float | None:
    """pp_page as an int; anything else comes back as its literal value, for the caller to refuse."""
    try:
        return int(token)  # int() takes ASCII digits as bytes: the fast, usual case
    except ValueError:
        return _literal(token)


def _literal(token: bytes) -> bytes | int | float | None:
    """The value of one literal token: bytes for strings and hex blobs, int/float, or None."""
    first = token[:1]
    if first == b"'":
        body = token[1:-1]
        if b"\\" in body or b"''" in body:
            body = _UNESCAPE.sub(_unescape_match, body)
        return body
    if token == b"NULL":
        return None
    if token[:2] in (b"0x", b"0X"):
        digits = token[2:].decode("ascii")
        return bytes.fromhex(digits if len(digits) % 2 == 0 else "0" + digits)  # MySQL: 0x1 is 0x01
    text = token.decode("ascii")
    try:
        return int(text)
    except ValueError:
        return float(text)


def _has_escape(string_token: bytes) -> bool:
    return b"\\" in string_token or b"''" in string_token[1:-1]


def _row(page_id: int, propname: bytes, value, raw_values: bool) -> PageProp:
    if value is None:
        value = b""  # pp_value is NOT NULL; be lenient with hand-made files
    elif not isinstance(value, bytes):
        value = str(value).encode("ascii")  # a number written into the blob column
    return PageProp(
        page_id,
        propname.decode("utf-8", "replace"),
        value if raw_values else value.decode("utf-8", "replace"),
    )


# --------------------------------------------------------------------------------------------------
# Buffered reading
# --------------------------------------------------------------------------------------------------


class _Buffer:
    """A window on the decompressed SQL: ``data[pos:]`` is unread, ``base`` is the offset of ``data[0]``."""

    def __init__(self, stream: DecompressedStream, name: str, chunk_size: int) -> None:
        self.stream = stream
        self.name = name
        self.chunk_size = chunk_size
        self.data = b""
        self.pos = 0
        self.base = 0
        self.eof = False

    def offset(self, index: int) -> int:
        return self.base + index

    def available(self) -> int:
        return len(self.data) - self.pos

    def fill(self) -> None:
        """Keep the unread bytes and append the next chunk (sets ``eof`` when there is none)."""
        # Reading at least as much as is kept makes a long row cost amortised linear time to re-scan.
        want = max(self.chunk_size, self.available())
        try:
            more = self.stream.read(want)
        except _DECOMPRESSION_ERRORS as exc:
            raise PagePropsParseError(
                f"{self.name}: {self.stream.compression} data is truncated or corrupt after "
                f"{self.stream.bytes_read} decompressed bytes; the reader was at compressed byte offset "
                f"{self.stream.compressed_bytes_read} [{type(exc).__name__}: {exc}]",
                name=self.name,
                offset=self.stream.compressed_bytes_read,
                offset_kind="compressed",
            ) from None
        if not more:
            self.eof = True
            return
        self.base += self.pos
        self.data = self.data[self.pos :] + more
        self.pos = 0

    def skip_blanks(self) -> None:
        self.pos = _BLANKS.match(self.data, self.pos).end()


# --------------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------------

_INCOMPLETE = object()  # sentinel: the row continues past the end of the buffer


class _Statement:
    """Where pp_page, pp_propname and pp_value sit in the rows of one INSERT."""

    __slots__ = ("arity", "page", "propname", "value")

    def __init__(self, columns: tuple[str, ...] | None) -> None:
        if columns is None:  # no column list: the table's own order, pp_sortkey optional (pre-1.23)
            self.page, self.propname, self.value, self.arity = 0, 1, 2, None
            return
        try:
            self.page = columns.index("pp_page")
            self.propname = columns.index("pp_propname")
            self.value = columns.index("pp_value")
        except ValueError:
            raise ValueError(f"column list {columns} lacks pp_page, pp_propname or pp_value") from None
        self.arity = len(columns)


def _parse_row_slow(data: bytes, pos: int, eof: bool):
    """General tokenizer for one ``(v, v, …)`` row plus its ``,``/``;`` separator.

    Returns ``(values, end, separator)``, ``_INCOMPLETE`` when the row may continue past the buffer
    (only when not at EOF), or ``(None, error_index, message)`` for malformed input.
    """
    size = len(data)
    match = _TOKEN.match(data, pos)
    if match is None or match.group("punct") != b"(":
        if match is None and not eof and _BLANKS.match(data, pos).end() == size:
            return _INCOMPLETE
        return None, _BLANKS.match(data, pos).end(), "expected '(' to start a row"
    pos = match.end()
    values: list = []
    expect_value = True
    while True:
        match = _TOKEN.match(data, pos)
        # A token that touches the end of the buffer may be longer than it looks ("12" of "123",
        # the 'a' of 'a''b'), so it only counts once more data, or EOF, confirms it.
        if match is None or (match.end() == size and not eof):
            if not eof:
                rest_start = _BLANKS.match(data, pos).end()
                rest = data[rest_start:]
                if (
                    match is not None
                    or not rest
                    or _OPEN_STRING.match(data, rest_start)
                    or b"NULL".startswith(rest)
                    or _PARTIAL_NUMBER.fullmatch(rest)
                ):
                    return _INCOMPLETE
            return None, _BLANKS.match(data, pos).end(), "malformed value"
        value, punct = match.group("value"), match.group("punct")
        if expect_value:
            if value is None:
                return None, match.start("punct"), "expected a value"
            values.append(_literal(value))
            expect_value = False
        elif punct == b",":
            expect_value = True
        elif punct == b")":
            break
        else:
            return None, _BLANKS.match(data, pos).end(), "expected ',' or ')' after a value"
        pos = match.end()
    pos = match.end()
    match = _TOKEN.match(data, pos)
    if match is None or match.group("punct") not in (b",", b";"):
        if not eof and _BLANKS.match(data, pos).end() == size:
            return _INCOMPLETE
        return None, _BLANKS.match(data, pos).end(), "expected ',' or ';' after a row"
    return values, match.end(), match.group("punct")


def iter_page_props(
    source: Source,
    *,
    propnames: Iterable[str] | None = None,
    name: str | None = None,
    raw_values: bool = False,
    require_complete: bool = True,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> Iterator[PageProp]:
    """Yield the ``(page_id, propname, value)`` rows of a ``page_props`` dump, in file order.

    ``source`` is a path or binary file object, gzip (as published), bz2, xz or plain SQL — detected
    from the magic bytes. ``propnames`` keeps only those property names. ``value`` is text (UTF-8,
    undecodable bytes replaced) unless ``raw_values`` is set; then it is the stored bytes, as some
    properties hold binary data. ``name`` labels errors (default: the path).
    """
    label = name or _describe(source)
    if isinstance(propnames, str):  # one name, not its characters
        propnames = (propnames,)
    wanted = None if propnames is None else {p.encode("utf-8") for p in propnames}
    # Property names as they appear quoted in the SQL, to filter rows before decoding anything.
    wanted_tokens = None if wanted is None else {b"'" + p + b"'" for p in wanted}
    match_row = _ROW.match
    last_page_id: int | None = None

    def error(what: str, index: int, buf: _Buffer) -> PagePropsParseError:
        near = buf.data[index : index + 40]
        offset = buf.offset(index)
        return PagePropsParseError(
            f"{label}: {what} at decompressed byte offset {offset} (near {near!r}); "
            f"last page id: {last_page_id}",
            name=label,
            offset=offset,
            offset_kind="decompressed",
            last_page_id=last_page_id,
        )

    with open_decompressed(source) as stream:
        buf = _Buffer(stream, label, chunk_size)
        statement: _Statement | None = None  # set while inside an INSERT's VALUES list
        skipping_line = False
        saw_trailer = False
        while True:
            if skipping_line:
                newline = buf.data.find(b"\n", buf.pos)
                if newline >= 0:
                    buf.pos, skipping_line = newline + 1, False
                    continue
                buf.pos = len(buf.data)  # nothing on a skipped line is needed: drop it
                if buf.eof:
                    break
                buf.fill()
                continue

            if statement is None:
                buf.skip_blanks()
                if buf.available() < _LOOKAHEAD and not buf.eof:
                    buf.fill()
                    continue
                if not buf.available():
                    break
                data, pos = buf.data, buf.pos
                if _INSERT_START.match(data, pos):
                    head = _INSERT_HEAD.match(data, pos)
                    if head is None:
                        if not buf.eof and buf.available() < _MAX_HEADER_BYTES:
                            buf.fill()
                            continue
                        if buf.eof and b"\n" not in data[pos:]:
                            raise error("the file ends inside an INSERT statement (truncated)", pos, buf)
                        raise error("malformed INSERT statement", pos, buf)
                    table = head.group("qtable") or head.group("table")
                    if table != TABLE:
                        raise error(
                            f"INSERT into table {table.decode(errors='replace')!r}, not page_props", pos, buf
                        )
                    columns = head.group("columns")
                    try:
                        statement = _Statement(
                            None
                            if columns is None
                            else tuple((a or b).decode("utf-8") for a, b in _COLUMN_NAME.findall(columns))
                        )
                    except ValueError as exc:
                        raise error(str(exc), pos, buf) from None
                    buf.pos = head.end()
                    continue
                if data.startswith(_TRAILER, pos):
                    saw_trailer = True
                skipping_line = True
                continue

            # Inside VALUES. Fast path: a run of rows in mysqldump's own layout, matched back to back.
            data, pos = buf.data, buf.pos
            page_at, name_at, value_at, arity = (
                statement.page,
                statement.propname,
                statement.value,
                statement.arity,
            )
            match = match_row(data, pos)
            while match is not None and (arity is None or arity == (3 if match.group(4) is None else 4)):
                tokens = match.groups()
                page_id = _page_id(tokens[page_at])
                name_token = tokens[name_at]
                if type(page_id) is not int:
                    raise error("pp_page is not an integer", pos, buf)
                if name_token[:1] != b"'":
                    raise error("pp_propname is not a string", pos, buf)
                last_page_id = page_id
                pos = buf.pos = match.end()
                if (
                    wanted_tokens is None
                    or name_token in wanted_tokens
                    or (_has_escape(name_token) and _literal(name_token) in wanted)
                ):
                    value_token = tokens[value_at]
                    if (
                        raw_values
                        or value_token[:1] != b"'"
                        or _has_escape(name_token)
                        or _has_escape(value_token)
                    ):
                        yield _row(page_id, _literal(name_token), _literal(value_token), raw_values)
                    else:
                        # The usual row, decoded inline: this loop runs once per row of the dump.
                        yield PageProp(
                            page_id,
                            name_token[1:-1].decode("utf-8", "replace"),
                            value_token[1:-1].decode("utf-8", "replace"),
                        )
                if tokens[4] == b";":
                    statement = None
                    break
                match = match_row(data, pos)
            if statement is None:
                continue

            # Anything else (blanks, other arities, a row cut by the end of the buffer): one row at a time.
            parsed = _parse_row_slow(data, pos, buf.eof)
            if parsed is _INCOMPLETE:
                if buf.available() > MAX_ROW_BYTES:
                    raise error(f"row longer than {MAX_ROW_BYTES} bytes (unterminated string?)", pos, buf)
                buf.fill()
                continue
            values, end, separator = parsed
            if values is None:
                if buf.eof and _parse_row_slow(data, pos, False) is _INCOMPLETE:
                    # What is left would be a good row if the file went on: it was cut.
                    raise error("the file ends inside an INSERT statement (truncated)", pos, buf)
                raise error(separator, end, buf)  # separator holds the message here
            expected = (arity,) if arity is not None else (3, 4)
            if len(values) not in expected:
                raise error(
                    f"row has {len(values)} values, expected {' or '.join(map(str, expected))}", pos, buf
                )
            page_id, propname, value = values[page_at], values[name_at], values[value_at]
            if type(page_id) is not int:
                raise error("pp_page is not an integer", pos, buf)
            if not isinstance(propname, bytes):
                raise error("pp_propname is not a string", pos, buf)
            last_page_id = page_id
            buf.pos = end
            if separator == b";":
                statement = None
            if wanted is None or propname in wanted:
                yield _row(page_id, propname, value, raw_values)

        if require_complete and not saw_trailer:
            raise error(
                "the file ends without mysqldump's '-- Dump completed' line (truncated)", buf.pos, buf
            )


# --------------------------------------------------------------------------------------------------
# Wikidata items
# --------------------------------------------------------------------------------------------------

_QID = re.compile(r"Q([1-9][0-9]*)")


class WikibaseItems(Mapping[int, str]):
    """Page id -> Wikidata QID, read-only, in about 16 bytes a page.

    enwiki has ~7 million ``wikibase_item`` rows: as a dict of int -> str that is close to 1 GB, as two
    sorted ``array('q')`` (page ids, QID numbers) it is ~110 MB. Look-ups are a binary search. Values
    that are not ``Q<digits>`` (never seen in real dumps) are kept verbatim in a small side dict.
    """

    def __init__(self, items: Iterable[tuple[int, str]] = ()) -> None:
        self._pages = array("q")
        self._numbers = array("q")
        self._other: dict[int, str] = {}
        ascending = True
        last = None
        for page_id, qid in items:
            if last is not None and page_id <= last:
                ascending = False
            last = page_id
            match = _QID.fullmatch(qid)
            if match and len(match.group(1)) < 19:
                self._pages.append(page_id)
                self._numbers.append(int(match.group(1)))
            else:
                self._other[page_id] = qid
        if not ascending:
            self._sort_and_dedupe()

    def _sort_and_dedupe(self) -> None:
        # Dumps are in primary-key order, so this only runs for hand-made input: a temporary list is fine.
        # Sorting by (page id, position) keeps a page's first row when it is listed twice.
        order = sorted(range(len(self._pages)), key=lambda i: (self._pages[i], i))
        pages, numbers = array("q"), array("q")
        for i in order:
            if pages and pages[-1] == self._pages[i]:
                continue
            pages.append(self._pages[i])
            numbers.append(self._numbers[i])
        self._pages, self._numbers = pages, numbers

    def __getitem__(self, page_id: int) -> str:
        index = bisect.bisect_left(self._pages, page_id)
        if index < len(self._pages) and self._pages[index] == page_id:
            return f"Q{self._numbers[index]}"
        return self._other[page_id]

    def __contains__(self, page_id: object) -> bool:
        index = bisect.bisect_left(self._pages, page_id) if isinstance(page_id, int) else -1
        if 0 <= index < len(self._pages) and self._pages[index] == page_id:
            return True
        return page_id in self._other

    def __iter__(self) -> Iterator[int]:
        yield from self._pages
        yield from self._other

    def __len__(self) -> int:
        return len(self._pages) + len(self._other)

    def __repr__(self) -> str:
        return f"WikibaseItems({len(self)} pages)"


def wikibase_items(source: Source, *, name: str | None = None) -> WikibaseItems:
    """Page id -> Wikidata QID (the ``wikibase_item`` rows) of a ``page_props`` dump.

    A read-only mapping (:class:`WikibaseItems`) that compares equal to the equivalent dict.
    """
    return WikibaseItems(
        (row.page_id, row.value) for row in iter_page_props(source, propnames=("wikibase_item",), name=name)
    )

