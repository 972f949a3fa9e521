"""``wme snapshot`` (and ``snapshot verify``) and ``wme diff``: the published snapshots."""

from __future__ import annotations

import itertools

import typer

from wme_assets.cli.base import IN_PROCESS_HELP, app, debug_wanted, fail, guarded, prepare_environment, report, runner
from wme_assets.settings import load_settings


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
        fail(f"--tier must be paid or free, not {tier!r}")
    snapshot_date = date or datetime.now(UTC).strftime("%Y%m%d")
    guarded(lambda: (check_date(snapshot_date, tier), check_project(target)))
    env = prepare_environment(subject=target)
    dump_date = guarded(lambda: dump_date_for_snapshot(target, snapshot_date, echo=typer.echo))
    with runner(in_process) as run:
        runs = guarded(
            lambda: run_snapshot_chain(
                target,
                dump_date=dump_date,
                snapshot_date=snapshot_date,
                tier=tier,
                echo=typer.echo,
                stack_traces=debug_wanted(),
                run=run,
            )
        )
    report(runs, env)


def _verify_snapshot(uri: str | None) -> None:
    from wme_assets.schema.validate import record_validator
    from wme_assets.snapshots.manifest import RECORD_SCHEMAS
    from wme_assets.snapshots.publish import verify_published
    from wme_assets.storage import open_object_store

    if not uri:
        fail(
            "usage: wme snapshot verify s3://BUCKET/PREFIX/snapshots/YYYYMMDD/ID.manifest.json "
            "(or structured-snapshots/..., a latest pointer, any file of a snapshot, or a prefix)"
        )
    settings = load_settings()
    store = guarded(lambda: open_object_store(settings))
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
        fail(f"--tier must be paid or free, not {tier!r}")
    if output not in DIFF_FORMATS:
        fail(f"--format must be summary or ndjson, not {output!r}")
    if namespace is not None and namespace not in EXPORTED_NAMESPACES:
        fail(f"--namespace must be one of {', '.join(map(str, EXPORTED_NAMESPACES))}, not {namespace}")
    guarded(lambda: (check_date(from_date, tier, "--from"), check_date(to_date, tier, "--to"), check_project(project)))
    if from_date >= to_date:
        fail(f"--from must be a day before --to, got {from_date} and {to_date}")
    # With --format ndjson, stdout is the changes only: everything else goes to stderr.
    log = (lambda line: typer.echo(line, err=True)) if output == "ndjson" else typer.echo
    store = open_object_store(prepare_environment(subject=project, echo=log).settings)
    namespaces = EXPORTED_NAMESPACES if namespace is None else (namespace,)
    try:
        summary = diff_snapshots(store, project, from_date, to_date, tier=tier, namespaces=namespaces, log=log)
    except SnapshotDiffError as exc:
        fail(str(exc), exc, code=1)
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
