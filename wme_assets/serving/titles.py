"""Page titles as MediaWiki compares them, for the On-demand API's lookups.

MediaWiki stores a title with spaces (underscores in URLs are the same character), runs of spaces collapsed,
no leading or trailing space, and, on almost every wiki, an upper-case first letter (``$wgCapitalLinks``;
Wiktionaries and a few others keep the case as written). A namespace prefix is matched case-insensitively
and written canonically, and each namespace has its own case rule (``case`` in the dump's ``<siteinfo>``).

:func:`title_key` turns both the stored names and the requested names into the same key, so that
``albert_Einstein`` finds ``Albert Einstein`` where MediaWiki would. Whatever a character's upper case is
(``ß`` becomes ``SS`` in Python), the same function runs on both sides, so a stored title always finds
itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# MediaWiki's titles are at most 255 bytes (page_title is VARBINARY(255)); a request may spell one with extra
# spaces or underscores, so it is refused only well beyond that.
MAX_REQUEST_CHARS = 512
_SPACES = re.compile(r"[ _\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+")
# A requested title: none of the characters MediaWiki never allows in a title ($wgLegalTitleChars'
# complement) nor control characters.
TITLE_PATTERN = r"^[^#<>\[\]|{}\x00-\x1f\x7f]+$"
FIRST_LETTER, CASE_SENSITIVE = "first-letter", "case-sensitive"
# Projects whose titles keep their first letter's case when the dump's siteinfo is not at hand.
CASE_SENSITIVE_FAMILIES = frozenset({"wiktionary"})


@dataclass(frozen=True)
class TitleRules:
    """One project's rules: whether the main namespace capitalises, and its other namespaces' names."""

    first_letter: bool = True
    # Lower-cased local name (spaces, not underscores) -> (canonical local name, first-letter rule).
    namespaces: Mapping[str, tuple[str, bool]] = field(default_factory=dict)

    @classmethod
    def from_siteinfo(cls, siteinfo: Mapping[str, Any]) -> TitleRules:
        """From the dump's header as the page store keeps it (``case`` and ``namespaces``)."""
        default = siteinfo.get("case") or FIRST_LETTER
        names: dict[str, tuple[str, bool]] = {}
        main = default
        for ns, info in (siteinfo.get("namespaces") or {}).items():
            case = info.get("case") or default
            if str(ns) == "0":
                main = case
                continue
            name = _SPACES.sub(" ", info.get("name") or "").strip()
            if name:
                names[name.lower()] = (name, case == FIRST_LETTER)
        return cls(first_letter=main == FIRST_LETTER, namespaces=names)

    @classmethod
    def for_family(cls, family_code: str | None) -> TitleRules:
        """Without siteinfo: Wikimedia's setting per family (Wiktionaries keep the first letter's case)."""
        return cls(first_letter=family_code not in CASE_SENSITIVE_FAMILIES)

    def to_json(self) -> dict[str, Any]:
        return {"first_letter": self.first_letter, "namespaces": {k: list(v) for k, v in self.namespaces.items()}}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TitleRules:
        return cls(
            first_letter=bool(data["first_letter"]),
            namespaces={k: (v[0], bool(v[1])) for k, v in data.get("namespaces", {}).items()},
        )


def _upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def title_key(title: str, rules: TitleRules) -> str:
    """The key a title is looked up by (module docstring)."""
    text = _SPACES.sub(" ", title).strip()
    prefix, colon, rest = text.partition(":")
    if colon and rules.namespaces:
        known = rules.namespaces.get(prefix.rstrip().lower())
        if known is not None:
            name, first_letter = known
            rest = rest.lstrip()
            return f"{name}:{_upper_first(rest) if first_letter else rest}"
    return _upper_first(text) if rules.first_letter else text
