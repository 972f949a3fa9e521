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
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from importlib import metadata as package_metadata
from pathlib import Path
from typing import Any, Literal

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, ValidationError

from wme_assets.schema import SCHEMA_VERSION, Article, StructuredContent, Table
from wme_assets.snapshots.archive import language_from_dbname, snapshot_identifier
from wme_assets.snapshots.read import SnapshotNotFoundError, SnapshotSource, iter_snapshot_records, open_snapshot
from wme_assets.storage.object_store import ObjectStore
from wme_assets.storage.parquet_dataset import PARQUET_CONTENT_TYPE, DatasetQuery, query_dataset, schema_fingerprint

log = logging.getLogger(__name__)

MiB = 1024 * 1024

PARQUET_FORMAT = "wme.parquet-snapshot"
MANIFEST_VERSION = 1
"""Version of the manifest's own layout (the records' schema version is :data:`SCHEMA_VERSION`)."""

Kind = Literal["article", "structured-content"]
KIND_MODELS: dict[str, type[BaseModel]] = {"article": Article, "structured-content": StructuredContent}
"""Record kinds with Parquet shards → their model (the same keys as the JSON Schema files)."""

DEFAULT_MAX_DEPTH = 8
"""Levels of ``Part`` spelled out in the schema (see the module docstring for why 8)."""
DEFAULT_MAX_TABLE_DEPTH = 2
"""Levels of ``Table``: a table and the tables nested in its cells."""

DEFAULT_MAX_ROWS = 100_000
DEFAULT_MAX_BYTES = 1_000_000_000  # of NDJSON: ~150–300 MB of Parquet for articles with HTML and wikitext
DEFAULT_ROW_GROUP_ROWS = 10_000
DEFAULT_ROW_GROUP_BYTES = 64 * MiB  # of NDJSON; readers (datasets, DuckDB) work a row group at a time
CONVERT_BATCH_ROWS = 1_000  # records held as Python objects at once, before they become Arrow arrays
CONVERT_BATCH_BYTES = 16 * MiB
COMPRESSION = "zstd"
COMPRESSION_LEVEL = 3
TRUNCATION_SAMPLE = 10  # page ids of truncated records kept for diagnosis

MANIFEST_SUFFIX = ".parquet-manifest.json"
_DATE = re.compile(r"^\d{8}$")
_SHARD_NAME = re.compile(r"^(?P<id>[a-z0-9_-]+_namespace_\d+)_(?P<index>\d{5,})\.parquet$")

TIMESTAMP = pa.timestamp("us", tz="UTC")
KEY_VALUE = pa.struct([pa.field("key", pa.string()), pa.field("value", pa.string())])


# --------------------------------------------------------------------------------------------------
# Schema and converters, generated from the models
# --------------------------------------------------------------------------------------------------


@dataclass
class Truncation:
    """What the fixed-depth unroll could not keep as it was (see the module docstring)."""

    records: int = 0  # records with anything folded or dropped
    folded: int = 0  # parts below level ``max_depth``, moved up to that level in document order
    dropped: int = 0  # nested objects left out (tables nested deeper than ``max_table_depth``)
    page_ids: list[int] = field(default_factory=list)  # the first few affected records

    def add(self, other: Truncation) -> None:
        self.records += other.records
        self.folded += other.folded
        self.dropped += other.dropped
        self.page_ids.extend(other.page_ids[: TRUNCATION_SAMPLE - len(self.page_ids)])


class _StructConverter:
    """Model instance → dict of Arrow-ready values for one struct level (fields set in the record only)."""

    def __init__(self, model: type[BaseModel]):
        self.model = model
        self.fields: list[tuple[str, str, Any]] = []  # (attribute, column, converter or None for a scalar)
        self.cut: list[tuple[str, bool]] = []  # (attribute, is a list of this same model) beyond the depth
        self.arrow_type: pa.StructType | None = None

    @property
    def fold_attribute(self) -> str | None:
        """The list-of-itself field this level lacks: its contents are folded in by the parent's list."""
        return next((name for name, self_list in self.cut if self_list), None)

    def convert(self, obj: BaseModel, stats: Truncation, *, folded_by_parent: bool = False) -> dict[str, Any]:
        present = obj.model_fields_set
        out: dict[str, Any] = {}
        for attribute, column, converter in self.fields:
            if attribute in present:
                value = getattr(obj, attribute)
                out[column] = value if value is None or converter is None else converter.convert(value, stats)
        for attribute, self_list in self.cut:
            value = getattr(obj, attribute) if attribute in present else None
            if not value:
                continue
            if not self_list:
                stats.dropped += 1
            elif not folded_by_parent:
                # A list of itself reached through no list to fold it into (no such field today): count
                # everything below as dropped rather than lose it silently.
                stats.dropped += _count_tree(value, attribute)
        return out


def _count_tree(items: list[Any], attribute: str) -> int:
    return sum(1 + _count_tree(getattr(item, attribute), attribute) for item in items)


class _ListConverter:
    def __init__(self, item: Any):
        self.item = item  # a converter, or None for scalars
        fold = item.fold_attribute if isinstance(item, _StructConverter) else None
        self.fold_attribute = fold

    def convert(self, values: list[Any], stats: Truncation) -> list[Any]:
        if self.item is None:
            return list(values)
        if self.fold_attribute is None:
            return [self.item.convert(value, stats) for value in values]
        out: list[Any] = []
        for value in values:
            out.append(self.item.convert(value, stats, folded_by_parent=True))
            self._fold(getattr(value, self.fold_attribute), out, stats)
        return out

    def _fold(self, children: list[Any], out: list[Any], stats: Truncation) -> None:
        # Pre-order keeps document order: a part, then everything under it, then its next sibling.
        for child in children:
            out.append(self.item.convert(child, stats, folded_by_parent=True))
            stats.folded += 1
            self._fold(getattr(child, self.fold_attribute), out, stats)


class _MapConverter:
    @staticmethod
    def convert(value: Mapping[str, str], stats: Truncation) -> list[dict[str, str]]:
        return [{"key": key, "value": item} for key, item in value.items()]


def _strip(annotation: Any) -> tuple[Any, bool]:
    """The annotation without ``Annotated`` and ``| None`` (and whether it was optional)."""
    optional = False
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
            if len(args) != 1:
                raise TypeError(f"unions other than `X | None` have no Parquet type: {annotation!r}")
            optional, annotation = True, args[0]
        else:
            return annotation, optional


def _list_of(item_type: pa.DataType) -> pa.ListType:
    # Items named `element`, as the Parquet spec names them and as every reader hands them back
    # (pyarrow's default in memory is `item`): the schema read from a file equals the generated one.
    return pa.list_(pa.field("element", item_type))


_SCALARS: dict[type, pa.DataType] = {
    str: pa.string(),
    bool: pa.bool_(),  # looked up by exact type, so a bool is never taken for an int
    int: pa.int64(),
    float: pa.float64(),
    datetime: TIMESTAMP,
}


class _SchemaBuilder:
    """Walks the models once per (model, recursion state), building Arrow types and converters together."""

    def __init__(self, limits: Mapping[type[BaseModel], int], default_limit: int):
        self.limits = dict(limits)
        self.default_limit = default_limit
        self._memo: dict[tuple[type[BaseModel], frozenset], _StructConverter] = {}

    def limit(self, model: type[BaseModel]) -> int:
        return self.limits.get(model, self.default_limit)

    def struct(self, model: type[BaseModel], levels: Mapping[type[BaseModel], int]) -> _StructConverter:
        # Only the recursion state matters for what lies below, so that is the memo key.
        key = (model, frozenset(levels.items()))
        if key in self._memo:
            return self._memo[key]
        converter = _StructConverter(model)
        arrow_fields = []
        for attribute, info in model.model_fields.items():
            column = info.serialization_alias or info.alias or attribute
            annotation, _ = _strip(info.annotation)
            target = self._innermost_model(annotation)
            if target is not None and levels.get(target, 0) >= self.limit(target):
                converter.cut.append((attribute, target is model and typing.get_origin(annotation) is list))
                continue
            arrow_type, item = self.field_type(annotation, levels)
            converter.fields.append((attribute, column, item))
            arrow_fields.append(pa.field(column, arrow_type, nullable=True))
        converter.arrow_type = pa.struct(arrow_fields)
        self._memo[key] = converter
        return converter

    @staticmethod
    def _innermost_model(annotation: Any) -> type[BaseModel] | None:
        while typing.get_origin(annotation) is list:
            annotation, _ = _strip(typing.get_args(annotation)[0])
        return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None

    def field_type(self, annotation: Any, levels: Mapping[type[BaseModel], int]) -> tuple[pa.DataType, Any]:
        annotation, _ = _strip(annotation)
        origin = typing.get_origin(annotation)
        if origin is list:
            item_type, item = self.field_type(typing.get_args(annotation)[0], levels)
            return _list_of(item_type), _ListConverter(item)
        if origin is dict:
            if typing.get_args(annotation) != (str, str):
                raise TypeError(f"only dict[str, str] has a Parquet type here, not {annotation!r}")
            return _list_of(KEY_VALUE), _MapConverter()
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            deeper = dict(levels)
            deeper[annotation] = deeper.get(annotation, 0) + 1
            converter = self.struct(annotation, deeper)
            return converter.arrow_type, converter
        if annotation in _SCALARS:
            return _SCALARS[annotation], None
        raise TypeError(f"no Parquet type for {annotation!r}")


def _check_depths(max_depth: int, max_table_depth: int) -> None:
    for name, value in (("max_depth", max_depth), ("max_table_depth", max_table_depth)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")


def _root_converter(
    model_cls: type[BaseModel], max_depth: int, max_table_depth: int
) -> tuple[_StructConverter, pa.Schema]:
    _check_depths(max_depth, max_table_depth)
    # Every other recursive model (none today) would get max_depth too: a new self-reference in the
    # models cannot make the schema infinite.
    builder = _SchemaBuilder({Table: max_table_depth}, max_depth)
    root = builder.struct(model_cls, {model_cls: 1})
    metadata = {
        b"wme.parquet.format": PARQUET_FORMAT.encode(),
        b"wme.record_model": model_cls.__name__.encode(),
        b"wme.schema_version": SCHEMA_VERSION.encode(),
        b"wme.parquet.max_depth": str(max_depth).encode(),
        b"wme.parquet.max_table_depth": str(max_table_depth).encode(),
    }
    return root, pa.schema(list(root.arrow_type), metadata=metadata)


def arrow_schema_for(
    model_cls: type[BaseModel],
    *,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_table_depth: int = DEFAULT_MAX_TABLE_DEPTH,
) -> pa.Schema:
    """The Arrow schema of ``model_cls`` records: one column per model field, nested types unrolled.

    The same arguments always give the same schema (the metadata names the model, the record schema
    version and the depths; it holds nothing about a snapshot).
    """
    return _root_converter(model_cls, max_depth, max_table_depth)[1]


# --------------------------------------------------------------------------------------------------
# Records ↔ rows
# --------------------------------------------------------------------------------------------------


class RecordConverter:
    """Validates JSON lines with the model and turns them into Arrow record batches of its schema."""

    def __init__(
        self,
        kind: Kind = "article",
        *,
        max_depth: int = DEFAULT_MAX_DEPTH,
        max_table_depth: int = DEFAULT_MAX_TABLE_DEPTH,
    ):
        if kind not in KIND_MODELS:
            raise ValueError(f"unknown record kind {kind!r}: one of {sorted(KIND_MODELS)}")
        self.kind = kind
        self.model = KIND_MODELS[kind]
        self.max_depth = max_depth
        self.max_table_depth = max_table_depth
        self._root, self.schema = _root_converter(self.model, max_depth, max_table_depth)
        self.truncation = Truncation()

    def row(self, line: bytes, page_id: int | None = None) -> dict[str, Any]:
        """One record as a row (a dict of Arrow-ready values), its truncation added to :attr:`truncation`."""
        where = f"page {page_id}" if page_id is not None else "record"
        try:
            record = self.model.model_validate_json(line)
        except ValidationError as exc:
            raise ValueError(f"{where} is not a valid {self.kind} record: {exc}") from None
        if page_id is not None and "identifier" in record.model_fields_set and record.identifier != page_id:
            # The record must be the page it is filed under (a misaligned iterator would shuffle pages).
            raise ValueError(f"{where}: the record's identifier is {record.identifier}")
        stats = Truncation()
        row = self._root.convert(record, stats)
        if stats.folded or stats.dropped:
            stats.records = 1
            if page_id is not None:
                stats.page_ids.append(page_id)
            self.truncation.add(stats)
        return row

    def batch(self, rows: list[dict[str, Any]]) -> pa.RecordBatch:
        # The explicit schema is the point: a batch whose records all lack a field still has its column.
        return pa.RecordBatch.from_pylist(rows, schema=self.schema)


def _drop_nulls(value: Any, converter: Any) -> Any:
    if isinstance(converter, _StructConverter):
        out = {}
        for _, column, item in converter.fields:
            inner = value.get(column)
            if inner is not None:
                out[column] = _drop_nulls(inner, item)
        return out
    if isinstance(converter, _ListConverter):
        return [_drop_nulls(item, converter.item) for item in value]
    if isinstance(converter, _MapConverter):
        return {entry["key"]: entry["value"] for entry in value}
    return value


def row_to_record(
    row: Mapping[str, Any],
    kind: Kind = "article",
    *,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_table_depth: int = DEFAULT_MAX_TABLE_DEPTH,
) -> dict[str, Any]:
    """A row read back (``Table.to_pylist()``) as the record it came from: nulls dropped, key/value lists
    made dicts again. ``Model.model_validate`` then ``to_json_bytes`` gives the original line, except
    where the depth limits folded or dropped something."""
    root, _ = _root_converter(KIND_MODELS[kind], max_depth, max_table_depth)
    return _drop_nulls(row, root)


# --------------------------------------------------------------------------------------------------
# Writing shards
# --------------------------------------------------------------------------------------------------


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
    schema_version: str  # of the records (wme_assets.schema.SCHEMA_VERSION)
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


def _generator_version() -> str:
    try:
        return package_metadata.version("wme")
    except package_metadata.PackageNotFoundError:
        return "0+unknown"


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        while chunk := source.read(8 * MiB):
            digest.update(chunk)
    return digest.hexdigest()


def _statistics_columns(schema: pa.Schema) -> list[str]:
    # Statistics only where readers filter: thousands of nested columns would each add footer bytes.
    return [name for name in ("identifier", "date_modified") if name in schema.names]


class _ShardWriter:
    """Rows → shard files, rolling over by rows and NDJSON bytes; one shard open at a time."""

    def __init__(self, out_dir: Path, identifier: str, converter: RecordConverter, limits: dict[str, int]):
        self.out_dir = out_dir
        self.identifier = identifier
        self.converter = converter
        self.limits = limits
        self.shards: list[ShardInfo] = []
        self._writer: pq.ParquetWriter | None = None
        self._path: Path | None = None
        self._rows = self._source_bytes = self._row_groups = 0
        self._first: int | None = None
        self._last: int | None = None
        # The row group being gathered: Arrow batches (compact) plus the records still as Python objects.
        self._batches: list[pa.RecordBatch] = []
        self._pending: list[dict[str, Any]] = []
        self._pending_bytes = 0
        self._group_rows = self._group_bytes = 0

    def add(self, page_id: int, line: bytes) -> None:
        size = len(line)
        if self._rows and (
            self._rows + 1 > self.limits["max_rows"] or self._source_bytes + size > self.limits["max_bytes"]
        ):
            self.close_shard()
        if self._group_rows and (
            self._group_rows + 1 > self.limits["row_group_rows"]
            or self._group_bytes + size > self.limits["row_group_bytes"]
        ):
            self._flush_group()
        self._pending.append(self.converter.row(line, page_id))
        self._pending_bytes += size
        self._group_rows += 1
        self._group_bytes += size
        self._rows += 1
        self._source_bytes += size
        self._first = page_id if self._first is None else self._first
        self._last = page_id
        if len(self._pending) >= CONVERT_BATCH_ROWS or self._pending_bytes >= CONVERT_BATCH_BYTES:
            self._convert_pending()

    def _convert_pending(self) -> None:
        if self._pending:
            self._batches.append(self.converter.batch(self._pending))
            self._pending, self._pending_bytes = [], 0

    def _flush_group(self) -> None:
        self._convert_pending()
        if not self._batches:
            return
        if self._writer is None:
            self._path = self.out_dir / f".{shard_name(self.identifier, len(self.shards))}.inprogress"
            self._writer = pq.ParquetWriter(
                self._path,
                self.converter.schema,
                compression=COMPRESSION,
                compression_level=COMPRESSION_LEVEL,
                write_statistics=_statistics_columns(self.converter.schema),
            )
        table = pa.Table.from_batches(self._batches, schema=self.converter.schema)
        self._writer.write_table(table, row_group_size=table.num_rows)  # exactly one row group
        self._row_groups += 1
        self._batches = []
        self._group_rows = self._group_bytes = 0

    def close_shard(self) -> None:
        self._flush_group()
        if self._writer is None:
            return
        self._writer.close()
        final = self.out_dir / shard_name(self.identifier, len(self.shards))
        os.replace(self._path, final)
        footer = pq.read_metadata(final)
        self.shards.append(
            ShardInfo(
                name=final.name,
                bytes=final.stat().st_size,
                sha256=_sha256_of(final),
                rows=self._rows,
                row_groups=self._row_groups,
                source_bytes=self._source_bytes,
                uncompressed_bytes=sum(footer.row_group(i).total_byte_size for i in range(footer.num_row_groups)),
                first_page_id=self._first,
                last_page_id=self._last,
            )
        )
        self._writer = self._path = None
        self._rows = self._source_bytes = self._row_groups = 0
        self._first = self._last = None

    def abort(self) -> None:
        if self._writer is not None:
            try:
                self._writer.close()
            finally:
                if self._path is not None:
                    self._path.unlink(missing_ok=True)
                self._writer = self._path = None


def _language_of(line: bytes) -> str | None:
    try:
        return (orjson.loads(line).get("in_language") or {}).get("identifier") or None
    except (orjson.JSONDecodeError, AttributeError):
        return None


def _checked(page_id: Any, line: Any, previous: int | None) -> bytes:
    if not isinstance(page_id, int) or isinstance(page_id, bool) or page_id < 0:
        raise ValueError(f"page id must be a non-negative int, got {page_id!r}")
    if previous is not None and page_id <= previous:
        raise ValueError(f"records must come in strictly increasing page id order: {page_id} after {previous}")
    if isinstance(line, bytearray | memoryview):
        line = bytes(line)
    elif isinstance(line, str):
        line = line.encode("utf-8")
    if not isinstance(line, bytes):
        raise TypeError(f"page {page_id}: a record line must be bytes, got {type(line).__name__}")
    if line.endswith(b"\n"):
        line = line[:-1]
    if not line:
        raise ValueError(f"page {page_id}: empty record line")
    return line


def write_parquet_shards(
    records: Iterable[tuple[int, bytes]],
    out_dir: str | os.PathLike[str],
    *,
    dbname: str,
    namespace: int,
    kind: Kind = "article",
    language: str | None = None,
    dump_date: str | None = None,
    max_rows: int = DEFAULT_MAX_ROWS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    row_group_rows: int = DEFAULT_ROW_GROUP_ROWS,
    row_group_bytes: int = DEFAULT_ROW_GROUP_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_table_depth: int = DEFAULT_MAX_TABLE_DEPTH,
    source: ParquetSource | None = None,
) -> ParquetShards:
    """Write ``(page_id, JSON line)`` records (strictly increasing page ids) as Parquet shards in ``out_dir``.

    Every line is validated with the ``kind``'s model; an invalid line, a page id out of order, or a
    record whose ``identifier`` is not its page id raises ``ValueError`` and leaves no partial shard; so does
    any error ``records`` raises, even after its last record (a snapshot stream that fails its final check).
    ``language`` defaults to the first record's ``in_language`` (else a guess from ``dbname``). No records
    give no shards (and a manifest with zero rows). ``source`` goes into the manifest as it is.
    """
    identifier = snapshot_identifier(dbname, namespace)
    limits = {
        "max_rows": max_rows,
        "max_bytes": max_bytes,
        "row_group_rows": row_group_rows,
        "row_group_bytes": row_group_bytes,
    }
    for name, value in limits.items():
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    if dump_date is not None and not _DATE.match(dump_date):
        raise ValueError(f"dump_date must be YYYYMMDD, got {dump_date!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stale = sorted(p.name for p in out.glob(f"{identifier}_*.parquet"))
    if stale:
        # Mixing the shards of two runs would describe neither.
        raise FileExistsError(f"{out} already holds shards of {identifier} ({stale[0]}, ...)")
    converter = RecordConverter(kind, max_depth=max_depth, max_table_depth=max_table_depth)
    writer = _ShardWriter(out, identifier, converter, limits)
    previous: int | None = None
    try:
        for page_id, raw in records:
            line = _checked(page_id, raw, previous)
            previous = page_id
            if language is None:
                language = _language_of(line) or language_from_dbname(dbname)
            writer.add(page_id, line)
        writer.close_shard()
    except BaseException:
        writer.abort()
        for shard in writer.shards:
            (out / shard.name).unlink(missing_ok=True)
        raise
    truncation = converter.truncation
    if truncation.records:
        log.warning(
            "%s: %d records deeper than the Parquet schema unrolls (max_depth %d, max_table_depth %d): "
            "%d parts folded, %d nested objects dropped; first page ids %s",
            identifier,
            truncation.records,
            max_depth,
            max_table_depth,
            truncation.folded,
            truncation.dropped,
            truncation.page_ids,
        )
    shards = writer.shards
    manifest = ParquetManifest(
        identifier=identifier,
        kind=kind,
        dbname=dbname,
        namespace=namespace,
        language=language or language_from_dbname(dbname),
        dump_date=dump_date,
        schema_version=SCHEMA_VERSION,
        arrow_schema_fingerprint=schema_fingerprint(converter.schema),
        max_depth=max_depth,
        max_table_depth=max_table_depth,
        generator=ParquetGenerator(version=_generator_version(), pyarrow=pa.__version__, **limits),
        rows=sum(s.rows for s in shards),
        bytes=sum(s.bytes for s in shards),
        source_bytes=sum(s.source_bytes for s in shards),
        first_page_id=shards[0].first_page_id if shards else None,
        last_page_id=shards[-1].last_page_id if shards else None,
        truncation=TruncationCounts(
            records=truncation.records,
            folded_parts=truncation.folded,
            dropped_objects=truncation.dropped,
            first_page_ids=truncation.page_ids,
        ),
        files=shards,
        source=source,
    )
    return ParquetShards(out_dir=out, manifest=manifest, schema=converter.schema, truncation=truncation)


# --------------------------------------------------------------------------------------------------
# Object storage
# --------------------------------------------------------------------------------------------------


def _checked_date(date: str) -> str:
    if not isinstance(date, str) or not _DATE.match(date):
        raise ValueError(f"date must be YYYYMMDD, got {date!r}")
    return date


def parquet_prefix(date: str, identifier: str, kind: Kind = "article") -> str:
    """``parquet/{date}/{id}`` (articles) or ``parquet/structured-contents/{date}/{id}``."""
    top = "parquet" if kind == "article" else "parquet/structured-contents"
    return f"{top}/{_checked_date(date)}/{identifier}"


def parquet_manifest_key(date: str, identifier: str, kind: Kind = "article") -> str:
    """``parquet/{date}/{id}.parquet-manifest.json``, beside the shards' folder."""
    return parquet_prefix(date, identifier, kind) + MANIFEST_SUFFIX


class ParquetPublishError(RuntimeError):
    """What the store holds after publishing is not what the manifest lists."""


def _in_place(store: ObjectStore, key: str, shard: ShardInfo) -> bool:
    info = store.head(key)
    return info is not None and info.size == shard.bytes and info.sha256 == shard.sha256


def publish_parquet(store: ObjectStore, shards: ParquetShards, *, date: str) -> ParquetManifest:
    """Publish the shards of ``shards`` for ``date`` (YYYYMMDD), then their manifest; returns the manifest.

    Each shard is re-hashed on the way up against what :func:`write_parquet_shards` recorded and published
    atomically; a shard already in place (same size and SHA-256) is not sent again, so a re-run after a
    failure completes the publish. The manifest is written only after every shard is checked in the store.
    """
    manifest = shards.manifest
    prefix = parquet_prefix(date, manifest.identifier, manifest.kind)
    published: list[ShardInfo] = []
    for shard in manifest.files:
        relative = f"{prefix}/{shard.name}"
        key = store.key(relative)
        if not _in_place(store, key, shard):
            store.publish_file(
                shards.path(shard), key, content_type=PARQUET_CONTENT_TYPE, expected={"sha256": shard.sha256}
            )
        published.append(shard.model_copy(update={"key": relative}))
    result = manifest.model_copy(update={"date": date, "files": published})
    problems = check_published_parquet(store, result)
    if problems:
        raise ParquetPublishError(f"{manifest.identifier} {date}: {'; '.join(problems)}")
    store.put_bytes(
        store.key(parquet_manifest_key(date, manifest.identifier, manifest.kind)),
        result.to_json(),
        content_type="application/json",
    )
    # Shards of an earlier publish of this day that the manifest no longer names: gone after it, so a
    # reader that globs the folder sees exactly the manifest's files too.
    keep = {store.key(shard.key) for shard in published}
    for info in store.list(store.key(prefix) + "/"):
        if info.key not in keep and _SHARD_NAME.match(info.key.rsplit("/", 1)[-1]):
            store.delete(info.key)
    return result


def check_published_parquet(store: ObjectStore, manifest: ParquetManifest) -> list[str]:
    """Problems with the published shards (missing, other size or SHA-256); empty when all are in place."""
    problems = []
    for shard in manifest.files:
        if shard.key is None:
            problems.append(f"{shard.name} has no key (not published)")
            continue
        info = store.head(store.key(shard.key))
        if info is None:
            problems.append(f"{store.uri(store.key(shard.key))} is missing")
        elif info.size != shard.bytes or (info.sha256 or shard.sha256) != shard.sha256:
            problems.append(
                f"{store.uri(info.key)} is {info.size} bytes with sha256 {info.sha256}, "
                f"the manifest says {shard.bytes} bytes with sha256 {shard.sha256}"
            )
    return problems


def read_parquet_manifest(store: ObjectStore, date: str, identifier: str, kind: Kind = "article") -> ParquetManifest:
    """The published manifest of one project-namespace-kind on ``date``."""
    return ParquetManifest.from_json(store.read_bytes(store.key(parquet_manifest_key(date, identifier, kind))))


def list_parquet_manifests(store: ObjectStore, date: str, kind: Kind = "article") -> list[ParquetManifest]:
    """Every Parquet manifest published for ``date`` (one per project-namespace), by identifier."""
    top = store.key(("parquet" if kind == "article" else "parquet/structured-contents"), _checked_date(date)) + "/"
    keys = sorted(info.key for info in store.list(top) if info.key.endswith(MANIFEST_SUFFIX))
    return [ParquetManifest.from_json(store.read_bytes(key)) for key in keys]


def query_parquet(
    store: ObjectStore,
    manifest: ParquetManifest,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    view: str = "records",
    use_httpfs: bool | None = None,
) -> DatasetQuery:
    """A DuckDB view over a published manifest's shards: ``s3://`` through httpfs where it loads, else
    verified local copies in ``cache_dir`` (see :func:`wme_assets.storage.parquet_dataset.query_dataset`)."""
    files = [{"key": store.key(shard.key), "sha256": shard.sha256} for shard in manifest.files if shard.key]
    if len(files) != len(manifest.files):
        raise ValueError(f"{manifest.identifier}: the manifest is not a published one (shards without keys)")
    listing = {"files": files}
    return query_dataset(
        store,
        parquet_prefix(manifest.date, manifest.identifier, manifest.kind),
        manifest=listing,
        cache_dir=cache_dir,
        view=view,
        use_httpfs=use_httpfs,
    )


# --------------------------------------------------------------------------------------------------
# One project's day: from the verified snapshots
# --------------------------------------------------------------------------------------------------

SNAPSHOT_KINDS: dict[str, str] = {"article": "articles", "structured-content": "structured"}
"""Parquet kind → the kind of snapshot its records are read from."""
STRUCTURED_TIER = "paid"  # Structured Contents snapshots exist in the paid tier only
STRUCTURED_NAMESPACE = 0  # ... and for namespace 0 only


@dataclass
class ParquetExport:
    """What :func:`export_parquet` published, and what it skipped and why. Iterates over ``published``."""

    published: list[tuple[ParquetManifest, ParquetShards]] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # "{identifier} ({kind})" -> the reason

    def __iter__(self) -> Iterator[tuple[ParquetManifest, ParquetShards]]:
        return iter(self.published)

    def __len__(self) -> int:
        return len(self.published)


def source_of(snapshot: SnapshotSource) -> ParquetSource:
    """The manifest's ``source`` entry for shards built from ``snapshot``."""
    return ParquetSource(
        manifest_key=snapshot.manifest_key,
        manifest_sha256=snapshot.manifest_sha256,
        archive_key=snapshot.archive_key,
        archive_sha256=snapshot.archive_sha256,
        tier=snapshot.tier,
        kind=snapshot.kind,
        date=snapshot.date,
        record_count=snapshot.record_count,
    )


def export_snapshot_parquet(
    store: ObjectStore,
    snapshot: SnapshotSource,
    out_dir: str | os.PathLike[str],
    *,
    date: str,
    max_rows: int = DEFAULT_MAX_ROWS,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> tuple[ParquetManifest, ParquetShards]:
    """Write the Parquet shards of one opened snapshot as it streams, and publish them once it verified.

    The records come from :func:`~wme_assets.snapshots.read.iter_snapshot_records`, which re-hashes the archive
    and checks every member against the snapshot manifest; :func:`write_parquet_shards` consumes it to the
    end, so any difference (raised at the latest after the last record) leaves no shard behind and nothing
    is published.
    """
    kind: Kind = "article" if snapshot.kind == "articles" else "structured-content"
    manifest = snapshot.manifest
    shards = write_parquet_shards(
        iter_snapshot_records(store, snapshot),
        out_dir,
        dbname=manifest.is_part_of,
        namespace=manifest.namespace,
        kind=kind,
        language=manifest.in_language,
        dump_date=manifest.inputs.dump_date,
        max_rows=max_rows,
        max_bytes=max_bytes,
        source=source_of(snapshot),
    )
    if shards.manifest.rows != snapshot.record_count:  # the stream checked it; a last guard before publishing
        raise ParquetPublishError(
            f"{shards.identifier} ({kind}): {shards.manifest.rows} rows from {snapshot.record_count} snapshot records"
        )
    return publish_parquet(store, shards, date=date), shards


def export_parquet(
    store: ObjectStore,
    project: str,
    date: str,
    *,
    tier: Literal["paid", "free"] = "free",
    namespaces: Iterable[int] = (0, 6, 10, 14),
    kinds: Iterable[Kind] = ("article",),
    work_dir: str | os.PathLike[str],
    max_rows: int = DEFAULT_MAX_ROWS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    log_line: Callable[[str], None] = log.info,
) -> ParquetExport:
    """Write and publish the Parquet shards of ``project``'s snapshots published for ``date``.

    Articles come from the article snapshot of each of ``namespaces`` in ``tier`` (default the free tier,
    what the free snapshot publishes and the dumps site and Hugging Face carry); a namespace without a
    published snapshot raises :class:`~wme_assets.snapshots.read.SnapshotNotFoundError`. Structured Contents
    come from the Structured Contents snapshot of namespace 0 (paid tier, the only one there is); when it was
    not published for ``date`` the kind is skipped and the reason logged and returned (``skipped``). Every
    snapshot is checked before it is read and re-verified while it streams
    (:mod:`wme_assets.snapshots.read`); a snapshot that is refused or does not match its manifest raises, and
    its shards are not published. Returns the published manifests with the local shards (still in
    ``work_dir``, e.g. for :mod:`wme_assets.publishing.huggingface`).
    """
    _checked_date(date)
    work = Path(work_dir)
    result = ParquetExport()
    for kind in kinds:
        if kind not in SNAPSHOT_KINDS:
            raise ValueError(f"kind must be one of {', '.join(SNAPSHOT_KINDS)}, got {kind!r}")
        for namespace in namespaces:
            if kind == "structured-content" and namespace != STRUCTURED_NAMESPACE:
                continue
            identifier = snapshot_identifier(project, namespace)
            snapshot_tier = tier if kind == "article" else STRUCTURED_TIER
            try:
                snapshot = open_snapshot(
                    store, identifier=identifier, date=date, tier=snapshot_tier, kind=SNAPSHOT_KINDS[kind]
                )
            except SnapshotNotFoundError as exc:
                if kind == "article":
                    raise
                reason = f"no Structured Contents snapshot published for {date} ({exc})"
                result.skipped[f"{identifier} ({kind})"] = reason
                log.warning("%s (%s): skipped: %s", identifier, kind, reason)
                log_line(f"{identifier} ({kind}): skipped: {reason}")
                continue
            manifest, shards = export_snapshot_parquet(
                store, snapshot, work / kind / str(namespace), date=date, max_rows=max_rows, max_bytes=max_bytes
            )
            log_line(
                f"{manifest.identifier} ({kind}): {manifest.rows} records in {len(manifest.files)} Parquet shards, "
                f"{manifest.bytes / 1e6:.2f} MB, from {store.uri(store.key(snapshot.manifest_key))}"
                + (
                    f"; {manifest.truncation.records} records truncated to the schema depth"
                    if manifest.truncation.records
                    else ""
                )
            )
            result.published.append((manifest, shards))
    return result


@dataclass
class ParquetExportSummary:
    """What the ``parquet_shards`` asset reports of an export (labels: ``{id}``, ``{id} (structured)``)."""

    text: str
    rows: dict[str, int]
    shards: int
    sources: dict[str, str]  # label -> URI of the snapshot manifest the shards were built from
    skipped: dict[str, str]  # "{id} ({kind})" -> the reason
    mismatched: dict[str, list[int | None]]  # label -> [Parquet rows, the source snapshot's records (None: no source)]


def parquet_summary(store: ObjectStore, exported: ParquetExport) -> ParquetExportSummary:
    """Rows, shards and source snapshots of an export, and where rows differ from the source's record count."""
    rows: dict[str, int] = {}
    sources: dict[str, str] = {}
    mismatched: dict[str, list[int | None]] = {}
    for manifest, _ in exported:
        label = manifest.identifier + ("" if manifest.kind == "article" else " (structured)")
        rows[label] = manifest.rows
        source = manifest.source
        if source is None:
            mismatched[label] = [manifest.rows, None]
            continue
        sources[label] = store.uri(store.key(source.manifest_key))
        if manifest.rows != source.record_count:
            mismatched[label] = [manifest.rows, source.record_count]
    parts = [f"{label}: {n} rows" for label, n in rows.items()]
    parts += [f"{label}: skipped" for label in exported.skipped]
    return ParquetExportSummary(
        text="; ".join(parts),
        rows=rows,
        shards=sum(len(shards.shards) for _, shards in exported),
        sources=sources,
        skipped=dict(exported.skipped),
        mismatched=mismatched,
    )


def schema_summary(schema: pa.Schema) -> dict[str, Any]:
    """Column counts of a schema (top-level fields, leaf columns): what a reader of the card wants to know."""

    def leaves(data_type: pa.DataType) -> int:
        if pa.types.is_struct(data_type):
            return sum(leaves(data_type.field(i).type) for i in range(data_type.num_fields))
        if pa.types.is_list(data_type) or pa.types.is_large_list(data_type):
            return leaves(data_type.value_type)
        return 1

    return {"fields": len(schema), "leaf_columns": sum(leaves(f.type) for f in schema)}


__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_ROWS",
    "DEFAULT_MAX_TABLE_DEPTH",
    "KIND_MODELS",
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
