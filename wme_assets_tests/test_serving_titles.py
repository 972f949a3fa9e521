"""Title keys as MediaWiki compares titles, and one project's title index file, on real dump headers and articles.

Pure functions and a local SQLite file: no server. The rules come from the real bnwiki dump's ``<siteinfo>``
(read by wme's own dump reader, as ingestion keeps it), the articles from the real Enterprise fixtures.
"""

from __future__ import annotations

import lzma
import re

import orjson
import pyarrow as pa
import pytest

from wme_assets.ingestion.dump_xml import DumpReader
from wme_assets.ingestion.run import siteinfo_record
from wme_assets.serving.title_index import IndexState, TitleIndexReader, TitleIndexWriter
from wme_assets.serving.titles import TITLE_PATTERN, TitleRules, title_key
from wme_assets.storage.article_store import ARTICLE_SCHEMA
from wme_assets_tests.paths import FIXTURES


@pytest.fixture(scope="module")
def bnwiki_rules() -> TitleRules:
    path = FIXTURES / "xztextfilter-truncated-dumps" / "bnwiki-truncated-100k.xml.xz"
    return TitleRules.from_siteinfo(siteinfo_record(DumpReader(path, keep_partial=True).siteinfo))


def test_spaces_underscores_and_the_first_letter():
    rules = TitleRules()
    assert title_key("albert_einstein", rules) == "Albert einstein"
    assert title_key("  Albert__ _Einstein ", rules) == "Albert Einstein"
    assert title_key("AC/DC", rules) == "AC/DC"
    assert title_key("émile Zola", rules) == "Émile Zola"
    wiktionary = TitleRules.for_family("wiktionary")
    assert title_key("dictionary_word", wiktionary) == "dictionary word"
    assert TitleRules.for_family("wiki").first_letter


def test_namespace_prefixes_of_the_real_siteinfo(bnwiki_rules):
    category = "বিষয়শ্রেণী"  # bnwiki's namespace 14, from the dump header
    assert bnwiki_rules.first_letter
    assert title_key(f"{category}:x_y", bnwiki_rules) == f"{category}:X y"
    assert title_key(f" {category} : x", bnwiki_rules) == f"{category}:X"
    assert title_key("Nothing:at all", bnwiki_rules) == "Nothing:at all"  # not a namespace: part of the title
    # A case-sensitive namespace of the same wiki (2300, Gadget) keeps its first letter as written.
    gadget = next(name for name, (_, first) in bnwiki_rules.namespaces.items() if not first)
    assert title_key(f"{gadget}:abc", bnwiki_rules).endswith(":abc")
    assert TitleRules.from_json(orjson.loads(orjson.dumps(bnwiki_rules.to_json()))) == bnwiki_rules


def test_the_title_pattern_refuses_what_mediawiki_never_allows():
    pattern = re.compile(TITLE_PATTERN)
    for good in ("Albert Einstein", "AC/DC", "C++", "Ελλάδα", "50%"):
        assert pattern.match(good), good
    for bad in ("a#b", "a[b]", "{x}", "a|b", "a<b", "x\x00", "tab\there", ""):
        assert not pattern.match(bad), bad


def _article(project: str, stem: str) -> dict:
    with lzma.open(FIXTURES / "wme-articles" / project / f"{stem}.json.xz") as fh:
        return orjson.loads(fh.read())


def _batch(rows: list[dict]) -> pa.RecordBatch:
    schema = pa.schema([ARTICLE_SCHEMA.field(n) for n in ("page_id", "namespace", "name", "revision_id", "op")])
    schema = schema.append(ARTICLE_SCHEMA.field("article")).append(ARTICLE_SCHEMA.field("structured"))
    return pa.RecordBatch.from_pylist(rows, schema=schema)


def _row(article: dict, op: str = "upsert") -> dict:
    return {
        "page_id": article["identifier"], "namespace": 0, "name": article["name"],
        "revision_id": article["version"]["identifier"], "op": op,
        "article": orjson.dumps(article) if op == "upsert" else None, "structured": None,
    }  # fmt: skip


def test_an_index_file_finds_titles_and_redirects_and_follows_deletes(tmp_path):
    einstein, merkel = _article("enwiki", "Albert_Einstein"), _article("enwiki", "Angela_Merkel")
    path = tmp_path / "enwiki.sqlite3"
    writer = TitleIndexWriter(path, create=True)
    state = IndexState(base="20230501", base_digest="d", rules=TitleRules().to_json())
    assert writer.apply([_batch([_row(einstein), _row(merkel)])], TitleRules(), state, fresh=True) == 2
    reader = TitleIndexReader(path)
    hit = reader.lookup("albert_Einstein")
    assert hit.page_id == einstein["identifier"] and hit.article == orjson.dumps(einstein)
    redirect = merkel["redirects"][0]["name"]
    assert reader.lookup(redirect).page_id == merkel["identifier"]
    assert reader.lookup("Angela merkel x") is None

    # A delete removes the page with every title that led to it, in one transaction with the new state.
    later = IndexState(base="20230501", base_digest="d", deltas=["2023050112"], rules=TitleRules().to_json())
    writer.apply([_batch([_row(merkel, op="delete")])], TitleRules(), later)
    assert reader.lookup("Angela Merkel") is None and reader.lookup(redirect) is None
    assert reader.lookup("Albert Einstein").page_id == einstein["identifier"]
    assert writer.state() == later
    writer.close()
    reader.close()
