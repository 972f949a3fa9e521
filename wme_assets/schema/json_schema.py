"""The published JSON Schema files of our records: generating them from the models, loading, checking.

The files live in ``jsonschema/`` beside this module, one per record kind and :data:`RECORD_SCHEMA_VERSION`
(``article-1.0.0.schema.json``); a published version is immutable. ``python -m wme_assets.schema --write``
(:func:`main`) regenerates them, ``--check`` fails when they are stale. (The module is not named ``jsonschema``
so that it cannot be mistaken for the folder of files, or for the ``jsonschema`` package the tests use.)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pydantic.json_schema import GenerateJsonSchema

from .article import Article
from .base import RECORD_SCHEMA_VERSION, EnterpriseModel
from .metadata import Snapshot
from .structured import StructuredContent

SCHEMAS_DIR = Path(__file__).parent / "jsonschema"

SCHEMA_MODELS: dict[str, type[EnterpriseModel]] = {
    "article": Article,
    "structured-content": StructuredContent,
    "snapshot": Snapshot,
}
"""Published JSON Schemas: file stem → model (chunk and batch metadata validate against `snapshot`)."""


class _OutputSchema(GenerateJsonSchema):
    """JSON Schema of what we write: absent instead of null, no per-field titles."""

    def nullable_schema(self, schema):
        return self.generate_inner(schema["schema"])

    def default_schema(self, schema):
        json_schema = super().default_schema(schema)
        if "default" in json_schema and json_schema["default"] is None:
            del json_schema["default"]
        return json_schema

    def field_title_should_be_set(self, schema) -> bool:
        return False


def schema_id(kind: str, version: str = RECORD_SCHEMA_VERSION) -> str:
    """The `$id` of a published schema, e.g. `urn:wme:schema:article:1.0.0`."""
    return f"urn:wme:schema:{kind}:{version}"


def schema_path(kind: str, version: str = RECORD_SCHEMA_VERSION) -> Path:
    """Path of a committed schema file, e.g. `jsonschema/article-1.0.0.schema.json`."""
    return SCHEMAS_DIR / f"{kind}-{version}.schema.json"


def generate_json_schema(kind: str = "article") -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of our serialization of one record kind of :data:`SCHEMA_MODELS`."""
    model = SCHEMA_MODELS[kind]
    body = model.model_json_schema(by_alias=True, mode="serialization", schema_generator=_OutputSchema)
    head = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": schema_id(kind),
        "version": RECORD_SCHEMA_VERSION,
    }
    return head | body


def load_json_schema(kind: str = "article", version: str = RECORD_SCHEMA_VERSION) -> dict[str, Any]:
    """A committed JSON Schema file."""
    return json.loads(schema_path(kind, version).read_text(encoding="utf-8"))


def _schema_text(kind: str) -> str:
    return json.dumps(generate_json_schema(kind), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m wme_assets.schema",
        description=f"Write or check the committed JSON Schema files of version {RECORD_SCHEMA_VERSION}.",
    )
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help="(re)generate the schema files")
    action.add_argument("--check", action="store_true", help="fail if a committed file is missing or stale")
    parser.add_argument(
        "--force",
        action="store_true",
        help="with --write: overwrite a differing file of this version (unreleased versions only)",
    )
    args = parser.parse_args(argv)
    problems = []
    for kind in SCHEMA_MODELS:
        path, text = schema_path(kind), _schema_text(kind)
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current is not None and json.loads(current) == json.loads(text):
            continue
        if args.check or (current is not None and not args.force):
            state = "missing" if current is None else "differs from the models"
            problems.append(f"{path.name} {state}")
            continue
        SCHEMAS_DIR.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    if problems:
        hint = (
            "a published schema version is immutable: bump RECORD_SCHEMA_VERSION and run "
            "python -m wme_assets.schema --write (--force rewrites a version never released)"
        )
        print("\n".join(problems) + f"\n{hint}", file=sys.stderr)
        return 1
    return 0

