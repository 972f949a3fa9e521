"""An abstract is prose of bounded length (abstract_rules.bounded_abstract), on both extractor paths.

Malformed leads are bad input, so they are written here; they go through the real extractors: the
wikitext extractor directly, the HTML one on what a real MediaWiki's Parsoid makes of them. Everything
else is real: Enterprise's own abstracts, real articles whose headings were lost (a lead of a whole
article), and every main-namespace page of the seven dump fixtures.
"""

from __future__ import annotations

import json
import logging
import lzma
import os
import re
import subprocess

import pytest
import requests

from wme_assets.enrichment.abstract_rules import (
    ABSTRACT_MAX_CHARS,
    bounded_abstract,
    leftover_markup,
    truncate_abstract,
)
from wme_assets.enrichment.html import html_fields
from wme_assets.enrichment.wikitext import WikiNames, extract_wikitext_fields
from wme_assets.ingestion.dump_xml import DumpReader
from wme_assets_tests.mediawiki_server import MW_IP, MediaWikiServer, mediawiki  # noqa: F401
from wme_assets_tests.paths import FIXTURES

DUMPS = FIXTURES / "xztextfilter-truncated-dumps"
ARTICLES = FIXTURES / "wme-articles"
GOLDEN_ABSTRACTS = FIXTURES / "wme-parser-testdata" / "golden" / "abstract.jsonl.xz"
EN = WikiNames.for_wiki("enwiki")
# The markup a malformed lead leaves, named as leftover_markup names it.
MARKUP_REASONS = ("template_markup", "link_markup", "table_markup", "reference_markup", "comment_markup")


def _record(wiki: str, title: str) -> dict:
    with lzma.open(ARTICLES / wiki / f"{title}.json.xz", "rt", encoding="utf-8") as fh:
        return json.load(fh)


def _enterprise_abstracts() -> list[str]:
    """Every non-empty abstract Enterprise wrote in the fixtures: its parser's goldens and its articles."""
    with lzma.open(GOLDEN_ABSTRACTS, "rt", encoding="utf-8") as fh:
        abstracts = [json.loads(line)["snapshot"] for line in fh]
    for path in sorted(ARTICLES.glob("*/*.json.xz")):
        with lzma.open(path, "rt", encoding="utf-8") as fh:
            abstracts.append(json.load(fh).get("abstract", ""))
    return [a for a in abstracts if a]


def _without_headings(wikitext: str) -> str:
    """The page as if its headings were lost: the whole article becomes its lead."""
    return re.sub(r"(?m)^=+[^=\n]+=+[ \t]*$", "", wikitext)


# ==================================================================================================
# The shared rule
# ==================================================================================================


def test_enterprise_abstracts_are_prose_within_the_bound():
    """Every real abstract of Enterprise passes unchanged: the bound is above the longest (13,823)."""
    abstracts = _enterprise_abstracts()
    assert len(abstracts) >= 95
    assert max(map(len, abstracts)) < ABSTRACT_MAX_CHARS
    for text in abstracts:
        assert bounded_abstract(text).text == text
        assert leftover_markup(text) is None


@pytest.mark.parametrize("text, reason", [
    ("Lead. {{{{ text", "template_markup"),
    ("Lead. }} text {{", "template_markup"),
    ("Lead. [[a|[[a| text", "link_markup"),
    ("Lead. ]] text ]]", "link_markup"),
    ('Lead. {| class="wikitable" |- | a', "table_markup"),
    ("Lead. | a |} text", "table_markup"),
    ("Lead.<ref>a source", "reference_markup"),
    ("Lead.<REF NAME=x>a source", "reference_markup"),
    ("Lead. a source</ref>", "reference_markup"),
    ("Lead. <!-- a note", "comment_markup"),
    ("Lead. [[a|x]] then {{b", "link_markup"),      # the first failure names the page's reason
    ("Lead. {{b then [[a|x]]", "template_markup"),
])
def test_leftover_markup_is_named_by_its_first_construct(text, reason):
    assert leftover_markup(text) == reason
    assert bounded_abstract(text).text == ""
    assert bounded_abstract(text).withheld == reason


@pytest.mark.parametrize("text", ["Lead. }} text", "Lead. ]] text", "Lead [[ text.", "Lead. {{ text"])
def test_one_stray_bracket_is_prose_as_mediawiki_shows_it(text):
    assert leftover_markup(text) is None
    assert bounded_abstract(text).text == text


def test_truncation_cuts_real_prose_at_a_sentence_end():
    longest = max(_enterprise_abstracts(), key=len)  # Enterprise's own, 13,823 characters
    cut = truncate_abstract(longest, 5_000)
    assert longest.startswith(cut) and 3_750 <= len(cut) <= 5_000
    assert cut.endswith(".") and longest[len(cut)].isspace()


def test_truncation_cuts_japanese_at_a_full_stop():
    with DumpReader(DUMPS / "jawiki-truncated-100k.xml.xz", keep_partial=True) as reader:
        abstracts = [
            extract_wikitext_fields(page.latest.text, reader.siteinfo, ns=0).abstract
            for page in reader if page.ns == 0 and page.latest and page.latest.text
        ]
    text = max(abstracts, key=len)
    assert len(text) > 400
    cut = truncate_abstract(text, 400)  # no space follows a Japanese full stop, nor separates words
    assert text.startswith(cut) and 300 <= len(cut) <= 400 and cut.endswith("。")


@pytest.mark.parametrize("text, limit, expected", [
    ("word " * 5_000, 1_000, ("word " * 200).rstrip()),      # no sentence end: the last word break
    ("x" * 20_000, 1_000, "x" * 1_000),                      # no space either: at the bound
])
def test_truncation_without_sentences(text, limit, expected):
    assert truncate_abstract(text, limit) == expected


# ==================================================================================================
# The wikitext path
# ==================================================================================================


@pytest.mark.parametrize("text, reason", [
    ("Lead. " + "{{" * 20_000, "template_markup"),                  # nested unclosed templates
    ("Lead. " + "[[a|" * 10_000, "link_markup"),                    # nested unclosed links
    ("Lead. " + "}}" * 20_000 + "]]" * 20_000, "template_markup"),  # closers with no opener
    ("Lead. " + "]]" * 20_000, "link_markup"),
    ("Lead. " + "{{a|[[b|" * 10_000, "template_markup"),
    # a table the first heading cuts off: the lead holds its opening, as on two real pages below
    ("Lead.\n{| class=wikitable\n|-\n| cell\n== Heading ==\ntext\n|}\n", "table_markup"),
])
def test_malformed_lead_gets_no_abstract_and_a_reason(text, reason):
    fields = extract_wikitext_fields(text, EN, time_budget_s=60)
    assert fields.abstract == ""
    assert fields.abstract_withheld == reason
    assert fields.number_of_characters == len(text)  # the rest of the article is still extracted


@pytest.mark.parametrize("text", [
    "Lead.\n" + "{|\n| cell\n" * 5_000,        # unclosed tables: dropped, as MediaWiki closes them
    "Lead. " + "<ref>" * 20_000,                # unclosed references: hidden
    "Lead." + "<ref>unclosed " * 5_000,         # ... or their tags dropped, leaving 70 KB of words
    "Lead. " + "<!--" * 20_000,                 # an unclosed comment hides the rest
])
def test_malformed_lead_the_renderer_consumes_gives_bounded_prose(text):
    fields = extract_wikitext_fields(text, EN, time_budget_s=60)
    assert fields.abstract.startswith("Lead.") and fields.abstract_withheld is None
    assert leftover_markup(fields.abstract) is None and len(fields.abstract) <= ABSTRACT_MAX_CHARS


def test_real_page_with_a_malformed_lead_keeps_everything_but_its_abstract():
    record = _record("enwiki", "Josephine_Baker")
    wikitext = record["article_body"]["wikitext"]
    whole = extract_wikitext_fields(wikitext, "enwiki", dbname="enwiki")
    assert whole.abstract == record["abstract"] and whole.abstract_withheld is None

    first_heading = wikitext.index("\n==")
    broken = wikitext[:first_heading] + "\n" + "{{" * 20_000 + wikitext[first_heading:]
    fields = extract_wikitext_fields(broken, "enwiki", dbname="enwiki", time_budget_s=60)
    assert fields.abstract == "" and fields.abstract_withheld == "template_markup"
    assert fields.categories == whole.categories
    assert [s["name"] for s in fields.sections][1:] == [s["name"] for s in whole.sections][1:]


@pytest.mark.parametrize("wiki, title", [
    ("enwiki", "United_States"), ("enwiki", "Albert_Einstein"), ("frwiki", "Anarchisme"), ("ptwiki", "Portugal"),
])
def test_whole_article_as_lead_is_cut_at_a_sentence_end(wiki, title):
    record = _record(wiki, title)
    fields = extract_wikitext_fields(_without_headings(record["article_body"]["wikitext"]), wiki, dbname=wiki)
    assert fields.abstract_truncated and fields.abstract_withheld is None
    assert ABSTRACT_MAX_CHARS * 3 // 4 <= len(fields.abstract) <= ABSTRACT_MAX_CHARS
    assert fields.abstract[-1] in ".!?"
    # the abstract Enterprise has (the real lead) is where the cut one begins
    assert fields.abstract.startswith(record["abstract"][:200])


# Pages of the dump fixtures whose lead does not render into prose: unclosed references, a nowiki'd link, file
# links whose caption the tree parser misreads, tables cut by the first heading. Every other main-namespace
# page keeps its abstract, none over the bound; eight keep one stray bracket of an editor's typo
# (``[[तूर डाळ]``), which MediaWiki, and so Enterprise's abstract, shows as it is.
WITHHELD_IN_DUMPS = {
    "bnwiki": {},
    "elwiki": {799: "link_markup"},
    "hywiki": {},
    "jawiki": {},
    "mrwiki": {
        3: "reference_markup", 2483: "reference_markup", 2535: "link_markup", 2777: "link_markup",
        2797: "link_markup", 2815: "link_markup",
    },
    "ukwiki": {837: "table_markup"},
    "viwiki": {681: "link_markup", 955: "table_markup", 1192: "table_markup", 1400: "link_markup"},
}


@pytest.mark.parametrize("wiki", sorted(WITHHELD_IN_DUMPS))
def test_real_dump_pages_keep_their_abstracts(wiki):
    logging.getLogger("wme_assets.ingestion.dump_xml").setLevel(logging.ERROR)
    withheld, with_abstract = {}, 0
    with DumpReader(DUMPS / f"{wiki}-truncated-100k.xml.xz", keep_partial=True) as reader:
        names = reader.siteinfo
        for page in reader:
            if page.ns != 0 or not page.latest or not page.latest.text:
                continue
            fields = extract_wikitext_fields(page.latest.text, names, ns=0)
            assert not fields.abstract_truncated, page.title
            if fields.abstract_withheld:
                assert fields.abstract == ""
                withheld[page.id] = fields.abstract_withheld
            else:
                assert leftover_markup(fields.abstract) is None
                with_abstract += bool(fields.abstract)
    assert withheld == WITHHELD_IN_DUMPS[wiki]
    assert with_abstract > 150


# ==================================================================================================
# The HTML path: Parsoid's HTML of malformed pages, from a real MediaWiki
# ==================================================================================================

# Smaller than the wikitext path's: Parsoid (PHP) takes its time over deep nesting.
MALFORMED_PAGES = {
    "Malformed templates": ("Lead. " + "{{" * 2_000, "template_markup"),
    "Malformed links": ("Lead. " + "[[a|" * 1_000, "link_markup"),
    "Malformed closers": ("Lead. " + "}}" * 2_000, "template_markup"),
}


@pytest.fixture(scope="module")
def malformed_revisions(mediawiki: MediaWikiServer):  # noqa: F811
    """The malformed pages saved on the loopback wiki, ``{title: revision id}``; deleted afterwards so
    the wiki's dump (other tests enrich it) holds only the real pages."""
    env = {**os.environ, "MW_CONFIG_FILE": str(mediawiki.directory / "LocalSettings.php")}
    for title, (text, _reason) in MALFORMED_PAGES.items():
        subprocess.run(["php", str(MW_IP / "maintenance" / "edit.php"), "--user", "Admin", "--summary", "bad input",
                        title], input=text.encode(), env=env, capture_output=True, check=True, timeout=120)
    reply = requests.get(f"{mediawiki.base_url}/api.php", params={
        "action": "query", "prop": "revisions", "rvprop": "ids", "titles": "|".join(MALFORMED_PAGES),
        "format": "json", "formatversion": "2"}, timeout=30).json()
    revisions = {page["title"]: page["revisions"][0]["revid"] for page in reply["query"]["pages"]}
    yield revisions
    subprocess.run(["php", str(MW_IP / "maintenance" / "deleteBatch.php"), "--u", "Admin", "--r", "test page"],
                   input="\n".join(MALFORMED_PAGES).encode(), env=env, capture_output=True, check=True, timeout=120)


def test_parsoid_html_of_malformed_pages_gets_no_abstract(mediawiki, malformed_revisions, tmp_path):  # noqa: F811
    from wme_assets.sources.mediawiki import MediaWikiClient

    with MediaWikiClient(mediawiki.base_url, cache_dir=tmp_path) as client:
        for title, (_text, reason) in MALFORMED_PAGES.items():
            fields = html_fields(client.revision_html(malformed_revisions[title]),
                                 base_url="https://en.wikipedia.org/wiki/")
            assert fields.abstract == "" and fields.abstract_withheld == reason, title
        # A real page keeps its abstract (the local wiki has no templates: they show as red links).
        real = html_fields(client.revision_html(mediawiki.revisions["Josephine Baker"]),
                           base_url="https://en.wikipedia.org/wiki/")
        assert "Freda Josephine Baker" in real.abstract and real.abstract_withheld is None
