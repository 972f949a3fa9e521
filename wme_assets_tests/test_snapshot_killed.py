"""A snapshot export killed (SIGKILL) half way through publishing: nothing partial is visible, the re-run completes.

The export runs in a child process against the real SeaweedFS server and is killed once its first chunks
are in the store. No fault is injected into the code: the process simply dies between two requests.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime

import orjson
import pytest

from wme_assets.schema.validate import record_validator
from wme_assets.settings import EMBEDDED_ACCESS_KEY, EMBEDDED_SECRET_KEY
from wme_assets.snapshots.publish import read_latest, snapshots_listing_key, verify_published
from wme_assets.snapshots.run import export_snapshots
from wme_assets.storage.article_store import ArticleStoreWriter, publish_base
from wme_assets.storage.object_store import ObjectStore
from wme_assets_tests.records import load_real_records

pytestmark = pytest.mark.integration

OLD, NEW = "20250101", "20250102"
IDENTIFIER = "enwiki_namespace_0"
COPIES = 3  # the real records, each repeated under fresh page ids: enough chunks to be killed between them
MEMBER_BYTES = 1  # every article is a member (and a chunk) of its own


def _write_base(store: ObjectStore, tmp_path, fixtures_dir, date: str) -> int:
    """An article-store base of real Enterprise records (all projects' records, re-keyed as enwiki pages)."""
    records = [line for group in load_real_records().values() for _, line in group]
    modified = datetime.strptime(date, "%Y%m%d").replace(tzinfo=UTC)
    count = 0
    with ArticleStoreWriter(tmp_path / f"base-{date}", project="enwiki", source=f"dump:{date}", run_id="r") as writer:
        for copy in range(COPIES):
            for index, line in enumerate(records):
                record = orjson.loads(line)
                page_id = 1_000 * (copy + 1) + index
                record["identifier"] = page_id
                record["namespace"] = {"identifier": 0}
                record["name"] = f"{record['name']} ({copy})"
                record["date_modified"] = f"{modified:%Y-%m-%dT%H:%M:%SZ}"
                writer.add(page_id, 0, record["name"], 1, modified, orjson.dumps(record))
                count += 1
    publish_base(store, tmp_path / f"base-{date}", "enwiki", date)
    return count


def _export_in_child(store: ObjectStore, date: str, work_dir) -> subprocess.Popen:
    script = textwrap.dedent(
        f"""
        from wme_assets.snapshots.run import export_snapshots
        from wme_assets.storage.object_store import ObjectStore
        store = ObjectStore(bucket={store.bucket!r}, prefix={store.prefix!r}, endpoint_url={store.endpoint_url!r},
                            access_key={EMBEDDED_ACCESS_KEY!r}, secret_key={EMBEDDED_SECRET_KEY!r})
        export_snapshots(store, "enwiki", {date!r}, namespaces=(0,), max_member_bytes={MEMBER_BYTES},
                         work_dir={str(work_dir)!r}, log=lambda _: None)
        """
    )
    return subprocess.Popen([sys.executable, "-c", script], start_new_session=True)


def _keys(store: ObjectStore, under: str) -> list[str]:
    return [info.key for info in store.list(store.key(under) + "/")]


def test_snapshot_killed_mid_publish_leaves_latest_and_rerun_completes(object_store, tmp_path, fixtures_dir):
    _write_base(object_store, tmp_path, fixtures_dir, OLD)
    export_snapshots(object_store, "enwiki", OLD, namespaces=(0,), max_member_bytes=MEMBER_BYTES, log=lambda _: None)
    before = read_latest(object_store, IDENTIFIER)
    assert before is not None and before.date == OLD
    listing_before = object_store.read_bytes(object_store.key(snapshots_listing_key("paid")))

    articles = _write_base(object_store, tmp_path, fixtures_dir, NEW)
    (tmp_path / "work").mkdir()
    child = _export_in_child(object_store, NEW, tmp_path / "work")
    try:
        deadline = time.monotonic() + 120
        while len(_keys(object_store, f"chunks/{NEW}/{IDENTIFIER}")) < 6:  # a few chunks and their metadata
            assert child.poll() is None, "the export ended before it could be killed; make it longer"
            assert time.monotonic() < deadline, "the export published no chunk within 2 minutes"
            time.sleep(0.02)
        os.killpg(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL

    # Part of the new snapshot's chunks are in the store, but the snapshot is not complete (no manifest,
    # no archive), nothing points at it, and the previous one is still served and still verifies.
    published_chunks = _keys(object_store, f"chunks/{NEW}/{IDENTIFIER}")
    assert 0 < len(published_chunks) < 2 * articles
    assert not _keys(object_store, f"snapshots/{NEW}")
    assert read_latest(object_store, IDENTIFIER) == before
    assert object_store.read_bytes(object_store.key(snapshots_listing_key("paid"))) == listing_before
    assert verify_published(object_store, f"snapshots/latest/{IDENTIFIER}.json") == []

    # The re-run completes: latest moves to the new snapshot, which verifies line by line.
    result = export_snapshots(
        object_store, "enwiki", NEW, namespaces=(0,), max_member_bytes=MEMBER_BYTES, log=lambda _: None
    )
    (namespace,) = result.namespaces
    assert namespace.problems == [] and namespace.records == articles
    after = read_latest(object_store, IDENTIFIER)
    assert after is not None and after.date == NEW and after.record_count == articles
    assert len(_keys(object_store, f"chunks/{NEW}/{IDENTIFIER}")) == 2 * articles  # archive + metadata per chunk
    validate = record_validator("article")
    assert verify_published(object_store, f"snapshots/latest/{IDENTIFIER}.json", validator=validate) == []
