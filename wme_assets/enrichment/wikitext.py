"""Wikimedia Enterprise article fields that a page's wikitext determines, extracted fast.

:func:`extract_wikitext_fields` turns one revision's wikitext into a :class:`WikitextFields`
(Enterprise field names: ``abstract``, ``categories``, ``templates``, ``sections``, ``infoboxes``,
``references``, ``tables``, ``image``, ``description``, ``maintenance_tags``, ``number_of_characters``,
``is_disambiguation``, ``redirect_target``).

Why it is built the way it is
    ``mwparserfromhell.parse`` of a whole article is slower than this whole stage may be (the issue
    measured ~0.9 MB/s per core for the parse and 0.3–0.45 MB/s for a multi-walk extractor; the target
    is ≥ 2 MB/s). So the tree is built for one thing only: the paragraphs of the lead, for the
    abstract — after one brace scan has cut the lead's non-text templates out (infoboxes, hatnotes and
    citations are most of a lead's bytes; their parameters give the infobox, the image and the short
    description directly). Everything else comes from linear scans over a *masked* copy of the page
    (comments removed, ``<nowiki>`` neutralised, ``<math>``/``<syntaxhighlight>``/``<includeonly>``…
    dropped): categories by one regex, templates and headings by brace/heading scans, references by
    a tag scan, section text by a regex renderer. ``benchmarks/bench_enrichment.py`` measures the
    stage at ~3× the speed of a bare ``mwparserfromhell.parse`` of the same pages.

Enterprise conventions reproduced (checked against the real records in ``shared/fixtures``)
    * ``templates``: what Parsoid reports — every transclusion that is *not* inside another
      template's arguments (templates inside ``<ref>``, links and image captions count), named
      ``<localized Template namespace>:<Title>``; parser functions and magic words are not templates.
    * ``categories``: ``<localized Category namespace>:<Title>``, sort keys removed, deduplicated.
      Categories that templates add (hidden/maintenance ones) are not in the wikitext and cannot be
      derived here.
    * ``abstract``: the lead's paragraphs and lists (not tables, infoboxes, hatnotes, images,
      references, definition lists), joined by single spaces, then Enterprise's parenthetical
      clean-up (``( … )`` holding a space is removed unless the text looks like a formula); the
      space before ``; : ! ? »`` and after ``«`` becomes a no-break space as MediaWiki renders it,
      and a ``<sup>`` number is written as U+2070 + digit, as Enterprise writes it ("mc⁲").
    * ``sections``: the lead as "Abstract", then the headings nested by level, with ``paragraph`` /
      ``list`` parts and their links; "See also", "References", "External links"… (and their
      subsections) are left out and sections with no text are dropped, as in Enterprise's output.
    * ``tables``: the ``{| … |}`` data tables outside templates (not infobox/navbox/message-box
      layout tables), cells as plain text, spans repeated into every cell they cover, a nested table
      on the cell that holds it; ``confidence_score`` drops for an unclosed or ragged table. Only
      pages containing ``{|`` pay for the scan.
    * ``maintenance_tags``: Enterprise's own regexes over the raw wikitext (so ``{{cn}}`` and
      ``{{fact}}`` are *not* counted, ``{{Citation needed span}}`` is), only for ns 0 of ``*wiki``.
    * ``number_of_characters``: Unicode code points of the wikitext (Go ``len([]rune(text))``).

Robustness: every scan is linear (unclosed tags/comments are searched for once, not per opener;
no regex here backtracks over an unclosed construct — where Enterprise's Go regexes rely on RE2
being linear, the same semantics are implemented by hand). The tree parse is skipped, and the regex
renderer used instead, for leads that would make mwparserfromhell recurse too deep
(``RecursionError`` on ``{{`` × 2000) or go quadratic (hundreds of unclosed links, tags or tables).
With ``time_budget_s`` the extractor checks a deadline between stages and inside long loops and
raises :class:`ExtractionTimeout` instead of running on.
"""

from __future__ import annotations

import hashlib
import html
import re
import time
from bisect import bisect_right
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import mwparserfromhell
from mwparserfromhell.nodes import (
    Comment,
    ExternalLink,
    HTMLEntity,
    Tag,
    Template,
    Text,
    Wikilink,
)

__all__ = [
    "ExtractionTimeout",
    "WikiNames",
    "WikitextFields",
    "extract_wikitext_fields",
    "maintenance_tags",
    "mask_wikitext",
    "redirect_target",
]

NS_FILE = 6
NS_TEMPLATE = 10
NS_CATEGORY = 14

# Leads longer than this are cut (at a paragraph break) before the tree parse: an abstract never
# needs more, and mwparserfromhell's cost grows faster than linearly on hostile input.
LEAD_PARSE_LIMIT = 120_000
# Above these counts in the lead the tree parse is skipped (mwparserfromhell recurses per nesting
# level and backtracks on unclosed constructs); the regex renderer handles such text linearly.
_MAX_LEAD_NESTING = 40
_MAX_LEAD_UNCLOSED = 24
_MAX_LEAD_TAGS = 3_000
_MAX_LEAD_TABLES = 200
_MAX_LEAD_BRACKETS = 12_000
_MAX_LEAD_QUOTES = 6_000


class ExtractionTimeout(TimeoutError):
    """The extraction ran past its ``time_budget_s``; ``stage`` names where it stopped."""

    def __init__(self, stage: str, budget_s: float) -> None:
        super().__init__(f"wikitext extraction exceeded its {budget_s:g} s budget (during {stage})")
        self.stage = stage
        self.budget_s = budget_s


class _Deadline:
    """Cooperative time budget: checked between stages and every few hundred loop iterations."""

    __slots__ = ("budget", "end")

    def __init__(self, budget_s: float | None) -> None:
        self.budget = budget_s
        self.end = None if budget_s is None else time.monotonic() + budget_s

    def check(self, stage: str) -> None:
        if self.end is not None and time.monotonic() > self.end:
            raise ExtractionTimeout(stage, self.budget)


_NO_DEADLINE = _Deadline(None)


# ==================================================================================================
# Per-wiki names: namespaces and their aliases
# ==================================================================================================

# Canonical (English) names MediaWiki accepts on every wiki, besides the localized ones.
_CANONICAL_NS: dict[int, tuple[str, ...]] = {
    -2: ("Media",),
    -1: ("Special",),
    1: ("Talk",),
    2: ("User",),
    3: ("User talk",),
    4: ("Project", "Wikipedia", "WP"),  # every Wikipedia accepts these for its project namespace
    5: ("Project talk",),
    NS_FILE: ("File", "Image"),
    7: ("File talk", "Image talk"),
    8: ("MediaWiki",),
    NS_TEMPLATE: ("Template",),
    11: ("Template talk",),
    12: ("Help",),
    NS_CATEGORY: ("Category",),
    15: ("Category talk",),
    100: ("Portal",),
    828: ("Module",),
}

# Localized names (first = the wiki's own name) and common aliases for the wikis of the fixtures and
# a few large ones. A dump's <siteinfo> supplies the first name; aliases are not in dumps.
_BUILTIN_NS: dict[str, dict[int, tuple[str, ...]]] = {
    "en": {NS_FILE: ("File", "Image"), NS_TEMPLATE: ("Template",), NS_CATEGORY: ("Category",),
           4: ("Wikipedia", "WP"), 100: ("Portal",)},
    "simple": {NS_FILE: ("File", "Image"), NS_TEMPLATE: ("Template",), NS_CATEGORY: ("Category",),
               4: ("Wikipedia", "WP")},
    "fr": {NS_FILE: ("Fichier", "Image"), NS_TEMPLATE: ("Modèle",), NS_CATEGORY: ("Catégorie",),
           4: ("Wikipédia", "WP"), 100: ("Portail",), 828: ("Module",)},
    "pt": {NS_FILE: ("Ficheiro", "Arquivo", "Imagem"), NS_TEMPLATE: ("Predefinição", "Modelo"),
           NS_CATEGORY: ("Categoria",), 4: ("Wikipédia", "WP"), 100: ("Portal",), 828: ("Módulo",)},
    "de": {NS_FILE: ("Datei", "Bild"), NS_TEMPLATE: ("Vorlage",), NS_CATEGORY: ("Kategorie",),
           4: ("Wikipedia", "WP"), 100: ("Portal",), 828: ("Modul",)},
    "es": {NS_FILE: ("Archivo", "Imagen"), NS_TEMPLATE: ("Plantilla",), NS_CATEGORY: ("Categoría",),
           4: ("Wikipedia", "WP"), 100: ("Portal",), 828: ("Módulo",)},
    "it": {NS_FILE: ("File", "Immagine"), NS_TEMPLATE: ("Template",), NS_CATEGORY: ("Categoria",),
           4: ("Wikipedia", "WP"), 100: ("Portale",), 828: ("Modulo",)},
    "ru": {NS_FILE: ("Файл", "Изображение"), NS_TEMPLATE: ("Шаблон",), NS_CATEGORY: ("Категория",),
           4: ("Википедия", "ВП"), 100: ("Портал",), 828: ("Модуль",)},
    "uk": {NS_FILE: ("Файл", "Зображення"), NS_TEMPLATE: ("Шаблон",), NS_CATEGORY: ("Категорія",),
           4: ("Вікіпедія", "ВП"), 100: ("Портал",), 828: ("Модуль",)},
    "ja": {NS_FILE: ("ファイル", "画像"), NS_TEMPLATE: ("Template", "テンプレート"),
           NS_CATEGORY: ("Category", "カテゴリ"), 4: ("Wikipedia",), 100: ("Portal",),
           828: ("モジュール",)},
    "vi": {NS_FILE: ("Tập tin", "Hình"), NS_TEMPLATE: ("Bản mẫu", "Tiêu bản"),
           NS_CATEGORY: ("Thể loại",), 4: ("Wikipedia",), 100: ("Chủ đề",), 828: ("Mô đun",)},
    "bn": {NS_FILE: ("চিত্র",), NS_TEMPLATE: ("টেমপ্লেট",), NS_CATEGORY: ("বিষয়শ্রেণী",),
           4: ("উইকিপিডিয়া",), 100: ("প্রবেশদ্বার",), 828: ("মডিউল",)},
    "el": {NS_FILE: ("Αρχείο", "Εικόνα"), NS_TEMPLATE: ("Πρότυπο",), NS_CATEGORY: ("Κατηγορία",),
           4: ("Βικιπαίδεια",), 100: ("Πύλη",)},
    "hy": {NS_FILE: ("Պատկեր",), NS_TEMPLATE: ("Կաղապար",), NS_CATEGORY: ("Կատեգորիա",),
           4: ("Վիքիպեդիա",), 100: ("Պորտալ",), 828: ("Մոդուլ",)},
    "mr": {NS_FILE: ("चित्र",), NS_TEMPLATE: ("साचा",), NS_CATEGORY: ("वर्ग",),
           4: ("विकिपीडिया",), 12: ("सहाय्य", "साहाय्य"), 100: ("दालन",), 828: ("विभाग",)},
    "zh": {NS_FILE: ("File", "文件", "檔案", "图像", "圖像"), NS_TEMPLATE: ("Template", "模板", "样板"),
           NS_CATEGORY: ("Category", "分类", "分類"), 4: ("Wikipedia",), 100: ("Portal",)},
    "pl": {NS_FILE: ("Plik", "Grafika"), NS_TEMPLATE: ("Szablon",), NS_CATEGORY: ("Kategoria",),
           4: ("Wikipedia",), 100: ("Portal",), 828: ("Moduł",)},
    "nl": {NS_FILE: ("Bestand", "Afbeelding"), NS_TEMPLATE: ("Sjabloon",), NS_CATEGORY: ("Categorie",),
           4: ("Wikipedia",), 100: ("Portaal",)},
}

# dbname suffix → host suffix, for article URLs ("enwikiversity" → en.wikiversity.org).
_PROJECTS = {
    "wiki": "wikipedia.org",
    "wiktionary": "wiktionary.org",
    "wikibooks": "wikibooks.org",
    "wikinews": "wikinews.org",
    "wikiquote": "wikiquote.org",
    "wikisource": "wikisource.org",
    "wikiversity": "wikiversity.org",
    "wikivoyage": "wikivoyage.org",
}


def _name_key(name: str) -> str:
    """Comparison key of a namespace name or alias: MediaWiki matches them case-insensitively and
    treats underscores as spaces."""
    return " ".join(name.replace("_", " ").split()).casefold()


def _dbname_parts(dbname: str) -> tuple[str, str]:
    """``"enwikiversity"`` → ``("en", "wikiversity")``; ``"zh_yuewiki"`` → ``("zh-yue", "wiki")``."""
    for suffix in sorted(_PROJECTS, key=len, reverse=True):
        if dbname.endswith(suffix) and len(dbname) > len(suffix):
            return dbname[: -len(suffix)].replace("_", "-"), suffix
    return dbname, "wiki"


@dataclass(slots=True)
class WikiNames:
    """What the extractor needs to know about one wiki: its namespace names and aliases (matched
    case-insensitively), which namespaces are case-sensitive, its language and article URL prefix.

    Build it once per wiki (it compiles the category regex) with :meth:`from_siteinfo` (a dump's
    ``<siteinfo>``, e.g. ``DumpReader(path).siteinfo``), :meth:`for_wiki` (built-in tables, by dbname
    or language code) or :meth:`from_namespaces` (a plain ``{id: name}`` map).
    """

    language: str = "en"
    names: dict[int, str] = field(default_factory=dict)  # the wiki's own name per namespace id
    lookup: dict[str, int] = field(default_factory=dict)  # _name_key(name or alias) -> id
    case_sensitive: frozenset[int] = frozenset()
    article_url: str | None = None  # "https://en.wikipedia.org/wiki/"
    _category_re: re.Pattern[str] | None = None
    _file_re: re.Pattern[str] | None = None

    def __post_init__(self) -> None:
        for ns, canon in _CANONICAL_NS.items():
            self.names.setdefault(ns, canon[0])
            for alias in canon:
                self.lookup.setdefault(_name_key(alias), ns)
        for ns, name in self.names.items():
            if name:
                self.lookup.setdefault(_name_key(name), ns)
        cat_names = sorted(
            {n for n, ns in self.lookup.items() if ns == NS_CATEGORY}, key=len, reverse=True
        )
        alternation = "|".join(re.escape(n).replace(r"\ ", "[ _]+") for n in cat_names)
        # [[Category:Name|sort key]] — the name cannot hold []{}|<> or a newline; a leading colon
        # ([[:Category:X]], a plain link) does not match because the namespace must follow [[.
        file_names = sorted({n for n, ns in self.lookup.items() if ns == NS_FILE}, key=len, reverse=True)
        file_alternation = "|".join(re.escape(n).replace(r"\ ", "[ _]+") for n in file_names)
        # [[File:Name|options|caption]]: the options are read up to the first nested link
        self._file_re = re.compile(
            r"\[\[[ \t_]*(?:" + file_alternation + r")[ \t_]*:[ \t_]*([^\[\]{}|\n<>]+?)[ \t_]*"
            r"(\|[^\[\]\n]*)?(?=\]\]|\[\[)",
            re.IGNORECASE,
        )
        self._category_re = re.compile(
            r"\[\[[ \t_]*(?:" + alternation + r")[ \t_]*:[ \t_]*([^\[\]{}|\n<>]+?)[ \t_]*(?:\|[^\[\]\n]*)?\]\]",
            re.IGNORECASE,
        )

    # -- construction ------------------------------------------------------------------------------

    @classmethod
    def for_wiki(cls, wiki: str | None) -> WikiNames:
        """Built-in names for a dbname (``"frwiki"``, ``"enwikiversity"``) or a language code."""
        wiki = wiki or "enwiki"
        lang, project = _dbname_parts(wiki) if wiki not in _BUILTIN_NS else (wiki, "wiki")
        return cls._build(lang, {}, frozenset(), _article_url(lang, project))

    @classmethod
    def from_siteinfo(cls, siteinfo: Any) -> WikiNames:
        """From a :class:`wme_assets.ingestion.dump_xml.SiteInfo` (or anything with ``namespaces``
        mapping id → object with ``name``/``case``, plus optional ``language``/``dbname``/``base_url``)."""
        namespaces = getattr(siteinfo, "namespaces", None) or {}
        dbname = getattr(siteinfo, "dbname", None)
        lang = getattr(siteinfo, "language", None) or (_dbname_parts(dbname)[0] if dbname else "en")
        names = {int(k): getattr(v, "name", v) or "" for k, v in namespaces.items()}
        case_sensitive = frozenset(
            int(k) for k, v in namespaces.items() if getattr(v, "case", None) == "case-sensitive"
        )
        base_url = getattr(siteinfo, "base_url", None)
        if base_url and "/wiki/" in base_url:
            url = base_url.split("/wiki/", 1)[0] + "/wiki/"
        elif dbname:
            url = _article_url(*_dbname_parts(dbname))
        else:
            url = None
        return cls._build(lang, names, case_sensitive, url)

    @classmethod
    def from_namespaces(cls, namespaces: Mapping[int, str], *, language: str = "en",
                        article_url: str | None = None) -> WikiNames:
        """From a plain ``{namespace id: localized name}`` map."""
        return cls._build(language, {int(k): v for k, v in namespaces.items()}, frozenset(), article_url)

    @classmethod
    def _build(cls, lang: str, names: dict[int, str], case_sensitive: frozenset[int],
               url: str | None) -> WikiNames:
        builtin = _BUILTIN_NS.get(lang) or _BUILTIN_NS.get(lang.split("-")[0], {})
        primary = {ns: alts[0] for ns, alts in builtin.items()}
        primary.update({ns: n for ns, n in names.items() if n or ns == 0})
        lookup: dict[str, int] = {}
        for ns, alts in builtin.items():
            for alias in alts:
                lookup.setdefault(_name_key(alias), ns)
        return cls(language=lang, names=primary, lookup=lookup, case_sensitive=case_sensitive,
                   article_url=url)

    # -- title helpers -----------------------------------------------------------------------------

    def namespace_of(self, prefix: str) -> int | None:
        return self.lookup.get(_name_key(prefix))

    def title_case(self, ns: int, text: str) -> str:
        """Apply the namespace's first-letter rule (``case="first-letter"`` on almost every wiki)."""
        if not text or ns in self.case_sensitive:
            return text
        first = text[0].upper()
        return (first if len(first) == 1 else text[0]) + text[1:]

    def full_title(self, ns: int, text: str) -> str:
        text = self.title_case(ns, text)
        prefix = self.names.get(ns, "")
        return f"{prefix}:{text}" if prefix else text

    def split_title(self, raw: str) -> tuple[int, str]:
        """``"Fichier:X.jpg"`` → ``(6, "X.jpg")``; text without a known namespace → ``(0, text)``."""
        title = _clean_title(raw)
        if ":" in title:
            prefix, rest = title.split(":", 1)
            ns = self.namespace_of(prefix)
            if ns is not None:
                return ns, rest.strip()
        return 0, title

    def url(self, title: str) -> str:
        path = title.replace(" ", "_")
        return (self.article_url or "./") + path


def _article_url(lang: str, project: str) -> str:
    return f"https://{lang}.{_PROJECTS.get(project, 'wikipedia.org')}/wiki/"


def _coerce_names(site: Any, dbname: str | None) -> WikiNames:
    if isinstance(site, WikiNames):
        return site
    if site is None:
        return WikiNames.for_wiki(dbname)
    if isinstance(site, str):
        return WikiNames.for_wiki(site)
    if isinstance(site, Mapping):
        lang = _dbname_parts(dbname)[0] if dbname else "en"
        names = {int(k): getattr(v, "name", v) for k, v in site.items()}
        url = _article_url(*_dbname_parts(dbname)) if dbname else None
        return WikiNames.from_namespaces(names, language=lang, article_url=url)
    return WikiNames.from_siteinfo(site)


_WS_RE = re.compile(r"[\s_]+")


def _clean_title(raw: str) -> str:
    """Title text as MediaWiki normalizes it: entities decoded, underscores and runs of whitespace
    to one space, trimmed."""
    if "&" in raw:
        raw = html.unescape(raw)
    return _WS_RE.sub(" ", raw).strip()


# ==================================================================================================
# Masking: comments, <nowiki>, and extension tags whose content is not wikitext
# ==================================================================================================

# Extension/HTML elements whose content is dropped from every field (not wikitext, or not shown).
_DROPPED_ELEMENTS = (
    "pre|math|chem|ce|syntaxhighlight|source|score|graph|timeline|templatedata|mapframe|maplink|"
    "hiero|includeonly|inputbox|charinsert|indicator|categorytree|dynamicpagelist|section"
)
_MASK_OPEN_RE = re.compile(r"<!--|<(nowiki|" + _DROPPED_ELEMENTS + r")\b([^<>]*)>", re.IGNORECASE)
_TRANSPARENT_TAGS_RE = re.compile(r"</?(?:noinclude|onlyinclude)\s*/?>", re.IGNORECASE)
# Inside <nowiki>, markup characters are literal: turning them into character references keeps the
# text (entities are decoded at the end) while no scan can see a link, template or tag in it.
_NOWIKI_ESCAPES = str.maketrans({
    "[": "&#91;", "]": "&#93;", "{": "&#123;", "}": "&#125;", "|": "&#124;", "<": "&lt;",
    ">": "&gt;", "'": "&#39;", "=": "&#61;", "_": "&#95;", ":": "&#58;", "*": "&#42;", "#": "&#35;",
})
_CLOSERS: dict[str, re.Pattern[str]] = {}


def _closer(tag: str) -> re.Pattern[str]:
    pattern = _CLOSERS.get(tag)
    if pattern is None:
        pattern = _CLOSERS[tag] = re.compile(r"</" + re.escape(tag) + r"\s*>", re.IGNORECASE)
    return pattern


def mask_wikitext(text: str, deadline: _Deadline = _NO_DEADLINE) -> str:
    """The wikitext with comments removed, ``<nowiki>`` content made inert (kept as text) and the
    content of non-wikitext elements (``<math>``, ``<pre>``, ``<syntaxhighlight>``, ``<includeonly>``…)
    removed — so no later scan counts a link, category or template that the page does not render.

    Linear time even on hostile input: an element without a closing tag is remembered, so the rest of
    the page is searched for that closer once, not once per opener. As in MediaWiki, an unclosed
    comment runs to the end of the page and an unclosed extension tag is plain text.
    """
    if "<" not in text:
        return text
    out: list[str] = []
    pos = 0
    no_closer_after: dict[str, int] = {}
    search = _MASK_OPEN_RE.search
    steps = 0
    while True:
        m = search(text, pos)
        if m is None:
            break
        steps += 1
        if steps & 255 == 0:
            deadline.check("masking")
        start, open_end = m.span()
        out.append(text[pos:start])
        if m.group(1) is None:  # <!-- comment -->
            end = text.find("-->", open_end)
            pos = len(text) if end < 0 else end + 3
            continue
        tag = m.group(1).lower()
        if m.group(2).rstrip().endswith("/"):  # <nowiki/>, <section begin=x/>
            pos = open_end
            continue
        closed = None
        if no_closer_after.get(tag, len(text) + 1) > open_end:
            closed = _closer(tag).search(text, open_end)
            if closed is None:
                no_closer_after[tag] = open_end
        if closed is None:  # unclosed: literal text, as MediaWiki renders it
            out.append(text[start:open_end])
            pos = open_end
            continue
        if tag == "nowiki":
            out.append(text[open_end:closed.start()].translate(_NOWIKI_ESCAPES))
        pos = closed.end()
    out.append(text[pos:])
    masked = "".join(out)
    if "noinclude" in masked or "onlyinclude" in masked:
        masked = _TRANSPARENT_TAGS_RE.sub("", masked)
    return masked


# ==================================================================================================
# Brace / bracket structure
# ==================================================================================================

_BRACES_RE = re.compile(r"\{\{|\}\}")
_BRACKETS_RE = re.compile(r"\[\[|\]\]")


def _pairs(text: str, token_re: re.Pattern[str], opener: str,
           deadline: _Deadline = _NO_DEADLINE) -> tuple[list[tuple[int, int]], int, int]:
    """Matched ``{{…}}`` (or ``[[…]]``) spans, sorted by start, plus the number of unmatched openers
    and the deepest nesting seen. Iterative (a stack, no recursion), so ``{{`` × 100 000 is fine; an
    unmatched opener is literal text, exactly as in MediaWiki, and does not swallow what follows."""
    stack: list[int] = []
    spans: list[tuple[int, int]] = []
    depth_max = 0
    steps = 0
    for m in token_re.finditer(text):
        steps += 1
        if steps & 4095 == 0:
            deadline.check("brace scan")
        if m.group() == opener:
            stack.append(m.start())
            if len(stack) > depth_max:
                depth_max = len(stack)
        elif stack:
            spans.append((stack.pop(), m.end()))
    spans.sort()
    return spans, len(stack), depth_max


def _outermost(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The spans not contained in another span (``spans`` sorted by start, properly nested)."""
    top: list[tuple[int, int]] = []
    end = -1
    for s, e in spans:
        if s >= end:
            top.append((s, e))
            end = e
    return top


_SPLIT_RE = re.compile(r"\{\{|\}\}|\[\[|\]\]|\|")


def _split_top(body: str) -> list[str]:
    """Split a template body (between ``{{`` and ``}}``) at the pipes that are not inside a nested
    template or link."""
    if "|" not in body:
        return [body]
    parts: list[str] = []
    braces = links = 0
    last = 0
    for m in _SPLIT_RE.finditer(body):
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


def _template_args(parts: list[str]) -> tuple[list[str], dict[str, str]]:
    """Positional and named arguments of a split template body (``parts[0]`` is the name)."""
    positional: list[str] = []
    named: dict[str, str] = {}
    for part in parts[1:]:
        eq = part.find("=")
        if eq > 0:
            key = part[:eq]
            if "{{" not in key and "[[" not in key and "<" not in key:
                named[key.strip()] = part[eq + 1:].strip()
                continue
        positional.append(part)
    return positional, named


# ==================================================================================================
# Template names
# ==================================================================================================

# Parser functions and magic words with a colon ({{DEFAULTSORT:…}}, {{formatnum:…}}): not templates.
_MAGIC_PREFIXES = frozenset(s.casefold() for s in (
    "DEFAULTSORT", "DEFAULTSORTKEY", "DEFAULTCATEGORYSORT", "DISPLAYTITLE", "formatnum", "lc", "uc",
    "lcfirst", "ucfirst", "urlencode", "anchorencode", "fullurl", "fullurle", "localurl", "localurle",
    "canonicalurl", "canonicalurle", "filepath", "ns", "nse", "int", "padleft", "padright", "plural",
    "grammar", "gender", "tag", "bidi", "language", "dir", "PAGESINCATEGORY", "PAGESIZE", "PROTECTIONLEVEL",
    "PAGEID", "REVISIONID", "NUMBERINGROUP", "special", "speciale", "CASCADINGSOURCES", "noexternallanglinks",
    "PAGENAME", "FULLPAGENAME", "BASEPAGENAME", "SUBPAGENAME", "ROOTPAGENAME", "NAMESPACE", "TALKPAGENAME",
    "PAGENAMEE", "FULLPAGENAMEE", "NAMESPACENUMBER", "interwikilink", "interlanguagelink", "safesubst",
    # localized DEFAULTSORT and friends on the wikis of the fixtures and other large ones
    "CLEDETRI", "CLEFDETRI", "CLÉDETRI", "CLÉFDETRI", "SORTIERUNG", "ORDENAR", "ORDINA", "DEFAULTSORTKEY",
    "СОРТИРОВКА", "СОРТИРОВКА_ПО_УМОЛЧАНИЮ", "КЛЮЧ_СОРТИРОВКИ", "СОРТУВАННЯ", "デフォルトソート",
    "পূর্বনির্ধারিতবাছাই", "ΤΑΞΙΝΟΜΗΣΗ", "ԼՌՈՒԹՅԱՄԲ_ԴԱՍԱՎՈՐՈՒՄ", "डिफॉल्टसॉर्ट", "SẮPXẾPMẶCĐỊNH",
    "DOMYŚLNIESORTUJ", "SORTEERWAARDE", "ЗАГОЛОВОК", "DISPLAYTITEL", "AFFICHERTITRE", "MOSTRARTÍTULO",
))
# Variables (case-sensitive, no colon) and the two magic-word templates {{!}} and {{=}}.
_MAGIC_VARIABLES = frozenset((
    "!", "=", "PAGENAME", "PAGENAMEE", "FULLPAGENAME", "FULLPAGENAMEE", "BASEPAGENAME", "SUBPAGENAME",
    "ROOTPAGENAME", "TALKPAGENAME", "SUBJECTPAGENAME", "ARTICLEPAGENAME", "NAMESPACE", "NAMESPACEE",
    "NAMESPACENUMBER", "SITENAME", "SERVER", "SERVERNAME", "SCRIPTPATH", "STYLEPATH", "CONTENTLANGUAGE",
    "CONTENTLANG", "DIRMARK", "DIRECTIONMARK", "PAGEID", "PAGELANGUAGE", "REVISIONID", "REVISIONDAY",
    "REVISIONDAY2", "REVISIONMONTH", "REVISIONMONTH1", "REVISIONYEAR", "REVISIONTIMESTAMP", "REVISIONUSER",
    "REVISIONSIZE", "CURRENTYEAR", "CURRENTMONTH", "CURRENTMONTH1", "CURRENTMONTHNAME", "CURRENTMONTHNAMEGEN",
    "CURRENTMONTHABBREV", "CURRENTDAY", "CURRENTDAY2", "CURRENTDOW", "CURRENTDAYNAME", "CURRENTTIME",
    "CURRENTHOUR", "CURRENTWEEK", "CURRENTTIMESTAMP", "LOCALYEAR", "LOCALMONTH", "LOCALMONTHNAME",
    "LOCALDAY", "LOCALDAY2", "LOCALDOW", "LOCALDAYNAME", "LOCALTIME", "LOCALHOUR", "LOCALWEEK",
    "LOCALTIMESTAMP", "NUMBEROFPAGES", "NUMBEROFARTICLES", "NUMBEROFFILES", "NUMBEROFEDITS",
    "NUMBEROFUSERS", "NUMBEROFADMINS", "NUMBEROFACTIVEUSERS", "TALKSPACE", "SUBJECTSPACE", "ARTICLESPACE",
))
_TEMPLATE_PREFIX_MODIFIERS = frozenset(("subst", "safesubst", "msgnw", "msg", "raw"))


def _template_title(raw_name: str, names: WikiNames) -> tuple[int, str] | None:
    """``(namespace, title)`` a ``{{name}}`` transcludes, or ``None`` for parser functions, magic
    words and names built from other templates/parameters (Parsoid does not report those)."""
    if "{" in raw_name or "}" in raw_name or "[" in raw_name or "<" in raw_name:
        return None
    name = _clean_title(raw_name)
    if not name or name[0] == "#":
        return None
    for _ in range(2):  # {{subst:…}} / {{msgnw:…}} wrap an ordinary template name
        if ":" not in name:
            break
        prefix, rest = name.split(":", 1)
        key = prefix.strip().casefold()
        if key in _TEMPLATE_PREFIX_MODIFIERS:
            name = rest.strip()
            continue
        if key in _MAGIC_PREFIXES or key.replace(" ", "_") in _MAGIC_PREFIXES:
            return None
        if not prefix.strip():  # {{:Page}} transcludes from the main namespace
            return (0, names.title_case(0, rest.strip().split("#", 1)[0].strip())) if rest.strip() else None
        ns = names.namespace_of(prefix)
        if ns is not None:
            rest = rest.split("#", 1)[0].strip()
            return (ns, names.title_case(ns, rest)) if rest else None
        break  # an unknown prefix is part of the template's own name ({{Graph:Chart}})
    if name in _MAGIC_VARIABLES:
        return None
    name = name.split("#", 1)[0].strip()
    return (NS_TEMPLATE, names.title_case(NS_TEMPLATE, name)) if name else None


def _template_key(raw_name: str, names: WikiNames) -> str | None:
    """Lower-case lookup key of a template (title without namespace) for the renderer tables; parser
    functions keep their ``name:`` prefix (``"formatnum:"``), dynamic names give ``None``."""
    if "{" in raw_name or "[" in raw_name or "<" in raw_name:
        return None
    name = _clean_title(raw_name)
    if not name:
        return None
    if ":" in name:
        prefix, rest = name.split(":", 1)
        key = prefix.strip().casefold()
        if key in _MAGIC_PREFIXES or key.startswith("#"):
            return key + ":"
        if names.namespace_of(prefix) == NS_TEMPLATE:
            name = rest
    return name.strip().casefold()


# ==================================================================================================
# Inline templates that render text (the abstract keeps their output; every other template — infoboxes,
# hatnotes, navboxes, citation markers — renders nothing a plain-text field keeps)
# ==================================================================================================


def _ascii_digits(text: str) -> bool:
    """``str.isdigit`` is true for "²" and other digits ``int()`` rejects."""
    return text.isascii() and text.isdigit()


class _Args:
    """Rendered arguments of one template call, computed lazily (most renderers read one or two)."""

    __slots__ = ("_positional", "_named", "_render", "_cache")

    def __init__(self, positional: list, named: dict, render: Callable[[Any], str]) -> None:
        # {{x|1=a}} sets positional argument 1 (and wins over a bare "a"), as in MediaWiki
        numbered = [k for k in named if _ascii_digits(k) and 0 < int(k) <= 50]
        if numbered:
            positional = list(positional)
            for k in numbered:
                i = int(k) - 1
                positional.extend([""] * (i + 1 - len(positional)))
                positional[i] = named[k]
        self._positional = positional
        self._named = named
        self._render = render
        self._cache: dict[Any, str] = {}

    @property
    def count(self) -> int:
        return len(self._positional)

    def pos(self, i: int) -> str:
        if i < 0:
            i += len(self._positional)
        if not 0 <= i < len(self._positional):
            return ""
        if i not in self._cache:
            self._cache[i] = self._render(self._positional[i]).strip()
        return self._cache[i]

    def named(self, *keys: str) -> str:
        for key in keys:
            if key in self._named:
                if key not in self._cache:
                    self._cache[key] = self._render(self._named[key]).strip()
                if self._cache[key]:
                    return self._cache[key]
        return ""

    def has(self, key: str) -> bool:
        return key in self._named


_MONTHS = {
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December"),
    "fr": ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
           "octobre", "novembre", "décembre"),
    "pt": ("janeiro", "fevereiro", "março", "abril", "maio", "junho", "julho", "agosto", "setembro",
           "outubro", "novembro", "dezembro"),
    "de": ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September",
           "Oktober", "November", "Dezember"),
}


def _month(lang: str, value: str) -> str:
    months = _MONTHS.get(lang, _MONTHS["en"])
    return months[int(value) - 1] if _ascii_digits(value) and 1 <= int(value) <= 12 else value


def _render_date(a: _Args, lang: str) -> str:
    """{{start date|1937|8|28}}, {{date|17|11|1994}}: year-month-day (en) or day-month-year (fr…)."""
    p = [a.pos(i) for i in range(min(a.count, 3))]
    if lang == "en" or (p and len(p[0]) == 4 and p[0].isdigit()):
        year, month, day = (p + ["", "", ""])[:3]
        month = _month("en" if lang not in _MONTHS else lang, month)
        if lang != "en":
            return " ".join(x for x in (day, month, year) if x)
        if a.has("df") and a.named("df").lower() in ("y", "yes"):
            return " ".join(x for x in (day, month, year) if x)
        return f"{month} {day}, {year}" if day else " ".join(x for x in (month, year) if x)
    if len(p) == 1:
        parts = p[0].split()
        if len(parts) == 3 and parts[1].isdigit():
            parts[1] = _month(lang, parts[1])
        return " ".join(parts)
    day, month, year = (p + ["", "", ""])[:3]
    return " ".join(x for x in (day, _month(lang, month), year) if x)


_UNITS = {  # {{convert}}: unit → (singular, plural, symbol)
    "km": ("kilometre", "kilometres", "km"), "m": ("metre", "metres", "m"),
    "cm": ("centimetre", "centimetres", "cm"), "mm": ("millimetre", "millimetres", "mm"),
    "mi": ("mile", "miles", "mi"), "ft": ("foot", "feet", "ft"), "in": ("inch", "inches", "in"),
    "yd": ("yard", "yards", "yd"), "nmi": ("nautical mile", "nautical miles", "nmi"),
    "km2": ("square kilometre", "square kilometres", "km²"),
    "sqkm": ("square kilometre", "square kilometres", "km²"),
    "mi2": ("square mile", "square miles", "sq mi"), "sqmi": ("square mile", "square miles", "sq mi"),
    "m2": ("square metre", "square metres", "m²"), "ha": ("hectare", "hectares", "ha"),
    "acre": ("acre", "acres", "acres"), "kg": ("kilogram", "kilograms", "kg"),
    "g": ("gram", "grams", "g"), "lb": ("pound", "pounds", "lb"), "t": ("tonne", "tonnes", "t"),
    "km/h": ("kilometre per hour", "kilometres per hour", "km/h"),
    "mph": ("mile per hour", "miles per hour", "mph"), "C": ("°C", "°C", "°C"), "°C": ("°C", "°C", "°C"),
    "F": ("°F", "°F", "°F"), "°F": ("°F", "°F", "°F"), "L": ("litre", "litres", "L"),
    "l": ("litre", "litres", "L"), "kn": ("knot", "knots", "kn"), "hp": ("horsepower", "horsepower", "hp"),
}
_RANGE_WORDS = frozenset(("-", "–", "to", "and", "or", "x", "by", "+", "to(-)", "&"))


def _render_convert(a: _Args) -> str:
    value = a.pos(0)
    i = 1
    while a.pos(i) in _RANGE_WORDS and a.pos(i):
        sep = a.pos(i)
        value += ("–" if sep in ("-", "–") else f" {sep} ") + a.pos(i + 1)
        i += 2
    unit = a.pos(i)
    names = _UNITS.get(unit)
    if names is None:
        return f"{value} {unit}".strip()
    if a.named("abbr") in ("on", "yes", "in"):
        return f"{value}\xa0{names[2]}"
    return f"{value} {names[0] if value in ('1', '1.0') else names[1]}"


def _group_digits(number: str, sep: str) -> str:
    """``92090`` → ``92 090`` (with ``sep``); leaves anything that is not a plain number alone."""
    integer, dot, decimals = number.partition(".")
    if not _ascii_digits(integer) or len(integer) <= 4:
        return number
    groups = []
    while integer:
        groups.append(integer[-3:])
        integer = integer[:-3]
    return sep.join(reversed(groups)) + (("," if sep != "," else ".") + decimals if dot else "")


def _render_number(a: _Args, lang: str) -> str:
    """{{fmtn|92090|km²}} (pt), {{unité|92090|km|2}} / {{nombre|3|habitants}} (fr): digits grouped
    with no-break spaces, then the unit (an exponent argument is written after it)."""
    number = _group_digits(a.pos(0).replace(" ", ""), "," if lang == "en" else "\xa0")
    unit = a.pos(1) + a.pos(2) if a.count > 2 and _ascii_digits(a.pos(2)) else a.pos(1)
    return f"{number}\xa0{unit}" if unit else number


def _render_fr_century(a: _Args, suffix: str) -> str:
    roman = a.pos(0)
    return f"{roman}e{suffix}" if roman else ""


def _render_lang_prefixed(key: str, a: _Args) -> str:
    # {{lang-fr|text}} renders "French: text"; the language name is not needed for fidelity (the
    # parenthetical holding it is removed by the abstract clean-up), the colon and space are.
    return f"{key[5:]}: {a.pos(-1)}"


def _joined(a: _Args, sep: str = " ") -> str:
    return sep.join(x for x in (a.pos(i) for i in range(a.count)) if x)


_CONSTANTS = {
    "ndash": "–", "mdash": "—", "snd": " – ", "spnd": " – ", "spaced ndash": " – ",
    "spaced en dash": " – ", "nbsp": "\xa0", "thinsp": "\u2009", "'": "'", "'s": "'s", '"': '"',
    "pipe": "|", "dot": " · ", "middot": "·", "·": "·", "•": " • ", "bull": " • ", "bullet": " • ",
    "en dash": "–", "em dash": "—", "okina": "ʻ", "ʻ": "ʻ", "...": "…", "…": "…",
    "nbhyph": "‑", "sp": " ", "space": " ", "-": "", "hair space": "\u200a", "zwsp": "\u200b",
    "e": "e", "er": "er", "re": "re", "ère": "re", "ème": "e", "no": "no", "n°": "n°",
    # frwiki's reference separator {{,}} is a superscript inside the reference markers Enterprise drops
    ",": "",
    "mme": "Mme", "mlle": "Mlle", "mgr": "Mgr", "dr": "Dr", "av jc": "av. J.-C.", "av j-c": "av. J.-C.",
    "apr jc": "apr. J.-C.", "etc.": "etc.",
}
_FIRST_ARG = frozenset((
    "nowrap", "nobr", "nobreak", "small", "smaller", "big", "larger", "large", "qi", "quote inline",
    "math", "mvar", "var", "em", "strong", "sc", "smallcaps", "small caps", "noitalic", "nobold",
    "not a typo", "as written", "abbr", "abbrv", "visible anchor", "vanchor", "tooltip", "hover title",
    "ill", "interlanguage link", "ill2", "illm", "abréviation", "abréviation discrète", "exp",
    "date-", "serif", "sans-serif", "monospace", "mono", "code", "kbd", "samp", "highlight", "bold",
    "italic", "oldstyle", "formatnum:", "lc:", "uc:", "lcfirst:", "ucfirst:",
    "nobr", "polytonisch", "lang-el", "nihongo2", "japonais", "nihongo",
    "r", "wikt-lang", "nastaliq", "big", "subst:", "nowrap begin", "noinclude", "sic",
))
_LAST_ARG = frozenset(("lang", "langue", "transl", "transliteration", "script", "lang2", "rtl-lang",
                       "native name", "native phrase"))
_FR_ORDINAL_RE = re.compile(r"^(?:\d+|[ivxlcdm]+)(?:e|er|re|ers|res|es|nd|nde|ème|è)(?: siècle| millénaire)?$")


def _first_arg(key: str, a: _Args, lang: str) -> str:
    if key in ("ill", "interlanguage link", "illm", "ill2") and a.has("lt"):
        return a.named("lt")
    text = a.pos(0)
    if key == "formatnum:" and lang == "en" and _ascii_digits(text):
        return f"{int(text):,}"
    return text


def _frac(a: _Args) -> str:
    nums = [a.pos(i) for i in range(a.count)]
    return f"{nums[0]} {nums[1]}/{nums[2]}" if len(nums) == 3 else "/".join(nums)


def _specials() -> dict[str, Callable[[_Args, str], str]]:
    """Templates whose output is computed from their arguments (key → renderer(args, language))."""
    table: dict[str, Callable[[_Args, str], str]] = {
        "convert": lambda a, _l: _render_convert(a),
        "cvt": lambda a, _l: _render_convert(a),
        # frwiki's {{citation}} is an inline quotation; enwiki's is a CS2 citation (renders no text here)
        "citation": lambda a, lang: f"«\xa0{a.pos(0)}\xa0»" if lang == "fr" else "",
        "citation bloc": lambda a, lang: f"«\xa0{a.pos(0)}\xa0»" if lang == "fr" else "",
        "séc": lambda a, _l: f"século {a.pos(0)}" if a.pos(0) else "",  # ptwiki {{séc|XIX}}
        "page h'": lambda a, _l: a.pos(1) or a.pos(0),
        "page h": lambda a, _l: a.pos(1) or a.pos(0),
        "circa": lambda a, _l: f"c.\xa0{a.pos(0)}",
        "c.": lambda a, _l: f"c.\xa0{a.pos(0)}",
        "lien": lambda a, _l: a.named("texte", "fr") or a.pos(0),
        "p.": lambda a, _l: f"p.\xa0{a.pos(0)}",
        "pp.": lambda a, _l: f"pp.\xa0{a.pos(0)}",
        "frac": lambda a, _l: _frac(a),
        "sfrac": lambda a, _l: _frac(a),
        "angbr": lambda a, _l: f"⟨{a.pos(0)}⟩",
        "angle bracket": lambda a, _l: f"⟨{a.pos(0)}⟩",
    }
    for key in ("s", "s-", "siècle", "sp", "sp-"):  # frwiki centuries: {{s|XIX}} → XIXe siècle
        table[key] = lambda a, _l: _render_fr_century(a, "\xa0siècle")
    for key in ("-s", "-s-"):
        table[key] = lambda a, _l: _render_fr_century(a, "\xa0siècle av. J.-C.")
    for key in ("s mini", "s mini-", "-s mini", "-s mini-"):
        table[key] = lambda a, _l: _render_fr_century(a, "")
    for key in ("fmtn", "formatnum", "nombre", "unité"):
        table[key] = _render_number
    for key in ("date", "date de naissance", "date de décès", "start date", "end date", "birth date",
                "death date", "date of birth", "birth date and age", "death date and age", "dts", "data",
                "data de nascimento", "dni", "date de naissance-"):
        table[key] = _render_date
    for key in ("linktext", "hlist", "flatlist", "plainlist", "ubl", "unbulleted list", "plain list",
                "br separated entries", "collapsible list"):
        table[key] = lambda a, _l: _joined(a)
    return table


_SPECIAL_TEMPLATES = _specials()


def _renders_text(key: str | None) -> bool:
    """Whether a template (by lookup key) renders text that plain-text fields keep."""
    return key is not None and (
        key in _CONSTANTS or key in _FIRST_ARG or key in _LAST_ARG or key in _SPECIAL_TEMPLATES
        or (key.startswith("lang-") and len(key) <= 12) or _FR_ORDINAL_RE.match(key) is not None
    )


def _inline_template(key: str | None, a: _Args, lang: str) -> str | None:
    """Plain text an inline template renders, or ``None`` when it renders nothing kept in text."""
    if key is None:
        return None
    if key in _CONSTANTS:
        return _CONSTANTS[key]
    if key in _FIRST_ARG:
        return _first_arg(key, a, lang)
    if key in _LAST_ARG:
        return a.pos(-1) if a.count else ""
    special = _SPECIAL_TEMPLATES.get(key)
    if special is not None:
        return special(a, lang)
    if key.startswith("lang-") and len(key) <= 12:
        return _render_lang_prefixed(key, a)
    return None


def _fr_ordinal_display(raw_name: str) -> str:
    """{{XIXe siècle}} displays its own name, keeping the author's capitalization."""
    return _clean_title(raw_name).replace(" siècle", "\xa0siècle")


# ==================================================================================================
# Regex renderer: wikitext → plain text without building a tree
# ==================================================================================================

_REF_OPEN_RE = re.compile(r"<ref\b([^<>]*?)(/?)>", re.IGNORECASE)
_REF_CLOSE_RE = re.compile(r"</ref\s*>", re.IGNORECASE)
_BLOCK_ELEMENT_RE = re.compile(
    r"<(gallery|references|imagemap|table|div|center|blockquote|poem|timeline)\b([^<>]*)>", re.IGNORECASE
)
_TABLE_LINE_RE = re.compile(r"^[ \t:]*(\{\||\|\})", re.MULTILINE)
# The label stops at "[" as well as "]": an unclosed "[http://x label" then costs one short scan,
# not a scan to the end of the line per opener.
_EXTLINK_RE = re.compile(
    r"\[((?:https?:)?//[^\s\[\]<>\"]+|(?:ftp|mailto|news|irc|ircs|gopher|tel|sms):[^\s\[\]<>\"]+)"
    r"(?:[ \t]+([^\[\]\n]*))?\]"
)
_QUOTES_RE = re.compile(r"'{5}|'{3}|'{2}")
_BR_RE = re.compile(r"<br\s*/?\s*>|</br\s*>", re.IGNORECASE)
_TAG_RE = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*\b[^<>]*>")
_SWITCH_RE = re.compile(r"__[^\W_a-z]+(?:_[^\W_a-z]+)*__")
_LINKTRAIL_RE = re.compile(r"[a-z]+")
# [[target]] / [[target|label]] without nested brackets, plus its link trail ("[[photon]]s")
_SIMPLE_LINK_RE = re.compile(r"\[\[([^\[\]|\n]*)(?:\|([^\[\]]*))?\]\]([a-z]+)?")
_INTERLANGUAGE_RE = re.compile(r"^[a-z]{2,3}(?:-[a-z0-9]{1,8})*$")
_BLANK_LINES_RE = re.compile(r"\n[ \t]*\n[ \t\n]*")
_SPACE_RUN_RE = re.compile(r"[ \t]+")
_URL_RE = re.compile(r"(?:https?:)?//[^\s\[\]<>\"|{}]+")


def _scan_elements(text: str, open_re: re.Pattern[str], handle: Callable[[str, str, str | None], str],
                   deadline: _Deadline = _NO_DEADLINE) -> str:
    """Replace every ``<tag …>content</tag>`` found by ``open_re`` (group 1 = tag name, group 2 =
    attributes) with ``handle(tag, attrs, content)``; self-closing tags get ``content=None``. Unclosed
    elements stay as text. Linear: a missing closer is searched for once per tag name."""
    out: list[str] = []
    pos = 0
    no_closer_after: dict[str, int] = {}
    steps = 0
    while True:
        m = open_re.search(text, pos)
        if m is None:
            break
        steps += 1
        if steps & 255 == 0:
            deadline.check("element scan")
        start, open_end = m.span()
        tag = m.group(1).lower()
        attrs = m.group(2) or ""
        out.append(text[pos:start])
        if attrs.rstrip().endswith("/"):
            out.append(handle(tag, attrs, None))
            pos = open_end
            continue
        closed = None
        if no_closer_after.get(tag, len(text) + 1) > open_end:
            closed = _closer(tag).search(text, open_end)
            if closed is None:
                no_closer_after[tag] = open_end
        if closed is None:
            out.append(text[start:open_end])
            pos = open_end
            continue
        out.append(handle(tag, attrs, text[open_end:closed.start()]))
        pos = closed.end()
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)


def _iter_refs(text: str, deadline: _Deadline = _NO_DEADLINE):
    """``(attrs, content or None, start, end)`` of every ``<ref>`` in masked text."""
    pos = 0
    no_closer = False
    steps = 0
    while True:
        m = _REF_OPEN_RE.search(text, pos)
        if m is None:
            return
        steps += 1
        if steps & 255 == 0:
            deadline.check("references")
        if m.group(2):  # <ref name="x" />
            yield m.group(1), None, m.start(), m.end()
            pos = m.end()
            continue
        closed = None if no_closer else _REF_CLOSE_RE.search(text, m.end())
        if closed is None:
            no_closer = True
            pos = m.end()
            continue
        yield m.group(1), text[m.end():closed.start()], m.start(), closed.end()
        pos = closed.end()


def _strip_refs(text: str, deadline: _Deadline = _NO_DEADLINE) -> str:
    """The text without its ``<ref>…</ref>`` and ``<ref/>`` (the same object when it has none)."""
    if "<ref" not in text and "<REF" not in text and "<Ref" not in text:
        return text
    out: list[str] = []
    pos = 0
    for _attrs, _content, start, end in _iter_refs(text, deadline):
        out.append(text[pos:start])
        pos = end
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)


def _drop_tables(text: str) -> str:
    """Remove ``{| … |}`` wiki tables (an unclosed table runs to the end, as MediaWiki closes it
    there)."""
    if "{|" not in text:
        return text
    out: list[str] = []
    depth = 0
    pos = 0
    for m in _TABLE_LINE_RE.finditer(text):
        if m.group(1) == "{|":
            if depth == 0:
                out.append(text[pos:m.start()])
            depth += 1
        elif depth:
            depth -= 1
            if depth == 0:
                end = text.find("\n", m.end())
                pos = len(text) if end < 0 else end
    if depth == 0:
        out.append(text[pos:])
    return "".join(out)


class _RegexRenderer:
    """Wikitext → plain text with regex passes and brace/bracket pairing (no tree): templates via
    the inline table (others dropped), links to their text (files, categories and interlanguage
    links dropped), external links to their label, bold/italic and HTML tags removed, entities
    decoded. Optionally collects ``{"url", "text"}`` of the wikilinks it renders."""

    def __init__(self, names: WikiNames, deadline: _Deadline = _NO_DEADLINE) -> None:
        self.names = names
        self.lang = names.language
        self.deadline = deadline
        self._urls: dict[str, str] = {}

    # -- public ------------------------------------------------------------------------------------

    def render_block(self, text: str, links: list | None = None) -> str:
        """Render a stretch of article text (many lines): tables and block elements dropped."""
        text = _strip_refs(text, self.deadline)
        text = self._templates(text)
        text = _drop_tables(text)
        if "<" in text:
            text = _scan_elements(text, _BLOCK_ELEMENT_RE, self._block_element, self.deadline)
        return self._inline_markup(text, links)

    def render_inline(self, text: str, links: list | None = None) -> str:
        """Render a short fragment (a template argument, a heading, a reference)."""
        if "<ref" in text:
            text = _strip_refs(text, self.deadline)
        if "{{" in text:
            text = self._templates(text)
        return self._inline_markup(text, links)

    # -- passes ------------------------------------------------------------------------------------

    @staticmethod
    def _block_element(tag: str, _attrs: str, content: str | None) -> str:
        if content is None or tag in ("gallery", "references", "imagemap", "table", "timeline"):
            return ""
        return content  # div/center/blockquote/poem: their text is article text

    def _templates(self, text: str) -> str:
        if "{{" not in text:
            return text
        spans, _unmatched, _depth = _pairs(text, _BRACES_RE, "{{", self.deadline)
        if not spans:
            return text
        out: list[str] = []
        pos = 0
        for s, e in _outermost(spans):
            out.append(text[pos:s])
            out.append(self._template(text[s + 2:e - 2]))
            pos = e
        out.append(text[pos:])
        return "".join(out)

    def _template(self, body: str) -> str:
        bar = body.find("|")
        key = _template_key(body if bar < 0 else body[:bar], self.names)
        if not _renders_text(key):  # most templates (citations, hatnotes, {{sfn}}…): nothing to split
            return ""
        parts = _split_top(body)
        if key.endswith(":") and ":" in parts[0]:
            # parser function: its first argument is after the colon
            parts = [parts[0].split(":", 1)[0], parts[0].split(":", 1)[1], *parts[1:]]
        positional, named = _template_args(parts)
        rendered = _inline_template(key, _Args(positional, named, self.render_inline), self.lang)
        if rendered is None and _FR_ORDINAL_RE.match(key):
            return _fr_ordinal_display(parts[0])
        return rendered or ""

    def _inline_markup(self, text: str, links: list | None) -> str:
        if "[[" in text:
            text = self._wikilinks(text, links)
        if "[" in text:
            text = _EXTLINK_RE.sub(lambda m: m.group(2) or "", text)
        if "''" in text:
            text = _QUOTES_RE.sub("", text)
        if "<" in text:
            text = _BR_RE.sub(" ", text)
            text = _TAG_RE.sub("", text)
        if "__" in text:
            text = _SWITCH_RE.sub("", text)
        if "&" in text:
            text = html.unescape(text)
        return text

    def _wikilinks(self, text: str, links: list | None) -> str:
        def simple(m: re.Match[str]) -> str:
            target, label = m.group(1), m.group(2)
            shown = _link_display(self.names, target, label)
            if shown is None:
                return ""
            if links is not None and shown:
                link_text = _QUOTES_RE.sub("", shown) + (m.group(3) or "")
                links.append({"url": self._url(target), "text": _clean_title(link_text)})
            return shown + (m.group(3) or "")

        text = _SIMPLE_LINK_RE.sub(simple, text)
        if "[[" not in text:
            return text
        spans, _unmatched, _depth = _pairs(text, _BRACKETS_RE, "[[", self.deadline)
        if not spans:
            return text
        out: list[str] = []
        pos = 0
        for s, e in _outermost(spans):
            out.append(text[pos:s])
            inner = text[s + 2:e - 2]
            target, sep, label = inner.partition("|")
            shown = self._link_text(target, label if sep else None)
            if shown is None:
                pos = e
                continue
            trail = _LINKTRAIL_RE.match(text, e) if e < len(text) else None
            if links is not None and shown:
                link_text = _clean_title(_QUOTES_RE.sub("", shown) + (trail.group() if trail else ""))
                links.append({"url": self._url(target), "text": link_text})
            out.append(shown)
            pos = e
        out.append(text[pos:])
        return "".join(out)

    def _link_text(self, target: str, label: str | None) -> str | None:
        return _link_display(self.names, target, label)

    def _url(self, target: str) -> str:
        """``_link_url`` memoized per renderer (one page links the same titles many times)."""
        url = self._urls.get(target)
        if url is None:
            url = self._urls[target] = _link_url(self.names, target)
        return url


def _link_url(names: WikiNames, target: str) -> str:
    """Article URL of a link target, normalized as MediaWiki does (namespace spelled the wiki's
    way, first letter upper-cased, fragment kept as ``#…``)."""
    title, _, fragment = _clean_title(target).lstrip(":").strip().partition("#")
    if not title:
        return f"#{fragment.replace(' ', '_')}" if fragment else ""
    ns, rest = names.split_title(title)
    full = names.full_title(ns, rest) if ns else names.title_case(0, title)
    return names.url(full) + (f"#{fragment.strip().replace(' ', '_')}" if fragment else "")


_PIPE_TRICK_RE = re.compile(r"\s*\([^)]*\)\s*$")


def _link_display(names: WikiNames, target: str, label: str | None) -> str | None:
    """Display text of ``[[target|label]]``; ``None`` for links that display nothing inline (files,
    categories, interlanguage links). The label is returned as written: later passes of the caller
    strip its markup."""
    if len(target) > 512:  # longer than any title (255 bytes): MediaWiki shows it as text
        return label if label is not None else target
    colon_link = target.lstrip().startswith(":")
    title = target.strip().lstrip(":").strip()
    if not colon_link and ":" in title:
        prefix = title.split(":", 1)[0]
        ns = names.namespace_of(prefix)
        if ns in (NS_FILE, NS_CATEGORY):
            return None
        if ns is None and _INTERLANGUAGE_RE.match(prefix.strip()):
            return None
    if label is not None:
        label = label.strip()
        if label:
            return label
        return _PIPE_TRICK_RE.sub("", title.split(":", 1)[-1])  # pipe trick: [[Foo (bar)|]] → "Foo"
    return title.replace("_", " ")


# ==================================================================================================
# Tree renderer for the lead (mwparserfromhell)
# ==================================================================================================

_DROPPED_TAGS = frozenset((
    "ref", "references", "table", "div", "gallery", "imagemap", "center", "blockquote", "figure",
    "timeline", "score", "graph", "math", "chem", "ce", "hr", "templatestyles", "mapframe", "maplink",
    "caption", "tr", "td", "th", "ul", "ol", "dl", "dd", "dt", "li", "poem", "syntaxhighlight", "source",
    "pre", "section", "indicator", "noinclude", "includeonly", "style", "script",
))
_FORMULA_BEFORE_RE = re.compile(r"(?:\d|[A-Z][a-z]?|\))$")
_FORMULA_SUP_RE = re.compile(r"^[0-9+-]{1,3}$")
_MATH_EXPR_BEFORE_RE = re.compile(r"\( *$")
_MATH_EXPR_CHAR_RE = re.compile(r"^[A-z0-9+-]$")


class _TreeRenderer:
    """Plain text of mwparserfromhell nodes, with the same template table as :class:`_RegexRenderer`.

    For the abstract it also tracks what Enterprise's formula guard looks for in the HTML (a
    ``<sup>``/``<sub>`` number right after a digit/element symbol, or a one-letter italic right after
    ``(``): when seen, parentheticals are kept."""

    def __init__(self, names: WikiNames) -> None:
        self.names = names
        self.lang = names.language
        self.formula_seen = False

    def render(self, code: Any) -> str:
        out: list[str] = []
        for node in code.nodes:
            piece = self._node(node, out)
            if piece:
                out.append(piece)
        return "".join(out)

    def _node(self, node: Any, out: list[str]) -> str:
        if isinstance(node, Text):
            return node.value
        if isinstance(node, Wikilink):
            return self._wikilink(node)
        if isinstance(node, Template):
            return self._template(node)
        if isinstance(node, Tag):
            return self._tag(node, out)
        if isinstance(node, HTMLEntity):
            return node.normalize()
        if isinstance(node, ExternalLink):
            if node.brackets:
                return self.render(node.title) if node.title is not None else ""
            return str(node.url)
        if isinstance(node, Comment):
            return ""
        return ""  # headings (none in the lead), {{{arguments}}}

    def _wikilink(self, node: Wikilink) -> str:
        target = str(node.title)
        if "{{" in target:  # target built by a template: render it, as MediaWiki expands it first
            target = self.render(node.title)
        label = self.render(node.text) if node.text is not None else None
        return _link_display(self.names, target, label) or ""

    def _template(self, node: Template) -> str:
        raw_name = str(node.name)
        key = _template_key(raw_name, self.names)
        if key is None:
            return ""
        params = node.params
        if key.endswith(":") and ":" in raw_name:  # parser function: first argument after the colon
            first = raw_name.split(":", 1)[1]
            positional: list[Any] = [first]
        else:
            positional = []
        named: dict[str, Any] = {}
        for p in params:
            if p.showkey:
                named[str(p.name).strip()] = p.value
            else:
                positional.append(p.value)
        args = _Args(positional, named, self._render_any)
        rendered = _inline_template(key, args, self.lang)
        if rendered is None and _FR_ORDINAL_RE.match(key):
            return _fr_ordinal_display(raw_name)
        return rendered or ""

    def _render_any(self, value: Any) -> str:
        return value if isinstance(value, str) else self.render(value)

    def _tag(self, node: Tag, out: list[str]) -> str:
        tag = str(node.tag).strip().lower()
        if node.wiki_markup and tag in ("li", "dt", "dd", "hr"):
            return node.wiki_markup  # list/indent markers: the abstract classifies lines by them
        if tag in _DROPPED_TAGS:
            return ""
        if tag == "br":
            return ""  # Enterprise reads text nodes: <br> adds nothing
        if node.contents is None:
            return ""
        text = self.render(node.contents)
        if tag in ("sup", "sub"):
            before = out[-1] if out else ""
            if _FORMULA_SUP_RE.match(text) and _FORMULA_BEFORE_RE.search(before):
                self.formula_seen = True
            if tag == "sup" and _ascii_digits(text):
                # Enterprise writes a superscript number as U+2070 + digit (so ² becomes U+2072)
                return "".join(chr(0x2070 + int(d)) for d in text)
        elif tag == "i" and _MATH_EXPR_CHAR_RE.match(text):
            if out and _MATH_EXPR_BEFORE_RE.search(out[-1]):
                self.formula_seen = True
        return text


# ==================================================================================================
# Abstract: Enterprise's clean-up of the lead text (general/parser GetAbstract)
# ==================================================================================================

_NESTED_BRACES_RE = re.compile(r"([(（][^()（）]*)([(（][^()（）]+[)）])")
_EMPTY_BRACES_RE = re.compile(r"\([ \t\n\f\r]*\)")
_EMPTY_BRACKET_RE = re.compile(r"\[[ \t\n\f\r]*\]")
_SPACE_BEFORE_PUNCT_NON_LATIN_RE = re.compile(r"[ \t\n\f\r]([，。])")
_SPACE_BEFORE_PUNCT_LATIN_RE = re.compile(r"[ \t\n\f\r]([,.!?])([ \t\n\f\r]|$)")
_ASCII_SPACES_RE = re.compile(r"[ \t\n\f\r]+")


def _has_inner_space(content: str) -> bool:
    # Go: `( |&nbsp;)\([^)]+ [^)]*\)` — a space after at least one character of the content
    return " " in content[1:]


def _has_inner_cjk_separator(content: str) -> bool:
    # Go: `（[^）]+[ ：，][^）]+）` — a separator with content on both sides
    return len(content) >= 3 and any(c in " ：，" for c in content[1:-1])


def _drop_parentheticals(text: str, opener: str, closer: str, matches: Callable[[str], bool]) -> str:
    """Remove ``opener … closer`` spans whose content ``matches``, scanning left to right as a regex
    would (non-overlapping, leftmost first) but in linear time: the regex form backtracks
    quadratically over an unclosed parenthesis, Go's RE2 does not."""
    out: list[str] = []
    pos = 0
    search_from = 0
    next_close = -2  # cached position of the next closer at or after search_from
    while True:
        start = text.find(opener, search_from)
        if start < 0:
            break
        inner = start + len(opener)
        if next_close < inner:
            next_close = text.find(closer, inner)
        if next_close < 0:
            break
        if matches(text[inner:next_close]):
            out.append(text[pos:start])
            pos = search_from = next_close + len(closer)
        else:
            search_from = start + 1
    out.append(text[pos:])
    return "".join(out)


def _enterprise_abstract_cleanup(text: str, keep_parentheticals: bool) -> str:
    """The regex steps Enterprise applies to the lead HTML, in its order. Go's ``\\s`` is ASCII-only,
    so a no-break space never counts as the space before a parenthesis."""
    if not keep_parentheticals:
        for _ in range(50):  # nested parentheticals, innermost first
            reduced = _NESTED_BRACES_RE.sub(r"\1", text)
            if reduced == text:
                break
            text = reduced
        text = _drop_parentheticals(text, " (", ")", _has_inner_space)
        if "（" in text:
            text = _drop_parentheticals(text, "（", "）", _has_inner_cjk_separator)
    text = _EMPTY_BRACES_RE.sub("", text)
    text = _EMPTY_BRACKET_RE.sub("", text)
    text = _SPACE_BEFORE_PUNCT_NON_LATIN_RE.sub(r"\1", text)
    text = _SPACE_BEFORE_PUNCT_LATIN_RE.sub(r"\1\2", text)
    return _ASCII_SPACES_RE.sub(" ", text).strip()


_HR_LINE_RE = re.compile(r"^-{4,}")
_FRENCH_SPACE_BEFORE_RE = re.compile(r"(\S) (?=[?:;!%»›](?!\w))")
_FRENCH_SPACE_AFTER_RE = re.compile(r"([«‹]) ")


def _armor_french_spaces(text: str) -> str:
    """MediaWiki (and Parsoid) turn the space before ``? : ; ! % »`` and after ``«`` into a no-break
    space on every wiki; Enterprise's text keeps it."""
    text = _FRENCH_SPACE_BEFORE_RE.sub("\\1\xa0", text)
    return _FRENCH_SPACE_AFTER_RE.sub("\\1\xa0", text) if "«" in text or "‹" in text else text


def _abstract_from_rendered(rendered: str, keep_parentheticals: bool) -> str:
    """Keep the lines Parsoid makes paragraphs or lists of (Enterprise reads ``p, ul, ol``), drop
    definition lists/indents (``;`` ``:``) and rules, join with spaces, then clean up."""
    kept: list[str] = []
    for line in rendered.split("\n"):
        line = line.strip(" \t\r\f\v")
        if not line:
            continue
        first = line[0]
        if first in ";:" or _HR_LINE_RE.match(line):
            continue
        if first in "*#":
            line = line.lstrip("*#:; \t")
        if "__" in line:
            line = _SWITCH_RE.sub("", line)
        if line.strip():
            kept.append(line)
    return _enterprise_abstract_cleanup(_armor_french_spaces(" ".join(kept)), keep_parentheticals)


# ==================================================================================================
# Fields
# ==================================================================================================


@dataclass(slots=True)
class WikitextFields:
    """The Enterprise article fields one revision's wikitext determines (Enterprise names).

    ``categories``/``templates`` are full titles in the wiki's own namespace names
    (``"Catégorie:Calvi"``, ``"Modèle:Infobox Commune de France"``). ``sections`` and ``infoboxes``
    are Enterprise ``Part``-like dicts (``type``, ``name``, ``value``, ``links``, ``has_parts``).
    ``tables`` are Enterprise Structured Contents tables (``identifier``, ``headers``, ``rows``,
    ``footers``, ``confidence_score``); the section holding a table lists it in ``table_references``.
    ``maintenance_tags`` is ``None`` where Enterprise omits it (not ns 0 of a ``*wiki`` project).
    ``image`` is ``{"name", "content_url"}`` — the URL assumes the file is on Commons (local files
    live under ``/wikipedia/<lang>/``; the wikitext does not say which).
    """

    abstract: str = ""
    description: str | None = None
    categories: list[str] = field(default_factory=list)
    templates: list[str] = field(default_factory=list)
    sections: list[dict] = field(default_factory=list)
    infoboxes: list[dict] = field(default_factory=list)
    references: list[dict] = field(default_factory=list)
    tables: list[dict] = field(default_factory=list)
    image: dict | None = None
    maintenance_tags: dict[str, int] | None = None
    number_of_characters: int = 0
    size_bytes: int = 0
    is_disambiguation: bool = False
    redirect_target: str | None = None

    @property
    def citation_needed_count(self) -> int:
        return (self.maintenance_tags or {}).get("citation_needed_count", 0)

    @property
    def pov_count(self) -> int:
        return (self.maintenance_tags or {}).get("pov_count", 0)

    @property
    def clarification_needed_count(self) -> int:
        return (self.maintenance_tags or {}).get("clarification_needed_count", 0)

    @property
    def update_count(self) -> int:
        return (self.maintenance_tags or {}).get("update_count", 0)

    def to_enterprise(self, names: WikiNames | None = None) -> dict:
        """These fields shaped as (part of) an Enterprise article record: ``categories`` and
        ``templates`` as ``{"name", "url"}``, zero maintenance counts omitted as Enterprise does."""
        url = (names or WikiNames.for_wiki("enwiki")).url
        record: dict[str, Any] = {
            "abstract": self.abstract,
            "categories": [{"name": c, "url": url(c)} for c in self.categories],
            "templates": [{"name": t, "url": url(t)} for t in self.templates],
            "sections": self.sections,
            "infoboxes": self.infoboxes,
            "references": self.references,
            "tables": self.tables,
            "version": {
                "number_of_characters": self.number_of_characters,
                "size": {"value": self.size_bytes, "unit_text": "B"},
            },
        }
        if self.description:
            record["description"] = self.description
        if self.image:
            record["image"] = {"content_url": self.image["content_url"]}
        if self.maintenance_tags is not None:
            record["version"]["maintenance_tags"] = {k: v for k, v in self.maintenance_tags.items() if v}
        return record


# -- maintenance tags (Enterprise: services/structured-data/packages/builder/maintenancetags.go) ----

# Enterprise's regexes are `(?i){{Citation needed(\|*).*?}}`, `(?i){{POV(\|*).*?}}`,
# `(?i){{clarify(\|*).*?}}` and `(?i){{update(\|*).*?}}`: the prefix, then the shortest run to "}}"
# on the same line. Counted here with the same semantics in linear time (a backtracking `.*?}}`
# is quadratic on a line of unclosed prefixes; Go's RE2 is not).
_MAINTENANCE_PREFIXES = {
    "citation_needed_count": re.compile(r"\{\{Citation needed", re.IGNORECASE),
    "pov_count": re.compile(r"\{\{POV", re.IGNORECASE),
    "clarification_needed_count": re.compile(r"\{\{clarify", re.IGNORECASE),
    "update_count": re.compile(r"\{\{update", re.IGNORECASE),
}


def _count_enterprise_tag(text: str, prefix: re.Pattern[str]) -> int:
    count = 0
    pos = 0
    next_close = next_newline = -2
    while True:
        m = prefix.search(text, pos)
        if m is None:
            return count
        end = m.end()
        if next_close < end:
            next_close = text.find("}}", end)
            if next_close < 0:
                return count
        if next_newline < end:
            next_newline = text.find("\n", end)
            if next_newline < 0:
                next_newline = len(text)
        if next_close < next_newline:
            count += 1
            pos = next_close + 2
        else:
            pos = m.start() + 1


def maintenance_tags(wikitext: str) -> dict[str, int]:
    """Enterprise's maintenance counts: its four regexes over the raw wikitext (comments included,
    ``.`` not crossing lines, ``{{cn}}``/``{{fact}}`` not counted)."""
    if "{{" not in wikitext:
        return dict.fromkeys(_MAINTENANCE_PREFIXES, 0)
    return {name: _count_enterprise_tag(wikitext, rx) for name, rx in _MAINTENANCE_PREFIXES.items()}


# -- redirects --------------------------------------------------------------------------------------

_REDIRECT_KEYWORDS = (
    "REDIRECT", "REDIRECTION", "REDIRECCIÓN", "REDIRECCION", "REDIRECIONAMENTO", "REDIRECIONAR",
    "WEITERLEITUNG", "RINVIA", "RINVIO", "DOORVERWIJZING", "PATRZ", "PRZEKIERUJ", "TAM",
    "ПЕРЕНАПРАВЛЕНИЕ", "ПЕРЕНАПР", "ПЕРЕНАПРАВЛЕННЯ", "ПЕРЕНАПР", "転送", "リダイレクト", "重定向",
    "đổi", "ĐỔI", "পুনর্নির্দেশ", "ΑΝΑΚΑΤΕΥΘΥΝΣΗ", "ՎԵՐԱՀՂՈՒՄ", "पुनर्निर्देशन", "पुर्ननिर्देशन",
    "YÖNLENDİRME", "YÖNLENDİR", "تحويل", "تغییرمسیر", "הפניה", "เปลี่ยนทาง", "넘겨주기",
)
_REDIRECT_RE = re.compile(
    r"^\s*#(?:" + "|".join(re.escape(k) for k in _REDIRECT_KEYWORDS) + r")\s*:?\s*\[\[([^\]|\n]+)",
    re.IGNORECASE,
)


def redirect_target(wikitext: str, names: WikiNames | None = None) -> str | None:
    """Target title of a redirect page (``#REDIRECT [[Target]]`` and its localized forms), or
    ``None``. Fallback for when the dump's ``<redirect title=…>`` is absent; the fragment is dropped
    as in the dump."""
    m = _REDIRECT_RE.match(wikitext)
    if m is None:
        return None
    raw = m.group(1).split("#", 1)[0]
    title = _clean_title(raw).lstrip(":").strip()
    if not title:
        return None
    names = names or WikiNames.for_wiki(None)
    ns, rest = names.split_title(title)
    return names.full_title(ns, rest) if ns else names.title_case(0, title)


# -- disambiguation -----------------------------------------------------------------------------------

_DISAMBIG_TEMPLATES = frozenset(s.casefold() for s in (
    "disambiguation", "disambig", "dab", "disamb", "hndis", "geodis", "numberdis", "mathdab",
    "schooldis", "hospitaldis", "letter-numbercombdisambig", "airport disambiguation", "chinese title disambiguation",
    "Begriffsklärung", "Homonymie", "Bandeau homonymie", "Desambiguação", "Desambig", "Desambiguación",
    "Disambigua", "Неоднозначность", "Многозначность", "Неоднозначність", "Aimai", "曖昧さ回避",
    "Trang định hướng", "Định hướng", "দ্ব্যর্থতা নিরসন", "Αποσαφήνιση", "Բազմիմաստություն",
    "निःसंदिग्धीकरण", "नि:संदिग्धीकरण", "Ujednoznacznienie", "Dp", "Disambiguatie", "消歧义", "消歧義",
))
_DISAMBIG_SWITCH_RE = re.compile(r"__(?:DISAMBIG|BEGRIFFSKLÄRUNG|HOMONYMIE|DESAMBIGUAÇÃO|DESAMBIGUACIÓN|"
                                 r"НЕОДНОЗНАЧНОСТЬ|ДИЗАМБИГ|曖昧さ回避)__", re.IGNORECASE)


def _is_disambiguation_template(title: str) -> bool:
    key = title.split(":", 1)[-1].casefold()
    return key in _DISAMBIG_TEMPLATES or "disambig" in key or key.endswith(" dab")


# -- infoboxes ------------------------------------------------------------------------------------------

_INFOBOX_RE = re.compile(
    r"^(?:infobox|info/|ficha de|ficha|infocaseta|caixa de informação|карточка|картка|bilgi kutusu|"
    r"基礎情報|hộp thông tin|তথ্যছক|πληροφορίες|տեղեկաքարտ|माहितीचौकट|automatic taxobox|taxobox|speciesbox|"
    r"subspeciesbox|infobox)|infobox|^taxobox", re.IGNORECASE)
_IMAGE_FILE_RE = re.compile(r"\.(?:jpe?g|png|gif|svg|tiff?|webp|xcf|bmp|pdf|djvu|ogv|webm)\s*$", re.IGNORECASE)
_SHORT_DESCRIPTION_KEYS = frozenset(("short description",))


def _commons_url(file_name: str) -> str:
    name = file_name.replace(" ", "_")
    digest = hashlib.md5(name.encode("utf-8")).hexdigest()
    return f"https://upload.wikimedia.org/wikipedia/commons/{digest[0]}/{digest[:2]}/{quote(name, safe='')}"


def _image_dict(names: WikiNames, file_name: str) -> dict:
    file_name = names.title_case(NS_FILE, _clean_title(file_name))
    return {"name": file_name, "content_url": _commons_url(file_name)}


# ==================================================================================================
# Section skeleton from a heading scan
# ==================================================================================================

_HEADING_RE = re.compile(r"^(={1,6})(.+?)(={1,6})[ \t]*$", re.MULTILINE)

# Sections Enterprise leaves out of ``sections`` (seen in its golden outputs: "See also",
# "References", "External links"… and their subsections).
_SKIPPED_SECTIONS = frozenset(s.casefold() for s in (
    "See also", "Notes", "References", "Further reading", "External links", "Sources", "Bibliography",
    "Citations", "Works cited", "Footnotes", "Notes and references", "References and notes",
    "Explanatory notes", "Related pages", "Other websites",
    "Notes et références", "Références", "Voir aussi", "Articles connexes", "Liens externes",
    "Bibliographie", "Annexes",
    "Referências", "Notas", "Ver também", "Ligações externas", "Bibliografia", "Notas e referências",
    "Einzelnachweise", "Weblinks", "Literatur", "Anmerkungen", "Siehe auch",
    "Referencias", "Véase también", "Enlaces externos", "Bibliografía",
    "Примечания", "Литература", "Ссылки", "См. также", "Примітки", "Посилання", "Див. також",
    "脚注", "参考文献", "関連項目", "外部リンク", "Tham khảo", "Chú thích", "Liên kết ngoài", "Xem thêm",
))


@dataclass(slots=True)
class _Heading:
    level: int
    name: str
    start: int  # offset of the heading line in the masked text
    body_start: int


def _headings(masked: str, template_spans: list[tuple[int, int]], renderer: _RegexRenderer) -> list[_Heading]:
    """Section headings at brace depth 0 (a heading inside a template's arguments is not a section)."""
    if "=" not in masked:
        return []
    starts = [s for s, _ in template_spans]
    found: list[_Heading] = []
    for m in _HEADING_RE.finditer(masked):
        i = bisect_right(starts, m.start()) - 1
        if i >= 0 and template_spans[i][1] > m.start():
            continue
        left, name, right = m.group(1), m.group(2), m.group(3)
        level = min(len(left), len(right))
        name = "=" * (len(left) - level) + name + "=" * (len(right) - level)
        text = _ASCII_SPACES_RE.sub(" ", renderer.render_inline(name)).strip()
        if text:
            found.append(_Heading(level, text, m.start(), m.end()))
    return found


def _section_parts(body: str, renderer: _RegexRenderer) -> list[dict]:
    """Paragraph and list parts of one section's own text (up to its first subsection)."""
    text = renderer.render_block(body)
    parts: list[dict] = []
    list_items: list[dict] = []

    def close_list() -> None:
        if list_items:
            parts.append({"type": "list", "has_parts": list(list_items)})
            list_items.clear()

    for block in _BLANK_LINES_RE.split(text):
        paragraph: list[str] = []
        for line in block.split("\n"):
            line = line.strip()
            if not line:
                continue
            if line[0] in "*#":
                if paragraph:
                    parts.append(_text_part("paragraph", " ".join(paragraph), renderer))
                    paragraph = []
                value = line.lstrip("*#:; \t")
                if value:
                    list_items.append(_text_part("list_item", value, renderer))
                continue
            close_list()
            paragraph.append(line.lstrip(":; \t") if line[0] in ":;" else line)
        if paragraph:
            parts.append(_text_part("paragraph", " ".join(paragraph), renderer))
        close_list()
    return parts


def _text_part(kind: str, rendered_with_links: str, renderer: _RegexRenderer) -> dict:
    links: list[dict] = []
    value = renderer._inline_markup(rendered_with_links, links)
    value = _SPACE_RUN_RE.sub(" ", value).strip()
    part: dict[str, Any] = {"type": kind, "value": value}
    if links:
        part["links"] = links
    return part


class _SectionRenderer(_RegexRenderer):
    """Renders section text but keeps ``[[links]]`` in place, so each paragraph can list its own links
    when it is finished (``_text_part``). Its input has no ``<ref>`` any more (stripped once per page)."""

    def render_block(self, text: str, links: list | None = None) -> str:
        text = self._templates(text)
        text = _drop_tables(text)
        if "<" in text:
            text = _scan_elements(text, _BLOCK_ELEMENT_RE, self._block_element, self.deadline)
        # everything but wikilinks now; those are resolved per paragraph
        if "[" in text:
            text = self._drop_media_links(text)
            text = _EXTLINK_RE.sub(lambda m: m.group(2) or "", text)
        if "''" in text:
            text = _QUOTES_RE.sub("", text)
        if "<" in text:
            text = _BR_RE.sub(" ", text)
            text = _TAG_RE.sub("", text)
        if "__" in text:
            text = _SWITCH_RE.sub("", text)
        return text

    def _drop_media_links(self, text: str) -> str:
        """Remove file/category/interlanguage links (files can span lines and nest links in their
        captions, so this is done before the text is split into paragraphs)."""
        if "[[" not in text:
            return text
        spans, _u, _d = _pairs(text, _BRACKETS_RE, "[[", self.deadline)
        out: list[str] = []
        pos = 0
        for s, e in _outermost(spans):
            target = text[s + 2:e - 2].partition("|")[0]
            if self._link_text(target, None) is None:
                out.append(text[pos:s])
                pos = e
        out.append(text[pos:])
        return "".join(out)


def _build_sections(masked: str, headings: list[_Heading], lead_end: int, renderer: _SectionRenderer,
                    deadline: _Deadline, tables: list[tuple[int, dict]] = ()) -> list[dict]:
    """Nested sections: the lead as "Abstract", then one section per heading under its parent.
    A section lists the tables between its heading and the next one in ``table_references`` (a
    table-only section is dropped, its tables go to its parent; a top-level one's are referenced from
    nowhere, though still in ``tables``)."""
    lead = {"type": "section", "name": "Abstract", "has_parts": _section_parts(masked[:lead_end], renderer)}
    _reference_tables(lead, tables, 0, lead_end)
    sections: list[dict] = [lead]
    stack: list[tuple[int, dict]] = []
    skip_below: int | None = None
    for i, heading in enumerate(headings):
        if i & 31 == 31:
            deadline.check("sections")
        if skip_below is not None:
            if heading.level > skip_below:
                continue
            skip_below = None
        if heading.name.casefold() in _SKIPPED_SECTIONS:
            skip_below = heading.level
            continue
        end = headings[i + 1].start if i + 1 < len(headings) else len(masked)
        section = {"type": "section", "name": heading.name,
                   "has_parts": _section_parts(masked[heading.body_start:end], renderer)}
        _reference_tables(section, tables, heading.body_start, end)
        while stack and stack[-1][0] >= heading.level:
            stack.pop()
        (stack[-1][1]["has_parts"] if stack else sections).append(section)
        stack.append((heading.level, section))
    return _prune_empty(sections)


def _reference_tables(section: dict, tables: list[tuple[int, dict]], start: int, end: int) -> None:
    refs = [{"identifier": t["identifier"], "confidence_score": t["confidence_score"]}
            for offset, t in tables if start <= offset < end]
    if refs:
        section["table_references"] = refs


def _prune_empty(parts: list[dict], parent: dict | None = None) -> list[dict]:
    """Drop sections left with no text and no non-empty subsection (a heading over only a table or
    a gallery): Enterprise does not list them. The tables of a dropped subsection are referenced from
    its parent section instead."""
    kept: list[dict] = []
    for part in parts:
        if part.get("type") == "section":
            part["has_parts"] = _prune_empty(part["has_parts"], part)
            if not part["has_parts"]:
                if parent is not None and part.get("table_references"):
                    parent.setdefault("table_references", []).extend(part["table_references"])
                continue
        kept.append(part)
    return kept


# ==================================================================================================
# Tables
# ==================================================================================================

# Wiki tables are line-based: "{|" opens (after optional indentation), "|}" closes, "|-" starts a row,
# "|+" is the caption, "!" starts header cells (split by "!!" or "||"), "|" data cells (split by "||");
# a cell's attributes are what precedes its first "|" outside links and templates. Lines that start
# with none of these continue the current cell.
_CELL_TOKEN_RE = re.compile(r"\{\{|\}\}|\[\[|\]\]|\|\||!!|\|")
_SPAN_ATTR_RE = re.compile(r"\b(rowspan|colspan)\s*=\s*[\"']?\s*(\d+)", re.IGNORECASE)
_CLASS_ATTR_RE = re.compile(r"\bclass\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|(\S+))", re.IGNORECASE)
# Tables with these classes are layout, not data: infoboxes (in ``infoboxes``), navigation boxes,
# maintenance message boxes, sidebars.
_NON_DATA_TABLE_CLASSES = frozenset(("infobox", "navbox", "vertical-navbox", "ambox", "metadata", "sidebar",
                                     "mbox-small"))
# Real pages nest tables two or three deep; past this a "{|" line is cell text.
_MAX_TABLE_NESTING = 16
# A span past this is taken as this (a hostile "colspan=1000000" must not allocate a million cells).
_MAX_SPAN = 500
_TABLE_CONFIDENCE_UNCLOSED = 0.5   # the table ran to the end of the page: where it ends is a guess
_TABLE_CONFIDENCE_RAGGED = 0.8     # rows of different widths after spans: columns may not line up
_TABLE_CONFIDENCE_SPAN_CAPPED = 0.5


@dataclass(slots=True)
class _RawCell:
    header: bool
    attrs: str
    lines: list[str]
    nested: dict | None = None


@dataclass(slots=True)
class _RawRow:
    attrs: str
    cells: list[_RawCell] = field(default_factory=list)


def _split_cells(text: str, header: bool) -> list[str]:
    """A table line (without its leading ``|``/``!``) cut into cells at ``||`` (and ``!!`` on a header
    line) outside links and templates."""
    if "||" not in text and "!!" not in text:
        return [text]
    cells: list[str] = []
    depth = 0
    start = 0
    for m in _CELL_TOKEN_RE.finditer(text):
        token = m.group()
        if token in ("{{", "[["):
            depth += 1
        elif token in ("}}", "]]"):
            depth = max(0, depth - 1)
        elif depth == 0 and (token == "||" or (token == "!!" and header)):
            cells.append(text[start:m.start()])
            start = m.end()
    cells.append(text[start:])
    return cells


def _cell_attrs(cell: str) -> tuple[str, str]:
    """``(attributes, content)`` of one cell: split at the first ``|`` outside links and templates,
    unless what precedes it holds a link (then it is all content, as in MediaWiki)."""
    if "|" not in cell:
        return "", cell
    depth = 0
    for m in _CELL_TOKEN_RE.finditer(cell):
        token = m.group()
        if token in ("{{", "[["):
            depth += 1
        elif token in ("}}", "]]"):
            depth = max(0, depth - 1)
        elif depth == 0 and token == "|":
            attrs = cell[:m.start()]
            return ("", cell) if "[[" in attrs else (attrs, cell[m.end():])
    return "", cell


def _table_lines(masked: str, start: int, end: int, template_spans: list[tuple[int, int]]) -> list[tuple[str, bool]]:
    """The lines of ``masked[start:end]``, each with whether it begins inside a template's braces
    (a template argument such as ``| name = x`` on its own line is not a table cell)."""
    starts = [s for s, _ in template_spans]
    out: list[tuple[str, bool]] = []
    pos = start
    for line in masked[start:end].split("\n"):
        i = bisect_right(starts, pos) - 1
        out.append((line, i >= 0 and template_spans[i][0] < pos < template_spans[i][1]))
        pos += len(line) + 1
    return out


def _parse_table(lines: list[tuple[str, bool]], i: int, depth: int = 0) -> tuple[list[_RawRow], str, bool, int]:
    """Rows of the table whose ``{|`` line is ``lines[i]``: ``(rows, table attributes, closed, index
    after the table)``. A nested ``{|`` inside a cell is parsed recursively onto that cell (below
    ``_MAX_TABLE_NESTING`` levels; deeper ones are text, so hostile input cannot exhaust the stack)."""
    attrs = lines[i][0].lstrip(" \t:")[2:]
    rows: list[_RawRow] = []
    row: _RawRow | None = None
    cell: _RawCell | None = None
    i += 1
    while i < len(lines):
        raw, in_template = lines[i]
        line = raw.lstrip(" \t")
        if in_template or not line or line[0] not in "{|!":
            if cell is not None:
                cell.lines.append(raw)
            i += 1
            continue
        if line.startswith("{|") and depth < _MAX_TABLE_NESTING:
            nested_rows, nested_attrs, nested_closed, i = _parse_table(lines, i, depth + 1)
            if cell is None:
                if row is None:
                    row = _RawRow("")
                    rows.append(row)
                cell = _RawCell(False, "", [])
                row.cells.append(cell)
            if cell.nested is None:
                cell.nested = {"rows": nested_rows, "attrs": nested_attrs, "closed": nested_closed}
            continue
        i += 1
        if line.startswith("|}"):
            return rows, attrs, True, i
        if line.startswith("|-"):
            row, cell = _RawRow(line[2:].lstrip("-")), None
            rows.append(row)
        elif line.startswith("|+"):
            cell = None  # the caption (and its continuation lines) is not a row
        elif line[0] in "|!":
            header = line[0] == "!"
            if row is None:
                row = _RawRow("")
                rows.append(row)
            for text in _split_cells(line[1:], header):
                cell_attrs, content = _cell_attrs(text)
                cell = _RawCell(header, cell_attrs, [content])
                row.cells.append(cell)
        elif cell is not None:  # "{" not followed by "|", or a table nested too deep: content
            cell.lines.append(raw)
    return rows, attrs, False, i


def _span(attrs: str, name: str) -> tuple[int, bool]:
    """The cell's ``rowspan``/``colspan`` (1 when absent or 0) and whether it was capped."""
    if "span" not in attrs:
        return 1, False
    for m in _SPAN_ATTR_RE.finditer(attrs):
        if m.group(1).lower() == name:
            n = int(m.group(2)) or 1
            return min(n, _MAX_SPAN), n > _MAX_SPAN
    return 1, False


def _table_classes(attrs: str) -> set[str]:
    m = _CLASS_ATTR_RE.search(attrs) if "class" in attrs else None
    return set((m.group(1) or m.group(2) or m.group(3) or "").lower().split()) if m else set()


def _cell_value(lines: list[str], renderer: _RegexRenderer, rendered: dict[str, str]) -> str:
    """Plain text of a cell; ``rendered`` memoizes it per page (table columns repeat their values:
    the same team, country or year link row after row)."""
    text = lines[0] if len(lines) == 1 else _LIST_MARKERS_RE.sub("", "\n".join(lines))
    value = rendered.get(text)
    if value is None:
        value = rendered[text] = (_plain_value(text, renderer) if len(lines) == 1 else
                                  _ASCII_SPACES_RE.sub(" ", renderer.render_inline(text)).strip())
    return value


def _fill_rowspans(out: list[dict], col: int, pending: dict[int, list]) -> int:
    """Append the cells that rows above span into columns ``col``, ``col + 1``… of this row; the
    column after them."""
    while col in pending:
        left, spanned = pending[col]
        out.append(spanned)
        if left <= 1:
            del pending[col]
        else:
            pending[col][0] = left - 1
        col += 1
    return col


def _build_table(rows: list[_RawRow], closed: bool, identifier: str, renderer: _RegexRenderer,
                 rendered: dict[str, str]) -> dict | None:
    """Enterprise's table shape: ``headers`` (the leading rows of header cells), ``rows``, ``footers``
    (``sortbottom`` rows, and trailing rows of header cells after the body), cells as
    ``{"value", "nested_table"}``. Row- and column-spanning cells are repeated into every position
    they cover, so all rows of a regular table have the same width. ``None`` for a table without
    cells."""
    grid: list[tuple[list[dict], bool, bool]] = []  # (cells, all header cells, sortbottom)
    pending: dict[int, list] = {}  # column → [rows left, cell] of a rowspan
    capped = False
    nested_count = 0
    for row in rows:
        if not row.cells and not pending:
            continue
        out: list[dict] = []
        col = 0
        all_header = bool(row.cells)
        for raw in row.cells:
            if pending:
                col = _fill_rowspans(out, col, pending)
            cell: dict[str, Any] = {"value": _cell_value(raw.lines, renderer, rendered)}
            if raw.nested is not None:
                nested_count += 1
                nested = _build_table(raw.nested["rows"], raw.nested["closed"], f"{identifier}.{nested_count}",
                                      renderer, rendered)
                if nested is not None:
                    cell["nested_table"] = nested
            colspan, capped_c = _span(raw.attrs, "colspan")
            rowspan, capped_r = _span(raw.attrs, "rowspan")
            capped = capped or capped_c or capped_r
            for _ in range(colspan):
                out.append(cell)
                if rowspan > 1:
                    pending[col] = [rowspan - 1, cell]
                col += 1
            all_header = all_header and raw.header
        for c in sorted(k for k in pending if k >= col):  # spans hanging into a short row
            col = _fill_rowspans(out, c, pending)
        if out:
            grid.append((out, all_header, "sortbottom" in row.attrs))
    if not grid:
        return None
    n_headers = 0
    while n_headers < len(grid) and grid[n_headers][1] and not grid[n_headers][2]:
        n_headers += 1
    n_footers = 0
    while (n_footers < len(grid) - n_headers - 1
           and (grid[-1 - n_footers][2] or grid[-1 - n_footers][1])):
        n_footers += 1
    confidence = 1.0
    if not closed:
        confidence *= _TABLE_CONFIDENCE_UNCLOSED
    if len({len(cells) for cells, _h, _f in grid}) > 1:
        confidence *= _TABLE_CONFIDENCE_RAGGED
    if capped:
        confidence *= _TABLE_CONFIDENCE_SPAN_CAPPED
    body = [cells for cells, _h, _f in grid]
    return {
        "identifier": identifier,
        "headers": body[:n_headers],
        "rows": body[n_headers:len(body) - n_footers],
        "footers": body[len(body) - n_footers:],
        "confidence_score": round(confidence, 3),
    }


def _tables(masked: str, template_spans: list[tuple[int, int]], renderer: _RegexRenderer,
            deadline: _Deadline) -> list[tuple[int, dict]]:
    """``(offset, table)`` of every data table outside templates, in page order. Identifiers are
    ``table-<n>``, n counting the page's data tables from 1, and ``table-<n>.<m>`` for the m-th table
    nested in table n: the same wikitext always gives the same identifiers."""
    if "{|" not in masked:
        return []
    starts = [s for s, _ in template_spans]
    out: list[tuple[int, dict]] = []
    depth = 0
    table_start = 0
    number = 0
    rendered: dict[str, str] = {}

    def add(start: int, end: int) -> None:
        nonlocal number
        i = bisect_right(starts, start) - 1
        if i >= 0 and template_spans[i][1] > start:
            return  # a table in a template's arguments is that template's business
        lines = _table_lines(masked, start, end, template_spans)
        rows, attrs, closed, _next = _parse_table(lines, 0)
        if _table_classes(attrs) & _NON_DATA_TABLE_CLASSES:
            return
        table = _build_table(rows, closed, f"table-{number + 1}", renderer, rendered)
        if table is not None:
            number += 1
            out.append((start, table))

    first = masked.find("{|")
    for k, m in enumerate(_TABLE_LINE_RE.finditer(masked, masked.rfind("\n", 0, first) + 1)):
        if k & 255 == 255:
            deadline.check("tables")
        if m.group(1) == "{|":
            if depth == 0:
                table_start = m.start()
            depth += 1
        elif depth:
            depth -= 1
            if depth == 0:
                end = masked.find("\n", m.end())
                add(table_start, len(masked) if end < 0 else end)
    if depth:
        add(table_start, len(masked))  # unclosed: MediaWiki closes it at the end of the page
    return out


# ==================================================================================================
# References
# ==================================================================================================

_ATTR_RE = re.compile(r"""(\w+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>/]+))""")
_CITATION_RE = re.compile(
    r"^(?:cite|citation|citar|cita|lien|ouvrage|article|chapitre|internetquelle|literatur|"
    r"chú thích|статья|книга|публикация|cite web|web|harvnb|sfn)", re.IGNORECASE)
_CITATION_TYPE_PREFIX_RE = re.compile(r"^(?:cite|citar|cita|chú thích)\s+", re.IGNORECASE)
_URL_PARAMS = ("url", "archive-url", "archiveurl", "chapter-url", "url texte", "url archive", "urlarchivo",
               "arquivourl", "archiv-url")
_CITATION_TEXT_KEYS = (
    ("last", "last1", "author", "author1", "authors", "nom", "nom1", "auteur", "autor", "último", "apellido"),
    ("first", "first1", "prénom", "prénom1", "primeiro", "nombre"),
    ("title", "titre", "título", "titel"),
    ("website", "work", "newspaper", "journal", "magazine", "periodical", "publisher", "site", "périodique",
     "éditeur", "obra", "publicação", "jornal", "editora", "werk", "hrsg", "sammelwerk"),
    ("date", "year", "année", "data", "ano", "fecha", "datum", "jahr"),
)


def _attrs(raw: str) -> dict[str, str]:
    return {m.group(1).lower(): (m.group(2) or m.group(3) or m.group(4) or "").strip()
            for m in _ATTR_RE.finditer(raw)}


_MARKUP_CHARS_RE = re.compile(r"[\[{<'&_]|\s\s")


def _plain_value(value: str, renderer: _RegexRenderer) -> str:
    """Plain text of a short fragment; most citation parameters have no markup at all."""
    if _MARKUP_CHARS_RE.search(value) is None:
        return value.strip()
    return _ASCII_SPACES_RE.sub(" ", renderer.render_inline(value)).strip()


def _citation_text(named: dict[str, str], renderer: _RegexRenderer) -> str:
    pieces: list[str] = []
    for keys in _CITATION_TEXT_KEYS:
        for key in keys:
            value = named.get(key)
            if value:
                pieces.append(_plain_value(value, renderer))
                break
    return ". ".join(p for p in pieces if p)


def _reference(content: str, renderer: _RegexRenderer) -> dict:
    """One reference's ``type``, ``metadata`` (the citation template's parameters), ``text`` and
    ``source`` links."""
    ref: dict[str, Any] = {"type": "text", "metadata": {}, "text": {"value": ""}}
    urls: list[str] = []
    citation_text = ""
    if "{{" in content:
        spans, _u, _d = _pairs(content, _BRACES_RE, "{{", renderer.deadline)
        for s, e in _outermost(spans):
            parts = _split_top(content[s + 2:e - 2])
            key = _template_key(parts[0], renderer.names)
            if key and _CITATION_RE.match(key):
                _positional, named = _template_args(parts)
                ref["type"] = _CITATION_TYPE_PREFIX_RE.sub("", key) or key
                ref["metadata"] = {k: _plain_value(v, renderer) for k, v in named.items() if v}
                urls.extend(named[k] for k in _URL_PARAMS if named.get(k))
                citation_text = _citation_text(named, renderer)
                break
    if "[" in content:
        urls.extend(m.group(1) for m in _EXTLINK_RE.finditer(content))
    stripped = content.strip()
    if citation_text and stripped.startswith("{{") and stripped.endswith("}}") and stripped.count("{{") == 1:
        text = ""  # the reference is just its citation template: rendering it would give nothing
    else:
        text = _plain_value(content, renderer)
    ref["text"] = {"value": citation_text if citation_text and len(text) < len(citation_text) else text}
    if not urls:
        urls = _URL_RE.findall(content)
    if urls:
        seen: list[str] = []
        for url in urls:
            url = url.strip()
            if url and url not in seen:
                seen.append(url)
        ref["source"] = {"links": [{"url": u} for u in seen]}
    return ref


def _references(masked: str, renderer: _RegexRenderer, deadline: _Deadline) -> list[dict]:
    """Each distinct ``<ref>``, in page order. A named reference is listed once (its first definition
    with content); uses of a name that is never defined are kept with an empty text."""
    refs: list[dict] = []
    by_name: dict[tuple[str, str], dict] = {}
    for attrs_raw, content, _s, _e in _iter_refs(masked, deadline):
        attrs = _attrs(attrs_raw) if attrs_raw else {}
        name, group = attrs.get("name", ""), attrs.get("group", "")
        if name and (group, name) in by_name:
            known = by_name[(group, name)]
            if content and content.strip() and not known["text"]["value"] and "source" not in known:
                known.update(_reference(content, renderer))
            continue
        if content and content.strip():
            ref = _reference(content, renderer)
        else:
            ref = {"type": "text", "metadata": {}, "text": {"value": ""}}
        ref = {"identifier": name or f"ref-{len(refs) + 1}", **({"group": group} if group else {}), **ref}
        refs.append(ref)
        if name:
            by_name[(group, name)] = ref
    return refs


# ==================================================================================================
# Lead: abstract, infoboxes, image, description
# ==================================================================================================


_HTML_TAG_RE = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*)\b[^<>]*?(/?)>")
_VOID_TAGS = frozenset(("br", "hr", "wbr", "img", "meta", "link", "references", "section", "nowiki"))


def _unclosed_tags(lead: str) -> int:
    """How many HTML/extension tags are opened and never closed (mwparserfromhell retries each one
    against the rest of the text: quadratic)."""
    if "<" not in lead:
        return 0
    balance: dict[str, int] = {}
    for m in _HTML_TAG_RE.finditer(lead):
        if m.group(3):
            continue
        name = m.group(2).lower()
        if name in _VOID_TAGS:
            continue
        balance[name] = balance.get(name, 0) + (-1 if m.group(1) else 1)
    return sum(v for v in balance.values() if v > 0) + max(0, lead.count("<") - lead.count(">"))


def _lead_is_parseable(lead: str) -> bool:
    """Whether mwparserfromhell can parse this lead safely and in (near) linear time: it recurses once
    per nesting level (RecursionError on {{ × 2000) and re-scans the rest of the text for every
    unclosed construct (quadratic), so such leads go to the regex renderer instead."""
    if (lead.count("<") > _MAX_LEAD_TAGS or lead.count("{|") > _MAX_LEAD_TABLES
            or lead.count("[") > _MAX_LEAD_BRACKETS or lead.count("''") > _MAX_LEAD_QUOTES
            or lead.count("[") - lead.count("]") > _MAX_LEAD_UNCLOSED
            or _unclosed_tags(lead) > _MAX_LEAD_UNCLOSED):
        return False
    _spans, unmatched, depth = _pairs(lead, _BRACES_RE, "{{")
    if unmatched > _MAX_LEAD_UNCLOSED or depth > _MAX_LEAD_NESTING:
        return False
    _spans, unmatched, depth = _pairs(lead, _BRACKETS_RE, "[[")
    return unmatched <= _MAX_LEAD_UNCLOSED and depth <= _MAX_LEAD_NESTING


def _cut_lead(lead: str) -> str:
    if len(lead) <= LEAD_PARSE_LIMIT:
        return lead
    cut = lead.rfind("\n\n", 0, LEAD_PARSE_LIMIT)
    return lead[: cut if cut > 0 else LEAD_PARSE_LIMIT]


def _file_in_value(value: str, names: WikiNames) -> str | None:
    """A file an infobox parameter names: a bare ``X.jpg``/``File:X.jpg`` or a ``[[File:X.jpg|…]]``."""
    value = value.strip()
    if not value:
        return None
    if "[[" in value:
        m = re.search(r"\[\[\s*([^\]|]+)", value)
        if m:
            ns, rest = names.split_title(m.group(1))
            if ns == NS_FILE:
                return rest
        return None
    if "{{" in value or "\n" in value or "://" in value:
        return None
    if _IMAGE_FILE_RE.search(value):
        ns, rest = names.split_title(value)
        if ns in (0, NS_FILE):
            return rest
    return None


_SIZE_RE = re.compile(r"^\s*(\d+)\s*(?:px)?\s*$")
_IMAGE_SIZE_KEYS = ("taille image", "image_size", "image size", "imagesize", "size", "width", "taille",
                    "largeur", "tamanho", "imagem_tamanho", "breite", "bildbreite")
_TRAILING_DIGITS_RE = re.compile(r"(\d+)$")
_LIST_MARKERS_RE = re.compile(r"(?m)^[*#:;]+[ \t]*")


def _too_small(size: str) -> bool:
    """PageImages all but excludes images shown 119 px wide or less (icons, small logos)."""
    m = _SIZE_RE.match(size)
    return bool(m) and int(m.group(1)) <= 119


def _template_images(named: dict[str, str], names: WikiNames) -> list[str]:
    """Files a template's named parameters name, in order, minus those displayed too small to be a
    page image (``image1=X.svg`` with ``taille1=100``)."""
    folded = {k.casefold(): v for k, v in named.items()}
    found: list[str] = []
    for key, value in named.items():
        file_name = _file_in_value(value, names)
        if not file_name:
            continue
        digits = _TRAILING_DIGITS_RE.search(key)
        if digits:
            size_keys = [k + digits.group(1) for k in ("taille", "size", "width", "largeur", "tamanho")]
        else:
            size_keys = list(_IMAGE_SIZE_KEYS)
        if not any(_too_small(folded.get(k, "")) for k in size_keys):
            found.append(file_name)
    return found


def _infobox_part(raw_name: str, named: dict[str, str], renderer: _RegexRenderer) -> dict:
    """An infobox as an Enterprise part: one ``field`` per non-empty parameter (plain-text value and
    its links), ``image`` parts for parameters naming a file."""
    names = renderer.names
    fields: list[dict] = []
    for key, raw_value in named.items():
        if not raw_value.strip():
            continue
        file_name = _file_in_value(raw_value, names)
        if file_name and "[[" not in raw_value:
            fields.append({"type": "image", "name": key, "images": [_image_dict(names, file_name)]})
            continue
        links: list[dict] = []
        value = renderer.render_inline(raw_value, links)
        if "\n" in value:
            value = _LIST_MARKERS_RE.sub(" ", value)
        value = _ASCII_SPACES_RE.sub(" ", value).strip()
        if value:
            part: dict[str, Any] = {"type": "field", "name": key, "value": value}
            if links:
                part["links"] = links
            fields.append(part)
    return {"name": _clean_title(raw_name), "type": "infobox", "has_parts": fields}


def _lead_file_links(lead: str, names: WikiNames) -> list[tuple[int, str]]:
    """``(offset, file)`` of the ``[[File:…]]`` links and ``<gallery>`` lines of the lead that are
    big enough to be a page image."""
    found: list[tuple[int, str]] = []
    for m in names._file_re.finditer(lead):
        options = (m.group(2) or "").split("|")
        if any(o.strip().endswith("px") and _too_small(o.strip().rsplit("x", 1)[-1] if "x" in o.strip()[:-2]
               else o.strip()) for o in options):
            continue
        found.append((m.start(), _clean_title(m.group(1))))
    if "<gallery" in lead:
        start = lead.find("<gallery")
        end = lead.find("</gallery", start)
        for line in lead[lead.find(">", start) + 1:end if end > 0 else len(lead)].split("\n"):
            ns, rest = names.split_title(line.split("|", 1)[0])
            if rest and (ns == NS_FILE or _IMAGE_FILE_RE.search(rest)):
                found.append((start, rest))
                break
    return found


@dataclass(slots=True)
class _Lead:
    abstract: str = ""
    infoboxes: list[dict] = field(default_factory=list)
    image: dict | None = None
    description: str | None = None


def _lead_fields(lead: str, names: WikiNames, deadline: _Deadline) -> _Lead:
    """Abstract, infoboxes, image and short description from the lead section.

    One brace scan sorts the lead's templates: those that render text stay for the abstract; the
    others (infoboxes, hatnotes, citations…, most of a lead's bytes) are read here — infobox
    parameters, the short description, image parameters — and cut out, so mwparserfromhell only
    parses what the abstract needs."""
    result = _Lead()
    if not lead.strip():
        return result
    renderer = _RegexRenderer(names, deadline)
    spans, _unmatched, _depth = _pairs(lead, _BRACES_RE, "{{", deadline)
    kept: list[str] = []
    pos = 0
    infobox_images: list[str] = []
    other_images: list[tuple[int, str]] = []
    for s, e in _outermost(spans):
        body = lead[s + 2:e - 2]
        bar = body.find("|")
        raw_name = body if bar < 0 else body[:bar]
        kept.append(lead[pos:s])
        pos = e
        if _renders_text(_template_key(raw_name, names)):
            kept.append(lead[s:e])
            continue
        title = _template_title(raw_name, names)
        if title is None or bar < 0:
            continue
        parts = _split_top(body)
        positional, named = _template_args(parts)
        if _INFOBOX_RE.search(title[1]):
            result.infoboxes.append(_infobox_part(raw_name, named, renderer))
            infobox_images.extend(_template_images(named, names))
        elif title[1].casefold() in _SHORT_DESCRIPTION_KEYS:
            value = positional[0].strip() if positional else ""
            if result.description is None and value and value.casefold() != "none":
                result.description = value
        else:
            images = _template_images(named, names)
            if images:
                other_images.append((s, images[0]))
    kept.append(lead[pos:])
    text = "".join(kept)
    deadline.check("lead templates")
    result.abstract = _lead_abstract(text, renderer)
    if infobox_images:
        result.image = _image_dict(names, infobox_images[0])
    else:
        candidates = sorted(other_images + _lead_file_links(text, names))
        if candidates:
            result.image = _image_dict(names, candidates[0][1])
    return result


def _lead_abstract(text: str, renderer: _RegexRenderer) -> str:
    """The abstract from the lead text (templates that render nothing already removed): tree renderer
    when mwparserfromhell can parse the text safely, regex renderer otherwise."""
    if _lead_is_parseable(text):
        try:
            tree = _TreeRenderer(renderer.names)
            rendered = tree.render(mwparserfromhell.parse(text))
            return _abstract_from_rendered(rendered, tree.formula_seen)
        except RecursionError:  # nesting deeper than the pre-check saw (e.g. inside tags)
            pass
    return _abstract_from_rendered(renderer.render_block(text), keep_parentheticals=False)


# ==================================================================================================
# Entry point
# ==================================================================================================


def extract_wikitext_fields(
    wikitext: str,
    site: Any = None,
    *,
    dbname: str | None = None,
    ns: int = 0,
    time_budget_s: float | None = None,
) -> WikitextFields:
    """Derive the Enterprise article fields of one revision from its wikitext.

    Args:
        wikitext: the revision's wikitext.
        site: the wiki's names — a :class:`WikiNames` (fastest: build it once per wiki), a dump
            ``SiteInfo``, a ``{namespace id: name}`` map, a dbname, or ``None`` (built-in tables for
            ``dbname``, English otherwise).
        dbname: e.g. ``"frwiki"``; maintenance tags are computed only for ``*wiki`` projects, as in
            Enterprise (and for any project when ``dbname`` is not given).
        ns: the page's namespace; the abstract and maintenance tags are for ns 0 only.
        time_budget_s: raise :class:`ExtractionTimeout` once the extraction has run this long
            (checked between stages and inside long loops).
    """
    deadline = _Deadline(time_budget_s)
    names = _coerce_names(site, dbname)
    text = wikitext or ""
    fields = WikitextFields(number_of_characters=len(text), size_bytes=len(text.encode("utf-8")))
    fields.redirect_target = redirect_target(text, names) if text.lstrip().startswith("#") else None
    if ns == 0 and (dbname is None or dbname.endswith("wiki")):
        fields.maintenance_tags = maintenance_tags(text)
    if not text.strip():
        return fields

    deadline.check("start")
    masked = mask_wikitext(text, deadline)
    deadline.check("masking")

    template_spans, _unmatched, _depth = _pairs(masked, _BRACES_RE, "{{", deadline)
    top_templates = _outermost(template_spans)
    fields.templates = _templates(masked, top_templates, names, deadline)
    fields.categories = _categories(masked, names)
    fields.is_disambiguation = bool(_DISAMBIG_SWITCH_RE.search(masked)) if "__" in masked else False
    fields.is_disambiguation = fields.is_disambiguation or any(
        _is_disambiguation_template(t) for t in fields.templates)
    deadline.check("templates and categories")

    section_renderer = _SectionRenderer(names, deadline)
    fields.references = _references(masked, section_renderer, deadline)
    deadline.check("references")

    # Every other field reads the text without its <ref>s: strip them once, not per section.
    body = _strip_refs(masked, deadline)
    body_templates = _outermost(_pairs(body, _BRACES_RE, "{{", deadline)[0]) if body is not masked else top_templates
    headings = _headings(body, body_templates, section_renderer)
    lead_end = headings[0].start if headings else len(body)
    lead = _cut_lead(body[:lead_end])
    deadline.check("headings")

    lead_fields = _lead_fields(lead, names, deadline)
    if ns == 0:
        fields.abstract = lead_fields.abstract
    fields.infoboxes = lead_fields.infoboxes
    fields.image = lead_fields.image
    fields.description = lead_fields.description
    deadline.check("lead")

    tables = _tables(body, body_templates, section_renderer, deadline) if "{|" in body else []
    fields.tables = [table for _offset, table in tables]
    deadline.check("tables")

    fields.sections = _build_sections(body, headings, lead_end, section_renderer, deadline, tables)
    deadline.check("sections")
    return fields


def _templates(masked: str, top: list[tuple[int, int]], names: WikiNames, deadline: _Deadline) -> list[str]:
    seen: dict[str, None] = {}
    for i, (s, e) in enumerate(top):
        if i & 1023 == 1023:
            deadline.check("templates")
        body = masked[s + 2:e - 2]
        bar = body.find("|")
        title = _template_title(body if bar < 0 else body[:bar], names)
        if title is not None:
            seen.setdefault(names.full_title(*title) if title[0] else title[1], None)
    return list(seen)


def _categories(masked: str, names: WikiNames) -> list[str]:
    if "[[" not in masked:
        return []
    seen: dict[str, None] = {}
    for m in names._category_re.finditer(masked):
        title = _clean_title(m.group(1).split("#", 1)[0])
        if title:
            seen.setdefault(names.full_title(NS_CATEGORY, title), None)
    return list(seen)
