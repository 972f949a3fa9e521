"""Shortcuts of the wikitext extractor that must not change what it extracts (real articles, edge cases)."""

from __future__ import annotations

import pytest

from wme_assets.enrichment.wikitext import WikiNames
from wme_assets.enrichment.wikitext.names import _clean_title
from wme_assets.enrichment.wikitext.references import _references
from wme_assets.enrichment.wikitext.sections import _HEADING_RE, _SectionRenderer
from wme_assets_tests.paths import FIXTURES

EN = WikiNames.for_wiki("enwiki")


def _real_sections() -> list[str]:
    """Every section of the wtf_wikipedia articles (split at headings), as the section renderer sees it
    after its template pass."""
    renderer = _SectionRenderer(EN)
    sections = []
    for path in sorted((FIXTURES / "wtf_wikipedia-wikitext").glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        starts = [0, *(m.start() for m in _HEADING_RE.finditer(text)), len(text)]
        sections += [renderer._templates(text[a:b]) for a, b in zip(starts, starts[1:], strict=False)]
    return sections


EDGE_CASES = [
    "[[ File:X.jpg|thumb|a [[b]] c]] d",  # a file with a link in its caption, a space before the namespace
    "text [[:Category:Kept]] and [[Category:Dropped|key]]",
    "[[fr:Paris]] [[zh-min-nan:Paris]] [[Paris]]",
    "[[x[[y]]z:w]] [[Wikipedia:Not media]] [[Image:old.png]]",
    "no link at all: a time 10:30, [[plain|link]]",
    "[[Kategorie:Deutsch]] [[Datei:Bild.jpg|mini]]",  # German names are not English namespaces
]


def test_sections_without_a_media_link_candidate_come_out_as_the_full_scan_gives_them():
    renderer = _SectionRenderer(EN)
    sections = _real_sections() + EDGE_CASES
    shortcut = [renderer._drop_media_links(text) for text in sections]
    assert shortcut == [renderer._drop_media_links_scan(text) for text in sections]
    # The shortcut is taken for some sections and a link is dropped in others: both paths are exercised.
    assert sum(out is text for out, text in zip(shortcut, sections, strict=True)) > 100
    assert sum(out != text for out, text in zip(shortcut, sections, strict=True)) > 20


@pytest.mark.parametrize(
    "raw",
    ["Albert Einstein", " Albert  Einstein ", "Albert_Einstein", "A\tB\nC", "A\u00a0B", "A &amp; B", "Ünïcode",
     "a\u2003b", "trail "],
)
def test_clean_title_shortcut_agrees_with_collapsing_every_run(raw):
    import html
    import re

    expected = re.sub(r"[\s_]+", " ", html.unescape(raw)).strip()
    assert _clean_title(raw) == expected


def test_citation_text_is_made_of_the_rendered_metadata():
    renderer = _SectionRenderer(EN)
    text = ("a<ref name=x>{{cite web |last=Smith |first= |first1=J. |title=''Big'' [[Book|Book]]s "
            "|work=[[The Times]] |year=2020 |url=http://x.org/a}}</ref> b")
    [ref] = _references(text, renderer, renderer.deadline)
    assert ref["metadata"] == {"last": "Smith", "first1": "J.", "title": "Big Books", "work": "The Times",
                               "year": "2020", "url": "http://x.org/a"}
    assert ref["text"] == {"value": "Smith. J.. Big Books. The Times. 2020"}


def test_quote_runs_are_removed_as_five_else_three_else_two():
    import re

    from wme_assets.enrichment.wikitext.regex_renderer import _QUOTES_RE

    alternation = re.compile(r"'{5}|'{3}|'{2}")  # how the runs were written before: the reference
    runs = ["'" * n + "x" for n in range(0, 12)]
    texts = runs + ["''a'' '''b''' '''''c''''' ''''d'''' l'''' x'''''''y", "l'homme d'''état''"]
    texts += [path.read_text(encoding="utf-8") for path in sorted((FIXTURES / "wtf_wikipedia-wikitext").glob("*.txt"))]
    for text in texts:
        assert [m.span() for m in _QUOTES_RE.finditer(text)] == [m.span() for m in alternation.finditer(text)]
    assert _QUOTES_RE.sub("", "''''d'''' and '''''''e") == "'d' and e"  # 4 = 3 + 1; 7 = 5 + 2


@pytest.mark.parametrize(
    ("value", "markup"),
    [("plain words", False), (" padded ", False), ("a  b", True), ("a\n\nb", True), ("a\u00a0\u00a0b", True),
     ("a\tb", False), ("a \tb", True), ("[[x]]", True), ("{{y}}", True), ("x<br>", True), ("l'a", True),
     ("&amp;", True), ("snake_case", True), ("é\u2003ü", False)],
)
def test_has_markup_is_a_markup_character_or_two_whitespace_characters(value, markup):
    import re

    from wme_assets.enrichment.wikitext.regex_renderer import _has_markup

    assert _has_markup(value) is markup
    assert markup == (re.search(r"[\[{<'&_]|\s\s", value) is not None)


@pytest.mark.parametrize(
    "text",
    ["", "=", "==", "=a=", "== A ==", "==A==\n==B==", "x\n=\n", "\n\n== B ==\n", "==a==\r\n=b=", "== a == \t\nx",
     "text\n== A ==\ntext ==not== here\n=== B ===\n== C", "= a\n= b =\n====== six ======\n======= seven ======="],
)
def test_heading_matches_are_those_of_the_multiline_regex(text):
    from wme_assets.enrichment.wikitext.sections import _heading_matches

    assert [m.span() + m.groups() for m in _heading_matches(text)] == [
        m.span() + m.groups() for m in _HEADING_RE.finditer(text)
    ]


def test_heading_matches_on_real_articles():
    from wme_assets.enrichment.wikitext.sections import _heading_matches

    texts = [path.read_text(encoding="utf-8") for path in sorted((FIXTURES / "wtf_wikipedia-wikitext").glob("*.txt"))]
    found = 0
    for text in texts:
        expected = [m.span() + m.groups() for m in _HEADING_RE.finditer(text)]
        assert [m.span() + m.groups() for m in _heading_matches(text)] == expected
        found += len(expected)
    assert found > 200
