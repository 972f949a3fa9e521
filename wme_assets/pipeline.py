"""Running a job for one project and date through the Dagster instance (so it shows in the UI)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from wme_assets.settings import ConfigurationError, load_settings, validate_project

# What the main job does not do yet, said plainly by `wme demo`.
NOT_YET_BUILT = (
    "The main job currently ingests the dumps run (raw zone, page store) and enriches it into Enterprise "
    "articles (article store); snapshot export joins it as that stage is built."
)


@dataclass
class RunSummary:
    run_id: str
    success: bool
    seconds: float
    date: str
    outputs: list[str] = field(default_factory=list)
    error: str | None = None


def resolve_date(project: str, date: str, echo: Callable[[str], None] = print) -> str:
    """Validate the project and date; ``latest`` becomes the newest finished dump run."""
    from wme_assets.sources.dumps_client import DumpsClient, make_session, validate_dump_date

    settings = load_settings()
    validate_project(project)
    validate_dump_date(date)
    if project not in settings.project_list:
        raise ConfigurationError(f"project {project!r} is not in WME_PROJECTS ({settings.projects}); add it there")
    if date == "latest":
        client = DumpsClient(settings.dumps_url, session=make_session(settings.http_retries, settings.http_backoff))
        date = client.resolve_latest(project)
        echo(f"latest finished dump run of {project} at {settings.dumps_url}: {date}")
    return date


def run_partition(job_name: str, *, project: str, date: str, echo: Callable[[str], None] = print) -> RunSummary:
    """Execute ``job_name`` for the (date, project) partition on the current Dagster instance."""
    import dagster as dg

    from wme_assets.definitions import defs

    date = resolve_date(project, date, echo)
    partition_key = dg.MultiPartitionKey({"date": date, "project": project})
    job = defs().resolve_job_def(job_name)
    echo(f"running job '{job_name}' for partition {partition_key} ...")
    started = time.monotonic()
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(instance=instance, partition_key=partition_key, raise_on_error=False)
        outputs = []
        for event in result.get_asset_materialization_events():
            materialization = event.event_specific_data.materialization
            uri = materialization.metadata.get("uri")
            outputs.append(f"{materialization.asset_key.to_user_string()}: {uri.value if uri else '(no uri)'}")
        error = None
        if not result.success:
            failures = [e for e in result.all_events if e.is_step_failure]
            error = "; ".join(str(e.event_specific_data.error.message).strip() for e in failures) or "unknown"
    return RunSummary(
        run_id=result.run_id,
        success=result.success,
        seconds=time.monotonic() - started,
        date=date,
        outputs=outputs,
        error=error,
    )
