"""The API's metadata of the revisions an application builds (:meth:`ActionApiClient.revision_metadata`), with
what the article store already knows: the stored article of a page is usually its parent revision (its time
and size need no second fetch of its text) and carries the page's creation date."""

from __future__ import annotations

from typing import Any

import orjson

from wme_assets.realtime.plan import PageChange
from wme_assets.sources.action_api import FetchedRevision

__all__ = ["fetch_metadata"]


def fetch_metadata(revisions, to_build: list[tuple[PageChange, FetchedRevision]],
                   stored: dict[int, dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """What the API says of the revisions to build beyond their text, by revision id; ``{}`` from a source
    without it (revisions in hand). The stored article of a page is its previous revision when that is the
    parent (its time and size are not fetched again) and carries the page's creation date."""
    fetch = getattr(revisions, "revision_metadata", None)
    if fetch is None or not to_build:
        return {}
    known_parents: dict[int, dict[str, Any]] = {}
    created: dict[int, str] = {}
    for change, rev in to_build:
        row = stored.get(change.page_id)
        if row is None or row["op"] == "delete" or row.get("article") is None:
            continue
        article = orjson.loads(row["article"])
        if rev.parent_revision_id and row["revision_id"] == rev.parent_revision_id:
            known_parents[rev.parent_revision_id] = {
                "timestamp": article.get("date_modified"),
                "characters": (article.get("version") or {}).get("number_of_characters"),
            }
        if article.get("date_created"):
            created[rev.revision_id] = article["date_created"]
    metadata = fetch([rev for _, rev in to_build], known_parents=known_parents)
    for revision_id, date in created.items():
        metadata.setdefault(revision_id, {})["date_created"] = date
    return metadata
