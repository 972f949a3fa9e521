"""The listener: read a change source, keep our projects' exported namespaces, store, advance the cursor.

Nothing acts on an event before it is in the event log (``event_log``): the listener only reads, filters and
stores; whatever applies changes reads the log. A bad event (malformed frame or JSON, a field the normaliser
needs missing or wrong) is logged with its event id, kept in the log's rejected segments with the reason, and
counted; it never stops the listener, and the cursor moves past it only once it is stored.

Ordering and clock skew: events are stored in the order they arrive (per-project ``seq``). Their ``dt`` is kept
as sent, and an event whose ``dt`` is earlier than the previous one of its project is counted
(``out_of_order_dt``), not reordered: the source's order is the order the wiki committed changes in, and a
consumer that needs time order has every ``dt``.

Duplicates: a reconnect may replay events; ids seen recently (``RECENT_IDS``) are skipped before storing, and
the log's reader drops the rarer duplicates a crash between segment and cursor leaves.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from wme_assets.realtime.event_log import Cursor, EventLog, LoggedEvent, RejectedEvent, now_rfc3339
from wme_assets.realtime.events import ChangeEvent
from wme_assets.realtime.eventstreams import (
    EventStreamsSource,
    InvalidEvent,
    StreamInterrupted,
    event_id_of,
    normalise_page_change,
)
from wme_assets.realtime.recentchanges import RecentChangesSource, SourceItem
from wme_assets.realtime.sse import SseFrame
from wme_assets.settings import Settings
from wme_assets.storage.object_store import ObjectStore

log = logging.getLogger(__name__)

STATUS_SECONDS = 15.0  # how often the listener's status object is rewritten (and at every stop)
RECENT_IDS = 200_000  # event ids remembered for skipping replays; a reconnect replays at most seconds of stream
EVENTSTREAMS_CURSOR = "eventstreams"
MAX_BACKOFF_SECONDS = 10.0


@dataclass
class ListenerStats:
    read: int = 0  # frames (EventStreams) or items (recentchanges) read
    kept: int = 0  # stored in the event log
    duplicates: int = 0  # replays skipped
    filtered: Counter = field(default_factory=Counter)  # reason -> count
    bad: Counter = field(default_factory=Counter)  # reason -> count
    reconnects: Counter = field(default_factory=Counter)  # why the stream was reconnected
    out_of_order_dt: int = 0
    bytes: int = 0
    flushes: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "kept": self.kept,
            "duplicates": self.duplicates,
            "filtered": dict(self.filtered),
            "bad": dict(self.bad),
            "reconnects": dict(self.reconnects),
            "out_of_order_dt": self.out_of_order_dt,
            "bytes": self.bytes,
            "flushes": self.flushes,
        }


class _Buffer:
    """Events waiting to be stored, and the positions the cursor moves to once they are."""

    def __init__(self, event_log: EventLog, stats: ListenerStats, flush_events: int, flush_seconds: float):
        self.log, self.stats = event_log, stats
        self.flush_events, self.flush_seconds = flush_events, flush_seconds
        self.cursor: Cursor = event_log.load_cursor()
        self.events: list[LoggedEvent] = []
        self.rejected: list[RejectedEvent] = []
        self.positions: dict[str, str] = {}
        self.since = time.monotonic()
        self.recent: OrderedDict[str, None] = OrderedDict()
        self.last_dt: dict[str, datetime] = {}
        self.started = now_rfc3339()
        self.status_at = 0.0

    def keep(self, change: ChangeEvent, raw: str) -> None:
        if change.event_id in self.recent:
            self.stats.duplicates += 1
            return
        self.recent[change.event_id] = None
        if len(self.recent) > RECENT_IDS:
            self.recent.popitem(last=False)
        dt = datetime.fromisoformat(change.dt)
        previous = self.last_dt.get(change.project)
        if previous is not None and dt < previous:
            self.stats.out_of_order_dt += 1
        else:
            self.last_dt[change.project] = dt
        self.events.append(LoggedEvent(change=change, raw=raw, received=now_rfc3339()))

    def reject(self, reason: str, error: str, event_id: str, position: str | None, raw: str) -> None:
        self.stats.bad[reason] += 1
        log.warning("bad event %s (%s): %s", event_id, reason, error)
        self.rejected.append(
            RejectedEvent(
                reason=reason, error=error, event_id=event_id, position=position, raw=raw, received=now_rfc3339()
            )
        )

    def due(self) -> bool:
        return len(self.events) >= self.flush_events or time.monotonic() - self.since >= self.flush_seconds

    def flush(self, *, final: bool = False) -> None:
        if self.events or self.rejected or any(self.cursor.positions.get(k) != v for k, v in self.positions.items()):
            self.cursor = self.log.append(self.events, self.rejected, self.cursor, self.positions)
            self.stats.kept += len(self.events)
            self.stats.flushes += 1
        self.events, self.rejected, self.positions = [], [], {}
        self.since = time.monotonic()
        if final or self.since - self.status_at >= STATUS_SECONDS:
            self.write_status()

    def write_status(self) -> None:
        """The listener's counts and newest event time per project, for the Dagster monitor (``status.py``)."""
        self.status_at = time.monotonic()
        try:
            self.log.write_status({
                "started": self.started,
                "pid": os.getpid(),
                "stats": self.stats.as_dict(),
                "newest_dt": {p: dt.strftime("%Y-%m-%dT%H:%M:%SZ") for p, dt in self.last_dt.items()},
                "next_seq": self.cursor.next_seq,
            })  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - the status is for watching; it never stops the listener
            log.warning("could not write the listener's status: %s", exc)


def run_listener(
    settings: Settings,
    store: ObjectStore,
    *,
    once: bool,
    stop: threading.Event | None = None,
    stats: ListenerStats | None = None,
    source: Any = None,
) -> ListenerStats:
    """Listen to the configured change source (``WME_CHANGE_SOURCE``) and store what it sends.

    ``once``: EventStreams is read until the server ends the stream (or it fails or stalls), recentchanges is
    polled once per project; otherwise the listener runs, reconnecting or polling, until ``stop`` is set.
    ``stats`` may be passed in to watch the counts while it runs (another thread).
    """
    stats = stats if stats is not None else ListenerStats()
    stop = stop or threading.Event()
    if settings.change_source == "recentchanges":
        _listen_recentchanges(settings, store, once=once, stop=stop, stats=stats, sources=source)
    else:
        _listen_eventstreams(settings, store, once=once, stop=stop, stats=stats, source=source)
    return stats


def _listen_eventstreams(
    settings: Settings,
    store: ObjectStore,
    *,
    once: bool,
    stop: threading.Event,
    stats: ListenerStats,
    source: EventStreamsSource | None,
) -> None:
    source = source or EventStreamsSource(settings.eventstreams_url, stall_seconds=settings.realtime_stall_seconds)
    buffer = _Buffer(
        EventLog(store, EVENTSTREAMS_CURSOR), stats, settings.realtime_flush_events, settings.realtime_flush_seconds
    )
    projects = frozenset(settings.project_list)
    last_id = buffer.cursor.positions.get(EVENTSTREAMS_CURSOR)
    since = None if last_id else datetime.now(UTC) - timedelta(seconds=settings.realtime_cold_start_seconds)
    failures = 0
    while not stop.is_set():
        try:
            for frame in source.frames(last_event_id=last_id, since=since):
                failures = 0
                _handle_frame(frame, last_id, buffer, projects, stats)
                if frame.id:
                    last_id = buffer.positions[EVENTSTREAMS_CURSOR] = frame.id
                if buffer.due():
                    buffer.flush()
                if stop.is_set():
                    break
            else:
                stats.reconnects["end of stream"] += 1
        except StreamInterrupted as exc:
            failures += 1
            reason = "stalled" if "stalled" in str(exc) else "connection lost"
            stats.reconnects[reason] += 1
            log.warning("event stream interrupted, resuming after %s: %s", last_id or "(cold start)", exc)
        buffer.flush(final=once or stop.is_set())
        if once:
            break
        # A clean end is reconnected at once (almost: a server that ends every stream must not spin us).
        stop.wait(min(MAX_BACKOFF_SECONDS, 0.05 * (2 ** min(failures, 8))) if failures else 0.02)


def _handle_frame(
    frame: SseFrame, last_id: str | None, buffer: _Buffer, projects: frozenset[str], stats: ListenerStats
) -> None:
    stats.read += 1
    stats.bytes += frame.size
    position = frame.id or last_id or ""
    frame_name = f"(frame {frame.id or 'without id, after ' + (last_id or 'the start')})"
    if frame.data is None or frame.unknown_fields:
        problem = "no data field" if frame.data is None else f"{frame.unknown_fields} line(s) not 'field: value'"
        buffer.reject("malformed_frame", f"SSE frame: {problem}", frame_name, frame.id, frame.data or "")
        return
    if frame.event != "message":
        stats.filtered["sse event type"] += 1
        return
    try:
        event = orjson.loads(frame.data)
    except orjson.JSONDecodeError as exc:
        buffer.reject("malformed_json", f"not JSON: {exc}", frame_name, frame.id, frame.data)
        return
    if isinstance(event, dict):
        meta = event.get("meta")
        if isinstance(meta, dict) and meta.get("domain") == "canary":  # Wikimedia's liveness probes
            stats.filtered["canary"] += 1
            return
        # Filter on the project before validating: most of the stream is other wikis, not ours to judge.
        if isinstance(event.get("wiki_id"), str) and event["wiki_id"] not in projects:
            stats.filtered["project"] += 1
            return
    try:
        change = normalise_page_change(event, position)
    except InvalidEvent as exc:
        buffer.reject("invalid_event", exc.problem, exc.event_id, frame.id, frame.data)
        return
    except ValueError as exc:  # ChangeEvent's own checks
        buffer.reject("invalid_event", str(exc), event_id_of(event), frame.id, frame.data)
        return
    if not change.touches_exported_namespace:
        stats.filtered["namespace"] += 1
        return
    buffer.keep(change, frame.data)


def _listen_recentchanges(
    settings: Settings,
    store: ObjectStore,
    *,
    once: bool,
    stop: threading.Event,
    stats: ListenerStats,
    sources: dict[str, RecentChangesSource] | None,
) -> None:
    if sources is None:
        sources = {}
        for project in settings.project_list:
            endpoint = settings.mediawiki_endpoint(project)
            if endpoint:
                sources[project] = RecentChangesSource(
                    project, endpoint, retries=settings.http_retries, backoff=settings.http_backoff,
                    login=settings.mediawiki_login(),
                )  # fmt: skip
        if not sources:
            from wme_assets.settings import ConfigurationError

            raise ConfigurationError(
                "WME_CHANGE_SOURCE=recentchanges needs a MediaWiki for at least one of WME_PROJECTS in "
                "WME_MEDIAWIKI_ENDPOINTS (project=url, e.g. enwiki=https://en.wikipedia.org/w)"
            )
    buffer = _Buffer(
        EventLog(store, "recentchanges"), stats, settings.realtime_flush_events, settings.realtime_flush_seconds
    )
    cold_start = timedelta(seconds=settings.realtime_cold_start_seconds)
    while not stop.is_set():
        for project, source in sources.items():
            state = buffer.cursor.positions.get(project)
            result = source.poll(state, since=datetime.now(UTC) - cold_start)
            for item in result.items:
                _handle_item(item, buffer, stats)
            buffer.positions[project] = result.state
            buffer.flush(final=once)
        if once:
            break
        stop.wait(settings.recentchanges_poll_seconds)


def _handle_item(item: SourceItem, buffer: _Buffer, stats: ListenerStats) -> None:
    stats.read += 1
    stats.bytes += len(item.raw)
    if item.change is None:
        if item.skip:  # a log entry of a kind that changes no exported article (blocks, new users...)
            stats.filtered[item.skip] += 1
        else:
            buffer.reject(item.reason or "invalid_event", item.error or "", item.event_id, item.position, item.raw)
        return
    if not item.change.touches_exported_namespace:
        stats.filtered["namespace"] += 1
        return
    buffer.keep(item.change, item.raw)
