"""The writer's lease every asset holds while it writes its output (:mod:`wme_assets.storage.lease`).

Taken in the asset body, so it holds whoever starts the run: the CLI, a schedule, the UI or a backfill.
"""

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import dagster as dg

from wme_assets.settings import load_settings
from wme_assets.storage import ObjectStore
from wme_assets.storage.lease import LeaseRefused, writer_lease


@contextmanager
def output_lease(
    context: dg.AssetExecutionContext, store: ObjectStore, name: str, *, shared: bool = False
) -> Iterator[None]:
    """Hold the lease of output ``name`` of ``store`` for the ``with`` body; a refusal fails the step.

    ``shared``: an output every project writes in turn, for which a writer queues (up to an hour).

    The settings come from the run's environment, like the Dagster instance's own: the lease lives where the
    instance does (PostgreSQL in deployment, ``WME_HOME`` embedded), and PostgreSQL's password stays out of
    the resources the UI shows.
    """
    with ExitStack() as stack:
        try:
            stack.enter_context(
                writer_lease(
                    load_settings(),
                    name,
                    scope=f"{store.bucket}/{store.prefix}",
                    run_id=context.run.run_id,
                    shared=shared,
                    log=context.log.info,
                )
            )
        except LeaseRefused as exc:
            # Another run is writing this output: a step retry would only be refused again (or, once that
            # run ends, redo its work), so the step fails at once, naming the holder.
            raise dg.Failure(
                description=str(exc),
                metadata={"lease": name, "holder": exc.holder.describe() if exc.holder else "not recorded"},
                allow_retries=False,
            ) from exc
        yield
