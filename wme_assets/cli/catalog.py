"""``wme catalog``: the catalogue of projects from Wikimedia's site matrix, and the project partitions."""

from __future__ import annotations

import typer

from wme_assets.cli.base import app, fail, guarded
from wme_assets.settings import load_settings

catalog_app = typer.Typer(
    help="The catalogue of projects: every Wikimedia text project, from Wikimedia's site matrix.", no_args_is_help=True
)
app.add_typer(catalog_app, name="catalog")


def _catalog(refresh: bool):
    from wme_assets.sources.catalog import CatalogError, open_catalog

    settings = guarded(load_settings)
    try:
        return open_catalog(settings, refresh=refresh)
    except CatalogError as exc:
        fail(str(exc), exc)


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
        fail(str(exc), exc)
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
    settings = guarded(load_settings)
    guarded(lambda: prepare_dagster_home(settings))  # the instance only: no object storage is needed
    try:
        selected = select_projects(settings.project_list, catalog)
    except CatalogError as exc:
        fail(f"WME_PROJECTS: {exc}", exc)
    with dg.DagsterInstance.get() as instance:
        plan = sync_projects(instance, catalog, selected)
    typer.echo(f"{len(selected)} project(s) selected by WME_PROJECTS={settings.projects} of {len(catalog)} "
               f"in the catalogue ({catalog.source}, fetched {catalog.fetched_at})")  # fmt: skip
    typer.echo(plan.summary())
