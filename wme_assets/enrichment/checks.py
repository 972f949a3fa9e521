"""Checks of the enrichment's output against the published record schema.

:func:`validate_article_sample` reads a sample of a base's articles from the article store and validates them
with :func:`wme_assets.schema.validate.line_validator` (the schema package itself reads no store).
"""

from __future__ import annotations

import tempfile

import pyarrow.parquet as pq

from wme_assets.schema.validate import line_validator
from wme_assets.storage.article_store import read_base_manifest
from wme_assets.storage.object_store import ObjectStore
from wme_assets.storage.parquet_dataset import cached_files


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
