"""Template names: the title a ``{{…}}`` transcludes (parser functions and magic words are not
templates), and the lookup key of the inline renderers."""

from __future__ import annotations

import re

from .magic_words import TRANSCLUSION_MODIFIERS, is_parser_function, is_variable
from .names import NS_TEMPLATE, WikiNames, _clean_title

# Bidirectional marks: MediaWiki strips them from titles (MediaWikiTitleCodec::splitTitleString).
_BIDI_RE = re.compile("[\u200e\u200f\u202a-\u202e]")


def _template_title(raw_name: str, names: WikiNames, has_args: bool = False) -> tuple[int, str] | None:
    """``(namespace, title)`` a ``{{name}}`` transcludes, or ``None`` for parser functions, magic
    words and names built from other templates or
    parameters (their title is only known after expansion). ``has_args``: the call has a ``|``, which
    makes ``{{PAGENAME|x}}`` a template, as in MediaWiki."""
    if "{" in raw_name or "}" in raw_name or "[" in raw_name or "<" in raw_name:
        return None
    name = _clean_title(raw_name)
    if not name or name[0] == "#":
        return None
    if ":" not in name:  # the common case: {{Cite web}}
        if not has_args and is_variable(name, names.language):
            return None
        name = _strip_fragment(name)
        return (NS_TEMPLATE, names.title_case(NS_TEMPLATE, name)) if name else None
    for _ in range(2):  # {{safesubst:…}} / {{msgnw:…}} wrap an ordinary title
        if ":" not in name:
            break
        prefix, rest = name.split(":", 1)
        key = prefix.strip().casefold()
        if key in TRANSCLUSION_MODIFIERS:
            name = rest.strip()
            continue
        if is_parser_function(prefix, names.language):
            return None
        if not prefix.strip():  # {{:Page}} transcludes from the main namespace
            rest = _strip_fragment(rest)
            return (0, names.title_case(0, rest)) if rest else None
        ns = names.namespace_of(prefix)
        if ns is not None:
            rest = _strip_fragment(rest)
            return (ns, names.title_case(ns, rest)) if rest else None
        break  # an unknown prefix is part of the template's own name ({{Graph:Chart}})
    if not name or (not has_args and is_variable(name, names.language)):
        return None
    name = _strip_fragment(name)
    return (NS_TEMPLATE, names.title_case(NS_TEMPLATE, name)) if name else None


def _strip_fragment(name: str) -> str:
    """The title without its ``#fragment`` and bidi marks, trimmed (``{{Foo#bar}}`` is ``Foo``)."""
    if "#" in name:
        name = name.split("#", 1)[0]
    if _BIDI_RE.search(name):
        name = _clean_title(_BIDI_RE.sub("", name))
    return name.strip()


def _template_key(raw_name: str, names: WikiNames) -> str | None:
    """Lower-case lookup key of a template (title without namespace) for the renderer tables; parser
    functions keep their ``name:`` prefix (``"formatnum:"``), dynamic names give ``None``."""
    if "{" in raw_name or "[" in raw_name or "<" in raw_name:
        return None
    name = _clean_title(raw_name)
    if not name:
        return None
    if ":" in name:
        prefix, rest = name.split(":", 1)
        key = prefix.strip().casefold()
        if is_parser_function(prefix, names.language):
            return key + ":"
        if names.namespace_of(prefix) == NS_TEMPLATE:
            name = rest
    return name.strip().casefold()
