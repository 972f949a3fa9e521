"""Snapshot archives: one project-namespace of article records as Wikimedia Enterprise's ``.tar.gz`` files.

What is written (paths relative to ``out_dir``)::

    {id}.tar.gz                     the snapshot: a tar of NDJSON members {id}_0.ndjson, {id}_1.ndjson, ...
    chunks/{id}/chunk_{n}.tar.gz    one per member: a tar holding the single member chunk_{n}.ndjson

``{id}`` is ``{dbname}_namespace_{ns}`` (e.g. ``enwiki_namespace_0``). This is Enterprise's format
(``services/snapshots/handlers/export/export.go``): members of at most 100,000,000 bytes of uncompressed
NDJSON, one article per line, and every member also downloadable on its own as a chunk. Where we do better:

- **Ordered.** Records arrive ordered by page id and stay so: member ``k`` follows member ``k-1``, and
  chunk ``n`` *is* member ``n`` (Enterprise numbers chunks from a counter shared by 4 parallel workers).
- **Byte-reproducible.** The same records give the same bytes: tar headers carry a fixed mtime (midnight UTC
  of the dump date, or 0), uid/gid 0, empty uname/gname, mode 0644, POSIX.1-2001 (pax) format (which writes
  plain ustar headers for our short ASCII names); the gzip header has mtime 0, no file name, OS "unknown".
  Reproducibility holds for one codec, level and codec version (recorded in the manifest).
- **Compressed once.** A member's bytes are identical in the archive and in its chunk, so they are deflated
  once and the compressed bytes are copied into both files. This works because deflate streams can be
  concatenated: each piece is compressed independently and ends with a sync flush (byte-aligned, not final),
  so ``gzip header + deflate(tar header) + deflate(member) + ... + deflate(tar trailer, final) + CRC32/size``
  is one ordinary gzip member that stdlib ``gzip``/``tarfile`` and ``tar -xzf`` read. Inside a member the
  data is cut into fixed 4 MiB blocks compressed in a thread pool (the codecs release the GIL), each block
  primed with the previous block's last 32 KiB as dictionary (as pigz does), so parallelism costs no ratio.
  The CRC32 of each output is assembled with ``crc32_combine``.
- **Streaming.** Memory holds a few blocks, never a member: a member's compressed bytes go to a temporary
  file (the tar header needs the member's size before its data), then are copied into both outputs.
- **Hashed.** SHA-256 and MD5 of the archive, of every chunk file and of every member's NDJSON, with record
  counts and first/last page ids (Enterprise's ``version`` is the hex MD5 of the ``.tar.gz``).

Input: an iterable of ``(page_id, line)`` for one (dbname, namespace), ordered by strictly increasing page
id, ``line`` being one serialized article (bytes) *without* its newline; a single trailing ``b"\\n"`` is
accepted and removed, so lines read from an NDJSON file can be passed as they are. Lines are not parsed
(that is the verifier's job, :func:`wme_assets.snapshots.manifest.verify_snapshot_files`), except the first
one, once, for the language when none is given.

An article larger than the member size gets a member of its own; nothing is split or dropped.

A namespace without records gives a valid, empty ``.tar.gz`` (a tar of only its end-of-archive blocks) and
no members or chunks. Enterprise's exporter also uploads a ``.tar.gz`` when it read nothing (its buffers
stay empty), and its listing aggregation then leaves the snapshot out because its size rounds to 0 MB; our
publisher keeps the empty file (a download never 404s) and leaves zero-record snapshots out of the listing.
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
import tarfile
import tempfile
from collections import deque
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any, BinaryIO

import orjson
from isal import isal_zlib

from wme_assets.util.dates import check_yyyymmdd, midnight_utc
from wme_assets.util.sizes import MiB
from wme_assets.util.workers import available_cpus

BUFFER_SIZE = 100_000_000
"""Enterprise's ``BUFFER_SIZE``: the most uncompressed NDJSON bytes in one member (and chunk)."""

BLOCK_BYTES = 4 * MiB
"""Unit of parallel compression inside a member. Fixed, so the output does not depend on thread count."""

WINDOW_BYTES = 32 * 1024  # deflate's window: the dictionary that primes the next block
COPY_BYTES = MiB
TAR_FORMAT = tarfile.PAX_FORMAT
TAR_FORMAT_NAME = "pax"
TAR_MODE = 0o644
TAR_BLOCK = tarfile.BLOCKSIZE  # 512
TAR_RECORD = tarfile.RECORDSIZE  # 10240: tar pads the archive to whole records, as GNU tar and tarfile do

# ID1 ID2 CM=deflate FLG=0 (no name, no comment) MTIME=0 XFL=0 OS=255 (unknown): the same on every machine.
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"

DEFAULT_CODEC = "isal"
DEFAULT_COMPRESSLEVEL = 2

_DBNAME = re.compile(r"^[a-z0-9_-]{1,64}$")
_FAMILIES = ("wiktionary", "wikibooks", "wikinews", "wikiquote", "wikisource", "wikiversity", "wikivoyage", "wiki")


# --- names ---------------------------------------------------------------------------------------


def snapshot_identifier(dbname: str, namespace: int) -> str:
    """Enterprise's snapshot identifier, e.g. ``enwiki_namespace_0``."""
    if not _DBNAME.match(dbname or ""):
        raise ValueError(f"{dbname!r} is not a wiki dbname (lower-case letters, digits, '_' and '-')")
    if not isinstance(namespace, int) or isinstance(namespace, bool) or namespace < 0:
        raise ValueError(f"namespace must be a non-negative int, got {namespace!r}")
    return f"{dbname}_namespace_{namespace}"


def member_name(identifier: str, index: int) -> str:
    """Name of member ``index`` inside the snapshot archive: ``{id}_{index}.ndjson``."""
    return f"{identifier}_{index}.ndjson"


def chunk_identifier(identifier: str, index: int) -> str:
    """Enterprise's chunk identifier: ``{id}_chunk_{index}``."""
    return f"{identifier}_chunk_{index}"


def chunk_member_name(index: int) -> str:
    """Name of the single member inside chunk ``index``: ``chunk_{index}.ndjson``."""
    return f"chunk_{index}.ndjson"


def archive_path(identifier: str) -> str:
    return f"{identifier}.tar.gz"


def chunk_path(identifier: str, index: int) -> str:
    return f"chunks/{identifier}/chunk_{index}.tar.gz"


def language_from_dbname(dbname: str) -> str:
    """Best guess of the language code from a dbname (``simplewiki`` → ``simple``, ``zh_yuewiki`` → ``zh-yue``).

    Only a fallback: the records' own ``in_language.identifier`` is preferred.
    """
    for family in _FAMILIES:
        if dbname.endswith(family) and len(dbname) > len(family):
            return dbname[: -len(family)].replace("_", "-")
    return dbname.replace("_", "-")


# --- codecs --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Codec:
    """A deflate implementation: any of them writes gzip that every gzip reader reads."""

    name: str
    version: str
    module: ModuleType
    levels: range

    def compress_piece(self, level: int, data: bytes, zdict: bytes | None = None, *, final: bool = False) -> bytes:
        """Raw deflate of ``data`` as an independent piece: sync-flushed (concatenable) or final."""
        if zdict:
            compressor = self.module.compressobj(level, self.module.DEFLATED, -15, zdict=zdict)
        else:
            compressor = self.module.compressobj(level, self.module.DEFLATED, -15)
        flush = self.module.Z_FINISH if final else self.module.Z_SYNC_FLUSH
        return compressor.compress(data) + compressor.flush(flush)


def get_codec(name: str = DEFAULT_CODEC) -> Codec:
    """``isal`` (python-isal, the default: ~10× stdlib), ``zlib-ng`` (if installed) or ``zlib`` (stdlib)."""
    if name == "isal":
        import isal

        return Codec("isal", isal.__version__, isal_zlib, range(4))
    if name == "zlib":
        import zlib

        return Codec("zlib", zlib.ZLIB_RUNTIME_VERSION, zlib, range(10))
    if name == "zlib-ng":
        try:
            import zlib_ng
            from zlib_ng import zlib_ng as zng
        except ImportError:
            raise ValueError("codec 'zlib-ng' needs the zlib-ng package (pip install zlib-ng)") from None
        return Codec("zlib-ng", zlib_ng.__version__, zng, range(10))
    raise ValueError(f"unknown codec {name!r}: use 'isal', 'zlib-ng' or 'zlib'")


# --- results -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberInfo:
    """One NDJSON member of the archive: its uncompressed content."""

    index: int
    name: str
    bytes: int
    sha256: str
    md5: str
    record_count: int
    first_page_id: int
    last_page_id: int


@dataclass(frozen=True)
class FileInfo:
    """One written ``.tar.gz`` file (archive or chunk)."""

    path: str  # relative to out_dir, POSIX separators
    bytes: int
    sha256: str
    md5: str
    record_count: int
    first_page_id: int | None
    last_page_id: int | None


@dataclass(frozen=True)
class ChunkInfo(FileInfo):
    index: int
    identifier: str  # {id}_chunk_{n}
    member: str  # chunk_{n}.ndjson, the single member inside


@dataclass(frozen=True)
class SnapshotFiles:
    """What :func:`write_snapshot` wrote, with every digest and record range, and the inputs it used."""

    out_dir: Path
    dbname: str
    namespace: int
    identifier: str
    language: str
    dump_date: str | None
    event_cutoff: str | None
    archive: FileInfo
    members: tuple[MemberInfo, ...]
    chunks: tuple[ChunkInfo, ...]
    codec: str
    codec_version: str
    compresslevel: int
    max_member_bytes: int
    mtime: int

    @property
    def record_count(self) -> int:
        return self.archive.record_count

    def local_path(self, relative: str) -> Path:
        return self.out_dir / relative


# --- writing -------------------------------------------------------------------------------------


def _tar_header(name: str, size: int, mtime: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = mtime
    info.mode = TAR_MODE
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.type = tarfile.REGTYPE
    return info.tobuf(TAR_FORMAT, "utf-8", "surrogateescape")


class _GzipOutput:
    """A ``.tar.gz`` being assembled from deflate pieces; hashes what it writes, tracks CRC32 and tar length."""

    def __init__(self, path: Path):
        self.path = path
        self.file: BinaryIO = path.open("wb")
        self.sha256 = hashlib.sha256()
        self.md5 = hashlib.md5()
        self.size = 0
        self.crc = 0
        self.tar_length = 0  # uncompressed bytes so far, i.e. the offset in the tar stream
        self._write(GZIP_HEADER)

    def _write(self, data: bytes | memoryview) -> None:
        # Both digests of exactly the bytes written: the export's read-back compares the SHA-256 only.
        self.file.write(data)
        self.sha256.update(data)
        self.md5.update(data)
        self.size += len(data)

    def add_piece(self, raw: bytes, compressed: bytes) -> None:
        self.crc = isal_zlib.crc32(raw, self.crc)
        self.tar_length += len(raw)
        self._write(compressed)

    def add_shared(self, spill: BinaryIO, raw_crc: int, raw_length: int) -> None:
        """Append a member's compressed bytes from its spill file (whose uncompressed CRC/length are given)."""
        spill.seek(0)
        buffer = bytearray(COPY_BYTES)
        view = memoryview(buffer)
        while n := spill.readinto(buffer):
            self._write(view[:n])
        self.crc = isal_zlib.crc32_combine(self.crc, raw_crc, raw_length)
        self.tar_length += raw_length

    def finish(self, codec: Codec, level: int) -> None:
        # End of archive: two zero blocks, then zeros up to a whole record (what tarfile and GNU tar write).
        end = 2 * TAR_BLOCK
        end += -(self.tar_length + end) % TAR_RECORD
        trailer = bytes(end)
        self.add_piece(trailer, codec.compress_piece(level, trailer, final=True))
        self._write(struct.pack("<II", self.crc, self.tar_length & 0xFFFFFFFF))
        self.file.close()

    def abort(self) -> None:
        self.file.close()
        self.path.unlink(missing_ok=True)


class _MemberEncoder:
    """Compresses one member's NDJSON into a spill file as sync-flushed deflate pieces (tar padding included)."""

    def __init__(self, codec: Codec, level: int, pool: ThreadPoolExecutor | None, threads: int, spill_dir: Path):
        self.codec = codec
        self.level = level
        self.pool = pool
        self.max_pending = threads + 1 if pool else 0  # bounds memory to a few blocks
        self.spill: BinaryIO = tempfile.TemporaryFile(dir=spill_dir, prefix=".member-")
        self.buffer = bytearray()
        self.pending: deque[Future[bytes] | bytes] = deque()
        self.previous_tail: bytes | None = None
        self.sha256 = hashlib.sha256()
        self.md5 = hashlib.md5()
        self.crc = 0
        self.bytes = 0  # NDJSON bytes (what the member size limit counts)
        self.raw_length = 0  # tar data bytes emitted so far (NDJSON, then padding)
        self.record_count = 0
        self.first_page_id = 0
        self.last_page_id = 0

    def add(self, page_id: int, line: bytes) -> None:
        if not self.record_count:
            self.first_page_id = page_id
        self.record_count += 1
        self.last_page_id = page_id
        self.buffer += line
        self.buffer += b"\n"
        self.bytes += len(line) + 1
        while len(self.buffer) >= BLOCK_BYTES:
            with memoryview(self.buffer) as view:  # one copy (slicing a bytearray would copy twice)
                block = bytes(view[:BLOCK_BYTES])
            del self.buffer[:BLOCK_BYTES]  # CPython deletes a bytearray's head in O(1)
            self._emit(block, content=len(block))

    def _emit(self, block: bytes, content: int) -> None:
        """Queue ``block`` for compression; its first ``content`` bytes are NDJSON (the rest tar padding)."""
        zdict, self.previous_tail = self.previous_tail, block[-WINDOW_BYTES:]
        if self.pool is not None:
            self.pending.append(self.pool.submit(self.codec.compress_piece, self.level, block, zdict))
        else:
            self.pending.append(self.codec.compress_piece(self.level, block, zdict))
        # Hash in this thread while the pool compresses (hashlib releases the GIL on large buffers).
        content_view = memoryview(block)[:content]
        # Both digests of the same bytes: the export's read-back compares the SHA-256 only.
        self.sha256.update(content_view)
        self.md5.update(content_view)
        self.crc = isal_zlib.crc32(block, self.crc)
        self.raw_length += len(block)
        self._drain(self.max_pending)

    def _drain(self, keep: int) -> None:
        while len(self.pending) > keep:
            item = self.pending.popleft()
            self.spill.write(item.result() if isinstance(item, Future) else item)

    def finish(self) -> MemberInfo:
        """Flush the last block with the tar padding; returns the member's stats (index and name set later)."""
        padding = -self.bytes % TAR_BLOCK
        tail = bytes(self.buffer) + bytes(padding)
        self.buffer = bytearray()
        if tail:
            self._emit(tail, content=len(tail) - padding)
        self._drain(0)
        self.spill.flush()
        return MemberInfo(
            index=-1,
            name="",
            bytes=self.bytes,
            sha256=self.sha256.hexdigest(),
            md5=self.md5.hexdigest(),
            record_count=self.record_count,
            first_page_id=self.first_page_id,
            last_page_id=self.last_page_id,
        )

    def close(self) -> None:
        for item in self.pending:
            if isinstance(item, Future):
                item.cancel()
        self.spill.close()


def _mtime_of(dump_date: str | None) -> int:
    if dump_date is None:
        return 0
    return int(midnight_utc(check_yyyymmdd(dump_date, "dump_date")).timestamp())


_RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$")


def rfc3339(value: datetime | str | None) -> str | None:
    """RFC 3339 in UTC with ``Z`` and fractional seconds only when non-zero (Go's ``time.RFC3339Nano``).

    Naive datetimes are taken as UTC; a string already in that form is kept (nanoseconds included).
    """
    if value is None:
        return None
    if isinstance(value, str):
        if _RFC3339_UTC.match(value):
            return value
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not an RFC 3339 timestamp") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}".rstrip("0")
    return text + "Z"


def _language_of_first(line: bytes) -> str | None:
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    language = (record.get("in_language") or {}) if isinstance(record, dict) else {}
    value = language.get("identifier") if isinstance(language, dict) else None
    return value if isinstance(value, str) and value else None


def _default_threads() -> int:
    return max(1, min(4, available_cpus()))


def write_snapshot(
    records: Iterable[tuple[int, bytes]],
    out_dir: Path | str,
    *,
    dbname: str,
    namespace: int,
    max_member_bytes: int = BUFFER_SIZE,
    compresslevel: int = DEFAULT_COMPRESSLEVEL,
    codec: str = DEFAULT_CODEC,
    dump_date: str | None = None,
    event_cutoff: datetime | str | None = None,
    language: str | None = None,
    threads: int | None = None,
) -> SnapshotFiles:
    """Write ``{id}.tar.gz`` and ``chunks/{id}/chunk_{n}.tar.gz`` under ``out_dir`` from ordered records.

    ``dump_date`` (YYYYMMDD) fixes the tar mtime (midnight UTC of that day; 0 without it) and, with
    ``event_cutoff``, is recorded as an input in the manifest. ``language`` defaults to the first record's
    ``in_language.identifier``. ``threads``: compression workers (default: CPUs, at most 4; 0 compresses
    inline); the bytes written do not depend on it.

    Files appear under their final names only when everything is written (temporary names before), and
    chunk files of an earlier, longer run in the same directory are removed.
    """
    identifier = snapshot_identifier(dbname, namespace)
    if not isinstance(max_member_bytes, int) or max_member_bytes < 1:
        raise ValueError(f"max_member_bytes must be a positive int, got {max_member_bytes!r}")
    chosen = get_codec(codec)
    if compresslevel not in chosen.levels:
        raise ValueError(
            f"compresslevel {compresslevel} is out of range for {chosen.name} "
            f"({chosen.levels.start}-{chosen.levels.stop - 1})"
        )
    mtime = _mtime_of(dump_date)
    cutoff = rfc3339(event_cutoff)
    threads = _default_threads() if threads is None else threads

    out_dir = Path(out_dir)
    chunks_dir = out_dir / "chunks" / identifier
    chunks_dir.mkdir(parents=True, exist_ok=True)
    temporaries: list[tuple[Path, Path]] = []  # (temporary, final)

    def temporary_for(relative: str) -> Path:
        final = out_dir / relative
        temporary = final.with_name(f".{final.name}.{os.getpid()}.tmp")
        temporaries.append((temporary, final))
        return temporary

    archive = _GzipOutput(temporary_for(archive_path(identifier)))
    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="wme-deflate") if threads > 0 else None
    members: list[MemberInfo] = []
    chunks: list[ChunkInfo] = []
    encoder: _MemberEncoder | None = None
    previous_page_id: int | None = None
    first_line: bytes | None = None

    def close_member() -> None:
        nonlocal encoder
        assert encoder is not None
        stats = encoder.finish()
        index = len(members)
        member = replace(stats, index=index, name=member_name(identifier, index))
        members.append(member)
        _append_member(archive, member.name, member.bytes, encoder, chosen, compresslevel, mtime)

        chunk_file = _GzipOutput(temporary_for(chunk_path(identifier, index)))
        try:
            _append_member(chunk_file, chunk_member_name(index), member.bytes, encoder, chosen, compresslevel, mtime)
            chunk_file.finish(chosen, compresslevel)
        except BaseException:
            chunk_file.abort()
            raise
        chunks.append(
            ChunkInfo(
                path=chunk_path(identifier, index),
                bytes=chunk_file.size,
                sha256=chunk_file.sha256.hexdigest(),
                md5=chunk_file.md5.hexdigest(),
                record_count=member.record_count,
                first_page_id=member.first_page_id,
                last_page_id=member.last_page_id,
                index=index,
                identifier=chunk_identifier(identifier, index),
                member=chunk_member_name(index),
            )
        )
        encoder.close()
        encoder = None

    try:
        for page_id, line in records:
            line = _checked_line(page_id, line, previous_page_id)
            previous_page_id = page_id
            if first_line is None:
                first_line = line
            if encoder is not None and encoder.bytes + len(line) + 1 > max_member_bytes:
                close_member()
            if encoder is None:
                encoder = _MemberEncoder(chosen, compresslevel, pool, threads, chunks_dir)
            encoder.add(page_id, line)
        if encoder is not None:
            close_member()
        archive.finish(chosen, compresslevel)
    except BaseException:
        if encoder is not None:
            encoder.close()
        archive.abort()
        for temporary, _ in temporaries:
            temporary.unlink(missing_ok=True)
        raise
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    for temporary, final in temporaries:
        os.replace(temporary, final)
    _remove_stale_chunks(chunks_dir, len(chunks))

    if language is None:
        language = (_language_of_first(first_line) if first_line else None) or language_from_dbname(dbname)
    return SnapshotFiles(
        out_dir=out_dir,
        dbname=dbname,
        namespace=namespace,
        identifier=identifier,
        language=language,
        dump_date=dump_date,
        event_cutoff=cutoff,
        archive=FileInfo(
            path=archive_path(identifier),
            bytes=archive.size,
            sha256=archive.sha256.hexdigest(),
            md5=archive.md5.hexdigest(),
            record_count=sum(m.record_count for m in members),
            first_page_id=members[0].first_page_id if members else None,
            last_page_id=members[-1].last_page_id if members else None,
        ),
        members=tuple(members),
        chunks=tuple(chunks),
        codec=chosen.name,
        codec_version=chosen.version,
        compresslevel=compresslevel,
        max_member_bytes=max_member_bytes,
        mtime=mtime,
    )


def _append_member(
    output: _GzipOutput,
    name: str,
    size: int,
    encoder: _MemberEncoder,
    codec: Codec,
    level: int,
    mtime: int,
) -> None:
    header = _tar_header(name, size, mtime)
    output.add_piece(header, codec.compress_piece(level, header))
    output.add_shared(encoder.spill, encoder.crc, encoder.raw_length)


def _checked_line(page_id: Any, line: Any, previous_page_id: int | None) -> bytes:
    if not isinstance(page_id, int) or isinstance(page_id, bool):
        raise TypeError(f"page id must be an int, got {page_id!r}")
    if previous_page_id is not None and page_id <= previous_page_id:
        raise ValueError(f"records must be ordered by strictly increasing page id: {page_id} after {previous_page_id}")
    if isinstance(line, bytearray | memoryview):
        line = bytes(line)
    if not isinstance(line, bytes):
        raise TypeError(f"record of page {page_id} must be bytes (serialized JSON), got {type(line).__name__}")
    if line.endswith(b"\n"):
        line = line[:-1]
    if not line:
        raise ValueError(f"record of page {page_id} is empty")
    if b"\n" in line:
        # JSON serializers escape newlines inside strings; a raw one would split the record in two lines.
        raise ValueError(f"record of page {page_id} contains a raw newline: not one NDJSON line")
    return line


def _remove_stale_chunks(chunks_dir: Path, count: int) -> None:
    for path in chunks_dir.glob("chunk_*.tar.gz"):
        match = re.fullmatch(r"chunk_(\d+)\.tar\.gz", path.name)
        if match and int(match.group(1)) >= count:
            path.unlink()


def iter_ndjson_records(lines: Iterable[bytes], *, id_field: str = "identifier") -> Iterable[tuple[int, bytes]]:
    """``(page_id, line)`` from NDJSON lines, the page id read from each record (a convenience for tools)."""
    for line in lines:
        line = line.rstrip(b"\n")
        if line:
            yield int(orjson.loads(line)[id_field]), line


__all__ = [
    "BUFFER_SIZE",
    "ChunkInfo",
    "Codec",
    "FileInfo",
    "MemberInfo",
    "SnapshotFiles",
    "archive_path",
    "chunk_identifier",
    "chunk_member_name",
    "chunk_path",
    "get_codec",
    "iter_ndjson_records",
    "language_from_dbname",
    "member_name",
    "rfc3339",
    "snapshot_identifier",
    "write_snapshot",
]
