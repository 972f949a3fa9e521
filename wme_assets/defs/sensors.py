"""Sensors: keep the project partitions in line with the catalogue; start ingestion when a new dumps run
finishes; fail the runs whose worker died."""

import dagster as dg

from wme_assets.defs.jobs import main_job
from wme_assets.defs.partitions import project_keys, sync_projects
from wme_assets.defs.resources import DumpsSourceResource, RunHealthResource
from wme_assets.run_health import mark_dead_runs_failed
from wme_assets.settings import load_settings
from wme_assets.sources.catalog import CatalogError, open_catalog, select_projects
from wme_assets.sources.dumps_client import DumpsError


@dg.sensor(
    minimum_interval_seconds=24 * 3600,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Daily: fetches Wikimedia's site matrix again (WME_SITEMATRIX_URL) and adds a partition for every "
        "project WME_PROJECTS selects that is not one yet (new wikis included, with WME_PROJECTS=all or a "
        "family); reports the partitions of closed wikis and those the site matrix no longer lists. It never "
        "deletes a partition: its runs and materializations are history."
    ),
)
def project_catalogue(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    return dg.SkipReason(catalogue_tick(context.instance))


def catalogue_tick(instance: dg.DagsterInstance) -> str:
    """One evaluation of ``project_catalogue``: what it did, in the words the tick shows."""
    settings = load_settings()
    note = ""
    try:
        catalog = open_catalog(settings, refresh=True)
    except CatalogError as exc:
        try:
            catalog = open_catalog(settings)  # the cached one, when there is one
        except CatalogError:
            # An offline machine: nothing to sync against, which is no failure of the tick.
            return (
                f"no catalogue of projects ({exc}): partitions unchanged; the commands still add the dbnames "
                "of WME_PROJECTS they run"
            )
        note = f"refresh failed ({exc}); used the catalogue fetched {catalog.fetched_at}. "
    plan = sync_projects(instance, catalog, select_projects(settings.project_list, catalog))
    return f"{note}{len(catalog)} projects in the site matrix; WME_PROJECTS={settings.projects}: {plan.summary()}"


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
    for project in project_keys(context.instance):
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


@dg.sensor(
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Every minute, marks failed the STARTED runs whose run worker is dead: a process gone on this host "
        "(SIGKILL, out of memory) at once, a worker elsewhere once its heartbeat is older than "
        "WME_RUN_STALE_AFTER. Each tick says how many runs it judged, and which it marked failed and why."
    ),
)
def dead_run_monitor(context: dg.SensorEvaluationContext, run_health: RunHealthResource) -> dg.SkipReason:
    # Evaluated in the code location's process, which on one host is where the DefaultRunLauncher starts
    # the run workers: their pids are looked up directly there.
    report = mark_dead_runs_failed(context.instance, stale_after=run_health.stale_after_seconds)
    for run in report.marked:
        context.log.warning(f"run {run.run_id} ({run.job} {run.partition}) marked failed: {run.cause}")
    # A sensor that requests no run reports a skipped tick; its reason is what the UI shows for the tick.
    return dg.SkipReason(report.summary())
