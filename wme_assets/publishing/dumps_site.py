"""Publishing a day's snapshots as a dumps-site run: Wikimedia's ``other/enterprise_html`` layout, done right.

Wikimedia publishes Enterprise HTML dumps at (reference notes, ``enterprise-formats.md`` §5.3)::

    https://dumps.wikimedia.org/other/enterprise_html/runs/{YYYYMMDD}/{dbname}-NS{ns}-{YYYYMMDD}-ENTERPRISE-HTML.json.tar.gz

and nothing else in that directory: no checksum files and no status, so a downloader cannot tell a finished
file from one still being written (organicmaps' ``download.sh`` HEAD-probes and hopes). :func:`publish_run`
writes the same layout to a target's root (the root a web server serves, or an S3 prefix a mirror syncs),
plus what it lacks::

    other/enterprise_html/runs/{YYYYMMDD}/
        {dbname}-NS{ns}-{YYYYMMDD}-ENTERPRISE-HTML.json.tar.gz   the snapshot archive, byte for byte
        md5sums.txt      "{md5}  {file name}\\n" per done file, sorted by name  (md5sum -c md5sums.txt)
        sha256sums.txt   "{sha256}  {file name}\\n" per done file                (sha256sum -c sha256sums.txt)
        status.json      the run's state, in the spirit of the XML dumps' dumpstatus.json

Each file is the ``snapshots/{date}/{dbname}_namespace_{ns}.tar.gz`` archive of that date
(:mod:`wme_assets.snapshots.publish`; ``tier="free"`` takes the ``_group_1`` copies instead), unchanged: tar
members ``{dbname}_namespace_{ns}_{n}.ndjson`` of Enterprise article records, as in Wikimedia's runs.

``status.json`` (``dumpstatus.json`` has ``jobs{status, updated, files{size, url, md5, sha1}}``, version
"0.8"; a run here has one file per job, so files are listed directly)::

    {"version": "1.0", "run": "20250101", "tier": "paid", "status": "done", "updated": "2025-01-01 03:04:05",
     "files": {
       "enwiki-NS0-20250101-ENTERPRISE-HTML.json.tar.gz": {
         "status": "done", "updated": "2025-01-01 03:04:01",
         "url": "/other/enterprise_html/runs/20250101/enwiki-NS0-20250101-ENTERPRISE-HTML.json.tar.gz",
         "dbname": "enwiki", "namespace": 0, "size": 123456, "md5": "…", "sha256": "…",
         "record_count": 5, "source": "snapshots/20250101/enwiki_namespace_0.manifest.json"},
       "frwiki-NS0-…": {"status": "in-progress", "updated": …, "url": …, "dbname": …, "namespace": 0, "source": …},
       "dewiki-NS0-…": {"status": "failed", …, "reason": "snapshots/…tar.gz: sha256 is …, manifest says …"},
       "enwiki-NS6-…": {"status": "skipped", …, "reason": "the snapshot has no records"}}}

- Run ``status``: ``in-progress`` while :func:`publish_run` is changing anything; ``done`` when every file is
  ``done`` (or ``skipped``); ``failed`` when the run finished but some snapshot failed verification (every
  other file is done and usable; a re-run once the snapshot is fixed publishes it and turns the run ``done``).
- File ``status``: ``done`` (complete at the target and verified; size and checksums given, and listed in
  the sums files), ``in-progress`` (being copied, or waiting to be: no size or checksums, as dumpstatus.json
  gives none before a job ends), ``failed`` (its snapshot failed verification: never copied, ``reason``
  says why), ``skipped`` (a snapshot without records: nothing to download, as Enterprise's listing leaves
  zero-size snapshots out). ``updated`` ("YYYY-MM-DD HH:MM:SS" UTC, dumpstatus.json's format) is when that
  entry last changed, so it does not move on a re-run that changes nothing.
- ``url`` is site-absolute, as in dumpstatus.json. ``source`` names the snapshot manifest (relative to the
  source store's prefix) the file was verified against.

What a downloader may rely on:

- **Done means complete and verified.** Every source snapshot is verified first
  (:func:`~wme_assets.snapshots.publish.verify_published`); one that fails is never copied. Each archive is
  then streamed (ranged GETs, a few MiB in memory) to a temporary name at the target, its bytes hashed on
  the way against the manifest's size, SHA-256 and MD5 (a source that changed after verification is caught
  here, before anything becomes visible), verified where it landed, and only then moved to its final name
  (S3: staged object, verified, server-side copy; local: temporary file in the same directory, fsync,
  re-read, ``os.replace``). Only after that is it marked ``done`` in ``status.json``; ``status.json`` is
  rewritten (atomically) after every file; the sums files, which list only done files, are written at the
  end, and ``status.json`` with the run ``done`` last of all.
- **Interrupted means not done.** A failure half way leaves the file ``in-progress`` (the final name either
  absent or still the previous, verified bytes) and the run ``in-progress``; a re-run redoes the file whole
  (uploads are not resumed mid-file; the snapshot's chunks are the unit for that) and completes the run.
  A file that is about to be replaced is first taken out of the sums files.
- **Nothing changed, nothing written.** A file already at the target with the manifest's size and SHA-256
  (S3: the ``sha256`` metadata ``ObjectStore`` records; local: the file re-hashed) is not copied again, and
  ``status.json`` and the sums files are rewritten only when their bytes would change.

Decisions: a snapshot that fails verification is listed as ``failed`` with its reason rather than left
out, so a mirror knows the run is missing it on purpose (and the run does not look complete). Its file is
not listed as done even when an earlier run published it while it still verified: the status says what the
sources verify to now; the old bytes are left in place (a mirror may be downloading them), outside the sums.
Files of an earlier run whose snapshot is gone from the source (retention) stay listed while the target
still holds their verified bytes. One writer per run directory: concurrent publishes of one date are not
coordinated.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from wme_assets.snapshots.manifest import RecordValidator, SnapshotManifest
from wme_assets.snapshots.publish import TIER_SUFFIX, Tier, snapshot_key, verify_published
from wme_assets.storage.object_store import ObjectStore

log = logging.getLogger(__name__)

RUNS_ROOT = "other/enterprise_html/runs"
STATUS_FILE = "status.json"
MD5SUMS_FILE = "md5sums.txt"
SHA256SUMS_FILE = "sha256sums.txt"
STATUS_VERSION = "1.0"
HASH_BYTES = 1024 * 1024
MAX_REASON_PROBLEMS = 5  # enough to diagnose a failed snapshot without bloating status.json

RunState = Literal["in-progress", "done", "failed"]
FileState = Literal["in-progress", "done", "failed", "skipped"]

_DATE = re.compile(r"^\d{8}$")
_MANIFEST_NAME = re.compile(
    r"^(?P<identifier>(?P<dbname>[a-z][a-z0-9_]*?)_namespace_(?P<namespace>\d+))(?P<group>_group_1)?\.manifest\.json$"
)
_PARTIAL_SUFFIX = ".part"


class DumpsSiteError(RuntimeError):
    """A run could not be published; the run stays ``in-progress`` and a re-run completes it."""


class SourceMismatchError(DumpsSiteError):
    """The bytes read from a snapshot are not what its manifest describes; nothing was published."""


class TargetVerificationError(DumpsSiteError):
    """What landed at the target is not what was sent; the final name was not touched."""


# --- layout ----------------------------------------------------------------------------------------


def _checked_date(date: str) -> str:
    if not isinstance(date, str) or not _DATE.match(date):
        raise ValueError(f"run date must be YYYYMMDD, got {date!r}")
    datetime.strptime(date, "%Y%m%d")  # a real day
    return date


def run_directory(date: str) -> str:
    """``other/enterprise_html/runs/{date}``, relative to the target's root."""
    return f"{RUNS_ROOT}/{_checked_date(date)}"


def dump_file_name(dbname: str, namespace: int, date: str) -> str:
    """``{dbname}-NS{ns}-{date}-ENTERPRISE-HTML.json.tar.gz``, Wikimedia's name for one namespace of one wiki."""
    return f"{dbname}-NS{int(namespace)}-{_checked_date(date)}-ENTERPRISE-HTML.json.tar.gz"


def dump_file_url(date: str, name: str) -> str:
    """The site-absolute URL of a run's file, as dumpstatus.json gives it."""
    return f"/{run_directory(date)}/{name}"


# --- targets ---------------------------------------------------------------------------------------


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
            return _hash_file(self._path(path))[0]
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
            landed_sha256, landed_md5, landed_size = _hash_file(temporary)
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


def _hash_file(path: Path) -> tuple[str, str, int]:
    sha256, md5, size = hashlib.sha256(), hashlib.md5(), 0
    with path.open("rb") as source:
        while block := source.read(HASH_BYTES):
            sha256.update(block)
            md5.update(block)
            size += len(block)
    return sha256.hexdigest(), md5.hexdigest(), size


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- status.json -----------------------------------------------------------------------------------


class FileStatus(BaseModel):
    """One file of a run in ``status.json``; size and checksums only once it is done."""

    model_config = ConfigDict(extra="forbid")

    status: FileState
    updated: str
    url: str
    dbname: str
    namespace: int
    size: int | None = None
    md5: str | None = None
    sha256: str | None = None
    record_count: int | None = None
    source: str | None = None
    reason: str | None = None

    def same_as(self, other: FileStatus | None) -> bool:
        """Equal but for ``updated``."""
        return other is not None and self.model_dump(exclude={"updated"}) == other.model_dump(exclude={"updated"})


class RunStatus(BaseModel):
    """``status.json`` of one run directory."""

    model_config = ConfigDict(extra="forbid")

    version: str = STATUS_VERSION
    run: str
    tier: Tier
    status: RunState
    updated: str
    files: dict[str, FileStatus]

    def to_json(self) -> bytes:
        data = self.model_dump(mode="json", exclude_none=True)
        data["files"] = {name: data["files"][name] for name in sorted(data["files"])}
        return orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n"

    @classmethod
    def from_json(cls, data: bytes | str) -> RunStatus:
        return cls.model_validate_json(data)

    def done_files(self) -> dict[str, FileStatus]:
        return {name: entry for name, entry in sorted(self.files.items()) if entry.status == "done"}


def read_run_status(target: DumpsSiteTarget, date: str) -> RunStatus | None:
    """The run's ``status.json``, or None when there is none (or it is not ours)."""
    path = f"{run_directory(date)}/{STATUS_FILE}"
    return _parse_status(target.read_bytes(path), target.describe(path))


def _parse_status(data: bytes | None, where: str) -> RunStatus | None:
    if data is None:
        return None
    try:
        return RunStatus.from_json(data)
    except ValidationError:
        log.warning("%s is not a run status; publish_run rewrites it", where)
        return None


def sums_file(files: dict[str, FileStatus], algorithm: Literal["md5", "sha256"]) -> bytes:
    """``{hex}  {name}\\n`` for every done file, sorted by name: what ``md5sum -c``/``sha256sum -c`` read."""
    lines = [
        f"{getattr(entry, algorithm)}  {name}\n" for name, entry in sorted(files.items()) if entry.status == "done"
    ]
    return "".join(lines).encode("ascii")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


# --- publishing ------------------------------------------------------------------------------------


@dataclass
class PublishedRun:
    """What :func:`publish_run` did; ``status`` is the run's ``status.json`` as it now stands."""

    date: str
    status: RunStatus
    uploaded: list[str] = field(default_factory=list)  # files copied by this call
    unchanged: list[str] = field(default_factory=list)  # files already at the target (same size and sha256)
    failed: dict[str, str] = field(default_factory=dict)  # file -> why its snapshot was refused
    written: list[str] = field(default_factory=list)  # status.json / sums writes by this call, in order


@dataclass(frozen=True)
class _Source:
    """One snapshot of the run's date and tier in the source store."""

    identifier: str
    dbname: str
    namespace: int
    manifest_key: str  # relative to the source store's prefix
    name: str  # the dumps file name


def _find_sources(store: ObjectStore, date: str, tier: Tier) -> list[_Source]:
    """Every snapshot manifest of ``date`` and ``tier`` under ``snapshots/{date}/``, by dumps file name."""
    listed = store.key("snapshots", date) + "/"
    sources = []
    for info in store.list(listed):
        match = _MANIFEST_NAME.match(info.key[len(listed) :])
        if match is None or bool(match.group("group")) != bool(TIER_SUFFIX[tier]):
            continue
        dbname, namespace = match.group("dbname"), int(match.group("namespace"))
        sources.append(
            _Source(
                identifier=match.group("identifier"),
                dbname=dbname,
                namespace=namespace,
                manifest_key=info.key[len(store.prefix) :],
                name=dump_file_name(dbname, namespace, date),
            )
        )
    return sorted(sources, key=lambda source: source.name)


def _verify_source(
    store: ObjectStore, source: _Source, date: str, tier: Tier, deep: bool, validator: RecordValidator | None
) -> tuple[SnapshotManifest | None, list[str]]:
    problems = verify_published(store, source.manifest_key, deep=deep, validator=validator)
    if problems:
        return None, problems
    manifest = SnapshotManifest.from_json(store.read_bytes(store.key(source.manifest_key)))
    # verify_published checks the files against the manifest; this checks the manifest is the one this run's
    # file name promises (a manifest copied under another name or date would otherwise publish the wrong data).
    expected = {
        "identifier": source.identifier,
        "is_part_of": source.dbname,
        "namespace": source.namespace,
        "published date": date,
        "published tier": tier,
        "archive key": snapshot_key(date, source.identifier, tier),
    }
    actual = {
        "identifier": manifest.identifier,
        "is_part_of": manifest.is_part_of,
        "namespace": manifest.namespace,
        "published date": manifest.published.date if manifest.published else None,
        "published tier": manifest.published.tier if manifest.published else None,
        "archive key": manifest.archive.key,
    }
    problems = [
        f"{source.manifest_key}: {what} is {actual[what]!r}, expected {want!r}"
        for what, want in expected.items()
        if actual[what] != want
    ]
    return (None, problems) if problems else (manifest, [])


def _reason(problems: list[str]) -> str:
    reason = "; ".join(problems[:MAX_REASON_PROBLEMS])
    if len(problems) > MAX_REASON_PROBLEMS:
        reason += f"; and {len(problems) - MAX_REASON_PROBLEMS} more"
    return reason


def _checked_chunks(chunks: Iterable[bytes], *, size: int, sha256: str, md5: str, where: str) -> Iterator[bytes]:
    """Pass ``chunks`` through, raising :class:`SourceMismatchError` before the end if they are not the bytes
    the manifest describes. The target consumes the whole iterator before it makes anything visible, so an
    error raised here, even at the very end, publishes nothing."""
    sha256_digest, md5_digest, seen = hashlib.sha256(), hashlib.md5(), 0
    for chunk in chunks:
        seen += len(chunk)
        if seen > size:
            raise SourceMismatchError(f"{where}: longer than the manifest's {size} bytes")
        sha256_digest.update(chunk)
        md5_digest.update(chunk)
        yield chunk
    if seen != size or sha256_digest.hexdigest() != sha256 or md5_digest.hexdigest() != md5:
        raise SourceMismatchError(
            f"{where}: read {seen} bytes, sha256 {sha256_digest.hexdigest()}, md5 {md5_digest.hexdigest()}; "
            f"the manifest says {size} bytes, sha256 {sha256}, md5 {md5}"
        )


class _RunWriter:
    """Writes a run's status.json and sums files, each only when its bytes change."""

    def __init__(self, target: DumpsSiteTarget, date: str, tier: Tier, clock: Callable[[], str], written: list[str]):
        self.target = target
        self.date = date
        self.tier = tier
        self.clock = clock
        self.written = written
        self.directory = run_directory(date)
        self.status_path = f"{self.directory}/{STATUS_FILE}"
        self.last_bytes = target.read_bytes(self.status_path)
        self.last = _parse_status(self.last_bytes, target.describe(self.status_path))

    def _candidate(self, files: dict[str, FileStatus], state: RunState) -> RunStatus:
        # The run's `updated` is when status.json last changed: keep it unless something else changes.
        updated = self.last.updated if self.last is not None else self.clock()
        return RunStatus(run=self.date, tier=self.tier, status=state, updated=updated, files=dict(files))

    def status_differs(self, files: dict[str, FileStatus], state: RunState) -> bool:
        return self._candidate(files, state).to_json() != self.last_bytes

    def write_status(self, files: dict[str, FileStatus], state: RunState) -> RunStatus:
        candidate = self._candidate(files, state)
        if candidate.to_json() == self.last_bytes:
            assert self.last is not None
            return self.last
        candidate.updated = self.clock()
        data = candidate.to_json()
        self.target.put_bytes(self.status_path, data)
        self.written.append(STATUS_FILE)
        self.last, self.last_bytes = candidate, data
        return candidate

    def sums(self, files: dict[str, FileStatus]) -> dict[str, bytes]:
        return {MD5SUMS_FILE: sums_file(files, "md5"), SHA256SUMS_FILE: sums_file(files, "sha256")}

    def sums_differ(self, files: dict[str, FileStatus]) -> bool:
        return any(
            self.target.read_bytes(f"{self.directory}/{name}") != data for name, data in self.sums(files).items()
        )

    def write_sums(self, files: dict[str, FileStatus], *, only_existing: bool = False) -> None:
        for name, data in self.sums(files).items():
            path = f"{self.directory}/{name}"
            current = self.target.read_bytes(path)
            if current == data or (only_existing and current is None):
                continue
            self.target.put_bytes(path, data)
            self.written.append(name)


def publish_run(
    source_store: ObjectStore,
    target: DumpsSiteTarget,
    *,
    date: str,
    tier: Tier = "paid",
    deep: bool = False,
    validator: RecordValidator | None = None,
    clock: Callable[[], str] = _now,
) -> PublishedRun:
    """Publish every snapshot of ``date`` (and ``tier``) in ``source_store`` as the dumps-site run of that date.

    Sources are the manifests ``snapshots/{date}/{dbname}_namespace_{ns}{sfx}.manifest.json``. Each is verified
    with :func:`~wme_assets.snapshots.publish.verify_published` first: ``deep=False`` (default) checks that every
    object of the snapshot is present with the manifest's size and recorded SHA-256, and the archive's bytes
    are then re-hashed against the manifest as they are copied, so every byte published is checked once;
    ``deep=True`` also reads every archive and chunk record by record (with ``validator``), reading each
    archive one more time. A snapshot that fails is listed ``failed`` and not copied.

    Raises :class:`DumpsSiteError` when there is no snapshot of that date and tier (and no earlier run), and
    lets errors of the target or the network propagate: the run then stays ``in-progress`` with every file
    not yet copied ``in-progress``, and calling this again completes it. ``clock`` gives the ``updated``
    times ("YYYY-MM-DD HH:MM:SS" UTC).
    """
    date = _checked_date(date)
    if tier not in TIER_SUFFIX:
        raise ValueError(f"tier must be 'paid' or 'free', got {tier!r}")
    uploaded: list[str] = []
    unchanged: list[str] = []
    failed: dict[str, str] = {}
    written: list[str] = []
    writer = _RunWriter(target, date, tier, clock, written)
    previous = writer.last
    if previous is not None and previous.tier != tier:
        raise DumpsSiteError(
            f"{target.describe(writer.status_path)} is a run of the {previous.tier} tier, not {tier}: "
            "one run directory holds one tier"
        )
    sources = _find_sources(source_store, date, tier)
    if not sources and previous is None:
        raise DumpsSiteError(
            f"no {tier} snapshot of {date} in {source_store.uri(source_store.key('snapshots', date))}/: "
            "publish the snapshots first"
        )
    removed = target.discard_partial(writer.directory)
    if removed:
        log.info("removed %d partial file(s) a killed run left in %s", removed, target.describe(writer.directory))

    def entry(source: _Source, state: FileState, **fields: object) -> FileStatus:
        new = FileStatus(
            status=state,
            updated="",
            url=dump_file_url(date, source.name),
            dbname=source.dbname,
            namespace=source.namespace,
            source=source.manifest_key,
            **fields,  # type: ignore[arg-type]
        )
        old = previous.files.get(source.name) if previous else None
        new.updated = old.updated if old is not None and new.same_as(old) else clock()
        return new

    # 1. Verify every source before anything is copied, and see what the target already holds.
    files: dict[str, FileStatus] = {}
    to_copy: list[tuple[_Source, SnapshotManifest, FileStatus]] = []
    for source in sources:
        manifest, problems = _verify_source(source_store, source, date, tier, deep, validator)
        if manifest is None:
            reason = _reason(problems)
            log.warning("not publishing %s: its snapshot does not verify: %s", source.name, reason)
            files[source.name] = entry(source, "failed", reason=reason)
            failed[source.name] = reason
            continue
        if manifest.record_count == 0:
            files[source.name] = entry(source, "skipped", reason="the snapshot has no records")
            continue
        archive = manifest.archive
        done = entry(
            source,
            "done",
            size=archive.bytes,
            md5=archive.md5,
            sha256=archive.sha256,
            record_count=manifest.record_count,
        )
        path = f"{writer.directory}/{source.name}"
        if target.size(path) == archive.bytes and target.sha256(path) == archive.sha256:
            files[source.name] = done
            unchanged.append(source.name)
        else:
            files[source.name] = entry(source, "in-progress")
            to_copy.append((source, manifest, done))

    # Files of an earlier run whose snapshot has left the source (retention) stay while their bytes do.
    for name, old in previous.files.items() if previous else ():
        if name in files or old.status != "done":
            continue
        path = f"{writer.directory}/{name}"
        if target.size(path) == old.size and target.sha256(path) == old.sha256:
            files[name] = old

    final_state: RunState = "failed" if any(f.status == "failed" for f in files.values()) else "done"
    if not to_copy and not writer.status_differs(files, final_state) and not writer.sums_differ(files):
        # Nothing to do, so nothing is written (status.json's bytes equal the candidate's, so it parsed).
        assert writer.last is not None
        return PublishedRun(date, writer.last, uploaded, unchanged, failed, written)

    # 2. Announce the run in progress, and take out of the sums any file that is not done (about to be
    #    replaced, or refused): the sums never vouch for bytes that may change.
    writer.write_status(files, "in-progress")
    writer.write_sums(files, only_existing=True)

    # 3. Copy, verify, and mark each file done as soon as it is.
    for source, manifest, done in to_copy:
        path = f"{writer.directory}/{source.name}"
        archive = manifest.archive
        assert archive.key is not None
        chunks = _checked_chunks(
            source_store.iter_chunks(source_store.key(archive.key)),
            size=archive.bytes,
            sha256=archive.sha256,
            md5=archive.md5,
            where=source_store.uri(source_store.key(archive.key)),
        )
        try:
            target.put_stream(path, chunks, size=archive.bytes, sha256=archive.sha256, md5=archive.md5)
        except SourceMismatchError as exc:
            # The archive changed after it verified: refuse it like any snapshot that fails verification.
            log.warning("not publishing %s: %s", source.name, exc)
            files[source.name] = entry(source, "failed", reason=str(exc))
            failed[source.name] = str(exc)
        else:
            done.updated = clock()
            files[source.name] = done
            uploaded.append(source.name)
        writer.write_status(files, "in-progress")

    # 4. Sums of the done files, then the run's final state last: "done" means everything above is in place.
    final_state = "failed" if any(f.status == "failed" for f in files.values()) else "done"
    writer.write_sums(files)
    status = writer.write_status(files, final_state)
    return PublishedRun(date, status, uploaded, unchanged, failed, written)


__all__ = [
    "MD5SUMS_FILE",
    "RUNS_ROOT",
    "SHA256SUMS_FILE",
    "STATUS_FILE",
    "DumpsSiteError",
    "DumpsSiteTarget",
    "FileStatus",
    "LocalDirTarget",
    "PublishedRun",
    "RunStatus",
    "S3Target",
    "SourceMismatchError",
    "TargetVerificationError",
    "dump_file_name",
    "dump_file_url",
    "publish_run",
    "read_run_status",
    "run_directory",
    "sums_file",
]
