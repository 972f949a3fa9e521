"""Per-wiki names: namespaces and their aliases, title normalization, article URLs."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

NS_FILE = 6
NS_TEMPLATE = 10
NS_CATEGORY = 14


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
    # {redirect: target} of the wiki's template redirects (transclusions.template_redirects builds it
    # from a dump's pages): MediaWiki records both a transcluded redirect and its target.
    template_redirects: dict[str, str] = field(default_factory=dict)
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
    if raw.isprintable() and "_" not in raw and "  " not in raw:
        # No run to collapse: every whitespace character but the ASCII space is non-printable, so only
        # single spaces are left (the common case, and a regex pass less per link).
        return raw.strip()
    return _WS_RE.sub(" ", raw).strip()
