"""The catalogue of projects wme can serve: every Wikimedia text project, from Wikimedia's own site matrix.

Wikimedia Enterprise serves 900 projects: every site of the eight text families (Wikipedia, Wiktionary,
Wikibooks, Wikinews, Wikiquote, Wikisource, Wikiversity, Wikivoyage), open or closed. The authority for
which sites exist, their URL and language is MediaWiki's ``action=sitematrix`` on meta.wikimedia.org; the
catalogue is built from that response, fetched once and cached under ``WME_HOME`` (refreshable), so a run
never depends on meta being up. Commons is added for its files namespace (6) only, as Enterprise does.

A dbname the site matrix does not list is refused with a message saying so: a URL is never guessed from a
dbname (``anpwiki`` could be anything until the site matrix says what it is).

``WME_PROJECTS`` selects from the catalogue (dbnames, a family, ``all``); the selection becomes the project
partitions (wme_assets/defs/partitions.py). A machine that cannot read the site matrix still runs the
dbnames written in ``WME_PROJECTS`` (:func:`check_project`): the catalogue adds metadata and more projects,
it does not stand between an operator and the projects they configured by hand.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

if TYPE_CHECKING:
    from wme_assets.settings import Settings

SITE_MATRIX_URL = "https://meta.wikimedia.org/w/api.php?action=sitematrix&format=json&formatversion=1"

# The site matrix's family code → the family's name; the order is the one people list them in.
TEXT_FAMILIES: dict[str, str] = {
    "wiki": "wikipedia",
    "wiktionary": "wiktionary",
    "wikibooks": "wikibooks",
    "wikinews": "wikinews",
    "wikiquote": "wikiquote",
    "wikisource": "wikisource",
    "wikiversity": "wikiversity",
    "wikivoyage": "wikivoyage",
}
ARTICLE_NAMESPACES = (0, 6, 10, 14)  # what Enterprise exports of a text project
COMMONS = "commonswiki"
COMMONS_NAMESPACES = (6,)  # Commons is served for its files only


class CatalogError(ValueError):
    """The site matrix could not be read, or it does not know a project."""


@dataclass(frozen=True)
class Project:
    dbname: str
    family: str  # "wikipedia", "wiktionary", …, or "commons"
    language: str  # the site matrix's language code ("en", "zh-min-nan"); "commons" for Commons
    language_name: str  # in English where the site matrix has it ("Afar"), else its own name
    direction: str  # "ltr" or "rtl"
    url: str  # "https://aa.wikipedia.org"
    site_name: str  # the site's own name for itself ("Wikipedia", "Wikcionario")
    closed: bool  # read-only: its dumps still exist and Enterprise still serves it
    namespaces: tuple[int, ...] = ARTICLE_NAMESPACES
    language_autonym: str = ""  # the language's name in itself ("Deutsch"), where the site matrix has it


@dataclass(frozen=True)
class Catalog:
    projects: dict[str, Project]
    source: str  # where the site matrix came from
    fetched_at: str  # RFC 3339, when it was fetched

    def __len__(self) -> int:
        return len(self.projects)

    def __iter__(self) -> Iterator[Project]:
        return iter(self.projects.values())

    def __contains__(self, dbname: object) -> bool:
        return dbname in self.projects

    def get(self, dbname: str) -> Project:
        try:
            return self.projects[dbname]
        except KeyError:
            raise CatalogError(
                f"project {dbname!r} is not in Wikimedia's site matrix ({self.source}, fetched {self.fetched_at}): "
                "check the dbname, or refresh the catalogue if the wiki is new (`wme catalog refresh`)"
            ) from None

    def family(self, family: str) -> list[Project]:
        return [p for p in self if p.family == family]

    def select(self, dbnames: Iterable[str]) -> list[Project]:
        """The named projects, in the order given; the first unknown one is refused (see :meth:`get`)."""
        return [self.get(name) for name in dbnames]


def parse_site_matrix(response: dict[str, Any], *, source: str, fetched_at: str) -> Catalog:
    """The catalogue in an ``action=sitematrix`` response (formatversion 1, as the API sends it by default)."""
    try:
        matrix = response["sitematrix"]
    except (KeyError, TypeError):
        raise CatalogError(f"{source}: not an action=sitematrix response (no 'sitematrix' object)") from None
    projects: dict[str, Project] = {}
    for key, language in matrix.items():
        if not key.isdigit():
            continue  # "count" and "specials"
        for site in language.get("site", []):
            family = TEXT_FAMILIES.get(site.get("code", ""))
            if family is None or site.get("private"):
                continue
            projects[site["dbname"]] = Project(
                dbname=site["dbname"],
                family=family,
                language=language["code"],
                language_name=language.get("localname") or language.get("name") or language["code"],
                direction=language.get("dir", "ltr"),
                url=site["url"],
                site_name=site.get("sitename", ""),
                closed="closed" in site,  # formatversion 1 marks flags by the key's presence
                language_autonym=language.get("name", ""),
            )
    for site in matrix.get("specials", []):
        if site.get("dbname") == COMMONS:
            projects[COMMONS] = Project(
                dbname=COMMONS,
                family="commons",
                language="commons",
                language_name="Wikimedia Commons",
                direction="ltr",
                url=site["url"],
                site_name=site.get("sitename", "Wikimedia Commons"),
                closed="closed" in site,
                namespaces=COMMONS_NAMESPACES,
            )
    if not projects:
        raise CatalogError(f"{source}: the site matrix lists no text project")
    return Catalog(projects=projects, source=source, fetched_at=fetched_at)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fetch_site_matrix(session: requests.Session, url: str = SITE_MATRIX_URL, timeout: float = 60.0) -> dict[str, Any]:
    """The site matrix from the API (or a ``file://`` copy); errors name the URL and what went wrong."""
    try:
        response = session.get(url, timeout=timeout)
    except requests.RequestException as exc:
        raise CatalogError(f"cannot fetch the site matrix from {url}: {exc}") from exc
    if response.status_code != 200:
        raise CatalogError(f"cannot fetch the site matrix from {url}: HTTP {response.status_code}")
    try:
        return response.json()
    except ValueError:
        raise CatalogError(f"{url} did not answer with JSON (is it an action=sitematrix URL?)") from None


def load_catalog(
    cache_path: Path,
    *,
    session: requests.Session,
    url: str = SITE_MATRIX_URL,
    refresh: bool = False,
) -> Catalog:
    """The catalogue from the cached site matrix, fetching (and caching) it when absent or on ``refresh``.

    The cache keeps the response verbatim beside where and when it was fetched; it is replaced atomically,
    so a failed refresh leaves the previous catalogue in place. A failed fetch is remembered beside the cache
    (``unreachable.json``: the URL, when, the error) and not tried again from that URL for
    :data:`UNREACHABLE_SECONDS` unless ``refresh`` asks: an offline machine, which runs the dbnames of
    WME_PROJECTS without a catalogue, would otherwise wait on the network in every command.
    """
    if not refresh and cache_path.exists():
        try:
            cached = json.loads(cache_path.read_text())
            return parse_site_matrix(cached["response"], source=cached["source"], fetched_at=cached["fetched_at"])
        except (ValueError, KeyError, TypeError) as exc:
            raise CatalogError(
                f"{cache_path}: the cached site matrix is unreadable ({exc}); refresh it (`wme catalog refresh`)"
            ) from exc
    marker = cache_path.with_name("unreachable.json")
    if not refresh:
        _raise_if_recently_unreachable(marker, url)
    try:
        response = fetch_site_matrix(session, url)
    except CatalogError as exc:
        _remember_unreachable(marker, url, str(exc))
        raise
    marker.unlink(missing_ok=True)
    fetched_at = _now()
    catalog = parse_site_matrix(response, source=url, fetched_at=fetched_at)  # refuse a bad one before caching
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    temporary = cache_path.with_name(f".{cache_path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps({"source": url, "fetched_at": fetched_at, "response": response}))
    os.replace(temporary, cache_path)
    return catalog


UNREACHABLE_SECONDS = 600


def _remember_unreachable(marker: Path, url: str, error: str) -> None:
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        temporary = marker.with_name(f".{marker.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps({"url": url, "at": time.time(), "error": error}))
        os.replace(temporary, marker)
    except OSError:  # a read-only home: every command tries the network again, nothing worse
        pass


def _raise_if_recently_unreachable(marker: Path, url: str) -> None:
    try:
        failed = json.loads(marker.read_text())
        age = time.time() - float(failed["at"])
        same = failed["url"] == url
    except (OSError, ValueError, KeyError, TypeError):
        return
    if same and 0 <= age < UNREACHABLE_SECONDS:
        raise CatalogError(
            f"{failed['error']} ({age:.0f} s ago; not tried again for {UNREACHABLE_SECONDS // 60} minutes, "
            "`wme catalog refresh` tries now)"
        )


# ----- WME_PROJECTS against the catalogue -----------------------------------------------------------------

# Besides dbnames, WME_PROJECTS takes selectors: "all" (every project of the catalogue) or a family's name
# ("wikisource", "commons"). No dbname is a bare family name (dbnames carry a language: "enwikisource").
ALL = "all"
FAMILIES = (*TEXT_FAMILIES.values(), "commons")


def is_selector(entry: str) -> bool:
    return entry == ALL or entry in FAMILIES


def cache_path(home: Path) -> Path:
    """Where the site matrix is cached under ``WME_HOME``."""
    return home / "catalog" / "sitematrix.json"


def open_catalog(settings: Settings, *, refresh: bool = False, retries: int | None = None) -> Catalog:
    """The catalogue ``settings`` point at (``WME_SITEMATRIX_URL``, cached under ``WME_HOME``)."""
    from wme_assets.sources.dumps_client import make_session

    session = make_session(retries=settings.http_retries if retries is None else retries, backoff=settings.http_backoff)
    return load_catalog(cache_path(settings.home_dir), session=session, url=settings.sitematrix_url, refresh=refresh)


def select_projects(entries: Iterable[str], catalog: Catalog | None) -> list[str]:
    """The dbnames that ``WME_PROJECTS`` entries select, in order, each once.

    With a catalogue, a dbname it does not know is refused; without one (it could not be fetched), dbnames
    are taken as given, since they were configured by hand, but a selector cannot be expanded and is refused.
    """
    names: list[str] = []
    for entry in entries:
        if is_selector(entry):
            if catalog is None:
                raise CatalogError(f"WME_PROJECTS selects {entry!r}, which needs the catalogue of projects")
            names += [p.dbname for p in catalog] if entry == ALL else [p.dbname for p in catalog.family(entry)]
        else:
            names.append(catalog.get(entry).dbname if catalog is not None else entry)
    return list(dict.fromkeys(names))


def configured_projects(settings: Settings, catalog: Catalog | None = None) -> list[str]:
    """The dbnames ``WME_PROJECTS`` selects. A list of dbnames needs no catalogue (none is read); a selector
    needs one: ``catalog``, else the cached (or fetched) one, and a CatalogError says why it is unavailable."""
    entries = settings.project_list
    if catalog is None and any(is_selector(e) for e in entries):
        try:
            catalog = open_catalog(settings)
        except CatalogError as exc:
            raise CatalogError(f"WME_PROJECTS={settings.projects} selects projects by family: {exc}") from exc
    return select_projects(entries, catalog)


def check_project(settings: Settings, dbname: str) -> Project | None:
    """Whether wme may run ``dbname``: its catalogue entry, or None when the catalogue is unavailable.

    The catalogue decides when it can be read (cached, or fetched now once): a dbname it does not know is
    refused (CatalogError), whatever WME_PROJECTS says, since a URL is never guessed. When it cannot be read
    (an offline machine, a mirror without the site matrix), the dbnames written in WME_PROJECTS are still
    run: they were configured by hand, and the catalogue only adds metadata and further projects. Any other
    dbname is then refused, saying why.
    """
    try:
        catalog = open_catalog(settings, retries=1)
    except CatalogError as exc:
        if dbname in settings.project_list:
            return None
        raise CatalogError(
            f"project {dbname!r} is not in WME_PROJECTS, and the catalogue of projects that would say whether "
            f"Wikimedia has it is unavailable: {exc}. Add it to WME_PROJECTS, or make the site matrix "
            "reachable (WME_SITEMATRIX_URL, `wme catalog refresh`)"
        ) from exc
    return catalog.get(dbname)


@dataclass(frozen=True)
class SyncPlan:
    """What syncing the project partitions with the catalogue does: the partitions to add, and what it
    reports without changing anything."""

    add: list[str]  # selected by WME_PROJECTS, not yet partitions
    present: list[str]  # selected, already partitions
    closed: list[str]  # partitions (after the sync) whose wiki the site matrix marks closed (read-only; still served)
    unknown: list[str]  # partitions the site matrix does not list (removed by Wikimedia, or added offline)

    def summary(self) -> str:
        parts = [f"{len(self.add)} project partition(s) added", f"{len(self.present)} already there"]
        if self.add:
            parts[0] += f" ({_some(self.add)})"
        if self.closed:
            parts.append(f"{len(self.closed)} partition(s) of closed wikis ({_some(self.closed)})")
        if self.unknown:
            parts.append(f"{len(self.unknown)} partition(s) the site matrix does not list ({_some(self.unknown)})")
        return "; ".join(parts) + ". Partitions are never deleted: their runs and materializations are history"


def _some(names: list[str], shown: int = 10) -> str:
    more = len(names) - shown
    return ", ".join(names[:shown]) + (f", … {more} more" if more > 0 else "")


def plan_sync(catalog: Catalog, selected: Iterable[str], existing: Iterable[str]) -> SyncPlan:
    existing = list(existing)
    have = set(existing)
    selected = list(dict.fromkeys(selected))
    add = [name for name in selected if name not in have]
    return SyncPlan(
        add=add,
        present=[name for name in selected if name in have],
        closed=[name for name in [*existing, *add] if name in catalog and catalog.get(name).closed],
        unknown=[name for name in existing if name not in catalog],
    )
