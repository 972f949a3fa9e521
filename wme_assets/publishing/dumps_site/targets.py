"""Where a dumps site is written: an S3 prefix (:class:`S3Target`) or a local directory (:class:`LocalDirTarget`).

Both put a file under its final name only once its bytes were verified where they landed.
"""

from __future__ import annotations

import hashlib
import io
import os
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol, runtime_checkable

from wme_assets.publishing.dumps_site.status import TargetVerificationError
from wme_assets.storage.object_store import ObjectStore
from wme_assets.util.digests import file_digests

_PARTIAL_SUFFIX = ".part"


@runtime_checkable
class DumpsSiteTarget(Protocol):
    """Where a dumps site is written. Paths are POSIX, relative to the site's root.

    ``put_stream`` and ``put_bytes`` are atomic and verified: the final name holds either its previous bytes
    or the new, complete ones, never a partial file.
    """

    def describe(self, path: str) -> str:
        """A URI naming ``path`` at this target, for messages."""
        ...

    def exists(self, path: str) -> bool: ...

    def size(self, path: str) -> int | None:
        """Size in bytes, None when absent."""
        ...

    def sha256(self, path: str) -> str | None:
        """Hex SHA-256 of the file, None when absent (or, on S3, never recorded)."""
        ...

    def read_bytes(self, path: str) -> bytes | None:
        """A small file's content (status.json, sums), None when absent."""
        ...

    def put_stream(self, path: str, chunks: Iterable[bytes], *, size: int, sha256: str, md5: str) -> None:
        """Write ``chunks`` to ``path``: staged, checked against size/sha256/md5, then made visible."""
        ...

    def put_bytes(self, path: str, data: bytes) -> None: ...

    def list(self, directory: str) -> list[str]:
        """Names of the files directly in ``directory`` (temporaries excluded), sorted."""
        ...

    def discard_partial(self, directory: str) -> int:
        """Remove temporaries a killed writer left in ``directory``; returns how many."""
        ...


def _safe_parts(path: str) -> list[str]:
    parts = [piece for piece in path.split("/") if piece not in ("", ".")]
    if not parts or any(piece == ".." or "\\" in piece or "\x00" in piece for piece in parts):
        raise ValueError(f"{path!r} is not a path inside the site")
    return parts


def _content_type(path: str) -> str:
    if path.endswith(".tar.gz"):
        return "application/gzip"
    if path.endswith(".json"):
        return "application/json"
    return "text/plain; charset=utf-8"


class _ChunksReader(io.RawIOBase):
    """A file object over an iterator of byte strings (what ``ObjectStore.publish`` reads from)."""

    def __init__(self, chunks: Iterable[bytes]):
        self._chunks = iter(chunks)
        self._current = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        while not self._current:
            try:
                self._current = memoryview(next(self._chunks))
            except StopIteration:
                return 0
        count = min(len(buffer), len(self._current))
        buffer[:count] = self._current[:count]
        self._current = self._current[count:]
        return count


class S3Target:
    """A dumps site in an S3 bucket under ``prefix`` (inside the store's own prefix)."""

    def __init__(self, store: ObjectStore, prefix: str = ""):
        self.store = store
        self.prefix = "/".join(_safe_parts(prefix)) if prefix.strip("/") else ""

    def _key(self, path: str) -> str:
        return self.store.key(*([self.prefix] if self.prefix else []), *_safe_parts(path))

    def describe(self, path: str) -> str:
        return self.store.uri(self._key(path))

    def exists(self, path: str) -> bool:
        return self.store.head(self._key(path)) is not None

    def size(self, path: str) -> int | None:
        info = self.store.head(self._key(path))
        return None if info is None else info.size

    def sha256(self, path: str) -> str | None:
        # The digest ObjectStore recorded when it published and verified the object: no re-read of the bytes.
        info = self.store.head(self._key(path))
        return None if info is None else info.sha256

    def read_bytes(self, path: str) -> bytes | None:
        key = self._key(path)
        if self.store.head(key) is None:
            return None
        return self.store.read_bytes(key)

    def put_stream(self, path: str, chunks: Iterable[bytes], *, size: int, sha256: str, md5: str) -> None:
        key = self._key(path)
        # publish() stages the upload, checks the digests of what it read and of what was staged, and only
        # then copies it to its key; an exception from `chunks` aborts it with nothing visible.
        self.store.publish(
            _ChunksReader(chunks),
            key,
            size=size,
            content_type=_content_type(path),
            expected={"sha256": sha256, "md5": md5},
        )
        self._check_landed(key, size, sha256)

    def put_bytes(self, path: str, data: bytes) -> None:
        key = self._key(path)
        self.store.put_bytes(key, data, content_type=_content_type(path))
        self._check_landed(key, len(data), hashlib.sha256(data).hexdigest())

    def _check_landed(self, key: str, size: int, sha256: str) -> None:
        info = self.store.head(key)
        if info is None or info.size != size or info.sha256 != sha256:
            found = "nothing" if info is None else f"{info.size} bytes, sha256 {info.sha256}"
            raise TargetVerificationError(f"{self.store.uri(key)}: holds {found}, sent {size} bytes, sha256 {sha256}")

    def list(self, directory: str) -> list[str]:
        prefix = self._key(directory) + "/"
        return sorted(info.key[len(prefix) :] for info in self.store.list(prefix) if "/" not in info.key[len(prefix) :])

    def discard_partial(self, directory: str) -> int:
        return 0  # uploads are staged under the store's _staging/ and never appear at a final key


class LocalDirTarget:
    """A dumps site in a local directory, served by a web server or synced to one (rsync, rclone).

    Writes go to ``.{name}.{random}.part`` in the file's own directory (same filesystem, so the rename is
    atomic), are fsynced, re-read and checked, then renamed over the final name with ``os.replace``; the
    directory is fsynced so the rename survives a crash. Files are made world-readable (0644) so a web server
    running as another user can serve them.
    """

    def __init__(self, root: Path | str):
        self.root = Path(root)

    def _path(self, path: str) -> Path:
        return self.root.joinpath(*_safe_parts(path))

    def describe(self, path: str) -> str:
        return self._path(path).as_uri() if self.root.is_absolute() else str(self._path(path))

    def exists(self, path: str) -> bool:
        return self._path(path).is_file()

    def size(self, path: str) -> int | None:
        try:
            return self._path(path).stat().st_size
        except FileNotFoundError:
            return None

    def sha256(self, path: str) -> str | None:
        try:
            return file_digests(self._path(path))[0]
        except FileNotFoundError:
            return None

    def read_bytes(self, path: str) -> bytes | None:
        try:
            return self._path(path).read_bytes()
        except FileNotFoundError:
            return None

    def put_stream(self, path: str, chunks: Iterable[bytes], *, size: int, sha256: str, md5: str) -> None:
        self._write(path, chunks, size=size, sha256=sha256, md5=md5)

    def put_bytes(self, path: str, data: bytes) -> None:
        self._write(path, [data], size=len(data), sha256=hashlib.sha256(data).hexdigest(), md5=None)

    def _write(self, path: str, chunks: Iterable[bytes], *, size: int, sha256: str, md5: str | None) -> None:
        final = self._path(path)
        final.parent.mkdir(parents=True, exist_ok=True)
        temporary = final.with_name(f".{final.name}.{uuid.uuid4().hex}{_PARTIAL_SUFFIX}")
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            os.fchmod(fd, 0o644)  # the umask must not hide the file from the web server
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            # Re-read what the filesystem holds: this checks the file, not just the bytes handed to write().
            landed_sha256, landed_md5, landed_size = file_digests(temporary)
            if landed_size != size or landed_sha256 != sha256 or (md5 is not None and landed_md5 != md5):
                raise TargetVerificationError(
                    f"{temporary}: holds {landed_size} bytes, sha256 {landed_sha256}, md5 {landed_md5}; "
                    f"expected {size} bytes, sha256 {sha256}, md5 {md5}"
                )
            os.replace(temporary, final)
            _fsync_directory(final.parent)
        finally:
            temporary.unlink(missing_ok=True)

    def list(self, directory: str) -> list[str]:
        folder = self._path(directory)
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if p.is_file() and not _is_partial(p.name))

    def discard_partial(self, directory: str) -> int:
        folder = self._path(directory)
        if not folder.is_dir():
            return 0
        removed = 0
        for candidate in folder.iterdir():
            if candidate.is_file() and _is_partial(candidate.name):
                candidate.unlink(missing_ok=True)
                removed += 1
        return removed


def _is_partial(name: str) -> bool:
    return name.startswith(".") and name.endswith(_PARTIAL_SUFFIX)




def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
