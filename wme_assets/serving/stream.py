"""Enterprise's Realtime streaming API: ``GET|POST /v2/articles`` on the realtime base, every article change.

The records are the article-change feed's (:mod:`wme_assets.realtime.feed`): Enterprise article JSON whose
``event`` carries ``identifier``, ``type``, ``date_created``, ``date_published``, ``partition`` and
``offset``. What a connection gets is its request's plan (:mod:`.stream_query`); then ``filters`` and
``fields`` as the other endpoints apply them (:mod:`.query`). ``Accept: application/x-ndjson`` (what the SDK
sends) gives one JSON record per line; anything else Server-Sent Events, ``event: message`` / ``data: {json}``.

The connection stays open: the feed's head is read every ``WME_FEED_POLL_SECONDS`` and each newly committed
append is sent, in order, partition offsets dense and rising. Reads of the store run in worker threads, so a
connection never holds up the event loop. An idle connection gets a keep-alive every ``KEEPALIVE_SECONDS``
(an empty line in NDJSON, which the SDK skips; an SSE comment), so a closed client is noticed.

``limit`` is not a parameter of the stream and is ignored. Resuming: the last record's ``event.offset`` + 1
per ``event.partition`` as ``offsets`` gives every later record once. Paid accounts only (403 for free
ones, as the hourly batches).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from wme_assets.realtime.feed_read import FeedGone, FeedReader, Segment
from wme_assets.serving.accounts import Account
from wme_assets.serving.auth import require_account
from wme_assets.serving.errors import AUTHENTICATED, ApiError, documented
from wme_assets.serving.responses import NDJSON
from wme_assets.serving.services import Services, services
from wme_assets.serving.stream_query import StreamPlan, StreamQuery, plan_stream, read_stream_query

SSE = "text/event-stream"
KEEPALIVE_SECONDS = 15.0
_OBJECT = {"type": "object"}
STREAM = {
    200: {
        "description": "Every article change from the requested start on, as NDJSON or Server-Sent Events",
        "content": {NDJSON: {"schema": _OBJECT}, SSE: {"schema": {"type": "string"}}},
    },
    **documented(410),
}

router = APIRouter(tags=["realtime"], dependencies=[Depends(require_account)], responses=AUTHENTICATED)
Svc = Annotated[Services, Depends(services)]
Caller = Annotated[Account, Depends(require_account)]
Stream = Annotated[StreamQuery, Depends(read_stream_query)]


async def articles(request: Request, svc: Svc, account: Caller, query: Stream) -> StreamingResponse:
    if account.tier != "paid":
        raise ApiError(403, "Forbidden: the realtime stream is for paid accounts")
    reader = svc.feed
    plan = await run_in_threadpool(plan_stream, reader, query, svc.settings.feed_retention_days)
    sse = NDJSON not in request.headers.get("accept", "")
    body = _records(reader, plan, query, sse=sse, poll=svc.settings.feed_poll_seconds)
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(body, media_type=SSE if sse else NDJSON, headers=headers)


for _method in ("GET", "POST"):
    router.add_api_route(
        "/v2/articles", articles, methods=[_method], responses=STREAM, response_class=StreamingResponse
    )


async def _records(reader: FeedReader, plan: StreamPlan, query: StreamQuery, *, sse: bool, poll: float
                   ) -> AsyncIterator[bytes]:  # fmt: skip
    """Every committed append from the plan's start on, then each new one as the head commits it."""
    position, quiet_since = plan.start, time.monotonic()
    while True:
        head = await run_in_threadpool(reader.head, poll / 2)  # the connections share one read per half poll
        while position <= head.last_append:
            try:
                segment = await run_in_threadpool(reader.segment, head, position)
            except FeedGone as exc:  # the retention overtook a slow reader: say so, never skip silently
                yield _frame({"status": 410, "message": f"Gone: {exc}"}, sse, event="error")
                return
            chunk = _render(segment, plan, query, sse)
            position += 1
            if chunk:
                yield chunk
                quiet_since = time.monotonic()
        if time.monotonic() - quiet_since >= KEEPALIVE_SECONDS:
            yield b":\n\n" if sse else b"\n"
            quiet_since = time.monotonic()
        await asyncio.sleep(poll)


def _render(segment: Segment, plan: StreamPlan, query: StreamQuery, sse: bool) -> bytes:
    body, wanted = segment.body, [s for s in segment.spans if plan.wants(s[0], s[1], segment.date_published)]
    if not query.filters and not query.fields:
        if not sse:
            return _ndjson_runs(body, wanted)
        return b"".join(_frame_line(body[start:end], sse) for _, _, start, end in wanted)
    out: list[bytes] = []
    for _, _, start, end in wanted:
        selected = query.select([orjson.loads(body[start:end])])
        if selected:
            out.append(_frame_line(orjson.dumps(selected[0]), sse))
    return b"".join(out)


def _ndjson_runs(body: bytes, wanted: list[tuple[int, int, int, int]]) -> bytes:
    """The wanted lines with their newlines, copied as runs of adjacent lines (a whole segment: one slice)."""
    runs: list[tuple[int, int]] = []
    for _, _, start, end in wanted:
        if runs and runs[-1][1] == start:
            runs[-1] = (runs[-1][0], end + 1)
        else:
            runs.append((start, end + 1))
    return b"".join(body[start:end] for start, end in runs)


def _frame_line(line: bytes, sse: bool) -> bytes:
    return b"event: message\ndata: " + line + b"\n\n" if sse else line + b"\n"


def _frame(data: dict, sse: bool, *, event: str = "message") -> bytes:
    line = orjson.dumps(data)
    return f"event: {event}\ndata: ".encode() + line + b"\n\n" if sse else line + b"\n"
