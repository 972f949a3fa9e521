"""How close wme's two extractors come to real Wikimedia Enterprise output.

:func:`fidelity_report` measures two paths and what users see (``paths``; ``wme fidelity --path
wikitext|html|users|all``).

**wikitext** — :func:`~wme_assets.enrichment.wikitext.extract_wikitext_fields` on the real Enterprise
records in ``shared/fixtures``, field by field:

* ``wme-articles/<wiki>/*.json.xz`` (12 article records) and ``wme-sdk-testdata/testdata/
  articles.ndjson`` (3) — the input wikitext and the expected ``abstract``, ``categories``,
  ``templates``, ``image``, ``version.maintenance_tags``, ``version.number_of_characters``;
* ``wme-sdk-testdata/testdata/structured-contents.json`` — expected ``infoboxes`` of the same
  revisions (Squirrel on enwiki/ruwiki);
* ``wme-parser-testdata/golden`` — Enterprise's parser outputs (``sections``, ``infoboxes``) for the
  same *titles* at an earlier revision: section names drift between revisions, so these numbers are
  a lower bound.

Categories and templates are scored twice. "all" compares with everything Enterprise lists, which
includes categories added by templates (hidden/maintenance ones) and, for records built from the
MediaWiki API (dewiki, simplewiki), every indirectly transcluded template and module — none of which
the wikitext states. "wikitext-determined" restricts the expected set to names that occur literally
as a ``[[…:Name`` / ``{{Name`` in the wikitext (checked independently of the extractor).
Templates are also scored by the kind of list a record holds, for both of the extractor's lists
(``templates``: top-level transclusions, as Parsoid marks them; ``transcluded_templates``: every
depth, as MediaWiki's ``templatelinks``): the 12 records of 2023-2025 list what Parsoid marks; the
two that list modules (dewiki, simplewiki, 2022) were built from ``prop=templates`` — there
``transcluded_templates`` should find every name the wikitext writes, and a regression shows.

**html** — :func:`~wme_assets.enrichment.html.html_fields` on the Parsoid pages of
``wme-parser-testdata`` (86 cases of 87, 9 wikis; see :mod:`~wme_assets.devtools.parser_goldens`)
against the outputs of Enterprise's Go parser for the same HTML: the exact-match rate per function
(``abstract``, ``categories``, ``templates``, ``sections``, ``infoboxes``, ``images``, ``links``,
``text``; exact as defined by :func:`~wme_assets.devtools.parser_goldens.expected`), and precision
and recall, micro-averaged over the cases, of category and template names, section names (all
levels) and infobox field names (the rendered labels). Each page is parsed once per process.

**users** — what users see (:mod:`~wme_assets.devtools.fidelity_users`): all the categories and all the
templates of each record against the article wme builds, per source of its lists (wikitext, the dumps'
tables, the record's HTML), so that a regression in any of them shows beside the figures above.

:func:`format_report` prints the result as a table, one block per path; ``wme fidelity`` calls it.
"""

from __future__ import annotations

import json
import lzma
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from wme_assets.devtools import parser_goldens as PG
from wme_assets.enrichment.wikitext import WikiNames, WikitextFields, extract_wikitext_fields

__all__ = ["PATHS", "Metric", "RecordResult", "Report", "fidelity_report", "format_report", "load_records"]

PATHS = ("wikitext", "html", "users")
"""The blocks :func:`fidelity_report` can measure: the two extraction paths, and what users see."""

_PATH_TITLES = {
    "wikitext": "wikitext path: extract_wikitext_fields vs Enterprise's records (wme-articles, wme-sdk-testdata)",
    "html": "HTML path: html_fields vs Enterprise's parser goldens (wme-parser-testdata)",
    "users": "What users see: every category and template of Enterprise's records vs wme's articles, per source",
}
HTML_LABEL = "HTML, parser goldens"


# ==================================================================================================
# Results
# ==================================================================================================


@dataclass(slots=True)
class Metric:
    """One number of the report: ``value`` is a fraction (0–1) or, for ``unit="count"``, a count;
    ``None`` when nothing was comparable. ``n`` says over how many records (or cases) it was taken;
    ``path`` which extractor it measures (one of :data:`PATHS`)."""

    field: str
    metric: str
    value: float | None
    n: int
    note: str = ""
    unit: str = "ratio"
    path: str = "wikitext"


@dataclass(slots=True)
class RecordResult:
    """Per-record comparison details (for debugging a regression)."""

    source: str
    wiki: str
    title: str
    checks: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Report:
    metrics: list[Metric]
    records: list[RecordResult]

    def get(self, field_name: str, metric: str) -> float | None:
        for m in self.metrics:
            if m.field == field_name and m.metric == metric:
                return m.value
        raise KeyError(f"no metric {field_name}/{metric} in the report")


@dataclass(slots=True)
class _Record:
    source: str
    wiki: str
    title: str
    ns: int
    revision: int | None
    wikitext: str
    expected: dict


@dataclass(slots=True)
class _PRF:
    """Micro-averaged precision/recall over many records."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    records: int = 0

    def add(self, predicted: set[str], expected: set[str]) -> tuple[int, int, int]:
        tp, fp, fn = len(predicted & expected), len(predicted - expected), len(expected - predicted)
        self.tp, self.fp, self.fn, self.records = self.tp + tp, self.fp + fp, self.fn + fn, self.records + 1
        return tp, fp, fn

    def metrics(self, field_name: str, note: str = "", path: str = "wikitext", f1: bool = True) -> list[Metric]:
        p = self.tp / (self.tp + self.fp) if self.tp + self.fp else None
        r = self.tp / (self.tp + self.fn) if self.tp + self.fn else None
        f = 2 * p * r / (p + r) if p is not None and r is not None and p + r else None
        return [
            Metric(field_name, "precision", p, self.records, note, path=path),
            Metric(field_name, "recall", r, self.records, note, path=path),
            *([Metric(field_name, "F1", f, self.records, note, path=path)] if f1 else []),
        ]


# ==================================================================================================
# Loading the fixtures
# ==================================================================================================


def load_records(fixtures_dir: Path) -> list[_Record]:
    """The Enterprise article records with wikitext: wme-articles (12) + SDK test data (3)."""
    records: list[_Record] = []
    for path in sorted((fixtures_dir / "wme-articles").glob("*/*.json.xz")):
        with lzma.open(path, "rt", encoding="utf-8") as fh:
            records.append(_record("wme-articles", json.load(fh)))
    ndjson = fixtures_dir / "wme-sdk-testdata" / "testdata" / "articles.ndjson"
    if ndjson.exists():
        for line in ndjson.read_text(encoding="utf-8").splitlines():
            if line.strip():
                records.append(_record("wme-sdk", json.loads(line)))
    return records


def _record(source: str, data: dict) -> _Record:
    return _Record(
        source=source,
        wiki=data["is_part_of"]["identifier"],
        title=data["name"],
        ns=(data.get("namespace") or {}).get("identifier", 0),
        revision=(data.get("version") or {}).get("identifier"),
        wikitext=(data.get("article_body") or {}).get("wikitext") or "",
        expected=data,
    )


def _structured_contents(fixtures_dir: Path) -> dict[tuple[str, int], dict]:
    path = fixtures_dir / "wme-sdk-testdata" / "testdata" / "structured-contents.json"
    if not path.exists():
        return {}
    return {(r["is_part_of"]["identifier"], r["version"]["identifier"]): r
            for r in json.loads(path.read_text(encoding="utf-8"))}


def _golden(fixtures_dir: Path, kind: str) -> dict[tuple[str, str], dict]:
    """Golden row per ``(dbname, title)`` (first case of a title wins); the wiki comes from the
    Parsoid ``about=`` URI of the case's HTML file, the title from the case (``FR_`` prefix off)."""
    testdata = fixtures_dir / PG.TESTDATA_DIRNAME
    if not (testdata / "golden" / f"{kind}.jsonl.xz").exists():
        return {}
    rows = PG.load_golden(testdata, kind)
    out: dict[tuple[str, str], dict] = {}
    for case in PG.golden_cases(testdata):
        if case.wiki is None or case.case not in rows:
            continue
        title = case.title.removeprefix("FR_")
        out.setdefault((case.wiki, _fold_accents(title.replace("_", " "))), rows[case.case])
    return out


# ==================================================================================================
# Comparisons
# ==================================================================================================

_WS_RE = re.compile(r"\s+")
_TOKEN_RE = re.compile(r"\w+")


def _fold_accents(title: str) -> str:
    """Golden file names are ASCII ("Josephine_Baker"); record titles are not ("Joséphine Baker")."""
    import unicodedata

    return "".join(c for c in unicodedata.normalize("NFKD", title) if not unicodedata.combining(c))


def _norm_ws(text: str) -> str:
    return _WS_RE.sub(" ", text).strip()


def _token_f1(predicted: str, expected: str) -> float:
    p = Counter(t.casefold() for t in _TOKEN_RE.findall(predicted))
    e = Counter(t.casefold() for t in _TOKEN_RE.findall(expected))
    overlap = sum((p & e).values())
    if not p or not e:
        return 1.0 if p == e else 0.0
    precision, recall = overlap / sum(p.values()), overlap / sum(e.values())
    return 2 * precision * recall / (precision + recall) if overlap else 0.0


def _first_letter_pattern(text: str) -> str:
    first = re.escape(text[0])
    if text[0].upper() != text[0].lower():
        first = f"[{re.escape(text[0].upper())}{re.escape(text[0].lower())}]"
    rest = re.escape(text[1:]).replace(r"\ ", " ")
    return first + rest


def _literal_names(kind: str, expected: set[str], wikitext: str) -> set[str]:
    """The expected names the wikitext states literally (``[[Ns:Name``, ``{{Name`` / ``{{Ns:Name``),
    found with a plain regex independent of the extractor. Whitespace and underscores are loose;
    the first letter is case-insensitive as in MediaWiki."""
    flat = _WS_RE.sub(" ", wikitext.replace("_", " "))
    found: set[str] = set()
    for full in expected:
        prefix, _, rest = full.partition(":")
        if not rest:  # main-namespace transclusion {{:Page}}
            prefix, rest = "", full
        rest = rest.strip()
        if not rest:
            continue
        name = _first_letter_pattern(rest)
        if kind == "categories":
            pattern = r"\[\[ ?[^\[\]|:]+ ?: ?" + name + r" ?[\]|#]"
        elif prefix.casefold() in _MODULE_NAMESPACES:
            pattern = r"\{\{ ?#invoke ?: ?" + name + r" ?[|}]"
        elif not prefix:
            pattern = r"\{\{ ?: ?" + name + r" ?[|}#\n]"
        else:  # {{Name}} or {{Template:Name}} (any namespace spelling: the regex cannot know aliases)
            pattern = r"\{\{ ?(?:[^{}|:#]+ ?: ?)?" + name + r" ?[|}#\n]"
        if re.search(pattern, flat):
            found.add(full)
    return found


_MODULE_NAMESPACES = frozenset(("module", "modul", "módulo", "modulo", "модуль", "モジュール"))


def _image_name(content_url: str) -> str:
    name = unquote(content_url.rsplit("/", 1)[-1])
    if "/thumb/" in content_url:  # thumb URLs end with "220px-Name.jpg"; the name is the folder
        name = unquote(content_url.rsplit("/", 2)[-2])
    return name.replace("_", " ")


def _maintenance_vector(tags: dict | None) -> tuple[int, int, int, int]:
    tags = tags or {}
    return tuple(int(tags.get(k, 0)) for k in (
        "citation_needed_count", "pov_count", "clarification_needed_count", "update_count"))


def _section_names(sections: list[dict]) -> list[str]:
    names: list[str] = []
    for part in sections:
        if part.get("type") == "section":
            names.append(part.get("name", ""))
            names.extend(_section_names(part.get("has_parts") or []))
    return names


def _infobox_fields(parts: list[dict]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for part in parts:
        if part.get("type") == "field":
            out.append((part.get("name") or "", part.get("value") or ""))
        out.extend(_infobox_fields(part.get("has_parts") or []))
    return out


# ==================================================================================================
# The report
# ==================================================================================================


@dataclass(slots=True)
class _Tally:
    """Running totals for every metric while the records are compared."""

    abstract_exact: list[bool] = field(default_factory=list)
    abstract_ws: list[bool] = field(default_factory=list)
    abstract_f1: list[float] = field(default_factory=list)
    abstract_current: list[bool] = field(default_factory=list)  # exact match on today's production records
    categories_all: _PRF = field(default_factory=_PRF)
    categories_det: _PRF = field(default_factory=_PRF)
    templates_all: _PRF = field(default_factory=_PRF)
    templates_det: _PRF = field(default_factory=_PRF)
    # by the kind of list a record holds (see _API_LIST_NOTE), `templates` and `transcluded_templates`
    templates_parsoid: _PRF = field(default_factory=_PRF)
    transcluded_parsoid: _PRF = field(default_factory=_PRF)
    templates_api: _PRF = field(default_factory=_PRF)
    transcluded_api: _PRF = field(default_factory=_PRF)
    transcluded_api_det: _PRF = field(default_factory=_PRF)
    image_name: list[bool] = field(default_factory=list)
    image_url: list[bool] = field(default_factory=list)
    maintenance_exact: list[bool] = field(default_factory=list)
    maintenance_abs_error: int = 0
    characters: list[bool] = field(default_factory=list)
    sections_golden: _PRF = field(default_factory=_PRF)
    infobox_name: list[bool] = field(default_factory=list)
    infobox_field_names: _PRF = field(default_factory=_PRF)
    infobox_values: list[float] = field(default_factory=list)


def fidelity_report(fixtures_dir: str | Path, paths: Iterable[str] = PATHS) -> Report:
    """Compare the extractors of ``paths`` with the real Enterprise output under ``fixtures_dir``."""
    fixtures_dir = Path(fixtures_dir)
    paths = tuple(paths)
    unknown = set(paths) - set(PATHS)
    if unknown:
        raise ValueError(f"unknown path(s) {sorted(unknown)}: choose from {PATHS}")
    metrics: list[Metric] = []
    records: list[RecordResult] = []
    for path in PATHS:
        if path not in paths:
            continue
        if path == "wikitext":
            part = _wikitext_report(fixtures_dir)
        elif path == "users":
            from wme_assets.devtools.fidelity_users import users_report  # imports this module's types

            part = users_report(fixtures_dir)
        else:
            from wme_assets.devtools.fidelity_html import html_report  # imports this module's types

            part = html_report(fixtures_dir / PG.TESTDATA_DIRNAME)
        metrics += part.metrics
        records += part.records
    return Report(metrics, records)


def _wikitext_report(fixtures_dir: Path) -> Report:
    structured = _structured_contents(fixtures_dir)
    golden_sections = _golden(fixtures_dir, "sections")
    golden_infoboxes = _golden(fixtures_dir, "infoboxes")
    tally = _Tally()
    results: list[RecordResult] = []
    for record in load_records(fixtures_dir):
        names = WikiNames.for_wiki(record.wiki)
        fields = extract_wikitext_fields(record.wikitext, names, dbname=record.wiki, ns=record.ns)
        result = RecordResult(record.source, record.wiki, record.title)
        _compare_article(record, fields, tally, result)
        golden_key = (record.wiki, _fold_accents(record.title))
        if record.source == "wme-articles" and golden_key in golden_sections:
            _compare_golden_sections(fields, golden_sections[golden_key], tally, result)
        if record.source == "wme-articles" and golden_key in golden_infoboxes:
            _compare_golden_infobox(fields, golden_infoboxes[golden_key], tally, result)
        sc = structured.get((record.wiki, record.revision))
        if sc is not None and sc.get("infoboxes"):
            _compare_infoboxes(fields.infoboxes, sc["infoboxes"], tally, result)
        results.append(result)
    return Report(_metrics(tally), results)


def _compare_article(record: _Record, fields: WikitextFields, tally: _Tally, result: RecordResult) -> None:
    exp = record.expected
    if exp.get("abstract"):
        expected = exp["abstract"]
        tally.abstract_exact.append(fields.abstract == expected)
        tally.abstract_ws.append(_norm_ws(fields.abstract) == _norm_ws(expected))
        tally.abstract_f1.append(_token_f1(fields.abstract, expected))
        result.checks["abstract_exact"] = tally.abstract_exact[-1]
        if record.source == "wme-articles":
            tally.abstract_current.append(tally.abstract_exact[-1])
    for kind, det, everything in (("categories", tally.categories_det, tally.categories_all),
                                  ("templates", tally.templates_det, tally.templates_all)):
        if kind not in exp:
            continue
        expected = {x["name"] for x in exp[kind]}
        predicted = set(getattr(fields, kind))
        literal = _literal_names(kind, expected, record.wikitext)
        everything.add(predicted, expected)
        det.add(predicted & (literal | (predicted - expected)), literal)
        result.checks[kind] = {"missing": sorted(literal - predicted), "extra": sorted(predicted - expected),
                               "not_in_wikitext": len(expected - literal)}
        if kind == "templates":
            _compare_template_lists(record, fields, expected, literal, tally)
    if exp.get("image", {}).get("content_url"):
        expected_url = exp["image"]["content_url"]
        ours = fields.image or {}
        tally.image_name.append(_image_name(expected_url) == ours.get("name"))
        tally.image_url.append(expected_url == ours.get("content_url"))
        result.checks["image"] = (ours.get("name"), _image_name(expected_url))
    version = exp.get("version") or {}
    if "maintenance_tags" in version:
        ours_v, exp_v = _maintenance_vector(fields.maintenance_tags), _maintenance_vector(version["maintenance_tags"])
        tally.maintenance_exact.append(ours_v == exp_v)
        tally.maintenance_abs_error += sum(abs(a - b) for a, b in zip(ours_v, exp_v, strict=True))
        result.checks["maintenance_tags"] = (ours_v, exp_v)
    if "number_of_characters" in version:
        tally.characters.append(fields.number_of_characters == version["number_of_characters"])


def _compare_template_lists(record: _Record, fields: WikitextFields, expected: set[str], literal: set[str],
                            tally: _Tally) -> None:
    """Both template lists against each kind of record: the 2023-2025 records list what Parsoid marks
    (top-level transclusions); those that list a Module were built from MediaWiki's API
    (``prop=templates``: every depth, plus what templates call)."""
    names = WikiNames.for_wiki(record.wiki)
    api_list = any(names.split_title(t)[0] == 828 for t in expected)
    top, every = set(fields.templates), set(fields.transcluded_templates)
    if not api_list:
        tally.templates_parsoid.add(top, expected)
        tally.transcluded_parsoid.add(every, expected)
        return
    tally.templates_api.add(top, expected)
    tally.transcluded_api.add(every, expected)
    # what the page's wikitext decides: the listed names written in it, at any depth
    tally.transcluded_api_det.add(every & (literal | (every - expected)), literal)


def _compare_golden_sections(fields: WikitextFields, row: dict, tally: _Tally, result: RecordResult) -> None:
    expected = {p.get("Name") or "" for p in PG.iter_parts(PG.spew_parse(row["snapshot"]))
                if p.get("Type") == "section"}
    predicted = set(_section_names(fields.sections))
    tp, fp, fn = tally.sections_golden.add(predicted, expected)
    result.checks["sections_golden"] = {"tp": tp, "fp": fp, "fn": fn}


def _compare_golden_infobox(fields: WikitextFields, row: dict, tally: _Tally, result: RecordResult) -> None:
    parts = list(PG.iter_parts(PG.spew_parse(row["snapshot"])))
    boxes = [p.get("Name") or "" for p in parts if p.get("Type") == "infobox"]
    if not boxes:
        return
    # the fields of every infobox of the page, compared with our first one (as the structured contents)
    expected_fields = [{"type": "field", "name": p.get("Name") or "", "value": p.get("Value") or ""}
                       for p in parts if p.get("Type") == "field"]
    _compare_infoboxes(fields.infoboxes, [{"name": boxes[0], "has_parts": expected_fields}], tally, result)


def _compare_infoboxes(ours: list[dict], expected: list[dict], tally: _Tally, result: RecordResult) -> None:
    """Infobox name (the template, as written), field names (Enterprise shows rendered labels,
    the wikitext has parameter names) and field values."""
    first = expected[0]
    our_first = ours[0] if ours else {"name": "", "has_parts": []}
    tally.infobox_name.append(_norm_ws(first.get("name", "")).casefold() == _norm_ws(our_first["name"]).casefold())
    exp_fields = _infobox_fields(first.get("has_parts") or [])
    our_fields = _infobox_fields(our_first.get("has_parts") or [])
    tally.infobox_field_names.add({n.casefold() for n, _ in our_fields if n},
                                  {n.casefold() for n, _ in exp_fields if n})
    exp_values = [_norm_ws(v).casefold() for _, v in exp_fields if _norm_ws(v)]
    our_values = {_norm_ws(v).casefold() for _, v in our_fields}
    if exp_values:
        tally.infobox_values.append(sum(v in our_values for v in exp_values) / len(exp_values))
    result.checks.setdefault("infobox", []).append((first.get("name"), our_first["name"]))


def _rate(values: list[bool] | list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _metrics(t: _Tally) -> list[Metric]:
    m = [
        Metric("abstract", "exact match", _rate(t.abstract_exact), len(t.abstract_exact)),
        Metric("abstract", "whitespace-normalized match", _rate(t.abstract_ws), len(t.abstract_ws)),
        Metric("abstract", "mean token F1", _rate(t.abstract_f1), len(t.abstract_f1)),
        # The SDK's records are of 2018-2023: a leading space, list items joined by newlines, and text
        # that templates render (ruwiki's {{tr-en}}), which no wikitext parser can reproduce.
        Metric("abstract (current records)", "exact match", _rate(t.abstract_current), len(t.abstract_current),
               "the 2025 production records of wme-articles"),
    ]
    m += t.categories_all.metrics("categories (all)", "includes categories added by templates")
    m += t.categories_det.metrics("categories (wikitext-determined)", "expected ∩ literally in the wikitext")
    m += t.templates_all.metrics("templates (all)", "dewiki/simplewiki: API list with indirect templates+modules")
    m += t.templates_det.metrics("templates (wikitext-determined)", "expected ∩ literally in the wikitext")
    m += t.templates_parsoid.metrics("templates (Parsoid-list records)", "today's records: top-level transclusions")
    m += t.transcluded_parsoid.metrics("transcluded_templates (Parsoid-list records)",
                                       "every depth: more than these records list")
    m += t.templates_api.metrics("templates (API-list records)", "dewiki/simplewiki: MediaWiki's templatelinks")
    m += t.transcluded_api.metrics("transcluded_templates (API-list records)",
                                   "the rest: templates called by templates, modules")
    m += t.transcluded_api_det.metrics("transcluded_templates (API-list, wikitext-determined)",
                                       "expected ∩ literally in the wikitext")
    m += [
        Metric("image", "file name match", _rate(t.image_name), len(t.image_name),
               "Enterprise's page image may come from Wikidata or a template"),
        Metric("image", "content_url match", _rate(t.image_url), len(t.image_url), "Commons URL assumed"),
        Metric("maintenance_tags", "exact match", _rate(t.maintenance_exact), len(t.maintenance_exact)),
        Metric("maintenance_tags", "sum of abs errors", float(t.maintenance_abs_error),
               len(t.maintenance_exact), unit="count"),
        Metric("number_of_characters", "exact match", _rate(t.characters), len(t.characters)),
    ]
    m += t.sections_golden.metrics("section names (golden)", "golden = same title, older revision")
    m += [
        Metric("infobox", "name match", _rate(t.infobox_name), len(t.infobox_name),
               "structured contents + golden (older revisions)"),
    ]
    m += [x for x in t.infobox_field_names.metrics("infobox field names", "labels vs parameter names")
          if x.metric == "recall"]
    m += [Metric("infobox", "field value recall", _rate(t.infobox_values), len(t.infobox_values),
                 "expected values found among ours")]
    return m


def format_report(report: Report) -> str:
    """The metrics as a fixed-width table: a title line and a header per path, a blank line between."""
    header = ("field", "metric", "value", "n", "note")
    blocks: dict[str, list[tuple[str, str, str, str, str]]] = {}
    for m in report.metrics:
        if m.value is None:
            value = "—"
        elif m.unit == "count":
            value = f"{m.value:g}"
        else:
            value = f"{100 * m.value:.1f}%"
        blocks.setdefault(m.path, []).append((m.field, m.metric, value, str(m.n), m.note))
    rows = [header] + [row for block in blocks.values() for row in block]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]

    def line(r: tuple[str, ...]) -> str:
        return "  ".join(
            [r[0].ljust(widths[0]), r[1].ljust(widths[1]), r[2].rjust(widths[2]), r[3].rjust(widths[3]), r[4]]
        ).rstrip()

    lines: list[str] = []
    for path, block in blocks.items():
        if lines:
            lines.append("")
        lines += [_PATH_TITLES.get(path, path), line(header), "  ".join("-" * w for w in widths) + "  " + "-" * 4]
        lines += [line(r) for r in block]
    return "\n".join(lines)
