"""Jobs over the asset graph."""

import dagster as dg

# The main job: everything from the dumps run to the stored outputs for one project × date partition.
# It grows with each stage (ingestion now; enrichment and snapshot export join it).
main_job = dg.define_asset_job(
    name="main",
    selection=dg.AssetSelection.groups("ingestion"),
    description="One project and dump date, from the dumps run to the stored outputs.",
)
