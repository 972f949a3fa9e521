"""The ``wme`` command line: start the UI, run the main job, check the configuration.

Every command prepares the same environment first (``prepare_environment``): the embedded S3 server when
no endpoint is configured, and a Dagster instance directory, so ``wme ui`` and ``wme demo`` work on a
fresh machine with nothing configured and exactly the same way against PostgreSQL and production S3.

Every failure ends in one line, ``error: ...``, naming its cause (and the project, file or S3 key where there
is one); dates are checked before any of that work. Tracebacks only with ``wme --debug``.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
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

_options = {"debug": False, "in_process": False}  # the global options of this invocation (set by `main`)


class _Commands(TyperGroup):
    """Runs a command so that an error nobody expected still ends in one line naming its cause."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, TyperException):
            raise  # typer.Exit is a RuntimeError: let exits and usage errors through as they are
        except Exception as exc:
            _fail(explain(exc).message, exc, code=1)


app = typer.Typer(
    cls=_Commands,
    help="wme: Wikipedia as machine-readable Enterprise-schema data, on your own storage.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
services_app = typer.Typer(help="The embedded services (SeaweedFS S3) under WME_HOME.", no_args_is_help=True)
app.add_typer(services_app, name="services")
mirror_app = typer.Typer(
    help="A local dumps-site mirror (for machines without internet, or a mirror kept on disk).",
    no_args_is_help=True,
)
app.add_typer(mirror_app, name="mirror")
catalog_app = typer.Typer(
    help="The catalogue of projects: every Wikimedia text project, from Wikimedia's site matrix.", no_args_is_help=True
)
app.add_typer(catalog_app, name="catalog")

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
        False, "--version", is_eager=True, callback=lambda shown: _print_version(shown), help="Print the version."
    ),
    in_process: bool = typer.Option(False, "--in-process", help=IN_PROCESS_HELP),
) -> None:
    """wme: Wikipedia as machine-readable Enterprise-schema data, on your own storage."""
    _options["debug"] = debug
    _options["in_process"] = in_process


def _print_version(asked: bool) -> None:
    if asked:
        from wme_assets.util.version import DISTRIBUTION, package_version

        typer.echo(f"wme {package_version()} ({DISTRIBUTION})")
        raise typer.Exit(0)


def _fail(message: str, exc: BaseException | None = None, *, code: int = 2) -> None:
    """End the command: the traceback first with --debug, then always the cause as the last line."""
    if exc is not None and _options["debug"]:
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
        _fail(f"{subject}: {explain(exc).message}" if subject else explain(exc).message, exc)
    return Environment(settings=settings, dagster_home=dagster_home, s3_endpoint=store.endpoint_url or "AWS S3")


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


def _report(runs, env: Environment) -> None:
    for summary in runs:
        if not summary.success:
            _fail(
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


def _guarded(action):
    """Run ``action``; configuration and source errors become one clear line and exit code 2."""
    from wme_assets.sources.dumps_client import DumpsError

    try:
        return action()
    except (ConfigurationError, DumpsError) as exc:
        _fail(explain(exc).message, exc)


@app.command()
def demo(
    project: str = typer.Option("bnwiki", help="Project (dbname) to run."),
    date: str = typer.Option("latest", help="Dump date YYYYMMDD, or 'latest' finished run."),
    in_process: bool = typer.Option(False, "--in-process", help=IN_PROCESS_HELP),
) -> None:
    """Run the whole chain for one project on the configured (default: embedded) services.

    Ingests the dump run, enriches it into Enterprise articles and publishes the paid-tier snapshot dated
    the dump's day, then prints where everything went.
    """
    from wme_assets.pipeline import check_date, check_project, resolve_dump_date, run_snapshot_chain

    _guarded(lambda: (check_date(date, "dump", latest=True), check_project(project)))
    env = prepare_environment(subject=project)
    dump_date = _guarded(lambda: resolve_dump_date(project, date, echo=typer.echo))
    with _runner(in_process) as run:
        runs = _guarded(
            lambda: run_snapshot_chain(
                project, dump_date=dump_date, snapshot_date=dump_date, tier="paid", echo=typer.echo,
                stack_traces=_debug(), run=run,
            )
        )
    _report(runs, env)


@app.command()
def ingest(
    project: str = typer.Argument(..., help="Project (dbname), e.g. bnwiki."),
    date: str = typer.Option("latest", help="Dump date YYYYMMDD, or 'latest' finished run."),
    in_process: bool = typer.Option(False, "--in-process", help=IN_PROCESS_HELP),
) -> None:
    """Ingest one dumps run (status, verified files, page store) through the Dagster instance."""
    from wme_assets.pipeline import check_date, check_project, resolve_dump_date

    _guarded(lambda: (check_date(date, "dump", latest=True), check_project(project)))
    env = prepare_environment(subject=project)
    dump_date = _guarded(lambda: resolve_dump_date(project, date, echo=typer.echo))
    with _runner(in_process) as run:
        summary = _guarded(
            lambda: run("ingest", project=project, date=dump_date, echo=typer.echo, stack_traces=_debug())
        )
    _report([summary], env)


@app.command()
def snapshot(
    target: str = typer.Argument(..., help="A project (dbname), or `verify` followed by a snapshot URI."),
    uri: str | None = typer.Argument(
        None, help="With `verify`: an s3:// URI of a published snapshot (articles or structured-snapshots/)."
    ),
    date: str | None = typer.Option(
        None, help="Snapshot date YYYYMMDD, not in the future (default: today, UTC); free tier: a 2nd or 21st."
    ),
    tier: str = typer.Option("paid", help="paid (daily) or free (the 2nd and 21st)."),
    in_process: bool = typer.Option(False, "--in-process", help=IN_PROCESS_HELP),
) -> None:
    """`wme snapshot PROJECT`: ingest, enrich and export a snapshot; `wme snapshot verify URI`: check one.

    The paid tier also exports the Structured Contents snapshot (`structured-snapshots/`); the URIs of what
    was published are printed. Verification re-hashes every published file against the snapshot's manifest and
    validates every line against the schema of its kind (Article or Structured Contents); it exits non-zero
    on any mismatch, naming the file.
    """
    if target == "verify":
        _verify_snapshot(uri)
        return
    from datetime import UTC, datetime

    from wme_assets.pipeline import check_date, check_project, dump_date_for_snapshot, run_snapshot_chain

    if tier not in ("paid", "free"):
        _fail(f"--tier must be paid or free, not {tier!r}")
    snapshot_date = date or datetime.now(UTC).strftime("%Y%m%d")
    _guarded(lambda: (check_date(snapshot_date, tier), check_project(target)))
    env = prepare_environment(subject=target)
    dump_date = _guarded(lambda: dump_date_for_snapshot(target, snapshot_date, echo=typer.echo))
    with _runner(in_process) as run:
        runs = _guarded(
            lambda: run_snapshot_chain(
                target,
                dump_date=dump_date,
                snapshot_date=snapshot_date,
                tier=tier,
                echo=typer.echo,
                stack_traces=_debug(),
                run=run,
            )
        )
    _report(runs, env)


def _verify_snapshot(uri: str | None) -> None:
    from wme_assets.schema.validate import record_validator
    from wme_assets.snapshots.manifest import RECORD_SCHEMAS
    from wme_assets.snapshots.publish import verify_published
    from wme_assets.storage import open_object_store

    if not uri:
        _fail(
            "usage: wme snapshot verify s3://BUCKET/PREFIX/snapshots/YYYYMMDD/ID.manifest.json "
            "(or structured-snapshots/..., a latest pointer, any file of a snapshot, or a prefix)"
        )
    settings = load_settings()
    store = _guarded(lambda: open_object_store(settings))
    # Each snapshot's lines against the schema of its kind (its manifest says which): a prefix may hold both.
    validators = {kind: record_validator(schema) for kind, schema in RECORD_SCHEMAS.items()}
    problems = verify_published(store, uri, deep=True, validators=validators, on_manifest=_say_cut_point)
    if problems:
        for problem in problems:
            typer.secho(f"MISMATCH {problem}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    typer.echo(f"ok: {uri} matches its manifest and every line validates")


DIFF_FORMATS = ("summary", "ndjson")


@app.command()
def diff(
    project: str = typer.Argument(..., help="Project (dbname) whose snapshots to compare."),
    from_date: str = typer.Option(..., "--from", help="The earlier snapshot's date, YYYYMMDD."),
    to_date: str = typer.Option(..., "--to", help="The later snapshot's date, YYYYMMDD."),
    tier: str = typer.Option("paid", help="paid or free (the 2nd and 21st)."),
    namespace: int | None = typer.Option(None, help="Only this namespace (0, 6, 10 or 14); default all four."),
    output: str = typer.Option("summary", "--format", help="summary (counts and the first changes) or ndjson."),
    first: int = typer.Option(5, min=0, help="With --format summary: how many changes of each kind to show."),
) -> None:
    """The pages added, changed (revision, title, content) and deleted between two published snapshots.

    Reads both snapshots as published (verified against their manifests), writes the diff to
    diffs/PROJECT/FROM-TO/ (one NDJSON file per namespace and a summary.json; reused when the snapshots are
    the same) and prints the counts, the first changes and where the diff is; `--format ndjson` prints every
    change as one JSON line.
    """
    from wme_assets.pipeline import check_date, check_project
    from wme_assets.snapshots.diff import EXPORTED_NAMESPACES, SnapshotDiffError, diff_snapshots
    from wme_assets.storage import open_object_store

    if tier not in ("paid", "free"):
        _fail(f"--tier must be paid or free, not {tier!r}")
    if output not in DIFF_FORMATS:
        _fail(f"--format must be summary or ndjson, not {output!r}")
    if namespace is not None and namespace not in EXPORTED_NAMESPACES:
        _fail(f"--namespace must be one of {', '.join(map(str, EXPORTED_NAMESPACES))}, not {namespace}")
    _guarded(lambda: (check_date(from_date, tier, "--from"), check_date(to_date, tier, "--to"), check_project(project)))
    if from_date >= to_date:
        _fail(f"--from must be a day before --to, got {from_date} and {to_date}")
    # With --format ndjson, stdout is the changes only: everything else goes to stderr.
    log = (lambda line: typer.echo(line, err=True)) if output == "ndjson" else typer.echo
    store = open_object_store(prepare_environment(subject=project, echo=log).settings)
    namespaces = EXPORTED_NAMESPACES if namespace is None else (namespace,)
    try:
        summary = diff_snapshots(store, project, from_date, to_date, tier=tier, namespaces=namespaces, log=log)
    except SnapshotDiffError as exc:
        _fail(str(exc), exc, code=1)
    entries = [entry for entry in summary.namespaces if entry.namespace in namespaces]
    if output == "ndjson":
        _print_diff_ndjson(store, entries)
    else:
        _print_diff_summary(store, summary, entries, first)


def _print_diff_ndjson(store, entries) -> None:
    from wme_assets.snapshots.diff import iter_page_diffs

    for entry in entries:
        for page in iter_page_diffs(store, entry):
            typer.echo(page.model_dump_json())


def _print_diff_summary(store, summary, entries, first: int) -> None:
    from wme_assets.snapshots.diff import CHANGE_KINDS, diff_folder, iter_page_diffs

    typer.echo(f"{summary.project} {summary.from_date} → {summary.to_date} ({summary.tier} tier):")
    for entry in entries:
        if not entry.compared:
            typer.echo(f"  {entry.identifier}: not compared, no published snapshot on {', '.join(entry.missing_on)}")
            continue
        counts = ", ".join(f"{count} {kind}" for kind, count in entry.counts.items())
        aspects = ", ".join(f"{count} {aspect}" for aspect, count in entry.changed.items() if count)
        typer.echo(f"  {entry.identifier}: {counts}" + (f" (changed: {aspects})" if aspects else ""))
    for kind in CHANGE_KINDS:
        wanted = min(first, sum(entry.counts.get(kind, 0) for entry in entries))
        if not wanted:
            continue
        typer.echo(f"first {wanted} {kind}:")
        shown = (page for entry in entries for page in iter_page_diffs(store, entry) if page.change == kind)
        for page in itertools.islice(shown, wanted):
            typer.echo(f"  {_describe(page)}")
    folder = diff_folder(summary.project, summary.from_date, summary.to_date, summary.tier)
    typer.echo(f"full diff: {store.uri(store.key(folder))}/")


def _describe(page) -> str:
    before, after = page.before, page.after
    where = f"ns {page.namespace} page {page.identifier}"
    if before is None:
        return f"{where} {after.name!r} rev {after.revision}"
    if after is None:
        return f"{where} {before.name!r} rev {before.revision} (tombstone)"
    title = f"{before.name!r} → {after.name!r}" if before.name != after.name else repr(after.name)
    revision = f"{before.revision} → {after.revision}" if before.revision != after.revision else str(after.revision)
    return f"{where} {title} rev {revision} [{', '.join(page.changes)}]"


def _say_cut_point(key: str, manifest) -> None:
    """The change stream's cut point a snapshot holds (fresh snapshots): where its consumer continues."""
    cut = manifest.inputs.cut_point
    if cut is not None:  # a snapshot without change events has none
        typer.echo(f"{key}: cut point: {cut.describe()}")
        typer.echo(f"  {cut.model_dump_json(exclude_none=True)}")


def _debug() -> bool:
    return _options["debug"]


def _runner(in_process: bool):
    """Runs one partition: submitted to the instance, or in this process with ``--in-process``."""
    from wme_assets.submission import partition_runner

    return partition_runner(in_process=in_process or _options["in_process"], echo=typer.echo)


PUBLISH_TARGETS = {"dumps": ["dumps_site_run"], "hf": ["parquet_shards", "huggingface_dataset"]}


@app.command()
def publish(
    project: str = typer.Argument(..., help="Project (dbname) whose free-tier snapshots to publish."),
    date: str = typer.Option(..., help="Snapshot date YYYYMMDD (a 2nd or a 21st)."),
    to: str = typer.Option("all", help="dumps (the dumps-site layout), hf (Hugging Face) or all."),
    in_process: bool = typer.Option(False, "--in-process", help=IN_PROCESS_HELP),
) -> None:
    """Publish one project's verified free-tier snapshots of a day, through the Dagster instance."""
    from wme_assets.definitions import defs
    from wme_assets.pipeline import check_date, check_project

    if to not in (*PUBLISH_TARGETS, "all"):
        _fail(f"--to must be one of {', '.join([*PUBLISH_TARGETS, 'all'])}, not {to!r}")
    _guarded(lambda: (check_date(date, "free"), check_project(project)))
    env = prepare_environment(subject=project)
    known = {key.to_user_string() for key in defs().resolve_asset_graph().get_all_asset_keys()}
    assets = [a for name in (PUBLISH_TARGETS if to == "all" else [to]) for a in PUBLISH_TARGETS[name] if a in known]
    if not assets:
        _fail(f"publishing to {to} is not available in this version")
    with _runner(in_process) as run:
        summary = _guarded(
            lambda: run(
                "publish_job", project=project, date=date, assets=assets, echo=typer.echo, stack_traces=_debug()
            )
        )
    _report([summary], env)


@app.command()
def backfill(
    failed: bool = typer.Option(False, "--failed", help="Re-run the partitions whose latest run failed."),
    since: str | None = typer.Option(
        None, help="Only runs started on or after this day (YYYY-MM-DD or YYYYMMDD, not in the future)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="List what would run, run nothing."),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Follow the backfills until their runs end."),
    in_process: bool = typer.Option(False, "--in-process", help=IN_PROCESS_HELP),
) -> None:
    """Re-run exactly the failed partitions (per job, project and date) as a Dagster backfill per job.

    The backfills show under Backfills in the UI; without ``--no-wait`` the command follows them to the end.
    """
    from wme_assets.backfill import failed_partitions
    from wme_assets.pipeline import check_since

    if not failed:
        _fail("say what to backfill: --failed (the partitions whose latest run failed)")
    since = _guarded(lambda: check_since(since)) if since is not None else None  # as YYYY-MM-DD
    env = prepare_environment()
    todo = failed_partitions(since=since, echo=typer.echo)
    if not todo:
        typer.echo("no failed partitions" + (f" since {since}" if since else ""))
        return
    for item in todo:
        typer.echo(f"failed: {item.job} {item.partition} (run {item.run_id})")
    if dry_run:
        return
    if in_process or _options["in_process"]:
        from wme_assets.pipeline import run_partition

        debug = _debug()
        runs = [
            _guarded(
                lambda i=i: run_partition(i.job, project=i.project, date=i.date, echo=typer.echo, stack_traces=debug)
            )
            for i in todo
        ]
    else:
        from wme_assets.submission import backfill_failed

        runs = backfill_failed(todo, since=since, wait=wait, echo=typer.echo)
        if runs is None:
            return
    failures = [r for r in runs if not r.success]
    for summary in runs:
        state = "succeeded" if summary.success else f"failed again: {summary.error}"
        typer.echo(f"{summary.job} {summary.partition}: {state} (run {summary.run_id})")
    typer.echo(f"Dagster instance: {env.dagster_home}")
    if failures:
        first = failures[0]
        _fail(f"{len(failures)} of {len(runs)} failed again; {first.job} {first.partition}: {first.error}", code=1)


@app.command()
def fidelity(
    fixtures: Path = typer.Option(Path("../shared/fixtures"), help="The real-data fixtures with Enterprise records."),
    path: str = typer.Option(
        "all", "--path",
        help="wikitext (Enterprise's records, ~1 s), html (Enterprise's parser goldens, ~15-20 s), users (all "
        "categories and templates per source: wikitext, tables, HTML) or all.",
    ),
) -> None:
    """Compare wme's articles with Wikimedia Enterprise's own output, field by field.

    wikitext path: abstracts, categories, templates, sections, infoboxes vs the 15 real Enterprise records.

    HTML path: every field of Enterprise's parser rules on Parsoid HTML vs its goldens (86 cases, 9 wikis).

    What users see: every category and template of the 15 records vs wme's articles built from the wikitext,
    with the dumps' tables, and from the records' HTML.
    """
    from wme_assets.devtools.fidelity import PATHS, fidelity_report, format_report
    from wme_assets.devtools.parser_goldens import TESTDATA_DIRNAME

    if path not in (*PATHS, "all"):
        _fail(f"--path must be wikitext, html, users or all, not {path!r}")
    paths = PATHS if path == "all" else (path,)
    if {"wikitext", "users"} & set(paths) and not (fixtures / "wme-articles").is_dir():
        _fail(f"{fixtures} does not hold the Enterprise records (wme-articles/): pass --fixtures DIR")
    if "html" in paths and not (fixtures / TESTDATA_DIRNAME / "golden").is_dir():
        _fail(f"{fixtures} does not hold Enterprise's parser goldens ({TESTDATA_DIRNAME}/golden/): pass --fixtures DIR")
    typer.echo(format_report(fidelity_report(fixtures, paths)))


@services_app.command("stop")
def services_stop() -> None:
    """Stop the embedded SeaweedFS server (data stays under WME_HOME)."""
    from wme_assets.storage.seaweedfs import stop_embedded_s3

    settings = load_settings()
    stopped = stop_embedded_s3(settings.home_dir)
    typer.echo("embedded S3 stopped" if stopped else "embedded S3 was not running")


@mirror_app.command("add")
def mirror_add(
    root: Path = typer.Argument(..., help="Mirror directory (serve it, or use WME_DUMPS_URL=file://ROOT)."),
    project: str = typer.Argument(..., help="dbname, e.g. bnwiki"),
    date: str = typer.Argument(..., help="Run date YYYYMMDD"),
    export_xml: Path = typer.Argument(..., help="MediaWiki XML export (plain, bz2, gz or xz)."),
    parts: int = typer.Option(1, help="Split into this many parts, as the large wikis are."),
    table: list[str] = typer.Option(
        [], "--table", help="TABLE=FILE: a table's mysqldump (plain SQL or .sql.gz), e.g. categorylinks=cl.sql.gz"
    ),
) -> None:
    """Lay out one dumps run from an XML export: multistream bz2 + index, page_props (and any --table),
    dumpstatus.json, sums."""
    from wme_assets.devtools.mirror import build_dumps_mirror
    from wme_assets.pipeline import DAY_FORMS
    from wme_assets.util.dates import day_problem

    problem = day_problem(date)
    if problem:
        _fail(f"DATE must be {DAY_FORMS}. Got {date!r}: {problem}")
    tables = {}
    for spec in table:
        name, sep, path = spec.partition("=")
        if not sep or not name or not Path(path).is_file():
            _fail(f"--table takes TABLE=FILE with an existing FILE; got {spec!r}")
        tables[name] = Path(path)
    run = build_dumps_mirror(root, project, date, export_xml, parts=parts, tables=tables)
    typer.echo(f"{run.run_dir}: {run.page_count} pages in {len(run.files)} files")


@mirror_app.command("fixtures")
def mirror_fixtures(
    root: Path = typer.Argument(..., help="Mirror directory to create."),
    fixtures: Path = typer.Option(Path("../shared/fixtures"), help="The shared real-data fixtures."),
    tables: bool = typer.Option(False, "--tables", help="Give the enwiki run the SQL tables its records show."),
) -> None:
    """Build a mirror of 8 wikis from the real-data fixtures (7 dump excerpts and enwiki records)."""
    from wme_assets.devtools.mirror import build_fixture_mirror

    for run in build_fixture_mirror(root, fixtures, tables=tables):
        typer.echo(f"{run.dbname} {run.date}: {run.page_count} pages")
    typer.echo(f"use it with: WME_DUMPS_URL={root.resolve().as_uri()}")


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
        _fail(str(exc), exc)
    verb = "would remove" if dry_run else "removed"
    typer.echo(
        f"{verb} {len(result.staging)} staging objects, {result.uploads} unfinished uploads and "
        f"{len(result.orphans)} orphans last written more than {older_than:g} h ago"
    )



def _catalog(refresh: bool):
    from wme_assets.sources.catalog import CatalogError, open_catalog

    settings = _guarded(load_settings)
    try:
        return open_catalog(settings, refresh=refresh)
    except CatalogError as exc:
        _fail(str(exc), exc)


@catalog_app.command("refresh")
def catalog_refresh() -> None:
    """Fetch the site matrix again (WME_SITEMATRIX_URL) and cache it under WME_HOME; the old one stays on failure."""
    catalog = _catalog(refresh=True)
    typer.echo(f"{len(catalog)} projects from {catalog.source} (fetched {catalog.fetched_at})")


@catalog_app.command("list")
def catalog_list(
    family: str | None = typer.Option(None, help="Only this family: wikipedia, wiktionary, …, commons."),
    names: list[str] = typer.Argument(None, help="Only these dbnames (an unknown one is refused)."),
) -> None:
    """List projects with their family, language, URL and closed flag (fetches the site matrix once)."""
    from wme_assets.sources.catalog import CatalogError

    catalog = _catalog(refresh=False)
    try:
        projects = catalog.select(names) if names else list(catalog)
    except CatalogError as exc:
        _fail(str(exc), exc)
    for project in projects:
        if family is None or project.family == family:
            closed = " (closed)" if project.closed else ""
            typer.echo(f"{project.dbname}\t{project.family}\t{project.language}\t{project.url}{closed}")


@catalog_app.command("sync")
def catalog_sync(
    refresh: bool = typer.Option(False, "--refresh", help="Fetch the site matrix again first."),
) -> None:
    """Add a project partition to the Dagster instance for every project WME_PROJECTS selects (dbnames, a
    family such as wikisource, or all); report closed wikis. Never deletes a partition."""
    import dagster as dg

    from wme_assets.defs.partitions import sync_projects
    from wme_assets.instance import prepare_dagster_home
    from wme_assets.sources.catalog import CatalogError, select_projects

    catalog = _catalog(refresh=refresh)
    settings = _guarded(load_settings)
    _guarded(lambda: prepare_dagster_home(settings))  # the instance only: no object storage is needed
    try:
        selected = select_projects(settings.project_list, catalog)
    except CatalogError as exc:
        _fail(f"WME_PROJECTS: {exc}", exc)
    with dg.DagsterInstance.get() as instance:
        plan = sync_projects(instance, catalog, selected)
    typer.echo(f"{len(selected)} project(s) selected by WME_PROJECTS={settings.projects} of {len(catalog)} "
               f"in the catalogue ({catalog.source}, fetched {catalog.fetched_at})")  # fmt: skip
    typer.echo(plan.summary())


# ----- realtime ------------------------------------------------------------------------------------------


def _realtime_settings(projects: list[str] | None) -> Settings:
    from wme_assets.sources.catalog import CatalogError, configured_projects

    settings = prepare_environment().settings
    try:
        configured = configured_projects(settings)
    except CatalogError as exc:
        _fail(str(exc), exc)
    if projects:
        for project in projects:
            if project not in configured:
                _fail(f"project {project!r} is not in WME_PROJECTS ({settings.projects}); add it there")
        configured = list(projects)
    # The listener and the applications read the projects as dbnames: WME_PROJECTS's selectors resolved.
    return settings.model_copy(update={"projects": ",".join(configured)})


@app.command()
def listen(
    project: list[str] = typer.Option(None, "--project", help="Only this project (repeatable); default all."),
    once: bool = typer.Option(False, "--once", help="Read what is available now, apply it, and exit."),
) -> None:
    """Read changes from the change source (WME_CHANGE_SOURCE) and apply them to the article stores."""
    from wme_assets.realtime.update import listen_and_update
    from wme_assets.storage import open_object_store

    settings = _realtime_settings(project)
    typer.echo(f"change source: {settings.change_source}; projects: {', '.join(settings.project_list)}")
    store = open_object_store(settings)
    try:
        listen_and_update(settings, store, once=once, echo=typer.echo)
    except KeyboardInterrupt:
        typer.echo("stopped")
    except ConfigurationError as exc:
        _fail(str(exc), exc)


@app.command()
def update(
    project: str = typer.Argument(..., help="Project (dbname) whose article store to bring up to date."),
) -> None:
    """Bring one project's article store up to date with its change source now."""
    from wme_assets.realtime.update import applier_lease, bring_up_to_date
    from wme_assets.storage import open_object_store
    from wme_assets.storage.lease import LeaseRefused

    settings = _realtime_settings([project])
    store = open_object_store(settings)
    if settings.change_source == "eventstreams":
        # EventStreams is one connection for every wiki: `wme listen` keeps the log current.
        typer.echo(f"{project}: applying the events `wme listen` has stored from EventStreams")
    try:
        with applier_lease(settings, store, project, log=typer.echo):
            bring_up_to_date(store, settings, project, log=typer.echo)
    except (ConfigurationError, LeaseRefused) as exc:
        _fail(str(exc), exc)


@app.command()
def batch(
    project: str = typer.Argument(..., help="Project (dbname) whose hourly batch to export."),
    hour: str = typer.Option(..., "--hour", help="The hour, YYYYMMDDHH (UTC); it must have closed."),
) -> None:
    """Export one closed hour's batch: the changes the project's article store took in during that hour."""
    from datetime import UTC, datetime

    from wme_assets.realtime.batches import HourNotClosed, check_hour_closed, export_batch
    from wme_assets.realtime.update import applier_lease
    from wme_assets.schema.validate import record_validator
    from wme_assets.snapshots.layout import batches_listing_key
    from wme_assets.storage import open_object_store
    from wme_assets.storage.article_store import ArticleStoreNotFound
    from wme_assets.storage.lease import LeaseRefused, batches_listing_lease, writer_lease
    from wme_assets.util.dates import check_yyyymmddhh

    try:  # checked before any service starts
        check_hour_closed(project, check_yyyymmddhh(hour, "--hour"), datetime.now(UTC))
    except ValueError as exc:
        _fail(str(exc), exc)
    settings = _realtime_settings([project])
    store = open_object_store(settings)
    try:
        # The lease makes the hour's delta final: an application that chose this hour has published it.
        with applier_lease(settings, store, project, log=typer.echo):
            result = export_batch(
                store, project, hour, validator=record_validator("article"), keep_days=settings.batch_retention_days,
                listing_lease=lambda h: writer_lease(
                    settings, batches_listing_lease(h), scope=f"{store.bucket}/{store.prefix}", shared=True
                ),
                log=typer.echo,
            )  # fmt: skip
    except (HourNotClosed, ArticleStoreNotFound, LeaseRefused) as exc:
        _fail(str(exc), exc)
    for namespace in result.namespaces:
        assert namespace.published is not None
        typer.echo(f"  {namespace.identifier}: {namespace.records} records → {namespace.published.uri(store)}")
    typer.echo(f"listing: {store.uri(store.key(batches_listing_key(hour)))} ({result.listed} batches of the hour)")


# ----- serving: the API and its accounts -----------------------------------------------------------------

accounts_app = typer.Typer(
    help="Accounts of the API (`wme serve`): in PostgreSQL when WME_PG_HOST is set, else under WME_HOME.",
    no_args_is_help=True,
)
app.add_typer(accounts_app, name="accounts")


def _accounts():
    from wme_assets.serving.accounts import AccountStore

    settings = _guarded(load_settings)
    try:
        return AccountStore.open(settings)
    except ConfigurationError as exc:
        _fail(str(exc), exc)


def _account_change(change):
    from wme_assets.serving.accounts import AccountError

    store = _accounts()
    try:
        return change(store)
    except AccountError as exc:
        _fail(str(exc), exc)
    finally:
        store.close()


def _read_password() -> str:
    """The password from standard input: typed twice at a terminal, else its first line (scripts, pipes)."""
    if sys.stdin.isatty():
        return typer.prompt("password", hide_input=True, confirmation_prompt=True)
    return sys.stdin.readline().rstrip("\r\n")


@accounts_app.command("create")
def accounts_create(
    name: str = typer.Argument(..., help="The account's username (what clients send as WME_USERNAME)."),
    tier: str = typer.Option(
        "free", "--tier", help="free (twice-monthly snapshots) or paid (daily, Structured Contents)."
    ),
) -> None:
    """Create an account; its password is read from standard input (never from the command line)."""
    password = _read_password()
    account = _account_change(lambda store: store.create(name, password, tier))
    typer.echo(f"created account {account.name} ({account.tier})")


@accounts_app.command("list")
def accounts_list() -> None:
    """List the accounts: name, tier, enabled or disabled, when created."""
    for account in _account_change(lambda store: store.list()):
        state = "disabled" if account.disabled else "enabled"
        typer.echo(f"{account.name}\t{account.tier}\t{state}\t{account.created_at}")


@accounts_app.command("disable")
def accounts_disable(name: str = typer.Argument(..., help="The account to disable.")) -> None:
    """Disable an account: its tokens stop working at once and it can no longer log in."""
    _account_change(lambda store: store.disable(name))
    typer.echo(f"disabled account {name}; its tokens no longer work")


@accounts_app.command("enable")
def accounts_enable(name: str = typer.Argument(..., help="The account to enable again.")) -> None:
    """Enable a disabled account: it can log in again (the tokens it held before stay invalid)."""
    _account_change(lambda store: store.enable(name))
    typer.echo(f"enabled account {name}")


@accounts_app.command("set-tier")
def accounts_set_tier(
    name: str = typer.Argument(..., help="The account."),
    tier: str = typer.Argument(..., help="free or paid."),
) -> None:
    """Move an account to another tier; its next request already sees that tier's snapshots."""
    account = _account_change(lambda store: store.set_tier(name, tier))
    typer.echo(f"account {account.name} is now {account.tier}")


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address the API binds to."),
    port: int = typer.Option(8080, help="Port of the API."),
) -> None:
    """Serve the published snapshots with Wikimedia Enterprise's API (its SDKs work unchanged against it)."""
    from wme_assets.serving.app import serve as serve_api
    from wme_assets.storage import open_object_store

    env = prepare_environment()
    store = open_object_store(env.settings)
    typer.echo(f"API: http://{host}:{port}/  (snapshots from s3://{env.settings.s3_bucket}/{env.settings.s3_prefix})")
    try:
        serve_api(env.settings, store, host=host, port=port)
    except ConfigurationError as exc:
        _fail(str(exc), exc)


if __name__ == "__main__":
    app()
