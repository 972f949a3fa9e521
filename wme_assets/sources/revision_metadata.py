"""What the Action API says of changed revisions beyond their text: the fields the dump path takes from the
dumps' SQL tables, and those only the API knows.

Three kinds of request, 50 ids each (the API's limit without ``apihighlimits``), on the client's own pool
(its concurrency bound, retries and maxlag handling apply), each followed through ``continue``:

* the pages (``pageids``): ``prop=info|categories|templates|pageprops`` with ``inprop=protection`` — the
  page's categories (hidden ones included), every transcluded page, protections, page props — and, where the
  wiki has the extension providing them, ``pageimages`` (PageImages: the main image with its size),
  ``flagged`` (FlaggedRevs: the stable revision) and ``wbentityusage`` (Wikibase client: the entities used);
* the parent revisions the caller does not already know (``revids``, ``rvprop=ids|timestamp|content``):
  ``date_previously_modified`` and ``previous_version.number_of_characters``;
* the editors (``list=users``, ``usprop=groups|editcount|registration``): groups (the implicit ``*``,
  ``user``, ``autoconfirmed`` too, as Enterprise lists them), edit count, registration.

Which ``prop`` modules the wiki has is asked once per client (``action=paraminfo``): a module of a missing
extension is never requested, and its field stays absent (no ``is_flagged_stable`` on a wiki without
FlaggedRevs). The link lists and page props describe the page as it is now, so they are given only for a
revision that is still the page's latest: an older one keeps what its wikitext says until the event of the
newer revision, which follows, is applied.

Each revision's metadata is a plain dict (read by :mod:`wme_assets.enrichment.api_fields`)::

    {"page": {"categories": [...], "templates": [...], "protection": [{type, level, expiry}],
              "image": {content_url, width, height} | "image_name": name, "description": str,
              "disambiguation": bool, "noindex": bool, "entities": [{identifier, aspects}],
              "flagged_stable_revision": int | None (only with FlaggedRevs)},
     "editor": {"groups": [...], "edit_count": int, "date_started": str} | absent,
     "previous": {"timestamp": str, "characters": int | None} | absent,
     "tags": [...]}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .action_api import BATCH_SIZE, ActionApiClient, FetchedRevision

__all__ = ["OPTIONAL_PROPS", "fetch_revision_metadata", "page_fields"]

# prop modules that come with an extension: asked for only where the wiki has them
OPTIONAL_PROPS = ("pageimages", "flagged", "wbentityusage")
_PAGE_PROPS = ("page_image_free", "page_image", "wikibase-shortdesc", "disambiguation", "noindex")


def _batches(ids: Iterable[int]) -> list[list[int]]:
    ids = sorted(set(ids))
    return [ids[i:i + BATCH_SIZE] for i in range(0, len(ids), BATCH_SIZE)]


def _merge(into: dict[str, Any], piece: dict[str, Any]) -> None:
    """One continued piece of a page into what came before: lists extended, objects merged."""
    for key, value in piece.items():
        if isinstance(value, list) and isinstance(into.get(key), list):
            into[key].extend(value)
        elif isinstance(value, dict) and isinstance(into.get(key), dict):
            into[key].update(value)
        else:
            into.setdefault(key, value)


def _query_all(client: ActionApiClient, params: dict[str, Any], key: str) -> dict[int, dict[str, Any]]:
    """``query[key]`` entries (pages or users) of one request and its continuations, merged by id."""
    out: dict[int, dict[str, Any]] = {}
    cont: dict[str, Any] = {}
    id_key = "pageid" if key == "pages" else "userid"
    while True:
        reply = client.call({**params, **cont})
        for entry in (reply.get("query") or {}).get(key, ()):
            if id_key in entry:
                _merge(out.setdefault(entry[id_key], {}), entry)
        if "continue" not in reply:
            return out
        cont = reply["continue"]


def _pages(client: ActionApiClient, page_ids: list[int]) -> dict[int, dict[str, Any]]:
    props = ["info", "categories", "templates", "pageprops"]
    props += [p for p in OPTIONAL_PROPS if p in client.query_props()]
    params = {"prop": "|".join(props), "inprop": "protection", "cllimit": "max", "tllimit": "max",
              "pageids": "|".join(map(str, page_ids))}
    if "pageimages" in props:
        params.update(piprop="original|name", pilicense="any")
    if "wbentityusage" in props:
        params["wbeulimit"] = "max"
    pages = _query_all(client, params, "pages")
    for page in pages.values():
        page["_flagged_available"] = "flagged" in props
    return pages


def _parents(client: ActionApiClient, revision_ids: list[int]) -> dict[int, dict[str, Any]]:
    reply_pages = _query_all(client, {"prop": "revisions", "rvprop": "ids|timestamp|content", "rvslots": "main",
                                      "revids": "|".join(map(str, revision_ids))}, "pages")
    out = {}
    for page in reply_pages.values():
        for rev in page.get("revisions", ()):
            main = (rev.get("slots") or {}).get("main") or {}
            text = None if main.get("texthidden") or rev.get("texthidden") else main.get("content")
            out[rev["revid"]] = {"timestamp": rev.get("timestamp"), "characters": None if text is None else len(text)}
    return out


def _users(client: ActionApiClient, user_ids: list[int]) -> dict[int, dict[str, Any]]:
    users = _query_all(client, {"list": "users", "usprop": "groups|editcount|registration",
                                "ususerids": "|".join(map(str, user_ids))}, "users")
    return {uid: {"groups": list(u.get("groups") or []), "edit_count": u.get("editcount") or 0,
                  "date_started": u.get("registration")}
            for uid, u in users.items() if not u.get("missing")}


def page_fields(page: Mapping[str, Any], *, is_latest: bool) -> dict[str, Any]:
    """The fields one ``query.pages[]`` entry gives (see the module docstring)."""
    fields: dict[str, Any] = {}
    if is_latest:
        # by full title, as the tables' join sorts them (the API sorts templates by namespace number first)
        fields["categories"] = sorted({c["title"] for c in page.get("categories", ())})
        fields["templates"] = sorted({t["title"] for t in page.get("templates", ())})
        props = page.get("pageprops") or {}
        if props.get("wikibase-shortdesc"):
            fields["description"] = props["wikibase-shortdesc"]
        fields["disambiguation"] = "disambiguation" in props
        fields["noindex"] = "noindex" in props
        original = page.get("original") or {}
        if original.get("source"):
            fields["image"] = {"content_url": original["source"], "width": original.get("width") or 0,
                               "height": original.get("height") or 0}
        elif props.get("page_image_free") or props.get("page_image"):
            # the property without PageImages' API (or without the file): the URL from the name, as from the table
            fields["image_name"] = {"free": props.get("page_image_free"), "local": props.get("page_image")}
        usage = page.get("wbentityusage")
        if usage:
            fields["entities"] = [{"identifier": entity, "aspects": sorted(info.get("aspects") or [], key=str.encode)}
                                  for entity, info in sorted(usage.items(), key=lambda e: e[0].encode())]
    # the page's own protections (page_restrictions), not those cascading from another page ("source")
    own = {(p["type"], p["level"], p.get("expiry") or "infinity"): None
           for p in page.get("protection", ()) if "source" not in p}
    fields["protection"] = [{"type": t, "level": level, "expiry": expiry} for t, level, expiry in own]
    if page.get("_flagged_available"):
        fields["flagged_stable_revision"] = (page.get("flagged") or {}).get("stable_revid")
    return fields


def fetch_revision_metadata(
    client: ActionApiClient,
    revisions: Iterable[FetchedRevision],
    *,
    known_parents: Mapping[int, dict[str, Any]] | None = None,
) -> dict[int, dict[str, Any]]:
    """Revision id -> metadata (see the module docstring) of ``revisions``. ``known_parents`` (revision id ->
    ``{"timestamp", "characters"}``) are parents the caller already holds: they are not fetched again."""
    revisions = list(revisions)
    known = dict(known_parents or {})
    page_ids = {r.page_id for r in revisions}
    parent_ids = {r.parent_revision_id for r in revisions if r.parent_revision_id} - set(known)
    user_ids = {r.user_id for r in revisions if r.user_id and not r.is_anonymous}
    jobs = ([("pages", b) for b in _batches(page_ids)] + [("parents", b) for b in _batches(parent_ids)]
            + [("users", b) for b in _batches(user_ids)])
    calls = {"pages": _pages, "parents": _parents, "users": _users}
    found: dict[str, dict[int, dict[str, Any]]] = {"pages": {}, "parents": dict(known), "users": {}}
    for kind, result in zip((kind for kind, _ in jobs),
                            client.map(lambda job: calls[job[0]](client, job[1]), jobs), strict=True):
        found[kind].update(result)
    out: dict[int, dict[str, Any]] = {}
    for rev in revisions:
        page = found["pages"].get(rev.page_id)
        meta: dict[str, Any] = {"tags": list(rev.tags)}
        if page is not None:
            meta["page"] = page_fields(page, is_latest=page.get("lastrevid") == rev.revision_id)
        if rev.user_id in found["users"] and not rev.is_anonymous:
            meta["editor"] = found["users"][rev.user_id]
        if rev.parent_revision_id in found["parents"]:
            meta["previous"] = found["parents"][rev.parent_revision_id]
        out[rev.revision_id] = meta
    return out
