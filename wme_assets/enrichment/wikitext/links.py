"""Wikilinks: what ``[[target|label]]`` displays, and the article URL it points to (both renderers)."""

from __future__ import annotations

import re

from .names import NS_CATEGORY, NS_FILE, WikiNames, _clean_title

_INTERLANGUAGE_RE = re.compile(r"^[a-z]{2,3}(?:-[a-z0-9]{1,8})*$")


def _link_url(names: WikiNames, target: str) -> str:
    """Article URL of a link target, normalized as MediaWiki does (namespace spelled the wiki's
    way, first letter upper-cased, fragment kept as ``#…``)."""
    if (":" not in target and "#" not in target and "&" not in target and "_" not in target
            and "  " not in target and target.isprintable()):
        # Most targets: a main-namespace title with nothing to normalize but the ends, so the steps
        # below come down to this (_clean_title is a strip, no namespace, no fragment).
        title = target.strip()
        if title:
            return names.url(names.title_case(0, title))
    title, _, fragment = _clean_title(target).lstrip(":").strip().partition("#")
    if not title:
        return f"#{fragment.replace(' ', '_')}" if fragment else ""
    ns, rest = names.split_title(title)
    full = names.full_title(ns, rest) if ns else names.title_case(0, title)
    return names.url(full) + (f"#{fragment.strip().replace(' ', '_')}" if fragment else "")


_PIPE_TRICK_RE = re.compile(r"\s*\([^)]*\)\s*$")


def _link_display(names: WikiNames, target: str, label: str | None) -> str | None:
    """Display text of ``[[target|label]]``; ``None`` for links that display nothing inline (files,
    categories, interlanguage links). The label is returned as written: later passes of the caller
    strip its markup."""
    if len(target) > 512:  # longer than any title (255 bytes): MediaWiki shows it as text
        return label if label is not None else target
    colon_link = target.lstrip().startswith(":")
    title = target.strip().lstrip(":").strip()
    if not colon_link and ":" in title:
        prefix = title.split(":", 1)[0]
        ns = names.namespace_of(prefix)
        if ns in (NS_FILE, NS_CATEGORY):
            return None
        if ns is None and _INTERLANGUAGE_RE.match(prefix.strip()):
            return None
    if label is not None:
        label = label.strip()
        if label:
            return label
        return _PIPE_TRICK_RE.sub("", title.split(":", 1)[-1])  # pipe trick: [[Foo (bar)|]] → "Foo"
    return title.replace("_", " ")
