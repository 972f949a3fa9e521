"""The single Dagster entry point: every module under ``wme_assets/defs`` (one folder per stage)."""

import warnings
from pathlib import Path

import dagster as dg

import wme_assets.defs


@dg.definitions
def defs() -> dg.Definitions:
    # load_defs with an explicit module works from an installed wheel too; load_from_defs_folder, which
    # Dagster prefers, needs the source checkout's pyproject.toml to find the project and fails there.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Function `load_defs` is deprecated", category=DeprecationWarning)
        return dg.load_defs(wme_assets.defs, project_root=Path(__file__).resolve().parent.parent)
