"""Writing articles to local part files: :class:`ArticleStoreWriter` and its :class:`ArticleStoreSummary`.

The rows are checked here (ids, revisions, dates, one-line JSON objects) and buffered by the shared
:class:`~wme_assets.storage.parquet_writer.BufferedPartWriter`; publishing the files is :mod:`.publish`'s job.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from wme_assets.settings import validate_project
from wme_assets.storage.article_store.layout import (
    _DICTIONARY_COLUMNS,
    _INT64_MAX,
    _STATISTICS_COLUMNS,
    ARTICLE_SCHEMA,
    DELETE,
    SCHEMA_FINGERPRINT,
    UPSERT,
    _strictly_ascending,
    article_hash,
)
from wme_assets.storage.parquet_dataset import PartFile, schema_fingerprint
from wme_assets.storage.parquet_writer import STORE_ZSTD_LEVEL, BufferedPartWriter, PartFormat, StoreWriter
from wme_assets.util.sizes import MiB

# The files' own metadata carries the fingerprint; the writer adds each file's provenance.
_PART_FORMAT = PartFormat(
    ARTICLE_SCHEMA.with_metadata(
        {**ARTICLE_SCHEMA.metadata, b"wme.article_store.fingerprint": SCHEMA_FINGERPRINT.encode()}
    ),
    dictionary_columns=_DICTIONARY_COLUMNS,
    statistics_columns=_STATISTICS_COLUMNS,
    what="article store",
)


@dataclass
class ArticleStoreSummary:
    """What :meth:`ArticleStoreWriter.close` wrote."""

    project: str
    source: str
    run_id: str
    out_dir: Path
    files: list[PartFile]
    rows: int
    upserts: int
    deletes: int
    rows_per_namespace: dict[int, int]
    article_bytes: int
    structured_bytes: int
    ascending: bool  # every page id greater than the one before: required of a base
    # High-water marks of the batch buffer, for checking the memory bound.
    max_buffered_rows: int
    max_buffered_bytes: int
    largest_article_bytes: int
    schema_fingerprint: str = SCHEMA_FINGERPRINT

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (for Dagster metadata)."""
        data = asdict(self)
        data["out_dir"] = str(self.out_dir)
        data["files"] = [{**asdict(f), "path": str(f.path)} for f in self.files]
        data["rows_per_namespace"] = {str(ns): n for ns, n in sorted(self.rows_per_namespace.items())}
        return data


def _utc(value: datetime | str | None, what: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{what}: date_modified {value!r} is not ISO 8601") from None
    if not isinstance(value, datetime):
        raise TypeError(f"{what}: date_modified must be a datetime or an ISO 8601 string, not {type(value).__name__}")
    # Enterprise timestamps are UTC ("...Z"); a naive value is taken as UTC, as the dumps' are.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _check_int(value: Any, name: str, *, low: int, high: int = _INT64_MAX) -> int:
    # bool is an int in Python; True as a page id is a bug, not 1.
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
    return value


def _article_line(article_json: bytes | bytearray | memoryview, page_id: int) -> bytes:
    if not isinstance(article_json, bytes | bytearray | memoryview):
        raise TypeError(
            f"page {page_id}: article_json must be bytes (serialized JSON), not {type(article_json).__name__}"
        )
    line = bytes(article_json)
    # One trailing newline is accepted (lines read from NDJSON); the store keeps lines without it.
    if line.endswith(b"\n"):
        line = line[:-1]
    # JSON escapes newlines inside strings, so a raw one means pretty-printed JSON, which would break the
    # one-article-per-line export.
    if b"\n" in line or b"\r" in line:
        raise ValueError(f"page {page_id}: article_json spans several lines; serialize it as one JSON line")
    if not (line.startswith(b"{") and line.endswith(b"}")):
        raise ValueError(f"page {page_id}: article_json is not a JSON object")
    return line


class ArticleStoreWriter(StoreWriter):
    """Write article upserts and deletes to ``out_dir/part-NNNNN.parquet``, in the order given.

    A base must be written in ascending page id order (what :func:`publish_base` checks); a delta may be
    in any order. Use as a context manager, or call :meth:`close` (which returns the summary); an error
    inside the ``with`` block removes the file being written.

    Memory bound: the buffer never holds more than ``rows_per_batch`` rows, nor more than
    ``batch_bytes`` of article and structured JSON unless a single article is larger (then it is a
    batch of its own). Every batch is one Parquet row group.
    """

    def __init__(
        self,
        out_dir: str | os.PathLike[str],
        *,
        project: str,
        source: str,
        run_id: str,
        rows_per_batch: int = 1_000,
        batch_bytes: int = 64 * MiB,
        rows_per_file: int = 500_000,
        max_file_bytes: int = 256 * MiB,
        compression_level: int = STORE_ZSTD_LEVEL,
    ) -> None:
        validate_project(project)
        if not source or not run_id:
            raise ValueError("source and run_id must be non-empty (they are the rows' provenance)")
        if min(rows_per_batch, batch_bytes) < 1:
            raise ValueError("rows_per_batch and batch_bytes must be >= 1")
        self.out_dir = Path(out_dir)
        self.project = project
        self.source = source
        self.run_id = run_id
        self.rows_per_batch = rows_per_batch
        self.batch_bytes = batch_bytes
        # The payload that counts against the batch budget is the article and structured JSON.
        self._buffer = BufferedPartWriter(
            self.out_dir, _PART_FORMAT, provenance={"project": project, "source": source, "run_id": run_id},
            rows_per_batch=rows_per_batch, batch_bytes=batch_bytes, rows_per_file=rows_per_file,
            max_file_bytes=max_file_bytes, compression_level=compression_level,
        )
        self._file_schema = self._buffer.schema
        self._closed = False
        self._last_page_id: int | None = None
        self._upserts = 0
        self._deletes = 0
        self._namespaces: Counter[int] = Counter()
        self._article_bytes = 0
        self._structured_bytes = 0
        self._ascending = True
        self._largest_article = 0

    # -- adding rows ---------------------------------------------------------------------------

    def add(
        self,
        page_id: int,
        namespace: int,
        name: str,
        revision_id: int,
        date_modified: datetime | str,
        article_json: bytes,
        content_hash: str | None = None,
        *,
        is_disambiguation: bool = False,
        structured: str | bytes | None = None,
    ) -> None:
        """Buffer one article (an upsert). ``content_hash``, when given, must be the line's own hash."""
        self._check_open()
        _check_int(page_id, "page_id", low=1)
        _check_int(namespace, "namespace", low=-(2**31), high=2**31 - 1)
        _check_int(revision_id, f"page {page_id}: revision_id", low=1)
        if not isinstance(name, str) or not name:
            raise ValueError(f"page {page_id}: an article needs its name")
        modified = _utc(date_modified, f"page {page_id}")
        if modified is None:
            raise ValueError(f"page {page_id}: an article needs its date_modified")
        line = _article_line(article_json, page_id)
        digest = article_hash(line)
        if content_hash is not None and content_hash != digest:
            raise ValueError(f"page {page_id}: content_hash {content_hash!r} is not the article's ({digest})")
        # Kept as UTF-8 bytes: Arrow checks and stores them as the string column as they are, where a str
        # would be encoded once for the size and again by Arrow (hundreds of MB on a big wiki).
        if isinstance(structured, str):
            structured = structured.encode("utf-8")
        elif structured is not None:
            structured = bytes(structured)
        size = len(line) + (len(structured) if structured is not None else 0)
        row = {
            "page_id": page_id,
            "namespace": namespace,
            "name": name,
            "revision_id": revision_id,
            "date_modified": modified,
            "content_hash": digest,
            "op": UPSERT,
            "is_disambiguation": bool(is_disambiguation),
            "article": line,
            "structured": structured,
        }
        self._append(row, size=size)
        self._upserts += 1
        self._article_bytes += len(line)
        self._structured_bytes += size - len(line)
        self._largest_article = max(self._largest_article, len(line))

    def delete(
        self,
        page_id: int,
        namespace: int,
        revision_id: int | None = None,
        *,
        name: str | None = None,
        date_modified: datetime | str | None = None,
    ) -> None:
        """Buffer the deletion of a page (with its last revision id and name when known)."""
        self._check_open()
        _check_int(page_id, "page_id", low=1)
        _check_int(namespace, "namespace", low=-(2**31), high=2**31 - 1)
        if revision_id is not None:
            _check_int(revision_id, f"page {page_id}: revision_id", low=1)
        modified = _utc(date_modified, f"page {page_id}")
        row = {
            "page_id": page_id,
            "namespace": namespace,
            "name": name,
            "revision_id": revision_id,
            "date_modified": modified,
            "content_hash": None,
            "op": DELETE,
            "is_disambiguation": False,
            "article": None,
            "structured": None,
        }
        self._append(row, size=0)
        self._deletes += 1

    def _append(self, row: dict[str, Any], *, size: int) -> None:
        buffer = self._buffer
        buffer.make_room(size)
        row.update(project=self.project, source=self.source, run_id=self.run_id)
        for name, values in buffer.columns.items():
            values.append(row[name])
        page_id = row["page_id"]
        if self._last_page_id is not None and page_id <= self._last_page_id:
            self._ascending = False
        self._last_page_id = page_id
        self._namespaces[row["namespace"]] += 1
        buffer.row_added(size)

    def write_batch(self, batch: pa.RecordBatch | pa.Table) -> None:
        """Write rows already in :data:`ARTICLE_SCHEMA` as they are, provenance included (compaction).

        The rows are cut into row groups of at most ``rows_per_batch`` rows; their byte size is what the
        rows are (they come from row groups that respected a byte budget).
        """
        self._check_open()
        if not batch.schema.equals(ARTICLE_SCHEMA, check_metadata=False):
            raise ValueError(
                f"rows do not have the article store schema (fingerprint {schema_fingerprint(batch.schema)})"
            )
        self._buffer.flush()  # keep the order of rows added before
        table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
        offset = 0
        while offset < table.num_rows:
            size = min(self.rows_per_batch, self._buffer.room_in_file, table.num_rows - offset)
            piece = pa.RecordBatch.from_arrays(
                [column.combine_chunks() for column in table.slice(offset, size).columns], schema=self._file_schema
            )
            offset += size
            ids = piece.column("page_id")
            if not _strictly_ascending(ids, after=self._last_page_id):
                self._ascending = False
            self._last_page_id = ids[-1].as_py()
            articles = pc.sum(pc.binary_length(piece.column("article"))).as_py() or 0
            structured = pc.sum(pc.binary_length(piece.column("structured"))).as_py() or 0
            deletes = pc.sum(pc.equal(piece.column("op"), DELETE)).as_py() or 0
            for item in pc.value_counts(piece.column("namespace")).to_pylist():
                self._namespaces[item["values"]] += item["counts"]
            if size:
                longest = pc.max(pc.binary_length(piece.column("article"))).as_py()
                self._largest_article = max(self._largest_article, longest or 0)
            self._buffer.write_row_group(piece, payload_bytes=articles + structured)
            self._deletes += deletes
            self._upserts += size - deletes
            self._article_bytes += articles
            self._structured_bytes += structured

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the article store writer is closed")

    # -- finishing -----------------------------------------------------------------------------

    def close(self) -> ArticleStoreSummary:
        """Write what is buffered, finish the last file and return the summary."""
        if not self._closed:
            self._buffer.close()
            self._closed = True
        buffer = self._buffer
        return ArticleStoreSummary(
            project=self.project,
            source=self.source,
            run_id=self.run_id,
            out_dir=self.out_dir,
            files=buffer.files,
            rows=buffer.rows,
            upserts=self._upserts,
            deletes=self._deletes,
            rows_per_namespace=dict(sorted(self._namespaces.items())),
            article_bytes=self._article_bytes,
            structured_bytes=self._structured_bytes,
            ascending=self._ascending,
            max_buffered_rows=buffer.max_buffered_rows,
            max_buffered_bytes=buffer.max_buffered_bytes,
            largest_article_bytes=self._largest_article,
        )
