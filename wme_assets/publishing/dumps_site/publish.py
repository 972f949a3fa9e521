"""Publishing a run: verify each source snapshot, copy it to the target, keep ``status.json`` true throughout.

:func:`publish_run` is the entry point; what it guarantees a downloader is in
:mod:`wme_assets.publishing.dumps_site`.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from wme_assets.publishing.dumps_site.status import (
    MD5SUMS_FILE,
    SHA256SUMS_FILE,
    STATUS_FILE,
    DumpsSiteError,
    FileState,
    FileStatus,
    RunState,
    RunStatus,
    SourceMismatchError,
    checked_date,
    dump_file_name,
    dump_file_url,
    parse_status,
    run_directory,
    sums_file,
)
from wme_assets.publishing.dumps_site.targets import DumpsSiteTarget
from wme_assets.snapshots.manifest import RecordValidator, SnapshotManifest
from wme_assets.snapshots.publish import TIER_SUFFIX, Tier, snapshot_key, verify_published
from wme_assets.storage.object_store import ObjectStore

log = logging.getLogger(__name__)

MAX_REASON_PROBLEMS = 5  # enough to diagnose a failed snapshot without bloating status.json
_MANIFEST_NAME = re.compile(
    r"^(?P<identifier>(?P<dbname>[a-z][a-z0-9_]*?)_namespace_(?P<namespace>\d+))(?P<group>_group_1)?\.manifest\.json$"
)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


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
        self.last = parse_status(self.last_bytes, target.describe(self.status_path))

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
    date = checked_date(date)
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
