"""Hourly batches: a real wiki's changes, through its recentchanges into the article store, out as the hour's batch.

A real MediaWiki of this module's own (the enwiki fixture pages) and the real SeaweedFS. The wiki's admin edits,
creates, deletes, moves, undeletes and hides revision details in two hours (the test drives the hourly clock:
which delta each application writes, and when the export runs); each hour's batch must hold exactly that
hour's changes with the right ``event.type``, verify against its manifest, be listed, and, applied to the
base in hour order, give what the store holds.
"""

from __future__ import annotations

import io
import tarfile
from datetime import UTC, datetime, timedelta

import dagster as dg
import orjson
import pytest
from typer.testing import CliRunner

from wme_assets.cli import app
from wme_assets.defs.realtime.assets import compacted_article_store, hourly_batch
from wme_assets.defs.realtime.monitor import realtime_monitor
from wme_assets.defs.resources import ObjectStorageResource, StageSettingsResource
from wme_assets.realtime.batches import HourNotClosed, export_batch
from wme_assets.realtime.listener import run_listener
from wme_assets.realtime.status import realtime_status
from wme_assets.realtime.update import update_project
from wme_assets.schema.validate import record_validator
from wme_assets.settings import Settings
from wme_assets.snapshots.batches import apply_batch_retention, published_batch_hours
from wme_assets.snapshots.layout import batch_key, batches_listing_key
from wme_assets.snapshots.verify import verify_published
from wme_assets.storage import open_object_store
from wme_assets.storage.article_store import iter_current_articles
from wme_assets_tests import partitions
from wme_assets_tests.mediawiki_server import own_mediawiki
from wme_assets_tests.wiki_admin import WikiAdmin, publish_wiki_base, use_wiki_as_change_source

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def wiki(request):
    # Named enwiki: one of the projects the Dagster assets have partitions for.
    with own_mediawiki(request, "batches", dbname="enwiki") as server:
        yield server


def _records(store, key: str) -> list[dict]:
    with tarfile.open(fileobj=io.BytesIO(store.read_bytes(store.key(key))), mode="r:gz") as tar:
        return [orjson.loads(line) for m in tar for line in tar.extractfile(m).read().splitlines()]  # type: ignore[union-attr]


def _batch(store, hour: str, project: str, namespace: int = 0) -> dict[int, dict]:
    return {r["identifier"]: r for r in _records(store, batch_key(hour, f"{project}_namespace_{namespace}"))}


def _current(store, project: str, cache) -> dict[int, dict]:
    return {page: orjson.loads(line) for page, line in iter_current_articles(store, project, cache_dir=cache)}


def _poll_and_apply(settings: Settings, store, project: str, now: datetime) -> None:
    run_listener(settings, store, once=True)  # one poll of the wiki's recentchanges and logevents
    update_project(store, settings, project, now=now, log=lambda _: None)


def test_each_hours_batch_holds_that_hours_changes(wiki, s3_env, monkeypatch, tmp_path):
    client, project = use_wiki_as_change_source(monkeypatch, wiki.base_url)
    settings = Settings()
    store = open_object_store(settings)
    # Every page of the wiki, its installer's Main Page too (recentchanges still holds its creation), with Parsoid
    # HTML as the application makes them (the project has an endpoint).
    # The base is of two days ago, the two hours of changes of yesterday: today's compaction can fold them.
    now = datetime.now(UTC)
    publish_wiki_base(store, client, [*wiki.revisions, "Main Page"], project, tmp_path / "base", html=wiki.base_url,
                      date=(now - timedelta(days=2)).strftime("%Y%m%d"))  # fmt: skip
    base = _current(store, project, tmp_path / "r0")
    edited, deleted, moved, hidden = sorted(wiki.revisions)
    admin = WikiAdmin(wiki.base_url)
    ids = {title: admin.page(title)["pageid"] for title in wiki.revisions}

    # Hour 1 (yesterday 10:00): an edit, a new page, a deletion and a move.
    hour1_at = (now - timedelta(days=1)).replace(hour=10, minute=10, second=0, microsecond=0)
    hour1 = hour1_at.strftime("%Y%m%d%H")
    edit1 = admin.edit(edited, wiki.wikitext[edited] + "\n\nA sentence of the first hour.", "batch hour 1")
    created = admin.edit("Batch hour page", "A page created in the first hour. It is short prose.", create=True)
    admin.delete(deleted)
    admin.move(moved, f"{moved} (moved)")
    _poll_and_apply(settings, store, project, hour1_at)

    # Hour 2 (the next hour): the deleted page restored, a revision's editor and comment hidden, an edit.
    hour2_at = hour1_at + timedelta(hours=1)
    hour2 = hour2_at.strftime("%Y%m%d%H")
    admin.undelete(deleted)
    admin.hide(hidden, wiki.revisions[hidden], "user|comment")
    edit2 = admin.edit(edited, wiki.wikitext[edited] + "\n\nA sentence of the second hour.", "batch hour 2")
    _poll_and_apply(settings, store, project, hour2_at)

    # What the monitor reports: the last listener run's counts (the undeletion, the hiding, the edit), nothing
    # left to apply, the last applied change.
    status = realtime_status(store, "recentchanges", [project])
    assert not status.listener_stale and status.kept == 3 and status.stats["bad"] == {}
    [applied] = status.projects
    assert applied.events_behind == 0 and applied.logged == applied.applied >= 7
    assert applied.last_applied_event and applied.last_applied_change_dt
    monitor = realtime_monitor(
        dg.build_sensor_context(
            instance=partitions.instance_with_projects(project),
            resources={"object_storage": ObjectStorageResource.from_settings(settings)},
        )
    )
    observed = {(e.asset_key.to_user_string(), e.partition): e.metadata for e in monitor.asset_events}
    assert observed[("realtime_article_store", project)]["events_behind"].value == 0
    assert observed[("realtime_listener", None)]["kept_total"].value == status.kept

    # The current hour has not closed: refused, by the function and the command.
    with pytest.raises(HourNotClosed, match="has not closed"):
        export_batch(store, project, hour2, now=hour2_at)
    this_hour = datetime.now(UTC).strftime("%Y%m%d%H")
    refused = CliRunner().invoke(app, ["batch", project, "--hour", this_hour])
    assert refused.exit_code == 2 and "the hour has not closed" in refused.output

    first = export_batch(store, project, hour1, now=hour2_at, validator=record_validator("article"))
    batch1 = _batch(store, hour1, project)
    assert {page: r["event"]["type"] for page, r in batch1.items()} == {
        ids[edited]: "update",
        created["pageid"]: "create",
        ids[deleted]: "delete",
        ids[moved]: "move",
    }
    assert batch1[ids[edited]]["version"]["identifier"] == edit1["newrevid"]
    assert batch1[ids[moved]]["name"] == f"{moved} (moved)"
    assert batch1[ids[deleted]]["name"] == deleted and batch1[ids[deleted]]["namespace"] == {"identifier": 0}
    assert all(r["event"]["date_published"] == hour2_at.strftime("%Y-%m-%dT%H:00:00Z") for r in batch1.values())
    assert first.types() == {"create": 1, "delete": 1, "move": 1, "update": 1}

    # Through the command (the hour has closed by the real clock too).
    done = CliRunner().invoke(app, ["batch", project, "--hour", hour2], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    batch2 = _batch(store, hour2, project)
    assert {page: r["event"]["type"] for page, r in batch2.items()} == {
        ids[deleted]: "create",
        ids[hidden]: "visibility-change",
        ids[edited]: "update",
    }
    assert batch2[ids[hidden]]["visibility"] == {"text": True, "editor": False, "comment": False}
    assert batch2[ids[edited]]["version"]["identifier"] == edit2["newrevid"]

    # Verified against its manifest and the article schema; listed in Enterprise's format.
    verified = CliRunner().invoke(
        app, ["snapshot", "verify", store.uri(store.key(batch_key(hour1, f"{project}_namespace_0")))]
    )
    assert verified.exit_code == 0, verified.output
    assert verify_published(store, batch_key(hour2, f"{project}_namespace_0", "manifest")) == []
    listing = [orjson.loads(line) for line in store.read_bytes(store.key(batches_listing_key(hour1))).splitlines()]
    metadata = orjson.loads(store.read_bytes(store.key(batch_key(hour1, f"{project}_namespace_0", "metadata"))))
    assert listing == [metadata]
    assert set(metadata) == {"identifier", "version", "date_modified", "is_part_of", "in_language", "namespace", "size"}

    # Exporting an hour again rewrites nothing.
    again = export_batch(store, project, hour1, now=hour2_at)
    assert [n.published.copied for n in again.namespaces] == [[]]

    # The base, then each hour's batch applied in order, is what the store holds.
    replayed = dict(base)
    for batch in (batch1, batch2):
        for page, record in batch.items():
            if record["event"]["type"] == "delete":
                replayed.pop(page, None)
            else:
                replayed[page] = record
    current = _current(store, project, tmp_path / "r1")
    assert {p: a["version"]["identifier"] for p, a in replayed.items() if a["namespace"]["identifier"] == 0} == {
        p: a["version"]["identifier"] for p, a in current.items() if a["namespace"]["identifier"] == 0
    }


    # Through Dagster: the hour's asset (published already: nothing is copied again), then today's compaction of
    # the store, after which the hour's batch, re-exported, stays as published (its event types need the state
    # before the hour, which the new base no longer has).
    resources = {"object_storage": ObjectStorageResource.from_settings(settings), "settings": StageSettingsResource()}
    archive = store.head(store.key(batch_key(hour1, f"{project}_namespace_0"))).sha256
    run = dg.materialize([hourly_batch], partition_key=dg.MultiPartitionKey({"hour": hour1, "project": project}),
                         resources=resources, instance=partitions.instance_with_projects(project))  # fmt: skip
    assert run.success
    assert run.asset_materializations_for_node("hourly_batch")[0].metadata["records"].value == 4
    today = now.strftime("%Y%m%d")
    day = dg.MultiPartitionKey({"date": today, "project": project})
    run = dg.materialize([compacted_article_store], partition_key=day, resources=resources,
                         instance=partitions.instance_with_projects(project))  # fmt: skip
    assert run.success
    compaction = run.asset_materializations_for_node("compacted_article_store")[0].metadata
    assert compaction["folded_deltas"].value == 2 and compaction["base"].value == today
    assert _current(store, project, tmp_path / "r2") == current
    kept = export_batch(store, project, hour1, now=hour2_at + timedelta(hours=1))
    assert kept.kept_published == [0] and not kept.previous_known
    assert store.head(store.key(batch_key(hour1, f"{project}_namespace_0"))).sha256 == archive

    # Retention: a week and a day later both hours are gone, batches and listings, and nothing else.
    assert published_batch_hours(store) == [hour1, hour2]
    removed = apply_batch_retention(store, project, keep_days=7, now=hour2_at + timedelta(days=8))
    assert removed == [hour1, hour2]
    assert not list(store.list(store.key("batches/"))) and not list(store.list(store.key("aggregations/batches/")))


def test_the_hourly_schedule_asks_for_the_hour_that_just_closed_for_every_project(tmp_path):
    from wme_assets.definitions import defs
    from wme_assets.instance import TIER_TAG
    from wme_assets.settings import DEFAULT_PROJECTS

    definitions = defs()
    schedule = definitions.resolve_schedule_def("hourly_batches")
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("1 * * * *", "UTC")
    projects = DEFAULT_PROJECTS.split(",")
    with partitions.schedule_instance(tmp_path, *projects) as instance:
        context = dg.build_schedule_context(
            instance=instance, repository_def=definitions.get_repository_def(),
            scheduled_execution_time=datetime(2026, 12, 3, 7, 1, tzinfo=UTC),
        )  # fmt: skip
        requests = list(schedule.evaluate_tick(context).run_requests)
    assert [r.partition_key for r in requests] == [f"2026120306|{p}" for p in projects]
    assert {r.tags[TIER_TAG] for r in requests} == {"paid"}


def test_the_wikis_own_dump_is_the_base_and_its_changes_reach_snapshot_diff_and_batch(wiki, s3_env, monkeypatch,
                                                                                         tmp_path):  # fmt: skip
    """End to end on the production path: the wiki's own dump (`dumpBackup.php --current`) laid out as a dumps run
    of a mirror, ingested, enriched and snapshotted; then an edit, a creation, a protection and a suppression
    through its API (read with a login, as the suppression log is private); each is in the article store, in
    today's fresh snapshot with its cut point, in `wme diff` and in the hour's batch."""
    from wme_assets.defs.snapshots.fresh import snapshot_state
    from wme_assets.devtools.mirror import build_dumps_mirror
    from wme_assets.enrichment.run import enrich_pages
    from wme_assets.snapshots.run import export_snapshots
    from wme_assets_tests.chain import ingest_from_mirror
    from wme_assets_tests.mediawiki_tables import export_pages
    from wme_assets_tests.wiki_admin import ADMIN, ADMIN_PASSWORD

    client, project = use_wiki_as_change_source(
        monkeypatch, wiki.base_url, mediawiki_bot_user=ADMIN, mediawiki_bot_password=ADMIN_PASSWORD
    )
    settings = Settings()
    store = open_object_store(settings)
    now = datetime.now(UTC)
    dump_date, today = (now - timedelta(days=3)).strftime("%Y%m%d"), now.strftime("%Y%m%d")
    build_dumps_mirror(tmp_path / "mirror", project, dump_date, export_pages(wiki))
    ingest_from_mirror(store, tmp_path / "mirror", project, dump_date)
    enrich_pages(store, project, dump_date, run_id="dump", workers=1, mediawiki_url=wiki.base_url, log=lambda _: None)
    export_snapshots(store, project, dump_date, log=lambda _: None)
    # What the other tests of this module changed on the wiki is in the dump already; the listener starts now.
    run_listener(settings, store, once=True)
    update_project(store, settings, project, now=now - timedelta(hours=2), log=lambda _: None)

    admin = WikiAdmin(wiki.base_url)
    titles = sorted(t for t in wiki.revisions if admin.page(t).get("missing") is None and " (moved)" not in t)
    # The edit's own comment is then suppressed (the module's first test hid the last page's details already).
    edited, protected = titles[0], titles[1]
    edit = admin.edit(edited, wiki.wikitext[edited] + "\n\nA sentence after the dump.", "after the dump")
    created = admin.edit("After the dump", "A page created after the dump. It is short prose.", create=True)
    admin._post(action="protect", title=protected, protections="edit=sysop", expiry="infinite", reason="test")
    admin._post(action="revisiondelete", type="revision", target=edited, ids=str(edit["newrevid"]),
                hide="comment", suppress="yes", reason="test")  # fmt: skip
    hour_at = now.replace(minute=30, second=0, microsecond=0) - timedelta(hours=1)
    run_listener(settings, store, once=True)  # logged in: the suppression log too
    update_project(store, settings, project, now=hour_at, log=lambda _: None)

    view = _current(store, project, tmp_path / "view")
    by_name = {a["name"]: a for a in view.values()}
    assert by_name[edited]["version"]["identifier"] == edit["newrevid"]
    assert by_name["After the dump"]["version"]["identifier"] == created["newrevid"]
    assert by_name[protected]["version"]["identifier"] == admin.page(protected)["lastrevid"]  # the null revision
    assert by_name[edited]["visibility"] == {"text": True, "editor": True, "comment": False}
    assert "comment" not in by_name[edited]["version"]

    with snapshot_state(store, settings, project, today, update=True, run_id="fresh") as pinned:
        fresh = export_snapshots(store, project, today, pinned=pinned, log=lambda _: None)
    edits = admin._get(list="recentchanges", rctype="edit|new", rcprop="ids", rclimit=1)["query"]["recentchanges"]
    newest = edits[0]["rcid"]  # the newest edit or creation (log rows of recentchanges are read from logevents)
    assert fresh.cut_point is not None and fresh.cut_point.rcid == newest

    diff = CliRunner().invoke(app, ["diff", project, "--from", dump_date, "--to", today, "--format", "ndjson"])
    assert diff.exit_code == 0, diff.output
    changes = {c["identifier"]: c for c in (orjson.loads(x) for x in diff.stdout.splitlines() if x.startswith("{"))}
    assert changes[created["pageid"]]["change"] == "added"
    for title in (edited, protected):
        assert changes[by_name[title]["identifier"]]["change"] == "changed", title
    # The listener's first poll replays the earlier changes of the wiki, at the revisions the dump has: those
    # articles differ from the dump's only by what the API adds on the realtime path (editor's edit count and
    # groups, creation date, tags…): their content, never their revision.
    touched = {created["pageid"], *(by_name[title]["identifier"] for title in (edited, protected))}
    others = [change for page, change in changes.items() if page not in touched]
    assert all(c["change"] == "changed" and c["changes"] == ["content"] for c in others), others

    export_batch(store, project, hour_at.strftime("%Y%m%d%H"), now=now)
    batch = _batch(store, hour_at.strftime("%Y%m%d%H"), project)
    types = {record["name"]: record["event"]["type"] for record in batch.values()}
    assert types == {edited: "visibility-change", "After the dump": "create", protected: "update"}


def test_the_monitor_never_starts_the_embedded_s3_server(monkeypatch, tmp_path):
    """Embedded and not running, the S3 server is left alone: a sensor that started it would leave it running after
    `dagster dev` ends (the fresh-clone test found one on port 8333)."""
    from wme_assets.storage.seaweedfs import free_ports

    monkeypatch.delenv("WME_S3_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("WME_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WME_EMBEDDED_S3_PORT", str(free_ports(1)[0]))
    resources = {"object_storage": ObjectStorageResource.from_settings(Settings())}
    result = realtime_monitor(dg.build_sensor_context(resources=resources))
    assert "embedded S3 server is not running" in str(result.skip_reason)
    assert not (tmp_path / "home" / "seaweedfs").exists()
