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

:func:`publish_snapshot` publishes every file atomically (``ObjectStore.publish_file``: staged, verified, then
copied to its key, each source re-hashed against the manifest on the way), chunks first, then the archive and
its metadata, the manifest last; then re-reads what S3 holds (size and the SHA-256 stored in each object's
metadata against the manifest), and only then moves the pointer and regenerates the listings. A failure
before the pointer moves leaves ``latest`` on the previous snapshot; running it again skips every object that
is already in place (same size and SHA-256) and completes. Zero-record snapshots are published (a download
never 404s) but, as in Enterprise's aggregation (which drops size 0), left out of the listing.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import orjson
from pydantic import ValidationError

from wme_assets.schema.manifest import ArchiveRef, LatestPointer, Tier
from wme_assets.snapshots.archive import SnapshotFiles
from wme_assets.snapshots.manifest import (
    RECORD_SCHEMAS,
    FileEntry,
    Publication,
    PublishedFile,
    RecordValidator,
    SnapshotKind,
    SnapshotManifest,
    build_manifest,
    chunk_metadata,
    snapshot_metadata,
    verify_snapshot_files,
)
from wme_assets.storage.object_store import ObjectStore
from wme_assets.util.dates import check_yyyymmdd, is_yyyymmdd

FREE_TIER_GROUP = "group_1"
TIER_SUFFIX: dict[str, str] = {"paid": "", "free": f"_{FREE_TIER_GROUP}"}
LATEST = "latest"

CONTENT_TYPE_GZIP = "application/gzip"
CONTENT_TYPE_JSON = "application/json"
CONTENT_TYPE_NDJSON = "application/x-ndjson"

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
assert LAYOUTS.keys() == RECORD_SCHEMAS.keys(), "every kind of snapshot needs a layout and a record schema"


class SnapshotPublishError(RuntimeError):
    """Publishing could not complete; ``latest`` was not moved."""


class SnapshotVerificationError(SnapshotPublishError):
    """What the store holds does not match the manifest; ``problems`` names every file at fault."""

    def __init__(self, message: str, problems: list[str]):
        super().__init__(message + ":\n  " + "\n  ".join(problems))
        self.problems = problems


# --- layout ----------------------------------------------------------------------------------------


def _suffix(tier: str) -> str:
    try:
        return TIER_SUFFIX[tier]
    except KeyError:
        raise ValueError(f"tier must be 'paid' or 'free', got {tier!r}") from None


def layout(kind: str) -> KindLayout:
    try:
        return LAYOUTS[kind]
    except KeyError:
        raise ValueError(f"snapshot kind must be one of {', '.join(LAYOUTS)}, got {kind!r}") from None


def _checked_date(date: str) -> str:
    return check_yyyymmdd(date, "snapshot date")


def snapshot_key(date: str, identifier: str, tier: str, file: str = "archive", *, kind: str = "articles") -> str:
    """``{snapshots}/{date}/{id}{sfx}{.tar.gz|.json|.manifest.json}`` for file archive/metadata/manifest."""
    return f"{layout(kind).snapshots}/{_checked_date(date)}/{identifier}{_suffix(tier)}{_EXTENSIONS[file]}"


def chunk_key(
    date: str, identifier: str, index: int, tier: str, file: str = "archive", *, kind: str = "articles"
) -> str:
    """``{chunks}/{date}/{id}/chunk_{n}{sfx}{.tar.gz|.json}`` for file archive/metadata."""
    if file == "manifest":
        raise ValueError("chunks have no manifest of their own")
    return f"{layout(kind).chunks}/{_checked_date(date)}/{identifier}/chunk_{index}{_suffix(tier)}{_EXTENSIONS[file]}"


def latest_key(identifier: str, tier: str, *, kind: str = "articles") -> str:
    return f"{layout(kind).snapshots}/{LATEST}/{identifier}{_suffix(tier)}.json"


def snapshots_listing_key(tier: str, *, kind: str = "articles") -> str:
    top = layout(kind).snapshots
    return f"aggregations/{top}/{top}{_suffix(tier)}.ndjson"


def chunks_listing_key(identifier: str, tier: str, *, kind: str = "articles") -> str:
    top = layout(kind).chunks
    return f"aggregations/{top}/{identifier}/{top}{_suffix(tier)}.ndjson"


# --- pointer ---------------------------------------------------------------------------------------


def read_latest(
    store: ObjectStore, identifier: str, tier: str = "paid", *, kind: str = "articles"
) -> LatestPointer | None:
    """The current pointer of a snapshot, or None when it was never published."""
    key = store.key(latest_key(identifier, tier, kind=kind))
    if store.head(key) is None:
        return None
    return LatestPointer.model_validate_json(store.read_bytes(key))


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
    uploaded: list[str] = field(default_factory=list)  # keys written by this call
    skipped: list[str] = field(default_factory=list)  # keys already in place (same size and sha256)

    def uri(self, store: ObjectStore, key: str | None = None) -> str:
        return store.uri(store.key(key or self.manifest_key))


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _in_place(store: ObjectStore, key: str, size: int, sha256: str) -> bool:
    info = store.head(store.key(key))
    return info is not None and info.size == size and info.sha256 == sha256


def _load_manifest(store: ObjectStore, key: str) -> SnapshotManifest | None:
    full_key = store.key(key)
    if store.head(full_key) is None:
        return None
    try:
        return SnapshotManifest.from_json(store.read_bytes(full_key))
    except ValidationError:
        return None


def _same_files(manifest: SnapshotManifest, files: SnapshotFiles) -> bool:
    return manifest.archive.sha256 == files.archive.sha256 and [c.sha256 for c in manifest.chunks] == [
        c.sha256 for c in files.chunks
    ]


def _earlier_date_modified(store: ObjectStore, files: SnapshotFiles, date: str, tier: str, kind: str) -> str | None:
    """``date_modified`` of a metadata object an interrupted run already published for these same files.

    Every metadata object of one publish carries the same ``date_modified``; reusing it makes the re-run
    rewrite nothing that is already in place (its ``version``, the file's MD5, proves it describes our file).
    """
    candidates = [(snapshot_key(date, files.identifier, tier, "metadata", kind=kind), files.archive.md5)]
    candidates += [
        (chunk_key(date, files.identifier, c.index, tier, "metadata", kind=kind), c.md5) for c in files.chunks
    ]
    for key, md5 in candidates:
        if store.head(store.key(key)) is None:
            continue
        try:
            published = orjson.loads(store.read_bytes(store.key(key)))
        except orjson.JSONDecodeError:
            continue
        if isinstance(published, dict) and published.get("version") == md5 and published.get("date_modified"):
            return str(published["date_modified"])
    return None


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

    ``kind`` says what the records are and so under which top folder everything goes (module docstring); the
    manifest records it.

    ``date_modified`` (Enterprise's field) defaults to the one already published for these same files under
    the same date, by a complete or an interrupted run (so a re-run rewrites nothing), else now.

    ``update_listing=False`` leaves the kind's snapshot listing alone (it reads every pointer): a job that
    publishes many snapshots calls :func:`rebuild_snapshots_listing` once at its end, as Enterprise's
    ``aggregate`` task does. The snapshot's own chunk listing is always written.

    Raises :class:`SnapshotVerificationError` when S3 does not hold what the manifest says, and
    :class:`SnapshotPublishError` when another snapshot is already served under the same date (dated
    snapshots are immutable once ``latest`` points at them).
    """
    date = _checked_date(date or files.dump_date or "")
    identifier = files.identifier
    manifest_key = snapshot_key(date, identifier, tier, "manifest", kind=kind)
    previous = read_latest(store, identifier, tier, kind=kind)

    existing = _load_manifest(store, manifest_key)
    if existing is not None and not _same_files(existing, files):
        if previous is not None and previous.date == date:
            raise SnapshotPublishError(
                f"{store.uri(store.key(manifest_key))} is the current snapshot and holds other files; dated "
                "snapshots are immutable: publish under another date, or point latest elsewhere and delete it"
            )
        existing = None  # an unserved leftover of that date: it is replaced
    if date_modified is None:
        date_modified = existing.date_modified if existing else _earlier_date_modified(store, files, date, tier, kind)

    manifest = build_manifest(files, date_modified=date_modified, kind=kind)
    manifest.published = Publication(tier=tier, date=date)
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

    def put_file(entry: FileEntry, key: str) -> None:
        entry.key = key
        if _in_place(store, key, entry.bytes, entry.sha256):
            result.skipped.append(key)
            return
        # `expected` re-hashes the local file on the way: what lands is what the manifest describes.
        store.publish_file(
            files.local_path(entry.path),
            store.key(key),
            content_type=CONTENT_TYPE_GZIP,
            expected={"sha256": entry.sha256, "md5": entry.md5},
        )
        result.uploaded.append(key)

    def put_json(data: bytes, key: str) -> PublishedFile:
        published = PublishedFile(key=key, bytes=len(data), sha256=_sha256(data))
        if _in_place(store, key, published.bytes, published.sha256):
            result.skipped.append(key)
        else:
            store.put_bytes(store.key(key), data, content_type=CONTENT_TYPE_JSON)
            result.uploaded.append(key)
        return published

    for chunk in manifest.chunks:
        put_file(chunk, chunk_key(date, identifier, chunk.index, tier, "archive", kind=kind))
        chunk.metadata = put_json(
            chunk_metadata(manifest, chunk).to_json(),
            chunk_key(date, identifier, chunk.index, tier, "metadata", kind=kind),
        )
    put_file(manifest.archive, snapshot_key(date, identifier, tier, "archive", kind=kind))
    manifest.archive.metadata = put_json(
        snapshot_metadata(manifest).to_json(), snapshot_key(date, identifier, tier, "metadata", kind=kind)
    )
    manifest_file = put_json(manifest.to_json(), manifest_key)  # last: its presence means "complete"

    problems = check_published_snapshot(store, manifest)
    if not _in_place(store, manifest_key, manifest_file.bytes, manifest_file.sha256):
        problems.append(f"{manifest_key}: differs from the manifest just written")
    if problems:
        raise SnapshotVerificationError(
            f"{kind} snapshot {identifier} of {date} ({tier}) does not verify in {store.uri(store.prefix)}; "
            "latest was not moved",
            problems,
        )

    archive = manifest.archive
    assert archive.key is not None and archive.metadata is not None
    pointer = LatestPointer(
        identifier=identifier,
        tier=tier,
        date=date,
        manifest=manifest_file,
        metadata=archive.metadata,
        archive=ArchiveRef(key=archive.key, bytes=archive.bytes, sha256=archive.sha256, md5=archive.md5),
        record_count=manifest.record_count,
        snapshot=snapshot_metadata(manifest).to_dict(),
    )
    store.put_bytes(store.key(result.pointer_key), pointer.to_json(), content_type=CONTENT_TYPE_JSON)

    chunk_lines = b"\n".join(chunk_metadata(manifest, chunk).to_json() for chunk in manifest.chunks)
    store.put_bytes(
        store.key(chunks_listing_key(identifier, tier, kind=kind)), chunk_lines, content_type=CONTENT_TYPE_NDJSON
    )
    if update_listing:
        rebuild_snapshots_listing(store, tier, kind=kind)
    return result


def check_published_snapshot(store: ObjectStore, manifest: SnapshotManifest) -> list[str]:
    """Quick check without reading contents: every object is present with the manifest's size and SHA-256
    (the ``sha256`` metadata ``ObjectStore`` stores on each object it publishes)."""
    problems: list[str] = []
    entries: list[FileEntry] = [*manifest.chunks, manifest.archive]
    for entry in entries:
        files: list[tuple[str | None, int, str]] = [(entry.key, entry.bytes, entry.sha256)]
        if entry.metadata is not None:
            files.append((entry.metadata.key, entry.metadata.bytes, entry.metadata.sha256))
        else:
            problems.append(f"{entry.key or entry.path}: manifest names no published metadata object")
        for key, size, sha256 in files:
            if key is None:
                problems.append(f"{entry.path}: manifest names no published key")
                continue
            info = store.head(store.key(key))
            if info is None:
                problems.append(f"{key}: missing")
            elif info.size != size:
                problems.append(f"{key}: holds {info.size} bytes, manifest says {size}")
            elif info.sha256 != sha256:
                problems.append(f"{key}: sha256 is {info.sha256 or 'not recorded'}, manifest says {sha256}")
    return problems


def rebuild_snapshots_listing(store: ObjectStore, tier: Tier = "paid", *, kind: SnapshotKind = "articles") -> str:
    """Regenerate the kind's listing (``aggregations/snapshots/snapshots{sfx}.ndjson`` for articles) from its
    ``latest`` pointers; returns its key."""
    pointers = []
    for pointer in _latest_pointers(store, kind):
        if pointer.tier == tier and pointer.record_count > 0:
            pointers.append(pointer)
    pointers.sort(key=lambda p: p.identifier)
    data = b"\n".join(orjson.dumps(p.snapshot) for p in pointers)
    key = snapshots_listing_key(tier, kind=kind)
    store.put_bytes(store.key(key), data, content_type=CONTENT_TYPE_NDJSON)
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


# --- verification of what is published -------------------------------------------------------------


def _relative(store: ObjectStore, target: str) -> str:
    if target.startswith("s3://"):
        bucket, _, key = target[len("s3://") :].partition("/")
        if bucket != store.bucket:
            raise ValueError(f"{target} is not in bucket {store.bucket!r}")
        if not key.startswith(store.prefix):
            raise ValueError(f"{target} is outside the store's prefix {store.prefix!r}")
        return key[len(store.prefix) :]
    target = target.lstrip("/")
    if store.prefix and target.startswith(store.prefix):
        return target[len(store.prefix) :]
    return target


_SNAPSHOT_TOPS = {kind_layout.snapshots: kind for kind, kind_layout in LAYOUTS.items()}
_CHUNK_TOPS = {kind_layout.chunks: kind for kind, kind_layout in LAYOUTS.items()}
_SNAPSHOT_TOP = "(" + "|".join(map(re.escape, _SNAPSHOT_TOPS)) + ")"
_CHUNK_TOP = "(" + "|".join(map(re.escape, _CHUNK_TOPS)) + ")"
_DATED_SNAPSHOT = re.compile(rf"^{_SNAPSHOT_TOP}/(\d{{8}})/([^/]+?)(\.tar\.gz|\.manifest\.json|\.json)$")
_DATED_CHUNK = re.compile(rf"^{_CHUNK_TOP}/(\d{{8}})/([^/]+)/chunk_\d+(_group_1)?\.(tar\.gz|json)$")
_LATEST = re.compile(rf"^{_SNAPSHOT_TOP}/{LATEST}/[^/]+\.json$")


def _kind_of(key: str) -> str | None:
    """The kind of snapshot whose folder holds ``key`` (None: outside every kind's folders)."""
    return _SNAPSHOT_TOPS.get(key.split("/", 1)[0])


@dataclass(frozen=True)
class _Target:
    manifest_key: str
    pointer_key: str | None = None  # set when the manifest was reached through a `latest` pointer
    pointer: LatestPointer | None = None


def _read_pointer(store: ObjectStore, key: str) -> _Target:
    pointer = LatestPointer.model_validate_json(store.read_bytes(store.key(key)))
    return _Target(pointer.manifest.key, key, pointer)


def _resolve(store: ObjectStore, relative: str) -> list[_Target]:
    """The manifests named by a manifest, pointer, snapshot or chunk key (of any kind), or a prefix."""
    if _LATEST.match(relative):
        return [_read_pointer(store, relative)]
    if match := _DATED_SNAPSHOT.match(relative):
        top, date, name = match.group(1), match.group(2), match.group(3)
        return [_Target(f"{top}/{date}/{name}.manifest.json")]
    if match := _DATED_CHUNK.match(relative):
        top, date, identifier, group = match.group(1), match.group(2), match.group(3), match.group(4) or ""
        snapshots = layout(_CHUNK_TOPS[top]).snapshots
        return [_Target(f"{snapshots}/{date}/{identifier}{group}.manifest.json")]
    prefix = store.prefix + relative if relative else store.prefix
    found: dict[str, _Target] = {}
    for info in store.list(prefix):
        key = info.key[len(store.prefix) :]
        if key.endswith(".manifest.json"):
            found.setdefault(key, _Target(key))
        elif _LATEST.match(key):
            target = _read_pointer(store, key)
            found[target.manifest_key] = target
    return [found[key] for key in sorted(found)]


def verify_published(
    store: ObjectStore,
    target: str,
    *,
    deep: bool = True,
    validator: RecordValidator | None = None,
    validators: Mapping[str, RecordValidator] | None = None,
) -> list[str]:
    """Verify published snapshots; returns the problems (empty: all good). For ``wme snapshot verify URI``.

    ``target``: an ``s3://bucket/...`` URI or a key relative to the store's prefix, naming a manifest, a
    ``latest`` pointer, any file of a dated snapshot or chunk (of any kind), or a prefix (every manifest and
    pointer under it). Always checks that every object is present with the manifest's size and stored SHA-256,
    and that the manifest's kind is that of the folder it (and its pointer) lies in; ``deep`` (default) also
    re-hashes every byte and reads every archive and chunk record by record
    (:func:`~wme_assets.snapshots.manifest.verify_snapshot_files`). Each record goes to the ``validators`` entry
    of the manifest's kind (a prefix may hold articles and Structured Contents), else to ``validator``.
    """
    try:
        relative = _relative(store, target)
        targets = _resolve(store, relative)
    except (ValueError, ValidationError) as exc:
        return [f"{target}: {exc}"]
    if not targets:
        return [f"{target}: no snapshot manifest found"]
    problems: list[str] = []
    for found in targets:
        manifest_key, pointer = found.manifest_key, found.pointer
        full_key = store.key(manifest_key)
        if store.head(full_key) is None:
            problems.append(f"{manifest_key}: missing")
            continue
        data = store.read_bytes(full_key)
        if pointer is not None and (_sha256(data) != pointer.manifest.sha256 or len(data) != pointer.manifest.bytes):
            problems.append(f"{manifest_key}: differs from what {found.pointer_key} names")
        try:
            manifest = SnapshotManifest.from_json(data)
        except ValidationError as exc:
            problems.append(f"{manifest_key}: not a snapshot manifest ({exc.error_count()} errors)")
            continue
        if manifest.published is None:
            problems.append(f"{manifest_key}: manifest was never published (no 'published' section)")
            continue
        for key in (manifest_key, found.pointer_key):
            folder_kind = _kind_of(key) if key else None
            if folder_kind is not None and folder_kind != manifest.kind:
                problems.append(
                    f"{key}: lies in the {folder_kind} folders, the manifest is of a {manifest.kind} snapshot"
                )
        if pointer is not None and pointer.archive.key != manifest.archive.key:
            problems.append(
                f"{manifest_key}: pointer names archive {pointer.archive.key}, manifest {manifest.archive.key}"
            )
        problems.extend(check_published_snapshot(store, manifest))
        if deep:
            chosen = validators.get(manifest.kind) if validators is not None else validator
            problems.extend(verify_snapshot_files(store, manifest, validator=chosen))
    return problems


# --- retention -------------------------------------------------------------------------------------


def _date_folders(store: ObjectStore, top: str) -> set[str]:
    """The ``YYYYMMDD`` folders directly under ``top`` (one delimited listing, not every object)."""
    paginator = store.client.get_paginator("list_objects_v2")
    prefix = store.key(top) + "/"
    dates = set()
    for page in paginator.paginate(Bucket=store.bucket, Prefix=prefix, Delimiter="/"):
        for common in page.get("CommonPrefixes", []):
            name = common["Prefix"][len(prefix) :].rstrip("/")
            if is_yyyymmdd(name):
                dates.add(name)
    return dates


def _dated_keys(store: ObjectStore, identifier: str, tier: str, kind: str) -> dict[str, list[str]]:
    """Every dated object of one snapshot, tier and kind, by date (complete, or left over by a failed run)."""
    tops = layout(kind)
    suffix = re.escape(_suffix(tier))
    name = re.escape(identifier)
    patterns = [
        re.compile(rf"^{re.escape(tops.snapshots)}/(\d{{8}})/{name}{suffix}(\.tar\.gz|\.json|\.manifest\.json)$"),
        re.compile(rf"^{re.escape(tops.chunks)}/(\d{{8}})/{name}/chunk_\d+{suffix}\.(tar\.gz|json)$"),
    ]
    by_date: dict[str, list[str]] = {}
    for top in (tops.snapshots, tops.chunks):
        for date in _date_folders(store, top):
            # Chunks come first in a publish, so a failed run may have left chunks and nothing else.
            listed = store.key(top, date, identifier) + ("/" if top == tops.chunks else "")
            for info in store.list(listed):
                key = info.key[len(store.prefix) :]
                for pattern in patterns:
                    if match := pattern.match(key):
                        by_date.setdefault(match.group(1), []).append(key)
    return by_date


def apply_retention(
    store: ObjectStore, identifier: str, *, keep: int, tier: Tier = "paid", kind: SnapshotKind = "articles"
) -> list[str]:
    """Delete the dated snapshots of ``identifier`` older than the newest ``keep``; returns the dates deleted.

    The snapshot ``latest`` points to is never deleted, whatever its age. Objects of the other tier (the same
    ``chunks/{date}/{id}/`` folder holds both) and of the other kind (its own folders, its own pointer and
    dates) are left alone. Leftovers of failed runs count as dates.
    """
    if keep < 1:
        raise ValueError("keep must be at least 1")
    by_date = _dated_keys(store, identifier, tier, kind)
    pointer = read_latest(store, identifier, tier, kind=kind)
    kept = set(sorted(by_date, reverse=True)[:keep])
    if pointer is not None:
        kept.add(pointer.date)
    deleted = []
    for date in sorted(set(by_date) - kept):
        # The manifest goes first: a half-deleted snapshot must not look complete to a reader.
        keys = sorted(by_date[date], key=lambda key: (not key.endswith(".manifest.json"), key))
        for key in keys:
            store.delete(store.key(key))
        deleted.append(date)
    return deleted


__all__ = [
    "FREE_TIER_GROUP",
    "LAYOUTS",
    "KindLayout",
    "LatestPointer",
    "PublishedSnapshot",
    "SnapshotKind",
    "SnapshotPublishError",
    "SnapshotVerificationError",
    "apply_retention",
    "check_published_snapshot",
    "chunk_key",
    "chunks_listing_key",
    "latest_key",
    "layout",
    "publish_snapshot",
    "read_latest",
    "rebuild_snapshots_listing",
    "snapshot_key",
    "snapshots_listing_key",
    "verify_published",
]
