"""The generic table reader (:mod:`wme_assets.ingestion.sql_dump`) and the tables' ingestion, on hand-made
mysqldumps of the production table definitions: both link-table shapes, production column orders,
truncation at every byte, malformed input. Real tables, exported from a real MediaWiki, are read in
``test_tables_mediawiki.py``.
"""

from __future__ import annotations

import gzip
import io

import pyarrow.parquet as pq
import pytest

from wme_assets.devtools.mirror import mysqldump_table, table_columns
from wme_assets.ingestion.errors import DumpParseError
from wme_assets.ingestion.sql_dump import SqlDumpParseError, SqlTableDump
from wme_assets.ingestion.tables import ingest_table, table_files
from wme_assets.sources.dumps_client import parse_status

COMPLETED = "2025-02-01  0:00:00"
CATEGORIES = [
    {"cl_from": 10, "cl_to": "Living_people", "cl_sortkey": "EINSTEIN,\nALBERT", "cl_type": "page"},
    {"cl_from": 10, "cl_to": "It's_(a),_\"b\";_c", "cl_sortkey": "\x00\\", "cl_type": "page"},
    {"cl_from": 12, "cl_to": "Thể_loại_ẩn", "cl_sortkey": "", "cl_type": "subcat"},
]


def _read(sql: bytes, table: str, select, **kwargs) -> list[tuple]:
    with SqlTableDump(io.BytesIO(sql), table, name="t.sql") as dump:
        return list(dump.rows(select, **kwargs))


def test_columns_come_from_the_create_table_in_production_order():
    sql = mysqldump_table("enwiki", "page_restrictions",
                          [{"pr_id": 5, "pr_page": 7, "pr_type": "edit", "pr_level": "sysop", "pr_cascade": 0,
                            "pr_expiry": "infinity"}], COMPLETED)
    with SqlTableDump(io.BytesIO(sql), "page_restrictions") as dump:
        assert dump.columns == table_columns("page_restrictions") == (
            "pr_page", "pr_type", "pr_level", "pr_cascade", "pr_expiry", "pr_id")
        assert list(dump.rows(("pr_id", "pr_page", "pr_expiry", "pr_level"), integers=("pr_page",))) == [
            (5, 7, "infinity", "sysop")]


def test_both_link_table_shapes():
    names = mysqldump_table("enwiki", "templatelinks", [
        {"tl_from": 1, "tl_namespace": 10, "tl_title": "Infobox_person", "tl_from_namespace": 0}], COMPLETED)
    ids = mysqldump_table("enwiki", "templatelinks", [
        {"tl_from": 1, "tl_target_id": 77, "tl_from_namespace": 0}], COMPLETED, shape="linktarget")
    with SqlTableDump(io.BytesIO(names), "templatelinks") as dump:
        assert "tl_title" in dump.columns and "tl_target_id" not in dump.columns
        assert list(dump.rows(("tl_from", "tl_namespace", "tl_title"))) == [(1, 10, "Infobox_person")]
    with SqlTableDump(io.BytesIO(ids), "templatelinks") as dump:
        assert "tl_target_id" in dump.columns and "tl_title" not in dump.columns
        assert list(dump.rows(("tl_from", "tl_target_id"))) == [(1, 77)]


def test_escapes_newlines_and_binary_round_trip():
    sql = mysqldump_table("enwiki", "categorylinks", CATEGORIES, COMPLETED)
    got = _read(sql, "categorylinks", ("cl_from", "cl_to", "cl_sortkey", "cl_type"), raw=("cl_sortkey",))
    assert got == [(c["cl_from"], c["cl_to"], c["cl_sortkey"].encode(), c["cl_type"]) for c in CATEGORIES]


def test_keep_filters_before_decoding():
    sql = mysqldump_table("enwiki", "categorylinks", CATEGORIES, COMPLETED)
    assert _read(sql, "categorylinks", ("cl_from",), keep={"cl_type": ["subcat"]}) == [(12,)]
    assert _read(sql, "categorylinks", ("cl_from",), keep={"cl_to": ["It's_(a),_\"b\";_c"]}) == [(10,)]


def test_every_chunk_size_gives_the_same_rows():
    sql = mysqldump_table("enwiki", "categorylinks", CATEGORIES * 50, COMPLETED)
    whole = _read(sql, "categorylinks", ("cl_from", "cl_to", "cl_sortkey"))
    for size in (1, 7, 64, 1000):
        with SqlTableDump(io.BytesIO(gzip.compress(sql)), "categorylinks", chunk_size=size) as dump:
            assert list(dump.rows(("cl_from", "cl_to", "cl_sortkey"))) == whole, size


def test_truncated_at_every_byte_names_offset_and_last_row():
    sql = mysqldump_table("enwiki", "categorylinks", CATEGORIES, COMPLETED)
    trailer_end = sql.index(b"-- Dump completed") + len(b"-- Dump completed")
    expected = [(c["cl_from"], c["cl_to"]) for c in CATEGORIES]
    for cut in range(0, trailer_end, 3):
        got: list[tuple] = []
        with pytest.raises(SqlDumpParseError) as info:
            with SqlTableDump(io.BytesIO(sql[:cut]), "categorylinks", name="cut.sql") as dump:
                got.extend(dump.rows(("cl_from", "cl_to")))
        err = info.value
        assert str(err).startswith("cut.sql: ") and "truncated" in str(err), (cut, str(err))
        assert 0 <= err.offset <= cut and f"offset {err.offset}" in str(err)
        assert got == expected[: len(got)]
        if got:
            assert err.last_row == ("cl_from", got[-1][0]) and err.last_page_id == got[-1][0]
            assert f"last row read: cl_from={got[-1][0]}" in str(err)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"INSERT INTO `categorylinks` VALUES (1,'A','',NULL,'','','page')x", "expected ',' or ';'"),
        (b"INSERT INTO `categorylinks` VALUES ('x','A','',NULL,'','','page');", "cl_from is not an integer"),
        (b"INSERT INTO `categorylinks` VALUES (1,'A','page');", "row has 3 values, expected 7"),
        (b"INSERT INTO `templatelinks` VALUES (1,2,3);", "INSERT into table 'templatelinks', not categorylinks"),
        (b"INSERT INTO `categorylinks` (`cl_from`) VALUES (1);", "categorylinks has no column cl_to"),
    ],
)
def test_malformed_statements(body, message):
    sql = mysqldump_table("enwiki", "categorylinks", [], COMPLETED)
    at = sql.index(b"/*!40000 ALTER TABLE `categorylinks` ENABLE")
    bad = sql[:at] + b"INSERT INTO `categorylinks` VALUES (9,'Ok','',NULL,'','','page');\n" + body + b"\n" + sql[at:]
    with pytest.raises(SqlDumpParseError, match=message) as info:
        _read(bad, "categorylinks", ("cl_from", "cl_to"), integers=("cl_from",))
    assert info.value.offset >= at and info.value.last_page_id == 9


def test_an_unclosed_table_definition_is_refused():
    sql = b"CREATE TABLE `user_groups` (\n  `ug_user` int NOT NULL,\nINSERT INTO `user_groups` VALUES (1,'bot');\n"
    with pytest.raises(SqlDumpParseError, match="CREATE TABLE of user_groups does not end before its rows"):
        _read(sql + b"-- Dump completed\n", "user_groups", ("ug_user",))


def test_another_tables_definition_is_not_taken():
    other = mysqldump_table("enwiki", "linktarget", [], COMPLETED).split(b"\n-- Dump completed")[0]
    sql = other + b"\nINSERT INTO `templatelinks` VALUES (1,2,3);\n-- Dump completed\n"
    with SqlTableDump(io.BytesIO(sql), "templatelinks") as dump:
        assert dump.columns is None  # neither a CREATE TABLE of templatelinks nor a column list
        with pytest.raises(SqlDumpParseError, match="no CREATE TABLE of templatelinks"):
            list(dump.rows(("tl_from",)))


# --------------------------------------------------------------------------------------------------
# Ingestion of a run's tables
# --------------------------------------------------------------------------------------------------


def test_ingest_table_writes_the_columns_of_either_shape(tmp_path):
    for shape, row, expected in (
        ("names", {"tl_from": 1, "tl_namespace": 10, "tl_title": "Cite_web"}, (1, 10, "Cite_web", None)),
        ("linktarget", {"tl_from": 1, "tl_target_id": 5}, (1, None, None, 5)),
    ):
        path = tmp_path / f"{shape}.sql.gz"
        path.write_bytes(gzip.compress(mysqldump_table("enwiki", "templatelinks", [row], COMPLETED, shape=shape)))
        result = ingest_table(path, "templatelinks", tmp_path / f"{shape}.parquet")
        assert (result.shape, result.rows) == (shape, 1)
        table = pq.read_table(result.path)
        assert tuple(table.to_pylist()[0].values()) == expected


def test_ingest_table_refuses_a_table_without_the_columns(tmp_path):
    path = tmp_path / "x.sql"
    path.write_bytes(b"CREATE TABLE `user_groups` (\n  `ug_foo` int NOT NULL\n);\n-- Dump completed\n")
    with pytest.raises(DumpParseError, match=r"none of the columns wme reads: \(ug_user, ug_group\)"):
        ingest_table(path, "user_groups", tmp_path / "x.parquet")


def test_table_files_finds_tables_by_name_and_says_why_others_are_skipped():
    status = parse_status(b"""{"jobs": {
      "categorylinkstable": {"status": "done", "files": {"xwiki-20250201-categorylinks.sql.gz":
          {"size": 10, "md5": "a"}}},
      "templatelinkstable": {"status": "failed", "files": {"xwiki-20250201-templatelinks.sql.gz": {"size": 1}}},
      "pagepropstable": {"status": "done", "files": {"xwiki-20250201-page_props.sql.gz": {"size": 1, "md5": "b"}}}
    }, "version": "0.8"}""")
    found, skipped = table_files(status, "xwiki", "20250201")
    assert found == {"categorylinks": "xwiki-20250201-categorylinks.sql.gz"}
    assert skipped == {
        "templatelinks": "its job templatelinkstable is failed",
        "linktarget": "not in this dump run",
        "page_restrictions": "not in this dump run",
        "user_groups": "not in this dump run",
        "wbc_entity_usage": "not in this dump run",
    }
