"""Wikimedia Enterprise's clean-up of an abstract (``GetAbstract`` in ``general/parser/parser.go``), in
one place for both extractors: the HTML path applies it to the lead section's HTML
(:mod:`wme_assets.enrichment.html.abstract`), the wikitext path to the lead's rendered text
(:mod:`wme_assets.enrichment.wikitext.abstract`).

Enterprise's steps, in its order:

1. unless the lead shows a formula — a ``<sup>``/``<sub>`` number right after a digit, an element
   symbol or ``)`` (:data:`FORMULA_RE`), or a one-character ``<i>`` right after ``(``
   (:data:`MATH_EXPR_RE`) — parentheticals go (:func:`drop_parentheticals`): nested ones innermost
   first, then ``( |&nbsp;)\\([^)]+ [^)]*\\)`` (a `` (…)`` holding a space) and ``（[^）]+[ ：，][^）]+）``;
2. empty ``( )`` and ``[ ]`` go, and the space before ``，`` ``。`` and before ``, . ! ?`` that a space
   or the end of an element follows (:func:`tidy_punctuation`).

Go's RE2 ``\\s`` is ASCII ``[\\t\\n\\f\\r ]`` (:data:`GO_SPACE`): a no-break space is not a space to it
(Python's ``\\s`` matches one, and with ``re.ASCII`` also ``\\v``). Enterprise's ``&nbsp;`` alternatives
are left out: they never match, as Go's HTML renderer writes U+00A0 as the character (the HTML path
serializes the same way), and in plain text a literal "&nbsp;" is text. Where Enterprise's regex
would backtrack quadratically over an unclosed parenthesis in Python, the same leftmost-first
semantics are scanned by hand in linear time, as RE2 runs.

Enterprise also writes a numeric ``<sup>`` as U+2070 + digit (:func:`superscript_number`).

Then wme's own last step, on both paths' final text (:func:`bounded_abstract`): an abstract is prose of
bounded length. Text with markup left in it (:func:`leftover_markup`: ``{{``, ``[[``, ``{|``, ``<ref``…
that the renderer did not consume, as a malformed lead leaves them) is withheld, with the reason; text
longer than :data:`ABSTRACT_MAX_CHARS` is cut at a sentence end (:func:`truncate_abstract`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "ABSTRACT_MAX_CHARS",
    "BoundedAbstract",
    "FORMULA_BEFORE_RE",
    "FORMULA_RE",
    "FORMULA_SCRIPT_RE",
    "GO_SPACE",
    "MATH_EXPR_BEFORE_RE",
    "MATH_EXPR_CHAR_RE",
    "MATH_EXPR_RE",
    "bounded_abstract",
    "drop_parentheticals",
    "leftover_markup",
    "superscript_number",
    "tidy_punctuation",
    "truncate_abstract",
]

GO_SPACE = r"[\t\n\f\r ]"
"""RE2's ``\\s``."""

# -- the formula guard ------------------------------------------------------------------------------

_FORMULA_BEFORE = r"\d|[A-Z][a-z]?|\)"  # what stands right before the <sup>/<sub>
_FORMULA_SCRIPT = r"[0-9+-]{1,3}"  # the <sup>/<sub> text
_MATH_EXPR_CHAR = r"[A-z0-9+-]"  # the one-character <i> after "("

# Over the lead's HTML (Enterprise's own form) ...
FORMULA_RE = re.compile(rf"({_FORMULA_BEFORE})<su[bp]>{_FORMULA_SCRIPT}</su[bp]>")
MATH_EXPR_RE = re.compile(rf"\( *<i>{_MATH_EXPR_CHAR}</i>")
# ... and over the pieces a tree renderer sees apart: the text before a <sup>/<sub> and its text, the
# text before an <i> and its text.
FORMULA_BEFORE_RE = re.compile(rf"(?:{_FORMULA_BEFORE})$")
FORMULA_SCRIPT_RE = re.compile(rf"^{_FORMULA_SCRIPT}$")
MATH_EXPR_BEFORE_RE = re.compile(r"\( *$")
MATH_EXPR_CHAR_RE = re.compile(rf"^{_MATH_EXPR_CHAR}$")

# -- step 1: parentheticals -------------------------------------------------------------------------

_NESTED_BRACES_RE = re.compile(r"([(（][^()（）]*)([(（][^()（）]+[)）])")
# Each pass removes one level of nesting; real text nests two or three deep, and the bound keeps
# hostile text (thousands of levels) linear.
_MAX_NESTED_PASSES = 50


def _has_inner_space(content: str) -> bool:
    # Go: `( |&nbsp;)\([^)]+ [^)]*\)` — a space after at least one character of the content
    return " " in content[1:]


def _has_inner_cjk_separator(content: str) -> bool:
    # Go: `（[^）]+[ ：，][^）]+）` — a separator with content on both sides
    return len(content) >= 3 and any(c in " ：，" for c in content[1:-1])


def _drop_enclosed(text: str, opener: str, closer: str, matches: Callable[[str], bool]) -> str:
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


def drop_parentheticals(text: str) -> str:
    """Step 1: nested parentheticals (innermost first), then `` (…)`` holding a space and ``（…）``
    holding a separator."""
    for _ in range(_MAX_NESTED_PASSES):
        reduced = _NESTED_BRACES_RE.sub(r"\1", text)
        if reduced == text:
            break
        text = reduced
    text = _drop_enclosed(text, " (", ")", _has_inner_space)
    if "（" in text:
        text = _drop_enclosed(text, "（", "）", _has_inner_cjk_separator)
    return text


# -- step 2: empty brackets, space before punctuation ----------------------------------------------

_EMPTY_BRACES_RE = re.compile(rf"\({GO_SPACE}*\)")
_EMPTY_BRACKET_RE = re.compile(rf"\[{GO_SPACE}*\]")
_SPACE_BEFORE_PUNCT_NON_LATIN_RE = re.compile(rf"{GO_SPACE}([，。])")
# Enterprise: `(\s|&nbsp;)([,.!?])(\s|&nbsp;|</)` — the punctuation ends a word: a space or the end of
# an element follows. In HTML an element ends at "</"; in plain text, the end of the text.
_SPACE_AROUND_PUNCT_LATIN_RE = {
    True: re.compile(rf"{GO_SPACE}([,.!?])({GO_SPACE}|</)"),
    False: re.compile(rf"{GO_SPACE}([,.!?])({GO_SPACE}|$)"),
}


def tidy_punctuation(text: str, *, html: bool) -> str:
    """Step 2, over the lead's HTML (``html=True``) or its plain text."""
    text = _EMPTY_BRACES_RE.sub("", text)
    text = _EMPTY_BRACKET_RE.sub("", text)
    text = _SPACE_BEFORE_PUNCT_NON_LATIN_RE.sub(r"\1", text)
    return _SPACE_AROUND_PUNCT_LATIN_RE[html].sub(r"\1\2", text)


def superscript_number(digits: str) -> str:
    """A ``<sup>`` of ASCII digits as Enterprise writes it: U+2070 + digit each (so "2" becomes
    U+2072, not "²")."""
    return "".join(chr(0x2070 + ord(d) - 48) for d in digits)


# -- wme's last step: prose, of bounded length ------------------------------------------------------

# Enterprise does not cut an abstract, but its real ones are short: over the 99 non-empty abstracts of
# the fixtures (87 parser goldens, 12 production articles, 3 SDK records) the median is 1,441
# characters, 90% are under 4,100, the second longest is 5,067 and the longest 13,823 (a lead whose
# first section holds candidate lists). 16,000 keeps every one of them whole, while a lead that
# renders to tens of kilobytes (a page without headings, a lead cut at 120 KB) gets a readable cut.
ABSTRACT_MAX_CHARS = 16_000
# How far back from the bound a sentence end is looked for before settling for a word break.
_SENTENCE_SEARCH_CHARS = ABSTRACT_MAX_CHARS // 4
# A sentence end: Latin, Devanagari/Bengali (danda), Arabic/Urdu punctuation before a space, or a
# CJK full stop (no space follows one). Single characters and a one-character lookahead: no
# backtracking, whatever the text.
_SENTENCE_END_RE = re.compile(r"[.!?\u0964\u0965\u061f\u06d4](?=\s)|[\u3002\uff01\uff1f]")

# Wikitext markup no renderer leaves in prose: were any of it in the abstract, some construct of the
# lead was not rendered (an unclosed template or link, a table, a reference, a comment), and what the
# reader would get is source, not text. Each is named by the construct it belongs to.
# Markup that never survives a rendered lead: any of it left means a construct was not rendered.
_STRUCTURAL_MARKUP = (
    ("{|", "table_markup"),
    ("|}", "table_markup"),
    ("<ref", "reference_markup"),
    ("</ref", "reference_markup"),
    ("<!--", "comment_markup"),
)
# Brackets are different: MediaWiki shows a lone ``[[``, ``]]``, ``{{`` or ``}}`` as it is (an editor's typo
# in otherwise good prose, which Enterprise's abstract shows too), so one is tolerated; two or more mean a
# template or link was not rendered (``[[File:…]]`` left whole, ``{{{{…``, ``[[a|[[a|…``).
_BRACKET_MARKUP = (
    ("{{", "template_markup"),
    ("}}", "template_markup"),
    ("[[", "link_markup"),
    ("]]", "link_markup"),
)
STRAY_BRACKETS_TOLERATED = 1


def _first(text: str, tokens: tuple[tuple[str, str], ...], end: int) -> tuple[int, str | None]:
    first_at, first_reason = end, None
    for token, reason in tokens:
        at = text.find(token, 0, first_at)
        if at >= 0:
            first_at, first_reason = at, reason
    return first_at, first_reason


def leftover_markup(text: str) -> str | None:
    """Which construct's markup comes first in ``text`` (``"template_markup"``, ``"link_markup"``,
    ``"table_markup"``, ``"reference_markup"``, ``"comment_markup"``), or ``None`` when there is none (or only
    one stray bracket, see ``_BRACKET_MARKUP``). A ``str.find`` and a ``str.count`` per token: linear, no
    backtracking (under a millisecond on 100 KB of prose, microseconds on a 100 KB run of braces)."""
    lowered = text.lower() if "<" in text else text  # <REF> is a tag as much as <ref>
    first_at, first_reason = _first(lowered, _STRUCTURAL_MARKUP, len(lowered))
    if sum(text.count(token) for token, _ in _BRACKET_MARKUP) > STRAY_BRACKETS_TOLERATED:
        _, bracket_reason = _first(text, _BRACKET_MARKUP, first_at)
        first_reason = bracket_reason or first_reason
    return first_reason


def truncate_abstract(text: str, limit: int = ABSTRACT_MAX_CHARS) -> str:
    """``text`` cut to at most ``limit`` characters: after the last sentence end in the last quarter of
    the limit, else at the last space before it, else at the limit."""
    if len(text) <= limit:
        return text
    window_start = max(0, limit - _SENTENCE_SEARCH_CHARS)
    sentence_end = -1
    for m in _SENTENCE_END_RE.finditer(text, window_start, limit):
        sentence_end = m.end()
    if sentence_end > 0:
        return text[:sentence_end]
    space = text.rfind(" ", window_start, limit)
    return text[:space].rstrip() if space > 0 else text[:limit]


@dataclass(frozen=True, slots=True)
class BoundedAbstract:
    """An abstract as published: ``text``; when the lead's text was not prose, ``text`` is empty and
    ``withheld`` says why (a :func:`leftover_markup` reason); ``truncated`` when it was cut to the bound."""

    text: str
    withheld: str | None = None
    truncated: bool = False


def bounded_abstract(text: str) -> BoundedAbstract:
    """The abstract a lead's rendered ``text`` makes: withheld if markup is left anywhere in it (the
    rendering failed, however much prose precedes the failure), else cut to :data:`ABSTRACT_MAX_CHARS`."""
    reason = leftover_markup(text)
    if reason is not None:
        return BoundedAbstract("", withheld=reason)
    if len(text) > ABSTRACT_MAX_CHARS:
        return BoundedAbstract(truncate_abstract(text), truncated=True)
    return BoundedAbstract(text)
