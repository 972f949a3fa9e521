"""Liveness of runs: which process executes a run, its heartbeat, and the STARTED runs whose worker is dead.

A run worker killed with SIGKILL (or lost with its machine) writes no RUN_FAILURE: its run stays STARTED
forever, the UI shows it running and `wme backfill --failed` never re-runs it. Dagster's run monitoring
only notices dead workers through the run launcher, and the DefaultRunLauncher (runs from the UI and the
schedules) cannot check its workers' health (``supports_check_run_worker_health`` is False). The code server
that started a worker fails its run when the worker dies, but only while that server lives: not when the
server goes with it (a restart, a lost container). Runs of the ``wme`` commands (``execute_in_process``)
have no launcher at all. So every run of wme's jobs registers:

- its worker, as run tags written once when it starts: ``wme/run-worker`` = ``host:pid:start`` (start =
  the process's start time in clock ticks since boot, from /proc, so a pid reused by another process is
  not taken for the worker) and ``wme/run-worker-kernel`` = boot id and pid namespace, which tell whether
  an observer sees the same process table (same host, same container) and may look the pid up;
- a heartbeat every HEARTBEAT_SECONDS, in the instance's key-value store (``wme/heartbeat/<run id>``).
  Not a run tag: ``add_run_tags`` rewrites the whole run body from a read of it, so a tag written every
  30 s would race with the tags Dagster itself adds during the run (``dagster/will_retry`` when it fails)
  and could drop them. The key-value store is an upsert of one row.

:func:`find_dead_runs` judges each STARTED run: on the observer's own host and kernel, dead as soon as the
worker process is gone; elsewhere, dead once its heartbeat (or its start, when it never beat) is older than
``stale_after`` — observer and worker clocks are compared, so they must agree to well under that (NTP).
:func:`mark_dead_runs_failed` writes RUN_FAILURE through the instance, which the UI shows and which run
retries and `wme backfill --failed` act on. Runs without the worker tags (started before this existed, or
by code outside wme's jobs) are left alone: run monitoring's ``max_runtime_seconds`` still bounds them.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import dagster as dg

WORKER_TAG = "wme/run-worker"
WORKER_KERNEL_TAG = "wme/run-worker-kernel"
HEARTBEAT_KEY_PREFIX = "wme/heartbeat/"
HEARTBEAT_SECONDS = 30.0
# Ten missed heartbeats: a worker busy in C code (bz2, pyarrow) still beats, since the heartbeat thread
# only needs the GIL for a moment, and a database hiccup of a minute or two does not fail a healthy run.
DEFAULT_STALE_AFTER = 300.0

log = logging.getLogger(__name__)


# ----- the worker's identity ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Worker:
    host: str
    pid: int
    start: str  # start time of the process in clock ticks since boot; "" where /proc does not exist
    kernel: str  # "<boot id>/<pid namespace>"; "" where unknown

    def tags(self) -> dict[str, str]:
        return {WORKER_TAG: f"{self.host}:{self.pid}:{self.start}", WORKER_KERNEL_TAG: self.kernel}

    @classmethod
    def from_tags(cls, tags: dict[str, str]) -> Worker | None:
        value = tags.get(WORKER_TAG)
        if not value or value.count(":") < 2:
            return None
        host, pid, start = value.rsplit(":", 2)
        if not pid.isdigit():
            return None
        return cls(host, int(pid), start, tags.get(WORKER_KERNEL_TAG, ""))


def process_start_ticks(pid: int) -> str | None:
    """The start time of a live process (clock ticks since boot, field 22 of /proc/<pid>/stat), or None.

    None when there is no such process, or when it is a zombie: it has exited and only waits to be reaped,
    so it will never write the run's end.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) is in parentheses and may itself hold spaces and parentheses.
    fields = stat[stat.rindex(")") + 2 :].split()
    state, start = fields[0], fields[19]  # fields 3 and 22
    return None if state in ("Z", "X") else start


def _kernel() -> str:
    try:
        boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        namespace = os.readlink("/proc/self/ns/pid")  # "pid:[4026531836]"
    except OSError:
        return ""
    return f"{boot_id}/{namespace.removeprefix('pid:[').removesuffix(']')}"


def current_worker() -> Worker:
    pid = os.getpid()
    try:
        start = process_start_ticks(pid) or ""
    except OSError:  # no /proc (macOS): the heartbeat alone tells
        start = ""
    return Worker(socket.gethostname(), pid, start, _kernel())


# ----- the heartbeat -----------------------------------------------------------------------------------


def heartbeat_key(run_id: str) -> str:
    return HEARTBEAT_KEY_PREFIX + run_id


def beat(instance: dg.DagsterInstance, run_id: str, now: float | None = None) -> None:
    now = time.time() if now is None else now
    instance.daemon_cursor_storage.set_cursor_values({heartbeat_key(run_id): f"{now:.3f}"})


def last_heartbeats(instance: dg.DagsterInstance, run_ids: list[str]) -> dict[str, float]:
    if not run_ids:
        return {}
    values = instance.daemon_cursor_storage.get_cursor_values({heartbeat_key(r) for r in run_ids})
    return {key.removeprefix(HEARTBEAT_KEY_PREFIX): float(value) for key, value in values.items()}


def _beat_until(stop: threading.Event, instance: dg.DagsterInstance, run_id: str, interval: float) -> None:
    while not stop.wait(interval):
        try:
            beat(instance, run_id)
        except Exception as exc:  # noqa: BLE001 - a storage hiccup must not end the run; the next beat retries
            log.warning("heartbeat of run %s not written: %s", run_id, exc)


@contextmanager
def run_liveness(
    instance: dg.DagsterInstance, run_id: str, *, tag_run: bool = False, interval: float = HEARTBEAT_SECONDS
) -> Iterator[dict[str, str]]:
    """Register this process as the worker of ``run_id`` and keep its heartbeat while the block runs.

    Yields the worker tags. ``tag_run`` writes them on the run (which must exist); otherwise the caller
    creates the run with them (``execute_in_process(tags=...)``). The first heartbeat is written before the
    block starts, so the run is never seen without one.
    """
    worker = current_worker()
    if tag_run:
        instance.add_run_tags(run_id, worker.tags())
    beat(instance, run_id)
    stop = threading.Event()
    thread = threading.Thread(
        target=_beat_until, args=(stop, instance, run_id, interval), name=f"wme-heartbeat-{run_id[:8]}", daemon=True
    )
    thread.start()
    try:
        yield worker.tags()
    finally:
        # Joined before the caller goes on: no heartbeat is written after the run has ended.
        stop.set()
        thread.join()


# ----- judging STARTED runs ----------------------------------------------------------------------------


ALIVE, DEAD, UNMONITORED = "alive", "dead", "unmonitored"


@dataclass(frozen=True)
class RunLiveness:
    run_id: str
    job: str
    partition: str | None
    state: str  # ALIVE | DEAD | UNMONITORED
    worker: Worker | None
    last_heartbeat: float | None
    cause: str  # why the run is judged so, for the failure message and the sensor's report

    def failure_message(self) -> str:
        return f"wme dead-run check: {self.cause}. Marked failed so that retries and `wme backfill --failed` re-run it."


def _iso(timestamp: float | None) -> str:
    if timestamp is None:
        return "never"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def judge_run(
    run_id: str,
    job: str,
    partition: str | None,
    tags: dict[str, str],
    started: float | None,
    heartbeat: float | None,
    *,
    here: Worker,
    now: float,
    stale_after: float,
) -> RunLiveness:
    """Alive, dead or unmonitored, for one STARTED run: the rules of the module docstring."""
    worker = Worker.from_tags(tags)

    def verdict(state: str, cause: str) -> RunLiveness:
        return RunLiveness(run_id, job, partition, state, worker, heartbeat, cause)

    if worker is None:
        return verdict(UNMONITORED, f"no {WORKER_TAG} tag")
    where = f"run worker {worker.host} pid {worker.pid}"
    seen = f"last heartbeat {_iso(heartbeat)}"
    if worker.host == here.host and worker.kernel and worker.kernel == here.kernel and worker.start:
        start = process_start_ticks(worker.pid)
        if start is None:
            return verdict(DEAD, f"{where} is gone (no such process on this host); {seen}")
        if start != worker.start:
            return verdict(DEAD, f"{where} is gone (pid {worker.pid} is now another process); {seen}")
        return verdict(ALIVE, f"{where} is running")
    last = heartbeat if heartbeat is not None else started
    if last is None:
        return verdict(ALIVE, f"{where} has not started yet")
    age = now - last
    if age > stale_after:
        return verdict(DEAD, f"no heartbeat from {where} for {age:.0f} s (dead after {stale_after:.0f} s); {seen}")
    return verdict(ALIVE, f"{where} beat {age:.0f} s ago")


def check_started_runs(
    instance: dg.DagsterInstance, now: float | None = None, stale_after: float = DEFAULT_STALE_AFTER
) -> list[RunLiveness]:
    """Every STARTED run of the instance, judged alive, dead or unmonitored."""
    import dagster as dg

    now = time.time() if now is None else now
    here = current_worker()
    records = instance.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
    heartbeats = last_heartbeats(instance, [r.dagster_run.run_id for r in records])
    judged = []
    for record in records:
        run = record.dagster_run
        started = record.start_time if record.start_time is not None else record.create_timestamp.timestamp()
        judged.append(
            judge_run(
                run.run_id,
                run.job_name,
                run.tags.get("dagster/partition"),
                dict(run.tags),
                started,
                heartbeats.get(run.run_id),
                here=here,
                now=now,
                stale_after=stale_after,
            )
        )
    return judged


def find_dead_runs(
    instance: dg.DagsterInstance, now: float | None = None, stale_after: float = DEFAULT_STALE_AFTER
) -> list[RunLiveness]:
    return [r for r in check_started_runs(instance, now, stale_after) if r.state == DEAD]


@dataclass(frozen=True)
class HealthReport:
    judged: list[RunLiveness]
    marked: list[RunLiveness]  # dead and now FAILURE

    def count(self, state: str) -> int:
        return sum(1 for r in self.judged if r.state == state)

    def summary(self) -> str:
        text = (
            f"{len(self.judged)} started run(s): {len(self.marked)} dead marked failed, "
            f"{self.count(ALIVE)} alive, {self.count(UNMONITORED)} without worker tags"
        )
        for run in self.marked:
            text += f"; {run.run_id} ({run.job} {run.partition or '-'}): {run.cause}"
        return text


def mark_dead_runs_failed(
    instance: dg.DagsterInstance, now: float | None = None, stale_after: float = DEFAULT_STALE_AFTER
) -> HealthReport:
    """Report every dead STARTED run failed (a RUN_FAILURE event naming the worker and its last heartbeat)."""
    import dagster as dg
    from dagster._core.events import JobFailureData, RunFailureReason

    judged = check_started_runs(instance, now, stale_after)
    marked = []
    for dead in (r for r in judged if r.state == DEAD):
        # Read again after the judgement, so a run that ended meanwhile is left as it ended. For a worker
        # found gone on this host that closes the race: it can write nothing after the lookup.
        run = instance.get_run_by_id(dead.run_id)
        if run is None or run.status != dg.DagsterRunStatus.STARTED:
            continue
        # UNEXPECTED_TERMINATION, not STEP_FAILURE: run retries (dagster.yaml) re-launch such runs.
        failure = JobFailureData(error=None, failure_reason=RunFailureReason.UNEXPECTED_TERMINATION)
        instance.report_run_failed(run, dead.failure_message(), failure)
        marked.append(dead)
    return HealthReport(judged, marked)
