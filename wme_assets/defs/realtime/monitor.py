"""The realtime monitor: the listener's position and lag, and each project's application, as Dagster sees them.

The listener itself runs beside Dagster as the ``wme listen`` service (docker-compose and Helm), not under the
daemon: it holds one long-lived streaming connection, which a sensor (evaluated for at most a minute, then
gone until its next tick) could only reopen every tick. What Dagster gets is this sensor: every minute it
reads the status objects (:mod:`wme_assets.realtime.status`) and records them as observations of two asset
specs, so the UI plots them over time (Assets → ``realtime_listener`` / ``realtime_article_store`` → Plots):

- ``realtime_listener``: events stored per minute, totals, bad events and filtered ones by reason,
  reconnects by cause, whether the listener is stale, its lag behind the wiki's clock;
- ``realtime_article_store`` (partitioned by project): events behind, seconds behind, the last applied change.
"""

import json
from datetime import UTC, datetime

import dagster as dg

from wme_assets.defs.partitions import project_keys, project_partitions
from wme_assets.defs.resources import ObjectStorageResource
from wme_assets.realtime.status import events_per_minute, realtime_status
from wme_assets.settings import load_settings
from wme_assets.sources.catalog import CatalogError, configured_projects
from wme_assets.storage.seaweedfs import s3_answers

realtime_listener = dg.AssetSpec(
    "realtime_listener",
    group_name="realtime",
    kinds={"s3"},
    description="The change listener (`wme listen`): what it has read and stored into the event log "
    "(events/{project}/…), observed every minute by the realtime_monitor sensor.",
)
realtime_article_store = dg.AssetSpec(
    "realtime_article_store",
    group_name="realtime",
    kinds={"s3"},
    partitions_def=project_partitions,
    description="Each project's article store as the realtime applications keep it current: how far the "
    "applications are behind the event log, observed every minute by the realtime_monitor sensor.",
)


@dg.sensor(
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Every minute, records the change listener's position, rate and lag and each project's "
    "application (events and seconds behind, last applied change) as observations the UI plots.",
)
def realtime_monitor(context: dg.SensorEvaluationContext, object_storage: ObjectStorageResource) -> dg.SensorResult:
    settings = load_settings()
    if settings.embedded_s3 and not s3_answers(f"http://127.0.0.1:{settings.embedded_s3_port}"):
        # Watching must not start the embedded S3 server (it would outlive `dagster dev`): nothing runs without it.
        return dg.SensorResult(skip_reason="the embedded S3 server is not running (wme ui or a wme command starts it)")
    now = datetime.now(UTC)
    # The projects of the run-time settings (the listener's), that are partitions to record observations of.
    try:
        partitions = set(project_keys(context.instance))
        projects = [p for p in configured_projects(settings) if p in partitions]
    except CatalogError as exc:
        return dg.SensorResult(skip_reason=str(exc))
    status = realtime_status(object_storage.store, settings.change_source, projects, now=now)
    if status.listener_updated is None and not any(p.logged for p in status.projects):
        return dg.SensorResult(skip_reason=f"no {settings.change_source} listener has stored events yet (wme listen)")
    before = json.loads(context.cursor) if context.cursor else {}
    seconds = (now - datetime.fromisoformat(before["at"])).total_seconds() if before else 0.0
    rate = events_per_minute(status.kept, before.get("kept"), seconds)
    lags = [p.source_lag_s for p in status.projects if p.source_lag_s is not None]
    listener = {
        "stream": status.stream,
        "events_per_minute": rate if rate is not None else dg.MetadataValue.null(),
        "kept_total": status.kept,
        "read_total": int(status.stats.get("read", 0)),
        "duplicates_total": int(status.stats.get("duplicates", 0)),
        "bad_by_reason": status.stats.get("bad", {}),
        "filtered_by_reason": status.stats.get("filtered", {}),
        "reconnects_by_cause": status.stats.get("reconnects", {}),
        "bad_total": sum(status.stats.get("bad", {}).values()),
        "listener_stale": status.listener_stale,
        "listener_updated": status.listener_updated or "never",
        "source_lag_s_max": max(lags) if lags else dg.MetadataValue.null(),
    }
    events = [dg.AssetObservation(asset_key=realtime_listener.key, metadata=listener)]
    for project in status.projects:
        events.append(
            dg.AssetObservation(
                asset_key=realtime_article_store.key,
                partition=project.project,
                metadata={
                    "events_behind": project.events_behind,
                    "seconds_behind": project.seconds_behind,
                    "logged": project.logged,
                    "applied": project.applied,
                    "last_applied_event": project.last_applied_event or "none",
                    "last_applied_at": project.last_applied_at or "never",
                    "last_applied_change_dt": project.last_applied_change_dt or "none",
                },
            )
        )
    if status.listener_stale:
        context.log.warning(f"the {status.stream} listener has not reported since {status.listener_updated or 'ever'}")
    return dg.SensorResult(asset_events=events, cursor=json.dumps({"at": now.isoformat(), "kept": status.kept}))
