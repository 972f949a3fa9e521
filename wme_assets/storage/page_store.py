"""The page store: the parsed pages of one (project, dump date) as Parquet, one row per page.

It is what the ingestion stage leaves for every later stage: each page of the dump with its latest
revision, the Wikidata item from ``page_props`` joined in, and where the row came from. Layout in the
object store (keys relative to the store's prefix, see :func:`page_store_prefix`)::

    pages/{project}/{date}/part-00000.parquet
    pages/{project}/{date}/part-00001.parquet
    ...
    pages/{project}/{date}/_manifest.json     written last: files, rows, sha256, schema fingerprint

Writing (:class:`PageStoreWriter`) keeps memory bounded by design: pages are buffered into one record
batch of at most ``rows_per_batch`` rows or ``batch_text_bytes`` of wikitext (a single larger page is a
batch of its own), every batch becomes one Parquet row group, and a file is closed once it reaches
``rows_per_file`` rows or ``max_file_bytes`` on disk. Page ids are tracked in a bitmap (one bit per
possible id: enwiki's ~80 million ids take 10 MB), so a page seen twice is detected, reported and not
written again.

Reading with DuckDB: :func:`duckdb_connect_s3` configures DuckDB's ``httpfs`` extension for the store,
after which ``read_parquet('s3://bucket/prefix/pages/bnwiki/20230501/*.parquet')`` works. ``httpfs``
is not built into DuckDB: it is downloaded by ``INSTALL httpfs`` (needs internet, or an extension
directory baked into the image). Where it cannot be loaded, :func:`query_page_store` downloads the files
named by the manifest into a local, content-addressed cache and queries those instead — same SQL, same
result.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.parquet as pq

from wme_assets.parsing.dump_xml import Page
from wme_assets.settings import validate_project
from wme_assets.storage.object_store import ObjectStore, PublishedObject

__all__ = [
    "MANIFEST_NAME",
    "PAGE_SCHEMA",
    "SCHEMA_FINGERPRINT",
    "DuckDBHttpfsUnavailable",
    "DuplicatePage",
    "PageStoreFile",
    "PageStoreQuery",
    "PageStoreSummary",
    "PageStoreWriter",
    "duckdb_connect_s3",
    "duckdb_s3_settings",
    "page_store_prefix",
    "publish_page_store",
    "query_page_store",
    "read_manifest",
    "schema_fingerprint",
]

log = logging.getLogger(__name__)

MiB = 1024 * 1024

# --------------------------------------------------------------------------------------------------
# Schema
# --------------------------------------------------------------------------------------------------

SCHEMA_VERSION = "1"

# One row per page with its latest revision. Nullable wherever a dump may lack the value: a page without
# revision (stub exports), suppressed contributor/comment/text, old exports without <model>/<sha1>.
PAGE_SCHEMA = pa.schema(
    [
        pa.field("page_id", pa.int64(), nullable=False),
        pa.field("namespace", pa.int32(), nullable=False),
        pa.field("title", pa.string(), nullable=False),
        pa.field("redirect_target", pa.string()),  # null when not a redirect (or a pre-0.5 bare <redirect/>)
        pa.field("is_redirect", pa.bool_(), nullable=False),
        pa.field("revision_id", pa.int64()),
        pa.field("parent_revision_id", pa.int64()),
        pa.field("timestamp", pa.timestamp("us", tz="UTC")),
        pa.field("contributor_name", pa.string()),
        pa.field("contributor_id", pa.int64()),
        pa.field("contributor_ip", pa.string()),
        pa.field("contributor_deleted", pa.bool_(), nullable=False),
        pa.field("is_minor", pa.bool_(), nullable=False),
        pa.field("comment", pa.string()),
        pa.field("comment_deleted", pa.bool_(), nullable=False),
        pa.field("content_model", pa.string()),
        pa.field("content_format", pa.string()),
        pa.field("sha1", pa.string()),
        pa.field("size_bytes", pa.int64()),
        # large_string: a row group of long articles can pass the 2 GiB offset limit of plain strings
        # once readers concatenate batches.
        pa.field("text", pa.large_string()),
        pa.field("text_deleted", pa.bool_(), nullable=False),
        pa.field("wikibase_item", pa.string()),
        pa.field("project", pa.string(), nullable=False),
        pa.field("dump_date", pa.string(), nullable=False),
        pa.field("source_file", pa.string(), nullable=False),
    ],
    metadata={b"wme.page_store.schema_version": SCHEMA_VERSION.encode()},
)


def schema_fingerprint(schema: pa.Schema) -> str:
    """SHA-256 of the schema's names, types and nullability (independent of pyarrow's IPC encoding)."""
    canonical = json.dumps([[f.name, str(f.type), f.nullable] for f in schema], separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


SCHEMA_FINGERPRINT = schema_fingerprint(PAGE_SCHEMA)

# Statistics only where readers filter (page id ranges, namespaces, revisions, time): min/max of the
# text column would be large and useless.
_STATISTICS_COLUMNS = ["page_id", "namespace", "revision_id", "timestamp", "is_redirect"]
# Dictionary-encode the low-cardinality columns only; trying it on text and titles wastes CPU.
_DICTIONARY_COLUMNS = [
    "namespace",
    "content_model",
    "content_format",
    "contributor_name",
    "project",
    "dump_date",
    "source_file",
]

MANIFEST_NAME = "_manifest.json"
MANIFEST_FORMAT = "wme.page_store"
_PART_NAME = re.compile(r"^part-\d{5,}\.parquet$")
_DATE = re.compile(r"^\d{8}$")


def page_store_prefix(project: str, date: str) -> str:
    """``pages/{project}/{date}/``: where one dump's page store lives, relative to the store's prefix."""
    validate_project(project)
    if not _DATE.match(date or ""):
        raise ValueError(f"dump date {date!r} is not YYYYMMDD")
    return f"pages/{project}/{date}/"


# --------------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------------

# Page ids below this go in the bitmap (at most 128 MiB of bits); larger ids — none in any Wikimedia
# wiki today — go in a set, so a crafted id cannot make the bitmap huge.
_BITMAP_LIMIT = 1 << 30
# Duplicates reported in full; beyond that only counted, so a dump that repeats everything stays bounded.
MAX_REPORTED_DUPLICATES = 10_000


class _PageIdSet:
    """A set of page ids as a growable bitmap: one bit per id instead of ~60 bytes per Python int."""

    def __init__(self) -> None:
        self._bits = bytearray()
        self._large: set[int] = set()

    def add(self, page_id: int) -> bool:
        """Add ``page_id``; False when it was already there."""
        if page_id < 0 or page_id >= _BITMAP_LIMIT:
            if page_id in self._large:
                return False
            self._large.add(page_id)
            return True
        index, bit = page_id >> 3, 1 << (page_id & 7)
        bits = self._bits
        if index >= len(bits):
            # Grow geometrically so a dump in id order costs amortised O(1) per page.
            bits.extend(bytes(max(index + 1 - len(bits), len(bits))))
        if bits[index] & bit:
            return False
        bits[index] |= bit
        return True


@dataclass(frozen=True)
class DuplicatePage:
    """A page whose id was already written: reported and left out (the first occurrence is kept)."""

    page_id: int
    namespace: int
    title: str
    revision_id: int | None
    source_file: str


@dataclass(frozen=True)
class PageStoreFile:
    name: str
    path: Path
    rows: int
    row_groups: int
    size_bytes: int
    text_bytes: int
    min_page_id: int | None
    max_page_id: int | None


@dataclass
class PageStoreSummary:
    """What :meth:`PageStoreWriter.close` wrote."""

    project: str
    dump_date: str
    out_dir: Path
    files: list[PageStoreFile]
    rows: int
    pages_per_namespace: dict[int, int]
    redirects: int
    text_bytes: int
    wikibase_items: int  # pages with a Wikidata item
    duplicates: list[DuplicatePage]  # the first MAX_REPORTED_DUPLICATES
    duplicate_count: int
    ascending: bool  # every page id greater than the one before (dump order)
    # High-water marks of the batch buffer, for checking the memory bound.
    max_buffered_rows: int
    max_buffered_text_bytes: int
    largest_page_text_bytes: int
    schema_fingerprint: str = SCHEMA_FINGERPRINT

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (for the manifest and Dagster metadata)."""
        data = asdict(self)
        data["out_dir"] = str(self.out_dir)
        data["files"] = [{**asdict(f), "path": str(f.path)} for f in self.files]
        data["pages_per_namespace"] = {str(ns): n for ns, n in sorted(self.pages_per_namespace.items())}
        return data


def _utf8_length(text: str) -> int:
    # isascii() is O(1) in CPython (a flag on the string), so the common case costs no encoding.
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _timestamp(value: str | None, page: Page) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"page {page.id} ({page.title!r}): revision timestamp {value!r} is not ISO 8601"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class PageStoreWriter:
    """Write pages to ``out_dir/part-NNNNN.parquet`` in the order given.

    Use as a context manager, or call :meth:`close` (which returns the :class:`PageStoreSummary`).
    Files appear under their final name only once complete; an error inside the ``with`` block removes
    the file being written.

    Memory bound: the buffer never holds more than ``rows_per_batch`` rows, nor more than
    ``batch_text_bytes`` of text unless a single page is larger (then that page is a batch alone).
    """

    def __init__(
        self,
        out_dir: str | os.PathLike[str],
        *,
        project: str,
        dump_date: str,
        rows_per_file: int = 1_000_000,
        max_file_bytes: int = 256 * MiB,
        rows_per_batch: int = 2_000,
        batch_text_bytes: int = 64 * MiB,
        compression_level: int = 3,
    ) -> None:
        validate_project(project)
        if not _DATE.match(dump_date or ""):
            raise ValueError(f"dump date {dump_date!r} is not YYYYMMDD")
        if min(rows_per_file, max_file_bytes, rows_per_batch, batch_text_bytes) < 1:
            raise ValueError(
                "rows_per_file, max_file_bytes, rows_per_batch and batch_text_bytes must be >= 1"
            )
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        stale = sorted(p.name for p in self.out_dir.glob("part-*.parquet"))
        if stale:
            # Mixing files of two runs would publish a page store that is neither.
            raise FileExistsError(f"{self.out_dir} already holds page store files ({stale[0]}, ...)")
        self.project = project
        self.dump_date = dump_date
        self.rows_per_file = rows_per_file
        self.max_file_bytes = max_file_bytes
        self.rows_per_batch = rows_per_batch
        self.batch_text_bytes = batch_text_bytes
        self.compression_level = compression_level
        # Provenance rides along in every file's key-value metadata, so a lone file still says what it is.
        self._file_schema = PAGE_SCHEMA.with_metadata(
            {
                **PAGE_SCHEMA.metadata,
                b"wme.page_store.fingerprint": SCHEMA_FINGERPRINT.encode(),
                b"wme.project": project.encode(),
                b"wme.dump_date": dump_date.encode(),
            }
        )

        self._columns: dict[str, list] = {name: [] for name in PAGE_SCHEMA.names}
        self._buffered_rows = 0
        self._buffered_text = 0
        self._seen = _PageIdSet()
        self._last_page_id: int | None = None
        self._closed = False

        # The file being written.
        self._writer: pq.ParquetWriter | None = None
        self._sink: pa.NativeFile | None = None
        self._file_index = 0
        self._file_rows = 0
        self._file_row_groups = 0
        self._file_text = 0
        self._file_min: int | None = None
        self._file_max: int | None = None

        # Totals for the summary.
        self._files: list[PageStoreFile] = []
        self._rows = 0
        self._namespaces: Counter[int] = Counter()
        self._redirects = 0
        self._text_bytes = 0
        self._qids = 0
        self._duplicates: list[DuplicatePage] = []
        self._duplicate_count = 0
        self._ascending = True
        self._max_buffered_rows = 0
        self._max_buffered_text = 0
        self._largest_page_text = 0

    # -- adding pages --------------------------------------------------------------------------

    def add(self, page: Page, *, source_file: str, wikibase_item: str | None = None) -> bool:
        """Buffer one page (its latest revision); False if its id was already written (a duplicate)."""
        if self._closed:
            raise RuntimeError("the page store writer is closed")
        if not self._seen.add(page.id):
            self._duplicate_count += 1
            if len(self._duplicates) < MAX_REPORTED_DUPLICATES:
                rev = page.latest
                self._duplicates.append(
                    DuplicatePage(page.id, page.ns, page.title, rev.id if rev else None, source_file)
                )
            log.warning(
                "%s: page id %d (%r) appears again; keeping the first", source_file, page.id, page.title
            )
            return False
        if self._last_page_id is not None and page.id <= self._last_page_id:
            self._ascending = False
        self._last_page_id = page.id

        rev = page.latest
        text = rev.text if rev else None
        text_bytes = _utf8_length(text) if text is not None else 0
        # Flush first if this page would push the batch over its text budget: the buffer then holds
        # either pages within the budget or this one page alone.
        if self._buffered_rows and self._buffered_text + text_bytes > self.batch_text_bytes:
            self._flush()

        c = self._columns
        c["page_id"].append(page.id)
        c["namespace"].append(page.ns)
        c["title"].append(page.title)
        c["redirect_target"].append(page.redirect_target)
        c["is_redirect"].append(page.is_redirect or page.redirect_target is not None)
        c["revision_id"].append(rev.id if rev else None)
        c["parent_revision_id"].append(rev.parent_id if rev else None)
        c["timestamp"].append(_timestamp(rev.timestamp, page) if rev else None)
        c["contributor_name"].append(rev.contributor_name if rev else None)
        c["contributor_id"].append(rev.contributor_id if rev else None)
        c["contributor_ip"].append(rev.contributor_ip if rev else None)
        c["contributor_deleted"].append(bool(rev and rev.contributor_deleted))
        c["is_minor"].append(bool(rev and rev.minor))
        c["comment"].append(rev.comment if rev else None)
        c["comment_deleted"].append(bool(rev and rev.comment_deleted))
        c["content_model"].append(rev.model if rev else None)
        c["content_format"].append(rev.format if rev else None)
        c["sha1"].append(rev.sha1 if rev else None)
        size = rev.size if rev and rev.size is not None else (text_bytes if text is not None else None)
        c["size_bytes"].append(size)
        c["text"].append(text)
        c["text_deleted"].append(bool(rev and rev.text_deleted))
        c["wikibase_item"].append(wikibase_item)
        c["project"].append(self.project)
        c["dump_date"].append(self.dump_date)
        c["source_file"].append(source_file)

        self._buffered_rows += 1
        self._buffered_text += text_bytes
        self._max_buffered_rows = max(self._max_buffered_rows, self._buffered_rows)
        self._max_buffered_text = max(self._max_buffered_text, self._buffered_text)
        self._largest_page_text = max(self._largest_page_text, text_bytes)
        self._namespaces[page.ns] += 1
        self._redirects += c["is_redirect"][-1]
        self._text_bytes += text_bytes
        self._qids += wikibase_item is not None
        self._file_min = page.id if self._file_min is None else min(self._file_min, page.id)
        self._file_max = page.id if self._file_max is None else max(self._file_max, page.id)

        # A batch also ends where the file must end, so rows_per_file is exact.
        room_in_file = self.rows_per_file - self._file_rows
        if self._buffered_rows >= min(self.rows_per_batch, room_in_file) or (
            self._buffered_text >= self.batch_text_bytes
        ):
            self._flush()
        return True

    def write_pages(
        self,
        pages: Iterable[Page],
        *,
        source_file: str,
        wikibase_items: Mapping[int, str] | None = None,
    ) -> int:
        """Add every page of one dump file, joining in its Wikidata item; returns how many were written."""
        written = 0
        lookup = wikibase_items.get if wikibase_items is not None else None
        for page in pages:
            written += self.add(
                page, source_file=source_file, wikibase_item=lookup(page.id) if lookup else None
            )
        return written

    # -- files ---------------------------------------------------------------------------------

    def _part_path(self, index: int) -> Path:
        return self.out_dir / f"part-{index:05d}.parquet"

    def _in_progress_path(self, index: int) -> Path:
        return self.out_dir / f".part-{index:05d}.parquet.inprogress"

    def _open_file(self) -> None:
        self._sink = pa.OSFile(str(self._in_progress_path(self._file_index)), "wb")
        self._writer = pq.ParquetWriter(
            self._sink,
            self._file_schema,
            compression="zstd",
            compression_level=self.compression_level,
            use_dictionary=_DICTIONARY_COLUMNS,
            write_statistics=_STATISTICS_COLUMNS,
        )

    def _flush(self) -> None:
        if not self._buffered_rows:
            return
        batch = pa.RecordBatch.from_pydict(self._columns, schema=self._file_schema)
        self._columns = {name: [] for name in PAGE_SCHEMA.names}
        if self._writer is None:
            self._open_file()
        # One write, one row group: its size is bounded by the batch limits.
        self._writer.write_batch(batch)
        self._file_rows += batch.num_rows
        self._file_row_groups += 1
        self._file_text += self._buffered_text
        self._rows += batch.num_rows
        self._buffered_rows = 0
        self._buffered_text = 0
        if self._file_rows >= self.rows_per_file or self._sink.tell() >= self.max_file_bytes:
            self._close_file()

    def _close_file(self) -> None:
        if self._writer is None:
            return
        self._writer.close()
        self._sink.close()
        final = self._part_path(self._file_index)
        os.replace(self._in_progress_path(self._file_index), final)
        self._files.append(
            PageStoreFile(
                name=final.name,
                path=final,
                rows=self._file_rows,
                row_groups=self._file_row_groups,
                size_bytes=final.stat().st_size,
                text_bytes=self._file_text,
                min_page_id=self._file_min,
                max_page_id=self._file_max,
            )
        )
        self._writer = self._sink = None
        self._file_index += 1
        self._file_rows = self._file_row_groups = self._file_text = 0
        self._file_min = self._file_max = None

    def close(self) -> PageStoreSummary:
        """Write what is buffered, finish the last file and return the summary."""
        if not self._closed:
            self._flush()
            self._close_file()
            self._closed = True
        return PageStoreSummary(
            project=self.project,
            dump_date=self.dump_date,
            out_dir=self.out_dir,
            files=list(self._files),
            rows=self._rows,
            pages_per_namespace=dict(sorted(self._namespaces.items())),
            redirects=self._redirects,
            text_bytes=self._text_bytes,
            wikibase_items=self._qids,
            duplicates=list(self._duplicates),
            duplicate_count=self._duplicate_count,
            ascending=self._ascending,
            max_buffered_rows=self._max_buffered_rows,
            max_buffered_text_bytes=self._max_buffered_text,
            largest_page_text_bytes=self._largest_page_text,
        )

    def abort(self) -> None:
        """Drop the buffer and the file being written (finished files stay)."""
        self._closed = True
        self._columns = {name: [] for name in PAGE_SCHEMA.names}
        if self._writer is not None:
            try:
                self._writer.close()
                self._sink.close()
            finally:
                self._in_progress_path(self._file_index).unlink(missing_ok=True)
                self._writer = self._sink = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


# --------------------------------------------------------------------------------------------------
# Publishing
# --------------------------------------------------------------------------------------------------


def _check_file_schema(path: Path) -> pa.Schema:
    schema = pq.read_schema(path)
    if not schema.equals(PAGE_SCHEMA, check_metadata=False):
        raise ValueError(
            f"{path} does not have the page store schema (fingerprint {schema_fingerprint(schema)}, "
            f"expected {SCHEMA_FINGERPRINT})"
        )
    return schema


def _page_id_range(metadata: pq.FileMetaData) -> tuple[int | None, int | None]:
    column = metadata.schema.to_arrow_schema().get_field_index("page_id")
    lows, highs = [], []
    for index in range(metadata.num_row_groups):
        stats = metadata.row_group(index).column(column).statistics
        if stats is not None and stats.has_min_max:
            lows.append(stats.min)
            highs.append(stats.max)
    return (min(lows), max(highs)) if lows else (None, None)


def publish_page_store(
    store: ObjectStore,
    local_dir: str | os.PathLike[str],
    key_prefix: str,
    *,
    summary: PageStoreSummary | None = None,
) -> list[PublishedObject]:
    """Upload the ``part-*.parquet`` files of ``local_dir`` under ``key_prefix``, then ``_manifest.json``.

    ``key_prefix`` is relative to the store's prefix (:func:`page_store_prefix`). Every file is
    published atomically (staged, verified, copied); the manifest comes last, so a reader that starts
    from the manifest only ever sees complete page stores. Part files of an earlier publish under the
    same prefix that are not in the new manifest are deleted after it. Returns the published objects,
    the manifest last.
    """
    local_dir = Path(local_dir)
    paths = sorted(p for p in local_dir.iterdir() if _PART_NAME.match(p.name))
    if not paths:
        raise FileNotFoundError(f"no part-*.parquet files in {local_dir}")
    published: list[PublishedObject] = []
    entries = []
    project = dump_date = None
    for path in paths:
        schema = _check_file_schema(path)
        meta = schema.metadata or {}
        project = project or meta.get(b"wme.project", b"").decode() or None
        dump_date = dump_date or meta.get(b"wme.dump_date", b"").decode() or None
        metadata = pq.read_metadata(path)
        low, high = _page_id_range(metadata)
        obj = store.publish_file(
            path, store.key(key_prefix, path.name), content_type="application/vnd.apache.parquet"
        )
        published.append(obj)
        entries.append(
            {
                "name": path.name,
                "key": obj.key,
                "uri": obj.uri,
                "size": obj.size,
                "sha256": obj.sha256,
                "rows": metadata.num_rows,
                "row_groups": metadata.num_row_groups,
                "min_page_id": low,
                "max_page_id": high,
            }
        )
    manifest: dict[str, Any] = {
        "format": MANIFEST_FORMAT,
        "schema_version": SCHEMA_VERSION,
        "schema_fingerprint": SCHEMA_FINGERPRINT,
        "schema": [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in PAGE_SCHEMA],
        "project": summary.project if summary else project,
        "dump_date": summary.dump_date if summary else dump_date,
        "rows": sum(e["rows"] for e in entries),
        "files": entries,
        "published_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if summary is not None:
        manifest["summary"] = {
            "pages_per_namespace": {str(ns): n for ns, n in sorted(summary.pages_per_namespace.items())},
            "redirects": summary.redirects,
            "text_bytes": summary.text_bytes,
            "wikibase_items": summary.wikibase_items,
            "duplicate_count": summary.duplicate_count,
            "duplicate_page_ids": [d.page_id for d in summary.duplicates],
            "ascending": summary.ascending,
        }
    manifest_key = store.key(key_prefix, MANIFEST_NAME)
    published.append(
        store.put_bytes(
            manifest_key, json.dumps(manifest, indent=2).encode("utf-8"), content_type="application/json"
        )
    )
    # Readers that glob *.parquet instead of reading the manifest must not see an older run's extra parts.
    keep = {e["key"] for e in entries}
    for info in store.list(store.key(key_prefix) + "/"):
        name = info.key.rsplit("/", 1)[-1]
        if _PART_NAME.match(name) and info.key not in keep:
            store.delete(info.key)
    return published


def read_manifest(store: ObjectStore, key_prefix: str) -> dict[str, Any]:
    """The ``_manifest.json`` of a published page store, checked against this code's schema."""
    manifest = json.loads(store.read_bytes(store.key(key_prefix, MANIFEST_NAME)))
    if manifest.get("format") != MANIFEST_FORMAT:
        raise ValueError(f"{store.uri(store.key(key_prefix, MANIFEST_NAME))} is not a page store manifest")
    if manifest.get("schema_fingerprint") != SCHEMA_FINGERPRINT:
        raise ValueError(
            f"page store {key_prefix} has schema {manifest.get('schema_fingerprint')}, this code reads "
            f"{SCHEMA_FINGERPRINT}: rebuild it"
        )
    return manifest


# --------------------------------------------------------------------------------------------------
# DuckDB
# --------------------------------------------------------------------------------------------------


class DuckDBHttpfsUnavailable(RuntimeError):
    """DuckDB's httpfs extension cannot be loaded (not installed, and no network to install it)."""


def _store_credentials(store: ObjectStore):
    # The client's own credentials are the ones the store really uses (explicit keys, env, profile or
    # role); botocore only exposes them through this accessor.
    credentials = store.client._get_credentials()
    if credentials is None:
        import boto3

        credentials = boto3.Session().get_credentials()
    if credentials is None:
        raise DuckDBHttpfsUnavailable("no S3 credentials found for DuckDB (set AWS_ACCESS_KEY_ID/SECRET)")
    return credentials.get_frozen_credentials()


def duckdb_s3_settings(store: ObjectStore) -> dict[str, Any]:
    """The parameters of a DuckDB ``TYPE s3`` secret that reaches ``store``.

    DuckDB wants the endpoint without scheme (``127.0.0.1:8333``), TLS as a separate flag, and path-style
    URLs (what every S3-compatible server supports, like the store's own client).
    """
    frozen = _store_credentials(store)
    settings: dict[str, Any] = {
        "KEY_ID": frozen.access_key,
        "SECRET": frozen.secret_key,
        "REGION": store.client.meta.region_name or "us-east-1",
        "URL_STYLE": "path",
        "USE_SSL": True,
    }
    if frozen.token:
        settings["SESSION_TOKEN"] = frozen.token
    if store.endpoint_url:
        parts = urlsplit(store.endpoint_url)
        settings["ENDPOINT"] = parts.netloc
        settings["USE_SSL"] = parts.scheme == "https"
    return settings


def _sql_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "'" + str(value).replace("'", "''") + "'"


def duckdb_connect_s3(store: ObjectStore, *, connection=None, install: bool = False):
    """A DuckDB connection whose ``s3://`` URLs reach ``store`` (through the httpfs extension).

    ``install=True`` runs ``INSTALL httpfs`` first, which downloads the extension (needs internet).
    Raises :class:`DuckDBHttpfsUnavailable` when httpfs cannot be loaded; :func:`query_page_store`
    then falls back to a local copy.
    """
    import duckdb

    con = connection if connection is not None else duckdb.connect()
    try:
        if install:
            con.install_extension("httpfs")
        con.load_extension("httpfs")
    except duckdb.Error as exc:
        raise DuckDBHttpfsUnavailable(
            f"DuckDB {duckdb.__version__} cannot load its httpfs extension ({exc}). Install it where there "
            "is internet (`INSTALL httpfs`) or bake the extension directory into the image; "
            "query_page_store can download the files and query them locally instead."
        ) from None
    options = ", ".join(f"{name} {_sql_value(value)}" for name, value in duckdb_s3_settings(store).items())
    con.execute(f"CREATE OR REPLACE SECRET wme_s3 (TYPE s3, {options})")
    return con


@dataclass
class PageStoreQuery:
    """A DuckDB connection with a view over one published page store."""

    connection: Any  # duckdb.DuckDBPyConnection
    view: str
    mode: str  # "httpfs" (read from S3) or "local-cache" (downloaded files)
    sources: list[str]  # the s3:// URIs or local paths behind the view
    manifest: dict[str, Any] = field(repr=False)

    def sql(self, query: str, *params: Any):
        return self.connection.execute(query, list(params) if params else None)


def _cached_copy(store: ObjectStore, entry: Mapping[str, Any], cache_dir: Path) -> Path:
    """The file of a manifest entry in the cache, named by its SHA-256 so a stale copy cannot be used."""
    target = cache_dir / f"{entry['sha256']}.parquet"
    if target.exists():
        return target
    staging = cache_dir / f".{entry['sha256']}.download"
    store.download_file(entry["key"], staging)
    digest = hashlib.sha256()
    with open(staging, "rb") as f:
        while chunk := f.read(8 * MiB):
            digest.update(chunk)
    if digest.hexdigest() != entry["sha256"]:
        staging.unlink(missing_ok=True)
        raise ValueError(
            f"{store.uri(entry['key'])}: downloaded sha256 {digest.hexdigest()}, manifest says {entry['sha256']}"
        )
    os.replace(staging, target)
    return target


_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def query_page_store(
    store: ObjectStore,
    key_prefix: str,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    connection=None,
    view: str = "pages",
    use_httpfs: bool | None = None,
) -> PageStoreQuery:
    """Open a published page store for SQL: ``SELECT … FROM pages`` over the files in its manifest.

    With ``use_httpfs`` None (the default) DuckDB reads S3 directly when its httpfs extension loads,
    and otherwise downloads the files into ``cache_dir`` (content-addressed by SHA-256, verified against
    the manifest; reused across calls). True insists on httpfs, False always downloads.
    """
    import duckdb

    if not _IDENTIFIER.match(view):
        raise ValueError(f"view name {view!r} is not a plain SQL identifier")
    manifest = read_manifest(store, key_prefix)
    con = connection if connection is not None else duckdb.connect()
    mode = None
    if use_httpfs is not False:
        try:
            duckdb_connect_s3(store, connection=con)
            mode, sources = "httpfs", [store.uri(entry["key"]) for entry in manifest["files"]]
        except DuckDBHttpfsUnavailable:
            if use_httpfs:
                raise
            log.info("DuckDB httpfs unavailable: querying %s from a local copy", key_prefix)
    if mode is None:
        if cache_dir is None:
            raise DuckDBHttpfsUnavailable(
                "DuckDB's httpfs extension is unavailable; pass cache_dir to download the page store instead"
            )
        cache = Path(cache_dir)
        cache.mkdir(parents=True, exist_ok=True)
        mode, sources = "local-cache", [str(_cached_copy(store, e, cache)) for e in manifest["files"]]
    files = ", ".join(_sql_value(source) for source in sources)
    con.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT * FROM read_parquet([{files}])")
    return PageStoreQuery(connection=con, view=view, mode=mode, sources=sources, manifest=manifest)
