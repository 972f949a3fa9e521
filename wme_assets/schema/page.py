"""The page records of a MediaWiki XML export: the siteinfo header and each page with its revisions.

Plain dataclasses, filled by the dump reader (:mod:`wme_assets.ingestion.dump_xml`) and stored by the page
store (:mod:`wme_assets.storage.page_store`); they live here so that neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Namespace", "Page", "Revision", "SiteInfo", "Slot"]


@dataclass(slots=True)
class Namespace:
    """One ``<namespace key=… case=…>name</namespace>`` of ``<siteinfo>``.

    ``name`` is ``""`` for the main (article) namespace; ``case`` is ``"first-letter"`` or
    ``"case-sensitive"`` (``None`` in old exports that lack the attribute).
    """

    id: int
    name: str
    case: str | None = None


@dataclass(slots=True)
class SiteInfo:
    """The ``<siteinfo>`` header plus the root element's attributes.

    ``language`` is the root's ``xml:lang`` (MediaWiki writes the content language there); when absent
    it is derived from the ``<base>`` host (``bn.wikipedia.org`` → ``bn``) or the dbname
    (``bnwiki`` → ``bn``). ``dbname`` is ``None`` in exports older than 0.5, which lack it.
    """

    dbname: str | None
    sitename: str | None
    base_url: str | None
    generator: str | None
    case: str | None
    language: str | None
    namespaces: dict[int, Namespace]
    schema_version: str | None = None  # root ``version`` attribute, e.g. "0.10"
    xml_namespace: str | None = None  # e.g. "http://www.mediawiki.org/xml/export-0.10/"

    def namespace_name(self, ns: int) -> str | None:
        found = self.namespaces.get(ns)
        return found.name if found else None


@dataclass(slots=True)
class Slot:
    """An extra content slot of a revision (export 0.11 ``<content>``; e.g. Commons ``mediainfo``).

    The main slot is not repeated here: it is flattened into :class:`Revision` (``model``, ``text``…).
    """

    role: str | None
    origin: int | None
    model: str | None
    format: str | None
    text: str | None
    text_deleted: bool = False
    size: int | None = None
    text_sha1: str | None = None


@dataclass(slots=True)
class Revision:
    """One ``<revision>``.

    * ``timestamp`` stays the dump's RFC 3339 string (``2023-04-30T10:11:12Z``): parsing it per
      revision costs more than most consumers need, and it sorts correctly as text.
    * A suppressed/deleted field (``deleted="deleted"`` on ``<contributor>``, ``<comment>`` or
      ``<text>``) has its ``*_deleted`` flag set and its value(s) ``None``.
    * ``text`` is ``""`` for an empty text and ``None`` only when deleted (or absent, as in stub dumps).
    * ``size`` is ``<text bytes=…>`` (UTF-8 length); ``None`` when absent or reported as ``-1``
      (MediaWiki writes ``-1`` for deleted text).
    * ``sha1`` is the ``<sha1>`` element (base-36), ``text_sha1`` the 0.11 ``<text sha1=…>`` attribute.
    """

    id: int
    timestamp: str | None = None
    parent_id: int | None = None
    contributor_name: str | None = None
    contributor_id: int | None = None
    contributor_ip: str | None = None
    contributor_deleted: bool = False
    minor: bool = False
    comment: str | None = None
    comment_deleted: bool = False
    origin: int | None = None
    model: str | None = None
    format: str | None = None
    text: str | None = None
    text_deleted: bool = False
    size: int | None = None
    sha1: str | None = None
    text_sha1: str | None = None
    text_id: str | None = None  # stub dumps: <text id=…/> (a storage reference)
    text_location: str | None = None  # 0.11 <text location=…/>
    slots: tuple[Slot, ...] = ()


@dataclass(slots=True)
class Page:
    """One ``<page>``.

    ``revisions`` are in dump order (oldest → newest); with ``latest_only=True`` only the newest is
    kept. ``ns`` comes from ``<ns>``; old exports without it get it from the title prefix and the
    siteinfo namespaces. ``redirect_target`` is ``<redirect title=…>``; exports before 0.5 write a bare
    ``<redirect />``, hence the separate ``is_redirect`` flag.
    """

    id: int
    title: str
    ns: int
    redirect_target: str | None = None
    is_redirect: bool = False
    restrictions: str | None = None
    revisions: list[Revision] = field(default_factory=list)

    @property
    def latest(self) -> Revision | None:
        return self.revisions[-1] if self.revisions else None
