"""Enterprise's ``GetSections``: nested sections with their paragraphs and lists."""

from __future__ import annotations

import re
from typing import Any

from .dom import _INFOBOX_CLASSES, _classes, _detached_copy, _has_class, _is_element, _iter_descendants, _remove
from .links import links
from .results import HtmlPart
from .text import get_text

_IS_REF = re.compile(r"\[[0-9]+\]")
_EDIT_TEXT = re.compile(r"\(\s*edit\s*\)", re.ASCII)  # RE2's ASCII \s (see :mod:`.text`)

# What Enterprise removes before it reads the sections: tags, classes, and whole sections by heading id.
_SECTIONS_DROP_TAGS = frozenset(
    "figure footer input link nav noscript script style sub sup table".split()
)
_SECTIONS_DROP_CLASSES = frozenset(
    """book catlinks citation gallery gallerybox hatnote listaref metadata mw-authority-control
    mw-editsection-bracket mw-editsection-divider mw-editsection-like mw-editsection-visualeditor
    mw-editsection mw-footer-container mw-gallery-packed mw-magiclink-isbn mw-mf-linked-projects
    mw-redirectedfrom NavFrame navigation-not-searchable noprint normdaten portal-bar printfooter
    refbegin-columns refbegin references reflist side-box sister-box sistersitebox
    vector-body-before-content vector-dropdown vector-header-container vector-page-toolbar
    vector-settings""".split()
)
# Headings whose whole section Enterprise drops (ids of Parsoid's <h2 id=…>). Enterprise's list
# misses two commas, which turns "#Notable_people #Primary_sources" and
# "#Article_connexe #Bibliografia" into descendant selectors: Notable_people, Primary_sources and
# Article_connexe are therefore *not* dropped (Bibliografia is, from its own entry).
_SECTIONS_DROP_HEADER_IDS = frozenset(
    """References Explanatory_notes Further_reading See_also External_links Notes Citations
    Secondary_sources Tertiary_sources General_and_cited_sources Bibliography
    Referencias Véase_también Bibliografía Enlaces_externos Ciudades_hermanas Referencias_y_notas
    Literatur Weblinks Einzelnachweise
    Références Voir_aussi Bibliographie Liens_externes Notes_et_références Galerie_photos
    Referências Ver_também Bibliografia Ligações_externas Notas Annexes
    Voci_correlate Altri_progetti Collegamenti_esterni Note_e_riferimenti Note Riferimenti""".split()
)


def _remove_inline_citation(el: Any) -> str:
    txt = _EDIT_TEXT.sub(" ", _IS_REF.sub(" ", get_text(el)))
    return txt.strip().replace(" .", ".")


def _paragraphs(el: Any, base: str) -> list[HtmlPart]:
    part = HtmlPart(type="")
    if el.tag == "p":
        part = HtmlPart(type="paragraph", value=_remove_inline_citation(el), links=links(el, base))
    elif el.tag in ("ol", "ul"):
        items = []
        for li in el.iter("li"):
            item = HtmlPart(type="list_item", value=_remove_inline_citation(li), links=links(li, base))
            if item.value or item.links:
                items.append(item)
        part = HtmlPart(type="list", has_parts=items)
    return [part] if (part.value or part.links or part.has_parts) else []


def _get_sections(el: Any, parent: HtmlPart | None, base: str) -> list[HtmlPart]:
    out: list[HtmlPart] = []
    for child in el:
        if not _is_element(child):
            continue
        if child.tag == "section":
            heading = next((h for h in _iter_descendants(child) if h.tag in ("h2", "h3", "h4", "h5", "h6", "h7")), None)
            name = _IS_REF.sub(" ", get_text(heading)) if heading is not None else ""
            if not name and child.get("data-mw-section-id") == "0":
                name = "Abstract"
            sec = HtmlPart(type="section", name=name)
            sec.has_parts.extend(_get_sections(child, sec, base))
            out.append(sec)
        elif child.tag in ("p", "ul", "ol"):
            if parent is not None:
                parent.has_parts.extend(_paragraphs(child, base))
        else:
            out.extend(_get_sections(child, parent, base))
    return out


def sections(doc: Any, base: str) -> list[HtmlPart]:
    """Enterprise's ``GetSections``: nested sections with their paragraphs and lists; the lead is
    "Abstract"; references, "See also", "External links"… and empty sections are left out."""
    doc = _detached_copy(doc)
    for el in [e for e in _iter_descendants(doc) if _has_class(e, *_INFOBOX_CLASSES)]:
        _remove(el, keep_text_nodes_apart=True)
    for el in [e for e in _iter_descendants(doc)
               if e.getparent() is not None and e.getparent().tag == "section"
               and ((e.tag == "div" and _has_class(e, "reflist")) or e.get("id") == "External_links")]:
        sec = el.getparent()
        if sec.getparent() is not None:
            _remove(sec, keep_text_nodes_apart=True)
    for el in [e for e in _iter_descendants(doc)
               if e.tag in _SECTIONS_DROP_TAGS or e.get("role") == "navigation"
               or any(c in _SECTIONS_DROP_CLASSES for c in _classes(e))]:
        _remove(el, keep_text_nodes_apart=True)
    for el in [e for e in _iter_descendants(doc) if e.get("id") in _SECTIONS_DROP_HEADER_IDS]:
        parent = el.getparent()
        if parent is not None and parent.getparent() is not None:
            _remove(parent, keep_text_nodes_apart=True)
    for sec in list(doc.iter("section")):
        kids = [k for k in sec if _is_element(k)]
        if len(kids) == 1 and kids[0].tag in ("h1", "h2", "h3", "h4", "h5", "h6") and sec.getparent() is not None:
            _remove(sec, keep_text_nodes_apart=True)
    body = doc.find("body")
    return _get_sections(body, None, base) if body is not None else []
