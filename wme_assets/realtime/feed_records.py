"""The feed's records of one application: the articles and tombstones it publishes, typed as the hourly
batches type them (:mod:`.batches`: create, update, move, visibility-change, delete).

The applier hands over its rows (page id → upsert of a built article, or delete) and what the store held for
those pages before (:func:`wme_assets.realtime.apply.apply_changes`'s ``before_publish``); the previous state
names the change exactly as an hour's batch would, but per application instead of per hour.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from wme_assets.realtime.batches import Previous, _delete_record, _event_type
from wme_assets.realtime.feed import append_records, rfc3339_ms
from wme_assets.settings import Settings
from wme_assets.storage.article_store import DELETE
from wme_assets.storage.object_store import ObjectStore

# uuid5(namespace, "{project}:{page id}:{revision}:{op}:{to seq}"): the same change fed again (never, by the
# head's check) would carry the same identifier.
FEED_EVENT_NAMESPACE = uuid.UUID("5b1f7c2e-8d4a-4f0b-9c3e-2a6d1e7f9b40")


def previous_of(row: dict[str, Any] | None) -> Previous | None:
    if row is None:
        return None
    article = orjson.loads(row["article"]) if row.get("article") is not None else {}
    return Previous(row["namespace"], row["name"], row["op"] == DELETE, article.get("visibility"))


def application_records(
    project: str,
    language: str | None,
    rows: dict[int, tuple],
    stored: dict[int, dict[str, Any]],
    to_seq: int,
    *,
    now: datetime | None = None,
) -> list[tuple[int, dict[str, Any]]]:
    """(page id, record) of every row, in page id order; ``event`` without ``partition``/``offset`` and
    ``date_published`` (the append sets them)."""
    created = rfc3339_ms(now or datetime.now(UTC))
    records: list[tuple[int, dict[str, Any]]] = []
    for page_id, row in sorted(rows.items()):
        if row[0] == "delete":
            _, namespace, revision_id, name = row
            record = _delete_record(project, "", page_id, namespace, name, revision_id, language, created)
            kind, revision = "delete", revision_id
        else:
            built = row[1]
            record = orjson.loads(built.article_json)
            kind, revision = _event_type(record, previous_of(stored.get(page_id))), built.revision_id
        identity = f"{project}:{page_id}:{revision}:{kind}:{to_seq}"
        record["event"] = {
            "identifier": str(uuid.uuid5(FEED_EVENT_NAMESPACE, identity)),
            "type": kind,
            "date_created": created,
        }
        records.append((page_id, record))
    return records


def feed_before_publish(
    store: ObjectStore, settings: Settings, project: str, language: str | None, to_seq: int
) -> Callable[[dict[int, tuple], dict[int, dict[str, Any]]], None]:
    """The ``before_publish`` of an application of ``project``'s log events up to ``to_seq``: its rows into the
    feed (:func:`wme_assets.realtime.feed.append_records`), unless the head already has those events."""
    def append(rows: dict[int, tuple], stored: dict[int, dict[str, Any]]) -> None:
        append_records(store, settings, project, to_seq, application_records(project, language, rows, stored, to_seq))

    return append
