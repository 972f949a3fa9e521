"""From the raw zone to the page store: parse a stored dumps run into Parquet, one row per page.

Reads ``raw/{project}/{date}/``: every multistream part with its index (parsed in parallel worker
processes, in dump order) and the page_props table (the Wikidata id of each page, joined in). Writes
``pages/{project}/{date}/part-*.parquet`` plus its manifest, and the run's SQL tables (:mod:`.tables`:
page_props' other properties, and each optional table the run has) as ``tables/{table}.parquet`` beside
them, named in the manifest's ``tables`` (a table the run lacks, or that does not parse, in
``tables_skipped`` with the reason). A page id seen twice is kept once and the
duplicate goes to ``quarantine/{project}/{date}/duplicate_pages.ndjson``, counted, never dropped silently.
A truncated or corrupt file fails the whole partition with the file name and offset: keeping the good
part of a broken dump is not something to do silently.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from wme_assets.ingestion.errors import DumpParseError
from wme_assets.ingestion.multistream import parse_multistream
from wme_assets.ingestion.tables import IngestedTable, ingest_page_props, ingest_table, table_files
from wme_assets.schema.page import SiteInfo
from wme_assets.sources.dumps_client import (
    CONTENT_JOB,
    PAGE_PROPS_JOB,
    DumpRunStatus,
    DumpsError,
    parse_status,
)
from wme_assets.storage.keys import quarantine_key, raw_key
from wme_assets.storage.object_store import ObjectStore, PublishedObject
from wme_assets.storage.page_store import (
    PageStoreSummary,
    PageStoreWriter,
    page_store_prefix,
    publish_page_store,
)
from wme_assets.util.progress import Progress
from wme_assets.util.sizes import MiB

# `{db}-{date}-pages-articles-multistream[N].xml[-pApB].bz2` and its index
# `{db}-{date}-pages-articles-multistream-index[N].txt[-pApB].bz2`, paired by part number and range.
_CONTENT = re.compile(r"-pages-articles-multistream(?P<part>\d*)\.xml(?P<range>-p\d+p\d+)?\.bz2$")
_INDEX = re.compile(r"-pages-articles-multistream-index(?P<part>\d*)\.txt(?P<range>-p\d+p\d+)?\.bz2$")


@dataclass
class MultistreamPart:
    dump_name: str
    index_name: str


@dataclass
class PageIngestResult:
    summary: PageStoreSummary
    pages_read: int  # <page> elements the parser read, duplicates included
    parts: list[MultistreamPart]
    published: list[PublishedObject]
    quarantined: PublishedObject | None
    xml_bytes: int  # compressed bytes of the multistream parts read
    seconds: float
    tables: dict[str, dict] = field(default_factory=dict)  # table -> its manifest record
    tables_skipped: dict[str, str] = field(default_factory=dict)  # table -> why it is not there

    @property
    def prefix(self) -> str:
        return page_store_prefix(self.summary.project, self.summary.dump_date)


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


def multistream_parts(status: DumpRunStatus, project: str, date: str) -> list[MultistreamPart]:
    """The run's multistream parts with their indexes, in part order (one pair on small wikis)."""
    files = status.jobs[CONTENT_JOB].files
    dumps, indexes = {}, {}
    for name in files:
        if match := _CONTENT.search(name):
            dumps[(int(match["part"] or 0), match["range"] or "")] = name
        elif match := _INDEX.search(name):
            indexes[(int(match["part"] or 0), match["range"] or "")] = name
    if not dumps or dumps.keys() != indexes.keys():
        raise DumpsError(
            f"{project} {date}: multistream parts and indexes do not pair up "
            f"(parts {sorted(dumps.values())}, indexes {sorted(indexes.values())})"
        )
    return [MultistreamPart(dumps[key], indexes[key]) for key in sorted(dumps)]


# Compressed bytes of one parse task at most. The parsed pages of 2 tasks per worker wait in this process;
# the reader's own default (4 MB, or an eighth of the file per worker) makes that grow with the file up to
# ~80 MB of XML per task on a large dump.
TASK_COMPRESSED_BYTES = MiB


def _streams_per_task(file_size: int, streams: int, workers: int) -> int:
    """bz2 streams per parse task: about TASK_COMPRESSED_BYTES, fewer for small files (work for every worker)."""
    per_stream = max(1, file_size // max(1, streams))
    target = min(TASK_COMPRESSED_BYTES, max(1, file_size // (4 * max(1, workers))))
    return max(1, target // per_stream)


def ingest_pages(
    store: ObjectStore,
    project: str,
    date: str,
    *,
    workers: int | None = None,
    work_dir: Path | None = None,
    log: Callable[[str], None] = print,
) -> PageIngestResult:
    started = time.monotonic()
    status = parse_status(store.read_bytes(store.key(raw_key(project, date, "dumpstatus.json"))))
    parts = multistream_parts(status, project, date)
    page_props_names = list(status.jobs[PAGE_PROPS_JOB].files)
    with tempfile.TemporaryDirectory(prefix=f"wme-pages-{project}-{date}-", dir=work_dir) as tmp:
        tmp_dir = Path(tmp)
        items = {}
        ingested: list[IngestedTable] = []
        for name in page_props_names:
            path = store.download_file(store.key(raw_key(project, date, name)), tmp_dir / name)
            items, props = ingest_page_props(path, tmp_dir / "tables" / "page_props.parquet", name=name)
            ingested.append(props)
            log(f"{name}: {len(items)} pages with a Wikidata item, {props.rows} other properties kept")
            path.unlink()
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
        pages_read = xml_bytes = 0
        siteinfo = None
        out_dir = tmp_dir / "parquet"
        writer = PageStoreWriter(out_dir, project=project, dump_date=date)
        try:
            for part in parts:
                dump = store.download_file(store.key(raw_key(project, date, part.dump_name)), tmp_dir / part.dump_name)
                index = store.download_file(
                    store.key(raw_key(project, date, part.index_name)), tmp_dir / part.index_name
                )
                xml_bytes += dump.stat().st_size
                reader = parse_multistream(dump, index, workers=workers)
                reader.streams_per_task = _streams_per_task(dump.stat().st_size, len(reader.offsets), reader.workers)
                siteinfo = siteinfo or siteinfo_record(reader.siteinfo)
                # Progress in bz2 streams of the index (about 100 pages each): the page count is not known
                # before the end.
                progress = Progress(f"parsing {part.dump_name}", len(reader.offsets), log, unit="streams")
                for page in reader:
                    writer.add(page, source_file=part.dump_name, wikibase_item=items.get(page.id))
                    progress.update(reader.streams_read)
                pages_read += reader.pages_read
                log(f"{part.dump_name}: {reader.pages_read} pages parsed")
                dump.unlink()  # keep local disk to one part at a time
                index.unlink()
            summary = writer.close()
        except BaseException:
            writer.abort()
            raise
        tables = _publish_tables(store, project, date, ingested)
        published = publish_page_store(
            store,
            out_dir,
            page_store_prefix(project, date),
            summary=summary,
            siteinfo=siteinfo,
            tables=tables,
            tables_skipped={t: skipped[t] for t in sorted(skipped)},
        )
        quarantined = None
        if summary.duplicate_count:
            lines = b"".join(orjson.dumps(d.__dict__) + b"\n" for d in summary.duplicates)
            quarantined = store.put_bytes(
                store.key(quarantine_key(project, date, "duplicate_pages.ndjson")),
                lines,
                content_type="application/x-ndjson",
            )
            log(f"{summary.duplicate_count} duplicate page ids quarantined at {quarantined.uri}")
        shutil.rmtree(out_dir, ignore_errors=True)
    return PageIngestResult(
        summary=summary,
        pages_read=pages_read,
        parts=parts,
        published=published,
        quarantined=quarantined,
        xml_bytes=xml_bytes,
        seconds=time.monotonic() - started,
        tables=tables,
        tables_skipped=skipped,
    )


def _publish_tables(store: ObjectStore, project: str, date: str, ingested: list[IngestedTable]) -> dict[str, dict]:
    """Each table's Parquet file beside the page store's parts; its record for the manifest."""
    records = {}
    for table in sorted(ingested, key=lambda t: t.table):
        key = store.key(page_store_prefix(project, date) + f"tables/{table.table}.parquet")
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
