"""From the page store to the article store: every page of a dump into an Enterprise article.

Redirect pages are not articles: they become the ``redirects`` of the page they point at. Every other
page of the exported namespaces (0 main, 6 files, 10 templates, 14 categories, as Enterprise exports)
goes through the wikitext extractor in worker processes, in page-id order. A page that makes the
extractor raise, or run past its time budget, is quarantined with its id and the reason, counted, and
never stops the partition. A page whose lead does not render into prose (markup left in its text) is
still a good article: it is written without an abstract, and counted per reason in
``abstracts_withheld``.
"""

from __future__ import annotations

import gc
import hashlib
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq

from wme_assets.enrichment.article import BuiltArticle, Site, build_article
from wme_assets.enrichment.wikitext import extract_wikitext_fields
from wme_assets.storage.article_store import (
    ArticleStoreWriter,
    read_base_manifest,
    read_inputs_record,
)
from wme_assets.storage.object_store import ObjectStore, PublishedObject
from wme_assets.storage.parquet_dataset import sql_literal
from wme_assets.storage.quarantine import read_quarantine
from wme_assets.util.progress import Progress
from wme_assets.util.sizes import MiB
from wme_assets.util.workers import available_cpus, worker_context

EXPORTED_NAMESPACES = (0, 6, 10, 14)
PAGE_COLUMNS = [
    "page_id",
    "namespace",
    "title",
    "is_redirect",
    "revision_id",
    "parent_revision_id",
    "timestamp",
    "contributor_name",
    "contributor_id",
    "contributor_ip",
    "contributor_deleted",
    "is_minor",
    "comment",
    "comment_deleted",
    "size_bytes",
    "text",
    "text_deleted",
    "wikibase_item",
    "source_file",
]
# Memory bounds of the driver, none of which grows with the dump: pages are decoded from Parquet
# _READ_ROWS at a time; a worker task holds at most BATCH_ROWS pages and BATCH_TEXT_BYTES of wikitext (a
# larger page is a task alone); at most IN_FLIGHT_PER_WORKER tasks per worker are queued or running, their
# results waiting in page order; the article store buffers at most ARTICLE_BATCH_BYTES of JSON per row
# group; the redirect join is DuckDB on disk with REDIRECT_JOIN_MEMORY.
BATCH_ROWS = 200
BATCH_TEXT_BYTES = 1 * MiB
IN_FLIGHT_PER_WORKER = 2
ARTICLE_BATCH_BYTES = 8 * MiB
_READ_ROWS = 64
QUARANTINE_NAME = "enrichment.ndjson"


@dataclass
class QuarantinedPage:
    page_id: int
    title: str
    namespace: int
    revision_id: int | None
    reason: str


@dataclass
class EnrichResult:
    project: str
    date: str
    articles: int = 0
    articles_per_namespace: Counter = field(default_factory=Counter)
    structured: int = 0
    disambiguation_pages: int = 0
    redirects_attached: int = 0
    redirects_dangling: int = 0  # redirects to a page that is missing or is itself a redirect
    eligible_pages: int = 0  # non-redirect pages of the exported namespaces
    wikitext_bytes: int = 0
    article_bytes: int = 0
    quarantined: list[QuarantinedPage] = field(default_factory=list)
    quarantine_object: PublishedObject | None = None
    prefix: str = ""
    seconds: float = 0.0
    up_to_date: bool = False  # the base was already built from the same inputs: nothing was redone
    html_pages: int = 0  # articles enriched from Parsoid HTML
    html_missing: int = 0  # pages whose HTML the MediaWiki could not give
    # articles written without an abstract because their lead's text was not prose, per reason
    # ("template_markup", "link_markup"…: abstract_rules.leftover_markup)
    abstracts_withheld: Counter = field(default_factory=Counter)
    abstracts_truncated: int = 0  # abstracts cut to abstract_rules.ABSTRACT_MAX_CHARS


def inputs_fingerprint(page_manifest: dict, namespaces: tuple[int, ...], mediawiki_url: str | None = None) -> str:
    """What an article base depends on: the page store's files and the code that turns them into articles.

    A re-run with the same fingerprint would produce the same articles (apart from the run id in their
    provenance), so it keeps the existing base: re-runs are idempotent and snapshots of it stay identical.
    """
    from wme_assets.enrichment.article import PARSER_VERSION
    from wme_assets.schema import RECORD_SCHEMA_VERSION

    files = sorted((f["name"], f["sha256"]) for f in page_manifest["files"])
    inputs: dict[str, Any] = {}
    if page_manifest.get("tables"):  # the run's SQL tables, when it has any (older page stores have none)
        inputs["tables"] = sorted((name, t["sha256"]) for name, t in page_manifest["tables"].items())
    payload = orjson.dumps(
        {
            **inputs,
            "pages": files,
            "parser": PARSER_VERSION,
            "schema": RECORD_SCHEMA_VERSION,
            "namespaces": list(namespaces),
            "html": mediawiki_url or "",
        }
    )
    return hashlib.sha256(payload).hexdigest()


def _title_key(title: str) -> str:
    """MediaWiki title identity for matching redirect targets: spaces, not underscores; first letter upper."""
    title = title.replace("_", " ").strip()
    return title[:1].upper() + title[1:]


# The redirect join runs in DuckDB, on disk: its memory stays at REDIRECT_JOIN_MEMORY whatever the dump.
REDIRECT_JOIN_MEMORY = "128MB"
REDIRECT_JOIN_THREADS = 2
_SCAN_ROWS = 65_536  # rows of the small title columns read at a time
_SCAN_COLUMNS = ["namespace", "title", "is_redirect", "redirect_target"]
REDIRECT_JOIN_COLUMNS = tuple(_SCAN_COLUMNS)  # all the redirect join reads of the page store


@dataclass
class RedirectJoin:
    """The redirects of every eligible page, as a Parquet file sorted by the page's position in the store.

    ``path`` holds one row per (page, redirect): ``article`` is the page's ordinal (its row number over
    the page store's files in manifest order), ``title`` the redirect's title; rows are sorted by
    ``article``, then by the redirect's own ordinal, i.e. a page's redirects come in page store order.
    """

    path: Path
    redirects: int = 0  # redirect pages with a target
    targets: int = 0  # distinct target titles
    dangling: int = 0  # redirects to a page that is missing or is itself a redirect
    attached: int = 0  # rows of ``path``


def join_redirects(
    files: list[Path], namespaces, work_dir: Path, *, memory_limit: str = REDIRECT_JOIN_MEMORY
) -> RedirectJoin:
    """Join every redirect page to the page it points at, in DuckDB with ``memory_limit`` and spilling to disk.

    Only the small title columns are read. Targets lose their ``#section`` part: a redirect to a section
    still leads to the article. A page is a redirect when it has a target; every other page, of any
    namespace, can be a target; only non-redirect pages of ``namespaces`` get redirects attached.
    Title keys are computed here, in Python (:func:`_title_key`), so matching follows exactly one rule.
    """
    import duckdb
    import pyarrow as pa

    work_dir.mkdir(parents=True, exist_ok=True)
    namespaces = set(namespaces)
    result = RedirectJoin(work_dir / "redirects.parquet")
    con = duckdb.connect(
        str(work_dir / "redirects.duckdb"),
        config={
            "memory_limit": memory_limit,
            "temp_directory": str(work_dir / "spill"),
            "threads": REDIRECT_JOIN_THREADS,
            # The final ORDER BY gives the order; nothing else needs insertion order, and keeping it
            # costs memory in the join.
            "preserve_insertion_order": False,
        },
    )
    try:
        con.execute("CREATE TABLE pages (ord BIGINT, key VARCHAR, eligible BOOLEAN)")
        con.execute("CREATE TABLE redirects (ord BIGINT, key VARCHAR, title VARCHAR)")
        ordinal = 0
        for path in files:
            for batch in pq.ParquetFile(path, pre_buffer=False).iter_batches(
                batch_size=_SCAN_ROWS, columns=_SCAN_COLUMNS
            ):
                page_ord, page_key, eligible, redirect_ord, redirect_key, redirect_title = [], [], [], [], [], []
                for ns, title, is_redirect, target in zip(
                    batch.column("namespace").to_pylist(),
                    batch.column("title").to_pylist(),
                    batch.column("is_redirect").to_pylist(),
                    batch.column("redirect_target").to_pylist(),
                    strict=True,
                ):
                    if is_redirect and target:
                        redirect_ord.append(ordinal)
                        redirect_key.append(_title_key(target.split("#", 1)[0]))
                        redirect_title.append(title)
                    else:
                        page_ord.append(ordinal)
                        page_key.append(_title_key(title))
                        eligible.append(not is_redirect and ns in namespaces)
                    ordinal += 1
                pages = pa.table(
                    {
                        "ord": pa.array(page_ord, pa.int64()),
                        "key": pa.array(page_key, pa.string()),
                        "eligible": pa.array(eligible, pa.bool_()),
                    }
                )
                con.from_arrow(pages).insert_into("pages")
                if redirect_ord:
                    redirects = pa.table(
                        {
                            "ord": pa.array(redirect_ord, pa.int64()),
                            "key": pa.array(redirect_key, pa.string()),
                            "title": pa.array(redirect_title, pa.string()),
                        }
                    )
                    con.from_arrow(redirects).insert_into("redirects")
        result.redirects, result.targets = con.execute("SELECT count(*), count(DISTINCT key) FROM redirects").fetchone()
        result.dangling = con.execute(
            "SELECT count(*) FROM redirects r WHERE NOT EXISTS (SELECT 1 FROM pages p WHERE p.key = r.key)"
        ).fetchone()[0]
        # Two steps, join then sort: one pipeline doing both needs far more memory than the limit.
        con.execute(
            "CREATE TABLE attached AS SELECT p.ord AS article, r.ord AS redirect, r.title "
            "FROM pages p JOIN redirects r ON p.key = r.key WHERE p.eligible"
        )
        con.execute("DROP TABLE pages")
        con.execute("DROP TABLE redirects")
        result.attached = con.execute("SELECT count(*) FROM attached").fetchone()[0]
        con.execute(
            f"COPY (SELECT article, title FROM attached ORDER BY article, redirect) TO {sql_literal(str(result.path))} "
            "(FORMAT parquet, COMPRESSION zstd)"
        )
    finally:
        con.close()
        (work_dir / "redirects.duckdb").unlink(missing_ok=True)
    return result


def redirect_lists(path: Path) -> Iterator[tuple[int, list[str]]]:
    """``(page ordinal, redirect titles)`` from a :class:`RedirectJoin` file, one page at a time, in order."""
    current, titles = -1, []
    for batch in pq.ParquetFile(path, pre_buffer=False).iter_batches(batch_size=_SCAN_ROWS):
        for article, title in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True):
            if article != current:
                if article < current:
                    raise ValueError(f"{path}: redirects are not sorted by page ({article} after {current})")
                if titles:
                    yield current, titles
                current, titles = article, []
            titles.append(title)
    if titles:
        yield current, titles


# ----- the worker side --------------------------------------------------------------------------------

_worker_site: Site | None = None
_worker_run_id = ""
_worker_budget: float | None = None


# Collections of the cyclic garbage collector in a worker: a page's extraction makes hundreds of thousands of
# short-lived containers (freed by reference counting, no cycles), and with the default threshold (700
# allocations) every few hundred of them start a pass; the objects of the imported modules, which never become
# garbage, are frozen out of every pass.
WORKER_GC_THRESHOLD = 50_000


def _init_worker(siteinfo: dict, run_id: str, time_budget_s: float | None) -> None:
    global _worker_site, _worker_run_id, _worker_budget
    _worker_site = Site.from_siteinfo(siteinfo)
    _worker_run_id = run_id
    _worker_budget = time_budget_s
    gc.freeze()
    gc.set_threshold(WORKER_GC_THRESHOLD, *gc.get_threshold()[1:])


def _enrich_batch(rows: list[dict[str, Any]]) -> list[BuiltArticle | QuarantinedPage]:
    out: list[BuiltArticle | QuarantinedPage] = []
    for row in rows:
        try:
            # A suppressed revision text is extracted as empty; the article says so in `visibility`.
            fields = extract_wikitext_fields(
                row.get("text") or "",
                _worker_site.names,
                dbname=_worker_site.dbname,
                ns=row["namespace"],
                time_budget_s=_worker_budget,
            )
            out.append(
                build_article(
                    row,
                    fields,
                    _worker_site,
                    redirects=row.pop("_redirects"),
                    run_id=_worker_run_id,
                    html=row.pop("_html", None),
                    tables=row.pop("_tables", None),
                )
            )
        except Exception as exc:  # one bad page never stops the partition
            where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
            location = f" at {Path(where.filename).name}:{where.lineno}" if where else ""
            out.append(
                QuarantinedPage(
                    row["page_id"],
                    row["title"],
                    row["namespace"],
                    row.get("revision_id"),
                    f"{type(exc).__name__}: {exc}{location}",
                )
            )
    return out


# ----- the driver ----------------------------------------------------------------------------------------


def _eligible_rows(
    files: list[Path],
    redirects: Iterator[tuple[int, list[str]]],
    namespaces,
    result: EnrichResult,
    progress: Progress | None = None,
    tables: tuple[tuple[str, ...], Iterator[tuple[int, dict]]] | None = None,
) -> Iterator[dict]:
    """The pages to enrich, in page store order, each with its ``_redirects`` (merged in by ordinal), and
    with ``tables`` (the run's tables, the joined rows) its ``_tables``.

    ``progress`` counts every page of the store read (the work queue runs at most a few tasks ahead)."""
    pending = next(redirects, None)
    present, joined = tables if tables is not None else ((), iter(()))
    joined_next = next(joined, None)
    ordinal = 0
    for path in files:
        # One row group (at most the page store's 8 MiB of text) at a time. Not iter_batches: with its
        # default pre-buffering, a reader keeps what it has read of a file and grows with the file.
        parquet = pq.ParquetFile(path, pre_buffer=False)
        for group in range(parquet.num_row_groups):
            for batch in parquet.read_row_group(group, columns=PAGE_COLUMNS).to_batches(_READ_ROWS):
                for row in batch.to_pylist():
                    position, ordinal = ordinal, ordinal + 1
                    if progress is not None:
                        progress.update(ordinal)
                    if row["is_redirect"] or row["namespace"] not in namespaces:
                        continue
                    if pending is not None and pending[0] == position:
                        row["_redirects"] = pending[1]
                        pending = next(redirects, None)
                    else:
                        row["_redirects"] = []
                    if tables is not None:
                        row["_tables"] = {"present": present}
                        if joined_next is not None and joined_next[0] == position:
                            row["_tables"].update(joined_next[1])
                            joined_next = next(joined, None)
                    result.redirects_attached += len(row["_redirects"])
                    result.eligible_pages += 1
                    result.wikitext_bytes += row.get("size_bytes") or 0
                    yield row
    if pending is not None:
        raise ValueError(f"redirects joined to page {pending[0]}, past the {ordinal} pages of the store")
    if joined_next is not None:
        raise ValueError(f"tables joined to page {joined_next[0]}, past the {ordinal} pages of the store")


def _row_batches(rows: Iterator[dict], max_rows: int, max_text_bytes: int) -> Iterator[list[dict]]:
    """Worker tasks of at most ``max_rows`` pages and ``max_text_bytes`` of wikitext (a larger page alone)."""
    batch: list[dict] = []
    text_bytes = 0
    for row in rows:
        size = row.get("size_bytes") or len(row.get("text") or "")
        if batch and text_bytes + size > max_text_bytes:
            yield batch
            batch, text_bytes = [], 0
        batch.append(row)
        text_bytes += size
        if len(batch) >= max_rows or text_bytes >= max_text_bytes:
            yield batch
            batch, text_bytes = [], 0
    if batch:
        yield batch


def enrich_pages(
    store: ObjectStore,
    project: str,
    date: str,
    *,
    run_id: str,
    workers: int | None = None,
    namespaces: tuple[int, ...] = EXPORTED_NAMESPACES,
    time_budget_s: float | None = 30.0,
    mediawiki_url: str | None = None,
    work_dir: Path | None = None,
    log: Callable[[str], None] = print,
) -> EnrichResult:
    """The page store's enrichment steps (:mod:`.steps`) one after another in this process, sharing one pool of
    workers: the same article base, byte for byte, as the split job running them in parallel."""
    # Imported here: the steps module builds on this one's pieces.
    from wme_assets.enrichment.steps import enrich_step, prepare_articles, publish_articles

    started = time.monotonic()
    plan = prepare_articles(
        store, project, date, run_id=run_id, namespaces=namespaces, mediawiki_url=mediawiki_url,
        work_dir=work_dir, log=log,
    )
    results = []
    if plan.steps:
        workers = workers or available_cpus()
        with ProcessPoolExecutor(
            max_workers=workers,
            mp_context=worker_context(),
            initializer=_init_worker,
            initargs=(plan.siteinfo, run_id, time_budget_s),
        ) as pool:
            for step in plan.steps:
                results.append(
                    enrich_step(
                        store, plan, step, workers=workers, time_budget_s=time_budget_s,
                        mediawiki_url=mediawiki_url, work_dir=work_dir, pool=pool, log=log,
                    )
                )
    result = publish_articles(store, plan, results, log=log)
    result.seconds = time.monotonic() - started
    log(f"{result.articles} articles in {result.seconds:.1f} s")
    return result


def _already_built(store, project, date, fingerprint, result: EnrichResult) -> bool:
    recorded = read_inputs_record(store, project, date)
    if recorded is None or recorded.get("fingerprint") != fingerprint:
        return False
    try:
        manifest = read_base_manifest(store, project, date)
    except Exception:  # a base missing or unreadable is rebuilt
        return False
    result.up_to_date = True
    result.articles = manifest["rows"]
    result.articles_per_namespace.update({int(ns): n for ns, n in manifest.get("rows_per_namespace", {}).items()})
    result.eligible_pages = result.articles + recorded.get("quarantined", 0)
    result.abstracts_withheld.update(recorded.get("abstracts_withheld") or {})
    result.abstracts_truncated = recorded.get("abstracts_truncated", 0)
    if recorded.get("quarantined"):
        records = read_quarantine(store, project, date, QUARANTINE_NAME)
        if records is not None:
            result.quarantined = [QuarantinedPage(**record) for record in records]
    return True


def _attach_html(client, rows: list[dict], result: EnrichResult, log) -> None:
    """Fetch the batch's Parsoid HTML; a revision the wiki cannot render keeps the wikitext path."""
    from wme_assets.sources.mediawiki import MediaWikiError

    for row in rows:
        try:
            row["_html"] = client.revision_html(row["revision_id"])
            result.html_pages += 1
        except MediaWikiError as exc:
            result.html_missing += 1
            if result.html_missing <= 10:
                log(f"page {row['page_id']}: no HTML ({exc}); enriched from wikitext")


def _write(items: list[BuiltArticle | QuarantinedPage], writer: ArticleStoreWriter, result: EnrichResult) -> None:
    for item in items:
        if isinstance(item, QuarantinedPage):
            result.quarantined.append(item)
            continue
        writer.add(
            # The store hashes the exact line itself; the article's own content hash (without the `wme`
            # object) is in its provenance.
            item.page_id,
            item.namespace,
            item.name,
            item.revision_id,
            item.date_modified,
            item.article_json,
            is_disambiguation=item.is_disambiguation,
            structured=item.structured_json or None,
        )
        result.articles += 1
        result.articles_per_namespace[item.namespace] += 1
        result.article_bytes += len(item.article_json)
        result.structured += item.structured_json is not None
        result.disambiguation_pages += item.is_disambiguation
        if item.abstract_withheld:
            result.abstracts_withheld[item.abstract_withheld] += 1
        result.abstracts_truncated += item.abstract_truncated
