"""The lead: abstract, infoboxes, image and short description. One brace scan sorts the lead's
templates; mwparserfromhell parses only what the abstract needs, when it can do so safely."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import mwparserfromhell

from wme_assets.enrichment.abstract_rules import BoundedAbstract, bounded_abstract

from .abstract import _abstract_from_rendered
from .braces import _BRACES_RE, _BRACKETS_RE, _pairs, _replace_outermost, _split_top, _template_args
from .deadline import _Deadline
from .elements import _drop_tables
from .inline_templates import _renders_text
from .names import NS_FILE, WikiNames, _clean_title
from .plain_links import _plain_links_as_text
from .regex_renderer import _ASCII_SPACES_RE, _LIST_MARKERS_RE, _RegexRenderer
from .template_names import _template_key, _template_title
from .tree_renderer import _TreeRenderer

# Leads longer than this are cut (at a paragraph break) before the tree parse: an abstract never
# needs more, and mwparserfromhell's cost grows faster than linearly on hostile input.
LEAD_PARSE_LIMIT = 120_000
# Above these counts in the lead the tree parse is skipped (mwparserfromhell recurses per nesting
# level and backtracks on unclosed constructs); the regex renderer handles such text linearly.
_MAX_LEAD_NESTING = 40
_MAX_LEAD_UNCLOSED = 24
_MAX_LEAD_TAGS = 3_000
_MAX_LEAD_TABLES = 200
_MAX_LEAD_BRACKETS = 12_000
_MAX_LEAD_QUOTES = 6_000


# -- infoboxes ------------------------------------------------------------------------------------------

_INFOBOX_RE = re.compile(
    r"^(?:infobox|info/|ficha de|ficha|infocaseta|caixa de informação|карточка|картка|bilgi kutusu|"
    r"基礎情報|hộp thông tin|তথ্যছক|πληροφορίες|տեղեկաքարտ|माहितीचौकट|automatic taxobox|taxobox|speciesbox|"
    r"subspeciesbox|infobox)|infobox|^taxobox", re.IGNORECASE)
_IMAGE_FILE_RE = re.compile(r"\.(?:jpe?g|png|gif|svg|tiff?|webp|xcf|bmp|pdf|djvu|ogv|webm)\s*$", re.IGNORECASE)
_SHORT_DESCRIPTION_KEYS = frozenset(("short description",))


def _commons_url(file_name: str) -> str:
    name = file_name.replace(" ", "_")
    digest = hashlib.md5(name.encode("utf-8")).hexdigest()
    return f"https://upload.wikimedia.org/wikipedia/commons/{digest[0]}/{digest[:2]}/{quote(name, safe='')}"


def _image_dict(names: WikiNames, file_name: str) -> dict:
    file_name = names.title_case(NS_FILE, _clean_title(file_name))
    return {"name": file_name, "content_url": _commons_url(file_name)}


_HTML_TAG_RE = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*)\b[^<>]*?(/?)>")
_VOID_TAGS = frozenset(("br", "hr", "wbr", "img", "meta", "link", "references", "section", "nowiki"))


def _unclosed_tags(lead: str) -> int:
    """How many HTML/extension tags are opened and never closed (mwparserfromhell retries each one
    against the rest of the text: quadratic)."""
    if "<" not in lead:
        return 0
    balance: dict[str, int] = {}
    for m in _HTML_TAG_RE.finditer(lead):
        if m.group(3):
            continue
        name = m.group(2).lower()
        if name in _VOID_TAGS:
            continue
        balance[name] = balance.get(name, 0) + (-1 if m.group(1) else 1)
    return sum(v for v in balance.values() if v > 0) + max(0, lead.count("<") - lead.count(">"))


def _lead_is_parseable(lead: str) -> bool:
    """Whether mwparserfromhell can parse this lead safely and in (near) linear time: it recurses once
    per nesting level (RecursionError on {{ × 2000) and re-scans the rest of the text for every
    unclosed construct (quadratic), so such leads go to the regex renderer instead."""
    if (lead.count("<") > _MAX_LEAD_TAGS or lead.count("{|") > _MAX_LEAD_TABLES
            or lead.count("[") > _MAX_LEAD_BRACKETS or lead.count("''") > _MAX_LEAD_QUOTES
            or lead.count("[") - lead.count("]") > _MAX_LEAD_UNCLOSED
            or _unclosed_tags(lead) > _MAX_LEAD_UNCLOSED):
        return False
    _spans, unmatched, depth = _pairs(lead, _BRACES_RE, "{{")
    if unmatched > _MAX_LEAD_UNCLOSED or depth > _MAX_LEAD_NESTING:
        return False
    _spans, unmatched, depth = _pairs(lead, _BRACKETS_RE, "[[")
    return unmatched <= _MAX_LEAD_UNCLOSED and depth <= _MAX_LEAD_NESTING


def _cut_lead(lead: str) -> str:
    if len(lead) <= LEAD_PARSE_LIMIT:
        return lead
    cut = lead.rfind("\n\n", 0, LEAD_PARSE_LIMIT)
    return lead[: cut if cut > 0 else LEAD_PARSE_LIMIT]


def _file_in_value(value: str, names: WikiNames) -> str | None:
    """A file an infobox parameter names: a bare ``X.jpg``/``File:X.jpg`` or a ``[[File:X.jpg|…]]``."""
    value = value.strip()
    if not value:
        return None
    if "[[" in value:
        m = re.search(r"\[\[\s*([^\]|]+)", value)
        if m:
            ns, rest = names.split_title(m.group(1))
            if ns == NS_FILE:
                return rest
        return None
    if "{{" in value or "\n" in value or "://" in value:
        return None
    if _IMAGE_FILE_RE.search(value):
        ns, rest = names.split_title(value)
        if ns in (0, NS_FILE):
            return rest
    return None


_SIZE_RE = re.compile(r"^\s*(\d+)\s*(?:px)?\s*$")
_IMAGE_SIZE_KEYS = ("taille image", "image_size", "image size", "imagesize", "size", "width", "taille",
                    "largeur", "tamanho", "imagem_tamanho", "breite", "bildbreite")
_TRAILING_DIGITS_RE = re.compile(r"(\d+)$")


def _too_small(size: str) -> bool:
    """PageImages all but excludes images shown 119 px wide or less (icons, small logos)."""
    m = _SIZE_RE.match(size)
    return bool(m) and int(m.group(1)) <= 119


def _template_images(named: dict[str, str], names: WikiNames) -> list[str]:
    """Files a template's named parameters name, in order, minus those displayed too small to be a
    page image (``image1=X.svg`` with ``taille1=100``)."""
    folded = {k.casefold(): v for k, v in named.items()}
    found: list[str] = []
    for key, value in named.items():
        file_name = _file_in_value(value, names)
        if not file_name:
            continue
        digits = _TRAILING_DIGITS_RE.search(key)
        if digits:
            size_keys = [k + digits.group(1) for k in ("taille", "size", "width", "largeur", "tamanho")]
        else:
            size_keys = list(_IMAGE_SIZE_KEYS)
        if not any(_too_small(folded.get(k, "")) for k in size_keys):
            found.append(file_name)
    return found


def _infobox_part(raw_name: str, named: dict[str, str], renderer: _RegexRenderer) -> dict:
    """An infobox as an Enterprise part: one ``field`` per non-empty parameter (plain-text value and
    its links), ``image`` parts for parameters naming a file."""
    names = renderer.names
    fields: list[dict] = []
    for key, raw_value in named.items():
        if not raw_value.strip():
            continue
        file_name = _file_in_value(raw_value, names)
        if file_name and "[[" not in raw_value:
            fields.append({"type": "image", "name": key, "images": [_image_dict(names, file_name)]})
            continue
        links: list[dict] = []
        value = renderer.render_inline(raw_value, links)
        if "\n" in value:
            value = _LIST_MARKERS_RE.sub(" ", value)
        value = _ASCII_SPACES_RE.sub(" ", value).strip()
        if value:
            part: dict[str, Any] = {"type": "field", "name": key, "value": value}
            if links:
                part["links"] = links
            fields.append(part)
    return {"name": _clean_title(raw_name), "type": "infobox", "has_parts": fields}


def _lead_file_links(lead: str, names: WikiNames) -> list[tuple[int, str]]:
    """``(offset, file)`` of the ``[[File:…]]`` links and ``<gallery>`` lines of the lead that are
    big enough to be a page image."""
    found: list[tuple[int, str]] = []
    for m in names._file_re.finditer(lead):
        options = (m.group(2) or "").split("|")
        if any(o.strip().endswith("px") and _too_small(o.strip().rsplit("x", 1)[-1] if "x" in o.strip()[:-2]
               else o.strip()) for o in options):
            continue
        found.append((m.start(), _clean_title(m.group(1))))
    if "<gallery" in lead:
        start = lead.find("<gallery")
        end = lead.find("</gallery", start)
        for line in lead[lead.find(">", start) + 1:end if end > 0 else len(lead)].split("\n"):
            ns, rest = names.split_title(line.split("|", 1)[0])
            if rest and (ns == NS_FILE or _IMAGE_FILE_RE.search(rest)):
                found.append((start, rest))
                break
    return found


@dataclass(slots=True)
class _Lead:
    abstract: BoundedAbstract = BoundedAbstract("")
    infoboxes: list[dict] = field(default_factory=list)
    image: dict | None = None
    description: str | None = None


def _lead_fields(lead: str, names: WikiNames, deadline: _Deadline,
                 outermost: list[tuple[int, int]] | None = None) -> _Lead:
    """Abstract, infoboxes, image and short description from the lead section.

    One brace scan sorts the lead's templates: those that render text stay for the abstract; the
    others (infoboxes, hatnotes, citations…, most of a lead's bytes) are read here — infobox
    parameters, the short description, image parameters — and cut out, so mwparserfromhell only
    parses what the abstract needs. ``outermost``: the lead's outermost ``{{…}}`` spans, if known."""
    result = _Lead()
    if not lead.strip():
        return result
    renderer = _RegexRenderer(names, deadline)
    infobox_images: list[str] = []
    other_images: list[tuple[int, str]] = []

    def sort_template(s: int, e: int) -> str:
        """The template itself if it renders text; otherwise read what it says and cut it out."""
        body = lead[s + 2:e - 2]
        bar = body.find("|")
        raw_name = body if bar < 0 else body[:bar]
        if _renders_text(_template_key(raw_name, names)):
            return lead[s:e]
        title = _template_title(raw_name, names)
        if title is None or bar < 0:
            return ""
        positional, named = _template_args(_split_top(body))
        if _INFOBOX_RE.search(title[1]):
            result.infoboxes.append(_infobox_part(raw_name, named, renderer))
            infobox_images.extend(_template_images(named, names))
        elif title[1].casefold() in _SHORT_DESCRIPTION_KEYS:
            value = positional[0].strip() if positional else ""
            if result.description is None and value and value.casefold() != "none":
                result.description = value
        else:
            images = _template_images(named, names)
            if images:
                other_images.append((s, images[0]))
        return ""

    text = _replace_outermost(lead, _BRACES_RE, "{{", sort_template, deadline, outermost)
    deadline.check("lead templates")
    result.abstract = bounded_abstract(_lead_abstract(text, renderer))
    if infobox_images:
        result.image = _image_dict(names, infobox_images[0])
    else:
        candidates = sorted(other_images + _lead_file_links(text, names))
        if candidates:
            result.image = _image_dict(names, candidates[0][1])
    return result


def _lead_abstract(text: str, renderer: _RegexRenderer) -> str:
    """The abstract from the lead text (templates that render nothing already removed): tree renderer
    when mwparserfromhell can parse the text safely, regex renderer otherwise."""
    if _lead_is_parseable(text):
        # The tree renders a table as nothing, and a table is what mwparserfromhell parses slowest: the closed
        # ones go first. An unclosed one (cut off by the first heading) stays, and its markup withholds the
        # abstract, as the tree alone would.
        text = _drop_tables(text, closed_only=True)
        try:
            tree = _TreeRenderer(renderer.names)
            rendered = tree.render(mwparserfromhell.parse(_plain_links_as_text(text, renderer.names)))
            return _abstract_from_rendered(rendered, tree.formula_seen)
        except RecursionError:  # nesting deeper than the pre-check saw (e.g. inside tags)
            pass
    return _abstract_from_rendered(renderer.render_block(text), keep_parentheticals=False)
