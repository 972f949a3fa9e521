"""Where every object of a snapshot lives: the published keys, the ``latest`` pointers and the staging folders.

The layout itself (folders, file names, the pointer) is described in :mod:`wme_assets.snapshots.publish`;
this module only names keys, parses them back, and reads pointers and manifests. Keys are relative to the
store's prefix.

Staging: a run of one partition (one project, date, tier and kind of snapshot; one Dagster partition of a
snapshot asset) stages everything it will publish under ``_staging/{kind}/{date}/{project}{sfx}/{attempt}/``
followed by the object's published key. The partition is in the folder so that the next run of that
partition finds and deletes what a killed run left there; the attempt, so that a run deletes its own staging
and nothing else at its end.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import ValidationError

from wme_assets.schema.manifest import LatestPointer
from wme_assets.snapshots.manifest import RECORD_SCHEMAS, SnapshotManifest
from wme_assets.storage.object_store import STAGING_DIR, ObjectStore
from wme_assets.util.dates import check_yyyymmdd, check_yyyymmddhh

FREE_TIER_GROUP = "group_1"
TIER_SUFFIX: dict[str, str] = {"paid": "", "free": f"_{FREE_TIER_GROUP}"}
LATEST = "latest"

_EXTENSIONS = {"archive": ".tar.gz", "metadata": ".json", "manifest": ".manifest.json"}


@dataclass(frozen=True)
class KindLayout:
    """The top folders of one kind of snapshot; every other part of a key is the same for every kind."""

    snapshots: str
    chunks: str


LAYOUTS: dict[str, KindLayout] = {
    "articles": KindLayout(snapshots="snapshots", chunks="chunks"),
    "structured": KindLayout(snapshots="structured-snapshots", chunks="structured-chunks"),
}
BATCHES = "batches"  # the hourly batches: their own layout (below), article records, no chunks, no `latest`
assert LAYOUTS.keys() | {BATCHES} == RECORD_SCHEMAS.keys(), "every kind of snapshot needs a layout and a record schema"


def suffix(tier: str) -> str:
    try:
        return TIER_SUFFIX[tier]
    except KeyError:
        raise ValueError(f"tier must be 'paid' or 'free', got {tier!r}") from None


def layout(kind: str) -> KindLayout:
    try:
        return LAYOUTS[kind]
    except KeyError:
        raise ValueError(f"snapshot kind must be one of {', '.join(LAYOUTS)}, got {kind!r}") from None


def checked_date(date: str) -> str:
    return check_yyyymmdd(date, "snapshot date")


def snapshot_key(date: str, identifier: str, tier: str, file: str = "archive", *, kind: str = "articles") -> str:
    """``{snapshots}/{date}/{id}{sfx}{.tar.gz|.json|.manifest.json}`` for file archive/metadata/manifest."""
    return f"{layout(kind).snapshots}/{checked_date(date)}/{identifier}{suffix(tier)}{_EXTENSIONS[file]}"


def chunk_key(
    date: str, identifier: str, index: int, tier: str, file: str = "archive", *, kind: str = "articles"
) -> str:
    """``{chunks}/{date}/{id}/chunk_{n}{sfx}{.tar.gz|.json}`` for file archive/metadata."""
    if file == "manifest":
        raise ValueError("chunks have no manifest of their own")
    return f"{layout(kind).chunks}/{checked_date(date)}/{identifier}/chunk_{index}{suffix(tier)}{_EXTENSIONS[file]}"


def latest_key(identifier: str, tier: str, *, kind: str = "articles") -> str:
    return f"{layout(kind).snapshots}/{LATEST}/{identifier}{suffix(tier)}.json"


def snapshots_listing_key(tier: str, *, kind: str = "articles") -> str:
    top = layout(kind).snapshots
    return f"aggregations/{top}/{top}{suffix(tier)}.ndjson"


def chunks_listing_key(identifier: str, tier: str, *, kind: str = "articles") -> str:
    top = layout(kind).chunks
    return f"aggregations/{top}/{identifier}/{top}{suffix(tier)}.ndjson"


# --- staging ---------------------------------------------------------------------------------------


def staging_folder(kind: str, date: str, project: str, tier: str) -> str:
    """``_staging/{kind}/{date}/{project}{sfx}/``: the staging of every run of one partition.

    For batches ``date`` is the hour, ``YYYYMMDDHH``, and there is no tier: ``_staging/batches/{hour}/{project}/``.
    """
    if kind == BATCHES:
        return f"{STAGING_DIR}/{BATCHES}/{check_yyyymmddhh(date, 'batch hour')}/{project}/"
    layout(kind)
    return f"{STAGING_DIR}/{kind}/{checked_date(date)}/{project}{suffix(tier)}/"


def new_attempt() -> str:
    """A name for one run's staging inside its partition's folder: when it started, and unique."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


# --- hourly batches ---------------------------------------------------------------------------------
# Enterprise's layout: batches/{YYYY-MM-DD}/{HH}/{id}.tar.gz|.json and aggregations/batches/{YYYY-MM-DD}/{HH}/
# batches.ndjson; our manifest beside the archive. No chunks, no tiers (batches are sold to the paid tier).


def batch_folder(hour: str) -> str:
    """``batches/{YYYY-MM-DD}/{HH}/`` of an hour ``YYYYMMDDHH``."""
    hour = check_yyyymmddhh(hour, "batch hour")
    return f"{BATCHES}/{hour[:4]}-{hour[4:6]}-{hour[6:8]}/{hour[8:]}/"


def batch_key(hour: str, identifier: str, file: str = "archive") -> str:
    """``batches/{YYYY-MM-DD}/{HH}/{id}{.tar.gz|.json|.manifest.json}`` for file archive/metadata/manifest."""
    return f"{batch_folder(hour)}{identifier}{_EXTENSIONS[file]}"


def batches_listing_key(hour: str) -> str:
    """``aggregations/batches/{YYYY-MM-DD}/{HH}/batches.ndjson``: every batch of the hour, Enterprise's format."""
    return f"aggregations/{batch_folder(hour)}batches.ndjson"


DATED_BATCH = re.compile(r"^batches/(\d{4})-(\d{2})-(\d{2})/(\d{2})/([^/]+?)(\.tar\.gz|\.manifest\.json|\.json)$")


# --- parsing keys back -----------------------------------------------------------------------------

_SNAPSHOT_TOPS = {kind_layout.snapshots: kind for kind, kind_layout in LAYOUTS.items()}
_CHUNK_TOPS = {kind_layout.chunks: kind for kind, kind_layout in LAYOUTS.items()}
_SNAPSHOT_TOP = "(" + "|".join(map(re.escape, _SNAPSHOT_TOPS)) + ")"
_CHUNK_TOP = "(" + "|".join(map(re.escape, _CHUNK_TOPS)) + ")"
DATED_SNAPSHOT = re.compile(rf"^{_SNAPSHOT_TOP}/(\d{{8}})/([^/]+?)(\.tar\.gz|\.manifest\.json|\.json)$")
DATED_CHUNK = re.compile(rf"^{_CHUNK_TOP}/(\d{{8}})/([^/]+)/chunk_\d+(_group_1)?\.(tar\.gz|json)$")
LATEST_POINTER = re.compile(rf"^{_SNAPSHOT_TOP}/{LATEST}/[^/]+\.json$")


def kind_of(key: str) -> str | None:
    """The kind of snapshot whose folder holds ``key`` (None: outside every kind's folders)."""
    top = key.split("/", 1)[0]
    return BATCHES if top == BATCHES else _SNAPSHOT_TOPS.get(top)


def chunk_kind(top: str) -> str:
    return _CHUNK_TOPS[top]


@dataclass(frozen=True)
class DatedKey:
    """A key of a dated snapshot, parsed: which snapshot (kind, date, identifier, tier) it belongs to."""

    key: str
    kind: str
    date: str
    identifier: str
    tier: str

    @property
    def manifest_key(self) -> str:
        return snapshot_key(self.date, self.identifier, self.tier, "manifest", kind=self.kind)


def parse_dated_key(key: str) -> DatedKey | None:
    """The snapshot a dated key (snapshot file or chunk file, any kind and tier) belongs to, else None."""
    if match := DATED_SNAPSHOT.match(key):
        top, date, name = match.group(1), match.group(2), match.group(3)
        tier = "free" if name.endswith(TIER_SUFFIX["free"]) else "paid"
        return DatedKey(key, _SNAPSHOT_TOPS[top], date, name.removesuffix(TIER_SUFFIX["free"]), tier)
    if match := DATED_CHUNK.match(key):
        top, date, identifier = match.group(1), match.group(2), match.group(3)
        return DatedKey(key, _CHUNK_TOPS[top], date, identifier, "free" if match.group(4) else "paid")
    return None


# --- reading what is published ---------------------------------------------------------------------


def read_latest(
    store: ObjectStore, identifier: str, tier: str = "paid", *, kind: str = "articles"
) -> LatestPointer | None:
    """The current pointer of a snapshot, or None when it was never published."""
    key = store.key(latest_key(identifier, tier, kind=kind))
    if store.head(key) is None:
        return None
    return LatestPointer.model_validate_json(store.read_bytes(key))


def load_manifest(store: ObjectStore, key: str) -> SnapshotManifest | None:
    """The manifest at ``key``; None when there is none, or what is there is not a manifest."""
    full_key = store.key(key)
    if store.head(full_key) is None:
        return None
    try:
        return SnapshotManifest.from_json(store.read_bytes(full_key))
    except ValidationError:
        return None


def named_keys(manifest: SnapshotManifest) -> set[str]:
    """Every key a published manifest names: its archive, chunks and their metadata objects."""
    keys = set()
    for entry in [manifest.archive, *manifest.chunks]:
        if entry.key:
            keys.add(entry.key)
        if entry.metadata is not None:
            keys.add(entry.metadata.key)
    return keys
