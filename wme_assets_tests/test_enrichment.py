"""Enrichment from the page store to the article store, on real dumps in real SeaweedFS."""

from __future__ import annotations

import lzma
import tempfile
from collections import defaultdict

import orjson
import pyarrow.parquet as pq
import pytest

from wme_assets.devtools.mirror import (
    build_dumps_mirror,
    export_xml_from_enterprise_records,
    page_props_from_enterprise_records,
    read_enterprise_records,
)
from wme_assets.enrichment.run import (
    EXPORTED_NAMESPACES,
    EnrichResult,
    _eligible_rows,
    _title_key,
    enrich_pages,
    join_redirects,
    redirect_lists,
)
from wme_assets.schema.validate import line_validator
from wme_assets.storage.article_store import iter_current_articles
from wme_assets.storage.page_store import page_store_prefix, read_manifest
from wme_assets.storage.parquet_dataset import cached_files
from wme_assets_tests.chain import ingest_from_mirror

DATE = "20230501"


# Bad input appended to a real dump (synthetic, as bad input may be): a redirect to a page that does not
# exist, two redirects pointing at each other, an empty page, a revision whose text is suppressed, and two
# pages whose lead is markup that renders into no prose (unclosed templates, nested unclosed links).
def _page(title, page_id, body, *, redirect=None, revision_extra="", text=None):
    redirect_xml = f'\n    <redirect title="{redirect}" />' if redirect else ""
    text_xml = text if text is not None else f'<text bytes="{len(body.encode())}" xml:space="preserve">{body}</text>'
    return f"""  <page>
    <title>{title}</title>
    <ns>0</ns>
    <id>{page_id}</id>{redirect_xml}
    <revision>
      <id>{page_id + 1000000}</id>
      <timestamp>2023-04-01T00:00:00Z</timestamp>
      {revision_extra or "<contributor><username>A</username><id>1</id></contributor>"}
      <model>wikitext</model>
      <format>text/x-wiki</format>
      {text_xml}
      <sha1 />
    </revision>
  </page>
"""


BAD_PAGES = "".join(
    [
        _page("অস্তিত্বহীন পুনর্নির্দেশ", 990001, "#পুনর্নির্দেশ [[এমন কোনো পাতা নেই]]", redirect="এমন কোনো পাতা নেই"),
        _page("Loop A", 990002, "#REDIRECT [[Loop B]]", redirect="Loop B"),
        _page("Loop B", 990003, "#REDIRECT [[Loop A]]", redirect="Loop A"),
        _page("খালি পাতা", 990004, "", text='<text bytes="0" xml:space="preserve" />'),
        _page(
            "লুকানো সংশোধন",
            990005,
            "",
            revision_extra='<contributor deleted="deleted" />\n      <comment deleted="deleted" />',
            text='<text deleted="deleted" />',
        ),
        _page("ভাঙা টেমপ্লেট", 990006, "ভূমিকা। " + "{{" * 20_000 + "\n== অংশ ==\nলেখা।"),
        _page("ভাঙা সংযোগ", 990007, "ভূমিকা। " + "[[a|" * 10_000 + "\n[[বিষয়শ্রেণী:পরীক্ষা]]"),
    ]
)


def _articles(store, project):
    with tempfile.TemporaryDirectory() as cache:
        return {pid: orjson.loads(line) for pid, line in iter_current_articles(store, project, cache_dir=cache)}


@pytest.fixture(scope="module")
def bnwiki_with_bad_pages(fixtures_dir, tmp_path_factory):
    text = lzma.open(fixtures_dir / "xztextfilter-truncated-dumps" / "bnwiki-truncated-100k.xml.xz").read()
    export = text[: text.rindex(b"</page>") + 8] + BAD_PAGES.encode() + b"</mediawiki>\n"
    root = tmp_path_factory.mktemp("bad-mirror")
    build_dumps_mirror(root, "bnwiki", DATE, export)
    return root


def test_real_dump_with_bad_pages(object_store, bnwiki_with_bad_pages):
    ingest_from_mirror(object_store, bnwiki_with_bad_pages, "bnwiki", DATE)
    result = enrich_pages(object_store, "bnwiki", DATE, run_id="run-1", workers=2, log=lambda _: None)
    assert not result.quarantined
    # ns 0, 10, 14 + empty + suppressed + the two malformed leads
    assert result.articles == result.eligible_pages == 380 + 14 + 3 + 2 + 2
    articles = _articles(object_store, "bnwiki")
    assert len(articles) == result.articles
    assert not {990001, 990002, 990003} & articles.keys(), "redirects are not articles"
    assert result.redirects_dangling == 68 + 3  # the excerpt's own dangling ones, the missing target, the loop

    empty = articles[990004]
    assert empty["name"] == "খালি পাতা" and "abstract" not in empty and empty["version"]["identifier"] == 1990004
    hidden = articles[990005]
    assert hidden["visibility"] == {"text": False, "editor": False, "comment": False}
    assert "editor" not in hidden["version"]

    # A lead that is not prose: the article is written, without an abstract, and counted per reason.
    assert result.abstracts_withheld == {"template_markup": 1, "link_markup": 1}
    assert result.abstracts_truncated == 0
    assert "abstract" not in articles[990006] and "abstract" not in articles[990007]
    assert articles[990007]["categories"][0]["name"] == "বিষয়শ্রেণী:পরীক্ষা"
    assert sum(bool(a.get("abstract")) for a in articles.values()) > 300  # the dump's own pages keep theirs
    again = enrich_pages(object_store, "bnwiki", DATE, run_id="run-1b", workers=2, log=lambda _: None)
    assert again.up_to_date and again.abstracts_withheld == result.abstracts_withheld

    check = line_validator("article")
    for article in articles.values():
        assert check(orjson.dumps(article)) == []
        assert article["wme"]["provenance"]["run_id"] == "run-1"
        assert article["is_part_of"] == {"identifier": "bnwiki", "url": "https://bn.wikipedia.org"}
        assert article["in_language"] == {"identifier": "bn"}
    # Localized namespace names: Bengali category links are recognised as categories.
    assert any(c["name"].startswith("বিষয়শ্রেণী:") for a in articles.values() for c in a.get("categories", []))


def test_page_over_time_budget_is_quarantined_not_fatal(object_store, bnwiki_with_bad_pages):
    ingest_from_mirror(object_store, bnwiki_with_bad_pages, "bnwiki", DATE)
    result = enrich_pages(
        object_store, "bnwiki", DATE, run_id="run-2", workers=1, time_budget_s=1e-9, log=lambda _: None
    )
    assert result.articles + len(result.quarantined) == result.eligible_pages
    assert result.quarantined and all("ExtractionTimeout" in q.reason for q in result.quarantined)
    lines = object_store.read_bytes(result.quarantine_object.key).splitlines()
    assert len(lines) == len(result.quarantined)
    assert {"page_id", "title", "namespace", "revision_id", "reason"} <= orjson.loads(lines[0]).keys()


def test_enwiki_records_keep_real_wikidata_ids_and_fields(object_store, fixtures_dir, tmp_path):
    records = read_enterprise_records(fixtures_dir / "wme-articles" / "enwiki")
    build_dumps_mirror(
        tmp_path,
        "enwiki",
        "20250201",
        export_xml_from_enterprise_records(records, dbname="enwiki"),
        page_props=page_props_from_enterprise_records(records),
    )
    ingest_from_mirror(object_store, tmp_path, "enwiki", "20250201")
    enrich_pages(object_store, "enwiki", "20250201", run_id="run-3", workers=1, log=lambda _: None)
    articles = _articles(object_store, "enwiki")
    for record in records:
        ours = articles[record["identifier"]]
        assert ours["main_entity"] == record["main_entity"]
        assert ours["version"]["identifier"] == record["version"]["identifier"]
        assert ours["version"]["number_of_characters"] == record["version"]["number_of_characters"]
        assert ours["version"]["size"] == record["version"]["size"]
        assert ours["previous_version"]["identifier"] == record["previous_version"]["identifier"]
        assert ours["url"] == record["url"] and ours["license"] == record["license"]


# Redirects as editors write them, appended to the real viwiki dump: a target with underscores, a lower-case
# first letter and a section; one with spaces around it; two to the same page (their order must be kept).
ODD_REDIRECTS = "".join(
    [
        _page("Thủ đô Việt Nam", 9900001, "#REDIRECT [[hà_Nội#Lịch sử]]", redirect="hà_Nội#Lịch sử"),
        _page("Hanoi", 9900002, "#REDIRECT [[ Hà Nội ]]", redirect=" Hà Nội "),
        _page("Thang Long", 9900003, "#REDIRECT [[Hà Nội]]", redirect="Hà Nội"),
    ]
)


def _reference_redirects(files):
    """The redirects map as it was built in memory before the DuckDB join: the straightforward reference."""
    by_target, articles = defaultdict(list), set()
    for path in files:
        table = pq.read_table(path, columns=["title", "is_redirect", "redirect_target"])
        for title, is_redirect, target in zip(*(table[c].to_pylist() for c in table.column_names), strict=True):
            if is_redirect and target:
                by_target[_title_key(target.split("#", 1)[0])].append(title)
            else:
                articles.add(_title_key(title))
    return by_target, sum(len(titles) for key, titles in by_target.items() if key not in articles)


@pytest.mark.parametrize("wiki", ["viwiki", "mrwiki", "bnwiki"])
def test_redirect_join_matches_in_memory_reference(object_store, fixtures_dir, wiki, bnwiki_with_bad_pages, tmp_path):
    if wiki == "bnwiki":  # with the bad pages: a redirect to a missing page, a redirect loop
        root = bnwiki_with_bad_pages
    else:
        text = lzma.open(fixtures_dir / "xztextfilter-truncated-dumps" / f"{wiki}-truncated-100k.xml.xz").read()
        export = text[: text.rindex(b"</page>") + 8]
        if wiki == "viwiki":
            export += ODD_REDIRECTS.encode()
        root = tmp_path / "mirror"
        build_dumps_mirror(root, wiki, DATE, export + b"</mediawiki>\n")
    ingest_from_mirror(object_store, root, wiki, DATE)
    files = cached_files(object_store, read_manifest(object_store, page_store_prefix(wiki, DATE)), tmp_path / "pages")

    # A small memory limit: DuckDB spills rather than holding the join in memory.
    joined = join_redirects(files, EXPORTED_NAMESPACES, tmp_path / "join", memory_limit="32MB")
    result = EnrichResult(wiki, DATE)
    ours = {
        row["page_id"]: (row["title"], row["_redirects"])
        for row in _eligible_rows(files, redirect_lists(joined.path), set(EXPORTED_NAMESPACES), result)
    }

    by_target, dangling = _reference_redirects(files)
    expected = {pid: by_target.get(_title_key(title), []) for pid, (title, _) in ours.items()}
    assert {pid: titles for pid, (_, titles) in ours.items()} == expected
    assert joined.dangling == dangling
    assert joined.redirects == sum(map(len, by_target.values())) and joined.targets == len(by_target)
    assert result.redirects_attached == joined.attached == sum(map(len, expected.values())) > 0
    if wiki == "viwiki":
        hanoi = next(titles for title, titles in ours.values() if title == "Hà Nội")
        assert hanoi[-3:] == ["Thủ đô Việt Nam", "Hanoi", "Thang Long"]  # after the dump's own, in page order
    if wiki == "bnwiki":
        assert dangling == 68 + 3
        attached = {t for _, titles in ours.values() for t in titles}
        assert not {"Loop A", "Loop B", "অস্তিত্বহীন পুনর্নির্দেশ"} & attached
