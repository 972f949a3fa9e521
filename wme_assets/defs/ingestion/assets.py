"""Ingestion assets: dumps runs copied, verified, into the raw zone of object storage."""

import dagster as dg

from wme_assets.defs.partitions import dump_partitions, project_and_date
from wme_assets.defs.resources import DumpsSourceResource, ObjectStorageResource
from wme_assets.sources.dumps_client import (
    CONTENT_JOB,
    PAGE_PROPS_JOB,
    parse_status,
    unfinished_jobs,
)
from wme_assets.settings import load_settings
from wme_assets.storage.layout import raw_key

# Each HTTP request already retries with backoff; a step retry covers longer outages of the source.
NETWORK_RETRY = dg.RetryPolicy(
    max_retries=load_settings().step_retries,
    delay=10,
    backoff=dg.Backoff.EXPONENTIAL,
    jitter=dg.Jitter.PLUS_MINUS,
)


@dg.asset(
    partitions_def=dump_partitions,
    group_name="ingestion",
    kinds={"s3", "python"},
    retry_policy=NETWORK_RETRY,
    description=(
        "The run's dumpstatus.json, stored in the raw zone once the jobs wme ingests (multistream "
        "articles and page_props) are done. A run still in progress is refused and nothing is stored."
    ),
)
def dump_run_status(
    context: dg.AssetExecutionContext, dumps: DumpsSourceResource, object_storage: ObjectStorageResource
) -> dg.MaterializeResult:
    project, date = project_and_date(context)
    client = dumps.client()
    raw = client.fetch_status_bytes(project, date)
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
