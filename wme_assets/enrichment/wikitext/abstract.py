"""The abstract from the lead's rendered text: the lines Parsoid makes paragraphs and lists of,
joined, then Enterprise's clean-up (:mod:`wme_assets.enrichment.abstract_rules`)."""

from __future__ import annotations

import re

from wme_assets.enrichment.abstract_rules import drop_parentheticals, tidy_punctuation

from .regex_renderer import _ASCII_SPACES_RE, _SWITCH_RE


def _enterprise_abstract_cleanup(text: str, keep_parentheticals: bool) -> str:
    """Enterprise's steps over the lead text (the HTML path applies them to the lead's HTML), then
    its runs of ASCII whitespace collapsed."""
    if not keep_parentheticals:
        text = drop_parentheticals(text)
    return _ASCII_SPACES_RE.sub(" ", tidy_punctuation(text, html=False)).strip()


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
