"""Enterprise's ``GetCategories`` and ``GetTemplates``: names and URLs from Parsoid's category
``<link>``s and the ``data-mw`` of template transclusions."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote

from .dom import _is_element
from .results import HtmlRelation


def _title(href: str) -> str:
    """Go ``url.QueryUnescape`` of the href without ``./``, underscores as spaces."""
    ttl = href.removeprefix("./").replace("_", " ")
    if re.search(r"%(?![0-9A-Fa-f]{2})", ttl):
        return ttl  # Go fails on a bad escape and keeps the raw title
    return unquote(ttl.replace("+", " "))


def _full_url(href: str, base: str) -> str:
    """Base URL + href (still escaped, as Enterprise's shadowed variable leaves it); "" when the
    href holds an invalid escape (Go then returns QueryUnescape's empty result)."""
    url = base + href.removeprefix("./")
    if re.search(r"%(?![0-9A-Fa-f]{2})", url):
        return ""
    return url


def categories(doc: Any, base: str) -> list[HtmlRelation]:
    found: dict[str, HtmlRelation] = {}
    for link in doc.iter("link"):
        if link.get("rel") != "mw:PageProp/Category" or link.get("href") is None:
            continue
        href = link.get("href").split("#")[0]
        name = _title(href)
        if name:
            found[name] = HtmlRelation(name, _full_url(href, base))
    return sorted(found.values(), key=lambda r: r.name)


_JSON_STRING = r'"((?:[^"\\]|\\.)*)"'
_TEMPLATE_TARGET = {
    "href": re.compile(r'"template":\{"target":\{[^{}]*?"href":' + _JSON_STRING),
    # the wt only from a target object that is whole ({"wt":…,"href":…}): where the break is inside
    # the target itself (Parsoid's unescaped quote in a wt), gjson yields no name
    "wt": re.compile(r'"template":\{"target":\{"wt":' + _JSON_STRING + r'(?:,"href":"(?:[^"\\]|\\.)*")?\}'),
}


def _template_targets(data_mw: str, key: str) -> list[str]:
    """``parts.#.template.target.<key>`` of a data-mw attribute (``href`` or ``wt``). Enterprise
    reads it with gjson, which tolerates the occasional invalid JSON Parsoid writes and yields what
    precedes the break; a regex over that prefix of the raw attribute stands in for it then."""
    try:
        parts = json.loads(data_mw).get("parts")
    except json.JSONDecodeError as err:
        # gjson reads what it can: the parts before the point where the JSON breaks.
        return [json.loads(f'"{m}"') for m in _TEMPLATE_TARGET[key].findall(data_mw[: err.pos])]
    except (ValueError, AttributeError):
        return []
    values = []
    for part in parts if isinstance(parts, list) else ():
        target = (part.get("template") or {}).get("target") if isinstance(part, dict) else None
        if isinstance(target, dict) and isinstance(target.get(key), str):
            values.append(target[key])
    return values


def templates(doc: Any, base: str) -> list[HtmlRelation]:
    found: dict[str, HtmlRelation] = {}
    for el in doc.iter():
        data_mw = el.get("data-mw") if _is_element(el) else None
        if not data_mw or "parts" not in data_mw:
            continue
        for href in _template_targets(data_mw, "href"):
            name = _title(href)
            found[name] = HtmlRelation(name, _full_url(href, base))
    return sorted(found.values(), key=lambda r: r.name)
