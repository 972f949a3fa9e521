"""Publishing bases and deltas: upload the part files and manifest, verify them, then move the pointer.

Also the inputs record a stage keeps beside a base (``base/{date}/_inputs.json``: what the base was built
from), so a re-run can tell whether the base is up to date without rebuilding it.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pyarrow.compute as pc
import pyarrow.parquet as pq

from wme_assets.settings import validate_project
from wme_assets.storage.article_store.layout import (
    _MERGE_COLUMNS,
    ARTICLE_SCHEMA,
    ARTICLE_STORE_SCHEMA_VERSION,
    BASE_FORMAT,
    DELETE,
    DELTA_FORMAT,
    _check_date,
    _check_hour,
    _hour_before,
    _strictly_ascending,
    base_prefix,
    delta_prefix,
)
from wme_assets.storage.article_store.state import (
    CurrentState,
    _read_pointer,
    _write_pointer,
    read_base_manifest,
    read_current,
)
from wme_assets.storage.object_store import ObjectStore, PublishedObject
from wme_assets.storage.parquet_dataset import (
    MANIFEST_NAME,
    check_file_schema,
    part_paths,
    publish_dataset,
    publish_manifest,
    publish_part,
    verify_published,
)


@dataclass
class ArticleStorePublish:
    """What :func:`publish_base` / :func:`publish_delta` did."""

    key_prefix: str
    manifest: dict[str, Any]
    objects: list[PublishedObject]  # the part files, then the manifest
    current: CurrentState  # the state the pointer names afterwards


def scan_parts(paths: list[Path], project: str) -> dict[str, Any]:
    """Counts and order of the rows, from the small columns only (the articles are not decompressed)."""
    namespaces: Counter[int] = Counter()
    upserts = deletes = 0
    ascending, last, low, high = True, None, None, None
    for path in paths:
        schema = check_file_schema(path, ARTICLE_SCHEMA, what="article store")
        found = (schema.metadata or {}).get(b"wme.project", b"").decode()
        if found != project:
            raise ValueError(f"{path} holds articles of {found or 'an unknown project'}, not {project}")
        for batch in pq.ParquetFile(path).iter_batches(batch_size=65_536, columns=list(_MERGE_COLUMNS)):
            ids = batch.column("page_id")
            if not batch.num_rows:
                continue
            if ascending and not _strictly_ascending(ids, after=last):
                ascending = False
            last = ids[-1].as_py()
            batch_low, batch_high = (v.as_py() for v in pc.min_max(ids).values())
            low = batch_low if low is None else min(low, batch_low)
            high = batch_high if high is None else max(high, batch_high)
            for item in pc.value_counts(batch.column("namespace")).to_pylist():
                namespaces[item["values"]] += item["counts"]
            batch_deletes = pc.sum(pc.equal(batch.column("op"), DELETE)).as_py() or 0
            deletes += batch_deletes
            upserts += batch.num_rows - batch_deletes
    return {
        "upserts": upserts,
        "deletes": deletes,
        "rows_per_namespace": {str(ns): n for ns, n in sorted(namespaces.items())},
        "ascending": ascending,
        "min_page_id": low,
        "max_page_id": high,
    }


def _publish(
    store: ObjectStore, local_dir: Path, prefix: str, fmt: str, fields: dict[str, Any]
) -> tuple[dict[str, Any], list[PublishedObject]]:
    published = publish_dataset(
        store,
        local_dir,
        prefix,
        schema=ARTICLE_SCHEMA,
        format=fmt,
        schema_version=ARTICLE_STORE_SCHEMA_VERSION,
        fields=fields,
        allow_empty=True,  # an hour without changes, or a wiki without articles, is still a state
        what="article store",
    )
    # The pointer only ever names datasets whose every file is in place with the recorded checksum.
    verify_published(store, published.manifest)
    return published.manifest, published.objects


def publish_base(store: ObjectStore, local_dir: str | os.PathLike[str], project: str, date: str) -> ArticleStorePublish:
    """Publish a full set of articles from a dump as ``base/{date}`` and point ``current.json`` at it.

    The files must be in ascending page id order with no deletes (checked from the page id and op
    columns before anything is uploaded). Deltas already on the current state from ``date`` on, folded
    into a compacted base or not, stay applied on top of the new base: they are changes after the dump.
    A base older than the current one (a backfill of an earlier dump) is published beside it without
    moving ``current.json``: the current view does not roll back, and snapshots of past days find it
    through :func:`state_as_of`.
    """
    validate_project(project)
    _check_date(date)
    local_dir = Path(local_dir)
    paths = part_paths(local_dir, allow_empty=True)
    stats = scan_parts(paths, project)
    _check_base(stats, str(local_dir))
    uploaded = [publish_part(store, path, base_prefix(project, date), path.name) for path in paths]
    published = publish_base_parts(store, project, date, [entry for entry, _ in uploaded], stats)
    published.objects[:0] = [obj for _, obj in uploaded]  # the part files, then the manifest
    return published


def _check_base(stats: dict[str, Any], where: str) -> None:
    if stats["deletes"] or not stats["ascending"]:
        raise ValueError(
            f"{where} is not a base: a base is in strictly ascending page id order without deletes "
            f"(ascending: {stats['ascending']}, deletes: {stats['deletes']})"
        )


def combine_stats(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The :func:`scan_parts` figures of consecutive groups of parts (the steps of a split run) as one."""
    namespaces: Counter[int] = Counter()
    for stats in parts:
        namespaces.update({int(ns): n for ns, n in stats["rows_per_namespace"].items()})
    ranges = [(s["min_page_id"], s["max_page_id"]) for s in parts if s["min_page_id"] is not None]
    in_order = all(a[1] < b[0] for a, b in zip(ranges, ranges[1:], strict=False))
    return {
        "upserts": sum(s["upserts"] for s in parts),
        "deletes": sum(s["deletes"] for s in parts),
        "rows_per_namespace": {str(ns): n for ns, n in sorted(namespaces.items())},
        "ascending": all(s["ascending"] for s in parts) and in_order,
        "min_page_id": min((r[0] for r in ranges), default=None),
        "max_page_id": max((r[1] for r in ranges), default=None),
    }


def publish_base_parts(
    store: ObjectStore, project: str, date: str, entries: list[dict[str, Any]], stats: dict[str, Any]
) -> ArticleStorePublish:
    """:func:`publish_base` for parts already under ``base/{date}/`` (``entries`` from :func:`publish_part`, in
    page id order; ``stats`` from :func:`scan_parts`, or :func:`combine_stats` of several steps')."""
    validate_project(project)
    _check_date(date)
    _check_base(stats, base_prefix(project, date))
    deltas_after = _hour_before(date)
    carried: list[str] = []
    current = _read_pointer(store, project)
    if current is not None and current["base"] > date:
        fields = {"project": project, "date": date, "ordered_by": "page_id", "deltas_after": deltas_after,
                  "folded_deltas": [], "compacted_from": None, **stats}
        prefix = base_prefix(project, date)
        manifest, objects = _publish_entries(store, prefix, BASE_FORMAT, fields, entries)
        return ArticleStorePublish(prefix, manifest, objects, read_current(store, project))
    if current is not None:
        # Read before publishing: republishing the current base's date replaces that manifest.
        previous = read_base_manifest(store, project, current["base"])
        candidates = set(current["deltas"]) | set(previous.get("folded_deltas", []))
        carried = sorted(hour for hour in candidates if hour > deltas_after)
        missing = [hour for hour in carried if not store.exists(store.key(delta_prefix(project, hour), MANIFEST_NAME))]
        if missing:
            # Folded deltas live on only until retention removes them; without them their changes would be
            # lost silently.
            raise FileNotFoundError(
                f"{project}: deltas {missing} hold changes after {date} but are no longer in the store; "
                "the new base would lose them"
            )
    fields = {
        "project": project,
        "date": date,
        "ordered_by": "page_id",
        "deltas_after": deltas_after,
        "folded_deltas": [],
        "compacted_from": None,
        **stats,
    }
    prefix = base_prefix(project, date)
    manifest, objects = _publish_entries(store, prefix, BASE_FORMAT, fields, entries)
    _write_pointer(store, project, date, carried)
    return ArticleStorePublish(prefix, manifest, objects, read_current(store, project))


def _publish_entries(
    store: ObjectStore, prefix: str, fmt: str, fields: dict[str, Any], entries: list[dict[str, Any]]
) -> tuple[dict[str, Any], list[PublishedObject]]:
    published = publish_manifest(
        store, prefix, entries, schema=ARTICLE_SCHEMA, format=fmt, schema_version=ARTICLE_STORE_SCHEMA_VERSION,
        fields=fields,
    )
    verify_published(store, published.manifest)
    return published.manifest, published.objects


def publish_delta(
    store: ObjectStore, local_dir: str | os.PathLike[str], project: str, hour: str
) -> ArticleStorePublish:
    """Publish one hour of changes as ``deltas/{hour}`` and add it to ``current.json``.

    Republishing an hour the pointer already names replaces its files (the pointer stays as it is). An
    hour the current base already holds (folded by compaction, or before the dump) is refused:
    applying it again would undo later changes.
    """
    validate_project(project)
    _check_hour(hour)
    local_dir = Path(local_dir)
    paths = part_paths(local_dir, allow_empty=True)
    stats = scan_parts(paths, project)
    state = read_current(store, project)
    if hour <= state.deltas_after:
        held = "was folded into" if hour in state.folded_deltas else "is not after"
        raise ValueError(
            f"{project}: delta {hour} {held} base {state.base} (which holds changes through {state.deltas_after}); "
            "publish the changes as a later hour, or compact again from an older base"
        )
    fields = {"project": project, "hour": hour, **stats}
    prefix = delta_prefix(project, hour)
    manifest, objects = _publish(store, local_dir, prefix, DELTA_FORMAT, fields)
    # Re-read just before writing: a delta published meanwhile must not be dropped from the pointer.
    latest = _read_pointer(store, project)
    if latest is None or latest["base"] != state.base:
        raise RuntimeError(f"{project}: the base changed while delta {hour} was published; publish it again")
    if hour not in latest["deltas"]:
        _write_pointer(store, project, latest["base"], [*latest["deltas"], hour])
    return ArticleStorePublish(prefix, manifest, objects, read_current(store, project))


# Beside the base's files and manifest; not a part file, so publishing the base leaves it alone.
INPUTS_NAME = "_inputs.json"


def read_inputs_record(store: ObjectStore, project: str, date: str) -> dict[str, Any] | None:
    """The inputs record of ``base/{date}`` (None when there is none, e.g. the build did not finish)."""
    key = store.key(base_prefix(project, date), INPUTS_NAME)
    if store.head(key) is None:
        return None
    return orjson.loads(store.read_bytes(key))


def write_inputs_record(store: ObjectStore, project: str, date: str, record: dict[str, Any]) -> PublishedObject:
    """Record what ``base/{date}`` was built from. Write it last: a base without one is rebuilt."""
    return store.put_bytes(store.key(base_prefix(project, date), INPUTS_NAME), orjson.dumps(record))
