"""Enriching a page store in steps: prepare the joins, enrich each part file, publish the article base.

Like the parsing (:mod:`wme_assets.ingestion.steps`), three functions that can each run in a process (or a
Kubernetes pod) of its own, handing each other object storage keys and small records:

- :func:`prepare_articles`: the redirect join and the tables join over the whole page store (they need every
  title; only the columns they read are fetched), written to ``steps/{project}/{date}/enrich/``; one
  :class:`EnrichStep` per part file of the page store, with the ordinal of its first page;
- :func:`enrich_step`: one part file's pages into articles, with its slice of the joins; the article parts
  ``part-{step}{n}.parquet`` published to the steps' scratch;
- :func:`publish_articles`: every step's parts moved under ``base/{date}/`` in step order, one manifest, the
  pointer, the quarantine and the inputs record.

The steps follow the page store's parts, which follow the dumps run: the article base is the same, byte for
byte, however many processes ran them (:func:`wme_assets.enrichment.run.enrich_pages` runs them in one).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

from wme_assets.enrichment.run import (
    ARTICLE_BATCH_BYTES,
    BATCH_ROWS,
    BATCH_TEXT_BYTES,
    EXPORTED_NAMESPACES,
    IN_FLIGHT_PER_WORKER,
    QUARANTINE_NAME,
    REDIRECT_JOIN_COLUMNS,
    EnrichResult,
    _already_built,
    _attach_html,
    _eligible_rows,
    _enrich_batch,
    _init_worker,
    _row_batches,
    _write,
    inputs_fingerprint,
    join_redirects,
    redirect_lists,
)
from wme_assets.enrichment.tables_join import PAGE_COLUMNS, TablesJoin, join_tables, table_rows
from wme_assets.storage.article_store import (
    ArticleStoreWriter,
    base_prefix,
    combine_stats,
    publish_base_parts,
    scan_parts,
    write_inputs_record,
)
from wme_assets.storage.keys import steps_key
from wme_assets.storage.object_store import ObjectStore
from wme_assets.storage.page_store import page_store_prefix, read_page_store_manifest
from wme_assets.storage.parquet_columns import column_copies
from wme_assets.storage.parquet_dataset import cached_copy, move_published, publish_part
from wme_assets.storage.quarantine import clear_quarantine, write_quarantine
from wme_assets.util.progress import Progress
from wme_assets.util.workers import available_cpus, worker_context


@dataclass(frozen=True)
class EnrichStep:
    number: int
    entry: dict  # the page store part's manifest entry
    first_ordinal: int  # ordinal of its first page in the page store

    @property
    def key(self) -> str:
        return f"step_{self.number:05d}"

    @property
    def rows(self) -> int:
        return self.entry["rows"]


@dataclass
class EnrichPlan:
    project: str
    date: str
    run_id: str
    fingerprint: str
    namespaces: tuple[int, ...]
    siteinfo: dict | None = None
    steps: list[EnrichStep] = field(default_factory=list)
    redirects_key: str | None = None
    tables_present: tuple[str, ...] | None = None  # None: the page store has no tables
    tables_keys: dict[str, str] = field(default_factory=dict)  # field group -> its joined rows
    redirects_dangling: int = 0
    up_to_date: EnrichResult | None = None  # the base was built from the same inputs: nothing to do
    planned_at: float = field(default_factory=time.time)  # wall clock, for the split job's duration_s


def _scratch(project: str, date: str, name: str) -> str:
    return steps_key(project, date, f"enrich/{name}")


def prepare_articles(
    store: ObjectStore,
    project: str,
    date: str,
    *,
    run_id: str,
    namespaces: tuple[int, ...] = EXPORTED_NAMESPACES,
    mediawiki_url: str | None = None,
    work_dir: Path | None = None,
    log: Callable[[str], None] = print,
) -> EnrichPlan:
    """The joins over the whole page store, in the steps' scratch, and one step per part file."""
    manifest = read_page_store_manifest(store, project, date)
    fingerprint = inputs_fingerprint(manifest, namespaces, mediawiki_url)
    plan = EnrichPlan(project, date, run_id, fingerprint, tuple(namespaces), manifest.get("siteinfo"))
    result = EnrichResult(project, date, prefix=base_prefix(project, date))
    if _already_built(store, project, date, fingerprint, result):
        log(f"articles of {project} {date} are up to date with their page store and parser; nothing to redo")
        plan.up_to_date = result
        return plan
    if not plan.siteinfo:
        raise ValueError(f"page store {page_store_prefix(project, date)} has no siteinfo: re-run its ingestion")
    ordinal = 0
    for number, entry in enumerate(manifest["files"]):
        plan.steps.append(EnrichStep(number, entry, ordinal))
        ordinal += entry["rows"]
    with tempfile.TemporaryDirectory(prefix=f"wme-joins-{project}-{date}-", dir=work_dir) as tmp:
        # Only the columns the joins read: titles and ids, not the wikitext that is most of the page store.
        files = column_copies(store, manifest, sorted({*REDIRECT_JOIN_COLUMNS, *PAGE_COLUMNS}), Path(tmp) / "pages")
        # DuckDB's buffers and allocator arenas stay out of this process, as in enrich_pages.
        with ProcessPoolExecutor(1, mp_context=worker_context()) as pool:
            joined = pool.submit(join_redirects, files, namespaces, Path(tmp) / "redirects").result()
            plan.redirects_dangling = joined.dangling
            plan.redirects_key = store.key(_scratch(project, date, "redirects.parquet"))
            store.publish_file(joined.path, plan.redirects_key)
            log(
                f"{joined.redirects} redirects to {joined.targets} titles "
                f"({joined.dangling} to missing pages or other redirects)"
            )
            if manifest.get("tables"):
                local = {n: cached_copy(store, r, Path(tmp) / "tables") for n, r in sorted(manifest["tables"].items())}
                names = {int(ns): i.get("name") or "" for ns, i in plan.siteinfo.get("namespaces", {}).items()}
                tables = pool.submit(join_tables, files, local, names, namespaces, Path(tmp) / "join", date=date)
                tables = tables.result()
                log(f"tables {', '.join(tables.present)} joined: pages with each field {tables.counts}")
                plan.tables_present = tables.present
                for group, path in sorted(tables.paths.items()):
                    plan.tables_keys[group] = store.key(_scratch(project, date, f"tables/{group}.parquet"))
                    store.publish_file(path, plan.tables_keys[group])
    log(f"{project} {date}: {len(plan.steps)} enrichment steps")
    return plan


def _slice_ordinals(source: Path, target: Path, low: int, high: int) -> Path:
    """The rows of a join file (sorted by the page ordinal, its first column) with ordinals in ``[low, high)``,
    shifted to start at 0; only the row groups that can hold them are read."""
    parquet = pq.ParquetFile(source)
    column = parquet.schema_arrow.names[0]
    with pq.ParquetWriter(target, parquet.schema_arrow, compression="zstd") as writer:
        for group in range(parquet.num_row_groups):
            stats = parquet.metadata.row_group(group).column(0).statistics
            if stats is not None and stats.has_min_max and (stats.max < low or stats.min >= high):
                continue
            table = parquet.read_row_group(group)
            ordinals = table.column(column)
            table = table.filter(pc.and_(pc.greater_equal(ordinals, low), pc.less(ordinals, high)))
            shifted = pc.subtract(table.column(column), low).cast(ordinals.type)
            writer.write_table(table.set_column(0, parquet.schema_arrow.field(0), shifted))
    return target


@dataclass
class EnrichStepResult:
    step: EnrichStep
    result: EnrichResult
    entries: list[dict] = field(default_factory=list)
    stats: dict = field(default_factory=dict)


def enrich_step(
    store: ObjectStore,
    plan: EnrichPlan,
    step: EnrichStep,
    *,
    workers: int | None = None,
    time_budget_s: float | None = 30.0,
    mediawiki_url: str | None = None,
    work_dir: Path | None = None,
    pool: ProcessPoolExecutor | None = None,
    log: Callable[[str], None] = print,
) -> EnrichStepResult:
    """One page store part into articles, published to the steps' scratch. ``pool`` (workers started with
    :func:`~wme_assets.enrichment.run._init_worker`) is shared by the steps of one process; else one is made."""
    started = time.monotonic()
    project, date = plan.project, plan.date
    result = EnrichResult(project, date, prefix=base_prefix(project, date))
    workers = workers or available_cpus()
    low, high = step.first_ordinal, step.first_ordinal + step.rows
    with tempfile.TemporaryDirectory(prefix=f"wme-enrich-{project}-{date}-{step.number}-", dir=work_dir) as tmp:
        tmp_dir = Path(tmp)
        page_file = cached_copy(store, step.entry, tmp_dir / "pages")
        redirects = store.download_file(plan.redirects_key, tmp_dir / "all-redirects.parquet")
        redirects = _slice_ordinals(redirects, tmp_dir / "redirects.parquet", low, high)
        tables = None
        if plan.tables_present is not None:
            paths = {}
            for group, key in plan.tables_keys.items():
                whole = store.download_file(key, tmp_dir / f"all-{group}.parquet")
                paths[group] = _slice_ordinals(whole, tmp_dir / f"{group}.parquet", low, high)
            tables = (plan.tables_present, table_rows(TablesJoin(tmp_dir, plan.tables_present, paths)))
        html_source = None
        if mediawiki_url:
            from wme_assets.sources.mediawiki import MediaWikiClient

            html_source = MediaWikiClient(mediawiki_url, cache_dir=tmp_dir / "html-cache")
        out_dir = tmp_dir / "articles"
        writer = ArticleStoreWriter(
            out_dir, project=project, source=f"dump:{date}", run_id=plan.run_id, batch_bytes=ARTICLE_BATCH_BYTES
        )
        own_pool = pool is None
        if own_pool:
            pool = ProcessPoolExecutor(
                max_workers=workers,
                mp_context=worker_context(),
                initializer=_init_worker,
                initargs=(plan.siteinfo, plan.run_id, time_budget_s),
            )
        try:
            progress = Progress(f"enriching {project} {date} step {step.number}", step.rows, log, unit="pages")
            joined = redirect_lists(redirects)
            rows = _eligible_rows([page_file], joined, set(plan.namespaces), result, progress, tables)
            in_flight: list[Future] = []
            for batch in _row_batches(rows, BATCH_ROWS, BATCH_TEXT_BYTES):
                if html_source is not None:
                    _attach_html(html_source, batch, result, log)
                in_flight.append(pool.submit(_enrich_batch, batch))
                if len(in_flight) >= IN_FLIGHT_PER_WORKER * workers:  # bounded; results in page order
                    _write(in_flight.pop(0).result(), writer, result)
            for future in in_flight:
                _write(future.result(), writer, result)
            summary = writer.close()
        except BaseException:
            writer.abort()
            raise
        finally:
            if own_pool:
                pool.shutdown(wait=True, cancel_futures=True)
        paths = [f.path for f in summary.files]
        out = EnrichStepResult(step, result, stats=scan_parts(paths, project))
        for number, path in enumerate(paths):
            name = f"part-{step.number:05d}{number:03d}.parquet"
            out.entries.append(publish_part(store, path, _scratch(project, date, "articles"), name)[0])
    result.seconds = time.monotonic() - started
    log(f"step {step.number}: {result.articles} articles in {result.seconds:.1f} s")
    return out


def publish_articles(
    store: ObjectStore, plan: EnrichPlan, results: list[EnrichStepResult], *, log: Callable[[str], None] = print
) -> EnrichResult:
    """Every step's articles as ``base/{date}``, the pointer moved; the quarantine and the inputs record."""
    if plan.up_to_date is not None:
        return plan.up_to_date
    project, date = plan.project, plan.date
    results = sorted(results, key=lambda r: r.step.number)
    if [r.step.number for r in results] != [s.number for s in plan.steps]:
        raise ValueError(f"{project} {date}: the steps' results {[r.step.key for r in results]} do not match the plan")
    total = EnrichResult(project, date, prefix=base_prefix(project, date), redirects_dangling=plan.redirects_dangling)
    for r in results:
        _add(total, r.result)
    entries = []
    for entry in (e for r in results for e in r.entries):
        key = move_published(store, entry["key"], store.key(base_prefix(project, date), entry["name"]), entry)
        entries.append({**entry, "key": key, "uri": store.uri(key)})
    publish_base_parts(store, project, date, entries, combine_stats([r.stats for r in results]))
    if total.quarantined:
        total.quarantine_object = write_quarantine(
            store, project, date, QUARANTINE_NAME, (q.__dict__ for q in total.quarantined)
        )
        log(f"{len(total.quarantined)} pages quarantined at {total.quarantine_object.uri}")
    else:
        clear_quarantine(store, project, date, QUARANTINE_NAME)  # an earlier run's, now stale
    if total.abstracts_withheld:
        reasons = ", ".join(f"{reason}: {n}" for reason, n in sorted(total.abstracts_withheld.items()))
        log(f"{sum(total.abstracts_withheld.values())} articles without an abstract, their lead not prose ({reasons})")
    # Written last: a base whose inputs record is missing is rebuilt on the next run.
    write_inputs_record(
        store,
        project,
        date,
        {
            "fingerprint": plan.fingerprint,
            "articles": total.articles,
            "quarantined": len(total.quarantined),
            "abstracts_withheld": dict(sorted(total.abstracts_withheld.items())),
            "abstracts_truncated": total.abstracts_truncated,
        },
    )
    store.delete_prefix(store.key(steps_key(project, date, "enrich")) + "/")
    return total


def _add(total: EnrichResult, part: EnrichResult) -> None:
    for name in ("articles", "structured", "disambiguation_pages", "redirects_attached", "eligible_pages",
                 "wikitext_bytes", "article_bytes", "html_pages", "html_missing", "abstracts_truncated"):
        setattr(total, name, getattr(total, name) + getattr(part, name))
    total.articles_per_namespace.update(part.articles_per_namespace)
    total.abstracts_withheld.update(part.abstracts_withheld)
    total.quarantined.extend(part.quarantined)
