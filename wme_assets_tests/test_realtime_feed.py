"""The article-change feed the appliers append to: dense offsets, typed records, crash windows, retention, cut
point. Real mrwiki fixture pages applied through ``update_project`` on the real SeaweedFS (``feed_world``)."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from wme_assets.enrichment.article import Site
from wme_assets.realtime import feed as feed_module
from wme_assets.realtime.apply import build_fetched
from wme_assets.realtime.cut_point import cut_point_of, feed_offsets_at
from wme_assets.realtime.feed import PARTITIONS, append_records, load_head, partition_of
from wme_assets.realtime.feed_read import FeedGone, FeedReader
from wme_assets.realtime.feed_records import application_records
from wme_assets.realtime.update import load_applied
from wme_assets.schema.manifest import CutPoint
from wme_assets.settings import EMBEDDED_ACCESS_KEY, EMBEDDED_SECRET_KEY
from wme_assets.storage.article_store import lookup_current
from wme_assets.storage.object_store import ObjectStore
from wme_assets_tests.feed_world import FeedWorld, committed_appends, feed_records, feed_settings
from wme_assets_tests.servers import new_test_store

pytestmark = pytest.mark.integration


@pytest.fixture
def world(seaweedfs, tmp_path) -> FeedWorld:
    store = new_test_store(seaweedfs)
    return FeedWorld(store, feed_settings(store, tmp_path / "home"), tmp_path, pages=40)


def _assert_dense(records: list[dict]) -> dict[int, int]:
    by_partition: dict[int, list[int]] = defaultdict(list)
    for record in records:
        by_partition[record["event"]["partition"]].append(record["event"]["offset"])
    for partition, offsets in by_partition.items():
        assert offsets == list(range(len(offsets))), f"partition {partition}: {offsets}"
    return {p: len(o) for p, o in by_partition.items()}


def test_each_application_is_one_append_with_dense_offsets_and_typed_events(world):
    revs = world.revisions
    world.log([world.event("edit", r) for r in revs[:30]])
    first = world.update(batch_events=10)
    assert committed_appends(world.store) == 3 and first.totals()["upserts"] == 30
    edited = world.edited(revs[0], "A sentence added by an edit.")
    world.log([world.event("edit", edited), *[world.event("delete", r) for r in revs[1:4]]])
    world.update()
    records = feed_records(world.store)
    counts = _assert_dense(records)
    assert sum(counts.values()) == 34
    assert all(r["event"]["partition"] == partition_of(world.project, r["identifier"]) for r in records)
    types = Counter(r["event"]["type"] for r in records)
    assert types == {"create": 30, "update": 1, "delete": 3}
    update = next(r for r in records if r["event"]["type"] == "update")
    assert update["version"]["identifier"] == edited.revision_id
    assert "added by an edit" in update["article_body"]["wikitext"]
    deletes = [r for r in records if r["event"]["type"] == "delete"]
    assert sorted(r["identifier"] for r in deletes) == sorted(r.page_id for r in revs[1:4])
    assert all(r["is_part_of"]["identifier"] == world.project for r in records)
    # date_published never goes back, appends in order; within an append every record shares it.
    published = [r["event"]["date_published"] for r in records]
    assert published == sorted(published)
    assert len({r["event"]["identifier"] for r in records}) == len(records)


def test_offsets_continue_after_a_restart_and_nothing_new_appends_nothing(world, tmp_path):
    world.log([world.event("edit", r) for r in world.revisions[:20]])
    world.update()
    head = load_head(world.store)
    # A new process (settings, store and reader of its own) continues the same offsets.
    again = FeedWorld(new_store_like(world.store), feed_settings(world.store, tmp_path / "home2"), tmp_path / "w2")
    assert again.update().events == 0 and load_head(world.store).last_append == head.last_append
    again.log([again.event("edit", r) for r in world.revisions[20:30]])
    again.update()
    records = feed_records(world.store)
    assert sum(_assert_dense(records).values()) == 30
    assert load_head(world.store).fed_seq(world.project) == 29


def new_store_like(store: ObjectStore) -> ObjectStore:
    return ObjectStore(bucket=store.bucket, prefix=store.prefix, endpoint_url=store.endpoint_url,
                       access_key=EMBEDDED_ACCESS_KEY, secret_key=EMBEDDED_SECRET_KEY)  # fmt: skip


def test_a_crash_after_the_append_before_the_delta_is_fed_once_and_applied_on_recovery(world, monkeypatch):
    import wme_assets.realtime.apply as apply_module

    revs = world.revisions
    world.log([world.event("edit", r) for r in revs[:10]])
    world.update()
    before = load_head(world.store)
    world.log([world.event("edit", r) for r in revs[10:20]])
    real_publish = apply_module.publish_delta

    def killed(*args, **kwargs):
        raise RuntimeError("killed between the feed's append and the delta's publication")

    monkeypatch.setattr(apply_module, "publish_delta", killed)
    with pytest.raises(RuntimeError, match="killed"):
        world.update()
    monkeypatch.setattr(apply_module, "publish_delta", real_publish)
    head = load_head(world.store)
    applied = load_applied(world.store, world.project)
    assert head.fed_seq(world.project) == 19 and applied.seq == 9  # the feed is ahead of the store
    stored = lookup_current(world.store, world.project, [r.page_id for r in revs[10:20]], cache_dir=world.work / "c1")
    assert stored == {}
    # A snapshot now would hold seqs up to 9: its cut point is the offsets before the unpublished append.
    assert feed_offsets_at(world.store, world.project, applied.seq) == dict(enumerate(before.next_offsets))
    # More events arrive before the recovery: the recovery applies 10..19 alone first, appending nothing.
    world.log([world.event("edit", r) for r in revs[20:25]])
    result = world.update()
    assert [b.events for b in result.batches] == [10, 5]
    stored = lookup_current(world.store, world.project, [r.page_id for r in revs[:25]], cache_dir=world.work / "c2")
    assert len(stored) == 25
    records = feed_records(world.store)
    assert sorted(r["identifier"] for r in records) == sorted(r.page_id for r in revs[:25])  # once each
    assert sum(_assert_dense(records).values()) == 25 and committed_appends(world.store) == 3


def test_a_crash_after_the_delta_before_the_applied_position_repeats_nothing(world, monkeypatch):
    import wme_assets.realtime.update as update_module

    world.log([world.event("edit", r) for r in world.revisions[:12]])
    real_save = update_module.save_applied
    monkeypatch.setattr(update_module, "save_applied", lambda *a: (_ for _ in ()).throw(RuntimeError("killed")))
    with pytest.raises(RuntimeError, match="killed"):
        world.update()
    monkeypatch.setattr(update_module, "save_applied", real_save)
    assert load_applied(world.store, world.project).seq == -1 and committed_appends(world.store) == 1
    result = world.update()
    assert result.events == 12 and result.totals()["unchanged"] == 12  # applied again: nothing changed
    assert committed_appends(world.store) == 1 and len(feed_records(world.store)) == 12


def test_a_segment_whose_head_was_never_written_is_invisible_and_overwritten(world, monkeypatch):
    world.log([world.event("edit", r) for r in world.revisions[:5]])
    world.update()
    world.log([world.event("edit", r) for r in world.revisions[5:9]])
    put = ObjectStore.put_whole

    def crash_on_head(self, key, data, **kwargs):
        if key.endswith("feed/_head.json"):
            raise RuntimeError("killed before the head's write")
        return put(self, key, data, **kwargs)

    monkeypatch.setattr(ObjectStore, "put_whole", crash_on_head)
    with pytest.raises(RuntimeError, match="killed"):
        world.update()
    monkeypatch.setattr(ObjectStore, "put_whole", put)
    assert world.store.exists(feed_module.segment_key(world.store, load_head(world.store), 1))  # written, uncommitted
    assert committed_appends(world.store) == 1 and len(feed_records(world.store)) == 5
    world.update()
    records = feed_records(world.store)
    assert committed_appends(world.store) == 2 and len(records) == 9 and sum(_assert_dense(records).values()) == 9


def test_offsets_older_than_the_retention_are_refused_and_their_groups_dropped(world, monkeypatch):
    """Appends eight days old, then today's: a group goes once the group after it starts past the retention
    (so at least the retention is kept), and asking for its offsets is an error."""
    monkeypatch.setattr(feed_module, "GROUP_APPENDS", 2)
    monkeypatch.setattr(feed_module, "CHECKPOINT_APPENDS", 1)
    site = Site.from_siteinfo(world.siteinfo)
    old = datetime.now(UTC) - timedelta(days=8)
    for n, rev in enumerate(world.revisions[:6]):
        built = build_fetched(rev, site, run_id="t", source="events:test")
        records = application_records(world.project, "mr", {rev.page_id: ("upsert", built)}, {}, n)
        at = old + timedelta(minutes=n) if n < 4 else datetime.now(UTC)
        append_records(world.store, world.settings, world.project, n, records, now=lambda at=at: at)
    head = load_head(world.store)
    # Groups of two appends: {0, 1} old, {2, 3} old but followed by today's 4, {4, 5} today.
    assert head.retained_from == 2 and head.last_append == 5
    assert not world.store.exists(feed_module.segment_key(world.store, head, 0))
    assert not world.store.exists(feed_module.segment_key(world.store, head, 1))
    assert world.store.exists(feed_module.segment_key(world.store, head, 2))
    dropped = {partition_of(world.project, r.page_id) for r in world.revisions[:2]}
    reader = FeedReader(world.store)
    for partition in dropped:
        assert head.first_offsets[partition] > 0
        with pytest.raises(FeedGone, match=f"partition {partition}: offset 0 is no longer kept"):
            reader.start_for_offset(head, reader.checkpoints(head), partition, 0)
    kept = feed_records(world.store)
    assert sorted(r["identifier"] for r in kept) == sorted(r.page_id for r in world.revisions[2:6])


def test_the_cut_point_names_the_feed_offsets_a_snapshot_continues_from(world):
    world.log([world.event("edit", r) for r in world.revisions[:15]])
    world.update()
    applied = load_applied(world.store, world.project)
    cut = cut_point_of(world.store, world.settings.change_source, world.project, applied)
    assert cut is not None and cut.feed_offsets == dict(enumerate(load_head(world.store).next_offsets))
    world.log([world.event("edit", r) for r in world.revisions[15:25]])
    world.update()
    after = [r for r in feed_records(world.store) if r["event"]["offset"] >= cut.feed_offsets[r["event"]["partition"]]]
    assert sorted(r["identifier"] for r in after) == sorted(r.page_id for r in world.revisions[15:25])
    # Into a manifest and back; a cut point written before the feed existed reads as before (no feed_offsets).
    again = CutPoint.model_validate_json(cut.model_dump_json())
    assert again.feed_offsets == cut.feed_offsets and len(again.feed_offsets) == PARTITIONS
    assert "realtime API offsets" in again.describe()
    old = CutPoint.model_validate_json(b'{"source": "recentchanges", "seq": 3, "rcid": 5, "logid": null}')
    assert old.feed_offsets is None  # a manifest written before the feed still reads
