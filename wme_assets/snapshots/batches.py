"""Publishing hourly batches: one project-namespace's changes of one hour, in Enterprise's batch layout.

Keys (relative to the store's prefix; :mod:`wme_assets.snapshots.layout`)::

    batches/{YYYY-MM-DD}/{HH}/{id}.tar.gz                 the archive: NDJSON members of article records
    batches/{YYYY-MM-DD}/{HH}/{id}.json                   Enterprise's batch object (md5 ``version``, size in MB)
    batches/{YYYY-MM-DD}/{HH}/{id}.manifest.json          our manifest (kind ``batches``), SHA-256 of every file
    aggregations/batches/{YYYY-MM-DD}/{HH}/batches.ndjson every batch of that hour, all projects

Enterprise's batches have no chunks and no tiers (they are sold to the paid tier), and neither have ours.
The rule is the snapshots' (:mod:`wme_assets.snapshots.publish`): a batch is published when its manifest is
at its key, and it is what that manifest names. The order is theirs too: the partition's leftovers (the
staging of dead runs of this project and hour, and objects no manifest names) go first; the archive is
staged while every line is read, parsed and validated, then the metadata and the manifest; all of staging
is checked (size, SHA-256, ETag); the copies go archive → metadata → manifest; the hour's listing is rebuilt
last. A re-run of an hour with the same records rewrites nothing (same bytes, same ``date_modified``).

Retention: :func:`apply_batch_retention` removes a project's batches of hours older than ``keep_days``
(Enterprise keeps 2 days; wme 7 by default), manifest first, so no half-removed batch is ever published, and
the listing of those hours.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from wme_assets.schema.manifest import Publication, PublishedFile, SnapshotManifest
from wme_assets.snapshots.archive import SnapshotFiles
from wme_assets.snapshots.layout import (
    BATCHES,
    DATED_BATCH,
    batch_folder,
    batch_key,
    batches_listing_key,
    load_manifest,
    named_keys,
    staging_folder,
)
from wme_assets.snapshots.manifest import (
    RecordValidator,
    build_manifest,
    listing_ndjson,
    snapshot_metadata,
    verify_snapshot_files,
)
from wme_assets.snapshots.publish import (
    CONTENT_TYPE_GZIP,
    CONTENT_TYPE_JSON,
    CONTENT_TYPE_NDJSON,
    SnapshotVerificationError,
)
from wme_assets.snapshots.staging import SnapshotStaging
from wme_assets.snapshots.verify import check_published_snapshot
from wme_assets.storage.object_store import ObjectStore

DEFAULT_BATCH_RETENTION_DAYS = 7


@dataclass
class PublishedBatch:
    identifier: str
    hour: str
    manifest: SnapshotManifest
    manifest_key: str
    copied: list[str] = field(default_factory=list)  # keys copied by this run (empty: already published as is)
    leftovers_removed: int = 0

    def uri(self, store: ObjectStore, key: str | None = None) -> str:
        return store.uri(store.key(key or self.manifest.archive.key or self.manifest_key))


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _project_of(identifier: str) -> str:
    return identifier.rsplit("_namespace_", 1)[0]


def remove_batch_leftovers(store: ObjectStore, project: str, hour: str) -> int:
    """What dead runs of (project, hour) left: their staging, and objects of the project no manifest names."""
    staging = store.key(staging_folder(BATCHES, hour, project, "paid"))
    store.abort_uploads(staging)
    removed = store.delete_prefix(staging)
    by_identifier: dict[str, list[str]] = {}
    for info in store.list(store.key(batch_folder(hour))):
        relative = info.key[len(store.prefix) :]
        match = DATED_BATCH.match(relative)
        if match and _project_of(match.group(5)) == project:
            by_identifier.setdefault(match.group(5), []).append(relative)
    orphans: list[str] = []
    for identifier, keys in by_identifier.items():
        manifest = load_manifest(store, batch_key(hour, identifier, "manifest"))
        named = named_keys(manifest) | {batch_key(hour, identifier, "manifest")} if manifest else set()
        orphans += [key for key in keys if key not in named]
    return removed + store.delete_keys([store.key(key) for key in orphans])


def publish_batch(
    store: ObjectStore, files: SnapshotFiles, *, hour: str, validator: RecordValidator | None = None
) -> PublishedBatch:
    """Verify and publish written batch files (``write_snapshot`` output; its chunk files are not published).

    Raises :class:`SnapshotVerificationError` (nothing published) when a line is not a valid record or what
    was staged or copied does not match the manifest.
    """
    project, identifier = files.dbname, files.identifier
    manifest_key = batch_key(hour, identifier, "manifest")
    leftovers = remove_batch_leftovers(store, project, hour)
    existing = load_manifest(store, manifest_key)
    same = existing is not None and existing.archive.sha256 == files.archive.sha256
    manifest = build_manifest(files, kind=BATCHES, date_modified=existing.date_modified if same else None)
    manifest.chunks = []
    manifest.published = Publication(tier="paid", date=hour)
    manifest.archive.key = batch_key(hour, identifier, "archive")
    metadata = snapshot_metadata(manifest).to_json()  # without chunks: Enterprise's batch object
    metadata_key = batch_key(hour, identifier, "metadata")
    manifest.archive.metadata = PublishedFile(key=metadata_key, bytes=len(metadata), sha256=_sha256(metadata))
    manifest_bytes = manifest.to_json()
    result = PublishedBatch(identifier, hour, manifest, manifest_key, leftovers_removed=leftovers)
    if same and existing == manifest and not check_published_snapshot(store, existing):
        return result  # this very batch is published already
    where = f"batch {identifier} of {hour} in {store.uri(store.prefix)}"
    with SnapshotStaging(store, BATCHES, hour, project, "paid") as staging:

        def tee(entry):
            return staging.stream(
                manifest.archive.key, size=entry.bytes, sha256=entry.sha256, md5=entry.md5, phase="archive",
                content_type=CONTENT_TYPE_GZIP,
            )  # fmt: skip

        problems = verify_snapshot_files(files.out_dir, manifest, validator=validator, tee=tee)
        staging.put_bytes(metadata_key, metadata, phase="metadata", content_type=CONTENT_TYPE_JSON)
        staging.put_bytes(manifest_key, manifest_bytes, phase="manifest", content_type=CONTENT_TYPE_JSON)
        problems += staging.check()
        if problems:
            raise SnapshotVerificationError(f"{where}: does not verify; nothing was published", problems)
        if existing is not None:
            store.delete(store.key(manifest_key))  # withdrawn first: never a manifest naming other bytes
        result.copied = staging.promote(("archive", "metadata"))
        problems = check_published_snapshot(store, manifest)
        if problems:
            raise SnapshotVerificationError(f"{where}: does not verify after the copies; not published", problems)
        result.copied += staging.promote(("manifest",))
    return result


def hour_manifests(store: ObjectStore, hour: str) -> list[SnapshotManifest]:
    """The published batches of an hour (every project), in key order."""
    manifests = []
    for info in store.list(store.key(batch_folder(hour))):
        relative = info.key[len(store.prefix) :]
        if relative.endswith(".manifest.json") and (manifest := load_manifest(store, relative)) is not None:
            if manifest.published is not None:
                manifests.append(manifest)
    return manifests


def rebuild_batches_listing(store: ObjectStore, hour: str) -> int:
    """``aggregations/batches/{YYYY-MM-DD}/{HH}/batches.ndjson`` from the hour's published manifests.

    Enterprise's aggregation format: one batch object per line, no trailing newline; empty batches are left
    out, as its aggregation leaves out size 0. Returns how many batches it lists.
    """
    objects = [snapshot_metadata(m) for m in hour_manifests(store, hour) if m.record_count]
    store.put_bytes(store.key(batches_listing_key(hour)), listing_ndjson(objects), content_type=CONTENT_TYPE_NDJSON)
    return len(objects)


def published_batch_hours(store: ObjectStore) -> list[str]:
    """Every hour (``YYYYMMDDHH``) with a folder under ``batches/``, oldest first: delimited listings of the day
    folders and their hour folders, never the batches themselves (a week of 900 projects is 600,000 objects)."""
    top = store.key(BATCHES) + "/"
    hours = []
    for day in store.folders(top):
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", day):
            folders = store.folders(f"{top}{day}/")
            hours += [day.replace("-", "") + hour for hour in folders if re.fullmatch(r"\d{2}", hour)]
    return sorted(hours)


def apply_batch_retention(
    store: ObjectStore, project: str, *, keep_days: int = DEFAULT_BATCH_RETENTION_DAYS, now: datetime | None = None
) -> list[str]:
    """Remove ``project``'s batches of hours that ended more than ``keep_days`` ago; returns those hours."""
    cutoff = ((now or datetime.now(UTC)) - timedelta(days=keep_days)).strftime("%Y%m%d%H")
    removed = []
    for hour in published_batch_hours(store):
        if hour >= cutoff:
            break
        keys = [
            info.key
            for info in store.list(store.key(batch_folder(hour)))
            if (match := DATED_BATCH.match(info.key[len(store.prefix) :])) and _project_of(match.group(5)) == project
        ]
        if not keys:
            continue
        manifests = [key for key in keys if key.endswith(".manifest.json")]
        store.delete_keys(manifests)  # unpublished first
        store.delete_keys([key for key in keys if key not in manifests])
        # The hour has expired for every project at once (one retention for all): its listing goes whole.
        store.delete(store.key(batches_listing_key(hour)))
        removed.append(hour)
    return removed


__all__ = [
    "DEFAULT_BATCH_RETENTION_DAYS",
    "PublishedBatch",
    "apply_batch_retention",
    "hour_manifests",
    "publish_batch",
    "published_batch_hours",
    "rebuild_batches_listing",
    "remove_batch_leftovers",
]
