"""The abstract from the lead's rendered text: the lines Parsoid makes paragraphs and lists of,
joined, then Enterprise's clean-up (general/parser GetAbstract)."""

from __future__ import annotations

import re
from collections.abc import Callable

from .regex_renderer import _ASCII_SPACES_RE, _SWITCH_RE

_NESTED_BRACES_RE = re.compile(r"([(（][^()（）]*)([(（][^()（）]+[)）])")
_EMPTY_BRACES_RE = re.compile(r"\([ \t\n\f\r]*\)")
_EMPTY_BRACKET_RE = re.compile(r"\[[ \t\n\f\r]*\]")
_SPACE_BEFORE_PUNCT_NON_LATIN_RE = re.compile(r"[ \t\n\f\r]([，。])")
_SPACE_BEFORE_PUNCT_LATIN_RE = re.compile(r"[ \t\n\f\r]([,.!?])([ \t\n\f\r]|$)")


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
