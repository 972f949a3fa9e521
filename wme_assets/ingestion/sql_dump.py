"""Streaming reader of one table's mysqldump, as the dumps site publishes them (``{db}-{date}-{table}.sql.gz``).

A dump holds comments, ``SET`` statements, the table's ``CREATE TABLE`` and extended inserts::

    CREATE TABLE `categorylinks` (
      `cl_from` int(8) unsigned NOT NULL DEFAULT 0,
      `cl_to` varbinary(255) NOT NULL DEFAULT '',
      ...
    INSERT INTO `categorylinks` VALUES (10,'Foo','FOO',...),(10,'Bar',...),...;

The column names come from the ``CREATE TABLE`` (or from an ``INSERT``'s own column list), never from
a fixed order: production tables have columns in the order their ``ALTER TABLE``\\ s left them, and
MediaWiki has changed the link tables' shape (``tl_namespace``/``tl_title`` in the row, then
``tl_target_id`` into ``linktarget``). :attr:`SqlTableDump.columns` says which shape a file has before
any row is read, and :meth:`SqlTableDump.rows` yields the chosen columns of every row.

Memory stays flat: the decompressed SQL is read in chunks (1 MiB by default) and only the rows of the
current chunk, plus the one row that may straddle the next chunk, are in memory. A row cut by a chunk
boundary is re-parsed once the next chunk has arrived.

Tokenizer. Values are MySQL literals: ``'strings'`` with backslash escapes (``\\0 \\' \\" \\b \\n \\r
\\t \\Z \\\\``, and ``\\%``/``\\_`` which MySQL keeps *with* the backslash outside LIKE patterns; any
other ``\\x`` is ``x``) or a doubled ``''``, numbers, ``NULL`` and ``0x…`` hex blobs (``--hex-blob``).
A string may hold commas, parentheses, semicolons and newlines. mysqldump writes every ``INSERT`` at
the start of a line and never breaks a value over a line, so lines outside an ``INSERT`` are read line by
line. ``INSERT IGNORE``, ``REPLACE`` and a column list (``--complete-insert``) are understood; an insert
into any other table is an error.

Errors. Truncated or malformed input raises :class:`SqlDumpParseError` (a :class:`ValueError`) naming the
file, the byte offset in the decompressed SQL (or, when the compressed data itself is cut, the compressed
offset) and the last row read (its first column: the page id of ``page_props`` and of the link tables).
mysqldump ends every complete dump with a ``-- Dump completed`` line; a file without it was cut at a
statement boundary and is refused too (``require_complete=False`` accepts such a file, e.g. for
hand-written SQL).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence

from wme_assets.util.sizes import MiB

from .decompress import _DECOMPRESSION_ERRORS, DecompressedStream, Source, open_decompressed
from .errors import DumpParseError
from .errors import describe_source as _describe

__all__ = ["SqlDumpParseError", "SqlTableDump", "sql_literal_value"]

DEFAULT_CHUNK_SIZE = MiB
# Values are at most a BLOB's 64 KiB in MediaWiki's tables; a "row" much longer than that means an
# unterminated string, and reading on would pull the rest of a multi-GB file into memory.
MAX_ROW_BYTES = 16 << 20
# Enough bytes to recognise what a line is (INSERT …, "-- Dump completed") before deciding.
_LOOKAHEAD = 64
# An INSERT header (with a --complete-insert column list) is far shorter than this.
_MAX_HEADER_BYTES = 4096
# A line of the table definition is far shorter than this; a longer line outside INSERTs is skipped unread.
_MAX_DEFINITION_LINE = 64 * 1024
_TRAILER = b"-- Dump completed"


class SqlDumpParseError(DumpParseError):
    """A table dump is truncated, corrupt or not what the reader understands.

    Same attributes as :class:`DumpParseError`: ``name``, ``offset`` (``offset_kind`` says whether into the
    SQL text or the file as stored) and ``last_page_id`` (the first column of the last row read when it is
    an integer: the page id of ``page_props`` and the link tables; ``None`` before the first row), plus
    ``last_row``: ``(column, value)`` of that first column.
    """

    last_row: tuple[str, object] | None = None


# --------------------------------------------------------------------------------------------------
# Literals
# --------------------------------------------------------------------------------------------------

# The "unrolled loop" form keeps matching linear: no nested quantifier can backtrack exponentially.
_STRING = rb"'[^'\\]*(?:(?:\\.|'')[^'\\]*)*'"
_HEX = rb"0[xX][0-9A-Fa-f]*"
_NUMBER = rb"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"
_VALUE = rb"(" + _STRING + rb"|" + _HEX + rb"|" + _NUMBER + rb"|NULL)"

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
_CREATE_TABLE = re.compile(rb"CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(?:`(?P<q>[^`]+)`|(?P<p>\w+))", re.I)
# A column of the definition: mysqldump writes one per line, "  `name` type …"; key lines start otherwise.
_DEFINITION_COLUMN = re.compile(rb"\s*`([^`]+)`\s")

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


def sql_literal_value(token: bytes) -> bytes | int | float | None:
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


def _text(value):
    """A value as wme keeps it: strings and blobs as text (UTF-8, undecodable bytes replaced)."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _token_text(token: bytes):
    """The value of a token, strings as text; the usual unescaped string without a regex."""
    if token[:1] == b"'" and b"\\" not in token and b"''" not in token[1:-1]:
        return token[1:-1].decode("utf-8", "replace")
    return _text(sql_literal_value(token))


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
            raise SqlDumpParseError(
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


_INCOMPLETE = object()  # sentinel: the row continues past the end of the buffer


def _parse_row_slow(data: bytes, pos: int, eof: bool):
    """General tokenizer for one ``(v, v, …)`` row plus its ``,``/``;`` separator.

    Returns ``(tokens, end, separator)``, ``_INCOMPLETE`` when the row may continue past the buffer
    (only when not at EOF), or ``(None, error_index, message)`` for malformed input.
    """
    size = len(data)
    match = _TOKEN.match(data, pos)
    if match is None or match.group("punct") != b"(":
        if match is None and not eof and _BLANKS.match(data, pos).end() == size:
            return _INCOMPLETE
        return None, _BLANKS.match(data, pos).end(), "expected '(' to start a row"
    pos = match.end()
    tokens: list[bytes] = []
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
            tokens.append(value)
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
    return tokens, match.end(), match.group("punct")


_ROW_PATTERNS: dict[int, re.Pattern] = {}


def _row_pattern(arity: int) -> re.Pattern:
    """A whole row of ``arity`` values exactly as mysqldump writes it (no blanks), with its separator, so a
    match is always a complete row. Anything else goes to the general tokenizer."""
    pattern = _ROW_PATTERNS.get(arity)
    if pattern is None:
        pattern = _ROW_PATTERNS[arity] = re.compile(
            rb"\(" + rb",".join([_VALUE] * arity) + rb"\)([,;])", re.DOTALL
        )
    return pattern


class _RowError(Exception):
    """A row that parsed but breaks what the caller requires of it (an id that is not an integer…)."""


# --------------------------------------------------------------------------------------------------
# The reader
# --------------------------------------------------------------------------------------------------


class SqlTableDump:
    """One table's mysqldump, read once, front to back.

    ``source`` is a path or binary file object, gzip (as published), bz2, xz or plain SQL — detected
    from the magic bytes. ``table`` is the table the dump must hold. ``default_columns`` (arity -> column
    names) names the values of a file without ``CREATE TABLE`` (hand-written SQL, old dumps).
    Use as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        source: Source,
        table: str,
        *,
        name: str | None = None,
        default_columns: Mapping[int, Sequence[str]] | None = None,
        require_complete: bool = True,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> None:
        self.name = name or _describe(source)
        self.table = table
        self._table = table.encode()
        self._defaults = {n: tuple(cols) for n, cols in (default_columns or {}).items()}
        self._require_complete = require_complete
        self._stream = open_decompressed(source)
        self._buf = _Buffer(self._stream, self.name, chunk_size)
        self._definition: list[str] | None = None  # columns of this table's CREATE TABLE, once read
        self._in_definition = False
        self._saw_trailer = False
        self._last: tuple[str, object] | None = None  # (first column, its token or value) of the last row
        self._started = False

    def __enter__(self) -> SqlTableDump:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._stream.close()

    # ----- errors ------------------------------------------------------------------------------------

    def _error(self, what: str, index: int) -> SqlDumpParseError:
        buf = self._buf
        near = buf.data[index : index + 40]
        offset = buf.offset(index)
        last = None
        if self._last is not None:
            column, value = self._last
            if isinstance(value, bytes):  # a token of the fast path, converted only now
                try:
                    value = _text(sql_literal_value(value))
                except ValueError:
                    value = value.decode("ascii", "replace")
            last = (column, value)
        where = f"last row read: {last[0]}={last[1]!r}" if last else "no row read yet"
        err = SqlDumpParseError(
            f"{self.name}: {what} at decompressed byte offset {offset} (near {near!r}); {where}",
            name=self.name,
            offset=offset,
            offset_kind="decompressed",
            last_page_id=last[1] if last and type(last[1]) is int else None,
        )
        err.last_row = last
        return err

    # ----- outside the INSERTs -----------------------------------------------------------------------

    @property
    def columns(self) -> tuple[str, ...] | None:
        """The table's column names: from its ``CREATE TABLE``, else from the first ``INSERT``'s column list;
        ``None`` when the file has neither (then ``default_columns`` names the rows). Reading them reads
        the file up to its first ``INSERT``."""
        if self._definition is None and not self._started:
            self._to_next_insert()
            if self._definition is None and self._buf.available():
                head = _INSERT_HEAD.match(self._buf.data, self._buf.pos)
                if head is not None and head.group("columns") is not None:
                    return self._column_list(head.group("columns"))
        return tuple(self._definition) if self._definition is not None else None

    @staticmethod
    def _column_list(raw: bytes) -> tuple[str, ...]:
        return tuple((a or b).decode("utf-8") for a, b in _COLUMN_NAME.findall(raw))

    def _definition_line(self, line: bytes) -> None:
        """One line outside the INSERTs: the table definition is collected, everything else ignored."""
        if self._in_definition:
            if line.lstrip().startswith(b")"):
                self._in_definition = False
            elif column := _DEFINITION_COLUMN.match(line):
                self._definition.append(column.group(1).decode("utf-8"))
            return
        create = _CREATE_TABLE.match(line)
        if create is not None and (create.group("q") or create.group("p")) == self._table:
            self._definition, self._in_definition = [], True
        elif line.startswith(_TRAILER):
            self._saw_trailer = True

    def _to_next_insert(self) -> bool:
        """Read lines up to the next ``INSERT`` (left unread); False at the end of the file."""
        buf = self._buf
        while True:
            buf.skip_blanks()
            if buf.available() < _LOOKAHEAD and not buf.eof:
                buf.fill()
                continue
            if not buf.available():
                return False
            data, pos = buf.data, buf.pos
            if _INSERT_START.match(data, pos):
                if self._in_definition:
                    raise self._error(f"the CREATE TABLE of {self.table} does not end before its rows", pos)
                return True
            newline = data.find(b"\n", pos)
            if newline < 0 and not buf.eof:
                if buf.available() <= _MAX_DEFINITION_LINE:
                    buf.fill()
                    continue
                self._skip_line()  # a huge comment: nothing on it is needed
                continue
            end = len(data) if newline < 0 else newline + 1
            self._definition_line(data[pos:end])
            buf.pos = end

    def _skip_line(self) -> None:
        buf = self._buf
        while True:
            newline = buf.data.find(b"\n", buf.pos)
            if newline >= 0:
                buf.pos = newline + 1
                return
            buf.pos = len(buf.data)
            if buf.eof:
                return
            buf.fill()

    def _insert_columns(self) -> tuple[str, ...] | None:
        """Parse the ``INSERT … VALUES`` head at the buffer's position: the statement's column names."""
        buf = self._buf
        while True:
            data, pos = buf.data, buf.pos
            head = _INSERT_HEAD.match(data, pos)
            if head is not None:
                break
            if not buf.eof and buf.available() < _MAX_HEADER_BYTES:
                buf.fill()
                continue
            if buf.eof and b"\n" not in data[pos:]:
                raise self._error("the file ends inside an INSERT statement (truncated)", pos)
            raise self._error("malformed INSERT statement", pos)
        table = head.group("qtable") or head.group("table")
        if table != self._table:
            raise self._error(
                f"INSERT into table {table.decode(errors='replace')!r}, not {self.table}", pos
            )
        buf.pos = head.end()
        if head.group("columns") is not None:
            return self._column_list(head.group("columns"))
        return tuple(self._definition) if self._definition is not None else None

    # ----- rows --------------------------------------------------------------------------------------

    def rows(
        self,
        select: Sequence[str],
        *,
        keep: Mapping[str, Iterable[str]] | None = None,
        raw: Iterable[str] = (),
        integers: Iterable[str] = (),
        strings: Iterable[str] = (),
    ) -> Iterator[tuple]:
        """Yield the ``select`` columns of every row, in file order, as a tuple.

        Values are ints, floats, ``None`` or text (strings and hex blobs as UTF-8, undecodable bytes
        replaced), the stored bytes for the columns in ``raw``. ``keep`` (column -> values) yields only the
        rows whose column holds one of the values (compared before anything is decoded). A row whose
        column of ``integers`` is not an integer, or of ``strings`` not a string, is an error; so is a
        statement that lacks a selected column.
        """
        if self._started:
            raise RuntimeError(f"{self.name}: the rows of a table dump can be read only once")
        self._started = True
        select = tuple(select)
        raw = set(raw)
        integers, strings = tuple(integers), tuple(strings)
        wanted = {
            c: {v.encode("utf-8") for v in ([vs] if isinstance(vs, str) else vs)} for c, vs in (keep or {}).items()
        }
        buf = self._buf
        while self._to_next_insert():
            start = buf.pos
            columns = self._insert_columns()
            first_row = True
            plan = None if columns is None else self._plan(columns, select, wanted, raw, integers, strings, start)
            while True:  # the rows of one statement
                data, pos = buf.data, buf.pos
                if plan is not None:
                    # Fast path: a run of rows in mysqldump's own layout, matched back to back.
                    match_row, convert, key_column, _ = plan
                    match = match_row(data, pos)
                    ended = False
                    while match is not None:
                        tokens = match.groups()
                        try:
                            row = convert(tokens)
                        except _RowError as exc:
                            raise self._error(str(exc), pos) from None
                        self._last = (key_column, tokens[0])
                        pos = buf.pos = match.end()
                        if row is not None:
                            yield row
                        if tokens[-1] == b";":
                            ended = True
                            break
                        match = match_row(data, pos)
                    if ended:
                        break
                # Anything else (blanks, a row cut by the end of the buffer, no columns known yet): one row.
                parsed = _parse_row_slow(data, pos, buf.eof)
                if parsed is _INCOMPLETE:
                    if buf.available() > MAX_ROW_BYTES:
                        raise self._error(f"row longer than {MAX_ROW_BYTES} bytes (unterminated string?)", pos)
                    buf.fill()
                    continue
                tokens, end, separator = parsed
                if tokens is None:
                    if buf.eof and _parse_row_slow(data, pos, False) is _INCOMPLETE:
                        # What is left would be a good row if the file went on: it was cut.
                        raise self._error("the file ends inside an INSERT statement (truncated)", pos)
                    raise self._error(separator, end)  # separator holds the message here
                if plan is None and first_row:
                    columns = self._defaults.get(len(tokens))
                    if columns is None:
                        raise self._error(
                            f"row has {len(tokens)} values and the file has no CREATE TABLE of {self.table} "
                            f"to name them",
                            pos,
                        )
                    plan = self._plan(columns, select, wanted, raw, integers, strings, start)
                first_row = False
                arity = plan[3]
                if len(tokens) != arity:
                    raise self._error(f"row has {len(tokens)} values, expected {arity}", pos)
                try:
                    row = plan[1](tokens)
                except _RowError as exc:
                    raise self._error(str(exc), pos) from None
                self._last = (plan[2], tokens[0])
                buf.pos = end
                if row is not None:
                    yield row
                if separator == b";":
                    break
        if self._require_complete and not self._saw_trailer:
            raise self._error("the file ends without mysqldump's '-- Dump completed' line (truncated)", buf.pos)

    def _plan(self, columns, select, wanted, raw, integers, strings, at):
        """How to read the rows of a statement with these ``columns``: (match of a whole row, the row function —
        the selected values, ``None`` for a row filtered out, :class:`_RowError` for a bad one —, the key
        column, the arity)."""
        index = {name: i for i, name in enumerate(columns)}
        missing = [c for c in (*select, *wanted, *integers, *strings) if c not in index]
        if missing:
            raise self._error(
                f"{self.table} has no column {', '.join(dict.fromkeys(missing))} (columns: {', '.join(columns)})", at
            )
        # One function per statement shape, generated: checks, filter and conversion of a row in one call,
        # the usual string decoded inline. This runs once per row of dumps with hundreds of millions of rows.
        env = {"_RowError": _RowError, "_literal": sql_literal_value, "_text": _token_text, "_esc": _has_escape}
        lines = ["def row(t):"]
        for n, column in enumerate(integers):
            lines += [
                "    try:",
                f"        i{n} = int(t[{index[column]}])",
                "    except ValueError:",
                f"        raise _RowError({column + ' is not an integer'!r}) from None",
            ]
        for column in strings:
            lines.append(f"    if t[{index[column]}][:1] != b\"'\": raise _RowError({column + ' is not a string'!r})")
        for n, (column, values) in enumerate(wanted.items()):
            env[f"q{n}"] = {b"'" + v + b"'" for v in values}
            env[f"v{n}"] = values
            i = index[column]
            escaped_in = f"(t[{i}][:1] == b\"'\" and _esc(t[{i}]) and _literal(t[{i}]) in v{n})"
            lines.append(f"    if t[{i}] not in q{n} and not {escaped_in}:")
            lines.append("        return None")
        values = []
        for column in select:
            i = index[column]
            if column in integers:
                values.append(f"i{integers.index(column)}")
            elif column in raw:
                values.append(f"_literal(t[{i}])")
            else:
                values.append(
                    f"(t[{i}][1:-1].decode('utf-8', 'replace') if t[{i}][:1] == b\"'\" and b'\\\\' not in t[{i}] "
                    f"and b\"''\" not in t[{i}][1:-1] else _text(t[{i}]))"
                )
        lines.append(f"    return ({', '.join(values)},)")
        exec("\n".join(lines), env)  # noqa: S102 - the source is built here from column positions only
        return _row_pattern(len(columns)).match, env["row"], columns[0], len(columns)
