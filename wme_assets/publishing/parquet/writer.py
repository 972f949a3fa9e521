"""Writing shards: ``(page_id, JSON line)`` records → Parquet files of at most so many rows and bytes.

Records are validated and converted a batch at a time, gathered into row groups and written one shard at
a time (see :mod:`wme_assets.publishing.parquet` for the limits); nothing half-written is left behind.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from wme_assets.publishing.parquet.manifest import (
    COMPRESSION,
    COMPRESSION_LEVEL,
    ParquetGenerator,
    ParquetManifest,
    ParquetShards,
    ParquetSource,
    ShardInfo,
    TruncationCounts,
    shard_name,
)
from wme_assets.publishing.parquet.schema import DEFAULT_MAX_DEPTH, DEFAULT_MAX_TABLE_DEPTH, Kind, RecordConverter
from wme_assets.schema import RECORD_SCHEMA_VERSION
from wme_assets.snapshots.archive import language_from_dbname, snapshot_identifier
from wme_assets.storage.parquet_dataset import schema_fingerprint
from wme_assets.util.dates import check_yyyymmdd
from wme_assets.util.digests import file_sha256
from wme_assets.util.sizes import MiB
from wme_assets.util.version import package_version

log = logging.getLogger(__name__)


DEFAULT_MAX_ROWS = 100_000
DEFAULT_MAX_BYTES = 1_000_000_000  # of NDJSON: ~150–300 MB of Parquet for articles with HTML and wikitext
DEFAULT_ROW_GROUP_ROWS = 10_000
DEFAULT_ROW_GROUP_BYTES = 64 * MiB  # of NDJSON; readers (datasets, DuckDB) work a row group at a time
CONVERT_BATCH_ROWS = 1_000  # records held as Python objects at once, before they become Arrow arrays
CONVERT_BATCH_BYTES = 16 * MiB




def _statistics_columns(schema: pa.Schema) -> list[str]:
    # Statistics only where readers filter: thousands of nested columns would each add footer bytes.
    return [name for name in ("identifier", "date_modified") if name in schema.names]


class _ShardWriter:
    """Rows → shard files, rolling over by rows and NDJSON bytes; one shard open at a time."""

    def __init__(self, out_dir: Path, identifier: str, converter: RecordConverter, limits: dict[str, int]):
        self.out_dir = out_dir
        self.identifier = identifier
        self.converter = converter
        self.limits = limits
        self.shards: list[ShardInfo] = []
        self._writer: pq.ParquetWriter | None = None
        self._path: Path | None = None
        self._rows = self._source_bytes = self._row_groups = 0
        self._first: int | None = None
        self._last: int | None = None
        # The row group being gathered: Arrow batches (compact) plus the records still as Python objects.
        self._batches: list[pa.RecordBatch] = []
        self._pending: list[dict[str, Any]] = []
        self._pending_bytes = 0
        self._group_rows = self._group_bytes = 0

    def add(self, page_id: int, line: bytes) -> None:
        size = len(line)
        if self._rows and (
            self._rows + 1 > self.limits["max_rows"] or self._source_bytes + size > self.limits["max_bytes"]
        ):
            self.close_shard()
        if self._group_rows and (
            self._group_rows + 1 > self.limits["row_group_rows"]
            or self._group_bytes + size > self.limits["row_group_bytes"]
        ):
            self._flush_group()
        self._pending.append(self.converter.row(line, page_id))
        self._pending_bytes += size
        self._group_rows += 1
        self._group_bytes += size
        self._rows += 1
        self._source_bytes += size
        self._first = page_id if self._first is None else self._first
        self._last = page_id
        if len(self._pending) >= CONVERT_BATCH_ROWS or self._pending_bytes >= CONVERT_BATCH_BYTES:
            self._convert_pending()

    def _convert_pending(self) -> None:
        if self._pending:
            self._batches.append(self.converter.batch(self._pending))
            self._pending, self._pending_bytes = [], 0

    def _flush_group(self) -> None:
        self._convert_pending()
        if not self._batches:
            return
        if self._writer is None:
            self._path = self.out_dir / f".{shard_name(self.identifier, len(self.shards))}.inprogress"
            self._writer = pq.ParquetWriter(
                self._path,
                self.converter.schema,
                compression=COMPRESSION,
                compression_level=COMPRESSION_LEVEL,
                write_statistics=_statistics_columns(self.converter.schema),
            )
        table = pa.Table.from_batches(self._batches, schema=self.converter.schema)
        self._writer.write_table(table, row_group_size=table.num_rows)  # exactly one row group
        self._row_groups += 1
        self._batches = []
        self._group_rows = self._group_bytes = 0

    def close_shard(self) -> None:
        self._flush_group()
        if self._writer is None:
            return
        self._writer.close()
        final = self.out_dir / shard_name(self.identifier, len(self.shards))
        os.replace(self._path, final)
        footer = pq.read_metadata(final)
        self.shards.append(
            ShardInfo(
                name=final.name,
                bytes=final.stat().st_size,
                sha256=file_sha256(final),
                rows=self._rows,
                row_groups=self._row_groups,
                source_bytes=self._source_bytes,
                uncompressed_bytes=sum(footer.row_group(i).total_byte_size for i in range(footer.num_row_groups)),
                first_page_id=self._first,
                last_page_id=self._last,
            )
        )
        self._writer = self._path = None
        self._rows = self._source_bytes = self._row_groups = 0
        self._first = self._last = None

    def abort(self) -> None:
        if self._writer is not None:
            try:
                self._writer.close()
            finally:
                if self._path is not None:
                    self._path.unlink(missing_ok=True)
                self._writer = self._path = None


def _language_of(line: bytes) -> str | None:
    try:
        return (orjson.loads(line).get("in_language") or {}).get("identifier") or None
    except (orjson.JSONDecodeError, AttributeError):
        return None


def _checked(page_id: Any, line: Any, previous: int | None) -> bytes:
    if not isinstance(page_id, int) or isinstance(page_id, bool) or page_id < 0:
        raise ValueError(f"page id must be a non-negative int, got {page_id!r}")
    if previous is not None and page_id <= previous:
        raise ValueError(f"records must come in strictly increasing page id order: {page_id} after {previous}")
    if isinstance(line, bytearray | memoryview):
        line = bytes(line)
    elif isinstance(line, str):
        line = line.encode("utf-8")
    if not isinstance(line, bytes):
        raise TypeError(f"page {page_id}: a record line must be bytes, got {type(line).__name__}")
    if line.endswith(b"\n"):
        line = line[:-1]
    if not line:
        raise ValueError(f"page {page_id}: empty record line")
    return line


def write_parquet_shards(
    records: Iterable[tuple[int, bytes]],
    out_dir: str | os.PathLike[str],
    *,
    dbname: str,
    namespace: int,
    kind: Kind = "article",
    language: str | None = None,
    dump_date: str | None = None,
    max_rows: int = DEFAULT_MAX_ROWS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    row_group_rows: int = DEFAULT_ROW_GROUP_ROWS,
    row_group_bytes: int = DEFAULT_ROW_GROUP_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_table_depth: int = DEFAULT_MAX_TABLE_DEPTH,
    source: ParquetSource | None = None,
) -> ParquetShards:
    """Write ``(page_id, JSON line)`` records (strictly increasing page ids) as Parquet shards in ``out_dir``.

    Every line is validated with the ``kind``'s model; an invalid line, a page id out of order, or a
    record whose ``identifier`` is not its page id raises ``ValueError`` and leaves no partial shard; so does
    any error ``records`` raises, even after its last record (a snapshot stream that fails its final check).
    ``language`` defaults to the first record's ``in_language`` (else a guess from ``dbname``). No records
    give no shards (and a manifest with zero rows). ``source`` goes into the manifest as it is.
    """
    identifier = snapshot_identifier(dbname, namespace)
    limits = {
        "max_rows": max_rows,
        "max_bytes": max_bytes,
        "row_group_rows": row_group_rows,
        "row_group_bytes": row_group_bytes,
    }
    for name, value in limits.items():
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    if dump_date is not None:
        check_yyyymmdd(dump_date, "dump_date")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stale = sorted(p.name for p in out.glob(f"{identifier}_*.parquet"))
    if stale:
        # Mixing the shards of two runs would describe neither.
        raise FileExistsError(f"{out} already holds shards of {identifier} ({stale[0]}, ...)")
    converter = RecordConverter(kind, max_depth=max_depth, max_table_depth=max_table_depth)
    writer = _ShardWriter(out, identifier, converter, limits)
    previous: int | None = None
    try:
        for page_id, raw in records:
            line = _checked(page_id, raw, previous)
            previous = page_id
            if language is None:
                language = _language_of(line) or language_from_dbname(dbname)
            writer.add(page_id, line)
        writer.close_shard()
    except BaseException:
        writer.abort()
        for shard in writer.shards:
            (out / shard.name).unlink(missing_ok=True)
        raise
    truncation = converter.truncation
    if truncation.records:
        log.warning(
            "%s: %d records deeper than the Parquet schema unrolls (max_depth %d, max_table_depth %d): "
            "%d parts folded, %d nested objects dropped; first page ids %s",
            identifier,
            truncation.records,
            max_depth,
            max_table_depth,
            truncation.folded,
            truncation.dropped,
            truncation.page_ids,
        )
    shards = writer.shards
    manifest = ParquetManifest(
        identifier=identifier,
        kind=kind,
        dbname=dbname,
        namespace=namespace,
        language=language or language_from_dbname(dbname),
        dump_date=dump_date,
        schema_version=RECORD_SCHEMA_VERSION,
        arrow_schema_fingerprint=schema_fingerprint(converter.schema),
        max_depth=max_depth,
        max_table_depth=max_table_depth,
        generator=ParquetGenerator(version=package_version(), pyarrow=pa.__version__, **limits),
        rows=sum(s.rows for s in shards),
        bytes=sum(s.bytes for s in shards),
        source_bytes=sum(s.source_bytes for s in shards),
        first_page_id=shards[0].first_page_id if shards else None,
        last_page_id=shards[-1].last_page_id if shards else None,
        truncation=TruncationCounts(
            records=truncation.records,
            folded_parts=truncation.folded,
            dropped_objects=truncation.dropped,
            first_page_ids=truncation.page_ids,
        ),
        files=shards,
        source=source,
    )
    return ParquetShards(out_dir=out, manifest=manifest, schema=converter.schema, truncation=truncation)
