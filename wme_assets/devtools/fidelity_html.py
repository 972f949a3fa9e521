"""The HTML path of ``wme fidelity``: :func:`~wme_assets.enrichment.html.html_fields` on the Parsoid
pages of ``wme-parser-testdata`` against the outputs of Enterprise's Go parser for the same HTML (see
:mod:`wme_assets.devtools.fidelity` for the report as a whole)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from wme_assets.devtools import parser_goldens as PG
from wme_assets.devtools.fidelity import _PRF, HTML_LABEL, Metric, RecordResult, Report, _rate
from wme_assets.enrichment.html import HtmlPart

# (field label, note) of the exact-match rows, per parser function
_HTML_EXACT = {
    "abstract": "",
    "categories": "(name, URL) list",
    "templates": "(name, URL) list",
    "sections": "Part tree: name, type, value, values",
    "infoboxes": "Part tree: name, type, value, values",
    "images": "URL, alt text, caption, size",
    "links": "(URL, text) list",
    "text": "MD5 of the plain text",
}


def _html_parts(parts: list[HtmlPart]) -> Iterator[HtmlPart]:
    for part in parts:
        yield part
        yield from _html_parts(part.has_parts)


def html_report(testdata: Path) -> Report:
    """Exact-match rate per parser function and micro-averaged precision/recall of names, over the
    cases of ``wme-parser-testdata`` whose HTML is present."""
    cases = PG.parsed_cases(testdata)
    goldens = {function: PG.load_golden(testdata, function) for function in PG.FUNCTIONS}
    exact: dict[str, list[bool]] = {function: [] for function in PG.FUNCTIONS}
    names = {kind: _PRF() for kind in ("categories", "templates", "section names", "infobox field names")}
    results: list[RecordResult] = []
    for case, fields in cases:
        result = RecordResult(PG.TESTDATA_DIRNAME, case.wiki or "", case.title)
        parsed: dict[str, list] = {}
        for function in PG.FUNCTIONS:
            row = goldens[function][case.case]
            if "snapshot" in row and function not in ("abstract", "text"):
                parsed[function] = PG.spew_parse(row["snapshot"])
            ok = PG.ours(function, fields) == PG.expected(function, row, parsed.get(function))
            exact[function].append(ok)
            result.checks[function] = ok
        predicted_expected = {
            "categories": ({r.name for r in fields.categories}, {r["Name"] for r in parsed["categories"]}),
            "templates": ({r.name for r in fields.templates}, {r["Name"] for r in parsed["templates"]}),
            "section names": ({p.name for p in _html_parts(fields.sections) if p.type == "section"},
                              {p.get("Name") or "" for p in PG.iter_parts(parsed["sections"])
                               if p.get("Type") == "section"}),
            "infobox field names": ({p.name for p in _html_parts(fields.infoboxes) if p.type == "field"},
                                    {p.get("Name") or "" for p in PG.iter_parts(parsed["infoboxes"])
                                     if p.get("Type") == "field"}),
        }
        for kind, (predicted, expected) in predicted_expected.items():
            names[kind].add(predicted, expected)
            if predicted != expected:
                result.checks[f"{kind} (missing, extra)"] = (sorted(expected - predicted), sorted(predicted - expected))
        results.append(result)
    wikis = len({case.wiki for case, _ in cases if case.wiki})
    scope = f"{len(cases)} cases, {wikis} wikis"
    # name sets scored after a function's exact-match row: (function, field label, note)
    name_rows = {
        "categories": [("categories", "categories", "names, micro-averaged")],
        "templates": [("templates", "templates", "names, micro-averaged")],
        "sections": [("section names", "section names", "all levels, micro-averaged")],
        "infoboxes": [("infobox field names", "infobox field names", "labels, micro-averaged")],
    }
    metrics: list[Metric] = []
    for function, note in _HTML_EXACT.items():
        metrics.append(Metric(f"{function} ({HTML_LABEL})", "exact match", _rate(exact[function]),
                              len(exact[function]), f"{scope}; {note}" if note else scope, path="html"))
        for kind, label, prf_note in name_rows.get(function, ()):
            metrics += names[kind].metrics(f"{label} ({HTML_LABEL})", f"{scope}; {prf_note}", path="html", f1=False)
    return Report(metrics, results)
