"""Apply a batch of change events to a project's always-current article store: one delta per application.

Per page the newest state wins (:mod:`.plan`); what the store holds decides whether a change is older
(skipped) or already there (unchanged); the changed revisions are fetched in batches (the Action API:
:class:`~wme_assets.sources.action_api.ActionApiClient`, and the Parsoid HTML from the REST API when the
project has an endpoint) and enriched by exactly the dump path's functions (``extract_wikitext_fields``
and ``build_article``), so a changed page is the article the next dump with its tables would make of it,
plus what only the API has. What the dump path takes from the dumps' SQL tables (categories, templates,
protection, page props, editors' groups) comes from the API here
(:meth:`~wme_assets.sources.action_api.ActionApiClient.revision_metadata`), with tags, edit counts, the
previous revision's time and size, the creation date of a new page.

Outcomes per page:

* upsert: the article of the fetched revision, under the page's current title and namespace (a move
  rewrites the same page id, which replaces the old title's entry); revision deletion is what the API
  reports, so hidden text, editor or comment are withheld and ``visibility`` says so;
* tombstone: deleted, moved out of the exported namespaces, turned into a redirect, or its revision gone
  before the fetch (``missing``: the page was deleted meanwhile; its delete event follows);
* skipped: older than the stored revision, already absent, or unchanged (same revision and same
  Enterprise content hash: applying a batch twice writes nothing the second time);
* quarantined: an event that cannot be applied or a page the enrichment fails on, with the reason,
  counted and written to ``quarantine/{project}/{date}/realtime-{hour}.ndjson``; the others go on.

The delta is ``deltas/{hour}`` (source ``events:{hour}``), the hour of the application. Several
applications in one hour share that delta: the rows already in it are carried over, except those of
pages this application rewrites (their new row is the newer state), so each page has one row per hour
and the store's within-hour rules never have to order two of ours. Nothing is published when nothing
changed. A fetch that fails after its retries raises: nothing has been published then, and the whole
batch can be applied again (it is idempotent).
"""

from __future__ import annotations

import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from wme_assets.enrichment.article import BuiltArticle, Site, build_article
from wme_assets.enrichment.wikitext import extract_wikitext_fields
from wme_assets.realtime.events import EXPORTED_NAMESPACES, ChangeEvent
from wme_assets.realtime.metadata import fetch_metadata, same_but_edit_count
from wme_assets.realtime.plan import PageChange, Rejected, decide, plan_changes
from wme_assets.sources.action_api import FetchedRevision, RevisionBatch
from wme_assets.storage.article_store import (
    ARTICLE_SCHEMA,
    ArticleStoreWriter,
    lookup_current,
    publish_delta,
    read_current,
)
from wme_assets.storage.object_store import ObjectStore
from wme_assets.storage.parquet_dataset import cached_files
from wme_assets.storage.quarantine import read_quarantine, write_quarantine

_LOOKUP_COLUMNS = ("page_id", "namespace", "name", "revision_id", "content_hash", "op", "article")


class RevisionSource(Protocol):
    """Where the changed revisions come from: the Action API client, or (benchmark) revisions in hand."""

    def revisions(self, revision_ids: Iterable[int]) -> RevisionBatch: ...


class HtmlSource(Protocol):
    def revision_html(self, rev_id: int) -> str: ...


@dataclass
class ApplyResult:
    project: str
    hour: str
    events: int = 0
    pages: int = 0  # pages the events concern in exported namespaces
    upserts: int = 0
    tombstones: int = 0
    skipped_older: int = 0
    unchanged: int = 0  # same revision and same content as stored, or a delete of an absent page
    missing: int = 0  # revisions the wiki no longer had when fetched
    outside_namespaces: int = 0
    quarantined: Counter = field(default_factory=Counter)  # reason -> pages/events
    quarantine_records: list[dict[str, Any]] = field(default_factory=list)
    html_pages: int = 0
    html_missing: int = 0
    carried_rows: int = 0  # rows of an earlier application in the same hour kept in the delta
    published: str | None = None  # the delta's prefix, None when nothing changed
    seconds: float = 0.0

    def metadata(self) -> dict[str, Any]:
        """The counts, JSON-friendly (Dagster metadata)."""
        data = {k: v for k, v in self.__dict__.items() if k != "quarantine_records"}
        data["quarantined"] = dict(sorted(self.quarantined.items()))
        return data


def application_hour(store: ObjectStore, project: str, now: datetime | None = None) -> str:
    """The hour this application publishes into: now (UTC), or the newest delta's hour if that is later.

    Never an earlier hour than one already applied: a later hour's delta wins over an earlier one's, so
    writing into the past would let older rows hide these changes.
    """
    hour = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%d%H")
    state = read_current(store, project)
    return max([hour, *state.deltas])


def apply_changes(
    store: ObjectStore,
    project: str,
    events: list[ChangeEvent],
    *,
    revisions: RevisionSource,
    siteinfo: dict[str, Any],
    run_id: str,
    html: HtmlSource | None = None,
    html_concurrency: int = 4,
    hour: str | None = None,
    now: datetime | None = None,
    time_budget_s: float | None = 30.0,
    work_dir: Path | None = None,
    log: Callable[[str], None] = print,
    before_publish: Callable[[dict[int, tuple], dict[int, dict[str, Any]]], None] | None = None,
) -> ApplyResult:
    """Apply ``events`` of ``project`` to its article store (see the module docstring); returns the counts.

    The delta is ``hour``'s, by default :func:`application_hour` at ``now`` (default: the clock). The caller
    holds the project's article-store lease: the hour is chosen and its delta published as one step.
    ``before_publish`` gets the rows (page id → upsert or delete) and the stored rows before them, after the
    delta is written and before it is published (the feed's append, :mod:`.update`); if it raises, nothing is
    published.
    """
    started = time.monotonic()
    hour = hour or application_hour(store, project, now)
    result = ApplyResult(project, hour, events=len(events))
    site = Site.from_siteinfo(siteinfo)
    plan = plan_changes(events, project)
    result.outside_namespaces = plan.outside_namespaces
    result.pages = len(plan.changes)
    for rejected in plan.rejected:
        _quarantine(result, rejected.record())
    with tempfile.TemporaryDirectory(prefix=f"wme-realtime-{project}-{hour}-", dir=work_dir) as tmp:
        cache = Path(tmp) / "cache"
        state = read_current(store, project)
        stored = lookup_current(store, project, plan.changes, cache_dir=cache, columns=_LOOKUP_COLUMNS, state=state)
        decisions = decide(plan, stored)
        result.skipped_older = decisions.skipped["older"]
        result.unchanged = decisions.skipped["already_absent"]
        rows: dict[int, tuple] = {}  # page id -> ("delete", ...) | ("upsert", BuiltArticle)
        for change, row in decisions.tombstones:
            rows[change.page_id] = ("delete", row["namespace"], row["revision_id"], row["name"])
        fetched = revisions.revisions(c.revision_id for c in decisions.fetch) if decisions.fetch else RevisionBatch()
        to_build: list[tuple[PageChange, FetchedRevision]] = []
        for change in decisions.fetch:
            row = stored.get(change.page_id)
            live = row is not None and row["op"] != "delete"
            rev = fetched.revisions.get(change.revision_id)
            if rev is None or rev.page_id != change.page_id:
                # Deleted between the change and the fetch: its delete event follows; the page is gone now.
                result.missing += 1
                if live:
                    rows[change.page_id] = ("delete", row["namespace"], row["revision_id"], row["name"])
                continue
            if rev.namespace not in EXPORTED_NAMESPACES or rev.is_redirect:
                # Moved away since the event, or now a redirect: not an article (as on the dump path).
                if live:
                    rows[change.page_id] = ("delete", row["namespace"], row["revision_id"], row["name"])
                else:
                    result.unchanged += 1
                continue
            to_build.append((change, rev))
        metadata = fetch_metadata(revisions, to_build, stored)
        pages_html = _fetch_html(html, [rev for _, rev in to_build], result, log, html_concurrency)
        for change, rev in to_build:
            built = _build(rev, site, run_id, hour, pages_html.get(rev.revision_id), time_budget_s, result,
                           metadata.get(rev.revision_id))
            if built is None:
                continue
            row = stored.get(change.page_id)
            if row is not None and row["op"] != "delete" and _same_article(row, built):
                result.unchanged += 1
                continue
            rows[change.page_id] = ("upsert", built)
        result.upserts = sum(1 for r in rows.values() if r[0] == "upsert")
        result.tombstones = len(rows) - result.upserts
        if rows:
            out_dir = Path(tmp) / "delta"
            _write_delta(store, project, hour, run_id, state, rows, out_dir, cache, result)
            if before_publish is not None:
                before_publish(rows, stored)
            result.published = publish_delta(store, out_dir, project, hour).key_prefix
    if result.quarantine_records:
        _write_quarantine(store, project, hour, result.quarantine_records)
    result.seconds = time.monotonic() - started
    log(
        f"{project} {hour}: {result.upserts} upserts, {result.tombstones} tombstones, {result.skipped_older} older, "
        f"{result.unchanged} unchanged, {result.missing} missing, {sum(result.quarantined.values())} quarantined"
    )
    return result


def build_fetched(
    rev: FetchedRevision, site: Site, *, run_id: str, source: str, html: str | None = None,
    time_budget_s: float | None = 30.0, metadata: dict[str, Any] | None = None,
) -> BuiltArticle:
    """The Enterprise article of a fetched revision, through the dump path's own extraction and builder;
    ``metadata`` is what the API says of it beyond its text (:meth:`ActionApiClient.revision_metadata`)."""
    row = rev.page_row(source=source)
    fields = extract_wikitext_fields(
        row["text"] or "", site.names, dbname=site.dbname, ns=row["namespace"], time_budget_s=time_budget_s
    )
    return build_article(row, fields, site, redirects=list(rev.redirects), run_id=run_id, html=html, api=metadata)


def _build(rev, site, run_id, hour, html, time_budget_s, result: ApplyResult, metadata=None) -> BuiltArticle | None:
    try:
        return build_fetched(rev, site, run_id=run_id, source=f"events:{hour}", html=html,
                             time_budget_s=time_budget_s, metadata=metadata)
    except Exception as exc:  # one bad page never stops the application
        where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        location = f" at {Path(where.filename).name}:{where.lineno}" if where else ""
        _quarantine(result, {
            "project": result.project, "page_id": rev.page_id, "title": rev.title, "revision_id": rev.revision_id,
            "reason": "enrichment_error", "detail": f"{type(exc).__name__}: {exc}{location}",
        })
        return None


def _same_article(row: dict[str, Any], built: BuiltArticle) -> bool:
    """Same revision and same Enterprise content (the hash without wme's provenance, which names the run), but for
    the editor's edit count (:func:`.metadata.same_but_edit_count`)."""
    if row["revision_id"] != built.revision_id or row.get("article") is None:
        return False
    stored = orjson.loads(row["article"])
    if (stored.get("wme") or {}).get("provenance", {}).get("content_hash") == built.content_hash:
        return True
    return same_but_edit_count(stored, built.article_json)


def _fetch_html(html: HtmlSource | None, revs: list[FetchedRevision], result: ApplyResult, log, concurrency: int
                ) -> dict[int, str]:
    """Parsoid HTML of the revisions whose text is visible; a revision the wiki cannot render keeps wikitext."""
    if html is None:
        return {}
    from wme_assets.sources.mediawiki import MediaWikiError

    wanted = [rev.revision_id for rev in revs if not rev.text_hidden]

    def one(rev_id: int) -> tuple[int, str | None, str | None]:
        try:
            return rev_id, html.revision_html(rev_id), None
        except MediaWikiError as exc:
            return rev_id, None, str(exc)

    found: dict[int, str] = {}
    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="realtime-html") as pool:
        for rev_id, body, error in pool.map(one, wanted):
            if body is not None:
                found[rev_id] = body
                result.html_pages += 1
            else:
                result.html_missing += 1
                if result.html_missing <= 10:
                    log(f"revision {rev_id}: no HTML ({error}); enriched from wikitext")
    return found


def _write_delta(store, project, hour, run_id, state, rows, out_dir: Path, cache: Path, result: ApplyResult) -> None:
    writer = ArticleStoreWriter(out_dir, project=project, source=f"events:{hour}", run_id=run_id)
    try:
        if hour in state.deltas:
            for path in cached_files(store, state.delta_manifests[hour], cache / "carry"):
                table = pq.read_table(path).cast(ARTICLE_SCHEMA)
                keep = pc.invert(pc.is_in(table.column("page_id"), value_set=pa.array(list(rows), pa.int64())))
                table = table.filter(keep)
                if table.num_rows:
                    writer.write_batch(table)
                    result.carried_rows += table.num_rows
        for page_id, row in sorted(rows.items()):
            if row[0] == "delete":
                _, namespace, revision_id, name = row
                writer.delete(page_id, namespace, revision_id, name=name)
                continue
            built: BuiltArticle = row[1]
            writer.add(
                built.page_id, built.namespace, built.name, built.revision_id, built.date_modified,
                built.article_json, is_disambiguation=built.is_disambiguation,
                structured=built.structured_json or None,
            )
        writer.close()
    except BaseException:
        writer.abort()
        raise


def _quarantine(result: ApplyResult, record: dict[str, Any]) -> None:
    result.quarantined[record["reason"]] += 1
    result.quarantine_records.append(record)


def _write_quarantine(store: ObjectStore, project: str, hour: str, records: list[dict[str, Any]]) -> None:
    # One object per hour, like the delta: an earlier application's records of the hour are kept.
    name = f"realtime-{hour}.ndjson"
    earlier = read_quarantine(store, project, hour[:8], name) or []
    write_quarantine(store, project, hour[:8], name, [*earlier, *records])


__all__ = ["ApplyResult", "Rejected", "application_hour", "apply_changes", "build_fetched"]
