"""The entry point: :func:`html_fields` parses a page once and runs every function on it."""

from __future__ import annotations

from wme_assets.enrichment.abstract_rules import bounded_abstract

from .abstract import abstract
from .dom import _base_url, parse_html
from .infoboxes import infoboxes
from .links import images, links
from .relations import categories, templates
from .results import HtmlFields
from .sections import sections
from .text import get_text


def html_fields(html: str | bytes, *, base_url: str | None = None) -> HtmlFields:
    """Derive Enterprise's HTML-based fields from one revision's Parsoid HTML.

    ``base_url`` is the article URL prefix links are resolved against, e.g.
    ``"https://en.wikipedia.org/wiki/"``; ``None`` takes it from the document's ``<base href>``
    (Parsoid writes ``//en.wikipedia.org/wiki/``), which is what Enterprise does. Pass it for HTML
    from a local MediaWiki whose ``<base>`` points at the local server.
    """
    doc = parse_html(html)
    base = base_url if base_url is not None else _base_url(doc)
    # Parsoid renders what it cannot parse (an unclosed "{{", "[[") as literal text: Enterprise's
    # GetAbstract would publish it; the bound keeps both paths' abstracts prose.
    bounded = bounded_abstract(abstract(doc))
    return HtmlFields(
        abstract=bounded.text,
        abstract_withheld=bounded.withheld,
        abstract_truncated=bounded.truncated,
        categories=categories(doc, base),
        templates=templates(doc, base),
        sections=sections(doc, base),
        infoboxes=infoboxes(doc, base),
        images=images(doc),
        links=links(doc, base),
        text=get_text(doc),
    )
