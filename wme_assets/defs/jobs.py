"""Jobs over the asset graph; each runs one project × date partition."""

import dagster as dg

# Ingestion alone: the dumps run into the raw zone and the page store (`wme ingest`).
ingest_job = dg.define_asset_job(
    name="ingest",
    selection=dg.AssetSelection.groups("ingestion"),
    description="One dumps run of one project: status, verified files, parsed pages.",
)

# The main job: everything from the dumps run to the stored outputs (`wme demo`). It grows with each
# stage (ingestion and enrichment now; snapshot export joins it).
main_job = dg.define_asset_job(
    name="main",
    selection=dg.AssetSelection.groups("ingestion", "enrichment"),
    description="One project and dump date, from the dumps run to the stored outputs.",
)
