"""The article store: the enriched articles of one project as Parquet, a base plus hourly deltas.

What the enrichment stage leaves for the exports: every article of a project as the Wikimedia Enterprise
Article JSON line the snapshot export writes (so a snapshot is a concatenation of stored lines), keyed by
page id, with its revision id and a content hash. It is built so that hourly changes can upsert and
delete articles without rewriting everything:

Layout (keys relative to the store's prefix)::

    articles/{project}/base/{YYYYMMDD}/part-*.parquet      a full set, ordered by page id, no deletes
    articles/{project}/base/{YYYYMMDD}/_manifest.json
    articles/{project}/deltas/{YYYYMMDDHH}/part-*.parquet  one hour of changes: upserts and deletes, any order
    articles/{project}/deltas/{YYYYMMDDHH}/_manifest.json
    articles/{project}/current.json                        the pointer: which base, which deltas on top

A base comes either from a dump (:func:`publish_base`) or from :func:`compact`, which folds the deltas
into a new base. Each base and delta is a :mod:`~wme_assets.storage.parquet_dataset` (files first, the
manifest last). ``current.json`` is what readers start from; it is replaced (``put_bytes``: staged,
verified, copied) only after the new files and manifest have been checked in the store, so a reader sees
the previous state or the new one, never a half-published delta. A crash before the pointer moves leaves
the files unreferenced and the view unchanged; the retry publishes them again and moves the pointer.

Rows (:data:`ARTICLE_SCHEMA`): ``page_id``, ``namespace``, ``name``, ``revision_id``, ``date_modified``,
``content_hash`` (``sha256:<hex>`` of the article line), ``op`` (``upsert`` or ``delete``),
``is_disambiguation``, ``article`` (the JSON line, bytes, no newline), ``structured`` (Structured
Contents JSON, optional) and provenance: ``project``, ``source`` (``dump:20230501``,
``events:2026112803``, ``compaction:20230508``…) and ``run_id``. A delete carries only the page id,
namespace and, when known, the revision id.

The current view (:func:`iter_current_articles`, :func:`iter_current_batches`): the base, then the deltas
in hour order, last write wins per page id. Inside one hour the higher revision id wins; a delete wins
over an upsert of the same revision, and a delete without revision id wins within its hour (a page is
deleted after its last edit). Deleted pages are dropped. A page moved to another namespace keeps its
page id, so the winner is decided over all namespaces before a namespace filter applies.

Reading is memory-bounded and streaming. The base is read row group by row group in its page id order
(no sort). The deltas are small next to the base; DuckDB picks the winner per page id among them and
sorts the winners by page id (spilling to disk beyond ``memory_limit``). The two sorted streams are then
merged batch by batch with Arrow compute. The files are read from a local content-addressed cache
(DuckDB's httpfs extension is not assumed).

Compaction writes the current view as a new base ``base/{date}`` whose manifest lists the deltas folded
into it (``folded_deltas``, cumulative since the last dump base) and the newest of them
(``deltas_after``): readers skip a delta at or before that hour even if a pointer still names it, and
:func:`publish_delta` refuses one, because applying an old delta on top of a base that already holds
later changes would undo them. The old base stays until retention removes it. Publishing a new dump base
keeps the deltas (folded or not) from its date on, so changes after the dump are not lost.

One writer per project at a time (a Dagster concurrency pool per project): the pointer is
read-modify-write. Pointer updates re-read it just before writing and refuse to drop deltas published in
between, which narrows the window but does not replace that rule.

Republishing a base or delta in place replaces it when its manifest is written; a reader downloading
its files at that moment gets a sha256 mismatch (an error, never a mix of two versions).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Self

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from wme_assets.settings import validate_project
from wme_assets.storage.object_store import ObjectStore, PublishedObject
from wme_assets.storage.parquet_dataset import (
    MANIFEST_NAME,
    PartFile,
    PartWriter,
    cached_copy,
    cached_files,
    check_file_schema,
    part_paths,
    publish_dataset,
    read_manifest,
    schema_fingerprint,
    sql_literal,
    verify_published,
)

__all__ = [
    "ARTICLE_SCHEMA",
    "BASE_FORMAT",
    "CURRENT_FORMAT",
    "DELTA_FORMAT",
    "SCHEMA_FINGERPRINT",
    "ArticleStoreNotFound",
    "ArticleStorePublish",
    "ArticleStoreSummary",
    "ArticleStoreWriter",
    "CurrentState",
    "article_hash",
    "base_prefix",
    "compact",
    "current_key",
    "delta_prefix",
    "iter_current_articles",
    "iter_current_batches",
    "publish_base",
    "publish_delta",
    "read_current",
    "store_prefix",
]

log = logging.getLogger(__name__)

MiB = 1024 * 1024

# --------------------------------------------------------------------------------------------------
# Schema and layout
# --------------------------------------------------------------------------------------------------

SCHEMA_VERSION = "1"
UPSERT, DELETE = "upsert", "delete"

ARTICLE_SCHEMA = pa.schema(
    [
        pa.field("page_id", pa.int64(), nullable=False),
        pa.field("namespace", pa.int32(), nullable=False),
        pa.field("name", pa.string()),  # null on deletes that do not know it
        pa.field("revision_id", pa.int64()),  # null on deletes that do not know it
        pa.field("date_modified", pa.timestamp("us", tz="UTC")),
        pa.field("content_hash", pa.string()),  # "sha256:<hex>" of `article`; null on deletes
        pa.field("op", pa.string(), nullable=False),
        pa.field("is_disambiguation", pa.bool_(), nullable=False),
        # The Enterprise Article JSON line as the export writes it. Bytes, not text: it is copied to the
        # archives untouched, never decoded. large_*: a row group of long articles can pass the 2 GiB
        # offset limit of the plain types once readers concatenate batches.
        pa.field("article", pa.large_binary()),
        pa.field("structured", pa.large_string()),  # Structured Contents JSON, when produced
        pa.field("project", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
    ],
    metadata={b"wme.article_store.schema_version": SCHEMA_VERSION.encode()},
)
SCHEMA_FINGERPRINT = schema_fingerprint(ARTICLE_SCHEMA)

BASE_FORMAT = "wme.article_store.base"
DELTA_FORMAT = "wme.article_store.delta"
CURRENT_FORMAT = "wme.article_store.current"
CURRENT_NAME = "current.json"

# Statistics where readers filter or check (page id ranges and order, namespaces, revisions, time).
_STATISTICS_COLUMNS = ["page_id", "namespace", "revision_id", "date_modified", "op"]
_DICTIONARY_COLUMNS = ["namespace", "op", "project", "source", "run_id"]
# The columns every read needs to merge, whatever the caller asked for.
_MERGE_COLUMNS = ("page_id", "namespace", "op")
_INT64_MAX = 2**63 - 1


def _check_date(date: str) -> str:
    try:
        if len(date) == 8:
            datetime.strptime(date, "%Y%m%d")
            return date
    except (TypeError, ValueError):
        pass
    raise ValueError(f"date {date!r} is not YYYYMMDD")


def _check_hour(hour: str) -> str:
    try:
        if len(hour) == 10:
            datetime.strptime(hour, "%Y%m%d%H")
            return hour
    except (TypeError, ValueError):
        pass
    raise ValueError(f"hour {hour!r} is not YYYYMMDDHH")


def _hour_before(date: str) -> str:
    return (datetime.strptime(date, "%Y%m%d") - timedelta(hours=1)).strftime("%Y%m%d%H")


def _missing_hours(hours: list[str]) -> list[str]:
    """Hours between the first and the last of ``hours`` (sorted) that are not in it."""
    have = set(hours)
    moment, end = datetime.strptime(hours[0], "%Y%m%d%H"), datetime.strptime(hours[-1], "%Y%m%d%H")
    missing = []
    while moment < end:
        moment += timedelta(hours=1)
        if moment.strftime("%Y%m%d%H") not in have:
            missing.append(moment.strftime("%Y%m%d%H"))
    return missing


def store_prefix(project: str) -> str:
    """``articles/{project}/``: everything of one project's article store."""
    return f"articles/{validate_project(project)}/"


def base_prefix(project: str, date: str) -> str:
    """``articles/{project}/base/{YYYYMMDD}/``."""
    return f"{store_prefix(project)}base/{_check_date(date)}/"


def delta_prefix(project: str, hour: str) -> str:
    """``articles/{project}/deltas/{YYYYMMDDHH}/``."""
    return f"{store_prefix(project)}deltas/{_check_hour(hour)}/"


def current_key(project: str) -> str:
    """``articles/{project}/current.json``, relative to the store's prefix."""
    return f"{store_prefix(project)}{CURRENT_NAME}"


def article_hash(article_json: bytes) -> str:
    """``sha256:<hex>`` of an article line: what the store records to tell changed articles apart."""
    return "sha256:" + hashlib.sha256(article_json).hexdigest()


# --------------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------------


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


def _strictly_ascending(ids: pa.Array, *, after: int | None) -> bool:
    """Whether a non-empty array of page ids rises strictly, and starts above ``after``."""
    if after is not None and ids[0].as_py() <= after:
        return False
    return len(ids) < 2 or pc.all(pc.greater(ids.slice(1), ids.slice(0, len(ids) - 1))).as_py()


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


class ArticleStoreWriter:
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
        compression_level: int = 3,
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
        # Provenance rides along in every file's key-value metadata, so a lone file still says what it is.
        self._file_schema = ARTICLE_SCHEMA.with_metadata(
            {
                **ARTICLE_SCHEMA.metadata,
                b"wme.article_store.fingerprint": SCHEMA_FINGERPRINT.encode(),
                b"wme.project": project.encode(),
                b"wme.source": source.encode(),
                b"wme.run_id": run_id.encode(),
            }
        )
        self._parts = PartWriter(
            self.out_dir,
            self._file_schema,
            rows_per_file=rows_per_file,
            max_file_bytes=max_file_bytes,
            compression_level=compression_level,
            dictionary_columns=_DICTIONARY_COLUMNS,
            statistics_columns=_STATISTICS_COLUMNS,
            what="article store",
        )
        self._columns: dict[str, list] = {name: [] for name in ARTICLE_SCHEMA.names}
        self._buffered_rows = 0
        self._buffered_bytes = 0
        self._closed = False
        self._last_page_id: int | None = None
        self._rows = 0
        self._upserts = 0
        self._deletes = 0
        self._namespaces: Counter[int] = Counter()
        self._article_bytes = 0
        self._structured_bytes = 0
        self._ascending = True
        self._max_buffered_rows = 0
        self._max_buffered_bytes = 0
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
        if isinstance(structured, bytes | bytearray | memoryview):
            structured = bytes(structured).decode("utf-8")
        size = len(line) + (len(structured.encode("utf-8")) if structured is not None else 0)
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
        # Flush first if this row would push the batch over its byte budget: the buffer then holds either
        # rows within the budget or this one row alone.
        if self._buffered_rows and self._buffered_bytes + size > self.batch_bytes:
            self._flush()
        row.update(project=self.project, source=self.source, run_id=self.run_id)
        for name, values in self._columns.items():
            values.append(row[name])
        page_id = row["page_id"]
        if self._last_page_id is not None and page_id <= self._last_page_id:
            self._ascending = False
        self._last_page_id = page_id
        self._namespaces[row["namespace"]] += 1
        self._buffered_rows += 1
        self._buffered_bytes += size
        self._max_buffered_rows = max(self._max_buffered_rows, self._buffered_rows)
        self._max_buffered_bytes = max(self._max_buffered_bytes, self._buffered_bytes)
        # A batch also ends where the file must end, so rows_per_file is exact.
        if (
            self._buffered_rows >= min(self.rows_per_batch, self._parts.room_in_file)
            or self._buffered_bytes >= self.batch_bytes
        ):
            self._flush()

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
        self._flush()  # keep the order of rows added before
        table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
        offset = 0
        while offset < table.num_rows:
            size = min(self.rows_per_batch, self._parts.room_in_file, table.num_rows - offset)
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
            self._parts.write_batch(piece, payload_bytes=articles + structured)
            self._rows += size
            self._deletes += deletes
            self._upserts += size - deletes
            self._article_bytes += articles
            self._structured_bytes += structured

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the article store writer is closed")

    def _flush(self) -> None:
        if not self._buffered_rows:
            return
        batch = pa.RecordBatch.from_pydict(self._columns, schema=self._file_schema)
        self._columns = {name: [] for name in ARTICLE_SCHEMA.names}
        self._parts.write_batch(batch, payload_bytes=self._buffered_bytes)
        self._rows += batch.num_rows
        self._buffered_rows = 0
        self._buffered_bytes = 0

    # -- finishing -----------------------------------------------------------------------------

    def close(self) -> ArticleStoreSummary:
        """Write what is buffered, finish the last file and return the summary."""
        if not self._closed:
            self._flush()
            self._parts.close()
            self._closed = True
        return ArticleStoreSummary(
            project=self.project,
            source=self.source,
            run_id=self.run_id,
            out_dir=self.out_dir,
            files=self._parts.files,
            rows=self._rows,
            upserts=self._upserts,
            deletes=self._deletes,
            rows_per_namespace=dict(sorted(self._namespaces.items())),
            article_bytes=self._article_bytes,
            structured_bytes=self._structured_bytes,
            ascending=self._ascending,
            max_buffered_rows=self._max_buffered_rows,
            max_buffered_bytes=self._max_buffered_bytes,
            largest_article_bytes=self._largest_article,
        )

    def abort(self) -> None:
        """Drop the buffer and the file being written (finished files stay)."""
        self._closed = True
        self._columns = {name: [] for name in ARTICLE_SCHEMA.names}
        self._parts.abort()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


# --------------------------------------------------------------------------------------------------
# The pointer
# --------------------------------------------------------------------------------------------------


class ArticleStoreNotFound(LookupError):
    """The project has no article store yet (no ``current.json``): publish a base first."""


@dataclass(frozen=True)
class CurrentState:
    """What ``current.json`` points at, with the manifests it names (read once, used consistently)."""

    project: str
    base: str  # YYYYMMDD
    deltas: tuple[str, ...]  # YYYYMMDDHH, in the order they apply
    base_manifest: dict[str, Any] = field(repr=False)
    delta_manifests: dict[str, dict[str, Any]] = field(repr=False)
    updated_at: str | None = None

    @property
    def deltas_after(self) -> str:
        """Deltas at or before this hour are in the base already (or older than its dump)."""
        return self.base_manifest["deltas_after"]

    @property
    def folded_deltas(self) -> tuple[str, ...]:
        """The deltas compacted into the base since its dump."""
        return tuple(self.base_manifest.get("folded_deltas", ()))

    @property
    def rows(self) -> int:
        """Rows in the base and the deltas (not the number of current articles)."""
        return self.base_manifest["rows"] + sum(m["rows"] for m in self.delta_manifests.values())


def read_base_manifest(store: ObjectStore, project: str, date: str) -> dict[str, Any]:
    return read_manifest(
        store, base_prefix(project, date), format=BASE_FORMAT, fingerprint=SCHEMA_FINGERPRINT, what="article base"
    )


def _read_delta_manifest(store: ObjectStore, project: str, hour: str) -> dict[str, Any]:
    return read_manifest(
        store, delta_prefix(project, hour), format=DELTA_FORMAT, fingerprint=SCHEMA_FINGERPRINT, what="article delta"
    )


def _read_pointer(store: ObjectStore, project: str) -> dict[str, Any] | None:
    key = store.key(current_key(project))
    if store.head(key) is None:
        return None
    pointer = json.loads(store.read_bytes(key))
    if pointer.get("format") != CURRENT_FORMAT or pointer.get("project") != project:
        raise ValueError(f"{store.uri(key)} is not the article store pointer of {project}")
    return pointer


def read_current(store: ObjectStore, project: str) -> CurrentState:
    """The project's current base and deltas, with their manifests checked against this code's schema."""
    pointer = _read_pointer(store, project)
    if pointer is None:
        raise ArticleStoreNotFound(
            f"{project} has no article store at {store.uri(store.key(current_key(project)))}: publish a base first"
        )
    base = pointer["base"]
    base_manifest = read_base_manifest(store, project, base)
    deltas = []
    for hour in pointer["deltas"]:
        # A pointer written by a racing update could still name a delta the base holds; applying it again
        # would undo the later changes folded with it.
        if hour <= base_manifest["deltas_after"]:
            log.warning("%s: delta %s is already in base %s; skipping it", project, hour, base)
            continue
        deltas.append(hour)
    return CurrentState(
        project=project,
        base=base,
        deltas=tuple(deltas),
        base_manifest=base_manifest,
        delta_manifests={hour: _read_delta_manifest(store, project, hour) for hour in deltas},
        updated_at=pointer.get("updated_at"),
    )


def _write_pointer(store: ObjectStore, project: str, base: str, deltas: Iterable[str]) -> PublishedObject:
    pointer = {
        "format": CURRENT_FORMAT,
        "version": 1,
        "project": project,
        "base": base,
        "deltas": sorted(set(deltas)),
        "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    return store.put_bytes(
        store.key(current_key(project)), json.dumps(pointer, indent=2).encode(), content_type="application/json"
    )


# --------------------------------------------------------------------------------------------------
# Publishing
# --------------------------------------------------------------------------------------------------


@dataclass
class ArticleStorePublish:
    """What :func:`publish_base` / :func:`publish_delta` did."""

    key_prefix: str
    manifest: dict[str, Any]
    objects: list[PublishedObject]  # the part files, then the manifest
    current: CurrentState  # the state the pointer names afterwards


def _scan(paths: list[Path], project: str) -> dict[str, Any]:
    """Counts and order of the rows, from the small columns only (the articles are not decompressed)."""
    namespaces: Counter[int] = Counter()
    upserts = deletes = 0
    ascending, last, low, high = True, None, None, None
    for path in paths:
        schema = check_file_schema(path, ARTICLE_SCHEMA, what="article store")
        found = (schema.metadata or {}).get(b"wme.project", b"").decode()
        if found != project:
            raise ValueError(f"{path} holds articles of {found or 'an unknown project'}, not {project}")
        for batch in pq.ParquetFile(path).iter_batches(batch_size=65_536, columns=list(_MERGE_COLUMNS)):
            ids = batch.column("page_id")
            if not batch.num_rows:
                continue
            if ascending and not _strictly_ascending(ids, after=last):
                ascending = False
            last = ids[-1].as_py()
            batch_low, batch_high = (v.as_py() for v in pc.min_max(ids).values())
            low = batch_low if low is None else min(low, batch_low)
            high = batch_high if high is None else max(high, batch_high)
            for item in pc.value_counts(batch.column("namespace")).to_pylist():
                namespaces[item["values"]] += item["counts"]
            batch_deletes = pc.sum(pc.equal(batch.column("op"), DELETE)).as_py() or 0
            deletes += batch_deletes
            upserts += batch.num_rows - batch_deletes
    return {
        "upserts": upserts,
        "deletes": deletes,
        "rows_per_namespace": {str(ns): n for ns, n in sorted(namespaces.items())},
        "ascending": ascending,
        "min_page_id": low,
        "max_page_id": high,
    }


def _publish(
    store: ObjectStore, local_dir: Path, prefix: str, fmt: str, fields: dict[str, Any]
) -> tuple[dict[str, Any], list[PublishedObject]]:
    published = publish_dataset(
        store,
        local_dir,
        prefix,
        schema=ARTICLE_SCHEMA,
        format=fmt,
        schema_version=SCHEMA_VERSION,
        fields=fields,
        allow_empty=True,  # an hour without changes, or a wiki without articles, is still a state
        what="article store",
    )
    # The pointer only ever names datasets whose every file is in place with the recorded checksum.
    verify_published(store, published.manifest)
    return published.manifest, published.objects


def publish_base(store: ObjectStore, local_dir: str | os.PathLike[str], project: str, date: str) -> ArticleStorePublish:
    """Publish a full set of articles from a dump as ``base/{date}`` and point ``current.json`` at it.

    The files must be in ascending page id order with no deletes (checked from the page id and op
    columns before anything is uploaded). Deltas already on the current state from ``date`` on, folded
    into a compacted base or not, stay applied on top of the new base: they are changes after the dump.
    A base older than the current one (a backfill of an earlier dump) is published beside it without
    moving ``current.json``: the current view does not roll back, and snapshots of past days find it
    through :func:`state_as_of`.
    """
    validate_project(project)
    _check_date(date)
    local_dir = Path(local_dir)
    paths = part_paths(local_dir, allow_empty=True)
    stats = _scan(paths, project)
    if stats["deletes"] or not stats["ascending"]:
        raise ValueError(
            f"{local_dir} is not a base: a base is in strictly ascending page id order without deletes "
            f"(ascending: {stats['ascending']}, deletes: {stats['deletes']})"
        )
    deltas_after = _hour_before(date)
    carried: list[str] = []
    current = _read_pointer(store, project)
    if current is not None and current["base"] > date:
        fields = {"project": project, "date": date, "ordered_by": "page_id", "deltas_after": deltas_after,
                  "folded_deltas": [], "compacted_from": None, **stats}
        prefix = base_prefix(project, date)
        manifest, objects = _publish(store, local_dir, prefix, BASE_FORMAT, fields)
        return ArticleStorePublish(prefix, manifest, objects, read_current(store, project))
    if current is not None:
        # Read before publishing: republishing the current base's date replaces that manifest.
        previous = read_base_manifest(store, project, current["base"])
        candidates = set(current["deltas"]) | set(previous.get("folded_deltas", []))
        carried = sorted(hour for hour in candidates if hour > deltas_after)
        missing = [hour for hour in carried if not store.exists(store.key(delta_prefix(project, hour), MANIFEST_NAME))]
        if missing:
            # Folded deltas live on only until retention removes them; without them their changes would be
            # lost silently.
            raise FileNotFoundError(
                f"{project}: deltas {missing} hold changes after {date} but are no longer in the store; "
                "the new base would lose them"
            )
    fields = {
        "project": project,
        "date": date,
        "ordered_by": "page_id",
        "deltas_after": deltas_after,
        "folded_deltas": [],
        "compacted_from": None,
        **stats,
    }
    prefix = base_prefix(project, date)
    manifest, objects = _publish(store, local_dir, prefix, BASE_FORMAT, fields)
    _write_pointer(store, project, date, carried)
    return ArticleStorePublish(prefix, manifest, objects, read_current(store, project))


def publish_delta(
    store: ObjectStore, local_dir: str | os.PathLike[str], project: str, hour: str
) -> ArticleStorePublish:
    """Publish one hour of changes as ``deltas/{hour}`` and add it to ``current.json``.

    Republishing an hour the pointer already names replaces its files (the pointer stays as it is). An
    hour the current base already holds (folded by compaction, or before the dump) is refused:
    applying it again would undo later changes.
    """
    validate_project(project)
    _check_hour(hour)
    local_dir = Path(local_dir)
    paths = part_paths(local_dir, allow_empty=True)
    stats = _scan(paths, project)
    state = read_current(store, project)
    if hour <= state.deltas_after:
        held = "was folded into" if hour in state.folded_deltas else "is not after"
        raise ValueError(
            f"{project}: delta {hour} {held} base {state.base} (which holds changes through {state.deltas_after}); "
            "publish the changes as a later hour, or compact again from an older base"
        )
    fields = {"project": project, "hour": hour, **stats}
    prefix = delta_prefix(project, hour)
    manifest, objects = _publish(store, local_dir, prefix, DELTA_FORMAT, fields)
    # Re-read just before writing: a delta published meanwhile must not be dropped from the pointer.
    latest = _read_pointer(store, project)
    if latest is None or latest["base"] != state.base:
        raise RuntimeError(f"{project}: the base changed while delta {hour} was published; publish it again")
    if hour not in latest["deltas"]:
        _write_pointer(store, project, latest["base"], [*latest["deltas"], hour])
    return ArticleStorePublish(prefix, manifest, objects, read_current(store, project))


# --------------------------------------------------------------------------------------------------
# Reading the current view
# --------------------------------------------------------------------------------------------------


def _read_schema(columns: Iterable[str] | None) -> pa.Schema:
    wanted = set(columns if columns is not None else ARTICLE_SCHEMA.names) | set(_MERGE_COLUMNS)
    unknown = wanted - set(ARTICLE_SCHEMA.names)
    if unknown:
        raise ValueError(f"unknown article store columns: {sorted(unknown)}")
    # In schema order: page_id first.
    return pa.schema([f for f in ARTICLE_SCHEMA if f.name in wanted])


def _base_batches(
    store: ObjectStore, manifest: Mapping[str, Any], cache: Path, schema: pa.Schema, namespace: int | None
) -> Iterator[pa.RecordBatch]:
    """The base's rows in page id order, row group by row group; files are fetched as they are reached."""
    for entry in manifest["files"]:
        parquet = pq.ParquetFile(cached_copy(store, entry, cache))
        ns_index = parquet.schema_arrow.get_field_index("namespace")
        for group in range(parquet.num_row_groups):
            if namespace is None:
                table = parquet.read_row_group(group, columns=schema.names)
            else:
                stats = parquet.metadata.row_group(group).column(ns_index).statistics
                if stats is not None and stats.has_min_max and not stats.min <= namespace <= stats.max:
                    continue
                # The namespace column first: a row group without the namespace costs no article reads.
                mask = pc.equal(parquet.read_row_group(group, columns=["namespace"]).column(0), namespace)
                if not pc.any(mask).as_py():
                    continue
                table = parquet.read_row_group(group, columns=schema.names).filter(mask)
            for batch in table.to_batches():
                yield pa.RecordBatch.from_arrays(batch.columns, schema=schema)


def _delta_winners(
    con, files: list[tuple[int, int, Path]], schema: pa.Schema, namespace: int | None, batch_rows: int
) -> Iterator[pa.RecordBatch]:
    """Per page id, the change that wins among the deltas, in page id order (over all namespaces)."""
    columns = []
    for name in schema.names:
        quoted = f'"{name}"'
        if namespace is not None and name in ("article", "structured"):
            # Winners in other namespaces only hide base rows: their payload need not be sorted.
            columns.append(f"CASE WHEN namespace = {int(namespace)} THEN {quoted} END AS {quoted}")
        else:
            columns.append(quoted)
    select = ", ".join(columns)
    branches = " UNION ALL ".join(
        f"SELECT {select}, revision_id AS _revision, {layer} AS _layer, {seq} AS _file, file_row_number AS _row "
        f"FROM read_parquet({sql_literal(str(path))}, file_row_number = true)"
        for layer, seq, path in files
    )
    names = ", ".join(f'"{name}"' for name in schema.names)
    # Later hour first; inside an hour the higher revision, a delete before an upsert of the same revision
    # (a delete without revision counts as the newest); last of all, the later row written.
    query = f"""
        SELECT {names} FROM ({branches})
        QUALIFY row_number() OVER (
            PARTITION BY page_id
            ORDER BY _layer DESC, coalesce(_revision, {_INT64_MAX}) DESC, (op = '{DELETE}') DESC,
                     _file DESC, _row DESC
        ) = 1
        ORDER BY page_id
    """
    reader = con.sql(query).to_arrow_reader(batch_rows)
    for batch in reader:
        # DuckDB's Arrow types are wider or nullable where the store's are not; the values are the same.
        yield pa.RecordBatch.from_arrays([batch.column(i).cast(f.type) for i, f in enumerate(schema)], schema=schema)


def _next_batch(batches: Iterator[pa.RecordBatch]) -> pa.RecordBatch | None:
    for batch in batches:
        if batch.num_rows:
            return batch
    return None


def _merge(base: Iterator[pa.RecordBatch], deltas: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Merge two page-id-ordered streams; where both have a page id, the delta's row replaces the base's.

    Each step takes the rows up to the smaller of the two batches' last page ids, so it uses up at least
    one batch and holds at most two.
    """
    b, d = _next_batch(base), _next_batch(deltas)
    while b is not None and d is not None:
        cut = min(b.column("page_id")[-1].as_py(), d.column("page_id")[-1].as_py())
        nb = pc.sum(pc.less_equal(b.column("page_id"), cut)).as_py() or 0
        nd = pc.sum(pc.less_equal(d.column("page_id"), cut)).as_py() or 0
        head_b, head_d = b.slice(0, nb), d.slice(0, nd)
        if nd:
            head_b = head_b.filter(pc.invert(pc.is_in(head_b.column("page_id"), value_set=head_d.column("page_id"))))
            table = pa.Table.from_batches([head_b, head_d])
            table = table.take(pc.sort_indices(table.column("page_id"))).combine_chunks()
            yield from table.to_batches()
        elif nb:
            yield head_b
        b = b.slice(nb) if nb < b.num_rows else _next_batch(base)
        d = d.slice(nd) if nd < d.num_rows else _next_batch(deltas)
    if b is not None:
        yield b
        yield from base
    if d is not None:
        yield d
        yield from deltas


def iter_current_batches(
    store: ObjectStore,
    project: str,
    *,
    cache_dir: str | os.PathLike[str],
    namespace: int | None = None,
    columns: Iterable[str] | None = None,
    state: CurrentState | None = None,
    batch_rows: int = 1_000,
    memory_limit: str = "1GB",
) -> Iterator[pa.RecordBatch]:
    """The current articles (base plus deltas, deletes dropped) as record batches in page id order.

    ``columns`` (default: all) selects what is read; ``namespace`` keeps one namespace. Pass ``state``
    (from :func:`read_current`) to read several namespaces from one consistent state. Files are
    downloaded into ``cache_dir`` (content-addressed, verified, reused); DuckDB spills its sort of the
    delta winners to ``cache_dir`` beyond ``memory_limit``.
    """
    import duckdb

    state = state if state is not None else read_current(store, project)
    schema = _read_schema(columns)
    wanted = list(columns) if columns is not None else ARTICLE_SCHEMA.names
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    base = _base_batches(store, state.base_manifest, cache, schema, namespace)
    delta_files = [
        (layer, seq, path)
        for layer, hour in enumerate(state.deltas)
        for seq, path in enumerate(cached_files(store, state.delta_manifests[hour], cache))
    ]
    con = None
    try:
        if delta_files:
            con = duckdb.connect()
            con.execute("SET TimeZone = 'UTC'")
            con.execute("SET arrow_large_buffer_size = true")  # large_binary/large_string, as stored
            con.execute(f"SET memory_limit = {sql_literal(memory_limit)}")
            con.execute(f"SET temp_directory = {sql_literal(str(cache / '.duckdb-spill'))}")
            merged = _merge(base, _delta_winners(con, delta_files, schema, namespace, batch_rows))
        else:
            merged = base
        for batch in merged:
            keep = pc.equal(batch.column("op"), UPSERT)
            if namespace is not None:
                keep = pc.and_(keep, pc.equal(batch.column("namespace"), namespace))
            batch = batch.filter(keep)
            if batch.num_rows:
                yield batch.select(wanted)
    finally:
        if con is not None:
            con.close()


def iter_current_articles(
    store: ObjectStore,
    project: str,
    *,
    cache_dir: str | os.PathLike[str],
    namespace: int | None = None,
    state: CurrentState | None = None,
    batch_rows: int = 1_000,
    memory_limit: str = "1GB",
) -> Iterator[tuple[int, bytes]]:
    """``(page_id, article JSON line)`` of every current article in page id order: the export's input."""
    for batch in iter_current_batches(
        store,
        project,
        cache_dir=cache_dir,
        namespace=namespace,
        columns=["page_id", "article"],
        state=state,
        batch_rows=batch_rows,
        memory_limit=memory_limit,
    ):
        yield from zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True)


# --------------------------------------------------------------------------------------------------
# Compaction
# --------------------------------------------------------------------------------------------------


def compact(
    store: ObjectStore,
    project: str,
    *,
    date: str,
    cache_dir: str | os.PathLike[str],
    run_id: str | None = None,
    through_hour: str | None = None,
    allow_gaps: bool = False,
    work_dir: str | os.PathLike[str] | None = None,
    rows_per_batch: int = 1_000,
    rows_per_file: int = 500_000,
    max_file_bytes: int = 256 * MiB,
    memory_limit: str = "1GB",
) -> CurrentState:
    """Fold the current deltas (up to ``through_hour``) into a new base ``base/{date}``; move the pointer.

    The new base's manifest lists the deltas folded into it; the old base and the folded deltas stay
    until retention removes them. With no delta to fold nothing is written and the current state is
    returned. A hole between the first and last folded hour is refused unless ``allow_gaps``: a missing
    hour published later could not be applied any more (it would be older than the base).
    """
    validate_project(project)
    _check_date(date)
    state = read_current(store, project)
    last = _check_hour(through_hour) if through_hour is not None else None
    folding = [hour for hour in state.deltas if last is None or hour <= last]
    if not folding:
        log.info("%s: no delta to compact into base %s", project, state.base)
        return state
    if date <= state.base:
        # Writing over the base that readers and this compaction read would break both.
        raise ValueError(f"{project}: compaction into base {date} needs a date after the current base {state.base}")
    missing = _missing_hours(folding)
    if missing and not allow_gaps:
        raise ValueError(
            f"{project}: deltas {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''} are missing between "
            f"{folding[0]} and {folding[-1]}; publish them first (or pass allow_gaps=True to give them up)"
        )
    folded_state = CurrentState(
        project=project,
        base=state.base,
        deltas=tuple(folding),
        base_manifest=state.base_manifest,
        delta_manifests={hour: state.delta_manifests[hour] for hour in folding},
        updated_at=state.updated_at,
    )
    run_id = run_id or f"compaction-{date}-{datetime.now(UTC):%Y%m%dT%H%M%S}"
    with tempfile.TemporaryDirectory(prefix=f"wme-articles-{project}-{date}-", dir=work_dir) as tmp:
        out_dir = Path(tmp) / "base"
        with ArticleStoreWriter(
            out_dir,
            project=project,
            source=f"compaction:{date}",
            run_id=run_id,
            rows_per_batch=rows_per_batch,
            rows_per_file=rows_per_file,
            max_file_bytes=max_file_bytes,
        ) as writer:
            for batch in iter_current_batches(
                store,
                project,
                cache_dir=cache_dir,
                state=folded_state,
                batch_rows=rows_per_batch,
                memory_limit=memory_limit,
            ):
                writer.write_batch(batch)
        stats = _scan(part_paths(out_dir, allow_empty=True), project)
        folded = sorted(set(state.folded_deltas) | set(folding))
        fields = {
            "project": project,
            "date": date,
            "ordered_by": "page_id",
            "deltas_after": max(folding[-1], state.deltas_after),
            "folded_deltas": folded,
            "compacted_from": state.base,
            **stats,
        }
        _publish(store, out_dir, base_prefix(project, date), BASE_FORMAT, fields)
    latest = _read_pointer(store, project)
    if latest is None or latest["base"] != state.base:
        raise RuntimeError(f"{project}: the base changed during compaction; compact again")
    stranded = sorted(h for h in latest["deltas"] if h not in folded and h <= fields["deltas_after"])
    if stranded:
        raise RuntimeError(
            f"{project}: deltas {stranded} were published during compaction and are older than the new base's "
            f"last folded hour {fields['deltas_after']}; compact again"
        )
    _write_pointer(store, project, date, [h for h in latest["deltas"] if h > fields["deltas_after"]])
    return read_current(store, project)


def list_bases(store: ObjectStore, project: str) -> list[str]:
    """Dates of the published bases of a project (those with a manifest), oldest first."""
    prefix = store.key(store_prefix(project), "base") + "/"
    dates = set()
    for info in store.list(prefix):
        rest = info.key[len(prefix):].split("/")
        if len(rest) == 2 and rest[1] == "_manifest.json":
            dates.add(rest[0])
    return sorted(dates)


def state_as_of(store: ObjectStore, project: str, date: str) -> CurrentState:
    """The articles as they stood at the end of ``date`` (YYYYMMDD): what a snapshot of that day holds.

    The current state when its base is not newer than ``date`` (with only the deltas up to the end of that
    day); otherwise the newest base published on or before ``date``, without deltas. A snapshot re-run for
    a past date therefore never picks up articles from a later dump.
    """
    _check_date(date)
    try:
        current = read_current(store, project)
    except ArticleStoreNotFound:
        current = None
    if current is not None and current.base <= date:
        deltas = tuple(hour for hour in current.deltas if hour <= f"{date}23")
        return CurrentState(
            project=project,
            base=current.base,
            deltas=deltas,
            base_manifest=current.base_manifest,
            delta_manifests={hour: current.delta_manifests[hour] for hour in deltas},
            updated_at=current.updated_at,
        )
    earlier = [base for base in list_bases(store, project) if base <= date]
    if not earlier:
        raise ArticleStoreNotFound(
            f"{project} has no article base on or before {date}: enrich a dump of that date first"
        )
    base = earlier[-1]
    return CurrentState(
        project=project, base=base, deltas=(), base_manifest=read_base_manifest(store, project, base),
        delta_manifests={},
    )
