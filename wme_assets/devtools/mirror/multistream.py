"""Writing Wikimedia's multistream layout: the one multistream writer, for mirrors and tests.

:func:`complete_pages_xml` cuts an export at its last complete page. :class:`MultistreamFile` writes one
``.xml.bz2`` and its index a finished bz2 stream at a time (``recompressxml``'s layout: the header
stream, page streams of ``--pagesperstream`` pages, the footer stream; index lines
``{offset}:{page id}:{title}``). Two front ends feed it:

- the mirror builder (:mod:`.run`) splits an export line by line (:func:`_read_export`, titles as written
  in the XML, as recompressxml indexes them) and compresses streams on a thread pool;
- :func:`write_multistream` copies a complete export byte for byte, checking every stream with the XML
  reader, for tests and benchmarks of the multistream reader.

The runtime package only reads this layout (:mod:`wme_assets.ingestion.multistream`).
"""

from __future__ import annotations

import bz2
import io
import os
import re
import tempfile
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, BinaryIO, TypeVar

from wme_assets.ingestion.decompress import open_decompressed
from wme_assets.ingestion.dump_xml import DumpReader
from wme_assets.ingestion.errors import DumpParseError
from wme_assets.schema.page import SiteInfo
from wme_assets.util.sizes import MiB

__all__ = ["MultistreamFile", "MultistreamWriteResult", "complete_pages_xml", "write_multistream"]

PathOrFile = str | os.PathLike | IO[bytes]

_CHUNK = MiB
_K = TypeVar("_K")
_PAGE_END = b"</page>"
_SITEINFO_END = b"</siteinfo>"
_FOOTER = b"</mediawiki>\n"
_TITLE_LINE = re.compile(rb"^\s*<title>(.*)</title>\s*$")
_ID_LINE = re.compile(rb"^\s*<id>([0-9]+)</id>\s*$")
_ROOT_CLOSE = b"</mediawiki>"
_PAGE_OPEN = b"<page>"


# --------------------------------------------------------------------------------------------------
# Cutting an export at its last complete page
# --------------------------------------------------------------------------------------------------


def complete_pages_xml(
    source: str | os.PathLike[str] | bytes | BinaryIO, out: BinaryIO | None = None
) -> BinaryIO:
    """The export cut after its last complete ``</page>`` and closed with ``</mediawiki>``.

    ``source`` is a path, bytes or binary stream of a MediaWiki XML export, plain or xz/bz2/gzip. Exports
    cut mid-page (the xztextfilter fixtures stop at line 100,000, inside a page and without
    ``</mediawiki>``) lose the incomplete page, so a mirror holds only real, complete pages; a complete
    export comes out unchanged (its ``</mediawiki>`` line is rewritten identically). An export with no
    complete page keeps its ``<siteinfo>`` header.

    The input is streamed (no DOM): a literal ``</page>`` can only be the closing tag, because ``<`` in
    page text is always escaped as ``&lt;``. The result is written to ``out`` if given, otherwise to an
    anonymous temporary file; a seekable result is returned positioned where the export starts.
    """
    # The caller owns the returned file (it is the result), hence no context manager here.
    target = out if out is not None else tempfile.TemporaryFile()  # noqa: SIM115
    start = target.tell() if target.seekable() else None
    try:
        _cut_after_last_page(source, target)
    except BaseException:
        if out is None:
            target.close()
        raise
    if start is not None:
        target.seek(start)
    return target


def _cut_after_last_page(source: str | os.PathLike[str] | bytes | BinaryIO, target: BinaryIO) -> None:
    pending = bytearray()  # bytes after the last </page> seen: a page (or footer) not known to be complete
    at_start = True
    if isinstance(source, (bytes, bytearray, memoryview)):
        source = io.BytesIO(bytes(source))
    with open_decompressed(source) as stream:
        while chunk := stream.read(_CHUNK):
            # A closing tag may straddle two chunks: search from len("</page>") - 1 bytes before the new
            # chunk, never from the start of a long page again, so a huge page costs linear time.
            search_from = max(0, len(pending) - len(_PAGE_END) + 1)
            pending += chunk
            cut = pending.rfind(_PAGE_END, search_from)
            if cut < 0:
                continue
            cut += len(_PAGE_END)
            if at_start:
                _require_mediawiki_root(pending[: min(cut, 4096)])
                at_start = False
            target.write(pending[:cut])
            del pending[:cut]
    if at_start:
        # No complete page at all: keep the header, which must itself be complete.
        _require_mediawiki_root(pending)
        end = pending.find(_SITEINFO_END)
        if end < 0:
            raise ValueError("the export has neither a complete <page> nor a complete <siteinfo> header")
        target.write(pending[: end + len(_SITEINFO_END)])
    target.write(b"\n" + _FOOTER)


def _require_mediawiki_root(document_start: bytes) -> None:
    if b"<mediawiki" not in document_start[:4096]:
        raise ValueError("not a MediaWiki XML export: no <mediawiki> root element at the start")

# --------------------------------------------------------------------------------------------------
# The stream writer
# --------------------------------------------------------------------------------------------------


def _open_out(target: PathOrFile) -> tuple[IO[bytes], bool]:
    if hasattr(target, "write"):
        return target, False
    return open(target, "wb"), True


class MultistreamFile:
    """One multistream ``.xml.bz2`` and its index, written one finished bz2 stream at a time.

    ``data`` and ``index`` are paths (created here, closed by :meth:`close`) or binary files (left open).
    """

    def __init__(self, data: PathOrFile, index: PathOrFile, *, compresslevel: int = 9) -> None:
        # Both files live as long as this writer, which close() ends (callers close it in a finally).
        self._data, self._owns_data = _open_out(data)
        self._index, self._owns_index = _open_out(index)
        self.data_path = Path(data) if self._owns_data else None
        self.index_path = Path(index) if self._owns_index else None
        self._index_compressor = bz2.BZ2Compressor(compresslevel)  # the index is a single bz2 stream
        self.offset = 0
        self._closed = False

    def write_stream(self, compressed: bytes, pages: Iterable[tuple[int, str]] = ()) -> None:
        """Append one bz2 stream, indexing ``pages`` (page id, title) at its offset."""
        lines = "".join(f"{self.offset}:{page_id}:{title}\n" for page_id, title in pages)
        if lines:
            self._index.write(self._index_compressor.compress(lines.encode("utf-8")))
        self._data.write(compressed)
        self.offset += len(compressed)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._index.write(self._index_compressor.flush())
        finally:
            if self._owns_index:
                self._index.close()
            if self._owns_data:
                self._data.close()

    def discard(self) -> None:
        """Close after a failure and remove the files this writer created.

        A half-written dump must not be mistaken for a mirror.
        """
        self._closed = True
        for f, owned in ((self._data, self._owns_data), (self._index, self._owns_index)):
            if owned:
                f.close()
                Path(f.name).unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------------
# The mirror's front end: an export split line by line, streams compressed on a thread pool
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Page:
    page_id: int
    title: str  # as written in the XML (entities not decoded): what recompressxml puts in the index
    xml: bytes  # the <page> ... </page> lines


def _read_export(stream: BinaryIO) -> tuple[bytes, Iterator[_Page]]:
    """Split a complete export into its header (up to ``</siteinfo>``) and its pages, line by line.

    The dump generator writes every ``<page>``, ``</page>`` and ``</siteinfo>`` tag on its own line, and
    recompressxml relies on that too; the page id is the first ``<id>`` after ``<title>``.
    """
    header = bytearray()
    for line in stream:
        header += line
        if line.strip() == _SITEINFO_END:
            break
    else:
        raise ValueError("the export has no complete <siteinfo> header")

    def pages() -> Iterator[_Page]:
        lines: list[bytes] | None = None
        title: bytes | None = None
        page_id: int | None = None
        for line in stream:
            stripped = line.strip()
            if lines is None:
                if stripped == b"<page>":
                    lines, title, page_id = [line], None, None
                elif stripped == b"</mediawiki>":
                    return
                elif stripped:
                    raise ValueError(f"unexpected line between pages: {line[:80]!r}")
                continue
            lines.append(line)
            if title is None:
                match = _TITLE_LINE.match(line)
                if match:
                    title = match.group(1)
            elif page_id is None:
                match = _ID_LINE.match(line)
                if match:
                    page_id = int(match.group(1))
            if stripped == _PAGE_END:
                if title is None or page_id is None:
                    raise ValueError(f"a <page> without <title> or <id>: {lines[1][:80]!r}")
                yield _Page(page_id, title.decode("utf-8"), b"".join(lines))
                lines = None
        if lines is not None:
            raise ValueError("the export ends inside a <page>: pass it through complete_pages_xml first")

    return bytes(header), pages()


def _page_ids(stream: BinaryIO) -> list[int]:
    _, pages = _read_export(stream)
    return [page.page_id for page in pages]


def _batches(pages: Iterable[_Page], size: int) -> Iterator[list[_Page]]:
    batch: list[_Page] = []
    for page in pages:
        batch.append(page)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch

def _compressed_in_order(
    batches: Iterable[tuple[_K, list[_Page]]],
) -> Iterator[tuple[_K, list[_Page], bytes]]:
    """Each batch with its bz2 stream, compressed on a thread pool and yielded in input order.

    bz2 releases the GIL, so streams compress in parallel while the export is read; at most two batches
    per worker are in flight, so memory stays bounded whatever the size of the export.
    """
    workers = min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dumps-mirror-bz2") as pool:
        window: deque[tuple[_K, list[_Page], Future[bytes]]] = deque()
        for key, batch in batches:
            window.append((key, batch, pool.submit(bz2.compress, b"".join(p.xml for p in batch), 9)))
            if len(window) >= 2 * workers:
                key, batch, future = window.popleft()
                yield key, batch, future.result()
        while window:
            key, batch, future = window.popleft()
            yield key, batch, future.result()


# --------------------------------------------------------------------------------------------------
# write_multistream: a complete export copied byte for byte, every stream checked by the XML reader
# --------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class MultistreamWriteResult:
    """What :func:`write_multistream` wrote."""

    pages: int = 0
    streams: int = 0  # page streams (the header and footer streams are not counted)
    offsets: list[int] = field(default_factory=list)  # offset of every page stream
    dump_bytes: int = 0
    siteinfo: SiteInfo | None = None


def _line_start(buf: bytes | bytearray, pos: int) -> int:
    """Back up from ``pos`` over the indentation before it (Wikimedia streams start at ``  <page>``)."""
    while pos > 0 and buf[pos - 1] in b" \t":
        pos -= 1
    return pos


def write_multistream(
    xml_path_or_stream: PathOrFile,
    dump_out: PathOrFile,
    index_out: PathOrFile,
    *,
    pages_per_stream: int = 100,
    compresslevel: int = 9,
    read_size: int = MiB,
) -> MultistreamWriteResult:
    """Write a complete XML export as a Wikimedia-style multistream ``.xml.bz2`` plus its index.

    Input: a path or binary stream of a complete export (any compression :func:`open_decompressed`
    detects; UTF-8). Output: ``dump_out`` gets a header stream (everything before the first
    ``<page>``), one bz2 stream per ``pages_per_stream`` pages and a footer stream (``</mediawiki>``);
    ``index_out`` gets the bz2-compressed ``offset:page_id:title`` lines.

    Pages are copied byte for byte (decompressing the output reproduces the input exactly). That
    needs the pages' byte boundaries, which lxml does not expose, so the ``<page>``/``</page>`` tags
    are located by a byte search — sound for any well-formed export because ``<`` inside text and
    attributes is always escaped as ``&lt;`` and MediaWiki writes these tags without attributes.
    Every batch is then parsed with lxml (which validates it and supplies the ids and titles for the
    index), and the header with its siteinfo likewise, so malformed or truncated input raises
    :class:`DumpParseError` instead of producing a broken mirror.
    """
    if pages_per_stream < 1:
        raise ValueError("pages_per_stream must be >= 1")
    name = (
        xml_path_or_stream
        if not hasattr(xml_path_or_stream, "read")
        else getattr(xml_path_or_stream, "name", "<stream>")
    )
    name = os.fspath(name) if isinstance(name, (str, os.PathLike)) else str(name)
    result = MultistreamWriteResult()
    out = MultistreamFile(dump_out, index_out, compresslevel=compresslevel)
    try:
        with open_decompressed(xml_path_or_stream) as src:
            buf = bytearray()
            eof = False

            def fill() -> bool:
                nonlocal eof
                if eof:
                    return False
                data = src.read(read_size)
                if not data:
                    eof = True
                    return False
                buf.extend(data)
                return True

            def find(tag: bytes, start: int) -> int:
                # Searches only the new bytes after each fill, so a huge page is not rescanned.
                while (i := buf.find(tag, start)) < 0:
                    start = max(start, len(buf) - len(tag) + 1)
                    if not fill():
                        return -1
                return i

            fill()
            if buf[:2] in (b"\xff\xfe", b"\xfe\xff"):
                raise DumpParseError(f"{name}: UTF-16 input; transcode to UTF-8 first", name=name)

            # Header: everything before the line of the first <page> (or before </mediawiki>).
            pos = find(_PAGE_OPEN, 0)
            if pos < 0:
                pos = buf.rfind(_ROOT_CLOSE)
                if pos < 0:
                    raise DumpParseError(
                        f"{name}: no <page> and no </mediawiki>: not a complete export", name=name
                    )
            header_end = _line_start(buf, pos)
            header = bytes(buf[:header_end])
            del buf[:header_end]
            consumed = header_end  # decompressed bytes dropped from the front of buf (error offsets)
            header_reader = DumpReader(io.BytesIO(header + _ROOT_CLOSE), name=f"{name} (header)")
            siteinfo = header_reader.siteinfo
            if siteinfo is None or next(header_reader, None) is not None:
                raise DumpParseError(f"{name}: expected <siteinfo> before the first <page>", name=name)
            result.siteinfo = siteinfo
            xmlns = siteinfo.xml_namespace
            root_open = f'<mediawiki xmlns="{xmlns}">'.encode() if xmlns else b"<mediawiki>"
            out.write_stream(bz2.compress(header, compresslevel))

            batch: list[bytes] = []

            def flush() -> None:
                offset = out.offset
                data = b"".join(batch)
                label = f"{name} (pages of stream {result.streams + 1})"
                pages = list(
                    DumpReader(io.BytesIO(root_open + data + _ROOT_CLOSE), name=label, latest_only=False)
                )
                if len(pages) != len(batch):
                    raise DumpParseError(
                        f"{label}: found {len(batch)} <page> tags but lxml parsed {len(pages)} pages",
                        name=name,
                    )
                out.write_stream(bz2.compress(data, compresslevel), [(p.id, p.title) for p in pages])
                result.offsets.append(offset)
                result.streams += 1
                result.pages += len(pages)
                batch.clear()

            pos = 0  # cursor in buf; buf[:pos] is already copied into ``batch``
            while True:
                if pos >= len(buf) // 2:
                    # Compact now, while no other index into buf is alive (cheap: amortised).
                    del buf[:pos]
                    consumed += pos
                    pos = 0
                start = find(_PAGE_OPEN, pos)
                if start < 0:
                    break
                end = find(_PAGE_END, start)
                if end < 0:
                    raise DumpParseError(
                        f"{name}: truncated XML: the <page> at decompressed byte offset {consumed + start} "
                        "has no </page>",
                        name=name,
                        offset=consumed + start,
                        offset_kind="decompressed",
                    )
                end += len(_PAGE_END)
                if end == len(buf):
                    fill()
                if buf[end : end + 1] == b"\n":
                    end += 1
                # A page's chunk starts at its line's indentation; anything between two pages
                # (normally nothing) stays with the earlier page, so that the streams concatenate
                # to the input byte for byte.
                cut = max(_line_start(buf, start), pos)
                if batch and cut > pos:
                    batch[-1] += bytes(buf[pos:cut])
                else:
                    cut = pos
                batch.append(bytes(buf[cut:end]))
                pos = end
                if len(batch) >= pages_per_stream:
                    flush()
            while fill():
                pass
            footer = bytes(buf[pos:])
            if batch:
                flush()
            if footer.strip() != _ROOT_CLOSE:
                raise DumpParseError(
                    f"{name}: expected only </mediawiki> after the last page, got {footer[:80]!r} — "
                    "truncated, or not an export?",
                    name=name,
                    offset=consumed + pos,
                    offset_kind="decompressed",
                )
            out.write_stream(bz2.compress(footer, compresslevel))
        out.close()
        result.dump_bytes = out.offset
    except BaseException:
        out.discard()
        raise
    return result

