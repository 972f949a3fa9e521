"""Enterprise's hourly batch endpoints: an hour's list, one batch's object, its download.

Paths as Enterprise's SDK (``modules/api/api_client.py``: ``batches/{%Y-%m-%d}/{%H}``) has them::

    GET|POST  /v2/batches/{YYYY-MM-DD}/{HH}                          the hour's batches (fields, filters, limit)
    GET|POST  /v2/batches/{YYYY-MM-DD}/{HH}/{identifier}             one batch's object
    GET|HEAD  /v2/batches/{YYYY-MM-DD}/{HH}/{identifier}/download    its .tar.gz (Range)

Batches are sold to the paid tier: a free account gets 403. An hour older than the retention
(``WME_BATCH_RETENTION_DAYS``), or without a listing (not exported yet, or nothing changed), is 404. A date,
hour or identifier not of its pattern (``YYYY-MM-DD``, ``HH`` 00 to 23, ``[a-z0-9_]``) is 422, and a well-formed
date not in the calendar (02-30) is 404, all before any key is built from them, so a path parameter can name
nothing outside ``batches/``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response

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
from wme_assets.serving.snapshots import IDENTIFIER

router = APIRouter(
    prefix="/v2/batches", tags=["batches"], dependencies=[Depends(require_account)], responses=AUTHENTICATED
)

DAY = r"^[1-9]\d{3}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$"
HOUR = r"^([01]\d|2[0-3])$"
Day = Annotated[str, Path(pattern=DAY, description="The batch's day, YYYY-MM-DD (UTC)")]
Hour = Annotated[str, Path(pattern=HOUR, description="The batch's hour, HH (UTC, 00 to 23)")]
Identifier = Annotated[str, Path(pattern=IDENTIFIER, description="e.g. enwiki_namespace_0")]
Svc = Annotated[Services, Depends(services)]
Caller = Annotated[Account, Depends(require_account)]
Query = Annotated[QueryModel, Depends(read_query)]


def _hour(svc: Services, account: Account, day: str, hour: str) -> str:
    """The hour as ``YYYYMMDDHH`` once the caller may have it and it is a real, kept hour."""
    if account.tier != "paid":
        raise ApiError(403, "Forbidden: hourly batches are for paid accounts")
    try:
        start = datetime.strptime(f"{day} {hour}", "%Y-%m-%d %H").replace(tzinfo=UTC)
    except ValueError:  # well formed, but not in the calendar (02-30): no such hour, so no batches
        raise ApiError(404, f"Not Found: {day} is not a day of the calendar") from None
    days = svc.settings.batch_retention_days
    if start < datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=days):
        raise ApiError(404, f"Not Found: batches are kept {days} days; {day}/{hour} is older")
    return start.strftime("%Y%m%d%H")


def _batch(svc: Services, account: Account, day: str, hour: str, identifier: str):
    found = svc.snapshots.batch(_hour(svc, account, day, hour), identifier)
    if found is None:
        raise ApiError(404, f"Not Found: no batch {identifier} for {day}/{hour}")
    return found


@list_route(router, "/{day}/{hour}")
def batches(day: Day, hour: Hour, request: Request, svc: Svc, account: Caller, query: Query) -> Response:
    listing = svc.snapshots.batch_listing(_hour(svc, account, day, hour))
    if listing is None:
        raise ApiError(404, f"Not Found: no batches for {day}/{hour} (not exported yet, or nothing changed)")
    return list_response(request, query, listing)


@entity_route(router, "/{day}/{hour}/{identifier}")
def batch(day: Day, hour: Hour, identifier: Identifier, svc: Svc, account: Caller, query: Query) -> Response:
    return entity_response(query, _batch(svc, account, day, hour, identifier)[0])


@download_route(router, "/{day}/{hour}/{identifier}/download")
def batch_download(day: Day, hour: Hour, identifier: Identifier, request: Request, svc: Svc, account: Caller):
    return serve(request, svc.snapshots, _batch(svc, account, day, hour, identifier)[1])
