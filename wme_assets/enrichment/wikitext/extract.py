"""The entry point: :func:`extract_wikitext_fields` runs the stages in order on one revision."""

from __future__ import annotations

from typing import Any

from .braces import _BRACES_RE, _BraceIndex, _outermost, _pairs
from .deadline import _Deadline
from .elements import _iter_refs, _strip_refs
from .fields import WikitextFields
from .lead import _cut_lead, _lead_fields
from .masking import mask_wikitext
from .names import NS_CATEGORY, WikiNames, _clean_title, _coerce_names
from .page_flags import _DISAMBIG_SWITCH_RE, _is_disambiguation_template, maintenance_tags, redirect_target
from .references import _references
from .sections import _build_sections, _headings, _SectionRenderer
from .tables import _tables
from .transclusions import template_lists


def extract_wikitext_fields(
    wikitext: str,
    site: Any = None,
    *,
    dbname: str | None = None,
    ns: int = 0,
    time_budget_s: float | None = None,
) -> WikitextFields:
    """Derive the Enterprise article fields of one revision from its wikitext.

    Args:
        wikitext: the revision's wikitext.
        site: the wiki's names — a :class:`WikiNames` (fastest: build it once per wiki), a dump
            ``SiteInfo``, a ``{namespace id: name}`` map, a dbname, or ``None`` (built-in tables for
            ``dbname``, English otherwise).
        dbname: e.g. ``"frwiki"``; maintenance tags are computed only for ``*wiki`` projects, as in
            Enterprise (and for any project when ``dbname`` is not given).
        ns: the page's namespace; the abstract and maintenance tags are for ns 0 only.
        time_budget_s: raise :class:`ExtractionTimeout` once the extraction has run this long
            (checked between stages and inside long loops).
    """
    deadline = _Deadline(time_budget_s)
    names = _coerce_names(site, dbname)
    text = wikitext or ""
    size = len(text) if text.isascii() else len(text.encode("utf-8"))  # isascii is a flag: no encoding
    fields = WikitextFields(number_of_characters=len(text), size_bytes=size)
    fields.redirect_target = redirect_target(text, names) if text.lstrip().startswith("#") else None
    if ns == 0 and (dbname is None or dbname.endswith("wiki")):
        fields.maintenance_tags = maintenance_tags(text)
    if not text or text.isspace():  # what strip() would leave empty, without copying the page
        return fields

    deadline.check("start")
    masked = mask_wikitext(text, deadline)
    deadline.check("masking")

    template_spans, _unmatched, _depth = _pairs(masked, _BRACES_RE, "{{", deadline)
    top_templates = _outermost(template_spans)
    fields.templates, fields.transcluded_templates = template_lists(masked, template_spans, names, deadline)
    fields.categories = _categories(masked, names)
    fields.is_disambiguation = _has_disambiguation_switch(masked)
    fields.is_disambiguation = fields.is_disambiguation or any(
        _is_disambiguation_template(t) for t in fields.templates)
    deadline.check("templates and categories")

    section_renderer = _SectionRenderer(names, deadline)
    refs = list(_iter_refs(masked, deadline)) if "<" in masked else []  # found once, read twice:
    fields.references = _references(masked, section_renderer, deadline, _BraceIndex(masked, template_spans), refs)
    deadline.check("references")

    # Every other field reads the text without its <ref>s: strip them once, not per section.
    body = _strip_refs(masked, deadline, refs)
    body_spans = _pairs(body, _BRACES_RE, "{{", deadline)[0] if body is not masked else template_spans
    body_braces = _BraceIndex(body, body_spans)  # read by the lead and every section
    body_templates = _outermost(body_spans) if body is not masked else top_templates
    headings = _headings(body, body_templates, section_renderer)
    lead_end = headings[0].start if headings else len(body)
    lead = _cut_lead(body[:lead_end])
    deadline.check("headings")

    lead_fields = _lead_fields(lead, names, deadline, body_braces.outermost_in(0, len(lead)))
    if ns == 0:
        fields.abstract = lead_fields.abstract.text
        fields.abstract_withheld = lead_fields.abstract.withheld
        fields.abstract_truncated = lead_fields.abstract.truncated
    fields.infoboxes = lead_fields.infoboxes
    fields.image = lead_fields.image
    fields.description = lead_fields.description
    deadline.check("lead")

    tables = _tables(body, body_templates, section_renderer, deadline) if "{|" in body else []
    fields.tables = [table for _offset, table in tables]
    deadline.check("tables")

    fields.sections = _build_sections(body, headings, lead_end, section_renderer, deadline, tables, body_braces)
    deadline.check("sections")
    return fields


def _has_disambiguation_switch(masked: str) -> bool:
    """``_DISAMBIG_SWITCH_RE.search(masked)``, the regex tried only where ``__`` is (each switch starts
    with it, and a page has few): a case-insensitive alternation is tried at every character otherwise."""
    pos = masked.find("__")
    while pos >= 0:
        if _DISAMBIG_SWITCH_RE.match(masked, pos) is not None:
            return True
        pos = masked.find("__", pos + 1)
    return False


def _categories(masked: str, names: WikiNames) -> list[str]:
    if "[[" not in masked:
        return []
    seen: dict[str, None] = {}
    for m in names._category_re.finditer(masked):
        title = _clean_title(m.group(1).split("#", 1)[0])
        if title:
            seen.setdefault(names.full_title(NS_CATEGORY, title), None)
    return list(seen)
