"""A snapshot export killed (SIGKILL) half way: nothing unverified is ever visible, the re-run completes clean.

The export runs in a child process against the real SeaweedFS server and is killed while it stages, while it
copies, or just before it moves the pointer (held there by a hook on its real client, :mod:`.dead_runs`).
Meanwhile the test polls what a consumer sees: every object at a published key must be, byte for byte, one
that a manifest of the run names, the manifest never visible without everything it names, and ``latest``
always on a snapshot that verifies. The re-run removes what the dead run left (staging, orphans) first.
Then the S3 server itself is killed mid-export (a server of the test's own) and restarted on its data.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import threading
import time

import pytest

from wme_assets.schema.validate import record_validator
from wme_assets.settings import EMBEDDED_ACCESS_KEY, EMBEDDED_SECRET_KEY
from wme_assets.snapshots.layout import named_keys, staging_folder
from wme_assets.snapshots.manifest import SnapshotManifest
from wme_assets.snapshots.publish import read_latest, snapshot_key, snapshots_listing_key, verify_published
from wme_assets.snapshots.run import export_snapshots
from wme_assets.storage.object_store import ObjectStore, ObjectStoreError
from wme_assets.storage.seaweedfs import SeaweedServer, start_seaweedfs
from wme_assets_tests.dead_runs import (
    IDENTIFIER,
    MEMBER_BYTES,
    PROJECT,
    Pause,
    dated_keys,
    export_in_child,
    staging_left,
    wait_for,
    write_base,
)
from wme_assets_tests.servers import TEST_BUCKET, refuse_outside_integration

pytestmark = pytest.mark.integration

OLD, NEW = "20250101", "20250102"
MANIFEST = snapshot_key(NEW, IDENTIFIER, "paid", "manifest")

KILL_POINTS = {
    # The 10th object staged (of 45 chunks, the archive, 46 metadata objects and the manifest): nothing copied.
    "staging": Pause("PutObject", f"/{staging_folder('articles', NEW, PROJECT, 'paid')}", 10),
    # The 20th of the 45 chunk copies: some chunks at their published keys, no metadata, no manifest.
    "copying": Pause("CopyObject", f"/chunks/{NEW}/", 20),
    # The manifest is in place (the snapshot is published) but latest still names the old one.
    "pointer": Pause("CopyObject", "/snapshots/latest/", 1),
}


class Watcher(threading.Thread):
    """Polls what a consumer sees of the NEW date and the pointer, reading every new object it lists."""

    def __init__(self, store: ObjectStore):
        super().__init__(daemon=True)
        self.store = store
        self.seen: dict[str, set[str]] = {}  # key -> sha256s of the bytes read there
        self.pointer_dates: list[str] = []
        self.problems: list[str] = []
        self.polls = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            self.poll()
            time.sleep(0.02)

    def stop(self) -> Watcher:
        self._halt.set()
        self.join(timeout=60)
        self.poll()
        return self

    def poll(self) -> None:
        store = self.store
        pointer = read_latest(store, IDENTIFIER)
        self.pointer_dates.append(pointer.date)
        # Snapshots before chunks: objects are only added while a manifest is there, so a manifest seen in the
        # first listing must find everything it names in the second.
        snapshots = {i.key[len(store.prefix) :]: i for i in store.list(store.key("snapshots", NEW) + "/")}
        chunks = {i.key[len(store.prefix) :]: i for i in store.list(store.key("chunks", NEW) + "/")}
        if MANIFEST in snapshots:
            manifest = SnapshotManifest.from_json(self._read(MANIFEST) or b"")
            missing = named_keys(manifest) - set(snapshots) - set(chunks)
            if missing:
                self.problems.append(f"manifest visible without {sorted(missing)[:3]}")
        for key in [*snapshots, *chunks]:
            data = self._read(key)
            if data is not None:
                self.seen.setdefault(key, set()).add(hashlib.sha256(data).hexdigest())
        self.polls += 1

    def _read(self, key: str) -> bytes | None:
        try:
            return self.store.read_bytes(self.store.key(key))
        except ObjectStoreError as exc:  # deleted between listing and reading (the re-run's orphan removal)
            if "NoSuchKey" in str(exc):
                return None
            raise


def expected_bytes(manifest_data: bytes) -> dict[str, str]:
    """key -> sha256 of every object a manifest names, and of the manifest itself."""
    manifest = SnapshotManifest.from_json(manifest_data)
    expected = {MANIFEST: hashlib.sha256(manifest_data).hexdigest()}
    for entry in [manifest.archive, *manifest.chunks]:
        expected[entry.key] = entry.sha256
        expected[entry.metadata.key] = entry.metadata.sha256
    return expected


def staged_manifest(store: ObjectStore) -> bytes | None:
    """The manifest a run staged (the dead run's, while its staging is still there)."""
    folder = store.key(staging_folder("articles", NEW, PROJECT, "paid"))
    for info in store.list(folder + "/", include_staging=True):
        if info.key.endswith(MANIFEST):
            return store.read_bytes(info.key)
    return None


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_export_killed_shows_nothing_unverified_and_the_rerun_cleans_up(object_store, tmp_path, point):
    write_base(object_store, tmp_path, OLD)
    export_snapshots(object_store, PROJECT, OLD, namespaces=(0,), max_member_bytes=MEMBER_BYTES, log=lambda _: None)
    before = read_latest(object_store, IDENTIFIER)
    assert before is not None and before.date == OLD
    listing_before = object_store.read_bytes(object_store.key(snapshots_listing_key("paid")))
    articles = write_base(object_store, tmp_path, NEW)

    (tmp_path / "work").mkdir()
    watcher = Watcher(object_store)
    watcher.start()
    child, paused, _ = export_in_child(object_store, NEW, tmp_path / "work", pause=KILL_POINTS[point])
    try:
        wait_for(paused, child)
        os.killpg(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    watcher.stop()

    # What the dead run left: its staging, and at the dated keys only objects its (staged) manifest names.
    assert staging_left(object_store), "a killed run cannot have cleaned its staging"
    dead = staged_manifest(object_store)
    left = dated_keys(object_store, NEW)
    if point == "staging":
        assert left == set()
    else:
        dead_expected = expected_bytes(dead)
        assert {key: {dead_expected[key]} for key in watcher.seen} == watcher.seen
        assert (MANIFEST in left) == (point == "pointer")
        if point == "copying":
            assert left and all(key.startswith(f"chunks/{NEW}/") and key.endswith(".tar.gz") for key in left)
    assert watcher.problems == [] and watcher.polls > 1
    assert set(watcher.pointer_dates) == {OLD}
    assert read_latest(object_store, IDENTIFIER) == before
    assert object_store.read_bytes(object_store.key(snapshots_listing_key("paid"))) == listing_before
    assert verify_published(object_store, f"snapshots/latest/{IDENTIFIER}.json") == []

    # The re-run, watched the same way, removes the leftovers first and publishes.
    watcher = Watcher(object_store)
    watcher.start()
    result = export_snapshots(
        object_store, PROJECT, NEW, namespaces=(0,), max_member_bytes=MEMBER_BYTES, log=lambda _: None
    )
    watcher.stop()
    (namespace,) = result.namespaces
    assert namespace.problems == [] and namespace.records == articles
    assert result.cleanup.leftover_staging > 0
    assert result.cleanup.orphans == (len(left) if point != "pointer" else 0)
    final = object_store.read_bytes(object_store.key(MANIFEST))
    final_expected = expected_bytes(final)
    # Whatever a consumer saw at a published key was what one of the two runs' manifests names.
    allowed = {key: {final_expected.get(key), expected_bytes(dead).get(key) if dead else None} for key in watcher.seen}
    assert all(shas <= allowed[key] for key, shas in watcher.seen.items()), watcher.seen
    assert watcher.problems == []
    assert set(watcher.pointer_dates) <= {OLD, NEW} and watcher.pointer_dates[-1] == NEW
    # No staging, no orphans: the dated keys hold exactly what the manifest names.
    assert staging_left(object_store) == []
    assert dated_keys(object_store, NEW) == set(final_expected)
    after = read_latest(object_store, IDENTIFIER)
    assert after is not None and after.date == NEW and after.record_count == articles
    validate = record_validator("article")
    assert verify_published(object_store, f"snapshots/latest/{IDENTIFIER}.json", validator=validate) == []


def _store_on(server: SeaweedServer) -> ObjectStore:
    store = ObjectStore(
        bucket=TEST_BUCKET,
        prefix="killed-server",
        endpoint_url=server.endpoint_url,
        access_key=EMBEDDED_ACCESS_KEY,
        secret_key=EMBEDDED_SECRET_KEY,
    )
    store.check_bucket(create=True)
    return store


def _serving(store: ObjectStore, key: str, timeout: float = 60) -> None:
    """Wait until a restarted server serves what it holds: it answers listings before its volume server has
    told the master where the data is, and reads fail (InternalError) until then."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            store.read_bytes(store.key(key))
            return
        except ObjectStoreError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _kill(server: SeaweedServer) -> None:
    os.killpg(server.pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(server.pid, 0)  # started by this process: reap it
    server.stop()  # already gone: this removes the sockets it left in /tmp


@pytest.mark.parametrize("point", ["staging", "copying"])
def test_export_with_the_s3_server_killed_mid_way(request, tmp_path, point):
    """A SeaweedFS of the test's own (the session's must live on) is SIGKILLed while the export stages or
    copies, and restarted on the same data directory: latest never moved, the re-run cleans up and publishes."""
    refuse_outside_integration(request, "SeaweedFS")
    data_dir = tmp_path / "weed"
    server = start_seaweedfs(data_dir)
    try:
        store = _store_on(server)
        write_base(store, tmp_path, OLD)
        export_snapshots(store, PROJECT, OLD, namespaces=(0,), max_member_bytes=MEMBER_BYTES, log=lambda _: None)
        before = read_latest(store, IDENTIFIER)
        articles = write_base(store, tmp_path, NEW)

        (tmp_path / "work").mkdir()
        child, paused, resume = export_in_child(store, NEW, tmp_path / "work", pause=KILL_POINTS[point], max_attempts=2)
        try:
            wait_for(paused, child)
            _kill(server)
            resume.touch()  # the export goes on against a dead server, and fails on its own
            child.wait(timeout=180)
        finally:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait(timeout=30)
        assert child.returncode not in (0, -signal.SIGKILL)

        server = start_seaweedfs(data_dir)  # the same data, on new ports
        store = _store_on(server)
        _serving(store, f"snapshots/latest/{IDENTIFIER}.json")
        assert read_latest(store, IDENTIFIER) == before
        assert verify_published(store, f"snapshots/latest/{IDENTIFIER}.json") == []
        assert staging_left(store), "the dead run's staging is still on the server"
        left = dated_keys(store, NEW)
        assert all(key.startswith(f"chunks/{NEW}/") and key.endswith(".tar.gz") for key in left)

        result = export_snapshots(
            store, PROJECT, NEW, namespaces=(0,), max_member_bytes=MEMBER_BYTES, log=lambda _: None
        )
        assert result.namespaces[0].problems == [] and result.records == articles
        assert result.cleanup.leftover_staging > 0 and result.cleanup.orphans == len(left)
        assert staging_left(store) == []
        final = expected_bytes(store.read_bytes(store.key(MANIFEST)))
        assert dated_keys(store, NEW) == set(final)
        assert read_latest(store, IDENTIFIER).date == NEW
        validate = record_validator("article")
        assert verify_published(store, f"snapshots/latest/{IDENTIFIER}.json", validator=validate) == []
    finally:
        server.stop()
