"""Lists as a JSON array, or as NDJSON when the client asks (``Accept: application/x-ndjson``); the routes of
Enterprise's three kinds of endpoint (list, entity, download) with their documented responses."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request, Response

from wme_assets.serving.query import QueryModel, wants_ndjson

NDJSON = "application/x-ndjson"
JSON = "application/json"
_OBJECT = {"type": "object"}
LIST = {
    200: {
        "description": "The records (Enterprise's metadata objects), a JSON array, or NDJSON when asked",
        "content": {JSON: {"schema": {"type": "array", "items": _OBJECT}}, NDJSON: {"schema": _OBJECT}},
    }
}
ENTITY = {200: {"description": "One record (an Enterprise metadata object)", "content": {JSON: {"schema": _OBJECT}}}}
_ARCHIVE = {"application/gzip": {"schema": {"type": "string", "format": "binary"}}}
DOWNLOAD = {
    200: {"description": "The whole .tar.gz", "content": _ARCHIVE},
    206: {"description": "The byte range asked for (Range)", "content": _ARCHIVE},
    416: {"description": "Range Not Satisfiable (Content-Range: bytes */size)"},
}


def json_response(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type=JSON)


def list_response(request: Request, query: QueryModel, records: list[dict[str, Any]]) -> Response:
    selected = query.select(records)
    if wants_ndjson(request):
        body = b"".join(orjson.dumps(record) + b"\n" for record in selected)
        return Response(body, media_type=NDJSON)
    return json_response(selected)


def entity_response(query: QueryModel, record: dict[str, Any]) -> Response:
    return json_response(query.project(record))


def _route(router: APIRouter, path: str, methods: tuple[str, ...], responses: dict):
    """One route per method (each its own OpenAPI operation) for the same function; the responses are
    documented by hand (the functions return their own Response: JSON, NDJSON or an archive)."""

    def register(function):
        for method in methods:
            router.add_api_route(path, function, methods=[method], responses=responses, response_class=Response)
        return function

    return register


def list_route(router: APIRouter, path: str):
    """``GET`` and ``POST`` (Enterprise's request model in the query string or the body) of a list."""
    return _route(router, path, ("GET", "POST"), LIST)


def entity_route(router: APIRouter, path: str):
    return _route(router, path, ("GET", "POST"), ENTITY)


def download_route(router: APIRouter, path: str):
    """``GET`` and ``HEAD`` of an archive (:func:`wme_assets.serving.downloads.serve`)."""
    return _route(router, path, ("GET", "HEAD"), DOWNLOAD)
