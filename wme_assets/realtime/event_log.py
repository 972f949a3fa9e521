"""The raw event log: every kept change event, per project, append-only, stored before anything acts on it.

Layout (keys relative to the store's prefix)::

    events/{project}/{YYYYMMDD}/{HH}/{first_seq:012d}-{writer}.ndjson.gz   kept events, gzip NDJSON segments
    events/_rejected/{stream}/{YYYYMMDD}/{HH}/{writer}-{n}.ndjson.gz     events that could not be normalised
    events/_cursor/{stream}.json                                         where each change source stands

Object storage rather than PostgreSQL: embedded mode has no PostgreSQL (Dagster runs on SQLite), and the
article store, snapshots and everything downstream already live in the bucket, so one backend serves both
modes and the log is readable by the same tools. Every object is published atomically (staged, verified,
copied: ``ObjectStore.put_bytes``), so a segment is either whole or absent.

Order of a flush: the segments first, then the cursor. A crash in between leaves segments the cursor does
not know about; the next run resumes from the older cursor, reads those events again and stores them in new
segments (its own ``writer`` token, so nothing is overwritten). Reading sorts segments by ``(first_seq,
writer)``, writer tokens begin with their creation time, and drops any event_id it has already yielded: a
duplicate is detected and yielded once, and the order is the arrival order.

The directory hour is the hour the segment was *stored* (arrival, UTC), not the events' ``dt``: clocks of the
wikis skew and late events exist, and ordering by arrival keeps the log append-only. ``seq`` numbers events
per project in arrival order; each record keeps the raw event text exactly as received and the normalised
ChangeEvent.
"""

from __future__ import annotations

import gzip
import os
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from wme_assets.realtime.events import ChangeEvent
from wme_assets.settings import validate_project
from wme_assets.storage.object_store import ObjectStore

EVENTS_DIR = "events"
REJECTED_DIR = f"{EVENTS_DIR}/_rejected"
CURSOR_DIR = f"{EVENTS_DIR}/_cursor"
STATUS_DIR = f"{EVENTS_DIR}/_status"
SEGMENT_SUFFIX = ".ndjson.gz"
DEDUP_WINDOW = 1_000_000  # event ids remembered while reading; replays after a reconnect are far closer
GZIP_LEVEL = 6


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """One record of the log: the event as received and as normalised, where it came from, when it arrived."""

    change: ChangeEvent
    raw: str  # the event's JSON text exactly as the source sent it
    received: str  # arrival time, RFC 3339 UTC with microseconds
    seq: int = -1  # per project, in arrival order; assigned when appended

    @property
    def event_id(self) -> str:
        return self.change.event_id

    @property
    def position(self) -> str:
        return self.change.position


@dataclass(frozen=True, slots=True)
class RejectedEvent:
    """An event (or frame) that could not be used, kept with the reason so that nothing is lost."""

    reason: str
    error: str
    event_id: str
    position: str | None
    raw: str
    received: str


@dataclass
class Cursor:
    """Where a change source stands (``positions``: per stream or per project) and the next seq per project."""

    stream: str
    positions: dict[str, str] = field(default_factory=dict)
    next_seq: dict[str, int] = field(default_factory=dict)
    updated: str | None = None


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _writer_token() -> str:
    # Time first, so segments of a later run sort after an earlier run's with the same first_seq.
    return f"{time.time_ns() // 1_000_000:013d}{uuid.uuid4().hex[:8]}"


def _gzip_ndjson(records: list[dict[str, Any]]) -> bytes:
    body = b"".join(orjson.dumps(r) + b"\n" for r in records)
    return gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)


class EventLog:
    """The log of one change source (``stream``: ``eventstreams`` or ``recentchanges``) in an object store."""

    def __init__(self, store: ObjectStore, stream: str):
        self.store = store
        self.stream = validate_project(stream)  # same safe alphabet as project keys
        self.writer = _writer_token()
        self._rejected_count = 0

    # ----- cursor -------------------------------------------------------------------------------

    def cursor_key(self) -> str:
        return self.store.key(CURSOR_DIR, f"{self.stream}.json")

    def load_cursor(self) -> Cursor:
        key = self.cursor_key()
        if not self.store.exists(key):
            return Cursor(stream=self.stream)
        data = orjson.loads(self.store.read_bytes(key))
        return Cursor(
            stream=self.stream,
            positions=dict(data.get("positions", {})),
            next_seq={k: int(v) for k, v in data.get("next_seq", {}).items()},
            updated=data.get("updated"),
        )

    # ----- status -------------------------------------------------------------------------------

    def status_key(self) -> str:
        return self.store.key(STATUS_DIR, f"{self.stream}.json")

    def write_status(self, status: dict[str, Any]) -> None:
        """The listener's counts (``events/_status/{stream}.json``), rewritten as it runs; not part of the log."""
        body = orjson.dumps({"stream": self.stream, "updated": now_rfc3339(), **status})
        self.store.put_bytes(self.status_key(), body, content_type="application/json")

    def read_status(self) -> dict[str, Any] | None:
        key = self.status_key()
        return orjson.loads(self.store.read_bytes(key)) if self.store.exists(key) else None

    # ----- writing ------------------------------------------------------------------------------

    def append(
        self, events: list[LoggedEvent], rejected: list[RejectedEvent], cursor: Cursor, positions: dict[str, str]
    ) -> Cursor:
        """Store ``events`` (arrival order) and ``rejected``, then move the cursor to ``positions``.

        Returns the new cursor; nothing of it is written before every segment is in place.
        """
        hour_dir = datetime.now(UTC).strftime("%Y%m%d/%H")
        next_seq = dict(cursor.next_seq)
        by_project: dict[str, list[dict[str, Any]]] = {}
        firsts: dict[str, int] = {}
        for event in events:
            project = event.change.project
            seq = next_seq[project] if project in next_seq else self._log_end(project)
            next_seq[project] = seq + 1
            firsts.setdefault(project, seq)
            by_project.setdefault(project, []).append(
                {
                    "seq": seq,
                    "event_id": event.event_id,
                    "position": event.position,
                    "received": event.received,
                    "raw": event.raw,
                    "change": event.change.to_dict(),
                }
            )
        for project, records in by_project.items():
            key = self.store.key(
                EVENTS_DIR, validate_project(project), hour_dir, f"{firsts[project]:012d}-{self.writer}{SEGMENT_SUFFIX}"
            )
            self.store.put_bytes(key, _gzip_ndjson(records), content_type="application/gzip")
        if rejected:
            self._rejected_count += 1
            key = self.store.key(
                REJECTED_DIR, self.stream, hour_dir, f"{self.writer}-{self._rejected_count:06d}{SEGMENT_SUFFIX}"
            )
            self.store.put_bytes(
                key, _gzip_ndjson([_rejected_dict(r) for r in rejected]), content_type="application/gzip"
            )
        new = Cursor(
            stream=self.stream, positions={**cursor.positions, **positions}, next_seq=next_seq, updated=now_rfc3339()
        )
        if new.positions != cursor.positions or new.next_seq != cursor.next_seq:
            body = orjson.dumps(
                {
                    "stream": new.stream,
                    "positions": new.positions,
                    "next_seq": new.next_seq,
                    "updated": new.updated,
                    "writer": self.writer,
                    "pid": os.getpid(),
                }
            )
            self.store.put_bytes(self.cursor_key(), body, content_type="application/json")
        return new

    def _log_end(self, project: str) -> int:
        """The seq after the last one in the project's log: where a stream new to the project continues.

        A project's log is one sequence whatever the source (``events/{project}/``): when the deployment moves
        from one change source to the other, the new source's events must come after the old one's, or the
        applied position (a seq) would take them for applied already.
        """
        keys = self.segments(project)
        if not keys:
            return 0
        last = gzip.decompress(self.store.read_bytes(keys[-1])).splitlines()
        return max(orjson.loads(line)["seq"] for line in last) + 1 if last else 0

    # ----- reading ------------------------------------------------------------------------------

    def segments(self, project: str, *, from_hour: str | None = None) -> list[str]:
        """The project's segment keys in log order (first seq, then writer); with ``from_hour`` (``YYYYMMDDHH``),
        only those written in that hour or later (S3 lists from there: the log's older hours are not read)."""
        prefix = self.store.key(EVENTS_DIR, validate_project(project)) + "/"
        start_after = f"{prefix}{from_hour[:8]}/{from_hour[8:]}/" if from_hour else None

        def order(key: str) -> tuple[int, str]:
            first, _, writer = key.rsplit("/", 1)[1].removesuffix(SEGMENT_SUFFIX).partition("-")
            return int(first), writer

        listed = self.store.list(prefix, start_after=start_after)
        return sorted((o.key for o in listed if o.key.endswith(SEGMENT_SUFFIX)), key=order)

    def read(self, project: str, *, after_seq: int = -1, from_hour: str | None = None) -> Iterator[LoggedEvent]:
        """The project's events in arrival order, each event_id once (see the module docstring).

        ``after_seq``: only the events after it, and segments wholly before it are not downloaded (a segment
        holds the seqs from its first up to the next segment's first). ``from_hour``: see :meth:`segments`;
        the hour an event after ``after_seq`` was received in, or an earlier one.
        """
        seen: OrderedDict[str, None] = OrderedDict()
        keys = self.segments(project, from_hour=from_hour)
        firsts = [int(key.rsplit("/", 1)[1].split("-", 1)[0]) for key in keys]
        for index, key in enumerate(keys):
            if index + 1 < len(keys) and firsts[index + 1] <= after_seq + 1:
                continue  # every seq of this segment is at or before after_seq
            for line in gzip.decompress(self.store.read_bytes(key)).splitlines():
                record = orjson.loads(line)
                if record["seq"] <= after_seq:
                    continue
                event_id = record["event_id"]
                if event_id in seen:
                    continue
                seen[event_id] = None
                if len(seen) > DEDUP_WINDOW:
                    seen.popitem(last=False)
                yield LoggedEvent(
                    change=ChangeEvent.from_dict(record["change"]),
                    raw=record["raw"],
                    received=record["received"],
                    seq=record["seq"],
                )

    def read_rejected(self) -> Iterator[RejectedEvent]:
        prefix = self.store.key(REJECTED_DIR, self.stream) + "/"
        for info in sorted(self.store.list(prefix), key=lambda o: o.key.rsplit("/", 1)[1]):
            for line in gzip.decompress(self.store.read_bytes(info.key)).splitlines():
                yield RejectedEvent(**orjson.loads(line))


def _rejected_dict(rejected: RejectedEvent) -> dict[str, Any]:
    return {
        "reason": rejected.reason,
        "error": rejected.error,
        "event_id": rejected.event_id,
        "position": rejected.position,
        "raw": rejected.raw,
        "received": rejected.received,
    }
