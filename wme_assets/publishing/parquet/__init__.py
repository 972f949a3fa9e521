"""Parquet beside NDJSON: a snapshot's records as Parquet shards with a real nested schema.

The Arrow schema is generated from the same pydantic models as the published JSON Schema
(:mod:`wme_assets.schema`: :class:`Article`, :class:`StructuredContent` and every model they
nest), field for field and in the same order, so a Parquet column means what the JSON field of that name
means. Objects are structs, arrays are lists; nothing is a JSON string inside a column:

======================================  =====================================================================
model field                             Arrow type
======================================  =====================================================================
``str`` / ``int`` / ``bool``            ``string`` / ``int64`` / ``bool``
``Float64`` (Go ``float64``)            ``double``
``Timestamp``                           ``timestamp[us, tz=UTC]`` (Python keeps microseconds, as the models)
nested model                            ``struct<...>`` of its fields
``list[X]``                             ``list<X>``
``dict[str, str]``                      ``list<struct<key: string, value: string>>``: the physical layout of a
                                        Parquet MAP, spelled as a list because Hugging Face ``datasets``
                                        has no map feature (DuckDB reads it as a list of structs;
                                        ``map_from_entries`` turns it back into a MAP)
======================================  =====================================================================

**Missing is null.** A field absent from the record (Enterprise's ``omitempty`` leaves out zero values) is
null in its column, never a zero of another type and never a different schema: every shard of every
snapshot of a kind has the schema :func:`arrow_schema_for` returns, and arrays are built with it
explicitly, never inferred. Dropping the nulls of a row gives back the record (:func:`row_to_record`).

**Recursion is unrolled to a fixed depth.** Two models nest themselves: ``Part.has_parts`` (the infobox and
section trees of Structured Contents) and ``TableCell.nested_table``. Parquet has no recursive types, so the
schema spells out ``max_depth`` levels of ``Part`` (default :data:`DEFAULT_MAX_DEPTH` = 8) and
``max_table_depth`` levels of ``Table`` (default 2: a table and the tables in its cells). Why 8: the
deepest tree wme's extractor writes is a section per heading level (``=h1=`` to ``======h6======``: 6
levels) holding a list holding its items (2 more); the deepest real Enterprise record in the fixtures has 5.
Tables stay shallow because each level of ``Table`` holds three grids of cells that each nest a table again:
the column count grows as 3^depth. What lies deeper is handled, counted and reported, never silently lost:

- parts below level ``max_depth`` are *folded*: they move, in document (pre-order) order, into the
  ``has_parts`` of their ancestor at level ``max_depth - 1``, so every name, value, link and citation is
  still there and only the nesting below that level is flattened;
- a nested table below ``max_table_depth`` is *dropped* (the cell keeps its ``value``).

The counts (records affected, parts folded, objects dropped, the first page ids) are in
:class:`ParquetShards` and in the manifest, and a warning is logged; the NDJSON snapshot stays the lossless
form.

**Source: the verified snapshot, never the article store.** :func:`export_parquet` builds a day's shards
from the snapshots published for that day (:mod:`wme_assets.snapshots.publish`): article shards from the article
snapshot of each namespace, by default the free tier's ``snapshots/{date}/{id}_group_1.*`` (what the dumps
site and Hugging Face carry), and Structured Contents shards from ``structured-snapshots/{date}/{id}.*``
(paid tier, namespace 0), skipped with a logged reason when that snapshot was not published. A snapshot is
checked before it is read (published under its date, tier and kind, its ``latest`` pointer consistent, every
object present with the manifest's size and SHA-256: :func:`wme_assets.snapshots.read.open_snapshot`) and its
archive re-hashed and checked member by member while it streams
(:func:`wme_assets.snapshots.read.iter_snapshot_records`); shards are published only after the stream ended
without a difference, and a snapshot that differs fails the export, naming the object, with nothing
published. The manifest's ``source`` (:class:`ParquetSource`) names the snapshot manifest and its SHA-256,
the archive and its SHA-256, the tier, kind, date and record count; the rows add up to that record count.
Shards depend on the records only, so the same snapshot gives the same bytes.

**Shards.** Records arrive as the snapshot holds them: ``(page_id, JSON line)`` in strictly increasing page
id order (:func:`wme_assets.snapshots.read.iter_snapshot_records`, or
:func:`wme_assets.snapshots.archive.iter_ndjson_records` over any NDJSON lines), and are validated with the
model while being converted. They are written in that order to
``{dbname}_namespace_{ns}_{i:05d}.parquet`` (numbered from 0), a new shard starting before one would exceed
``max_rows`` records or ``max_bytes`` bytes of NDJSON (the uncompressed JSON lines, counted like the
snapshot's 100 MB members: deterministic, and an upper bound of the compressed Parquet in practice; a record
larger than ``max_bytes`` gets a shard of its own). Inside a shard, row groups hold at most
``row_group_rows`` records or ``row_group_bytes`` of NDJSON, so memory stays at about one row group.
Compression is zstd; the same records with the same pyarrow give the same bytes.

**Object storage** (keys relative to the store's prefix; ``{id}`` is ``{dbname}_namespace_{ns}``)::

    parquet/{YYYYMMDD}/{id}/{id}_{i:05d}.parquet                       the article shards
    parquet/{YYYYMMDD}/{id}.parquet-manifest.json                      their manifest, written last
    parquet/structured-contents/{YYYYMMDD}/{id}/{id}_{i:05d}.parquet   Structured Contents shards
    parquet/structured-contents/{YYYYMMDD}/{id}.parquet-manifest.json

The manifest (:class:`ParquetManifest`) lists every shard with its bytes, SHA-256, rows, row groups, NDJSON
bytes and first/last page id, and the totals, the record schema version, the Arrow schema fingerprint, the
depth limits, the truncation counts, the source dump date and the source snapshot (``source``: optional, so
manifests written before it, or from records rather than a snapshot, still load; left out when absent).
:func:`publish_parquet` publishes every shard atomically (``ObjectStore.publish_file``: staged, verified,
then copied), re-checks what the store holds, and only then writes the manifest; shards of an earlier
publish of the same day that the new manifest does not name are removed after it. DuckDB reads the shards
directly: ``read_parquet('…/*.parquet')`` locally or over ``s3://`` with httpfs, or :func:`query_parquet`,
which falls back to verified local copies when httpfs cannot be loaded.

Where it lives (this package re-exports what other code imports):

- :mod:`.schema`: the Arrow schema generated from the models, :class:`RecordConverter`, :func:`row_to_record`;
- :mod:`.convert`: the per-level record → row converters and the truncation counts;
- :mod:`.manifest`: :func:`manifest_arrow_schema`, :class:`ParquetShards` (the manifest's models are in
  :mod:`wme_assets.schema.parquet_manifest`);
- :mod:`.writer`: :func:`write_parquet_shards`, records → shard files;
- :mod:`.store`: keys, :func:`publish_parquet`, :func:`check_published_parquet`, reading, listing,
  :func:`query_parquet`;
- :mod:`.export`: :func:`export_parquet`, one project's day from its verified snapshots, and its summary.
"""

from wme_assets.publishing.parquet.convert import Truncation
from wme_assets.publishing.parquet.export import (
    ParquetExport,
    ParquetExportSummary,
    export_parquet,
    export_snapshot_parquet,
    parquet_summary,
    source_of,
)
from wme_assets.publishing.parquet.manifest import (
    MANIFEST_SUFFIX,
    ParquetManifest,
    ParquetShards,
    ParquetSource,
    ShardInfo,
    TruncationCounts,
    shard_name,
)
from wme_assets.publishing.parquet.schema import (
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_TABLE_DEPTH,
    KIND_MODELS,
    PARQUET_FORMAT,
    Kind,
    RecordConverter,
    arrow_schema_for,
    row_to_record,
    schema_summary,
)
from wme_assets.publishing.parquet.store import (
    ParquetPublishError,
    check_published_parquet,
    list_parquet_manifests,
    parquet_manifest_key,
    parquet_prefix,
    publish_parquet,
    query_parquet,
    read_parquet_manifest,
)
from wme_assets.publishing.parquet.writer import DEFAULT_MAX_BYTES, DEFAULT_MAX_ROWS, write_parquet_shards

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_ROWS",
    "DEFAULT_MAX_TABLE_DEPTH",
    "KIND_MODELS",
    "Kind",
    "MANIFEST_SUFFIX",
    "PARQUET_FORMAT",
    "ParquetExport",
    "ParquetExportSummary",
    "ParquetManifest",
    "ParquetPublishError",
    "ParquetShards",
    "ParquetSource",
    "RecordConverter",
    "ShardInfo",
    "Truncation",
    "TruncationCounts",
    "arrow_schema_for",
    "check_published_parquet",
    "export_parquet",
    "export_snapshot_parquet",
    "list_parquet_manifests",
    "parquet_manifest_key",
    "parquet_prefix",
    "parquet_summary",
    "publish_parquet",
    "query_parquet",
    "read_parquet_manifest",
    "row_to_record",
    "schema_summary",
    "shard_name",
    "source_of",
    "write_parquet_shards",
]
