"""Inline templates that render text: the abstract and other plain-text fields keep their output;
every other template (infoboxes, hatnotes, navboxes, citation markers) renders nothing they keep."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .names import _clean_title


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
