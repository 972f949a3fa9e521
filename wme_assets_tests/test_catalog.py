"""The catalogue of projects from a real ``action=sitematrix`` response, against Enterprise's own list of 900."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import dagster as dg
import pytest
from typer.testing import CliRunner

from wme_assets.cli import app
from wme_assets.defs.partitions import ensure_projects, project_keys
from wme_assets.settings import load_settings
from wme_assets.sources.catalog import (
    ARTICLE_NAMESPACES,
    COMMONS,
    TEXT_FAMILIES,
    CatalogError,
    cache_path,
    check_project,
    configured_projects,
    load_catalog,
    parse_site_matrix,
    select_projects,
)
from wme_assets.sources.dumps_client import make_session
from wme_assets_tests.paths import FIXTURES, SITEMATRIX_FIXTURE
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


def test_an_unreachable_site_matrix_is_not_asked_again_for_a_while(tmp_path):
    """Offline, every command would wait on the network for the catalogue: a failed fetch is remembered per URL
    (the next call fails with it although the server would now answer), and `refresh` asks again."""
    served = tmp_path / "served"
    served.mkdir()
    cache = tmp_path / "home" / "catalog" / "sitematrix.json"
    session = make_session(retries=0)
    with serve_directory(served) as base:
        url = f"{base}/sitematrix.json"
        with pytest.raises(CatalogError, match="HTTP 404"):
            load_catalog(cache, session=session, url=url)
        shutil.copy(CATALOG_FIXTURES / "sitematrix.json", served / "sitematrix.json")  # now it would answer
        with pytest.raises(CatalogError, match=r"HTTP 404 \(\d+ s ago; not tried again .*wme catalog refresh"):
            load_catalog(cache, session=session, url=url)
        assert not cache.exists()
        assert len(load_catalog(cache, session=session, url=url, refresh=True)) == 883
        assert not (cache.parent / "unreachable.json").exists()  # a success forgets the failure

        with pytest.raises(CatalogError, match="HTTP 404"):
            load_catalog(cache, session=session, url=f"{base}/other.json", refresh=True)
        assert json.loads((cache.parent / "unreachable.json").read_text())["url"] == f"{base}/other.json"
    assert len(load_catalog(cache, session=session, url=url)) == 883  # the cache answers; no request made


def test_unreadable_cache_says_how_to_recover(tmp_path):
    cache = tmp_path / "sitematrix.json"
    cache.write_text("{truncated")
    with pytest.raises(CatalogError, match="unreadable.*wme catalog refresh"):
        load_catalog(cache, session=make_session(retries=0))


# ----- WME_PROJECTS and the project partitions -------------------------------------------------------------


def test_wme_projects_selects_dbnames_families_or_all(catalog):
    assert select_projects(["bnwiki", "enwiktionary", "bnwiki"], catalog) == ["bnwiki", "enwiktionary"]
    voyages = select_projects(["bnwiki", "wikivoyage"], catalog)
    assert voyages[0] == "bnwiki" and len(voyages) == 26 and "eswikivoyage" in voyages
    assert select_projects(["commons"], catalog) == [COMMONS]
    assert len(select_projects(["all"], catalog)) == 883
    with pytest.raises(CatalogError, match="'anpwiki' is not in Wikimedia's site matrix"):
        select_projects(["bnwiki", "anpwiki"], catalog)
    # Without a catalogue, dbnames are taken as configured; a family cannot be expanded.
    assert select_projects(["bnwiki", "anpwiki"], None) == ["bnwiki", "anpwiki"]
    with pytest.raises(CatalogError, match="selects 'wikisource'"):
        select_projects(["bnwiki", "wikisource"], None)


@pytest.fixture
def home(tmp_path, monkeypatch):
    """WME_HOME in the test's folder, the instance under it as the CLI makes it (DAGSTER_HOME restored after)."""
    monkeypatch.setenv("WME_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DAGSTER_HOME", "unset")  # set first so that the CLI's own setting is undone
    monkeypatch.delenv("DAGSTER_HOME")
    for name in ("WME_PG_HOST", "WME_PG_PORT"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "home"


def _partitions(home) -> list[str]:
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        return project_keys(instance)


def test_sync_adds_exactly_the_selected_projects(home, monkeypatch):
    monkeypatch.setenv("WME_PROJECTS", "bnwiki,enwiktionary,wikivoyage")
    result = CliRunner().invoke(app, ["catalog", "sync"])
    assert result.exit_code == 0, result.output
    voyages = [p.dbname for p in load_catalog(cache_path(home), session=make_session(retries=0)).family("wikivoyage")]
    assert _partitions(home) == ["bnwiki", "enwiktionary", *voyages]
    assert "27 project(s) selected by WME_PROJECTS=bnwiki,enwiktionary,wikivoyage of 883" in result.output
    assert "27 project partition(s) added (bnwiki, enwiktionary, " in result.output

    # Again, with every project: the ones there stay (in their order), the others are added once.
    monkeypatch.setenv("WME_PROJECTS", "all")
    again = CliRunner().invoke(app, ["catalog", "sync"])
    assert again.exit_code == 0, again.output
    assert "856 project partition(s) added" in again.output and "27 already there" in again.output
    keys = _partitions(home)
    assert len(keys) == len(set(keys)) == 883 and keys[:2] == ["bnwiki", "enwiktionary"]
    assert "partition(s) of closed wikis (aawiki" in again.output  # reported, still partitions
    assert "aawiki" in keys


def test_sync_refuses_an_unknown_dbname_and_adds_nothing(home, monkeypatch):
    monkeypatch.setenv("WME_PROJECTS", "bnwiki,anpwiki")
    result = CliRunner().invoke(app, ["catalog", "sync"])
    assert result.exit_code != 0
    assert "'anpwiki' is not in Wikimedia's site matrix" in result.output and "refresh" in result.output
    assert not (home / "dagster" / "dagster.yaml").exists() or _partitions(home) == []


def test_the_sensor_adds_new_projects_and_reports_closed_and_unknown_ones_without_deleting(home, monkeypatch):
    from wme_assets.definitions import defs

    monkeypatch.setenv("WME_PROJECTS", "bnwiki,wikinews")
    sensor = defs().resolve_sensor_def("project_catalogue")
    assert sensor.minimum_interval_seconds == 24 * 3600
    (home / "instance").mkdir(parents=True)
    with dg.DagsterInstance.local_temp(str(home / "instance")) as instance:
        # Partitions a deployment already has: a closed wiki's and one the site matrix no longer lists.
        ensure_projects(instance, ["aawiki", "oldwiki"])
        # Offline with nothing cached: the tick says so and changes nothing.
        monkeypatch.setenv("WME_SITEMATRIX_URL", (home / "missing.json").as_uri())
        tick = sensor.evaluate_tick(dg.build_sensor_context(instance=instance))
        assert tick.skip_message.startswith("no catalogue of projects (cannot fetch the site matrix from file://")
        assert "partitions unchanged" in tick.skip_message and project_keys(instance) == ["aawiki", "oldwiki"]

        monkeypatch.setenv("WME_SITEMATRIX_URL", SITEMATRIX_FIXTURE.as_uri())
        tick = sensor.evaluate_tick(dg.build_sensor_context(instance=instance))
        assert not tick.run_requests
        said = tick.skip_message
        assert "883 projects in the site matrix" in said and "35 project partition(s) added (bnwiki, " in said
        assert "partition(s) of closed wikis (aawiki, " in said and "trwikinews" in said
        assert "1 partition(s) the site matrix does not list (oldwiki)" in said
        assert "never deleted" in said
        keys = project_keys(instance)
        assert keys[:3] == ["aawiki", "oldwiki", "bnwiki"] and len(keys) == 37

        # Meta unreachable the next day: the cached catalogue is used, and the tick says so.
        monkeypatch.setenv("WME_SITEMATRIX_URL", (home / "missing.json").as_uri())
        tick = sensor.evaluate_tick(dg.build_sensor_context(instance=instance))
        assert tick.skip_message.startswith("refresh failed (cannot fetch the site matrix from file://")
        assert "0 project partition(s) added; 35 already there" in tick.skip_message
        assert len(project_keys(instance)) == 37


def test_without_a_catalogue_the_configured_dbnames_still_run(home, monkeypatch):
    """Offline (no site matrix reachable, none cached): WME_PROJECTS's dbnames are run as configured; another
    dbname is refused, saying why; with a catalogue, even a configured dbname it does not know is refused."""
    monkeypatch.setenv("WME_PROJECTS", "bnwiki,anpwiki")
    monkeypatch.setenv("WME_SITEMATRIX_URL", (home / "missing.json").as_uri())
    settings = load_settings()
    assert check_project(settings, "bnwiki") is None and check_project(settings, "anpwiki") is None
    with pytest.raises(CatalogError, match="'frwiki' is not in WME_PROJECTS, and the catalogue .* unavailable"):
        check_project(settings, "frwiki")

    monkeypatch.setenv("WME_SITEMATRIX_URL", SITEMATRIX_FIXTURE.as_uri())
    settings = load_settings()
    assert check_project(settings, "frwiki").url == "https://fr.wikipedia.org"  # not configured: known, runs
    with pytest.raises(CatalogError, match="'anpwiki' is not in Wikimedia's site matrix"):
        check_project(settings, "anpwiki")


@pytest.mark.integration
def test_a_command_on_a_fresh_instance_adds_its_project(s3_env, dumps_mirror, home, monkeypatch):
    from wme_assets_tests.paths import DUMP_DATE

    instance_home = Path(s3_env["WME_HOME"])
    monkeypatch.setenv("WME_HOME", s3_env["WME_HOME"])
    monkeypatch.setenv("WME_DUMPS_URL", dumps_mirror.as_uri())

    def ingest(project: str):
        return CliRunner().invoke(app, ["--in-process", "ingest", project, "--date", DUMP_DATE])

    # Offline, no catalogue cached: the configured dbname runs, another is refused naming the cause.
    monkeypatch.setenv("WME_PROJECTS", "bnwiki")
    monkeypatch.setenv("WME_SITEMATRIX_URL", (instance_home / "missing.json").as_uri())
    refused = ingest("jawiki")
    assert refused.exit_code == 2 and "'jawiki' is not in WME_PROJECTS, and the catalogue" in refused.output
    result = ingest("bnwiki")
    assert result.exit_code == 0, result.output
    assert _partitions(instance_home) == ["bnwiki"]

    # With the catalogue: a project it knows runs though WME_PROJECTS does not name it; one it does not know
    # is refused before any run.
    monkeypatch.setenv("WME_SITEMATRIX_URL", SITEMATRIX_FIXTURE.as_uri())
    refused = ingest("anpwiki")
    assert refused.exit_code == 2 and "'anpwiki' is not in Wikimedia's site matrix" in refused.output
    result = ingest("jawiki")
    assert result.exit_code == 0, result.output
    assert _partitions(instance_home) == ["bnwiki", "jawiki"]
    with dg.DagsterInstance.from_config(str(instance_home / "dagster")) as instance:
        runs = instance.get_runs()
        assert sorted(r.tags["dagster/partition"] for r in runs) == [f"{DUMP_DATE}|bnwiki", f"{DUMP_DATE}|jawiki"]


def test_the_realtime_side_reads_the_selection_as_dbnames(home, monkeypatch):
    """`wme listen`/`update`/`batch` hand the listener WME_PROJECTS resolved: a family becomes its dbnames; a
    list of dbnames needs no catalogue at all (none is read or fetched)."""
    monkeypatch.setenv("WME_PROJECTS", "bnwiki,wiki")  # "wiki": the dbname of a test MediaWiki
    monkeypatch.setenv("WME_SITEMATRIX_URL", (home / "missing.json").as_uri())
    assert configured_projects(load_settings()) == ["bnwiki", "wiki"] and not cache_path(home).exists()
    monkeypatch.setenv("WME_PROJECTS", "all")
    with pytest.raises(CatalogError, match="WME_PROJECTS=all selects projects by family: cannot fetch"):
        configured_projects(load_settings())

    monkeypatch.setenv("WME_SITEMATRIX_URL", SITEMATRIX_FIXTURE.as_uri())
    monkeypatch.setenv("WME_PROJECTS", "bnwiki,wikivoyage")
    settings = load_settings()
    resolved = configured_projects(settings)
    assert resolved[0] == "bnwiki" and len(resolved) == 26
    assert settings.model_copy(update={"projects": ",".join(resolved)}).project_list == resolved
