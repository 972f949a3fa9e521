"""Publishing assets: verified free-tier snapshots to the dumps-site layout (and further targets)."""

from pathlib import Path

import dagster as dg

from wme_assets.defs.export.assets import free_snapshot
from wme_assets.defs.partitions import free_snapshot_partitions, project_and_date
from wme_assets.defs.resources import ObjectStorageResource
from wme_assets.publishing.dumps_site import LocalDirTarget, S3Target, publish_run
from wme_assets.settings import load_settings

PUBLISH_RETRY = dg.RetryPolicy(max_retries=3, delay=30, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)


def dumps_site_target(setting: str, store):
    """``WME_DUMPS_SITE_TARGET``: a local directory (absolute path or file://), else a key prefix in the bucket."""
    if setting.startswith("file://"):
        return LocalDirTarget(Path(setting.removeprefix("file://")))
    if setting.startswith("/"):
        return LocalDirTarget(Path(setting))
    return S3Target(store, setting or "dumps-site")


@dg.asset(
    partitions_def=free_snapshot_partitions,
    group_name="publishing",
    kinds={"s3", "python"},
    deps=[free_snapshot],
    retry_policy=PUBLISH_RETRY,
    check_specs=[dg.AssetCheckSpec("published_matches_manifest", asset="dumps_site_run", blocking=True)],
    description=(
        "The day's free-tier snapshots in the layout of dumps.wikimedia.org/other/enterprise_html/runs/{date}/, "
        "with md5sums.txt, sha256sums.txt and a status.json that lists a file as done only once it is complete "
        "and verified. Runs right after the free snapshot verifies."
    ),
)
def dumps_site_run(context: dg.AssetExecutionContext, object_storage: ObjectStorageResource) -> dg.MaterializeResult:
    project, date = project_and_date(context)
    store = object_storage.store
    target = dumps_site_target(load_settings().dumps_site_target, store)
    run = publish_run(store, target, date=date, tier="free")
    mine = {name: f for name, f in run.status.files.items() if f.dbname == project}
    not_done = {name: f.status for name, f in mine.items() if f.status not in ("done", "skipped")}
    return dg.MaterializeResult(
        metadata={
            "uri": dg.MetadataValue.text(target.describe(f"other/enterprise_html/runs/{date}/")),
            "summary": f"run {date}: {run.status.status}; {len(run.uploaded)} files uploaded, "
            f"{len(run.unchanged)} unchanged, {len(run.failed)} refused",
            "run_status": run.status.status,
            "files_of_project": len(mine),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="published_matches_manifest",
                passed=not not_done and not run.failed,
                metadata={"not_done": not_done, "refused": run.failed},
            )
        ],
    )
