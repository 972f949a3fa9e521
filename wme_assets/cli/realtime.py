"""``wme listen``, ``update`` and ``batch``: the fresh half, change events to the always-current store."""

from __future__ import annotations

import typer

from wme_assets.cli.base import app, fail, prepare_environment
from wme_assets.settings import ConfigurationError, Settings

# ----- realtime ------------------------------------------------------------------------------------------


def _realtime_settings(projects: list[str] | None) -> Settings:
    from wme_assets.sources.catalog import CatalogError, configured_projects

    settings = prepare_environment().settings
    try:
        configured = configured_projects(settings)
    except CatalogError as exc:
        fail(str(exc), exc)
    if projects:
        for project in projects:
            if project not in configured:
                fail(f"project {project!r} is not in WME_PROJECTS ({settings.projects}); add it there")
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
        fail(str(exc), exc)


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
        fail(str(exc), exc)


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
        fail(str(exc), exc)
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
        fail(str(exc), exc)
    for namespace in result.namespaces:
        assert namespace.published is not None
        typer.echo(f"  {namespace.identifier}: {namespace.records} records → {namespace.published.uri(store)}")
    typer.echo(f"listing: {store.uri(store.key(batches_listing_key(hour)))} ({result.listed} batches of the hour)")
