"""The regex renderer: wikitext → plain text without building a tree (section text, table cells,
infobox values, references; the lead when mwparserfromhell cannot parse it safely)."""

from __future__ import annotations

import html
import re

from .braces import (
    _BRACES_RE,
    _BRACKETS_RE,
    _replace_outermost,
    _replace_outermost_bodies,
    _split_top,
    _template_args,
)
from .deadline import _NO_DEADLINE, _Deadline
from .elements import _BLOCK_ELEMENT_RE, _drop_tables, _scan_elements, _strip_refs
from .inline_templates import _FR_ORDINAL_RE, _Args, _fr_ordinal_display, _inline_template, _renders_text
from .links import _PIPE_TRICK_RE, _link_display, _link_url
from .names import WikiNames, _clean_title
from .template_names import _template_key

# The label stops at "[" as well as "]": an unclosed "[http://x label" then costs one short scan,
# not a scan to the end of the line per opener.
_EXTLINK_RE = re.compile(
    r"\[((?:https?:)?//[^\s\[\]<>\"]+|(?:ftp|mailto|news|irc|ircs|gopher|tel|sms):[^\s\[\]<>\"]+)"
    r"(?:[ \t]+([^\[\]\n]*))?\]"
)
# Bold-italic, bold or italic quotes: at each position five, else three, else two (the order of
# "'{5}|'{3}|'{2}"), written with the literal two quotes first so that the regex engine skips to
# candidates instead of trying three alternatives at every character (~20x faster on article text).
_QUOTES_RE = re.compile(r"''(?:'''|')?")
_BR_RE = re.compile(r"<br\s*/?\s*>|</br\s*>", re.IGNORECASE)
_TAG_RE = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*\b[^<>]*>")
_SWITCH_RE = re.compile(r"__[^\W_a-z]+(?:_[^\W_a-z]+)*__")
_LINKTRAIL_RE = re.compile(r"[a-z]+")
# [[target]] / [[target|label]] without nested brackets, plus its link trail ("[[photon]]s")
_SIMPLE_LINK_RE = re.compile(r"\[\[([^\[\]|\n]*)(?:\|([^\[\]]*))?\]\]([a-z]+)?")
_BLANK_LINES_RE = re.compile(r"\n[ \t]*\n[ \t\n]*")
_SPACE_RUN_RE = re.compile(r"[ \t]+")
_ASCII_SPACES_RE = re.compile(r"[ \t\n\f\r]+")  # Go's \s+: a no-break space is not one
_LIST_MARKERS_RE = re.compile(r"(?m)^[*#:;]+[ \t]*")
_URL_RE = re.compile(r"(?:https?:)?//[^\s\[\]<>\"|{}]+")


def _strip_markup(text: str) -> str:
    """External links to their label; bold/italic quotes, tags (``<br>`` to a space) and behaviour
    switches removed. Wikilinks are the caller's business."""
    if "[" in text:
        text = _EXTLINK_RE.sub(lambda m: m.group(2) or "", text)
    if "''" in text:
        text = _QUOTES_RE.sub("", text)
    if "<" in text:
        text = _BR_RE.sub(" ", text)
        text = _TAG_RE.sub("", text)
    if "__" in text:
        text = _SWITCH_RE.sub("", text)
    return text


class _RegexRenderer:
    """Wikitext → plain text with regex passes and brace/bracket pairing (no tree): templates via
    the inline table (others dropped), links to their text (files, categories and interlanguage
    links dropped), external links to their label, bold/italic and HTML tags removed, entities
    decoded. Optionally collects ``{"url", "text"}`` of the wikilinks it renders."""

    def __init__(self, names: WikiNames, deadline: _Deadline = _NO_DEADLINE) -> None:
        self.names = names
        self.lang = names.language
        self.deadline = deadline
        self._urls: dict[str, str] = {}
        # raw template name → (lookup key, renders text): a page calls the same few templates many times
        self._keys: dict[str, tuple[str | None, bool]] = {}

    # -- public ------------------------------------------------------------------------------------

    def render_block(self, text: str, links: list | None = None,
                     outermost: list[tuple[int, int]] | None = None) -> str:
        """Render a stretch of article text (many lines): tables and block elements dropped.
        ``outermost``: the text's outermost ``{{…}}`` spans when already known (a page's
        :class:`~.braces._BraceIndex`)."""
        stripped = _strip_refs(text, self.deadline)
        text = self._templates(stripped, outermost if stripped is text else None)
        text = _drop_tables(text)
        if "<" in text:
            text = _scan_elements(text, _BLOCK_ELEMENT_RE, self._block_element, self.deadline)
        return self._inline_markup(text, links)

    def render_inline(self, text: str, links: list | None = None,
                      outermost: list[tuple[int, int]] | None = None) -> str:
        """Render a short fragment (a template argument, a heading, a reference); ``outermost`` as
        for :meth:`render_block`."""
        if "<ref" in text:
            stripped = _strip_refs(text, self.deadline)
            if stripped is not text:
                text, outermost = stripped, None
        if "{{" in text:
            text = self._templates(text, outermost)
        return self._inline_markup(text, links)

    # -- passes ------------------------------------------------------------------------------------

    @staticmethod
    def _block_element(tag: str, _attrs: str, content: str | None) -> str:
        if content is None or tag in ("gallery", "references", "imagemap", "table", "timeline"):
            return ""
        return content  # div/center/blockquote/poem: their text is article text

    def _templates(self, text: str, outermost: list[tuple[int, int]] | None = None) -> str:
        if "{{" not in text:
            return text
        return _replace_outermost_bodies(text, _BRACES_RE, "{{", self._template, self.deadline, outermost)

    def _template(self, body: str) -> str:
        bar = body.find("|")
        raw_name = body if bar < 0 else body[:bar]
        known = self._keys.get(raw_name)
        if known is None:
            key = _template_key(raw_name, self.names)
            known = self._keys[raw_name] = (key, _renders_text(key))
        key, renders = known
        if not renders:  # most templates (citations, hatnotes, {{sfn}}…): nothing to split
            return ""
        parts = _split_top(body)
        if key.endswith(":") and ":" in parts[0]:
            # parser function: its first argument is after the colon
            parts = [parts[0].split(":", 1)[0], parts[0].split(":", 1)[1], *parts[1:]]
        positional, named = _template_args(parts)
        rendered = _inline_template(key, _Args(positional, named, self.render_inline), self.lang)
        if rendered is None and _FR_ORDINAL_RE.match(key):
            return _fr_ordinal_display(parts[0])
        return rendered or ""

    def _inline_markup(self, text: str, links: list | None) -> str:
        if "[[" in text:
            text = self._wikilinks(text, links)
        text = _strip_markup(text)
        if "&" in text:
            text = html.unescape(text)
        return text

    def _wikilinks(self, text: str, links: list | None) -> str:
        def simple(m: re.Match[str]) -> str:
            target, label, trail = m.groups()
            if ":" not in target and len(target) <= 512:
                # _link_display without a namespace or a leading colon to look at (most links)
                if label is None:
                    shown = target.strip().replace("_", " ")
                else:
                    shown = label.strip() or _PIPE_TRICK_RE.sub("", target.strip())
            else:
                shown = _link_display(self.names, target, label)
                if shown is None:
                    return ""
            if links is not None and shown:
                link_text = _QUOTES_RE.sub("", shown) if "''" in shown else shown
                if trail:
                    link_text += trail
                url = urls.get(target)
                if url is None:
                    url = self._url(target)
                links.append({"url": url, "text": _clean_title(link_text)})
            return shown + trail if trail else shown

        urls = self._urls

        def nested(s: int, e: int) -> str:  # what the simple pattern leaves: brackets inside, a newline…
            target, sep, label = text[s + 2:e - 2].partition("|")
            shown = self._link_text(target, label if sep else None)
            if shown is None:
                return ""
            if links is not None and shown:
                trail = _LINKTRAIL_RE.match(text, e) if e < len(text) else None
                link_text = _clean_title(_QUOTES_RE.sub("", shown) + (trail.group() if trail else ""))
                links.append({"url": self._url(target), "text": link_text})
            return shown

        text = _SIMPLE_LINK_RE.sub(simple, text)
        if "[[" not in text:
            return text
        return _replace_outermost(text, _BRACKETS_RE, "[[", nested, self.deadline)

    def _link_text(self, target: str, label: str | None) -> str | None:
        return _link_display(self.names, target, label)

    def _url(self, target: str) -> str:
        """``_link_url`` memoized per renderer (one page links the same titles many times)."""
        url = self._urls.get(target)
        if url is None:
            url = self._urls[target] = _link_url(self.names, target)
        return url


_MARKUP_CHARS_RE = re.compile(r"[\[{<'&_]")
_TWO_SPACES_RE = re.compile(r"\s\s")


def _has_markup(value: str) -> bool:
    """Whether rendering could change ``value`` beyond a strip: a markup character or two whitespace
    characters in a row (one character class searched, not an alternation tried at every character)."""
    if _MARKUP_CHARS_RE.search(value) is not None:
        return True
    if value.isprintable():  # the only whitespace a printable string can hold is the ASCII space
        return "  " in value
    return _TWO_SPACES_RE.search(value) is not None


def _plain_value(value: str, renderer: _RegexRenderer, outermost: list[tuple[int, int]] | None = None) -> str:
    """Plain text of a short fragment; most citation parameters have no markup at all. ``outermost``
    as for :meth:`_RegexRenderer.render_block`."""
    if not _has_markup(value):
        return value.strip()
    return _ASCII_SPACES_RE.sub(" ", renderer.render_inline(value, None, outermost)).strip()
