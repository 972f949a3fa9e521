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


class Inputs(_Model):
    dump_date: str | None = None
    event_cutoff: str | None = None


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
        # Article manifests leave `content` out: they stay byte-identical to those written before it existed.
        exclude = {"content"} if self.content is None else None
        return orjson.dumps(self.model_dump(mode="json", exclude=exclude), option=orjson.OPT_INDENT_2) + b"\n"

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
