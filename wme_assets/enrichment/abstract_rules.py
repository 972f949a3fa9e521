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
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = [
    "FORMULA_BEFORE_RE",
    "FORMULA_RE",
    "FORMULA_SCRIPT_RE",
    "GO_SPACE",
    "MATH_EXPR_BEFORE_RE",
    "MATH_EXPR_CHAR_RE",
    "MATH_EXPR_RE",
    "drop_parentheticals",
    "superscript_number",
    "tidy_punctuation",
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
