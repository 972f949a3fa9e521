"""The on-disk join of a run's SQL tables to its pages (:mod:`wme_assets.enrichment.tables_join`), on small
hand-made tables in the columns ingestion writes: both link-table shapes, expiries at the dump's date,
ordinals over several page store files. The real tables of a real MediaWiki go through it in
``test_tables_mediawiki.py``.
"""

from __future__ import annotations

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from wme_assets.enrichment.tables_join import join_tables, table_rows
from wme_assets.ingestion.tables import TABLES

NAMES = {0: "", 10: "Template", 14: "Category", 828: "Module"}


def _pages(path, rows):
    pq.write_table(pa.table({
        "page_id": pa.array([r[0] for r in rows], pa.int64()),
        "namespace": pa.array([r[1] for r in rows], pa.int32()),
        "is_redirect": [r[2] for r in rows],
        "contributor_id": pa.array([r[3] for r in rows], pa.int64()),
    }), path)
    return path


def _table(tmp_path, name, rows):
    schema = TABLES[name].schema
    path = tmp_path / f"{name}.parquet"
    pq.write_table(pa.table({f.name: pa.array([r.get(f.name) for r in rows], f.type) for f in schema},
                            schema=schema), path)
    return path


def test_join_gathers_each_pages_fields_in_page_store_order(tmp_path):
    files = [
        _pages(tmp_path / "part-0.parquet", [(5, 0, False, 100), (6, 0, True, 100), (7, 1, False, None)]),
        _pages(tmp_path / "part-1.parquet", [(9, 14, False, 200), (11, 0, False, 300), (12, 0, False, None)]),
    ]
    tables = {
        "categorylinks": _table(tmp_path, "categorylinks", [
            {"cl_from": 5, "cl_to": "B_b"}, {"cl_from": 5, "cl_target_id": 3}, {"cl_from": 9, "cl_to": "Top"},
            {"cl_from": 6, "cl_to": "Redirects"}, {"cl_from": 11, "cl_target_id": 4}]),
        "templatelinks": _table(tmp_path, "templatelinks", [
            {"tl_from": 5, "tl_namespace": 10, "tl_title": "Infobox_x"}, {"tl_from": 5, "tl_target_id": 1},
            {"tl_from": 11, "tl_target_id": 2}, {"tl_from": 11, "tl_target_id": 99}]),
        "linktarget": _table(tmp_path, "linktarget", [
            {"lt_id": 1, "lt_namespace": 828, "lt_title": "Arguments"}, {"lt_id": 2, "lt_namespace": 0,
                                                                         "lt_title": "Main_page"},
            {"lt_id": 3, "lt_namespace": 14, "lt_title": "A_a"}, {"lt_id": 4, "lt_namespace": 10, "lt_title": "Not"}]),
        "page_restrictions": _table(tmp_path, "page_restrictions", [
            {"pr_page": 5, "pr_type": "move", "pr_level": "sysop", "pr_expiry": "infinity"},
            {"pr_page": 5, "pr_type": "edit", "pr_level": "autoconfirmed", "pr_expiry": "20230601000000"},
            {"pr_page": 11, "pr_type": "edit", "pr_level": "sysop", "pr_expiry": "20230101000000"}]),
        "page_props": _table(tmp_path, "page_props", [
            {"pp_page": 11, "pp_propname": "page_image_free", "pp_value": "X.jpg"},
            {"pp_page": 11, "pp_propname": "noindex", "pp_value": ""},
            {"pp_page": 12, "pp_propname": "wikibase-shortdesc", "pp_value": "Short"}]),
        "user_groups": _table(tmp_path, "user_groups", [
            {"ug_user": 100, "ug_group": "sysop"}, {"ug_user": 100, "ug_group": "bot", "ug_expiry": "20990101000000"},
            {"ug_user": 300, "ug_group": "rollbacker", "ug_expiry": "20200101000000"}]),
    }
    joined = join_tables(files, tables, NAMES, (0, 14), tmp_path / "join", date="20230501")
    rows = dict(table_rows(joined))
    assert joined.present == tuple(sorted(tables))
    assert rows == {
        0: {  # page 5
            "categories": ["Category:A a", "Category:B b"],
            "templates": ["Module:Arguments", "Template:Infobox x"],
            "protection": [{"type": "edit", "level": "autoconfirmed", "expiry": "20230601000000"},
                           {"type": "move", "level": "sysop", "expiry": "infinity"}],
            "editor_groups": ["bot", "sysop"],
        },
        # 1: a redirect, 2: namespace 1, neither eligible
        3: {"categories": ["Category:Top"]},  # page 9 (namespace 14), its editor without groups
        4: {  # page 11: its protection expired, its editor's group too; a category id that is not a category
            # and a template id linktarget does not have are left out
            "templates": ["Main page"],
            "image_free": "X.jpg", "noindex": True,
        },
        5: {"description": "Short"},  # page 12
    }
    assert joined.counts == {"categories": 2, "templates": 2, "protection": 1, "props": 2, "editor_groups": 1}


@pytest.mark.integration
def test_enterprise_records_tables_through_the_chain(object_store, tmp_path):
    """The enwiki run of the fixture mirror with the tables its Enterprise records show (production's own
    categories, templates, protection, main image, editors' groups and entity usage), ingested and enriched."""
    from wme_assets.devtools.mirror import (
        build_dumps_mirror,
        enterprise_dump_date,
        export_xml_from_enterprise_records,
        read_enterprise_records,
        tables_from_enterprise_records,
    )
    from wme_assets.enrichment.run import enrich_pages
    from wme_assets.storage.article_store import iter_current_articles
    from wme_assets_tests.chain import ingest_from_mirror
    from wme_assets_tests.paths import FIXTURES

    records = read_enterprise_records(FIXTURES / "wme-articles" / "enwiki")
    date = enterprise_dump_date(records)
    tables = tables_from_enterprise_records(records, dbname="enwiki", completed="2025-02-01  0:00:00")
    build_dumps_mirror(tmp_path, "enwiki", date, export_xml_from_enterprise_records(records, dbname="enwiki"),
                       tables=tables)
    ingest_from_mirror(object_store, tmp_path, "enwiki", date)
    enrich_pages(object_store, "enwiki", date, run_id="tables", workers=1, log=lambda _: None)
    articles = {pid: orjson.loads(line)
                for pid, line in iter_current_articles(object_store, "enwiki", cache_dir=tmp_path / "cache")}
    for record in records:
        article = articles[record["identifier"]]
        names = {c["name"] for c in article["categories"]}
        assert {c["name"] for c in record["categories"]} <= names, record["name"]
        assert {t["name"] for t in article["templates"]} == {t["name"] for t in record["templates"]}
        assert article.get("protection", []) == record.get("protection", [])
        assert article["image"]["content_url"] == record["image"]["content_url"]
        assert article["main_entity"]["identifier"] == record["main_entity"]["identifier"]
        editor, theirs = article["version"]["editor"], record["version"]["editor"]
        assert set(editor["groups"]) == set(theirs["groups"]) - {"autoconfirmed"}
        assert editor.get("is_bot", False) == theirs.get("is_bot", False)
        assert {e["identifier"]: e["aspects"] for e in article["additional_entities"]} == {
            e["identifier"]: e["aspects"] for e in record["additional_entities"]}
