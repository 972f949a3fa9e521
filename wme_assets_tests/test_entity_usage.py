"""``wbc_entity_usage`` -> ``additional_entities``: Wikibase client's usage table, read, joined and put into the
articles.

No fixture holds a real ``wbc_entity_usage`` dump and the MediaWiki on loopback has no Wikibase, so the table is
the one Wikimedia Enterprise's own records imply: every (page, entity, aspect) of their ``additional_entities``,
written as the dumps site's mysqldump of the production table definition
(:func:`~wme_assets.devtools.mirror.tables_from_enterprise_records`). Only the malformed cases are made by hand.
"""

from __future__ import annotations

import gzip

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from wme_assets.devtools.mirror import read_enterprise_records, tables_from_enterprise_records
from wme_assets.enrichment.tables_join import join_tables, table_rows
from wme_assets.ingestion.errors import DumpParseError
from wme_assets.ingestion.tables import ingest_table
from wme_assets_tests.paths import FIXTURES

COMPLETED = "2025-02-01  0:00:00"
WIKIS = ("enwiki", "frwiki", "ptwiki", "dewiki", "simplewiki")


def _records(wiki: str) -> list[dict]:
    return read_enterprise_records(FIXTURES / "wme-articles" / wiki)


def _usage_dump(tmp_path, wiki: str, records: list[dict]):
    sql = tables_from_enterprise_records(records, dbname=wiki, completed=COMPLETED)["wbc_entity_usage"]
    path = tmp_path / f"{wiki}-20250201-wbc_entity_usage.sql.gz"
    path.write_bytes(gzip.compress(sql))
    return path


def _expected(record: dict) -> list[dict]:
    """The record's entities in the API's order (entity id, then aspect; byte order), without their URLs."""
    entities = [{"identifier": e["identifier"], "aspects": sorted(e["aspects"], key=str.encode)}
                for e in record.get("additional_entities") or []]
    return sorted(entities, key=lambda e: e["identifier"].encode())


def test_every_usage_row_of_the_records_is_read(tmp_path):
    for wiki in WIKIS:
        records = _records(wiki)
        result = ingest_table(_usage_dump(tmp_path, wiki, records), "wbc_entity_usage", tmp_path / f"{wiki}.parquet")
        truth = {(int(r["identifier"]), e["identifier"], a)
                 for r in records for e in r.get("additional_entities") or [] for a in e["aspects"]}
        rows = pq.read_table(result.path).to_pylist()
        assert result.shape == "names" and result.rows == len(truth) == len(rows), wiki
        assert {(r["eu_page_id"], r["eu_entity_id"], r["eu_aspect"]) for r in rows} == truth, wiki


def test_join_gives_each_page_its_entities_as_the_api_lists_them(tmp_path):
    """frwiki's records: 115 entities on one page, aspects such as ``C.P279``, ``L.fr``, ``T``."""
    records = _records("frwiki")
    usage = ingest_table(_usage_dump(tmp_path, "frwiki", records), "wbc_entity_usage", tmp_path / "eu.parquet")
    ordered = sorted(records, key=lambda r: r["identifier"])
    pages = tmp_path / "pages.parquet"
    pq.write_table(pa.table({
        "page_id": pa.array([r["identifier"] for r in ordered], pa.int64()),
        "namespace": pa.array([0] * len(ordered), pa.int32()),
        "is_redirect": [False] * len(ordered),
        "contributor_id": pa.array([None] * len(ordered), pa.int64()),
    }), pages)
    joined = join_tables([pages], {"wbc_entity_usage": usage.path}, {0: ""}, (0,), tmp_path / "join",
                         date="20250201")
    rows = dict(table_rows(joined))
    assert joined.counts == {"entities": len(ordered)}
    for ordinal, record in enumerate(ordered):
        assert rows[ordinal]["entities"] == _expected(record), record["name"]
    assert max(len(r["entities"]) for r in rows.values()) == 115


def test_a_truncated_usage_table_names_the_file_offset_and_last_row(tmp_path):
    records = _records("frwiki")
    sql = tables_from_enterprise_records(records, dbname="frwiki", completed=COMPLETED)["wbc_entity_usage"]
    first_row = sql.index(b"VALUES (") + len(b"VALUES ")
    for cut in range(first_row + 40, len(sql) - 2, max(1, len(sql) // 37)):
        path = tmp_path / "cut.sql.gz"
        path.write_bytes(gzip.compress(sql[:cut]))
        with pytest.raises(DumpParseError) as info:
            ingest_table(path, "wbc_entity_usage", tmp_path / "cut.parquet", name="frwiki-wbc_entity_usage.sql.gz")
        message = str(info.value)
        assert message.startswith("frwiki-wbc_entity_usage.sql.gz: ") and "truncated" in message, (cut, message)
        assert f"offset {info.value.offset}" in message and info.value.offset <= cut
        assert "last row read: eu_row_id=" in message, message


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (b"(2,'Q5','S','page')", "eu_page_id is not an integer"),
        (b"(2,'Q5','S')", "row has 3 values, expected 4"),
        (b"(2,'Q5','S',7", "the file ends inside an INSERT statement"),
    ],
)
def test_a_malformed_usage_row_is_refused(tmp_path, row, message):
    sql = tables_from_enterprise_records([], dbname="frwiki", completed=COMPLETED)["wbc_entity_usage"]
    at = sql.index(b"/*!40000 ALTER TABLE `wbc_entity_usage` ENABLE")
    tail = b"" if row.endswith(b"7") else sql[at:]
    path = tmp_path / "bad.sql"
    path.write_bytes(sql[:at] + b"INSERT INTO `wbc_entity_usage` VALUES (1,'Q1','T',3)," + row + b";\n" * bool(tail)
                     + tail)
    with pytest.raises(DumpParseError, match=message) as info:
        ingest_table(path, "wbc_entity_usage", tmp_path / "bad.parquet")
    assert "bad.sql: " in str(info.value) and "last row read: eu_row_id=1" in str(info.value)


@pytest.mark.integration
def test_additional_entities_through_the_chain(seaweedfs, tmp_path):
    """frwiki's run with the usage table its records imply (and, in a second run, that table truncated): the
    articles carry the records' ``additional_entities``; a bad table is skipped with its reason, the pages and
    the other tables kept."""
    from wme_assets.devtools.mirror import build_dumps_mirror, enterprise_dump_date, export_xml_from_enterprise_records
    from wme_assets.enrichment.run import enrich_pages
    from wme_assets.storage.article_store import iter_current_articles
    from wme_assets.storage.page_store import read_page_store_manifest
    from wme_assets_tests.chain import ingest_from_mirror
    from wme_assets_tests.servers import new_test_store

    records = _records("frwiki")
    date = enterprise_dump_date(records)
    tables = tables_from_enterprise_records(records, dbname="frwiki", completed=COMPLETED)
    xml = export_xml_from_enterprise_records(records, dbname="frwiki")

    def enriched(store, root):
        ingest_from_mirror(store, root, "frwiki", date)
        enrich_pages(store, "frwiki", date, run_id="entities", workers=1, log=lambda _: None)
        return {pid: orjson.loads(line)
                for pid, line in iter_current_articles(store, "frwiki", cache_dir=root / "cache")}

    build_dumps_mirror(tmp_path / "good", "frwiki", date, xml, tables=tables)
    articles = enriched(new_test_store(seaweedfs), tmp_path / "good")
    for record in records:
        ours = articles[record["identifier"]]["additional_entities"]
        assert [{"identifier": e["identifier"], "aspects": e["aspects"]} for e in ours] == _expected(record)
        assert all(e["url"] == f"https://www.wikidata.org/entity/{e['identifier']}" for e in ours)

    cut = tables["wbc_entity_usage"]
    bad = {**tables, "wbc_entity_usage": cut[: cut.index(b"),(", len(cut) // 2) + 5]}
    build_dumps_mirror(tmp_path / "bad", "frwiki", date, xml, tables=bad)
    store = new_test_store(seaweedfs)
    without = enriched(store, tmp_path / "bad")
    manifest = read_page_store_manifest(store, "frwiki", date)
    assert set(manifest["tables_skipped"]) == {"wbc_entity_usage"}
    reason = manifest["tables_skipped"]["wbc_entity_usage"]
    assert reason.startswith(f"frwiki-{date}-wbc_entity_usage.sql.gz: the file ends inside an INSERT statement")
    assert "decompressed byte offset" in reason and "last row read: eu_row_id=" in reason
    assert without.keys() == articles.keys()
    for pid, article in without.items():
        assert "additional_entities" not in article
        assert article["categories"] == articles[pid]["categories"]
        assert article["templates"] == articles[pid]["templates"]
