"""What every ``wme`` command shares: the Typer application, the global options, the environment, failures.

Every command prepares the same environment first (``prepare_environment``): the embedded S3 server when
no endpoint is configured, and a Dagster instance directory, so ``wme ui`` and ``wme demo`` work on a
fresh machine with nothing configured and exactly the same way against PostgreSQL and production S3.

Every failure ends in one line, ``error: ...``, naming its cause (and the project, file or S3 key where there
is one); dates are checked before any of that work. Tracebacks only with ``wme --debug``.
"""

from __future__ import annotations

import os
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

import typer
from typer.core import TyperGroup
from typer.exceptions import TyperException

from wme_assets.failures import explain, one_line
from wme_assets.settings import (
    EMBEDDED_ACCESS_KEY,
    ConfigurationError,
    Settings,
    load_settings,
    use_embedded_credentials,
    use_scratch_dir,
)

options = {"debug": False, "in_process": False}  # the global options of this invocation (set by `main`)


class _Commands(TyperGroup):
    """Runs a command so that an error nobody expected still ends in one line naming its cause."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, TyperException):
            raise  # typer.Exit is a RuntimeError: let exits and usage errors through as they are
        except Exception as exc:
            fail(explain(exc).message, exc, code=1)


app = typer.Typer(
    cls=_Commands,
    help="wme: Wikipedia as machine-readable Enterprise-schema data, on your own storage.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


IN_PROCESS_HELP = (
    "Execute the runs in this process (development) instead of submitting them to the instance's queue, "
    "its tier limits, run retries and monitoring."
)


@dataclass
class Environment:
    settings: Settings
    dagster_home: Path
    s3_endpoint: str


@app.callback()
def main(
    debug: bool = typer.Option(
        False, "--debug", help="Show tracebacks (of wme and in the run's log) along with the one-line cause."
    ),
    version: bool = typer.Option(
        False, "--version", is_eager=True, callback=lambda shown: print_version(shown), help="Print the version."
    ),
    in_process: bool = typer.Option(False, "--in-process", help=IN_PROCESS_HELP),
) -> None:
    """wme: Wikipedia as machine-readable Enterprise-schema data, on your own storage."""
    options["debug"] = debug
    options["in_process"] = in_process


def print_version(asked: bool) -> None:
    if asked:
        from wme_assets.util.version import DISTRIBUTION, package_version

        typer.echo(f"wme {package_version()} ({DISTRIBUTION})")
        raise typer.Exit(0)


def fail(message: str, exc: BaseException | None = None, *, code: int = 2) -> None:
    """End the command: the traceback first with --debug, then always the cause as the last line."""
    if exc is not None and options["debug"]:
        traceback.print_exception(exc, file=sys.stderr)
    typer.secho(f"error: {one_line(message)}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def prepare_environment(*, check_postgres: bool = True, subject: str = "", echo=typer.echo) -> Environment:
    """Resolve settings, start embedded services if unconfigured, and fail fast on bad configuration.

    The resolved S3 endpoint and credentials are exported to the environment, so that the Dagster
    webserver, daemon and run workers started from here use the same storage. ``subject`` (e.g. the project)
    starts the message of a failure; ``echo`` says which storage is used (stderr when stdout is data).
    """
    from wme_assets.instance import check_postgres as check_pg
    from wme_assets.instance import prepare_dagster_home
    from wme_assets.storage import ObjectStoreError, open_object_store

    try:
        settings = load_settings()
        if settings.uses_postgres:
            settings.require_postgres_settings()
        use_scratch_dir(settings.scratch_path)  # this process runs jobs in process; its children inherit it
        if settings.embedded_s3:
            # The embedded server has its own key pair whatever the shell holds: the shell's AWS keys are
            # meant for some other S3, and SeaweedFS would otherwise adopt them (see storage/seaweedfs.py).
            replaced = use_embedded_credentials(os.environ)
            ignored = f"; {', '.join(replaced)} from the environment not used for it" if replaced else ""
            echo(
                f"object storage: embedded SeaweedFS under {settings.home_dir / 'seaweedfs'} (starting if needed), "
                f"with wme's built-in key pair (access key {EMBEDDED_ACCESS_KEY!r}){ignored}"
            )
        store = open_object_store(settings)
        if settings.embedded_s3:
            os.environ["WME_S3_ENDPOINT_URL"] = store.endpoint_url or ""
            # Children must not try to start a second embedded server: they now see an endpoint, and
            # must still be allowed to create the bucket on it.
            os.environ.setdefault("WME_S3_CREATE_BUCKET", "true")
        if settings.uses_postgres and check_postgres:
            check_pg(settings)
        dagster_home = prepare_dagster_home(settings)
    except (ConfigurationError, ObjectStoreError) as exc:
        fail(f"{subject}: {explain(exc).message}" if subject else explain(exc).message, exc)
    return Environment(settings=settings, dagster_home=dagster_home, s3_endpoint=store.endpoint_url or "AWS S3")


def report(runs, env: Environment) -> None:
    for summary in runs:
        if not summary.success:
            fail(
                f"run {summary.run_id} of job '{summary.job}' ({summary.partition}) failed after "
                f"{summary.seconds:.1f} s: {summary.error}",
                code=1,
            )
    typer.echo("")
    for summary in runs:
        typer.echo(
            f"run {summary.run_id} of job '{summary.job}' ({summary.partition}) succeeded in {summary.seconds:.1f} s"
        )
        for line in summary.outputs:
            typer.echo(f"  {line}")
    typer.echo(f"Dagster instance: {env.dagster_home} (see the runs with `wme ui`)")


def guarded(action):
    """Run ``action``; configuration and source errors become one clear line and exit code 2."""
    from wme_assets.sources.dumps_client import DumpsError

    try:
        return action()
    except (ConfigurationError, DumpsError) as exc:
        fail(explain(exc).message, exc)


def debug_wanted() -> bool:
    return options["debug"]


def runner(in_process: bool):
    """Runs one partition: submitted to the instance, or in this process with ``--in-process``."""
    from wme_assets.submission import partition_runner

    return partition_runner(in_process=in_process or options["in_process"], echo=typer.echo)
