"""The quarantine zone: what a stage set aside (duplicate pages, pages that failed), one NDJSON object each.

``quarantine/{project}/{date}/{name}`` (see :func:`~wme_assets.storage.keys.quarantine_key`), one JSON
record per line with the reason. Stages write through here so they never build the keys themselves.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from wme_assets.storage.keys import quarantine_key
from wme_assets.storage.object_store import ObjectStore, PublishedObject

__all__ = ["clear_quarantine", "read_quarantine", "write_quarantine"]

NDJSON_CONTENT_TYPE = "application/x-ndjson"


def write_quarantine(
    store: ObjectStore, project: str, date: str, name: str, records: Iterable[Mapping[str, Any]]
) -> PublishedObject:
    """Publish ``records`` as ``quarantine/{project}/{date}/{name}``, one JSON object per line."""
    lines = b"".join(orjson.dumps(record) + b"\n" for record in records)
    return store.put_bytes(store.key(quarantine_key(project, date, name)), lines, content_type=NDJSON_CONTENT_TYPE)


def read_quarantine(store: ObjectStore, project: str, date: str, name: str) -> list[dict[str, Any]] | None:
    """The records of ``quarantine/{project}/{date}/{name}``; None when there is no such object."""
    key = store.key(quarantine_key(project, date, name))
    if store.head(key) is None:
        return None
    return [orjson.loads(line) for line in store.read_bytes(key).splitlines()]


def clear_quarantine(store: ObjectStore, project: str, date: str, name: str) -> None:
    """Remove ``quarantine/{project}/{date}/{name}`` (an earlier run's, now stale); absent is fine."""
    store.delete(store.key(quarantine_key(project, date, name)))
