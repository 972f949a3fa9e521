"""The Arrow schema of a record kind, generated from the pydantic models, and the converter built with it.

Field for field and in the order of :mod:`wme_assets.schema`'s models; recursion unrolled to a fixed depth
(see :mod:`wme_assets.publishing.parquet` for the type mapping and why the depths are what they are).
:class:`RecordConverter` validates JSON lines and turns them into record batches of exactly that schema;
:func:`row_to_record` turns a row read back into its record.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pyarrow as pa
from pydantic import BaseModel, ValidationError

from wme_assets.publishing.parquet.convert import ListConverter, MapConverter, StructConverter, Truncation, drop_nulls
from wme_assets.schema import RECORD_SCHEMA_VERSION, Article, StructuredContent, Table
from wme_assets.schema.parquet_manifest import PARQUET_FORMAT, ParquetKind

Kind = ParquetKind
KIND_MODELS: dict[str, type[BaseModel]] = {"article": Article, "structured-content": StructuredContent}
"""Record kinds with Parquet shards → their model (the same keys as the JSON Schema files)."""

DEFAULT_MAX_DEPTH = 8
"""Levels of ``Part`` spelled out in the schema (see :mod:`wme_assets.publishing.parquet` for why 8)."""
DEFAULT_MAX_TABLE_DEPTH = 2
"""Levels of ``Table``: a table and the tables nested in its cells."""
TIMESTAMP = pa.timestamp("us", tz="UTC")
KEY_VALUE = pa.struct([pa.field("key", pa.string()), pa.field("value", pa.string())])


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
        self._memo: dict[tuple[type[BaseModel], frozenset], StructConverter] = {}

    def limit(self, model: type[BaseModel]) -> int:
        return self.limits.get(model, self.default_limit)

    def struct(self, model: type[BaseModel], levels: Mapping[type[BaseModel], int]) -> StructConverter:
        # Only the recursion state matters for what lies below, so that is the memo key.
        key = (model, frozenset(levels.items()))
        if key in self._memo:
            return self._memo[key]
        converter = StructConverter(model)
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
            return _list_of(item_type), ListConverter(item)
        if origin is dict:
            if typing.get_args(annotation) != (str, str):
                raise TypeError(f"only dict[str, str] has a Parquet type here, not {annotation!r}")
            return _list_of(KEY_VALUE), MapConverter()
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
) -> tuple[StructConverter, pa.Schema]:
    _check_depths(max_depth, max_table_depth)
    # Every other recursive model (none today) would get max_depth too: a new self-reference in the
    # models cannot make the schema infinite.
    builder = _SchemaBuilder({Table: max_table_depth}, max_depth)
    root = builder.struct(model_cls, {model_cls: 1})
    metadata = {
        b"wme.parquet.format": PARQUET_FORMAT.encode(),
        b"wme.record_model": model_cls.__name__.encode(),
        b"wme.schema_version": RECORD_SCHEMA_VERSION.encode(),
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
    return drop_nulls(row, root)


def schema_summary(schema: pa.Schema) -> dict[str, Any]:
    """Column counts of a schema (top-level fields, leaf columns): what a reader of the card wants to know."""

    def leaves(data_type: pa.DataType) -> int:
        if pa.types.is_struct(data_type):
            return sum(leaves(data_type.field(i).type) for i in range(data_type.num_fields))
        if pa.types.is_list(data_type) or pa.types.is_large_list(data_type):
            return leaves(data_type.value_type)
        return 1

    return {"fields": len(schema), "leaf_columns": sum(leaves(f.type) for f in schema)}
