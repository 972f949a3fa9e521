"""Publishing snapshots to the real SeaweedFS S3 server: layout, verification, tampering, failures, retention.

Faults are injected around the real store (a subclass that raises on its N-th write to a published key, or
that damages an object in staging or after its copy); everything else is the real server and the real
Enterprise article records.
"""

from __future__ import annotations

import hashlib
import threading

import orjson
import pytest

from wme_assets.snapshots.archive import SnapshotFiles, write_snapshot
from wme_assets.snapshots.manifest import SnapshotManifest, chunk_metadata, snapshot_metadata
from wme_assets.snapshots.publish import (
    SnapshotPublishError,
    SnapshotVerificationError,
    apply_retention,
    chunk_key,
    chunks_listing_key,
    latest_key,
    publish_snapshot,
    read_latest,
    rebuild_snapshots_listing,
    snapshot_key,
    snapshots_listing_key,
    verify_published,
)
from wme_assets.snapshots.staging import PHASES
from wme_assets.storage.object_store import STAGING_DIR, ObjectStore
from wme_assets_tests.records import load_real_records
from wme_assets_tests.servers import same_store

pytestmark = pytest.mark.integration

D1, D2, D3, D4 = "20250101", "20250102", "20250103", "20250104"
ENWIKI = "enwiki_namespace_0"


@pytest.fixture(scope="module")
def real_records(fixtures_dir):
    return load_real_records()


@pytest.fixture
def write(tmp_path, real_records):
    """Write a snapshot of one project's real records into its own directory."""

    def _write(dbname="enwiki", *, namespace=0, date=D1, max_member_bytes=4_000_000, records=None, tag=""):
        records = real_records[dbname] if records is None else records
        return write_snapshot(
            records,
            tmp_path / f"{dbname}-{namespace}-{date}{tag}",
            dbname=dbname,
            namespace=namespace,
            max_member_bytes=max_member_bytes,
            dump_date=date,
        )

    return _write


def keys_under(store: ObjectStore) -> set[str]:
    return {info.key[len(store.prefix) :] for info in store.list(store.prefix)}


def staging_left(store: ObjectStore) -> list[str]:
    """Objects and unfinished multipart uploads under the store's staging."""
    prefix = store.prefix + STAGING_DIR + "/"
    objects = [info.key for info in store.list(prefix, include_staging=True)]
    uploads = store.client.list_multipart_uploads(Bucket=store.bucket, Prefix=prefix).get("Uploads", [])
    return objects + [upload["Key"] for upload in uploads]


class FailingStore(ObjectStore):
    """The real store, raising on its N-th write to a published key: the copies from staging (chunks, the
    archive, metadata objects, the manifest, in that order), then what is published directly (the pointer)."""

    def __init__(self, *args, fail_on: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.fail_on = fail_on
        self.calls = 0
        self._lock = threading.Lock()  # the copies of one phase run in parallel

    def _count(self, key):
        with self._lock:
            self.calls += 1
            if self.calls == self.fail_on:
                raise ConnectionError(f"injected failure on write #{self.calls} ({key})")

    def copy_staged(self, staged_key, key, **kwargs):
        self._count(key)
        return super().copy_staged(staged_key, key, **kwargs)

    def publish(self, source, key, **kwargs):
        self._count(key)
        return super().publish(source, key, **kwargs)


def test_keys_of_each_kind_of_snapshot():
    # Articles keep the layout they always had; Structured Contents have the same under `structured-` folders.
    assert snapshot_key(D1, ENWIKI, "paid") == f"snapshots/{D1}/{ENWIKI}.tar.gz"
    assert snapshot_key(D1, ENWIKI, "free", "manifest") == f"snapshots/{D1}/{ENWIKI}_group_1.manifest.json"
    assert chunk_key(D1, ENWIKI, 3, "paid", "metadata") == f"chunks/{D1}/{ENWIKI}/chunk_3.json"
    assert latest_key(ENWIKI, "paid") == f"snapshots/latest/{ENWIKI}.json"
    assert snapshots_listing_key("free") == "aggregations/snapshots/snapshots_group_1.ndjson"
    assert chunks_listing_key(ENWIKI, "paid") == f"aggregations/chunks/{ENWIKI}/chunks.ndjson"

    structured = {"kind": "structured"}
    assert snapshot_key(D1, ENWIKI, "paid", **structured) == f"structured-snapshots/{D1}/{ENWIKI}.tar.gz"
    assert snapshot_key(D1, ENWIKI, "paid", "metadata", **structured) == f"structured-snapshots/{D1}/{ENWIKI}.json"
    assert chunk_key(D1, ENWIKI, 3, "paid", **structured) == f"structured-chunks/{D1}/{ENWIKI}/chunk_3.tar.gz"
    assert latest_key(ENWIKI, "paid", **structured) == f"structured-snapshots/latest/{ENWIKI}.json"
    assert (
        snapshots_listing_key("paid", **structured) == "aggregations/structured-snapshots/structured-snapshots.ndjson"
    )
    assert (
        chunks_listing_key(ENWIKI, "paid", **structured)
        == f"aggregations/structured-chunks/{ENWIKI}/structured-chunks.ndjson"
    )
    with pytest.raises(ValueError, match="kind must be one of articles, structured"):
        latest_key(ENWIKI, "paid", kind="html")


def test_publish_lays_out_verifies_and_points_latest(object_store, write):
    files = write()
    published = publish_snapshot(object_store, files, date=D1)

    chunk_keys = {f"chunks/{D1}/{ENWIKI}/chunk_{n}.{ext}" for n in range(3) for ext in ("tar.gz", "json")}
    assert len(files.chunks) == 3
    assert keys_under(object_store) == chunk_keys | {
        f"snapshots/{D1}/{ENWIKI}.tar.gz",
        f"snapshots/{D1}/{ENWIKI}.json",
        f"snapshots/{D1}/{ENWIKI}.manifest.json",
        f"snapshots/latest/{ENWIKI}.json",
        "aggregations/snapshots/snapshots.ndjson",
        f"aggregations/chunks/{ENWIKI}/chunks.ndjson",
    }
    assert not any(STAGING_DIR in key for key in keys_under(object_store))
    assert published.previous_date is None and published.skipped == []

    # The archive in S3 is the local file, byte for byte; its metadata is Enterprise's object.
    archive = object_store.read_bytes(object_store.key(f"snapshots/{D1}/{ENWIKI}.tar.gz"))
    assert hashlib.sha256(archive).hexdigest() == files.archive.sha256
    metadata = orjson.loads(object_store.read_bytes(object_store.key(f"snapshots/{D1}/{ENWIKI}.json")))
    assert metadata["version"] == hashlib.md5(archive).hexdigest()
    assert metadata["chunks"] == [f"{ENWIKI}_chunk_{n}" for n in range(3)]

    manifest = SnapshotManifest.from_json(object_store.read_bytes(object_store.key(published.manifest_key)))
    assert manifest.published.date == D1 and manifest.published.tier == "paid"
    assert manifest.archive.key == f"snapshots/{D1}/{ENWIKI}.tar.gz"
    assert [c.key for c in manifest.chunks] == [f"chunks/{D1}/{ENWIKI}/chunk_{n}.tar.gz" for n in range(3)]

    pointer = read_latest(object_store, ENWIKI)
    assert pointer.date == D1 and pointer.manifest.key == published.manifest_key
    assert pointer.snapshot == metadata and pointer.record_count == 5

    listing = object_store.read_bytes(object_store.key(snapshots_listing_key("paid")))
    assert listing == snapshot_metadata(manifest).to_json()  # one line, no trailing newline
    chunk_listing = object_store.read_bytes(object_store.key(chunks_listing_key(ENWIKI, "paid"))).split(b"\n")
    assert [orjson.loads(line) for line in chunk_listing] == [
        chunk_metadata(manifest, chunk).to_dict() for chunk in manifest.chunks
    ]

    uri = object_store.uri(object_store.key(published.manifest_key))
    assert verify_published(object_store, uri) == []
    assert verify_published(object_store, latest_key(ENWIKI, "paid")) == []
    assert verify_published(object_store, f"snapshots/{D1}/") == []
    assert verify_published(object_store, f"chunks/{D1}/{ENWIKI}/chunk_1.tar.gz", deep=False) == []


def test_republishing_identical_files_is_idempotent(object_store, write, tmp_path, real_records):
    first = publish_snapshot(object_store, write(), date=D1)
    manifest_before = object_store.read_bytes(object_store.key(first.manifest_key))
    # Rewritten from scratch (another process): same bytes, so nothing is uploaded again.
    again = publish_snapshot(object_store, write(tag="-again"), date=D1)
    assert again.uploaded == []
    assert set(again.skipped) == set(first.uploaded)
    assert object_store.read_bytes(object_store.key(first.manifest_key)) == manifest_before
    assert again.previous_date == D1
    assert verify_published(object_store, latest_key(ENWIKI, "paid")) == []


def test_free_tier_objects_carry_the_group_suffix(object_store, write):
    files = write()
    publish_snapshot(object_store, files, date=D1, tier="paid")
    free = publish_snapshot(object_store, files, date=D1, tier="free")
    keys = keys_under(object_store)
    assert {
        f"snapshots/{D1}/{ENWIKI}_group_1.tar.gz",
        f"snapshots/{D1}/{ENWIKI}_group_1.json",
        f"snapshots/{D1}/{ENWIKI}_group_1.manifest.json",
        f"chunks/{D1}/{ENWIKI}/chunk_2_group_1.tar.gz",
        f"chunks/{D1}/{ENWIKI}/chunk_2_group_1.json",
        f"snapshots/latest/{ENWIKI}_group_1.json",
        "aggregations/snapshots/snapshots_group_1.ndjson",
        f"aggregations/chunks/{ENWIKI}/chunks_group_1.ndjson",
    } <= keys
    assert free.manifest_key == f"snapshots/{D1}/{ENWIKI}_group_1.manifest.json"
    assert read_latest(object_store, ENWIKI, "free").date == D1
    assert verify_published(object_store, f"snapshots/{D1}/") == []
    assert verify_published(object_store, f"chunks/{D1}/{ENWIKI}/chunk_0_group_1.json") == []


def test_listing_holds_every_current_snapshot_but_empty_ones(object_store, write):
    publish_snapshot(object_store, write("enwiki"), date=D1)
    publish_snapshot(object_store, write("frwiki"), date=D1, update_listing=False)
    listing = object_store.read_bytes(object_store.key(snapshots_listing_key("paid")))
    assert b"frwiki" not in listing  # deferred: a job rebuilds it once at its end
    assert rebuild_snapshots_listing(object_store, "paid") == snapshots_listing_key("paid")
    empty = write("enwiki", namespace=14, records=[])
    published = publish_snapshot(object_store, empty, date=D1)
    assert empty.record_count == 0 and published.manifest.chunks == []
    assert verify_published(object_store, latest_key("enwiki_namespace_14", "paid")) == []
    assert read_latest(object_store, "enwiki_namespace_14").record_count == 0

    lines = object_store.read_bytes(object_store.key(snapshots_listing_key("paid"))).split(b"\n")
    assert [orjson.loads(line)["identifier"] for line in lines] == ["enwiki_namespace_0", "frwiki_namespace_0"]


def test_tampered_objects_in_s3_are_named(object_store, write):
    files = write()
    published = publish_snapshot(object_store, files, date=D1)
    chunk_1 = f"chunks/{D1}/{ENWIKI}/chunk_1.tar.gz"
    archive = f"snapshots/{D1}/{ENWIKI}.tar.gz"

    # A chunk replaced through the store: its stored sha256 is right for the new bytes, not the manifest.
    data = bytearray(object_store.read_bytes(object_store.key(chunk_1)))
    data[len(data) // 2] ^= 0x01
    object_store.put_bytes(object_store.key(chunk_1), bytes(data))
    # The archive replaced behind the store's back, same size, keeping the sha256 it claimed (bit rot):
    # only the deep check, which re-hashes and re-reads, can see it.
    original = object_store.read_bytes(object_store.key(archive))
    rotten = original[:1000] + bytes([original[1000] ^ 0x01]) + original[1001:]
    object_store.client.put_object(
        Bucket=object_store.bucket,
        Key=object_store.key(archive),
        Body=rotten,
        Metadata={"sha256": files.archive.sha256},
    )

    quick = verify_published(object_store, latest_key(ENWIKI, "paid"), deep=False)
    assert any(p.startswith(f"{chunk_1}: sha256") for p in quick), quick
    assert not any(p.startswith(archive) for p in quick)

    deep = verify_published(object_store, object_store.uri(object_store.key(published.manifest_key)))
    assert any(p.startswith(chunk_1) for p in deep), deep
    assert any(p.startswith(archive) for p in deep), deep
    assert not any("chunk_0" in p or "chunk_2" in p for p in deep), deep


def test_verify_reports_what_it_cannot_find(object_store, write):
    publish_snapshot(object_store, write(), date=D1)
    assert verify_published(object_store, "snapshots/20240101/") == ["snapshots/20240101/: no snapshot manifest found"]
    assert verify_published(object_store, "s3://another-bucket/x.manifest.json")[0].startswith("s3://another-bucket")
    object_store.delete(object_store.key(f"chunks/{D1}/{ENWIKI}/chunk_0.json"))
    problems = verify_published(object_store, latest_key(ENWIKI, "paid"))
    assert f"chunks/{D1}/{ENWIKI}/chunk_0.json: missing" in problems


@pytest.mark.parametrize("fail_on", ["first", "archive", "manifest", "pointer"])
def test_a_failed_publish_leaves_latest_on_the_previous_snapshot(object_store, write, fail_on):
    publish_snapshot(object_store, write(date=D1), date=D1)
    listing_before = object_store.read_bytes(object_store.key(snapshots_listing_key("paid")))

    newer = write(date=D2, max_member_bytes=50_000)  # other content: five chunks
    chunks = len(newer.chunks)
    # Copies: every chunk, the archive, every metadata object, the manifest; then the pointer.
    call = {"first": 1, "archive": chunks + 1, "manifest": 2 * chunks + 3, "pointer": 2 * chunks + 4}[fail_on]
    failing = same_store(object_store, FailingStore, fail_on=call)
    with pytest.raises(ConnectionError, match="injected failure"):
        publish_snapshot(failing, newer, date=D2)

    pointer = read_latest(object_store, ENWIKI)
    assert pointer.date == D1
    assert verify_published(object_store, latest_key(ENWIKI, "paid")) == []
    assert object_store.read_bytes(object_store.key(snapshots_listing_key("paid"))) == listing_before
    assert staging_left(object_store) == []  # the failed run deleted its own staging
    left = {key for key in keys_under(object_store) if f"/{D2}/" in key}
    manifest_key = f"snapshots/{D2}/{ENWIKI}.manifest.json"
    # Until the manifest is copied, what is at D2 is orphans (no chunk .json before every .tar.gz); after,
    # the snapshot is published (complete) and only the pointer is missing.
    assert (manifest_key in left) == (fail_on == "pointer")
    if fail_on in ("first", "archive"):
        assert not any(key.endswith(".json") for key in left)

    rerun = publish_snapshot(object_store, newer, date=D2)
    assert read_latest(object_store, ENWIKI).date == D2
    assert rerun.previous_date == D1
    if fail_on == "pointer":  # nothing to redo but the pointer
        assert rerun.uploaded == [] and rerun.cleanup.orphans == 0 and len(rerun.skipped) == 2 * chunks + 3
    else:  # the orphans went first, then everything was published again
        assert rerun.cleanup.orphans == len(left) and rerun.skipped == [] and len(rerun.uploaded) == 2 * chunks + 3
    assert verify_published(object_store, latest_key(ENWIKI, "paid")) == []
    assert staging_left(object_store) == []
    listing = orjson.loads(object_store.read_bytes(object_store.key(snapshots_listing_key("paid"))))
    assert listing["version"] == newer.archive.md5


class CorruptingStore(ObjectStore):
    """The real store; right after the archive's copy lands, something else rewrites it (without our sha256)."""

    def copy_staged(self, staged_key, key, **kwargs):
        super().copy_staged(staged_key, key, **kwargs)
        if key.endswith(".tar.gz") and "/snapshots/" in f"/{key}":
            data = bytearray(self.read_bytes(key))
            data[len(data) // 2] ^= 0x01
            self.client.put_object(Bucket=self.bucket, Key=key, Body=bytes(data))


def test_a_snapshot_that_does_not_verify_does_not_move_latest(object_store, write):
    publish_snapshot(object_store, write(date=D1), date=D1)
    with pytest.raises(SnapshotVerificationError) as failure:
        publish_snapshot(same_store(object_store, CorruptingStore), write(date=D2, max_member_bytes=50_000), date=D2)
    assert any(p.startswith(f"snapshots/{D2}/{ENWIKI}.tar.gz") for p in failure.value.problems)
    assert read_latest(object_store, ENWIKI).date == D1
    # The manifest was never copied: D2 is not published, whatever else is there.
    assert f"snapshots/{D2}/{ENWIKI}.manifest.json" not in keys_under(object_store)


class DamagedInStagingStore(ObjectStore):
    """The real store; before a staged chunk is checked, something rewrites it in staging (keeping the size
    and the sha256 it records), as a server that corrupts an object at rest would."""

    staged_keys: list[str]

    def verify_staged(self, staged_key, *, size, sha256, etag):
        self.staged_keys.append(staged_key)
        if staged_key.endswith("chunk_1.tar.gz"):
            data = bytearray(self.read_bytes(staged_key))
            data[len(data) // 2] ^= 0x01
            self.client.put_object(Bucket=self.bucket, Key=staged_key, Body=bytes(data), Metadata={"sha256": sha256})
        return super().verify_staged(staged_key, size=size, sha256=sha256, etag=etag)


def test_damage_in_staging_publishes_nothing(object_store, write):
    publish_snapshot(object_store, write(date=D1), date=D1)
    before = keys_under(object_store)
    damaging = same_store(object_store, DamagedInStagingStore)
    damaging.staged_keys = []
    with pytest.raises(SnapshotVerificationError, match="staging does not verify; nothing was published") as failure:
        publish_snapshot(damaging, write(date=D2, max_member_bytes=50_000), date=D2)
    (damaged,) = [key for key in damaging.staged_keys if key.endswith("chunk_1.tar.gz")]  # checked in parallel
    assert failure.value.problems == [
        f"staged object {damaging.uri(damaged)} does not hold the bytes sent (sha256 differs)"
    ]
    # Every object was staged under the partition's folder (kind, date, project) and one attempt's folder...
    attempts = {key.split("/")[5] for key in damaging.staged_keys}
    assert len(attempts) == 1
    (attempt,) = attempts
    assert damaged == object_store.key(
        STAGING_DIR, "articles", D2, "enwiki", attempt, f"chunks/{D2}/{ENWIKI}/chunk_1.tar.gz"
    )
    assert len(damaging.staged_keys) == 2 * 5 + 3  # five chunks, the archive, every metadata object, the manifest
    # ...and checked before anything was copied: not one object more at a published key, no staging left.
    assert keys_under(object_store) == before
    assert staging_left(object_store) == []
    assert read_latest(object_store, ENWIKI).date == D1


def test_copies_go_chunks_archive_metadata_manifest(object_store, write):
    class Recording(ObjectStore):
        copies: list[str] = []

        def copy_staged(self, staged_key, key, **kwargs):
            self.copies.append(key[len(self.prefix) :])
            super().copy_staged(staged_key, key, **kwargs)

    recording = same_store(object_store, Recording)
    publish_snapshot(recording, write(date=D1, max_member_bytes=50_000), date=D1)

    def phase(key):
        if key.endswith(".manifest.json"):
            return "manifest"
        if key.endswith(".json"):
            return "metadata"
        return "chunks" if key.startswith("chunks/") else "archive"

    order = [PHASES.index(phase(key)) for key in recording.copies]
    assert order == sorted(order) and len(recording.copies) == 2 * 5 + 3
    assert recording.copies[-1] == f"snapshots/{D1}/{ENWIKI}.manifest.json"


def test_the_served_snapshot_is_never_rewritten(object_store, write):
    publish_snapshot(object_store, write(date=D1), date=D1)
    with pytest.raises(SnapshotPublishError, match="immutable"):
        publish_snapshot(object_store, write(date=D1, max_member_bytes=50_000, tag="-other"), date=D1)
    assert verify_published(object_store, latest_key(ENWIKI, "paid")) == []


def test_retention_keeps_the_newest_n_and_the_latest(object_store, write):
    files = write()
    for date in (D1, D2, D3, D4):
        publish_snapshot(object_store, files, date=date)
    publish_snapshot(object_store, files, date=D2, tier="free")
    publish_snapshot(object_store, files, date=D1)  # roll latest back to the oldest
    assert read_latest(object_store, ENWIKI).date == D1

    assert apply_retention(object_store, ENWIKI, keep=2) == [D2]
    dated = {key.split("/")[1] for key in keys_under(object_store) if key.startswith("snapshots/2")}
    assert dated == {D1, D2, D3, D4}  # D2 is still there: its free-tier copy
    paid = {
        key.split("/")[1]
        for key in keys_under(object_store)
        if key.startswith(("snapshots/2", "chunks/2")) and "_group_1" not in key
    }
    assert paid == {D1, D3, D4}
    assert verify_published(object_store, latest_key(ENWIKI, "paid")) == []
    assert verify_published(object_store, latest_key(ENWIKI, "free")) == []

    assert apply_retention(object_store, ENWIKI, keep=1) == [D3]  # D4 is newest, D1 is latest
    assert apply_retention(object_store, ENWIKI, keep=1, tier="free") == []
    with pytest.raises(ValueError):
        apply_retention(object_store, ENWIKI, keep=0)


def test_publish_needs_a_date(object_store, real_records, tmp_path):
    files: SnapshotFiles = write_snapshot(real_records["ptwiki"], tmp_path, dbname="ptwiki", namespace=0)
    with pytest.raises(ValueError, match="YYYYMMDD"):
        publish_snapshot(object_store, files)
    assert publish_snapshot(object_store, files, date=D3).date == D3


def test_retention_removes_what_a_failed_run_left(object_store, write):
    publish_snapshot(object_store, write(date=D1), date=D1)
    newer = write(date=D2, max_member_bytes=50_000)
    failing = same_store(object_store, FailingStore, fail_on=len(newer.chunks) + 1)  # on the archive's copy
    with pytest.raises(ConnectionError):
        publish_snapshot(failing, newer, date=D2)
    assert any(key.startswith(f"chunks/{D2}/") for key in keys_under(object_store))  # chunks only: orphans
    assert not any(key.startswith(f"snapshots/{D2}/") for key in keys_under(object_store))
    publish_snapshot(object_store, write(date=D3), date=D3)

    assert apply_retention(object_store, ENWIKI, keep=1) == [D1, D2]
    assert {key.split("/")[1] for key in keys_under(object_store) if key.startswith(("snapshots/2", "chunks/2"))} == {
        D3
    }
    assert verify_published(object_store, latest_key(ENWIKI, "paid")) == []


def test_an_unserved_snapshot_of_the_date_is_withdrawn_then_replaced(object_store, write):
    publish_snapshot(object_store, write(date=D1), date=D1)
    old = publish_snapshot(object_store, write(date=D2), date=D2)
    publish_snapshot(object_store, write(date=D1), date=D1)  # latest back on D1: D2 is not served
    other = write(date=D2, max_member_bytes=50_000, tag="-other")  # five chunks where D2 had three
    replaced = publish_snapshot(object_store, other, date=D2)
    # The old manifest, the archive, its metadata and the three chunks with theirs went first.
    assert replaced.cleanup.orphans == 1 + len(old.uploaded) - 1
    assert verify_published(object_store, f"snapshots/{D2}/{ENWIKI}.manifest.json") == []
    assert len([key for key in keys_under(object_store) if key.startswith(f"chunks/{D2}/")]) == 2 * 5
