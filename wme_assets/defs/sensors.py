"""Sensors: start ingestion when a new dumps run finishes."""

import dagster as dg

from wme_assets.defs.jobs import main_job
from wme_assets.defs.partitions import PROJECTS
from wme_assets.defs.resources import DumpsSourceResource
from wme_assets.sources.dumps_client import DumpsError


@dg.sensor(
    job=main_job,
    minimum_interval_seconds=3600,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description=(
        "Checks the dumps site hourly for each project's newest finished run and requests the main job "
        "(ingest and enrich) for it once; the run key makes every (date, project) start only once."
    ),
)
def new_dump_runs(context: dg.SensorEvaluationContext, dumps: DumpsSourceResource) -> dg.SensorResult:
    client = dumps.client()
    requests, skipped = [], []
    for project in PROJECTS:
        try:
            date = client.resolve_latest(project)
        except DumpsError as exc:
            skipped.append(f"{project}: {exc}")
            continue
        key = dg.MultiPartitionKey({"date": date, "project": project})
        requests.append(dg.RunRequest(run_key=str(key), partition_key=key))
    return dg.SensorResult(
        run_requests=requests,
        skip_reason="; ".join(skipped) if skipped and not requests else None,
    )
