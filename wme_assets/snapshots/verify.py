"""Checking what is published against its manifest: quickly (HEAD requests) or deeply (every byte and line).

The manifest is the way in (:mod:`wme_assets.snapshots.publish`): a snapshot is what its published manifest
names, reached through a ``latest`` pointer, the manifest's key, any of its files' keys, or a prefix.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from pydantic import ValidationError

from wme_assets.schema.manifest import LatestPointer
from wme_assets.snapshots.layout import (
    DATED_BATCH,
    DATED_CHUNK,
    DATED_SNAPSHOT,
    LATEST_POINTER,
    chunk_kind,
    kind_of,
    layout,
)
from wme_assets.snapshots.manifest import RecordValidator, SnapshotManifest, verify_snapshot_files
from wme_assets.storage.object_store import ObjectStore

CHECK_WORKERS = 8  # HEAD requests at once


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _head_problems(store: ObjectStore, key: str | None, size: int, sha256: str, path: str) -> list[str]:
    if key is None:
        return [f"{path}: manifest names no published key"]
    info = store.head(store.key(key))
    if info is None:
        return [f"{key}: missing"]
    if info.size != size:
        return [f"{key}: holds {info.size} bytes, manifest says {size}"]
    if info.sha256 != sha256:
        return [f"{key}: sha256 is {info.sha256 or 'not recorded'}, manifest says {sha256}"]
    return []


def check_published_snapshot(store: ObjectStore, manifest: SnapshotManifest) -> list[str]:
    """Quick check without reading contents: every object is present with the manifest's size and SHA-256
    (the ``sha256`` metadata ``ObjectStore`` stores on each object it publishes). HEADs in parallel."""
    problems: list[str] = []
    checks: list[tuple[str | None, int, str, str]] = []
    for entry in [*manifest.chunks, manifest.archive]:
        checks.append((entry.key, entry.bytes, entry.sha256, entry.path))
        if entry.metadata is not None:
            checks.append((entry.metadata.key, entry.metadata.bytes, entry.metadata.sha256, entry.path))
        else:
            problems.append(f"{entry.key or entry.path}: manifest names no published metadata object")
    with ThreadPoolExecutor(max_workers=CHECK_WORKERS, thread_name_prefix="check") as pool:
        for found in pool.map(lambda check: _head_problems(store, *check), checks):
            problems.extend(found)
    return problems


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
    if LATEST_POINTER.match(relative):
        return [_read_pointer(store, relative)]
    if match := DATED_SNAPSHOT.match(relative):
        top, date, name = match.group(1), match.group(2), match.group(3)
        return [_Target(f"{top}/{date}/{name}.manifest.json")]
    if match := DATED_BATCH.match(relative):
        return [_Target(relative[: match.start(6)] + ".manifest.json")]
    if match := DATED_CHUNK.match(relative):
        top, date, identifier, group = match.group(1), match.group(2), match.group(3), match.group(4) or ""
        snapshots = layout(chunk_kind(top)).snapshots
        return [_Target(f"{snapshots}/{date}/{identifier}{group}.manifest.json")]
    prefix = store.prefix + relative if relative else store.prefix
    found: dict[str, _Target] = {}
    for info in store.list(prefix):
        key = info.key[len(store.prefix) :]
        if key.endswith(".manifest.json"):
            found.setdefault(key, _Target(key))
        elif LATEST_POINTER.match(key):
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
    on_manifest: Callable[[str, SnapshotManifest], None] | None = None,
) -> list[str]:
    """Verify published snapshots; returns the problems (empty: all good). For ``wme snapshot verify URI``.

    ``target``: an ``s3://bucket/...`` URI or a key relative to the store's prefix, naming a manifest, a
    ``latest`` pointer, any file of a dated snapshot or chunk (of any kind), or a prefix (every manifest and
    pointer under it). Always checks that every object is present with the manifest's size and stored SHA-256,
    and that the manifest's kind is that of the folder it (and its pointer) lies in; ``deep`` (default) also
    re-hashes every byte and reads every archive and chunk record by record
    (:func:`~wme_assets.snapshots.manifest.verify_snapshot_files`). Each record goes to the ``validators`` entry
    of the manifest's kind (a prefix may hold articles and Structured Contents), else to ``validator``.
    ``on_manifest`` hears each manifest read, with its key (the CLI shows each snapshot's cut point).
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
        if on_manifest is not None:
            on_manifest(manifest_key, manifest)
        if manifest.published is None:
            problems.append(f"{manifest_key}: manifest was never published (no 'published' section)")
            continue
        for key in (manifest_key, found.pointer_key):
            folder_kind = kind_of(key) if key else None
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


__all__ = ["check_published_snapshot", "verify_published"]
