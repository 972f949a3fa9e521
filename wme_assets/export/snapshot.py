"""One project's snapshots for one day: the article store as it stood that day, per namespace, published.

For each exported namespace the current articles stream out of the article store in page-id order into
the Enterprise archive and chunks (:mod:`wme_assets.export.archive`), which are published under the day's
dated paths and verified before the ``latest`` pointer moves (:mod:`wme_assets.export.publish`). The
listing of all snapshots is rebuilt once at the end. Nothing here is random or clock-dependent apart from
Enterprise's ``date_modified``, so a re-run for the same day gives byte-identical archives.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from wme_assets.enrichment.validation import record_validator
from wme_assets.export.archive import write_snapshot
from wme_assets.export.manifest import build_manifest, verify_snapshot_files
from wme_assets.export.publish import (
    PublishedSnapshot,
    apply_retention,
    publish_snapshot,
    read_latest,
    rebuild_snapshots_listing,
)
from wme_assets.storage.article_store import CurrentState, iter_current_articles, state_as_of
from wme_assets.storage.object_store import ObjectStore

EXPORTED_NAMESPACES = (0, 6, 10, 14)
DEFAULT_MEMBER_BYTES = 100_000_000  # Enterprise's member size: 100 MB of NDJSON


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


def export_snapshots(
    store: ObjectStore,
    project: str,
    date: str,
    *,
    tier: str = "paid",
    namespaces: tuple[int, ...] = EXPORTED_NAMESPACES,
    max_member_bytes: int = DEFAULT_MEMBER_BYTES,
    validate_every: int = 1,
    keep: int | None = None,
    work_dir: Path | None = None,
    log: Callable[[str], None] = print,
) -> ExportResult:
    """Export and publish the snapshots of ``project`` for ``date`` (YYYYMMDD) in ``tier``.

    Every written archive is re-read from the local files and each ``validate_every``-th record validated
    against the article schema (1: all of them) before anything is published. With ``keep``, only the newest
    ``keep`` dated snapshots of each identifier remain afterwards (never the one ``latest`` points to).
    """
    started = time.monotonic()
    state = state_as_of(store, project, date)
    result = ExportResult(project, date, tier, state.base, state.deltas)
    log(f"{project} {date}: articles of base {state.base}" + (f" + {len(state.deltas)} deltas" if state.deltas else ""))
    validate = record_validator("article")
    counter = {"n": 0}

    def sampled_validator(record: dict) -> None:
        counter["n"] += 1
        if counter["n"] % validate_every == 0:
            validate(record)

    with tempfile.TemporaryDirectory(prefix=f"wme-export-{project}-{date}-", dir=work_dir) as tmp:
        for namespace in namespaces:
            records = iter_current_articles(
                store, project, cache_dir=Path(tmp) / "cache", namespace=namespace, state=state
            )
            files = write_snapshot(
                records,
                Path(tmp) / f"ns{namespace}",
                dbname=project,
                namespace=namespace,
                max_member_bytes=max_member_bytes,
                dump_date=state.base,
            )
            previous = read_latest(store, files.identifier, tier)
            # Every line parsed and schema-validated, counts, hashes and page-id order checked before anything
            # is published; a snapshot with problems is not published and the asset checks report them.
            # (publish_snapshot then re-checks each object's size and SHA-256 in the store.)
            problems = verify_snapshot_files(
                Path(tmp) / f"ns{namespace}", build_manifest(files), validator=sampled_validator
            )
            published = None
            if problems:
                log(f"{files.identifier}: not published, {len(problems)} problems: {problems[:3]}")
            else:
                published = publish_snapshot(store, files, date=date, tier=tier, update_listing=False)
            if published and keep:
                removed = apply_retention(store, files.identifier, keep=keep, tier=tier)
                if removed:
                    log(f"{files.identifier}: retention removed the snapshots of {', '.join(removed)}")
            result.namespaces.append(
                NamespaceExport(
                    namespace=namespace,
                    identifier=files.identifier,
                    published=published,
                    records=files.record_count,
                    chunks=len(files.chunks),
                    archive_bytes=files.archive.bytes if files.archive else 0,
                    previous_bytes=previous.archive.bytes if previous and previous.date != date else None,
                    problems=problems,
                )
            )
            log(
                f"{files.identifier}: {files.record_count} articles, {len(files.chunks)} chunks, "
                f"{(files.archive.bytes if files.archive else 0) / 1e6:.2f} MB"
            )
    rebuild_snapshots_listing(store, tier)
    result.expected_records = expected_article_counts(state) or {}
    result.seconds = time.monotonic() - started
    return result
