"""Enterprise's request model for lists and entities: ``fields``, ``filters`` and ``limit``.

One pydantic model for the POST body and the GET query string, as Enterprise's proxy binds both into one
struct (``api/main/packages/proxy/proxy.go``). Enterprise answers metadata lists with S3 Select over an
NDJSON listing, so its filters are exact matches on scalar paths (``in_language.identifier``,
``namespace.identifier``) and ``fields`` is a projection by dotted path; at most 255 of each. The same
semantics here, in Python over the listing's records (a listing has one line per snapshot: small).

GET takes ``fields`` and ``filters`` (as ``field:value``, the value as text), each repeated, and ``limit``.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

MAX_ITEMS = 255
_PATH = r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*"
FIELD_PATH = rf"^{_PATH}$"
Path = Annotated[str, Field(pattern=FIELD_PATH, max_length=4096)]
# The query string's forms: `fields=a.b` and `filters=a.b:value`, each repeated (at most 255 times).
FieldsParam = Annotated[str, StringConstraints(pattern=FIELD_PATH, max_length=4096)]
FilterParam = Annotated[str, StringConstraints(pattern=rf"^{_PATH}:.*$", max_length=4096)]
Scalar = str | int | float | bool | None
JSON_LITERALS = frozenset({"null", "true", "false"})


class Filter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: Path
    value: Scalar

    def matches(self, record: dict[str, Any]) -> bool:
        return _matches(record, self)


class QueryModel(BaseModel):
    """What a client may ask of a list or an entity. Unknown keys (the realtime API's ``since``, ``parts``…)
    are ignored, as Enterprise's shared model ignores those an endpoint does not use."""

    model_config = ConfigDict(extra="ignore")

    fields: list[Path] = Field(default_factory=list, max_length=MAX_ITEMS)
    filters: list[Filter] = Field(default_factory=list, max_length=MAX_ITEMS)
    limit: int | None = Field(default=None, ge=1)

    def select(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The records that pass every filter, at most ``limit`` of them, projected on ``fields``."""
        chosen = [r for r in records if all(_matches(r, f) for f in self.filters)]
        if self.limit is not None:
            chosen = chosen[: self.limit]
        return [self.project(r) for r in chosen]

    def project(self, record: dict[str, Any]) -> dict[str, Any]:
        if not self.fields:
            return record
        out: dict[str, Any] = {}
        for path in self.fields:
            _copy_path(record, out, path.split("."))
        return out


def _lookup(record: Any, parts: list[str]) -> Any:
    for part in parts:
        if not isinstance(record, dict) or part not in record:
            return _MISSING
        record = record[part]
    return record


_MISSING = object()


def _matches(record: dict[str, Any], flt: Filter) -> bool:
    value = _lookup(record, flt.field.split("."))
    if value is _MISSING or isinstance(value, dict | list):
        return False  # exact match on scalar paths only
    if value == flt.value and type(value) is type(flt.value):
        return True
    # S3 Select compares the text of a JSON value: "0" matches the namespace 0, "true" the boolean true.
    return _text(value) == _text(flt.value)


def _text(value: Scalar) -> str:
    return orjson.dumps(value).decode().strip('"') if not isinstance(value, str) else value


def _copy_path(source: Any, target: dict[str, Any], parts: list[str]) -> None:
    if not isinstance(source, dict) or parts[0] not in source:
        return
    head, rest = parts[0], parts[1:]
    value = source[head]
    if not rest:
        target[head] = value
    elif isinstance(value, dict):
        _copy_path(value, target.setdefault(head, {}), rest)
    elif isinstance(value, list):
        items = target.setdefault(head, [{} for _ in value])
        for item, into in zip(value, items, strict=False):
            _copy_path(item, into, rest)


def _filters_from_params(values: list[str]) -> list[dict[str, Any]]:
    """``field:value`` items: the value is text, compared as S3 Select compares (see ``_matches``)."""
    return [dict(zip(("field", "value"), value.split(":", 1), strict=True)) for value in values]


def empty() -> list:
    """The default of a repeated query parameter. Not ``list`` itself: pydantic inspects a default factory's
    signature on every request, and the signature of a builtin is parsed from its text each time."""
    return []


async def read_query(
    request: Request,
    # No default in the OpenAPI document (default_factory), and `limit` not nullable: a query string cannot
    # carry a null, so the document describes what a client can send.
    fields: Annotated[
        list[FieldsParam], Query(default_factory=empty, max_length=MAX_ITEMS, description="A dotted path (repeated)")
    ],
    filters: Annotated[
        list[FilterParam], Query(default_factory=empty, max_length=MAX_ITEMS, description="`field:value` (repeated)")
    ],
    limit: Annotated[int, Query(ge=1, description="At most this many records")] = None,  # type: ignore[assignment]
) -> QueryModel:
    """The request's model: the JSON body of a POST (empty or ``null``: none), else the query string."""
    try:
        if request.method == "POST":
            body = (await request.body()).strip()
            if body and body != b"null":
                return QueryModel.model_validate_json(body)
        names = list(fields)
        if set(names) & JSON_LITERALS:  # `fields=null` is a client's null or false, not a field named so
            raise RequestValidationError(
                [{"loc": ("query", "fields"), "msg": "not a field: null, true or false", "type": "value_error"}]
            )
        return QueryModel.model_validate({"fields": names, "filters": _filters_from_params(filters), "limit": limit})
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None


def _query_names(dependant) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


async def known_parameters_only(request: Request) -> None:
    """Refuse a query parameter the route does not take: a misspelt ``filter=`` must not quietly return
    everything. (Every route of the application depends on this.)"""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None or not request.query_params:
        return
    unknown = set(request.query_params) - _query_names(dependant)
    if unknown:
        raise RequestValidationError(
            [{"loc": ("query", name), "msg": "unknown query parameter", "type": "extra_forbidden"} for name in unknown]
        )


def wants_ndjson(request: Request) -> bool:
    """``Accept: application/x-ndjson`` switches a list from a JSON array to one record per line."""
    return "application/x-ndjson" in request.headers.get("accept", "")
