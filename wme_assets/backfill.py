"""Finding the partitions to re-run: those whose most recent run failed, per job and partition."""

from __future__ import annotations

from collections.abc import Callable
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


def failed_partitions(
    *,
    since: str | None = None,
    jobs: tuple[str, ...] = JOBS,
    mark_dead: bool = True,
    echo: Callable[[str], None] | None = None,
) -> list[FailedPartition]:
    """Partitions whose latest run (of each job) failed, oldest first; a later success clears a failure.

    ``mark_dead`` first marks failed the STARTED runs whose worker is dead (as the ``dead_run_monitor``
    sensor does under the daemon), so a killed run is listed even where no daemon runs. That repairs the
    instance's record of a run that has already ended; it starts nothing, so a dry run does it too.
    """
    import dagster as dg

    from wme_assets.run_health import mark_dead_runs_failed
    from wme_assets.settings import load_settings

    after = datetime.strptime(since, "%Y-%m-%d").replace(tzinfo=UTC).timestamp() if since else None
    latest: dict[tuple[str, str], dg.DagsterRun] = {}
    with dg.DagsterInstance.get() as instance:
        if mark_dead:
            report = mark_dead_runs_failed(instance, stale_after=load_settings().run_stale_after)
            for dead in report.marked if echo else ():
                partition = dead.partition or "no partition"
                echo(f"marked failed: run {dead.run_id} of {dead.job} ({partition}): {dead.cause}")
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
