"""From the lxml elements of an export to the page records (:mod:`wme_assets.schema.page`).

The hot loops of the XML reader: the ``<siteinfo>`` header (with the content language when the root
does not carry it), each ``<revision>`` with its slots and deleted/suppressed fields, and a page's
namespace from its title in old exports without ``<ns>``.
"""

from __future__ import annotations

from typing import ClassVar
from urllib.parse import urlsplit

from wme_assets.schema.page import Namespace, Revision, SiteInfo, Slot

_TAG_NAMES = (
    "mediawiki",
    "siteinfo",
    "sitename",
    "dbname",
    "base",
    "generator",
    "case",
    "namespaces",
    "namespace",
    "page",
    "title",
    "ns",
    "id",
    "redirect",
    "restrictions",
    "revision",
    "parentid",
    "timestamp",
    "contributor",
    "username",
    "ip",
    "minor",
    "comment",
    "origin",
    "model",
    "format",
    "text",
    "sha1",
    "content",
    "role",
)


class _Tags:
    """Qualified tag names for one export namespace, so the hot loops compare plain strings."""

    _cache: ClassVar[dict[str, _Tags]] = {}

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        for local in _TAG_NAMES:
            setattr(self, local, prefix + local)

    @classmethod
    def for_tag(cls, tag: str) -> _Tags:
        prefix = tag[: tag.index("}") + 1] if tag.startswith("{") else ""
        tags = cls._cache.get(prefix)
        if tags is None:
            tags = cls._cache[prefix] = cls(prefix)
        return tags



_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_DELETED = "deleted"
_SUPPRESSED = "suppressed"


def _is_deleted(el) -> bool:
    # MediaWiki writes deleted="deleted" for both revision-deleted and suppressed fields; accept any
    # value, and a "suppressed" attribute, so derived/third-party exports are covered too.
    return bool(el.get(_DELETED) or el.get(_SUPPRESSED))


def _int(text: str | None) -> int | None:
    return int(text) if text else None


def _size(value: str | None) -> int | None:
    if not value:
        return None
    n = int(value)
    return n if n >= 0 else None


def _parse_siteinfo(el, T: _Tags) -> SiteInfo:
    values: dict[str, str | None] = {}
    namespaces: dict[int, Namespace] = {}
    for child in el:
        tag = child.tag
        if tag == T.namespaces:
            for ns_el in child:
                if ns_el.tag == T.namespace:
                    key = int(ns_el.get("key"))
                    namespaces[key] = Namespace(id=key, name=ns_el.text or "", case=ns_el.get("case"))
        elif isinstance(tag, str):
            values[tag[len(T.prefix) :]] = child.text
    root = el.getparent()
    dbname, base = values.get("dbname"), values.get("base")
    xml_lang = root.get(_XML_LANG) if root is not None else None
    return SiteInfo(
        dbname=dbname,
        sitename=values.get("sitename"),
        base_url=base,
        generator=values.get("generator"),
        case=values.get("case"),
        language=xml_lang or _derive_language(base, dbname),
        namespaces=namespaces,
        schema_version=root.get("version") if root is not None else None,
        xml_namespace=T.prefix[1:-1] or None,
    )


# Hosts whose first label is not a language code.
_NON_LANGUAGE_LABELS = {
    "www",
    "m",
    "commons",
    "meta",
    "species",
    "incubator",
    "wikidata",
    "wikisource",
    "mediawiki",
    "wikimania",
    "outreach",
    "test",
    "test2",
    "api",
}
# Subdomains that name a wiki rather than its language.
_LANGUAGE_OF_LABEL = {"simple": "en"}
_PROJECT_SUFFIXES = (
    "wiktionary",
    "wikibooks",
    "wikinews",
    "wikiquote",
    "wikisource",
    "wikiversity",
    "wikivoyage",
    "wiki",
)


def _derive_language(base_url: str | None, dbname: str | None) -> str | None:
    host = urlsplit(base_url).hostname if base_url else None
    if host:
        labels = host.split(".")
        if len(labels) >= 3 and labels[0] not in _NON_LANGUAGE_LABELS:
            return _LANGUAGE_OF_LABEL.get(labels[0], labels[0])
    if dbname:
        for suffix in _PROJECT_SUFFIXES:
            if dbname.endswith(suffix) and len(dbname) > len(suffix):
                lang = dbname[: -len(suffix)].replace("_", "-")
                return None if lang in _NON_LANGUAGE_LABELS else _LANGUAGE_OF_LABEL.get(lang, lang)
    return None


def _parse_text_attrs(el):
    deleted = _is_deleted(el)
    text = None if deleted else (el.text or "")
    return text, deleted, _size(el.get("bytes")), el.get("sha1")


def _parse_slot(el, T: _Tags) -> Slot:
    role = origin = model = fmt = text = size = sha1 = None
    deleted = False
    for c in el:
        tag = c.tag
        if tag == T.text:
            text, deleted, size, sha1 = _parse_text_attrs(c)
        elif tag == T.role:
            role = c.text
        elif tag == T.origin:
            origin = _int(c.text)
        elif tag == T.model:
            model = c.text
        elif tag == T.format:
            fmt = c.text
    return Slot(
        role=role,
        origin=origin,
        model=model,
        format=fmt,
        text=text,
        text_deleted=deleted,
        size=size,
        text_sha1=sha1,
    )


def _parse_revision(el, T: _Tags) -> Revision:
    rev = Revision(id=0)
    slots = None
    # One pass over the children with the commonest tags first; MediaWiki's element order varies
    # between schema versions, so no positional assumptions.
    for c in el:
        tag = c.tag
        if tag == T.text:
            rev.text, rev.text_deleted, rev.size, rev.text_sha1 = _parse_text_attrs(c)
            rev.text_id = c.get("id")
            rev.text_location = c.get("location")
        elif tag == T.id:
            rev.id = int(c.text)
        elif tag == T.timestamp:
            rev.timestamp = c.text
        elif tag == T.contributor:
            if _is_deleted(c):
                rev.contributor_deleted = True
            for cc in c:
                ctag = cc.tag
                if ctag == T.username:
                    rev.contributor_name = cc.text or ""
                elif ctag == T.id:
                    rev.contributor_id = _int(cc.text)
                elif ctag == T.ip:
                    rev.contributor_ip = cc.text
        elif tag == T.parentid:
            rev.parent_id = _int(c.text)
        elif tag == T.sha1:
            rev.sha1 = c.text or None
        elif tag == T.model:
            rev.model = c.text
        elif tag == T.format:
            rev.format = c.text
        elif tag == T.comment:
            if _is_deleted(c):
                rev.comment_deleted = True
            else:
                rev.comment = c.text or ""
        elif tag == T.minor:
            rev.minor = True
        elif tag == T.origin:
            rev.origin = _int(c.text)
        elif tag == T.content:
            if slots is None:
                slots = []
            slots.append(_parse_slot(c, T))
    if slots:
        rev.slots = tuple(slots)
    return rev


def _ns_from_title(title: str, siteinfo: SiteInfo | None) -> int:
    """Namespace of a title for exports without ``<ns>`` (schema < 0.6)."""
    prefix, sep, _ = title.partition(":")
    if sep and siteinfo is not None:
        wanted = prefix.replace("_", " ").casefold()
        for ns in siteinfo.namespaces.values():
            if ns.id != 0 and ns.name.casefold() == wanted:
                return ns.id
    return 0

