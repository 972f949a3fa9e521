"""Sweeping what dead runs left, on the real SeaweedFS: staging, unfinished uploads, orphans at dated keys.

The leftovers are real: exports killed (SIGKILL) in a child process while staging and while copying
(:mod:`.dead_runs`), a multipart upload abandoned half way, a copy phase stopped before the manifest. The
published snapshots next to them must come through every sweep intact.
"""

from __future__ import annotations

import lzma
import os
import signal
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from wme_assets.cli import app
from wme_assets.schema.validate import record_validator
from wme_assets.settings import EMBEDDED_ACCESS_KEY, EMBEDDED_SECRET_KEY
from wme_assets.snapshots.archive import write_snapshot
from wme_assets.snapshots.layout import staging_folder
from wme_assets.snapshots.publish import plan_publication, publish_snapshot, read_latest, verify_published
from wme_assets.snapshots.run import export_snapshots
from wme_assets.snapshots.staging import SnapshotStaging
from wme_assets.snapshots.sweep import remove_leftovers, sweep
from wme_assets.storage.object_store import ObjectStore
from wme_assets.util.sizes import MiB
from wme_assets_tests.dead_runs import (
    IDENTIFIER,
    MEMBER_BYTES,
    PROJECT,
    Pause,
    dated_keys,
    export_in_child,
    staging_left,
    staging_objects_and_uploads,
    wait_for,
    write_base,
)
from wme_assets_tests.records import load_real_records
from wme_assets_tests.servers import TEST_BUCKET

pytestmark = pytest.mark.integration

OLD, NEW, LATER = "20250101", "20250102", "20250103"
LATEST = f"snapshots/latest/{IDENTIFIER}.json"


def kill_export(store: ObjectStore, date: str, work_dir, pause: Pause) -> None:
    work_dir.mkdir()
    child, paused, _ = export_in_child(store, date, work_dir, pause=pause)
    try:
        wait_for(paused, child)
        os.killpg(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)


def test_sweep_removes_what_killed_exports_left_and_nothing_else(object_store, tmp_path):
    write_base(object_store, tmp_path, OLD)
    export_snapshots(object_store, PROJECT, OLD, namespaces=(0,), max_member_bytes=MEMBER_BYTES, log=lambda _: None)
    before = read_latest(object_store, IDENTIFIER)
    write_base(object_store, tmp_path, NEW)
    # Two dead runs of two partitions: one killed while copying its chunks, one while staging.
    kill_export(object_store, NEW, tmp_path / "copying", Pause("CopyObject", f"/chunks/{NEW}/", 12))
    kill_export(object_store, LATER, tmp_path / "staging", Pause("PutObject", "/_staging/articles/", 8))
    staged = staging_left(object_store)
    # A run killed while staging may have been inside a multipart upload (the archive's, its parts going out
    # while the chunks are read): the sweep counts that one as an upload, not as a staging object.
    staged_objects, unfinished = staging_objects_and_uploads(object_store)
    orphans = dated_keys(object_store, NEW)
    assert staged and orphans and dated_keys(object_store, LATER) == set()

    # Fresh leftovers are left to the runs that may still be writing them.
    fresh = sweep(object_store)
    assert fresh.staging == [] and fresh.orphans == [] and fresh.uploads == 0

    a_day_later = datetime.now(UTC) + timedelta(hours=25)
    dry = sweep(object_store, dry_run=True, now=a_day_later)
    assert sorted(dry.staging) == sorted(staged_objects) and dry.uploads == len(unfinished)
    assert sorted(dry.orphans) == sorted(object_store.key(key) for key in orphans)
    assert staging_left(object_store) == staged and dated_keys(object_store, NEW) == orphans  # nothing removed

    swept = sweep(object_store, now=a_day_later)
    assert (len(swept.staging), swept.uploads, len(swept.orphans)) == (
        len(staged_objects), len(unfinished), len(orphans)
    )
    assert staging_left(object_store) == []
    assert dated_keys(object_store, NEW) == set() and dated_keys(object_store, LATER) == set()
    # The dead attempts' folders went with them.
    for date in (NEW, LATER):
        folder = object_store.key(staging_folder("articles", date, PROJECT, "paid")) + "/"
        listed = object_store.client.list_objects_v2(Bucket=object_store.bucket, Prefix=folder, Delimiter="/")
        assert listed.get("CommonPrefixes", []) == []
    # The published snapshot, its pointer and its listing are untouched.
    assert read_latest(object_store, IDENTIFIER) == before
    assert verify_published(object_store, LATEST, validator=record_validator("article")) == []
    assert sweep(object_store, now=a_day_later).orphans == []

    # Nothing left for the next run of either partition to clean; it publishes.
    result = export_snapshots(
        object_store, PROJECT, NEW, namespaces=(0,), max_member_bytes=MEMBER_BYTES, log=lambda _: None
    )
    assert result.cleanup.leftover_staging == 0 and result.cleanup.orphans == 0
    assert read_latest(object_store, IDENTIFIER).date == NEW
    assert verify_published(object_store, LATEST) == []


def _real_bytes(fixtures_dir, size: int) -> bytes:
    text = lzma.open(fixtures_dir / "xztextfilter-truncated-dumps" / "bnwiki-truncated-100k.xml.xz").read()
    return (text * (size // len(text) + 1))[:size]


def test_an_abandoned_multipart_upload_is_aborted(object_store, fixtures_dir):
    data = _real_bytes(fixtures_dir, 20 * MiB)
    dead = SnapshotStaging(object_store, "articles", NEW, PROJECT, "paid")
    sink = dead.stream(
        "chunks/x/chunk_0.tar.gz",
        size=len(data),
        sha256="0" * 64,
        md5="0" * 32,
        phase="chunks",
        content_type="application/gzip",
    )
    sink.write(data[: 17 * MiB])  # two parts sent, the writer never finishes: it "died"
    dead._pool.close()  # its parts are on the server
    folder = object_store.key(staging_folder("articles", NEW, PROJECT, "paid")) + "/"
    assert len(object_store.unfinished_uploads(folder)) == 1

    # The sweep leaves a young upload alone and aborts an old one.
    assert sweep(object_store, dry_run=True).uploads == 0
    assert sweep(object_store, dry_run=True, now=datetime.now(UTC) + timedelta(hours=25)).uploads == 1
    # The partition's next run does not wait a day: it aborts it before it starts.
    assert remove_leftovers(object_store, date=NEW, project=PROJECT, tier="paid", kind="articles").leftover_staging == 0
    assert object_store.unfinished_uploads(folder) == [] and staging_left(object_store) == []


def _interrupted_publish(store: ObjectStore, tmp_path) -> int:
    """A publication stopped after its chunk copies (as by a kill): its staging and orphan chunks stay."""
    files = write_snapshot(
        load_real_records()["enwiki"],
        tmp_path / "files",
        dbname=PROJECT,
        namespace=0,
        max_member_bytes=50_000,
        dump_date=NEW,
    )
    staging = SnapshotStaging(store, "articles", NEW, PROJECT, "paid")
    plan = plan_publication(store, files, date=NEW)
    plan.stage_files(staging)
    for key, (phase, data) in plan.json_objects.items():
        staging.put_bytes(key, data, phase=phase, content_type="application/json")
    assert staging.check() == []
    staging.promote(("chunks",))  # and never closed
    return len(files.chunks)


@pytest.fixture
def cli_store(s3_env, monkeypatch) -> ObjectStore:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", EMBEDDED_ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", EMBEDDED_SECRET_KEY)
    store = ObjectStore(
        bucket=TEST_BUCKET,
        prefix=s3_env["WME_S3_PREFIX"],
        endpoint_url=s3_env["WME_S3_ENDPOINT_URL"],
        access_key=EMBEDDED_ACCESS_KEY,
        secret_key=EMBEDDED_SECRET_KEY,
    )
    store.check_bucket(create=True)
    return store


def test_wme_storage_sweep_prints_counts(cli_store, tmp_path):
    publish_snapshot(
        cli_store,
        write_snapshot(load_real_records()["enwiki"], tmp_path / "old", dbname=PROJECT, namespace=0, dump_date=OLD),
        date=OLD,
    )
    chunks = _interrupted_publish(cli_store, tmp_path)
    staged = len(staging_left(cli_store))
    assert staged == 2 * chunks + 3 and len(dated_keys(cli_store, NEW)) == chunks

    def wme(*args):
        result = CliRunner().invoke(app, ["storage", "sweep", *args], catch_exceptions=False)
        assert result.exit_code == 0, result.stdout
        return result.stdout.strip()

    assert wme() == "removed 0 staging objects, 0 unfinished uploads and 0 orphans last written more than 24 h ago"
    counts = f"{staged} staging objects, 0 unfinished uploads and {chunks} orphans last written more than 0 h ago"
    assert wme("--older-than", "0", "--dry-run") == f"would remove {counts}"
    assert len(staging_left(cli_store)) == staged
    assert wme("--older-than", "0") == f"removed {counts}"
    assert staging_left(cli_store) == [] and dated_keys(cli_store, NEW) == set()
    assert verify_published(cli_store, LATEST) == []


def test_sweep_of_an_empty_store_finds_nothing(object_store):
    object_store.put_bytes(object_store.key("unrelated/file.txt"), b"x")
    result = sweep(object_store, older_than=timedelta(0))
    assert (result.staging, result.orphans, result.uploads) == ([], [], 0)
    assert object_store.head(object_store.key("unrelated/file.txt")) is not None
