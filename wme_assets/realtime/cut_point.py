"""The cut point of an article store: where its change stream stands, in the source's own terms.

A fresh snapshot holds every change applied to the store and none after; its manifest says where that is
(:class:`~wme_assets.schema.manifest.CutPoint`) so that a consumer of the snapshot continues the change stream
right after it. The applied position (``events/_applied/{project}.json``) names only the last applied event;
this turns it into what a consumer resumes from:

- EventStreams: the SSE id of that event (its ``position``), a JSON list of every partition's offset or
  timestamp: sent as ``Last-Event-ID`` the stream continues exactly after it;
- recentchanges: the last applied recentchanges id *and* the last applied logevents id (the source merges two
  lists, so resuming needs both), found in the project's event log up to the applied seq;
- and in both cases the realtime API's ``offsets`` (:func:`feed_offsets_at`), where wme's own stream of the
  applied changes continues.
"""

from __future__ import annotations

import orjson

from wme_assets.realtime.event_log import EventLog, LoggedEvent
from wme_assets.realtime.feed import load_head
from wme_assets.realtime.feed_read import FeedReader
from wme_assets.realtime.update import AppliedPosition
from wme_assets.schema.manifest import CutPoint, StreamPartition
from wme_assets.storage.object_store import ObjectStore


def cut_point_of(store: ObjectStore, stream: str, project: str, applied: AppliedPosition) -> CutPoint | None:
    """The cut point of ``project``'s store at ``applied`` (None when nothing has been applied yet)."""
    if applied.seq < 0:
        return None
    applied_events = [e for e in EventLog(store, stream).read(project) if e.seq <= applied.seq]
    last = next((e for e in reversed(applied_events) if e.seq == applied.seq), None)
    common = {
        "seq": applied.seq,
        "event_id": applied.position,
        "event_dt": last.change.dt if last is not None else None,
        "feed_offsets": feed_offsets_at(store, project, applied.seq),
    }
    if stream == "eventstreams":
        return CutPoint(source="eventstreams", partitions=stream_partitions(applied.position), **common)
    return CutPoint(
        source="recentchanges",
        rcid=_last_id(applied_events, "rc"),
        logid=_last_id(applied_events, "log"),
        **common,
    )


def feed_offsets_at(store: ObjectStore, project: str, applied_seq: int) -> dict[int, int] | None:
    """The feed's offsets (partition -> next offset) a consumer of a store applied through ``applied_seq``
    resumes the realtime API from (None when there is no feed yet).

    The caller holds the project's article-store lease, so no application of the project is under way: either
    the feed has exactly the applied events (the head's offsets now), or one append more, whose delta a crash
    kept from being published (:mod:`.update`): then, in the partitions that append wrote, its first offsets, so
    the consumer gets those changes from the stream. Other projects' appends are after those offsets too; a
    consumer filters by ``is_part_of``.
    """
    head = load_head(store)
    if head.last_append < 0:
        return None
    offsets = dict(enumerate(head.next_offsets))
    fed = head.projects.get(project)
    if fed is not None and fed.seq > applied_seq:
        # The unpublished append's first offset in each partition it wrote; the project has nothing after it.
        if fed.append < head.retained_from:  # kept past the retention unapplied: start at what is kept
            return dict(enumerate(head.first_offsets))
        for partition, first in FeedReader(store).segment(head, fed.append).first_offsets().items():
            offsets[partition] = first
    return offsets


def stream_partitions(sse_id: str | None) -> list[StreamPartition] | None:
    """The partitions an EventStreams SSE id names (None when it is not such a list)."""
    if not sse_id:
        return None
    try:
        entries = orjson.loads(sse_id)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(entries, list):
        return None
    return [
        StreamPartition(
            topic=entry["topic"], partition=int(entry["partition"]),
            offset=entry.get("offset"), timestamp=entry.get("timestamp"),
        )  # fmt: skip
        for entry in entries
        if isinstance(entry, dict) and "topic" in entry and "partition" in entry
    ]


def _last_id(events: list[LoggedEvent], prefix: str) -> int | None:
    """The highest ``{prefix}:{id}`` position among ``events`` (rc or log ids only grow)."""
    ids = [int(e.position.split(":")[1]) for e in events if e.position.startswith(f"{prefix}:")]
    return max(ids) if ids else None
