"""Template names: the title a ``{{…}}`` transcludes (parser functions and magic words are not
templates), and the lookup key of the inline renderers."""

from __future__ import annotations

from .names import NS_TEMPLATE, WikiNames, _clean_title

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
