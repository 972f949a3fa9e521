"""Checking articles against the committed JSON Schema (the contract consumers rely on)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from functools import lru_cache

import orjson
import pyarrow.parquet as pq
from jsonschema import Draft202012Validator

from wme_assets.enrichment.schema import load_json_schema
from wme_assets.storage.article_store import read_base_manifest
from wme_assets.storage.object_store import ObjectStore
from wme_assets.storage.parquet_dataset import cached_files


@lru_cache(maxsize=4)
def _validator(kind: str) -> Draft202012Validator:
    return Draft202012Validator(load_json_schema(kind), format_checker=Draft202012Validator.FORMAT_CHECKER)


def line_validator(kind: str = "article") -> Callable[[bytes], list[str]]:
    """A function returning the problems of one NDJSON line (empty when it parses and validates)."""
    validator = _validator(kind)

    def problems(line: bytes) -> list[str]:
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            return [f"not JSON: {exc}"]
        return [
            f"{'/'.join(map(str, error.absolute_path)) or '(record)'}: {error.message}"
            for error in validator.iter_errors(record)
        ]

    return problems


def validate_article_sample(store: ObjectStore, project: str, date: str, *, sample: int = 1000) -> list[str]:
    """Validate up to ``sample`` articles of the base ``date``, spread evenly over it; returns problems."""
    manifest = read_base_manifest(store, project, date)
    total = manifest.get("rows", 0)
    if not total:
        return []
    step = max(1, total // sample)
    check = line_validator("article")
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="wme-validate-") as tmp:
        index = 0
        for path in cached_files(store, manifest, tmp):
            for batch in pq.ParquetFile(path).iter_batches(columns=["page_id", "article"], batch_size=2000):
                ids, lines = batch.column(0).to_pylist(), batch.column(1).to_pylist()
                for page_id, line in zip(ids, lines, strict=True):
                    if index % step == 0:
                        problems += [f"page {page_id}: {p}" for p in check(line)]
                    index += 1
    return problems


def record_validator(kind: str = "article") -> Callable[[dict], None]:
    """Raises ``jsonschema.ValidationError`` for a parsed record that breaks the schema (for export checks)."""
    return _validator(kind).validate
