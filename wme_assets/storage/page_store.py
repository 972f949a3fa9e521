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

What is not specific to pages (part files, publishing with the manifest last, manifests, DuckDB, the
cache) lives in :mod:`wme_assets.storage.parquet_dataset`; this module adds the page schema, the writer
and thin wrappers that keep the page store's names.
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from wme_assets.ingestion.dump_xml import Page
from wme_assets.settings import validate_project
from wme_assets.storage.object_store import ObjectStore, PublishedObject
from wme_assets.storage.parquet_dataset import (
    MANIFEST_NAME,
    DatasetQuery,
    DuckDBHttpfsUnavailable,
    PartFile,
    cached_files,
    duckdb_connect_s3,
    duckdb_s3_settings,
    part_paths,
    publish_dataset,
    query_dataset,
    schema_fingerprint,
)
from wme_assets.storage.parquet_dataset import read_manifest as read_dataset_manifest
from wme_assets.storage.parquet_writer import BufferedPartWriter, PartFormat, StoreWriter

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
    "cached_page_files",
    "duckdb_connect_s3",
    "duckdb_s3_settings",
    "page_store_prefix",
    "publish_page_store",
    "query_page_store",
    "read_manifest",
    "read_page_store_manifest",
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

# The files' own metadata carries the fingerprint; the writer adds each file's provenance.
_PART_FORMAT = PartFormat(
    PAGE_SCHEMA.with_metadata({**PAGE_SCHEMA.metadata, b"wme.page_store.fingerprint": SCHEMA_FINGERPRINT.encode()}),
    dictionary_columns=_DICTIONARY_COLUMNS,
    statistics_columns=_STATISTICS_COLUMNS,
    what="page store",
)

MANIFEST_FORMAT = "wme.page_store"
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

    @classmethod
    def from_part(cls, part: PartFile) -> PageStoreFile:
        return cls(
            name=part.name,
            path=part.path,
            rows=part.rows,
            row_groups=part.row_groups,
            size_bytes=part.size_bytes,
            text_bytes=part.payload_bytes,
            min_page_id=part.min_key,
            max_page_id=part.max_key,
        )


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


class PageStoreWriter(StoreWriter):
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
        # 8 MiB: the writer's buffer (Python strings, then their Arrow copy) and every reader's row group
        # stay a few tens of MB whatever the dump; enwiki's ~90 GB of wikitext is still only ~11k groups.
        batch_text_bytes: int = 8 * MiB,
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
        self.project = project
        self.dump_date = dump_date
        self.rows_per_file = rows_per_file
        self.max_file_bytes = max_file_bytes
        self.rows_per_batch = rows_per_batch
        self.batch_text_bytes = batch_text_bytes
        self.compression_level = compression_level
        # The payload that counts against the batch budget is the wikitext.
        self._buffer = BufferedPartWriter(
            self.out_dir, _PART_FORMAT, provenance={"project": project, "dump_date": dump_date},
            rows_per_batch=rows_per_batch, batch_bytes=batch_text_bytes, rows_per_file=rows_per_file,
            max_file_bytes=max_file_bytes, compression_level=compression_level,
        )
        self._seen = _PageIdSet()
        self._last_page_id: int | None = None
        self._closed = False

        # Totals for the summary.
        self._namespaces: Counter[int] = Counter()
        self._redirects = 0
        self._text_bytes = 0
        self._qids = 0
        self._duplicates: list[DuplicatePage] = []
        self._duplicate_count = 0
        self._ascending = True
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
        self._buffer.make_room(text_bytes)
        c = self._buffer.columns
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

        self._largest_page_text = max(self._largest_page_text, text_bytes)
        self._namespaces[page.ns] += 1
        self._redirects += c["is_redirect"][-1]
        self._text_bytes += text_bytes
        self._qids += wikibase_item is not None
        self._buffer.row_added(text_bytes)
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

    def close(self) -> PageStoreSummary:
        """Write what is buffered, finish the last file and return the summary."""
        if not self._closed:
            self._buffer.close()
            self._closed = True
        buffer = self._buffer
        return PageStoreSummary(
            project=self.project,
            dump_date=self.dump_date,
            out_dir=self.out_dir,
            files=[PageStoreFile.from_part(f) for f in buffer.files],
            rows=buffer.rows,
            pages_per_namespace=dict(sorted(self._namespaces.items())),
            redirects=self._redirects,
            text_bytes=self._text_bytes,
            wikibase_items=self._qids,
            duplicates=list(self._duplicates),
            duplicate_count=self._duplicate_count,
            ascending=self._ascending,
            max_buffered_rows=buffer.max_buffered_rows,
            max_buffered_text_bytes=buffer.max_buffered_bytes,
            largest_page_text_bytes=self._largest_page_text,
        )


# --------------------------------------------------------------------------------------------------
# Publishing
# --------------------------------------------------------------------------------------------------


def publish_page_store(
    store: ObjectStore,
    local_dir: str | os.PathLike[str],
    key_prefix: str,
    *,
    summary: PageStoreSummary | None = None,
    siteinfo: Mapping[str, Any] | None = None,
) -> list[PublishedObject]:
    """Upload the ``part-*.parquet`` files of ``local_dir`` under ``key_prefix``, then ``_manifest.json``.

    ``siteinfo`` (the dump's header: dbname, base URL, language, namespace names) is kept in the manifest
    for the stages that need the wiki's names, e.g. ``Category`` in its local spelling.

    ``key_prefix`` is relative to the store's prefix (:func:`page_store_prefix`). Every file is
    published atomically (staged, verified, copied); the manifest comes last, so a reader that starts
    from the manifest only ever sees complete page stores. Part files of an earlier publish under the
    same prefix that are not in the new manifest are deleted after it. Returns the published objects,
    the manifest last.
    """
    if summary is not None:
        project, dump_date = summary.project, summary.dump_date
    else:
        # Without a summary, the provenance every file carries in its metadata names the page store.
        project = dump_date = None
        for path in part_paths(local_dir):
            meta = pq.read_schema(path).metadata or {}
            project = project or meta.get(b"wme.project", b"").decode() or None
            dump_date = dump_date or meta.get(b"wme.dump_date", b"").decode() or None
    fields: dict[str, Any] = {"project": project, "dump_date": dump_date}
    if siteinfo is not None:
        fields["siteinfo"] = dict(siteinfo)
    if summary is not None:
        fields["summary"] = {
            "pages_per_namespace": {str(ns): n for ns, n in sorted(summary.pages_per_namespace.items())},
            "redirects": summary.redirects,
            "text_bytes": summary.text_bytes,
            "wikibase_items": summary.wikibase_items,
            "duplicate_count": summary.duplicate_count,
            "duplicate_page_ids": [d.page_id for d in summary.duplicates],
            "ascending": summary.ascending,
        }
    published = publish_dataset(
        store,
        local_dir,
        key_prefix,
        schema=PAGE_SCHEMA,
        format=MANIFEST_FORMAT,
        schema_version=SCHEMA_VERSION,
        fields=fields,
        what="page store",
    )
    return published.objects


def read_manifest(store: ObjectStore, key_prefix: str) -> dict[str, Any]:
    """The ``_manifest.json`` of a published page store, checked against this code's schema."""
    return read_dataset_manifest(
        store, key_prefix, format=MANIFEST_FORMAT, fingerprint=SCHEMA_FINGERPRINT, what="page store"
    )


def read_page_store_manifest(store: ObjectStore, project: str, date: str) -> dict[str, Any]:
    """The checked manifest of the page store of ``project``'s dump of ``date``: where a reading stage starts."""
    return read_manifest(store, page_store_prefix(project, date))


def cached_page_files(
    store: ObjectStore, manifest: Mapping[str, Any], cache_dir: str | os.PathLike[str]
) -> list[Path]:
    """The manifest's part files in its order, downloaded into ``cache_dir`` (by SHA-256, verified, reused)."""
    return cached_files(store, manifest, cache_dir)


# --------------------------------------------------------------------------------------------------
# DuckDB
# --------------------------------------------------------------------------------------------------

# A page store query is a dataset query; the old name stays for callers.
PageStoreQuery = DatasetQuery


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
    return query_dataset(
        store,
        key_prefix,
        manifest=read_manifest(store, key_prefix),
        cache_dir=cache_dir,
        connection=connection,
        view=view,
        use_httpfs=use_httpfs,
    )
