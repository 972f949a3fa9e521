"""Project partitions in a test's Dagster instance.

The projects are dynamic partitions (wme_assets/defs/partitions.py): a job executed in process for a project,
or a schedule evaluated, sees only the projects its instance has. The `wme` commands add their project
themselves; tests that execute jobs or evaluate schedules directly add them here, as `wme catalog sync` would.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from wme_assets.defs.partitions import ensure_projects


def with_projects(instance: dg.DagsterInstance, *projects: str) -> dg.DagsterInstance:
    """``instance`` with ``projects`` as partitions (added when missing), for ``instance=`` arguments."""
    ensure_projects(instance, projects)
    return instance


def instance_with_projects(*projects: str) -> dg.DagsterInstance:
    """An ephemeral instance (in memory) with ``projects`` as partitions."""
    return with_projects(dg.DagsterInstance.ephemeral(), *projects)


def schedule_instance(directory: Path, *projects: str) -> dg.DagsterInstance:
    """A SQLite instance in ``directory`` with ``projects`` as partitions. Schedules are evaluated by the
    daemon with an instance it can refer to, and only then does Dagster read dynamic partitions from it (an
    ephemeral instance has no reference): so is a test's tick."""
    directory.mkdir(parents=True, exist_ok=True)
    return with_projects(dg.DagsterInstance.local_temp(str(directory)), *projects)
