"""Wikimedia Enterprise's parser goldens: reading them, and putting our HTML fields beside them.

The oracle for :mod:`wme_assets.enrichment.html` is ``shared/fixtures/wme-parser-testdata`` (see its
``SOURCE.md``), copied from ``general/parser/`` of github.com/wikimedia-enterprise/wikimedia-enterprise:

``html/<upstream name>.xz``
    Real Parsoid HTML pages (xz). ``html_index.tsv`` maps each file name (without ``.xz``) to the
    Parsoid ``about=`` revision URI (``https://en.wikipedia.org/wiki/Special:Redirect/revision/…``),
    which names the wiki; a few files have none.
``golden/cases.tsv``
    The 87 test cases of upstream ``parser_test.go`` (``case`` 0..86); case 53 (Lionel_Messi) has no
    HTML here (too big to copy), so 86 cases are usable.
``golden/<function>.jsonl.xz``
    One file per parser function (:data:`FUNCTIONS`), one JSON object per case: ``case``,
    ``snapshot_file``, ``title``, ``html_file`` (``"html/<name>.xz"``, ``null`` if absent) and
    ``snapshot``, the upstream cupaloy snapshot text. ``abstract`` is plain text (plus cupaloy's final
    newline); ``text`` instead holds ``snapshot_hex``, whose first 32 characters are the hex MD5 of the
    extracted plain text. The others are go-spew dumps of the Go values, e.g.::

        ([]*parser.Relation) (len=2) {
          (*parser.Relation)({
            Name: (string) (len=39) "Category:1940s initial public offerings",
            URL: (string) (len=69) "https://en.wikipedia.org/wiki/Category:1940s_initial_public_offerings"
          }),
          …
        }

    Strings are Go-quoted (``strconv.Quote``: JSON escapes plus ``\\x``, ``\\U``, ``\\a``, ``\\v``);
    empty strings carry no ``(len=…)``; nil slices print ``<nil>``; ``int`` fields print bare numbers.
    :func:`spew_parse` reads such a dump back into lists, dicts (keyed by the Go field names: ``Name``,
    ``URL``, ``Type``, ``Value``, ``Values``, ``HasParts``, ``ContentUrl``, ``Text``, …), strings,
    ints and ``None``. ``sections`` and ``infoboxes`` are trees of ``parser.Part`` (``Type`` is
    ``section``, ``paragraph``, ``field``, ``infobox``, ``image``, ``list``, …).

:func:`golden_cases` lists the cases with their wiki, :func:`load_golden` one function's rows by case,
:func:`parsed_cases` runs :func:`~wme_assets.enrichment.html.html_fields` once per present case
(cached per process: about 15 s for all of them). :func:`ours` and :func:`expected` project our fields
and a golden row onto the same comparable value per function (what "exact match" means), used by
``wme fidelity`` and ``wme_assets_tests/test_html_enrichment.py``.
"""

from __future__ import annotations

import hashlib
import json
import lzma
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

from wme_assets.enrichment import html as H

__all__ = [
    "FUNCTIONS",
    "TESTDATA_DIRNAME",
    "GoldenCase",
    "expected",
    "golden_cases",
    "iter_parts",
    "load_golden",
    "ours",
    "parsed_cases",
    "part_shape",
    "spew_parse",
    "unquote_go",
]

TESTDATA_DIRNAME = "wme-parser-testdata"
FUNCTIONS = ("abstract", "categories", "templates", "sections", "infoboxes", "images", "links", "text")


# ==================================================================================================
# go-spew reader
# ==================================================================================================

_STR = r'"((?:[^"\\]|\\.)*)"'
_FIELD_STR = re.compile(rf"^(\w+): \(string\) (?:\(len=\d+\) )?{_STR},?$")
_FIELD_INT = re.compile(r"^(\w+): \(int\) (-?\d+),?$")
_FIELD_NIL = re.compile(r"^(\w+): \([^)]*\) <nil>,?$")
_FIELD_LIST = re.compile(r"^(\w+): \([^)]*\) (?:\(len=\d+\) )?\{$")
_ITEM_OBJ = re.compile(r"^\(\*parser\.\w+\)\(\{$")
_ITEM_STR = re.compile(rf"^\(string\) (?:\(len=\d+\) )?{_STR},?$")
_TOP_LIST = re.compile(r"^\([^)]*\) (?:\(len=\d+\) )?\{$")


def unquote_go(s: str) -> str:
    """The body of a Go ``strconv.Quote`` string → str (JSON escapes plus ``\\x``, ``\\U``, ``\\a``, ``\\v``)."""
    if "\\" not in s:
        return s
    s = re.sub(r"\\x([0-9a-fA-F]{2})", lambda m: "\\u00" + m.group(1), s)
    s = re.sub(r"\\U([0-9a-fA-F]{8})", lambda m: json.dumps(chr(int(m.group(1), 16)))[1:-1], s)
    s = s.replace("\\a", "\\u0007").replace("\\v", "\\u000b")
    return json.loads(f'"{s}"')


def spew_parse(text: str) -> list:
    """A go-spew dump of a slice (of ``*parser.X`` structs or strings) → a list of dicts/strings."""
    lines = [ln.strip() for ln in text.strip().splitlines()]
    pos = 0

    def parse_list() -> list:
        nonlocal pos
        out: list = []
        while pos < len(lines):
            ln = lines[pos]
            pos += 1
            if ln in ("}", "},"):
                return out
            if _ITEM_OBJ.match(ln):
                out.append(parse_obj())
            elif m := _ITEM_STR.match(ln):
                out.append(unquote_go(m.group(1)))
            else:
                raise ValueError(f"unexpected list line {ln!r}")
        return out

    def parse_obj() -> dict:
        nonlocal pos
        obj: dict = {}
        while pos < len(lines):
            ln = lines[pos]
            pos += 1
            if ln in ("})", "}),"):
                return obj
            if m := _FIELD_STR.match(ln):
                obj[m.group(1)] = unquote_go(m.group(2))
            elif m := _FIELD_INT.match(ln):
                obj[m.group(1)] = int(m.group(2))
            elif m := _FIELD_NIL.match(ln):
                obj[m.group(1)] = None
            elif m := _FIELD_LIST.match(ln):
                obj[m.group(1)] = parse_list()
            else:
                raise ValueError(f"unexpected object line {ln!r}")
        return obj

    first = lines[pos]
    pos += 1
    if not _TOP_LIST.match(first):
        raise ValueError(f"not a go-spew list: {first!r}")
    return parse_list()


def iter_parts(parts: list[dict] | None) -> Iterator[dict]:
    """Every ``parser.Part`` of a parsed ``sections``/``infoboxes`` golden, depth first in document order."""
    for part in parts or ():
        yield part
        yield from iter_parts(part.get("HasParts"))


# ==================================================================================================
# Cases
# ==================================================================================================


@dataclass(frozen=True, slots=True)
class GoldenCase:
    """One upstream test case: ``html_file`` is relative to the testdata dir (``None`` if not copied);
    ``wiki`` is the dbname from the page's Parsoid ``about=`` URI (``None`` when the page has none)."""

    case: int
    title: str
    html_file: str | None
    wiki: str | None
    present: bool


def _key(testdata: str | Path) -> str:
    return str(Path(testdata).resolve())


@cache
def _load_golden(testdata: str, function: str) -> dict[int, dict]:
    with lzma.open(Path(testdata) / "golden" / f"{function}.jsonl.xz", "rt", encoding="utf-8") as fh:
        return {row["case"]: row for row in map(json.loads, fh)}


def load_golden(testdata: str | Path, function: str) -> dict[int, dict]:
    """The golden rows of one parser function by case number (cached; do not mutate)."""
    return _load_golden(_key(testdata), function)


def _html_wikis(testdata: Path) -> dict[str, str]:
    """HTML file name (without ``.xz``) → dbname, from the ``about=`` URIs in ``html_index.tsv``."""
    index = testdata / "html_index.tsv"
    out: dict[str, str] = {}
    if not index.exists():
        return out
    for line in index.read_text(encoding="utf-8").splitlines()[1:]:
        cols = line.split("\t")
        m = re.match(r"https://([a-z-]+)\.wikipedia\.org/", cols[1]) if len(cols) > 1 else None
        if m:
            out[cols[0]] = m.group(1).replace("-", "_") + "wiki"
    return out


@cache
def _golden_cases(testdata: str) -> tuple[GoldenCase, ...]:
    base = Path(testdata)
    wikis = _html_wikis(base)
    out = []
    for case, row in sorted(_load_golden(testdata, "abstract").items()):
        html_file = row.get("html_file") or None
        name = (html_file or "").removeprefix("html/").removesuffix(".xz")
        out.append(GoldenCase(case, row["title"], html_file, wikis.get(name),
                              bool(html_file) and (base / html_file).is_file()))
    return tuple(out)


def golden_cases(testdata: str | Path) -> tuple[GoldenCase, ...]:
    """All cases (87), in case order, present or not."""
    return _golden_cases(_key(testdata))


@cache
def _parsed_cases(testdata: str) -> tuple[tuple[GoldenCase, H.HtmlFields], ...]:
    out = []
    for case in _golden_cases(testdata):
        if not case.present:
            continue
        with lzma.open(Path(testdata) / str(case.html_file), "rt", encoding="utf-8") as fh:
            out.append((case, H.html_fields(fh.read())))
    return tuple(out)


def parsed_cases(testdata: str | Path) -> tuple[tuple[GoldenCase, H.HtmlFields], ...]:
    """``(case, our html_fields)`` for every case whose HTML is present, each page parsed once per
    process (the result is cached: do not mutate it)."""
    return _parsed_cases(_key(testdata))


# ==================================================================================================
# Comparable values per function
# ==================================================================================================


def part_shape(p: dict | H.HtmlPart) -> tuple:
    """Name/type/value/values and children of a Part (ours or golden), recursively; a Part's links
    and images are left out (the ``links`` and ``images`` functions compare them)."""
    if isinstance(p, H.HtmlPart):
        return (p.name, p.type, p.value, tuple(p.values), tuple(part_shape(c) for c in p.has_parts))
    return (
        p.get("Name") or "", p.get("Type") or "", p.get("Value") or "", tuple(p.get("Values") or ()),
        tuple(part_shape(c) for c in p.get("HasParts") or ()),
    )


def ours(function: str, fields: H.HtmlFields) -> Any:
    """Our value for one parser function, in the form :func:`expected` gives the golden's."""
    if function == "abstract":
        return fields.abstract
    if function in ("categories", "templates"):
        return [(r.name, r.url) for r in getattr(fields, function)]
    if function in ("sections", "infoboxes"):
        return [part_shape(p) for p in getattr(fields, function)]
    if function == "images":
        return [asdict(i) for i in fields.images]
    if function == "links":
        return [(lk.url, lk.text) for lk in fields.links]
    if function == "text":
        return hashlib.md5(fields.text.encode("utf-8")).hexdigest()
    raise ValueError(f"unknown parser function {function!r}")


def expected(function: str, row: dict, parsed: list | None = None) -> Any:
    """The golden's value for one parser function (``parsed``: the row's snapshot already read with
    :func:`spew_parse`). Relations are sorted by name (Enterprise's come from a Go map, in random
    order; ours are sorted)."""
    if function == "abstract":
        return row["snapshot"].removesuffix("\n")
    if function == "text":
        return row["snapshot_hex"][:32]
    if parsed is None:
        parsed = spew_parse(row["snapshot"])
    if function in ("categories", "templates"):
        return sorted((r["Name"], r["URL"]) for r in parsed)
    if function in ("sections", "infoboxes"):
        return [part_shape(p) for p in parsed]
    if function == "images":
        return [{"content_url": i["ContentUrl"], "alternative_text": i["AlternativeText"],
                 "caption": i["Caption"], "height": i["Height"], "width": i["Width"]} for i in parsed]
    if function == "links":
        return [(lk["URL"], lk["Text"]) for lk in parsed]
    raise ValueError(f"unknown parser function {function!r}")
