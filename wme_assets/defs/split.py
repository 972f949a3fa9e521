"""The main job split into steps: one dumps run of one project over many processes (or pods).

``main_split`` does what the ``main`` job's page_store and articles assets do, from the raw zone (fetched by
``ingest`` or ``main``) to the article base, as ops fanned out with dynamic outputs: the parse steps planned
from the run's dumpstatus.json (one per multistream file, page ranges of large ones; ``WME_STEP_BYTES``),
then one enrichment step per page store part. Each step is a process under the multiprocess executor, a
Kubernetes Job under ``k8s_job_executor`` (``WME_STEP_EXECUTOR``), retried alone when it fails. The outputs
are the same bytes as one process running the steps (wme_assets/ingestion/steps.py, enrichment/steps.py);
the publishing ops record the page_store and articles materializations of the partition.
"""

import dagster as dg

from wme_assets.defs.executor import step_executor
from wme_assets.defs.failures import TRANSIENT_RETRY, fails_clearly
from wme_assets.defs.jobs import sized_by_project
from wme_assets.defs.lease import output_lease
from wme_assets.defs.partitions import dump_partitions
from wme_assets.defs.resources import SETTINGS_AT_LOAD, ObjectStorageResource, StageSettingsResource
from wme_assets.enrichment.steps import enrich_step, prepare_articles, publish_articles
from wme_assets.ingestion.steps import parse_step, prepare_pages, publish_pages
from wme_assets.instance import ARTICLE_STORE_POOL, TIER_TAG
from wme_assets.storage.lease import articles_lease, pages_lease
from wme_assets.storage.page_store import page_store_prefix


def _project_and_date(context: dg.OpExecutionContext) -> tuple[str, str]:
    key = context.partition_key
    if not isinstance(key, dg.MultiPartitionKey):
        raise dg.Failure(description=f"main_split runs one (date, project) partition, got {key!r}")
    return key.keys_by_dimension["project"], key.keys_by_dimension["date"]


@dg.op(out={"plan": dg.Out(), "steps": dg.DynamicOut()})
def plan_parse_steps(context, object_storage: ObjectStorageResource, settings: StageSettingsResource):
    """The run's tables published and its parse steps planned from dumpstatus.json."""
    project, date = _project_and_date(context)
    plan = prepare_pages(object_storage.store, project, date, step_bytes=settings.step_bytes, log=context.log.info)
    yield dg.Output(plan, "plan")
    for step in plan.steps:
        yield dg.DynamicOutput(step, mapping_key=step.key, output_name="steps")


# A step that fails for a transient reason (storage briefly unreachable, a pod evicted) is retried alone; a
# deterministic failure fails at once. Either way the steps that succeeded keep their output, and a re-execution
# from failure runs only the failed steps and what follows them.
@dg.op(retry_policy=TRANSIENT_RETRY)
@fails_clearly
def parse(context, object_storage: ObjectStorageResource, settings: StageSettingsResource, plan, step):
    """One parse step: its page range into page store parts."""
    return parse_step(
        object_storage.store, plan.project, plan.date, step, items_key=plan.items_key,
        workers=settings.parse_workers, log=context.log.info,
    )


@dg.op
@fails_clearly
def publish_page_store(context, object_storage: ObjectStorageResource, plan, results):
    store = object_storage.store
    # The writer's lease of the page store, as the page_store asset takes it; the steps only wrote scratch.
    with output_lease(context, store, pages_lease(plan.project, plan.date)):
        published = publish_pages(store, plan, results, log=context.log.info)
    context.log_event(
        dg.AssetMaterialization(
            asset_key="page_store",
            partition=context.partition_key,
            metadata={
                "uri": dg.MetadataValue.path(store.uri(store.key(page_store_prefix(plan.project, plan.date))) + "/"),
                "pages": published.rows,
                "parse_steps": len(results),
                "duplicates": published.summary["duplicate_count"],
            },
        )
    )
    return published.rows


@dg.op(out={"plan": dg.Out(), "steps": dg.DynamicOut()})
def plan_enrichment_steps(context, object_storage: ObjectStorageResource, settings: StageSettingsResource, pages):
    """The joins over the whole page store, and one enrichment step per page store part."""
    project, date = _project_and_date(context)
    plan = prepare_articles(
        object_storage.store, project, date, run_id=context.run.run_id,
        mediawiki_url=settings.mediawiki_endpoint(project), log=context.log.info,
    )
    yield dg.Output(plan, "plan")
    for step in plan.steps:
        yield dg.DynamicOutput(step, mapping_key=step.key, output_name="steps")


@dg.op(retry_policy=TRANSIENT_RETRY)
@fails_clearly
def enrich(context, object_storage: ObjectStorageResource, settings: StageSettingsResource, plan, step):
    """One enrichment step: one page store part into articles."""
    return enrich_step(
        object_storage.store, plan, step, workers=settings.parse_workers,
        mediawiki_url=settings.mediawiki_endpoint(plan.project), log=context.log.info,
    )


@dg.op(pool=ARTICLE_STORE_POOL)  # it writes the project's article store
@fails_clearly
def publish_article_base(context, object_storage: ObjectStorageResource, plan, results):
    store = object_storage.store
    with output_lease(context, store, articles_lease(plan.project)):  # as the articles asset takes it
        result = publish_articles(store, plan, results, log=context.log.info)
    context.log_event(
        dg.AssetMaterialization(
            asset_key="articles",
            partition=context.partition_key,
            metadata={
                "uri": dg.MetadataValue.path(store.uri(store.key(result.prefix)) + "/"),
                "articles": result.articles,
                "quarantined": len(result.quarantined),
                "enrichment_steps": len(results),
                "up_to_date": plan.up_to_date is not None,
            },
        )
    )
    return result.articles


@dg.job(
    name="main_split",
    partitions_def=dump_partitions,
    config=sized_by_project(dump_partitions),
    executor_def=step_executor(SETTINGS_AT_LOAD.step_executor),
    tags={TIER_TAG: "ingest"},
    description=(
        "One project and dump date from the raw zone to the article store, in parallel steps: multistream "
        "files and page ranges, then page store parts. Same output as `main`'s page_store and articles."
    ),
)
def main_split():
    pages_plan, parse_steps = plan_parse_steps()
    pages = publish_page_store(pages_plan, parse_steps.map(lambda step: parse(pages_plan, step)).collect())
    articles_plan, enrich_steps = plan_enrichment_steps(pages)
    publish_article_base(articles_plan, enrich_steps.map(lambda step: enrich(articles_plan, step)).collect())
