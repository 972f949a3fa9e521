"""The EventStreams listener against a loopback SSE server and the real SeaweedFS: nothing lost, nothing twice."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

import jsonschema
import pytest
import yaml

from wme_assets.realtime.event_log import EventLog
from wme_assets.realtime.eventstreams import InvalidEvent, normalise_page_change
from wme_assets.realtime.listener import ListenerStats, run_listener
from wme_assets.realtime.sse import SseParser
from wme_assets.settings import Settings
from wme_assets_tests.page_change_stream import (
    PageChangeStream,
    frame,
    load_fixture_event,
    make_events,
    sse_id,
    start_stream_server,
)
from wme_assets_tests.paths import REPO_ROOT


@pytest.fixture(scope="module")
def schema_validator(fixtures_dir):
    schema = yaml.safe_load((fixtures_dir / "wmf-event-schemas" / "mediawiki-page-change-1.2.0.yaml").read_text())
    return jsonschema.Draft7Validator(schema)


@pytest.fixture(scope="module")
def fixture_event(fixtures_dir):
    return load_fixture_event(fixtures_dir)


def settings_for(url: str, **extra) -> Settings:
    values = {"projects": "enwiki,dewiki", "eventstreams_url": url, "realtime_stall_seconds": 1.0,
              "realtime_flush_seconds": 0.2, "realtime_cold_start_seconds": 10 * 365 * 86400, **extra}
    return Settings(**values)


def stored(store, projects=("enwiki", "dewiki")):
    log = EventLog(store, "eventstreams")
    return {p: list(log.read(p)) for p in projects}


def run_until(settings, store, stats, condition, timeout=120):
    stop = threading.Event()
    thread = threading.Thread(target=run_listener, args=(settings, store),
                              kwargs={"once": False, "stop": stop, "stats": stats}, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    thread.join(timeout=30)
    assert not thread.is_alive(), "the listener did not stop"
    assert condition(), f"timed out: {stats.as_dict()}"


def test_fixture_event_and_generated_events_are_schema_valid(fixture_event, schema_validator):
    schema_validator.validate(fixture_event)
    for event in make_events(fixture_event, 16):
        schema_validator.validate(event)


def test_fixture_move_is_normalised(fixture_event):
    change = normalise_page_change(fixture_event, sse_id(516188566))
    assert (change.kind, change.project, change.page_id, change.title) == ("move", "enwiki", 77777155,
                                                                          "Varvara_Prohorova")
    assert (change.prior_namespace, change.prior_title) == (118, "Varvara_Prohorova")  # "Draft:" stripped
    assert change.revision_id == 1245305770 and change.event_id == "407f0254-d175-4fab-a299-a513498cbe31"
    assert change.touches_exported_namespace


def test_sse_parser_keeps_frames_whole_across_any_split():
    events = make_events(load_fixture_event(REPO_ROOT.parent / "shared" / "fixtures"), 5)
    body = b"".join(frame(e) for e in events).replace(b"\n", b"\r\n")
    for split in range(0, len(body), 97):
        parser = SseParser()
        frames = parser.feed(body[:split]) + parser.feed(body[split:])
        assert [json.loads(f.data)["meta"]["id"] for f in frames] == [e["meta"]["id"] for e in events]
    assert SseParser().feed(body[:-3]) and len(SseParser().feed(body[:-3])) == 4  # the cut-off frame is not given


def test_hundred_drops_and_one_mid_frame_lose_nothing_and_store_nothing_twice(object_store, fixture_event):
    events = make_events(fixture_event, 300, namespaces=(0, 6, 10, 14, 1))
    wanted = [e for e in events if e["page"]["namespace_id"] != 1]
    frames = [frame(e) for e in events]
    rng = random.Random(7)
    cuts = [rng.randrange(1, sum(len(f) for f in frames[:8])) for _ in range(100)]
    # One cut certainly inside a frame's JSON: half way into the third frame's data line.
    cuts.insert(50, len(frames[0]) + len(frames[1]) + len(frames[2]) // 2)
    stream = PageChangeStream(events, cuts=cuts, replay=2, end_when_done=False)
    server, url = start_stream_server(stream)
    stats = ListenerStats()
    try:
        run_until(settings_for(url), object_store, stats, lambda: stats.kept >= len(wanted) and not stream.cuts)
    finally:
        stream.stop.set()
        server.shutdown()
    assert len(stream.requests) >= 101 and stats.reconnects["end of stream"] >= 101
    assert stats.duplicates > 0  # the server replayed events, and they were skipped
    assert not stats.bad, stats.bad  # a cut frame is dropped and sent again, never half-read
    assert stats.filtered["namespace"] >= len(events) - len(wanted)  # replays of them are filtered again
    log = stored(object_store)
    got = [e for p in log.values() for e in p]
    assert len(got) == len({e.event_id for e in got}) == len(wanted)  # 0 lost, 0 twice
    assert {e.event_id for e in got} == {e["meta"]["id"] for e in wanted}
    for project, items in log.items():
        offsets = [json.loads(e.raw)["meta"]["offset"] for e in items]
        assert offsets == sorted(offsets), f"{project} out of arrival order"
        assert [e.seq for e in items] == list(range(len(items)))
        assert json.loads(items[-1].raw) == next(w for w in wanted if w["meta"]["id"] == items[-1].event_id)
    cursor = EventLog(object_store, "eventstreams").load_cursor()
    assert cursor.positions["eventstreams"] == sse_id(events[-1]["meta"]["offset"])


LISTENER_SCRIPT = """
import sys
from wme_assets.realtime.listener import run_listener
from wme_assets.settings import load_settings
from wme_assets.storage import open_object_store
settings = load_settings()
run_listener(settings, open_object_store(settings), once=False)
"""


def test_killed_listener_resumes_at_its_cursor(object_store, s3_env, fixture_event, monkeypatch):
    events = make_events(fixture_event, 240)
    stream = PageChangeStream(events, delay=0.01, end_when_done=True)
    server, url = start_stream_server(stream)
    env = {**os.environ, **s3_env, "PYTHONPATH": str(REPO_ROOT), "WME_PROJECTS": "enwiki,dewiki",
           "WME_EVENTSTREAMS_URL": url, "WME_REALTIME_FLUSH_SECONDS": "0.1",
           "WME_REALTIME_COLD_START_SECONDS": str(10 * 365 * 86400)}
    proc = subprocess.Popen([sys.executable, "-c", LISTENER_SCRIPT], env=env, start_new_session=True)
    try:
        from wme_assets.settings import load_settings
        from wme_assets.storage import open_object_store

        for name in ("WME_PROJECTS", "WME_EVENTSTREAMS_URL", "WME_REALTIME_COLD_START_SECONDS"):
            monkeypatch.setenv(name, env[name])
        settings = load_settings()
        store = open_object_store(settings)
        log = EventLog(store, "eventstreams")
        deadline = time.monotonic() + 60
        while sum(log.load_cursor().next_seq.values()) < 40 and time.monotonic() < deadline:
            time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGKILL)  # kill -9, mid-stream
        proc.wait(timeout=10)
        stream.stop.set()  # the rest of the first connection's stream goes nowhere
        cursor = log.load_cursor()
        stored_before = sum(cursor.next_seq.values())
        assert 40 <= stored_before < len(events), stored_before
        assert stream.requests[0]["since"] and not stream.requests[0]["last_event_id"]  # cold start: since=

        stream.stop.clear()
        stream.delay = 0
        stats = run_listener(settings, store, once=True)
        assert stream.requests[-1]["last_event_id"] == cursor.positions["eventstreams"]  # resumed at the cursor
        assert stats.kept == len(events) - stored_before
        got = [e for p in stored(store).values() for e in p]
        assert len(got) == len({e.event_id for e in got}) == len(events)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        stream.stop.set()
        server.shutdown()


def test_bad_input_is_counted_kept_and_the_listener_goes_on(object_store, fixture_event, schema_validator):
    good = make_events(fixture_event, 6)
    unknown_wiki = make_events(fixture_event, 7)[6] | {"wiki_id": "xxwiki"}
    talk = make_events(fixture_event, 8, namespaces=(1,))[7]
    no_page = {k: v for k, v in make_events(fixture_event, 9)[8].items() if k != "page"}
    bad_kind = make_events(fixture_event, 10)[9] | {"page_change_kind": "teleport"}
    skewed = make_events(fixture_event, 11)[10] | {"dt": "2024-09-12T05:00:00Z"}  # earlier than the one before
    canary = json.loads(json.dumps(good[0]))
    canary["meta"] |= {"domain": "canary", "id": "canary-1"}
    for invalid in (no_page, bad_kind):
        assert not schema_validator.is_valid(invalid)  # the full schema agrees they are invalid
        with pytest.raises(InvalidEvent, match=invalid["meta"]["id"]):
            normalise_page_change(invalid, "")
    frames = [
        frame(good[0]),
        b"id: " + sse_id(900).encode() + b"\nthis line is no field\ndata: {}\n\n",  # malformed frame
        b"event: message\nid: " + sse_id(901).encode() + b"\n\n",  # no data
        b"event: message\nid: " + sse_id(902).encode() + b'\ndata: {"meta": {"id": "x"\n\n',  # broken JSON
        frame(unknown_wiki), frame(talk), frame(no_page), frame(bad_kind), frame(canary),
        frame(good[1]), frame(good[2]),
        frame(skewed),
        frame(good[3]),  # the first connection stalls before this one
        frame(good[4]),
    ]
    stream = PageChangeStream(good, raw_frames=frames, stall_once_after=len(frames) - 2)
    server, url = start_stream_server(stream)
    stats = ListenerStats()
    try:
        run_until(settings_for(url), object_store, stats, lambda: stats.kept >= 6)
    finally:
        stream.stop.set()
        server.shutdown()
    assert dict(stats.bad) == {"malformed_frame": 2, "malformed_json": 1, "invalid_event": 2}
    assert dict(stats.filtered) == {"project": 1, "namespace": 1, "canary": 1}
    assert stats.reconnects["stalled"] >= 1 and stats.out_of_order_dt == 1
    assert stream.requests[1]["last_event_id"] == sse_id(skewed["meta"]["offset"])
    log = EventLog(object_store, "eventstreams")
    kept = [e.event_id for p in ("enwiki", "dewiki") for e in log.read(p)]
    assert sorted(kept) == sorted([e["meta"]["id"] for e in good[:5]] + [skewed["meta"]["id"]])
    rejected = list(log.read_rejected())
    assert {r.event_id for r in rejected if r.reason == "invalid_event"} == {no_page["meta"]["id"],
                                                                             bad_kind["meta"]["id"]}
    assert all(r.error and (r.raw or r.reason == "malformed_frame") for r in rejected)
    assert any("teleport" in r.error and json.loads(r.raw) == bad_kind for r in rejected)  # raw kept
