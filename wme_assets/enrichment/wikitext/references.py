"""References: each distinct ``<ref>`` with its citation template's parameters, text and source links."""

from __future__ import annotations

import re
from typing import Any

from .braces import _BRACES_RE, _BraceIndex, _outermost, _pairs, _split_top, _template_args
from .deadline import _Deadline
from .elements import _iter_refs
from .regex_renderer import _EXTLINK_RE, _MARKUP_CHARS_RE, _TWO_SPACES_RE, _URL_RE, _plain_value, _RegexRenderer
from .template_names import _template_key

_ATTR_RE = re.compile(r"""(\w+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>/]+))""")
_CITATION_RE = re.compile(
    r"^(?:cite|citation|citar|cita|lien|ouvrage|article|chapitre|internetquelle|literatur|"
    r"chú thích|статья|книга|публикация|cite web|web|harvnb|sfn)", re.IGNORECASE)
_CITATION_TYPE_PREFIX_RE = re.compile(r"^(?:cite|citar|cita|chú thích)\s+", re.IGNORECASE)
_URL_PARAMS = ("url", "archive-url", "archiveurl", "chapter-url", "url texte", "url archive", "urlarchivo",
               "arquivourl", "archiv-url")
_CITATION_TEXT_KEYS = (
    ("last", "last1", "author", "author1", "authors", "nom", "nom1", "auteur", "autor", "último", "apellido"),
    ("first", "first1", "prénom", "prénom1", "primeiro", "nombre"),
    ("title", "titre", "título", "titel"),
    ("website", "work", "newspaper", "journal", "magazine", "periodical", "publisher", "site", "périodique",
     "éditeur", "obra", "publicação", "jornal", "editora", "werk", "hrsg", "sammelwerk"),
    ("date", "year", "année", "data", "ano", "fecha", "datum", "jahr"),
)
# parameter → (its group, its rank in the group): a citation's parameters are looked up once each
_CITATION_TEXT_RANKS = {key: (group, rank) for group, keys in enumerate(_CITATION_TEXT_KEYS)
                        for rank, key in enumerate(keys)}
assert len(_CITATION_TEXT_RANKS) == sum(map(len, _CITATION_TEXT_KEYS)), "a parameter in two groups"


def _attrs(raw: str) -> dict[str, str]:
    return {m.group(1).lower(): (m.group(2) or m.group(3) or m.group(4) or "").strip()
            for m in _ATTR_RE.finditer(raw)}


def _citation_text(named: dict[str, str], rendered: dict[str, str]) -> str:
    """Author, title, work and date of a citation: the first non-empty parameter of each group in ``named``,
    as ``rendered`` holds it (the metadata: every non-empty parameter rendered once)."""
    first: dict[int, tuple[int, str]] = {}  # group → (rank, key) of its first non-empty parameter
    ranks = _CITATION_TEXT_RANKS
    for key, value in named.items():
        found = ranks.get(key)
        if found is not None and value:
            group, rank = found
            if group not in first or rank < first[group][0]:
                first[group] = (rank, key)
    if not first:
        return ""
    pieces = [rendered[first[group][1]] for group in sorted(first)]
    return ". ".join(p for p in pieces if p)


def _plain_values(named: dict[str, str], renderer: _RegexRenderer, body: str) -> dict[str, str]:
    """``{name: _plain_value(value)}`` of the non-empty parameters of the template whose body (between
    its braces) is ``body``, with :func:`_plain_value`'s shortcut (no markup character, no two whitespace
    characters in a row: the value stripped) taken inline: a reference has a dozen parameters and most
    are plain — often all of them, which one look at the body tells (the values are stripped already)."""
    if _MARKUP_CHARS_RE.search(body) is None and _TWO_SPACES_RE.search(body) is None:
        return {k: v for k, v in named.items() if v}
    out: dict[str, str] = {}
    markup = _MARKUP_CHARS_RE.search
    for k, v in named.items():
        if v:
            plain = markup(v) is None and v.isprintable() and "  " not in v
            out[k] = v.strip() if plain else _plain_value(v, renderer)
    return out


def _reference(content: str, renderer: _RegexRenderer, outermost: list[tuple[int, int]] | None = None) -> dict:
    """One reference's ``type``, ``metadata`` (the citation template's parameters), ``text`` and
    ``source`` links. ``outermost``: the content's outermost ``{{…}}`` spans, if known."""
    ref: dict[str, Any] = {"type": "text", "metadata": {}, "text": {"value": ""}}
    urls: list[str] = []
    citation_text = ""
    if "{{" in content:
        if outermost is None:
            outermost = _outermost(_pairs(content, _BRACES_RE, "{{", renderer.deadline)[0])
        for s, e in outermost:
            body = content[s + 2:e - 2]
            parts = _split_top(body)
            key = _template_key(parts[0], renderer.names)
            if key and _CITATION_RE.match(key):
                _positional, named = _template_args(parts)
                ref["type"] = _CITATION_TYPE_PREFIX_RE.sub("", key) or key
                ref["metadata"] = _plain_values(named, renderer, body)
                urls.extend(named[k] for k in _URL_PARAMS if named.get(k))
                citation_text = _citation_text(named, ref["metadata"])
                break
    if "[" in content:
        urls.extend(m.group(1) for m in _EXTLINK_RE.finditer(content))
    stripped = content.strip()
    if citation_text and stripped.startswith("{{") and stripped.endswith("}}") and stripped.count("{{") == 1:
        text = ""  # the reference is just its citation template: rendering it would give nothing
    else:
        text = _plain_value(content, renderer, outermost)
    ref["text"] = {"value": citation_text if citation_text and len(text) < len(citation_text) else text}
    if not urls and "//" in content:  # every URL holds "//"
        urls = _URL_RE.findall(content)
    if urls:
        seen: list[str] = []
        for url in urls:
            url = url.strip()
            if url and url not in seen:
                seen.append(url)
        ref["source"] = {"links": [{"url": u} for u in seen]}
    return ref


def _references(masked: str, renderer: _RegexRenderer, deadline: _Deadline,
                braces: _BraceIndex | None = None,
                found: list[tuple[str, str | None, int, int, int]] | None = None) -> list[dict]:
    """Each distinct ``<ref>``, in page order. A named reference is listed once (its first definition
    with content); uses of a name that is never defined are kept with an empty text. ``braces``: the
    ``{{…}}`` spans of ``masked``; ``found``: ``list(_iter_refs(masked))``; either computed if not given."""
    refs: list[dict] = []
    by_name: dict[tuple[str, str], dict] = {}

    def reference(content: str, start: int) -> dict:
        outermost = None
        if braces is not None and "{{" in content:
            outermost = braces.outermost_in(start, start + len(content))
        return _reference(content, renderer, outermost)

    for attrs_raw, content, _s, _e, content_start in (_iter_refs(masked, deadline) if found is None else found):
        attrs = _attrs(attrs_raw) if attrs_raw else {}
        name, group = attrs.get("name", ""), attrs.get("group", "")
        if name and (group, name) in by_name:
            known = by_name[(group, name)]
            if content and content.strip() and not known["text"]["value"] and "source" not in known:
                known.update(reference(content, content_start))
            continue
        if content and content.strip():
            ref = reference(content, content_start)
        else:
            ref = {"type": "text", "metadata": {}, "text": {"value": ""}}
        ref = {"identifier": name or f"ref-{len(refs) + 1}", **({"group": group} if group else {}), **ref}
        refs.append(ref)
        if name:
            by_name[(group, name)] = ref
    return refs
