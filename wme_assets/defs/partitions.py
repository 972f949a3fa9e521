"""Partitions shared by the stages: project × date, one run per partition.

Per-partition runs make each (project, date) its own unit of retry, failure and backfill, so re-running
"the projects that failed" launches exactly those partitions. Keys look like ``20230501|bnwiki``
(Dagster orders the dimensions by name: date, then project).

The projects are dynamic partitions, kept in the Dagster instance, not a list fixed when the code loads:
Wikimedia has some 900 text projects and opens new ones, and which of them a deployment serves
(``WME_PROJECTS``) changes without a redeploy. They are added from the catalogue of projects (the site
matrix) by ``wme catalog sync``, the ``project_catalogue`` sensor, and every ``wme`` command for the project
it runs (:func:`ensure_projects`). They are never deleted: a partition's runs and materializations are its
history.
"""

from collections.abc import Iterable

import dagster as dg

from wme_assets.sources.catalog import Catalog, SyncPlan, plan_sync

PROJECT_PARTITIONS = "projects"
project_partitions = dg.DynamicPartitionsDefinition(name=PROJECT_PARTITIONS)


def project_keys(instance: dg.DagsterInstance) -> list[str]:
    """The projects that are partitions in ``instance``, in the order they were added."""
    return list(instance.get_dynamic_partitions(PROJECT_PARTITIONS))


def ensure_projects(instance: dg.DagsterInstance, projects: Iterable[str]) -> list[str]:
    """Add the ``projects`` that are not partitions yet (checked by the caller); the ones added, in order."""
    have = set(project_keys(instance))
    new = [name for name in dict.fromkeys(projects) if name not in have]
    if new:
        try:
            instance.add_dynamic_partitions(PROJECT_PARTITIONS, new)
        except Exception:
            # Two commands adding the same project at once: the storage's unique index refuses the second
            # insert, which is fine once every project is there.
            if not all(instance.has_dynamic_partition(PROJECT_PARTITIONS, name) for name in new):
                raise
    return new


def sync_projects(instance: dg.DagsterInstance, catalog: Catalog, selected: Iterable[str]) -> SyncPlan:
    """Add the ``selected`` projects of the catalogue that are not partitions yet; report closed and unknown
    ones, deleting nothing."""
    plan = plan_sync(catalog, selected, project_keys(instance))
    ensure_projects(instance, plan.add)
    return plan

# Wikimedia starts the XML dump runs on the 1st and the 20th of each month. end_offset=1 makes the run
# that started on the latest of those days a partition at once (it finishes some days later; the
# ingestion refuses it until its jobs are done).
dump_date_partitions = dg.TimeWindowPartitionsDefinition(
    cron_schedule="0 0 1,20 * *",
    start="20230101",
    fmt="%Y%m%d",
    timezone="UTC",
    end_offset=1,
)

dump_partitions = dg.MultiPartitionsDefinition({"date": dump_date_partitions, "project": project_partitions})


def project_and_date(context: dg.AssetExecutionContext) -> tuple[str, str]:
    key = context.partition_key
    if not isinstance(key, dg.MultiPartitionKey):
        raise ValueError(f"expected a project × date partition key, got {key!r}")
    return key.keys_by_dimension["project"], key.keys_by_dimension["date"]


# Snapshot dates: the day a snapshot is produced, as YYYYMMDD (the dated path of its files). end_offset=1
# makes today's date a partition as soon as the day starts, so the schedule's tick on day D requests D.
paid_snapshot_dates = dg.DailyPartitionsDefinition(start_date="20230101", fmt="%Y%m%d", timezone="UTC", end_offset=1)
# The free tier: the 2nd and the 21st of each month, as Wikimedia Enterprise publishes it. Its day starts
# at 06:00 UTC, after the paid run of the same day (01:00): the free job's publishing converts that day's
# Structured Contents snapshot (paid tier only) to Parquet as well, so it should exist by then (a missing
# one is skipped with the reason logged, and `wme publish` adds it later). Keys stay YYYYMMDD.
free_snapshot_dates = dg.TimeWindowPartitionsDefinition(
    cron_schedule="0 6 2,21 * *", start="20230102", fmt="%Y%m%d", timezone="UTC", end_offset=1
)

paid_snapshot_partitions = dg.MultiPartitionsDefinition({"date": paid_snapshot_dates, "project": project_partitions})
free_snapshot_partitions = dg.MultiPartitionsDefinition({"date": free_snapshot_dates, "project": project_partitions})


# Hourly batches: one partition per project and hour, keys YYYYMMDDHH (UTC). end_offset=0: an hour is a
# partition once it has closed, so the schedule never asks for an hour still being written.
batch_hours = dg.HourlyPartitionsDefinition(start_date="2026010100", fmt="%Y%m%d%H", timezone="UTC", end_offset=0)
batch_partitions = dg.MultiPartitionsDefinition({"hour": batch_hours, "project": project_partitions})


def project_and_hour(context: dg.AssetExecutionContext) -> tuple[str, str]:
    key = context.partition_key
    if not isinstance(key, dg.MultiPartitionKey):
        raise ValueError(f"expected a project × hour partition key, got {key!r}")
    return key.keys_by_dimension["project"], key.keys_by_dimension["hour"]
