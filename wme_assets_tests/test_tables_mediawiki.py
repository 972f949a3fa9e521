"""The dumps' SQL tables, from a real MediaWiki 1.39 to wme's articles.

The wiki (its own instance, :func:`~wme_assets_tests.mediawiki_tables.running_tables_wiki`) holds real viwiki
pages — the dump's 75 templates and 37 categories, and the articles that use them — imported with link
updates, then changed as an admin with the bot flag: a template adding a hidden category, ``__NOINDEX__``,
a full and a semi-protection, page props. Its own export (``dumpBackup.php``) and its tables, written in
mysqldump's format in both link-table shapes, become dumps runs of a local mirror; wme ingests and enriches
them; the articles' categories and templates are compared with what the wiki lists for the same pages
(``prop=categories|templates``).
"""

from __future__ import annotations

import gzip
import io
import tempfile
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import requests

from wme_assets.devtools.mirror import build_dumps_mirror
from wme_assets.enrichment.run import enrich_pages
from wme_assets.ingestion.sql_dump import SqlTableDump
from wme_assets.storage.article_store import iter_current_articles
from wme_assets.storage.page_store import read_page_store_manifest
from wme_assets_tests.chain import ingest_from_mirror
from wme_assets_tests.mediawiki_tables import (
    HIDDEN_CATEGORY,
    export_pages,
    export_tables,
    running_tables_wiki,
    table_rows,
)
from wme_assets_tests.paths import FIXTURES

pytestmark = pytest.mark.integration

PROJECT = "viwiki"
COMPLETED = "2023-05-01  0:00:00"
RUNS = {"20230501": "linktarget", "20230520": "names", "20230601": None}  # None: a run without the tables


@pytest.fixture(scope="module")
def tables_wiki(request):
    with running_tables_wiki(request, FIXTURES, "wme-mediawiki-tables-") as wiki:
        yield wiki


@pytest.fixture(scope="module")
def mirror(tables_wiki, tmp_path_factory) -> Path:
    """The wiki as three dumps runs: its tables in today's shape, in the older shape, and no tables."""
    server, _ = tables_wiki
    root = tmp_path_factory.mktemp("tables-mirror")
    pages = export_pages(server)
    for date, shape in RUNS.items():
        tables = export_tables(server, PROJECT, COMPLETED, shape=shape) if shape else None
        build_dumps_mirror(root, PROJECT, date, pages, tables=tables)
    return root


def _articles(store) -> dict[int, dict]:
    with tempfile.TemporaryDirectory() as cache:
        return {pid: orjson.loads(line) for pid, line in iter_current_articles(store, PROJECT, cache_dir=cache)}


def _enriched(store, mirror_root: Path, date: str) -> dict[int, dict]:
    ingest_from_mirror(store, mirror_root, PROJECT, date)
    enrich_pages(store, PROJECT, date, run_id=f"run-{date}", workers=2, log=lambda _: None)
    return _articles(store)


def _wiki_lists(base_url: str, page_ids: list[int]) -> dict[int, dict[str, set[str]]]:
    """What the wiki lists of each page: ``{"categories", "templates"}`` (titles)."""
    api = f"{base_url}/api.php"
    out: dict[int, dict[str, set[str]]] = {}
    for start in range(0, len(page_ids), 50):
        params = {
            "action": "query",
            "prop": "categories|templates",
            "cllimit": "max",
            "tllimit": "max",
            "pageids": "|".join(map(str, page_ids[start : start + 50])),
            "format": "json",
            "formatversion": "2",
        }
        while True:
            reply = requests.get(api, params=params, timeout=60).json()
            for page in reply["query"]["pages"]:
                entry = out.setdefault(page["pageid"], {"categories": set(), "templates": set()})
                entry["categories"] |= {c["title"] for c in page.get("categories", [])}
                entry["templates"] |= {t["title"] for t in page.get("templates", [])}
            if "continue" not in reply:
                break
            params.update(reply["continue"])
    return out


def _f1(pairs: Iterator[tuple[set[str], set[str]]]) -> tuple[float, float, float, int, int, int]:
    tp = fp = fn = 0
    for ours, truth in pairs:
        tp, fp, fn = tp + len(ours & truth), fp + len(ours - truth), fn + len(truth - ours)
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return p, r, 2 * p * r / (p + r) if p + r else 0.0, tp, fp, fn


def test_every_exported_table_reads_back_as_mediawiki_holds_it(tables_wiki):
    """The reader gives back exactly the wiki's rows, in both link-table shapes (selected by name from the
    production CREATE TABLEs, whose column orders differ from the wiki's)."""
    server, _ = tables_wiki
    rows = table_rows(server)
    for shape in ("linktarget", "names"):
        for table, sql in export_tables(server, PROJECT, COMPLETED, shape=shape).items():
            with SqlTableDump(io.BytesIO(gzip.compress(sql)), table, name=f"{table}.sql.gz") as dump:
                columns = [c for c in dump.columns if c in rows[table][0]] if rows[table] else list(dump.columns)
                got = list(dump.rows(columns, raw=[c for c in columns if c == "cl_sortkey"]))
            expected = [tuple(r[c].encode() if c == "cl_sortkey" else r[c] for c in columns) for r in rows[table]]
            if table == "linktarget":  # the categories' targets follow the wiki's own rows (see export_tables)
                assert {ns for _, ns, _ in got[len(expected) :]} == {14}
                got = got[: len(expected)]
            assert got == expected and got, (shape, table)


@pytest.fixture(scope="module")
def enriched(tables_wiki, mirror, seaweedfs):
    """Every run of the mirror through ingestion and enrichment, each in a store of its own."""
    from wme_assets_tests.servers import new_test_store

    out = {}
    for date in RUNS:
        store = new_test_store(seaweedfs)
        out[date] = (store, _enriched(store, mirror, date))
    return out


def test_categories_and_templates_match_mediawiki(tables_wiki, enriched):
    server, _ = tables_wiki
    report = []
    for date, shape in RUNS.items():
        _, articles = enriched[date]
        truth = _wiki_lists(server.base_url, sorted(articles))
        f1 = {}
        for what in ("categories", "templates"):
            f1[what] = _f1(({x["name"] for x in a.get(what, [])}, truth[pid][what]) for pid, a in articles.items())
            report.append(
                f"{shape or 'no tables'} {what}: P {f1[what][0]:.4f} R {f1[what][1]:.4f} "
                f"F1 {f1[what][2]:.4f} (tp {f1[what][3]} fp {f1[what][4]} fn {f1[what][5]})"
            )
        if shape:
            assert f1["templates"][2] >= 0.99 and f1["categories"][2] >= 0.99, report
        else:
            without = f1
    print(f"\n{len(enriched['20230501'][1])} articles vs MediaWiki's prop=categories|templates:\n" + "\n".join(report))
    assert without["categories"][1] < 0.99  # the wikitext alone misses what templates add


def test_both_shapes_give_the_same_articles(enriched):
    def fields(articles):
        return {
            pid: {k: a.get(k) for k in ("categories", "templates", "protection", "image", "version")}
            | {"version": {k: v for k, v in a["version"].items() if k != "identifier"}}
            for pid, a in articles.items()
        }

    assert fields(enriched["20230501"][1]) == fields(enriched["20230520"][1])


def test_what_the_tables_give_the_articles(tables_wiki, enriched):
    _, facts = tables_wiki
    store, articles = enriched["20230501"]
    by_name = {a["name"]: a for a in articles.values()}
    for title in facts["hidden"]:
        assert HIDDEN_CATEGORY in {c["name"] for c in by_name[title]["categories"]}, title
        editor = by_name[title]["version"]["editor"]
        assert editor["name"] == "Admin" and editor["is_bot"] is True
        assert editor["groups"] == ["bot", "bureaucrat", "interface-admin", "sysop", "*", "user"]
    assert by_name[facts["noindex"]]["version"]["noindex"] is True
    assert by_name[facts["protected"]]["protection"] == [
        {"type": "edit", "level": "sysop", "expiry": "infinity"},
        {"type": "move", "level": "sysop", "expiry": "infinity"},
    ]
    assert [p["level"] for p in by_name[facts["semiprotected"]]["protection"]] == ["autoconfirmed", "autoconfirmed"]
    with_props, disambiguation = list(facts["props"])
    assert by_name[with_props]["image"]["content_url"].endswith("/V%C3%AD_d%E1%BB%A5.jpg")
    assert "/wikipedia/commons/" in by_name[with_props]["image"]["content_url"]
    assert by_name[disambiguation]["wme"]["is_disambiguation"] is True
    assert "/wikipedia/vi/" in by_name[disambiguation]["image"]["content_url"]
    # imported revisions are by an interwiki-prefixed user without an account here: no groups
    editors = [a["version"]["editor"] for a in articles.values()]
    imported = [editor for editor in editors if editor["name"].startswith("imported>")]
    assert imported and all("groups" not in editor and "identifier" not in editor for editor in imported)
    manifest = read_page_store_manifest(store, PROJECT, "20230501")
    assert set(manifest["tables"]) == {
        "categorylinks",
        "templatelinks",
        "linktarget",
        "page_restrictions",
        "page_props",
        "user_groups",
    }
    # a wiki without Wikibase has no usage table
    assert manifest["tables_skipped"] == {"wbc_entity_usage": "not in this dump run"}


def test_a_run_without_the_tables_is_the_wikitext_path(enriched):
    store, articles = enriched["20230601"]
    manifest = read_page_store_manifest(store, PROJECT, "20230601")
    assert set(manifest["tables"]) == {"page_props"}  # page_props is part of every run
    assert set(manifest["tables_skipped"]) == {
        "categorylinks",
        "templatelinks",
        "linktarget",
        "page_restrictions",
        "user_groups",
        "wbc_entity_usage",
    }
    assert all("protection" not in a for a in articles.values())


def test_bad_tables_are_skipped_with_the_reason_and_lose_nothing_else(tables_wiki, enriched, seaweedfs, tmp_path):
    """A truncated categorylinks and a malformed templatelinks (checksums as published: the dump job wrote
    them so): the run is ingested with its pages and other tables; each bad table's error names the file,
    the byte offset and the last row read."""
    from wme_assets_tests.servers import new_test_store

    server, _ = tables_wiki
    tables = export_tables(server, PROJECT, COMPLETED)
    cut = tables["categorylinks"]
    tables["categorylinks"] = cut[: cut.index(b"),(", len(cut) // 2) + 5]
    tables["templatelinks"] = tables["templatelinks"].replace(b"),(", b"),x(", 1)
    build_dumps_mirror(tmp_path, PROJECT, "20230501", export_pages(server), tables=tables)
    store = new_test_store(seaweedfs)
    articles = _enriched(store, tmp_path, "20230501")
    manifest = read_page_store_manifest(store, PROJECT, "20230501")
    skipped = manifest["tables_skipped"]
    assert set(skipped) == {"categorylinks", "templatelinks", "wbc_entity_usage"}  # no Wikibase: no usage table
    assert (
        "viwiki-20230501-categorylinks.sql.gz: the file ends inside an INSERT statement (truncated)"
        in skipped["categorylinks"]
        and "last row read: cl_from=" in skipped["categorylinks"]
    )
    assert (
        "viwiki-20230501-templatelinks.sql.gz: expected '(' to start a row at decompressed byte offset "
        in skipped["templatelinks"]
        and "last row read: tl_from=" in skipped["templatelinks"]
    )
    assert set(manifest["tables"]) == {"linktarget", "page_restrictions", "page_props", "user_groups"}
    good = enriched["20230501"][1]
    assert articles.keys() == good.keys()
    assert [a.get("protection") for a in articles.values()] == [a.get("protection") for a in good.values()]
