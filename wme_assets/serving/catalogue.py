"""Enterprise's metadata objects (projects, languages, namespaces, codes) from wme's catalogue of projects.

The catalogue is Wikimedia's site matrix (:mod:`wme_assets.sources.catalog`), cached under ``WME_HOME`` and
loaded on first use, so the API starts without reaching meta.wikimedia.org and answers 503 (naming the
cause) while the catalogue cannot be read. Shapes as Enterprise's (the SDK's ``testdata``): a project is
``{name, identifier, url, code, in_language}``, a language ``{identifier, name, alternate_name, direction}``,
a namespace ``{name, identifier, description}``, a code ``{identifier, name, description}``. The descriptions
of namespaces and codes are Enterprise's own (its ``namespaces_metadata.json`` and SDK test data).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from wme_assets.settings import Settings
from wme_assets.sources.catalog import ARTICLE_NAMESPACES, TEXT_FAMILIES, Catalog, CatalogError, load_catalog

NAMESPACES: dict[int, tuple[str, str]] = {
    0: (
        "Article",
        "The Article namespace, also known as the main or mainspace, is where a project's primary content "
        "resides, whether articles, entries, or main documents depending on the Wikimedia project.",
    ),
    6: (
        "File",
        "The Media namespace, identified as the File namespace, hosts all of a project's multimedia content, "
        "including images, videos, audio, and other media files. All files in this namespace begin with the "
        "prefix 'File:'.",
    ),
    10: (
        "Template",
        "The Template namespace stores Wikitext templates that are included on multiple pages, mainly through "
        "transclusion. While primarily in this namespace, some templates may reside in other namespaces, such "
        "as the User namespace.",
    ),
    14: (
        "Category",
        "The Category namespace organizes pages on related topics, using a MediaWiki feature to automatically "
        "list any page with [[Category:XYZ]] in its markup. This structure aids in navigation and topic "
        "discovery within a project.",
    ),
}
assert tuple(NAMESPACES) == ARTICLE_NAMESPACES

CODES: dict[str, tuple[str, str]] = {
    "wiki": ("Wikipedia", "The free encyclopedia."),
    "wikibooks": ("Wikibooks", "E-book textbooks and annotated texts."),
    "wikinews": ("Wikinews", "The free news source."),
    "wikiquote": ("Wikiquote", "Quotes across your favorite books, movies, authors, and more."),
    "wikisource": ("Wikisource", "The free digital library."),
    "wikiversity": ("Wikiversity", "Free learning resources."),
    "wikivoyage": ("Wikivoyage", "The ultimate worldwide travel guide."),
    "wiktionary": ("Wiktionary", "A dictionary for over 170 languages."),
    "commons": ("Wikimedia Commons", "The free media repository."),
}
_CODE_OF_FAMILY = {family: code for code, family in TEXT_FAMILIES.items()} | {"commons": "commons"}


class CatalogUnavailable(RuntimeError):
    """The catalogue could not be read; the message says why."""


@dataclass(frozen=True)
class Metadata:
    projects: dict[str, dict[str, Any]]
    languages: dict[str, dict[str, Any]]
    namespaces: dict[int, dict[str, Any]]
    codes: dict[str, dict[str, Any]]


def build_metadata(catalog: Catalog) -> Metadata:
    projects, languages = {}, {}
    for project in catalog:
        code = _CODE_OF_FAMILY[project.family]
        projects[project.dbname] = {
            "name": project.site_name or CODES[code][0],
            "identifier": project.dbname,
            "url": project.url,
            "code": code,
            "in_language": {"identifier": project.language},
        }
        if project.family != "commons":
            languages.setdefault(
                project.language,
                {
                    "identifier": project.language,
                    "name": project.language_name,
                    "alternate_name": project.language_autonym or project.language_name,
                    "direction": project.direction,
                },
            )
    namespaces = {
        ns: {"name": name, "identifier": ns, "description": description}
        for ns, (name, description) in NAMESPACES.items()
    }
    codes = {
        code: {"identifier": code, "name": name, "description": description}
        for code, (name, description) in CODES.items()
    }
    return Metadata(projects, dict(sorted(languages.items())), namespaces, codes)


class CatalogSource:
    """The metadata, built from the catalogue on first use (a failed load is tried again next time)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._metadata: Metadata | None = None
        self._lock = threading.Lock()

    def metadata(self) -> Metadata:
        with self._lock:
            if self._metadata is None:
                from wme_assets.sources.dumps_client import make_session

                session = make_session(retries=self.settings.http_retries, backoff=self.settings.http_backoff)
                cache = self.settings.home_dir / "catalog" / "sitematrix.json"
                try:
                    catalog = load_catalog(cache, session=session, url=self.settings.sitematrix_url)
                except CatalogError as exc:
                    raise CatalogUnavailable(str(exc)) from None
                self._metadata = build_metadata(catalog)
            return self._metadata
