"""Brace and bracket structure: matched ``{{…}}`` / ``[[…]]`` spans, template bodies split into arguments."""

from __future__ import annotations

import re
from collections.abc import Callable

from .deadline import _NO_DEADLINE, _Deadline

_BRACES_RE = re.compile(r"\{\{|\}\}")
_BRACKETS_RE = re.compile(r"\[\[|\]\]")


def _pairs(text: str, token_re: re.Pattern[str], opener: str,
           deadline: _Deadline = _NO_DEADLINE) -> tuple[list[tuple[int, int]], int, int]:
    """Matched ``{{…}}`` (or ``[[…]]``) spans, sorted by start, plus the number of unmatched openers
    and the deepest nesting seen. Iterative (a stack, no recursion), so ``{{`` × 100 000 is fine; an
    unmatched opener is literal text, exactly as in MediaWiki, and does not swallow what follows."""
    stack: list[int] = []
    spans: list[tuple[int, int]] = []
    depth_max = 0
    steps = 0
    for m in token_re.finditer(text):
        steps += 1
        if steps & 4095 == 0:
            deadline.check("brace scan")
        if m.group() == opener:
            stack.append(m.start())
            if len(stack) > depth_max:
                depth_max = len(stack)
        elif stack:
            spans.append((stack.pop(), m.end()))
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
                       deadline: _Deadline = _NO_DEADLINE) -> str:
    """``text`` with each outermost matched span (``{{…}}`` or ``[[…]]``, as for :func:`_pairs`)
    replaced by ``replace(start, end)`` of the span."""
    spans, _unmatched, _depth = _pairs(text, token_re, opener, deadline)
    if not spans:
        return text
    out: list[str] = []
    pos = 0
    for s, e in _outermost(spans):
        out.append(text[pos:s])
        out.append(replace(s, e))
        pos = e
    out.append(text[pos:])
    return "".join(out)


def _replace_outermost_bodies(text: str, token_re: re.Pattern[str], opener: str, replace: Callable[[str], str],
                              deadline: _Deadline = _NO_DEADLINE) -> str:
    """As :func:`_replace_outermost`, ``replace`` given the span's body (between its two-character
    delimiters). The renderers' hot path: one call per template, no wrapper in between."""
    spans, _unmatched, _depth = _pairs(text, token_re, opener, deadline)
    if not spans:
        return text
    out: list[str] = []
    pos = 0
    for s, e in _outermost(spans):
        out.append(text[pos:s])
        out.append(replace(text[s + 2 : e - 2]))
        pos = e
    out.append(text[pos:])
    return "".join(out)


_SPLIT_RE = re.compile(r"\{\{|\}\}|\[\[|\]\]|\|")


def _split_top(body: str) -> list[str]:
    """Split a template body (between ``{{`` and ``}}``) at the pipes that are not inside a nested
    template or link."""
    if "|" not in body:
        return [body]
    parts: list[str] = []
    braces = links = 0
    last = 0
    for m in _SPLIT_RE.finditer(body):
        tok = m.group()
        if tok == "|":
            if braces == 0 and links == 0:
                parts.append(body[last:m.start()])
                last = m.end()
        elif tok == "{{":
            braces += 1
        elif tok == "}}":
            braces = braces - 1 if braces else 0
        elif tok == "[[":
            links += 1
        else:
            links = links - 1 if links else 0
    parts.append(body[last:])
    return parts


def _template_args(parts: list[str]) -> tuple[list[str], dict[str, str]]:
    """Positional and named arguments of a split template body (``parts[0]`` is the name)."""
    positional: list[str] = []
    named: dict[str, str] = {}
    for part in parts[1:]:
        eq = part.find("=")
        if eq > 0:
            key = part[:eq]
            if "{{" not in key and "[[" not in key and "<" not in key:
                named[key.strip()] = part[eq + 1:].strip()
                continue
        positional.append(part)
    return positional, named
