"""Hourly batches: every article one project's store took in during one closed hour, deletes included.

What an hour's batch holds. The realtime applications of an hour write one delta of the article store,
``deltas/{YYYYMMDDHH}`` (:mod:`wme_assets.realtime.apply`: the hour of the application, never earlier than
the newest delta), with one row per changed page. The batch of that hour is that delta, per exported
namespace, as Enterprise article records in page id order: so the batches, hour after hour, are exactly the
changes the store took in, with no gap and nothing twice, and a consumer applying them to a snapshot gets
what the store holds. Enterprise's batches are the same ("all updates that occurred between 2am and 3am
UTC", by when its pipeline processed them), and like its records each carries ``event.type``:

* ``create``: the page was not in the store before the hour (a new page, an undeletion, a move into an
  exported namespace);
* ``move``: it was, under another title or namespace (a page that changed namespace also gets a ``delete``
  record in the namespace it left, so a consumer of each namespace's batches stays right);
* ``visibility-change``: same title, but what the public may see of its revision changed;
* ``update``: any other change;
* ``delete``: a tombstone (deleted, moved out of the exported namespaces, turned into a redirect), a record
  with the page's id, last title and revision, namespace and project.

The stored article lines are rewritten only in their ``event`` object (``type`` and ``date_published``, the
hour's end); the snapshots keep the stored lines as they are.

When an hour is exported: once it has closed (``now`` at or after the hour's end; :class:`HourNotClosed`
otherwise) and no application can still write its delta. The caller holds the project's article-store
lease while :func:`export_batch` reads the delta (``wme batch`` and the Dagster asset do): an application
that chose that hour has then published, and every later one writes a later hour.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from wme_assets.realtime.events import EXPORTED_NAMESPACES
from wme_assets.snapshots.archive import snapshot_identifier, write_snapshot
from wme_assets.snapshots.batches import (
    DEFAULT_BATCH_RETENTION_DAYS,
    PublishedBatch,
    apply_batch_retention,
    publish_batch,
    rebuild_batches_listing,
)
from wme_assets.snapshots.layout import batch_key, load_manifest
from wme_assets.snapshots.manifest import RecordValidator
from wme_assets.storage.article_store import (
    DELETE,
    delta_exists,
    iter_delta_changes,
    lookup_current,
    read_current,
    read_delta_manifest,
    state_before,
)
from wme_assets.storage.object_store import ObjectStore
from wme_assets.util.dates import check_yyyymmddhh

# A stable namespace for the UUIDs of delete records: uuid5(namespace, "{dbname}:delete:{page id}:{hour}").
DELETE_EVENT_NAMESPACE = uuid.UUID("0c0f3d8e-5a7b-4c61-9f0e-7d2b8a4e6c13")
LOOKUP_PAGES = 1_000  # previous states looked up at once (their articles are read, then dropped)
_CHANGE_COLUMNS = ("page_id", "namespace", "name", "revision_id", "op", "article")


class HourNotClosed(ValueError):
    """The hour has not ended yet: its batch would miss what is still to come."""


@dataclass(frozen=True)
class Previous:
    """What the store held for a page before the hour: enough to name the change."""

    namespace: int
    name: str | None
    deleted: bool
    visibility: Any = None


@dataclass
class NamespaceBatch:
    namespace: int
    identifier: str
    records: int = 0
    types: Counter = field(default_factory=Counter)
    published: PublishedBatch | None = None


@dataclass
class BatchExport:
    project: str
    hour: str
    changed_pages: int = 0  # rows of the hour's delta (0: nothing changed, nothing published)
    previous_known: bool = True  # False when compaction folded the hour: every change is then an "update"
    kept_published: list[int] = field(default_factory=list)  # namespaces left as published (compacted since)
    namespaces: list[NamespaceBatch] = field(default_factory=list)
    listed: int = 0  # batches the hour's listing names (all projects)
    retention_removed: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def records(self) -> int:
        return sum(n.records for n in self.namespaces)

    def types(self) -> dict[str, int]:
        total: Counter = Counter()
        for namespace in self.namespaces:
            total.update(namespace.types)
        return dict(sorted(total.items()))

    def summary(self) -> str:
        if self.kept_published:
            return f"{self.project} {self.hour}: compacted since; its published batches are kept as they are"
        if not self.changed_pages:
            return f"{self.project} {self.hour}: no changes in that hour; nothing to publish"
        types = ", ".join(f"{n} {t}" for t, n in self.types().items())
        return f"{self.project} {self.hour}: {self.records} records in {len(self.namespaces)} batches ({types})"


def hour_end(hour: str) -> datetime:
    return datetime.strptime(check_yyyymmddhh(hour, "batch hour"), "%Y%m%d%H").replace(tzinfo=UTC) + timedelta(hours=1)


def check_hour_closed(project: str, hour: str, now: datetime) -> None:
    end = hour_end(hour)
    if now < end:
        minutes = (end - now).total_seconds() / 60
        raise HourNotClosed(
            f"{project} {hour}: the hour has not closed; it ends at {end:%Y-%m-%d %H:%M} UTC, in {minutes:.0f} min. "
            "A batch holds a whole hour: export it after that"
        )


def last_closed_hour(now: datetime | None = None) -> str:
    """The newest hour that has ended, ``YYYYMMDDHH``."""
    return ((now or datetime.now(UTC)).astimezone(UTC) - timedelta(hours=1)).strftime("%Y%m%d%H")


def _rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _previous_states(store, project, page_ids: list[int], state, cache: Path) -> dict[int, Previous]:
    found: dict[int, Previous] = {}
    for start in range(0, len(page_ids), LOOKUP_PAGES):
        rows = lookup_current(
            store, project, page_ids[start : start + LOOKUP_PAGES], cache_dir=cache, state=state,
            columns=("page_id", "namespace", "name", "op", "article"),
        )  # fmt: skip
        for page_id, row in rows.items():
            article = orjson.loads(row["article"]) if row["article"] is not None else {}
            found[page_id] = Previous(row["namespace"], row["name"], row["op"] == DELETE, article.get("visibility"))
    return found


def _event_type(record: dict[str, Any], previous: Previous | None) -> str:
    if previous is None or previous.deleted:
        return "create"
    if previous.name != record.get("name") or previous.namespace != (record.get("namespace") or {}).get("identifier"):
        return "move"
    if previous.visibility != record.get("visibility"):
        return "visibility-change"
    return "update"


def _delete_record(
    project: str, hour: str, page_id: int, namespace: int, name: str | None, revision_id: int | None,
    language: str | None, published: str,
) -> dict[str, Any]:  # fmt: skip
    record: dict[str, Any] = {"name": name or "", "identifier": page_id}
    if revision_id:
        record["version"] = {"identifier": revision_id}
    record["namespace"] = {"identifier": namespace}
    if language:
        record["in_language"] = {"identifier": language}
    record["is_part_of"] = {"identifier": project}
    record["event"] = {
        "identifier": str(uuid.uuid5(DELETE_EVENT_NAMESPACE, f"{project}:delete:{page_id}:{hour}")),
        "type": "delete",
        "date_published": published,
    }
    return record


def _namespace_records(
    store, project, hour, manifest, namespace: int, previous: dict[int, Previous], language: str | None,
    counts: NamespaceBatch, cache: Path,
) -> Iterator[tuple[int, bytes]]:  # fmt: skip
    """The batch records of one namespace, in page id order (see the module docstring)."""
    published = _rfc3339(hour_end(hour))
    for batch in iter_delta_changes(
        store, project, manifest, cache_dir=cache, columns=_CHANGE_COLUMNS, namespace=namespace
    ):
        for row in batch.to_pylist():
            page_id, before = row["page_id"], previous.get(row["page_id"])
            if row["op"] == DELETE or row["namespace"] != namespace:
                if row["op"] == DELETE and row["namespace"] == namespace:
                    name, revision = row["name"], row["revision_id"]
                elif before is not None and not before.deleted and before.namespace == namespace:
                    name, revision = before.name, None  # the page left this namespace: gone from here
                else:
                    continue
                record = _delete_record(project, hour, page_id, namespace, name, revision, language, published)
            else:
                record = orjson.loads(row["article"])
                event = dict(record.get("event") or {})
                event["type"] = _event_type(record, before)
                event["date_published"] = published
                record["event"] = event
            counts.types[record["event"]["type"]] += 1
            counts.records += 1
            yield page_id, orjson.dumps(record)


def _language(store, project, manifest, previous: dict[int, Previous], state, cache: Path) -> str | None:
    """The project's language code, from the first article of the hour (or, for deletes only, before it)."""
    for batch in iter_delta_changes(store, project, manifest, cache_dir=cache, columns=("page_id", "op", "article")):
        for row in batch.to_pylist():
            if row["article"] is not None:
                return (orjson.loads(row["article"]).get("in_language") or {}).get("identifier")
    if state is not None and previous:
        rows = lookup_current(
            store, project, list(previous)[:1], cache_dir=cache, state=state, columns=("page_id", "article")
        )
        for row in rows.values():
            if row.get("article") is not None:
                return (orjson.loads(row["article"]).get("in_language") or {}).get("identifier")
    return None


def export_batch(
    store: ObjectStore,
    project: str,
    hour: str,
    *,
    now: datetime | None = None,
    validator: RecordValidator | None = None,
    keep_days: int = DEFAULT_BATCH_RETENTION_DAYS,
    listing_lease: Callable[[str], AbstractContextManager] = lambda hour: nullcontext(),
    work_dir: Path | None = None,
    log: Callable[[str], None] = print,
) -> BatchExport:
    """Publish the batches of ``project`` for the closed ``hour`` (``YYYYMMDDHH``; see the module docstring).

    Raises :class:`HourNotClosed` for an hour that has not ended at ``now`` (default: the clock). Publishes
    one batch per exported namespace with changes, rebuilds the hour's listing and applies retention.
    Every project's batch of an hour rewrites that hour's listing: ``listing_lease(hour)`` is held while it
    does, so that two projects' exports do not drop each other's entry.
    """
    started = time.monotonic()
    now = (now or datetime.now(UTC)).astimezone(UTC)
    check_hour_closed(project, hour, now)
    result = BatchExport(project, hour)
    state = read_current(store, project)
    if delta_exists(store, project, hour):
        manifest = read_delta_manifest(store, project, hour)
        with tempfile.TemporaryDirectory(prefix=f"wme-batch-{project}-{hour}-", dir=work_dir) as tmp:
            _export_delta(store, project, hour, manifest, state, Path(tmp), validator, result, log)
    with listing_lease(hour):
        result.listed = rebuild_batches_listing(store, hour)
    result.retention_removed = apply_batch_retention(store, project, keep_days=keep_days, now=now)
    result.seconds = time.monotonic() - started
    log(result.summary())
    return result


def _export_delta(store, project, hour, manifest, state, tmp: Path, validator, result: BatchExport, log) -> None:
    cache = tmp / "cache"
    changes = [
        (row["page_id"], row["namespace"])
        for batch in iter_delta_changes(
            store, project, manifest, cache_dir=cache, columns=("page_id", "namespace", "op")
        )
        for row in batch.to_pylist()
    ]
    result.changed_pages = len(changes)
    before = state_before(state, hour)
    result.previous_known = before is not None
    if before is None:
        published = [
            ns
            for ns in EXPORTED_NAMESPACES
            if load_manifest(store, batch_key(hour, snapshot_identifier(project, ns), "manifest"))
        ]
        if published:
            # Re-exported now, the hour's records would lose their event types: what was published stays.
            log(f"{project} {hour}: the store was compacted past that hour; its published batches stay as they are")
            result.kept_published = sorted(published)
            return
        log(f"{project} {hour}: the store's base already holds that hour (compacted); event types are 'update'")
    previous = _previous_states(store, project, [p for p, _ in changes], before, cache) if before else {}
    language = _language(store, project, manifest, previous, before, cache)
    touched = {ns for _, ns in changes} | {p.namespace for p in previous.values() if not p.deleted}
    for namespace in sorted(touched & EXPORTED_NAMESPACES):
        counts = NamespaceBatch(namespace, snapshot_identifier(project, namespace))
        records = _namespace_records(store, project, hour, manifest, namespace, previous, language, counts, cache)
        files = write_snapshot(
            records, tmp / f"ns{namespace}", dbname=project, namespace=namespace, language=language,
            dump_date=hour[:8],
        )  # fmt: skip
        if not counts.records:
            continue
        counts.published = publish_batch(store, files, hour=hour, validator=validator)
        result.namespaces.append(counts)
        log(f"{project} {hour} namespace {namespace}: {counts.records} records ({dict(counts.types)})")


__all__ = ["BatchExport", "HourNotClosed", "check_hour_closed", "export_batch", "hour_end", "last_closed_hour"]
