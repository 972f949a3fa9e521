"""The manifest of a project-namespace-kind's shards on one day, and the shards as written locally.

``{id}.parquet-manifest.json`` (:class:`ParquetManifest`) lists every shard with its size and SHA-256, the
totals, the schema version and fingerprint, the depth limits, the truncation counts and the source
snapshot; :mod:`.writer` fills it in, :mod:`.store` publishes it last.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import orjson
import pyarrow as pa
from pydantic import BaseModel, ConfigDict

from wme_assets.publishing.parquet.convert import Truncation
from wme_assets.publishing.parquet.schema import KIND_MODELS, PARQUET_FORMAT, Kind, arrow_schema_for
from wme_assets.storage.parquet_dataset import schema_fingerprint

MANIFEST_VERSION = 1
"""Version of the manifest's own layout (the records' schema version is :data:`RECORD_SCHEMA_VERSION`)."""

COMPRESSION = "zstd"
COMPRESSION_LEVEL = 3

MANIFEST_SUFFIX = ".parquet-manifest.json"


class ShardInfo(BaseModel):
    """One Parquet shard, as listed in the manifest (``key`` once published)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    key: str | None = None  # relative to the store's prefix
    bytes: int
    sha256: str
    rows: int
    row_groups: int
    source_bytes: int  # NDJSON bytes of its records: what max_bytes bounds
    uncompressed_bytes: int  # of its column data, from the Parquet footer (the card's dataset size)
    first_page_id: int | None
    last_page_id: int | None


class TruncationCounts(BaseModel):
    model_config = ConfigDict(extra="forbid")

    records: int = 0
    folded_parts: int = 0
    dropped_objects: int = 0
    first_page_ids: list[int] = []


class ParquetGenerator(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = "wme"
    version: str
    pyarrow: str
    compression: str = COMPRESSION
    compression_level: int = COMPRESSION_LEVEL
    max_rows: int
    max_bytes: int
    row_group_rows: int
    row_group_bytes: int


class ParquetSource(BaseModel):
    """The published snapshot the shards were built from, as verified while it was read
    (:mod:`wme_assets.snapshots.read`); keys are relative to the store's prefix."""

    model_config = ConfigDict(extra="forbid")

    manifest_key: str  # {snapshots}/{date}/{id}{sfx}.manifest.json
    manifest_sha256: str  # of the snapshot manifest's bytes
    archive_key: str
    archive_sha256: str  # what the archive re-hashed to while the shards were written
    tier: Literal["paid", "free"]
    kind: Literal["articles", "structured"]  # the snapshot's kind (wme_assets.snapshots.manifest.SnapshotKind)
    date: str  # YYYYMMDD the snapshot was published under
    record_count: int  # the snapshot manifest's: what the shards' rows must add up to


class ParquetManifest(BaseModel):
    """``{id}.parquet-manifest.json``: every shard of one project-namespace-kind on one day."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["wme.parquet-snapshot"] = PARQUET_FORMAT
    manifest_version: int = MANIFEST_VERSION
    identifier: str
    kind: Kind
    dbname: str
    namespace: int
    language: str
    date: str | None = None  # YYYYMMDD of the publication (set by publish_parquet)
    dump_date: str | None = None  # the dump the records were built from
    schema_version: str  # of the records (wme_assets.schema.RECORD_SCHEMA_VERSION)
    arrow_schema_fingerprint: str
    max_depth: int
    max_table_depth: int
    generator: ParquetGenerator
    rows: int
    bytes: int
    source_bytes: int
    first_page_id: int | None
    last_page_id: int | None
    truncation: TruncationCounts
    files: list[ShardInfo]
    source: ParquetSource | None = None  # None: shards written from records, not from a published snapshot

    def to_json(self) -> bytes:
        # Without a source, `source` is left out: such manifests keep the bytes they had before it existed.
        exclude = {"source"} if self.source is None else None
        return orjson.dumps(self.model_dump(mode="json", exclude=exclude), option=orjson.OPT_INDENT_2) + b"\n"

    @classmethod
    def from_json(cls, data: bytes | str) -> ParquetManifest:
        return cls.model_validate_json(data)

    def arrow_schema(self) -> pa.Schema:
        """The schema of the shards, regenerated from the models and checked against the fingerprint."""
        schema = arrow_schema_for(
            KIND_MODELS[self.kind], max_depth=self.max_depth, max_table_depth=self.max_table_depth
        )
        if schema_fingerprint(schema) != self.arrow_schema_fingerprint:
            raise ValueError(
                f"{self.identifier} ({self.kind}, schema {self.schema_version}) was written with another Arrow "
                f"schema ({self.arrow_schema_fingerprint}) than this code generates ({schema_fingerprint(schema)})"
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
