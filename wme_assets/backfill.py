"""Finding the partitions to re-run: those whose most recent run failed, per job and partition."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

JOBS = ("main", "ingest", "paid_snapshot_job", "free_snapshot_job")


@dataclass(frozen=True)
class FailedPartition:
    job: str
    partition: str  # "YYYYMMDD|project"
    run_id: str

    @property
    def date(self) -> str:
        return self.partition.split("|")[0]

    @property
    def project(self) -> str:
        return self.partition.split("|")[1]


def failed_partitions(*, since: str | None = None, jobs: tuple[str, ...] = JOBS) -> list[FailedPartition]:
    """Partitions whose latest run (of each job) failed, oldest first; a later success clears a failure."""
    import dagster as dg

    after = datetime.strptime(since, "%Y-%m-%d").replace(tzinfo=UTC).timestamp() if since else None
    latest: dict[tuple[str, str], dg.DagsterRun] = {}
    with dg.DagsterInstance.get() as instance:
        for job in jobs:
            records = instance.get_run_records(dg.RunsFilter(job_name=job))
            for record in sorted(records, key=lambda r: r.create_timestamp.timestamp()):
                if after is not None and record.create_timestamp.timestamp() < after:
                    continue
                partition = record.dagster_run.tags.get("dagster/partition")
                if partition:
                    latest[(job, partition)] = record.dagster_run
    return [
        FailedPartition(job, partition, run.run_id)
        for (job, partition), run in sorted(latest.items(), key=lambda kv: (kv[0][1], kv[0][0]))
        if run.status == dg.DagsterRunStatus.FAILURE
    ]
