"""Realtime assets: the hourly batches (project × closed hour) and the daily compaction of the article store.

The work is in :mod:`wme_assets.realtime.batches`; here are the partitions, the leases and the metadata. The
schedule asks for each closed hour a minute after it ends (`defs/jobs.py`): by then the applications
that chose that hour have published (the article-store lease the asset takes waits for one still running).
"""

import tempfile
from datetime import UTC, datetime, timedelta

import dagster as dg

from wme_assets.defs.failures import TRANSIENT_RETRY, fails_clearly
from wme_assets.defs.lease import output_lease
from wme_assets.defs.partitions import batch_partitions, paid_snapshot_partitions, project_and_date, project_and_hour
from wme_assets.defs.resources import ObjectStorageResource, StageSettingsResource
from wme_assets.instance import TIER_TAG
from wme_assets.realtime.batches import HourNotClosed, export_batch, hour_end
from wme_assets.schema.validate import record_validator
from wme_assets.settings import load_settings
from wme_assets.storage.article_store import ArticleStoreNotFound, compact, read_current
from wme_assets.storage.lease import articles_lease, batches_listing_lease, writer_lease


@dg.asset(
    partitions_def=batch_partitions,
    group_name="realtime",
    kinds={"s3", "python"},
    retry_policy=TRANSIENT_RETRY,
    tags={TIER_TAG: "paid"},
    description="One project's hourly batch: every article its store took in during the hour, deletes "
    "included, per namespace in Enterprise's batch layout (batches/{YYYY-MM-DD}/{HH}/).",
)
@fails_clearly
def hourly_batch(
    context: dg.AssetExecutionContext, object_storage: ObjectStorageResource, settings: StageSettingsResource
) -> dg.MaterializeResult:
    store = object_storage.store
    project, hour = project_and_hour(context)
    scope = f"{store.bucket}/{store.prefix}"
    try:
        # The article-store lease makes the hour's delta final (see wme_assets.realtime.batches).
        with output_lease(context, store, articles_lease(project)):
            result = export_batch(
                store, project, hour, validator=record_validator("article"), keep_days=settings.batch_retention_days,
                listing_lease=lambda h: writer_lease(load_settings(), batches_listing_lease(h), scope=scope,
                                                     shared=True, run_id=context.run.run_id),
                log=context.log.info,
            )  # fmt: skip
    except (HourNotClosed, ArticleStoreNotFound) as exc:
        raise dg.Failure(description=f"{project} {hour}: {exc}", allow_retries=False) from exc
    published = {n.identifier: n.published.uri(store) for n in result.namespaces if n.published is not None}
    return dg.MaterializeResult(
        metadata={
            "records": result.records,
            "changed_pages": result.changed_pages,
            "event_types": result.types(),
            "batches": dg.MetadataValue.md(
                "| identifier | records | types |\n|---|---|---|\n"
                + "\n".join(f"| {n.identifier} | {n.records} | {dict(n.types)} |" for n in result.namespaces)
            ),
            "published": published,
            "hour_listing_batches": result.listed,
            "previous_state_known": result.previous_known,
            "retention_removed_hours": len(result.retention_removed),
            # How long after the hour's close the batch was out: the figure the schedule's delay trades.
            "published_after_hour_close_s": round((datetime.now(UTC) - hour_end(hour)).total_seconds(), 1),
            "duration_s": round(result.seconds, 2),
        }
    )


@dg.asset(
    partitions_def=paid_snapshot_partitions,
    group_name="realtime",
    kinds={"s3", "python"},
    retry_policy=TRANSIENT_RETRY,
    tags={TIER_TAG: "ingest"},
    description="The day's compaction of one project's article store: the hourly deltas of the days before "
    "folded into a new base (articles/{project}/base/{date}/), so that reads merge one day of deltas at most.",
)
@fails_clearly
def compacted_article_store(
    context: dg.AssetExecutionContext, object_storage: ObjectStorageResource
) -> dg.MaterializeResult:
    store = object_storage.store
    project, date = project_and_date(context)
    # Every hour before the day: each has closed, and its batch was exported at one minute past it; so folding
    # them loses no batch's view of the state before its hour.
    through = (datetime.strptime(date, "%Y%m%d") - timedelta(hours=1)).strftime("%Y%m%d%H")
    with output_lease(context, store, articles_lease(project)):
        try:
            before = read_current(store, project)
        except ArticleStoreNotFound as exc:
            raise dg.Failure(description=f"{project} {date}: {exc}", allow_retries=False) from exc
        folding = [hour for hour in before.deltas if hour <= through]
        if not folding or date <= before.base:
            reason = "no delta before the day" if not folding else f"the base is of {before.base} already"
            context.log.info(f"{project} {date}: nothing to compact ({reason})")
            return dg.MaterializeResult(metadata={"base": before.base, "folded_deltas": 0, "skipped": reason})
        with tempfile.TemporaryDirectory(prefix=f"wme-compact-{project}-") as tmp:
            after = compact(store, project, date=date, cache_dir=tmp, run_id=context.run.run_id, through_hour=through)
    return dg.MaterializeResult(
        metadata={
            "base": after.base,
            "compacted_from": before.base,
            "folded_deltas": len(folding),
            "first_folded": folding[0],
            "last_folded": folding[-1],
            "rows": after.base_manifest.get("rows", 0),
            "deltas_left": len(after.deltas),
            "uri": dg.MetadataValue.path(store.uri(store.key(f"articles/{project}/base/{date}/"))),
        }
    )
