"""Tests of the Enterprise schema models (wme_assets.schema) on real Enterprise records.

Real records: ``../shared/fixtures/wme-articles`` (12 article JSONs of Enterprise's mock dataset) and
``../shared/fixtures/wme-sdk-testdata`` (3 NDJSON articles, 7 Structured Contents records, snapshot,
chunk and batch metadata, project/language/namespace/code metadata), all copied from Enterprise's repos.
"""

from __future__ import annotations

import lzma
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import jsonschema
import orjson
import pytest

from wme_assets import schema
from wme_assets.schema import (
    RECORD_SCHEMA_VERSION,
    SCHEMA_MODELS,
    Article,
    Batch,
    Chunk,
    Code,
    Delta,
    Event,
    Language,
    MaintenanceTags,
    Namespace,
    Project,
    Provenance,
    ReferenceNeed,
    ReferenceRisk,
    Size,
    Snapshot,
    StructuredContent,
    TableReference,
    Version,
    Visibility,
    WmeExtensions,
    content_hash,
    generate_json_schema,
    load_json_schema,
    to_dict,
    to_json_bytes,
)
from wme_assets_tests.paths import FIXTURES

ARTICLES_DIR = FIXTURES / "wme-articles"
SDK_DIR = FIXTURES / "wme-sdk-testdata"
TESTDATA = SDK_DIR / "testdata"


def _load(path: Path):
    opener = lzma.open if path.suffix == ".xz" else open
    with opener(path, "rb") as fh:
        return orjson.loads(fh.read())


def _records(path: Path) -> list[dict]:
    data = _load(path)
    return data if isinstance(data, list) else [data]


def _cases(pairs):
    return [
        pytest.param(record, id=f"{path.name}[{i}]")
        for path in pairs
        for i, record in enumerate(_records(path))
    ]


ARTICLE_FILES = sorted(ARTICLES_DIR.glob("*/*.json.xz"))
NDJSON_LINES = (TESTDATA / "articles.ndjson").read_bytes().splitlines()
ARTICLE_RECORDS = [
    pytest.param(_load(p), id=f"{p.parent.name}/{p.name.removesuffix('.json.xz')}") for p in ARTICLE_FILES
] + [pytest.param(orjson.loads(line), id=f"articles.ndjson[{i}]") for i, line in enumerate(NDJSON_LINES)]
STRUCTURED_RECORDS = _cases(
    [TESTDATA / "structured-contents.json", *sorted((SDK_DIR / "structured-contents-examples").glob("*.xz"))]
)
FILE_METADATA = {
    Snapshot: [
        "snapshot.json",
        "snapshots.json.xz",
        "structured-contents-snapshot.json",
        "structured-contents-snapshots.json",
    ],
    Chunk: ["chunk.json", "chunks.json"],
    Batch: ["batch.json", "batches.json.xz"],
}
ENDPOINT_METADATA = {
    Project: ["project.json", "projects.json.xz"],
    Language: ["language.json", "languages.json.xz"],
    Namespace: ["namespace.json", "namespaces.json"],
    Code: ["code.json", "codes.json"],
}


def _differences(expected, actual, path="$") -> list[str]:
    """Paths where two parsed JSON values differ (for readable assertion messages)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        out = [f"{path}.{k}: missing in output" for k in expected.keys() - actual.keys()]
        out += [f"{path}.{k}: not in the original" for k in actual.keys() - expected.keys()]
        for key in expected.keys() & actual.keys():
            out += _differences(expected[key], actual[key], f"{path}.{key}")
        return out
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        return [
            d for i, (e, a) in enumerate(zip(expected, actual, strict=True)) for d in _differences(e, a, f"{path}[{i}]")
        ]
    return [] if expected == actual else [f"{path}: {str(expected)[:80]!r} != {str(actual)[:80]!r}"]


def _assert_round_trip(model_cls, record: dict, expected: dict | None = None):
    model = model_cls.model_validate(record)
    data = to_json_bytes(model)
    diffs = _differences(record if expected is None else expected, orjson.loads(data))
    assert not diffs, "serialization differs from the original:\n" + "\n".join(sorted(diffs)[:20])
    assert model_cls.model_validate_json(data) == model
    return model


def test_fixtures_are_all_there():
    assert len(ARTICLE_FILES) == 12
    assert len(NDJSON_LINES) == 3
    assert len(STRUCTURED_RECORDS) == 7
    # articles.json is the same 3 records as the NDJSON, as one array
    assert _load(TESTDATA / "articles.json") == [orjson.loads(line) for line in NDJSON_LINES]


# --- real records: parse, serialize, compare --------------------------------------------------------


@pytest.mark.parametrize("record", ARTICLE_RECORDS)
def test_real_article_round_trips(record):
    model = _assert_round_trip(Article, record)
    assert list(orjson.loads(to_json_bytes(model))) == list(record), "top-level key order is Enterprise's"
    assert model.wme is None


@pytest.mark.parametrize("index", range(3))
def test_ndjson_article_is_byte_identical_with_go_escaping(index):
    line = NDJSON_LINES[index]
    model = Article.model_validate_json(line)
    assert to_json_bytes(model, escape_html=True) == line
    assert orjson.loads(to_json_bytes(model)) == orjson.loads(line)


@pytest.mark.parametrize("record", STRUCTURED_RECORDS)
def test_real_structured_content_round_trips(record):
    _assert_round_trip(StructuredContent, record)


def _truncate_nanoseconds(value):
    """Python datetimes keep microseconds: `…26.941150359Z` comes back as `…26.94115Z`."""
    if isinstance(value, dict):
        return {k: _truncate_nanoseconds(v) for k, v in value.items()}
    if isinstance(value, str) and (m := re.fullmatch(r"(.*T\d\d:\d\d:\d\d)\.(\d+)Z", value)):
        fraction = m.group(2)[:6].rstrip("0")
        return f"{m.group(1)}.{fraction}Z" if fraction else f"{m.group(1)}Z"
    return value


@pytest.mark.parametrize(
    "model_cls,name", [(cls, name) for cls, names in FILE_METADATA.items() for name in names]
)
def test_real_file_metadata_round_trips(model_cls, name):
    records = _records(TESTDATA / name)
    assert records
    for record in records:
        model = _assert_round_trip(model_cls, record, expected=_truncate_nanoseconds(record))
        assert model.namespace is not None and model.size.unit_text == "MB"


@pytest.mark.parametrize(
    "model_cls,name", [(cls, name) for cls, names in ENDPOINT_METADATA.items() for name in names]
)
def test_real_endpoint_metadata_round_trips(model_cls, name):
    for record in _records(TESTDATA / name):
        _assert_round_trip(model_cls, record)


def test_namespace_zero_and_explicit_empty_objects_survive():
    """Real records carry `namespace.identifier: 0` and `maintenance_tags: {}` / `scores: {}` explicitly."""
    josephine = _load(ARTICLES_DIR / "enwiki" / "Josephine_Baker.json.xz")
    assert josephine["namespace"] == {"identifier": 0} and josephine["version"]["maintenance_tags"] == {}
    out = to_dict(Article.model_validate(josephine))
    assert out["namespace"] == {"identifier": 0}
    assert out["version"]["maintenance_tags"] == {}


def test_real_timestamps_keep_their_text():
    baker = Article.model_validate(_load(ARTICLES_DIR / "enwiki" / "Josephine_Baker.json.xz"))
    assert baker.date_modified == datetime(2025, 1, 24, 11, 49, 16, tzinfo=UTC)
    out = to_dict(baker)
    assert out["date_modified"] == "2025-01-24T11:49:16Z"
    assert out["event"]["date_created"] == "2025-01-24T11:49:25.206589Z"


# --- JSON Schema ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", SCHEMA_MODELS)
def test_committed_json_schema_is_current(kind):
    path = schema.schema_path(kind)
    assert path.name == f"{kind}-{RECORD_SCHEMA_VERSION}.schema.json"
    assert path.exists(), "run: python -m wme_assets.schema --write"
    committed = load_json_schema(kind)
    assert committed == generate_json_schema(kind), (
        "the models changed: bump RECORD_SCHEMA_VERSION and run python -m wme_assets.schema --write"
    )
    assert committed["$id"] == f"urn:wme:schema:{kind}:{RECORD_SCHEMA_VERSION}"
    assert committed["version"] == RECORD_SCHEMA_VERSION
    jsonschema.Draft202012Validator.check_schema(committed)


def test_schema_cli_check_passes():
    assert schema.main(["--check"]) == 0


def test_schema_version_is_semver():
    assert re.fullmatch(r"\d+\.\d+\.\d+", RECORD_SCHEMA_VERSION)


def _validator(kind: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(load_json_schema(kind))


def _assert_valid(validator, record):
    errors = sorted(validator.iter_errors(record), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message[:200]}" for e in errors[:10])


@pytest.mark.parametrize("record", ARTICLE_RECORDS)
def test_real_article_validates_against_committed_schema(record):
    _assert_valid(_validator("article"), record)


@pytest.mark.parametrize("record", STRUCTURED_RECORDS)
def test_real_structured_content_validates_against_committed_schema(record):
    _assert_valid(_validator("structured-content"), record)


@pytest.mark.parametrize("name", [name for names in FILE_METADATA.values() for name in names])
def test_real_file_metadata_validates_against_committed_schema(name):
    validator = _validator("snapshot")
    for record in _records(TESTDATA / name):
        _assert_valid(validator, record)


def test_schema_rejects_unmodelled_fields_nulls_and_offsets():
    """The schema is strict, which is what makes the validation above prove every real field is modelled."""
    validator = _validator("article")
    record = orjson.loads(NDJSON_LINES[0])
    assert validator.is_valid(record)
    assert not validator.is_valid(record | {"unknown_field": 1})
    assert not validator.is_valid(record | {"version": record["version"] | {"sizes": {}}})
    assert not validator.is_valid(record | {"image": None})
    assert not validator.is_valid(record | {"date_modified": "2023-08-24T10:00:00+02:00"})
    assert not validator.is_valid(record | {"namespace": {}})  # identifier is always written


def test_our_output_with_extensions_validates():
    model = Article.model_validate(orjson.loads(NDJSON_LINES[1]))
    model.wme = WmeExtensions(
        is_disambiguation=True,
        provenance=Provenance(
            dump_file="enwiki-20230820-pages-articles-multistream.xml.bz2",
            revision_id=model.version.identifier,
            parser_version="0.1.0",
            schema_version=RECORD_SCHEMA_VERSION,
            run_id="8f5c1a2e-0d4b-4c1e-9a57-3f2b6f1d9e10",
            content_hash=content_hash(model),
        ),
    )
    _assert_valid(_validator("article"), to_dict(model))


# --- serialization rules ----------------------------------------------------------------------------


def test_zero_values_are_omitted_like_go_omitempty():
    article = Article(
        name="",
        identifier=0,
        watchers_count=0,
        categories=[],
        version=Version(identifier=1, is_minor_edit=False, tags=[], comment=""),
        image=None,
    )
    assert to_json_bytes(article) == b'{"version":{"identifier":1}}'
    assert to_json_bytes(Article()) == b"{}"


def test_present_objects_are_written_even_when_empty():
    version = Version(maintenance_tags=MaintenanceTags(), size=Size())
    assert to_dict(version) == {"size": {}, "maintenance_tags": {}}


def test_fields_enterprise_always_writes():
    assert to_dict(Namespace(identifier=0)) == {"identifier": 0}
    assert to_dict(Visibility(text=False, editor=False, comment=False)) == {
        "text": False,
        "editor": False,
        "comment": False,
    }
    delta = Delta(increase=0, decrease=0, sum=0, proportional_increase=0.0, proportional_decrease=0.5)
    assert to_json_bytes(delta) == (
        b'{"increase":0,"decrease":0,"sum":0,"proportional_increase":0,"proportional_decrease":0.5}'
    )
    assert to_dict(ReferenceRisk(reference_risk_score=0.0)) == {"reference_risk_score": 0}
    assert to_dict(ReferenceNeed(reference_need_score=0.25)) == {"reference_need_score": 0.25}
    # Go pointer scalars: absent when unset, written when set, even to zero
    assert to_dict(Event(partition=0, offset=0)) == {"partition": 0, "offset": 0}
    assert to_dict(Event()) == {}
    assert to_dict(TableReference(identifier="t1", confidence_score=0.0)) == {
        "identifier": "t1",
        "confidence_score": 0,
    }


def test_timestamps_are_rfc3339_utc_with_z():
    utc = UTC
    cases = {
        datetime(2025, 1, 24, 11, 49, 16, tzinfo=utc): "2025-01-24T11:49:16Z",
        datetime(2025, 1, 24, 11, 49, 25, 206589, tzinfo=utc): "2025-01-24T11:49:25.206589Z",
        datetime(2025, 1, 24, 11, 49, 25, 206500, tzinfo=utc): "2025-01-24T11:49:25.2065Z",
        datetime(2025, 1, 24, 13, 49, 16, tzinfo=timezone(timedelta(hours=2))): "2025-01-24T11:49:16Z",
        datetime(2025, 1, 24, 11, 49, 16): "2025-01-24T11:49:16Z",  # naive: taken as UTC
        datetime(1, 1, 1, tzinfo=utc): "0001-01-01T00:00:00Z",
    }
    for value, text in cases.items():
        assert to_dict(Article(date_modified=value)) == {"date_modified": text}
        assert Article.model_validate_json(to_json_bytes(Article(date_modified=value))).date_modified == (
            value if value.tzinfo else value.replace(tzinfo=utc)
        )


def test_integral_floats_are_written_like_go():
    assert to_json_bytes(Size(value=129374.0, unit_text="B")) == b'{"value":129374,"unit_text":"B"}'
    assert to_json_bytes(Size(value=17.65, unit_text="MB")) == b'{"value":17.65,"unit_text":"MB"}'
    assert Size.model_validate_json(b'{"value":322.660273e0}').value == 322.660273


def test_unknown_input_fields_are_ignored_and_not_written():
    article = Article.model_validate({"name": "X", "future_field": {"a": 1}, "version": {"new": True}})
    assert to_dict(article) == {"name": "X", "version": {}}


def test_extensions_live_in_one_object_and_do_not_touch_enterprise_fields():
    record = orjson.loads(NDJSON_LINES[0])
    model = Article.model_validate(record)
    plain_hash = content_hash(model)
    model.wme = WmeExtensions(is_redirect=False, is_disambiguation=True, provenance=Provenance(revision_id=7))
    out = to_dict(model)
    assert out.pop(schema.EXTENSION_FIELD) == {"is_disambiguation": True, "provenance": {"revision_id": 7}}
    assert out == record
    assert content_hash(model) == plain_hash and plain_hash.startswith("sha256:") and len(plain_hash) == 71
    assert list(Article.model_fields)[-1] == "wme" and list(StructuredContent.model_fields)[-1] == "wme"


def test_legacy_article_sections_are_kept_apart_from_sections():
    montreal = _records(SDK_DIR / "structured-contents-examples" / "response_i.json.xz")[1]
    model = StructuredContent.model_validate(montreal)
    assert model.article_sections and not model.sections
    assert model.article_sections[0].has_parts  # recursive parts
    assert "article_sections" in load_json_schema("structured-content")["properties"]
    assert load_json_schema("structured-content")["properties"]["article_sections"]["deprecated"] is True


def test_every_model_field_has_a_description():
    for kind in SCHEMA_MODELS:
        generated = generate_json_schema(kind)
        for name, definition in [("(root)", generated), *generated["$defs"].items()]:
            assert definition.get("description"), f"{kind}: {name} has no docstring"
            for field, spec in definition["properties"].items():
                assert spec.get("description"), f"{kind}: {name}.{field} has no docstring"


def test_every_listed_name_resolves_and_page_records_load_alone():
    assert sorted(schema.__all__) == sorted(schema._SUBMODULE_OF)
    assert all(getattr(schema, name) is not None for name in schema.__all__)
    code = "import sys, wme_assets.schema.page; print('pydantic' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False", "schema.page must not load the pydantic models (parse workers import it)"
