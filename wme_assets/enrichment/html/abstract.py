"""Enterprise's ``GetAbstract``: the lead section flattened to HTML, its parentheticals removed from
that HTML string (:mod:`wme_assets.enrichment.abstract_rules`, shared with the wikitext path), then
its text."""

from __future__ import annotations

import re
from html import escape as html_escape
from typing import Any

import lxml.html
from lxml import etree

from wme_assets.enrichment.abstract_rules import (
    FORMULA_RE,
    MATH_EXPR_RE,
    drop_parentheticals,
    superscript_number,
    tidy_punctuation,
)

from .dom import _classes, _detached_copy, _iter_descendants, _outermost, _remove, _replace_with_text, _text
from .text import _SPACE_BEFORE_PUNCT, _markdown_list

# Go's RE2 \s is ASCII: patterns with \s are compiled with re.ASCII (see :mod:`.text`).
_SPACES_OR_HYPHEN = re.compile(r"(\s{2,}-)|\s{2,}", re.ASCII)
_BLANK_LINES = re.compile(r"^\s*$\n?", re.ASCII | re.MULTILINE)
_PAREN_SEMICOLON = re.compile(r"\(\s*;\s*", re.ASCII)
_NUMERIC = re.compile(r"^[0-9]+$")


def _abstract_drop(el: Any) -> bool:
    """Enterprise's ``rmNodes`` for the abstract: references, pronunciations, hidden and
    non-prose nodes. (Its two ``[data-mw*="target":{"wt":"IPA"]`` selectors are not valid CSS and
    match nothing in goquery; ``[data-mw*="IPA"]`` covers them.)"""
    tag = el.tag
    cls = _classes(el)
    cls_attr = el.get("class") or ""
    data_mw = el.get("data-mw") or ""
    title = el.get("title") or ""
    return (
        "mw-ref" in cls_attr
        or any(
            c in cls
            for c in (
                "mw-reflink-text", "reference", "IPA", "pronunciation", "respelling",
                "geo-nondefault", "geo-multi-punct", "hide-when-compact", "noprint", "noexcerpt",
                "nomobile", "sortkey", "lang-comment", "rt-commentedText",
            )
        )
        or "pronunciation" in title
        or "Help:Pronunciation" in title
        or "IPA" in data_mw
        or "respell" in data_mw
        or (tag == "span" and (el.get("style") == "display:none" or "Z3988" in cls or "error" in cls_attr))
        or el.get("id") == "coordinates"
        or (tag == "table" and "navbox" in cls)
        or (tag == "div" and ("infobox" in cls or "magnify" in cls))
        or (tag == "ul" and "gallery" in cls)
        or el.get("encoding") == "application/x-tex"
    )


def _inner_html(el: Any) -> str:
    parts = [html_escape(el.text, quote=False) if el.text else ""]
    for child in el:
        parts.append(etree.tostring(child, encoding="unicode", method="html", with_tail=True))
    # libxml2 writes U+00A0 as &nbsp; in some contexts; Go's renderer writes the raw character, so
    # Enterprise's "( |&nbsp;)" alternatives never match one (abstract_rules leaves them out).
    return "".join(parts).replace("&nbsp;", "\u00a0").replace("&#160;", "\u00a0")


def abstract(doc: Any) -> str:
    """Enterprise's ``GetAbstract``: the lead section as plain text, parentheticals removed."""
    doc = _detached_copy(doc)
    nihongo = ""
    body = doc.find("body")
    lead = next(body.iter("section"), None) if body is not None else None
    for el in _iter_descendants(lead) if lead is not None else ():
        if "Nihongo" in (el.get("data-mw") or ""):
            nihongo = _text(el)
            break

    for el in [e for e in _iter_descendants(doc) if _abstract_drop(e)]:
        _remove(el)

    body = doc.find("body")
    section = next(body.iter("section"), None) if body is not None else None
    if section is None:
        return nihongo.strip()

    for el in [e for e in _iter_descendants(section) if e.tag in (
        "table", "div", "input", "script", "style", "link", "figure", "figcaption", "caption")]:
        _remove(el)

    # numeric superscripts → U+2070 + digit (Enterprise's arithmetic)
    for sup in list(section.iter("sup")):
        txt = _text(sup)
        if _NUMERIC.match(txt):
            _replace_with_text(sup, superscript_number(txt))

    # lists → "\n  - item\n" text
    for lst in _outermost(section, lambda e: e.tag in ("ul", "ol", "dl")):
        out = ["\n"]
        _markdown_list(lst, 1, out)
        _replace_with_text(lst, "".join(out))

    # flatten a/span to their text, so the regexes below see prose rather than markup
    for el in _outermost(section, lambda e: e.tag in ("a", "span")):
        _replace_with_text(el, _text(el))

    for el in _iter_descendants(section):
        for attr in ("about", "data-mw", "id", "typeof"):
            el.attrib.pop(attr, None)
        for attr, val in el.attrib.items():
            if "(" in val or ")" in val:
                el.set(attr, val.replace("(", "substitue_for_open_paren_in_attr").replace(
                    ")", "substitue_for_closed_paren_in_attr"))

    hml = " " + _inner_html(section)
    if not FORMULA_RE.search(hml) and not MATH_EXPR_RE.search(hml):
        hml = drop_parentheticals(hml)
    hml = tidy_punctuation(hml, html=True)

    frag = lxml.html.fragment_fromstring(hml, create_parent="div") if hml.strip() else None
    abs_ = _text(frag) if frag is not None else ""
    if not abs_.startswith(nihongo):
        abs_ = f"{nihongo} {abs_}"
    abs_ = _SPACES_OR_HYPHEN.sub(lambda m: m.group(0) if m.group(0).endswith("-") else " ", abs_)
    abs_ = _SPACE_BEFORE_PUNCT.sub(r"\2", abs_)
    abs_ = _PAREN_SEMICOLON.sub("(", abs_)
    abs_ = _BLANK_LINES.sub("", abs_)
    return abs_.strip()
