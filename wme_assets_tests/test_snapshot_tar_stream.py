"""The verifier's own tar.gz reader (wme_assets.snapshots.tar_stream) against tarfile + gzip, and its errors.

Synthetic archives: the shapes the reader must agree with ``tarfile`` on (pax and GNU long names, several
gzip members, zero padding between them, members of every size around the 512-byte block) and broken
streams it must refuse (truncated, flipped bit, trailing garbage).
"""

from __future__ import annotations

import gzip
import io
import tarfile

import pytest
from isal import isal_zlib

from wme_assets.snapshots.tar_stream import Inflater, TarStreamError, iter_members


def _tar(members: list[tuple[str, bytes]], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _pieces(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def _read(data: bytes, piece: int = 1000, read_size: int = 700) -> list[tuple[str, bytes]]:
    found = []
    inflater = Inflater(iter(_pieces(data, piece)))
    for member in iter_members(inflater):
        parts = []
        while block := member.data.read(read_size):
            parts.append(block)
        found.append((member.name, b"".join(parts)))
    inflater.drain()
    return found


def _tarfile_read(data: bytes) -> list[tuple[str, bytes]]:
    with tarfile.open(fileobj=gzip.GzipFile(fileobj=io.BytesIO(data)), mode="r|") as tar:
        return [(info.name, tar.extractfile(info).read()) for info in tar]


MEMBERS = [
    ("a.ndjson", b""),
    ("b.ndjson", b"x" * 511),
    ("c.ndjson", b"y" * 512),
    ("d.ndjson", b"z" * 513),
    ("e" * 150 + ".ndjson", b'{"identifier": 1}\n' * 3000),  # > 100 characters: a pax (or GNU) long name
    ("\u00e9t\u00e9.ndjson", b"\n"),
]


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT])
@pytest.mark.parametrize("piece, read_size", [(1, 1), (1000, 700), (10**6, 10**6)])
def test_members_are_what_tarfile_reads(fmt, piece, read_size):
    data = gzip.compress(_tar(MEMBERS, fmt), mtime=0)
    assert _read(data, piece, read_size) == _tarfile_read(data) == MEMBERS


def test_unread_member_data_is_skipped():
    data = gzip.compress(_tar(MEMBERS), mtime=0)
    inflater = Inflater(iter(_pieces(data, 333)))
    names = [member.name for member in iter_members(inflater)]
    inflater.drain()
    assert names == [name for name, _ in MEMBERS]


def test_concatenated_gzip_members_and_zero_padding_read_as_one_stream():
    tar = _tar(MEMBERS)
    half = len(tar) // 2
    data = gzip.compress(tar[:half], mtime=0) + b"\0" * 100 + gzip.compress(tar[half:], mtime=0)
    assert _read(data) == _tarfile_read(data) == MEMBERS


def test_a_truncated_stream_is_refused():
    data = gzip.compress(_tar(MEMBERS), mtime=0)
    for cut in (len(data) - 4, len(data) // 2, 20):
        with pytest.raises(TarStreamError):
            _read(data[:cut])


def test_a_flipped_bit_is_refused():
    # Uncompressed content (level 0): the flip changes data, not the deflate structure, so only the CRC32
    # check at the end of the gzip member can catch it.
    tar = _tar(MEMBERS)
    data = bytearray(gzip.compress(tar, compresslevel=0, mtime=0))
    data[len(data) - 2000] ^= 0x01
    with pytest.raises((TarStreamError, isal_zlib.error)):
        _read(bytes(data))


def test_trailing_garbage_is_refused():
    data = gzip.compress(_tar(MEMBERS), mtime=0) + b"not gzip"
    with pytest.raises((TarStreamError, isal_zlib.error)):
        _read(data)


def test_a_bad_header_checksum_is_refused():
    tar = bytearray(_tar([("a.ndjson", b"data\n")], tarfile.USTAR_FORMAT))
    tar[0] ^= 0x01  # the name changes, the recorded checksum does not
    with pytest.raises(TarStreamError, match="bad tar header"):
        _read(gzip.compress(bytes(tar), mtime=0))


def test_a_member_cut_short_is_refused():
    tar = _tar([("a.ndjson", b"q" * 5000)], tarfile.USTAR_FORMAT)
    with pytest.raises(TarStreamError, match="unexpected end"):
        _read(gzip.compress(tar[: 512 + 3000], mtime=0))
