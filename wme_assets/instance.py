"""The Dagster instance wme runs on, and the checks that make bad configuration fail fast.

Two shapes, one generator:
- embedded (no ``WME_PG_HOST``): run, event and schedule storage on SQLite under ``WME_HOME/dagster``;
- deployment (``WME_PG_HOST`` set): storage on PostgreSQL through dagster-postgres, compute logs in S3.
Both are written out in the repository (a test keeps them equal to the generator): ``infra/dagster.yaml`` is
``instance_config(postgres=True)``, the deployment instance the image copies into ``DAGSTER_HOME``; the root
``dagster.yaml`` is ``instance_config(postgres=False)``, which ``dagster dev`` in a checkout reads (it keeps
its storage in a temporary directory beside it), so Dagster's own commands start on a fresh clone.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml

from wme_assets.settings import ConfigurationError, Settings

# Every tag and pool name is spelled once, here: the jobs and assets tag runs with them and the limits below
# (written to dagster.yaml) refer to them. They live in this module, not in defs/, because the CLI writes
# the instance config without loading the Dagster definitions.
TIER_TAG = "wme/tier"  # ingest | paid | free: what a run produces (every job tags its runs with it)
# The pool of every asset that writes a project's article store (today `articles`). Dagster pools are
# deployment-wide, not per partition, so this bounds how many article-store writes run at once across all
# projects (concurrency.pools.default_limit below; `dagster instance concurrency set wme_article_store 1`
# makes it one writer at a time). Each write is also the most CPU- and memory-hungry step (a process per CPU).
ARTICLE_STORE_POOL = "wme_article_store"

# Run sizing. A run of a large project (WME_LARGE_PROJECTS) asks the K8sRunLauncher for a bigger pod with
# Dagster's `dagster-k8s/config` run tag (other launchers ignore it), and run monitoring gives it longer than
# the instance's max_runtime_seconds (6 h) with the `dagster/max_runtime` tag: enwiki's dump takes hours to
# parse, enrich and export where a small wiki takes minutes. Every other run keeps the defaults of the Helm
# values (runK8sConfig) and of dagster.yaml.
K8S_CONFIG_TAG = "dagster-k8s/config"
MAX_RUNTIME_TAG = "dagster/max_runtime"
LARGE_RUN_RESOURCES = {
    "requests": {"cpu": "4", "memory": "8Gi", "ephemeral-storage": "200Gi"},
    "limits": {"memory": "16Gi"},
}
LARGE_RUN_MAX_RUNTIME_SECONDS = 24 * 3600
POOL_DEFAULT_LIMIT = 2

# Run-level limits: each tier gets its own share, and backfills cannot starve the schedules. A run started
# from the asset graph in the UI carries no job tags; the pools on the assets bound those too.
RUN_CONCURRENCY = {
    "max_concurrent_runs": 8,
    "tag_concurrency_limits": [
        {"key": TIER_TAG, "value": "paid", "limit": 4},
        {"key": TIER_TAG, "value": "free", "limit": 2},
        {"key": TIER_TAG, "value": "ingest", "limit": 2},  # dumps runs in, parsed and enriched: the heaviest
        {"key": "dagster/backfill", "limit": 4},
    ],
}


def instance_config(*, postgres: bool, compute_logs_dir: str | None = None) -> dict[str, Any]:
    """The dagster.yaml content for either shape. Secrets and hosts stay environment references."""
    config: dict[str, Any] = {}
    if postgres:
        config["storage"] = {
            "postgres": {
                "postgres_db": {
                    "hostname": {"env": "WME_PG_HOST"},
                    "port": {"env": "WME_PG_PORT"},
                    "username": {"env": "WME_PG_USER"},
                    "password": {"env": "WME_PG_PASSWORD"},
                    "db_name": {"env": "WME_PG_DB"},
                    # SQLAlchemy 2.1 maps plain postgresql:// to psycopg 3; dagster-postgres ships psycopg2.
                    "scheme": "postgresql+psycopg2",
                }
            }
        }
        config["compute_logs"] = {
            "module": "dagster_aws.s3.compute_log_manager",
            "class": "S3ComputeLogManager",
            "config": {
                "bucket": {"env": "WME_S3_BUCKET"},
                "prefix": "dagster/compute-logs",
                "endpoint_url": {"env": "WME_S3_ENDPOINT_URL"},
                "skip_empty_files": True,
                "upload_interval": 30,
            },
        }
    elif compute_logs_dir:
        config["compute_logs"] = {
            "module": "dagster._core.storage.local_compute_log_manager",
            "class": "LocalComputeLogManager",
            "config": {"base_dir": compute_logs_dir},
        }
    config.update(
        {
            "run_coordinator": {
                "module": "dagster._core.run_coordinator",
                "class": "QueuedRunCoordinator",
            },
            "concurrency": {"runs": RUN_CONCURRENCY, "pools": {"default_limit": POOL_DEFAULT_LIMIT}},
            # Op-level RetryPolicy handles flaky network steps; run retries catch crashed workers.
            "run_retries": {"enabled": True, "max_retries": 2, "retry_on_asset_or_op_failure": False},
            "run_monitoring": {
                "enabled": True,
                "start_timeout_seconds": 300,
                "max_runtime_seconds": 6 * 3600,
                "poll_interval_seconds": 60,
            },
            "retention": {
                "schedule": {"purge_after_days": 90},
                "sensor": {"purge_after_days": {"skipped": 7, "failure": 30, "success": -1}},
            },
            "telemetry": {"enabled": False},
        }
    )
    return config


def render_instance_yaml(config: dict[str, Any]) -> str:
    if "postgres" in config.get("storage", {}):
        header = (
            "# Dagster instance for deployment: run, event and schedule storage on PostgreSQL, compute logs in S3.\n"
            "# Generated by `wme instance-config --postgres`; edit wme_assets/instance.py, then regenerate.\n"
            "# Needs WME_PG_HOST, WME_PG_PORT, WME_PG_USER, WME_PG_PASSWORD, WME_PG_DB, WME_S3_BUCKET and\n"
            "# WME_S3_ENDPOINT_URL in the environment of the webserver, the daemon and the run workers.\n"
        )
    else:
        header = (
            "# Dagster instance for a checkout: `dagster dev` in this folder reads it and keeps run, event and\n"
            "# schedule storage (SQLite) in a temporary folder here. `wme ui` writes the same settings under\n"
            "# WME_HOME; deployment uses infra/dagster.yaml (PostgreSQL).\n"
            "# Generated by `wme instance-config`; edit wme_assets/instance.py, then regenerate.\n"
        )
    return header + yaml.safe_dump(config, sort_keys=False)


def prepare_dagster_home(settings: Settings) -> Path:
    """Point DAGSTER_HOME at an instance directory, writing its dagster.yaml when wme manages it.

    An operator-provided DAGSTER_HOME is used untouched (it holds their own dagster.yaml).
    """
    if os.environ.get("DAGSTER_HOME"):
        home = Path(os.environ["DAGSTER_HOME"]).expanduser().resolve()
        if not (home / "dagster.yaml").exists():
            raise ConfigurationError(
                f"DAGSTER_HOME={home} has no dagster.yaml: copy the repository's infra/dagster.yaml there, "
                "or unset DAGSTER_HOME to let wme manage the instance under WME_HOME"
            )
        return home
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    if settings.uses_postgres:
        settings.require_postgres_settings()
        # dagster.yaml reads the port from the environment; give it wme's default when unset.
        os.environ.setdefault("WME_PG_PORT", str(settings.pg_port))
    config = instance_config(postgres=settings.uses_postgres, compute_logs_dir=str(home / "compute_logs"))
    (home / "dagster.yaml").write_text(render_instance_yaml(config))
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def check_postgres(settings: Settings, timeout: int = 5) -> None:
    """Connect once with the configured credentials; translate failures into what to fix."""
    import psycopg2

    settings.require_postgres_settings()
    where = f"PostgreSQL at {settings.pg_host}:{settings.pg_port}"
    try:
        psycopg2.connect(
            host=settings.pg_host,
            port=settings.pg_port,
            user=settings.pg_user,
            password=settings.pg_password.get_secret_value(),  # require_postgres_settings: set
            dbname=settings.pg_db,
            connect_timeout=timeout,
        ).close()
    except psycopg2.OperationalError as exc:
        text = str(exc).strip()
        if "password authentication failed" in text or "authentication failed" in text:
            hint = f"rejected user {settings.pg_user!r}: check WME_PG_USER and WME_PG_PASSWORD"
        elif "does not exist" in text and "database" in text:
            hint = f"has no database {settings.pg_db!r}: create it (createdb) or fix WME_PG_DB"
        elif "role" in text and "does not exist" in text:
            hint = f"has no role {settings.pg_user!r}: create it or fix WME_PG_USER"
        else:
            hint = "is unreachable: check WME_PG_HOST and WME_PG_PORT and that the server is running"
        raise ConfigurationError(f"{where} {hint} ({text.splitlines()[0]})") from None


def project_run_tags(project: str, large_projects: list[str]) -> dict[str, str]:
    """The run tags sizing a run of ``project``: a bigger pod and a longer run timeout for a large project."""
    if project not in large_projects:
        return {}
    config = {"container_config": {"resources": LARGE_RUN_RESOURCES}}
    return {K8S_CONFIG_TAG: json.dumps(config, sort_keys=True), MAX_RUNTIME_TAG: str(LARGE_RUN_MAX_RUNTIME_SECONDS)}
