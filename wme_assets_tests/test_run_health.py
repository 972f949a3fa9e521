"""Dead runs are noticed: a run worker killed with SIGKILL leaves its run STARTED, and wme marks it failed.

The killed runs are real runs of the ingest job (the bnwiki and jawiki dump fixtures): one started by the
daemon from the run queue, as the UI and the schedules start them, one by `wme ingest`; both are killed
mid-run and a real `dagster-daemon run` marks them failed through the ``dead_run_monitor`` sensor. Runs
on another host are judged by their heartbeat; those are run records with synthetic worker tags on the
real instance (another host cannot be had in a test).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.events import DagsterEvent, DagsterEventType

from wme_assets.backfill import failed_partitions
from wme_assets.defs.resources import RunHealthResource
from wme_assets.defs.sensors import dead_run_monitor
from wme_assets.run_health import (
    ALIVE,
    DEAD,
    UNMONITORED,
    WORKER_TAG,
    Worker,
    beat,
    check_started_runs,
    current_worker,
    last_heartbeats,
    process_start_ticks,
    run_liveness,
)
from wme_assets_tests import partitions
from wme_assets_tests.paths import DUMP_DATE, REPO_ROOT
from wme_assets_tests.servers import start_dagster_daemon, wait_until

BIN = Path(sys.executable).parent
PARTITION_TAG = "dagster/partition"


# ----- the worker's identity ---------------------------------------------------------------------------


def test_process_start_ticks_tell_a_live_process_from_an_exited_one():
    child = subprocess.Popen(["sleep", "60"])
    try:
        start = process_start_ticks(child.pid)
        assert start is not None and start.isdigit()
        assert process_start_ticks(child.pid) == start  # stable for the life of the process
        assert process_start_ticks(os.getpid()) != start
        child.kill()
        # Killed but not reaped yet: a zombie is no worker, it will never write its run's end.
        wait_until(lambda: process_start_ticks(child.pid) is None, 10, "the killed process is not seen as gone")
        assert Path(f"/proc/{child.pid}/stat").exists()
    finally:
        child.kill()
        child.wait()
    assert process_start_ticks(child.pid) is None


def test_worker_tags_round_trip():
    worker = current_worker()
    assert worker.pid == os.getpid() and worker.start and worker.kernel.count("/") == 1
    assert Worker.from_tags(worker.tags()) == worker
    assert Worker.from_tags({WORKER_TAG: "host-without-pid"}) is None
    assert Worker.from_tags({}) is None


def test_stale_after_comes_from_the_environment_and_spans_several_heartbeats(monkeypatch):
    from wme_assets.defs.resources import resources
    from wme_assets.settings import ConfigurationError, load_settings

    monkeypatch.setenv("WME_RUN_STALE_AFTER", "600")
    assert resources().resources["run_health"].stale_after_seconds == 600
    monkeypatch.setenv("WME_RUN_STALE_AFTER", "45")  # under three heartbeats: a late beat would kill a run
    with pytest.raises(ConfigurationError, match="WME_RUN_STALE_AFTER: Input should be greater than or equal to 90"):
        load_settings()


# ----- runs on the real PostgreSQL instance ------------------------------------------------------------


@pytest.fixture
def pg_home(postgres, s3_env, monkeypatch, tmp_path) -> Path:
    """DAGSTER_HOME with the repository's dagster.yaml, on a database of this test's own (it counts runs)."""
    database = f"runs_{uuid.uuid4().hex[:12]}"
    conn = postgres.connect(dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{database}"')
    conn.close()
    for name, value in {**postgres.env(), "WME_PG_DB": database}.items():
        monkeypatch.setenv(name, value)
    home = tmp_path / "dagster-home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


@pytest.fixture
def pg_instance(pg_home):
    with dg.DagsterInstance.get() as instance:
        yield partitions.with_projects(instance, "bnwiki", "jawiki")  # as `wme catalog sync` adds them


def _started_run(instance: dg.DagsterInstance, project: str, tags: dict[str, str]) -> str:
    """A run record of the ingest job, STARTED through a real RUN_START event, as a run worker writes it."""
    run = instance.add_run(
        dg.DagsterRun(
            job_name="ingest",
            run_id=str(uuid.uuid4()),
            tags={PARTITION_TAG: f"{DUMP_DATE}|{project}", **tags},
            status=dg.DagsterRunStatus.NOT_STARTED,
        )
    )
    start = DagsterEvent(event_type_value=DagsterEventType.RUN_START.value, job_name="ingest")
    instance.report_dagster_event(start, run_id=run.run_id)
    assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED
    return run.run_id


def _failure_message(instance: dg.DagsterInstance, run_id: str) -> str:
    (event,) = instance.all_logs(run_id, of_type=DagsterEventType.RUN_FAILURE)
    return event.dagster_event.message


def test_runs_judged_by_process_or_heartbeat_and_dead_ones_marked_failed(pg_instance):
    here = current_worker()
    now = time.time()
    elsewhere = {WORKER_TAG: "worker-7.example:4242:918273", "wme/run-worker-kernel": "other-boot/4026531836"}
    stale = _started_run(pg_instance, "enwiki", elsewhere)
    fresh = _started_run(pg_instance, "dewiki", elsewhere)
    # This very process is a worker: alive, whatever its heartbeat says (a busy worker may beat late).
    this_process = _started_run(pg_instance, "frwiki", here.tags())
    # Same pid, other start time: the pid was reused by another process, the worker is gone.
    reused = Worker(here.host, here.pid, str(int(here.start) - 1), here.kernel)
    reused_pid = _started_run(pg_instance, "ptwiki", reused.tags())
    untagged = _started_run(pg_instance, "elwiki", {})
    for run_id, age in ((stale, 600), (fresh, 20), (this_process, 3600), (reused_pid, 10)):
        beat(pg_instance, run_id, now=now - age)
    stored = last_heartbeats(pg_instance, [stale, fresh, untagged])
    assert set(stored) == {stale, fresh}

    judged = {r.run_id: r for r in check_started_runs(pg_instance, now=now, stale_after=300)}
    assert {run_id: r.state for run_id, r in judged.items()} == {
        stale: DEAD, fresh: ALIVE, this_process: ALIVE, reused_pid: DEAD, untagged: UNMONITORED
    }

    # The sensor, evaluated against the instance as the daemon does, marks the two dead runs failed.
    context = dg.build_sensor_context(instance=pg_instance, resources={"run_health": RunHealthResource()})
    result = dead_run_monitor(context)
    assert isinstance(result, dg.SkipReason)
    assert result.skip_message.startswith(
        "5 started run(s): 2 dead marked failed, 2 alive, 1 without worker tags"
    ), result.skip_message
    status = {r: pg_instance.get_run_by_id(r).status for r in (stale, fresh, this_process, reused_pid, untagged)}
    failure, started = dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.STARTED
    assert status == {stale: failure, fresh: started, this_process: started, reused_pid: failure, untagged: started}
    message = _failure_message(pg_instance, stale)
    assert "no heartbeat from run worker worker-7.example pid 4242 for " in message
    # As stored (to the millisecond, so it may round into the next second of now - 600).
    assert abs(stored[stale] - (now - 600)) < 0.001
    heartbeat = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stored[stale]))
    assert f"last heartbeat {heartbeat}" in message
    assert f"run worker {here.host} pid {here.pid} is gone (pid {here.pid} is now another process)" in (
        _failure_message(pg_instance, reused_pid)
    )
    # Not a step failure: run retries treat it as a crashed worker.
    assert pg_instance.get_run_by_id(stale).tags["dagster/failure_reason"] == "UNEXPECTED_TERMINATION"

    # A later tick has nothing more to do; the failed partitions are there to backfill.
    assert dead_run_monitor(context).skip_message.startswith("3 started run(s): 0 dead marked failed")
    assert [(p.partition, p.run_id) for p in failed_partitions(jobs=("ingest",))] == [
        (f"{DUMP_DATE}|enwiki", stale),
        (f"{DUMP_DATE}|ptwiki", reused_pid),
    ]


def test_run_liveness_beats_while_the_block_runs(pg_instance):
    run_id = _started_run(pg_instance, "hywiki", {})
    with run_liveness(pg_instance, run_id, tag_run=True, interval=0.2) as tags:
        assert pg_instance.get_run_by_id(run_id).tags[WORKER_TAG] == tags[WORKER_TAG]
        first = last_heartbeats(pg_instance, [run_id])[run_id]
        later = wait_until(
            lambda: (beat_at := last_heartbeats(pg_instance, [run_id])[run_id]) > first and beat_at,
            10,
            "no second heartbeat",
        )
    time.sleep(0.5)
    assert last_heartbeats(pg_instance, [run_id])[run_id] == later  # no heartbeat after the block
    (judged,) = check_started_runs(pg_instance)
    assert judged.state == ALIVE and judged.cause.endswith("is running")


# ----- killed runs, noticed by the real daemon -----------------------------------------------------------


def _wait_for_worker(instance: dg.DagsterInstance, what: str, **filters) -> dg.DagsterRun:
    def started():
        for run in instance.get_runs(dg.RunsFilter(**filters)):
            if run.status == dg.DagsterRunStatus.STARTED and WORKER_TAG in run.tags:
                return run
            assert run.status not in (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE), (
                f"{what} ended ({run.status}) before it could be killed"
            )
        return None

    return wait_until(started, 180, f"{what} did not start", interval=0.1)


def _sensor_ticks(instance: dg.DagsterInstance) -> list:
    (state,) = [s for s in instance.all_instigator_state() if s.name == "dead_run_monitor"]
    return instance.get_ticks(state.instigator_origin_id, state.selector_id)


def _kill_group(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def test_killed_runs_are_marked_failed_by_the_daemon_and_listed_for_backfill(pg_instance, dumps_url):
    env = {**os.environ, "WME_DUMPS_URL": dumps_url}
    processes: list[subprocess.Popen] = []
    try:
        # 1. A run from the queue, launched by the daemon through the DefaultRunLauncher, as from the UI. No
        # run retry: the test looks at the failed run, not at its retry.
        processes.append(first_daemon := start_dagster_daemon(env))
        queued_id = str(uuid.uuid4())
        tags = {PARTITION_TAG: f"{DUMP_DATE}|jawiki", "dagster/max_retries": "0"}
        subprocess.run(
            [str(BIN / "dagster"), "job", "launch", "-w", "workspace.yaml", "-j", "ingest",
             "--run-id", queued_id, "--tags", json.dumps(tags)],
            cwd=REPO_ROOT, env=env, check=True, capture_output=True, timeout=120,
        )
        queued = _wait_for_worker(pg_instance, "the queued run", run_ids=[queued_id])
        worker = Worker.from_tags(queued.tags)
        assert worker.host == current_worker().host and worker.pid != first_daemon.pid
        assert process_start_ticks(worker.pid) == worker.start
        assert os.getpgid(worker.pid) == first_daemon.pid
        # The daemon, its code server and the run worker all die at once, as with the machine or container
        # they run on. (A run worker killed alone is failed by the code server that started it, if that
        # server still runs: Dagster watches its own children.)
        _kill_group(first_daemon)

        # 2. A run of `wme ingest --in-process` (execute_in_process), killed with its whole process group.
        processes.append(ingest := subprocess.Popen(
            [str(BIN / "wme"), "ingest", "bnwiki", "--date", DUMP_DATE, "--in-process"], env=env,
            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ))
        in_process = _wait_for_worker(pg_instance, "wme ingest's run", tags={PARTITION_TAG: f"{DUMP_DATE}|bnwiki"})
        assert Worker.from_tags(in_process.tags).pid == ingest.pid
        # While its worker lives, the run is judged alive.
        judged = {r.run_id: r.state for r in check_started_runs(pg_instance)}
        assert judged == {in_process.run_id: ALIVE, queued_id: DEAD}
        _kill_group(ingest)
        assert ingest.returncode == -signal.SIGKILL
        # Nothing else notices: both runs stay STARTED.
        time.sleep(2)
        for run_id in (queued_id, in_process.run_id):
            assert pg_instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED

        # 3. A daemon started again: its sensor (a tick a minute) marks both failed, naming the dead worker.
        processes.append(start_dagster_daemon(env))

        def both_failed():
            runs = [pg_instance.get_run_by_id(r) for r in (queued_id, in_process.run_id)]
            return all(r.status == dg.DagsterRunStatus.FAILURE for r in runs)

        wait_until(both_failed, 240, "the daemon did not mark the killed runs failed", interval=1)

        # The tick says so in the UI (its reason is written once the evaluation returns).
        def reported():
            reasons = [tick.skip_reason or "" for tick in _sensor_ticks(pg_instance)]
            return next((r for r in reasons if "2 dead marked" in r), None)

        reason = wait_until(reported, 60, "no sensor tick reported the dead runs", interval=1)
    finally:
        for process in processes:
            _kill_group(process)

    assert reason.startswith("2 started run(s): 2 dead marked failed, 0 alive, 0 without worker tags"), reason
    assert f"{queued_id} (ingest {DUMP_DATE}|jawiki): run worker {worker.host} pid {worker.pid} is gone" in reason
    assert f"{in_process.run_id} (ingest {DUMP_DATE}|bnwiki): run worker" in reason
    for run_id, pid in ((queued_id, worker.pid), (in_process.run_id, ingest.pid)):
        message = _failure_message(pg_instance, run_id)
        assert f"pid {pid} is gone (no such process on this host); last heartbeat 20" in message, message

    # 4. `wme backfill --failed` lists both partitions to re-run.
    listed = subprocess.run(
        [str(BIN / "wme"), "backfill", "--failed", "--dry-run"], env=env, capture_output=True, text=True, timeout=120
    )
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert f"failed: ingest {DUMP_DATE}|bnwiki (run {in_process.run_id})" in listed.stdout
    assert f"failed: ingest {DUMP_DATE}|jawiki (run {queued_id})" in listed.stdout


@pytest.fixture
def short_scratch():
    path = Path(tempfile.mkdtemp(prefix="wme-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_backfill_marks_a_killed_run_failed_and_reruns_it(s3_env, dumps_url, tmp_path, short_scratch):
    # The embedded shape: SQLite under WME_HOME, no daemon. `wme backfill --failed` judges the runs itself,
    # then backfills through a daemon it starts for the command.
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    env["WME_DUMPS_URL"] = dumps_url
    # The run workers' scratch on a short path: multiprocessing's sockets live there, and under pytest's
    # tmp_path their path can exceed AF_UNIX's 107 bytes.
    env["WME_SCRATCH_DIR"] = str(short_scratch)
    ingest = subprocess.Popen(
        [str(BIN / "wme"), "--in-process", "ingest", "bnwiki", "--date", DUMP_DATE], env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        home = Path(s3_env["WME_HOME"]) / "dagster"
        wait_until(lambda: (home / "dagster.yaml").exists(), 120, "wme ingest wrote no instance", interval=0.1)
        with dg.DagsterInstance.from_config(str(home)) as instance:
            killed = _wait_for_worker(instance, "wme ingest's run", job_name="ingest")
            os.killpg(ingest.pid, signal.SIGKILL)
            ingest.wait(timeout=30)
            assert instance.get_run_by_id(killed.run_id).status == dg.DagsterRunStatus.STARTED
    finally:
        if ingest.poll() is None:
            os.killpg(ingest.pid, signal.SIGKILL)
            ingest.wait()

    done = subprocess.run(
        [str(BIN / "wme"), "backfill", "--failed"], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"marked failed: run {killed.run_id} of ingest ({DUMP_DATE}|bnwiki): " in done.stdout
    assert f"failed: ingest {DUMP_DATE}|bnwiki (run {killed.run_id})" in done.stdout
    assert f"ingest {DUMP_DATE}|bnwiki: succeeded" in done.stdout
    assert "dagster-daemon: none running for this instance; starting one for this command" in done.stdout
    with dg.DagsterInstance.from_config(str(home)) as instance:
        (backfill,) = instance.get_backfills()
        assert backfill.partition_names == [f"{DUMP_DATE}|bnwiki"]
        assert instance.get_daemon_heartbeats() == {}  # the command's daemon is gone, and said so
        assert instance.get_run_by_id(killed.run_id).status == dg.DagsterRunStatus.FAILURE
        assert f"pid {ingest.pid} is gone" in _failure_message(instance, killed.run_id)
        runs = instance.get_runs(dg.RunsFilter(job_name="ingest"))
        assert [r.status for r in runs] == [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE]
