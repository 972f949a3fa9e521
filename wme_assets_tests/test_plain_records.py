"""The Structured Contents line written from plain data equals the one pydantic's model wrote, on real pages.

:func:`~wme_assets.schema.plain_records.plain_record_encoder` replaces ``StructuredContent.model_validate`` +
``to_json_bytes`` in the enrichment. Every record the enrichment builds from the fixtures' real pages (the
wikitext path and the Parsoid HTML path, several languages, long articles with tables and references) is
written both ways here and must give the same bytes; a record that breaks the schema must still be refused.
"""

from __future__ import annotations

import lzma
from datetime import UTC, datetime

import orjson
import pytest

from wme_assets.enrichment import article as article_module
from wme_assets.enrichment.article import Site, build_article
from wme_assets.enrichment.wikitext import WikiNames, extract_wikitext_fields
from wme_assets.ingestion.dump_xml import DumpReader
from wme_assets.ingestion.run import siteinfo_record
from wme_assets.schema import StructuredContent, to_json_bytes
from wme_assets.schema.plain_records import plain_record_encoder
from wme_assets.schema.validate import RecordInvalid
from wme_assets_tests.paths import FIXTURES

PAGES_PER_DUMP = 120


def _enterprise_pages():
    """(row, site, html) of the 12 real Enterprise records: their wikitext, and again with their HTML."""
    for path in sorted((FIXTURES / "wme-articles").glob("*/*.json.xz")):
        with lzma.open(path) as fh:
            record = orjson.loads(fh.read())
        dbname = path.parent.name
        site = Site(dbname=dbname, language=record["in_language"]["identifier"],
                    base_url=record["is_part_of"].get("url", ""), names=WikiNames.for_wiki(dbname))
        row = {"title": record["name"], "page_id": record["identifier"], "namespace": 0,
               "text": record["article_body"]["wikitext"], "revision_id": record["version"]["identifier"],
               "timestamp": record["date_modified"],
               "wikibase_item": (record.get("main_entity") or {}).get("identifier")}
        yield row, site, None
        if record["article_body"].get("html"):
            yield row, site, record["article_body"]["html"]


def _dump_pages():
    """(row, site, None) of the first main-namespace pages of each truncated dump (7 languages)."""
    for path in sorted((FIXTURES / "xztextfilter-truncated-dumps").glob("*-truncated-100k.xml.xz")):
        with DumpReader(path, keep_partial=True) as reader:
            site = Site.from_siteinfo(siteinfo_record(reader.siteinfo))
            taken = 0
            for page in reader:
                if page.ns != 0 or page.redirect_target or not page.latest or not page.latest.text:
                    continue
                yield {"title": page.title, "page_id": page.id, "namespace": 0, "text": page.latest.text,
                       "revision_id": page.latest.id, "timestamp": page.latest.timestamp}, site, None
                taken += 1
                if taken == PAGES_PER_DUMP:
                    break


def _wtf_pages():
    site = Site(dbname="enwiki", language="en", base_url="https://en.wikipedia.org", names=WikiNames.for_wiki("enwiki"))
    for number, path in enumerate(sorted((FIXTURES / "wtf_wikipedia-wikitext").glob("*.txt")), 1):
        yield {"title": path.stem.replace("_", " "), "page_id": number, "namespace": 0,
               "text": path.read_text(encoding="utf-8"), "revision_id": number,
               "timestamp": datetime(2023, 5, 1, 12, 30, tzinfo=UTC)}, site, None


def test_plain_structured_contents_equal_the_models_bytes_on_real_pages(monkeypatch):
    encode = article_module._encode_structured
    seen: list[tuple[dict, bytes]] = []
    monkeypatch.setattr(article_module, "_encode_structured", lambda record: seen.append((record, encode(record)))
                        or seen[-1][1])
    sources = {"enterprise": 0, "dumps": 0, "wtf": 0}
    for source, pages in (("enterprise", _enterprise_pages()), ("dumps", _dump_pages()), ("wtf", _wtf_pages())):
        for row, site, html in pages:
            fields = extract_wikitext_fields(row["text"], site.names, dbname=site.dbname)
            built = build_article(dict(row), fields, site, html=html)
            assert built.structured_json == seen[-1][1]
            sources[source] += 1
    assert sources["enterprise"] >= 20 and sources["dumps"] >= 6 * PAGES_PER_DUMP and sources["wtf"] >= 60, sources
    differing = []
    parts = 0
    for record, written in seen:
        expected = to_json_bytes(StructuredContent.model_validate(record))
        if written != expected:
            differing.append((record["name"], written[:200], expected[:200]))
        parts += written.count(b'"type":')
    assert not differing, differing[:3]
    assert parts > 50_000  # the records are big: sections, references and tables were written both ways


def test_plain_encoder_keeps_the_rules_on_edge_values():
    encode = plain_record_encoder(StructuredContent, "structured-content")
    record = {
        "name": "X", "identifier": 7, "unknown": "dropped", "image": None,
        "date_modified": "2025-01-24T12:49:16.206500+01:00",  # normalised to UTC, trailing zeros cut
        "version": {"identifier": 3, "editor": {"identifier": 0, "name": "", "is_anonymous": False}},
        "references": [{"identifier": "a", "metadata": {}, "text": {"value": ""}, "type": "web"}],
        "tables": [{"identifier": "t", "rows": [[{"value": ""}, {"value": "1"}]], "confidence_score": 1.0,
                    "footers": []}],
        "sections": [{"type": "section", "name": "S", "has_parts": [], "table_references": [
            {"identifier": "t", "confidence_score": 0.0}]}],
    }
    written = encode(record)
    assert written == to_json_bytes(StructuredContent.model_validate(record))
    assert b'"date_modified":"2025-01-24T11:49:16.2065Z"' in written
    assert b'"text":{}' in written and b'"confidence_score":1}]' in written and b'"confidence_score":0}' in written
    assert b"unknown" not in written and b'"editor":{}' in written


@pytest.mark.parametrize(
    ("record", "where"),
    [
        ({"name": "X", "sections": [{"name": "S", "value": 12}]}, "sections/0/value"),
        ({"name": "X", "references": [{"metadata": {"title": ["not", "text"]}}]}, "references/0/metadata/title"),
        ({"name": "X", "date_modified": "yesterday"}, None),
    ],
)
def test_plain_encoder_refuses_a_record_that_breaks_the_schema(record, where):
    encode = plain_record_encoder(StructuredContent, "structured-content")
    with pytest.raises((RecordInvalid, ValueError)) as raised:
        encode(record)
    if where:
        assert isinstance(raised.value, RecordInvalid) and where in str(raised.value)
