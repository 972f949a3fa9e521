"""The single Dagster entry point: every module under ``wme_assets/defs`` (one folder per stage)."""

from pathlib import Path

import dagster as dg

import wme_assets.defs


@dg.definitions
def defs() -> dg.Definitions:
    # load_defs with an explicit root works from an installed wheel too (load_from_defs_folder needs
    # the source checkout's pyproject.toml to find the project).
    return dg.load_defs(wme_assets.defs, project_root=Path(__file__).resolve().parent.parent)
