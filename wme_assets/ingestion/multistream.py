"""Wikimedia's ``pages-articles-multistream`` layout: reading the index, parallel parsing, writing.

Layout (as produced by Wikimedia's dump scripts)::

    {db}-{date}-pages-articles-multistream.xml.bz2
        bz2 stream 0          <mediawiki …> <siteinfo>…</siteinfo>      (header; not in the index)
        bz2 stream 1 … n      up to 100 consecutive <page>…</page> each
        bz2 stream n+1        </mediawiki>                             (footer; not in the index)
    {db}-{date}-pages-articles-multistream-index.txt.bz2
        one line per page, in dump order: ``offset:page_id:title``; ``offset`` is the byte offset, in
        the .xml.bz2 file, of the bz2 stream holding the page (so it repeats for the pages of a stream)

Because every stream is a complete bz2 stream, a byte range ``[offset, next_offset)`` can be
decompressed on its own: :func:`parse_multistream` hands batches of ranges to worker processes (bz2
decompression, not XML parsing, is the slow part — see ``benchmarks/bench_parse_dumps.py``) and
yields the pages in file order.

:func:`write_multistream` does the reverse from a complete XML export, for building dump mirrors.
"""

from __future__ import annotations

import bz2
import io
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from wme_assets.schema.page import Page, SiteInfo
from wme_assets.util.workers import worker_context

from .decompress import open_decompressed
from .dump_xml import DumpReader
from .errors import DumpParseError

__all__ = [
    "IndexEntry",
    "MultistreamReader",
    "MultistreamWriteResult",
    "parse_multistream",
    "read_index",
    "stream_offsets",
    "write_multistream",
]

PathOrFile = str | os.PathLike | IO[bytes]

_ROOT_CLOSE = b"</mediawiki>"
# Aim for roughly this many compressed bytes per worker task: large enough that pickling and
# scheduling overhead is small next to bz2 + XML work, small enough to keep memory bounded.
_TARGET_TASK_BYTES = 4 << 20


@dataclass(slots=True, frozen=True)
class IndexEntry:
    """One line of a multistream index: ``offset:page_id:title``."""

    offset: int
    page_id: int
    title: str


def read_index(index_path: PathOrFile) -> Iterator[IndexEntry]:
    """Iterate over the entries of a multistream index (bz2-compressed or plain)."""
    with open_decompressed(index_path) as raw:
        text = io.TextIOWrapper(io.BufferedReader(raw, 1 << 20), encoding="utf-8", newline="\n")
        for lineno, line in enumerate(text, 1):
            line = line.rstrip("\n")
            if not line:
                continue
            # Titles may contain ":" — only the first two colons separate fields.
            offset, page_id, title = _split_index_line(line, index_path, lineno)
            yield IndexEntry(offset, page_id, title)


def _split_index_line(line: str, index_path, lineno: int) -> tuple[int, int, str]:
    parts = line.split(":", 2)
    try:
        return int(parts[0]), int(parts[1]), parts[2]
    except (IndexError, ValueError):
        raise DumpParseError(
            f"{os.fspath(index_path) if not hasattr(index_path, 'read') else index_path}: "
            f"bad index line {lineno}: {line[:200]!r}"
        ) from None


def stream_offsets(index_path: PathOrFile) -> list[int]:
    """Sorted, unique byte offsets of the page streams listed in a multistream index."""
    return sorted({entry.offset for entry in read_index(index_path)})


# --------------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------------


def _decompress_streams(raw: bytes, *, name: str, start: int) -> bytes:
    """Decompress every bz2 stream in ``raw`` (the bytes at file offset ``start``)."""
    out = []
    view = memoryview(raw)
    pos = 0
    while pos < len(raw):
        decomp = bz2.BZ2Decompressor()
        try:
            out.append(decomp.decompress(view[pos:]))
        except OSError as exc:
            raise DumpParseError(
                f"{name}: corrupt bz2 stream at compressed byte offset {start + pos} ({exc})",
                name=name,
                offset=start + pos,
                offset_kind="compressed",
            ) from None
        if not decomp.eof:
            raise DumpParseError(
                f"{name}: truncated bz2 stream at compressed byte offset {start + pos} "
                f"(data ends at offset {start + len(raw)} before the end-of-stream marker)",
                name=name,
                offset=start + pos,
                offset_kind="compressed",
            )
        pos = len(raw) - len(decomp.unused_data)
    return b"".join(out)


def _parse_ranges(
    dump_path: str,
    ranges: list[tuple[int, int | None]],
    root_open: bytes,
    latest_only: bool,
    is_last_task: bool,
) -> list[Page]:
    """Worker: decompress and parse consecutive stream ranges ``[start, end)`` of a multistream file.

    Each range is parsed as its own small document (the pages wrapped in the export's root element),
    so a fault is reported with the byte offset of the stream it is in.
    """
    pages: list[Page] = []
    with open(dump_path, "rb") as f:
        for i, (start, end) in enumerate(ranges):
            f.seek(start)
            raw = f.read() if end is None else f.read(end - start)
            label = f"{dump_path} (bz2 stream at compressed byte offset {start})"
            if end is not None and len(raw) != end - start:
                raise DumpParseError(
                    f"{label}: file ends at offset {start + len(raw)}, index expects {end}",
                    name=dump_path,
                    offset=start + len(raw),
                    offset_kind="compressed",
                )
            xml = _decompress_streams(raw, name=dump_path, start=start)
            closing = b""
            if is_last_task and i == len(ranges) - 1:
                # The final range runs to EOF and must contain the footer stream; its absence means
                # the download stopped at a stream boundary.
                if not xml.rstrip().endswith(_ROOT_CLOSE):
                    raise DumpParseError(
                        f"{label}: the last stream lacks the closing </mediawiki> — truncated file?",
                        name=dump_path,
                        offset=start,
                        offset_kind="compressed",
                    )
            else:
                closing = _ROOT_CLOSE
            reader = DumpReader(io.BytesIO(root_open + xml + closing), name=label, latest_only=latest_only)
            pages.extend(reader)
    return pages


def _read_header(dump_path: str, first_offset: int) -> tuple[SiteInfo, bytes]:
    """Parse the header stream ``[0, first_offset)``; return the siteinfo and a root start tag."""
    if first_offset <= 0:
        raise DumpParseError(
            f"{dump_path}: the index's first stream offset is {first_offset}; expected a separate "
            "header stream before it (Wikimedia multistream layout)",
            name=dump_path,
        )
    with open(dump_path, "rb") as f:
        raw = f.read(first_offset)
    header = _decompress_streams(raw, name=dump_path, start=0)
    reader = DumpReader(io.BytesIO(header + _ROOT_CLOSE), name=f"{dump_path} (header stream)")
    siteinfo = reader.siteinfo
    if siteinfo is None or next(reader, None) is not None:
        raise DumpParseError(
            f"{dump_path}: the header stream must hold exactly <siteinfo> and no pages", name=dump_path
        )
    # Worker documents only need the export namespace; the other root attributes are in siteinfo.
    xmlns = siteinfo.xml_namespace
    root_open = f'<mediawiki xmlns="{xmlns}">'.encode() if xmlns else b"<mediawiki>"
    return siteinfo, root_open


def _batches(offsets: list[int], file_size: int, per_task: int | None, workers: int):
    """Group consecutive stream ranges into tasks of about ``_TARGET_TASK_BYTES`` compressed bytes.

    Small files get smaller tasks (at least ~4 per worker) so that every worker has something to do.
    """
    target = min(_TARGET_TASK_BYTES, max(1, file_size // (4 * workers)))
    batch: list[tuple[int, int | None]] = []
    batch_bytes = 0
    for i, start in enumerate(offsets):
        end = offsets[i + 1] if i + 1 < len(offsets) else None
        batch.append((start, end))
        batch_bytes += (end if end is not None else file_size) - start
        full = len(batch) >= per_task if per_task else batch_bytes >= target
        if full:
            yield batch
            batch, batch_bytes = [], 0
    if batch:
        yield batch


class MultistreamReader:
    """Iterable of the pages of a multistream dump, parsed in worker processes, in file order.

    ``siteinfo`` is available right away (it comes from the header stream). Counters: ``pages_read``,
    ``streams_read``. Iterating a second time re-parses the file.

    Worker processes come from ``executor`` when given (e.g. one pool shared by the many files of
    a mirror build; it is left running), else from a pool of ``workers`` processes created per
    iteration and shut down afterwards.
    """

    def __init__(
        self,
        dump_path: str | os.PathLike,
        index_path: PathOrFile,
        *,
        workers: int | None = None,
        latest_only: bool = True,
        streams_per_task: int | None = None,
        max_in_flight: int | None = None,
        mp_context=None,
        executor: ProcessPoolExecutor | None = None,
    ) -> None:
        self.dump_path = os.fspath(dump_path)
        self.offsets = stream_offsets(index_path)
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.latest_only = latest_only
        self.streams_per_task = streams_per_task
        # Bounds memory: at most this many parsed batches wait in the parent at any time.
        self.max_in_flight = max_in_flight or 2 * self.workers
        if mp_context is None:
            mp_context = worker_context()  # forkserver with the worker modules preloaded
        self._mp_context = mp_context
        self._executor = executor
        self.pages_read = 0
        self.streams_read = 0
        if not self.offsets:
            raise DumpParseError(f"{index_path}: the multistream index is empty")
        self.siteinfo, self._root_open = _read_header(self.dump_path, self.offsets[0])

    def __iter__(self) -> Iterator[Page]:
        file_size = os.path.getsize(self.dump_path)
        if self.offsets[-1] >= file_size:
            raise DumpParseError(
                f"{self.dump_path}: index offset {self.offsets[-1]} is beyond the end of the file "
                f"({file_size} bytes) — truncated file or wrong index?",
                name=self.dump_path,
                offset=file_size,
                offset_kind="compressed",
            )
        batches = list(_batches(self.offsets, file_size, self.streams_per_task, self.workers))
        own_pool = self._executor is None
        pool = (
            ProcessPoolExecutor(max_workers=self.workers, mp_context=self._mp_context)
            if own_pool
            else self._executor
        )
        in_flight: deque[tuple[Future, int]] = deque()
        try:
            queued = iter(enumerate(batches))
            for _ in range(self.max_in_flight):
                self._submit(pool, queued, in_flight, len(batches))
            while in_flight:
                future, n_streams = in_flight.popleft()
                pages = future.result()
                self._submit(pool, queued, in_flight, len(batches))
                self.streams_read += n_streams
                for page in pages:
                    self.pages_read += 1
                    yield page
        finally:
            # Early exit (break, error): drop the batches not started yet.
            for future, _ in in_flight:
                future.cancel()
            if own_pool:
                pool.shutdown(wait=True, cancel_futures=True)

    def _submit(self, pool, queued, in_flight, n_batches) -> None:
        item = next(queued, None)
        if item is None:
            return
        i, batch = item
        future = pool.submit(
            _parse_ranges, self.dump_path, batch, self._root_open, self.latest_only, i == n_batches - 1
        )
        in_flight.append((future, len(batch)))


def parse_multistream(
    dump_path: str | os.PathLike,
    index_path: PathOrFile,
    *,
    workers: int | None = None,
    latest_only: bool = True,
    streams_per_task: int | None = None,
    executor: ProcessPoolExecutor | None = None,
    mp_context=None,
) -> MultistreamReader:
    """Parse a multistream dump in ``workers`` processes (default: all CPUs); iterate for pages.

    The siteinfo is parsed from the header stream up front (``reader.siteinfo``). Pages come out in
    file order; at most ``2 * workers`` batches are in flight, so memory stays bounded.
    ``streams_per_task`` overrides the default batching (~4 MB of compressed data per worker task).
    ``executor`` reuses an existing process pool; ``mp_context`` picks the start method of the pool
    created otherwise (default forkserver). Errors are :class:`DumpParseError` naming the file and
    the bz2 stream's offset.

    Workers are started with forkserver, which re-imports the main module: scripts that call this
    need the usual ``if __name__ == "__main__":`` guard.
    """
    return MultistreamReader(
        dump_path,
        index_path,
        workers=workers if workers is not None else os.cpu_count(),
        latest_only=latest_only,
        streams_per_task=streams_per_task,
        executor=executor,
        mp_context=mp_context,
    )


# --------------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class MultistreamWriteResult:
    """What :func:`write_multistream` wrote."""

    pages: int = 0
    streams: int = 0  # page streams (the header and footer streams are not counted)
    offsets: list[int] = field(default_factory=list)  # offset of every page stream
    dump_bytes: int = 0
    siteinfo: SiteInfo | None = None


class _CountingWriter:
    def __init__(self, f: IO[bytes]) -> None:
        self._f = f
        self.pos = 0

    def write(self, data: bytes) -> None:
        self._f.write(data)
        self.pos += len(data)


def _open_out(target: PathOrFile):
    if hasattr(target, "write"):
        return target, False
    return open(target, "wb"), True


_PAGE_OPEN = b"<page>"
_PAGE_CLOSE = b"</page>"


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
    read_size: int = 1 << 20,
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
    dump_f, close_dump = _open_out(dump_out)
    index_f, close_index = _open_out(index_out)
    try:
        out = _CountingWriter(dump_f)
        index = bz2.BZ2Compressor(compresslevel)
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
            out.write(bz2.compress(header, compresslevel))

            batch: list[bytes] = []

            def flush() -> None:
                offset = out.pos
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
                out.write(bz2.compress(data, compresslevel))
                lines = "".join(f"{offset}:{p.id}:{p.title}\n" for p in pages)
                index_f.write(index.compress(lines.encode("utf-8")))
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
                end = find(_PAGE_CLOSE, start)
                if end < 0:
                    raise DumpParseError(
                        f"{name}: truncated XML: the <page> at decompressed byte offset {consumed + start} "
                        "has no </page>",
                        name=name,
                        offset=consumed + start,
                        offset_kind="decompressed",
                    )
                end += len(_PAGE_CLOSE)
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
            out.write(bz2.compress(footer, compresslevel))
        index_f.write(index.flush())
        result.dump_bytes = out.pos
    except BaseException:
        # A half-written dump must not be mistaken for a mirror: remove the files this call created.
        for f, owned in ((dump_f, close_dump), (index_f, close_index)):
            if owned:
                f.close()
                Path(f.name).unlink(missing_ok=True)
        raise
    finally:
        if close_dump:
            dump_f.close()
        if close_index:
            index_f.close()
    return result
