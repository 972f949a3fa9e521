"""Reading a published snapshot back, record by record, re-verifying every byte on the way.

What builds further products from a snapshot (Parquet shards, the Hugging Face dataset) reads the snapshot as
published, never the article store behind it, and never a snapshot that does not verify. Two steps:

1. :func:`open_snapshot` finds the manifest (``{snapshots}/{date}/{id}{sfx}.manifest.json``, see
   :mod:`wme_assets.snapshots.publish`) and refuses it unless it was published (a ``published`` section) under
   the very date, tier, kind and identifier its key names, with the archive key that layout gives; unless a
   ``latest`` pointer exists for it (publishing completed at least once) and, when that pointer names the same
   date, names these very manifest bytes and archive; and unless every object it lists is in the store with
   the manifest's size and SHA-256 (:func:`~wme_assets.snapshots.publish.verify_published`, without reading the
   contents). Raises :class:`SnapshotNotFoundError` when there is no manifest, :class:`SnapshotRefusedError`
   otherwise.
2. :func:`iter_snapshot_records` streams the archive object (ranged GETs, ``ObjectStore.iter_chunks``),
   hashing it (size, SHA-256, MD5) as it is read, un-gzips and un-tars it as a stream and yields
   ``(page_id, line)`` for every NDJSON line (the line without its newline), member after member, in page id
   order. Each member is checked against the manifest when it ends (name, bytes, SHA-256, MD5, records,
   first/last page id) and the archive when the stream ends (every member there, bytes, SHA-256, MD5,
   records); a line that is not a record, or a page id out of order, stops the stream at once. Anything that
   differs raises :class:`SnapshotMismatchError` naming the object (``s3://bucket/key``).

So **a caller must not publish anything built from the records until the iterator is exhausted without
error**: the last check runs after the last record was yielded. Memory stays at one read chunk and one line.
"""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from isal import igzip, isal_zlib
from pydantic import ValidationError

from wme_assets.snapshots.manifest import MemberEntry, SnapshotManifest
from wme_assets.snapshots.publish import (
    LAYOUTS,
    TIER_SUFFIX,
    read_latest,
    snapshot_key,
    verify_published,
)
from wme_assets.storage.object_store import ObjectStore
from wme_assets.util.digests import READ_BYTES, DigestReader

CHUNK_BYTES = 8 * READ_BYTES  # one ranged GET: what a dropped connection costs

_TOPS = {kind_layout.snapshots: kind for kind, kind_layout in LAYOUTS.items()}
_MANIFEST_KEY = re.compile(
    r"^(?P<top>" + "|".join(map(re.escape, _TOPS)) + r")/(?P<date>\d{8})/"
    r"(?P<identifier>[^/]+?)(?P<group>" + re.escape(TIER_SUFFIX["free"]) + r")?\.manifest\.json$"
)


class SnapshotSourceError(RuntimeError):
    """A published snapshot cannot be used as a source."""


class SnapshotNotFoundError(SnapshotSourceError):
    """No manifest at the snapshot's key: it was never published (or retention removed it)."""


class SnapshotRefusedError(SnapshotSourceError):
    """The manifest or the objects it lists are not those of a complete, published snapshot."""

    def __init__(self, message: str, problems: list[str]):
        super().__init__(message + ":\n  " + "\n  ".join(problems))
        self.problems = problems


class SnapshotMismatchError(SnapshotSourceError):
    """The archive's bytes, as read, are not those the manifest describes."""


@dataclass(frozen=True)
class SnapshotSource:
    """A published snapshot that passed :func:`open_snapshot`'s checks, ready to stream."""

    manifest_key: str  # relative to the store's prefix
    manifest_sha256: str  # of the manifest's bytes as read
    manifest_bytes: int
    manifest: SnapshotManifest

    @property
    def identifier(self) -> str:
        return self.manifest.identifier

    @property
    def kind(self) -> str:
        return self.manifest.kind

    @property
    def tier(self) -> str:
        assert self.manifest.published is not None
        return self.manifest.published.tier

    @property
    def date(self) -> str:
        assert self.manifest.published is not None
        return self.manifest.published.date

    @property
    def archive_key(self) -> str:
        assert self.manifest.archive.key is not None
        return self.manifest.archive.key

    @property
    def archive_sha256(self) -> str:
        return self.manifest.archive.sha256

    @property
    def record_count(self) -> int:
        return self.manifest.record_count


def parse_manifest_key(manifest_key: str) -> tuple[str, str, str, str]:
    """``(kind, date, identifier, tier)`` of a snapshot manifest key (relative to the store's prefix)."""
    match = _MANIFEST_KEY.match(manifest_key)
    if match is None:
        raise ValueError(
            f"{manifest_key!r} is not a snapshot manifest key ({{snapshots}}/{{YYYYMMDD}}/{{id}}{{sfx}}.manifest.json)"
        )
    tier = "free" if match.group("group") else "paid"
    return _TOPS[match.group("top")], match.group("date"), match.group("identifier"), tier


def open_snapshot(
    store: ObjectStore,
    manifest_key: str | None = None,
    *,
    identifier: str | None = None,
    date: str | None = None,
    tier: str = "paid",
    kind: str = "articles",
) -> SnapshotSource:
    """Check a published snapshot before anything reads it (module docstring, step 1).

    Give its ``manifest_key`` (relative to the store's prefix), or ``identifier``, ``date``, ``tier`` and
    ``kind``. Raises :class:`SnapshotNotFoundError` when the manifest is missing, :class:`SnapshotRefusedError`
    with every problem found when it cannot be used.
    """
    if manifest_key is None:
        if identifier is None or date is None:
            raise ValueError("give a manifest key, or an identifier and a date")
        manifest_key = snapshot_key(date, identifier, tier, "manifest", kind=kind)
    kind, date, identifier, tier = parse_manifest_key(manifest_key)
    full_key = store.key(manifest_key)
    where = store.uri(full_key)
    if store.head(full_key) is None:
        raise SnapshotNotFoundError(f"{where}: no such snapshot manifest ({kind}, {tier} tier, {date})")
    data = store.read_bytes(full_key)
    sha256 = hashlib.sha256(data).hexdigest()
    try:
        manifest = SnapshotManifest.from_json(data)
    except ValidationError as exc:
        problem = f"not a snapshot manifest ({exc.error_count()} errors)"
        raise SnapshotRefusedError(f"{where} is refused", [problem]) from None
    problems = _manifest_problems(manifest, kind=kind, date=date, identifier=identifier, tier=tier)
    if manifest.published is not None:
        problems += _pointer_problems(store, manifest, data, sha256, kind=kind, date=date, tier=tier)
        # Every object of the snapshot present with the manifest's size and SHA-256 (no contents read: the
        # archive is re-hashed as it is streamed, see iter_snapshot_records).
        problems += [p for p in verify_published(store, manifest_key, deep=False) if p not in problems]
    if problems:
        raise SnapshotRefusedError(f"{where} is refused", problems)
    return SnapshotSource(
        manifest_key=manifest_key, manifest_sha256=sha256, manifest_bytes=len(data), manifest=manifest
    )


def _manifest_problems(manifest: SnapshotManifest, *, kind: str, date: str, identifier: str, tier: str) -> list[str]:
    if manifest.published is None:
        return ["the manifest was never published (no 'published' section)"]
    expected = {
        "identifier": identifier,
        "kind": kind,
        "published date": date,
        "published tier": tier,
        "archive key": snapshot_key(date, identifier, tier, kind=kind),
    }
    actual = {
        "identifier": manifest.identifier,
        "kind": manifest.kind,
        "published date": manifest.published.date,
        "published tier": manifest.published.tier,
        "archive key": manifest.archive.key,
    }
    return [
        f"its {what} is {actual[what]!r}, its key says {want!r}"
        for what, want in expected.items()
        if actual[what] != want
    ]


def _pointer_problems(
    store: ObjectStore, manifest: SnapshotManifest, data: bytes, sha256: str, *, kind: str, date: str, tier: str
) -> list[str]:
    pointer = read_latest(store, manifest.identifier, tier, kind=kind)
    if pointer is None:
        # publish_snapshot writes the pointer last, after re-checking the store: no pointer, no complete publish.
        return [f"no latest pointer for {manifest.identifier} ({kind}, {tier} tier): publishing never completed"]
    if pointer.date != date:
        return []  # a later (or backfilled) snapshot is current; this one is checked on its own
    problems = []
    if (pointer.manifest.sha256, pointer.manifest.bytes) != (sha256, len(data)):
        problems.append(
            f"latest names manifest bytes {pointer.manifest.bytes} with sha256 {pointer.manifest.sha256}, "
            f"the manifest is {len(data)} bytes with sha256 {sha256}"
        )
    archive, named = manifest.archive, pointer.archive
    if (named.key, named.sha256, named.bytes) != (archive.key, archive.sha256, archive.bytes):
        problems.append(
            f"latest names archive {pointer.archive.key} ({pointer.archive.bytes} bytes, sha256 "
            f"{pointer.archive.sha256}), the manifest {archive.key} ({archive.bytes} bytes, sha256 {archive.sha256})"
        )
    if pointer.record_count != manifest.record_count:
        problems.append(f"latest says {pointer.record_count} records, the manifest {manifest.record_count}")
    return problems


# --- streaming -------------------------------------------------------------------------------------


class _FetchError(Exception):
    """Reading the object failed (network, store): re-raised as it was, not reported as a mismatch."""

    def __init__(self, original: BaseException):
        super().__init__(str(original))
        self.original = original


def _fetched(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """``chunks``, with a failure to fetch them marked as such (so it is not mistaken for a mismatch)."""
    try:
        yield from chunks
    except Exception as exc:
        raise _FetchError(exc) from exc


@dataclass
class _Tally:
    bytes: int = 0
    record_count: int = 0
    first_page_id: int | None = None
    last_page_id: int | None = None

    def __post_init__(self) -> None:
        self.sha256 = hashlib.sha256()
        self.md5 = hashlib.md5()

    def stats(self) -> dict[str, Any]:
        return {
            "bytes": self.bytes,
            "sha256": self.sha256.hexdigest(),
            "md5": self.md5.hexdigest(),
            "record_count": self.record_count,
            "first_page_id": self.first_page_id,
            "last_page_id": self.last_page_id,
        }


def _differences(expected: dict[str, Any], actual: dict[str, Any]) -> str:
    return "; ".join(
        f"{field} is {actual[field]}, the manifest says {want}"
        for field, want in expected.items()
        if actual[field] != want
    )


def _page_id(line: bytes, where: str, number: int) -> int:
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise SnapshotMismatchError(f"{where} line {number}: not JSON ({exc})") from None
    page_id = record.get("identifier") if isinstance(record, dict) else None
    if not isinstance(page_id, int) or isinstance(page_id, bool):
        raise SnapshotMismatchError(f"{where} line {number}: the record has no integer 'identifier'")
    return page_id


def iter_snapshot_records(
    store: ObjectStore,
    source: SnapshotSource | str | None = None,
    *,
    identifier: str | None = None,
    date: str | None = None,
    tier: str = "paid",
    kind: str = "articles",
    chunk_bytes: int = CHUNK_BYTES,
) -> Iterator[tuple[int, bytes]]:
    """``(page_id, line)`` of every record of a published snapshot, re-verified as it streams (module docstring).

    ``source``: a :class:`SnapshotSource` from :func:`open_snapshot`, or a manifest key; else ``identifier``,
    ``date``, ``tier`` and ``kind`` name the snapshot (a generator: :func:`open_snapshot`'s errors come with
    the first record asked for). ``line`` is the JSON record without its newline. Raises
    :class:`SnapshotMismatchError` naming the object as soon as anything read differs from the manifest, at
    the latest after the last record: use nothing built from the records before the iterator is exhausted.
    """
    if not isinstance(source, SnapshotSource):
        source = open_snapshot(store, source, identifier=identifier, date=date, tier=tier, kind=kind)
    manifest = source.manifest
    archive = manifest.archive
    full_key = store.key(source.archive_key)
    where = store.uri(full_key)
    members = manifest.members
    reader = DigestReader(_fetched(store.iter_chunks(full_key, chunk_bytes)))
    total = _Tally()
    seen = 0
    try:
        with igzip.GzipFile(fileobj=io.BufferedReader(reader, READ_BYTES), mode="rb") as gz:
            with tarfile.open(fileobj=gz, mode="r|") as tar:
                for info in tar:
                    label = f"{where} member {info.name}"
                    if seen >= len(members):
                        raise SnapshotMismatchError(f"{label}: not in the manifest ({len(members)} members)")
                    expected: MemberEntry = members[seen]
                    seen += 1
                    if info.name != expected.name:
                        raise SnapshotMismatchError(
                            f"{label}: member {seen - 1} is named {info.name}, the manifest says {expected.name}"
                        )
                    fileobj = tar.extractfile(info) if info.isfile() else None
                    if fileobj is None:
                        raise SnapshotMismatchError(f"{label}: not a regular file")
                    tally = _Tally()
                    for number, line in enumerate(fileobj, 1):
                        tally.sha256.update(line)
                        tally.md5.update(line)
                        tally.bytes += len(line)
                        if not line.endswith(b"\n"):
                            raise SnapshotMismatchError(f"{label} line {number}: does not end with a newline")
                        page_id = _page_id(line, label, number)
                        if total.last_page_id is not None and page_id <= total.last_page_id:
                            raise SnapshotMismatchError(
                                f"{label} line {number}: page id {page_id} is not after {total.last_page_id}"
                            )
                        for tallied in (tally, total):
                            tallied.record_count += 1
                            tallied.last_page_id = page_id
                            if tallied.first_page_id is None:
                                tallied.first_page_id = page_id
                        yield page_id, line[:-1]
                    wrong = _differences(expected.model_dump(exclude={"index", "name"}), tally.stats())
                    if wrong:
                        raise SnapshotMismatchError(f"{label}: {wrong}")
            while gz.read(READ_BYTES):  # the rest of the gzip stream: its CRC32 and length are checked at the end
                pass
        reader.drain()
    except _FetchError as exc:
        raise exc.original from None
    except (tarfile.TarError, OSError, EOFError, ValueError, zlib.error, isal_zlib.error) as exc:
        raise SnapshotMismatchError(f"{where}: cannot read as tar.gz ({exc.__class__.__name__}: {exc})") from exc
    if seen < len(members):
        missing = ", ".join(member.name for member in members[seen:])
        raise SnapshotMismatchError(f"{where}: members missing: {missing}")
    actual = {
        "bytes": reader.bytes,
        "sha256": reader.sha256.hexdigest(),
        "md5": reader.md5.hexdigest(),
        "record_count": total.record_count,
        "first_page_id": total.first_page_id,
        "last_page_id": total.last_page_id,
    }
    wrong = _differences(archive.model_dump(include=set(actual)), actual)
    if not wrong and manifest.record_count != total.record_count:
        wrong = f"record_count is {total.record_count}, the manifest says {manifest.record_count}"
    if wrong:
        raise SnapshotMismatchError(f"{where}: {wrong}")


__all__ = [
    "SnapshotMismatchError",
    "SnapshotNotFoundError",
    "SnapshotRefusedError",
    "SnapshotSource",
    "SnapshotSourceError",
    "iter_snapshot_records",
    "open_snapshot",
    "parse_manifest_key",
]
