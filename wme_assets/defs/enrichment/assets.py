"""Enrichment assets: the page store of a dump into Wikimedia Enterprise articles."""

import dagster as dg

from wme_assets.defs.failures import fails_clearly
from wme_assets.defs.ingestion.assets import page_store
from wme_assets.defs.lease import output_lease
from wme_assets.defs.partitions import dump_partitions, project_and_date
from wme_assets.defs.resources import ObjectStorageResource, StageSettingsResource
from wme_assets.enrichment.checks import validate_article_sample
from wme_assets.enrichment.run import EnrichResult, enrich_pages
from wme_assets.instance import ARTICLE_STORE_POOL
from wme_assets.storage import ObjectStore
from wme_assets.storage.lease import articles_lease


@dg.asset(
    partitions_def=dump_partitions,
    group_name="enrichment",
    kinds={"s3", "parquet", "python"},
    deps=[page_store],
    pool=ARTICLE_STORE_POOL,  # it writes the project's article store
    check_specs=[
        dg.AssetCheckSpec("every_page_accounted_for", asset="articles", blocking=True),
        dg.AssetCheckSpec("articles_match_schema", asset="articles", blocking=True),
        dg.AssetCheckSpec("no_quarantined_pages", asset="articles"),
    ],
    description=(
        "Every page of the exported namespaces (0, 6, 10, 14) as a Wikimedia Enterprise article (and a "
        "Structured Contents record for ns 0), in the article store under articles/{project}/base/{date}/. "
        "Redirects become the `redirects` of their target. Pages the extractor cannot handle are "
        "quarantined with their reason and counted."
    ),
)
@fails_clearly
def articles(
    context: dg.AssetExecutionContext, object_storage: ObjectStorageResource, settings: StageSettingsResource
) -> dg.MaterializeResult:
    project, date = project_and_date(context)
    store = object_storage.store
    # The sample is checked under the lease too, so it is what this run wrote.
    with output_lease(context, store, articles_lease(project)):
        result = enrich_pages(
            store,
            project,
            date,
            run_id=context.run.run_id,
            workers=settings.parse_workers,
            mediawiki_url=settings.mediawiki_endpoint(project),
            log=context.log.info,
        )
        problems = validate_article_sample(store, project, date, sample=1000)
    return articles_record(store, result, problems)


def articles_record(store: ObjectStore, result: EnrichResult, problems: list[str]) -> dg.MaterializeResult:
    """The articles materialization's metadata and check results (``problems``: what the schema check of a
    sample of the base found), of the asset's own run or of the steps of a main_split run."""
    accounted = result.articles + len(result.quarantined)
    seconds = result.seconds or 1e-9
    return dg.MaterializeResult(
        metadata={
            "uri": dg.MetadataValue.path(store.uri(store.key(result.prefix)) + "/"),
            "summary": (
                f"{result.articles} articles, up to date (built earlier from the same page store and parser)"
                if result.up_to_date
                else f"{result.articles} articles, {result.redirects_attached} redirects attached, "
                f"{len(result.quarantined)} quarantined"
            ),
            "up_to_date": result.up_to_date,
            "articles": result.articles,
            "articles_per_namespace": {str(ns): n for ns, n in sorted(result.articles_per_namespace.items())},
            "structured_contents": result.structured,
            "disambiguation_pages": result.disambiguation_pages,
            "redirects_attached": result.redirects_attached,
            "redirects_dangling": result.redirects_dangling,
            "quarantined": len(result.quarantined),
            # Articles kept without an abstract because their lead did not render into prose, by reason.
            "abstracts_withheld": dict(sorted(result.abstracts_withheld.items())),
            "abstracts_truncated": result.abstracts_truncated,
            "from_parsoid_html": result.html_pages,
            "html_unavailable": result.html_missing,
            "wikitext_mb": round(result.wikitext_bytes / 1e6, 3),
            "duration_s": round(result.seconds, 2),
            "articles_per_s": round(result.articles / seconds, 1),
            "wikitext_mb_per_s": round(result.wikitext_bytes / 1e6 / seconds, 2),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="every_page_accounted_for",
                passed=accounted == result.eligible_pages,
                metadata={"eligible_pages": result.eligible_pages, "articles_plus_quarantined": accounted},
            ),
            dg.AssetCheckResult(
                check_name="articles_match_schema",
                passed=not problems,
                metadata={"problems": problems[:20]},
            ),
            dg.AssetCheckResult(
                check_name="no_quarantined_pages",
                passed=not result.quarantined,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    "quarantined": len(result.quarantined),
                    "first_reasons": [f"{q.page_id}: {q.reason}" for q in result.quarantined[:10]],
                    "quarantine": result.quarantine_object.uri if result.quarantine_object else "",
                },
            ),
        ],
    )
