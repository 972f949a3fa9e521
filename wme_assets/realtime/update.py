"""Bringing one project's article store up to date: the events its change log holds, applied in order from
where the last application stopped.

The listener (``listener.py``) only stores events; this applies them, and feeds what each application
publishes to the article-change feed (:mod:`.feed`) of the realtime API. Where it stopped is a small object
per project, ``events/_applied/{project}.json`` (``{"seq": …, "position": …, "event_id": …}``: the last
applied event of the log), replaced only after the delta of a batch is published. A crash between the
two re-applies that batch, which changes nothing: the application is idempotent (an unchanged revision is
not rewritten, an older one never overwrites a newer one).

Revisions come from the project's own MediaWiki (``WME_MEDIAWIKI_ENDPOINTS``: its Action API, and its
Parsoid HTML as on the dump path with an endpoint), so a project without an endpoint is refused with the
setting to set.

Order of one application of events a..b, and why a crash anywhere loses and repeats nothing:

1. the delta is written locally, then its rows are appended to the feed with the head saying the project's
   events up to b are fed (one atomic head write; a crash before it leaves nothing readers see);
2. the delta is published; a crash between 1 and 2 leaves the feed ahead of the store: the next update
   applies exactly a..b again first (:func:`_feed_batches`), publishes its delta and appends nothing (the head
   has b); a snapshot's cut point meanwhile takes the head's offsets from before that append
   (:func:`wme_assets.realtime.cut_point.feed_offsets_at`), so its consumer still gets those changes;
3. the applied position moves to b; a crash between 2 and 3 re-applies a..b, which publishes and appends
   nothing (unchanged, and the head has b).

Every application holds the project's article store lease (``articles/{project}``, :func:`applier_lease`), as
every other writer of the store does: so a reader holding it (a fresh snapshot) sees the store and the
applied position of the same moment.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from wme_assets.realtime.apply import ApplyResult, HtmlSource, RevisionSource, apply_changes
from wme_assets.realtime.event_log import EVENTS_DIR, EventLog, LoggedEvent, now_rfc3339
from wme_assets.realtime.feed import load_head
from wme_assets.realtime.feed_records import feed_before_publish
from wme_assets.settings import ConfigurationError, Settings, validate_project
from wme_assets.storage.lease import Lease, LeaseRefused, articles_lease, writer_lease
from wme_assets.storage.object_store import ObjectStore

APPLIED_DIR = f"{EVENTS_DIR}/_applied"
BATCH_EVENTS = 500  # events per application: one delta write each, and a bounded fetch
APPLY_CHECK_SECONDS = 0.5  # how often `wme listen` looks whether the listener stored new events


@dataclass
class AppliedPosition:
    seq: int = -1  # the last applied event's seq in the project's log; -1 = nothing applied yet
    position: str | None = None
    event_id: str | None = None
    updated: str | None = None  # when it was applied
    dt: str | None = None  # when that change happened on the wiki
    received: str | None = None  # when the listener received it: the log is read from that hour on


@dataclass
class UpdateResult:
    project: str
    applied_from: int  # the seq applied before this update
    applied_to: int  # the seq applied after it
    events: int = 0
    batches: list[ApplyResult] = field(default_factory=list)

    def totals(self) -> dict[str, int]:
        keys = ("upserts", "tombstones", "skipped_older", "unchanged", "missing")
        return {key: sum(getattr(b, key) for b in self.batches) for key in keys} | {
            "quarantined": sum(sum(b.quarantined.values()) for b in self.batches)
        }

    def summary(self) -> str:
        if not self.events:
            return f"{self.project}: up to date (applied through seq {self.applied_to})"
        totals = ", ".join(f"{n} {key.replace('_', ' ')}" for key, n in self.totals().items())
        return f"{self.project}: {self.events} events applied (seq {self.applied_from + 1}–{self.applied_to}): {totals}"


def applied_key(store: ObjectStore, project: str) -> str:
    return store.key(APPLIED_DIR, f"{validate_project(project)}.json")


def load_applied(store: ObjectStore, project: str) -> AppliedPosition:
    key = applied_key(store, project)
    if not store.exists(key):
        return AppliedPosition()
    data = orjson.loads(store.read_bytes(key))
    return AppliedPosition(
        int(data["seq"]), data.get("position"), data.get("event_id"), data.get("updated"), data.get("dt"),
        data.get("received"),
    )  # fmt: skip


def save_applied(store: ObjectStore, project: str, last: LoggedEvent) -> None:
    data = {
        "seq": last.seq, "position": last.position, "event_id": last.event_id, "updated": now_rfc3339(),
        "dt": last.change.dt, "received": last.received,
    }  # fmt: skip
    store.put_bytes(applied_key(store, project), orjson.dumps(data), content_type="application/json")


def pending_events(store: ObjectStore, stream: str, project: str) -> tuple[AppliedPosition, list[LoggedEvent]]:
    """Where the project's application stands, and the logged events after it, in log order."""
    applied = load_applied(store, project)
    # Read from the hour the last applied event arrived in: the log's older hours hold nothing after it.
    from_hour = applied.received[:13].replace("-", "").replace("T", "") if applied.received else None
    return applied, list(EventLog(store, stream).read(project, after_seq=applied.seq, from_hour=from_hour))


def _batches(events: list[LoggedEvent], size: int) -> Iterable[list[LoggedEvent]]:
    for start in range(0, len(events), size):
        yield events[start : start + size]


def _feed_batches(events: list[LoggedEvent], size: int, fed_seq: int) -> Iterable[list[LoggedEvent]]:
    """The batches to apply; when the feed already has events not applied yet (a crash after the feed's append
    and before the delta's publication), those exactly first, so their application appends nothing again."""
    ahead = [e for e in events if e.seq <= fed_seq]
    if ahead:
        yield ahead
    yield from _batches(events[len(ahead) :], size)


def update_project(
    store: ObjectStore,
    settings: Settings,
    project: str,
    *,
    revisions: RevisionSource | None = None,
    html: HtmlSource | None = None,
    siteinfo: dict[str, Any] | None = None,
    batch_events: int = BATCH_EVENTS,
    run_id: str | None = None,
    now: datetime | None = None,
    log: Callable[[str], None] = print,
) -> UpdateResult:
    """Apply every logged event of ``project`` not applied yet, ``batch_events`` at a time (see the module doc).

    The caller holds the project's article-store lease (:func:`applier_lease`). ``now`` is the clock of
    the hourly logic (which delta the changes go to; tests drive it), default the real one.
    """
    applied, pending = pending_events(store, settings.change_source, project)
    result = UpdateResult(project, applied_from=applied.seq, applied_to=applied.seq)
    if not pending:
        return result
    if revisions is None:
        revisions, html = _clients(settings, project)
    siteinfo = siteinfo or revisions.siteinfo()
    run_id = run_id or f"update-{uuid.uuid4().hex[:12]}"
    fed = load_head(store).fed_seq(project)
    for batch in _feed_batches(pending, batch_events, fed):
        feed = feed_before_publish(store, settings, project, siteinfo.get("language"), batch[-1].seq)
        applied_batch = apply_changes(
            store, project, [e.change for e in batch], revisions=revisions, siteinfo=siteinfo, html=html,
            run_id=run_id, now=now, log=log, before_publish=feed,
        )  # fmt: skip
        save_applied(store, project, batch[-1])
        result.batches.append(applied_batch)
        result.events += len(batch)
        result.applied_to = batch[-1].seq
    return result


def applier_lease(
    settings: Settings,
    store: ObjectStore,
    project: str,
    *,
    run_id: str | None = None,
    wait: float | None = None,
    log: Callable[[str], None] | None = None,
) -> Lease:
    """The lease every writer of ``project``'s article store holds (``articles/{project}``; the enrichment asset
    holds the same one).

    Applications hold it for each update, the hourly batch while it reads an hour's delta: so the hour an
    application chose is published before that hour's batch is read (:mod:`wme_assets.realtime.batches`).
    """
    scope = f"{store.bucket}/{store.prefix}"
    return writer_lease(settings, articles_lease(project), scope=scope, run_id=run_id, wait=wait, log=log)


def has_change_source(store: ObjectStore, settings: Settings, project: str) -> bool:
    """Whether ``project`` gets change events: a wiki to poll (recentchanges), or events in its log or applied."""
    if settings.change_source == "recentchanges" and settings.mediawiki_endpoint(project):
        return True
    if store.exists(applied_key(store, project)):
        return True
    return bool(EventLog(store, settings.change_source).segments(project))


def bring_up_to_date(
    store: ObjectStore,
    settings: Settings,
    project: str,
    *,
    run_id: str | None = None,
    log: Callable[[str], None] = print,
) -> UpdateResult:
    """What ``wme update`` does, under the caller's lease: with recentchanges one poll of the project's wiki
    first, then every logged event not applied yet (with EventStreams, what ``wme listen`` has stored)."""
    if settings.change_source == "recentchanges" and settings.mediawiki_endpoint(project):
        from wme_assets.realtime.listener import run_listener

        own = settings.model_copy(update={"projects": project})
        stats = run_listener(own, store, once=True)  # one poll of the project's own wiki
        log(f"{project}: {stats.kept} new change events from its recentchanges")
    result = update_project(store, settings, project, run_id=run_id, log=lambda _: None)
    log(result.summary())
    return result


def _clients(settings: Settings, project: str):
    from wme_assets.sources.action_api import ActionApiClient
    from wme_assets.sources.mediawiki import MediaWikiClient

    endpoint = settings.mediawiki_endpoint(project)
    if not endpoint:
        raise ConfigurationError(
            f"{project}: changed revisions are fetched from the project's MediaWiki, and it has none: add it to "
            "WME_MEDIAWIKI_ENDPOINTS (project=url, e.g. enwiki=https://en.wikipedia.org/w)"
        )
    revisions = ActionApiClient(
        f"{endpoint}/api.php",
        concurrency=settings.realtime_fetch_concurrency,
        retries=settings.http_retries,
        backoff=settings.http_backoff,
        maxlag=settings.realtime_maxlag,
    )
    html = MediaWikiClient(endpoint, retries=settings.http_retries, backoff=settings.http_backoff)
    return revisions, html


def listen_and_update(
    settings: Settings,
    store: ObjectStore,
    *,
    once: bool,
    stop: threading.Event | None = None,
    echo: Callable[[str], None] = print,
) -> list[UpdateResult]:
    """``wme listen``: the change source into the event log, and the log into each project's article store.

    ``once``: read what the source has now (EventStreams until the server ends the stream; recentchanges one
    poll per project), apply it, return. Otherwise the listener runs in a thread and the projects are brought
    up to date as soon as it has stored new events (checked every ``APPLY_CHECK_SECONDS``), and at least every
    ``WME_RECENTCHANGES_POLL_SECONDS``, until ``stop`` is set: applying on a timer of its own would add up to
    one more period to every change's lag.
    """
    from wme_assets.realtime.listener import ListenerStats, run_listener

    stop = stop or threading.Event()
    if once:
        stats = run_listener(settings, store, once=True)
        echo(f"listener: {stats.as_dict()}")
        return _updates(store, settings, echo)
    stats = ListenerStats()
    listener = threading.Thread(
        target=run_listener, args=(settings, store), kwargs={"once": False, "stop": stop, "stats": stats},
        daemon=True, name="listener",
    )  # fmt: skip
    listener.start()
    results: list[UpdateResult] = []
    applied_kept, applied_at = -1, 0.0
    while not stop.is_set():
        if stats.kept != applied_kept or time.monotonic() - applied_at >= settings.recentchanges_poll_seconds:
            applied_kept, applied_at = stats.kept, time.monotonic()
            results = _updates(store, settings, echo)
        stop.wait(APPLY_CHECK_SECONDS)
    listener.join(timeout=60)
    return results


def _updates(store: ObjectStore, settings: Settings, echo: Callable[[str], None]) -> list[UpdateResult]:
    results = [_update_and_say(store, settings, project, echo) for project in settings.project_list]
    return [r for r in results if r is not None]


def _update_and_say(
    store: ObjectStore, settings: Settings, project: str, echo: Callable[[str], None]
) -> UpdateResult | None:
    try:
        # Not waiting: a project whose store another run writes is applied on the next round.
        with applier_lease(settings, store, project, wait=0, log=echo):
            result = update_project(store, settings, project, log=lambda _: None)
    except LeaseRefused as exc:  # another writer of the store (an enrichment, a snapshot): the next round
        echo(f"{project}: not applied this round: {exc}")
        return None
    echo(result.summary())
    return result
