"""Structured Contents ``tables`` from wikitext (``{| … |}``), and the sections' ``table_references``.

Behaviour is checked on real pages of ``shared/fixtures`` (wtf_wikipedia's article cache, the truncated
dumps, the Enterprise article records); synthetic wikitext only for malformed tables.
"""

from __future__ import annotations

import json
import logging
import lzma
import re
import time
from collections.abc import Iterator

import pytest

from wme_assets.enrichment.article import Site, build_article
from wme_assets.enrichment.wikitext import WikiNames, WikitextFields, extract_wikitext_fields
from wme_assets.ingestion.dump_xml import DumpReader
from wme_assets.schema import StructuredContent
from wme_assets_tests.paths import FIXTURES

WTF = FIXTURES / "wtf_wikipedia-wikitext"
EN = WikiNames.for_wiki("enwiki")


def extract(text: str) -> WikitextFields:
    return extract_wikitext_fields(text, EN, dbname="enwiki")


def values(rows: list[list[dict]]) -> list[list[str]]:
    return [[cell["value"] for cell in row] for row in rows]


def all_cells(table: dict) -> Iterator[dict]:
    for row in table["headers"] + table["rows"] + table["footers"]:
        for cell in row:
            yield cell
            if cell.get("nested_table"):
                yield from all_cells(cell["nested_table"])


def table_references(parts: list[dict]) -> Iterator[tuple[str, dict]]:
    for part in parts:
        for ref in part.get("table_references", []):
            yield part["name"], ref
        yield from table_references(part.get("has_parts", []))


def real_pages() -> Iterator[tuple[str, str, WikiNames]]:
    """(name, wikitext, names) of every real page with a table: wtf_wikipedia, then up to 60 pages
    per truncated dump."""
    for path in sorted(WTF.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        if "{|" in text:
            yield path.stem, text, WikiNames.for_wiki("dewiki" if "[[Kategorie:" in text else "enwiki")
    logging.getLogger("wme_assets.ingestion.dump_xml").setLevel(logging.ERROR)
    for path in sorted((FIXTURES / "xztextfilter-truncated-dumps").glob("*-truncated-100k.xml.xz")):
        with DumpReader(path, keep_partial=True) as reader:
            names = WikiNames.from_siteinfo(reader.siteinfo)
            found = 0
            for page in reader:
                text = (page.latest.text or "") if page.latest else ""
                if page.ns == 0 and "{|" in text:
                    yield f"{path.name}:{page.title}", text, names
                    found += 1
                    if found == 60:
                        break


# --------------------------------------------------------------------------------------------------
# Real pages


def test_rowspans_are_repeated_into_the_rows_they_cover():
    """Ewelina Setowska-Dryk's competition record: year, event and venue span two to four rows."""
    fields = extract((WTF / "Ewelina-Setowska-Dryk.txt").read_text(encoding="utf-8"))
    [table] = fields.tables
    assert table["identifier"] == "table-1"
    assert table["confidence_score"] == 1.0
    assert len(table["headers"]) == 1 and len(table["headers"][0]) == 6  # '!colspan="6"|Representing {{POL}}'
    assert values(table["rows"][:3]) == [
        ["2003", "Universiade", "Daegu, South Korea", "7th", "400 m hurdles", "57.92"],
        ["2003", "Universiade", "Daegu, South Korea", "2nd", "4x400 m relay", "3:38.17"],
        ["2005", "European Indoor Championships", "Madrid, Spain", "12th (sf)", "800 m", "2:11.43"],
    ]
    assert {len(row) for row in table["rows"]} == {6}
    # "== Competition record ==" holds only the table: like Enterprise, no section for it (the table
    # stays in `tables`, referenced from nowhere)
    assert [s["name"] for s in fields.sections] == ["Abstract"]
    assert list(table_references(fields.sections)) == []


def test_nested_tables_hang_off_their_cell():
    """Washington Nationals' 2017 game log: an outer table whose month cells each hold a table of games."""
    fields = extract((WTF / "washington-nationals.txt").read_text(encoding="utf-8"))
    game_log = fields.tables[1]
    months = [row[0] for row in game_log["rows"]]
    assert [m["value"].split(":")[0] for m in months] == ["April", "May", "June", "July", "August", "September/October"]
    april = months[0]["nested_table"]
    assert april["identifier"] == "table-2.1"
    assert values(april["headers"]) == [
        ["#", "Date", "Opponent", "Score", "Win", "Loss", "Save", "Attendance", "Record"]
    ]
    # '| 1 || April 3 || [[2017 Miami Marlins season|Marlins]] || 4–2 || '''[[Stephen Strasburg|Strasburg]]''' (1–0) …'
    assert values(april["rows"][:1]) == [
        ["1", "April 3", "Marlins", "4–2", "Strasburg (1–0)", "Phelps (0–1)", "Treinen (1)", "42,744", "1–0"]
    ]
    assert [t["identifier"] for t in fields.tables] == ["table-1", "table-2"]
    # the nested tables' games are not in the month cell's own text
    assert "Marlins" not in months[0]["value"]


def test_a_table_only_subsection_hands_its_table_to_the_parent_section():
    fields = extract("Lead.\n== Life ==\nLife text.\n=== Only a table ===\n{|\n|cell\n|}\n== Work ==\nWork.\n")
    life = fields.sections[1]
    assert life["name"] == "Life" and [p["type"] for p in life["has_parts"]] == ["paragraph"]
    assert life["table_references"] == [{"identifier": "table-1", "confidence_score": 1.0}]


def test_real_tables_are_plain_text_consistent_and_referenced():
    pages = tables = referenced = 0
    for name, text, names in real_pages():
        fields = extract_wikitext_fields(text, names)
        pages += 1
        tables += len(fields.tables)
        ids = [t["identifier"] for t in fields.tables]
        assert ids == [f"table-{i}" for i in range(1, len(ids) + 1)], name
        by_id = {t["identifier"]: t for t in fields.tables}
        for section, ref in table_references(fields.sections):
            assert ref["confidence_score"] == by_id[ref["identifier"]]["confidence_score"], (name, section)
            referenced += 1
        for table in fields.tables:
            assert 0 < table["confidence_score"] <= 1, name
            assert table["headers"] or table["rows"], name
            for cell in all_cells(table):
                # cell text is rendered: no link, template, bold or table markup left (an unclosed
                # "[[" stays, as MediaWiki shows it)
                assert not re.search(r"\[\[[^\[\]]*\]\]|\{\{[^{}]*\}\}|'''|^\s*\|\}", cell["value"]), (
                    name,
                    cell["value"],
                )
                assert cell["value"] == cell["value"].strip(), name
        assert extract_wikitext_fields(text, names).tables == fields.tables, name  # deterministic
    print(f"\n{pages} pages, {tables} tables, {referenced} referenced from a section")
    # most tables sit in a section with text; the rest are in table-only top-level sections
    assert pages >= 100 and tables >= 200 and referenced >= tables // 2, (pages, tables, referenced)


def test_enterprise_records_carry_tables_in_structured_contents():
    """build_article puts the tables in the Structured Contents record and it validates."""
    with_tables = 0
    for path in sorted((FIXTURES / "wme-articles").glob("*/*.json.xz")):
        with lzma.open(path, "rt", encoding="utf-8") as fh:
            record = json.load(fh)
        dbname = path.parent.name
        names = WikiNames.for_wiki(dbname)
        wikitext = record["article_body"]["wikitext"]
        fields = extract_wikitext_fields(wikitext, names)
        site = Site(
            dbname=dbname,
            language=record["in_language"]["identifier"],
            base_url=record["is_part_of"].get("url", ""),
            names=names,
        )
        row = {
            "title": record["name"],
            "page_id": record["identifier"],
            "namespace": 0,
            "text": wikitext,
            "revision_id": record["version"]["identifier"],
            "timestamp": record["date_modified"],
        }
        structured = json.loads(build_article(row, fields, site).structured_json)
        StructuredContent.model_validate(structured)
        assert len(structured.get("tables", [])) == len(fields.tables)
        referenced = {ref["identifier"] for _name, ref in table_references(structured["sections"])}
        assert referenced <= {t["identifier"] for t in structured.get("tables", [])}
        with_tables += bool(fields.tables)
    assert with_tables >= 3


# --------------------------------------------------------------------------------------------------
# Malformed tables (synthetic on purpose: real pages rarely have them)


def test_unclosed_table_runs_to_the_end_with_lower_confidence():
    fields = extract('Lead text.\n\n== Results ==\n{| class="wikitable"\n! Year !! Title\n|-\n| 2001 || [[Foo|Bar]]\n')
    [table] = fields.tables
    assert values(table["headers"]) == [["Year", "Title"]]
    assert values(table["rows"]) == [["2001", "Bar"]]
    assert table["confidence_score"] < 1.0


def test_stray_table_closer_is_ignored():
    fields = extract("Lead text.\n|}\nMore text about [[Things]].\n")
    assert fields.tables == []
    assert "More text about Things" in fields.sections[0]["has_parts"][0]["value"]


def test_empty_table_is_left_out():
    assert extract('Lead.\n{|\n|}\n\n{| class="wikitable"\n|-\n|}\n').tables == []


def test_colspan_and_rowspan_fill_the_grid_and_huge_spans_are_capped():
    fields = extract(
        '{|\n! colspan="2" | A\n|-\n| rowspan=2 | x || y\n|-\n| z\n|}\n{|\n| colspan=999999999 | wide\n|}\n'
    )
    first, wide = fields.tables
    assert values(first["headers"]) == [["A", "A"]]
    assert values(first["rows"]) == [["x", "y"], ["x", "z"]]
    assert first["confidence_score"] == 1.0
    assert 1 < len(wide["rows"][0]) <= 1000
    assert wide["confidence_score"] < 1.0


def test_template_arguments_on_their_own_lines_are_not_cells():
    fields = extract("{|\n| {{sort\n| key\n| shown}}\n| second\n|}\n")
    [table] = fields.tables
    assert len(table["rows"][0]) == 2


def test_infobox_and_navbox_tables_are_not_data_tables():
    fields = extract('{| class="infobox"\n! Name\n| x\n|}\n{| class="navbox"\n| a\n|}\n{| class="wikitable"\n| b\n|}\n')
    assert [(t["identifier"], values(t["rows"])) for t in fields.tables] == [("table-1", [["b"]])]


def table_shape(table: dict) -> tuple:
    """(identifier, header rows, body rows, row widths, confidence, tables deep through first cells)."""
    depth, inner = 1, table
    while nested := next((c["nested_table"] for row in inner["rows"] for c in row if c.get("nested_table")), None):
        depth, inner = depth + 1, nested
    return (table["identifier"], len(table["headers"]), len(table["rows"]), {len(r) for r in table["rows"]},
            table["confidence_score"], depth)


@pytest.mark.parametrize(
    ("text", "shapes"),
    [
        # one line: only its first "{|" opens a table (a table starts a line), and that table has no cell
        pytest.param("{|" * 5000, [], id="openers-on-one-line"),
        # 5000 unclosed nested tables: one table, unclosed, nested 16 deep (deeper "{|" lines are text)
        pytest.param("{|\n" * 5000, [("table-1", 0, 1, {1}, 0.5, 16)], id="nested-unclosed"),
        # row separators without a table are text
        pytest.param("\n|-" * 10000, [], id="row-separators"),
        # an unclosed table of 20 000 lines of two cells and no "|-": one row of 40 000 cells
        pytest.param("{|\n" + "| a || b\n" * 20000, [("table-1", 0, 1, {40000}, 0.5, 1)], id="one-huge-row"),
    ],
)
def test_hostile_tables_finish_quickly(text, shapes):
    start = time.monotonic()
    fields = extract_wikitext_fields(text, EN, time_budget_s=10)
    elapsed = time.monotonic() - start
    assert elapsed < 5, f"{elapsed:.1f} s"
    assert [table_shape(t) for t in fields.tables] == shapes
