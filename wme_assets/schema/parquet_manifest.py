"""Our Parquet manifest: ``{id}.parquet-manifest.json``, every shard of one project-namespace-kind on one day.

It lists every shard with its size and SHA-256, the totals, the records' schema version and the Arrow schema's
fingerprint, the depth limits, the truncation counts and the snapshot the shards were converted from.
:mod:`wme_assets.publishing.parquet` writes, publishes and reads it.
"""

from __future__ import annotations

from typing import Literal

import orjson
from pydantic import BaseModel, ConfigDict

PARQUET_FORMAT = "wme.parquet-snapshot"
ParquetKind = Literal["article", "structured-content"]

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
    kind: ParquetKind
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
