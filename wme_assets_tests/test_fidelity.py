"""Fidelity of the wikitext and HTML extractors against real Wikimedia Enterprise output.

The floors are the numbers measured when the extractors were written, rounded down a little. They may
be raised when an extractor improves; never lower them to make a change pass. The HTML path's
per-function exact-match floors are also asserted, with the misses printed, in test_html_enrichment.py.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from wme_assets.devtools.fidelity import Report, fidelity_report, format_report
from wme_assets_tests.paths import FIXTURES


@pytest.fixture(scope="module")
def report() -> Report:
    return fidelity_report(FIXTURES)  # both paths; the HTML pages are parsed once per process


# (field, metric, floor, measured when written)
FLOORS = [
    ("abstract", "exact match", 0.74, 0.750),                       # 9/12 (the 3 SDK records are 2023 format)
    ("abstract", "whitespace-normalized match", 0.91, 0.917),
    ("abstract", "mean token F1", 0.99, 0.996),
    ("abstract (current records)", "exact match", 1.0, 1.0),         # 9/9 of the 2025 production records
    ("categories (all)", "precision", 0.99, 1.000),
    ("categories (all)", "recall", 0.48, 0.493),                    # the rest is added by templates
    ("categories (wikitext-determined)", "precision", 0.99, 1.000),
    ("categories (wikitext-determined)", "recall", 0.99, 1.000),
    ("templates (all)", "precision", 0.99, 0.996),
    ("templates (all)", "recall", 0.75, 0.765),
    ("templates (wikitext-determined)", "precision", 0.99, 0.996),
    ("templates (wikitext-determined)", "recall", 0.98, 0.988),
    ("templates (Parsoid-list records)", "F1", 0.99, 0.997),        # today's records: top level
    ("transcluded_templates (API-list, wikitext-determined)", "precision", 1.0, 1.0),  # MediaWiki's lists
    ("transcluded_templates (API-list, wikitext-determined)", "recall", 1.0, 1.0),
    ("image", "file name match", 0.69, 0.700),                      # 3/10 come from Wikidata/templates
    ("image", "content_url match", 0.69, 0.700),
    ("maintenance_tags", "exact match", 1.0, 1.000),
    ("number_of_characters", "exact match", 1.0, 1.000),
    ("section names (golden)", "F1", 0.85, 0.861),                  # older revisions: a lower bound
    ("infobox", "name match", 0.85, 0.857),
    ("infobox", "field value recall", 0.35, 0.384),
    # HTML path: html_fields vs Enterprise's parser goldens, 86 cases
    ("abstract (HTML, parser goldens)", "exact match", 1.0, 1.0),              # 86/86
    ("categories (HTML, parser goldens)", "exact match", 1.0, 1.0),
    ("categories (HTML, parser goldens)", "precision", 1.0, 1.0),
    ("categories (HTML, parser goldens)", "recall", 1.0, 1.0),
    ("templates (HTML, parser goldens)", "exact match", 1.0, 1.0),
    ("templates (HTML, parser goldens)", "precision", 1.0, 1.0),
    ("templates (HTML, parser goldens)", "recall", 1.0, 1.0),
    ("sections (HTML, parser goldens)", "exact match", 1.0, 1.0),
    ("section names (HTML, parser goldens)", "precision", 1.0, 1.0),
    ("section names (HTML, parser goldens)", "recall", 1.0, 1.0),
    ("infoboxes (HTML, parser goldens)", "exact match", 1.0, 1.0),
    ("infobox field names (HTML, parser goldens)", "precision", 1.0, 1.0),
    ("infobox field names (HTML, parser goldens)", "recall", 1.0, 1.0),
    ("images (HTML, parser goldens)", "exact match", 1.0, 1.0),
    ("links (HTML, parser goldens)", "exact match", 1.0, 1.0),
    ("text (HTML, parser goldens)", "exact match", 84 / 86, 84 / 86),      # Toyota, Sablon:Infokutija_filozof
    # What users see: every category and template of the 14 records that list them, per source of wme's lists
    ("categories, all (wikitext)", "precision", 0.99, 1.000),
    ("categories, all (wikitext)", "recall", 0.48, 0.493),           # the rest is added by templates
    ("categories, all (tables)", "precision", 1.0, 1.0),             # tables made from the records: the path
    ("categories, all (tables)", "recall", 1.0, 1.0),
    ("categories, all (HTML)", "precision", 0.92, 0.927),            # simplewiki's 2022 record: no hidden ones
    ("categories, all (HTML)", "recall", 1.0, 1.0),
    ("templates, all (wikitext)", "precision", 0.99, 0.996),
    ("templates, all (wikitext)", "recall", 0.75, 0.765),
    ("templates, all (tables)", "precision", 1.0, 1.0),
    ("templates, all (tables)", "recall", 1.0, 1.0),
    ("templates, all (HTML)", "precision", 1.0, 1.0),
    ("templates, all (HTML)", "recall", 0.76, 0.766),               # API-list records: nested templates, modules
]


@pytest.mark.parametrize("field_name, metric, floor, measured", FLOORS)
def test_fidelity_floor(report, field_name, metric, floor, measured):
    value = report.get(field_name, metric)
    assert value is not None, f"{field_name}/{metric} had nothing to compare"
    assert value >= floor, f"{field_name}/{metric} = {value:.3f} fell below {floor} (was {measured})"


def test_maintenance_tags_have_no_errors(report):
    assert report.get("maintenance_tags", "sum of abs errors") == 0


def test_every_record_was_compared(report):
    sources = [r.source for r in report.records]
    # 12 wme-articles + 3 SDK articles, once for the wikitext path and once for what users see
    assert len([s for s in sources if s != "wme-parser-testdata"]) == 2 * 15
    assert sources.count("wme-parser-testdata") == 86  # 87 parser test cases, 86 with their HTML
    compared = {m.field: m.n for m in report.metrics}
    assert compared["abstract"] == 12
    assert compared["categories (all)"] == 14
    assert compared["section names (golden)"] == 7
    assert compared["templates (Parsoid-list records)"] == 12 and compared["templates (API-list records)"] == 2
    html = [m for m in report.metrics if m.path == "html"]
    assert len(html) == 16 and all(m.n == 86 and "(HTML, parser goldens)" in m.field for m in html)
    assert all(m.note.startswith("86 cases, 9 wikis") for m in html)
    users = [m for m in report.metrics if m.path == "users"]
    assert len(users) == 2 * 3 * 3 and all(m.n == 14 for m in users)  # (kind, source) x (P, R, F1)
    assert {m.field for m in users} == {f"{kind}, all ({source})" for kind in ("categories", "templates")
                                        for source in ("wikitext", "tables", "HTML")}


def test_one_path_only():
    wikitext = fidelity_report(FIXTURES, ["wikitext"])
    assert {m.path for m in wikitext.metrics} == {"wikitext"} and len(wikitext.records) == 15
    html = fidelity_report(FIXTURES, ["html"])  # cached parse: fast after the report fixture
    assert {m.path for m in html.metrics} == {"html"} and len(html.records) == 86
    with pytest.raises(ValueError, match="unknown path"):
        fidelity_report(FIXTURES, ["json"])


def test_format_report_is_a_table(report):
    text = format_report(report)
    blocks = text.split("\n\n")
    assert len(blocks) == 3  # wikitext path, HTML path, what users see
    for block, path in zip(blocks, ("wikitext", "html", "users"), strict=True):
        lines = block.splitlines()
        assert lines[0].lower().startswith(f"{path} path" if path != "users" else "what users see")
        assert lines[1].split()[:3] == ["field", "metric", "value"]
        assert set(lines[2].replace(" ", "")) == {"-"}
        assert len(lines) == len([m for m in report.metrics if m.path == path]) + 3
    assert any(line.startswith("abstract ") and "%" in line for line in blocks[0].splitlines())
    # columns line up across both blocks
    header_lines = [ln for ln in text.splitlines() if ln.startswith("field ")]
    assert len(header_lines) == 3 and len(set(header_lines)) == 1


def test_cli_prints_the_html_rows():
    from wme_assets.cli import app

    done = CliRunner().invoke(app, ["fidelity", "--fixtures", str(FIXTURES), "--path", "html"])
    assert done.exit_code == 0, done.output
    lines = done.output.splitlines()
    assert lines[0].startswith("HTML path")
    assert not any(line.startswith("abstract  ") or line.startswith("wikitext path") for line in lines)
    for label in ("abstract", "categories", "templates", "sections", "infoboxes", "images", "links", "text"):
        row = next(ln for ln in lines if ln.startswith(f"{label} (HTML, parser goldens)") and "exact match" in ln)
        assert "%" in row and " 86  86 cases, 9 wikis" in row
    assert any(ln.startswith("abstract (HTML, parser goldens)") and "100.0%" in ln for ln in lines)
    assert any(ln.startswith("section names (HTML, parser goldens)") and "recall" in ln for ln in lines)
    assert any(ln.startswith("infobox field names (HTML, parser goldens)") and "precision" in ln for ln in lines)

    bad = CliRunner().invoke(app, ["fidelity", "--fixtures", str(FIXTURES), "--path", "xml"])
    assert bad.exit_code == 2


def test_what_users_see_shows_a_regression_of_each_source(monkeypatch):
    """Each source's figures come from the articles wme builds: a source that loses its lists drops below its
    floor (here the tables' templates and the HTML's categories, each broken in turn)."""
    import dataclasses

    import wme_assets.enrichment.html as html
    import wme_assets.enrichment.table_fields as table_fields

    healthy = fidelity_report(FIXTURES, ["users"])
    apply = table_fields.apply_table_fields
    monkeypatch.setattr(table_fields, "apply_table_fields",
                        lambda record, fields, joined, site: apply(record, fields, {**joined, "templates": []}, site))
    broken = fidelity_report(FIXTURES, ["users"])
    assert healthy.get("templates, all (tables)", "recall") == 1.0
    assert broken.get("templates, all (tables)", "recall") < 0.8
    assert broken.get("categories, all (tables)", "recall") == 1.0
    assert broken.get("templates, all (HTML)", "recall") == healthy.get("templates, all (HTML)", "recall")
    monkeypatch.undo()

    fields = html.html_fields

    def without_categories(*args, **kwargs):
        return dataclasses.replace(fields(*args, **kwargs), categories=[])

    monkeypatch.setattr(html, "html_fields", without_categories)
    broken = fidelity_report(FIXTURES, ["users"])
    assert broken.get("categories, all (HTML)", "recall") < 0.6
    assert broken.get("categories, all (tables)", "recall") == 1.0


def test_cli_prints_what_users_see():
    from wme_assets.cli import app

    done = CliRunner().invoke(app, ["fidelity", "--fixtures", str(FIXTURES), "--path", "users"])
    assert done.exit_code == 0, done.output
    lines = done.output.splitlines()
    assert lines[0].startswith("What users see")
    for source in ("wikitext", "tables", "HTML"):
        for kind in ("categories", "templates"):
            assert any(ln.startswith(f"{kind}, all ({source})") and "F1" in ln and "%" in ln for ln in lines)
