"""Writing pages to local part files: :class:`PageStoreWriter`, its summary and the duplicate-page check.

Rows are buffered by the shared :class:`~wme_assets.storage.parquet_writer.BufferedPartWriter`; publishing the
files is :mod:`.publish`'s job.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from wme_assets.schema.page import Page
from wme_assets.settings import validate_project
from wme_assets.storage.page_store.layout import (
    _PART_FORMAT,
    PAGE_SCHEMA,
    SCHEMA_FINGERPRINT,
)
from wme_assets.storage.parquet_dataset import PartFile
from wme_assets.storage.parquet_writer import STORE_ZSTD_LEVEL, BufferedPartWriter, StoreWriter
from wme_assets.util.dates import check_yyyymmdd
from wme_assets.util.sizes import MiB

log = logging.getLogger(__name__)


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


# The columns that come from the dump's pages alone: every page store column but the four the writer adds (the
# Wikidata item joined in, and the row's provenance).
_ADDED_COLUMNS = ("wikibase_item", "project", "dump_date", "source_file")
PAGE_ROW_SCHEMA = pa.schema([f for f in PAGE_SCHEMA if f.name not in _ADDED_COLUMNS])


def page_rows(pages: list[Page]) -> pa.RecordBatch:
    """The pages' :data:`PAGE_ROW_SCHEMA` columns, as :meth:`PageStoreWriter.add` would buffer them.

    Parse workers send these to the writer's process instead of the pages: an Arrow batch crosses a pipe as a
    few buffers, where pickled pages are re-encoded text that the writer then encoded again for Arrow."""
    revs = [page.latest for page in pages]
    texts = [rev.text if rev else None for rev in revs]
    text = pa.array(texts, PAGE_ROW_SCHEMA.field("text").type)
    lengths = pc.binary_length(text).to_pylist()  # UTF-8 bytes from the Arrow offsets: no second encoding
    columns = {
        "page_id": [page.id for page in pages],
        "namespace": [page.ns for page in pages],
        "title": [page.title for page in pages],
        "redirect_target": [page.redirect_target for page in pages],
        "is_redirect": [page.is_redirect or page.redirect_target is not None for page in pages],
        "revision_id": [rev.id if rev else None for rev in revs],
        "parent_revision_id": [rev.parent_id if rev else None for rev in revs],
        "timestamp": [_timestamp(rev.timestamp, page) if rev else None for page, rev in zip(pages, revs, strict=True)],
        "contributor_name": [rev.contributor_name if rev else None for rev in revs],
        "contributor_id": [rev.contributor_id if rev else None for rev in revs],
        "contributor_ip": [rev.contributor_ip if rev else None for rev in revs],
        "contributor_deleted": [bool(rev and rev.contributor_deleted) for rev in revs],
        "is_minor": [bool(rev and rev.minor) for rev in revs],
        "comment": [rev.comment if rev else None for rev in revs],
        "comment_deleted": [bool(rev and rev.comment_deleted) for rev in revs],
        "content_model": [rev.model if rev else None for rev in revs],
        "content_format": [rev.format if rev else None for rev in revs],
        "sha1": [rev.sha1 if rev else None for rev in revs],
        "size_bytes": [
            rev.size if rev and rev.size is not None else length for rev, length in zip(revs, lengths, strict=True)
        ],
        "text": text,
        "text_deleted": [bool(rev and rev.text_deleted) for rev in revs],
    }
    arrays = [
        value if isinstance(value, pa.Array) else pa.array(value, field.type)
        for field, value in zip(PAGE_ROW_SCHEMA, columns.values(), strict=True)
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=PAGE_ROW_SCHEMA)


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
        compression_level: int = STORE_ZSTD_LEVEL,
    ) -> None:
        validate_project(project)
        check_yyyymmdd(dump_date, "dump date")
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
        # add_rows' buffer: slices of the batches given, the rows kept in order, written as one row group when
        # full. The same budgets as add()'s buffer, so the same rows make the same row groups either way.
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0
        self._pending_bytes = 0
        self._max_pending_rows = 0
        self._max_pending_bytes = 0
        self._took: str | None = None  # "pages" or "rows", once given either

    # -- adding pages --------------------------------------------------------------------------

    def add(self, page: Page, *, source_file: str, wikibase_item: str | None = None) -> bool:
        """Buffer one page (its latest revision); False if its id was already written (a duplicate)."""
        if self._closed:
            raise RuntimeError("the page store writer is closed")
        self._take("pages")
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

    def add_rows(
        self, rows: pa.RecordBatch, *, source_file: str, wikibase_items: list[str | None] | None = None
    ) -> int:
        """Buffer pages given as :func:`page_rows` columns, with each row's Wikidata item; returns the rows kept.

        The same rows, row groups, duplicates and summary as :meth:`add` with each page in turn (a writer takes
        pages one way only); the per-row work left here is the duplicate check and the row group cut."""
        if self._closed:
            raise RuntimeError("the page store writer is closed")
        self._take("rows")
        if rows.schema != PAGE_ROW_SCHEMA:
            raise ValueError(f"rows do not have the page row schema: {rows.schema}")
        n = rows.num_rows
        items = wikibase_items if wikibase_items is not None else [None] * n
        if len(items) != n:
            raise ValueError(f"{len(items)} Wikidata items for {n} rows")
        rows = self._with_added_columns(rows, source_file, items)
        page_ids = rows.column("page_id").to_pylist()
        sizes = [size or 0 for size in pc.binary_length(rows.column("text")).to_pylist()]
        run_start = None  # first row of the run of kept rows not yet in _pending
        kept = 0
        limit = self.batch_text_bytes
        for i, (page_id, size) in enumerate(zip(page_ids, sizes, strict=True)):
            if not self._seen.add(page_id):
                if run_start is not None:
                    self._pending.append(rows.slice(run_start, i - run_start))
                    run_start = None
                self._duplicate_row(rows, i, source_file)
                continue
            if self._last_page_id is not None and page_id <= self._last_page_id:
                self._ascending = False
            self._last_page_id = page_id
            if self._pending_rows and self._pending_bytes + size > limit:  # as BufferedPartWriter.make_room
                if run_start is not None:
                    self._pending.append(rows.slice(run_start, i - run_start))
                    run_start = None
                self._flush_rows()
            if run_start is None:
                run_start = i
            kept += 1
            self._pending_rows += 1
            self._pending_bytes += size
            self._largest_page_text = max(self._largest_page_text, size)
            self._max_pending_rows = max(self._max_pending_rows, self._pending_rows)
            self._max_pending_bytes = max(self._max_pending_bytes, self._pending_bytes)
            # As BufferedPartWriter.row_added: a full batch, or the end of a file, ends the row group.
            if self._pending_rows >= min(self.rows_per_batch, self._buffer.room_in_file) or (
                self._pending_bytes >= limit
            ):
                self._pending.append(rows.slice(run_start, i + 1 - run_start))
                run_start = None
                self._flush_rows()
        if run_start is not None:
            self._pending.append(rows.slice(run_start, n - run_start))
        return kept

    def _take(self, way: str) -> None:
        # Mixed, the two buffers would cut row groups where a writer taking one way would not.
        if self._took not in (None, way):
            raise RuntimeError("a page store writer takes pages (add) or row batches (add_rows), not both")
        self._took = way

    def _with_added_columns(self, rows: pa.RecordBatch, source_file: str, items: list[str | None]) -> pa.RecordBatch:
        n = rows.num_rows
        added = {
            "wikibase_item": pa.array(items, pa.string()),
            "project": pa.array([self.project] * n, pa.string()),
            "dump_date": pa.array([self.dump_date] * n, pa.string()),
            "source_file": pa.array([source_file] * n, pa.string()),
        }
        schema = self._buffer.schema
        arrays = [added[name] if name in added else rows.column(name) for name in schema.names]
        return pa.RecordBatch.from_arrays(arrays, schema=schema)

    def _duplicate_row(self, rows: pa.RecordBatch, i: int, source_file: str) -> None:
        page_id, title = rows.column("page_id")[i].as_py(), rows.column("title")[i].as_py()
        self._duplicate_count += 1
        if len(self._duplicates) < MAX_REPORTED_DUPLICATES:
            namespace, revision_id = rows.column("namespace")[i].as_py(), rows.column("revision_id")[i].as_py()
            self._duplicates.append(DuplicatePage(page_id, namespace, title, revision_id, source_file))
        log.warning("%s: page id %d (%r) appears again; keeping the first", source_file, page_id, title)

    def _flush_rows(self) -> None:
        """Write add_rows' buffer as one row group (one contiguous batch, as add()'s buffer writes) and count it."""
        if not self._pending_rows:
            return
        table = pa.Table.from_batches(self._pending, schema=self._buffer.schema).combine_chunks()
        batch = table.to_batches()[0]
        self._pending = []
        for value in pc.value_counts(batch.column("namespace")).to_pylist():
            self._namespaces[value["values"]] += value["counts"]
        self._redirects += pc.sum(batch.column("is_redirect")).as_py() or 0
        self._text_bytes += self._pending_bytes
        self._qids += batch.num_rows - batch.column("wikibase_item").null_count
        self._buffer.write_row_group(batch, payload_bytes=self._pending_bytes)
        self._pending_rows = self._pending_bytes = 0

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
            self._flush_rows()
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
            max_buffered_rows=max(buffer.max_buffered_rows, self._max_pending_rows),
            max_buffered_text_bytes=max(buffer.max_buffered_bytes, self._max_pending_bytes),
            largest_page_text_bytes=self._largest_page_text,
        )
