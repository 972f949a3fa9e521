"""The tree renderer for the lead (mwparserfromhell): plain text of the parsed nodes, watching for
what Enterprise's formula guard looks for."""

from __future__ import annotations

from typing import Any

from mwparserfromhell.nodes import (
    Comment,
    ExternalLink,
    HTMLEntity,
    Tag,
    Template,
    Text,
    Wikilink,
)

from wme_assets.enrichment.abstract_rules import (
    FORMULA_BEFORE_RE,
    FORMULA_SCRIPT_RE,
    MATH_EXPR_BEFORE_RE,
    MATH_EXPR_CHAR_RE,
    superscript_number,
)

from .inline_templates import _FR_ORDINAL_RE, _Args, _ascii_digits, _fr_ordinal_display, _inline_template
from .links import _link_display
from .names import WikiNames
from .template_names import _template_key

_DROPPED_TAGS = frozenset((
    "ref", "references", "table", "div", "gallery", "imagemap", "center", "blockquote", "figure",
    "timeline", "score", "graph", "math", "chem", "ce", "hr", "templatestyles", "mapframe", "maplink",
    "caption", "tr", "td", "th", "ul", "ol", "dl", "dd", "dt", "li", "poem", "syntaxhighlight", "source",
    "pre", "section", "indicator", "noinclude", "includeonly", "style", "script",
))


class _TreeRenderer:
    """Plain text of mwparserfromhell nodes, with the same template table as :class:`_RegexRenderer`.

    For the abstract it also tracks what Enterprise's formula guard looks for in the HTML (a
    ``<sup>``/``<sub>`` number right after a digit/element symbol, or a one-letter italic right after
    ``(``): when seen, parentheticals are kept."""

    def __init__(self, names: WikiNames) -> None:
        self.names = names
        self.lang = names.language
        self.formula_seen = False

    def render(self, code: Any) -> str:
        out: list[str] = []
        for node in code.nodes:
            piece = self._node(node, out)
            if piece:
                out.append(piece)
        return "".join(out)

    def _node(self, node: Any, out: list[str]) -> str:
        if isinstance(node, Text):
            return node.value
        if isinstance(node, Wikilink):
            return self._wikilink(node)
        if isinstance(node, Template):
            return self._template(node)
        if isinstance(node, Tag):
            return self._tag(node, out)
        if isinstance(node, HTMLEntity):
            return node.normalize()
        if isinstance(node, ExternalLink):
            if node.brackets:
                return self.render(node.title) if node.title is not None else ""
            return str(node.url)
        if isinstance(node, Comment):
            return ""
        return ""  # headings (none in the lead), {{{arguments}}}

    def _wikilink(self, node: Wikilink) -> str:
        target = str(node.title)
        if "{{" in target:  # target built by a template: render it, as MediaWiki expands it first
            target = self.render(node.title)
        label = self.render(node.text) if node.text is not None else None
        return _link_display(self.names, target, label) or ""

    def _template(self, node: Template) -> str:
        raw_name = str(node.name)
        key = _template_key(raw_name, self.names)
        if key is None:
            return ""
        params = node.params
        if key.endswith(":") and ":" in raw_name:  # parser function: first argument after the colon
            first = raw_name.split(":", 1)[1]
            positional: list[Any] = [first]
        else:
            positional = []
        named: dict[str, Any] = {}
        for p in params:
            if p.showkey:
                named[str(p.name).strip()] = p.value
            else:
                positional.append(p.value)
        args = _Args(positional, named, self._render_any)
        rendered = _inline_template(key, args, self.lang)
        if rendered is None and _FR_ORDINAL_RE.match(key):
            return _fr_ordinal_display(raw_name)
        return rendered or ""

    def _render_any(self, value: Any) -> str:
        return value if isinstance(value, str) else self.render(value)

    def _tag(self, node: Tag, out: list[str]) -> str:
        tag = str(node.tag).strip().lower()
        if node.wiki_markup and tag in ("li", "dt", "dd", "hr"):
            return node.wiki_markup  # list/indent markers: the abstract classifies lines by them
        if tag in _DROPPED_TAGS:
            return ""
        if tag == "br":
            return ""  # Enterprise reads text nodes: <br> adds nothing
        if node.contents is None:
            return ""
        text = self.render(node.contents)
        if tag in ("sup", "sub"):
            before = out[-1] if out else ""
            if FORMULA_SCRIPT_RE.match(text) and FORMULA_BEFORE_RE.search(before):
                self.formula_seen = True
            if tag == "sup" and _ascii_digits(text):
                return superscript_number(text)
        elif tag == "i" and MATH_EXPR_CHAR_RE.match(text):
            if out and MATH_EXPR_BEFORE_RE.search(out[-1]):
                self.formula_seen = True
        return text
