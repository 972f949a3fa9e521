"""The wikitext extractor (wme_assets.enrichment.wikitext): conventions, robustness, real scripts.

Real inputs come from ../shared/fixtures (read-only): Enterprise article records, the wtf_wikipedia
wikitext corpus and the seven truncated pages-articles dumps (bn, el, hy, ja, mr, uk, vi).
"""

from __future__ import annotations

import json
import logging
import lzma
import time

import pytest

from wme_assets.enrichment.wikitext import (
    ExtractionTimeout,
    WikiNames,
    WikitextFields,
    extract_wikitext_fields,
    maintenance_tags,
    mask_wikitext,
    redirect_target,
)
from wme_assets.ingestion.dump_xml import DumpReader
from wme_assets_tests.paths import FIXTURES

DUMPS = FIXTURES / "xztextfilter-truncated-dumps"
DUMP_WIKIS = ("bnwiki", "elwiki", "hywiki", "jawiki", "mrwiki", "ukwiki", "viwiki")
EN = WikiNames.for_wiki("enwiki")


def extract(text: str, site=EN, **kwargs) -> WikitextFields:
    return extract_wikitext_fields(text, site, **kwargs)


def _enterprise_record(wiki: str, title: str) -> dict:
    with lzma.open(FIXTURES / "wme-articles" / wiki / f"{title}.json.xz", "rt", encoding="utf-8") as fh:
        return json.load(fh)


def _dump_pages(wiki: str, limit: int):
    """(siteinfo, [(page, text)…]) for the first ``limit`` ns-0 pages of a truncated dump (its last,
    cut page is dropped: keep_partial)."""
    logging.getLogger("wme_assets.ingestion.dump_xml").setLevel(logging.ERROR)
    with DumpReader(DUMPS / f"{wiki}-truncated-100k.xml.xz", keep_partial=True) as reader:
        siteinfo = reader.siteinfo
        pages = []
        for page in reader:
            if page.ns == 0 and page.latest and page.latest.text:
                pages.append((page, page.latest.text))
                if len(pages) >= limit:
                    break
    return siteinfo, pages


# ==================================================================================================
# Robustness
# ==================================================================================================


def test_unbalanced_templates_and_tags_do_not_swallow_the_rest():
    text = (
        "{{Infobox person | name = X\n"  # never closed
        "'''X''' is a [[test]].<ref>unclosed reference\n"
        "}} stray closer <div>unclosed div\n"
        "{{Cite web |url=https://example.org |title=T}} {{Valid template}}\n"
        "<span>open span ''italic\n"
        "[[Category:Kept]]\n"
    )
    fields = extract(text)
    assert "Template:Valid template" in fields.templates
    assert "Template:Cite web" in fields.templates
    assert fields.categories == ["Category:Kept"]


def test_two_megabyte_page_completes_within_its_time_budget():
    record = _enterprise_record("enwiki", "Albert_Einstein")
    text = record["article_body"]["wikitext"]
    big = (text * (2_000_000 // len(text) + 1))[:2_000_000]
    fields = extract(big, time_budget_s=120)
    assert fields.number_of_characters == 2_000_000
    assert "Category:Quantum physicists" in fields.categories
    assert len(fields.references) > 200
    assert fields.abstract.startswith("Albert Einstein was a German-born theoretical physicist")


def test_time_budget_raises_extraction_timeout_instead_of_running_on():
    text = _enterprise_record("enwiki", "United_States")["article_body"]["wikitext"] * 6  # ~2 MB
    with pytest.raises(ExtractionTimeout) as info:
        extract(text, time_budget_s=1e-9)
    assert info.value.stage
    assert isinstance(info.value, TimeoutError)


@pytest.mark.parametrize("text", [
    "{{x|" * 200_000,                         # 800 kB of unclosed templates
    "[[a|" * 200_000,                         # unclosed links
    "[http://example.org label" * 150_000,    # unclosed external links
    "<ref>x" * 200_000,                       # unclosed references
    "x<!--" * 100_000,                        # unclosed comment
    "<span " * 200_000,                       # unclosed tags
    "{|\n" * 200_000,                         # unclosed tables
    " (a b" * 200_000,                        # unclosed parentheticals (abstract clean-up)
    "{{update" * 200_000,                     # unclosed maintenance tags on one line
])
def test_hostile_two_megabyte_pages_finish(text):
    started = time.process_time()
    fields = extract(text, time_budget_s=120)
    assert isinstance(fields, WikitextFields)
    assert time.process_time() - started < 120


@pytest.mark.parametrize("text, templates", [
    ("{{x|" * 2000 + "y" + "}}" * 2000, ["Template:X"]),   # only the outermost is a transclusion
    ("{{" * 2000 + "x" + "}}" * 2000, []),                 # names built from templates: none
    ("{{a|{{b|{{c}}}}}}" * 500, ["Template:A"]),
])
def test_deeply_nested_templates(text, templates):
    fields = extract(text)  # mwparserfromhell alone raises RecursionError on the second one
    assert fields.templates == templates


def test_comments_nowiki_and_non_wikitext_elements_hide_categories_and_templates():
    text = (
        "[[Category:Real]]\n"
        "<!-- [[Category:Commented]] {{Commented template}} -->\n"
        "<nowiki>[[Category:Nowiki]] {{Nowiki template}}</nowiki>\n"
        "<pre>[[Category:Pre]]</pre>\n"
        "<includeonly>[[Category:Includeonly]]</includeonly>\n"
        "<math>{{not a template}}</math>\n"
        "<syntaxhighlight lang=\"wikitext\">[[Category:Code]]</syntaxhighlight>\n"
        "<noinclude>[[Category:Noinclude shows on the page]]</noinclude>\n"
        "<!-- unclosed comment runs to the end [[Category:Hidden]]"
    )
    fields = extract(text)
    assert fields.categories == ["Category:Real", "Category:Noinclude shows on the page"]
    assert fields.templates == []
    masked = mask_wikitext("a <nowiki>[[b]]</nowiki> c")
    assert "[[" not in masked and "&#91;&#91;b&#93;&#93;" in masked


def test_interlanguage_and_colon_links_are_not_categories():
    text = (
        "'''Foo''' see [[:Category:Linked]] and [[Category talk:Talk]].\n"
        "[[fr:Foo]] [[de:Foo]] [[zh-yue:Foo]] [[Kategorie:German name on enwiki]]\n"
        "[[Category:Real|sort key]] [[ category : real ]] [[Category:Real#frag]]\n"
    )
    fields = extract(text)
    assert fields.categories == ["Category:Real"]
    assert fields.abstract.startswith("Foo see Category:Linked and Category talk:Talk.")
    assert "fr:Foo" not in fields.abstract


@pytest.mark.parametrize("text", ["", "   \n\n  ", "<!-- only a comment -->"])
def test_empty_page(text):
    fields = extract(text)
    assert fields.abstract == ""
    assert fields.categories == fields.templates == fields.references == []
    assert fields.image is None and fields.redirect_target is None
    assert fields.number_of_characters == len(text)


def test_real_corpus_extracts_without_errors():
    """All 70 wtf_wikipedia pages (infoboxes, refs, tables, lists; en and de)."""
    files = sorted((FIXTURES / "wtf_wikipedia-wikitext").glob("*.txt"))
    assert len(files) >= 70
    with_categories = 0
    for path in files:
        text = path.read_text(encoding="utf-8")
        site = "dewiki" if "[[Kategorie:" in text else "enwiki"
        fields = extract_wikitext_fields(text, site, dbname=site, time_budget_s=60)
        with_categories += bool(fields.categories)
        assert fields.number_of_characters == len(text)
    assert with_categories >= 50
    redirect = (FIXTURES / "wtf_wikipedia-wikitext" / "redirect.txt").read_text(encoding="utf-8")
    assert extract(redirect).redirect_target


# ==================================================================================================
# Non-Latin scripts: the seven dumps, with namespace names from their <siteinfo>
# ==================================================================================================


@pytest.mark.parametrize("wiki", DUMP_WIKIS)
def test_localized_namespaces_from_dump_siteinfo(wiki):
    siteinfo, pages = _dump_pages(wiki, limit=60)
    names = WikiNames.from_siteinfo(siteinfo)
    category_ns = siteinfo.namespaces[14].name
    template_ns = siteinfo.namespaces[10].name
    pages_with_categories = 0
    for page, text in pages:
        fields = extract_wikitext_fields(text, names, dbname=siteinfo.dbname, time_budget_s=60)
        assert all(c.startswith(category_ns + ":") for c in fields.categories), fields.categories
        assert all(t.startswith(template_ns + ":") or ":" in t for t in fields.templates)
        pages_with_categories += bool(fields.categories)
        if not page.redirect_target:
            # every category link spelled with the localized or the canonical name is found
            literal = text.count(f"[[{category_ns}:") + text.count("[[Category:")
            assert (literal == 0) or fields.categories
    assert pages_with_categories >= len(pages) // 3


@pytest.mark.parametrize("wiki", DUMP_WIKIS)
def test_redirect_fallback_agrees_with_the_dump(wiki):
    logging.getLogger("wme_assets.ingestion.dump_xml").setLevel(logging.ERROR)
    with DumpReader(DUMPS / f"{wiki}-truncated-100k.xml.xz", keep_partial=True) as reader:
        names = WikiNames.from_siteinfo(reader.siteinfo)
        redirects = 0
        for page in reader:
            text = page.latest.text or ""
            if page.redirect_target:
                redirects += 1
                assert redirect_target(text, names) == page.redirect_target
            elif page.ns == 0:
                assert redirect_target(text, names) is None
    assert redirects >= 15


def test_aliases_and_canonical_names_resolve_to_the_wikis_own_name():
    ja = WikiNames.for_wiki("jawiki")
    assert extract("[[カテゴリ:日本]] [[Category:東京]]", ja).categories == ["Category:日本", "Category:東京"]
    assert extract("{{テンプレート:Foo}} {{Bar}}", ja).templates == ["Template:Foo", "Template:Bar"]
    siteinfo, _pages = _dump_pages("bnwiki", limit=1)
    bn = WikiNames.from_siteinfo(siteinfo)
    fields = extract("[[বিষয়শ্রেণী:ক]] [[Category:খ]] [[category:গ]]", bn)
    assert fields.categories == ["বিষয়শ্রেণী:ক", "বিষয়শ্রেণী:খ", "বিষয়শ্রেণী:গ"]
    vi = WikiNames.for_wiki("viwiki")
    assert extract("[[Thể_loại:Việt Nam]] [[Hình:X.jpg]] x", vi).categories == ["Thể loại:Việt Nam"]
    fr = WikiNames.from_namespaces({6: "Fichier", 10: "Modèle", 14: "Catégorie"}, language="fr")
    fields = extract("{{modèle:infobox Pays}} [[Category:Pays]] {{Lien web|url=x}}", fr)
    assert fields.categories == ["Catégorie:Pays"]
    assert fields.templates == ["Modèle:Infobox Pays", "Modèle:Lien web"]


# ==================================================================================================
# Enterprise conventions
# ==================================================================================================


def test_templates_follow_parsoid_conventions():
    text = (
        "{{short description|Test}}{{DEFAULTSORT:Foo}}{{#if:x|{{Inside parser function}}}}\n"
        "{{Infobox person|birth_date={{Birth date|1900|1|1}}}}\n"     # nested in arguments: not listed
        "{{template:use_dmy dates}} {{ lang |fr|x}} {{PAGENAME}} {{!}} {{formatnum:1234}}\n"
        "Text.<ref>{{cite web|url=http://x|title=t}}</ref> [[File:A.jpg|thumb|{{Caption template}}]]\n"
        "{{:Main Page}} {{subst:Substituted}} {{Wikipedia:Project page}} {{Foo#section}}\n"
    )
    assert extract(text).templates == [
        "Template:Short description", "Template:Infobox person", "Template:Use dmy dates",
        "Template:Lang", "Template:Cite web", "Template:Caption template", "Main Page",
        "Template:Substituted", "Wikipedia:Project page", "Template:Foo",
    ]


def test_abstract_conventions():
    text = (
        "{{Short description|x}}\n{{Infobox thing|name=X|image=X.jpg}}\n"
        "[[File:Lead.jpg|thumb|A caption that is not text]]\n"
        "'''Body mass index''' ('''BMI''') is a value (see the [[Weight|weight]] and ''height'') "
        "of a person.<ref>{{cite web|url=http://x}}</ref> It is kg/m<sup>2</sup>.{{cn}}\n\n"
        "* first item\n* second [[item]]\n"
        ": an indented aside is not kept\n"
        "; neither is a definition term\n"
        "{| class=wikitable\n| a table cell\n|}\n"
        "Last paragraph {{lang|fr|en français}} {{convert|5|km|mi}}.\n"
        "== History ==\nNot in the abstract.\n"
    )
    assert extract(text).abstract == (
        "Body mass index (BMI) is a value of a person. It is kg/m\u2072. first item second item "
        "Last paragraph en français 5 kilometres."
    )


def test_abstract_keeps_parentheticals_of_formulas():
    fields = extract("'''Water''' (H<sub>2</sub>O) is a compound (of hydrogen and oxygen).")
    assert fields.abstract == "Water (H2O) is a compound (of hydrogen and oxygen)."


def test_abstract_matches_real_enterprise_records():
    for wiki, title in [("enwiki", "Albert_Einstein"), ("frwiki", "Anarchisme"), ("ptwiki", "Portugal")]:
        record = _enterprise_record(wiki, title)
        fields = extract_wikitext_fields(record["article_body"]["wikitext"], wiki, dbname=wiki)
        assert fields.abstract == record["abstract"], (wiki, title)


def test_closed_lead_tables_are_cut_before_the_tree_parse(monkeypatch):
    """A table renders as nothing in the abstract and is what mwparserfromhell parses slowest: a closed one
    never reaches the parse. A real page whose lead is a table with a sentence after it keeps that sentence;
    one whose table the first heading cuts off still withholds its abstract (test_abstract_bound)."""
    import mwparserfromhell

    parsed: list[str] = []
    real_parse = mwparserfromhell.parse
    monkeypatch.setattr(mwparserfromhell, "parse", lambda text: parsed.append(str(text)) or real_parse(text))
    pages = FIXTURES / "wtf_wikipedia-wikitext"

    fields = extract((pages / "bluejays.txt").read_text(encoding="utf-8"))
    assert fields.abstract == "The bluejays play baseball, sometimes poorly."
    assert parsed and not any("{|" in text for text in parsed)

    parsed.clear()
    fields = extract((pages / "raith_rovers.txt").read_text(encoding="utf-8"))
    assert (fields.abstract, fields.abstract_withheld) == ("", "table_markup")
    assert any("{|" in text for text in parsed)  # the unclosed table went to the tree, which left its markup


def test_abstract_only_for_the_main_namespace():
    assert extract("Some text on a talk page.", ns=1).abstract == ""
    assert extract("Some text.", ns=0).abstract == "Some text."


def test_maintenance_tags_use_enterprise_regexes():
    # the cases of Enterprise's own maintenancetags_test.go (update)
    for text, count in [("{{update|}} {{update|}}", 2), ("{{Update|}} {{updated}", 1),
                        ("n{{Update|}} lorem ipsum", 1), ("{{updated}", 0), ("{updated|}", 0),
                        ("{{update|reason=test|date=November 2023}} and {{Update|}} {{Update}}", 3),
                        ("Multiline test case\n this article has the {{update}} tag\n", 1), ("", 0)]:
        assert maintenance_tags(text)["update_count"] == count, text
    tags = maintenance_tags("a{{citation needed|date=May 2020}} b{{Citation needed span|x}} c{{cn}} "
                            "d{{fact}} {{POV}} {{POV-section}} {{clarify}} {{Clarify|reason=x}}\n{{update\n}}")
    assert tags == {"citation_needed_count": 2, "pov_count": 2, "clarification_needed_count": 2,
                    "update_count": 0}
    assert extract("{{POV}}", ns=1).maintenance_tags is None
    assert extract("{{POV}}", dbname="enwiktionary").maintenance_tags is None
    assert extract("{{POV}}", dbname="enwiki").pov_count == 1


def test_number_of_characters_counts_code_points():
    fields = extract("é𝄞a")
    assert fields.number_of_characters == 3
    assert fields.size_bytes == len("é𝄞a".encode())
    record = _enterprise_record("frwiki", "Calvi")
    fields = extract_wikitext_fields(record["article_body"]["wikitext"], "frwiki", dbname="frwiki")
    assert fields.number_of_characters == record["version"]["number_of_characters"]
    assert fields.size_bytes == record["version"]["size"]["value"]


def test_infobox_image_and_description():
    text = (
        "{{Short description|American dancer}}\n"
        "{{Infobox person\n| name = Josephine\n| image = Baker Harcourt 1940 2.jpg\n| image_size = 220px\n"
        "| birth_place = [[St. Louis]], U.S.\n| empty = \n}}\n'''Josephine''' was a dancer."
    )
    fields = extract(text)
    assert fields.description == "American dancer"
    assert fields.image == {
        "name": "Baker Harcourt 1940 2.jpg",
        "content_url": "https://upload.wikimedia.org/wikipedia/commons/0/0b/Baker_Harcourt_1940_2.jpg",
    }
    (box,) = fields.infoboxes
    assert box["name"] == "Infobox person" and box["type"] == "infobox"
    by_name = {p["name"]: p for p in box["has_parts"]}
    assert by_name["birth_place"]["value"] == "St. Louis, U.S."
    assert by_name["birth_place"]["links"][0]["url"] == "https://en.wikipedia.org/wiki/St._Louis"
    assert by_name["image"]["type"] == "image"
    assert "empty" not in by_name
    pt = extract_wikitext_fields("{{Info/Município do Brasil|nome=X}}\nTexto.", "ptwiki", dbname="ptwiki")
    assert pt.infoboxes[0]["name"] == "Info/Município do Brasil"


def test_image_skips_small_icons_and_falls_back_to_the_lead_file():
    text = ("{{Images|image1=Symbol.svg|taille1=100}}\n[[Fichier:Portrait.jpg|vignette|Légende]]\n"
            "'''X''' est un test.")
    fields = extract_wikitext_fields(text, "frwiki", dbname="frwiki")
    assert fields.image["name"] == "Portrait.jpg"


def test_references_are_deduplicated_and_structured():
    text = (
        "A.<ref name=\"a\">{{cite web |url=https://example.org/a |title=Page A |website=Example}}</ref>"
        " B.<ref name=a /> C.<ref name=\"later\"/> D.<ref>Plain [https://example.org/d source] text.</ref>\n"
        "== Notes ==\n{{reflist|refs=\n<ref name=\"later\">{{cite book |title=Book |year=1999}}</ref>\n}}"
    )
    refs = extract(text).references
    assert [r["identifier"] for r in refs] == ["a", "later", "ref-3"]
    first = refs[0]
    assert first["type"] == "web"
    assert first["metadata"] == {"url": "https://example.org/a", "title": "Page A", "website": "Example"}
    assert first["source"]["links"] == [{"url": "https://example.org/a"}]
    assert refs[1]["type"] == "book" and refs[1]["metadata"]["year"] == "1999"
    assert refs[2]["text"]["value"] == "Plain source text."


def test_sections_are_nested_and_skip_reference_sections():
    text = (
        "Lead text.\n== Life ==\nLife text with a [[link]].\n=== Early years ===\n* item one\n* item two\n"
        "=== Only a table ===\n{|\n|cell\n|}\n== Work ==\nWork text.\n== References ==\n{{reflist}}\n"
        "=== Sub of references ===\nignored\n"
    )
    sections = extract(text).sections
    assert [s["name"] for s in sections] == ["Abstract", "Life", "Work"]
    life = sections[1]
    assert life["has_parts"][0] == {
        "type": "paragraph", "value": "Life text with a link.",
        "links": [{"url": "https://en.wikipedia.org/wiki/Link", "text": "link"}],
    }
    (early,) = [p for p in life["has_parts"] if p["type"] == "section"]  # the table-only one is pruned
    assert early["name"] == "Early years"
    assert early["has_parts"][0]["type"] == "list"
    assert [i["value"] for i in early["has_parts"][0]["has_parts"]] == ["item one", "item two"]


def test_disambiguation_pages():
    with open(FIXTURES / "wme-sdk-testdata" / "testdata" / "articles.ndjson", encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh if line.strip()]
    de = next(r for r in records if r["is_part_of"]["identifier"] == "dewiki")
    assert extract_wikitext_fields(de["article_body"]["wikitext"], "dewiki").is_disambiguation
    en = next(r for r in records if r["is_part_of"]["identifier"] == "enwiki")
    assert not extract_wikitext_fields(en["article_body"]["wikitext"], "enwiki").is_disambiguation
    assert extract("'''X''' may refer to:\n* a\n{{disambiguation|geo}}").is_disambiguation
    assert extract("'''X''' may refer to:\n__DISAMBIG__").is_disambiguation
    assert extract_wikitext_fields("X\n{{Homonymie}}", "frwiki").is_disambiguation


@pytest.mark.parametrize("text, target", [
    ("#REDIRECT [[Foo bar#Section]]", "Foo bar"),
    ("#redirect:[[foo_bar]]", "Foo bar"),
    ("  #REDIRECT [[Category:Things]]", "Category:Things"),
    ("#WEITERLEITUNG [[Ziel]]", "Ziel"),
    ("#перенаправление [[Цель]]", "Цель"),
    ("#転送 [[東京]]", "東京"),
    ("# a numbered item [[Foo]]", None),
    ("Text #REDIRECT [[Foo]]", None),
])
def test_redirect_target(text, target):
    assert redirect_target(text) == target


def test_to_enterprise_shape():
    fields = extract("'''X''' is y.\n[[Category:Things]]\n{{Stub}}")
    record = fields.to_enterprise(EN)
    assert record["categories"] == [{"name": "Category:Things",
                                     "url": "https://en.wikipedia.org/wiki/Category:Things"}]
    assert record["templates"][0]["name"] == "Template:Stub"
    assert record["version"]["maintenance_tags"] == {}
    assert record["version"]["number_of_characters"] == fields.number_of_characters


def test_transcluded_templates_read_every_depth():
    """MediaWiki's reading (checked on a real wiki in test_transclusions): nested templates count, at
    any depth and inside links, refs and parser functions; not in nowiki, comments or <pre>."""
    text = (
        "{{Infobox person|birth_date={{Birth date|1900|1|1}}|spouse={{plainlist|\n* {{marriage|[[A]]|{{nowrap|x}}}}}}}}"
        "{{#if:x|{{In if}}}} [[Foo|{{In link}}]] <ref>{{cite web|title={{lang|fr|x}}}}</ref>"
        "{{subst:Substituted}} {{safesubst:Safe}} {{PAGENAME|x}} {{PAGENAME}} {{pagename}} {{lc:X}} {{=}}"
        "<nowiki>{{No}}</nowiki><!-- {{Comment}} --><pre>{{Pre}}</pre> {{ {{Dynamic}} }} {{Foo\u200e}}"
    )
    fields = extract(text)
    assert fields.templates == ["Template:Infobox person", "Template:In link", "Template:Cite web",
                                "Template:Substituted", "Template:Safe", "Template:PAGENAME",
                                "Template:Pagename", "Template:Foo"]
    assert set(fields.transcluded_templates) == {
        "Template:Infobox person", "Template:Birth date", "Template:Plainlist", "Template:Marriage",
        "Template:Nowrap", "Template:In if", "Template:In link", "Template:Cite web", "Template:Lang",
        "Template:Safe", "Template:PAGENAME", "Template:Pagename", "Template:Dynamic", "Template:Foo",
    }


def test_magic_words_are_per_language():
    """{{SORTIERUNG:…}} sorts on dewiki and is a template on enwiki; Vietnamese {{TÊNTRANG}} is PAGENAME."""
    de = WikiNames.for_wiki("dewiki")
    assert extract("{{SORTIERUNG:X}}{{DEFAULTSORT:X}}", de).transcluded_templates == []
    assert extract("{{SORTIERUNG:X}}{{DEFAULTSORT:X}}").transcluded_templates == ["Template:SORTIERUNG:X"]
    vi = WikiNames.for_wiki("viwiki")
    assert extract("{{TÊNTRANG}} {{Tham khảo}}", vi).transcluded_templates == ["Bản mẫu:Tham khảo"]


def test_transcluded_template_redirects_follow_the_dump():
    """A transcluded redirect lists its target too, at most two hops (as MediaWiki), from the dump."""
    with DumpReader(DUMPS / "mrwiki-truncated-100k.xml.xz", keep_partial=True) as reader:
        names = WikiNames.from_siteinfo(reader.siteinfo)
        pages = [(p.ns, p.title, p.latest.text or "") for p in reader if p.latest]
    from wme_assets.enrichment.wikitext.transclusions import template_redirects

    names.template_redirects = template_redirects(pages, names)
    assert names.template_redirects["साचा:नदी"] == "साचा:माहितीचौकट नदी"
    assert extract("{{नदी|x=1}}", names).transcluded_templates == ["साचा:नदी", "साचा:माहितीचौकट नदी"]
    assert extract("{{नदी|x=1}}", names).templates == ["साचा:नदी"]  # Parsoid names what is written
    chain = WikiNames.for_wiki("enwiki")
    chain.template_redirects = {"Template:A": "Template:B", "Template:B": "Template:C", "Template:C": "Template:D"}
    assert extract("{{a}}", chain).transcluded_templates == ["Template:A", "Template:B", "Template:C"]
