"""The process context of every worker pool (dump parsing, enrichment).

forkserver, not fork: the caller (a Dagster run, a web server) may have threads, and forking a threaded
process can deadlock the child on a lock held at fork time. The fork server imports the worker modules
once, when it starts, and every worker is forked from it with them loaded: a fresh interpreter importing
the enrichment stack (mwparserfromhell, pydantic models, pyarrow) costs ~0.6 CPU-s, which a pool of
workers per partition would otherwise pay again for every partition.
"""

from __future__ import annotations

import math
import multiprocessing
import multiprocessing.util
import os
from multiprocessing.context import BaseContext
from pathlib import Path

# "__main__" stays first, as in multiprocessing's default: a script's own worker functions still resolve.
PRELOADED_MODULES = ["__main__", "wme_assets.ingestion.multistream", "wme_assets.enrichment.run"]


def worker_context() -> BaseContext:
    """The forkserver context with the worker modules preloaded (fork where forkserver does not exist)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    context = multiprocessing.get_context("forkserver")
    # Only takes effect if the fork server has not started yet in this process; harmless otherwise.
    context.set_forkserver_preload(PRELOADED_MODULES)
    _stop_helpers_at_exit()
    return context


_helpers_stopped_at_exit = False


def _stop_helpers_at_exit() -> None:
    """Stop multiprocessing's fork server and resource tracker when this process exits, before it is gone.

    Left alone, both notice their parent's exit only when their pipe closes, so they outlive the command
    (or the run's process) that started them, if briefly. Registered as multiprocessing's own last exit
    finalizer (negative priority: after the pools' workers have been joined)."""
    global _helpers_stopped_at_exit
    if _helpers_stopped_at_exit:
        return
    _helpers_stopped_at_exit = True
    multiprocessing.util.Finalize(None, stop_worker_helpers, exitpriority=-100)


def stop_worker_helpers() -> None:
    """Stop the fork server and the resource tracker of this process now, if they run (they start again when
    needed). ``_stop`` is what CPython's own tests use; guarded, as it is not a public interface."""
    from multiprocessing import forkserver, resource_tracker

    tracker = getattr(resource_tracker, "_resource_tracker", None)
    if tracker is not None and getattr(tracker, "_pid", None) is None:
        # A worker uses its parent's tracker: it holds the tracker's descriptor but not its pid (None), and
        # ``_stop`` would fail waiting for it. Not this process's to stop.
        tracker = None
    for helper in (getattr(forkserver, "_forkserver", None), tracker):
        stop = getattr(helper, "_stop", None)
        if stop is not None:
            try:
                stop()
            except (OSError, ChildProcessError):  # already gone
                pass


CGROUP_ROOT = Path("/sys/fs/cgroup")


def _cgroup_quota(root: Path) -> float | None:
    """CPUs the cgroup's quota allows (cgroup v2 ``cpu.max``, else v1 ``cpu.cfs_quota_us``); None when unlimited."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return None if quota <= 0 or period <= 0 else quota / period
    except (OSError, ValueError):
        return None


def available_cpus(cgroup_root: Path = CGROUP_ROOT) -> int:
    """The CPUs this process may use: its affinity mask, capped by a container's CPU quota.

    ``os.cpu_count()`` is the host's count: a container limited to 2 CPUs on a 64-core host would otherwise
    start 64 workers that share 2 CPUs' worth of time, each with its own memory.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    quota = _cgroup_quota(cgroup_root)
    if quota is not None:
        cpus = min(cpus, math.ceil(quota))
    return max(1, cpus)
