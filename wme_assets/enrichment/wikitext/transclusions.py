"""The templates of a page, two ways, from one pass over its ``{{…}}`` spans.

``templates`` — what Wikimedia Enterprise's records list today (checked on the 2025 enwiki, frwiki and
ptwiki records of ``shared/fixtures/wme-articles``: identical sets): the transclusions Parsoid marks
in the HTML, i.e. those *not* inside another template's arguments, as written (no redirect followed).

``transcluded_templates`` — what MediaWiki records in ``templatelinks`` (``prop=templates``) for the
part the page's own wikitext decides: every transclusion at any depth — inside other templates'
arguments, parser-function branches, links, ``<ref>``s, tables — plus, for a transcluded page that is a
redirect (:attr:`WikiNames.template_redirects`), its target, as MediaWiki lists both (it follows up to
two redirects, ``Parser::statelessFetchTemplate``). Not inside ``<nowiki>``, comments, ``<pre>`` and
other non-wikitext elements (the masked text has none). What only the templates' bodies decide is
not here: the templates a template calls, and MediaWiki's lazy expansion (a parameter the template
never reads, the untaken branch of an ``{{#if:}}`` and the arguments of a missing template are not
expanded, so what they hold is not recorded). ``test_transclusions`` measures both on a real wiki.
"""

from __future__ import annotations

from collections.abc import Iterable

from .deadline import _Deadline
from .magic_words import is_subst
from .names import WikiNames
from .page_flags import redirect_target
from .template_names import _template_title

_MAX_REDIRECT_HOPS = 2  # Parser::statelessFetchTemplate: 3 fetches, so a redirect to a redirect


def template_lists(masked: str, spans: list[tuple[int, int]], names: WikiNames,
                   deadline: _Deadline) -> tuple[list[str], list[str]]:
    """``(templates, transcluded_templates)`` of a masked page whose matched ``{{…}}`` spans
    (sorted by start, as :func:`~.braces._pairs` gives them) are ``spans``; full titles in the
    wiki's own namespace names, first occurrence first."""
    top: dict[str, None] = {}
    every: dict[str, None] = {}
    # Pages repeat a few names many times ({{cite web}} × 200): normalise each spelling once, into
    # (title for ``templates``, title for ``transcluded_templates``) — they differ for {{subst:…}}.
    titles: dict[tuple[str, bool], tuple[str | None, str | None]] = {}
    top_end = -1
    for i, (s, e) in enumerate(spans):
        if i & 1023 == 1023:
            deadline.check("templates")
        bar = masked.find("|", s + 2, e - 2)
        raw = masked[s + 2:e - 2] if bar < 0 else masked[s + 2:bar]
        key = (raw, bar >= 0)
        pair = titles.get(key)
        if pair is None:
            found = _template_title(raw, names, bar >= 0)
            title = None if found is None else names.full_title(*found) if found[0] else found[1]
            pair = titles[key] = (title, None if is_subst(raw) else title)
        if s >= top_end:  # not inside an earlier span: a top-level transclusion
            top_end = e
            if pair[0] is not None:
                top.setdefault(pair[0], None)
        if pair[1] is not None:
            every.setdefault(pair[1], None)
    redirects = names.template_redirects
    if redirects:
        for title in list(every):
            target = title
            for _ in range(_MAX_REDIRECT_HOPS):
                target = redirects.get(target)
                if target is None:
                    break
                every.setdefault(target, None)
    return list(top), list(every)


def template_redirects(pages: Iterable[tuple[int, str, str]], names: WikiNames,
                       namespaces: frozenset[int] = frozenset((10,))) -> dict[str, str]:
    """``{redirect title: target title}`` of the redirect pages among ``pages`` (``(ns, full title,
    wikitext)``, e.g. a dump's pages) in ``namespaces`` (the Template namespace by default: every
    wiki has millions of article redirects and pages rarely transclude articles). Assign the result to
    :attr:`WikiNames.template_redirects` to have ``transcluded_templates`` list redirect targets."""
    out: dict[str, str] = {}
    for ns, title, text in pages:
        if ns in namespaces and text.lstrip().startswith("#"):
            target = redirect_target(text, names)
            if target and target != title:
                out[title] = target
    return out
