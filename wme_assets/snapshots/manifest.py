"""Snapshot metadata: building Wikimedia Enterprise's metadata objects and our manifest, and verification.

The models are in :mod:`wme_assets.schema` (:mod:`~wme_assets.schema.metadata` for Enterprise's objects,
:mod:`~wme_assets.schema.manifest` for ours); this module fills them in from the files written and checks files
against them. Enterprise's objects (``general/schema/snapshot.go``; real ones in ``wme-sdk-testdata``), written
compact in Go's key order, as ``json.Marshal`` does:

- :class:`~wme_assets.schema.Snapshot` — ``{id}.json``: ``identifier, version, date_modified, is_part_of{identifier},
  in_language{identifier}, namespace{identifier}, size{value, unit_text}, chunks``. ``version`` is the hex
  MD5 of the ``.tar.gz``; ``size.value`` is bytes / 10^6 rounded to 3 decimals (``%.3f`` in export.go);
  ``chunks`` lists the chunk identifiers and, like every field there, is left out when empty (omitempty).
- :class:`~wme_assets.schema.Chunk` — ``chunk_{n}.json``: the same fields without ``chunks``, ``identifier``
  ``{id}_chunk_{n}``. Its ``size.value`` is *not* rounded: Enterprise's chunk objects carry bytes / 10^6
  to the byte (``"value": 322.660273`` in the real ``chunks.json``), and so do ours.
- The listing, ``aggregations/snapshots/snapshots.ndjson``: one snapshot object per line, no trailing newline
  (Enterprise trims it), zero-size snapshots left out (see :mod:`wme_assets.snapshots.publish`).
- ``date_modified`` is RFC 3339 UTC with ``Z`` (Enterprise writes nanoseconds; we have microseconds).
  Go writes an integral float without a fraction (``"value": 0``); so do we, and ``size.value`` is written
  even when 0.

Our manifest (beyond Enterprise, which publishes no checksums but the MD5 ``version``): ``{id}.manifest.json``
(:class:`SnapshotManifest`, ``schema_version`` 1) records the inputs (dump date, optional event cut-off), the
generator (wme version, codec and level, member size, tar format and mtime), and for the archive, every member
inside it and every chunk: bytes, SHA-256, MD5, record count and first/last page id. Once published it also
holds every object's key (relative to the store's prefix) and the Enterprise metadata files' digests.

Snapshots come in two kinds (:data:`SnapshotKind`): ``articles`` (Enterprise's article snapshots, one Article
per line) and ``structured`` (its Structured Contents snapshots, namespace 0 only). The manifest of a
``structured`` snapshot says so in ``content`` (``{"kind": "structured", "record_schema":
"structured-content-1.0.0"}``, the JSON Schema file its lines were validated against); an article manifest has
no ``content`` section, so its bytes are those it had before Structured Contents existed.

:func:`verify_snapshot_files` re-hashes every file (local directory or object store) and reads every archive
and chunk: each member's name, size, digests, every line parsed as JSON (orjson) and optionally validated,
record counts, and first/last/ordered page ids from the records' ``identifier`` field (a chunk's member with
the SHA-256 of an archive member already read is only hashed: the same bytes, so the same findings). It returns
a list of problems, each naming the file (and member) at fault; an empty list means the snapshot is intact.
"""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import orjson
from isal import isal_zlib

from wme_assets.schema import RECORD_SCHEMA_VERSION, Chunk, FileMetadata, Language, Namespace, Project, Size, Snapshot
from wme_assets.schema.manifest import (
    MANIFEST_SCHEMA_VERSION,
    ChunkEntry,
    Content,
    CutPoint,
    FileEntry,
    Generator,
    Inputs,
    MemberEntry,
    Publication,
    PublishedFile,
    SnapshotKind,
    SnapshotManifest,
)
from wme_assets.snapshots.archive import SnapshotFiles, rfc3339
from wme_assets.snapshots.tar_stream import MAX_OUTPUT as MEMBER_READ_BYTES
from wme_assets.snapshots.tar_stream import Inflater, TarStreamError, iter_members
from wme_assets.util.digests import READ_BYTES, Digests, file_chunks
from wme_assets.util.version import package_version

if TYPE_CHECKING:
    from wme_assets.storage.object_store import ObjectStore

SIZE_UNIT = "MB"
MAX_LINE_PROBLEMS = 10  # per member: enough to diagnose, not a flood

RecordValidator = Callable[[dict[str, Any]], Any]
"""Called with every parsed record; raising any exception marks the line invalid (the message is reported)."""


class Sink(Protocol):
    """Where :func:`verify_snapshot_files` also sends each file's bytes as it reads them (its ``tee``)."""

    def write(self, data: bytes) -> None: ...

    def close(self, complete: bool) -> None: ...  # complete: every byte of the file was written


RECORD_SCHEMAS: dict[str, str] = {"articles": "article", "structured": "structured-content", "batches": "article"}
"""Snapshot kind → the JSON Schema its lines follow (``wme_assets/schema/jsonschema/{name}-{version}.schema.json``)."""


def record_schema(kind: str) -> str:
    """The record schema of a snapshot kind (``ValueError`` for an unknown kind)."""
    try:
        return RECORD_SCHEMAS[kind]
    except KeyError:
        raise ValueError(f"snapshot kind must be one of {', '.join(RECORD_SCHEMAS)}, got {kind!r}") from None



# --- building the manifest and Enterprise's metadata objects --------------------------------------


def build_manifest(
    files: SnapshotFiles,
    *,
    date_modified: datetime | str | None = None,
    kind: SnapshotKind = "articles",
    cut_point: CutPoint | None = None,
) -> SnapshotManifest:
    """The manifest of freshly written files (``date_modified`` defaults to now, UTC) of a ``kind`` of snapshot;
    ``cut_point``: where the change stream stood when the exported state was read (None: no change applied)."""
    when = rfc3339(date_modified or datetime.now(UTC))
    assert when is not None
    schema = record_schema(kind)
    archive = files.archive
    return SnapshotManifest(
        identifier=files.identifier,
        is_part_of=files.dbname,
        namespace=files.namespace,
        in_language=files.language,
        date_modified=when,
        inputs=Inputs(dump_date=files.dump_date, event_cutoff=files.event_cutoff, cut_point=cut_point),
        generator=Generator(
            version=package_version(),
            codec=files.codec,
            codec_version=files.codec_version,
            compresslevel=files.compresslevel,
            max_member_bytes=files.max_member_bytes,
            tar_mtime=files.mtime,
        ),
        record_count=archive.record_count,
        first_page_id=archive.first_page_id,
        last_page_id=archive.last_page_id,
        archive=FileEntry(
            path=archive.path,
            bytes=archive.bytes,
            sha256=archive.sha256,
            md5=archive.md5,
            record_count=archive.record_count,
            first_page_id=archive.first_page_id,
            last_page_id=archive.last_page_id,
        ),
        members=[MemberEntry(**member.__dict__) for member in files.members],
        chunks=[ChunkEntry(**chunk.__dict__) for chunk in files.chunks],
        content=None if kind == "articles" else Content(kind=kind, record_schema=f"{schema}-{RECORD_SCHEMA_VERSION}"),
    )


def _metadata_fields(manifest: SnapshotManifest, entry: FileEntry, identifier: str) -> dict[str, Any]:
    return dict(
        identifier=identifier,
        version=entry.md5,
        date_modified=manifest.date_modified,
        is_part_of=Project(identifier=manifest.is_part_of),
        in_language=Language(identifier=manifest.in_language),
        namespace=Namespace(identifier=manifest.namespace),
    )


def snapshot_metadata(manifest: SnapshotManifest) -> Snapshot:
    """Enterprise's snapshot object for the manifest's archive."""
    return Snapshot(
        **_metadata_fields(manifest, manifest.archive, manifest.identifier),
        size=Size(value=round(manifest.archive.bytes / 1e6, 3), unit_text=SIZE_UNIT),
        chunks=[chunk.identifier for chunk in manifest.chunks],
    )


def chunk_metadata(manifest: SnapshotManifest, chunk: ChunkEntry) -> Chunk:
    """Enterprise's chunk object (size to the byte, as Enterprise's chunk objects are)."""
    return Chunk(
        **_metadata_fields(manifest, chunk, chunk.identifier),
        size=Size(value=round(chunk.bytes / 1e6, 6), unit_text=SIZE_UNIT),
    )


def listing_ndjson(snapshots: Iterable[Snapshot]) -> bytes:
    """``aggregations/snapshots/snapshots.ndjson``: one object per line, no trailing newline (as Enterprise)."""
    return b"\n".join(snapshot.to_json() for snapshot in snapshots)


# --- verification ---------------------------------------------------------------------------------


class _Problems(list[str]):
    def add(self, where: str, what: str) -> None:
        self.append(f"{where}: {what}")


class _MemberScan(NamedTuple):
    """What one line-by-line read of a member found: its digests and counts, and its line problems."""

    stats: dict[str, Any]
    line_problems: list[str]  # "line N: …", at most MAX_LINE_PROBLEMS, then "... and N more line problems"


def _member_lines(fileobj: Any) -> Iterator[bytes | memoryview]:
    """The lines of a member as iterating it gives them (each with its newline, the last one as it is), read in
    the blocks the decompressor gives (line iteration over a buffered file would refill a small buffer, many
    calls for a line of one article). A line inside one block is a view of it, not a copy (hashlib and orjson
    take views); one across blocks is joined."""
    partial: list[bytes | memoryview] = []  # the start of a line longer than what one block held
    while block := fileobj.read(MEMBER_READ_BYTES):
        view = memoryview(block)
        start = 0
        while (end := block.find(b"\n", start)) >= 0:
            line: bytes | memoryview = view[start : end + 1]
            if partial:
                partial.append(line)
                line = b"".join(partial)
                partial.clear()
            yield line
            start = end + 1
        if start < len(block):
            partial.append(view[start:])
    if partial:
        yield b"".join(partial)


def _scan_member(fileobj: Any, validator: RecordValidator | None, *, md5: bool = True) -> _MemberScan:
    hashes = Digests(md5)
    count = 0
    first = last = None
    found: list[str] = []
    line_problems = 0

    def line_problem(number: int, what: str) -> None:
        nonlocal line_problems
        line_problems += 1
        if line_problems <= MAX_LINE_PROBLEMS:
            found.append(f"line {number}: {what}")

    for number, line in enumerate(_member_lines(fileobj), 1):
        hashes.update(line)
        count += 1
        if line[-1:] != b"\n":
            line_problem(number, "does not end with a newline")
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            line_problem(number, f"not JSON ({exc})")
            continue
        page_id = record.get("identifier") if isinstance(record, dict) else None
        if not isinstance(page_id, int) or isinstance(page_id, bool):
            line_problem(number, "record has no integer 'identifier'")
        else:
            if last is not None and page_id <= last:
                line_problem(number, f"page id {page_id} is not after {last} (records must be ordered)")
            if first is None:
                first = page_id
            last = page_id
        if validator is not None:
            try:
                validator(record)
            except Exception as exc:  # any failure of the caller's validator is a finding, not a crash
                line_problem(number, f"invalid record (page {page_id}): {exc}")
    if line_problems > MAX_LINE_PROBLEMS:
        found.append(f"... and {line_problems - MAX_LINE_PROBLEMS} more line problems")
    stats = {
        **hashes.hex(),
        "record_count": count,
        "first_page_id": first,
        "last_page_id": last,
    }
    return _MemberScan(stats, found)


def _member_sha256(fileobj: Any) -> str:
    """SHA-256 of a member's content, read in blocks (no line splitting, no parsing)."""
    digest = hashlib.sha256()
    while block := fileobj.read(MEMBER_READ_BYTES):
        digest.update(block)
    return digest.hexdigest()


def _compare(where: str, expected: dict[str, Any], actual: dict[str, Any], problems: _Problems) -> None:
    for field, want in expected.items():
        got = actual.get(field)
        if got != want:
            problems.add(where, f"{field} is {got}, manifest says {want}")


def _scan_tar_gz(
    chunks: Iterator[bytes],
    label: str,
    entry: FileEntry,
    expected_members: list[tuple[str, MemberEntry]],
    validator: RecordValidator | None,
    problems: _Problems,
    *,
    scanned: dict[str, _MemberScan] | None = None,
    known: dict[str, _MemberScan] | None = None,
    md5: bool = True,
) -> bool:
    """Read one ``.tar.gz`` end to end: the file's digests, then each member against the manifest.

    Each member is read line by line (and what was found kept in ``scanned``, by SHA-256), unless ``known``
    is given: then a member is only hashed, and one whose SHA-256 is a key of ``known`` (content read line
    by line already, in another file) is reported as that read found it. Returns False when some member is
    not in ``known``: the caller reads the file again without ``known`` (what was added to ``problems`` is
    then to be dropped). The file is read to its end either way (a tee gets every byte). Without ``md5``
    the MD5s (the file's, each member's) are neither computed nor compared."""
    digests = Digests(md5)
    inflater = Inflater(_hashed(chunks, digests))
    seen: list[str] = []
    totals = {"record_count": 0, "first_page_id": None, "last_page_id": None}
    all_known = True
    try:
        with _collector_paused():
            for info in iter_members(inflater):
                position = len(seen)
                seen.append(info.name)
                where = f"{label} member {info.name}"
                if position >= len(expected_members):
                    problems.add(where, "unexpected member (not in the manifest)")
                    continue
                name, member = expected_members[position]
                if info.name != name:
                    problems.add(where, f"member {position} is named {info.name}, manifest says {name}")
                if not info.isfile:
                    problems.add(where, "not a regular file")
                    continue
                if known is not None:
                    scan = known.get(_member_sha256(info.data))
                    if scan is None:
                        all_known = False
                        continue
                else:
                    scan = _scan_member(info.data, validator, md5=md5)
                    if scanned is not None:
                        scanned[scan.stats["sha256"]] = scan
                for what in scan.line_problems:
                    problems.add(where, what)
                stats = scan.stats
                _compare(where, member.model_dump(exclude=_not_compared(md5, "index", "name")), stats, problems)
                totals["record_count"] += stats["record_count"]
                if totals["first_page_id"] is None:
                    totals["first_page_id"] = stats["first_page_id"]
                if stats["last_page_id"] is not None:
                    totals["last_page_id"] = stats["last_page_id"]
        inflater.drain()  # the rest of the stream: the decompressor checks CRC32 and length at its end
    except (TarStreamError, isal_zlib.error) as exc:
        problems.add(label, f"cannot read as tar.gz ({exc.__class__.__name__}: {exc})")
    for _ in _hashed(chunks, digests):  # what was left unread still counts (and a tee gets every byte)
        pass
    missing = [name for name, _ in expected_members[len(seen) :]]
    if missing:
        problems.add(label, f"members missing: {', '.join(missing)}")
    actual = {**digests.hex(), **totals}
    _compare(label, entry.model_dump(include=set(actual)), actual, problems)
    return all_known


def _not_compared(md5: bool, *fields: str) -> set[str]:
    return {*fields} if md5 else {*fields, "md5"}


def _hashed(chunks: Iterator[bytes], digests: Digests) -> Iterator[bytes]:
    for chunk in chunks:
        digests.update(chunk)
        yield chunk


@contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off while records are parsed: a parsed record (hundreds of dicts and
    lists for Structured Contents) triggers collections that find nothing (JSON has no cycles; each record is
    freed by reference counting once checked)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _teed(chunks: Iterator[bytes], sink: Sink) -> Iterator[bytes]:
    complete = False
    try:
        for chunk in chunks:
            sink.write(chunk)
            yield chunk
        complete = True
    finally:
        sink.close(complete)


def verify_snapshot_files(
    where: Path | str | ObjectStore,
    manifest: SnapshotManifest,
    *,
    validator: RecordValidator | None = None,
    tee: Callable[[FileEntry], Sink | None] | None = None,
    md5: bool = True,
) -> list[str]:
    """Re-hash and re-read every file of a snapshot; returns the problems found (empty: all good).

    ``where`` is the local directory :func:`~wme_assets.snapshots.archive.write_snapshot` wrote to (files at the
    manifest's ``path``), or an :class:`ObjectStore` holding the published snapshot (files at the manifest's
    ``key``, relative to the store's prefix; the Enterprise metadata JSON files are checked too).

    ``tee`` (local files only) gives, for a file of the manifest, a :class:`Sink` that receives the file's
    bytes as they are read and hashed: how the export stages its files while it verifies them, reading each
    once for both (:mod:`wme_assets.snapshots.staging`). The digests compared here are those of exactly the
    bytes the sink received.

    ``md5=False`` compares SHA-256s only (of every file and every member's content), for a caller that knows
    the manifest's MD5s were computed over the very bytes its SHA-256s were, as
    :func:`~wme_assets.snapshots.archive.write_snapshot` computes them (each write goes to both): equal
    SHA-256s mean equal bytes, hence equal MD5s, and an MD5 pass (the slower of the two hashes) would find
    nothing more. A snapshot read from a store, whose manifest could have come from anywhere, is
    checked with both.
    """
    problems = _Problems()
    _check_consistency(manifest, problems)
    local = isinstance(where, str | Path)

    def source(entry: FileEntry, *, teed: bool = True) -> tuple[str, Iterator[bytes] | None]:
        if local:
            path = Path(where) / entry.path  # type: ignore[arg-type]
            if not path.is_file():
                return str(path), None
            sink = tee(entry) if tee is not None and teed else None
            chunks = file_chunks(path, READ_BYTES)
            return str(path), chunks if sink is None else _teed(chunks, sink)
        store = where
        if entry.key is None:
            return entry.path, None
        full_key = store.key(entry.key)  # type: ignore[union-attr]
        if store.head(full_key) is None:  # type: ignore[union-attr]
            return entry.key, None
        return entry.key, store.iter_chunks(full_key)  # type: ignore[union-attr]

    # The archive's members, read line by line. A chunk holds one of them again: when its content has the
    # SHA-256 of a member read here it is that member's bytes, and what the read found stands for the chunk
    # too (lines are not parsed twice); otherwise the chunk is read again line by line.
    scanned: dict[str, _MemberScan] = {}
    label, chunks = source(manifest.archive)
    if chunks is None:
        problems.add(label, "missing")
    else:
        expected = [(member.name, member) for member in manifest.members]
        _scan_tar_gz(chunks, label, manifest.archive, expected, validator, problems, scanned=scanned, md5=md5)

    for chunk in manifest.chunks:
        label, chunks = source(chunk)
        if chunks is None:
            problems.add(label, "missing")
            continue
        if chunk.index >= len(manifest.members):
            continue  # reported by the consistency check
        expected = [(chunk.member, manifest.members[chunk.index])]
        found = _Problems()
        if not _scan_tar_gz(chunks, label, chunk, expected, validator, found, known=scanned, md5=md5):
            found = _Problems()
            label, chunks = source(chunk, teed=False)
            if chunks is None:
                found.add(label, "missing")
            else:
                _scan_tar_gz(chunks, label, chunk, expected, validator, found, md5=md5)
        problems.extend(found)

    if not local:
        _verify_metadata_objects(where, manifest, problems)  # type: ignore[arg-type]
    return list(problems)


def _check_consistency(manifest: SnapshotManifest, problems: _Problems) -> None:
    where = f"manifest of {manifest.identifier}"
    if manifest.schema_version != MANIFEST_SCHEMA_VERSION:
        problems.add(where, f"schema_version {manifest.schema_version} is not {MANIFEST_SCHEMA_VERSION}")
    # An hourly batch is one archive without chunks, as Enterprise's batches are.
    if manifest.kind != "batches" and len(manifest.chunks) != len(manifest.members):
        problems.add(where, f"{len(manifest.chunks)} chunks for {len(manifest.members)} members")
    for position, chunk in enumerate(manifest.chunks):
        if chunk.index != position:
            problems.add(where, f"chunk at position {position} has index {chunk.index}")
    total = sum(member.record_count for member in manifest.members)
    if total != manifest.record_count or total != manifest.archive.record_count:
        problems.add(where, f"members hold {total} records, manifest says {manifest.record_count}")


def _verify_metadata_objects(store: ObjectStore, manifest: SnapshotManifest, problems: _Problems) -> None:
    """The published Enterprise JSON objects: present, as hashed in the manifest, and saying what they should."""
    expected_objects: list[tuple[PublishedFile | None, FileMetadata, str]] = [
        (manifest.archive.metadata, snapshot_metadata(manifest), manifest.archive.path)
    ]
    for chunk in manifest.chunks:
        expected_objects.append((chunk.metadata, chunk_metadata(manifest, chunk), chunk.path))
    for published, expected, path in expected_objects:
        if published is None:
            problems.add(path, "manifest names no published metadata object")
            continue
        key = store.key(published.key)
        if store.head(key) is None:
            problems.add(published.key, "missing")
            continue
        data = store.read_bytes(key)
        if len(data) != published.bytes or hashlib.sha256(data).hexdigest() != published.sha256:
            problems.add(published.key, "differs from the manifest (size or sha256)")
        try:
            actual = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            problems.add(published.key, f"not JSON ({exc})")
            continue
        if actual != expected.to_dict():
            problems.add(published.key, "metadata does not describe the file the manifest lists")


__all__ = [
    "ChunkEntry",
    "Content",
    "FileEntry",
    "MANIFEST_SCHEMA_VERSION",
    "MemberEntry",
    "PublishedFile",
    "Publication",
    "RECORD_SCHEMAS",
    "RecordValidator",
    "SnapshotKind",
    "SnapshotManifest",
    "build_manifest",
    "chunk_metadata",
    "listing_ndjson",
    "record_schema",
    "snapshot_metadata",
    "verify_snapshot_files",
]
