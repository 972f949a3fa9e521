"""What dead runs leave, and what retention drops: staging, orphans at dated keys, old snapshots.

The rule (:mod:`wme_assets.snapshots.publish`): a dated snapshot is published when its manifest is at its
dated key, and the manifest names every object of it. An object at a dated key that no published manifest
names is an **orphan**: a run died (or was refused) between its first copy and its manifest, or retention
died half way. Staging (``_staging/…``) is never published; what is there after a run is a dead run's.

- :func:`remove_leftovers` — at the start of a run of one partition (project, date, tier, kind): that
  partition's staging folder (every earlier attempt, finished or not) and its orphans. A run of the
  partition is the only writer of both (a lease enforces it), so nothing there can be in use.
- :func:`sweep` — across every partition, what is older than a threshold (default 24 h): for partitions
  that never run again, and for what ``ObjectStore.publish`` stages outside any partition.
- :func:`apply_retention` — the dated snapshots of one identifier beyond the newest ``keep``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from wme_assets.schema.manifest import Tier
from wme_assets.snapshots.layout import (
    BATCHES,
    LAYOUTS,
    DatedKey,
    layout,
    load_manifest,
    named_keys,
    parse_dated_key,
    read_latest,
    staging_folder,
    suffix,
)
from wme_assets.snapshots.manifest import SnapshotKind
from wme_assets.snapshots.staging import Cleanup
from wme_assets.storage.object_store import STAGING_DIR, ObjectInfo, ObjectStore
from wme_assets.util.dates import is_yyyymmdd

DEFAULT_SWEEP_AGE = timedelta(hours=24)


def _date_folders(store: ObjectStore, top: str) -> set[str]:
    """The ``YYYYMMDD`` folders directly under ``top`` (one delimited listing, not every object)."""
    return {name for name in store.folders(store.key(top) + "/") if is_yyyymmdd(name)}


def _dated_objects(store: ObjectStore, prefix: str) -> list[tuple[DatedKey, ObjectInfo]]:
    """The objects of dated snapshots under a relative prefix, each with the snapshot it belongs to."""
    found = []
    for info in store.list(store.key(prefix)):
        parsed = parse_dated_key(info.key[len(store.prefix) :])
        if parsed is not None:
            found.append((parsed, info))
    return found


def _orphans(store: ObjectStore, objects: Iterable[tuple[DatedKey, ObjectInfo]]) -> list[tuple[DatedKey, ObjectInfo]]:
    """The objects no published manifest names; an unreadable or unpublished manifest is an orphan itself."""
    by_snapshot: dict[str, list[tuple[DatedKey, ObjectInfo]]] = {}
    for parsed, info in objects:
        by_snapshot.setdefault(parsed.manifest_key, []).append((parsed, info))
    orphans = []
    for manifest_key, members in by_snapshot.items():
        manifest = load_manifest(store, manifest_key)
        named = named_keys(manifest) | {manifest_key} if manifest and manifest.published else set()
        # A manifest goes first: what is left of a snapshot must never look complete to a reader.
        members.sort(key=lambda member: member[0].key != manifest_key)
        orphans += [(parsed, info) for parsed, info in members if parsed.key not in named]
    return orphans


def remove_leftovers(store: ObjectStore, *, date: str, project: str, tier: str, kind: str) -> Cleanup:
    """Before a run of one partition: delete its staging (earlier attempts) and its orphans; returns the counts."""
    folder = store.key(staging_folder(kind, date, project, tier)) + "/"
    store.abort_uploads(folder)
    cleanup = Cleanup(leftover_staging=store.delete_prefix(folder))
    tops = layout(kind)
    objects = [
        (parsed, info)
        for top in (tops.snapshots, tops.chunks)
        for parsed, info in _dated_objects(store, f"{top}/{date}/{project}_namespace_")
        if parsed.tier == tier and parsed.identifier.startswith(f"{project}_namespace_")
    ]
    orphans = _orphans(store, objects)
    cleanup.orphans = store.delete_keys([info.key for _, info in orphans])
    return cleanup


@dataclass
class SweepResult:
    """What :func:`sweep` removed (or, dry, would remove): staging objects, unfinished uploads, orphans."""

    staging: list[str] = field(default_factory=list)
    uploads: int = 0
    orphans: list[str] = field(default_factory=list)
    dry_run: bool = False


def _staging_folder_of(store: ObjectStore, key: str) -> str:
    """The folder that one run owns alone: a partition's attempt, or one ``ObjectStore.publish`` call's."""
    parts = key[len(store.prefix) :].split("/")
    partitioned = parts[1] in LAYOUTS or parts[1] == BATCHES
    depth = 5 if len(parts) > 5 and partitioned else 2  # _staging/kind/date/partition/attempt/
    return store.prefix + "/".join(parts[:depth]) + "/"


def sweep(
    store: ObjectStore,
    *,
    older_than: timedelta = DEFAULT_SWEEP_AGE,
    dry_run: bool = False,
    now: datetime | None = None,
) -> SweepResult:
    """Delete, across every partition, staging and orphans last modified more than ``older_than`` ago.

    The age keeps running exports safe: their staging and their copies in progress are younger (a run that
    stages for longer than ``older_than`` would lose its staging, and fail its check, not publish).
    Folders emptied are removed down to the dead run's own folder, never a partition's, which a new run may
    be writing to.
    """
    cutoff = (now or datetime.now(UTC)) - older_than
    result = SweepResult(dry_run=dry_run)
    staging_root = store.key(STAGING_DIR) + "/"
    old = [
        info.key
        for info in store.list(staging_root, include_staging=True)
        if info.last_modified is not None and info.last_modified < cutoff
    ]
    result.staging = old
    for tops in LAYOUTS.values():
        for date in sorted(_date_folders(store, tops.snapshots) | _date_folders(store, tops.chunks)):
            objects = [
                *_dated_objects(store, f"{tops.snapshots}/{date}/"),
                *_dated_objects(store, f"{tops.chunks}/{date}/"),
            ]
            result.orphans += [
                info.key
                for _, info in _orphans(store, objects)
                if info.last_modified is not None and info.last_modified < cutoff
            ]
    if dry_run:
        result.uploads = len(store.unfinished_uploads(staging_root, initiated_before=cutoff))
        return result
    result.uploads = store.abort_uploads(staging_root, initiated_before=cutoff)
    store.delete_keys(old)
    for folder in {_staging_folder_of(store, key) for key in old}:
        store.remove_folders([key for key in old if key.startswith(folder)], folder)
    store.delete_keys(result.orphans)
    return result


# --- retention -------------------------------------------------------------------------------------


def _dated_keys(store: ObjectStore, identifier: str, tier: str, kind: str) -> dict[str, list[str]]:
    """Every dated object of one snapshot, tier and kind, by date (complete, or left over by a failed run)."""
    tops = layout(kind)
    sfx = re.escape(suffix(tier))
    name = re.escape(identifier)
    patterns = [
        re.compile(rf"^{re.escape(tops.snapshots)}/(\d{{8}})/{name}{sfx}(\.tar\.gz|\.json|\.manifest\.json)$"),
        re.compile(rf"^{re.escape(tops.chunks)}/(\d{{8}})/{name}/chunk_\d+{sfx}\.(tar\.gz|json)$"),
    ]
    by_date: dict[str, list[str]] = {}
    for top in (tops.snapshots, tops.chunks):
        for date in _date_folders(store, top):
            # Orphans count too: a run that died in its copy phase may have left chunks and nothing else.
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
    dates) are left alone. Orphans of dead runs count as dates.
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


__all__ = ["DEFAULT_SWEEP_AGE", "SweepResult", "apply_retention", "remove_leftovers", "sweep"]
