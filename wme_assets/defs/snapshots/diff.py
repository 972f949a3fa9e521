"""``snapshot_diff``: the pages added, changed and deleted since the project's previous paid snapshot.

Runs after the day's paid snapshot; the work is in :mod:`wme_assets.snapshots.diff`, here only the
partition, the choice of the earlier snapshot and the metadata.
"""

import dagster as dg

from wme_assets.defs.failures import TRANSIENT_RETRY, fails_clearly
from wme_assets.defs.lease import output_lease
from wme_assets.defs.partitions import paid_snapshot_partitions, project_and_date
from wme_assets.defs.resources import ObjectStorageResource
from wme_assets.defs.snapshots.assets import paid_snapshot
from wme_assets.instance import TIER_TAG
from wme_assets.snapshots.diff import diff_folder, diff_snapshots, previous_snapshot_date
from wme_assets.storage.lease import diff_lease


@dg.asset(
    partitions_def=paid_snapshot_partitions,
    group_name="export",
    kinds={"s3", "python"},
    deps=[paid_snapshot],
    retry_policy=TRANSIENT_RETRY,
    tags={TIER_TAG: "paid"},
    description=(
        "The pages added, changed (revision, title, content) and deleted between the day's paid snapshot and "
        "the project's newest earlier one, per namespace: `diffs/{project}/{from}-{to}/namespace_{ns}.ndjson.gz` "
        "and `summary.json`, read from the published snapshots and verified against their manifests."
    ),
)
@fails_clearly
def snapshot_diff(context: dg.AssetExecutionContext, object_storage: ObjectStorageResource) -> dg.MaterializeResult:
    project, date = project_and_date(context)
    store = object_storage.store
    previous = previous_snapshot_date(store, project, date)
    if previous is None:
        return dg.MaterializeResult(
            metadata={"summary": f"{project}: no paid snapshot before {date}, nothing to compare", "from": None}
        )
    with output_lease(context, store, diff_lease(project)):
        summary = diff_snapshots(store, project, previous, date, log=context.log.info)
    totals = summary.totals()
    return dg.MaterializeResult(
        metadata={
            "uri": dg.MetadataValue.path(store.uri(store.key(diff_folder(project, previous, date))) + "/"),
            "summary": f"{previous} → {date}: " + ", ".join(f"{count} {kind}" for kind, count in totals.items()),
            "from": previous,
            **totals,
            "namespaces_not_compared": {n.identifier: n.missing_on for n in summary.namespaces if not n.compared},
        }
    )
