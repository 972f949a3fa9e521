"""The API's metadata of the revisions an application builds (:meth:`ActionApiClient.revision_metadata`), with
what the article store already knows: the stored article of a page is usually its parent revision (its time
and size need no second fetch of its text)."""

from __future__ import annotations

from typing import Any

import orjson

from wme_assets.realtime.plan import PageChange
from wme_assets.sources.action_api import FetchedRevision

__all__ = ["fetch_metadata", "same_but_edit_count"]


def fetch_metadata(revisions, to_build: list[tuple[PageChange, FetchedRevision]],
                   stored: dict[int, dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """What the API says of the revisions to build beyond their text, by revision id; ``{}`` from a source
    without it (revisions in hand). The stored article of a page is its previous revision when that is the
    parent: its time and size are not fetched again (unless its text was hidden: the API says so)."""
    fetch = getattr(revisions, "revision_metadata", None)
    if fetch is None or not to_build:
        return {}
    known_parents: dict[int, dict[str, Any]] = {}
    for change, rev in to_build:
        row = stored.get(change.page_id)
        if row is None or row["op"] == "delete" or row.get("article") is None:
            continue
        if not rev.parent_revision_id or row["revision_id"] != rev.parent_revision_id:
            continue
        article = orjson.loads(row["article"])
        if (article.get("visibility") or {}).get("text", True):
            known_parents[rev.parent_revision_id] = {
                "timestamp": article.get("date_modified"),
                "characters": (article.get("version") or {}).get("number_of_characters"),
            }
    return fetch([rev for _, rev in to_build], known_parents=known_parents)


def same_but_edit_count(stored: dict[str, Any], built_json: bytes) -> bool:
    """Whether a stored article and a newly built one of the same revision differ at most in the editor's edit
    count. That count grows with every edit the editor makes anywhere: a change applied again (a replay, a
    rerun) does not rewrite every page its editor touched for that alone."""
    built = orjson.loads(built_json)
    for article in (stored, built):
        article.pop("wme", None)
        ((article.get("version") or {}).get("editor") or {}).pop("edit_count", None)
    return stored == built
