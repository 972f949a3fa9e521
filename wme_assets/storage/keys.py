"""Where each zone keeps its objects, in one place (keys are relative to the store's prefix).

raw/{project}/{date}/{file}        files exactly as the dumps run published them
pages/{project}/{date}/...         parsed pages (Parquet, with _manifest.json)
articles/{project}/base|deltas/...  enriched Enterprise articles (Parquet), see storage/article_store/
snapshots/, chunks/, aggregations/  published snapshot files, see snapshots/publish.py
steps/{project}/{date}/...         what the steps of a split run hand each other (removed when the run publishes)
runs/{run_id}/...                  a split run's step outputs (plans, keys), with WME_STEP_IO=s3 (removed when
                                   the run succeeds)
quarantine/{project}/{date}/...    what a stage set aside (duplicate pages, pages that failed), with reasons;
                                   written through storage/quarantine.py
"""

from __future__ import annotations

from wme_assets.settings import validate_project


def raw_key(project: str, date: str, name: str) -> str:
    return f"raw/{validate_project(project)}/{date}/{name}"


def quarantine_key(project: str, date: str, name: str) -> str:
    return f"quarantine/{validate_project(project)}/{date}/{name}"


def steps_key(project: str, date: str, name: str) -> str:
    return f"steps/{validate_project(project)}/{date}/{name}"


def run_key(run_id: str, name: str) -> str:
    """Under ``runs/{run_id}/``: one Dagster run's own objects (its steps' outputs)."""
    if not run_id or "/" in run_id or run_id in (".", ".."):
        raise ValueError(f"{run_id!r} is not a run id")
    return f"runs/{run_id}/{name}"
