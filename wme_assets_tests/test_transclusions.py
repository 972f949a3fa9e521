"""``transcluded_templates`` against MediaWiki's own ``templatelinks``, on a real MediaWiki 1.39.

The wiki of this module (its own instance, not the session's ``mediawiki``) holds real article
wikitext — the four enwiki Enterprise records and the 70 pages of the wtf_wikipedia corpus — and,
first in the import so that the articles' link updates see them, one Template page per template the
articles call (the union of wme's and mwparserfromhell's readings). Those templates are not
Wikipedia's (no fixture has enwiki's template pages): each body reads every parameter the articles
pass it, ``{{{name|}}}`` per name, which is what an installation with the real templates does for
the parameters a template uses. MediaWiki then computes the truth: ``prop=templates`` lists what its
preprocessor expanded, with its title normalisation and magic-word tables.

What the wikitext alone cannot decide is measured apart (see :mod:`...transclusions`): MediaWiki
expands only the branch a parser function takes (``{{#if:…|A|B}}``), never the arguments of a
missing template, and nothing of a parameter a template does not read — the probe page shows all
three on this wiki.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from xml.sax.saxutils import escape

import mwparserfromhell
import pytest
import requests

from wme_assets.enrichment.wikitext import WikiNames, extract_wikitext_fields
from wme_assets.enrichment.wikitext.magic_words import english_tables
from wme_assets.enrichment.wikitext.transclusions import template_redirects
from wme_assets_tests.mediawiki_server import ENWIKI_RECORDS, ensure_installed, start_mediawiki
from wme_assets_tests.paths import FIXTURES
from wme_assets_tests.servers import refuse_outside_integration

pytestmark = pytest.mark.integration

WTF = FIXTURES / "wtf_wikipedia-wikitext"
EN = WikiNames.for_wiki("enwiki")
_COMMENT_RE = re.compile(r"<!--.*?(?:-->|$)", re.DOTALL)
PROBE = "Wme transclusion probe"
PROBE_TEXT = (
    "{{Wme missing|{{Wme in missing}}}} {{Wme reader|{{Wme in read}}|unread={{Wme in unread}}}} "
    "{{#if:x|{{Wme if taken}}|{{Wme if untaken}}}} {{Wme redirect}} {{subst:Wme subst}} {{PAGENAME|x}} "
    "{{pagename}} {{PAGENAME}} {{lc:X}} {{=}} {{ wme_spaced   name }} {{:Wme main}} <nowiki>{{Wme nowiki}}</nowiki>"
)
PROBE_TEMPLATES = {"Template:Wme reader": "{{{1|}}}", "Template:Wme redirect": "#REDIRECT [[Template:Wme reader]]"}


def _page(title: str, ns: int, text: str) -> str:
    return (f"<page><title>{escape(title)}</title><ns>{ns}</ns><revision><timestamp>2025-01-01T00:00:00Z"
            f"</timestamp><contributor><username>Fixture</username></contributor><model>wikitext</model>"
            f'<format>text/x-wiki</format><text xml:space="preserve">{escape(text)}</text></revision></page>')


def _articles() -> dict[str, str]:
    from wme_assets.devtools.mirror import read_enterprise_records

    pages = {r["name"]: r["article_body"]["wikitext"] for r in read_enterprise_records(ENWIKI_RECORDS)}
    for path in sorted(WTF.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        if not text.lstrip().upper().startswith("#REDIRECT"):
            pages.setdefault(path.stem.replace("-", " ").replace("_", " "), text)
    return pages


def _template_bodies(articles: dict[str, str]) -> dict[str, str]:
    """A Template page for every template the articles call, reading each parameter passed to it."""
    params: dict[str, dict[str, None]] = {}
    for text in articles.values():
        for title in extract_wikitext_fields(text, EN).transcluded_templates:
            if title.startswith("Template:"):
                params.setdefault(title, {})
        for tpl in mwparserfromhell.parse(text).filter_templates():
            name = _COMMENT_RE.sub("", str(tpl.name)).strip()
            if not name or any(c in name for c in "{}[]<>#|") or ":" in name.split("#")[0] and not \
                    name.lower().startswith("template:"):
                continue
            title = "Template:" + " ".join(name.removeprefix("Template:").removeprefix("template:")
                                           .replace("_", " ").split())
            title = "Template:" + title[9:10].upper() + title[10:]
            names = params.setdefault(title, {})
            for p in tpl.params:
                key = str(p.name).strip()
                if key and not any(c in key for c in "{}|=<>"):
                    names.setdefault(key, None)
    return {t: "".join(f"{{{{{{{k}|}}}}}}" for k in keys) or "x" for t, keys in params.items()}


class _Wiki:
    def __init__(self, base_url: str, articles: dict[str, str]):
        self.api = f"{base_url}/api.php"
        self.articles = articles

    def templates(self, title: str) -> set[str]:
        params = {"action": "query", "prop": "templates", "titles": title, "tllimit": "max",
                  "format": "json", "formatversion": "2"}
        out: set[str] = set()
        while True:
            reply = requests.get(self.api, params=params, timeout=60).json()
            page = reply["query"]["pages"][0]
            assert not page.get("missing"), title
            out |= {t["title"] for t in page.get("templates", [])}
            if "continue" not in reply:
                return out
            params.update(reply["continue"])

    def siteinfo(self) -> dict:
        return requests.get(self.api, params={"action": "query", "meta": "siteinfo", "format": "json",
                                              "siprop": "magicwords|functionhooks|variables",
                                              "formatversion": "2"}, timeout=30).json()["query"]


@pytest.fixture(scope="module")
def templates_wiki(request) -> Iterator[_Wiki]:
    refuse_outside_integration(request, "MediaWiki")
    if not ENWIKI_RECORDS.is_dir() or not WTF.is_dir():
        pytest.skip("fixtures missing")
    ensure_installed()
    articles = _articles()
    templates = {**_template_bodies(articles), **PROBE_TEMPLATES}
    templates.pop("Template:Wme missing", None)
    pages = [_page(t, 10, body) for t, body in sorted(templates.items())]
    pages += [_page(t, 0, text) for t, text in [*articles.items(), (PROBE, PROBE_TEXT)]]
    xml = ('<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/" version="0.10" xml:lang="en">'
           + "".join(pages) + "</mediawiki>").encode()
    parent = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    directory = Path(tempfile.mkdtemp(prefix="wme-mediawiki-templates-", dir=parent))
    proc: subprocess.Popen | None = None
    try:
        server, proc = start_mediawiki(directory, xml, {PROBE: PROBE_TEXT}, link_updates=True)
        sys.stderr.write(f"\nMediaWiki (templates) on {server.base_url}: {len(articles)} articles, "
                         f"{len(templates)} templates, {server.timings}\n")
        yield _Wiki(server.base_url, articles)
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(directory, ignore_errors=True)


def test_mediawiki_expands_lazily_and_records_missing_templates(templates_wiki):
    """What MediaWiki records on this wiki, and what wme lists for the same text."""
    truth = templates_wiki.templates(PROBE)
    assert truth == {
        "Template:Wme missing",  # missing: recorded, but its arguments are never expanded
        "Template:Wme reader", "Template:Wme in read",  # the parameter the template reads is expanded
        "Template:Wme if taken",  # only the branch #if takes
        "Template:Wme redirect",  # a redirect and its target (Wme reader, already there)
        "Template:PAGENAME",  # a variable with arguments is a template; in the wrong case too:
        "Template:Pagename",
        "Template:Wme spaced name", "Wme main",
    }
    names = WikiNames.for_wiki("enwiki")
    names.template_redirects = template_redirects(
        [(10, t, body) for t, body in PROBE_TEMPLATES.items()], names)
    ours = set(extract_wikitext_fields(PROBE_TEXT, names).transcluded_templates)
    # what the text holds but MediaWiki's lazy expansion skips on this wiki
    assert ours - truth == {"Template:Wme in missing", "Template:Wme in unread", "Template:Wme if untaken"}
    assert truth <= ours


def test_transcluded_templates_match_mediawiki(templates_wiki):
    tp = fp = fn = 0
    top_tp = top_fp = top_fn = 0
    untaken_branch = 0
    misses: dict[str, set[str]] = {}
    extras: dict[str, set[str]] = {}
    for title, text in templates_wiki.articles.items():
        truth = templates_wiki.templates(title)
        fields = extract_wikitext_fields(text, EN)
        ours = set(fields.transcluded_templates)
        # Expansion-dependent: a template only in a parser-function branch MediaWiki did not take.
        branch_only = _in_parser_function_only(text) & (ours - truth)
        untaken_branch += len(branch_only)
        ours -= branch_only
        tp, fp, fn = tp + len(ours & truth), fp + len(ours - truth), fn + len(truth - ours)
        top = set(fields.templates)
        top_tp, top_fp, top_fn = top_tp + len(top & truth), top_fp + len(top - truth), top_fn + len(truth - top)
        if truth - ours:
            misses[title] = truth - ours
        if ours - truth:
            extras[title] = ours - truth
    p, r = tp / (tp + fp), tp / (tp + fn)
    f1 = 2 * p * r / (p + r)
    tp_, tr_ = top_tp / (top_tp + top_fp), top_tp / (top_tp + top_fn)
    top_f1 = 2 * tp_ * tr_ / (tp_ + tr_)
    print(f"\ntranscluded_templates vs MediaWiki prop=templates, {len(templates_wiki.articles)} pages: "
          f"P {p:.4f} R {r:.4f} F1 {f1:.4f} (tp {tp} fp {fp} fn {fn}); "
          f"in an untaken parser-function branch only (excluded): {untaken_branch}\n"
          f"templates (top level, Enterprise's field) vs the same: P {tp_:.4f} R {tr_:.4f} F1 {top_f1:.4f}\n"
          f"missed: {dict(list(misses.items())[:10])}\nextra: {dict(list(extras.items())[:10])}")
    assert f1 >= 0.99, (misses, extras)
    assert top_f1 < f1  # the nested transclusions are what the top-level list lacks


def _in_parser_function_only(text: str) -> set[str]:
    """Templates that occur in this text only inside a ``{{#…:}}`` parser function (mwparserfromhell's
    reading, independent of wme's scan)."""
    inside: set[str] = set()
    outside: set[str] = set()

    def walk(code, in_pf: bool) -> None:
        for tpl in code.filter_templates(recursive=False):
            name = str(tpl.name).strip()
            pf = name.startswith("#")
            if not pf and name and not any(c in name for c in "{}[]<>|"):
                n = " ".join(name.replace("_", " ").split())
                (inside if in_pf else outside).add("Template:" + n[:1].upper() + n[1:])
            for param in tpl.params:
                walk(param.value, in_pf or pf)
        for tag in code.filter_tags(recursive=False):
            if tag.contents is not None:
                walk(tag.contents, in_pf)
        for link in code.filter_wikilinks(recursive=False):
            if link.text is not None:
                walk(link.text, in_pf)

    walk(mwparserfromhell.parse(text), False)
    return inside - outside


def test_magic_word_tables_cover_mediawiki(templates_wiki):
    """Every core/ParserFunctions synonym the wiki reports is known to the extractor, with its case rule."""
    info = templates_wiki.siteinfo()
    words = {w["name"]: w for w in info["magicwords"]}
    tables = english_tables()
    hooks = set(info["functionhooks"])
    for name in info["variables"]:
        for alias in words[name]["aliases"]:
            if words[name].get("case-sensitive"):
                assert alias in tables["variables_cs"], alias
            else:
                assert alias.casefold() in tables["variables_ci"], alias
    for name in hooks:
        for alias in words[name]["aliases"]:
            alias = alias.rstrip(":")
            if alias.startswith("#") or alias.islower():  # registered with a hash: {{#if:…}}
                continue
            if words[name].get("case-sensitive"):
                assert alias in tables["functions_cs"], alias
            else:
                assert alias.casefold() in tables["functions_ci"], alias
