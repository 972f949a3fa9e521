"""Publishing snapshots to object storage: Enterprise's layout, dated and immutable, behind ``latest`` pointers.

Two kinds of snapshot share one layout under a top folder of their own: ``articles`` (Enterprise's article
snapshots) and ``structured`` (its Structured Contents snapshots, which Enterprise publishes as
``structured-snapshots/{id}.tar.gz``). Keys relative to the store's prefix; ``{sfx}`` is empty for the paid
tier and ``_group_1`` for the free tier, Enterprise's ``FREE_TIER_GROUP`` suffix; ``{id}`` is
``{dbname}_namespace_{ns}``. Article snapshots::

    snapshots/{YYYYMMDD}/{id}{sfx}.tar.gz            the archive (tar of NDJSON members)
    snapshots/{YYYYMMDD}/{id}{sfx}.json              Enterprise's snapshot metadata object
    snapshots/{YYYYMMDD}/{id}{sfx}.manifest.json     our manifest: every file, member and chunk with digests
    chunks/{YYYYMMDD}/{id}/chunk_{n}{sfx}.tar.gz     chunk n (= member n of the archive)
    chunks/{YYYYMMDD}/{id}/chunk_{n}{sfx}.json       Enterprise's chunk metadata object
    snapshots/latest/{id}{sfx}.json                  pointer to the current dated snapshot (below)
    aggregations/snapshots/snapshots{sfx}.ndjson     listing of the current snapshots, Enterprise's format
    aggregations/chunks/{id}/chunks{sfx}.ndjson      listing of the current snapshot's chunks

Structured Contents snapshots (namespace 0 only; sold to the paid tier only, so ``{sfx}`` is empty in
practice), the same files under ``structured-`` folders::

    structured-snapshots/{YYYYMMDD}/{id}{sfx}.tar.gz|.json|.manifest.json
    structured-chunks/{YYYYMMDD}/{id}/chunk_{n}{sfx}.tar.gz|.json
    structured-snapshots/latest/{id}{sfx}.json
    aggregations/structured-snapshots/structured-snapshots{sfx}.ndjson
    aggregations/structured-chunks/{id}/structured-chunks{sfx}.ndjson

Every function that names a key takes ``kind`` (default ``"articles"``); a manifest records its kind
(:class:`~wme_assets.snapshots.manifest.SnapshotManifest`), and :func:`verify_published` checks that it lies
under its kind's folder.

Enterprise writes ``snapshots/{id}.tar.gz|.json`` and ``chunks/{id}/chunk_{n}.tar.gz|.json`` (free tier:
``snapshots/{id}_group_1.*``, ``chunks/{id}/chunk_{n}_group_1.*``, ``api/main/packages/proxy/getters.go``) and
overwrites them every day, so a download that spans a run can mix two snapshots. We insert the dump date after
the first segment and never rewrite a dated snapshot that is being served; what is "current" is the pointer,
a small JSON object replaced atomically::

    {"schema_version": 1, "identifier": "enwiki_namespace_0", "tier": "paid", "date": "20250101",
     "manifest": {"key": ..., "bytes": ..., "sha256": ...}, "metadata": {"key": ..., "bytes": ..., "sha256": ...},
     "archive": {"key": ..., "bytes": ..., "sha256": ..., "md5": ...}, "record_count": 6543210,
     "snapshot": {Enterprise's snapshot metadata object}}

An API in front of the bucket serves ``/v2/snapshots/{id}`` from the pointer's ``snapshot`` and
``/v2/snapshots/{id}/download`` from its ``archive.key`` (``/v2/snapshots/structured-contents/{id}`` from the
structured pointer); listings come from the aggregations.

**The rule.** S3 renames nothing atomically, least of all a set of objects, so: *a dated snapshot is
published when its manifest is at its dated key* (``{snapshots}/{date}/{id}{sfx}.manifest.json``), and it
is what that manifest names. The way in is the manifest, the ``latest`` pointer (which names the manifest
and moves only after it is in place) and the listings; a consumer that lists ``chunks/{date}/`` instead may
see objects of a snapshot that is not published (yet, or ever). Objects at dated keys that no published
manifest names are **orphans** of a dead run, removed by the next run of their partition, and by
:func:`~wme_assets.snapshots.sweep.sweep` after a day (:mod:`wme_assets.snapshots.sweep`).

**The order** (:func:`plan_publication`, then :func:`finish_publication`; :func:`publish_snapshot` does both):

1. the partition's leftovers go: the staging of earlier runs, and its orphans (safe because a run of the
   partition is its only writer, which a lease per project and output enforces);
2. every object (chunks, archive, Enterprise's metadata objects, the manifest) is written to the run's
   staging folder (:mod:`wme_assets.snapshots.staging`) and each is checked there against the manifest
   (size, SHA-256, and the ETag of the bytes sent) — nothing is copied before all of them pass;
3. server-side copies to the dated keys, in parallel within each phase: chunks, then the archive, then the
   metadata objects, then (after every object it names is checked at its published key) the manifest;
4. only then the ``latest`` pointer, the snapshot's chunk listing and the kind's listing;
5. the run's staging is deleted, whether it published or failed.

So nothing is visible at a published key before every object of the snapshot is verified in staging, a
chunk's ``.json`` never appears before its ``.tar.gz``, and the manifest never before what it names. A
failure or a kill at any point leaves ``latest`` on the previous snapshot; the next run completes. Objects
already in place under an identical published manifest (a re-run for the same day) are neither staged nor
copied again. A dated snapshot that ``latest`` points to is never rewritten; one that it does not point to
is withdrawn (manifest first) just before the copies of its replacement. Zero-record snapshots are
published (a download never 404s) but, as in Enterprise's aggregation (which drops size 0), left out of the
listing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import orjson
from pydantic import ValidationError

from wme_assets.schema.manifest import ArchiveRef, CutPoint, LatestPointer, Tier
from wme_assets.snapshots.archive import SnapshotFiles
from wme_assets.snapshots.layout import (
    FREE_TIER_GROUP,
    LATEST,
    LAYOUTS,
    TIER_SUFFIX,
    KindLayout,
    checked_date,
    chunk_key,
    chunks_listing_key,
    latest_key,
    layout,
    load_manifest,
    named_keys,
    read_latest,
    snapshot_key,
    snapshots_listing_key,
)
from wme_assets.snapshots.manifest import (
    ChunkEntry,
    FileEntry,
    Publication,
    PublishedFile,
    Sink,
    SnapshotKind,
    SnapshotManifest,
    build_manifest,
    chunk_metadata,
    snapshot_metadata,
)
from wme_assets.snapshots.staging import Cleanup, SnapshotStaging
from wme_assets.snapshots.sweep import apply_retention, remove_leftovers
from wme_assets.snapshots.verify import check_published_snapshot, verify_published
from wme_assets.storage.object_store import ObjectStore

CONTENT_TYPE_GZIP = "application/gzip"
CONTENT_TYPE_JSON = "application/json"
CONTENT_TYPE_NDJSON = "application/x-ndjson"


class SnapshotPublishError(RuntimeError):
    """Publishing could not complete; ``latest`` was not moved."""


class SnapshotVerificationError(SnapshotPublishError):
    """What the store holds does not match the manifest; ``problems`` names every file at fault."""

    def __init__(self, message: str, problems: list[str]):
        super().__init__(message + ":\n  " + "\n  ".join(problems))
        self.problems = problems


# --- publishing ------------------------------------------------------------------------------------


@dataclass
class PublishedSnapshot:
    identifier: str
    tier: str
    date: str
    manifest: SnapshotManifest
    manifest_key: str
    pointer_key: str
    previous_date: str | None
    kind: str = "articles"
    uploaded: list[str] = field(default_factory=list)  # keys copied to their published key by this call
    skipped: list[str] = field(default_factory=list)  # keys already in place (same size and sha256)
    cleanup: Cleanup = field(default_factory=Cleanup)  # leftovers, orphans and staging removed

    def uri(self, store: ObjectStore, key: str | None = None) -> str:
        return store.uri(store.key(key or self.manifest_key))


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _in_place(store: ObjectStore, key: str, size: int, sha256: str) -> bool:
    info = store.head(store.key(key))
    return info is not None and info.size == size and info.sha256 == sha256


def _same_files(manifest: SnapshotManifest, files: SnapshotFiles) -> bool:
    return manifest.archive.sha256 == files.archive.sha256 and [c.sha256 for c in manifest.chunks] == [
        c.sha256 for c in files.chunks
    ]


@dataclass
class SnapshotPlan:
    """A publication decided before anything is staged: the final manifest (keys, metadata digests), the JSON
    objects, what is already in place, and the unserved snapshot of the same date it replaces, if any."""

    store: ObjectStore
    files: SnapshotFiles
    manifest: SnapshotManifest
    json_objects: dict[str, tuple[str, bytes]]  # key -> (phase, bytes): metadata objects, then the manifest
    in_place: set[str]
    replaces: SnapshotManifest | None
    result: PublishedSnapshot

    def _file_entries(self) -> list[tuple[FileEntry, str]]:
        return [(chunk, "chunks") for chunk in self.manifest.chunks] + [(self.manifest.archive, "archive")]

    def tee(self, staging: SnapshotStaging) -> Callable[[FileEntry], Sink | None]:
        """For :func:`verify_snapshot_files`: each file not yet in place goes to staging as it is verified."""
        phases = {id(entry): phase for entry, phase in self._file_entries()}

        def sink(entry: FileEntry) -> Sink | None:
            if entry.key is None or entry.key in self.in_place or id(entry) not in phases:
                return None
            return staging.stream(
                entry.key,
                size=entry.bytes,
                sha256=entry.sha256,
                md5=entry.md5,
                phase=phases[id(entry)],
                content_type=CONTENT_TYPE_GZIP,
            )

        return sink

    def stage_files(self, staging: SnapshotStaging) -> None:
        """Stage the local files not yet in place, hashed on the way (for files verified earlier)."""
        for entry, phase in self._file_entries():
            assert entry.key is not None
            if entry.key not in self.in_place:
                staging.upload_file(
                    entry.key,
                    self.files.local_path(entry.path),
                    size=entry.bytes,
                    sha256=entry.sha256,
                    md5=entry.md5,
                    phase=phase,
                    content_type=CONTENT_TYPE_GZIP,
                )


def plan_publication(
    store: ObjectStore,
    files: SnapshotFiles,
    *,
    date: str,
    tier: Tier = "paid",
    kind: SnapshotKind = "articles",
    date_modified: datetime | str | None = None,
    cut_point: CutPoint | None = None,
) -> SnapshotPlan:
    """Decide a publication (module docstring); raises :class:`SnapshotPublishError` when ``latest`` serves
    other files under the same date. Call after :func:`~wme_assets.snapshots.sweep.remove_leftovers`."""
    date = checked_date(date)
    identifier = files.identifier
    manifest_key = snapshot_key(date, identifier, tier, "manifest", kind=kind)
    previous = read_latest(store, identifier, tier, kind=kind)

    existing = load_manifest(store, manifest_key)
    replaces = None
    if existing is not None and not _same_files(existing, files):
        if previous is not None and previous.date == date:
            raise SnapshotPublishError(
                f"{store.uri(store.key(manifest_key))} is the current snapshot and holds other files; dated "
                "snapshots are immutable: publish under another date, or point latest elsewhere and delete it"
            )
        replaces, existing = existing, None  # not served: withdrawn just before the copies of its replacement
    if date_modified is None and existing is not None:
        date_modified = existing.date_modified  # the same bytes again: a re-run rewrites nothing

    manifest = build_manifest(files, date_modified=date_modified, kind=kind, cut_point=cut_point)
    manifest.published = Publication(tier=tier, date=date)
    json_objects: dict[str, tuple[str, bytes]] = {}

    def metadata(entry: FileEntry, key: str, data: bytes) -> None:
        entry.metadata = PublishedFile(key=key, bytes=len(data), sha256=_sha256(data))
        json_objects[key] = ("metadata", data)

    for chunk in manifest.chunks:
        chunk.key = chunk_key(date, identifier, chunk.index, tier, "archive", kind=kind)
        metadata(
            chunk, chunk_key(date, identifier, chunk.index, tier, "metadata", kind=kind), _chunk_json(manifest, chunk)
        )
    manifest.archive.key = snapshot_key(date, identifier, tier, "archive", kind=kind)
    metadata(
        manifest.archive,
        snapshot_key(date, identifier, tier, "metadata", kind=kind),
        snapshot_metadata(manifest).to_json(),
    )
    json_objects[manifest_key] = ("manifest", manifest.to_json())

    in_place: set[str] = set()
    if existing is not None:  # after remove_leftovers only the objects this manifest names can be there
        wanted = [(e.key, e.bytes, e.sha256) for e in [*manifest.chunks, manifest.archive]]
        wanted += [(key, len(data), _sha256(data)) for key, (_, data) in json_objects.items()]
        in_place = {key for key, size, sha256 in wanted if key and _in_place(store, key, size, sha256)}

    result = PublishedSnapshot(
        identifier=identifier,
        tier=tier,
        date=date,
        manifest=manifest,
        manifest_key=manifest_key,
        pointer_key=latest_key(identifier, tier, kind=kind),
        previous_date=previous.date if previous else None,
        kind=kind,
    )
    return SnapshotPlan(store, files, manifest, json_objects, in_place, replaces, result)


def _chunk_json(manifest: SnapshotManifest, chunk: ChunkEntry) -> bytes:
    return chunk_metadata(manifest, chunk).to_json()


def _withdraw(store: ObjectStore, manifest_key: str, manifest: SnapshotManifest) -> int:
    """Unpublish a dated snapshot: its manifest first (from then on it is not published), then what it named."""
    store.delete(store.key(manifest_key))
    named = [key for key in sorted(named_keys(manifest)) if store.head(store.key(key)) is not None]
    return 1 + store.delete_keys([store.key(key) for key in named])


def finish_publication(
    staging: SnapshotStaging, plan: SnapshotPlan, *, update_listing: bool = True
) -> PublishedSnapshot:
    """Stage the JSON objects, check all of staging, copy in order, move ``latest`` (module docstring).

    The files must be staged already (through :meth:`SnapshotPlan.tee` or :meth:`SnapshotPlan.stage_files`).
    Raises :class:`SnapshotVerificationError`, ``latest`` unmoved, when staging or the copies do not verify.
    """
    store, manifest, result = plan.store, plan.manifest, plan.result
    where = (
        f"{manifest.kind} snapshot {result.identifier} of {result.date} ({result.tier}) in {store.uri(store.prefix)}"
    )
    for key, (phase, data) in plan.json_objects.items():
        if key not in plan.in_place:
            staging.put_bytes(key, data, phase=phase, content_type=CONTENT_TYPE_JSON)
    problems = staging.check()
    every_key = [e.key for e in [*manifest.chunks, manifest.archive]] + list(plan.json_objects)
    problems += [
        f"{key}: neither staged nor in place"
        for key in every_key
        if key not in staging.files and key not in plan.in_place
    ]
    if problems:
        raise SnapshotVerificationError(f"{where}: staging does not verify; nothing was published", problems)

    if plan.replaces is not None:
        result.cleanup.orphans += _withdraw(store, result.manifest_key, plan.replaces)
    result.uploaded = staging.promote(("chunks", "archive", "metadata"))
    problems = check_published_snapshot(store, manifest)
    if problems:
        raise SnapshotVerificationError(f"{where} does not verify after the copies; latest was not moved", problems)
    result.uploaded += staging.promote(("manifest",))
    manifest_file = PublishedFile(
        key=result.manifest_key,
        bytes=len(plan.json_objects[result.manifest_key][1]),
        sha256=_sha256(plan.json_objects[result.manifest_key][1]),
    )
    if not _in_place(store, manifest_file.key, manifest_file.bytes, manifest_file.sha256):
        raise SnapshotVerificationError(
            f"{where}; latest was not moved", [f"{manifest_file.key}: differs from the manifest"]
        )
    result.skipped = sorted(plan.in_place)

    archive = manifest.archive
    assert archive.key is not None and archive.metadata is not None
    pointer = LatestPointer(
        identifier=result.identifier,
        tier=result.tier,
        date=result.date,
        manifest=manifest_file,
        metadata=archive.metadata,
        archive=ArchiveRef(key=archive.key, bytes=archive.bytes, sha256=archive.sha256, md5=archive.md5),
        record_count=manifest.record_count,
        snapshot=snapshot_metadata(manifest).to_dict(),
    )
    kind = manifest.kind
    store.put_bytes(
        store.key(result.pointer_key), pointer.to_json(), content_type=CONTENT_TYPE_JSON, staging_dir=staging.folder
    )
    chunk_lines = b"\n".join(_chunk_json(manifest, chunk) for chunk in manifest.chunks)
    listing_key = chunks_listing_key(result.identifier, result.tier, kind=kind)
    store.put_bytes(store.key(listing_key), chunk_lines, content_type=CONTENT_TYPE_NDJSON, staging_dir=staging.folder)
    if update_listing:
        rebuild_snapshots_listing(store, result.tier, kind=kind, staging=staging)  # type: ignore[arg-type]
    return result


def publish_snapshot(
    store: ObjectStore,
    files: SnapshotFiles,
    *,
    date: str | None = None,
    tier: Tier = "paid",
    kind: SnapshotKind = "articles",
    date_modified: datetime | str | None = None,
    update_listing: bool = True,
) -> PublishedSnapshot:
    """Publish written snapshot files under ``date`` (default: their dump date), verify, then move ``latest``.

    One run of the partition (``files.dbname``, ``date``, ``tier``, ``kind``): its leftovers are removed
    first, its own staging at the end (module docstring). The files are hashed as they are staged; a caller
    that verifies them anyway stages them while it does (:func:`~wme_assets.snapshots.run.export_snapshots`).

    ``kind`` says what the records are and so under which top folder everything goes; the manifest records
    it. ``date_modified`` (Enterprise's field) defaults to the one of an identical snapshot already published
    under the same date (so a re-run rewrites nothing), else now.

    ``update_listing=False`` leaves the kind's snapshot listing alone (it reads every pointer): a job that
    publishes many snapshots calls :func:`rebuild_snapshots_listing` once at its end, as Enterprise's
    ``aggregate`` task does. The snapshot's own chunk listing is always written.

    Raises :class:`SnapshotVerificationError` when S3 does not hold what the manifest says, and
    :class:`SnapshotPublishError` when another snapshot is already served under the same date (dated
    snapshots are immutable once ``latest`` points at them).
    """
    date = checked_date(date or files.dump_date or "")
    cleanup = remove_leftovers(store, date=date, project=files.dbname, tier=tier, kind=kind)
    with SnapshotStaging(store, kind, date, files.dbname, tier) as staging:
        plan = plan_publication(store, files, date=date, tier=tier, kind=kind, date_modified=date_modified)
        plan.stage_files(staging)
        result = finish_publication(staging, plan, update_listing=update_listing)
    result.cleanup = cleanup + result.cleanup + Cleanup(staging=staging.removed)
    return result


def rebuild_snapshots_listing(
    store: ObjectStore,
    tier: Tier = "paid",
    *,
    kind: SnapshotKind = "articles",
    staging: SnapshotStaging | None = None,
) -> str:
    """Regenerate the kind's listing (``aggregations/snapshots/snapshots{sfx}.ndjson`` for articles) from its
    ``latest`` pointers; returns its key. ``staging``: the run's, so that a kill leaves nothing elsewhere."""
    pointers = []
    for pointer in _latest_pointers(store, kind):
        if pointer.tier == tier and pointer.record_count > 0:
            pointers.append(pointer)
    pointers.sort(key=lambda p: p.identifier)
    data = b"\n".join(orjson.dumps(p.snapshot) for p in pointers)
    key = snapshots_listing_key(tier, kind=kind)
    store.put_bytes(
        store.key(key), data, content_type=CONTENT_TYPE_NDJSON, staging_dir=staging.folder if staging else None
    )
    return key


def _latest_pointers(store: ObjectStore, kind: str) -> list[LatestPointer]:
    pointers = []
    for info in store.list(store.key(layout(kind).snapshots, LATEST) + "/"):
        if info.key.endswith(".json"):
            try:
                pointers.append(LatestPointer.model_validate_json(store.read_bytes(info.key)))
            except ValidationError:
                continue  # not ours; verify_published reports broken pointers
    return pointers


__all__ = [
    "FREE_TIER_GROUP",
    "LAYOUTS",
    "TIER_SUFFIX",
    "KindLayout",
    "LatestPointer",
    "PublishedSnapshot",
    "SnapshotKind",
    "SnapshotPlan",
    "SnapshotPublishError",
    "SnapshotVerificationError",
    "Tier",
    "apply_retention",
    "check_published_snapshot",
    "chunk_key",
    "chunks_listing_key",
    "finish_publication",
    "latest_key",
    "layout",
    "plan_publication",
    "publish_snapshot",
    "read_latest",
    "rebuild_snapshots_listing",
    "snapshot_key",
    "snapshots_listing_key",
    "verify_published",
]
