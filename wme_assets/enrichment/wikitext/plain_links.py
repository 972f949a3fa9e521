"""Plain wikilinks of the lead written as the text they display, before mwparserfromhell parses it.

Most of the lead's parse is spent building a node per wikilink (a ``Wikilink`` with two ``Wikicode``
lists) that the tree renderer turns straight back into text with :func:`~.links._link_display`. A link
whose target and label hold no markup character and no line break renders as that display text
whatever surrounds it, so it is written as that text first. It is left as a link wherever the
replacement could parse differently: inside a template's braces (a template's name or parser-function
argument is read raw) or another link's brackets; next to a bracket or a colon; after a word holding
``:`` or ``&`` (a free URL or an entity could take the text in); when the display text is empty,
starts with no letter or digit, ends in ``(``, a space (what the formula guard reads at the end of a
piece) or a quote, or holds ``''``/``__``; on a line holding a lone or tripled bracket (an external
link, odd nesting); and in leads holding ``<`` (tags) at all. ``test_wikitext_shortcuts`` renders the
fixtures' sections both ways and compares."""

from __future__ import annotations

import re
from bisect import bisect_right

from .braces import _BRACES_RE, _BRACKETS_RE, _outermost, _pairs
from .links import _link_display
from .names import WikiNames

# Target and label: no markup character (brackets, braces, tags, pipes, entities, headings, lists,
# table cells, the colon of namespaces and URLs, quotes of an attribute) and no line break; the label
# no underscore either (behaviour switches).
_PLAIN_LINK_RE = re.compile(
    r"\[\[(?<![\[\]]\[\[)([^\[\]{}<>|&=~:*#;!\"\n\r\t\f\v]+)(?:\|([^\[\]{}<>|&=~:*#;!\"\n\r\t\f\v_]*))?\]\](?![\[\]:])")
# (The lookbehinds come after the bracket they look behind: a pattern that starts with a literal or a
# character class lets the regex engine skip to candidates, one that starts with a lookbehind does not.)
_ODD_BRACKETS_RE = re.compile(r"[\[\]](?<![\[\]][\[\]])(?![\[\]])|\[\[\[|\]\]\]")


def _plain_links_as_text(text: str, names: WikiNames) -> str:
    """``text`` with its plain wikilinks replaced by what they display (see the module docstring)."""
    if "[[" not in text or "<" in text:
        return text
    odd_lines: list[tuple[int, int]] = []  # (start, end) of the lines holding a lone or tripled bracket
    for m in _ODD_BRACKETS_RE.finditer(text):
        if not odd_lines or m.start() >= odd_lines[-1][1]:
            end = text.find("\n", m.end())
            odd_lines.append((text.rfind("\n", 0, m.start()) + 1, len(text) if end < 0 else end))
    odd_starts = [s for s, _e in odd_lines]
    templates = _outermost(_pairs(text, _BRACES_RE, "{{")[0]) if "{{" in text else []
    template_starts = [s for s, _e in templates]
    top_links = {s for s, _e in _outermost(_pairs(text, _BRACKETS_RE, "[[")[0])}
    out: list[str] = []
    pos = 0
    for m in _PLAIN_LINK_RE.finditer(text):
        start = m.start()
        if start not in top_links:
            continue
        i = bisect_right(template_starts, start) - 1
        if i >= 0 and templates[i][1] > start:
            continue
        i = bisect_right(odd_starts, start) - 1
        if i >= 0 and odd_lines[i][1] > start:
            continue
        word = max(text.rfind(" ", 0, start), text.rfind("\n", 0, start)) + 1
        if ":" in text[word:start] or "&" in text[word:start]:
            continue
        shown = _link_display(names, m.group(1), m.group(2))
        if (not shown or not shown[0].isalnum() or shown[-1] in " (\t'" or "''" in shown
                or "__" in shown):
            continue
        out.append(text[pos:start])
        out.append(shown)
        pos = m.end()
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)
