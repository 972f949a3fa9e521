"""Fidelity of the wikitext extractor against real Wikimedia Enterprise output.

The floors are the numbers measured when the extractor was written, rounded down a little. They may
be raised when the extractor improves; never lower them to make a change pass.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from wme_assets.enrichment.fidelity import Report, fidelity_report, format_report

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"


@pytest.fixture(scope="module")
def report() -> Report:
    return fidelity_report(FIXTURES)


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
    ("image", "file name match", 0.69, 0.700),                      # 3/10 come from Wikidata/templates
    ("image", "content_url match", 0.69, 0.700),
    ("maintenance_tags", "exact match", 1.0, 1.000),
    ("number_of_characters", "exact match", 1.0, 1.000),
    ("section names (golden)", "F1", 0.85, 0.861),                  # older revisions: a lower bound
    ("infobox", "name match", 0.85, 0.857),
    ("infobox", "field value recall", 0.35, 0.384),
]


@pytest.mark.parametrize("field_name, metric, floor, measured", FLOORS)
def test_fidelity_floor(report, field_name, metric, floor, measured):
    value = report.get(field_name, metric)
    assert value is not None, f"{field_name}/{metric} had nothing to compare"
    assert value >= floor, f"{field_name}/{metric} = {value:.3f} fell below {floor} (was {measured})"


def test_maintenance_tags_have_no_errors(report):
    assert report.get("maintenance_tags", "sum of abs errors") == 0


def test_every_record_was_compared(report):
    assert len(report.records) == 15  # 12 wme-articles + 3 SDK articles
    compared = {m.field: m.n for m in report.metrics}
    assert compared["abstract"] == 12
    assert compared["categories (all)"] == 14
    assert compared["section names (golden)"] == 7


def test_format_report_is_a_table(report):
    text = format_report(report)
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["field", "metric", "value"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert any(line.startswith("abstract") and "%" in line for line in lines)
    assert len(lines) == len(report.metrics) + 2
