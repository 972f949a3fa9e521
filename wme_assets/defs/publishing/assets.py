"""Publishing assets: verified free-tier snapshots to the dumps-site layout, Parquet and Hugging Face."""

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg

from wme_assets.defs.failures import TRANSIENT_RETRY, fails_clearly
from wme_assets.defs.lease import output_lease
from wme_assets.defs.partitions import free_snapshot_partitions, project_and_date
from wme_assets.defs.resources import ObjectStorageResource, PublishingResource
from wme_assets.defs.snapshots.assets import free_snapshot
from wme_assets.publishing.dumps_site import LocalDirTarget, S3Target, publish_run
from wme_assets.publishing.huggingface import DEFAULT_DRY_RUN_REPO, publish_to_hub
from wme_assets.publishing.parquet import export_parquet, list_parquet_manifests, parquet_summary
from wme_assets.storage.lease import dumps_site_lease, huggingface_lease, parquet_lease


def location_metadata(location: str) -> dg.MetadataValue:
    """A clickable link in the UI for web locations (the hub's commit), a copyable path for s3:// and file://."""
    if location.startswith(("http://", "https://")):
        return dg.MetadataValue.url(location)
    return dg.MetadataValue.path(location)


def dumps_site_target(setting: str, store):
    """``WME_DUMPS_SITE_TARGET``: a local directory (absolute path or file://), else a key prefix in the bucket."""
    if setting.startswith("file://"):
        return LocalDirTarget(Path(setting.removeprefix("file://")))
    if setting.startswith("/"):
        return LocalDirTarget(Path(setting))
    return S3Target(store, setting or "dumps-site")


def publishing_asset(*, check: str, kinds: set[str], deps: list[Any], description: str) -> Callable:
    """What every publishing asset is: a (project, date) partition of the free snapshot's day, retried, with
    one blocking check named ``check``."""

    def decorate(fn: Callable) -> dg.AssetsDefinition:
        return dg.asset(
            name=fn.__name__,
            partitions_def=free_snapshot_partitions,
            group_name="publishing",
            kinds=kinds,
            deps=deps,
            retry_policy=TRANSIENT_RETRY,
            check_specs=[dg.AssetCheckSpec(check, asset=fn.__name__, blocking=True)],
            description=description,
        )(fails_clearly(fn))

    return decorate


def checked_result(metadata: dict[str, Any], check: str, passed: bool, **evidence: Any) -> dg.MaterializeResult:
    """The materialization with the result of its one check (``evidence`` is the check's metadata)."""
    return dg.MaterializeResult(
        metadata=metadata,
        check_results=[dg.AssetCheckResult(check_name=check, passed=passed, metadata=evidence)],
    )


@publishing_asset(
    check="published_matches_manifest",
    kinds={"s3", "python"},
    deps=[free_snapshot],
    description=(
        "The day's free-tier snapshots in the layout of dumps.wikimedia.org/other/enterprise_html/runs/{date}/, "
        "with md5sums.txt, sha256sums.txt and a status.json that lists a file as done only once it is complete "
        "and verified. Runs right after the free snapshot verifies."
    ),
)
def dumps_site_run(
    context: dg.AssetExecutionContext, object_storage: ObjectStorageResource, publishing: PublishingResource
) -> dg.MaterializeResult:
    project, date = project_and_date(context)
    store = object_storage.store
    target = dumps_site_target(publishing.dumps_site_target, store)
    with output_lease(context, store, dumps_site_lease(date), shared=True):
        run = publish_run(store, target, date=date, tier="free")
    mine = {name: f for name, f in run.status.files.items() if f.dbname == project}
    not_done = {name: f.status for name, f in mine.items() if f.status not in ("done", "skipped")}
    return checked_result(
        {
            "uri": location_metadata(target.describe(f"other/enterprise_html/runs/{date}/")),
            "status_json": location_metadata(target.describe(f"other/enterprise_html/runs/{date}/status.json")),
            "summary": f"run {date}: {run.status.status}; {len(run.uploaded)} files uploaded, "
            f"{len(run.unchanged)} unchanged, {len(run.failed)} refused",
            "run_status": run.status.status,
            "files_of_project": len(mine),
        },
        "published_matches_manifest",
        passed=not not_done and not run.failed,
        not_done=not_done,
        refused=run.failed,
    )


@publishing_asset(
    check="rows_match_snapshot",
    kinds={"s3", "parquet", "python"},
    deps=[free_snapshot],
    description=(
        "The day's verified snapshots as Parquet shards with a real nested schema generated from the same models "
        "as the JSON Schema: articles from the free-tier article snapshots, Structured Contents from the paid "
        "Structured Contents snapshot (skipped, with the reason, when the day has none). Each snapshot is "
        "checked, then re-hashed while it streams; shards are published under parquet/{date}/ only once it "
        "matched its manifest, with a manifest of SHA-256s, row counts and the source snapshot. DuckDB reads "
        "them directly."
    ),
)
def parquet_shards(context: dg.AssetExecutionContext, object_storage: ObjectStorageResource) -> dg.MaterializeResult:
    project, date = project_and_date(context)
    store = object_storage.store
    with (
        output_lease(context, store, parquet_lease(project, date)),
        tempfile.TemporaryDirectory(prefix=f"wme-parquet-{project}-{date}-") as tmp,
    ):
        exported = export_parquet(
            store,
            project,
            date,
            tier="free",
            kinds=("article", "structured-content"),
            work_dir=tmp,
            log_line=context.log.info,
        )
    summary = parquet_summary(store, exported)
    return checked_result(
        {
            "uri": location_metadata(store.uri(store.key(f"parquet/{date}")) + "/"),
            "summary": summary.text,
            "rows": summary.rows,
            "shards": summary.shards,
            "source_snapshots": summary.sources,
            "skipped": summary.skipped,
        },
        "rows_match_snapshot",
        passed=not summary.mismatched,
        parquet_vs_snapshot=summary.mismatched,
    )


@publishing_asset(
    check="card_counts_match_files",
    kinds={"huggingface", "python"},
    deps=[parquet_shards],
    description=(
        "The day's Parquet shards as a Hugging Face dataset: one config per project and date ({date}.{lang}), "
        "a dataset card generated from the manifests, one commit and a tag per snapshot date. Without HF_TOKEN "
        "the repository tree is written to hf-dry-run/ in object storage for inspection."
    ),
)
def huggingface_dataset(
    context: dg.AssetExecutionContext, object_storage: ObjectStorageResource, publishing: PublishingResource
) -> dg.MaterializeResult:
    project, date = project_and_date(context)
    store = object_storage.store
    manifests = [
        m
        for kind in ("article", "structured-content")
        for m in list_parquet_manifests(store, date, kind)
        if m.identifier.startswith(f"{project}_")
    ]
    if not manifests:
        raise dg.Failure(description=f"{project} {date}: no published Parquet shards", allow_retries=False)
    with (
        output_lease(context, store, huggingface_lease(publishing.hf_repo or DEFAULT_DRY_RUN_REPO), shared=True),
        tempfile.TemporaryDirectory(prefix=f"wme-hf-{project}-{date}-") as tmp,
    ):
        # The token stays out of logs and metadata: only the repository and the outcome are reported.
        publication = publish_to_hub(
            store, manifests, work_dir=tmp, repo_id=publishing.hf_repo, token=publishing.hf_token
        )
    expected_rows = sum(m.rows for m in manifests)
    return checked_result(
        {
            "uri": location_metadata(publication.location),
            "summary": f"{publication.mode}: {len(publication.configs)} configs, {publication.files} files, "
            f"{publication.rows} rows ({publication.repo_id})",
            "configs": publication.configs,
            "mode": publication.mode,
        },
        "card_counts_match_files",
        passed=publication.rows == expected_rows,
        card_rows=publication.rows,
        manifest_rows=expected_rows,
    )
