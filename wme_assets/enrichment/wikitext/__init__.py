"""Wikimedia Enterprise article fields that a page's wikitext determines, extracted fast.

:func:`extract_wikitext_fields` turns one revision's wikitext into a :class:`WikitextFields`
(Enterprise field names: ``abstract``, ``categories``, ``templates``, ``sections``, ``infoboxes``,
``references``, ``tables``, ``image``, ``description``, ``maintenance_tags``, ``number_of_characters``,
``is_disambiguation``, ``redirect_target``).

The modules, in the order the extractor uses them
    ``extract``           :func:`extract_wikitext_fields`: runs the steps below on one revision
    ``deadline``          the time budget of one extraction (:class:`ExtractionTimeout`)
    ``names``             :class:`WikiNames`: a wiki's namespace names and aliases, title
                          normalization, article URLs (what the ``site`` argument becomes)
    ``page_flags``        straight off the raw wikitext: :func:`redirect_target`,
                          :func:`maintenance_tags`, and (from the templates) disambiguation pages
    ``masking``           :func:`mask_wikitext`: comments, ``<nowiki>`` and non-wikitext elements
                          out of the way of every later scan
    ``braces``            matched ``{{…}}`` / ``[[…]]`` spans; template bodies split into arguments;
                          the page's spans read for each reference, section and the lead
                          (``_BraceIndex``) instead of scanning each again
    ``template_names``    the title a ``{{…}}`` transcludes, with ``magic_words``: MediaWiki's
                          parser functions and variables (English + per-language tables)
    ``transclusions``     ``templates`` and ``transcluded_templates`` in one pass over the spans
                          (categories come from one regex of :class:`WikiNames`)
    ``references``        each distinct ``<ref>`` (``references``)
    ``regex_renderer``    wikitext → plain text without a tree, built on:
    ``inline_templates``    the templates that render text (``{{convert}}``, ``{{lang}}``…)
    ``links``               what a wikilink displays and the URL it points to
    ``elements``            ``<ref>``, block element and ``{| … |}`` scans
    ``sections``          the heading scan (it also ends the lead), then ``sections``
    ``lead``              ``infoboxes``, ``image``, ``description`` and the ``abstract`` of the lead,
                          rendered by:
    ``tree_renderer``       mwparserfromhell's tree of the lead, when it can parse it safely
    ``plain_links``         the lead's plain wikilinks written as the text they display before
                            that parse (a node per link was most of its cost)
    ``abstract``            the lead's paragraphs and lists, cleaned up as Enterprise does
                            (:mod:`wme_assets.enrichment.abstract_rules`, shared with the HTML path)
    ``tables``            ``tables`` (each section lists its own in ``table_references``)
    ``fields``            :class:`WikitextFields`, the result

Why it is built the way it is
    ``mwparserfromhell.parse`` of a whole article is slower than this whole stage may be (the issue
    measured ~0.9 MB/s per core for the parse and 0.3–0.45 MB/s for a multi-walk extractor; the target
    is ≥ 2 MB/s). So the tree is built for one thing only: the paragraphs of the lead, for the
    abstract — after one brace scan has cut the lead's non-text templates out (infoboxes, hatnotes and
    citations are most of a lead's bytes; their parameters give the infobox, the image and the short
    description directly). Everything else comes from linear scans over a *masked* copy of the page
    (comments removed, ``<nowiki>`` neutralised, ``<math>``/``<syntaxhighlight>``/``<includeonly>``…
    dropped): categories by one regex, templates and headings by brace/heading scans, references by
    a tag scan, section text by a regex renderer. ``benchmarks/bench_enrichment.py`` measures the
    stage at ~3× the speed of a bare ``mwparserfromhell.parse`` of the same pages.

Enterprise conventions reproduced (checked against the real records in ``shared/fixtures``)
    * ``templates``: what Parsoid reports — every transclusion that is *not* inside another
      template's arguments (templates inside ``<ref>``, links and image captions count), named
      ``<localized Template namespace>:<Title>``; parser functions and magic words are not templates.
      ``transcluded_templates`` (not an Enterprise field) is MediaWiki's ``templatelinks`` reading of
      the same text: every depth, and template redirects' targets when ``WikiNames.template_redirects``
      is filled (``transclusions.template_redirects`` builds it from a dump's pages).
    * ``categories``: ``<localized Category namespace>:<Title>``, sort keys removed, deduplicated.
      Categories that templates add (hidden/maintenance ones) are not in the wikitext and cannot be
      derived here.
    * ``abstract``: the lead's paragraphs and lists (not tables, infoboxes, hatnotes, images,
      references, definition lists), joined by single spaces, then Enterprise's parenthetical
      clean-up (``( … )`` holding a space is removed unless the text looks like a formula); the
      space before ``; : ! ? »`` and after ``«`` becomes a no-break space as MediaWiki renders it,
      and a ``<sup>`` number is written as U+2070 + digit, as Enterprise writes it ("mc⁲").
      Then wme's own bound (``bounded_abstract``, shared with the HTML path): a lead whose text still
      holds markup the renderers did not consume (``{{``, ``[[``, ``{|``, ``<ref``…: a malformed
      lead) gets no abstract and ``abstract_withheld`` says why; a longer one than
      ``ABSTRACT_MAX_CHARS`` is cut at a sentence end.
    * ``sections``: the lead as "Abstract", then the headings nested by level, with ``paragraph`` /
      ``list`` parts and their links; "See also", "References", "External links"… (and their
      subsections) are left out and sections with no text are dropped, as in Enterprise's output.
    * ``tables``: the ``{| … |}`` data tables outside templates (not infobox/navbox/message-box
      layout tables), cells as plain text, spans repeated into every cell they cover, a nested table
      on the cell that holds it; ``confidence_score`` drops for an unclosed or ragged table. Only
      pages containing ``{|`` pay for the scan.
    * ``maintenance_tags``: Enterprise's own regexes over the raw wikitext (so ``{{cn}}`` and
      ``{{fact}}`` are *not* counted, ``{{Citation needed span}}`` is), only for ns 0 of ``*wiki``.
    * ``number_of_characters``: Unicode code points of the wikitext (Go ``len([]rune(text))``).

Robustness: every scan is linear (unclosed tags/comments are searched for once, not per opener;
no regex here backtracks over an unclosed construct — where Enterprise's Go regexes rely on RE2
being linear, the same semantics are implemented by hand). The tree parse is skipped, and the regex
renderer used instead, for leads that would make mwparserfromhell recurse too deep
(``RecursionError`` on ``{{`` × 2000) or go quadratic (hundreds of unclosed links, tags or tables).
With ``time_budget_s`` the extractor checks a deadline between stages and inside long loops and
raises :class:`ExtractionTimeout` instead of running on.
"""

from __future__ import annotations

from .deadline import ExtractionTimeout
from .extract import extract_wikitext_fields
from .fields import WikitextFields
from .masking import mask_wikitext
from .names import WikiNames
from .page_flags import maintenance_tags, redirect_target

__all__ = [
    "ExtractionTimeout",
    "WikiNames",
    "WikitextFields",
    "extract_wikitext_fields",
    "maintenance_tags",
    "mask_wikitext",
    "redirect_target",
]
