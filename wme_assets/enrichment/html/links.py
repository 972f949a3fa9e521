"""Enterprise's ``GetImages`` (every visible ``<img>`` with its caption) and ``GetLinks`` (every ``<a>``
but file links, with its text and images)."""

from __future__ import annotations

from typing import Any

from .dom import _has_class, _iter_descendants, _text
from .results import HtmlImage, HtmlLink
from .text import _clean_html, get_text


def images(el: Any) -> list[HtmlImage]:
    """Enterprise's ``GetImages``: every visible ``<img>``, caption from the infobox or figure."""
    out = []
    clean = _clean_html(el)
    for img in clean.iter("img"):
        width = _atoi(img.get("width"))
        caption = ""
        ancestors = list(img.iterancestors())
        for anc in ancestors:
            if _has_class(anc, "infobox-image"):
                caption += "".join(_text(c) for c in _iter_descendants(anc) if _has_class(c, "infobox-caption"))
        if not caption:
            caps = [c for anc in ancestors if anc.tag == "figure" for c in anc.iter("figcaption")]
            caption = get_text(caps) if caps else ""
        out.append(HtmlImage(
            content_url=f"https:{img.get('src') or ''}",
            alternative_text=img.get("alt") or "",
            caption=caption,
            height=width,  # sic: Enterprise reads "width" for both
            width=width,
        ))
    return out


def _atoi(value: str | None) -> int:
    try:
        return int(value or "0")
    except ValueError:
        return 0


def _link_url(href: str, base: str) -> str:
    if href.startswith("./"):
        return base + href[2:]
    if href.startswith("//"):
        return "https:" + href
    if not href.startswith("http"):
        return base + href
    return href


def links(el: Any, base: str) -> list[HtmlLink]:
    """Enterprise's ``GetLinks``: every ``<a>`` but file links, with text and images."""
    out = []
    for a in el.iter("a"):
        href = a.get("href") or ""
        if href.startswith("./File:"):
            continue
        text = get_text(a) or a.get("title") or ""
        out.append(HtmlLink(url=_link_url(href, base), text=text, images=images(a)))
    return out
