"""Enterprise's snapshot endpoints: lists, metadata, chunks and downloads, per the caller's tier.

Paths as Enterprise's router (``api/main/handlers/v2/v2.go``) and SDK have them::

    GET|POST  /v2/snapshots                                        list (fields, filters, limit)
    GET|POST  /v2/snapshots/{identifier}                           one snapshot's metadata
    GET|HEAD  /v2/snapshots/{identifier}/download                  the .tar.gz (Range)
    GET|POST  /v2/snapshots/{identifier}/chunks                    its chunks' metadata
    GET|POST  /v2/snapshots/{identifier}/chunks/{chunk}            one chunk's (`…_chunk_3` or `3`)
    GET|HEAD  /v2/snapshots/{identifier}/chunks/{chunk}/download   the chunk's .tar.gz (Range)
    GET|POST  /v2/snapshots/structured-contents[/{identifier}]     Structured Contents snapshots
    GET|HEAD  /v2/snapshots/structured-contents/{identifier}/download

Tiers, as Enterprise sells them: a free account sees the free tier (the ``_group_1`` objects, published on
the 2nd and the 21st); a paid account the daily snapshots and the Structured Contents ones. A free account
asking for what only the paid tier has gets 403, not 404. Identifiers are checked against a strict pattern
before any key is built from them (and the store refuses keys that leave its prefix), so a path parameter
can name nothing but a snapshot.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response

from wme_assets.schema.manifest import LatestPointer
from wme_assets.serving.accounts import Account
from wme_assets.serving.auth import require_account
from wme_assets.serving.downloads import serve
from wme_assets.serving.errors import AUTHENTICATED, ApiError
from wme_assets.serving.query import QueryModel, read_query
from wme_assets.serving.responses import (
    download_route,
    entity_response,
    entity_route,
    list_response,
    list_route,
)
from wme_assets.serving.services import Services, services

router = APIRouter(
    prefix="/v2/snapshots", tags=["snapshots"], dependencies=[Depends(require_account)], responses=AUTHENTICATED
)

IDENTIFIER = r"^[a-z0-9_]{1,128}$"
Identifier = Annotated[str, Path(pattern=IDENTIFIER, description="e.g. enwiki_namespace_0")]
ChunkId = Annotated[str, Path(pattern=r"^[a-z0-9_]{1,160}$", description="e.g. enwiki_namespace_0_chunk_3, or 3")]
Svc = Annotated[Services, Depends(services)]
Caller = Annotated[Account, Depends(require_account)]
Query = Annotated[QueryModel, Depends(read_query)]
STRUCTURED = "structured"
ARTICLES = "articles"


def _tier(account: Account, kind: str) -> str:
    if kind == STRUCTURED and account.tier != "paid":
        raise ApiError(403, "Forbidden: Structured Contents snapshots are for paid accounts")
    return "paid" if account.tier == "paid" else "free"


def _pointer(svc: Services, account: Account, kind: str, identifier: str) -> LatestPointer:
    tier = _tier(account, kind)
    pointer = svc.snapshots.pointer(kind, identifier, tier)
    if pointer is not None:
        return pointer
    if tier == "free" and svc.snapshots.pointer(kind, identifier, "paid") is not None:
        raise ApiError(403, f"Forbidden: {identifier} is served to paid accounts only (daily snapshots)")
    raise ApiError(404, f"Not Found: no snapshot {identifier}")


def _list(path: str):
    return list_route(router, path)


def _entity(path: str):
    return entity_route(router, path)


def _download(path: str):
    return download_route(router, path)


# Structured Contents first: "structured-contents" must not be taken for a snapshot identifier.


@_list("/structured-contents")
def structured_snapshots(request: Request, svc: Svc, account: Caller, query: Query) -> Response:
    return list_response(request, query, svc.snapshots.listing(STRUCTURED, _tier(account, STRUCTURED)))


@_entity("/structured-contents/{identifier}")
def structured_snapshot(identifier: Identifier, svc: Svc, account: Caller, query: Query) -> Response:
    return entity_response(query, _pointer(svc, account, STRUCTURED, identifier).snapshot)


@_download("/structured-contents/{identifier}/download")
def structured_snapshot_download(identifier: Identifier, request: Request, svc: Svc, account: Caller) -> Response:
    pointer = _pointer(svc, account, STRUCTURED, identifier)
    return serve(request, svc.snapshots, svc.snapshots.archive(pointer))


@_list("")
def snapshots(request: Request, svc: Svc, account: Caller, query: Query) -> Response:
    return list_response(request, query, svc.snapshots.listing(ARTICLES, _tier(account, ARTICLES)))


@_entity("/{identifier}")
def snapshot(identifier: Identifier, svc: Svc, account: Caller, query: Query) -> Response:
    return entity_response(query, _pointer(svc, account, ARTICLES, identifier).snapshot)


@_download("/{identifier}/download")
def snapshot_download(identifier: Identifier, request: Request, svc: Svc, account: Caller) -> Response:
    pointer = _pointer(svc, account, ARTICLES, identifier)
    return serve(request, svc.snapshots, svc.snapshots.archive(pointer))


@_list("/{identifier}/chunks")
def chunks(identifier: Identifier, request: Request, svc: Svc, account: Caller, query: Query) -> Response:
    pointer = _pointer(svc, account, ARTICLES, identifier)
    return list_response(request, query, [metadata for _, metadata in svc.snapshots.chunks(pointer)])


def _chunk(svc: Services, account: Account, identifier: str, chunk: str):
    pointer = _pointer(svc, account, ARTICLES, identifier)
    wanted = chunk if not chunk.isdigit() else f"{identifier}_chunk_{int(chunk)}"
    for entry, metadata in svc.snapshots.chunks(pointer):
        if entry.identifier == wanted:
            return entry, metadata
    raise ApiError(404, f"Not Found: {identifier} has no chunk {chunk}")


@_entity("/{identifier}/chunks/{chunk}")
def chunk(identifier: Identifier, chunk: ChunkId, svc: Svc, account: Caller, query: Query) -> Response:
    return entity_response(query, _chunk(svc, account, identifier, chunk)[1])


@_download("/{identifier}/chunks/{chunk}/download")
def chunk_download(identifier: Identifier, chunk: ChunkId, request: Request, svc: Svc, account: Caller) -> Response:
    entry, _ = _chunk(svc, account, identifier, chunk)
    return serve(request, svc.snapshots, svc.snapshots.chunk_download(entry))
