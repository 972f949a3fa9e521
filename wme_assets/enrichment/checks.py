"""Checks of the enrichment's output against the published record schema.

:func:`validate_article_sample` reads a sample of a base's articles from the article store and validates them
with :func:`wme_assets.schema.validate.line_validator` (the schema package itself reads no store).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from wme_assets.schema.validate import line_validator
from wme_assets.storage.article_store import read_base_manifest
from wme_assets.storage.object_store import ObjectStore
from wme_assets.storage.parquet_dataset import cached_files

_BATCH_ROWS = 256  # article lines decoded at a time


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
        # One row group at a time (pyarrow's reader over a whole file reads ahead: 390 MiB against 160 MiB
        # for 240 MB of articles), small batches, and only the sampled rows made Python strings: this runs in
        # the publishing step of a split run too, whose memory is bounded like every step's.
        batches = (
            batch
            for path in cached_files(store, manifest, tmp)
            for parquet in [pq.ParquetFile(path)]
            for group in range(parquet.num_row_groups)
            for batch in parquet.iter_batches(
                row_groups=[group], columns=["page_id", "article"], batch_size=_BATCH_ROWS, use_threads=False
            )
        )
        for page_id, line in every_nth_row(batches, step):
            problems += [f"page {page_id}: {p}" for p in check(line)]
    return problems


def every_nth_row(batches: Iterable[pa.RecordBatch], n: int) -> Iterator[tuple]:
    """Rows 0, n, 2n… over the batches, as tuples; the other rows are never turned into Python objects."""
    index = 0
    for batch in batches:
        sampled = batch.take(pa.array(range((-index) % n, batch.num_rows, n), pa.int64()))
        yield from zip(*(column.to_pylist() for column in sampled.columns), strict=True)
        index += batch.num_rows
