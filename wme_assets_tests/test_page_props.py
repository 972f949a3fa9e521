"""Tests of the page_props SQL dump parser.

The real file is the ``page_props.sql.gz`` that ``build_dumps_mirror`` writes for the enwiki Wikimedia
Enterprise records (four real pages with their real Wikidata items); the edge cases are hand-written
SQL, parsed whole, cut at every byte and split at every possible chunk boundary.
"""

from __future__ import annotations

import gzip
import io
import re

import pytest

from wme_assets.devtools.mirror import (
    build_dumps_mirror,
    enterprise_dump_date,
    export_xml_from_enterprise_records,
    page_props_from_enterprise_records,
    read_enterprise_records,
)
from wme_assets.ingestion import sql_dump as sql_dump_module
from wme_assets.ingestion.page_props import (
    PageProp,
    PagePropsParseError,
    WikibaseItems,
    iter_page_props,
    wikibase_items,
)
from wme_assets_tests.paths import FIXTURES

ENWIKI_QIDS = {736: "Q937", 72671: "Q567", 255083: "Q151972", 3434750: "Q30"}

pytestmark = pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"fixtures not found at {FIXTURES}")


@pytest.fixture(scope="module")
def enwiki_records():
    return read_enterprise_records(FIXTURES / "wme-articles" / "enwiki")


@pytest.fixture(scope="module")
def enwiki_run(tmp_path_factory, enwiki_records):
    return build_dumps_mirror(
        tmp_path_factory.mktemp("enwiki-mirror"),
        "enwiki",
        enterprise_dump_date(enwiki_records),
        export_xml_from_enterprise_records(enwiki_records, dbname="enwiki"),
        page_props=page_props_from_enterprise_records(enwiki_records),
    )


class SplitReader(io.RawIOBase):
    """Returns ``data`` in two reads, split at ``cut``: forces a chunk boundary exactly there."""

    def __init__(self, data: bytes, cut: int) -> None:
        self._pieces = [data[:cut], data[cut:]]

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while self._pieces:
            piece = self._pieces[0]
            if not piece:
                self._pieces.pop(0)
                continue
            take = piece if size is None or size < 0 else piece[:size]
            self._pieces[0] = piece[len(take) :]
            return take
        return b""

    def readinto(self, b) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


# Hand-written mysqldump output: every escape, separators and parentheses inside strings, a doubled
# quote, whitespace between tokens, a float sort key, a table definition whose default value looks like
# rows, and a comment line that looks like SQL.
TRICKY_SQL = (
    b"/*M!999999\\- enable the sandbox mode */ \n"
    b"-- MariaDB dump 10.19\n"
    b"CREATE TABLE `page_props` (\n  `pp_page` int(10) unsigned NOT NULL,\n"
    b"  `pp_propname` varbinary(60) NOT NULL DEFAULT '',\n"
    b"  `pp_value` blob NOT NULL DEFAULT ';),(',\n  `pp_sortkey` float DEFAULT NULL,\n"
    b"  PRIMARY KEY (`pp_page`,`pp_propname`)\n) ENGINE=InnoDB;\n"
    b"/*!40000 ALTER TABLE `page_props` DISABLE KEYS */;\n"
    b"INSERT INTO `page_props` VALUES (1,'wikibase_item','Q42',NULL),"
    b"(1,'displaytitle','It\\'s (a), \\\"b\\\"; c',NULL),"
    b"(2,'defaultsort','back\\\\slash \\0\\b\\n\\r\\t\\Z end',1.5e3),"
    b"(3,'page_image_free','%\\% \\_ \\q',-2),"
    b"(4,'notoc','',NULL),(5,'wikibase_item','Q5',NULL);\n"
    b"INSERT INTO `page_props` VALUES ( 6 , 'wikibase_item' , 'Q6' , NULL ) ,(7,'x','it''s',NULL);\n"
    b"INSERT INTO `page_props` VALUES (8,'wikibase_item','Q8',NULL),(9,'unicode','\xe0\xa6\xac\xe0\xa6\xbe\\'',NULL);\n"
    b"/*!40000 ALTER TABLE `page_props` ENABLE KEYS */;\n"
    b"\n-- Dump completed on 2023-05-01  0:00:00\n"
)
TRICKY_ROWS = [
    PageProp(1, "wikibase_item", "Q42"),
    PageProp(1, "displaytitle", 'It\'s (a), "b"; c'),
    PageProp(2, "defaultsort", "back\\slash \x00\x08\n\r\t\x1a end"),
    PageProp(3, "page_image_free", "%\\% \\_ q"),  # MySQL keeps the backslash of \% and \_
    PageProp(4, "notoc", ""),
    PageProp(5, "wikibase_item", "Q5"),
    PageProp(6, "wikibase_item", "Q6"),
    PageProp(7, "x", "it's"),
    PageProp(8, "wikibase_item", "Q8"),
    PageProp(9, "unicode", "বা'"),
]


def parse(data: bytes, **kwargs) -> list[PageProp]:
    return list(iter_page_props(io.BytesIO(data), name="test.sql", **kwargs))


# --------------------------------------------------------------------------------------------------
# The real file
# --------------------------------------------------------------------------------------------------


def test_real_enwiki_page_props(enwiki_run):
    path = enwiki_run.page_props_file.path
    assert path.name == "enwiki-20250201-page_props.sql.gz"
    rows = list(iter_page_props(path))
    assert rows == [PageProp(page_id, "wikibase_item", qid) for page_id, qid in ENWIKI_QIDS.items()]
    items = wikibase_items(path)
    assert items == ENWIKI_QIDS
    assert dict(items) == ENWIKI_QIDS
    assert items[736] == "Q937" and items.get(1) is None and 3434750 in items and len(items) == 4


def test_real_enwiki_qids_match_the_records(enwiki_run, enwiki_records):
    # The mirror's page_props come from the records' main_entity: the parser must give them back.
    assert wikibase_items(enwiki_run.page_props_file.path) == page_props_from_enterprise_records(
        enwiki_records
    )


def test_mirror_writer_escaping_round_trips(tmp_path, enwiki_records):
    # The mirror's own mysqldump escaping (a different implementation) read back by the parser.
    tricky = {
        1: "it's (a), b; c",
        2: 'back\\slash "quoted"',
        3: "line\nbreak\r\x00nul\x1aZ",
        4: "'),(999,'wikibase_item','Q1',NULL);",
        5: "বাংলা",
    }
    run = build_dumps_mirror(
        tmp_path,
        "enwiki",
        "20250201",
        export_xml_from_enterprise_records(enwiki_records, dbname="enwiki"),
        page_props=tricky,
    )
    assert wikibase_items(run.page_props_file.path) == tricky


def test_empty_table_dump(tmp_path, enwiki_records):
    run = build_dumps_mirror(
        tmp_path, "enwiki", "20250201", export_xml_from_enterprise_records(enwiki_records, dbname="enwiki")
    )
    assert list(iter_page_props(run.page_props_file.path)) == []
    assert len(wikibase_items(run.page_props_file.path)) == 0


# --------------------------------------------------------------------------------------------------
# Tokenizer edge cases
# --------------------------------------------------------------------------------------------------


def test_tricky_values():
    assert parse(TRICKY_SQL) == TRICKY_ROWS


def test_tricky_values_gzip_bz2_xz():
    import bz2
    import lzma

    for compress in (gzip.compress, bz2.compress, lzma.compress):
        assert parse(compress(TRICKY_SQL)) == TRICKY_ROWS


def test_propnames_filter():
    assert parse(TRICKY_SQL, propnames=["wikibase_item"]) == [
        r for r in TRICKY_ROWS if r.propname == "wikibase_item"
    ]
    assert parse(TRICKY_SQL, propnames=["notoc", "x"]) == [TRICKY_ROWS[4], TRICKY_ROWS[7]]
    assert parse(TRICKY_SQL, propnames=[]) == []
    assert parse(TRICKY_SQL, propnames="notoc") == [TRICKY_ROWS[4]]


def test_every_chunk_boundary():
    # A boundary after each byte: inside numbers, strings, escapes, '' pairs, keywords and comments.
    for cut in range(len(TRICKY_SQL) + 1):
        rows = list(iter_page_props(SplitReader(TRICKY_SQL, cut), name="split.sql"))
        assert rows == TRICKY_ROWS, f"split at byte {cut}"


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 5, 8, 13, 64])
def test_tiny_chunks(chunk_size):
    assert parse(TRICKY_SQL, chunk_size=chunk_size) == TRICKY_ROWS
    assert parse(gzip.compress(TRICKY_SQL), chunk_size=chunk_size) == TRICKY_ROWS


def test_complete_insert_column_list_and_variants():
    sql = (
        b"INSERT IGNORE INTO `page_props` (`pp_propname`, `pp_sortkey`, `pp_value`, `pp_page`) VALUES "
        b"('wikibase_item',NULL,'Q1',10),('defaultsort',2.5,'B',11);\n"
        b"REPLACE INTO page_props VALUES (12,'wikibase_item','Q12',NULL);\n"
        b"-- Dump completed\n"
    )
    assert parse(sql) == [
        PageProp(10, "wikibase_item", "Q1"),
        PageProp(11, "defaultsort", "B"),
        PageProp(12, "wikibase_item", "Q12"),
    ]


def test_three_column_table_of_old_dumps():
    """Before MediaWiki 1.23 page_props had no pp_sortkey: with or without its CREATE TABLE."""
    rows = b"INSERT INTO `page_props` VALUES (8,'wikibase_item','Q8'),(9,'x','y');\n-- Dump completed\n"
    definition = (
        b"CREATE TABLE `page_props` (\n  `pp_page` int(11) NOT NULL,\n  `pp_propname` varbinary(60) NOT NULL,\n"
        b"  `pp_value` blob NOT NULL,\n  UNIQUE KEY `pp_page_propname` (`pp_page`,`pp_propname`)\n) ENGINE=InnoDB;\n"
    )
    expected = [PageProp(8, "wikibase_item", "Q8"), PageProp(9, "x", "y")]
    assert parse(rows) == expected
    assert parse(definition + rows) == expected
    with pytest.raises(PagePropsParseError, match="row has 4 values, expected 3"):
        parse(definition + b"INSERT INTO `page_props` VALUES (8,'wikibase_item','Q8',NULL);\n-- Dump completed\n")


def test_hex_blobs_and_raw_values():
    sql = (
        b"INSERT INTO `page_props` VALUES (1,'kartographer',0x1F8B00FF,NULL),(2,'x','',NULL),(3,'y',0xABC,NULL);\n"
        b"-- Dump completed\n"
    )
    assert parse(sql, raw_values=True) == [
        PageProp(1, "kartographer", b"\x1f\x8b\x00\xff"),
        PageProp(2, "x", b""),
        PageProp(3, "y", b"\x0a\xbc"),  # MySQL pads an odd number of hex digits on the left
    ]
    # As text, bytes that are not UTF-8 are replaced rather than failing the whole dump.
    assert parse(sql)[0].value == "\x1f\ufffd\x00\ufffd"


def test_rows_spanning_many_chunks():
    long_value = "(x), 'y' ;" * 50_000
    escaped = long_value.replace("'", "\\'").encode()
    sql = (
        b"INSERT INTO `page_props` VALUES (1,'big','"
        + escaped
        + b"',NULL),(2,'wikibase_item','Q2',NULL);\n-- Dump completed\n"
    )
    assert parse(sql, chunk_size=4096) == [PageProp(1, "big", long_value), PageProp(2, "wikibase_item", "Q2")]


# --------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------


def test_truncated_at_every_byte():
    """Every cut before the end of the ``-- Dump completed`` line is refused, with a sane offset."""
    trailer_end = TRICKY_SQL.index(b"-- Dump completed") + len(b"-- Dump completed")
    for cut in range(trailer_end):
        truncated = TRICKY_SQL[:cut]
        got: list[PageProp] = []
        with pytest.raises(PagePropsParseError) as info:
            got.extend(iter_page_props(io.BytesIO(truncated), name="cut.sql"))
        err = info.value
        assert err.name == "cut.sql" and "cut.sql" in str(err), cut
        assert err.offset_kind == "decompressed"
        assert 0 <= err.offset <= cut, (cut, err)
        assert f"offset {err.offset}" in str(err)
        assert "truncated" in str(err), (cut, str(err))
        # What was yielded before the fault is a correct prefix of the real rows.
        assert got == TRICKY_ROWS[: len(got)], cut
        if got:
            assert err.last_page_id == got[-1].page_id
    # From the end of the trailer on, the dump is complete.
    for cut in range(trailer_end, len(TRICKY_SQL) + 1):
        assert parse(TRICKY_SQL[:cut]) == TRICKY_ROWS


def test_cut_inside_a_row_points_at_that_row():
    sql = b"INSERT INTO `page_props` VALUES (1,'wikibase_item','Q1',NULL),(2,'wikibase_item','Q"
    with pytest.raises(PagePropsParseError, match="ends inside an INSERT") as info:
        parse(sql)
    assert info.value.offset == sql.index(b"(2,")
    assert info.value.last_page_id == 1


def test_truncated_gzip_names_the_compressed_offset(tmp_path, enwiki_run):
    data = enwiki_run.page_props_file.path.read_bytes()
    cut = tmp_path / "enwiki-20250201-page_props.sql.gz"
    cut.write_bytes(data[: len(data) - 20])
    with pytest.raises(PagePropsParseError) as info:
        list(iter_page_props(cut))
    err = info.value
    assert str(cut) in str(err) and err.offset_kind == "compressed"
    assert 0 < err.offset <= len(data) - 20
    assert "truncated or corrupt" in str(err)


def test_missing_trailer_is_refused_unless_asked():
    sql = b"INSERT INTO `page_props` VALUES (1,'wikibase_item','Q1',NULL);\n"
    with pytest.raises(PagePropsParseError, match="Dump completed") as info:
        parse(sql)
    assert info.value.offset == len(sql)
    assert parse(sql, require_complete=False) == [PageProp(1, "wikibase_item", "Q1")]


@pytest.mark.parametrize(
    ("sql", "message", "at"),
    [
        (b"INSERT INTO `page_props` VALUES (1,'a','b',NULL)x", "expected ',' or ';'", b"x\n"),
        (b"INSERT INTO `page_props` VALUES (1,'a','b',NULL),,", "expected '('", b",\n-- Dump"),
        (b"INSERT INTO `page_props` VALUES (1,'a' 'b',NULL);", "expected ',' or ')'", b"'b'"),
        (b"INSERT INTO `page_props` VALUES ('1','a','b',NULL);", "pp_page is not an integer", b"('1'"),
        (b"INSERT INTO `page_props` VALUES (1,2,'b',NULL);", "pp_propname is not a string", b"(1,2"),
        (b"INSERT INTO `page_props` VALUES (1,'a','b',NULL,5);", "row has 5 values", b"(1,"),
        (b"INSERT INTO `page_props` VALUES (1,'a',@x,NULL);", "malformed value", b"@x"),
        (b"INSERT INTO `page` VALUES (1,'a','b',NULL);", "table 'page'", b"INSERT"),
        (b"INSERT INTO `page_props` (`pp_page`) VALUES (1);", "has no column pp_propname, pp_value", b"INSERT"),
        (b"INSERT INTO `page_props` VALUS (1,'a','b',NULL);", "malformed INSERT", b"INSERT"),
    ],
)
def test_malformed_input_names_file_and_offset(sql, message, at):
    data = b"-- header\n" + sql + b"\n-- Dump completed\n"
    with pytest.raises(PagePropsParseError, match=re.escape(message)) as info:
        list(iter_page_props(io.BytesIO(data), name="bad.sql"))
    assert info.value.offset == data.index(at)
    assert str(info.value).startswith("bad.sql: ")


def test_unterminated_string_is_bounded(monkeypatch):
    # A string that never closes must not pull the whole file into memory.
    monkeypatch.setattr(sql_dump_module, "MAX_ROW_BYTES", 10_000)
    sql = b"INSERT INTO `page_props` VALUES (1,'a','" + b"x" * 50_000 + b"\n-- Dump completed\n"
    with pytest.raises(PagePropsParseError, match="longer than 10000 bytes") as info:
        parse(sql, chunk_size=1024)
    assert info.value.offset == sql.index(b"(1,")


# --------------------------------------------------------------------------------------------------
# WikibaseItems
# --------------------------------------------------------------------------------------------------


def test_wikibase_items_mapping_unsorted_duplicates_and_odd_values():
    items = WikibaseItems([(30, "Q3"), (10, "Q1"), (20, "Q2"), (10, "Q999"), (40, "not-a-qid")])
    assert items == {10: "Q1", 20: "Q2", 30: "Q3", 40: "not-a-qid"}  # the first row of page 10 wins
    assert list(items) == [10, 20, 30, 40]
    assert 25 not in items and "10" not in items
    with pytest.raises(KeyError):
        items[25]
