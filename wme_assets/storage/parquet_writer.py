"""Writing Parquet part files: the one buffered writer that the page store and the article store share.

- :class:`PartWriter` writes record batches to ``part-NNNNN.parquet`` files in a local directory, one
  batch per row group, rolling to a new file by rows or bytes. A file appears under its final name only
  once it is complete.
- :class:`BufferedPartWriter` puts a bounded row buffer in front of it: rows are appended column by
  column and become a record batch (one row group) once the buffer reaches its row or byte budget. The
  stores say what a row is and what counts as its bytes; the buffering, the budgets and the file rolling
  are the same for both, so their files are cut the same way.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

__all__ = ["STORE_ZSTD_LEVEL", "BufferedPartWriter", "PartFile", "PartFormat", "PartWriter", "StoreWriter"]

STORE_ZSTD_LEVEL = 1
"""zstd level of the page and article stores: working files, written once per run and read once or twice,
never downloaded by users. Level 1 (Arrow's own default) writes them in about half the CPU of level 3, for
files 10-15 % larger: on 150 MB of long articles, 0.45 s instead of 0.78 s for the page store and 1.05 s
instead of 1.97 s for the article store (the input of ``benchmarks/bench_peers.py``). Reading is no slower
(0.30 s against 0.39 s for that article store)."""


@dataclass(frozen=True)
class PartFile:
    """One finished ``part-NNNNN.parquet`` of a :class:`PartWriter`."""

    name: str
    path: Path
    rows: int
    row_groups: int
    size_bytes: int
    payload_bytes: int  # what the caller counted for the batches (text, article JSON), not the file size
    min_key: int | None  # range of the key column (page ids), from the rows written
    max_key: int | None


class PartWriter:
    """Write record batches to ``out_dir/part-NNNNN.parquet``, one batch per row group.

    A file is closed once it holds ``rows_per_file`` rows or reaches ``max_file_bytes`` on disk; callers
    that want ``rows_per_file`` exact cut their batches at :attr:`room_in_file`. The file being written is
    named ``.part-NNNNN.parquet.inprogress`` until it is complete, and :meth:`abort` removes it.

    The writer holds no rows itself: memory is whatever the caller's batches take, plus the Parquet
    writer's buffer for one row group.
    """

    def __init__(
        self,
        out_dir: str | os.PathLike[str],
        schema: pa.Schema,
        *,
        rows_per_file: int,
        max_file_bytes: int,
        compression_level: int = STORE_ZSTD_LEVEL,
        dictionary_columns: Sequence[str] = (),
        statistics_columns: Sequence[str] = (),
        key_column: str = "page_id",
        what: str = "dataset",
    ) -> None:
        if min(rows_per_file, max_file_bytes) < 1:
            raise ValueError("rows_per_file and max_file_bytes must be >= 1")
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        stale = sorted(p.name for p in self.out_dir.glob("part-*.parquet"))
        if stale:
            # Mixing files of two runs would publish a dataset that is neither.
            raise FileExistsError(f"{self.out_dir} already holds {what} files ({stale[0]}, ...)")
        self.schema = schema
        self.rows_per_file = rows_per_file
        self.max_file_bytes = max_file_bytes
        self.compression_level = compression_level
        self.dictionary_columns = list(dictionary_columns)
        self.statistics_columns = list(statistics_columns)
        self.key_column = key_column
        self._files: list[PartFile] = []
        self._writer: pq.ParquetWriter | None = None
        self._sink: pa.NativeFile | None = None
        self._index = 0
        self._rows = 0
        self._row_groups = 0
        self._payload = 0
        self._min: int | None = None
        self._max: int | None = None

    @property
    def files(self) -> list[PartFile]:
        """The files finished so far."""
        return list(self._files)

    @property
    def room_in_file(self) -> int:
        """Rows the current file takes before it reaches ``rows_per_file``."""
        return self.rows_per_file - self._rows

    def part_path(self, index: int) -> Path:
        return self.out_dir / f"part-{index:05d}.parquet"

    def _in_progress_path(self, index: int) -> Path:
        return self.out_dir / f".part-{index:05d}.parquet.inprogress"

    def write_batch(self, batch: pa.RecordBatch, *, payload_bytes: int = 0) -> None:
        """Write ``batch`` as one row group (its size is bounded by whoever built the batch)."""
        if not batch.num_rows:
            return
        if self._writer is None:
            self._sink = pa.OSFile(str(self._in_progress_path(self._index)), "wb")
            self._writer = pq.ParquetWriter(
                self._sink,
                self.schema,
                compression="zstd",
                compression_level=self.compression_level,
                use_dictionary=self.dictionary_columns,
                write_statistics=self.statistics_columns,
            )
        self._writer.write_batch(batch)
        self._rows += batch.num_rows
        self._row_groups += 1
        self._payload += payload_bytes
        low, high = pc.min_max(batch.column(self.key_column)).values()
        if low.is_valid:
            self._min = low.as_py() if self._min is None else min(self._min, low.as_py())
            self._max = high.as_py() if self._max is None else max(self._max, high.as_py())
        if self._rows >= self.rows_per_file or self._sink.tell() >= self.max_file_bytes:
            self._close_file()

    def _close_file(self) -> None:
        if self._writer is None:
            return
        self._writer.close()
        self._sink.close()
        final = self.part_path(self._index)
        os.replace(self._in_progress_path(self._index), final)
        self._files.append(
            PartFile(
                name=final.name,
                path=final,
                rows=self._rows,
                row_groups=self._row_groups,
                size_bytes=final.stat().st_size,
                payload_bytes=self._payload,
                min_key=self._min,
                max_key=self._max,
            )
        )
        self._writer = self._sink = None
        self._index += 1
        self._rows = self._row_groups = self._payload = 0
        self._min = self._max = None

    def close(self) -> list[PartFile]:
        """Finish the file being written; returns every finished file."""
        self._close_file()
        return self.files

    def abort(self) -> None:
        """Remove the file being written (finished files stay)."""
        if self._writer is not None:
            try:
                self._writer.close()
                self._sink.close()
            finally:
                self._in_progress_path(self._index).unlink(missing_ok=True)
                self._writer = self._sink = None

@dataclass(frozen=True)
class PartFormat:
    """What a store's part files are: the schema (with the store's own metadata) and how columns are encoded."""

    schema: pa.Schema
    dictionary_columns: Sequence[str] = ()  # the low-cardinality columns only
    statistics_columns: Sequence[str] = ()  # where readers filter or check
    what: str = "dataset"  # in error messages: "page store", "article store"


class BufferedPartWriter:
    """Rows buffered column by column and written as record batches, one row group each, by a :class:`PartWriter`.

    The caller appends a row's values to :attr:`columns` between :meth:`make_room` and :meth:`row_added`,
    giving the row's payload size (the bytes that count against ``batch_bytes``: wikitext, article JSON).
    ``provenance`` (project, dump date, run…) rides along in every file's key-value metadata as
    ``wme.{name}``, so a lone file still says what it is.

    Memory bound: the buffer never holds more than ``rows_per_batch`` rows, nor more than ``batch_bytes``
    of payload unless a single row is larger (then that row is a batch alone). A batch also ends where the
    file must end, so ``rows_per_file`` is exact.
    """

    def __init__(
        self,
        out_dir: str | os.PathLike[str],
        part_format: PartFormat,
        *,
        provenance: Mapping[str, str],
        rows_per_batch: int,
        batch_bytes: int,
        rows_per_file: int,
        max_file_bytes: int,
        compression_level: int = STORE_ZSTD_LEVEL,
    ) -> None:
        if min(rows_per_batch, batch_bytes) < 1:
            raise ValueError("rows_per_batch and batch_bytes must be >= 1")
        schema = part_format.schema
        tags = {f"wme.{name}".encode(): value.encode() for name, value in provenance.items()}
        self.schema = schema.with_metadata({**(schema.metadata or {}), **tags})
        self.rows_per_batch = rows_per_batch
        self.batch_bytes = batch_bytes
        # Refuses a directory that already holds part files: mixing two runs would publish neither.
        self._parts = PartWriter(
            out_dir,
            self.schema,
            rows_per_file=rows_per_file,
            max_file_bytes=max_file_bytes,
            compression_level=compression_level,
            dictionary_columns=part_format.dictionary_columns,
            statistics_columns=part_format.statistics_columns,
            what=part_format.what,
        )
        self.columns: dict[str, list] = {name: [] for name in schema.names}
        self.buffered_rows = 0
        self.buffered_bytes = 0
        self.rows = 0  # written to files
        # High-water marks of the buffer, for checking the memory bound.
        self.max_buffered_rows = 0
        self.max_buffered_bytes = 0

    @property
    def files(self) -> list[PartFile]:
        """The files finished so far."""
        return self._parts.files

    @property
    def room_in_file(self) -> int:
        """Rows the current file takes before it reaches ``rows_per_file``."""
        return self._parts.room_in_file

    def make_room(self, size: int) -> None:
        """Call before appending a row of ``size`` payload bytes.

        Flushes first if the row would push the batch over its byte budget: the buffer then holds either
        rows within the budget or this one row alone.
        """
        if self.buffered_rows and self.buffered_bytes + size > self.batch_bytes:
            self.flush()

    def row_added(self, size: int) -> None:
        """Call once a row's values are appended to :attr:`columns`; flushes a full batch."""
        self.buffered_rows += 1
        self.buffered_bytes += size
        self.max_buffered_rows = max(self.max_buffered_rows, self.buffered_rows)
        self.max_buffered_bytes = max(self.max_buffered_bytes, self.buffered_bytes)
        if self.buffered_rows >= min(self.rows_per_batch, self._parts.room_in_file) or (
            self.buffered_bytes >= self.batch_bytes
        ):
            self.flush()

    def flush(self) -> None:
        """Write what is buffered as one row group."""
        if not self.buffered_rows:
            return
        batch = pa.RecordBatch.from_pydict(self.columns, schema=self.schema)
        self.columns = {name: [] for name in self.schema.names}
        # One write, one row group: its size is bounded by the batch limits.
        self._parts.write_batch(batch, payload_bytes=self.buffered_bytes)
        self.rows += batch.num_rows
        self.buffered_rows = 0
        self.buffered_bytes = 0

    def write_row_group(self, batch: pa.RecordBatch, *, payload_bytes: int) -> None:
        """Write a batch built elsewhere as one row group, after nothing buffered (call :meth:`flush` first)."""
        self._parts.write_batch(batch, payload_bytes=payload_bytes)
        self.rows += batch.num_rows

    def close(self) -> list[PartFile]:
        """Write what is buffered and finish the last file; returns every finished file."""
        self.flush()
        return self._parts.close()

    def abort(self) -> None:
        """Drop the buffer and the file being written (finished files stay)."""
        self.columns = {name: [] for name in self.schema.names}
        self.buffered_rows = self.buffered_bytes = 0
        self._parts.abort()


class StoreWriter:
    """What a store's writer on a :class:`BufferedPartWriter` shares: abort, and ``with`` that closes or aborts.

    Subclasses set ``_buffer`` and ``_closed`` and define ``close``.
    """

    _buffer: BufferedPartWriter
    _closed: bool

    def close(self) -> object:
        raise NotImplementedError

    def abort(self) -> None:
        """Drop the buffer and the file being written (finished files stay)."""
        self._closed = True
        self._buffer.abort()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
