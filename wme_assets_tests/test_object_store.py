"""Object storage against the real SeaweedFS S3 server: streaming, verification, atomic publishing."""

from __future__ import annotations

import hashlib
import io
import lzma

import pytest
import requests

from wme_assets.storage.object_store import STAGING_DIR, ObjectStore, VerificationError
from wme_assets.util.sizes import MiB


def _real_bytes(fixtures_dir, size: int) -> bytes:
    """Real dump text (bnwiki), repeated to the size a multipart upload needs."""
    text = lzma.open(fixtures_dir / "xztextfilter-truncated-dumps" / "bnwiki-truncated-100k.xml.xz").read()
    return (text * (size // len(text) + 1))[:size]


def _no_staging_left(store: ObjectStore) -> bool:
    response = store.client.list_objects_v2(Bucket=store.bucket, Prefix=store.prefix + STAGING_DIR)
    return response.get("KeyCount", 0) == 0


def test_multipart_publish_streams_and_verifies(object_store, fixtures_dir):
    data = _real_bytes(fixtures_dir, 21 * MiB + 123)  # three parts of 8 MiB, the last one short
    key = object_store.key("raw/bnwiki/20230501/big.xml")
    published = object_store.publish(io.BytesIO(data), key, size=len(data), digests=("md5", "sha1"))

    assert published.sha256 == hashlib.sha256(data).hexdigest()
    assert published.md5 == hashlib.md5(data).hexdigest()
    assert published.sha1 == hashlib.sha1(data).hexdigest()
    assert published.etag.endswith("-3"), "expected a three-part multipart upload"
    info = object_store.head(key)
    assert info.size == len(data)
    assert info.sha256 == published.sha256
    assert object_store.sha256_of(key) == published.sha256
    # Ranged reads return exactly the requested bytes.
    with object_store.open(key, 10 * MiB, 10 * MiB + 99) as body:
        assert body.read() == data[10 * MiB : 10 * MiB + 100]
    assert _no_staging_left(object_store)


def test_publish_hashes_md5_and_sha1_only_when_asked(object_store, fixtures_dir):
    """SHA-256 always; MD5 and SHA-1 (more passes over every byte) for a caller that wants them, or that
    gives them as ``expected``. A one-part object's MD5 is its part's, the one its ETag is checked with."""
    data = _real_bytes(fixtures_dir, 3 * MiB)
    plain = object_store.publish(io.BytesIO(data), object_store.key("x/plain.bin"), size=len(data))
    assert (plain.sha256, plain.md5, plain.sha1) == (hashlib.sha256(data).hexdigest(), None, None)
    assert plain.etag == hashlib.md5(data).hexdigest()
    checked = object_store.publish(
        io.BytesIO(data), object_store.key("x/checked.bin"), expected={"md5": hashlib.md5(data).hexdigest()}
    )
    assert (checked.md5, checked.sha1) == (hashlib.md5(data).hexdigest(), None)
    with pytest.raises(ValueError, match="unknown digests"):
        object_store.publish(io.BytesIO(data), object_store.key("x/bad.bin"), digests=("crc32",))


def test_download_file_is_complete(object_store, fixtures_dir, tmp_path):
    data = _real_bytes(fixtures_dir, 9 * MiB)
    key = object_store.key("raw/x/download.bin")
    object_store.publish(io.BytesIO(data), key)
    path = object_store.download_file(key, tmp_path / "out.bin")
    assert path.read_bytes() == data
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]  # no temporary file left behind


def test_expected_checksum_mismatch_publishes_nothing(object_store):
    key = object_store.key("raw/x/tampered.json")
    with pytest.raises(VerificationError, match="tampered.json: md5 of the source is"):
        object_store.publish(io.BytesIO(b'{"a": 1}'), key, expected={"md5": "0" * 32})
    assert object_store.head(key) is None
    assert _no_staging_left(object_store)


def test_source_failing_mid_upload_leaves_nothing(object_store, fixtures_dir):
    data = _real_bytes(fixtures_dir, 20 * MiB)

    class Broken(io.BytesIO):
        def read(self, n=-1):
            if self.tell() > 12 * MiB:
                raise ConnectionResetError("source connection dropped")
            return super().read(n)

    key = object_store.key("raw/x/partial.bin")
    with pytest.raises(ConnectionResetError):
        object_store.publish(Broken(data), key)
    assert object_store.head(key) is None
    assert _no_staging_left(object_store)
    uploads = object_store.client.list_multipart_uploads(Bucket=object_store.bucket, Prefix=object_store.prefix)
    assert not uploads.get("Uploads"), "an aborted upload must not leave parts behind"


def test_final_key_invisible_until_verified(object_store, fixtures_dir):
    """While the source is still being read, readers of the final key see the old object, never a part."""
    key = object_store.key("snap/latest.bin")
    object_store.put_bytes(key, b"previous version")
    data = _real_bytes(fixtures_dir, 17 * MiB)
    seen = []

    class Watching(io.BytesIO):
        def read(self, n=-1):
            seen.append(object_store.read_bytes(key))
            return super().read(n)

    object_store.publish(Watching(data), key)
    assert seen and all(body == b"previous version" for body in seen)
    assert object_store.sha256_of(key) == hashlib.sha256(data).hexdigest()


def test_list_delete_presign(object_store):
    for name in ("a/1.json", "a/2.json", "b/3.json"):
        object_store.put_bytes(object_store.key(name), name.encode())
    listed = sorted(o.key for o in object_store.list(object_store.key("a") + "/"))
    assert listed == [object_store.key("a/1.json"), object_store.key("a/2.json")]

    url = object_store.presign(object_store.key("b/3.json"), expires_in=60)
    assert requests.get(url, timeout=10).content == b"b/3.json"

    assert object_store.delete_prefix(object_store.key("a") + "/") == 2
    assert [o.key for o in object_store.list(object_store.prefix)] == [object_store.key("b/3.json")]
    object_store.delete(object_store.key("b/3.json"))
    assert object_store.head(object_store.key("b/3.json")) is None


@pytest.mark.parametrize("bad", ["../escape", "a/../../b", "a\\b", "x\x00y"])
def test_keys_cannot_escape_prefix(object_store, bad):
    with pytest.raises(ValueError, match="escape"):
        object_store.key("raw", bad)


def _folders(store: ObjectStore, prefix: str) -> list[str]:
    """Folders a delimited listing shows under ``prefix`` (SeaweedFS keeps a folder until it is deleted)."""
    response = store.client.list_objects_v2(Bucket=store.bucket, Prefix=prefix, Delimiter="/")
    return [common["Prefix"] for common in response.get("CommonPrefixes", [])]


def test_publish_leaves_no_staging_folder(object_store):
    object_store.put_bytes(object_store.key("x/one.json"), b"{}")
    # Its own folder under _staging/ is gone; _staging/ itself, shared with every writer, holds nothing.
    assert _folders(object_store, object_store.prefix + STAGING_DIR + "/") == []
    listed = [info.key for info in object_store.list(object_store.prefix, include_staging=True)]
    assert listed == [object_store.key("x/one.json")]


def test_delete_prefix_removes_the_folders_it_empties_and_only_those(object_store):
    for name in ("run/a/1.bin", "run/a/b/2.bin", "run/c/3.bin", "keep/4.bin"):
        object_store.put_bytes(object_store.key(name), name.encode())
    assert object_store.delete_prefix(object_store.key("run/a") + "/") == 2
    assert _folders(object_store, object_store.key("run") + "/") == [object_store.key("run/c") + "/"]
    assert [o.key for o in object_store.list(object_store.prefix)] == [
        object_store.key("keep/4.bin"),
        object_store.key("run/c/3.bin"),
    ]
    # A folder entry is never listed as an object, even where the server returns one.
    assert list(object_store.list(object_store.key("run/a") + "/")) == []


def test_streaming_upload_reports_the_etag_the_server_computes(object_store, fixtures_dir):
    from wme_assets.storage.streaming_upload import StreamingUpload, UploadPool

    data = _real_bytes(fixtures_dir, 21 * MiB + 5)
    sha256, md5 = hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest()
    pool = UploadPool(4)
    try:
        multipart = StreamingUpload(
            object_store, object_store.key("s/big.bin"), pool, size=len(data), metadata={"sha256": sha256}
        )
        for start in range(0, len(data), MiB):  # pushed as a reader would, a MiB at a time
            multipart.write(data[start : start + MiB])
        etag = multipart.finish().result()
        single = StreamingUpload(object_store, object_store.key("s/small.bin"), pool, size=1000, md5=md5)
        single.write(data[:1000])
        with pytest.raises(Exception, match="BadDigest|Content-M[Dd]5"):  # md5 given is not the bytes' md5
            single.finish().result()
    finally:
        pool.close()
    assert etag.endswith("-3")
    # The ETag matches the server's own, so the bytes are proven without reading them back.
    assert object_store.head(object_store.key("s/big.bin")).etag == etag
    assert object_store.verify_staged(object_store.key("s/big.bin"), size=len(data), sha256=sha256, etag=etag) is None
    problem = object_store.verify_staged(object_store.key("s/big.bin"), size=len(data), sha256="0" * 64, etag=etag)
    assert problem and "records sha256" in problem
    assert object_store.head(object_store.key("s/small.bin")) is None
    assert object_store.unfinished_uploads(object_store.key("s")) == []


def test_a_large_staged_object_is_copied_in_parts_with_its_sha256(object_store, fixtures_dir):
    from wme_assets.storage.object_store import SINGLE_COPY_BYTES
    from wme_assets.storage.streaming_upload import StreamingUpload, UploadPool

    data = _real_bytes(fixtures_dir, SINGLE_COPY_BYTES + MiB)
    sha256 = hashlib.sha256(data).hexdigest()
    staged, final = object_store.key("_staging/t/big.bin"), object_store.key("published/big.bin")
    pool = UploadPool(4)
    try:
        upload = StreamingUpload(object_store, staged, pool, size=len(data), metadata={"sha256": sha256})
        upload.write(data)
        etag = upload.finish().result()
    finally:
        pool.close()
    assert object_store.verify_staged(staged, size=len(data), sha256=sha256, etag=etag) is None
    object_store.copy_staged(staged, final, size=len(data), sha256=sha256, content_type="application/gzip")
    info = object_store.head(final)
    assert (info.size, info.sha256) == (len(data), sha256)
    assert object_store.sha256_of(final) == sha256


def test_put_whole_is_one_put_the_server_checks_against_its_md5(object_store, fixtures_dir):
    """The realtime feed's writes: one PUT with Content-MD5. A body that does not match the MD5 sent (a transfer
    corrupted on the way) is refused by the server and nothing is stored."""
    import base64

    from botocore.exceptions import ClientError

    data = (fixtures_dir / "xztextfilter-truncated-dumps" / "SOURCE.md").read_bytes()
    key = object_store.key("feed", "whole.bin")
    assert object_store.put_whole(key, data) == hashlib.md5(data).hexdigest()
    assert object_store.read_bytes(key) == data
    wrong = base64.b64encode(hashlib.md5(data + b"x").digest()).decode()
    other = object_store.key("feed", "corrupt.bin")
    with pytest.raises(ClientError):
        object_store.client.put_object(Bucket=object_store.bucket, Key=other, Body=data, ContentMD5=wrong)
    assert not object_store.exists(other)
