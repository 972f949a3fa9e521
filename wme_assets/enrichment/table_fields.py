"""What the run's SQL tables say of one page, put into its article (see :mod:`.tables_join`).

Each table changes the article only when the run has it; a page the table has nothing on keeps what the
wikitext gives. What changes:

- ``categories`` (``categorylinks``): the wikitext's categories, then those only MediaWiki recorded (the
  ones templates add, hidden maintenance categories included: Enterprise lists them too), by title;
- ``templates`` (``templatelinks``): everything MediaWiki records as transcluded, at any depth — the
  wikitext's top-level templates first, in their order, then the rest by title. A page the table has no
  row for (edited after the tables were dumped) keeps the wikitext's list;
- ``protection`` (``page_restrictions``): type, level and expiry (``infinity`` or an ISO 8601 time);
- ``image``, Structured Contents ``description``, ``version.noindex`` and wme's disambiguation flag
  (``page_props``: PageImages' ``page_image_free``/``page_image``, ``wikibase-shortdesc``, ``noindex``,
  ``disambiguation``);
- ``version.editor.groups`` and ``is_bot`` (``user_groups``): the editor's groups then ``*`` and ``user``,
  the implicit groups of every account (``autoconfirmed`` depends on the ``user`` table, not published);
- ``additional_entities`` (``wbc_entity_usage``): every Wikidata entity the page uses with its usage aspects
  (``S`` sitelinks, ``L.en`` label, ``D.en`` description, ``T`` title, ``C``/``C.P31`` statements, ``O`` other),
  as the API's ``prop=wbentityusage`` lists them.
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import quote

__all__ = ["apply_table_fields"]


def _upload_url(name: str, wiki: str) -> str:
    """The file's URL on upload.wikimedia.org: ``wiki`` is ``commons`` or the wiki's own path (``en``)."""
    name = name.replace(" ", "_")
    digest = hashlib.md5(name.encode("utf-8")).hexdigest()
    return f"https://upload.wikimedia.org/wikipedia/{wiki}/{digest[0]}/{digest[:2]}/{quote(name, safe='')}"


def _expiry(value: str) -> str:
    """``infinity``, or MediaWiki's 14-digit timestamp as ISO 8601."""
    if len(value) == 14 and value.isdigit():
        return f"{value[:4]}-{value[4:6]}-{value[6:8]}T{value[8:10]}:{value[10:12]}:{value[12:]}Z"
    return value


def _ordered(names: list[str], *preferred: list[str]) -> list[str]:
    """``names`` with those of ``preferred`` (in their order) first, the others in their own order."""
    present = set(names)
    first = list(dict.fromkeys(n for order in preferred for n in order if n in present))
    seen = set(first)
    return first + [n for n in names if n not in seen]


def apply_table_fields(record: dict[str, Any], fields, joined: dict[str, Any], site) -> None:
    """Fill ``record`` (and ``fields``' description and disambiguation flag, which the Structured Contents and
    wme's extension read) from ``joined``: ``{"present": tables of the run, field: value…}``."""
    present = joined.get("present", ())
    url = site.url
    if "categorylinks" in present and joined.get("categories"):
        names = list(dict.fromkeys([*fields.categories, *joined["categories"]]))
        record["categories"] = [{"name": c, "url": url(c)} for c in names]
    if "templatelinks" in present and joined.get("templates"):
        names = _ordered(joined["templates"], fields.templates, fields.transcluded_templates)
        record["templates"] = [{"name": t, "url": url(t)} for t in names]
    if joined.get("protection"):
        record["protection"] = [
            {"type": p["type"], "level": p["level"], "expiry": _expiry(p["expiry"])} for p in joined["protection"]
        ]
    if joined.get("image_free"):
        record["image"] = {"content_url": _upload_url(joined["image_free"], "commons")}
    elif joined.get("image"):
        record["image"] = {"content_url": _upload_url(joined["image"], site.language)}
    if joined.get("description"):
        fields.description = joined["description"]
    if joined.get("disambiguation"):
        fields.is_disambiguation = True
    if joined.get("noindex"):
        record["version"]["noindex"] = True
    if joined.get("entities"):
        record["additional_entities"] = [
            {"identifier": e["identifier"], "url": f"https://www.wikidata.org/entity/{e['identifier']}",
             "aspects": e["aspects"]}
            for e in joined["entities"]
        ]
    editor = record["version"].get("editor")
    if "user_groups" in present and editor and editor.get("identifier") and not editor.get("is_anonymous"):
        groups = joined.get("editor_groups") or []
        editor["groups"] = [*groups, "*", "user"]
        editor["is_bot"] = "bot" in groups
