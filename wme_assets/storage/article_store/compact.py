"""Compaction: fold the current deltas into a new base and move the pointer past them."""

from __future__ import annotations

import logging
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from wme_assets.settings import validate_project
from wme_assets.storage.article_store.layout import (
    BASE_FORMAT,
    _check_date,
    _check_hour,
    _missing_hours,
    base_prefix,
)
from wme_assets.storage.article_store.publish import _publish, scan_parts
from wme_assets.storage.article_store.read import iter_current_batches
from wme_assets.storage.article_store.state import CurrentState, _read_pointer, _write_pointer, read_current
from wme_assets.storage.article_store.writer import ArticleStoreWriter
from wme_assets.storage.object_store import ObjectStore
from wme_assets.storage.parquet_dataset import part_paths
from wme_assets.util.sizes import MiB

log = logging.getLogger(__name__)


def compact(
    store: ObjectStore,
    project: str,
    *,
    date: str,
    cache_dir: str | os.PathLike[str],
    run_id: str | None = None,
    through_hour: str | None = None,
    allow_gaps: bool = False,
    work_dir: str | os.PathLike[str] | None = None,
    rows_per_batch: int = 1_000,
    rows_per_file: int = 500_000,
    max_file_bytes: int = 256 * MiB,
    memory_limit: str = "1GB",
) -> CurrentState:
    """Fold the current deltas (up to ``through_hour``) into a new base ``base/{date}``; move the pointer.

    The new base's manifest lists the deltas folded into it; the old base and the folded deltas stay
    until retention removes them. With no delta to fold nothing is written and the current state is
    returned. A hole between the first and last folded hour is refused unless ``allow_gaps``: a missing
    hour published later could not be applied any more (it would be older than the base).
    """
    validate_project(project)
    _check_date(date)
    state = read_current(store, project)
    last = _check_hour(through_hour) if through_hour is not None else None
    folding = [hour for hour in state.deltas if last is None or hour <= last]
    if not folding:
        log.info("%s: no delta to compact into base %s", project, state.base)
        return state
    if date <= state.base:
        # Writing over the base that readers and this compaction read would break both.
        raise ValueError(f"{project}: compaction into base {date} needs a date after the current base {state.base}")
    missing = _missing_hours(folding)
    if missing and not allow_gaps:
        raise ValueError(
            f"{project}: deltas {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''} are missing between "
            f"{folding[0]} and {folding[-1]}; publish them first (or pass allow_gaps=True to give them up)"
        )
    folded_state = CurrentState(
        project=project,
        base=state.base,
        deltas=tuple(folding),
        base_manifest=state.base_manifest,
        delta_manifests={hour: state.delta_manifests[hour] for hour in folding},
        updated_at=state.updated_at,
    )
    run_id = run_id or f"compaction-{date}-{datetime.now(UTC):%Y%m%dT%H%M%S}"
    with tempfile.TemporaryDirectory(prefix=f"wme-articles-{project}-{date}-", dir=work_dir) as tmp:
        out_dir = Path(tmp) / "base"
        with ArticleStoreWriter(
            out_dir,
            project=project,
            source=f"compaction:{date}",
            run_id=run_id,
            rows_per_batch=rows_per_batch,
            rows_per_file=rows_per_file,
            max_file_bytes=max_file_bytes,
        ) as writer:
            for batch in iter_current_batches(
                store,
                project,
                cache_dir=cache_dir,
                state=folded_state,
                batch_rows=rows_per_batch,
                memory_limit=memory_limit,
            ):
                writer.write_batch(batch)
        stats = scan_parts(part_paths(out_dir, allow_empty=True), project)
        folded = sorted(set(state.folded_deltas) | set(folding))
        fields = {
            "project": project,
            "date": date,
            "ordered_by": "page_id",
            "deltas_after": max(folding[-1], state.deltas_after),
            "folded_deltas": folded,
            "compacted_from": state.base,
            **stats,
        }
        _publish(store, out_dir, base_prefix(project, date), BASE_FORMAT, fields)
    latest = _read_pointer(store, project)
    if latest is None or latest["base"] != state.base:
        raise RuntimeError(f"{project}: the base changed during compaction; compact again")
    stranded = sorted(h for h in latest["deltas"] if h not in folded and h <= fields["deltas_after"])
    if stranded:
        raise RuntimeError(
            f"{project}: deltas {stranded} were published during compaction and are older than the new base's "
            f"last folded hour {fields['deltas_after']}; compact again"
        )
    _write_pointer(store, project, date, [h for h in latest["deltas"] if h > fields["deltas_after"]])
    return read_current(store, project)
