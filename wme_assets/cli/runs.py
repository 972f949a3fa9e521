"""``wme demo``, ``ingest``, ``publish`` and ``backfill``: runs of the batch jobs, through the instance."""

from __future__ import annotations

import typer

from wme_assets.cli.base import (
    IN_PROCESS_HELP,
    app,
    debug_wanted,
    fail,
    guarded,
    options,
    prepare_environment,
    report,
    runner,
)


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

    guarded(lambda: (check_date(date, "dump", latest=True), check_project(project)))
    env = prepare_environment(subject=project)
    dump_date = guarded(lambda: resolve_dump_date(project, date, echo=typer.echo))
    with runner(in_process) as run:
        runs = guarded(
            lambda: run_snapshot_chain(
                project,
                dump_date=dump_date,
                snapshot_date=dump_date,
                tier="paid",
                echo=typer.echo,
                stack_traces=debug_wanted(),
                run=run,
            )
        )
    report(runs, env)


@app.command()
def ingest(
    project: str = typer.Argument(..., help="Project (dbname), e.g. bnwiki."),
    date: str = typer.Option("latest", help="Dump date YYYYMMDD, or 'latest' finished run."),
    in_process: bool = typer.Option(False, "--in-process", help=IN_PROCESS_HELP),
) -> None:
    """Ingest one dumps run (status, verified files, page store) through the Dagster instance."""
    from wme_assets.pipeline import check_date, check_project, resolve_dump_date

    guarded(lambda: (check_date(date, "dump", latest=True), check_project(project)))
    env = prepare_environment(subject=project)
    dump_date = guarded(lambda: resolve_dump_date(project, date, echo=typer.echo))
    with runner(in_process) as run:
        summary = guarded(
            lambda: run("ingest", project=project, date=dump_date, echo=typer.echo, stack_traces=debug_wanted())
        )
    report([summary], env)


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
        fail(f"--to must be one of {', '.join([*PUBLISH_TARGETS, 'all'])}, not {to!r}")
    guarded(lambda: (check_date(date, "free"), check_project(project)))
    env = prepare_environment(subject=project)
    known = {key.to_user_string() for key in defs().resolve_asset_graph().get_all_asset_keys()}
    assets = [a for name in (PUBLISH_TARGETS if to == "all" else [to]) for a in PUBLISH_TARGETS[name] if a in known]
    if not assets:
        fail(f"publishing to {to} is not available in this version")
    with runner(in_process) as run:
        summary = guarded(
            lambda: run(
                "publish_job", project=project, date=date, assets=assets, echo=typer.echo, stack_traces=debug_wanted()
            )
        )
    report([summary], env)


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
        fail("say what to backfill: --failed (the partitions whose latest run failed)")
    since = guarded(lambda: check_since(since)) if since is not None else None  # as YYYY-MM-DD
    env = prepare_environment()
    todo = failed_partitions(since=since, echo=typer.echo)
    if not todo:
        typer.echo("no failed partitions" + (f" since {since}" if since else ""))
        return
    for item in todo:
        typer.echo(f"failed: {item.job} {item.partition} (run {item.run_id})")
    if dry_run:
        return
    if in_process or options["in_process"]:
        from wme_assets.pipeline import run_partition

        debug = debug_wanted()
        runs = [
            guarded(
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
        fail(f"{len(failures)} of {len(runs)} failed again; {first.job} {first.partition}: {first.error}", code=1)
