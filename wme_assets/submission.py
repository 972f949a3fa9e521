"""Submitting runs and backfills to the configured Dagster instance, and following them to their end.

``wme ingest``, ``snapshot``, ``demo``, ``publish`` and ``backfill`` go through here unless ``--in-process``:
the run is created and submitted exactly as the UI does it, so the instance's run coordinator (the queue and
its tier limits), run retries, run monitoring and run launcher all apply, and the run worker registers its
liveness through the job's executor (defs/executor.py).

How, and why this way:
- The code location is loaded from a workspace file, as Dagster's own CLI, webserver and daemon load it
  (:func:`write_workspace` writes the one ``wme ui`` uses under DAGSTER_HOME): the run then names the same
  code location the daemon resolves when it dequeues it.
- Runs and backfills are created by Dagster's GraphQL mutations ``launchRun`` and ``launchPartitionBackfill``,
  executed in this process against that workspace: the API the UI and DagsterGraphQLClient use, which checks
  the partitions, merges the job's tags (the tier) and submits, without wme building Dagster's internal
  run or backfill records itself.
- The queued coordinator needs a daemon to dequeue. When none beats for this instance, one is started for
  the duration of the command (:class:`TemporaryDaemon`), shared with the commands that run meanwhile and
  stopped once none uses it (:func:`daemon_for`): on a fresh machine (embedded SQLite) the commands work as
  they did. A deployment runs its own daemon, which is then used.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from wme_assets.pipeline import (
    RunSummary,
    check_partition,
    failure_reason,
    materialized_outputs,
    terminal_line,
)

LOCATION_NAME = "wme_assets"
WORKSPACE_YAML = f"""\
load_from:
  - python_module:
      module_name: wme_assets.definitions
      location_name: {LOCATION_NAME}
"""
# The daemons a submitted run or backfill needs: the run queue, and the backfill daemon that creates the
# backfill's runs. A daemon beats every 30 s (dagster._daemon.controller); older than this, it is gone.
NEEDED_DAEMONS = ("QUEUED_RUN_COORDINATOR", "BACKFILL")
HEARTBEAT_TOLERANCE = 90.0
POLL_SECONDS = 0.5
ENDED = ("SUCCESS", "FAILURE", "CANCELED")


def write_workspace(dagster_home: Path) -> Path:
    workspace = dagster_home / "workspace.yaml"
    workspace.write_text(WORKSPACE_YAML)
    return workspace


# ----- the daemon --------------------------------------------------------------------------------


def daemon_alive(heartbeats: dict, now: float, tolerance: float = HEARTBEAT_TOLERANCE) -> bool:
    """Whether every daemon a submission needs has beaten within ``tolerance`` seconds of ``now``."""
    return all(name in heartbeats and now - heartbeats[name].timestamp <= tolerance for name in NEEDED_DAEMONS)


class TemporaryDaemon:
    """``dagster-daemon run`` for this instance while the command lasts, in its own process group (its code
    server and the run workers it launches join it), stopped with SIGTERM, then SIGKILL, at the end."""

    def __init__(self, workspace: Path, log: Path):
        self.workspace, self.log = workspace, log
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> TemporaryDaemon:
        daemon = Path(sys.executable).parent / "dagster-daemon"
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [str(daemon), "run", "-w", str(self.workspace)],
                start_new_session=True, stdout=out, stderr=subprocess.STDOUT, env=os.environ.copy(),
            )
        return self

    def __exit__(self, *exc) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(30)


HEARTBEAT_WAIT = 120.0  # how long a started daemon may take to beat for the first time


@contextlib.contextmanager
def _flock(path: Path, mode: int) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, mode)
        yield


@contextlib.contextmanager
def daemon_for(instance, workspace: Path, echo: Callable[[str], None]) -> Iterator[None]:
    """The instance's own daemon when one beats; otherwise a temporary one, shared by the commands that run
    meanwhile and stopped by the command that started it once no other command uses it.

    The run workers a daemon launches are its children: stopping it under another command's run would kill
    that run. So every command holds a shared lock on ``wme-daemon.users`` while it lasts, and the starter
    stops the daemon only once it gets that lock exclusively; ``wme-daemon.lock`` serialises the decision
    (look for a heartbeat, start a daemon, wait for its first beat), so two commands never start two.
    """
    home = Path(instance.root_directory or workspace.parent)
    decide, users = home / "wme-daemon.lock", home / "wme-daemon.users"
    with contextlib.ExitStack() as stack:
        with _flock(decide, fcntl.LOCK_EX):
            users_handle = stack.enter_context(users.open("a"))
            fcntl.flock(users_handle, fcntl.LOCK_SH)
            if daemon_alive(instance.get_daemon_heartbeats(), time.time()):
                echo("dagster-daemon: running for this instance; the run goes through its queue")
                daemon = None
            else:
                log = home / "wme-daemon.log"
                echo(f"dagster-daemon: none running for this instance; starting one for this command (log: {log})")
                daemon = stack.enter_context(TemporaryDaemon(workspace, log))
                _wait_for_heartbeat(instance, daemon)
        try:
            yield
        finally:
            if daemon is not None:
                _stop_when_unused(instance, daemon, decide, users_handle, echo)


def _wait_for_heartbeat(instance, daemon: TemporaryDaemon) -> None:
    deadline = time.monotonic() + HEARTBEAT_WAIT
    while not daemon_alive(instance.get_daemon_heartbeats(), time.time()):
        if daemon.process is not None and daemon.process.poll() is not None:
            raise RuntimeError(f"dagster-daemon exited with {daemon.process.returncode}; see {daemon.log}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"dagster-daemon did not beat within {HEARTBEAT_WAIT:.0f} s; see {daemon.log}")
        time.sleep(POLL_SECONDS)


def _stop_when_unused(instance, daemon: TemporaryDaemon, decide: Path, users_handle, echo) -> None:
    fcntl.flock(users_handle, fcntl.LOCK_UN)
    said = False
    while True:
        with _flock(decide, fcntl.LOCK_EX):  # no command can start using the daemon meanwhile
            try:
                fcntl.flock(users_handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pass  # another command's run still needs it
            else:
                daemon.__exit__(None, None, None)
                # Its last heartbeats would make the next command believe a daemon still runs.
                instance.wipe_daemon_heartbeats()
                fcntl.flock(users_handle, fcntl.LOCK_UN)
                return
        if not said:
            echo("dagster-daemon: other commands' runs still use the daemon this command started; stopping it later")
            said = True
        time.sleep(1.0)


# ----- the workspace and Dagster's GraphQL API -----------------------------------------------------


@contextlib.contextmanager
def open_workspace(instance, workspace: Path) -> Iterator:
    """A request context on the code location the workspace file names (its code server runs meanwhile)."""
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import WorkspaceFileTarget

    # The code server's own start and stop lines are no news to the user: warnings and errors only.
    target = WorkspaceFileTarget(paths=[str(workspace)])
    with WorkspaceProcessContext(instance, target, code_server_log_level="WARNING") as process:
        context = process.create_request_context()
        if context.has_code_location_error(LOCATION_NAME):
            raise RuntimeError(f"the code location failed to load: {context.get_code_location_error(LOCATION_NAME)}")
        yield context


def graphql(context, query: str, variables: dict) -> dict:
    from dagster_graphql.schema import create_schema

    result = asyncio.run(create_schema().execute_async(query, context_value=context, variable_values=variables))
    if result.errors:
        raise RuntimeError(f"Dagster's GraphQL API refused the request: {result.errors[0]}")
    return result.data


LAUNCH_RUN = """
mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on Error { message }
  }
}
"""

LAUNCH_BACKFILL = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on Error { message }
  }
}
"""


def _launched(payload: dict, success: str) -> dict:
    if payload["__typename"] != success:
        errors = payload.get("errors") or []
        message = payload.get("message") or "; ".join(e["message"] for e in errors) or payload["__typename"]
        raise RuntimeError(f"Dagster did not accept the submission ({payload['__typename']}): {message}")
    return payload


def run_params(job_name: str, partition_tags: dict[str, str], assets: list[str] | None) -> dict:
    """launchRun's parameters: the job (or its ``assets``) for one partition; the job's own tags are added
    by Dagster, as for a run launched from the UI."""
    selector = {"repositoryLocationName": LOCATION_NAME, "repositoryName": "__repository__", "jobName": job_name}
    if assets:
        selector["assetSelection"] = [{"path": [name]} for name in assets]
    tags = [{"key": key, "value": value} for key, value in sorted(partition_tags.items())]
    return {"selector": selector, "runConfigData": {}, "executionMetadata": {"tags": tags}}


def backfill_params(job_name: str, partitions: list[str], title: str) -> dict:
    repository = {"repositoryLocationName": LOCATION_NAME, "repositoryName": "__repository__"}
    return {
        "selector": {"partitionSetName": f"{job_name}_partition_set", "repositorySelector": repository},
        "partitionNames": partitions,
        "title": title,
    }


def submit_partition_run(context, job_name: str, *, project: str, date: str, assets: list[str] | None) -> str:
    """Create and submit one run of ``job_name`` for the (date, project) partition; its run id."""
    import dagster as dg

    from wme_assets.definitions import defs

    job = defs().resolve_job_def(job_name)
    check_partition(job, project, date, context.instance)  # adds the project's partition when missing
    key = dg.MultiPartitionKey({"date": date, "project": project})
    selected = {dg.AssetKey(name) for name in assets} if assets else None
    tags = job.get_tags_for_partition_key(key, selected_asset_keys=selected)
    data = graphql(context, LAUNCH_RUN, {"params": run_params(job_name, dict(tags), assets)})
    return _launched(data["launchRun"], "LaunchRunSuccess")["run"]["runId"]


def launch_backfill(context, job_name: str, partitions: list[str], title: str) -> str:
    data = graphql(context, LAUNCH_BACKFILL, {"params": backfill_params(job_name, partitions, title)})
    return _launched(data["launchPartitionBackfill"], "LaunchBackfillSuccess")["backfillId"]


# ----- following a run -----------------------------------------------------------------------------


def follow_run(
    instance, run_id: str, *, echo: Callable[[str], None], stack_traces: bool = False, started: float | None = None
) -> RunSummary:
    """Print the run's log lines (INFO and above) as the instance records them, until the run ends."""
    import dagster as dg

    started = time.monotonic() if started is None else started
    cursor, events, said_queued = None, [], False
    while True:
        run = instance.get_run_by_id(run_id)
        status = run.status.value
        if status == "QUEUED" and not said_queued:
            echo(f"run {run_id} queued (tags: {_tier(run.tags)}); waiting for the run coordinator")
            said_queued = True
        while True:
            connection = instance.get_records_for_run(run_id, cursor=cursor, limit=500)
            for record in connection.records:
                entry = record.event_log_entry
                if entry.dagster_event is not None:
                    events.append(entry.dagster_event)
                line = terminal_line(entry, stack_traces=stack_traces)
                if line:
                    echo(line)
            cursor = connection.cursor
            if not connection.has_more:
                break
        if status in ENDED:
            break
        time.sleep(POLL_SECONDS)
    partition = run.tags.get("dagster/partition", "")
    success = run.status == dg.DagsterRunStatus.SUCCESS
    return RunSummary(
        job=run.job_name,
        partition=partition,
        run_id=run_id,
        success=success,
        seconds=time.monotonic() - started,
        outputs=materialized_outputs(events),
        error=None if success else (failure_reason(events) if status == "FAILURE" else f"the run was {status}"),
    )


def _tier(tags) -> str:
    from wme_assets.instance import TIER_TAG

    return f"{TIER_TAG}={tags.get(TIER_TAG, '-')}"


def run_submitted(
    job_name: str,
    *,
    project: str,
    date: str,
    assets: list[str] | None = None,
    echo: Callable[[str], None] = print,
    stack_traces: bool = False,
    session: Submission,
) -> RunSummary:
    """Submit one partition's run through ``session`` and follow it to its end."""
    started = time.monotonic()
    run_id = submit_partition_run(session.context, job_name, project=project, date=date, assets=assets)
    echo(f"submitted run {run_id} of job '{job_name}' for partition {date}|{project} to the instance")
    return follow_run(session.instance, run_id, echo=echo, stack_traces=stack_traces, started=started)


class Submission:
    """The instance, its workspace and a daemon, open for the duration of a command."""

    def __init__(self, echo: Callable[[str], None] = print, *, need_daemon: bool = True):
        self.echo, self.need_daemon = echo, need_daemon
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> Submission:
        import dagster as dg

        self.instance = self._stack.enter_context(dg.DagsterInstance.get())
        workspace = write_workspace(Path(os.environ["DAGSTER_HOME"]))
        if self.need_daemon:
            self._stack.enter_context(daemon_for(self.instance, workspace, self.echo))
        elif not daemon_alive(self.instance.get_daemon_heartbeats(), time.time()):
            self.echo("dagster-daemon: none running for this instance; what is submitted starts when one runs")
        self.context = self._stack.enter_context(open_workspace(self.instance, workspace))
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()


@contextlib.contextmanager
def partition_runner(*, in_process: bool, echo: Callable[[str], None] = print) -> Iterator[Callable[..., RunSummary]]:
    """A function with :func:`~wme_assets.pipeline.run_partition`'s signature: that one (``--in-process``), or
    one submitting to the instance through a :class:`Submission` kept open for the block."""
    from wme_assets.pipeline import run_partition

    if in_process:
        yield run_partition
        return
    with Submission(echo) as session:

        def run(job_name: str, **kwargs) -> RunSummary:
            return run_submitted(job_name, session=session, **kwargs)

        yield run


# ----- backfills -----------------------------------------------------------------------------------

BACKFILL_DONE = ("COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED")


def by_job(partitions) -> dict[str, list[str]]:
    """Failed partitions grouped per job, in order: a Dagster backfill covers one job's partition set."""
    grouped: dict[str, list[str]] = {}
    for item in partitions:
        grouped.setdefault(item.job, []).append(item.partition)
    return grouped


def latest_runs(runs) -> dict[str, object]:
    """The most recent run per partition (a run retry is a later run of the same partition)."""
    latest = {}
    for run in sorted(runs, key=lambda r: r.create_timestamp.timestamp()):
        latest[run.dagster_run.tags.get("dagster/partition", "")] = run
    return latest


def follow_backfill(
    instance, backfill_id: str, partitions: list[str], *, echo: Callable[[str], None], timeout: float | None = None
) -> list[RunSummary]:
    """Print each run of the backfill as it changes state, until the backfill is done and its runs ended;
    the summary of the latest run of every partition, in the order of ``partitions``."""
    import dagster as dg

    started = time.monotonic()
    seen: dict[str, str] = {}
    while True:
        backfill = instance.get_backfill(backfill_id)
        records = instance.get_run_records(dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
        for record in sorted(records, key=lambda r: r.create_timestamp.timestamp()):
            run = record.dagster_run
            if seen.get(run.run_id) != run.status.value:
                seen[run.run_id] = run.status.value
                partition = run.tags.get("dagster/partition", "")
                echo(f"backfill {backfill_id}: run {run.run_id} of {run.job_name} {partition}: {run.status.value}")
        latest = latest_runs(records)
        ended = all(r.dagster_run.status.value in ENDED for r in records)
        if backfill.status.value in BACKFILL_DONE and ended and set(partitions) <= set(latest):
            break
        if backfill.status.value in ("FAILED", "CANCELED") and ended:
            break
        if timeout is not None and time.monotonic() - started > timeout:
            raise TimeoutError(f"backfill {backfill_id} did not end within {timeout:.0f} s")
        time.sleep(POLL_SECONDS * 2)
    summaries = []
    for partition in partitions:
        record = latest.get(partition)
        if record is None:
            summaries.append(RunSummary(backfill_id, partition, "-", False, 0.0, error="the backfill made no run"))
            continue
        run = record.dagster_run
        events = [e.dagster_event for e in instance.all_logs(run.run_id) if e.dagster_event]
        success = run.status == dg.DagsterRunStatus.SUCCESS
        summaries.append(
            RunSummary(
                job=run.job_name,
                partition=partition,
                run_id=run.run_id,
                success=success,
                seconds=(record.end_time or time.time()) - (record.start_time or record.create_timestamp.timestamp()),
                outputs=materialized_outputs(events),
                error=None if success else failure_reason(events),
            )
        )
    return summaries


def add_missing_projects(instance, failed) -> list[str]:
    """Add the project partitions the failed partitions need and the instance lacks (a project removed from the
    partitions since its run failed): a backfill naming an unknown partition key would be refused whole."""
    from wme_assets.defs.partitions import PROJECT_PARTITIONS
    from wme_assets.pipeline import ensure_project_partition

    missing = sorted({i.project for i in failed if not instance.has_dynamic_partition(PROJECT_PARTITIONS, i.project)})
    for project in missing:
        ensure_project_partition(instance, project)
    return missing


def launch_failed_backfills(session: Submission, failed, title: str) -> dict[str, tuple[str, list[str]]]:
    """One backfill per job with failures, of exactly its failed partitions: {backfill id: (job, partitions)}."""
    add_missing_projects(session.instance, failed)
    launched = {}
    for job, partitions in by_job(failed).items():
        launched[launch_backfill(session.context, job, partitions, title)] = (job, partitions)
    return launched


def backfill_failed(failed, *, since: str | None, wait: bool, echo: Callable[[str], None] = print):
    """``wme backfill --failed``: one Dagster backfill per job of its failed partitions; the summaries of
    their runs once all ended, or None with ``wait`` False (``--no-wait``)."""
    title = "wme backfill --failed" + (f" --since {since}" if since else "")
    # While following, the daemon is needed until the runs end: the session stays open meanwhile.
    with Submission(echo, need_daemon=wait) as session:
        launched = launch_failed_backfills(session, failed, title)
        for backfill_id, (job, partitions) in launched.items():
            echo(f"backfill {backfill_id}: job {job}, {len(partitions)} partition(s): {', '.join(partitions)}")
        if not wait:
            echo("not waiting (--no-wait): follow them under Backfills in the UI (`wme ui`)")
            return None
        return [
            summary
            for backfill_id, (_, partitions) in launched.items()
            for summary in follow_backfill(session.instance, backfill_id, partitions, echo=echo)
        ]
