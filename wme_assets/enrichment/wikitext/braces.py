"""Brace and bracket structure: matched ``{{…}}`` / ``[[…]]`` spans, template bodies split into arguments."""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable

from .deadline import _NO_DEADLINE, _Deadline

_BRACES_RE = re.compile(r"\{\{|\}\}")
_BRACKETS_RE = re.compile(r"\[\[|\]\]")
# What _pairs scans: the tokens above, plus a whole pair with no brace (bracket) character between its
# delimiters as one token — the opener and closer the stack would pair anyway, one match instead of two.
_PAIR_TOKENS = {
    _BRACES_RE: re.compile(r"\{\{[^{}]*\}\}|\{\{|\}\}"),
    _BRACKETS_RE: re.compile(r"\[\[[^\[\]]*\]\]|\[\[|\]\]"),
}


def _pairs(text: str, token_re: re.Pattern[str], opener: str,
           deadline: _Deadline = _NO_DEADLINE) -> tuple[list[tuple[int, int]], int, int]:
    """Matched ``{{…}}`` (or ``[[…]]``) spans, sorted by start, plus the number of unmatched openers
    and the deepest nesting seen. Iterative (a stack, no recursion), so ``{{`` × 100 000 is fine; an
    unmatched opener is literal text, exactly as in MediaWiki, and does not swallow what follows."""
    stack: list[int] = []
    spans: list[tuple[int, int]] = []
    depth_max = 0
    steps = 0
    first = opener[0]
    pair_re = _PAIR_TOKENS.get(token_re)
    for m in (pair_re or token_re).finditer(text):
        steps += 1
        if steps & 4095 == 0:
            deadline.check("brace scan")
        s, e = m.span()
        if e - s > 2:  # a whole pair (from pair_re)
            spans.append((s, e))
            if len(stack) >= depth_max:
                depth_max = len(stack) + 1
        elif text[s] == first:
            stack.append(s)
            if len(stack) > depth_max:
                depth_max = len(stack)
        elif stack:
            spans.append((stack.pop(), e))
    spans.sort()
    return spans, len(stack), depth_max


def _outermost(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The spans not contained in another span (``spans`` sorted by start, properly nested)."""
    top: list[tuple[int, int]] = []
    end = -1
    for s, e in spans:
        if s >= end:
            top.append((s, e))
            end = e
    return top


def _replace_outermost(text: str, token_re: re.Pattern[str], opener: str, replace: Callable[[int, int], str],
                       deadline: _Deadline = _NO_DEADLINE, outermost: list[tuple[int, int]] | None = None) -> str:
    """``text`` with each outermost matched span (``{{…}}`` or ``[[…]]``, as for :func:`_pairs`)
    replaced by ``replace(start, end)`` of the span. ``outermost``: those spans when already known."""
    if outermost is None:
        outermost = _outermost(_pairs(text, token_re, opener, deadline)[0])
    if not outermost:
        return text
    out: list[str] = []
    pos = 0
    for s, e in outermost:
        out.append(text[pos:s])
        out.append(replace(s, e))
        pos = e
    out.append(text[pos:])
    return "".join(out)


def _replace_outermost_bodies(text: str, token_re: re.Pattern[str], opener: str, replace: Callable[[str], str],
                              deadline: _Deadline = _NO_DEADLINE,
                              outermost: list[tuple[int, int]] | None = None) -> str:
    """As :func:`_replace_outermost`, ``replace`` given the span's body (between its two-character
    delimiters). The renderers' hot path: one call per template, no wrapper in between.
    ``outermost``: the text's outermost spans when already known (:meth:`_BraceIndex.outermost_in`)."""
    if outermost is None:
        outermost = _outermost(_pairs(text, token_re, opener, deadline)[0])
    if not outermost:
        return text
    out: list[str] = []
    pos = 0
    for s, e in outermost:
        out.append(text[pos:s])
        out.append(replace(text[s + 2 : e - 2]))
        pos = e
    out.append(text[pos:])
    return "".join(out)


class _BraceIndex:
    """The matched ``{{…}}`` spans of one text (a page), read for the stretches of it that the renderers
    work on (a reference's content, a section, the lead) instead of scanning each stretch again.

    A stretch ``text[a:b]`` pairs its braces exactly as the whole text's spans that lie wholly inside it:
    the stack of :func:`_pairs` over the stretch is, at every token, the whole text's stack less its
    entries before ``a`` (a closer that pops an entry before ``a`` finds the stretch's stack empty and
    is literal there). That holds when the stretch's tokens are the whole text's tokens, i.e. when no
    ``{{``/``}}`` token of the whole text straddles ``a`` or ``b``; otherwise the stretch is scanned."""

    __slots__ = ("text", "spans", "starts")

    def __init__(self, text: str, spans: list[tuple[int, int]]) -> None:
        self.text = text
        self.spans = spans  # every matched span, sorted by start (as _pairs gives them)
        self.starts = [s for s, _e in spans]

    def outermost_in(self, a: int, b: int) -> list[tuple[int, int]] | None:
        """The outermost matched spans of ``text[a:b]``, in its own offsets; ``None`` when a
        brace token could straddle ``a`` or ``b`` (scan the stretch instead)."""
        text = self.text
        if (a > 0 and text[a - 1:a + 1] in ("{{", "}}")) or (b < len(text) and text[b - 1:b + 1] in ("{{", "}}")):
            return None
        spans, starts = self.spans, self.starts
        out: list[tuple[int, int]] = []
        i = bisect_left(starts, a)
        n = len(spans)
        while i < n:
            s, e = spans[i]
            if s >= b:
                break
            if e <= b:
                out.append((s - a, e - a))
                i = bisect_left(starts, e, i + 1)  # past the spans nested in this one
            else:  # runs past the stretch: unmatched in it, its nested spans may be outermost there
                i += 1
        return out


_NESTING_RE = re.compile(r"\{\{|\}\}|\[\[|\]\]")


def _split_top(body: str) -> list[str]:
    """Split a template body (between ``{{`` and ``}}``) at the pipes that are not inside a nested
    template or link."""
    if "|" not in body:
        return [body]
    pieces = body.split("|")
    if "{{" not in body and "[[" not in body:
        return pieces  # no opener: every pipe is at the top (a closer at depth 0 changes nothing)
    # The pieces between pipes, each scanned for brackets only when it could change the depth: no token
    # holds a pipe, so the tokens of the pieces are those of the body. A pipe is at the top when both
    # depths are 0 after the piece before it.
    parts: list[str] = []
    braces = links = 0
    first = 0
    for k, piece in enumerate(pieces):
        if braces or links or "{{" in piece or "[[" in piece:
            for m in _NESTING_RE.finditer(piece):
                tok = m.group()
                if tok == "{{":
                    braces += 1
                elif tok == "}}":
                    braces = braces - 1 if braces else 0
                elif tok == "[[":
                    links += 1
                else:
                    links = links - 1 if links else 0
            if braces or links:
                continue
        parts.append(piece if first == k else "|".join(pieces[first:k + 1]))
        first = k + 1
    if first < len(pieces):
        parts.append("|".join(pieces[first:]))
    return parts


def _template_args(parts: list[str]) -> tuple[list[str], dict[str, str]]:
    """Positional and named arguments of a split template body (``parts[0]`` is the name)."""
    positional: list[str] = []
    named: dict[str, str] = {}
    for part in parts[1:]:
        key, eq, value = part.partition("=")
        if eq and key and "{{" not in key and "[[" not in key and "<" not in key:
            named[key.strip()] = value.strip()
        else:
            positional.append(part)
    return positional, named
