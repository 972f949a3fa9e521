"""What the Action API says of a changed revision, put into its article (the realtime path's counterpart of
:mod:`.table_fields`).

The metadata is :meth:`~wme_assets.sources.action_api.ActionApiClient.revision_metadata`'s dict of one
revision. The fields the dump path takes from the dumps' tables go through :func:`.table_fields.apply_table_fields`
itself, so both paths order and merge them the same way: the categories (hidden ones and those templates add),
every transcluded page, protection, the page props (description, disambiguation, ``noindex``), the main image,
the Wikidata entities used. A field the API did not give (an older revision's link lists, a wiki without the
extension) keeps what the wikitext gives.

Then what only the API knows:

- ``version.editor``: ``groups`` as the API lists them (the implicit ``*``, ``user``, ``autoconfirmed`` too,
  as in Enterprise's records), ``is_bot`` (``bot``), ``is_admin`` (``sysop``), ``is_patroller``
  (``patroller``), ``edit_count``, ``date_started`` (registration);
- ``version.tags``; ``version.is_flagged_stable`` where the wiki has FlaggedRevs (absent elsewhere);
- ``date_previously_modified`` and ``previous_version.number_of_characters``: the parent revision's;
- ``date_created``: the revision's own time for a new page (no parent). An older page's first revision is
  not fetched (one request per page): the field is absent, as on the dump path.
"""

from __future__ import annotations

from typing import Any

from .table_fields import apply_table_fields

__all__ = ["apply_api_fields"]

# metadata key -> (table whose role it plays, key of the joined tables)
_AS_TABLES = {
    "categories": ("categorylinks", "categories"),
    "templates": ("templatelinks", "templates"),
    "protection": ("page_restrictions", "protection"),
    "description": ("page_props", "description"),
    "disambiguation": ("page_props", "disambiguation"),
    "noindex": ("page_props", "noindex"),
    "entities": ("wbc_entity_usage", "entities"),
}


def apply_api_fields(record: dict[str, Any], fields, api: dict[str, Any], site) -> None:
    """Fill ``record`` (and ``fields``' description and disambiguation flag) from one revision's metadata."""
    page = api.get("page") or {}
    present, joined = set(), {}
    for key, (table, joined_key) in _AS_TABLES.items():
        if key in page:
            present.add(table)
            joined[joined_key] = page[key]
    names = page.get("image_name") or {}
    if names.get("free"):
        joined["image_free"] = names["free"]
    elif names.get("local"):
        joined["image"] = names["local"]
    apply_table_fields(record, fields, {"present": tuple(sorted(present)), **joined}, site)
    if page.get("image"):
        record["image"] = dict(page["image"])

    version = record["version"]
    if api.get("tags"):
        version["tags"] = list(api["tags"])
    if "flagged_stable_revision" in page:
        version["is_flagged_stable"] = page["flagged_stable_revision"] == version["identifier"]
    editor, user = version.get("editor"), api.get("editor")
    if editor and user and not editor.get("is_anonymous"):
        groups = list(user.get("groups") or [])
        editor["groups"] = groups
        editor["is_bot"] = "bot" in groups
        editor["is_admin"] = "sysop" in groups
        editor["is_patroller"] = "patroller" in groups
        editor["edit_count"] = int(user.get("edit_count") or 0)
        if user.get("date_started"):
            editor["date_started"] = user["date_started"]
    previous = api.get("previous")
    if previous and "previous_version" in record:
        if previous.get("characters") is not None:
            record["previous_version"]["number_of_characters"] = previous["characters"]
        if previous.get("timestamp"):
            record["date_previously_modified"] = previous["timestamp"]
    if "previous_version" not in record and record.get("date_modified"):
        record["date_created"] = record["date_modified"]  # a new page: its first revision is this one
