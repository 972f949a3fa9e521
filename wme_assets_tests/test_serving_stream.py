"""`wme serve`'s Realtime streaming API (``/v2/articles``) against Enterprise's official Python SDK, unchanged.

Once per module: the feed of a store whose first four appends are eight days old (real elwiki articles, in
groups of two appends, so the oldest group is past the retention and dropped) and then real mrwiki changes
applied by ``update_project`` (``feed_world``); `wme serve` runs over that store. The SDK streams with parts
and offsets, is cancelled mid-stream and resumes; new changes are applied while it is connected.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest

from wme_assets.devtools.prefetched import load
from wme_assets.enrichment.article import Site
from wme_assets.realtime import feed as feed_module
from wme_assets.realtime.apply import build_fetched
from wme_assets.realtime.feed import append_records, load_head, partitions_of_part
from wme_assets.realtime.feed_records import application_records
from wme_assets_tests.api_server import APIStatusError, Request, Server, _status, running_server
from wme_assets_tests.feed_world import FeedWorld, feed_records, feed_settings
from wme_assets_tests.paths import FIXTURES
from wme_assets_tests.servers import new_test_store

pytestmark = pytest.mark.integration

OLD_DUMP = FIXTURES / "xztextfilter-truncated-dumps" / "elwiki-truncated-100k.xml.xz"
STREAM_SECONDS = 60  # a stream that has not given what a test waits for by then fails it


@pytest.fixture(scope="module")
def world(seaweedfs, tmp_path_factory) -> FeedWorld:
    store = new_test_store(seaweedfs)
    work = tmp_path_factory.mktemp("stream")
    world = FeedWorld(store, feed_settings(store, work / "home"), work, pages=80)
    with pytest.MonkeyPatch.context() as patch:  # small groups: retention and several groups are exercised
        patch.setattr(feed_module, "GROUP_APPENDS", 2)
        patch.setattr(feed_module, "CHECKPOINT_APPENDS", 1)
        siteinfo, revisions = load(OLD_DUMP)
        site, old = Site.from_siteinfo(siteinfo), datetime.now(UTC) - timedelta(days=8)
        for n, rev in enumerate(revisions[:4]):
            built = build_fetched(rev, site, run_id="t", source="events:test")
            records = application_records("elwiki", "el", {rev.page_id: ("upsert", built)}, {}, n)
            append_records(store, world.settings, "elwiki", n, records, now=lambda n=n: old + timedelta(minutes=n))
        for start in range(0, 30, 10):  # three applications of ten creates each
            world.log([world.event("edit", r) for r in world.revisions[start : start + 10]])
            world.update()
    assert load_head(store).retained_from == 2  # the first group (appends 0 and 1) is gone
    return world


@pytest.fixture(scope="module")
def server(world, tmp_path_factory) -> Iterator[Server]:
    with running_server(world.store, tmp_path_factory.mktemp("stream-home")) as running:
        yield running


@pytest.fixture
def paid(server):
    return server.client("paid-user")


def _key(record: dict) -> tuple:
    event = record["event"]
    return event["partition"], event["offset"], event["identifier"], event["date_published"], record["identifier"]


def _sdk_key(article) -> tuple:
    # (The SDK's Event reads the type from "event_type"; Enterprise's records, and these, call it "type".)
    event = article.event
    published = event.date_published.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return event.partition, event.offset, event.identifier, published, article.identifier


def _stream(client, request: Request, until: Callable[[list], bool]) -> list:
    """The SDK's ``stream_articles`` until ``until(received)`` says stop (the callback returns False, which
    closes the connection); fails if that has not happened within STREAM_SECONDS."""
    received: list = []
    errors: list[BaseException] = []

    def callback(article) -> bool:
        received.append(article)
        return not until(received)

    def run() -> None:
        try:
            client.stream_articles(request, callback)
        except BaseException as exc:  # noqa: BLE001  (re-raised in the test's thread)
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(STREAM_SECONDS)
    if errors:
        raise errors[0]
    assert not thread.is_alive(), f"the stream gave {len(received)} records and then nothing for {STREAM_SECONDS}s"
    return received


def _kept_start(store) -> dict[int, int]:
    return dict(enumerate(load_head(store).first_offsets))


def test_stream_articles_with_offsets_reconnecting_mid_stream_loses_and_repeats_nothing(world, paid):
    feed = [_key(r) for r in feed_records(world.store)]
    assert len(feed) >= 32
    start = _kept_start(world.store)
    first = _stream(paid, Request(parts=list(range(10)), offsets=start), lambda got: len(got) == 7)
    assert len(first) == 7
    resume = dict(start)
    for article in first:
        resume[article.event.partition] = article.event.offset + 1  # the next offset of each partition seen
    rest = _stream(paid, Request(parts=list(range(10)), offsets=resume), lambda got: len(first) + len(got) >= len(feed))
    union = [_sdk_key(a) for a in first + rest]
    assert len(union) == len(set(union)) == len(feed)  # no duplicate
    assert sorted(union) == sorted(feed)  # no loss: exactly the feed
    assert [a.is_part_of.identifier for a in rest[-3:]] == ["mrwiki"] * 3 and first[0].name


def test_parts_select_their_partitions_and_offsets_within_them(world, paid):
    parts = [1, 3]
    partitions = {p for part in parts for p in partitions_of_part(part)}
    feed = [_key(r) for r in feed_records(world.store) if r["event"]["partition"] in partitions]
    start = _kept_start(world.store)
    # Offsets asked beyond the first kept in one partition: that partition starts there.
    busiest = max(partitions, key=lambda p: sum(1 for k in feed if k[0] == p))
    start[busiest] += 1
    expected = [k for k in feed if k[0] != busiest or k[1] >= start[busiest]]
    got = _stream(paid, Request(parts=parts, offsets=start), lambda got: len(got) >= len(expected))
    assert sorted(_sdk_key(a) for a in got) == sorted(expected)


def test_new_changes_arrive_while_connected(world, paid, server):
    resume = dict(enumerate(load_head(world.store).next_offsets))  # the newest: nothing yet
    new = world.revisions[40:46]
    applied_at: list[float] = []

    def apply_later() -> None:
        time.sleep(1.0)
        world.log([world.event("edit", r) for r in new])
        world.update()
        applied_at.append(time.monotonic())

    applier = threading.Thread(target=apply_later)
    applier.start()
    connected = time.monotonic()
    got = _stream(paid, Request(offsets=resume), lambda got: len(got) >= len(new))
    applier.join()
    assert sorted(a.identifier for a in got) == sorted(r.page_id for r in new)
    assert applied_at[0] > connected
    # Without offsets or since a connection starts at the newest: the older records never come.
    with httpx.stream("POST", f"{server.url}v2/articles", json={}, timeout=30,
                      headers={"Authorization": f"Bearer {paid.access_token}", "Accept": "application/x-ndjson"}
                      ) as response:  # fmt: skip
        assert response.status_code == 200  # the plan is made: what is committed from now on
        world.log([world.event("edit", world.edited(world.revisions[40], "Edited while a client listened."))])
        world.update()
        line = next(line for line in response.iter_lines() if line.strip())
    record = orjson.loads(line)
    assert record["identifier"] == world.revisions[40].page_id and record["event"]["type"] == "update"


def test_since_and_since_per_partition_select_by_date_published(world, paid):
    records = feed_records(world.store)
    appends = sorted({r["event"]["date_published"] for r in records})
    cut = appends[2]  # records published at or after the third kept append
    expected = sorted(_key(r) for r in records if r["event"]["date_published"] >= cut)
    since = datetime.fromisoformat(cut.replace("Z", "+00:00"))
    got = _stream(paid, Request(since=since), lambda got: len(got) >= len(expected))
    assert sorted(_sdk_key(a) for a in got) == expected
    # Per partition: two partitions from that time, the others from the newest (none).
    chosen = sorted({r["event"]["partition"] for r in records if r["event"]["date_published"] >= cut})[:2]
    expected = sorted(k for k in expected if k[0] in chosen)
    got = _stream(paid, Request(since_per_partition={p: since for p in chosen}), lambda got: len(got) >= len(expected))
    assert sorted(_sdk_key(a) for a in got) == expected


def test_offsets_older_than_the_feed_keeps_are_refused_with_410(world, paid, server):
    head = load_head(world.store)
    # A partition that lost records to the retention and still has some kept.
    gone = next(p for p in range(50) if 0 < head.first_offsets[p] < head.next_offsets[p])
    with pytest.raises(APIStatusError) as refused:
        _stream(paid, Request(offsets={gone: head.first_offsets[gone] - 1}), lambda got: True)
    assert _status(refused) == 410
    answer = httpx.post(f"{server.url}v2/articles", json={"offsets": {str(gone): 0}},
                        headers={"Authorization": f"Bearer {paid.access_token}"})  # fmt: skip
    assert answer.json() == {
        "status": 410,
        "message": f"Gone: partition {gone}: offset 0 is no longer kept; the oldest kept is "
        f"{head.first_offsets[gone]} (the feed keeps its history for a limited time)",
    }
    # The oldest kept offset itself is served.
    got = _stream(paid, Request(offsets={gone: head.first_offsets[gone]}), lambda got: True)
    assert (got[0].event.partition, got[0].event.offset) == (gone, head.first_offsets[gone])


def test_refusals_free_tier_parts_since_and_times(world, server, paid):
    free = server.client("free-user")
    with pytest.raises(APIStatusError) as refused:
        _stream(free, Request(), lambda got: True)
    assert _status(refused) == 403
    token = paid.access_token
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    old = (datetime.now(UTC) - timedelta(days=8)).isoformat()
    for body, status, says in (
        ({"parts": [10]}, 422, "parts"),
        ({"offsets": {"50": 0}}, 422, "offsets"),
        ({"since": future}, 422, "in the future"),
        ({"since": old}, 422, "older than the 7 days"),
        ({"since_per_partition": {"3": old}}, 422, "since_per_partition[3]"),
        ({"since": datetime.now(UTC).isoformat(), "parts": [0]}, 422, "since and parts"),
        ({"offsets": {"0": -1}}, 422, "offsets"),
    ):
        answer = httpx.post(f"{server.url}v2/articles", json=body, headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == status, (body, answer.text)
        assert answer.json()["status"] == status and says in answer.json()["message"], (body, answer.text)
    assert httpx.post(f"{server.url}v2/articles", json={}).status_code == 401


def test_sse_frames_fields_and_filters(world, server, paid):
    records = feed_records(world.store)
    created = [r for r in records if r["event"]["type"] == "create" and r["is_part_of"]["identifier"] == "mrwiki"]
    body = {
        "offsets": {str(p): o for p, o in _kept_start(world.store).items()},
        "fields": ["name", "event.*"],
        "filters": [{"field": "is_part_of.identifier", "value": "mrwiki"}, {"field": "event.type", "value": "create"}],
    }
    headers = {"Authorization": f"Bearer {paid.access_token}", "Accept": "text/event-stream"}
    frames: list[dict] = []
    with httpx.stream("POST", f"{server.url}v2/articles", json=body, headers=headers, timeout=30) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.iter_lines()
        while len(frames) < len(created):
            line = next(lines)
            if line.startswith("data: "):
                frames.append(orjson.loads(line.removeprefix("data: ")))
            else:
                assert line in ("event: message", ""), line
    assert [set(f) for f in frames] == [{"name", "event"}] * len(frames)
    assert sorted((f["event"]["partition"], f["event"]["offset"]) for f in frames) == sorted(
        (r["event"]["partition"], r["event"]["offset"]) for r in created
    )
    assert set(frames[0]["event"]) == {"identifier", "type", "date_created", "date_published", "partition", "offset"}
