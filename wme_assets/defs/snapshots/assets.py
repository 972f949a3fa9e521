"""Snapshot assets: the article store as Wikimedia Enterprise snapshot files, per tier and day.

``paid_snapshot`` and ``free_snapshot`` are the article snapshots (``snapshots/{date}/``); ``structured_snapshot``
is the Structured Contents snapshot of namespace 0 (``structured-snapshots/{date}/``), paid tier only. The work
is in :mod:`wme_assets.snapshots.run`; here are only the partitions, metadata and checks. Which state of the
article store is exported, and the paid snapshots' update first (fresh snapshots, with their cut point), is
:mod:`wme_assets.defs.snapshots.fresh`.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial

import dagster as dg

from wme_assets.defs.enrichment.assets import articles
from wme_assets.defs.failures import TRANSIENT_RETRY, fails_clearly
from wme_assets.defs.lease import output_lease
from wme_assets.defs.partitions import free_snapshot_partitions, paid_snapshot_partitions, project_and_date
from wme_assets.defs.resources import ObjectStorageResource, StageSettingsResource
from wme_assets.defs.snapshots.fresh import snapshot_state
from wme_assets.instance import TIER_TAG
from wme_assets.settings import ConfigurationError, load_settings
from wme_assets.snapshots.manifest import record_schema
from wme_assets.snapshots.publish import SnapshotPublishError, layout
from wme_assets.snapshots.run import ExportResult, PinnedState, export_snapshots, export_structured_snapshot
from wme_assets.storage.article_store import ArticleStoreNotFound
from wme_assets.storage.lease import LeaseRefused, snapshot_lease

SIZE_CHANGE_BOUND = 0.2  # warn when an archive grows or shrinks by more than 20% from the previous snapshot

# The snapshot of day D holds the articles of the newest dump enriched on or before D (plus its hourly
# changes); which one is decided from the article store when the snapshot runs, so the lineage below
# carries no partition mapping of its own.
ARTICLES_LINEAGE = dg.AssetDep(
    articles,
    partition_mapping=dg.MultiPartitionMapping(
        {
            "date": dg.DimensionPartitionMapping(
                "date", dg.TimeWindowPartitionMapping(allow_nonexistent_upstream_partitions=True)
            ),
            "project": dg.DimensionPartitionMapping("project", dg.IdentityPartitionMapping()),
        }
    ),
)


@dataclass(frozen=True)
class KindLabels:
    count_check: str  # the article snapshot counts articles, the structured one the records with Structured Contents
    noun: str  # what a record is, in summaries
    count_key: str  # metadata entry of the record count; "articles" stays for the article snapshots' history


LABELS = {
    "articles": KindLabels("record_count_matches_articles", "articles", "articles"),
    "structured": KindLabels("record_count_matches_structured", "Structured Contents", "records"),
}


def _checks(asset: str, kind: str = "articles") -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(LABELS[kind].count_check, asset=asset, blocking=True),
        dg.AssetCheckSpec("every_line_valid", asset=asset, blocking=True),
        dg.AssetCheckSpec("no_duplicate_identifiers", asset=asset, blocking=True),
        dg.AssetCheckSpec("size_change_within_bound", asset=asset),
    ]


def _export(
    context: dg.AssetExecutionContext,
    settings: StageSettingsResource,
    export: Callable[..., ExportResult],
    what: str,
) -> ExportResult:
    project, date = project_and_date(context)
    try:
        return export(
            project=project,
            date=date,
            max_member_bytes=settings.snapshot_member_bytes,
            validate_every=settings.snapshot_validate_every,
            keep=settings.snapshot_retention,
            log=context.log.info,
        )
    except (SnapshotPublishError, ArticleStoreNotFound) as exc:
        # Deterministic: retrying cannot help, so fail at once with the reason.
        raise dg.Failure(description=f"{project} {date} ({what}): {exc}", allow_retries=False) from exc


@contextmanager
def _state(context: dg.AssetExecutionContext, store, *, update: bool) -> Iterator[PinnedState | None]:
    """The state to export (:func:`~wme_assets.defs.snapshots.fresh.snapshot_state`); what cannot succeed on a
    retry (another writer holds the store, events without a wiki to fetch from, no article store) fails at once."""
    project, date = project_and_date(context)
    try:
        with snapshot_state(
            store, load_settings(), project, date, update=update, run_id=context.run.run_id, log=context.log.info
        ) as pinned:
            yield pinned
    except (LeaseRefused, ConfigurationError, ArticleStoreNotFound) as exc:
        raise dg.Failure(description=f"{project} {date}: {exc}", allow_retries=False) from exc


def _cut_point_metadata(result: ExportResult) -> dict:
    """The cut point of the exported state, when it has one (the manifests carry the same)."""
    if result.cut_point is None:
        return {}
    return {
        "cut_point": dg.MetadataValue.json(result.cut_point.model_dump(mode="json")),
        "cut_point_summary": result.cut_point.describe(),
    }


def _result(store, result: ExportResult) -> dg.MaterializeResult:
    """Metadata and check results of an export, the same for every kind and tier."""
    kind, labels = result.kind, LABELS[result.kind]
    suffix = "_group_1" if result.tier == "free" else ""
    top = layout(kind).snapshots
    counts = {n.namespace: n.records for n in result.namespaces}
    expected = result.expected_records
    count_ok = not expected or all(counts.get(ns, 0) == expected.get(ns, 0) for ns in counts)
    problems = [p for n in result.namespaces for p in n.problems]
    ordering = [p for p in problems if "records must be ordered" in p]
    changes = {
        n.identifier: round(n.archive_bytes / n.previous_bytes - 1, 3) for n in result.namespaces if n.previous_bytes
    }
    published = [n.published for n in result.namespaces if n.published is not None]
    return dg.MaterializeResult(
        metadata={
            "uri": dg.MetadataValue.path(store.uri(store.key(f"{top}/{result.date}")) + "/"),
            "snapshots": dg.MetadataValue.md(
                f"| identifier | {labels.noun} | MB | chunks |\n|---|---|---|---|\n"
                + "\n".join(
                    f"| {n.identifier} | {n.records} | {n.archive_bytes / 1e6:.2f} | {n.chunks} |"
                    for n in result.namespaces
                )
            ),
            "summary": "; ".join(
                f"{n.identifier}{suffix}: {n.records} {labels.noun}, {n.archive_bytes / 1e6:.2f} MB"
                for n in result.namespaces
            ),
            # Where each published snapshot is: its archive, manifest and `latest` pointer.
            "published": {
                p.identifier: {
                    "archive": p.uri(store, p.manifest.archive.key),
                    "manifest": p.uri(store),
                    "latest": p.uri(store, p.pointer_key),
                }
                for p in published
            },
            labels.count_key: result.records,
            "archive_bytes": result.archive_bytes,
            "article_base": result.base,
            "deltas_applied": len(result.deltas),
            "duration_s": round(result.seconds, 2),
            # What the run deleted: staging (a dead earlier run's, and its own at its end) and orphans.
            "staging_removed": result.cleanup.leftover_staging + result.cleanup.staging,
            "leftover_staging_removed": result.cleanup.leftover_staging,
            "orphans_removed": result.cleanup.orphans,
            **_cut_point_metadata(result),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=labels.count_check,
                passed=count_ok,
                metadata={
                    "exported": {str(k): v for k, v in counts.items()},
                    "in_article_store": {str(k): v for k, v in expected.items()},
                },
            ),
            # From reading the written files back before publishing: every line parses and validates, counts
            # and hashes match the manifest; a namespace with problems was not published.
            dg.AssetCheckResult(
                check_name="every_line_valid",
                passed=not problems,
                metadata={
                    "problems": problems[:20],
                    "schema": record_schema(kind),
                    "schema_validated": f"every {result.validate_every} line(s)",
                },
            ),
            dg.AssetCheckResult(
                check_name="no_duplicate_identifiers",
                passed=not ordering,
                metadata={"problems": ordering[:20], "rule": "strictly ascending page ids in every namespace"},
            ),
            dg.AssetCheckResult(
                check_name="size_change_within_bound",
                passed=all(abs(change) <= SIZE_CHANGE_BOUND for change in changes.values()),
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"change_vs_previous": changes, "bound": SIZE_CHANGE_BOUND},
            ),
        ],
    )


def snapshot_asset(
    name: str,
    *,
    partitions_def: dg.PartitionsDefinition,
    tier: str,
    export: Callable[..., ExportResult],
    what: str,
    description: str,
    kind: str = "articles",
    update: bool = False,
) -> dg.AssetsDefinition:
    """One snapshot asset: ``export(store, project=..., date=..., ...)`` for its partition, with the shared checks.

    ``update``: today's snapshot first brings the article store up to date with its change events (fresh)."""

    @dg.asset(
        name=name,
        partitions_def=partitions_def,
        group_name="export",
        kinds={"s3", "python"},
        deps=[ARTICLES_LINEAGE],
        retry_policy=TRANSIENT_RETRY,  # snapshots read and write the store only: this covers its hiccups
        check_specs=_checks(name, kind),
        tags={TIER_TAG: tier},
        description=description,
    )
    @fails_clearly
    def _snapshot(
        context: dg.AssetExecutionContext, object_storage: ObjectStorageResource, settings: StageSettingsResource
    ) -> dg.MaterializeResult:
        store = object_storage.store
        project, _ = project_and_date(context)
        with output_lease(context, store, snapshot_lease(kind, tier, project)), _state(
            context, store, update=update
        ) as pinned:
            return _result(store, _export(context, settings, partial(export, store, pinned=pinned), what))

    return _snapshot


paid_snapshot = snapshot_asset(
    "paid_snapshot",
    partitions_def=paid_snapshot_partitions,
    tier="paid",
    export=partial(export_snapshots, tier="paid"),
    what="paid",
    update=True,
    description=(
        "Daily snapshots (paid tier) in Wikimedia Enterprise's layout: per namespace a tar.gz of NDJSON "
        "members, its chunks and metadata, plus a manifest with SHA-256s; dated paths and a `latest` pointer "
        "moved only after the new snapshot verifies. Today's snapshot first applies the project's pending "
        "change events; the manifest records the cut point (where the change stream continues)."
    ),
)

free_snapshot = snapshot_asset(
    "free_snapshot",
    partitions_def=free_snapshot_partitions,
    tier="free",
    export=partial(export_snapshots, tier="free"),
    what="free",
    description=(
        "Twice-monthly snapshots (free tier, the 2nd and the 21st), the `_group_1` copies as Enterprise "
        "names them; byte-identical to the paid snapshot of the same day."
    ),
)

structured_snapshot = snapshot_asset(
    "structured_snapshot",
    partitions_def=paid_snapshot_partitions,
    tier="paid",
    export=export_structured_snapshot,
    what="structured, paid",
    kind="structured",
    update=True,
    description=(
        "Daily Structured Contents snapshots (paid tier only, as Enterprise sells them): namespace 0's "
        "Structured Contents as a tar.gz of NDJSON members, its chunks, metadata and manifest under "
        "`structured-snapshots/{date}/`, every line validated against the Structured Contents schema; the "
        "`latest` pointer moves only after the new snapshot verifies."
    ),
)
