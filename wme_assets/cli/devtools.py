"""``wme mirror`` and ``wme fidelity``: a local dumps mirror, and wme's output beside Enterprise's."""

from __future__ import annotations

from pathlib import Path

import typer

from wme_assets.cli.base import app, fail

mirror_app = typer.Typer(
    help="A local dumps-site mirror (for machines without internet, or a mirror kept on disk).",
    no_args_is_help=True,
)
app.add_typer(mirror_app, name="mirror")


@app.command()
def fidelity(
    fixtures: Path = typer.Option(Path("../shared/fixtures"), help="The real-data fixtures with Enterprise records."),
    path: str = typer.Option(
        "all",
        "--path",
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
        fail(f"--path must be wikitext, html, users or all, not {path!r}")
    paths = PATHS if path == "all" else (path,)
    if {"wikitext", "users"} & set(paths) and not (fixtures / "wme-articles").is_dir():
        fail(f"{fixtures} does not hold the Enterprise records (wme-articles/): pass --fixtures DIR")
    if "html" in paths and not (fixtures / TESTDATA_DIRNAME / "golden").is_dir():
        fail(f"{fixtures} does not hold Enterprise's parser goldens ({TESTDATA_DIRNAME}/golden/): pass --fixtures DIR")
    typer.echo(format_report(fidelity_report(fixtures, paths)))


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
        fail(f"DATE must be {DAY_FORMS}. Got {date!r}: {problem}")
    tables = {}
    for spec in table:
        name, sep, path = spec.partition("=")
        if not sep or not name or not Path(path).is_file():
            fail(f"--table takes TABLE=FILE with an existing FILE; got {spec!r}")
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
