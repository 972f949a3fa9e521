"""Wikimedia Enterprise article fields derived from Parsoid HTML, as Enterprise's own parser does.

When a MediaWiki endpoint is configured for a project, wme fetches each revision's Parsoid HTML
(:mod:`wme_assets.sources.mediawiki`) and :func:`html_fields` derives from it what Enterprise derives
from the same HTML: ``abstract``, ``categories``, ``templates``, ``sections``, ``infoboxes``,
``images`` (the first one is the main ``image``), ``links`` and the plain ``text``. Without an endpoint
the same fields come from wikitext (:mod:`wme_assets.enrichment.wikitext`) and ``article_body.html``
is left out.

The modules, in the order :func:`html_fields` uses them (one per Enterprise parser function)
    ``extract``      :func:`html_fields`: one parse, then every function below on it
    ``dom``          :func:`parse_html` and the tree helpers: goquery's selectors, clone and
                     ``RemoveChild`` over lxml
    ``abstract``     ``GetAbstract`` (with :mod:`wme_assets.enrichment.abstract_rules`, shared with
                     the wikitext path)
    ``relations``    ``GetCategories``, ``GetTemplates``
    ``sections``     ``GetSections``
    ``infoboxes``    ``GetInfoBoxes``
    ``links``        ``GetImages``, ``GetLinks``
    ``text``         ``cleanHTML`` and ``GetText`` (every function's text goes through them), and
                     ``getList`` (lists as ``"  - item"`` lines)
    ``results``      the result types: :class:`HtmlFields`, :class:`HtmlPart`, :class:`HtmlImage`,
                     :class:`HtmlLink`, :class:`HtmlRelation`

How it mirrors Enterprise
    The rules are those of Enterprise's Go parser (``general/parser/parser.go`` in
    github.com/wikimedia-enterprise/wikimedia-enterprise: goquery over the HTML), re-expressed over an
    lxml tree. The acceptance oracle is that parser's own golden outputs for 87 real Parsoid pages
    (``shared/fixtures/wme-parser-testdata``); ``wme_assets_tests/test_html_enrichment.py`` measures
    the match rate per function. Some of Enterprise's quirks are reproduced on purpose because they
    shape the output consumers already see:

    * the abstract is built by flattening the lead section to HTML, applying Enterprise's
      parenthetical regexes *to the HTML string* (so a ``( … )`` may span tags), then taking the text;
      regexes use Go's ASCII ``\\s`` (a no-break space is not whitespace to RE2);
    * numeric ``<sup>`` becomes U+2070 + digit (so "2" is written U+2072, as Enterprise writes it);
    * lists in the lead become Markdown-ish bullets (``"  - item"``) before flattening;
    * text extraction (``GetText``) inserts a space before a text node when it, its parent or one of
      its next two ancestors follows an element sibling, then collapses whitespace;
    * an image's ``height`` is its ``width`` (Enterprise reads ``width`` twice);
    * a category or template URL is the base URL plus the still-escaped href; a name is the
      unescaped title.

    What differs: Go's HTML5 parser and libxml2 build the same tree for Parsoid's well-formed output,
    but not for every malformed fragment; Relation lists come back sorted by name (Enterprise's come
    from a Go map, in random order).

Performance: one lxml parse per page; every function works on a deep copy of the part of the tree
it changes (Enterprise clones the goquery selection per function for the same reason).
"""

from __future__ import annotations

from .dom import parse_html
from .extract import html_fields
from .results import HtmlFields, HtmlImage, HtmlLink, HtmlPart, HtmlRelation
from .text import get_text

__all__ = [
    "HtmlFields",
    "HtmlImage",
    "HtmlLink",
    "HtmlPart",
    "HtmlRelation",
    "get_text",
    "html_fields",
    "parse_html",
]
