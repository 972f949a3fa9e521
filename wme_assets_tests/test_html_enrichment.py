"""Fidelity of :mod:`wme_assets.enrichment.html` against Wikimedia Enterprise's own parser.

The oracle is ``shared/fixtures/wme-parser-testdata``: 87 real Parsoid pages (86 present) and the golden
outputs Enterprise's Go parser produced for them, one file per function. Each test measures the rate
of cases where our output equals the golden and asserts a floor at the rate reached (so a regression
fails, an improvement is free to raise the floor). The goldens are go-spew dumps; the reader
(:func:`~wme_assets.devtools.parser_goldens.spew_parse`), the case loading and what "equal" means per
function (``ours``/``expected``) live in :mod:`wme_assets.devtools.parser_goldens`, shared with
``wme fidelity``.

The last test runs HTML from a real MediaWiki on loopback (``mediawiki_server.py``) through
:func:`html_fields` and checks that its abstract says what the wikitext-derived abstract of the same
page says.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from wme_assets.devtools import parser_goldens as PG
from wme_assets.devtools.parser_goldens import spew_parse, unquote_go
from wme_assets.enrichment import html as H
from wme_assets_tests.paths import FIXTURES

TESTDATA = FIXTURES / PG.TESTDATA_DIRNAME

pytestmark = pytest.mark.skipif(not TESTDATA.is_dir(), reason=f"{TESTDATA} is missing")


# --------------------------------------------------------------------------------------------
# cases (golden loading, parsing and the comparable values: wme_assets.devtools.parser_goldens)


def _golden(function: str) -> dict[int, dict]:
    return PG.load_golden(TESTDATA, function)


def _cases() -> tuple[tuple[PG.GoldenCase, H.HtmlFields], ...]:
    """(case, our fields) for every case whose HTML is present, parsed once per process."""
    return PG.parsed_cases(TESTDATA)


def _rate(function: str) -> tuple[float, list]:
    """Exact-match rate of our value vs the golden's (``PG.ours`` / ``PG.expected``) over the cases;
    and the misses."""
    hits, misses = 0, []
    for case, fields in _cases():
        if PG.ours(function, fields) == PG.expected(function, _golden(function)[case.case]):
            hits += 1
        else:
            misses.append((case.case, case.html_file))
    rate = hits / len(_cases())
    print(f"\n{function}: {hits}/{len(_cases())} exact ({rate:.1%}); misses: {misses[:8]}")
    return rate, misses


def test_spew_reader_round_trips_a_relation_list() -> None:
    parsed = spew_parse(_golden("categories")[1]["snapshot"])
    assert parsed[0] == {
        "Name": "Category:1940s initial public offerings",
        "URL": "https://en.wikipedia.org/wiki/Category:1940s_initial_public_offerings",
    }


def test_spew_reader_reads_parts_ints_nils_and_go_escapes() -> None:
    text = r"""([]*parser.Part) (len=1) {
      (*parser.Part)({
        Name: (string) (len=3) "a\"b",
        Type: (string) (len=7) "section",
        Value: (string) "",
        Values: ([]string) (len=1) {
          (string) (len=5) "\x41\U0001f600"
        },
        HasParts: ([]*parser.Part) <nil>,
        Images: ([]*parser.Image) (len=1) {
          (*parser.Image)({
            ContentUrl: (string) (len=1) "u",
            Height: (int) 290,
            Width: (int) -1
          })
        }
      })
    }
    """
    assert spew_parse(text) == [{
        "Name": 'a"b', "Type": "section", "Value": "", "Values": ["A\U0001f600"],
        "HasParts": None, "Images": [{"ContentUrl": "u", "Height": 290, "Width": -1}],
    }]
    assert unquote_go(r"tab\tbell\a\u00e9") == "tab\tbell\x07\u00e9"
    with pytest.raises(ValueError):
        spew_parse("not spew")


def test_cases_are_present() -> None:
    assert len(PG.golden_cases(TESTDATA)) == 87
    assert len(_cases()) == 86  # 87 upstream, Lionel_Messi.html could not be copied
    wikis = {case.wiki for case, _ in _cases()}
    assert {"enwiki", "dewiki", "frwiki"} <= wikis and len(wikis - {None}) == 9


def test_abstract_matches_enterprise() -> None:
    rate, _ = _rate("abstract")
    assert rate >= 1.0  # 86/86


def test_categories_match_enterprise() -> None:
    rate, _ = _rate("categories")
    assert rate >= 1.0


def test_templates_match_enterprise() -> None:
    rate, _ = _rate("templates")
    assert rate >= 1.0


def test_sections_match_enterprise() -> None:
    rate, _ = _rate("sections")
    assert rate >= SECTIONS_FLOOR


def test_infoboxes_match_enterprise() -> None:
    rate, _ = _rate("infoboxes")
    assert rate >= INFOBOXES_FLOOR


def test_images_match_enterprise() -> None:
    rate, _ = _rate("images")
    assert rate >= IMAGES_FLOOR


def test_links_match_enterprise() -> None:
    rate, _ = _rate("links")
    assert rate >= LINKS_FLOOR


def test_text_matches_enterprise() -> None:
    # The golden is the MD5 of GetText(document) (hex of the digest + cupaloy's newline).
    rate, _ = _rate("text")
    assert rate >= TEXT_FLOOR


# Floors at the rates reached (see the module docstring).
SECTIONS_FLOOR = 86 / 86
INFOBOXES_FLOOR = 86 / 86
IMAGES_FLOOR = 86 / 86
LINKS_FLOOR = 86 / 86
TEXT_FLOOR = 84 / 86


# --------------------------------------------------------------------------------------------
# HTML from a real MediaWiki on loopback

from wme_assets_tests.mediawiki_server import MediaWikiServer  # noqa: E402


def _words(text: str) -> set[str]:
    return {w.lower() for w in re.findall(r"\w{4,}", text)}


def test_loopback_html_abstract_agrees_with_wikitext_abstract(mediawiki: MediaWikiServer, tmp_path: Path) -> None:  # noqa: F811
    """The same page's abstract from Parsoid HTML and from wikitext say the same thing.

    Compared loosely, on purpose: the local wiki has none of enwiki's templates, so every
    ``{{…}}`` renders as a red link to ``Template:…`` (its text is the template name, which the
    wikitext extractor drops), and ``{{lang|…}}``/``{{convert|…}}``-style text is missing from the
    HTML. The check is that (1) the abstracts start alike, and (2) most words of the wikitext abstract
    are in the HTML abstract.
    """
    from wme_assets.enrichment.wikitext import extract_wikitext_fields
    from wme_assets.sources.mediawiki import MediaWikiClient

    with MediaWikiClient(mediawiki.base_url, cache_dir=tmp_path) as client:
        for title in ("Josephine Baker", "Angela Merkel"):
            html = client.revision_html(mediawiki.revisions[title])
            fields = H.html_fields(html, base_url="https://en.wikipedia.org/wiki/")
            wikitext_abstract = extract_wikitext_fields(mediawiki.wikitext[title], dbname="enwiki").abstract
            assert fields.abstract and wikitext_abstract
            wt_words = _words(wikitext_abstract)
            shared = len(wt_words & _words(fields.abstract)) / len(wt_words)
            print(f"\n{title}: {shared:.0%} of the wikitext abstract's words are in the HTML abstract\n"
                  f"  html: {fields.abstract[:160]!r}\n  wt:   {wikitext_abstract[:160]!r}")
            assert shared >= 0.8
            assert _words(wikitext_abstract[:60]) & _words(fields.abstract[:200])
            # links resolve against the given base, not the loopback server
            assert all(not lk.url.startswith(mediawiki.base_url) for lk in fields.links if lk.url.startswith("http"))
