"""Parsing a dumps run in steps: prepare the tables, parse each step's pages, publish the page store.

Three functions, each of which can run in a process (or a Kubernetes pod) of its own, exchanging only object
storage keys and small records:

- :func:`prepare_pages`: the run's SQL tables into ``tables/`` of the page store (as before), and the
  Wikidata item of every page as a small Parquet file sorted by page id under ``steps/{project}/{date}/``;
- :func:`parse_step`: one :class:`~.plan.ParseStep`: the header and the step's byte range of the multistream
  file (a sparse local copy), parsed into page store parts ``part-{step}{n}.parquet``, published at once;
- :func:`publish_pages`: the page store's manifest over every step's parts, in step order, and the
  duplicate pages quarantined.

:func:`wme_assets.ingestion.run.ingest_pages` runs the three in one process; the split job
(``wme_assets/defs/split.py``) runs the steps in parallel. Either way the parts and their bytes are the same.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from wme_assets.ingestion.errors import DumpParseError
from wme_assets.ingestion.multistream import parse_multistream, stream_offsets
from wme_assets.ingestion.page_props import WikibaseItems
from wme_assets.ingestion.plan import ParseStep, plan_parse_steps
from wme_assets.ingestion.tables import IngestedTable, ingest_page_props, ingest_table, table_files
from wme_assets.schema.page import SiteInfo
from wme_assets.sources.dumps_client import PAGE_PROPS_JOB, parse_status
from wme_assets.storage.keys import quarantine_key, raw_key, steps_key
from wme_assets.storage.object_store import ObjectStore, PublishedObject
from wme_assets.storage.page_store import (
    PageStoreWriter,
    page_store_fields,
    page_store_prefix,
    publish_page_store_parts,
)
from wme_assets.storage.parquet_dataset import move_published, publish_part
from wme_assets.util.progress import Progress
from wme_assets.util.sizes import MiB

# Compressed bytes of one parse task at most. The parsed pages of 2 tasks per worker wait in the step's process.
TASK_COMPRESSED_BYTES = MiB
ITEMS_NAME = "wikibase_items.parquet"
_ITEMS_ROWS = 65_536  # rows per row group of the items file: what a step holds of it at a time
_ITEMS_SCHEMA = pa.schema([pa.field("page_id", pa.int64(), nullable=False), pa.field("item", pa.string())])


def siteinfo_record(siteinfo: SiteInfo) -> dict:
    """The dump header as JSON for the page store manifest (namespace ids as strings, as JSON keys are)."""
    return {
        "dbname": siteinfo.dbname,
        "sitename": siteinfo.sitename,
        "base_url": siteinfo.base_url,
        "language": siteinfo.language,
        "case": siteinfo.case,
        "generator": siteinfo.generator,
        "namespaces": {str(ns.id): {"name": ns.name, "case": ns.case} for ns in siteinfo.namespaces.values()},
    }


def _streams_per_task(file_size: int, streams: int, workers: int) -> int:
    """bz2 streams per parse task: about TASK_COMPRESSED_BYTES, fewer for small files (work for every worker)."""
    per_stream = max(1, file_size // max(1, streams))
    target = min(TASK_COMPRESSED_BYTES, max(1, file_size // (4 * max(1, workers))))
    return max(1, target // per_stream)


# ----- preparing ----------------------------------------------------------------------------------------


@dataclass
class PagesPlan:
    """What :func:`prepare_pages` leaves for the steps and the publishing."""

    project: str
    date: str
    steps: list[ParseStep]
    tables: dict[str, dict] = field(default_factory=dict)  # table -> its manifest record
    tables_skipped: dict[str, str] = field(default_factory=dict)  # table -> why it is not there
    items_key: str | None = None  # the Wikidata items by page id (None: the run has no page_props)
    planned_at: float = field(default_factory=time.time)  # wall clock, for the split job's duration_s


def prepare_pages(
    store: ObjectStore,
    project: str,
    date: str,
    *,
    step_bytes: int | None = None,
    work_dir: Path | None = None,
    log: Callable[[str], None] = print,
) -> PagesPlan:
    """Plan the run's steps; publish its tables beside the page store and its Wikidata items for the steps."""
    status = parse_status(store.read_bytes(store.key(raw_key(project, date, "dumpstatus.json"))))
    steps = plan_parse_steps(status, project, date, **({"step_bytes": step_bytes} if step_bytes else {}))
    plan = PagesPlan(project, date, steps)
    with tempfile.TemporaryDirectory(prefix=f"wme-tables-{project}-{date}-", dir=work_dir) as tmp:
        tmp_dir = Path(tmp)
        ingested: list[IngestedTable] = []
        for name in status.jobs[PAGE_PROPS_JOB].files:
            path = store.download_file(store.key(raw_key(project, date, name)), tmp_dir / name)
            items, props = ingest_page_props(path, tmp_dir / "tables" / "page_props.parquet", name=name)
            ingested.append(props)
            log(f"{name}: {len(items)} pages with a Wikidata item, {props.rows} other properties kept")
            path.unlink()
            plan.items_key = store.key(steps_key(project, date, f"ingest/{ITEMS_NAME}"))
            store.publish_file(_write_items(items, tmp_dir / ITEMS_NAME), plan.items_key)
            del items
        found, skipped = table_files(status, project, date)
        for table, reason in skipped.items():
            log(f"table {table} skipped: {reason}")
        for table, name in sorted(found.items()):
            if store.head(store.key(raw_key(project, date, name))) is None:  # raw zone fetched by an older wme
                skipped[table] = f"{name} is not in the raw zone (re-run raw_dump_files to fetch it)"
                log(f"table {table} skipped: {skipped[table]}")
                continue
            path = store.download_file(store.key(raw_key(project, date, name)), tmp_dir / name)
            try:
                ingested.append(ingest_table(path, table, tmp_dir / "tables" / f"{table}.parquet", name=name))
                log(f"{name}: {ingested[-1].rows} rows ({ingested[-1].shape} shape)")
            except DumpParseError as exc:  # the pages and the other tables are kept; the reason is recorded
                skipped[table] = str(exc)
                log(f"table {table} skipped: {exc}")
            path.unlink()
        plan.tables = _publish_tables(store, project, date, ingested)
        plan.tables_skipped = {t: skipped[t] for t in sorted(skipped)}
    log(f"{project} {date}: {len(steps)} parse steps over {len({s.dump_name for s in steps})} multistream files")
    return plan


def _write_items(items: WikibaseItems, path: Path) -> Path:
    """The page id -> QID mapping as Parquet, in row groups sorted by page id that a step reads one at a time
    (the rare values that are not Q-numbers in a last group of their own)."""
    pages, numbers, other = items.arrays()
    with pq.ParquetWriter(path, _ITEMS_SCHEMA, compression="zstd") as writer:
        for start in range(0, len(pages), _ITEMS_ROWS):
            chunk = pages[start : start + _ITEMS_ROWS]
            qids = [f"Q{n}" for n in numbers[start : start + _ITEMS_ROWS]]
            writer.write_table(pa.table({"page_id": pa.array(chunk, pa.int64()), "item": qids}, schema=_ITEMS_SCHEMA))
        if other:
            ids = sorted(other)
            writer.write_table(pa.table({"page_id": ids, "item": [other[i] for i in ids]}, schema=_ITEMS_SCHEMA))
    return path


class ItemLookup:
    """Page id -> QID from the items file, holding at most two row groups (those the page ids are in)."""

    def __init__(self, path: Path | None):
        self._file = pq.ParquetFile(path) if path else None
        self._ranges = []
        if self._file is not None:
            for group in range(self._file.num_row_groups):
                stats = self._file.metadata.row_group(group).column(0).statistics
                self._ranges.append((stats.min, stats.max))
        self._loaded: dict[int, dict[int, str]] = {}

    def get(self, page_id: int) -> str | None:
        for group, (low, high) in enumerate(self._ranges):
            if low <= page_id <= high:
                if group not in self._loaded:
                    if len(self._loaded) >= 2:
                        self._loaded.pop(next(iter(self._loaded)))
                    columns = self._file.read_row_group(group).to_pydict()
                    self._loaded[group] = dict(zip(columns["page_id"], columns["item"], strict=True))
                if (item := self._loaded[group].get(page_id)) is not None:
                    return item
        return None


def _publish_tables(store: ObjectStore, project: str, date: str, ingested: list[IngestedTable]) -> dict[str, dict]:
    """Each table's Parquet file in the steps' scratch (:func:`publish_pages` moves it beside the page store's
    parts); its record for the manifest."""
    records = {}
    for table in sorted(ingested, key=lambda t: t.table):
        key = store.key(steps_key(project, date, f"ingest/tables/{table.table}.parquet"))
        published = store.publish_file(table.path, key)
        records[table.table] = {
            "key": key,
            "sha256": published.sha256,
            "size": published.size,
            "rows": table.rows,
            "shape": table.shape,
            "source": table.source,
        }
    return records


# ----- one step -----------------------------------------------------------------------------------------


@dataclass
class ParseStepResult:
    """What one step published: its part files' manifest entries and its share of the summary."""

    step: ParseStep
    entries: list[dict] = field(default_factory=list)
    pages_read: int = 0  # <page> elements the parser read, duplicates included
    rows: int = 0
    pages_per_namespace: dict[int, int] = field(default_factory=dict)
    redirects: int = 0
    text_bytes: int = 0
    wikibase_items: int = 0
    duplicates: list[dict] = field(default_factory=list)
    duplicate_count: int = 0
    ascending: bool = True
    min_page_id: int | None = None
    max_page_id: int | None = None
    siteinfo: dict | None = None
    xml_bytes: int = 0  # compressed bytes of the step's streams
    seconds: float = 0.0


def _download_range(store: ObjectStore, key: str, path: Path, header_end: int, start: int, end: int | None) -> None:
    """A sparse copy of the object at ``key``: its first ``header_end`` bytes and ``[start, end)``, at their
    offsets, in a file of the object's size (offsets in the index stay valid; the rest is a hole on disk)."""
    info = store.head(key)
    if info is None:
        raise FileNotFoundError(f"{store.uri(key)} is not in the raw zone (re-run raw_dump_files to fetch it)")
    size = info.size
    end = size if end is None else end
    with path.open("wb") as out:
        for low, high in ((0, header_end), (start, end)):
            if high <= low:
                continue
            out.seek(low)
            body = store.open(key, low, high - 1)
            while chunk := body.read(MiB):
                out.write(chunk)
        out.truncate(size)


def parse_step(
    store: ObjectStore,
    project: str,
    date: str,
    step: ParseStep,
    *,
    items_key: str | None,
    workers: int | None = None,
    work_dir: Path | None = None,
    log: Callable[[str], None] = print,
) -> ParseStepResult:
    """Parse one step's pages into page store parts, published to the steps' scratch (:func:`publish_pages`
    moves them into the page store: nothing is there before every step has succeeded)."""
    started = time.monotonic()
    result = ParseStepResult(step)
    with tempfile.TemporaryDirectory(prefix=f"wme-step-{project}-{date}-{step.number}-", dir=work_dir) as tmp:
        tmp_dir = Path(tmp)
        dump_key = store.key(raw_key(project, date, step.dump_name))
        index = store.download_file(store.key(raw_key(project, date, step.index_name)), tmp_dir / step.index_name)
        offsets = stream_offsets(index)
        if not offsets:
            raise DumpParseError(f"{step.index_name}: the multistream index is empty", name=step.index_name)
        first, stop = step.streams(len(offsets))
        items_path = store.download_file(items_key, tmp_dir / ITEMS_NAME) if items_key else None
        writer = PageStoreWriter(tmp_dir / "parquet", project=project, dump_date=date)
        try:
            if first < stop:
                dump = tmp_dir / step.dump_name
                end = offsets[stop] if stop < len(offsets) else None
                _download_range(store, dump_key, dump, offsets[0], offsets[first], end)
                result.xml_bytes = (end or dump.stat().st_size) - offsets[first]
                reader = parse_multistream(dump, index, workers=workers, streams=(first, stop))
                reader.streams_per_task = _streams_per_task(result.xml_bytes, stop - first, reader.workers)
                result.siteinfo = siteinfo_record(reader.siteinfo)
                items = ItemLookup(items_path)
                progress = Progress(f"parsing {step.describe()}", stop - first, log, unit="streams")
                for rows in reader.row_batches():
                    page_items = [items.get(page_id) for page_id in rows.column("page_id").to_pylist()]
                    writer.add_rows(rows, source_file=step.dump_name, wikibase_items=page_items)
                    progress.update(reader.streams_read)
                result.pages_read = reader.pages_read
            summary = writer.close()
        except BaseException:
            writer.abort()
            raise
        for number, file in enumerate(summary.files):
            entry, _ = publish_part(store, file.path, steps_key(project, date, "ingest/pages"), step.part_name(number))
            result.entries.append(entry)
    result.rows, result.redirects, result.text_bytes = summary.rows, summary.redirects, summary.text_bytes
    result.pages_per_namespace = dict(summary.pages_per_namespace)
    result.wikibase_items, result.ascending = summary.wikibase_items, summary.ascending
    result.duplicates = [d.__dict__ for d in summary.duplicates]
    result.duplicate_count = summary.duplicate_count
    ids = [(f.min_page_id, f.max_page_id) for f in summary.files if f.min_page_id is not None]
    if ids:
        result.min_page_id, result.max_page_id = min(i[0] for i in ids), max(i[1] for i in ids)
    result.seconds = time.monotonic() - started
    log(f"{step.describe()}: {result.pages_read} pages parsed into {len(result.entries)} parts")
    return result


# ----- publishing ---------------------------------------------------------------------------------------


@dataclass
class PagesPublished:
    results: list[ParseStepResult]
    summary: dict  # the manifest's summary record
    siteinfo: dict | None
    objects: list[PublishedObject]
    quarantined: PublishedObject | None

    @property
    def rows(self) -> int:
        return sum(r.rows for r in self.results)

    @property
    def pages_read(self) -> int:
        return sum(r.pages_read for r in self.results)


def publish_pages(
    store: ObjectStore, plan: PagesPlan, results: list[ParseStepResult], *, log: Callable[[str], None] = print
) -> PagesPublished:
    """The page store's manifest over every step's parts, in step order; duplicates quarantined; the steps'
    scratch files removed."""
    project, date = plan.project, plan.date
    results = sorted(results, key=lambda r: r.step.number)
    if [r.step.number for r in results] != [s.number for s in plan.steps]:
        raise ValueError(f"{project} {date}: the steps' results {[r.step.key for r in results]} do not match the plan")
    _check_disjoint(results, project, date)
    siteinfo = next((r.siteinfo for r in results if r.siteinfo), None)
    namespaces: Counter[int] = Counter()
    for r in results:
        namespaces.update({int(ns): n for ns, n in r.pages_per_namespace.items()})
    duplicates = [d for r in results for d in r.duplicates]
    summary = {
        "pages_per_namespace": {str(ns): n for ns, n in sorted(namespaces.items())},
        "redirects": sum(r.redirects for r in results),
        "text_bytes": sum(r.text_bytes for r in results),
        "wikibase_items": sum(r.wikibase_items for r in results),
        "duplicate_count": sum(r.duplicate_count for r in results),
        "duplicate_page_ids": [d["page_id"] for d in duplicates],
        "ascending": all(r.ascending for r in results) and _ranges_ascend(results),
    }
    prefix = page_store_prefix(project, date)
    tables = {}
    for name, record in plan.tables.items():
        key = move_published(store, record["key"], store.key(prefix, f"tables/{name}.parquet"), record)
        tables[name] = {**record, "key": key}
    fields = page_store_fields(
        project, date, summary=summary, siteinfo=siteinfo, tables=tables, tables_skipped=plan.tables_skipped
    )
    entries = []
    for entry in (e for r in results for e in r.entries):
        key = move_published(store, entry["key"], store.key(prefix, entry["name"]), entry)
        entries.append({**entry, "key": key, "uri": store.uri(key)})
    objects = publish_page_store_parts(store, page_store_prefix(project, date), entries, fields)
    quarantined = None
    if duplicates:
        lines = b"".join(orjson.dumps(d) + b"\n" for d in duplicates)
        quarantined = store.put_bytes(
            store.key(quarantine_key(project, date, "duplicate_pages.ndjson")),
            lines,
            content_type="application/x-ndjson",
        )
        log(f"{summary['duplicate_count']} duplicate page ids quarantined at {quarantined.uri}")
    store.delete_prefix(store.key(steps_key(project, date, "ingest")) + "/")
    return PagesPublished(results, summary, siteinfo, objects, quarantined)


def _ranges_ascend(results: list[ParseStepResult]) -> bool:
    ranges = [(r.min_page_id, r.max_page_id) for r in results if r.min_page_id is not None]
    return all(a[1] < b[0] for a, b in zip(ranges, ranges[1:], strict=False))


def _check_disjoint(results: list[ParseStepResult], project: str, date: str) -> None:
    """Steps whose page id ranges overlap could hold the same page twice, which no single step can see."""
    ranges = sorted(
        ((r.min_page_id, r.max_page_id, r.step) for r in results if r.min_page_id is not None), key=lambda x: x[:2]
    )
    for (_, high, step), (low, _, other) in zip(ranges, ranges[1:], strict=False):
        if low <= high:
            raise DumpParseError(
                f"{project} {date}: page ids of {step.describe()} (up to {high}) and of {other.describe()} "
                f"(from {low}) overlap; a dumps run lists each page once, in page id order"
            )
