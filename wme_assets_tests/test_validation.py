"""The compiled schema validator used on every snapshot line agrees with the reference implementation."""

import copy
import lzma

import jsonschema
import orjson
import pytest

from wme_assets.schema import load_json_schema
from wme_assets.schema.validate import RecordInvalid, line_validator, record_validator
from wme_assets_tests.paths import FIXTURES


@pytest.fixture(scope="module")
def enterprise_records() -> list[dict]:
    paths = sorted((FIXTURES / "wme-articles").glob("*/*.json.xz"))
    assert len(paths) >= 12, "the real Enterprise records are missing from the fixtures"
    return [orjson.loads(lzma.open(path).read()) for path in paths]


def _reference(kind: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(load_json_schema(kind))


def test_real_enterprise_records_validate(enterprise_records):
    validate, problems = record_validator("article"), line_validator("article")
    for record in enterprise_records:
        validate(record)
        assert problems(orjson.dumps(record)) == []


def _tampered(record: dict) -> list[tuple[str, dict]]:
    cases = []
    wrong_type = copy.deepcopy(record)
    wrong_type["identifier"] = "not a number"
    cases.append(("identifier", wrong_type))
    bad_time = copy.deepcopy(record)
    bad_time["date_modified"] = "yesterday"
    cases.append(("date_modified", bad_time))
    bad_nested = copy.deepcopy(record)
    bad_nested["version"]["editor"] = "someone"  # an object in the schema
    cases.append(("version/editor", bad_nested))
    unknown = copy.deepcopy(record)
    unknown["unknown_field"] = 1  # the schema is closed: a typo in a field name is an error
    cases.append(("(record)", unknown))
    return cases


def test_tampered_records_fail_with_the_field_path_and_agree_with_jsonschema(enterprise_records):
    validate, problems = record_validator("article"), line_validator("article")
    reference = _reference("article")
    record = enterprise_records[0]
    for path, bad in _tampered(record):
        assert list(reference.iter_errors(bad)), f"the reference validator accepts the tampered {path}"
        with pytest.raises(RecordInvalid) as caught:
            validate(bad)
        message = str(caught.value)
        assert message.startswith(path), message
        # The message names the field; it never carries the article body along.
        assert len(message) < 2_000
        assert any(p.startswith(path) for p in problems(orjson.dumps(bad)))


def test_lines_that_are_not_json_are_reported():
    assert line_validator("article")(b'{"name": ')[0].startswith("not JSON")
