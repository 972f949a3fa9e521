"""Reading a ``.tar.gz`` as a stream of members, without ``tarfile``'s and ``gzip``'s Python buffer layers.

The verifier reads every byte of every snapshot file; through ``GzipFile`` → ``tarfile`` → the member's file
object each block of data is copied and re-buffered several times in Python. Here the compressed chunks go
straight into one python-isal ``decompressobj`` (gzip wrapper: it checks the CRC32 and length at the end of
each gzip member, as ``gzip`` does), and the tar stream is walked by its 512-byte headers (parsed and
checksummed by :meth:`tarfile.TarInfo.frombuf`). A member's data comes out as the blocks the decompressor
produced, copied only where a block spans the member's end.

What it reads is what ``tarfile.open(mode="r|")`` over ``gzip`` reads: concatenated gzip members, ustar
headers with pax (``path``, ``size``) and GNU long-name extensions; the end is the first zero block. Broken
input raises :class:`TarStreamError` (or ``isal_zlib.error`` from the decompressor).
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterator
from dataclasses import dataclass

from isal import isal_zlib

BLOCK = tarfile.BLOCKSIZE  # 512
MAX_OUTPUT = 4 * 1024 * 1024  # decompressed bytes per decompress call: bounds memory on highly compressed data
_GZIP_WBITS = 31  # gzip header and trailer, as gzip.GzipFile reads them
_PAX_TYPES = (tarfile.XHDTYPE, tarfile.SOLARIS_XHDTYPE)


class TarStreamError(ValueError):
    """The stream is not a complete tar.gz (truncated, bad header, trailing garbage)."""


class Inflater:
    """The decompressed bytes of a gzip stream given as compressed chunks (each passed to ``on_chunk`` first)."""

    def __init__(self, chunks: Iterator[bytes]):
        self._chunks = chunks
        self._inflate = isal_zlib.decompressobj(_GZIP_WBITS)
        self._input = b""  # compressed bytes not yet given to the decompressor
        self._pending = memoryview(b"")  # decompressed bytes not yet returned

    def _next_chunk(self) -> bytes | None:
        for chunk in self._chunks:
            if chunk:
                return chunk
        return None

    def _next_member_start(self) -> bytes | None:
        """The compressed bytes after a gzip member's end, zero padding skipped (as gzip does); None at the end."""
        rest = self._inflate.unused_data.lstrip(b"\0")
        while not rest:
            chunk = self._next_chunk()
            if chunk is None:
                return None
            rest = chunk.lstrip(b"\0")
        return rest

    def _more(self) -> bool:
        """Decompress some more into ``_pending``; False at the end of the stream."""
        while not self._pending:
            if self._inflate.eof:  # a gzip member ended: another may follow (gzip reads them as one stream)
                rest = self._next_member_start()
                if rest is None:
                    return False
                self._inflate = isal_zlib.decompressobj(_GZIP_WBITS)
                self._input = rest
            if not self._input:
                chunk = self._next_chunk()
                if chunk is None:
                    raise TarStreamError("compressed file ended before the end of its gzip stream")
                self._input = chunk
            self._pending = memoryview(self._inflate.decompress(self._input, MAX_OUTPUT))
            self._input = self._inflate.unconsumed_tail
        return True

    def read(self, size: int) -> bytes:
        """Up to ``size`` decompressed bytes (fewer at a block's end; ``b""`` only at the end of the stream)."""
        if not self._pending and not self._more():
            return b""
        if len(self._pending) <= size:
            # The whole block, no copy when it is the decompressor's own output object.
            data, self._pending = self._pending, memoryview(b"")
            return data.obj if data.nbytes == len(data.obj) else bytes(data)
        data, self._pending = self._pending[:size], self._pending[size:]
        return bytes(data)

    def read_exactly(self, size: int) -> bytes:
        parts = []
        while size > 0 and (data := self.read(size)):
            parts.append(data)
            size -= len(data)
        return b"".join(parts)

    def skip(self, size: int) -> int:
        """Read and drop ``size`` bytes; returns how many were there."""
        skipped = 0
        while skipped < size and (data := self.read(size - skipped)):
            skipped += len(data)
        return skipped

    def drain(self) -> None:
        """Read to the end: the decompressor checks each gzip member's CRC32 and length as it ends."""
        while self._more():
            self._pending = memoryview(b"")


class MemberData:
    """The data of one tar member: ``read(n)`` gives blocks of it, then ``b""``."""

    def __init__(self, inflater: Inflater, size: int):
        self._inflater = inflater
        self.remaining = size

    def read(self, size: int) -> bytes:
        if self.remaining <= 0:
            return b""
        data = self._inflater.read(min(size, self.remaining))
        if not data:
            raise TarStreamError(f"unexpected end of data ({self.remaining} bytes of the member missing)")
        self.remaining -= len(data)
        return data


@dataclass
class Member:
    name: str
    size: int
    isfile: bool
    data: MemberData


def _pax_fields(data: bytes) -> dict[str, str]:
    """``path`` and ``size`` of a pax extended header (records ``"%d key=value\\n"``)."""
    fields: dict[str, str] = {}
    position = 0
    while position < len(data) and data[position] != 0:
        space = data.find(b" ", position)
        if space < 0:
            raise TarStreamError("invalid pax header")
        try:
            length = int(data[position:space])
        except ValueError:
            raise TarStreamError("invalid pax header") from None
        record = data[space + 1 : position + length]
        if length <= 0 or not record.endswith(b"\n") or b"=" not in record:
            raise TarStreamError("invalid pax header")
        key, _, value = record[:-1].partition(b"=")
        fields[key.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
        position += length
    return fields


def iter_members(inflater: Inflater) -> Iterator[Member]:
    """The members of the tar stream in order. Read (or leave) each member's data before the next one: what
    is left of it is skipped. Ends at the first zero block (the end-of-archive marker)."""
    extended: dict[str, str] = {}
    while True:
        header = inflater.read_exactly(BLOCK)
        if not header:
            if extended:
                raise TarStreamError("unexpected end of data after an extended header")
            return  # a tar stream without end blocks, as tarfile accepts it
        if len(header) < BLOCK:
            raise TarStreamError("unexpected end of data in a tar header")
        if header.count(0) == BLOCK:
            return
        try:
            info = tarfile.TarInfo.frombuf(header, "utf-8", "surrogateescape")
        except tarfile.HeaderError as exc:
            raise TarStreamError(f"bad tar header ({exc})") from None
        padded = info.size + (-info.size % BLOCK)
        if info.type in _PAX_TYPES or info.type == tarfile.GNUTYPE_LONGNAME:
            data = inflater.read_exactly(padded)
            if len(data) < padded:
                raise TarStreamError("unexpected end of data in an extended header")
            if info.type == tarfile.GNUTYPE_LONGNAME:
                extended["path"] = data[: info.size].rstrip(b"\0").decode("utf-8", "surrogateescape")
            else:
                extended.update(_pax_fields(data[: info.size]))
            continue
        if info.type == tarfile.XGLTYPE:  # global pax header: nothing the verifier uses
            if inflater.skip(padded) < padded:
                raise TarStreamError("unexpected end of data in a global header")
            continue
        name = extended.get("path", info.name)
        size = info.size
        if "size" in extended:
            try:
                size = int(extended["size"])
            except ValueError:
                raise TarStreamError(f"invalid pax size {extended['size']!r}") from None
            padded = size + (-size % BLOCK)
        extended = {}
        isfile = info.type in tarfile.REGULAR_TYPES
        data = MemberData(inflater, size if isfile else 0)
        yield Member(name, size, isfile, data)
        # Whatever the caller left of the member, then the padding to the next header.
        left = data.remaining + (padded - size if isfile else padded)
        if inflater.skip(left) < left:
            raise TarStreamError("unexpected end of data")
