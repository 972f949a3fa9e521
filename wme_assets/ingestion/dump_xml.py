"""Streaming parser for MediaWiki XML export dumps (``pages-articles``, ``pages-meta-history``, …).

Supported input
    * Export schema 0.10 and 0.11 (what Wikimedia dumps and MediaWiki's ``Special:Export`` write today)
      and the old 0.3 … 0.9 layouts (no ``<ns>``, no ``<dbname>``, ``<redirect />`` without a title).
    * UTF-8, or UTF-16 with a byte-order mark (libxml2 detects the encoding itself).
    * Plain, gzip, bzip2 (one stream or Wikimedia's *multistream*, i.e. concatenated bz2 streams) and
      xz — detected from the magic bytes, never from the file name.

Memory stays flat however large the dump is: lxml's pull parser is fed fixed-size chunks of the
decompressed stream; each ``<revision>`` and ``<page>`` is turned into plain Python objects as soon
as its end tag arrives, then the element is cleared and the already-processed siblings are deleted,
so the in-memory tree never holds more than the current page (and, with ``latest_only=True``, never
more than two revisions of it, however long the history).

Security: dumps are untrusted input. The parser never loads a DTD, never resolves entities and never
touches the network, and a document carrying a ``<!DOCTYPE …>`` declaration is rejected outright —
MediaWiki exports never have one, so its presence means a crafted file (billion laughs, external
entities such as ``file:///etc/passwd``).

Errors: a truncated or corrupt input raises :class:`DumpParseError` (a :class:`ValueError`) naming
the file, the byte offset (and which stream it counts in) and the id of the last complete page.
Keeping the good part of a damaged file is an explicit operator choice (``keep_partial=True``).

Typical use::

    with DumpReader("bnwiki-20230501-pages-articles.xml.bz2") as reader:
        print(reader.siteinfo.dbname, reader.siteinfo.language)
        for page in reader:
            rev = page.revisions[-1]
            ...
"""

from __future__ import annotations

import logging
import re
from collections import deque
from typing import Self

from lxml import etree

from wme_assets.schema.page import Namespace, Page, Revision, SiteInfo, Slot

from .decompress import (
    _DECOMPRESSION_ERRORS,
    DecompressedStream,
    Source,
    detect_compression,
    open_decompressed,
)
from .elements import _ns_from_title, _parse_revision, _parse_siteinfo, _Tags
from .errors import DumpParseError
from .errors import describe_source as _describe

__all__ = [
    "DecompressedStream",
    "DumpParseError",
    "DumpReader",
    "Namespace",
    "Page",
    "Revision",
    "SiteInfo",
    "Slot",
    "detect_compression",
    "iter_pages",
    "open_decompressed",
]

log = logging.getLogger(__name__)

# Bytes handed to libxml2 per feed(). 256 KiB measured as fast as larger chunks while keeping the
# "current chunk" (kept for error offsets) small.
DEFAULT_CHUNK_SIZE = 1 << 18

_POSITION_SUFFIX = re.compile(r",? line \d+, column \d+(?: \(.*\))?$")
_ELEMENT_START = re.compile(r"<[A-Za-z_:]")
_DOCTYPE_REFUSED = (
    "document has a <!DOCTYPE> declaration; MediaWiki exports never do, and DTDs allow "
    "entity-expansion and external-entity attacks, so the file is rejected"
)


class DumpReader:
    """Iterator over the pages of one XML export dump; see the module docstring.

    Args:
        source: path or binary file object (compressed or not).
        name: label used in error messages (defaults to the path / the file object's ``name``).
        latest_only: keep only the newest revision of each page (memory independent of history size).
        keep_partial: on a truncated/corrupt input, yield the complete pages, then stop and record
            the error in ``truncated``/``error`` instead of raising. Off by default: silently
            publishing half a dump must be a deliberate choice.
        chunk_size: decompressed bytes fed to the XML parser at a time.

    Attributes: ``siteinfo`` (parsed on first access; ``None`` if the document has none),
    ``pages_read``, ``bytes_read`` (decompressed), ``compressed_bytes_read``, ``compression``,
    ``truncated``, ``error``, ``last_page_id``.
    """

    def __init__(
        self,
        source: Source,
        *,
        name: str | None = None,
        latest_only: bool = True,
        keep_partial: bool = False,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> None:
        self.name = name or _describe(source)
        self.latest_only = latest_only
        self.keep_partial = keep_partial
        self.pages_read = 0
        self.last_page_id: int | None = None
        self.truncated = False
        self.error: DumpParseError | None = None
        self._chunk_size = chunk_size
        self._siteinfo: SiteInfo | None = None
        self._siteinfo_done = False
        self._tags: _Tags | None = None
        self._revisions: list[Revision] = []
        self._prev_revision = None
        self._pending: deque = deque()
        self._finished = False
        self._stream = open_decompressed(source)
        self._parser = etree.XMLPullParser(
            events=("end",),
            tag=("{*}siteinfo", "{*}page", "{*}revision"),
            # The safety switches (see module docstring); huge_tree stays off so libxml2 keeps its
            # own limits on text node size and nesting depth.
            resolve_entities=False,
            load_dtd=False,
            no_network=True,
            dtd_validation=False,
            remove_comments=True,
            remove_pis=True,
        )
        # For mapping libxml2's line numbers back to byte offsets in error messages.
        self._chunk = b""
        self._chunk_start = 0
        self._lines_before_chunk = 0
        self._count_lines = True
        self._events = self._pump()

    # -- public API ---------------------------------------------------------------------------

    @property
    def bytes_read(self) -> int:
        return self._stream.bytes_read

    @property
    def compressed_bytes_read(self) -> int:
        return self._stream.compressed_bytes_read

    @property
    def compression(self) -> str:
        return self._stream.compression

    @property
    def siteinfo(self) -> SiteInfo | None:
        """The ``<siteinfo>`` header; reading it parses only the start of the dump."""
        while not self._siteinfo_done:
            event = self._next_event()
            if event is None:
                break
            el = event[1]
            if el.tag != self._tags.siteinfo:
                # No siteinfo before the first page/revision: keep the event for iteration.
                self._pending.appendleft(event)
                break
            self._handle_siteinfo(el)
        self._siteinfo_done = True
        return self._siteinfo

    def __iter__(self) -> DumpReader:
        return self

    def __next__(self) -> Page:
        while True:
            event = self._next_event()
            if event is None:
                raise StopIteration
            el = event[1]
            tag = el.tag
            T = self._tags
            try:
                if tag == T.revision:
                    self._handle_revision(el)
                elif tag == T.page:
                    return self._handle_page(el)
                elif tag == T.siteinfo:
                    self._handle_siteinfo(el)
            except DumpParseError as err:
                # Well-formed XML with impossible content (e.g. a non-numeric <id>): corrupt too.
                self._finish()
                self._fail(err)
                raise StopIteration from None

    def close(self) -> None:
        self._finished = True
        self._events.close()
        self._stream.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- event handling -----------------------------------------------------------------------

    def _next_event(self):
        if self._pending:
            return self._pending.popleft()
        if self._finished:
            return None
        try:
            event = next(self._events)
            if self._tags is None:
                self._first_event(event[1])
        except StopIteration:
            self._finish()
            return None
        except BaseException:
            self._finish()
            raise
        return event

    def _finish(self) -> None:
        self._finished = True
        self._pending.clear()
        self._stream.close()

    def _first_event(self, el) -> None:
        tree = el.getroottree()
        self._reject_doctype(tree)
        root = tree.getroot()
        self._tags = _Tags.for_tag(el.tag)
        if root.tag != self._tags.mediawiki:
            raise self._error(f"not a MediaWiki XML export (root element is {root.tag!r})")

    def _reject_doctype(self, tree) -> None:
        docinfo = tree.docinfo
        if docinfo.internalDTD is not None or docinfo.externalDTD is not None or docinfo.doctype:
            raise self._error(_DOCTYPE_REFUSED)

    def _handle_siteinfo(self, el) -> None:
        try:
            self._siteinfo = _parse_siteinfo(el, self._tags)
        except (TypeError, ValueError) as exc:
            raise self._error(f"invalid <siteinfo>: {exc}") from exc
        self._siteinfo_done = True
        el.clear(keep_tail=False)

    def _handle_revision(self, el) -> None:
        try:
            rev = _parse_revision(el, self._tags)
        except (TypeError, ValueError) as exc:
            raise self._error(f"invalid <revision> in page after id {self.last_page_id}: {exc}") from exc
        if self.latest_only:
            self._revisions = [rev]
        else:
            self._revisions.append(rev)
        el.clear(keep_tail=False)
        # Deleting the previous (already converted) revision keeps long histories out of memory.
        # Deleting earlier siblings, never the current element, is the pattern lxml supports while
        # the parser is still appending to the parent.
        prev = self._prev_revision
        if prev is not None:
            parent = prev.getparent()
            if parent is not None:
                parent.remove(prev)
        self._prev_revision = el

    def _handle_page(self, el) -> Page:
        T = self._tags
        title = None
        page_id = ns = restrictions = redirect_target = None
        is_redirect = False
        try:
            for c in el:
                tag = c.tag
                if tag == T.title:
                    title = c.text or ""
                elif tag == T.ns:
                    ns = int(c.text)
                elif tag == T.id:
                    page_id = int(c.text)
                elif tag == T.redirect:
                    is_redirect = True
                    redirect_target = c.get("title")
                elif tag == T.restrictions:
                    restrictions = c.text
        except (TypeError, ValueError) as exc:
            raise self._error(f"invalid <page> after page id {self.last_page_id}: {exc}") from exc
        if page_id is None or title is None:
            raise self._error(f"<page> without <id> or <title> after page id {self.last_page_id}")
        if ns is None:
            ns = _ns_from_title(title, self._siteinfo)
        page = Page(
            id=page_id,
            title=title,
            ns=ns,
            redirect_target=redirect_target,
            is_redirect=is_redirect,
            restrictions=restrictions,
            revisions=self._revisions,
        )
        self._revisions = []
        self._prev_revision = None
        self.pages_read += 1
        self.last_page_id = page_id
        # Free the page, then everything before it under the root (siteinfo, earlier pages).
        el.clear(keep_tail=False)
        parent = el.getparent()
        if parent is not None:
            while el.getprevious() is not None:
                del parent[0]
        return page

    # -- feeding the parser -------------------------------------------------------------------

    def _read_chunk(self) -> tuple[bytes, BaseException | None]:
        """Up to ``chunk_size`` decompressed bytes, plus the decompression fault that ended it, if any.

        Built from ``read1`` calls so that bytes decompressed before a fault are never lost.
        """
        read1 = self._stream.read1
        size = self._chunk_size
        pieces: list[bytes] = []
        got = 0
        try:
            while got < size:
                piece = read1(size - got)
                if not piece:
                    break
                pieces.append(piece)
                got += len(piece)
        except _DECOMPRESSION_ERRORS as exc:
            return b"".join(pieces), exc
        return (pieces[0] if len(pieces) == 1 else b"".join(pieces)), None

    def _pump(self):
        """Generator of (event, element) pairs; turns every failure into DumpParseError."""
        parser = self._parser
        first = True
        while True:
            data, fault = self._read_chunk()
            if not data and fault is None:
                break
            if first:
                first = False
                # Line→offset mapping counts b"\n", which is only right for ASCII-compatible encodings.
                self._count_lines = not data.startswith((b"\xff\xfe", b"\xfe\xff"))
                self._check_prolog(data)
            self._chunk_start = self.bytes_read - len(data)
            self._chunk = data
            try:
                parser.feed(data)
            except etree.XMLSyntaxError as exc:
                yield from parser.read_events()  # pages completed before the fault are good
                if fault is None:
                    self._fail(self._xml_error(exc, at_end=False))
                    return
                # Otherwise the data was cut by the decompression fault: report that below.
            if fault is not None:
                yield from parser.read_events()
                self._fail(
                    self._error(
                        f"{self.compression} data is truncated or corrupt after {self.bytes_read} "
                        "decompressed bytes; the reader was",
                        detail=f"{type(fault).__name__}: {fault}",
                        offset=self.compressed_bytes_read,
                        offset_kind="compressed",
                    )
                )
                return
            if self._count_lines:
                self._lines_before_chunk += data.count(b"\n")
            yield from parser.read_events()
        try:
            root = parser.close()
        except etree.XMLSyntaxError as exc:
            yield from parser.read_events()
            self._fail(self._xml_error(exc, at_end=True))
            return
        if self._tags is None and root is not None:
            # No siteinfo/page/revision at all: the document checks still apply.
            self._first_event(root)
        yield from parser.read_events()

    def _check_prolog(self, data: bytes) -> None:
        """Refuse a DOCTYPE in the prolog before libxml2 even reads it.

        The document-level check at the first event (``_reject_doctype``) is the authoritative one,
        but libxml2 already fails inside a hostile DTD (e.g. on entity amplification) with a
        generic syntax error; looking first gives the operator a clear message.
        """
        head = data[: 1 << 16]
        if head.startswith((b"\xff\xfe", b"\xfe\xff")):
            text = head.decode("utf-16", errors="ignore")
        else:
            text = head.decode("latin-1")  # any ASCII-compatible encoding: markup is ASCII
        root = _ELEMENT_START.search(text)
        if "<!DOCTYPE" in text[: root.start() if root else len(text)]:
            raise self._error(_DOCTYPE_REFUSED)

    def _fail(self, err: DumpParseError) -> None:
        if not self.keep_partial:
            raise err
        self.truncated = True
        self.error = err
        log.warning("keeping %d complete pages of damaged dump: %s", self.pages_read, err)

    def _error(
        self,
        what: str,
        *,
        detail: str = "",
        offset: int | None = None,
        offset_kind: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> DumpParseError:
        where = ""
        if offset is not None:
            where = f" at {offset_kind} byte offset {offset}"
            if line is not None:
                where += f" (line {line}, column {column})"
        detail = f" [{detail}]" if detail else ""
        return DumpParseError(
            f"{self.name}: {what}{where}; last good page id: {self.last_page_id}{detail}",
            name=self.name,
            offset=offset,
            offset_kind=offset_kind,
            last_page_id=self.last_page_id,
            line=line,
            column=column,
        )

    def _xml_error(self, exc: etree.XMLSyntaxError, *, at_end: bool) -> DumpParseError:
        line, column = exc.position if exc.position else (None, None)
        # libxml2's message already ends in ", line L, column C"; that position is reported separately.
        detail = _POSITION_SUFFIX.sub("", getattr(exc, "msg", None) or str(exc))
        if at_end:
            return self._error(
                "truncated XML: the data ends before the document is complete",
                detail=detail,
                offset=self.bytes_read,
                offset_kind="decompressed",
                line=line,
                column=column,
            )
        return self._error(
            "malformed XML",
            detail=detail,
            offset=self._offset_of(line, column),
            offset_kind="decompressed",
            line=line,
            column=column,
        )

    def _offset_of(self, line: int | None, column: int | None) -> int:
        """Best byte offset for a libxml2 (line, column): the start of that line plus the column.

        Exact for the line start when the line begins in the chunk being parsed; the column counts
        characters, so for non-ASCII lines the result is approximate. Falls back to the start of
        the chunk that failed.
        """
        if not (self._count_lines and line):
            return self._chunk_start
        newlines_needed = line - 1 - self._lines_before_chunk
        if newlines_needed < 0:
            return self._chunk_start
        pos = 0
        for _ in range(newlines_needed):
            pos = self._chunk.find(b"\n", pos) + 1
            if pos == 0:
                return self._chunk_start
        return self._chunk_start + pos + max((column or 1) - 1, 0)


def iter_pages(
    source: Source,
    *,
    name: str,
    latest_only: bool = True,
    keep_partial: bool = False,
) -> DumpReader:
    """Iterate over the pages of a dump; the returned reader also exposes ``siteinfo`` and counters.

    ``name`` labels error messages (the file name, or e.g. the URL a stream came from).
    """
    return DumpReader(source, name=name, latest_only=latest_only, keep_partial=keep_partial)
