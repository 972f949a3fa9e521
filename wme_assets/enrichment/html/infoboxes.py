"""Enterprise's ``GetInfoBoxes``: each infobox's title and rows, grouped under its header rows as
sections of fields, lists and images."""

from __future__ import annotations

import re
from typing import Any

from .dom import _INFOBOX_CLASSES, _detached_copy, _has_class, _is_element, _iter_descendants, _remove
from .links import images, links
from .relations import _template_targets
from .results import HtmlImage, HtmlPart
from .text import _clean_html, _markdown_list, get_text

_DELIMITER_AT_END = re.compile(r"(?:[:;；,，、]+)$")
_MULTI_LINE = re.compile(r"\n+")
# Rows that head a group of fields (a section of the infobox).
_INFOBOX_SECTION_CLASSES = (
    "infobox-above", "infobox-below", "infobox-header", "infobox-subheader",
    "sinottico_divisione", "sinottico_testata", "sinottico_piede", "sinottico_piede2",
)


def _find_class(el: Any, cls: str) -> list[Any]:
    return [d for d in _iter_descendants(el) if _has_class(d, cls)]


def _gtx(els: Any) -> str:
    return _DELIMITER_AT_END.sub("", get_text(els, "tr"))


def _rows_under_class(row: Any, cls: str) -> list[Any]:
    """goquery ``row.Find(".cls tr")``: the ``<tr>`` below ``row`` with a ``.cls`` ancestor, which may
    be *above* ``row`` (a table nested in an ``infobox-full-data`` cell is read through it)."""
    return [tr for tr in row.iterdescendants("tr") if any(_has_class(a, cls) for a in tr.iterancestors())]


def _infobox_part(row: Any, base: str) -> HtmlPart | None:
    lst = ""
    # Enterprise selects every list under .infobox-data first, then replaces each in turn: the last
    # one in document order wins, even a list nested in one already removed (its innermost list).
    for sli in [d for d in _iter_descendants(row) if d.tag in ("ul", "ol", "dl")
                and any(_has_class(a, "infobox-data") for a in d.iterancestors())]:
        out: list[str] = []
        _markdown_list(sli, 1, out)
        lst = _MULTI_LINE.sub("\n", "".join(out))
        _remove(sli, keep_text_nodes_apart=True)

    labels = _find_class(row, "infobox-label")
    lbl = _gtx(labels[0]) if labels else ""
    if not lbl:
        lbl = _gtx(_rows_under_class(row, "infobox-label"))

    dta = ""
    datas = _find_class(row, "infobox-data")
    if not lst:
        dta = _gtx(datas[0]) if datas else ""
        if not dta:
            dta = _gtx(_rows_under_class(row, "infobox-data"))
    if not dta and not lst:
        full = _find_class(row, "infobox-full-data")
        dta = _gtx(full)
        if not dta:
            dta = _gtx(_rows_under_class(row, "infobox-full-data"))
    if not dta and not lst:
        ths = [c for c in row if _is_element(c) and c.tag == "th"]
        tds = [c for c in row if _is_element(c) and c.tag == "td"]
        if len(tds) == 2 and not ths:
            lbl, dta = _gtx(tds[0]), _gtx(tds[-1])
        elif len(tds) == 1 and len(ths) == 1:
            lbl, dta = _gtx(ths[0]), _gtx(tds[0])
        if not dta and not lst:
            dta = _gtx(row)

    ims = images(row)
    if not lbl and not lst and not dta and not ims:
        return None
    typ = "field"
    if (not dta and ims) or _find_class(row, "infobox-image"):
        typ = "image"
    if lst:
        typ = "list"
        for d in datas:
            members: list[Any] = [d.text] if d.text else []
            for c in d:
                if _is_element(c) and c.tag not in ("ul", "ol", "dl"):
                    members.append(c)
                if c.tail:
                    members.append(c.tail)
            dta = _gtx(members)
    return HtmlPart(type=typ, name=lbl, value=dta, images=ims, links=links(row, base), values=lst.split("\n"))


def _in_tree(el: Any, root: Any) -> bool:
    return any(a is root for a in el.iterancestors())


def _infobox(box: Any, doc: Any, base: str) -> HtmlPart:
    ibx = HtmlPart(type="infobox")
    about = box.get("about")
    if about:
        for el in _iter_descendants(doc):
            if el.get("about") != about:
                continue
            data_mw = el.get("data-mw") or ""
            wts = _template_targets(data_mw, "wt") if "parts" in data_mw else []
            if wts:
                ibx.name = wts[0].strip()

    clean = _clean_html(box)
    title = get_text(_find_class(clean, "infobox-title"))
    if _has_class(box, "infobox_v3") and not title:
        title = get_text([d for d in _iter_descendants(clean) if d.tag == "div" and _has_class(d, "entete")])

    section: HtmlPart | None = None
    for row in list(clean.iter("tr")):
        if not _in_tree(row, clean) and row is not clean:
            continue
        heading = ""
        for cls in _INFOBOX_SECTION_CLASSES:
            heading = get_text(_find_class(row, cls))
            if heading:
                break
        if heading:
            section = HtmlPart(type="section", name=heading)
            ibx.has_parts.append(section)
            continue
        if section is None:
            section = HtmlPart(type="section", name=title)
            if _has_class(box, "infobox_v3"):
                section.images = images_of(_find_class(box, "images"))
                legends = _find_class(box, "legend")
                if section.images:
                    section.images[0].caption = get_text(legends[0]) if legends else ""
            ibx.has_parts.append(section)
        part = _infobox_part(row, base)
        if part is not None:
            section.has_parts.append(part)
    return ibx


def images_of(els: list[Any]) -> list[HtmlImage]:
    return [img for el in els for img in images(el)]


def infoboxes(doc: Any, base: str) -> list[HtmlPart]:
    """Enterprise's ``GetInfoBoxes``: every ``.infobox`` (and fr/it variants), its title and rows
    grouped under header rows as sections of fields, lists and images."""
    doc = _detached_copy(doc)
    for wbr in list(doc.iter("wbr")):
        _remove(wbr)
    return [_infobox(box, doc, base) for box in list(_iter_descendants(doc)) if _has_class(box, *_INFOBOX_CLASSES)]
