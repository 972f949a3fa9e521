"""What readers start from: ``current.json``, the manifests it names, and the state of a past day.

:class:`CurrentState` is the pointer read once with the base and delta manifests it names, so a reader
uses one consistent state; :func:`state_as_of` picks the state a snapshot of a given day holds.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from wme_assets.storage.article_store.layout import (
    BASE_FORMAT,
    CURRENT_FORMAT,
    DELTA_FORMAT,
    SCHEMA_FINGERPRINT,
    _check_date,
    base_prefix,
    current_key,
    delta_prefix,
    store_prefix,
)
from wme_assets.storage.object_store import ObjectStore, PublishedObject
from wme_assets.storage.parquet_dataset import MANIFEST_NAME, read_manifest

log = logging.getLogger(__name__)


class ArticleStoreNotFound(LookupError):
    """The project has no article store yet (no ``current.json``): publish a base first."""


@dataclass(frozen=True)
class CurrentState:
    """What ``current.json`` points at, with the manifests it names (read once, used consistently)."""

    project: str
    base: str  # YYYYMMDD
    deltas: tuple[str, ...]  # YYYYMMDDHH, in the order they apply
    base_manifest: dict[str, Any] = field(repr=False)
    delta_manifests: dict[str, dict[str, Any]] = field(repr=False)
    updated_at: str | None = None

    @property
    def deltas_after(self) -> str:
        """Deltas at or before this hour are in the base already (or older than its dump)."""
        return self.base_manifest["deltas_after"]

    @property
    def folded_deltas(self) -> tuple[str, ...]:
        """The deltas compacted into the base since its dump."""
        return tuple(self.base_manifest.get("folded_deltas", ()))

    @property
    def rows(self) -> int:
        """Rows in the base and the deltas (not the number of current articles)."""
        return self.base_manifest["rows"] + sum(m["rows"] for m in self.delta_manifests.values())


def read_base_manifest(store: ObjectStore, project: str, date: str) -> dict[str, Any]:
    return read_manifest(
        store, base_prefix(project, date), format=BASE_FORMAT, fingerprint=SCHEMA_FINGERPRINT, what="article base"
    )


def read_delta_manifest(store: ObjectStore, project: str, hour: str) -> dict[str, Any]:
    return read_manifest(
        store, delta_prefix(project, hour), format=DELTA_FORMAT, fingerprint=SCHEMA_FINGERPRINT, what="article delta"
    )


def delta_exists(store: ObjectStore, project: str, hour: str) -> bool:
    """Whether the delta of ``hour`` was published (its manifest is there), named by the pointer or not."""
    return store.head(store.key(delta_prefix(project, hour), MANIFEST_NAME)) is not None


def state_before(state: CurrentState, hour: str) -> CurrentState | None:
    """The state as it stood before the delta of ``hour`` was applied: the base and the earlier deltas.

    None when the base already holds that hour (compaction folded it), so that state is no longer at hand.
    """
    if hour <= state.deltas_after:
        return None
    earlier = tuple(h for h in state.deltas if h < hour)
    return CurrentState(
        project=state.project,
        base=state.base,
        deltas=earlier,
        base_manifest=state.base_manifest,
        delta_manifests={h: state.delta_manifests[h] for h in earlier},
        updated_at=state.updated_at,
    )


def _read_pointer(store: ObjectStore, project: str) -> dict[str, Any] | None:
    key = store.key(current_key(project))
    if store.head(key) is None:
        return None
    pointer = json.loads(store.read_bytes(key))
    if pointer.get("format") != CURRENT_FORMAT or pointer.get("project") != project:
        raise ValueError(f"{store.uri(key)} is not the article store pointer of {project}")
    return pointer


def read_current(store: ObjectStore, project: str) -> CurrentState:
    """The project's current base and deltas, with their manifests checked against this code's schema."""
    pointer = _read_pointer(store, project)
    if pointer is None:
        raise ArticleStoreNotFound(
            f"{project} has no article store at {store.uri(store.key(current_key(project)))}: publish a base first"
        )
    base = pointer["base"]
    base_manifest = read_base_manifest(store, project, base)
    deltas = []
    for hour in pointer["deltas"]:
        # A pointer written by a racing update could still name a delta the base holds; applying it again
        # would undo the later changes folded with it.
        if hour <= base_manifest["deltas_after"]:
            log.warning("%s: delta %s is already in base %s; skipping it", project, hour, base)
            continue
        deltas.append(hour)
    return CurrentState(
        project=project,
        base=base,
        deltas=tuple(deltas),
        base_manifest=base_manifest,
        delta_manifests={hour: read_delta_manifest(store, project, hour) for hour in deltas},
        updated_at=pointer.get("updated_at"),
    )


def _write_pointer(store: ObjectStore, project: str, base: str, deltas: Iterable[str]) -> PublishedObject:
    pointer = {
        "format": CURRENT_FORMAT,
        "version": 1,
        "project": project,
        "base": base,
        "deltas": sorted(set(deltas)),
        "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    return store.put_bytes(
        store.key(current_key(project)), json.dumps(pointer, indent=2).encode(), content_type="application/json"
    )


def list_bases(store: ObjectStore, project: str) -> list[str]:
    """Dates of the published bases of a project (those with a manifest), oldest first."""
    prefix = store.key(store_prefix(project), "base") + "/"
    dates = set()
    for info in store.list(prefix):
        rest = info.key[len(prefix):].split("/")
        if len(rest) == 2 and rest[1] == "_manifest.json":
            dates.add(rest[0])
    return sorted(dates)


def state_as_of(store: ObjectStore, project: str, date: str) -> CurrentState:
    """The articles as they stood at the end of ``date`` (YYYYMMDD): what a snapshot of that day holds.

    The current state when its base is not newer than ``date`` (with only the deltas up to the end of that
    day); otherwise the newest base published on or before ``date``, without deltas. A snapshot re-run for
    a past date therefore never picks up articles from a later dump.
    """
    _check_date(date)
    try:
        current = read_current(store, project)
    except ArticleStoreNotFound:
        current = None
    if current is not None and current.base <= date:
        deltas = tuple(hour for hour in current.deltas if hour <= f"{date}23")
        return CurrentState(
            project=project,
            base=current.base,
            deltas=deltas,
            base_manifest=current.base_manifest,
            delta_manifests={hour: current.delta_manifests[hour] for hour in deltas},
            updated_at=current.updated_at,
        )
    earlier = [base for base in list_bases(store, project) if base <= date]
    if not earlier:
        raise ArticleStoreNotFound(
            f"{project} has no article base on or before {date}: enrich a dump of that date first"
        )
    base = earlier[-1]
    return CurrentState(
        project=project, base=base, deltas=(), base_manifest=read_base_manifest(store, project, base),
        delta_manifests={},
    )
