"""Wikimedia's ``pages-articles-multistream`` layout: reading the index, parallel parsing.

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

The runtime only reads this layout; the one writer, for mirrors and tests, is
:mod:`wme_assets.devtools.mirror.multistream`.
"""

from __future__ import annotations

import bz2
import io
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import IO

import indexed_bzip2
import pyarrow as pa

from wme_assets.schema.page import Page, SiteInfo
from wme_assets.storage.page_store import page_rows
from wme_assets.util.sizes import MiB
from wme_assets.util.workers import available_cpus, worker_context

from .decompress import open_decompressed
from .dump_xml import DumpReader
from .errors import DumpParseError

__all__ = [
    "IndexEntry",
    "MultistreamReader",
    "parse_multistream",
    "read_index",
    "stream_offsets",
]

PathOrFile = str | os.PathLike | IO[bytes]

_ROOT_CLOSE = b"</mediawiki>"
# pyarrow imports pandas at its first array built from Python objects (to look for pandas arrays): ~0.2 CPU-s. Done
# here, at import, so that the fork server, which preloads this module, pays it once for all the workers it forks.
pa.array([], pa.int64())

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
        text = io.TextIOWrapper(io.BufferedReader(raw, MiB), encoding="utf-8", newline="\n")
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
    """Decompress every bz2 stream in ``raw`` (the bytes at file offset ``start``).

    indexed_bzip2's decoder, on one thread, takes ~30 % less CPU than libbz2 (the stdlib's) for the same
    bytes, and checks the same block and stream CRCs. Whatever it refuses is decoded again by libbz2, whose
    errors say which stream is corrupt or truncated, and at what offset (and should libbz2 accept what
    indexed_bzip2 refused, libbz2's output is the one used)."""
    if raw:
        try:
            with indexed_bzip2.open(io.BytesIO(raw), parallelization=1) as stream:
                return stream.read()
        except Exception:  # noqa: BLE001 - its errors are bare RuntimeErrors; libbz2 below names the fault
            pass
    return _decompress_streams_libbz2(raw, name=name, start=start)


def _decompress_streams_libbz2(raw: bytes, *, name: str, start: int) -> bytes:
    """:func:`_decompress_streams` with the stdlib's decoder, stream by stream, naming the stream that fails."""
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


def _parse_ranges_to_rows(
    dump_path: str,
    ranges: list[tuple[int, int | None]],
    root_open: bytes,
    latest_only: bool,
    is_last_task: bool,
) -> pa.RecordBatch:
    """Worker: :func:`_parse_ranges`, the pages returned as page store rows."""
    return page_rows(_parse_ranges(dump_path, ranges, root_open, latest_only, is_last_task))


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


def _batches(
    offsets: list[int], file_size: int, per_task: int | None, workers: int, last_end: int | None = None
):
    """Group consecutive stream ranges into tasks of about ``_TARGET_TASK_BYTES`` compressed bytes.

    Small files get smaller tasks (at least ~4 per worker) so that every worker has something to do.
    The last range ends at ``last_end`` (None: the end of the file, footer included).
    """
    target = min(_TARGET_TASK_BYTES, max(1, file_size // (4 * workers)))
    batch: list[tuple[int, int | None]] = []
    batch_bytes = 0
    for i, start in enumerate(offsets):
        end = offsets[i + 1] if i + 1 < len(offsets) else last_end
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

    ``streams`` = ``(first, stop)`` reads only the index's streams ``first`` to ``stop - 1`` (a page range of
    the file, one step of a split run: :mod:`wme_assets.ingestion.steps`); the footer is checked only by the
    range that ends the file, and only the header and the range's bytes are read.
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
        streams: tuple[int, int] | None = None,
    ) -> None:
        self.dump_path = os.fspath(dump_path)
        self.offsets = stream_offsets(index_path)
        self.streams = streams or (0, len(self.offsets))
        self.workers = max(1, workers or available_cpus())
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
        for pages in self._task_results(_parse_ranges):
            for page in pages:
                self.pages_read += 1
                yield page

    def row_batches(self) -> Iterator[pa.RecordBatch]:
        """The pages as page store rows (:func:`~wme_assets.storage.page_store.page_rows`), a batch per task, in
        file order: built in the workers, so what crosses the pipe is Arrow buffers rather than pickled pages."""
        for rows in self._task_results(_parse_ranges_to_rows):
            self.pages_read += rows.num_rows
            yield rows

    def _task_results(self, task) -> Iterator:
        """``task``'s result for each batch of streams, in file order, from at most ``max_in_flight`` batches."""
        file_size = os.path.getsize(self.dump_path)
        if self.offsets[-1] >= file_size:
            raise DumpParseError(
                f"{self.dump_path}: index offset {self.offsets[-1]} is beyond the end of the file "
                f"({file_size} bytes) — truncated file or wrong index?",
                name=self.dump_path,
                offset=file_size,
                offset_kind="compressed",
            )
        first, stop = self.streams
        if not 0 <= first < stop <= len(self.offsets):
            raise ValueError(f"{self.dump_path}: streams {first}..{stop} are not in its {len(self.offsets)} streams")
        last_end = self.offsets[stop] if stop < len(self.offsets) else None
        batches = list(
            _batches(self.offsets[first:stop], file_size, self.streams_per_task, self.workers, last_end)
        )
        ends_file = last_end is None
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
                self._submit(pool, task, queued, in_flight, len(batches), ends_file)
            while in_flight:
                future, n_streams = in_flight.popleft()
                result = future.result()
                self._submit(pool, task, queued, in_flight, len(batches), ends_file)
                self.streams_read += n_streams
                yield result
                del result  # not held while waiting for the next one
        finally:
            # Early exit (break, error): drop the batches not started yet.
            for future, _ in in_flight:
                future.cancel()
            if own_pool:
                pool.shutdown(wait=True, cancel_futures=True)

    def _submit(self, pool, task, queued, in_flight, n_batches, ends_file) -> None:
        item = next(queued, None)
        if item is None:
            return
        i, batch = item
        future = pool.submit(
            task, self.dump_path, batch, self._root_open, self.latest_only, ends_file and i == n_batches - 1
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
    streams: tuple[int, int] | None = None,
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
        workers=workers if workers is not None else available_cpus(),
        latest_only=latest_only,
        streams_per_task=streams_per_task,
        executor=executor,
        mp_context=mp_context,
        streams=streams,
    )
