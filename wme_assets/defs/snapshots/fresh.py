"""Fresh snapshots: the article store brought up to date, then its state pinned with the cut point.

The snapshot stage (:mod:`wme_assets.snapshots.run`) knows nothing of change events (``snapshots`` may not
import ``realtime``); this is where the two meet, for the snapshot assets. For a project that gets change
events (:func:`~wme_assets.realtime.update.has_change_source`):

- **today (UTC)**: the paid snapshots first apply the pending change events (what ``wme update`` does); the
  free one does not (it is the paid tier that is sold as fresh);
- **a past date**: no event is applied; the snapshot holds the state as of the end of that day
  (:func:`~wme_assets.storage.article_store.state_as_of`), as a re-run of that day always has. It carries a
  cut point only when that state is the store's current one (no delta published after the day): otherwise
  where the stream stood at the end of the day is not known, and a wrong cut point would make a consumer
  skip changes, so none is given.

Exact state: the applied position and the store's state are read together while holding the store's lease
(``articles/{project}``), which every applier holds while it applies, so they are of the same moment. The
state then has to stay what is exported after the lease is released (an export takes minutes to hours, and
the appliers must not wait that long); its base and deltas are named by their manifests, and a base is never
rewritten by an application, but the newest delta is: an application in the same hour republishes
``deltas/{hour}`` in place with more rows (``realtime/apply.py``). So the pinned state's delta files are
downloaded, verified against the manifests read, into the run's local cache while the lease is held, and the
export reads them from there (the cache is content-addressed by SHA-256: the same state always finds them).
Deltas are small (an hour of changes), so holding the lease for their download is short. (A base is
rewritten in place only by a re-run of the enrichment of its own dump date; the export then fails on the
SHA-256 mismatch rather than mix two versions, and its retry reads the new state.) The alternative, a
copy of the current delta under a key of the snapshot's own, would leave objects to clean up; keeping the
lease for the whole export would stop the store's updates for as long.

A project without change events exports as it always has: the state of the day, no lease, no cut point.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from wme_assets.realtime.cut_point import cut_point_of
from wme_assets.realtime.update import (
    AppliedPosition,
    applier_lease,
    bring_up_to_date,
    has_change_source,
    load_applied,
)
from wme_assets.schema.manifest import CutPoint
from wme_assets.settings import Settings
from wme_assets.snapshots.run import PinnedState
from wme_assets.storage.article_store import ArticleStoreNotFound, CurrentState, read_current, state_as_of
from wme_assets.storage.object_store import ObjectStore
from wme_assets.storage.parquet_dataset import cached_files


def today_utc() -> str:
    return datetime.now(UTC).strftime("%Y%m%d")


def pin_state(
    store: ObjectStore,
    settings: Settings,
    project: str,
    date: str,
    *,
    cache_dir: Path,
    update: bool,
    run_id: str | None = None,
    today: str | None = None,
    log: Callable[[str], None] = print,
) -> PinnedState:
    """Under the store's lease: bring ``project`` up to date when ``update`` and ``date`` is today, then read the
    state of ``date`` and the cut point together and download the state's delta files into ``cache_dir``."""
    with applier_lease(settings, store, project, run_id=run_id, log=log):
        if update and date == (today or today_utc()):
            bring_up_to_date(store, settings, project, run_id=run_id, log=log)
        applied = load_applied(store, project)
        state = state_as_of(store, project, date)
        for hour in state.deltas:
            cached_files(store, state.delta_manifests[hour], cache_dir)
        cut_point = _cut_point_of_state(store, settings, project, state, applied)
    return PinnedState(state=state, cache_dir=cache_dir, cut_point=cut_point)


def _cut_point_of_state(
    store: ObjectStore, settings: Settings, project: str, state: CurrentState, applied: AppliedPosition
) -> CutPoint | None:
    """The applied position's cut point, when ``state`` is the store's current state (module docstring)."""
    try:
        current = read_current(store, project)
    except ArticleStoreNotFound:
        return None
    if (current.base, current.deltas) != (state.base, state.deltas):
        return None
    return cut_point_of(store, settings.change_source, project, applied)


@contextmanager
def snapshot_state(
    store: ObjectStore,
    settings: Settings,
    project: str,
    date: str,
    *,
    update: bool,
    run_id: str | None = None,
    work_dir: Path | None = None,
    log: Callable[[str], None] = print,
) -> Iterator[PinnedState | None]:
    """The state a snapshot of ``date`` exports, for the ``with`` body: pinned (:func:`pin_state`) for a project
    with change events, its cache removed at the end; None (the day's state, as always) for one without."""
    if not has_change_source(store, settings, project):
        yield None
        return
    with tempfile.TemporaryDirectory(prefix=f"wme-pinned-{project}-{date}-", dir=work_dir) as tmp:
        yield pin_state(
            store, settings, project, date, cache_dir=Path(tmp), update=update, run_id=run_id, log=log
        )
