"""The process context of every worker pool (dump parsing, enrichment).

forkserver, not fork: the caller (a Dagster run, a web server) may have threads, and forking a threaded
process can deadlock the child on a lock held at fork time. The fork server imports the worker modules
once, when it starts, and every worker is forked from it with them loaded: a fresh interpreter importing
the enrichment stack (mwparserfromhell, pydantic models, pyarrow) costs ~0.6 CPU-s, which a pool of
workers per partition would otherwise pay again for every partition.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing.context import BaseContext

# "__main__" stays first, as in multiprocessing's default: a script's own worker functions still resolve.
PRELOADED_MODULES = ["__main__", "wme_assets.ingestion.multistream", "wme_assets.enrichment.run"]


def worker_context() -> BaseContext:
    """The forkserver context with the worker modules preloaded (fork where forkserver does not exist)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    context = multiprocessing.get_context("forkserver")
    # Only takes effect if the fork server has not started yet in this process; harmless otherwise.
    context.set_forkserver_preload(PRELOADED_MODULES)
    return context
