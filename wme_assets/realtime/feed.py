"""The article-change feed: every change the appliers publish, in 50 partitions with dense offsets, kept 7 days.

What the realtime API (``/v2/articles``, :mod:`wme_assets.serving.stream`) streams. The appliers are its only
writers and the single sequencer of its offsets: each application (:mod:`.update`) appends the articles and
tombstones it is about to publish as one *append*, under the global ``feed`` lease (held for the append
only). Layout under ``feed/``::

    _head.json                          the commit mark: what readers may read (FeedHead)
    {group:08d}/{append:012d}.ndjson.gz  one segment per append; group = append // GROUP_APPENDS
    {group:08d}/_index.json              checkpoints of the group: every CHECKPOINT_APPENDS-th append's
                                         starting offsets and date_published

A segment's first line is its header (append number, date_published, per partition the offsets it holds); then
one Enterprise article record per line, in (partition, offset) order, whose ``event`` carries ``type`` (create,
update, move, visibility-change, delete; the hourly batches' mapping), ``partition`` and ``offset``. A page's
partition is a stable hash of (project, page id) mod 50, so one page's changes keep their order. Every record of
an append shares its ``date_published`` (the commit time, never earlier than the previous append's), so time and
offsets both grow with the append number and a reader finds where to start from the checkpoints by binary
search, reading at most ``CHECKPOINT_APPENDS`` segments before the first it wants.

Commit: the segment is written first, then the head (each one PUT with ``Content-MD5``: whole or absent,
:meth:`~wme_assets.storage.object_store.ObjectStore.put_whole`). Readers
read only appends up to ``head.last_append``: a segment a crashed writer left is never read and the next
append, which gets the same number, overwrites it.

Retention (``WME_FEED_RETENTION_DAYS``): whole groups whose last append is older are dropped by the appender;
the head says first what is kept (``first_offsets``, ``retained_from``), then the objects go, so a reader
asking for less than that is refused with an explicit error and never silently skips.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from isal import igzip

from wme_assets.settings import Settings
from wme_assets.storage.lease import writer_lease
from wme_assets.storage.object_store import ObjectStore, ObjectStoreError

FEED_DIR = "feed"
PARTITIONS = 50  # Enterprise's PARTITIONS
MAX_PARTS = 10  # Enterprise's MAX_PARTS: part p = partitions 5p … 5p+4
PARTITIONS_PER_PART = PARTITIONS // MAX_PARTS
GROUP_APPENDS = 4096  # appends per group folder (the unit of retention)
CHECKPOINT_APPENDS = 64  # a checkpoint every this many appends
FEED_LEASE = "feed"
FEED_LEASE_WAIT = 120.0  # appends of other projects queue for the lease; each holds it for one append


def partition_of(project: str, page_id: int) -> int:
    """The partition of a page: stable across processes and versions (CRC-32, not the salted ``hash()``)."""
    return zlib.crc32(f"{project}:{page_id}".encode()) % PARTITIONS


def partitions_of_part(part: int) -> range:
    return range(part * PARTITIONS_PER_PART, (part + 1) * PARTITIONS_PER_PART)


def rfc3339_ms(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_time(text: str) -> datetime:
    """An RFC 3339 time; one without a zone is UTC (the SDK sends ``isoformat()`` of naive datetimes so)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass
class ProjectFed:
    """Where one project's feeding stands: its log's events up to ``seq`` are in the feed, the last of them in
    append ``append`` (the cut point's start when that append's delta is not published yet)."""

    seq: int = -1
    append: int = -1


@dataclass
class FeedHead:
    last_append: int = -1
    next_offsets: list[int] = field(default_factory=lambda: [0] * PARTITIONS)
    first_offsets: list[int] = field(default_factory=lambda: [0] * PARTITIONS)  # oldest offset kept
    retained_from: int = 0  # the first append kept
    last_published: str | None = None
    projects: dict[str, ProjectFed] = field(default_factory=dict)
    # Fixed when the feed starts (readers compute keys from them): the constants of that moment.
    group_appends: int = field(default_factory=lambda: GROUP_APPENDS)
    checkpoint_appends: int = field(default_factory=lambda: CHECKPOINT_APPENDS)

    def group_of(self, append: int) -> int:
        return append // self.group_appends

    def to_json(self) -> bytes:
        data = {k: v for k, v in self.__dict__.items() if k != "projects"}  # fmt: skip
        data["projects"] = {p: {"seq": f.seq, "append": f.append} for p, f in sorted(self.projects.items())}
        return orjson.dumps(data)

    @classmethod
    def from_json(cls, raw: bytes) -> FeedHead:
        data = orjson.loads(raw)
        projects = {p: ProjectFed(int(f["seq"]), int(f["append"])) for p, f in data.pop("projects", {}).items()}
        return cls(**data, projects=projects)

    def fed_seq(self, project: str) -> int:
        return self.projects.get(project, ProjectFed()).seq


@dataclass(frozen=True)
class Checkpoint:
    append: int
    offsets: list[int]  # the head's next_offsets before this append
    published: str


def head_key(store: ObjectStore) -> str:
    return store.key(FEED_DIR, "_head.json")


def segment_key(store: ObjectStore, head: FeedHead, append: int) -> str:
    return store.key(FEED_DIR, f"{head.group_of(append):08d}", f"{append:012d}.ndjson.gz")


def index_key(store: ObjectStore, group: int) -> str:
    return store.key(FEED_DIR, f"{group:08d}", "_index.json")


def load_head(store: ObjectStore) -> FeedHead:
    key = head_key(store)
    try:
        return FeedHead.from_json(store.read_bytes(key))
    except ObjectStoreError:
        if store.exists(key):
            raise
        return FeedHead()  # no feed yet


def load_index(store: ObjectStore, group: int) -> list[Checkpoint]:
    key = index_key(store, group)
    if not store.exists(key):
        return []
    return [Checkpoint(c["append"], c["offsets"], c["published"]) for c in orjson.loads(store.read_bytes(key))]


def feed_lease(settings: Settings, store: ObjectStore):
    return writer_lease(settings, FEED_LEASE, scope=f"{store.bucket}/{store.prefix}", wait=FEED_LEASE_WAIT)


@dataclass
class Appended:
    append: int
    records: int
    published: str
    offsets: dict[int, tuple[int, int]]  # partition -> (first, last) offset of this append


def append_records(
    store: ObjectStore,
    settings: Settings,
    project: str,
    to_seq: int,
    records: list[tuple[int, dict[str, Any]]],
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Appended | None:
    """Append ``records`` ((page id, article record) of ``project``, in page order) as the feed of the
    project's log events up to ``to_seq``; None when the head already has those events (a re-application
    after a crash between this append and the delta's publication)."""
    with feed_lease(settings, store):
        head = load_head(store)
        if head.fed_seq(project) >= to_seq:
            return None
        append = head.last_append + 1
        moment = now().astimezone(UTC)
        if head.last_published and rfc3339_ms(moment) < head.last_published:
            moment = parse_time(head.last_published)  # never earlier than the previous append: time grows
        published = rfc3339_ms(moment)
        before = list(head.next_offsets)
        housekeeping = append % head.checkpoint_appends == 0
        if housekeeping:
            _checkpoint(store, head, Checkpoint(append, before, published))
        lines, ranges = [], {}
        for page_id, record in records:
            partition = partition_of(project, page_id)
            offset = head.next_offsets[partition]
            head.next_offsets[partition] += 1
            first, _ = ranges.get(partition, (offset, offset))
            ranges[partition] = (first, offset)
            record["event"] = {**record.get("event", {}), "date_published": published, "partition": partition,
                               "offset": offset}  # fmt: skip
            lines.append((partition, offset, orjson.dumps(record)))
        # In (partition, offset) order: a reader finds each record's place from the header, parsing none.
        lines = [line for _, _, line in sorted(lines, key=lambda item: item[:2])]
        header = {"append": append, "date_published": published, "project": project, "to_seq": to_seq,
                  "partitions": {str(p): list(r) for p, r in sorted(ranges.items())}}  # fmt: skip
        # python-isal (the snapshots' codec): ~10x stdlib gzip, and the segment is on the append's critical path.
        body = igzip.compress(b"\n".join([orjson.dumps(header), *lines]) + b"\n", compresslevel=1)
        store.put_whole(segment_key(store, head, append), body, content_type="application/x-ndjson")
        head.last_append, head.last_published = append, published
        head.projects[project] = ProjectFed(to_seq, append)
        if housekeeping:
            _prune(store, head, moment - timedelta(days=settings.feed_retention_days))
        store.put_whole(head_key(store), head.to_json(), content_type="application/json")
        if housekeeping:
            _drop_unretained(store, head)
    return Appended(append, len(records), published, ranges)


def _checkpoint(store: ObjectStore, head: FeedHead, checkpoint: Checkpoint) -> None:
    group = head.group_of(checkpoint.append)
    # Entries past the head are a crashed writer's: the same append number is being written again now.
    kept = [c for c in load_index(store, group) if c.append <= head.last_append]
    data = [c.__dict__ for c in [*kept, checkpoint]]
    store.put_whole(index_key(store, group), orjson.dumps(data), content_type="application/json")


def _prune(store: ObjectStore, head: FeedHead, cutoff: datetime) -> None:
    """Move the head's retained start past the groups whose every append is older than ``cutoff`` (their
    objects go once the head is written, :func:`_drop_unretained`). The current group always stays."""
    cutoff_text = rfc3339_ms(cutoff)
    while head.group_of(head.retained_from) < head.group_of(head.last_append):
        following = load_index(store, head.group_of(head.retained_from) + 1)
        if not following or following[0].published >= cutoff_text:
            return  # the next group's first append is kept, so this group's last may be too
        head.retained_from = following[0].append
        head.first_offsets = list(following[0].offsets)


def _drop_unretained(store: ObjectStore, head: FeedHead) -> None:
    for group in store.folders(store.key(FEED_DIR) + "/"):
        if group.isdigit() and int(group) < head.group_of(head.retained_from):
            store.delete_prefix(store.key(FEED_DIR, group) + "/")
