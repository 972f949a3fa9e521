"""Our own records beside Enterprise's: the snapshot manifest and the ``latest`` pointer.

``{id}.manifest.json`` (:class:`SnapshotManifest`) says everything needed to verify a snapshot, file by file and
member by member; ``{snapshots}/latest/{id}{sfx}.json`` (:class:`LatestPointer`) says which dated snapshot is
current. Both are strict (unknown fields are errors) and carry their own layout version. What the files mean
and how they are built and checked: :mod:`wme_assets.snapshots.manifest` and :mod:`wme_assets.snapshots.publish`.
"""

from __future__ import annotations

from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict

MANIFEST_SCHEMA_VERSION = 1
"""Version of the manifest's own layout (the records' is :data:`~wme_assets.schema.base.RECORD_SCHEMA_VERSION`)."""
POINTER_SCHEMA_VERSION = 1
"""Version of the ``latest`` pointer's layout."""

SnapshotKind = Literal["articles", "structured", "batches"]  # batches: the hourly files, article records
Tier = Literal["paid", "free"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- manifest -------------------------------------------------------------------------------------


class PublishedFile(_Model):
    """An Enterprise metadata JSON object as published: its key and digest."""

    key: str
    bytes: int
    sha256: str


class MemberEntry(_Model):
    """One NDJSON member inside the archive (uncompressed content)."""

    index: int
    name: str
    bytes: int
    sha256: str
    md5: str
    record_count: int
    first_page_id: int
    last_page_id: int


class FileEntry(_Model):
    """One ``.tar.gz`` file. ``key`` and ``metadata`` are set once published."""

    path: str
    key: str | None = None
    bytes: int
    sha256: str
    md5: str
    record_count: int
    first_page_id: int | None
    last_page_id: int | None
    metadata: PublishedFile | None = None


class ChunkEntry(FileEntry):
    index: int
    identifier: str
    member: str


class StreamPartition(_Model):
    """One partition of an EventStreams topic as the SSE id of the last applied event names it."""

    topic: str
    partition: int
    offset: int | None = None  # the Kafka offset, when the id gives one
    timestamp: int | None = None  # milliseconds since the epoch, when the id gives one (EventStreams' newer ids)


class CutPoint(_Model):
    """Where the project's change stream stood when the snapshot's state was read: the snapshot holds every
    change up to and including this point and none after it, so a consumer continues the stream right after
    it (EventStreams: ``Last-Event-ID`` = :attr:`event_id`; recentchanges/logevents: ids above :attr:`rcid`
    and :attr:`logid`). Applying a change twice is harmless, so starting a little earlier is safe; later is not.
    """

    source: Literal["eventstreams", "recentchanges"]
    seq: int  # the last applied event's seq in the project's event log (events/{project}/...)
    event_id: str | None = None  # the source's position of that event: the SSE id (EventStreams) or rc:/log:{id}
    event_dt: str | None = None  # when that event happened (its dt)
    partitions: list[StreamPartition] | None = None  # EventStreams: every partition of the SSE id
    rcid: int | None = None  # recentchanges: the last applied recentchanges id
    logid: int | None = None  # recentchanges: the last applied logevents id
    # The realtime API's resume point (wme's article-change feed): partition -> the first offset the snapshot
    # does not hold, i.e. the `offsets` of a `/v2/articles` request that continues it. None in manifests
    # written before the feed existed.
    feed_offsets: dict[int, int] | None = None

    def describe(self) -> str:
        """One line for people: where a consumer resumes."""
        if self.source == "eventstreams":
            parts = ", ".join(
                f"{p.topic}[{p.partition}]@" + (f"offset {p.offset}" if p.offset is not None else f"ts {p.timestamp}")
                for p in self.partitions or []
            )
            where = f"EventStreams after {parts or self.event_id}"
        else:
            where = f"recentchanges after rcid {self.rcid}, logevents after logid {self.logid}"
        feed = ""
        if self.feed_offsets is not None:
            total, count = sum(self.feed_offsets.values()), len(self.feed_offsets)
            feed = f"; realtime API offsets: {total} records before it over {count} partitions"
        return f"{where} (event log seq {self.seq}, event time {self.event_dt}){feed}"


class Inputs(_Model):
    dump_date: str | None = None
    event_cutoff: str | None = None
    cut_point: CutPoint | None = None  # None: no change was ever applied (left out of the JSON then)


class Generator(_Model):
    name: str = "wme"
    version: str
    codec: str
    codec_version: str
    compresslevel: int
    max_member_bytes: int
    tar_format: str = "pax"
    tar_mtime: int


class Publication(_Model):
    tier: Tier
    date: str


class Content(_Model):
    """What the records of a snapshot other than an article snapshot are (absent from article manifests)."""

    kind: SnapshotKind
    record_schema: str  # {name}-{version} of the JSON Schema file every line was validated against


class SnapshotManifest(_Model):
    """``{id}.manifest.json``: everything needed to verify a snapshot, file by file and member by member."""

    schema_version: int = MANIFEST_SCHEMA_VERSION
    identifier: str
    is_part_of: str
    namespace: int
    in_language: str
    date_modified: str
    inputs: Inputs
    generator: Generator
    record_count: int
    first_page_id: int | None
    last_page_id: int | None
    archive: FileEntry
    members: list[MemberEntry]
    chunks: list[ChunkEntry]
    published: Publication | None = None
    content: Content | None = None  # None: an article snapshot

    @property
    def kind(self) -> SnapshotKind:
        return "articles" if self.content is None else self.content.kind

    def to_json(self) -> bytes:
        # Fields added later are left out when unset, so manifests without them stay byte-identical to those
        # written before they existed: `content` (article manifests) and the inputs' `cut_point` (no events).
        exclude: dict[str, Any] = {}
        if self.content is None:
            exclude["content"] = True
        if self.inputs.cut_point is None:
            exclude["inputs"] = {"cut_point": True}
        elif self.inputs.cut_point.feed_offsets is None:
            exclude["inputs"] = {"cut_point": {"feed_offsets": True}}
        return orjson.dumps(self.model_dump(mode="json", exclude=exclude or None), option=orjson.OPT_INDENT_2) + b"\n"

    @classmethod
    def from_json(cls, data: bytes | str) -> SnapshotManifest:
        return cls.model_validate_json(data)


# --- pointer ---------------------------------------------------------------------------------------


class ArchiveRef(_Model):
    key: str
    bytes: int
    sha256: str
    md5: str


class LatestPointer(_Model):
    """``{snapshots}/latest/{id}{sfx}.json``: which dated snapshot is current (its kind is its folder's)."""

    schema_version: int = POINTER_SCHEMA_VERSION
    identifier: str
    tier: Tier
    date: str
    manifest: PublishedFile
    metadata: PublishedFile
    archive: ArchiveRef
    record_count: int
    snapshot: dict[str, Any]

    def to_json(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"), option=orjson.OPT_INDENT_2) + b"\n"
