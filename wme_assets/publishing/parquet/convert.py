"""Record → row conversion, one converter per struct, list and map level of the unrolled schema.

:mod:`.schema` builds these converters together with the Arrow types (one per model and recursion state);
here is what they do with a record: keep the fields the record set, fold parts below the schema's depth
into their ancestor, count what could not be kept (:class:`Truncation`), and (:func:`drop_nulls`) turn a
row read back into the record again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from pydantic import BaseModel

TRUNCATION_SAMPLE = 10  # page ids of truncated records kept for diagnosis


@dataclass
class Truncation:
    """What the fixed-depth unroll could not keep as it was (see :mod:`wme_assets.publishing.parquet`)."""

    records: int = 0  # records with anything folded or dropped
    folded: int = 0  # parts below level ``max_depth``, moved up to that level in document order
    dropped: int = 0  # nested objects left out (tables nested deeper than ``max_table_depth``)
    page_ids: list[int] = field(default_factory=list)  # the first few affected records

    def add(self, other: Truncation) -> None:
        self.records += other.records
        self.folded += other.folded
        self.dropped += other.dropped
        self.page_ids.extend(other.page_ids[: TRUNCATION_SAMPLE - len(self.page_ids)])


class StructConverter:
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


class ListConverter:
    def __init__(self, item: Any):
        self.item = item  # a converter, or None for scalars
        fold = item.fold_attribute if isinstance(item, StructConverter) else None
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


class MapConverter:
    @staticmethod
    def convert(value: Mapping[str, str], stats: Truncation) -> list[dict[str, str]]:
        return [{"key": key, "value": item} for key, item in value.items()]



def drop_nulls(value: Any, converter: Any) -> Any:
    if isinstance(converter, StructConverter):
        out = {}
        for _, column, item in converter.fields:
            inner = value.get(column)
            if inner is not None:
                out[column] = drop_nulls(inner, item)
        return out
    if isinstance(converter, ListConverter):
        return [drop_nulls(item, converter.item) for item in value]
    if isinstance(converter, MapConverter):
        return {entry["key"]: entry["value"] for entry in value}
    return value
