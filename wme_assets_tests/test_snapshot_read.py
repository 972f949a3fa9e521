"""Reading published snapshots back (wme_assets.snapshots.read) from the real SeaweedFS server.

Snapshots are written from the real Wikimedia Enterprise records of ``wme-articles/`` with
:func:`write_snapshot` and published with :func:`publish_snapshot`, as the export stage does; faults are
injected into what the store holds: a manifest that was never published, one copied under another date, a
``latest`` pointer that names other bytes, an archive whose bytes differ but whose size and recorded SHA-256
do not (so only re-hashing the stream can tell).
"""

from __future__ import annotations

import hashlib
import lzma

import orjson
import pytest

from wme_assets.snapshots.archive import SnapshotFiles, write_snapshot
from wme_assets.snapshots.manifest import SnapshotManifest
from wme_assets.snapshots.publish import latest_key, publish_snapshot, snapshot_key
from wme_assets.snapshots.read import (
    SnapshotMismatchError,
    SnapshotNotFoundError,
    SnapshotRefusedError,
    iter_snapshot_records,
    open_snapshot,
    parse_manifest_key,
)

pytestmark = pytest.mark.integration

DATE = "20250101"
OTHER_DATE = "20250102"
IDENTIFIER = "enwiki_namespace_0"


@pytest.fixture(scope="module")
def records(fixtures_dir) -> list[tuple[int, bytes]]:
    """The real enwiki articles of wme-articles, in page id order."""
    found = []
    for path in sorted(fixtures_dir.glob("wme-articles/enwiki/*.json.xz")):
        record = orjson.loads(lzma.open(path).read())
        found.append((int(record["identifier"]), orjson.dumps(record)))
    assert len(found) >= 3
    return sorted(found)


@pytest.fixture(scope="module")
def stored_files(tmp_path_factory, records) -> SnapshotFiles:
    """Deflate level 0 (stored blocks): a byte of a record changed in the archive keeps it a valid tar.gz of
    the same size, the hardest tamper to see. Small members: several of them."""
    return write_snapshot(
        records,
        tmp_path_factory.mktemp("snapshot"),
        dbname="enwiki",
        namespace=0,
        max_member_bytes=1_000_000,
        codec="zlib",
        compresslevel=0,
        dump_date=DATE,
        threads=0,
    )


@pytest.fixture
def published(object_store, stored_files):
    publish_snapshot(object_store, stored_files, date=DATE, tier="free", update_listing=False)
    return object_store


def test_records_come_back_in_order_and_the_source_is_described(published, stored_files, records):
    assert len(stored_files.members) > 1
    source = open_snapshot(published, identifier=IDENTIFIER, date=DATE, tier="free")
    manifest_key = snapshot_key(DATE, IDENTIFIER, "free", "manifest")
    assert source.manifest_key == manifest_key
    data = published.read_bytes(published.key(manifest_key))
    assert (source.manifest_sha256, source.manifest_bytes) == (hashlib.sha256(data).hexdigest(), len(data))
    assert (source.tier, source.kind, source.date, source.identifier) == ("free", "articles", DATE, IDENTIFIER)
    assert source.archive_key == snapshot_key(DATE, IDENTIFIER, "free")
    assert source.archive_sha256 == stored_files.archive.sha256
    assert source.record_count == len(records)
    assert parse_manifest_key(manifest_key) == ("articles", DATE, IDENTIFIER, "free")
    # The same records, byte for byte, whichever way the snapshot is named.
    assert list(iter_snapshot_records(published, source)) == records
    assert list(iter_snapshot_records(published, manifest_key)) == records
    assert list(iter_snapshot_records(published, identifier=IDENTIFIER, date=DATE, tier="free")) == records


def test_a_missing_snapshot_is_not_found(published):
    with pytest.raises(SnapshotNotFoundError, match="no such snapshot manifest"):
        open_snapshot(published, identifier=IDENTIFIER, date=DATE, tier="paid")
    with pytest.raises(SnapshotNotFoundError):
        open_snapshot(published, identifier=IDENTIFIER, date=DATE, kind="structured")
    with pytest.raises(ValueError, match="not a snapshot manifest key"):
        open_snapshot(published, "snapshots/latest/enwiki_namespace_0.json")


def test_a_manifest_that_was_never_published_is_refused(published):
    manifest = SnapshotManifest.from_json(
        published.read_bytes(published.key(snapshot_key(DATE, IDENTIFIER, "free", "manifest")))
    )
    manifest.published = None
    key = snapshot_key(OTHER_DATE, IDENTIFIER, "free", "manifest")
    published.put_bytes(published.key(key), manifest.to_json())
    with pytest.raises(SnapshotRefusedError, match="never published") as refused:
        open_snapshot(published, key)
    assert published.uri(published.key(key)) in str(refused.value)


def test_a_manifest_under_another_date_is_refused(published):
    data = published.read_bytes(published.key(snapshot_key(DATE, IDENTIFIER, "free", "manifest")))
    key = snapshot_key(OTHER_DATE, IDENTIFIER, "free", "manifest")
    published.put_bytes(published.key(key), data)
    with pytest.raises(SnapshotRefusedError) as refused:
        open_snapshot(published, identifier=IDENTIFIER, date=OTHER_DATE, tier="free")
    assert f"published date is '{DATE}', its key says '{OTHER_DATE}'" in str(refused.value)
    assert "archive key" in str(refused.value)


def test_a_pointer_that_names_other_bytes_is_refused(published):
    pointer_key = published.key(latest_key(IDENTIFIER, "free"))
    pointer = orjson.loads(published.read_bytes(pointer_key))
    pointer["manifest"]["sha256"] = "0" * 64
    published.put_bytes(pointer_key, orjson.dumps(pointer))
    with pytest.raises(SnapshotRefusedError, match="latest names manifest bytes"):
        open_snapshot(published, identifier=IDENTIFIER, date=DATE, tier="free")
    published.delete(pointer_key)
    with pytest.raises(SnapshotRefusedError, match="no latest pointer"):
        open_snapshot(published, identifier=IDENTIFIER, date=DATE, tier="free")


def test_an_archive_replaced_openly_is_refused_before_it_is_read(published):
    key = published.key(snapshot_key(DATE, IDENTIFIER, "free"))
    data = published.read_bytes(key)
    published.put_bytes(key, data[:-1])  # what ObjectStore publishes records its own SHA-256
    with pytest.raises(SnapshotRefusedError) as refused:
        open_snapshot(published, identifier=IDENTIFIER, date=DATE, tier="free")
    assert snapshot_key(DATE, IDENTIFIER, "free") in str(refused.value)


def test_a_tampered_archive_fails_the_stream_naming_the_object(published, stored_files, records):
    """Same size, the original SHA-256 in the object's metadata: every up-front check passes; the re-hash does
    not, and the error comes only after records were yielded, so a caller must wait for the end."""
    key = published.key(snapshot_key(DATE, IDENTIFIER, "free"))
    data = bytearray(published.read_bytes(key))
    name = orjson.loads(records[0][1])["name"].encode()
    at = data.index(b'"name":"' + name) + len(b'"name":"')
    data[at] = ord("X") if data[at] != ord("X") else ord("Y")
    published.client.put_object(
        Bucket=published.bucket, Key=key, Body=bytes(data), Metadata={"sha256": stored_files.archive.sha256}
    )
    source = open_snapshot(published, identifier=IDENTIFIER, date=DATE, tier="free")  # the quick checks pass
    yielded = []
    with pytest.raises(SnapshotMismatchError) as mismatch:
        for page_id, _ in iter_snapshot_records(published, source):
            yielded.append(page_id)
    message = str(mismatch.value)
    assert published.uri(key) in message
    assert f"member {stored_files.members[0].name}" in message and "sha256 is" in message
    assert yielded == [page_id for page_id, _ in records[: stored_files.members[0].record_count]]


def test_garbage_in_the_archive_fails_the_stream_naming_the_object(published, stored_files):
    key = published.key(snapshot_key(DATE, IDENTIFIER, "free"))
    data = bytearray(published.read_bytes(key))
    data[10:600] = bytes(590)  # the start of the deflate stream (the first tar header), zeroed
    published.client.put_object(
        Bucket=published.bucket, Key=key, Body=bytes(data), Metadata={"sha256": stored_files.archive.sha256}
    )
    with pytest.raises(SnapshotMismatchError) as mismatch:
        list(iter_snapshot_records(published, identifier=IDENTIFIER, date=DATE, tier="free"))
    assert published.uri(key) in str(mismatch.value)


def test_a_store_error_mid_stream_is_raised_as_itself_not_as_a_mismatch(published):
    """The connection drops after the first ranged GET: that is a failure to read, which a retry can fix, not
    evidence that the snapshot differs from its manifest."""
    source = open_snapshot(published, identifier=IDENTIFIER, date=DATE, tier="free")
    real_iter_chunks = published.iter_chunks

    def dropping(key, chunk_size=8 * 1024 * 1024):
        chunks = real_iter_chunks(key, 64 * 1024)
        yield next(chunks)
        raise ConnectionError("connection reset by peer")

    published.iter_chunks = dropping  # the real store and object, cut off after one real read
    with pytest.raises(ConnectionError, match="connection reset"):
        list(iter_snapshot_records(published, source))
