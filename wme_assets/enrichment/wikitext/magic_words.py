"""MediaWiki's magic words: which ``{{…}}`` are parser functions or variables, not transclusions.

The English names are MediaWiki 1.39's own (``action=query&meta=siteinfo&siprop=magicwords|
functionhooks|variables`` of core + ParserFunctions; the test of the transclusions compares them with a
live wiki), kept here so that the extractor needs no MediaWiki. MediaWiki decides as follows
(``Parser::braceSubstitution``), and so does :func:`is_parser_function` / :func:`is_variable`:

* ``{{name:…}}`` is a parser function when ``name`` (trimmed) is a function synonym: exactly, for the
  case-sensitive ones (``PAGENAME``, ``DEFAULTSORT``), or lower-cased (``lc``, ``int``, ``formatnum``).
  Functions registered with a hash (``#if``, ``#tag``, ``#invoke``, ``#property``…) all start with
  ``#``, which no title can, so every ``{{#…}}`` is one.
* ``{{NAME}}`` *without arguments* is a variable when ``NAME`` is a variable synonym (same case rule).
  With arguments (``{{PAGENAME|x}}``) or in the wrong case (``{{pagename}}``) it is a template.
* ``{{subst:X}}`` is left as text when a page is viewed (not a transclusion); ``safesubst:``,
  ``msg:``, ``msgnw:`` and ``raw:`` transclude ``X``.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

_FUNCTIONS_CS = frozenset((
    "NUMBEROFPAGES", "NUMBEROFUSERS", "NUMBEROFACTIVEUSERS", "NUMBEROFARTICLES", "NUMBEROFFILES",
    "NUMBEROFADMINS", "NUMBERINGROUP", "NUMINGROUP", "NUMBEROFEDITS", "DEFAULTSORT", "DEFAULTSORTKEY",
    "DEFAULTCATEGORYSORT", "PAGESINCATEGORY", "PAGESINCAT", "PAGESIZE", "PROTECTIONLEVEL", "PROTECTIONEXPIRY",
    "NAMESPACE", "NAMESPACEE", "NAMESPACENUMBER", "TALKSPACE", "TALKSPACEE", "SUBJECTSPACE", "ARTICLESPACE",
    "SUBJECTSPACEE", "ARTICLESPACEE", "PAGENAME", "PAGENAMEE", "FULLPAGENAME", "FULLPAGENAMEE",
    "ROOTPAGENAME", "ROOTPAGENAMEE", "BASEPAGENAME", "BASEPAGENAMEE", "SUBPAGENAME", "SUBPAGENAMEE",
    "TALKPAGENAME", "TALKPAGENAMEE", "SUBJECTPAGENAME", "ARTICLEPAGENAME", "SUBJECTPAGENAMEE",
    "ARTICLEPAGENAMEE", "REVISIONID", "REVISIONDAY", "REVISIONDAY2", "REVISIONMONTH", "REVISIONMONTH1",
    "REVISIONYEAR", "REVISIONTIMESTAMP", "REVISIONUSER", "CASCADINGSOURCES", "DISPLAYTITLE",
    # Wikimedia production extensions (FlaggedRevs, core with $wgAllowSlowParserFunctions)
    "PENDINGCHANGELEVEL", "PAGESINNAMESPACE", "PAGESINNS",
))
_FUNCTIONS_CI = frozenset(s.casefold() for s in (
    "NS", "NSE", "URLENCODE", "LCFIRST", "UCFIRST", "LC", "UC", "LOCALURL", "LOCALURLE", "FULLURL",
    "FULLURLE", "CANONICALURL", "CANONICALURLE", "FORMATNUM", "GRAMMAR", "GENDER", "PLURAL", "BIDI",
    "PADLEFT", "PADRIGHT", "ANCHORENCODE", "FILEPATH", "PAGEID", "INT",
    "noexternallanglinks",  # Wikibase client, registered without a hash
))
_VARIABLES_CS = frozenset((
    "!", "=", "CURRENTMONTH", "CURRENTMONTH2", "CURRENTMONTH1", "CURRENTMONTHNAME", "CURRENTMONTHNAMEGEN",
    "CURRENTMONTHABBREV", "CURRENTDAY", "CURRENTDAY2", "CURRENTDAYNAME", "CURRENTYEAR", "CURRENTTIME",
    "CURRENTHOUR", "LOCALMONTH", "LOCALMONTH2", "LOCALMONTH1", "LOCALMONTHNAME", "LOCALMONTHNAMEGEN",
    "LOCALMONTHABBREV", "LOCALDAY", "LOCALDAY2", "LOCALDAYNAME", "LOCALYEAR", "LOCALTIME", "LOCALHOUR",
    "NUMBEROFARTICLES", "NUMBEROFFILES", "NUMBEROFEDITS", "SITENAME", "PAGENAME", "PAGENAMEE",
    "FULLPAGENAME", "FULLPAGENAMEE", "NAMESPACE", "NAMESPACEE", "NAMESPACENUMBER", "CURRENTWEEK",
    "CURRENTDOW", "LOCALWEEK", "LOCALDOW", "REVISIONID", "REVISIONDAY", "REVISIONDAY2", "REVISIONMONTH",
    "REVISIONMONTH1", "REVISIONYEAR", "REVISIONTIMESTAMP", "REVISIONUSER", "REVISIONSIZE", "SUBPAGENAME",
    "SUBPAGENAMEE", "TALKSPACE", "TALKSPACEE", "SUBJECTSPACE", "ARTICLESPACE", "SUBJECTSPACEE",
    "ARTICLESPACEE", "TALKPAGENAME", "TALKPAGENAMEE", "SUBJECTPAGENAME", "ARTICLEPAGENAME",
    "SUBJECTPAGENAMEE", "ARTICLEPAGENAMEE", "NUMBEROFUSERS", "NUMBEROFACTIVEUSERS", "NUMBEROFPAGES",
    "CURRENTVERSION", "ROOTPAGENAME", "ROOTPAGENAMEE", "BASEPAGENAME", "BASEPAGENAMEE", "CURRENTTIMESTAMP",
    "LOCALTIMESTAMP", "DIRECTIONMARK", "DIRMARK", "CONTENTLANGUAGE", "CONTENTLANG", "PAGELANGUAGE",
    "NUMBEROFADMINS", "CASCADINGSOURCES",
    "PENDINGCHANGELEVEL", "NUMBEROFWIKIS",  # Wikimedia production extensions
))
LOCALIZED_TABLE = Path(__file__).with_name("magic_words_localized.json")
"""Per content language, the synonyms its MediaWiki language file (and fallbacks) adds to the English
ones, for the languages of the largest Wikipedias (generated from MediaWiki 1.39; the test of the
transclusions regenerates it and compares)."""

_VARIABLES_CI = frozenset(s.casefold() for s in ("ARTICLEPATH", "PAGEID", "SERVER", "SERVERNAME",
                                                  "SCRIPTPATH", "STYLEPATH"))

TRANSCLUSION_MODIFIERS = frozenset(("subst", "safesubst", "msgnw", "msg", "raw"))
"""Prefixes (case-insensitive) before a title; all but ``subst:`` transclude it when a page is viewed
(Parsoid still names the ``subst:`` title, so ``templates`` keeps it: :func:`is_subst`)."""


def is_subst(raw_name: str) -> bool:
    """Whether ``{{raw_name…}}`` is a ``{{subst:…}}`` (left as text when a page is viewed)."""
    return raw_name.lstrip()[:6].casefold() == "subst:"


_EMPTY = (frozenset(), frozenset(), frozenset(), frozenset())


@cache
def _localized(language: str) -> tuple[frozenset[str], frozenset[str], frozenset[str], frozenset[str]]:
    """(functions_cs, functions_ci, variables_cs, variables_ci) a content language adds. Only that
    language's wiki knows them: on enwiki, ``{{SORTIERUNG:x}}`` transcludes Template:SORTIERUNG:x."""
    words = _table().get(language) or _table().get(language.split("-")[0])
    if not words:
        return _EMPTY
    return tuple(frozenset(words.get(k, ())) for k in ("functions_cs", "functions_ci", "variables_cs", "variables_ci"))


@cache
def _table() -> dict[str, dict[str, list[str]]]:
    return json.loads(LOCALIZED_TABLE.read_text(encoding="utf-8"))["words"]


def is_parser_function(prefix: str, language: str = "en") -> bool:
    """Whether ``{{prefix:…}}`` calls a parser function (``prefix`` = the text before the first colon)
    on a wiki whose content language is ``language``."""
    prefix = prefix.strip()
    if prefix.startswith("#") or prefix in _FUNCTIONS_CS:
        return True
    key = prefix.casefold()
    if key in _FUNCTIONS_CI:
        return True
    if language == "en":
        return False
    cs, ci, _vcs, _vci = _localized(language)
    return prefix in cs or key in ci


def is_variable(name: str, language: str = "en") -> bool:
    """Whether ``{{name}}`` (no arguments, no colon) is a variable such as ``{{PAGENAME}}``."""
    if name in _VARIABLES_CS or name.casefold() in _VARIABLES_CI:
        return True
    if language == "en":
        return False
    _cs, _ci, vcs, vci = _localized(language)
    return name in vcs or name.casefold() in vci


def english_tables() -> dict[str, frozenset[str]]:
    """The English synonyms by kind, for comparison with a live wiki's siteinfo."""
    return {"functions_cs": _FUNCTIONS_CS, "functions_ci": _FUNCTIONS_CI,
            "variables_cs": _VARIABLES_CS, "variables_ci": _VARIABLES_CI}
