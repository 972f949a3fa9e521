"""Partitions shared by the stages: project × date, one run per partition.

Per-partition runs make each (project, date) its own unit of retry, failure and backfill, so re-running
"the projects that failed" launches exactly those partitions. Keys look like ``20230501|bnwiki``
(Dagster orders the dimensions by name: date, then project).
"""


import dagster as dg

from wme_assets.settings import load_settings

PROJECTS = load_settings().project_list

project_partitions = dg.StaticPartitionsDefinition(PROJECTS)

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
