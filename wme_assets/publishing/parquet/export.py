"""One project's day: Parquet shards from its verified, published snapshots (the asset's entry point).

:func:`export_parquet` opens each snapshot (:mod:`wme_assets.snapshots.read`), writes its shards while the
archive streams and is re-verified, and publishes them only once it matched; :func:`parquet_summary` is
what the ``parquet_shards`` asset reports of it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from wme_assets.publishing.parquet.manifest import ParquetManifest, ParquetShards, ParquetSource
from wme_assets.publishing.parquet.schema import Kind
from wme_assets.publishing.parquet.store import ParquetPublishError, checked_date, publish_parquet
from wme_assets.publishing.parquet.writer import DEFAULT_MAX_BYTES, DEFAULT_MAX_ROWS, write_parquet_shards
from wme_assets.snapshots.archive import snapshot_identifier
from wme_assets.snapshots.read import SnapshotNotFoundError, SnapshotSource, iter_snapshot_records, open_snapshot
from wme_assets.storage.object_store import ObjectStore

log = logging.getLogger(__name__)

SNAPSHOT_KINDS: dict[str, str] = {"article": "articles", "structured-content": "structured"}
"""Parquet kind → the kind of snapshot its records are read from."""
STRUCTURED_TIER = "paid"  # Structured Contents snapshots exist in the paid tier only
STRUCTURED_NAMESPACE = 0  # ... and for namespace 0 only


@dataclass
class ParquetExport:
    """What :func:`export_parquet` published, and what it skipped and why. Iterates over ``published``."""

    published: list[tuple[ParquetManifest, ParquetShards]] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # "{identifier} ({kind})" -> the reason

    def __iter__(self) -> Iterator[tuple[ParquetManifest, ParquetShards]]:
        return iter(self.published)

    def __len__(self) -> int:
        return len(self.published)


def source_of(snapshot: SnapshotSource) -> ParquetSource:
    """The manifest's ``source`` entry for shards built from ``snapshot``."""
    return ParquetSource(
        manifest_key=snapshot.manifest_key,
        manifest_sha256=snapshot.manifest_sha256,
        archive_key=snapshot.archive_key,
        archive_sha256=snapshot.archive_sha256,
        tier=snapshot.tier,
        kind=snapshot.kind,
        date=snapshot.date,
        record_count=snapshot.record_count,
    )


def export_snapshot_parquet(
    store: ObjectStore,
    snapshot: SnapshotSource,
    out_dir: str | os.PathLike[str],
    *,
    date: str,
    max_rows: int = DEFAULT_MAX_ROWS,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> tuple[ParquetManifest, ParquetShards]:
    """Write the Parquet shards of one opened snapshot as it streams, and publish them once it verified.

    The records come from :func:`~wme_assets.snapshots.read.iter_snapshot_records`, which re-hashes the archive
    and checks every member against the snapshot manifest; :func:`write_parquet_shards` consumes it to the
    end, so any difference (raised at the latest after the last record) leaves no shard behind and nothing
    is published.
    """
    kind: Kind = "article" if snapshot.kind == "articles" else "structured-content"
    manifest = snapshot.manifest
    shards = write_parquet_shards(
        iter_snapshot_records(store, snapshot),
        out_dir,
        dbname=manifest.is_part_of,
        namespace=manifest.namespace,
        kind=kind,
        language=manifest.in_language,
        dump_date=manifest.inputs.dump_date,
        max_rows=max_rows,
        max_bytes=max_bytes,
        source=source_of(snapshot),
    )
    if shards.manifest.rows != snapshot.record_count:  # the stream checked it; a last guard before publishing
        raise ParquetPublishError(
            f"{shards.identifier} ({kind}): {shards.manifest.rows} rows from {snapshot.record_count} snapshot records"
        )
    return publish_parquet(store, shards, date=date), shards


def export_parquet(
    store: ObjectStore,
    project: str,
    date: str,
    *,
    tier: Literal["paid", "free"] = "free",
    namespaces: Iterable[int] = (0, 6, 10, 14),
    kinds: Iterable[Kind] = ("article",),
    work_dir: str | os.PathLike[str],
    max_rows: int = DEFAULT_MAX_ROWS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    log_line: Callable[[str], None] = log.info,
) -> ParquetExport:
    """Write and publish the Parquet shards of ``project``'s snapshots published for ``date``.

    Articles come from the article snapshot of each of ``namespaces`` in ``tier`` (default the free tier,
    what the free snapshot publishes and the dumps site and Hugging Face carry); a namespace without a
    published snapshot raises :class:`~wme_assets.snapshots.read.SnapshotNotFoundError`. Structured Contents
    come from the Structured Contents snapshot of namespace 0 (paid tier, the only one there is); when it was
    not published for ``date`` the kind is skipped and the reason logged and returned (``skipped``). Every
    snapshot is checked before it is read and re-verified while it streams
    (:mod:`wme_assets.snapshots.read`); a snapshot that is refused or does not match its manifest raises, and
    its shards are not published. Returns the published manifests with the local shards (still in
    ``work_dir``, e.g. for :mod:`wme_assets.publishing.huggingface`).
    """
    checked_date(date)
    work = Path(work_dir)
    result = ParquetExport()
    for kind in kinds:
        if kind not in SNAPSHOT_KINDS:
            raise ValueError(f"kind must be one of {', '.join(SNAPSHOT_KINDS)}, got {kind!r}")
        for namespace in namespaces:
            if kind == "structured-content" and namespace != STRUCTURED_NAMESPACE:
                continue
            identifier = snapshot_identifier(project, namespace)
            snapshot_tier = tier if kind == "article" else STRUCTURED_TIER
            try:
                snapshot = open_snapshot(
                    store, identifier=identifier, date=date, tier=snapshot_tier, kind=SNAPSHOT_KINDS[kind]
                )
            except SnapshotNotFoundError as exc:
                if kind == "article":
                    raise
                reason = f"no Structured Contents snapshot published for {date} ({exc})"
                result.skipped[f"{identifier} ({kind})"] = reason
                log.warning("%s (%s): skipped: %s", identifier, kind, reason)
                log_line(f"{identifier} ({kind}): skipped: {reason}")
                continue
            manifest, shards = export_snapshot_parquet(
                store, snapshot, work / kind / str(namespace), date=date, max_rows=max_rows, max_bytes=max_bytes
            )
            log_line(
                f"{manifest.identifier} ({kind}): {manifest.rows} records in {len(manifest.files)} Parquet shards, "
                f"{manifest.bytes / 1e6:.2f} MB, from {store.uri(store.key(snapshot.manifest_key))}"
                + (
                    f"; {manifest.truncation.records} records truncated to the schema depth"
                    if manifest.truncation.records
                    else ""
                )
            )
            result.published.append((manifest, shards))
    return result


@dataclass
class ParquetExportSummary:
    """What the ``parquet_shards`` asset reports of an export (labels: ``{id}``, ``{id} (structured)``)."""

    text: str
    rows: dict[str, int]
    shards: int
    sources: dict[str, str]  # label -> URI of the snapshot manifest the shards were built from
    skipped: dict[str, str]  # "{id} ({kind})" -> the reason
    mismatched: dict[str, list[int | None]]  # label -> [Parquet rows, the source snapshot's records (None: no source)]


def parquet_summary(store: ObjectStore, exported: ParquetExport) -> ParquetExportSummary:
    """Rows, shards and source snapshots of an export, and where rows differ from the source's record count."""
    rows: dict[str, int] = {}
    sources: dict[str, str] = {}
    mismatched: dict[str, list[int | None]] = {}
    for manifest, _ in exported:
        label = manifest.identifier + ("" if manifest.kind == "article" else " (structured)")
        rows[label] = manifest.rows
        source = manifest.source
        if source is None:
            mismatched[label] = [manifest.rows, None]
            continue
        sources[label] = store.uri(store.key(source.manifest_key))
        if manifest.rows != source.record_count:
            mismatched[label] = [manifest.rows, source.record_count]
    parts = [f"{label}: {n} rows" for label, n in rows.items()]
    parts += [f"{label}: skipped" for label in exported.skipped]
    return ParquetExportSummary(
        text="; ".join(parts),
        rows=rows,
        shards=sum(len(shards.shards) for _, shards in exported),
        sources=sources,
        skipped=dict(exported.skipped),
        mismatched=mismatched,
    )
