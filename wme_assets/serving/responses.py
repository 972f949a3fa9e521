"""Lists as a JSON array, or as NDJSON when the client asks (``Accept: application/x-ndjson``)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request, Response

from wme_assets.serving.query import QueryModel, wants_ndjson

NDJSON = "application/x-ndjson"


def json_response(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def list_response(request: Request, query: QueryModel, records: list[dict[str, Any]]) -> Response:
    selected = query.select(records)
    if wants_ndjson(request):
        body = b"".join(orjson.dumps(record) + b"\n" for record in selected)
        return Response(body, media_type=NDJSON)
    return json_response(selected)


def entity_response(query: QueryModel, record: dict[str, Any]) -> Response:
    return json_response(query.project(record))
