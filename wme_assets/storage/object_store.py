"""Object storage over boto3's S3 API: streaming, verified and atomic.

One class serves the embedded SeaweedFS and any production S3 (AWS, MinIO, Ceph, R2) alike.

Publishing is atomic: an object is written under a staging key (``{prefix}_staging/...``), its size and
checksums are verified, and only then is it copied server-side to its final key, so a reader never sees a
partial or unverified object at a published key. Uploads are multipart with parts streamed from the source,
so memory stays at a few parts whatever the object's size; downloads are ranged.

Staging many objects at once (a snapshot: every file staged and verified before the first is copied) uses
:mod:`wme_assets.storage.streaming_upload` (bytes pushed to the upload as another reader reads them),
:meth:`ObjectStore.verify_staged` and :meth:`ObjectStore.copy_staged`.

Folders: some S3 servers (SeaweedFS) keep a directory entry for every ``/`` in a key, and an emptied one
stays listed (as a common prefix, or as a zero-byte ``name/`` key). Deleting staging therefore also deletes
the folders it emptied (:meth:`ObjectStore.delete_prefix`); where folders are not a thing (AWS) that is a
no-op, and a folder that still holds objects is never removed. Listings skip ``name/`` keys.

Verification without a second read: the uploader computes the object's expected S3 ETag (the MD5 of a
single part, or the MD5 of the parts' MD5s with a ``-N`` suffix for multipart) while it streams. When the
server's ETag matches, the bytes arrived intact. When it does not (some servers use another ETag scheme,
e.g. under SSE-KMS), the staged object is read back and its SHA-256 compared instead.
"""

from __future__ import annotations

import hashlib
import logging
import os
import posixpath
import uuid
from collections.abc import Collection, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, BinaryIO

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from wme_assets.util.sizes import MiB

log = logging.getLogger(__name__)

MIN_PART_SIZE = 8 * MiB  # S3 requires >= 5 MiB for every part but the last
MAX_PARTS = 10_000
STAGING_DIR = "_staging"
SHA256_METADATA = "sha256"  # stored as x-amz-meta-sha256 on every published object
SINGLE_COPY_BYTES = 64 * MiB  # above it, a copy goes as parts copied in parallel (one request would be slow)


class ObjectStoreError(RuntimeError):
    """An S3 operation failed; the message names the endpoint, bucket and key."""


class VerificationError(ObjectStoreError):
    """What landed in S3 is not what was sent (size or checksum differ)."""


@dataclass(frozen=True)
class ObjectInfo:
    key: str  # full key, prefix included
    size: int
    etag: str
    last_modified: datetime | None = None
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def sha256(self) -> str | None:
        return self.metadata.get(SHA256_METADATA)


@dataclass(frozen=True)
class PublishedObject:
    key: str
    uri: str
    size: int
    sha256: str
    md5: str | None  # None unless publish() was asked for it (``digests``, ``expected``)
    sha1: str | None
    etag: str


class _HashingReader:
    """Reads a source in parts while computing its SHA-256, the S3 ETag of what it read and, when asked
    (``extra``: ``"md5"``, ``"sha1"``), the whole source's MD5 and SHA-1.

    MD5 is the slowest of these hashes (about 0.7 GB/s), and each part's MD5 is needed for the ETag
    anyway: the whole source's MD5 starts as a copy of the first part's, so a one-part source is hashed
    with MD5 once, and only the later parts of a multipart one twice."""

    def __init__(self, source: BinaryIO, part_size: int, extra: Collection[str] = ()):
        unknown = set(extra) - {"md5", "sha1"}
        if unknown:
            raise ValueError(f"unknown digests {sorted(unknown)}: md5 and sha1 can be asked for")
        self.source = source
        self.part_size = part_size
        self.sha256 = hashlib.sha256()
        self._want_md5 = "md5" in extra
        self._md5: Any = None  # the whole source's, from the first part on
        self._sha1 = hashlib.sha1() if "sha1" in extra else None
        self.part_md5s: list[bytes] = []
        self.size = 0

    def next_part(self) -> bytes:
        chunks, remaining = [], self.part_size
        while remaining:
            chunk = self.source.read(min(remaining, 4 * MiB))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        part = b"".join(chunks)
        if part:
            self.sha256.update(part)
            part_md5 = hashlib.md5(part)
            if self._md5 is not None:
                self._md5.update(part)
            elif self._want_md5:
                self._md5 = part_md5.copy()
            if self._sha1 is not None:
                self._sha1.update(part)
            self.part_md5s.append(part_md5.digest())
            self.size += len(part)
        return part

    def digests(self) -> dict[str, str | None]:
        """``sha256``, ``md5`` and ``sha1`` in hex; ``None`` for one that was not asked for."""
        return {
            "sha256": self.sha256.hexdigest(),
            "md5": (self._md5 or hashlib.md5()).hexdigest() if self._want_md5 else None,
            "sha1": self._sha1.hexdigest() if self._sha1 is not None else None,
        }

    def expected_etag(self) -> str:
        if len(self.part_md5s) <= 1:
            return (self.part_md5s[0] if self.part_md5s else hashlib.md5().digest()).hex()
        return f"{hashlib.md5(b''.join(self.part_md5s)).hexdigest()}-{len(self.part_md5s)}"


def part_size_for(size: int | None) -> int:
    if size is None:
        # Unknown length (a network stream): 64 MiB parts allow objects up to 640 GB.
        return 64 * MiB
    return max(MIN_PART_SIZE, -(-size // (MAX_PARTS - 1)))


class ObjectStore:
    """A bucket and key prefix on an S3-compatible server."""

    def __init__(
        self,
        *,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key: str | None = None,
        secret_key: str | None = None,
        max_attempts: int = 5,
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
        upload_concurrency: int = 4,
    ):
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.endpoint_url = endpoint_url
        self.upload_concurrency = upload_concurrency
        config = Config(
            region_name=region,
            signature_version="s3v4",
            # Path-style works on every S3 server (SeaweedFS, MinIO) and on AWS. Bodies are not hashed into
            # the signature (botocore would, over plain HTTP: one more SHA-256 pass over every byte sent):
            # what the server stored is checked against the MD5s of the parts sent (its ETag) or a
            # Content-MD5, and published objects against their SHA-256 once staged.
            s3={"addressing_style": "path", "payload_signing_enabled": False},
            retries={"max_attempts": max_attempts, "mode": "standard"},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_pool_connections=max(10, upload_concurrency * 2),
            # Only send/validate the flexible checksums where the operation demands them: not every
            # S3-compatible server implements the newer CRC trailers.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        self._client_options = {"aws_access_key_id": access_key, "aws_secret_access_key": secret_key, "config": config}
        self.client = boto3.session.Session().client("s3", endpoint_url=endpoint_url, **self._client_options)
        self._presigners: dict[str, Any] = {}

    # ----- keys -------------------------------------------------------------------------------

    def key(self, *parts: str) -> str:
        """Join parts under the prefix, refusing anything that could escape it."""
        cleaned = []
        for part in parts:
            for piece in str(part).split("/"):
                if piece in ("", "."):
                    continue
                if piece == ".." or "\\" in piece or "\x00" in piece:
                    raise ValueError(f"object key part {part!r} would escape the storage prefix")
                cleaned.append(piece)
        if not cleaned:
            raise ValueError("empty object key")
        return self.prefix + "/".join(cleaned)

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def _where(self, key: str | None = None) -> str:
        where = f"s3://{self.bucket}/{key or ''} at {self.endpoint_url or 'AWS S3'}"
        return where

    # ----- bucket -----------------------------------------------------------------------------

    def check_bucket(self, *, create: bool = False) -> None:
        """Fail fast with a readable message when the endpoint or the bucket is not usable."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
            return
        except EndpointConnectionError as exc:
            raise ObjectStoreError(
                f"S3 endpoint {self.endpoint_url} is unreachable ({exc.__class__.__name__}). "
                "Check WME_S3_ENDPOINT_URL, or unset it to use the embedded SeaweedFS."
            ) from None
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("404", "NoSuchBucket", "NotFound"):
                if create:
                    self.client.create_bucket(Bucket=self.bucket)
                    return
                raise ObjectStoreError(
                    f"bucket {self.bucket!r} does not exist at {self.endpoint_url or 'AWS S3'}. Create it "
                    f"(e.g. `aws s3 mb s3://{self.bucket}`), set WME_S3_BUCKET to an existing bucket, or set "
                    "WME_S3_CREATE_BUCKET=true."
                ) from None
            if code in ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
                raise ObjectStoreError(
                    f"access to bucket {self.bucket!r} at {self.endpoint_url or 'AWS S3'} was denied ({code}): "
                    "check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY."
                ) from None
            raise ObjectStoreError(f"S3 error on bucket {self.bucket!r}: {exc}") from None
        except BotoCoreError as exc:
            raise ObjectStoreError(
                f"S3 endpoint {self.endpoint_url} is not usable: {exc}. Check WME_S3_ENDPOINT_URL."
            ) from None

    # ----- reading ----------------------------------------------------------------------------

    def head(self, key: str) -> ObjectInfo | None:
        try:
            response = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return ObjectInfo(
            key=key,
            size=response["ContentLength"],
            etag=response["ETag"].strip('"'),
            last_modified=response.get("LastModified"),
            metadata=response.get("Metadata", {}),
        )

    def exists(self, key: str) -> bool:
        return self.head(key) is not None

    def open(self, key: str, start: int | None = None, end: int | None = None) -> IO[bytes]:
        """A streaming body for the whole object or the byte range [start, end] (inclusive)."""
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if start is not None or end is not None:
            kwargs["Range"] = f"bytes={start or 0}-{'' if end is None else end}"
        try:
            return self.client.get_object(**kwargs)["Body"]
        except ClientError as exc:
            raise ObjectStoreError(f"cannot read {self._where(key)}: {exc}") from None

    def read_bytes(self, key: str) -> bytes:
        with self.open(key) as body:
            return body.read()

    def iter_chunks(self, key: str, chunk_size: int = 8 * MiB) -> Iterator[bytes]:
        """Stream an object in ranged GETs, so a dropped connection costs one chunk, not the object."""
        info = self.head(key)
        if info is None:
            raise ObjectStoreError(f"no such object: {self._where(key)}")
        for start in range(0, info.size, chunk_size):
            end = min(start + chunk_size, info.size) - 1
            with self.open(key, start, end) as body:
                yield body.read()

    def download_file(self, key: str, path: Path) -> Path:
        """Download to a file through boto3's managed transfer (parallel ranged GETs), atomically."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
        try:
            self.client.download_file(self.bucket, key, str(tmp))
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return path

    def sha256_of(self, key: str) -> str:
        digest = hashlib.sha256()
        for chunk in self.iter_chunks(key):
            digest.update(chunk)
        return digest.hexdigest()

    # ----- listing, deleting, presigning ------------------------------------------------------

    def list(
        self, prefix: str = "", *, include_staging: bool = False, start_after: str | None = None
    ) -> Iterator[ObjectInfo]:
        """Every object under a full key prefix (use ``key()`` to build it), staging excluded unless asked;
        with ``start_after`` (a full key), only the keys after it in key order (S3 skips the others itself).

        Folder entries (keys ending in ``/``, module docstring) are not objects and are never listed.
        """
        paginator = self.client.get_paginator("list_objects_v2")
        staging = self.prefix + STAGING_DIR + "/"
        extra = {"StartAfter": start_after} if start_after else {}
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix, **extra):
            for item in page.get("Contents", []):
                if item["Key"].endswith("/") or (not include_staging and item["Key"].startswith(staging)):
                    continue
                yield ObjectInfo(
                    key=item["Key"],
                    size=item["Size"],
                    etag=item["ETag"].strip('"'),
                    last_modified=item.get("LastModified"),
                )

    def folders(self, prefix: str) -> list[str]:
        """The names of the folders directly under a full key prefix ending in ``/`` (one delimited listing:
        S3 groups the keys itself, so a folder of many objects costs one entry, not a page per thousand)."""
        paginator = self.client.get_paginator("list_objects_v2")
        names = []
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix, Delimiter="/"):
            names += [common["Prefix"][len(prefix) :].rstrip("/") for common in page.get("CommonPrefixes", [])]
        return sorted(names)

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def delete_keys(self, keys: Iterable[str]) -> int:
        """Delete these objects (full keys) in batches of 1000; returns how many were asked for."""
        keys = list(keys)
        for start in range(0, len(keys), 1000):
            batch = [{"Key": key} for key in keys[start : start + 1000]]
            response = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
            if response.get("Errors"):
                errors = ", ".join(f"{e.get('Key')}: {e.get('Code')}" for e in response["Errors"][:5])
                raise ObjectStoreError(f"cannot delete from {self._where()}: {errors}")
        return len(keys)

    def remove_folders(self, keys: Iterable[str], down_to: str) -> None:
        """Delete the folder entries of ``keys`` (a key ending in ``/`` is a folder itself) up to ``down_to`` (a
        full prefix ending in ``/``, included), deepest first: a folder that still holds something stays, so only
        the emptied ones go."""
        by_depth: dict[int, set[str]] = {}
        for key in keys:
            if not key.startswith(down_to):
                continue
            folder = key if key.endswith("/") else key.rsplit("/", 1)[0] + "/"
            while folder.startswith(down_to):
                by_depth.setdefault(folder.count("/"), set()).add(folder)
                if folder == down_to:
                    break
                folder = folder[:-1].rsplit("/", 1)[0] + "/"
        for depth in sorted(by_depth, reverse=True):
            try:
                self.delete_keys(sorted(by_depth[depth]))
            except (ClientError, BotoCoreError, ObjectStoreError) as exc:
                # Folders hold nothing: a server that refuses to drop one loses nothing but tidiness.
                log.warning("could not remove empty folders under %s: %s", self.uri(down_to), exc)
                return

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under a prefix (in batches of 1000), then the folders it emptied; returns how
        many objects."""
        if not prefix.startswith(self.prefix) or prefix == self.prefix and self.prefix == "":
            raise ValueError(f"refusing to delete {prefix!r}: not a sub-prefix of {self.prefix!r}")
        deleted: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            keys = [item["Key"] for item in page.get("Contents", []) if not item["Key"].endswith("/")]
            self.delete_keys(keys)
            deleted += keys
        if prefix.endswith("/") and prefix != self.prefix:
            self.remove_folders([*deleted, prefix], prefix)
        return len(deleted)

    def unfinished_uploads(self, prefix: str, *, initiated_before: datetime | None = None) -> list[tuple[str, str]]:
        """``(key, upload id)`` of the multipart uploads under a full key prefix never completed nor aborted
        (a killed writer's parts: the server keeps them, unlisted, until the upload is aborted)."""
        found = []
        paginator = self.client.get_paginator("list_multipart_uploads")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for upload in page.get("Uploads", []):
                started = upload.get("Initiated")
                if initiated_before is None or started is None or started < initiated_before:
                    found.append((upload["Key"], upload["UploadId"]))
        return found

    def abort_uploads(self, prefix: str, *, initiated_before: datetime | None = None) -> int:
        """Abort the unfinished multipart uploads under a full key prefix; returns how many."""
        uploads = self.unfinished_uploads(prefix, initiated_before=initiated_before)
        for key, upload_id in uploads:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        return len(uploads)

    def presign(self, key: str, expires_in: int = 3600, *, endpoint_url: str | None = None) -> str:
        """A URL that GETs the object without credentials until it expires. ``endpoint_url``: the S3 endpoint as
        the URL's user reaches it, when that is not ours (the host is part of the signature)."""
        client = self.client
        if endpoint_url and endpoint_url != self.endpoint_url:
            client = self._presigners.get(endpoint_url)
            if client is None:  # signing only: no connection is made to that endpoint from here
                client = boto3.session.Session().client("s3", endpoint_url=endpoint_url, **self._client_options)
                self._presigners[endpoint_url] = client
        return client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_in
        )

    # ----- writing ----------------------------------------------------------------------------

    def put_bytes(
        self, key: str, data: bytes, *, content_type: str | None = None, staging_dir: str | None = None
    ) -> PublishedObject:
        """Publish a small object (metadata JSON, manifests) with the same verification as files."""
        import io

        return self.publish(io.BytesIO(data), key, size=len(data), content_type=content_type, staging_dir=staging_dir)

    def put_whole(self, key: str, data: bytes, *, content_type: str | None = None) -> str:
        """Write a small object in one PUT, for objects rewritten often (the realtime feed's head and segments):
        S3 makes a single-request PUT visible whole or not at all, and the server checks ``Content-MD5``, so the
        object is complete or absent with two requests fewer than :meth:`put_bytes`'s staged copy. Returns the
        MD5 (hex), checked against the ETag the server answers."""
        import base64

        md5 = hashlib.md5(data)
        extra: dict[str, Any] = {"ContentType": content_type} if content_type else {}
        try:
            answer = self.client.put_object(
                Bucket=self.bucket, Key=key, Body=data, ContentMD5=base64.b64encode(md5.digest()).decode(), **extra
            )
        except ClientError as exc:
            raise ObjectStoreError(f"cannot write {self._where(key)}: {exc}") from None
        if answer.get("ETag", "").strip('"') != md5.hexdigest():
            raise VerificationError(f"{self.uri(key)}: the server stored another MD5 than was sent")
        return md5.hexdigest()

    def publish_file(self, path: Path, key: str, **kwargs: Any) -> PublishedObject:
        path = Path(path)
        with path.open("rb") as source:
            return self.publish(source, key, size=path.stat().st_size, **kwargs)

    def publish(
        self,
        source: BinaryIO,
        key: str,
        *,
        size: int | None = None,
        content_type: str | None = None,
        expected: dict[str, str] | None = None,
        metadata: dict[str, str] | None = None,
        staging_dir: str | None = None,
        digests: Collection[str] = (),
    ) -> PublishedObject:
        """Stream ``source`` to ``key`` atomically: stage, verify, then make visible.

        ``expected`` may hold ``md5``/``sha1``/``sha256`` hex digests the source must match (for example the
        checksums a dumps run publishes); on a mismatch nothing is published and VerificationError names the key.
        ``staging_dir`` (a full prefix ending in ``/``) stages under a caller's folder, so that what a killed
        process leaves is found by whoever owns that folder; by default a folder of its own under ``_staging/``.
        """
        staging_folder = (staging_dir or self.prefix + STAGING_DIR + "/") + uuid.uuid4().hex + "/"
        staging_key = staging_folder + posixpath.basename(key)
        wanted = {*digests, *(name for name, value in (expected or {}).items() if value)} - {"sha256"}
        reader = _HashingReader(source, part_size_for(size), wanted)
        extra: dict[str, Any] = {}
        if content_type:
            extra["ContentType"] = content_type
        try:
            self._upload_multipart(reader, staging_key, extra, metadata or {})
            found = reader.digests()
            if size is not None and reader.size != size:
                raise VerificationError(f"{self.uri(key)}: read {reader.size} bytes from the source, expected {size}")
            for name, want in (expected or {}).items():
                if want and found[name] != want.lower():
                    raise VerificationError(
                        f"{self.uri(key)}: {name} of the source is {found[name]}, expected {want} "
                        "(the file is corrupt or was changed); nothing was published"
                    )
            staged = self._verify_staged(staging_key, reader, found["sha256"])
            self._copy_with_sha256(staged, key, found["sha256"], content_type)
            final = self.head(key)
            if final is None or final.size != reader.size:
                raise VerificationError(f"{self.uri(key)}: server-side copy did not produce the object")
        finally:
            self._delete_quietly(staging_key)
            self.remove_folders([staging_key], staging_folder)
        return PublishedObject(
            key=key,
            uri=self.uri(key),
            size=reader.size,
            sha256=found["sha256"],
            md5=found["md5"],
            sha1=found["sha1"],
            etag=final.etag,
        )

    def _upload_multipart(
        self, reader: _HashingReader, key: str, extra: dict[str, Any], metadata: dict[str, str]
    ) -> None:
        # The SHA-256 is only known at the end, so it is added to the metadata by the final copy.
        first = reader.next_part()
        if len(first) < reader.part_size:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=first, Metadata=metadata, **extra)
            return
        upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=key, Metadata=metadata, **extra)[
            "UploadId"
        ]
        completed: dict[int, str] = {}
        try:
            with ThreadPoolExecutor(max_workers=self.upload_concurrency) as pool:
                in_flight: dict[Future, int] = {}
                number, part = 1, first
                while part:
                    # Bound memory: at most `upload_concurrency` parts are held at once.
                    while len(in_flight) >= self.upload_concurrency:
                        done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                        for fut in done:
                            completed[in_flight.pop(fut)] = fut.result()
                    fut = pool.submit(self._upload_part, key, upload_id, number, part)
                    in_flight[fut] = number
                    number, part = number + 1, reader.next_part()
                for fut in list(in_flight):
                    completed[in_flight.pop(fut)] = fut.result()
            self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": [{"PartNumber": n, "ETag": completed[n]} for n in sorted(completed)]},
            )
        except BaseException:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            raise

    def _upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> str:
        response = self.client.upload_part(
            Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data
        )
        return response["ETag"]

    def _verify_staged(self, staging_key: str, reader: _HashingReader, sha256: str) -> ObjectInfo:
        staged = self.head(staging_key)
        if staged is None:
            raise VerificationError(f"staged upload {self.uri(staging_key)} is missing after upload")
        if staged.size != reader.size:
            raise VerificationError(
                f"staged upload {self.uri(staging_key)} holds {staged.size} bytes, sent {reader.size}"
            )
        if staged.etag != reader.expected_etag():
            # Another ETag scheme, or corruption: settle it by reading the bytes back.
            actual = self.sha256_of(staging_key)
            if actual != sha256:
                raise VerificationError(f"staged upload {self.uri(staging_key)} has sha256 {actual}, sent {sha256}")
        return staged

    def _copy_with_sha256(self, staged: ObjectInfo, key: str, sha256: str, content_type: str | None) -> None:
        """Server-side copy of the staged object to its final key, recording the SHA-256 as metadata."""
        copy_source = {"Bucket": self.bucket, "Key": staged.key}
        extra: dict[str, Any] = {
            "MetadataDirective": "REPLACE",
            "Metadata": {**staged.metadata, SHA256_METADATA: sha256},
        }
        if content_type:
            extra["ContentType"] = content_type
        try:
            # boto3's managed copy switches to multipart copy (UploadPartCopy) above 5 GB by itself.
            self.client.copy(copy_source, self.bucket, key, ExtraArgs=extra)
        except ClientError as exc:
            raise ObjectStoreError(f"cannot publish {self.uri(key)}: {exc}") from None

    def _delete_quietly(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=key)
        except (ClientError, BotoCoreError):
            log.warning("could not delete staging object %s", self.uri(key))

    # ----- staging many objects, then publishing them (module docstring) ------------------------

    def verify_staged(self, staged_key: str, *, size: int, sha256: str, etag: str) -> str | None:
        """What is wrong with a staged object (None: nothing): its size, the SHA-256 it records and its ETag
        against what was sent. The ETag proves the bytes; a server with another ETag scheme gets the object
        read back and re-hashed instead."""
        staged = self.head(staged_key)
        if staged is None:
            return f"staged object {self.uri(staged_key)} is missing"
        if staged.size != size:
            return f"staged object {self.uri(staged_key)} holds {staged.size} bytes, expected {size}"
        if staged.sha256 != sha256:
            return f"staged object {self.uri(staged_key)} records sha256 {staged.sha256}, expected {sha256}"
        if staged.etag != etag and self.sha256_of(staged_key) != sha256:
            return f"staged object {self.uri(staged_key)} does not hold the bytes sent (sha256 differs)"
        return None

    def copy_staged(self, staged_key: str, key: str, *, size: int, sha256: str, content_type: str | None) -> None:
        """Server-side copy of a verified staged object to its published key, recording its SHA-256 (the
        caller checks the published objects together, ``check_published_snapshot``)."""
        extra: dict[str, Any] = {"MetadataDirective": "REPLACE", "Metadata": {SHA256_METADATA: sha256}}
        if content_type:
            extra["ContentType"] = content_type
        source = {"Bucket": self.bucket, "Key": staged_key}
        try:
            if size <= SINGLE_COPY_BYTES:  # one request; the managed copy would first HEAD the source
                self.client.copy_object(CopySource=source, Bucket=self.bucket, Key=key, **extra)
            else:
                self.client.copy(source, self.bucket, key, ExtraArgs=extra)
        except ClientError as exc:
            raise ObjectStoreError(f"cannot publish {self.uri(key)}: {exc}") from None

    def copy_object(self, source_key: str, key: str) -> None:
        """Server-side copy of a published object (e.g. moving a ``latest`` pointer)."""
        self.client.copy({"Bucket": self.bucket, "Key": source_key}, self.bucket, key)
