"""Enterprise's On-demand API: the current article with a title, in every project that has one.

::

    GET|POST  /v2/articles/{name}               Enterprise articles (JSON array, or NDJSON when asked)
    GET|POST  /v2/structured-contents/{name}    their Structured Contents

As Enterprise's proxy (``api/main/packages/proxy/proxy.go``, ``NewGetLargeEntities``): ``limit`` is 3 unless
given and at most 10 (422 above); at most one article per project, projects in dbname order, until the limit;
``is_part_of.identifier`` and ``in_language.identifier`` choose the projects, ``namespace.identifier`` and any
other filter are matched on the article (for Structured Contents too, as Enterprise filters the article before
converting it), then ``fields`` projects what is returned; no article anywhere is 404. The name is a page
title with spaces or underscores (``AC/DC`` keeps its slash), found as MediaWiki would find it
(:mod:`.titles`), a redirect's title finding the page it points to. Both tiers may call it.

Answers come from the title indexes (:mod:`.ondemand_index`): current with the article store, so a change the
realtime path published is in the answer once the index checked it (``WME_ONDEMAND_REFRESH_SECONDS``). While
the index of a project that the request could reach is still being built for the first time: 503 with
``Retry-After``.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool

from wme_assets.serving.auth import charged
from wme_assets.serving.catalogue import CatalogUnavailable
from wme_assets.serving.errors import AUTHENTICATED, ApiError, documented
from wme_assets.serving.ondemand_index import NotReady
from wme_assets.serving.query import (
    MAX_ITEMS,
    FieldsParam,
    FilterParam,
    QueryModel,
    empty,
    read_query,
    wants_ndjson,
)
from wme_assets.serving.quotas import ONDEMAND
from wme_assets.serving.responses import JSON, LIST, NDJSON
from wme_assets.serving.services import Services, services
from wme_assets.serving.titles import MAX_REQUEST_CHARS, TITLE_PATTERN

DEFAULT_LIMIT, MAX_LIMIT = 3, 10
RETRY_AFTER = {"Retry-After": "10"}
PROJECT, LANGUAGE, NAMESPACE = "is_part_of.identifier", "in_language.identifier", "namespace.identifier"


# Every request of the on-demand group (articles and structured contents together, as Enterprise caps them) is
# counted against its account's monthly quota (serving/quotas.py): past a free account's cap, 429.
charge_on_demand = charged(ONDEMAND)


router = APIRouter(
    prefix="/v2",
    tags=["on-demand"],
    dependencies=[Depends(charge_on_demand)],
    responses=AUTHENTICATED | documented(503),
)
Svc = Annotated[Services, Depends(services)]
Name = Annotated[
    str,
    Path(
        pattern=TITLE_PATTERN,
        max_length=MAX_REQUEST_CHARS,
        description="A page title, with spaces or underscores (e.g. Albert Einstein, AC/DC)",
    ),
]


async def read_ondemand_query(
    request: Request,
    fields: Annotated[
        list[FieldsParam], Query(default_factory=empty, max_length=MAX_ITEMS, description="A dotted path (repeated)")
    ],
    filters: Annotated[
        list[FilterParam], Query(default_factory=empty, max_length=MAX_ITEMS, description="`field:value` (repeated)")
    ],
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="At most this many articles (default 3)")] = None,  # type: ignore[assignment]
) -> QueryModel:
    """The shared request model (:func:`~wme_assets.serving.query.read_query`), with Enterprise's cap on
    ``limit`` (a POST body is checked here, the query string by its declaration)."""
    query = await read_query(request, fields, filters, limit)
    if query.limit is not None and query.limit > MAX_LIMIT:
        raise RequestValidationError(
            [{"loc": ("body", "limit"), "msg": f"limit cannot be greater than {MAX_LIMIT}", "type": "less_than_equal"}]
        )
    return query


Query_ = Annotated[QueryModel, Depends(read_ondemand_query)]


async def _projects(svc: Services, query: QueryModel) -> list[str]:
    """The projects the request can reach (filters on project and language), each with its index ready; the
    stores checked for changes first when that is due."""
    try:
        if svc.ondemand.due():
            await run_in_threadpool(svc.ondemand.check)
        served = svc.ondemand.projects()
        known = svc.catalog.metadata().projects
    except CatalogUnavailable as exc:
        raise ApiError(503, f"Service Unavailable: the catalogue of projects cannot be read: {exc}") from None
    except NotReady as exc:
        raise ApiError(503, f"Service Unavailable: {exc}; try again shortly", RETRY_AFTER) from None
    chosen = [f for f in query.filters if f.field in (PROJECT, LANGUAGE)]
    reachable = [
        name
        for name in served
        if all(
            f.matches({"is_part_of": {"identifier": name}, "in_language": known[name]["in_language"]}) for f in chosen
        )
    ]
    try:
        svc.ondemand.require_ready(reachable)
    except NotReady as exc:
        raise ApiError(503, f"Service Unavailable: {exc}; try again shortly", RETRY_AFTER) from None
    return reachable


async def _answer(request: Request, svc: Services, query: QueryModel, name: str, structured: bool) -> Response:
    """In the event loop: a look-up is a few point reads of local SQLite and zstd (tens of microseconds per
    project, less than a hop through the thread pool costs); only the check of the stores leaves it."""
    limit = query.limit or DEFAULT_LIMIT
    namespace = [f for f in query.filters if f.field == NAMESPACE]
    others = [f for f in query.filters if f.field not in (PROJECT, LANGUAGE, NAMESPACE)]
    parse = bool(others or query.fields)
    found: list[bytes] = []
    for project in await _projects(svc, query):
        hit = svc.ondemand.lookup(project, name, structured=structured)
        if hit is None or (structured and hit.structured is None):
            continue
        if not all(f.matches({"namespace": {"identifier": hit.namespace}}) for f in namespace):
            continue
        body = hit.structured if structured else hit.article
        if parse:
            article: dict[str, Any] = orjson.loads(hit.article)
            if not all(f.matches(article) for f in others):
                continue
            body = orjson.dumps(query.project(orjson.loads(body) if structured else article))
        elif b"\n" in body:
            body = orjson.dumps(orjson.loads(body))  # one record per line, whatever the stored spacing
        found.append(body)
        if len(found) == limit:
            break
    if not found:
        kind = "Structured Contents" if structured else "article"
        raise ApiError(404, f"Not Found: no {kind} titled {name!r} in the projects asked")
    if wants_ndjson(request):
        return Response(b"".join(item + b"\n" for item in found), media_type=NDJSON)
    return Response(b"[" + b",".join(found) + b"]", media_type=JSON)


async def articles(name: Name, request: Request, svc: Svc, query: Query_) -> Response:
    return await _answer(request, svc, query, name, structured=False)


async def structured_contents(name: Name, request: Request, svc: Svc, query: Query_) -> Response:
    return await _answer(request, svc, query, name, structured=True)


# `:path`: a title may hold slashes (AC/DC); the OpenAPI document still shows the parameter as {name}.
for _path, _function in (
    ("/articles/{name:path}", articles),
    ("/structured-contents/{name:path}", structured_contents),
):
    for _method in ("GET", "POST"):
        router.add_api_route(_path, _function, methods=[_method], responses=LIST, response_class=Response)
