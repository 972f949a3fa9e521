"""A loopback stand-in for Wikimedia's EventStreams (unreachable from here), serving page_change events.

The events are the real ``page-change.json`` fixture event with ids, titles, pages, revisions, kinds and
offsets varied (each one checked against the real 1.2.0 schema by the tests). The server behaves like
EventStreams where the listener depends on it: SSE frames ``event``/``id``/``data``, the ``id`` a JSON list of
per-partition topic offsets, ``Last-Event-ID`` resumes right after that offset, ``?since=`` replays from a
time. It can also misbehave on purpose: cut the connection after a planned number of bytes (anywhere, mid-frame
included), replay a few events before the resume point (at-least-once delivery), stall, or serve raw frames.
"""

from __future__ import annotations

import copy
import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

TOPIC = "eqiad.mediawiki.page_change.v1"
BASE_OFFSET = 516188566  # the fixture's meta.offset
KINDS = ("edit", "create", "edit", "move", "edit", "delete", "undelete", "visibility_change")


def load_fixture_event(fixtures: Path) -> dict:
    return json.loads((fixtures / "wmf-event-stream-testdata" / "page-change.json").read_text())[0]


def make_events(fixture: dict, count: int, *, projects=("enwiki", "dewiki"), namespaces=(0, 0, 6, 10, 14)) -> list:
    """``count`` page_change events derived from the fixture, one offset apart, dt one second apart."""
    start = datetime(2024, 9, 12, 6, 58, 34, tzinfo=UTC)
    prefixes = {6: "File:", 10: "Template:", 14: "Category:", 1: "Talk:"}
    events = []
    for i in range(count):
        event = copy.deepcopy(fixture)
        kind = KINDS[i % len(KINDS)]
        namespace = namespaces[i % len(namespaces)]
        dt = (start + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
        event["page_change_kind"] = kind
        event["changelog_kind"] = {"create": "insert", "undelete": "insert", "delete": "delete"}.get(kind, "update")
        event["wiki_id"] = projects[i % len(projects)]
        event["meta"]["domain"] = f"{event['wiki_id'][:2]}.wikipedia.org"
        event["meta"]["id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"wme-test-{i}"))
        event["meta"]["request_id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"wme-test-request-{i}"))
        event["meta"]["offset"] = BASE_OFFSET + i
        event["meta"]["dt"] = event["dt"] = event["revision"]["rev_dt"] = dt
        event["page"] = {"page_id": 77777155 + i, "page_title": f"{prefixes.get(namespace, '')}Varvara_Prohorova_{i}",
                         "namespace_id": namespace, "is_redirect": False}
        event["revision"]["rev_id"] = 1245305770 + i
        event["revision"]["rev_parent_id"] = 1245305770 + i - 1
        if kind != "move":
            event.pop("created_redirect_page", None)
            event.pop("prior_state", None)
        else:
            event["prior_state"]["page"] = {"page_title": f"Draft:Varvara_Prohorova_{i}", "namespace_id": 118}
        if kind == "visibility_change":
            event["revision"]["is_content_visible"] = False
        events.append(event)
    return events


def event_offset(event: dict) -> int:
    return event["meta"]["offset"]


def sse_id(offset: int) -> str:
    return json.dumps([{"topic": TOPIC, "partition": 0, "offset": offset},
                       {"topic": "codfw.mediawiki.page_change.v1", "partition": 0, "offset": -1}])


def frame(event: dict) -> bytes:
    return f"event: message\nid: {sse_id(event_offset(event))}\ndata: {json.dumps(event)}\n\n".encode()


class PageChangeStream:
    """The served stream and its misbehaviour plan; ``requests`` records each connection's resume headers."""

    def __init__(self, events: list[dict], *, cuts: list[int] | None = None, replay: int = 0,
                 end_when_done: bool = True, delay: float = 0.0, raw_frames: list[bytes] | None = None,
                 stall_once_after: int | None = None):
        self.events = events
        self.cuts = list(cuts or [])  # per connection: bytes sent before the connection is cut
        self.replay = replay  # events before the resume point sent again (at-least-once delivery)
        self.end_when_done = end_when_done
        self.delay = delay
        self.raw_frames = raw_frames  # served as they are, instead of events
        self.stall_once_after = stall_once_after  # frames after which the first connection goes silent
        self.requests: list[dict] = []
        self.stop = threading.Event()

    def start_index(self, last_event_id: str | None, since: str | None) -> int:
        if last_event_id:
            offset = next(p["offset"] for p in json.loads(last_event_id) if p["topic"] == TOPIC)
            index = next((i for i, e in enumerate(self.events) if event_offset(e) > offset), len(self.events))
            return max(0, index - self.replay)
        if since:
            return next((i for i, e in enumerate(self.events) if e["meta"]["dt"] >= since), len(self.events))
        return len(self.events)  # like EventStreams: with neither, only what happens from now on

    def serve(self, handler: BaseHTTPRequestHandler) -> None:
        query = parse_qs(urlparse(handler.path).query)
        last_id, since = handler.headers.get("Last-Event-ID"), query.get("since", [None])[0]
        self.requests.append({"last_event_id": last_id, "since": since})
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.end_headers()
        if self.raw_frames is not None:
            stall = self.stall_once_after if len(self.requests) == 1 else None
            frames = self.raw_frames if len(self.requests) == 1 else self.raw_frames[self.stall_once_after or 0:]
            for n, data in enumerate(frames):
                if stall is not None and n == stall:
                    handler.wfile.flush()
                    self.stop.wait(30)  # silent: the client's stall timeout must fire
                    return
                handler.wfile.write(data)
            handler.wfile.flush()
            return
        body = b"".join(frame(e) for e in self.events[self.start_index(last_id, since):])
        cut = self.cuts.pop(0) if self.cuts else None
        if cut is not None:
            body = body[:cut]
        if self.delay:
            pieces = body.split(b"\n\n")
            for n, piece in enumerate(pieces):
                if self.stop.is_set():
                    return
                # the last piece is what follows the final frame: empty, or a cut-off frame sent as it is
                handler.wfile.write(piece if n == len(pieces) - 1 else piece + b"\n\n")
                handler.wfile.flush()
                time.sleep(self.delay)
        else:
            handler.wfile.write(body)
        handler.wfile.flush()
        if cut is None and not self.end_when_done:
            self.stop.wait(30)


def start_stream_server(stream: PageChangeStream) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # the body ends when the connection closes, as a cut does

        def do_GET(self):  # noqa: N802 (http.server's naming)
            try:
                stream.serve(self)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/v2/stream/mediawiki.page_change.v1"
