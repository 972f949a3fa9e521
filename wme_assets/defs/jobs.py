"""Jobs over the asset graph, and the schedules that produce snapshots. Every run is one partition."""

import dagster as dg

from wme_assets.defs.partitions import (
    batch_partitions,
    dump_partitions,
    free_snapshot_partitions,
    paid_snapshot_partitions,
)
from wme_assets.defs.resources import SETTINGS_AT_LOAD
from wme_assets.instance import TIER_TAG, project_run_tags


def sized_by_project(partitions_def: dg.PartitionsDefinition) -> dg.PartitionedConfig:
    """No run config, and the run tags that size a run by its project (a large project's bigger pod and longer
    timeout, :func:`wme_assets.instance.project_run_tags`): Dagster adds them to every run of a partition,
    whoever starts it (schedule, backfill, the UI, `wme`)."""

    def tags(key: str) -> dict[str, str]:
        project = str(key).rsplit("|", 1)[-1]  # multi-partition keys end with the project (dimensions by name)
        return project_run_tags(project, SETTINGS_AT_LOAD.large_project_list)

    return dg.PartitionedConfig(
        partitions_def=partitions_def, run_config_for_partition_key_fn=lambda _: {}, tags_for_partition_key_fn=tags
    )

# Ingestion alone: the dumps run into the raw zone and the page store (`wme ingest`).
ingest_job = dg.define_asset_job(
    name="ingest",
    config=sized_by_project(dump_partitions),
    selection=dg.AssetSelection.groups("ingestion"),
    tags={TIER_TAG: "ingest"},
    description="One dumps run of one project: status, verified files, parsed pages.",
)

# The main job: a dumps run of one project to its enriched articles (`wme demo`, `wme snapshot`); the
# snapshot jobs below then export them per day.
main_job = dg.define_asset_job(
    name="main",
    config=sized_by_project(dump_partitions),
    selection=dg.AssetSelection.groups("ingestion", "enrichment"),
    tags={TIER_TAG: "ingest"},
    description="One project and dump date, from the dumps run to the article store.",
)

# Structured Contents snapshots are a paid-tier product at Enterprise: they are made with the daily paid
# snapshots, from the same day's state of the article store. The diff against the previous paid snapshot
# follows the day's article snapshot.
paid_snapshot_job = dg.define_asset_job(
    name="paid_snapshot_job",
    config=sized_by_project(paid_snapshot_partitions),
    selection=dg.AssetSelection.assets("paid_snapshot", "structured_snapshot", "snapshot_diff"),
    tags={TIER_TAG: "paid"},
    description=(
        "The daily (paid tier) snapshots of one project: articles and Structured Contents, and the diff of the "
        "articles against the previous paid snapshot."
    ),
)

# The free tier's publishing runs in the same job, after the snapshot's blocking checks pass: a snapshot
# that fails verification is never published.
free_snapshot_job = dg.define_asset_job(
    name="free_snapshot_job",
    config=sized_by_project(free_snapshot_partitions),
    selection=dg.AssetSelection.assets("free_snapshot") | dg.AssetSelection.groups("publishing"),
    tags={TIER_TAG: "free"},
    description="The twice-monthly (free tier) snapshots of one project, then their publishing.",
)

publish_job = dg.define_asset_job(
    name="publish_job",
    config=sized_by_project(free_snapshot_partitions),
    selection=dg.AssetSelection.groups("publishing"),
    tags={TIER_TAG: "free"},
    description="Publish one project's verified free-tier snapshots of a day (`wme publish`).",
)

# Hourly batches are sold with the paid tier, as Enterprise's are.
batch_job = dg.define_asset_job(
    name="hourly_batch_job",
    config=sized_by_project(batch_partitions),
    selection=dg.AssetSelection.assets("hourly_batch"),
    tags={TIER_TAG: "paid"},
    description="One project's hourly batch of one closed hour (`wme batch`).",
)

# Store maintenance, in the ingest tier with the dumps' own jobs.
compaction_job = dg.define_asset_job(
    name="compaction_job",
    config=sized_by_project(paid_snapshot_partitions),
    selection=dg.AssetSelection.assets("compacted_article_store"),
    tags={TIER_TAG: "ingest"},
    description="One project's article store: the deltas of the days before folded into a new base.",
)

# One run request per project for the day's partition; UTC throughout. Both start stopped: turn them on in
# the UI once the projects have been ingested (a snapshot needs an enriched dump on or before its day).
paid_snapshot_schedule = dg.build_schedule_from_partitioned_job(
    paid_snapshot_job, hour_of_day=1, tags={TIER_TAG: "paid"}, name="paid_snapshot_daily"
)
# The free tier ticks at 06:00 (its partitions' cron), after the paid run of the same day at 01:00.
free_snapshot_schedule = dg.build_schedule_from_partitioned_job(
    free_snapshot_job, tags={TIER_TAG: "free"}, name="free_snapshot_2nd_and_21st"
)
# One minute past each hour, for the hour that has just closed (the newest partition), one run per project: an
# application that chose that hour publishes within seconds of its end, and the asset's lease waits for it.
# Starts stopped like the others: it needs the realtime applications (`wme listen`) running.
batch_schedule = dg.build_schedule_from_partitioned_job(
    batch_job, minute_of_hour=1, tags={TIER_TAG: "paid"}, name="hourly_batches"
)
# 00:30 UTC, before the paid snapshots at 01:00 (which then merge at most the new day's deltas). Stopped by default.
compaction_schedule = dg.build_schedule_from_partitioned_job(
    compaction_job, hour_of_day=0, minute_of_hour=30, tags={TIER_TAG: "ingest"}, name="article_store_compaction_daily"
)
