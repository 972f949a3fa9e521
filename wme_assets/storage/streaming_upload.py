"""Uploads fed with bytes as another reader reads them, many at once: how a snapshot is staged.

A snapshot's files are uploaded to staging while the verifier reads them (every line parsed and validated,
every digest re-computed), so each file is read from disk once for both, and the network works while the
verifier computes. What :class:`StreamingUpload` adds to the bytes is little: the MD5 of each part of a
multipart object (sent as ``Content-MD5``, so the server rejects a part damaged on the way, and giving the
ETag the server must then report); a one-part object is a plain PUT whose ``Content-MD5`` is the MD5 the
caller already knows (the manifest's), so nothing is hashed here at all.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from wme_assets.storage.object_store import ObjectStore, part_size_for

log = logging.getLogger(__name__)


class UploadPool:
    """Threads that send the parts and small objects of many uploads at once.

    At most ``2 * workers`` tasks are queued or running, each holding one part in memory, so a reader that
    pushes bytes faster than the network takes them waits instead of filling memory.
    """

    def __init__(self, workers: int = 4):
        self.workers = workers
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="upload")
        self._slots = threading.BoundedSemaphore(2 * workers)

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        self._slots.acquire()
        try:
            future = self._executor.submit(fn, *args)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(lambda _: self._slots.release())
        return future

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


class StreamingUpload:
    """One object uploaded from bytes pushed to it (:meth:`write`), parts sent through an :class:`UploadPool`.

    :meth:`finish` returns a future of the ETag the server must report for exactly the bytes written
    (:meth:`ObjectStore.verify_staged` checks it). ``md5``: the object's MD5 when the caller knows it, used as
    the ``Content-MD5`` of a one-part object. ``metadata`` (e.g. the manifest's SHA-256) is recorded on the
    object from the start.
    """

    def __init__(
        self,
        store: ObjectStore,
        key: str,
        pool: UploadPool,
        *,
        size: int | None = None,
        md5: str | None = None,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
    ):
        self.store, self.key, self.pool, self.md5 = store, key, pool, md5
        self.part_size = part_size_for(size)
        self.extra: dict[str, Any] = {"Metadata": metadata or {}}
        if content_type:
            self.extra["ContentType"] = content_type
        self.size = 0
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[Future] = []

    def write(self, data: bytes) -> None:
        self._buffer += data
        self.size += len(data)
        # Strictly more than a part: the last part waits for finish(), so a one-part object is a plain PUT.
        while len(self._buffer) > self.part_size:
            with memoryview(self._buffer) as view:  # one copy (slicing the bytearray would copy twice)
                part = bytes(view[: self.part_size])
            del self._buffer[: self.part_size]  # CPython drops a bytearray's head without moving the rest
            self._send_part(part)

    def _send_part(self, part: bytes) -> None:
        client = self.store.client
        if self._upload_id is None:
            self._upload_id = client.create_multipart_upload(Bucket=self.store.bucket, Key=self.key, **self.extra)[
                "UploadId"
            ]
        self._parts.append(self.pool.submit(self._upload_part, len(self._parts) + 1, part))

    def _upload_part(self, number: int, data: bytes) -> tuple[str, bytes]:
        digest = hashlib.md5(data).digest()
        response = self.store.client.upload_part(
            Bucket=self.store.bucket,
            Key=self.key,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=data,
            ContentMD5=base64.b64encode(digest).decode(),
        )
        return response["ETag"], digest

    def finish(self) -> Future:
        """Send what is left and complete the object; the future gives the expected ETag (or the error)."""
        if self._upload_id is None:
            return self.pool.submit(self._put_single, bytes(self._buffer))
        if self._buffer:
            self._send_part(bytes(self._buffer))
        self._buffer = bytearray()
        # Queued after every part of this object: by the time a worker takes it they all have a worker.
        return self.pool.submit(self._complete)

    def _put_single(self, data: bytes) -> str:
        digest = bytes.fromhex(self.md5) if self.md5 else hashlib.md5(data).digest()
        self.store.client.put_object(
            Bucket=self.store.bucket,
            Key=self.key,
            Body=data,
            ContentMD5=base64.b64encode(digest).decode(),
            **self.extra,
        )
        return digest.hex()

    def _complete(self) -> str:
        try:
            results = [part.result() for part in self._parts]
            self.store.client.complete_multipart_upload(
                Bucket=self.store.bucket,
                Key=self.key,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etag} for n, (etag, _) in enumerate(results, 1)]},
            )
        except BaseException:
            self.abort()
            raise
        return f"{hashlib.md5(b''.join(d for _, d in results)).hexdigest()}-{len(results)}"

    def abort(self) -> None:
        """Give up: the parts sent are dropped (a single-part object is the staging owner's to delete)."""
        if self._upload_id is not None:
            try:
                self.store.client.abort_multipart_upload(
                    Bucket=self.store.bucket, Key=self.key, UploadId=self._upload_id
                )
            except (ClientError, BotoCoreError):
                log.warning("could not abort the upload of %s", self.store.uri(self.key))
