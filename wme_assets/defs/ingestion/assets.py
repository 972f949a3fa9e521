"""Ingestion assets: dumps runs copied, verified, into the raw zone of object storage."""

import time
from functools import partial

import dagster as dg

from wme_assets.defs.failures import TRANSIENT_RETRY, fails_clearly
from wme_assets.defs.lease import output_lease
from wme_assets.defs.partitions import dump_partitions, project_and_date
from wme_assets.defs.resources import (
    DumpsSourceResource,
    ObjectStorageResource,
    StageSettingsResource,
)
from wme_assets.ingestion.download import download_run, run_files
from wme_assets.ingestion.run import PageIngestResult, ingest_pages
from wme_assets.sources.dumps_client import (
    CONTENT_JOB,
    PAGE_PROPS_JOB,
    DumpsNotFound,
    parse_status,
    unfinished_jobs,
)
from wme_assets.storage import ObjectStore
from wme_assets.storage.keys import raw_key
from wme_assets.storage.lease import pages_lease, raw_lease

# Every ingestion asset is one (date, project) partition of the dumps run, in the ingestion group.
ingestion_asset = partial(dg.asset, partitions_def=dump_partitions, group_name="ingestion")


@ingestion_asset(
    kinds={"s3", "python"},
    retry_policy=TRANSIENT_RETRY,  # each HTTP request retries too; this covers longer outages
    description=(
        "The run's dumpstatus.json, stored in the raw zone once the jobs wme ingests (multistream "
        "articles and page_props) are done. A run still in progress is refused and nothing is stored."
    ),
)
@fails_clearly
def dump_run_status(
    context: dg.AssetExecutionContext, dumps: DumpsSourceResource, object_storage: ObjectStorageResource
) -> dg.MaterializeResult:
    project, date = project_and_date(context)
    client = dumps.client()
    try:
        raw = client.fetch_status_bytes(project, date)
    except DumpsNotFound as exc:
        raise dg.Failure(description=f"{project} {date}: no such dump run ({exc})", allow_retries=False) from exc
    status = parse_status(raw)
    pending = unfinished_jobs(status, (CONTENT_JOB, PAGE_PROPS_JOB))
    if pending:
        raise dg.Failure(
            description=(
                f"{project} {date}: dump run at {client.run_url(project, date)} is not finished "
                f"({', '.join(f'{job}: {state}' for job, state in pending.items())}); nothing was ingested. "
                "Retry once the run is done, or pick an earlier date."
            ),
            metadata={"unfinished_jobs": pending},
            allow_retries=False,
        )
    store = object_storage.store
    with output_lease(context, store, raw_lease(project, date)):
        published = store.put_bytes(
            store.key(raw_key(project, date, "dumpstatus.json")), raw, content_type="application/json"
        )
    files = [f for job in (CONTENT_JOB, PAGE_PROPS_JOB) for f in status.jobs[job].files.values()]
    return dg.MaterializeResult(
        metadata={
            "uri": dg.MetadataValue.path(published.uri),
            "source": dg.MetadataValue.url(client.file_url(project, date, "dumpstatus.json")),
            "jobs": {name: job.status for name, job in status.jobs.items()},
            "files": len(files),
            "bytes_to_ingest": sum(f.size or 0 for f in files),
            "sha256": published.sha256,
        }
    )


class _ProgressLog:
    """Logs each file's download progress to the run's log every 10%, so operators can watch it."""

    def __init__(self, context: dg.AssetExecutionContext):
        self.context = context
        self.reported: dict[str, int] = {}

    def __call__(self, name: str, done: int, total: int) -> None:
        if not total:
            return
        decile = done * 10 // total
        if decile > self.reported.get(name, -1):
            self.reported[name] = decile
            self.context.log.info(f"{name}: {done / 1e6:.1f} of {total / 1e6:.1f} MB ({decile * 10}%)")


@ingestion_asset(
    kinds={"s3", "python"},
    deps=[dump_run_status],
    retry_policy=TRANSIENT_RETRY,  # each HTTP request retries too; this covers longer outages
    check_specs=[dg.AssetCheckSpec("checksums_verified", asset="raw_dump_files", blocking=True)],
    description=(
        "The run's multistream dump (every part, with its index), page_props table and the optional tables it "
        "has (categorylinks, templatelinks, linktarget, page_restrictions, user_groups, wbc_entity_usage), "
        "copied into "
        "raw/{project}/{date}/ and verified against the md5 and sha1 the run publishes. Resumes broken "
        "downloads; files already stored with the right checksums are skipped."
    ),
)
@fails_clearly
def raw_dump_files(
    context: dg.AssetExecutionContext, dumps: DumpsSourceResource, object_storage: ObjectStorageResource
) -> dg.MaterializeResult:
    project, date = project_and_date(context)
    client = dumps.client()
    store = object_storage.store
    status = parse_status(store.read_bytes(store.key(raw_key(project, date, "dumpstatus.json"))))
    files = run_files(status, project, date, log=context.log.info)
    started = time.monotonic()
    with output_lease(context, store, raw_lease(project, date)):
        result = download_run(client, store, project, date, files=files, progress=_ProgressLog(context))
    seconds = time.monotonic() - started
    published = {f.name: f for f in files}
    mismatched = [
        f.name
        for f in result.files
        if (published[f.name].md5 and f.md5 != published[f.name].md5)
        or (published[f.name].sha1 and f.sha1 != published[f.name].sha1)
    ]
    return dg.MaterializeResult(
        metadata={
            "files": dg.MetadataValue.md(
                "| file | MB | sha1 | stored |\n|---|---|---|---|\n"
                + "\n".join(
                    f"| {f.name} | {f.size / 1e6:.1f} | `{f.sha1[:12]}` | {'already' if f.skipped else 'now'} |"
                    for f in result.files
                )
            ),
            "uri": dg.MetadataValue.path(store.uri(store.key(raw_key(project, date, ""))) + "/"),
            "summary": f"{len(result.files)} files, {result.bytes / 1e6:.1f} MB, checksums verified",
            "bytes": result.bytes,
            "bytes_downloaded": result.bytes_downloaded,
            "files_skipped": sum(f.skipped for f in result.files),
            "resumes": sum(f.resumes for f in result.files),
            "duration_s": round(seconds, 2),
            "throughput_mb_s": round(result.bytes_downloaded / 1e6 / seconds, 2) if seconds else 0.0,
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="checksums_verified",
                passed=not mismatched,
                metadata={"files_verified": len(result.files) - len(mismatched), "mismatched": mismatched},
            )
        ],
    )


@ingestion_asset(
    kinds={"s3", "parquet", "python"},
    deps=[raw_dump_files],
    check_specs=[
        dg.AssetCheckSpec("page_count_matches_dump", asset="page_store", blocking=True),
        dg.AssetCheckSpec("no_duplicate_page_ids", asset="page_store"),
    ],
    description=(
        "The run's pages as Parquet under pages/{project}/{date}/: one row per page with its latest "
        "revision and its Wikidata id (from page_props), queryable with DuckDB, and the run's SQL tables "
        "(tables/{table}.parquet: categorylinks, templatelinks, linktarget, page_restrictions, page_props, "
        "user_groups, wbc_entity_usage; each optional). Duplicate page ids are quarantined and counted."
    ),
)
@fails_clearly
def page_store(
    context: dg.AssetExecutionContext, object_storage: ObjectStorageResource, settings: StageSettingsResource
) -> dg.MaterializeResult:
    project, date = project_and_date(context)
    store = object_storage.store
    with output_lease(context, store, pages_lease(project, date)):
        result = ingest_pages(store, project, date, workers=settings.parse_workers, log=context.log.info)
    return page_store_record(store, result)


def page_store_record(store: ObjectStore, result: PageIngestResult) -> dg.MaterializeResult:
    """The page_store materialization's metadata and check results, of the asset's own run or of the steps of
    a main_split run (which records them for the asset: wme_assets/defs/split.py)."""
    summary = result.summary
    written = summary.rows + summary.duplicate_count
    return dg.MaterializeResult(
        metadata={
            "uri": dg.MetadataValue.path(store.uri(store.key(result.prefix)) + "/"),
            "summary": f"{summary.rows} pages ({summary.redirects} redirects), "
            f"{summary.text_bytes / 1e6:.1f} MB of wikitext, {summary.wikibase_items} with a Wikidata id",
            "pages": summary.rows,
            "pages_per_namespace": {str(ns): n for ns, n in sorted(summary.pages_per_namespace.items())},
            "redirects": summary.redirects,
            "with_wikidata_id": summary.wikibase_items,
            "wikitext_bytes": summary.text_bytes,
            "bz2_bytes": result.xml_bytes,
            "parquet_files": len(summary.files),
            "duration_s": round(result.seconds, 2),
            "pages_per_s": round(result.pages_read / result.seconds, 1) if result.seconds else 0.0,
            "wikitext_mb_per_s": round(summary.text_bytes / 1e6 / result.seconds, 2) if result.seconds else 0.0,
            "table_rows": {table: record["rows"] for table, record in result.tables.items()},
            "tables_skipped": dict(result.tables_skipped),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="page_count_matches_dump",
                passed=written == result.pages_read,
                metadata={"page_elements_read": result.pages_read, "rows_plus_quarantined": written},
            ),
            dg.AssetCheckResult(
                check_name="no_duplicate_page_ids",
                passed=summary.duplicate_count == 0,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    "duplicates": summary.duplicate_count,
                    "quarantine": result.quarantined.uri if result.quarantined else "",
                },
            ),
        ],
    )
