"""Digests of bytes, files and streams: SHA-256 (our manifests) and MD5 (Enterprise's ``version``)."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterable, Iterator
from typing import Any

from wme_assets.util.sizes import MiB

READ_BYTES = MiB  # one read of a file or stream being hashed
FILE_READ_BYTES = 8 * MiB  # whole files: fewer, larger reads


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Digests:
    """SHA-256, MD5 (unless ``md5=False``) and the byte count of everything passed to :meth:`update`."""

    def __init__(self, md5: bool = True) -> None:
        self.sha256 = hashlib.sha256()
        self.md5 = hashlib.md5() if md5 else None
        self.bytes = 0

    def update(self, data: bytes | memoryview) -> None:
        self.sha256.update(data)
        if self.md5 is not None:
            self.md5.update(data)
        self.bytes += len(data)

    def hex(self) -> dict[str, Any]:
        """``{"bytes", "sha256"[, "md5"]}``, the digests as hex."""
        found: dict[str, Any] = {"bytes": self.bytes, "sha256": self.sha256.hexdigest()}
        if self.md5 is not None:
            found["md5"] = self.md5.hexdigest()
        return found


def file_chunks(path: str | os.PathLike[str], size: int = FILE_READ_BYTES) -> Iterator[bytes]:
    with open(path, "rb") as source:
        while chunk := source.read(size):
            yield chunk


def file_sha256(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    for chunk in file_chunks(path):
        digest.update(chunk)
    return digest.hexdigest()


def file_digests(path: str | os.PathLike[str], size: int = FILE_READ_BYTES) -> tuple[str, str, int]:
    """``(sha256, md5, bytes)`` of a file, read once."""
    digests = Digests()
    for chunk in file_chunks(path, size):
        digests.update(chunk)
    return digests.sha256.hexdigest(), digests.md5.hexdigest(), digests.bytes


class DigestReader(io.RawIOBase):
    """A readable stream over an iterator of byte chunks that hashes (SHA-256, MD5) and counts what it yields."""

    def __init__(self, chunks: Iterable[bytes]):
        self._chunks = iter(chunks)
        self._pending = memoryview(b"")
        self.sha256 = hashlib.sha256()
        self.md5 = hashlib.md5()
        self.bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = memoryview(chunk)
            self.sha256.update(chunk)
            self.md5.update(chunk)
            self.bytes += len(chunk)
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def drain(self) -> None:
        """Read (and hash) whatever the consumer left unread."""
        buffer = bytearray(READ_BYTES)
        while self.readinto(buffer):
            pass


__all__ = ["Digests", "DigestReader", "file_chunks", "file_digests", "file_sha256", "sha256_hex"]
