"""Running jobs for one project through the Dagster instance, so every run shows in the UI.

``wme ingest``, ``wme demo``, ``wme snapshot`` and ``wme backfill`` all come through here: they execute a
job for one partition in this process, recording the run and its events in the configured instance.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from wme_assets.settings import ConfigurationError, load_settings, validate_project


@dataclass
class RunSummary:
    job: str
    partition: str
    run_id: str
    success: bool
    seconds: float
    outputs: list[str] = field(default_factory=list)
    error: str | None = None


def dumps_client():
    from wme_assets.sources.dumps_client import DumpsClient

    settings = load_settings()
    return DumpsClient(settings.dumps_url, retries=settings.http_retries, backoff=settings.http_backoff)


def check_project(project: str) -> None:
    validate_project(project)
    settings = load_settings()
    if project not in settings.project_list:
        raise ConfigurationError(f"project {project!r} is not in WME_PROJECTS ({settings.projects}); add it there")


def resolve_dump_date(project: str, date: str, echo: Callable[[str], None] = print) -> str:
    """``latest`` becomes the newest finished dump run; a date is checked and kept."""
    from wme_assets.sources.dumps_client import validate_dump_date

    check_project(project)
    validate_dump_date(date)
    if date == "latest":
        date = dumps_client().resolve_latest(project)
        echo(f"latest finished dump run of {project} at {load_settings().dumps_url}: {date}")
    return date


def dump_date_for_snapshot(project: str, snapshot_date: str, echo: Callable[[str], None] = print) -> str:
    """The newest finished dump run on or before a snapshot's day: the articles that snapshot holds."""
    date = dumps_client().resolve_latest(project, on_or_before=snapshot_date)
    echo(f"snapshot {snapshot_date} of {project} holds the dump run of {date}")
    return date


def run_partition(
    job_name: str,
    *,
    project: str,
    date: str,
    assets: list[str] | None = None,
    echo: Callable[[str], None] = print,
) -> RunSummary:
    """Execute ``job_name`` (or only its ``assets``) for the (date, project) partition on the current instance."""
    import uuid

    import dagster as dg

    from wme_assets.definitions import defs
    from wme_assets.run_health import run_liveness

    partition_key = dg.MultiPartitionKey({"date": date, "project": project})
    job = defs().resolve_job_def(job_name)
    echo(f"running job '{job_name}' for partition {partition_key} ...")
    started = time.monotonic()
    run_id = str(uuid.uuid4())
    # This process is the run's worker (execute_in_process replaces the job's executor, which registers
    # daemon-launched runs): tagged and beating, so a kill is noticed (wme_assets/run_health.py).
    with dg.DagsterInstance.get() as instance, run_liveness(instance, run_id) as worker_tags:
        selection = [dg.AssetKey(name) for name in assets] if assets else None
        result = job.execute_in_process(
            instance=instance,
            partition_key=partition_key,
            raise_on_error=False,
            asset_selection=selection,
            run_id=run_id,
            tags=worker_tags,
            # The stages' own progress lines (INFO) on the terminal; Dagster's per-event DEBUG lines stay
            # in the instance's event log, where the UI shows them.
            run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
        )
        outputs = []
        for event in result.get_asset_materialization_events():
            materialization = event.event_specific_data.materialization
            uri = materialization.metadata.get("uri")
            summary = materialization.metadata.get("summary")
            outputs.append(
                f"{materialization.asset_key.to_user_string()}: {uri.value if uri else '(no uri)'}"
                + (f"\n      {summary.value}" if summary else "")
            )
        error = None
        if not result.success:
            failures = [e for e in result.all_events if e.is_step_failure]
            error = "; ".join(str(e.event_specific_data.error.message).strip() for e in failures) or "unknown"
    return RunSummary(
        job=job_name,
        partition=str(partition_key),
        run_id=result.run_id,
        success=result.success,
        seconds=time.monotonic() - started,
        outputs=outputs,
        error=error,
    )


def run_snapshot_chain(
    project: str, *, dump_date: str, snapshot_date: str, tier: str, echo: Callable[[str], None] = print
) -> list[RunSummary]:
    """Ingest and enrich a dump run, then export the tier's snapshot of ``snapshot_date``; stops at a failure."""
    from wme_assets.defs.partitions import free_snapshot_dates

    if tier == "free" and snapshot_date not in free_snapshot_dates.get_partition_keys():
        if snapshot_date[6:] in ("02", "21"):
            # The free tier's day starts at 06:00 UTC, after the paid run (see defs/partitions.py).
            raise ConfigurationError(
                f"the free-tier snapshot of {snapshot_date} opens at 06:00 UTC that day, after the paid run"
            )
        raise ConfigurationError(f"free-tier snapshots are dated the 2nd and the 21st of a month, not {snapshot_date}")
    runs = [run_partition("main", project=project, date=dump_date, echo=echo)]
    if runs[-1].success:
        runs.append(run_partition(f"{tier}_snapshot_job", project=project, date=snapshot_date, echo=echo))
    return runs
