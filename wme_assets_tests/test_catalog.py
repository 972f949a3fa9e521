"""The catalogue of projects from a real ``action=sitematrix`` response, against Enterprise's own list of 900."""

from __future__ import annotations

import json
import shutil

import pytest

from wme_assets.sources.catalog import (
    ARTICLE_NAMESPACES,
    COMMONS,
    TEXT_FAMILIES,
    CatalogError,
    load_catalog,
    parse_site_matrix,
)
from wme_assets.sources.dumps_client import make_session
from wme_assets_tests.paths import FIXTURES
from wme_assets_tests.servers import serve_directory

CATALOG_FIXTURES = FIXTURES / "wme-catalog"


@pytest.fixture(scope="module")
def catalog():
    response = json.loads((CATALOG_FIXTURES / "sitematrix.json").read_text())
    return parse_site_matrix(response, source="sitematrix.json", fetched_at="2025-08-27T00:00:00Z")


@pytest.fixture(scope="module")
def enterprise_projects() -> list[str]:
    return json.loads((CATALOG_FIXTURES / "projects.json").read_text())


def test_every_project_enterprise_serves_that_the_site_matrix_knows_and_nothing_else(catalog, enterprise_projects):
    text_projects = {p.dbname for p in catalog if p.family != "commons"}
    known = [name for name in enterprise_projects if name in catalog]
    unknown = [name for name in enterprise_projects if name not in catalog]
    # Enterprise serves exactly the text families: every text site of the site matrix is on its list.
    assert text_projects == set(known)
    assert len(known) == 882 and len(enterprise_projects) == 900
    # Wikis opened after this site matrix was captured: refused, never given a guessed URL.
    assert sorted(unknown)[:3] == ["anpwiki", "bbcwiki", "bjnwikiquote"] and len(unknown) == 18
    for name in unknown:
        with pytest.raises(CatalogError, match=f"{name}.*not in Wikimedia's site matrix.*refresh"):
            catalog.get(name)


def test_languages_agree_with_enterprise(catalog):
    languages = json.loads((CATALOG_FIXTURES / "languages.json").read_text())
    ours = {db: catalog.get(db).language for db in languages if db in catalog}
    assert len(ours) == 882
    disagree = {db: (language, languages[db]) for db, language in ours.items() if language != languages[db]}
    assert disagree == {}


@pytest.mark.parametrize(
    "dbname, family, language, url, closed",
    [
        ("enwiki", "wikipedia", "en", "https://en.wikipedia.org", False),
        ("zh_min_nanwiki", "wikipedia", "zh-min-nan", "https://zh-min-nan.wikipedia.org", False),
        ("frwiktionary", "wiktionary", "fr", "https://fr.wiktionary.org", False),
        ("dewikibooks", "wikibooks", "de", "https://de.wikibooks.org", False),
        ("ruwikinews", "wikinews", "ru", "https://ru.wikinews.org", False),
        ("itwikiquote", "wikiquote", "it", "https://it.wikiquote.org", False),
        ("bnwikisource", "wikisource", "bn", "https://bn.wikisource.org", False),
        ("enwikiversity", "wikiversity", "en", "https://en.wikiversity.org", False),
        ("eswikivoyage", "wikivoyage", "es", "https://es.wikivoyage.org", False),
        ("aawiki", "wikipedia", "aa", "https://aa.wikipedia.org", True),
        ("trwikinews", "wikinews", "tr", "https://tr.wikinews.org", True),
    ],
)
def test_a_sample_of_each_family(catalog, dbname, family, language, url, closed):
    project = catalog.get(dbname)
    assert (project.family, project.language, project.url, project.closed) == (family, language, url, closed)
    assert project.namespaces == ARTICLE_NAMESPACES


def test_family_sizes_and_commons_files_only(catalog):
    sizes = {name: len(catalog.family(name)) for name in TEXT_FAMILIES.values()}
    assert sizes == {
        "wikipedia": 329, "wiktionary": 187, "wikibooks": 121, "wikiquote": 95,
        "wikisource": 74, "wikinews": 34, "wikivoyage": 25, "wikiversity": 17,
    }  # fmt: skip
    commons = catalog.get(COMMONS)
    assert commons.url == "https://commons.wikimedia.org" and commons.namespaces == (6,)
    for special in ("metawiki", "wikidatawiki", "specieswiki", "advisorswiki"):
        assert special not in catalog  # not text projects Enterprise serves


def test_select_keeps_order_and_refuses_the_unknown(catalog):
    assert [p.dbname for p in catalog.select(["bnwiki", "enwiktionary"])] == ["bnwiki", "enwiktionary"]
    with pytest.raises(CatalogError, match="'enwikk'"):
        catalog.select(["bnwiki", "enwikk"])


def test_fetched_over_http_cached_and_refreshed(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    shutil.copy(CATALOG_FIXTURES / "sitematrix.json", served / "sitematrix.json")
    cache = tmp_path / "home" / "catalog" / "sitematrix.json"
    session = make_session(retries=0)
    with serve_directory(served) as base:
        url = f"{base}/sitematrix.json"
        first = load_catalog(cache, session=session, url=url)
        assert len(first) == 883 and first.source == url and cache.exists()

        # A refresh that fetches something else fails and keeps the cached catalogue.
        (served / "sitematrix.json").write_text('{"error": {"code": "badvalue"}}')
        with pytest.raises(CatalogError, match="not an action=sitematrix response"):
            load_catalog(cache, session=session, url=url, refresh=True)
        with pytest.raises(CatalogError, match="HTTP 404"):
            load_catalog(cache, session=session, url=f"{base}/missing.json", refresh=True)

    # The server is gone: the cache answers.
    again = load_catalog(cache, session=session, url=url)
    assert again.projects == first.projects and again.fetched_at == first.fetched_at


def test_unreadable_cache_says_how_to_recover(tmp_path):
    cache = tmp_path / "sitematrix.json"
    cache.write_text("{truncated")
    with pytest.raises(CatalogError, match="unreadable.*wme catalog refresh"):
        load_catalog(cache, session=make_session(retries=0))
