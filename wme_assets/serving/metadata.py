"""Enterprise's metadata endpoints: ``/v2/projects``, ``/v2/languages``, ``/v2/namespaces``, ``/v2/codes``.

Each list takes ``fields``, ``filters`` and ``limit`` as the snapshot lists do, each ``/{identifier}`` one
object; GET and POST alike. The objects come from the catalogue (:mod:`wme_assets.serving.catalogue`).
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response

from wme_assets.serving.auth import require_account
from wme_assets.serving.catalogue import CatalogUnavailable, Metadata
from wme_assets.serving.errors import AUTHENTICATED, ApiError, documented
from wme_assets.serving.query import QueryModel, read_query
from wme_assets.serving.responses import ENTITY, LIST, entity_response, list_response
from wme_assets.serving.services import Services, services

router = APIRouter(prefix="/v2", tags=["metadata"], dependencies=[Depends(require_account)], responses=AUTHENTICATED)
Svc = Annotated[Services, Depends(services)]
Query = Annotated[QueryModel, Depends(read_query)]

# Which objects each endpoint serves, and what its identifier looks like.
KINDS = {
    "projects": r"^[a-z0-9_]{1,64}$",
    "languages": r"^[a-z0-9-]{1,32}$",
    "namespaces": r"^[0-9]{1,4}$",
    "codes": r"^[a-z]{1,32}$",
}


def _metadata(svc: Services) -> Metadata:
    try:
        return svc.catalog.metadata()
    except CatalogUnavailable as exc:
        raise ApiError(503, f"Service Unavailable: the catalogue of projects cannot be read: {exc}") from None


def _objects(svc: Services, kind: str) -> dict:
    return getattr(_metadata(svc), kind)


def _register(kind: str, pattern: str) -> None:
    def listing(request: Request, svc: Svc, query: Query) -> Response:
        return list_response(request, query, list(_objects(svc, kind).values()))

    def one(identifier: Annotated[str, Path(pattern=pattern)], svc: Svc, query: Query) -> Response:
        objects = _objects(svc, kind)
        key = int(identifier) if kind == "namespaces" else identifier
        if key not in objects:
            raise ApiError(404, f"Not Found: no {kind[:-1]} {identifier}")
        return entity_response(query, objects[key])

    for method in ("GET", "POST"):
        for path, function, responses in ((f"/{kind}", listing, LIST), (f"/{kind}/{{identifier}}", one, ENTITY)):
            router.add_api_route(
                path, function, methods=[method], responses=responses | documented(503), response_class=Response
            )


for _kind, _pattern in KINDS.items():
    _register(_kind, _pattern)
