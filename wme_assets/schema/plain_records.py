"""A record model's JSON from plain Python data, without building the model: the same bytes, a fraction of the CPU.

``Model.model_validate(data)`` then :func:`~wme_assets.schema.serialize.to_json_bytes` creates a Python object
for every node of the record. A Structured Contents record of a long article has hundreds of nodes (parts,
links, references, table cells), and that object graph cost more than a sixth of the enrichment worker's CPU
on long articles. :func:`plain_record_encoder` instead compiles, once per model, a function that walks the
plain dicts in the model's field order and applies the same serialization rules (:mod:`.base`): Go
``omitempty`` as ``exclude_defaults`` (a present nested object written even when empty), timestamps as RFC 3339
UTC, integral ``Float64`` values as integers, keys the model does not know left out. ``orjson`` then writes the
bytes. The checks pydantic made on the way (types, required fields) are made on the result by the committed
JSON Schema (:mod:`.validate`, compiled jsonschema-rs), so a record that breaks the contract still fails on the
page that produced it.

The functions are generated as Python source from ``model_fields`` (as ``dataclasses`` does), so the field
order and defaults have one source, the models; ``test_plain_records.py`` checks the bytes against the
pydantic path on every page of the fixtures.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Union, get_args, get_origin

import orjson
from pydantic import BaseModel, TypeAdapter

from .base import go_float, rfc3339
from .validate import record_validator

_MISSING = object()


class _Compiler:
    """Generates one ``_to_<Model>(data) -> dict`` per model reachable from the root model."""

    def __init__(self) -> None:
        self.names: dict[type[BaseModel], str] = {}
        self.sources: list[str] = []
        self.namespace: dict[str, Any] = {
            "_MISSING": _MISSING,
            "_float": go_float,
            "_datetime": datetime,
            "_rfc3339": rfc3339,
            "_to_datetime": TypeAdapter(datetime).validate_python,
        }

    def function_for(self, model: type[BaseModel]) -> str:
        if model not in self.names:
            self.names[model] = f"_to_{model.__name__}_{len(self.names)}"
            self.sources.append(self._compile(model))
        return self.names[model]

    def _compile(self, model: type[BaseModel]) -> str:
        lines = [f"def {self.names[model]}(d):", "    out = {}"]
        for name, field in model.model_fields.items():
            key = field.alias or name
            convert = self._converter(field.annotation, field.metadata)
            default = None if field.is_required() else field.get_default(call_default_factory=True)
            lines.append(f"    v = d.get({key!r}, _MISSING)")
            if field.is_required():  # a required field: always written (missing: the schema says so)
                lines.append(f"    if v is not _MISSING: out[{key!r}] = {convert('v')}")
            elif default is None:  # pointer semantics: written when present, even when empty or zero
                lines.append(f"    if v is not _MISSING and v is not None: out[{key!r}] = {convert('v')}")
            else:  # omitempty: the default is the zero value
                lines.append(f"    if v is not _MISSING and v != {default!r}: out[{key!r}] = {convert('v')}")
        lines.append("    return out")
        return "\n".join(lines)

    def _converter(self, annotation: Any, metadata: list[Any] = ()) -> Callable[[str], str]:
        """A function from a value expression to the expression of its JSON-ready form."""
        serializers = [m for m in metadata if type(m).__name__ == "PlainSerializer"]
        origin = get_origin(annotation)
        if origin is Annotated:
            base, *extra = get_args(annotation)
            return self._converter(base, [*metadata, *extra])
        if origin in (Union, types.UnionType):
            options = [a for a in get_args(annotation) if a is not type(None)]
            if len(options) != 1:
                raise TypeError(f"unsupported union {annotation!r}")
            return self._converter(options[0], metadata)
        if serializers:
            function = serializers[0].func
            if function is rfc3339:  # anything but a datetime is read as pydantic reads it (RFC 3339 text, ...)
                return lambda v: f"_rfc3339({v} if isinstance({v}, _datetime) else _to_datetime({v}))"
            if function is go_float:
                return lambda v: f"(_float({v}) if isinstance({v}, float) else {v})"
            raise TypeError(f"unsupported serializer {function!r}")
        if origin is list:
            (item,) = get_args(annotation)
            inner = self._converter(item)
            if inner("x") == "x":
                return lambda v: v
            return lambda v: f"[{inner('x')} for x in {v}]"
        if origin is dict:
            key_type, value_type = get_args(annotation)
            if self._converter(value_type)("x") != "x":
                raise TypeError(f"unsupported dict values {annotation!r}")
            return lambda v: v
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            function = self.function_for(annotation)
            return lambda v: f"{function}({v})"
        if annotation in (str, int, bool, float) or annotation is Any:
            return lambda v: v
        raise TypeError(f"unsupported field type {annotation!r}")

    def build(self, model: type[BaseModel]) -> Callable[[dict], dict]:
        root = self.function_for(model)
        exec("\n\n".join(self.sources), self.namespace)  # noqa: S102 - source generated from our own models
        return self.namespace[root]


def plain_record_encoder(model: type[BaseModel], schema_kind: str) -> Callable[[dict], bytes]:
    """A function from a record as plain data (dicts, lists, strings, numbers, datetimes) to its JSON bytes,
    equal to ``to_json_bytes(model.model_validate(data))`` for data that validates. What it writes is checked
    against the committed JSON Schema ``schema_kind``: a record that breaks it raises
    :class:`~wme_assets.schema.validate.RecordInvalid` naming the field, as validating the model would."""
    typing.get_type_hints(model)  # resolves forward references before the fields are read
    to_plain = _Compiler().build(model)
    check = record_validator(schema_kind)

    def encode(data: dict) -> bytes:
        plain = to_plain(data)
        check(plain)
        return orjson.dumps(plain)

    return encode
