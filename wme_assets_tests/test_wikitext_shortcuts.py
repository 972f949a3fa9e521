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


def _real_texts() -> list[str]:
    return [path.read_text(encoding="utf-8") for path in sorted((FIXTURES / "wtf_wikipedia-wikitext").glob("*.txt"))]


def test_brace_index_gives_each_stretch_the_spans_its_own_scan_gives():
    import random

    from wme_assets.enrichment.wikitext.braces import _BRACES_RE, _BraceIndex, _outermost, _pairs
    from wme_assets.enrichment.wikitext.masking import mask_wikitext

    rnd = random.Random(7)
    texts = [mask_wikitext(text) for text in _real_texts()]
    texts += ["".join(rnd.choice(["{{", "}}", "{", "}", "a", "\n", "<ref>", "</ref>"]) for _ in range(40))
              for _ in range(300)]
    derived = 0
    for text in texts:
        index = _BraceIndex(text, _pairs(text, _BRACES_RE, "{{")[0])
        cuts = sorted({0, len(text), *(rnd.randrange(len(text) + 1) for _ in range(30))})
        for a in cuts:
            for b in cuts:
                if a > b:
                    continue
                outermost = index.outermost_in(a, b)
                if outermost is not None:
                    derived += 1
                    assert outermost == _outermost(_pairs(text[a:b], _BRACES_RE, "{{")[0]), (text, a, b)
    assert derived > 10_000  # most cuts do not split a brace pair: the derivation is what is tested


def _split_top_scan(body: str) -> list[str]:
    """What ``_split_top`` must return: the body split at every pipe outside nested templates and links,
    found by looking at every token."""
    import re

    parts: list[str] = []
    braces = links = 0
    last = 0
    for m in re.finditer(r"\{\{|\}\}|\[\[|\]\]|\|", body):
        tok = m.group()
        if tok == "|":
            if braces == 0 and links == 0:
                parts.append(body[last:m.start()])
                last = m.end()
        elif tok == "{{":
            braces += 1
        elif tok == "}}":
            braces = braces - 1 if braces else 0
        elif tok == "[[":
            links += 1
        else:
            links = links - 1 if links else 0
    parts.append(body[last:])
    return parts


def test_split_top_shortcut_agrees_with_the_token_scan():
    import random

    from wme_assets.enrichment.wikitext.braces import _BRACES_RE, _pairs, _split_top

    rnd = random.Random(8)
    bodies = [rnd.choice(["", "|"]).join(rnd.choice(["{{", "}}", "[[", "]]", "|", "{", "]", "a", "="])
                                         for _ in range(rnd.randint(0, 16))) for _ in range(20_000)]
    for text in _real_texts():
        bodies += [text[s + 2:e - 2] for s, e in _pairs(text, _BRACES_RE, "{{")[0]]
    assert sum("[[" in body and "|" in body for body in bodies) > 1_000
    for body in bodies:
        assert _split_top(body) == _split_top_scan(body), body


def test_maintenance_tags_count_what_enterprises_regexes_match():
    import random
    import re

    from wme_assets.enrichment.wikitext.page_flags import maintenance_tags

    tags = {"citation_needed_count": "Citation needed", "pov_count": "POV",
            "clarification_needed_count": "clarify", "update_count": "update"}

    def enterprise(text: str) -> dict[str, int]:  # Go's (?i){{X(\|*).*?}}: on short texts backtracking is fine
        return {name: len(re.findall(r"(?i)\{\{" + re.escape(p) + r"(\|*).*?\}\}", text)) for name, p in tags.items()}

    rnd = random.Random(9)
    pieces = ["{{", "}}", "pov", "{{POV", "\n", "x", "{{update", "{{clarify}}", "{{Citation needed|", "{", "{{Pov}}"]
    texts = ["".join(rnd.choice(pieces) for _ in range(rnd.randint(0, 14))) for _ in range(20_000)]
    texts += _real_texts()
    assert sum(any(enterprise(text).values()) for text in texts) > 5_000
    for text in texts:
        assert maintenance_tags(text) == enterprise(text), text


def test_plain_links_written_as_text_render_as_the_links_do():
    import mwparserfromhell

    from wme_assets.enrichment.wikitext.elements import _strip_refs
    from wme_assets.enrichment.wikitext.masking import mask_wikitext
    from wme_assets.enrichment.wikitext.plain_links import _plain_links_as_text
    from wme_assets.enrichment.wikitext.tree_renderer import _TreeRenderer

    def render(text: str) -> tuple[str, bool]:
        tree = _TreeRenderer(EN)
        return tree.render(mwparserfromhell.parse(text)), tree.formula_seen

    edge_cases = [
        "''[[a|b]]'' c", "&[[amp]]; x", "http://[[x]] y", "[[a]]:b", "(''[[x|y]]'') ''z''", "( [[a|b]] ''c'')",
        "[http://x.org [[a]]] [[b]]", "[[a|]] [[Foo (bar)|]] [[ ]] [[x|----]]", "'''[[Jesus|Jesus']]''' x",
        "{{lc:[[a]]}} {{nowrap|[[b]]}} [[c]]", "[[File:x.jpg|thumb|[[a]]]] [[b]]",
        "x\n{|\n| [[a|b]] || c\n|}\n[[d]]", "[[a__b|]] [[c_d]] [[e|f g]]s", "[[[a]]] [[b]]]",
    ]
    sections: list[str] = []
    for text in _real_texts():  # the sections as the lead reaches the parse: masked, without <ref>s
        masked = _strip_refs(mask_wikitext(text))
        starts = [0, *(m.start() for m in _HEADING_RE.finditer(masked)), len(masked)]
        sections += [masked[a:b] for a, b in zip(starts, starts[1:], strict=False)]
    replaced = 0
    for text in edge_cases + sections:
        plain = _plain_links_as_text(text, EN)
        replaced += text.count("[[") - plain.count("[[")
        assert render(plain) == render(text), text
    assert replaced > 4_000  # most links of the fixtures are written as text: the comparison covers them


def test_table_cell_shortcuts_agree_with_the_mark_scan():
    import random

    from wme_assets.enrichment.wikitext import tables

    def split_scan(text: str, header: bool) -> list[str]:
        cells, start = [], 0
        for m in tables._cell_marks(text):
            if m.group() == "||" or (m.group() == "!!" and header):
                cells.append(text[start:m.start()])
                start = m.end()
        return [*cells, text[start:]]

    def attrs_scan(cell: str) -> tuple[str, str]:
        for m in tables._cell_marks(cell):
            if m.group() == "|":
                attrs = cell[:m.start()]
                return ("", cell) if "[[" in attrs else (attrs, cell[m.end():])
        return "", cell

    rnd = random.Random(10)
    pieces = ["|", "||", "!", "!!", "a", " ", "{{", "}}", "[[", "]]", "=", "x"]
    lines = ["".join(rnd.choice(pieces) for _ in range(rnd.randint(0, 12))) for _ in range(30_000)]
    lines += [line[1:] for text in _real_texts() for line in text.split("\n") if line[:1] in ("|", "!")]
    for line in lines:
        assert tables._split_cells(line, False) == split_scan(line, False), line
        assert tables._split_cells(line, True) == split_scan(line, True), line
        assert tables._cell_attrs(line) == attrs_scan(line), line
