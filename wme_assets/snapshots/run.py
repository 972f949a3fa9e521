"""One project's snapshots for one day: the article store as it stood that day, per namespace, published.

Two kinds (:data:`~wme_assets.snapshots.manifest.SnapshotKind`), read from the same state of the article store:

- ``articles`` (:func:`export_snapshots`): for each exported namespace the ``article`` column;
- ``structured`` (:func:`export_structured_snapshot`): Enterprise's Structured Contents snapshot, from the
  ``structured`` column of namespace 0 (the only namespace that has Structured Contents); articles without
  Structured Contents are not in it.

Either way the records stream out of the store in page-id order into the Enterprise archive and chunks
(:mod:`wme_assets.snapshots.archive`); every line is read back and validated against its kind's JSON Schema
while the same read sends the files to the run's staging (:mod:`wme_assets.snapshots.staging`), and only when
every line and every staged object verifies are they copied to the day's dated paths of their kind, the
manifest last, before the ``latest`` pointer moves (:mod:`wme_assets.snapshots.publish`). The kind's listing is
rebuilt once at the end.

A run is one partition (project, date, tier, kind): it first removes what an earlier run of it left (staging,
orphans at its dated keys, :func:`~wme_assets.snapshots.sweep.remove_leftovers`) and deletes its own staging
at the end, published or not; :attr:`ExportResult.cleanup` counts both. Nothing here is random or
clock-dependent apart from Enterprise's ``date_modified``, so a re-run for the same day gives byte-identical
archives.

Which state is exported: by default :func:`~wme_assets.storage.article_store.state_as_of` the day, read here.
A caller that keeps the store current (the snapshot assets, which first apply the pending change events)
passes a :class:`PinnedState` instead: the state it read together with the cut point of the change stream,
its delta files already in a local cache. This stage knows nothing of change events: it exports that state
and records the cut point in each manifest.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from wme_assets.schema.manifest import CutPoint
from wme_assets.schema.validate import record_validator
from wme_assets.snapshots.archive import write_snapshot
from wme_assets.snapshots.manifest import (
    RecordValidator,
    SnapshotKind,
    record_schema,
    verify_snapshot_files,
)
from wme_assets.snapshots.publish import (
    PublishedSnapshot,
    Tier,
    apply_retention,
    finish_publication,
    plan_publication,
    read_latest,
    rebuild_snapshots_listing,
)
from wme_assets.snapshots.staging import Cleanup, SnapshotStaging
from wme_assets.snapshots.sweep import remove_leftovers
from wme_assets.storage.article_store import (
    CurrentState,
    iter_current_articles,
    iter_current_batches,
    state_as_of,
)
from wme_assets.storage.object_store import ObjectStore
from wme_assets.util.progress import Progress

EXPORTED_NAMESPACES = (0, 6, 10, 14)
STRUCTURED_NAMESPACE = 0  # Structured Contents exist for articles (namespace 0) only
STRUCTURED_TIER: Tier = "paid"  # Enterprise sells Structured Contents snapshots to paid customers only
DEFAULT_MEMBER_BYTES = 100_000_000  # Enterprise's member size: 100 MB of NDJSON


@dataclass(frozen=True)
class PinnedState:
    """A state of the article store read by the caller, what the export reads instead of the day's state.

    ``cache_dir`` already holds (at least) the state's delta files, verified: the export reads them from there,
    so a delta republished in place afterwards cannot change what it reads. ``cut_point`` is where the change
    stream stood when ``state`` was read (None: no change was ever applied), recorded in every manifest.
    """

    state: CurrentState
    cache_dir: Path
    cut_point: CutPoint | None = None


@dataclass
class NamespaceExport:
    namespace: int
    identifier: str
    published: PublishedSnapshot | None  # None when the written files failed verification (not published)
    records: int
    chunks: int
    archive_bytes: int
    previous_bytes: int | None  # the archive of the snapshot `latest` pointed to before
    problems: list[str] = field(default_factory=list)


@dataclass
class ExportResult:
    project: str
    date: str
    tier: str
    base: str
    deltas: tuple[str, ...]
    namespaces: list[NamespaceExport] = field(default_factory=list)
    expected_records: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0
    kind: SnapshotKind = "articles"
    validate_every: int = 1  # every how many lines were schema-validated
    cleanup: Cleanup = field(default_factory=Cleanup)  # staging and orphans removed, earlier runs' and its own
    cut_point: CutPoint | None = None  # where the change stream stood for the exported state

    @property
    def records(self) -> int:
        return sum(n.records for n in self.namespaces)

    @property
    def archive_bytes(self) -> int:
        return sum(n.archive_bytes for n in self.namespaces)


def expected_article_counts(state: CurrentState) -> dict[int, int] | None:
    """Articles per namespace the article store holds for ``state`` (None when deltas make it unknown)."""
    if state.deltas:
        return None
    counts = state.base_manifest.get("rows_per_namespace")
    return {int(ns): n for ns, n in counts.items()} if counts is not None else None


def sampled(validate: RecordValidator, every: int) -> RecordValidator:
    """``validate`` applied to every ``every``-th record it is called with (1: all of them)."""
    counter = {"n": 0}

    def validator(record: dict) -> None:
        counter["n"] += 1
        if counter["n"] % every == 0:
            validate(record)

    return validator


_LINE_TYPE = pa.large_binary()  # the ``structured`` column is a large_string


@dataclass
class StructuredCount:
    """Rows of the store that carry Structured Contents, counted from the Arrow batches as they are read."""

    rows: int = 0


def iter_current_structured(
    store: ObjectStore,
    project: str,
    *,
    cache_dir: Path,
    state: CurrentState,
    namespace: int = STRUCTURED_NAMESPACE,
    count: StructuredCount | None = None,
) -> Iterator[tuple[int, bytes]]:
    """``(page_id, Structured Contents JSON line)`` of every current article that has them, in page id order.

    ``count``, when given, is advanced by the non-null ``structured`` values of each batch, counted by Arrow
    before any conversion: the store's side of the record-count check, apart from what the archive holds.
    """
    batches = iter_current_batches(
        store, project, cache_dir=cache_dir, namespace=namespace, columns=["page_id", "structured"], state=state
    )
    for batch in batches:
        ids, texts = batch.column(0), batch.column(1)
        if count is not None:
            count.rows += batch.num_rows - texts.null_count
        # The column's UTF-8 bytes as they are (a string → binary cast copies nothing): no decoding into str
        # to encode it back.
        for page_id, line in zip(ids.to_pylist(), texts.cast(_LINE_TYPE).to_pylist(), strict=True):
            if line is not None:
                yield page_id, line


@dataclass
class _ExportOptions:
    """What every snapshot of one export run shares: where it goes, what it is, how it is checked."""

    store: ObjectStore
    project: str
    date: str
    dump_date: str  # the article base the snapshot is read from
    tier: Tier
    kind: SnapshotKind
    max_member_bytes: int
    validate_every: int
    keep: int | None
    log: Callable[[str], None]
    cut_point: CutPoint | None = None
    validator: RecordValidator = field(init=False)

    def __post_init__(self) -> None:
        self.validator = sampled(record_validator(record_schema(self.kind)), self.validate_every)


def _export_namespace(
    options: _ExportOptions, records: Iterable[tuple[int, bytes]], out_dir: Path, namespace: int
) -> tuple[NamespaceExport, Cleanup]:
    """Write one snapshot; read every line back and validate it while staging the files; publish (and apply
    retention). Returns the export and what was cleaned up on the way (this snapshot's staging)."""
    store, date, tier, kind, keep, log = (
        options.store, options.date, options.tier, options.kind, options.keep, options.log
    )
    files = write_snapshot(
        records,
        out_dir,
        dbname=options.project,
        namespace=namespace,
        max_member_bytes=options.max_member_bytes,
        dump_date=options.dump_date,
    )
    previous = read_latest(store, files.identifier, tier, kind=kind)
    published = None
    label = files.identifier if kind == "articles" else f"{files.identifier} ({kind})"
    with SnapshotStaging(store, kind, date, options.project, tier) as staging:
        plan = plan_publication(store, files, date=date, tier=tier, kind=kind, cut_point=options.cut_point)
        # Every line parsed and schema-validated, counts, hashes and page-id order checked, with the files
        # going to staging on the same read; a snapshot with problems is not published (its staging is
        # deleted) and the asset checks report them. finish_publication then checks every staged object.
        # SHA-256s only: write_snapshot hashed the same bytes with MD5 as with SHA-256 (verify_snapshot_files).
        problems = verify_snapshot_files(
            out_dir, plan.manifest, validator=options.validator, tee=plan.tee(staging), md5=False
        )
        if problems:
            log(f"{label}: not published, {len(problems)} problems: {problems[:3]}")
        else:
            published = finish_publication(staging, plan, update_listing=False)
    cleanup = Cleanup(staging=staging.removed) + (published.cleanup if published else Cleanup())
    if published and keep:
        removed = apply_retention(store, files.identifier, keep=keep, tier=tier, kind=kind)
        if removed:
            log(f"{label}: retention removed the snapshots of {', '.join(removed)}")
    archive_bytes = files.archive.bytes if files.archive else 0
    noun = "articles" if kind == "articles" else "Structured Contents"
    log(f"{label}: {files.record_count} {noun}, {len(files.chunks)} chunks, {archive_bytes / 1e6:.2f} MB")
    export = NamespaceExport(
        namespace=namespace,
        identifier=files.identifier,
        published=published,
        records=files.record_count,
        chunks=len(files.chunks),
        archive_bytes=archive_bytes,
        previous_bytes=previous.archive.bytes if previous and previous.date != date else None,
        problems=problems,
    )
    return export, cleanup


def _state_to_export(
    store: ObjectStore, project: str, date: str, pinned: PinnedState | None
) -> tuple[CurrentState, CutPoint | None]:
    if pinned is None:
        return state_as_of(store, project, date), None
    return pinned.state, pinned.cut_point


def _cache_dir(pinned: PinnedState | None, tmp: str) -> Path:
    """Where the store's files are read from: the pinned state's cache, else the run's own temporary one."""
    return pinned.cache_dir if pinned is not None else Path(tmp) / "cache"


def _log_cut_point(log: Callable[[str], None], project: str, date: str, cut_point: CutPoint | None) -> None:
    if cut_point is not None:
        log(f"{project} {date}: the state at the cut point {cut_point.describe()}")


def _begin(options: _ExportOptions, result: ExportResult) -> None:
    """What a run of the partition does first: remove what an earlier run of it left."""
    result.cleanup = remove_leftovers(
        options.store, date=options.date, project=options.project, tier=options.tier, kind=options.kind
    )
    if result.cleanup.leftover_staging or result.cleanup.orphans:
        options.log(
            f"{options.project} {options.date}: removed {result.cleanup.leftover_staging} staging objects and "
            f"{result.cleanup.orphans} orphans an earlier run left"
        )


def _end(options: _ExportOptions, result: ExportResult) -> None:
    """The kind's listing, staged in the partition's staging like everything else of the run."""
    with SnapshotStaging(options.store, options.kind, options.date, options.project, options.tier) as staging:
        rebuild_snapshots_listing(options.store, options.tier, kind=options.kind, staging=staging)
    result.cleanup += Cleanup(staging=staging.removed)


def export_snapshots(
    store: ObjectStore,
    project: str,
    date: str,
    *,
    tier: Tier = "paid",
    namespaces: tuple[int, ...] = EXPORTED_NAMESPACES,
    max_member_bytes: int = DEFAULT_MEMBER_BYTES,
    validate_every: int = 1,
    keep: int | None = None,
    work_dir: Path | None = None,
    pinned: PinnedState | None = None,
    log: Callable[[str], None] = print,
) -> ExportResult:
    """Export and publish the article snapshots of ``project`` for ``date`` (YYYYMMDD) in ``tier``.

    Every written archive is re-read from the local files and each ``validate_every``-th record validated
    against the article schema (1: all of them) before anything is published. With ``keep``, only the newest
    ``keep`` dated snapshots of each identifier remain afterwards (never the one ``latest`` points to).
    ``pinned``: the state to export (module docstring); default the state as of the end of ``date``.
    """
    started = time.monotonic()
    state, cut_point = _state_to_export(store, project, date, pinned)
    result = ExportResult(
        project, date, tier, state.base, state.deltas, validate_every=validate_every, cut_point=cut_point
    )
    log(f"{project} {date}: articles of base {state.base}" + (f" + {len(state.deltas)} deltas" if state.deltas else ""))
    _log_cut_point(log, project, date, cut_point)
    options = _ExportOptions(
        store, project, date, state.base, tier, "articles", max_member_bytes, validate_every, keep, log, cut_point
    )
    result.expected_records = expected_article_counts(state) or {}
    _begin(options, result)
    with tempfile.TemporaryDirectory(prefix=f"wme-export-{project}-{date}-", dir=work_dir) as tmp:
        for namespace in namespaces:
            records = iter_current_articles(
                store, project, cache_dir=_cache_dir(pinned, tmp), namespace=namespace, state=state
            )
            progress = Progress(
                f"exporting {project}_namespace_{namespace}",
                result.expected_records.get(namespace),
                log,
                unit="articles",
            )
            records = progress.wrap(records)
            exported, cleanup = _export_namespace(options, records, Path(tmp) / f"ns{namespace}", namespace)
            result.namespaces.append(exported)
            result.cleanup += cleanup
    _end(options, result)
    result.seconds = time.monotonic() - started
    return result


def export_structured_snapshot(
    store: ObjectStore,
    project: str,
    date: str,
    *,
    max_member_bytes: int = DEFAULT_MEMBER_BYTES,
    validate_every: int = 1,
    keep: int | None = None,
    work_dir: Path | None = None,
    pinned: PinnedState | None = None,
    log: Callable[[str], None] = print,
) -> ExportResult:
    """Export and publish the Structured Contents snapshot of ``project`` for ``date`` (YYYYMMDD), paid tier.

    The same state of the article store as :func:`export_snapshots` of that day (or ``pinned``); the records of
    namespace 0 that have Structured Contents, each ``validate_every``-th line (1: all) validated against the
    Structured Contents schema before anything is published. ``expected_records`` is the store's count of those
    records.
    """
    started = time.monotonic()
    state, cut_point = _state_to_export(store, project, date, pinned)
    result = ExportResult(
        project, date, STRUCTURED_TIER, state.base, state.deltas, kind="structured", validate_every=validate_every,
        cut_point=cut_point,
    )  # fmt: skip
    log(
        f"{project} {date}: Structured Contents of base {state.base}"
        + (f" + {len(state.deltas)} deltas" if state.deltas else "")
    )
    _log_cut_point(log, project, date, cut_point)
    options = _ExportOptions(
        store, project, date, state.base, STRUCTURED_TIER, "structured", max_member_bytes, validate_every, keep, log,
        cut_point,
    )  # fmt: skip
    count = StructuredCount()
    _begin(options, result)
    with tempfile.TemporaryDirectory(prefix=f"wme-export-structured-{project}-{date}-", dir=work_dir) as tmp:
        records = iter_current_structured(store, project, cache_dir=_cache_dir(pinned, tmp), state=state, count=count)
        records = Progress(f"exporting {project} Structured Contents", None, log, unit="records").wrap(records)
        exported, cleanup = _export_namespace(options, records, Path(tmp) / "structured", STRUCTURED_NAMESPACE)
        result.namespaces.append(exported)
        result.cleanup += cleanup
    _end(options, result)
    result.expected_records = {STRUCTURED_NAMESPACE: count.rows}
    result.seconds = time.monotonic() - started
    return result
