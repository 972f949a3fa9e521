"""``wme check``, ``ui``, ``instance-config``, ``services stop`` and ``storage sweep``: the installation itself."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import typer

from wme_assets.cli.base import app, fail, prepare_environment
from wme_assets.settings import ConfigurationError, load_settings

services_app = typer.Typer(help="The embedded services (SeaweedFS S3) under WME_HOME.", no_args_is_help=True)
app.add_typer(services_app, name="services")


@app.command()
def check() -> None:
    """Check the configuration: settings, S3 endpoint and bucket, PostgreSQL credentials."""
    env = prepare_environment()
    s = env.settings
    typer.echo(f"settings        ok (WME_HOME={s.home_dir})")
    typer.echo(f"object storage  ok (s3://{s.s3_bucket}/{s.s3_prefix} at {env.s3_endpoint})")
    storage = f"PostgreSQL {s.pg_host}:{s.pg_port}/{s.pg_db}" if s.uses_postgres else "SQLite"
    typer.echo(f"dagster         ok ({storage}, DAGSTER_HOME={env.dagster_home})")
    typer.echo(f"dumps source    {s.dumps_url}")
    typer.echo(f"projects        {', '.join(s.project_list)}")


@app.command()
def ui(
    host: str = typer.Option("127.0.0.1", help="Address the webserver binds to."),
    port: int = typer.Option(3000, help="Port of the Dagster webserver."),
) -> None:
    """Start the Dagster webserver and daemon on the configured instance (embedded services first)."""
    from wme_assets.submission import write_workspace

    env = prepare_environment()
    workspace = write_workspace(env.dagster_home)
    bin_dir = Path(sys.executable).parent
    commands = [
        [str(bin_dir / "dagster-webserver"), "-w", str(workspace), "-h", host, "-p", str(port)],
        [str(bin_dir / "dagster-daemon"), "run", "-w", str(workspace)],
    ]
    processes = [subprocess.Popen(cmd, start_new_session=True) for cmd in commands]
    typer.echo(f"Dagster UI: http://{host}:{port}  (DAGSTER_HOME={env.dagster_home}; Ctrl-C stops)")

    def stop(*_):
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    try:
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        stop()
        for process in processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
    failed = [p for p in processes if p.returncode not in (0, -signal.SIGTERM, None)]
    raise typer.Exit(1 if failed else 0)


@app.command("instance-config")
def instance_config_command(
    postgres: bool = typer.Option(False, "--postgres", help="The deployment shape (storage on PostgreSQL)."),
) -> None:
    """Print the dagster.yaml wme uses (``--postgres``: the repository's deployment dagster.yaml)."""
    from wme_assets.instance import instance_config, render_instance_yaml

    typer.echo(render_instance_yaml(instance_config(postgres=postgres)), nl=False)


@services_app.command("stop")
def services_stop() -> None:
    """Stop the embedded SeaweedFS server (data stays under WME_HOME)."""
    from wme_assets.storage.seaweedfs import stop_embedded_s3

    settings = load_settings()
    stopped = stop_embedded_s3(settings.home_dir)
    typer.echo("embedded S3 stopped" if stopped else "embedded S3 was not running")


# --- wme storage: housekeeping of the object store --------------------------------------------------

storage_app = typer.Typer(help="Housekeeping of the object store.", no_args_is_help=True)
app.add_typer(storage_app, name="storage")


@storage_app.command("sweep")
def storage_sweep(
    older_than: float = typer.Option(24.0, "--older-than", min=0, help="Only what was last written HOURS ago."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Count what would be removed; remove nothing."),
) -> None:
    """Remove what dead runs left, across every partition: staging, unfinished uploads, orphans of snapshots.

    An orphan is an object at a dated snapshot key that no published manifest names. The age keeps running
    exports safe; each run of a partition also cleans its own leftovers when it starts.
    """
    from datetime import timedelta

    from wme_assets.snapshots.sweep import sweep
    from wme_assets.storage import ObjectStoreError, open_object_store

    try:
        store = open_object_store(load_settings())
        result = sweep(store, older_than=timedelta(hours=older_than), dry_run=dry_run)
    except (ConfigurationError, ObjectStoreError) as exc:
        fail(str(exc), exc)
    verb = "would remove" if dry_run else "removed"
    typer.echo(
        f"{verb} {len(result.staging)} staging objects, {result.uploads} unfinished uploads and "
        f"{len(result.orphans)} orphans last written more than {older_than:g} h ago"
    )
