"""Whole-page facts read straight off the wikitext: Enterprise's maintenance tag counts, the
redirect target, whether the page is a disambiguation page."""

from __future__ import annotations

import re

from .names import WikiNames, _clean_title

# -- maintenance tags (Enterprise: services/structured-data/packages/builder/maintenancetags.go) ----

# Enterprise's regexes are `(?i){{Citation needed(\|*).*?}}`, `(?i){{POV(\|*).*?}}`,
# `(?i){{clarify(\|*).*?}}` and `(?i){{update(\|*).*?}}`: the prefix, then the shortest run to "}}"
# on the same line. Counted here with the same semantics in linear time (a backtracking `.*?}}`
# is quadratic on a line of unclosed prefixes; Go's RE2 is not).
_MAINTENANCE_PREFIXES = {
    "citation_needed_count": "Citation needed",
    "pov_count": "POV",
    "clarification_needed_count": "clarify",
    "update_count": "update",
}
# The four prefixes found in one pass (group i+1 = the i-th prefix). No two of their matches can overlap
# ("{{" starts each and occurs nowhere else in them), so this finds exactly the positions where each
# prefix matches, which is all that the count below reads.
_MAINTENANCE_RE = re.compile(
    r"\{\{(?:" + "|".join(f"({re.escape(p)})" for p in _MAINTENANCE_PREFIXES.values()) + ")", re.IGNORECASE)


def _count_enterprise_tag(text: str, matches: list[tuple[int, int]]) -> int:
    """How many times ``{{prefix(\\|*).*?}}`` matches, given the ``(start, end)`` of every match of the prefix
    (a leftmost-first regex scan resumes after each match, or one character after a prefix with no
    ``}}`` on its line)."""
    count = 0
    pos = 0
    next_close = next_newline = -2
    for start, end in matches:
        if start < pos:
            continue
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
            pos = start + 1
    return count


def maintenance_tags(wikitext: str) -> dict[str, int]:
    """Enterprise's maintenance counts: its four regexes over the raw wikitext (comments included,
    ``.`` not crossing lines, ``{{cn}}``/``{{fact}}`` not counted)."""
    if "{{" not in wikitext:
        return dict.fromkeys(_MAINTENANCE_PREFIXES, 0)
    found: list[list[tuple[int, int]]] = [[] for _ in _MAINTENANCE_PREFIXES]
    for m in _MAINTENANCE_RE.finditer(wikitext):
        found[m.lastindex - 1].append(m.span())
    return {name: _count_enterprise_tag(wikitext, matches)
            for name, matches in zip(_MAINTENANCE_PREFIXES, found, strict=True)}


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
