"""One run's staging of a snapshot: every object written and verified out of sight, then copied in order.

A run stages everything it will publish under its own folder, ``_staging/{kind}/{date}/{project}{sfx}/
{attempt}/`` followed by the published key (:func:`~wme_assets.snapshots.layout.staging_folder`), and checks
every staged object (size, recorded SHA-256 and ETag, :meth:`ObjectStore.verify_staged`) against what the
manifest says before the first one is copied to its published key. The copies (server-side) then go phase
by phase, each phase in parallel: chunks, archive, metadata objects, and the manifest last (:data:`PHASES`).
:meth:`SnapshotStaging.close` deletes the run's staging, success or failure.

The big files are staged as the verifier reads them (:meth:`SnapshotStaging.stream`, handed to
:func:`~wme_assets.snapshots.manifest.verify_snapshot_files` as its ``tee``): one read of each file serves
the check of every line and digest and the upload, and the verifier's SHA-256 of exactly the bytes sent is
what says they are the manifest's. :meth:`SnapshotStaging.upload_file` is the same for a caller that
verified the files already, hashing them on the way instead.
"""

from __future__ import annotations

import hashlib
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from wme_assets.snapshots.layout import new_attempt, staging_folder
from wme_assets.storage.object_store import ObjectStore
from wme_assets.storage.streaming_upload import StreamingUpload, UploadPool
from wme_assets.util.digests import file_chunks

log = logging.getLogger(__name__)

PHASES = ("chunks", "archive", "metadata", "manifest")
"""The order of the copies: a reader that sees the manifest finds everything it names already in place."""

UPLOAD_WORKERS = 4
COPY_WORKERS = 8  # copies and checks move no bytes through us: more at once shortens the window


@dataclass
class StagedFile:
    """One object of the snapshot in staging: where it goes, what it must hold, how its upload went."""

    key: str  # published key, relative to the store's prefix
    staged_key: str  # full key in staging
    bytes: int
    sha256: str
    phase: str
    content_type: str
    etag: Future | None = None  # the ETag the server must report, once the upload is complete
    problem: str | None = None  # set when staging this object failed


@dataclass
class Cleanup:
    """Objects removed: staging of earlier runs that died, orphans at dated keys, this run's own staging."""

    leftover_staging: int = 0
    orphans: int = 0
    staging: int = 0

    def __add__(self, other: Cleanup) -> Cleanup:
        return Cleanup(
            self.leftover_staging + other.leftover_staging, self.orphans + other.orphans, self.staging + other.staging
        )


class _Sink:
    """The verifier's tee into one streaming upload; never raises into the reader (the problem is recorded)."""

    def __init__(self, staged: StagedFile, upload: StreamingUpload):
        self.staged, self.upload = staged, upload

    def write(self, data: bytes) -> None:
        if self.staged.problem is None:
            try:
                self.upload.write(data)
            except Exception as exc:  # noqa: BLE001 - any failure of the upload is reported by check()
                self._fail(exc)

    def close(self, complete: bool) -> None:
        if self.staged.problem is not None:
            return
        if not complete:
            self.upload.abort()
            self.staged.problem = f"{self.staged.key}: the reader stopped before the end of the file"
            return
        try:
            self.staged.etag = self.upload.finish()
        except Exception as exc:  # noqa: BLE001
            self._fail(exc)

    def _fail(self, exc: Exception) -> None:
        self.upload.abort()
        self.staged.problem = f"{self.staged.key}: staging failed ({exc.__class__.__name__}: {exc})"


@dataclass
class SnapshotStaging:
    """The staging folder of one run (one attempt) of a partition; use as a context manager, which cleans it."""

    store: ObjectStore
    kind: str
    date: str
    project: str
    tier: str
    attempt: str = field(default_factory=new_attempt)
    files: dict[str, StagedFile] = field(default_factory=dict)
    removed: int = 0  # staging objects deleted by close()

    def __post_init__(self) -> None:
        self.partition_folder = self.store.key(staging_folder(self.kind, self.date, self.project, self.tier)) + "/"
        self.folder = self.partition_folder + self.attempt + "/"
        self._pool = UploadPool(UPLOAD_WORKERS)

    def __enter__(self) -> SnapshotStaging:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _add(self, key: str, size: int, sha256: str, phase: str, content_type: str) -> StagedFile:
        if phase not in PHASES:
            raise ValueError(f"phase must be one of {', '.join(PHASES)}, got {phase!r}")
        staged = StagedFile(key, self.folder + key, size, sha256, phase, content_type)
        self.files[key] = staged
        return staged

    def _upload(self, staged: StagedFile, md5: str | None) -> StreamingUpload:
        return StreamingUpload(
            self.store,
            staged.staged_key,
            self._pool,
            size=staged.bytes,
            md5=md5,
            content_type=staged.content_type,
            # The SHA-256 the manifest gives is recorded from the start; check() proves the bytes match it.
            metadata={"sha256": staged.sha256},
        )

    def stream(self, key: str, *, size: int, sha256: str, md5: str, phase: str, content_type: str) -> _Sink:
        """A tee for the verifier: the bytes written to it go to staging as they come."""
        staged = self._add(key, size, sha256, phase, content_type)
        return _Sink(staged, self._upload(staged, md5))

    def upload_file(
        self, key: str, path: Path, *, size: int, sha256: str, md5: str, phase: str, content_type: str
    ) -> None:
        """Stage a local file, hashing it on the way: bytes other than the manifest's are a problem."""
        sink = self.stream(key, size=size, sha256=sha256, md5=md5, phase=phase, content_type=content_type)
        digest = hashlib.sha256()
        for chunk in file_chunks(path):
            digest.update(chunk)
            sink.write(chunk)
        sink.close(complete=True)
        if digest.hexdigest() != sha256 and sink.staged.problem is None:
            sink.staged.problem = f"{key}: the file's sha256 is {digest.hexdigest()}, manifest says {sha256}"

    def put_bytes(self, key: str, data: bytes, *, phase: str, content_type: str) -> str:
        """Stage a small object (metadata, manifest); returns its SHA-256."""
        sha256 = hashlib.sha256(data).hexdigest()
        sink = self.stream(
            key,
            size=len(data),
            sha256=sha256,
            md5=hashlib.md5(data).hexdigest(),
            phase=phase,
            content_type=content_type,
        )
        sink.write(data)
        sink.close(complete=True)
        return sha256

    def check(self) -> list[str]:
        """Wait for every upload, then check every staged object (HEADs in parallel); returns the problems
        (empty: everything is staged as the manifest says)."""
        files = list(self.files.values())
        with ThreadPoolExecutor(max_workers=COPY_WORKERS, thread_name_prefix="check") as pool:
            for staged, problem in zip(files, pool.map(self._check_one, files), strict=True):
                staged.problem = problem
        return [staged.problem for staged in files if staged.problem is not None]

    def _check_one(self, staged: StagedFile) -> str | None:
        if staged.problem is not None:
            return staged.problem
        if staged.etag is None:
            return f"{staged.key}: never finished staging"
        try:
            etag = staged.etag.result()
        except Exception as exc:  # noqa: BLE001 - reported with the key, like any other problem
            return f"{staged.key}: staging failed ({exc.__class__.__name__}: {exc})"
        return self.store.verify_staged(staged.staged_key, size=staged.bytes, sha256=staged.sha256, etag=etag)

    def promote(self, phases: tuple[str, ...] = PHASES) -> list[str]:
        """Copy the staged objects of ``phases`` to their published keys, phase after phase, each phase in
        parallel; returns the keys copied. Call once :meth:`check` found nothing. On a failure the copies not
        started are dropped and the error raised: what was copied is an orphan until a manifest names it."""
        copied: list[str] = []
        pool = ThreadPoolExecutor(max_workers=COPY_WORKERS, thread_name_prefix="copy")
        try:
            for phase in phases:
                batch = [staged for staged in self.files.values() if staged.phase == phase]
                futures = [pool.submit(self._copy, staged) for staged in batch]
                for staged, future in zip(batch, futures, strict=True):
                    future.result()
                    copied.append(staged.key)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return copied

    def _copy(self, staged: StagedFile) -> None:
        self.store.copy_staged(
            staged.staged_key,
            self.store.key(staged.key),
            size=staged.bytes,
            sha256=staged.sha256,
            content_type=staged.content_type,
        )

    def close(self) -> int:
        """Delete this run's staging (every object, unfinished uploads, emptied folders); returns how many
        objects. Never raises: a store that is down now leaves it to the partition's next run."""
        self._pool.close()
        try:
            self.store.abort_uploads(self.folder)
            self.removed = self.store.delete_prefix(self.folder)
            # The partition's folder too, when this run was all it held (only this partition writes there).
            self.store.remove_folders([self.partition_folder], self.partition_folder)
        except Exception as exc:  # noqa: BLE001 - cleaning must not hide why the run failed
            log.warning("could not delete the staging %s: %s", self.store.uri(self.folder), exc)
        return self.removed
