"""Where the fresh half stands: the listener's position and lag, and each project's application.

Read from small objects only, so that a monitor can ask every minute: the listener's status
(``events/_status/{stream}.json``, rewritten every 15 s while it runs), its cursor, and each project's
applied position (``events/_applied/{project}.json``). Nothing here reads the event log itself.

- **Listener**: when it last wrote (a listener that stopped writing is stale), its counts since it started
  (read, kept, duplicates, filtered and bad events by reason, reconnects by cause), and per project the newest
  change time it stored: ``source_lag_s`` is how far behind the wiki's clock that is, which for a busy stream
  is the listener's lag.
- **Projects**: ``events_behind`` is how many logged events are not applied yet (the log's next seq against
  the applied seq); ``seconds_behind`` is how long they have waited at most (0 when none wait: the time since
  the last application while events are pending); the last applied change (its event id, position and time).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from wme_assets.realtime.event_log import EventLog
from wme_assets.realtime.update import load_applied
from wme_assets.storage.object_store import ObjectStore

STALE_AFTER_SECONDS = 120.0  # the listener rewrites its status every 15 s; four missed beats is stale


def _parse(moment: str | None) -> datetime | None:
    return datetime.fromisoformat(moment.replace("Z", "+00:00")) if moment else None


def _seconds(since: datetime | None, now: datetime) -> float | None:
    return round((now - since).total_seconds(), 1) if since else None


@dataclass
class ProjectStatus:
    project: str
    logged: int  # events in the project's log
    applied: int  # of those, applied to the article store
    events_behind: int
    seconds_behind: float
    last_applied_event: str | None = None
    last_applied_position: str | None = None
    last_applied_at: str | None = None
    last_applied_change_dt: str | None = None
    newest_logged_dt: str | None = None
    source_lag_s: float | None = None  # now - the newest change time the listener stored for the project


@dataclass
class RealtimeStatus:
    stream: str
    listener_updated: str | None = None  # None: no listener has written a status yet
    listener_stale: bool = True
    listener_started: str | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    projects: list[ProjectStatus] = field(default_factory=list)

    @property
    def kept(self) -> int:
        return int(self.stats.get("kept", 0))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def realtime_status(
    store: ObjectStore, stream: str, projects: list[str], *, now: datetime | None = None
) -> RealtimeStatus:
    """The status of ``stream``'s listener and of each of ``projects`` (see the module docstring)."""
    now = now or datetime.now(UTC)
    event_log = EventLog(store, stream)
    listener = event_log.read_status() or {}
    cursor = event_log.load_cursor()
    updated = _parse(listener.get("updated"))
    result = RealtimeStatus(
        stream=stream,
        listener_updated=listener.get("updated"),
        listener_stale=updated is None or (now - updated).total_seconds() > STALE_AFTER_SECONDS,
        listener_started=listener.get("started"),
        stats=listener.get("stats", {}),
    )
    newest = listener.get("newest_dt", {})
    for project in projects:
        applied = load_applied(store, project)
        logged = cursor.next_seq.get(project, 0)
        behind = max(0, logged - (applied.seq + 1))
        waited = _seconds(_parse(applied.updated) or _parse(cursor.updated), now) if behind else 0.0
        result.projects.append(
            ProjectStatus(
                project=project,
                logged=logged,
                applied=applied.seq + 1,
                events_behind=behind,
                seconds_behind=waited or 0.0,
                last_applied_event=applied.event_id,
                last_applied_position=applied.position,
                last_applied_at=applied.updated,
                last_applied_change_dt=applied.dt,
                newest_logged_dt=newest.get(project),
                source_lag_s=_seconds(_parse(newest.get(project)), now),
            )
        )
    return result


def events_per_minute(kept_now: int, kept_before: int | None, seconds: float) -> float | None:
    """The listener's storing rate between two looks (None on the first, or when it restarted: counts reset)."""
    if kept_before is None or seconds <= 0 or kept_now < kept_before:
        return None
    return round((kept_now - kept_before) * 60 / seconds, 1)


__all__ = ["ProjectStatus", "RealtimeStatus", "events_per_minute", "realtime_status"]
