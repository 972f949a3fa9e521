"""Wikimedia EventStreams' ``mediawiki.page_change.v1``: one SSE connection for every wiki, normalised here.

EventStreams has no server-side filtering, so the one connection carries every wiki's page changes and the
listener keeps its projects and namespaces itself. Resuming is the stream's own: the SSE ``id`` of a frame is
a JSON list of per-partition topic offsets; sent back as ``Last-Event-ID`` the stream continues right after
it. With no stored id (a cold start) ``?since=`` (RFC 3339) replays from a point in time instead.

Validation at run time is a required subset, checked in code, not the full JSON Schema: only the fields the
normaliser reads (a missing one would otherwise surface as a KeyError far from the event), and nothing that a
newer minor version of the schema may add (``additionalProperties: false`` in 1.2.0 would reject those). The raw
event is stored either way, so a stricter check can be replayed later; the tests check the fixtures, and every
event they build, against the full schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import requests

from wme_assets.realtime.events import CHANGE_KINDS, ChangeEvent, Visibility
from wme_assets.realtime.sse import SseFrame, iter_frames

STREAM_NAME = "mediawiki.page_change.v1"
CHUNK_BYTES = 64 * 1024


class InvalidEvent(ValueError):
    """An event that cannot be normalised; the message names its event id and what is wrong."""

    def __init__(self, event_id: str, problem: str):
        super().__init__(f"event {event_id}: {problem}")
        self.event_id = event_id
        self.problem = problem


class StreamInterrupted(ConnectionError):
    """The connection ended in error or stalled (no bytes within the stall timeout)."""


def strip_namespace(title: str, namespace: int) -> str:
    """``page_title`` in database form: MediaWiki prefixes the (local) namespace name outside namespace 0.

    Namespace names never contain ':', so the prefix is everything up to the first one.
    """
    title = title.replace(" ", "_")
    if namespace != 0 and ":" in title:
        return title.split(":", 1)[1]
    return title


def _require(event: dict[str, Any], path: str, kind: type | tuple[type, ...], event_id: str) -> Any:
    value: Any = event
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            raise InvalidEvent(event_id, f"required field {path} is missing")
        value = value[part]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InvalidEvent(event_id, f"{path} is {type(value).__name__}, expected {getattr(kind, '__name__', kind)}")
    if isinstance(value, str) and not value:
        raise InvalidEvent(event_id, f"{path} is empty")
    return value


def event_id_of(event: Any) -> str:
    """The event's meta.id, or a placeholder that says it has none (for messages about bad events)."""
    if isinstance(event, dict) and isinstance(event.get("meta"), dict) and isinstance(event["meta"].get("id"), str):
        return event["meta"]["id"]
    return "(no meta.id)"


def normalise_page_change(event: Any, position: str) -> ChangeEvent:
    """A ``/mediawiki/page/change/1.x`` event as a ChangeEvent; InvalidEvent when a field it needs is wrong."""
    event_id = event_id_of(event)
    if not isinstance(event, dict):
        raise InvalidEvent(event_id, f"the event is a JSON {type(event).__name__}, not an object")
    _require(event, "meta.id", str, event_id)
    kind = _require(event, "page_change_kind", str, event_id)
    if kind not in CHANGE_KINDS:
        raise InvalidEvent(event_id, f"page_change_kind {kind!r} is not one of {', '.join(CHANGE_KINDS)}")
    project = _require(event, "wiki_id", str, event_id)
    dt = _require(event, "dt", str, event_id)
    try:
        datetime.fromisoformat(dt)
    except ValueError:
        raise InvalidEvent(event_id, f"dt {dt!r} is not an ISO 8601 date-time") from None
    page_id = _require(event, "page.page_id", int, event_id)
    namespace = _require(event, "page.namespace_id", int, event_id)
    title = _require(event, "page.page_title", str, event_id)
    rev_id = _require(event, "revision.rev_id", int, event_id)
    is_redirect = event["page"].get("is_redirect", False)
    prior_namespace = prior_title = None
    if kind == "move":
        prior_namespace = _require(event, "prior_state.page.namespace_id", int, event_id)
        prior_title = strip_namespace(_require(event, "prior_state.page.page_title", str, event_id), prior_namespace)
    revision = event["revision"]
    visibility = None
    if all(isinstance(revision.get(f"is_{part}_visible"), bool) for part in ("content", "editor", "comment")):
        visibility = Visibility(
            text=revision["is_content_visible"],
            editor=revision["is_editor_visible"],
            comment=revision["is_comment_visible"],
        )
    return ChangeEvent(
        source="eventstreams",
        event_id=event_id,
        position=position,
        project=project,
        kind=kind,
        dt=dt,
        page_id=page_id,
        namespace=namespace,
        title=strip_namespace(title, namespace),
        revision_id=None if kind == "delete" else rev_id,
        is_redirect=bool(is_redirect),
        prior_namespace=prior_namespace,
        prior_title=prior_title,
        visibility=visibility,
    )


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class EventStreamsSource:
    """One connection to an EventStreams stream URL; the caller reconnects (see ``listener``)."""

    name = "eventstreams"

    def __init__(
        self, url: str, *, stall_seconds: float, connect_seconds: float = 10.0, session: requests.Session | None = None
    ):
        self.url = url
        self.stall_seconds = stall_seconds
        self.connect_seconds = connect_seconds
        self.session = session or requests.Session()
        self.session.headers.setdefault("User-Agent", "wme/0.1 (self-hosted Wikipedia data platform)")

    def frames(self, *, last_event_id: str | None, since: datetime | None) -> Iterator[SseFrame]:
        """The frames of one connection, from ``last_event_id`` (exactly after it) or else from ``since``.

        Returns when the server ends the stream; raises StreamInterrupted when the connection fails or stalls.
        """
        headers = {"Accept": "text/event-stream", "Accept-Encoding": "identity", "Cache-Control": "no-cache"}
        params = {}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        elif since is not None:
            params["since"] = rfc3339(since)
        try:
            # The read timeout is the stall detector: it bounds the wait for the next bytes, not the stream.
            response = self.session.get(
                self.url,
                headers=headers,
                params=params,
                stream=True,
                timeout=(self.connect_seconds, self.stall_seconds),
            )
        except requests.RequestException as exc:
            raise StreamInterrupted(f"{self.url}: cannot connect ({exc.__class__.__name__}: {exc})") from None
        with response:
            if response.status_code != 200:
                raise StreamInterrupted(f"{self.url}: HTTP {response.status_code} {response.text[:200]!r}")
            try:
                yield from iter_frames(self._chunks(response))
            except requests.exceptions.ConnectionError as exc:  # read timeouts arrive as this while streaming
                raise StreamInterrupted(f"{self.url}: {_why(exc, self.stall_seconds)}") from None
            except requests.RequestException as exc:
                raise StreamInterrupted(f"{self.url}: {exc.__class__.__name__}: {exc}") from None

    def _chunks(self, response: requests.Response) -> Iterator[bytes]:
        raw = response.raw
        while True:
            try:
                # read1: whatever has arrived (up to CHUNK_BYTES), so frames are handled as they come.
                chunk = raw.read1(CHUNK_BYTES)
            except Exception as exc:  # urllib3's own errors: translated like requests would
                raise requests.exceptions.ConnectionError(exc) from None
            if not chunk:
                return
            yield chunk

    def close(self) -> None:
        self.session.close()


def _why(exc: Exception, stall_seconds: float) -> str:
    text = str(exc)
    if "timed out" in text.lower():
        return f"stalled: no bytes for {stall_seconds:g} s"
    return f"connection lost ({text[:200]})"
