"""From the raw zone to the page store: parse a stored dumps run into Parquet, one row per page.

Reads ``raw/{project}/{date}/``: every multistream part with its index (in the steps of :mod:`.plan`,
each parsed in parallel worker processes, in dump order) and the page_props table (the Wikidata id of
each page, joined in). Writes ``pages/{project}/{date}/part-*.parquet`` plus its manifest, and the run's
SQL tables (:mod:`.tables`: page_props' other properties, and each optional table the run has) as
``tables/{table}.parquet`` beside them, named in the manifest's ``tables`` (a table the run lacks, or that
does not parse, in ``tables_skipped`` with the reason). A page id seen twice in a step is kept once and
the duplicate goes to ``quarantine/{project}/{date}/duplicate_pages.ndjson``, counted, never dropped
silently; steps whose page id ranges overlap fail the run (a dumps run lists pages in id order). A
truncated or corrupt file fails the whole partition with the file name and offset: keeping the good part
of a broken dump is not something to do silently.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from wme_assets.ingestion.plan import MultistreamPart, multistream_parts
from wme_assets.ingestion.steps import parse_step, prepare_pages, publish_pages, siteinfo_record
from wme_assets.storage.object_store import ObjectStore, PublishedObject
from wme_assets.storage.page_store import page_store_prefix

__all__ = [
    "MultistreamPart", "PageIngestResult", "PagesSummary", "ingest_pages", "multistream_parts", "siteinfo_record"
]


@dataclass
class PagesSummary:
    """What the page store holds (its manifest's summary, with the parts' manifest entries)."""

    project: str
    dump_date: str
    rows: int
    pages_per_namespace: dict[int, int]
    redirects: int
    text_bytes: int
    wikibase_items: int
    duplicate_count: int
    files: list[dict]


@dataclass
class PageIngestResult:
    summary: PagesSummary
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


def ingest_pages(
    store: ObjectStore,
    project: str,
    date: str,
    *,
    workers: int | None = None,
    step_bytes: int | None = None,
    work_dir: Path | None = None,
    log: Callable[[str], None] = print,
) -> PageIngestResult:
    """The run's parse steps (:mod:`.steps`) one after another in this process: the same page store, byte for
    byte, as the split job running them in parallel."""
    started = time.monotonic()
    plan = prepare_pages(store, project, date, step_bytes=step_bytes, work_dir=work_dir, log=log)
    results = [
        parse_step(store, project, date, step, items_key=plan.items_key, workers=workers, work_dir=work_dir, log=log)
        for step in plan.steps
    ]
    published = publish_pages(store, plan, results, log=log)
    return page_ingest_result(plan, published, time.monotonic() - started)


def page_ingest_result(plan, published, seconds: float) -> PageIngestResult:
    """The result of a run's steps as one :class:`PageIngestResult` (in one process or split)."""
    summary = published.summary
    parts = list(dict.fromkeys(MultistreamPart(s.dump_name, s.index_name) for s in plan.steps))
    return PageIngestResult(
        summary=PagesSummary(
            project=plan.project,
            dump_date=plan.date,
            rows=published.rows,
            pages_per_namespace={int(ns): n for ns, n in summary["pages_per_namespace"].items()},
            redirects=summary["redirects"],
            text_bytes=summary["text_bytes"],
            wikibase_items=summary["wikibase_items"],
            duplicate_count=summary["duplicate_count"],
            files=[e for r in published.results for e in r.entries],
        ),
        pages_read=published.pages_read,
        parts=parts,
        published=published.objects,
        quarantined=published.quarantined,
        xml_bytes=sum(r.xml_bytes for r in published.results),
        seconds=seconds,
        tables=plan.tables,
        tables_skipped=plan.tables_skipped,
    )
