"""From the page store to the article store: every page of a dump into an Enterprise article.

Redirect pages are not articles: they become the ``redirects`` of the page they point at. Every other
page of the exported namespaces (0 main, 6 files, 10 templates, 14 categories, as Enterprise exports)
goes through the wikitext extractor in worker processes, in page-id order. A page that makes the
extractor raise, or run past its time budget, is quarantined with its id and the reason, counted, and
never stops the partition.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import tempfile
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq

from wme_assets.enrichment.article import BuiltArticle, Site, build_article
from wme_assets.enrichment.wikitext import extract_wikitext_fields
from wme_assets.storage.article_store import ArticleStoreWriter, base_prefix, publish_base, read_base_manifest
from wme_assets.storage.layout import quarantine_key
from wme_assets.storage.object_store import ObjectStore, PublishedObject
from wme_assets.storage.page_store import page_store_prefix, read_manifest
from wme_assets.storage.parquet_dataset import cached_files

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
BATCH_ROWS = 200
INPUTS_NAME = "_inputs.json"


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


def inputs_fingerprint(page_manifest: dict, namespaces: tuple[int, ...], mediawiki_url: str | None = None) -> str:
    """What an article base depends on: the page store's files and the code that turns them into articles.

    A re-run with the same fingerprint would produce the same articles (apart from the run id in their
    provenance), so it keeps the existing base: re-runs are idempotent and snapshots of it stay identical.
    """
    from wme_assets.enrichment.article import PARSER_VERSION
    from wme_assets.enrichment.schema import SCHEMA_VERSION

    files = sorted((f["name"], f["sha256"]) for f in page_manifest["files"])
    payload = orjson.dumps(
        {
            "pages": files,
            "parser": PARSER_VERSION,
            "schema": SCHEMA_VERSION,
            "namespaces": list(namespaces),
            "html": mediawiki_url or "",
        }
    )
    return hashlib.sha256(payload).hexdigest()


def _title_key(title: str) -> str:
    """MediaWiki title identity for matching redirect targets: spaces, not underscores; first letter upper."""
    title = title.replace("_", " ").strip()
    return title[:1].upper() + title[1:]


def redirects_by_target(files: list[Path]) -> tuple[dict[str, list[str]], int, set[str]]:
    """Map each target title to the redirect titles pointing at it, and count the dangling ones.

    Only small columns are read. Targets lose their ``#section`` part: a redirect to a section still
    leads to the article.
    """
    by_target: dict[str, list[str]] = defaultdict(list)
    articles: set[str] = set()
    for path in files:
        table = pq.read_table(path, columns=["title", "is_redirect", "redirect_target"])
        for title, is_redirect, target in zip(
            table["title"].to_pylist(),
            table["is_redirect"].to_pylist(),
            table["redirect_target"].to_pylist(),
            strict=True,
        ):
            if is_redirect and target:
                by_target[_title_key(target.split("#", 1)[0])].append(title)
            else:
                articles.add(_title_key(title))
    dangling = sum(len(titles) for target, titles in by_target.items() if target not in articles)
    return dict(by_target), dangling, articles


# ----- the worker side --------------------------------------------------------------------------------

_worker_site: Site | None = None
_worker_run_id = ""
_worker_budget: float | None = None


def _init_worker(siteinfo: dict, run_id: str, time_budget_s: float | None) -> None:
    global _worker_site, _worker_run_id, _worker_budget
    _worker_site = Site.from_siteinfo(siteinfo)
    _worker_run_id = run_id
    _worker_budget = time_budget_s


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


def _row_batches(
    files: list[Path], redirects: dict[str, list[str]], namespaces, result: EnrichResult
) -> Iterator[list[dict]]:
    for path in files:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS, columns=PAGE_COLUMNS):
            rows = []
            for row in batch.to_pylist():
                if row["is_redirect"] or row["namespace"] not in namespaces:
                    continue
                row["_redirects"] = redirects.get(_title_key(row["title"]), [])
                result.redirects_attached += len(row["_redirects"])
                result.eligible_pages += 1
                result.wikitext_bytes += row.get("size_bytes") or 0
                rows.append(row)
            if rows:
                yield rows


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
    started = time.monotonic()
    result = EnrichResult(project, date, prefix=base_prefix(project, date))
    manifest = read_manifest(store, page_store_prefix(project, date))
    fingerprint = inputs_fingerprint(manifest, namespaces, mediawiki_url)
    inputs_key = store.key(base_prefix(project, date), INPUTS_NAME)
    if _already_built(store, project, date, inputs_key, fingerprint, result):
        log(f"articles of {project} {date} are up to date with their page store and parser; nothing to redo")
        result.seconds = time.monotonic() - started
        return result
    siteinfo = manifest.get("siteinfo")
    if not siteinfo:
        raise ValueError(f"page store {page_store_prefix(project, date)} has no siteinfo: re-run its ingestion")
    workers = workers or os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix=f"wme-enrich-{project}-{date}-", dir=work_dir) as tmp:
        files = cached_files(store, manifest, Path(tmp) / "pages")
        redirects, result.redirects_dangling, _ = redirects_by_target(files)
        log(
            f"{sum(map(len, redirects.values()))} redirects to {len(redirects)} titles "
            f"({result.redirects_dangling} to missing pages or other redirects)"
        )
        out_dir = Path(tmp) / "articles"
        html_source = None
        if mediawiki_url:
            from wme_assets.sources.mediawiki import MediaWikiClient

            # Cached by revision id under the work dir for this run; the client bounds concurrency itself.
            html_source = MediaWikiClient(mediawiki_url, cache_dir=Path(tmp) / "html-cache")
            log(f"Parsoid HTML from {mediawiki_url}")
        writer = ArticleStoreWriter(out_dir, project=project, source=f"dump:{date}", run_id=run_id)
        context = multiprocessing.get_context("forkserver")
        try:
            with ProcessPoolExecutor(
                max_workers=workers,
                mp_context=context,
                initializer=_init_worker,
                initargs=(siteinfo, run_id, time_budget_s),
            ) as pool:
                in_flight: list[Future] = []
                for rows in _row_batches(files, redirects, set(namespaces), result):
                    if html_source is not None:
                        _attach_html(html_source, rows, result, log)
                    in_flight.append(pool.submit(_enrich_batch, rows))
                    if len(in_flight) >= 2 * workers:  # bounded memory, results kept in page order
                        _write(in_flight.pop(0).result(), writer, result)
                for future in in_flight:
                    _write(future.result(), writer, result)
            writer.close()
        except BaseException:
            writer.abort()
            raise
        publish_base(store, out_dir, project, date)
    if result.quarantined:
        lines = b"".join(orjson.dumps(q.__dict__) + b"\n" for q in result.quarantined)
        result.quarantine_object = store.put_bytes(
            store.key(quarantine_key(project, date, "enrichment.ndjson")), lines, content_type="application/x-ndjson"
        )
        log(f"{len(result.quarantined)} pages quarantined at {result.quarantine_object.uri}")
    else:
        store.delete(store.key(quarantine_key(project, date, "enrichment.ndjson")))  # an earlier run's, now stale
    # Written last: a base whose inputs record is missing is rebuilt on the next run.
    store.put_bytes(
        inputs_key,
        orjson.dumps({"fingerprint": fingerprint, "articles": result.articles, "quarantined": len(result.quarantined)}),
    )
    result.seconds = time.monotonic() - started
    log(f"{result.articles} articles in {result.seconds:.1f} s")
    return result


def _already_built(store, project, date, inputs_key, fingerprint, result: EnrichResult) -> bool:
    if store.head(inputs_key) is None:
        return False
    recorded = orjson.loads(store.read_bytes(inputs_key))
    if recorded.get("fingerprint") != fingerprint:
        return False
    try:
        manifest = read_base_manifest(store, project, date)
    except Exception:  # a base missing or unreadable is rebuilt
        return False
    result.up_to_date = True
    result.articles = manifest["rows"]
    result.articles_per_namespace.update({int(ns): n for ns, n in manifest.get("rows_per_namespace", {}).items()})
    result.eligible_pages = result.articles + recorded.get("quarantined", 0)
    quarantine = store.head(store.key(quarantine_key(project, date, "enrichment.ndjson")))
    if recorded.get("quarantined") and quarantine is not None:
        lines = store.read_bytes(quarantine.key).splitlines()
        result.quarantined = [QuarantinedPage(**orjson.loads(line)) for line in lines]
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
            structured=item.structured_json.decode() if item.structured_json else None,
        )
        result.articles += 1
        result.articles_per_namespace[item.namespace] += 1
        result.article_bytes += len(item.article_json)
        result.structured += item.structured_json is not None
        result.disambiguation_pages += item.is_disambiguation
