"""The manifest of a project-namespace-kind's shards on one day, and the shards as written locally.

``{id}.parquet-manifest.json`` (:class:`ParquetManifest`) lists every shard with its size and SHA-256, the
totals, the schema version and fingerprint, the depth limits, the truncation counts and the source
snapshot; :mod:`.writer` fills it in, :mod:`.store` publishes it last.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from wme_assets.publishing.parquet.convert import Truncation
from wme_assets.publishing.parquet.schema import KIND_MODELS, arrow_schema_for
from wme_assets.schema.parquet_manifest import (  # noqa: F401 (re-exported)
    COMPRESSION,
    COMPRESSION_LEVEL,
    MANIFEST_SUFFIX,
    MANIFEST_VERSION,
    ParquetGenerator,
    ParquetManifest,
    ParquetSource,
    ShardInfo,
    TruncationCounts,
)
from wme_assets.storage.parquet_dataset import schema_fingerprint


def manifest_arrow_schema(manifest: ParquetManifest) -> pa.Schema:
    """The schema of a manifest's shards, regenerated from the models and checked against its fingerprint."""
    schema = arrow_schema_for(
        KIND_MODELS[manifest.kind], max_depth=manifest.max_depth, max_table_depth=manifest.max_table_depth
    )
    if schema_fingerprint(schema) != manifest.arrow_schema_fingerprint:
        generated = schema_fingerprint(schema)
        raise ValueError(
            f"{manifest.identifier} ({manifest.kind}, schema {manifest.schema_version}) was written with another "
            f"Arrow schema ({manifest.arrow_schema_fingerprint}) than this code generates ({generated})"
        )
    return schema


@dataclass
class ParquetShards:
    """The shards :func:`write_parquet_shards` wrote, ready for :func:`publish_parquet`."""

    out_dir: Path
    manifest: ParquetManifest  # unpublished: no date, no keys
    schema: pa.Schema
    truncation: Truncation

    @property
    def shards(self) -> list[ShardInfo]:
        return self.manifest.files

    @property
    def identifier(self) -> str:
        return self.manifest.identifier

    def path(self, shard: ShardInfo) -> Path:
        return self.out_dir / shard.name

    def __iter__(self) -> Iterator[ShardInfo]:
        return iter(self.manifest.files)

    def __len__(self) -> int:
        return len(self.manifest.files)


def shard_name(identifier: str, index: int) -> str:
    """``{dbname}_namespace_{ns}_{index:05d}.parquet``."""
    return f"{identifier}_{index:05d}.parquet"
