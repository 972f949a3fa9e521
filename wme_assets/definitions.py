"""The single Dagster entry point: every module under ``wme_assets/defs`` (one folder per stage)."""

from pathlib import Path

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
