"""The main job split into steps: one dumps run of one project over many processes (or pods).

``main_split`` does what the ``main`` job's page_store and articles assets do, from the raw zone (fetched by
``ingest`` or ``main``) to the article base, as ops fanned out with dynamic outputs: the parse steps planned
from the run's dumpstatus.json (one per multistream file, page ranges of large ones; ``WME_STEP_BYTES``),
then one enrichment step per page store part. Each step is a process under the multiprocess executor, a
Kubernetes Job under ``k8s_job_executor`` (``WME_STEP_EXECUTOR``), retried alone when it fails. The outputs
are the same bytes as one process running the steps (wme_assets/ingestion/steps.py, enrichment/steps.py);
the publishing ops record the page_store and articles materializations of the partition, with the metadata
and the check evaluations those assets record (the same functions make them). The steps hand each other their
outputs through ``WME_STEP_IO`` (wme_assets/defs/step_io.py): the object store when they may run on different
machines; the last op removes them once the run has succeeded.
"""

import time
from collections.abc import Iterator

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,  # not exported by dagster; what its own asset checks record
)

from wme_assets.defs.enrichment.assets import articles, articles_record
from wme_assets.defs.executor import step_executor
from wme_assets.defs.failures import TRANSIENT_RETRY, fails_clearly
from wme_assets.defs.ingestion.assets import page_store, page_store_record
from wme_assets.defs.jobs import sized_by_project
from wme_assets.defs.lease import output_lease
from wme_assets.defs.partitions import dump_partitions
from wme_assets.defs.resources import SETTINGS_AT_LOAD, ObjectStorageResource, StageSettingsResource
from wme_assets.defs.step_io import STEP_IO_KEY, ObjectStoreStepIO, run_lineage
from wme_assets.enrichment.checks import validate_article_sample
from wme_assets.enrichment.steps import enrich_step, prepare_articles, publish_articles
from wme_assets.ingestion.run import page_ingest_result
from wme_assets.ingestion.steps import parse_step, prepare_pages, publish_pages
from wme_assets.instance import ARTICLE_STORE_POOL, TIER_TAG
from wme_assets.storage.lease import articles_lease, pages_lease

# Every output goes through the steps' IO manager (WME_STEP_IO), Dagster's default one never.
STEP_OUT = dg.Out(io_manager_key=STEP_IO_KEY)
PLAN_OUTS = {"plan": dg.Out(io_manager_key=STEP_IO_KEY), "steps": dg.DynamicOut(io_manager_key=STEP_IO_KEY)}


def _project_and_date(context: dg.OpExecutionContext) -> tuple[str, str]:
    key = context.partition_key
    if not isinstance(key, dg.MultiPartitionKey):
        raise dg.Failure(description=f"main_split runs one (date, project) partition, got {key!r}")
    return key.keys_by_dimension["project"], key.keys_by_dimension["date"]


def _seconds_since(context: dg.OpExecutionContext, planned_at: float) -> float:
    """Wall seconds since the plan was made, or since this run started if it re-executes an earlier one."""
    record = context.instance.get_run_record_by_id(context.run_id)
    started = max(planned_at, (record.start_time if record else None) or 0.0)
    return max(0.0, time.time() - started)


def _record_asset(
    context: dg.OpExecutionContext, asset: dg.AssetsDefinition, record: dg.MaterializeResult, **extra
) -> Iterator[dg.AssetMaterialization | dg.AssetCheckEvaluation]:
    """The asset's materialization of this partition, then its checks' evaluations against it: what the asset
    itself records (blocking checks that fail fail the step, as they fail the asset's)."""
    yield dg.AssetMaterialization(
        asset_key=asset.key, partition=context.partition_key, metadata={**record.metadata, **extra}
    )
    # Stored by now (Dagster stores a yielded event before resuming the op): the evaluations point at it.
    found = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset.key, asset_partitions=[context.partition_key]), limit=1
    ).records
    target = None
    if found and found[0].run_id == context.run_id:
        target = AssetCheckEvaluationTargetMaterializationData(
            run_id=found[0].run_id, storage_id=found[0].storage_id, timestamp=found[0].timestamp
        )
    specs = {spec.name: spec for spec in asset.check_specs}
    for result in record.check_results:
        spec = specs[result.check_name]
        yield dg.AssetCheckEvaluation(
            asset_key=asset.key,
            check_name=result.check_name,
            passed=result.passed,
            metadata=result.metadata,
            severity=result.severity,
            description=result.description,
            blocking=spec.blocking,
            # as Dagster evaluates the asset's own checks: per partition only if the check is partitioned
            partition=context.partition_key if spec.partitions_def is not None else None,
            target_materialization_data=target,
        )


@dg.op(out=PLAN_OUTS)
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
@dg.op(out=STEP_OUT, retry_policy=TRANSIENT_RETRY)
@fails_clearly
def parse(context, object_storage: ObjectStorageResource, settings: StageSettingsResource, plan, step):
    """One parse step: its page range into page store parts."""
    return parse_step(
        object_storage.store, plan.project, plan.date, step, items_key=plan.items_key,
        workers=settings.parse_workers, log=context.log.info,
    )


@dg.op(out=STEP_OUT)
@fails_clearly
def publish_page_store(context, object_storage: ObjectStorageResource, plan, results):
    store = object_storage.store
    # The writer's lease of the page store, as the page_store asset takes it; the steps only wrote scratch.
    with output_lease(context, store, pages_lease(plan.project, plan.date)):
        published = publish_pages(store, plan, results, log=context.log.info)
    result = page_ingest_result(plan, published, _seconds_since(context, plan.planned_at))
    yield from _record_asset(context, page_store, page_store_record(store, result), parse_steps=len(results))
    yield dg.Output(published.rows)


@dg.op(out=PLAN_OUTS)
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


@dg.op(out=STEP_OUT, retry_policy=TRANSIENT_RETRY)
@fails_clearly
def enrich(context, object_storage: ObjectStorageResource, settings: StageSettingsResource, plan, step):
    """One enrichment step: one page store part into articles."""
    return enrich_step(
        object_storage.store, plan, step, workers=settings.parse_workers,
        mediawiki_url=settings.mediawiki_endpoint(plan.project), log=context.log.info,
    )


@dg.op(out=STEP_OUT, pool=ARTICLE_STORE_POOL)  # it writes the project's article store
@fails_clearly
def publish_article_base(context, object_storage: ObjectStorageResource, plan, results):
    store = object_storage.store
    with output_lease(context, store, articles_lease(plan.project)):  # as the articles asset takes it
        result = publish_articles(store, plan, results, log=context.log.info)
        problems = validate_article_sample(store, plan.project, plan.date, sample=1000)  # under the lease, too
    if not result.up_to_date:
        result.seconds = _seconds_since(context, plan.planned_at)
    yield from _record_asset(context, articles, articles_record(store, result, problems), enrichment_steps=len(results))
    yield dg.Output(result.articles)


# Last, so it runs only when every other step has succeeded: a failed run keeps its outputs for a re-execution.
@dg.op(ins={"published": dg.In(dg.Nothing)}, required_resource_keys={STEP_IO_KEY}, retry_policy=TRANSIENT_RETRY)
@fails_clearly
def remove_step_outputs(context) -> None:
    """The step outputs of this run and of the runs it re-executed removed from the object store (WME_STEP_IO=s3;
    the local IO manager's stay in the run's storage directory, as every job's do)."""
    step_io = getattr(context.resources, STEP_IO_KEY)
    if isinstance(step_io, ObjectStoreStepIO):
        runs = run_lineage(context.instance, context.run_id)
        context.log.info(f"{step_io.remove_runs(runs)} step outputs of {len(runs)} run(s) removed")


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
    enriched = enrich_steps.map(lambda step: enrich(articles_plan, step)).collect()
    remove_step_outputs(publish_article_base(articles_plan, enriched))
