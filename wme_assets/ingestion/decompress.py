"""Decompressing dumps: compression detected from the magic bytes, never from the file name.

:class:`DecompressedStream` reads plain, gzip (ISA-L when available), bzip2 (one stream or Wikimedia's
multistream, i.e. concatenated streams) and xz, and counts the compressed bytes taken from the file, so
that errors can say where in the file as stored a fault was. Every reader of dumps goes through it: the
XML reader, the ``page_props`` reader, the multistream reader, and the mirror builder in devtools.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import zlib
from typing import IO

from .errors import DumpParseError
from .errors import describe_source as _describe

try:  # ISA-L's gzip is several times faster than zlib's and is already a project dependency.
    from isal import igzip as _igzip
    from isal.isal_zlib import error as _IsalError
except ImportError:  # pragma: no cover - isal is a declared dependency, this is only a fallback
    _igzip = None
    _IsalError = zlib.error

__all__ = ["DecompressedStream", "Source", "detect_compression", "open_decompressed"]

Source = str | os.PathLike | IO[bytes]

_MAGIC = (
    (b"BZh", "bz2"),
    (b"\x1f\x8b", "gzip"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
)
_MAGIC_LEN = max(len(m) for m, _ in _MAGIC)

# What the stdlib/ISA-L readers raise on truncated or corrupt compressed data.
_DECOMPRESSION_ERRORS: tuple[type[BaseException], ...] = (
    EOFError,
    OSError,
    lzma.LZMAError,
    zlib.error,
    _IsalError,
)


def detect_compression(prefix: bytes) -> str:
    """Name the compression of a file from its first bytes: bz2, gzip, xz, zstd, 7z or "none"."""
    for magic, kind in _MAGIC:
        if prefix.startswith(magic):
            return kind
    return "none"


class _CountingRaw(io.RawIOBase):
    """Raw reader that counts the bytes taken from the underlying file.

    It also replays the few bytes read ahead for magic-number detection, so non-seekable inputs
    (pipes, HTTP bodies) work.
    """

    def __init__(self, fileobj: IO[bytes], prefix: bytes) -> None:
        super().__init__()
        self._f = fileobj
        self._prefix = prefix
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        if self._prefix:
            n = min(len(b), len(self._prefix))
            b[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            self.count += n
            return n
        data = self._f.read(len(b))
        n = len(data)
        b[:n] = data
        self.count += n
        return n

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            data, self._prefix = self._prefix + self._f.read(), b""
        elif self._prefix:
            data, self._prefix = self._prefix[:size], self._prefix[size:]
        else:
            data = self._f.read(size)
        self.count += len(data)
        return data

    read1 = read


class DecompressedStream(io.RawIOBase):
    """Binary stream of the decompressed bytes of a (possibly compressed) dump.

    Attributes: ``compression`` ("bz2", "gzip", "xz" or "none"), ``compressed_bytes_read`` (bytes
    taken from the file so far — decompressors read ahead, so this is where the reader *is*, not
    necessarily where a fault *was*), ``bytes_read`` (decompressed bytes returned so far).
    Closing it closes the file only when it was opened from a path.
    """

    def __init__(self, source: Source) -> None:
        super().__init__()
        if isinstance(source, (str, os.PathLike)):
            fileobj: IO[bytes] = open(source, "rb", buffering=0)  # noqa: SIM115 - closed in close()
            self._owned: IO[bytes] | None = fileobj
        else:
            fileobj, self._owned = source, None
        try:
            prefix = b""
            while len(prefix) < _MAGIC_LEN:  # a pipe may return fewer bytes than asked
                more = fileobj.read(_MAGIC_LEN - len(prefix))
                if not more:
                    break
                prefix += more
            self.compression = detect_compression(prefix)
            self._raw = _CountingRaw(fileobj, prefix)
            if self.compression == "bz2":
                # BZ2File reads concatenated streams (multistream dumps) transparently.
                self._reader: IO[bytes] = bz2.BZ2File(self._raw)
            elif self.compression == "gzip":
                self._reader = (
                    _igzip.IGzipFile(fileobj=self._raw) if _igzip else gzip.GzipFile(fileobj=self._raw)
                )
            elif self.compression == "xz":
                self._reader = lzma.LZMAFile(self._raw)  # noqa: SIM115 - closed in close()
            elif self.compression == "none":
                self._reader = self._raw
            else:
                raise DumpParseError(
                    f"{_describe(source)}: {self.compression} compression is not supported "
                    "(use bz2, gzip, xz or plain XML)",
                    name=_describe(source),
                )
        except BaseException:
            if self._owned is not None:
                self._owned.close()
            raise
        self.bytes_read = 0

    @property
    def compressed_bytes_read(self) -> int:
        return self._raw.count

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        data = self._reader.read(size)
        self.bytes_read += len(data)
        return data

    def read1(self, size: int = -1) -> bytes:
        """Like ``read`` but with at most one read from the file.

        Used by the dump reader: if the compressed data then turns out to be truncated, everything
        decompressed before the fault has already been returned (``read`` of a buffered
        decompressor would discard the part it had gathered for the failing call).
        """
        data = self._reader.read1(size)
        self.bytes_read += len(data)
        return data

    def readinto(self, b) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            try:
                if self._reader is not self._raw:
                    self._reader.close()
            finally:
                if self._owned is not None:
                    self._owned.close()
                super().close()


def open_decompressed(source: Source) -> DecompressedStream:
    """Open a path or binary file object and return a stream of its decompressed bytes.

    Compression (bz2 incl. multistream, gzip, xz, none) is detected from the magic bytes.
    """
    return DecompressedStream(source)

