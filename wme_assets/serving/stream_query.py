"""The realtime API's request (Enterprise's ``since``, ``parts``, ``offsets``, ``since_per_partition`` beside
``fields`` and ``filters``) and the plan it makes against the feed: which partitions, from where.

Enterprise's rules (``api/realtime`` ``model.go``, its SDK README): ``parts`` are 0 to 9, part *p* being
partitions 5p … 5p+4 (all 50 without ``parts``); ``offsets`` are per partition, the first offset wanted
(events with offset ≥ it); ``since`` (RFC 3339, not in the future) and ``since_per_partition`` select by
``event.date_published`` ≥; ``since`` and ``parts`` are exclusive (per part, ``since_per_partition``).
A partition with none of these starts at the newest: what is committed after the connection.

Refusals (Enterprise's error body): 422 for a malformed request, ``since`` in the future, ``since`` with
``parts``, or a time older than the retention (``WME_FEED_RETENTION_DAYS``; Enterprise: "restricted to 48h");
410 Gone for an offset older than the oldest the feed keeps: the records in between are gone, and a client
must not take the stream's silence for their absence (it restarts from a snapshot and its cut point).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import Field, StringConstraints, ValidationError, field_validator

from wme_assets.realtime.feed import MAX_PARTS, PARTITIONS, parse_time, partitions_of_part, rfc3339_ms
from wme_assets.realtime.feed_read import FeedGone, FeedReader
from wme_assets.serving.errors import ApiError
from wme_assets.serving.query import _PATH, MAX_ITEMS, FilterParam, QueryModel, _filters_from_params

Part = Annotated[int, Field(ge=0, lt=MAX_PARTS)]
Partition = Annotated[int, Field(ge=0, lt=PARTITIONS)]


# Enterprise's realtime examples ask for "event.*": a path ending in ".*" is the whole object at that path.
STREAM_FIELD = rf"^{_PATH}(\.\*)?$"
StreamField = Annotated[str, Field(pattern=STREAM_FIELD, max_length=4096)]
StreamFieldParam = Annotated[str, StringConstraints(pattern=STREAM_FIELD, max_length=4096)]


class StreamQuery(QueryModel):
    fields: list[StreamField] = Field(default_factory=list, max_length=MAX_ITEMS)  # type: ignore[assignment]
    since: str | None = None
    parts: list[Part] = Field(default_factory=list, max_length=MAX_PARTS)
    offsets: dict[Partition, Annotated[int, Field(ge=0)]] = Field(default_factory=dict)
    since_per_partition: dict[Partition, str] = Field(default_factory=dict)

    @field_validator("fields")
    @classmethod
    def _whole_objects(cls, fields: list[str]) -> list[str]:
        return [path.removesuffix(".*") for path in fields]


async def read_stream_query(
    request: Request,
    fields: Annotated[
        list[StreamFieldParam],
        Query(default_factory=list, max_length=MAX_ITEMS, description="A dotted path, or one ending in .* (repeated)"),
    ],
    filters: Annotated[
        list[FilterParam], Query(default_factory=list, max_length=MAX_ITEMS, description="`field:value` (repeated)")
    ],
    parts: Annotated[list[Part], Query(default_factory=list, max_length=MAX_PARTS, description="0 to 9 (repeated)")],
    since: Annotated[
        str, Query(description="RFC 3339: records published at or after it", json_schema_extra={"format": "date-time"})
    ] = None,  # type: ignore[assignment]
) -> StreamQuery:
    """The JSON body of a POST (as the SDK sends it), else the query string (``offsets`` and
    ``since_per_partition`` are maps: POST only)."""
    try:
        if request.method == "POST":
            body = (await request.body()).strip()
            if body and body != b"null":
                return StreamQuery.model_validate_json(body)
        data = {"fields": list(fields), "filters": _filters_from_params(filters), "parts": parts, "since": since}
        return StreamQuery.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None


@dataclass
class StreamPlan:
    """Which partitions a connection gets, and from which offset or publication time each."""

    start: int  # the first append to read
    from_offset: dict[int, int] = field(default_factory=dict)
    from_time: dict[int, str] = field(default_factory=dict)

    def wants(self, partition: int, offset: int, published: str) -> bool:
        if partition in self.from_offset:
            return offset >= self.from_offset[partition]
        since = self.from_time.get(partition)
        return since is not None and published >= since


def _time(name: str, text: str, now: datetime, retention_days: int) -> str:
    try:
        moment = parse_time(text)
    except ValueError:
        raise ApiError(422, f"Unprocessable Entity: {name}: not an RFC 3339 time: {text!r}") from None
    if moment > now:
        raise ApiError(422, f"Unprocessable Entity: {name}: {text} is in the future")
    if moment < now - timedelta(days=retention_days):
        raise ApiError(
            422, f"Unprocessable Entity: {name}: {text} is older than the {retention_days} days the stream keeps"
        )
    return rfc3339_ms(moment)


def plan_stream(reader: FeedReader, query: StreamQuery, retention_days: int, now: datetime | None = None) -> StreamPlan:
    """The plan of a connection (module docstring); reads the head and the checkpoints (call off the loop)."""
    now = now or datetime.now(UTC)
    if query.since is not None and query.parts:
        raise ApiError(422, "Unprocessable Entity: since and parts cannot be used together; "
                            "use since_per_partition (or offsets) for parts")  # fmt: skip
    head = reader.head()
    parts = query.parts or range(MAX_PARTS)
    selected = sorted({partition for part in parts for partition in partitions_of_part(part)})
    plan = StreamPlan(start=head.last_append + 1)
    since = _time("since", query.since, now, retention_days) if query.since is not None else None
    per_partition = {p: _time(f"since_per_partition[{p}]", t, now, retention_days)
                     for p, t in query.since_per_partition.items()}  # fmt: skip
    checkpoints = reader.checkpoints(head) if (query.offsets or since or per_partition) else []
    for partition in selected:
        if partition in query.offsets:
            offset = query.offsets[partition]
            try:
                plan.start = min(plan.start, reader.start_for_offset(head, checkpoints, partition, offset))
            except FeedGone as exc:
                raise ApiError(410, f"Gone: {exc}") from None
            plan.from_offset[partition] = offset
        elif partition in per_partition or since is not None:
            plan.from_time[partition] = per_partition.get(partition, since)
        else:
            plan.from_offset[partition] = head.next_offsets[partition]  # the newest: what comes from now on
    if plan.from_time:
        earliest = min(plan.from_time.values())
        plan.start = min(plan.start, reader.start_for_time(head, checkpoints, earliest))
    return plan
