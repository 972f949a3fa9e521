"""`wme` commands submit their runs to the instance; `wme backfill --failed` creates Dagster backfills.

On a real PostgreSQL instance with a real `dagster-daemon run` started by the test, the commands run as
subprocesses (the `wme` entry point); the runs are launched by the daemon from the run queue, under the
instance's tier limits. Failed partitions are real failures (a snapshot of a project with no articles).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
import yaml

from wme_assets.backfill import FailedPartition
from wme_assets.instance import TIER_TAG
from wme_assets.pipeline import run_partition
from wme_assets.run_health import WORKER_TAG, Worker
from wme_assets.submission import (
    NEEDED_DAEMONS,
    by_job,
    daemon_alive,
    latest_runs,
    run_params,
)
from wme_assets_tests.paths import DUMP_DATE, REPO_ROOT
from wme_assets_tests.servers import start_dagster_daemon, stop_process_group, wait_until

BIN = Path(sys.executable).parent


# ----- plain functions ---------------------------------------------------------------------------


@dataclass
class _Beat:
    timestamp: float


def test_daemon_alive_needs_every_daemon_recently():
    fresh = {name: _Beat(1000.0) for name in NEEDED_DAEMONS}
    assert daemon_alive(fresh, now=1030.0)
    assert not daemon_alive(fresh, now=1200.0)  # stopped or stuck: its heartbeat is old
    assert not daemon_alive({"QUEUED_RUN_COORDINATOR": _Beat(1000.0)}, now=1000.0)  # no backfill daemon
    assert not daemon_alive({}, now=0.0)


def test_run_params_select_the_partition_and_the_assets():
    params = run_params("publish_job", {"dagster/partition": f"{DUMP_DATE}|bnwiki"}, ["dumps_site_run"])
    assert params["selector"]["jobName"] == "publish_job"
    assert params["selector"]["assetSelection"] == [{"path": ["dumps_site_run"]}]
    assert params["executionMetadata"]["tags"] == [{"key": "dagster/partition", "value": f"{DUMP_DATE}|bnwiki"}]
    assert "assetSelection" not in run_params("ingest", {}, None)["selector"]


def test_a_backfill_adds_the_project_partitions_it_needs_first(tmp_path):
    """A project whose partition is gone from the instance since its run failed (deleted in the UI, an instance
    rebuilt) is added again before the backfill, which would otherwise be refused whole for an unknown key."""
    from wme_assets.defs.partitions import PROJECT_PARTITIONS
    from wme_assets.submission import add_missing_projects
    from wme_assets_tests.partitions import schedule_instance

    with schedule_instance(tmp_path / "instance", "bnwiki") as instance:
        failed = [
            FailedPartition("ingest", "20230501|bnwiki", "r1"),
            FailedPartition("ingest", "20230501|jawiki", "r2"),
            FailedPartition("paid_snapshot_job", "20230503|jawiki", "r3"),
        ]
        assert add_missing_projects(instance, failed) == ["jawiki"]
        assert instance.has_dynamic_partition(PROJECT_PARTITIONS, "jawiki")
        assert add_missing_projects(instance, failed) == []


def test_failed_partitions_grouped_per_job_in_order():
    failed = [
        FailedPartition("ingest", "20230501|bnwiki", "r1"),
        FailedPartition("paid_snapshot_job", "20230503|jawiki", "r2"),
        FailedPartition("ingest", "20230520|bnwiki", "r3"),
    ]
    assert by_job(failed) == {
        "ingest": ["20230501|bnwiki", "20230520|bnwiki"],
        "paid_snapshot_job": ["20230503|jawiki"],
    }


# ----- on the real PostgreSQL instance, with a real daemon ---------------------------------------------


def _instance_dir(postgres, monkeypatch, tmp_path, free_limit: int | None = None) -> Path:
    """DAGSTER_HOME with the repository's dagster.yaml (the free tier's limit lowered if asked), on a
    database of this test's own."""
    database = f"submit_{uuid.uuid4().hex[:12]}"
    conn = postgres.connect(dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{database}"')
    conn.close()
    for name, value in {**postgres.env(), "WME_PG_DB": database}.items():
        monkeypatch.setenv(name, value)
    config = yaml.safe_load((REPO_ROOT / "infra" / "dagster.yaml").read_text())
    config.pop("compute_logs")  # compute logs on the local disk: the test looks at the runs, not their logs
    if free_limit is not None:
        for limit in config["concurrency"]["runs"]["tag_concurrency_limits"]:
            if limit == {"key": TIER_TAG, "value": "free", "limit": limit["limit"]}:
                limit["limit"] = free_limit
    home = tmp_path / "dagster-home"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


@pytest.fixture
def daemon_env(postgres, s3_env, dumps_url, monkeypatch, tmp_path):
    """The environment of the commands, and a daemon on the test's instance that beats before it returns."""
    home = _instance_dir(postgres, monkeypatch, tmp_path, free_limit=1)
    # The run workers' scratch (WME_SCRATCH_DIR) on a short path: multiprocessing's sockets live there, and
    # a socket path under pytest's tmp_path can exceed AF_UNIX's 107 bytes.
    scratch = tempfile.mkdtemp(prefix="wme-", dir="/tmp")
    monkeypatch.setenv("WME_SCRATCH_DIR", scratch)
    env = {**os.environ, "WME_DUMPS_URL": dumps_url}
    daemon = start_dagster_daemon(env, tmp_path / "daemon.log")
    try:
        with dg.DagsterInstance.get() as instance:
            heartbeats = instance.get_daemon_heartbeats
            wait_until(lambda: daemon_alive(heartbeats(), time.time()), 120, "the daemon did not beat")
        yield env, home
    finally:
        stop_process_group(daemon, timeout=30)
        shutil.rmtree(scratch, ignore_errors=True)


def _wme(env, *args: str, timeout: float = 400) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "wme"), *args], env=env, capture_output=True, text=True, timeout=timeout)


def _events(instance, run_id: str, event_type) -> list:
    return instance.all_logs(run_id, of_type=event_type)


def test_commands_submit_to_the_daemon_under_tier_limits_and_backfill_the_failed(daemon_env):
    env, _ = daemon_env
    with dg.DagsterInstance.get() as instance:
        # 1. `wme ingest`: the run goes through the queue; the daemon's run worker, not the CLI, executes it.
        ingest = subprocess.Popen(
            [str(BIN / "wme"), "ingest", "bnwiki", "--date", DUMP_DATE], env=env, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
        )
        out, err = ingest.communicate(timeout=400)
        assert ingest.returncode == 0, out + err
        assert "dagster-daemon: running for this instance" in out
        assert f"page_store: s3://{env['WME_S3_BUCKET']}/{env['WME_S3_PREFIX']}/pages/bnwiki/{DUMP_DATE}/" in out
        (run,) = instance.get_runs(dg.RunsFilter(job_name="ingest"))
        assert run.status == dg.DagsterRunStatus.SUCCESS and f"run {run.run_id} of job 'ingest'" in out
        assert run.tags[TIER_TAG] == "ingest" and run.tags["dagster/partition"] == f"{DUMP_DATE}|bnwiki"
        worker = Worker.from_tags(run.tags)
        assert worker is not None and worker.pid != ingest.pid  # a run worker of the daemon's launcher
        assert _events(instance, run.run_id, dg.DagsterEventType.RUN_ENQUEUED)  # it went through the queue
        assert "INFO page_store - " in out  # the run's own progress lines, followed from the event log

        # 2. The free tier's limit (1 in this instance): two runs submitted at once run one after the other.
        publishes = [
            subprocess.Popen(
                [str(BIN / "wme"), "publish", project, "--date", "20230502", "--to", "dumps"], env=env,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )
            for project in ("bnwiki", "jawiki")
        ]
        outputs = [p.communicate(timeout=400) for p in publishes]
        runs = sorted(instance.get_runs(dg.RunsFilter(job_name="publish_job")), key=lambda r: r.run_id)
        assert len(runs) == 2, outputs
        assert {r.tags[TIER_TAG] for r in runs} == {"free"}
        assert all("waiting for the run coordinator" in out for out, _ in outputs), outputs
        spans = []
        for r in runs:
            (dequeued,) = _events(instance, r.run_id, dg.DagsterEventType.RUN_STARTING)
            ended = _events(instance, r.run_id, dg.DagsterEventType.RUN_SUCCESS) or _events(
                instance, r.run_id, dg.DagsterEventType.RUN_FAILURE
            )
            spans.append((dequeued.timestamp, ended[-1].timestamp))
        first, second = sorted(spans)
        assert second[0] >= first[1], f"the second free run left the queue before the first ended: {spans}"

        # 3. Honest failures: snapshots of a day with no articles (nothing was enriched) fail.
        for project in ("bnwiki", "jawiki"):
            assert not run_partition("paid_snapshot_job", project=project, date="20230503").success
        failed = ["20230503|bnwiki", "20230503|jawiki"]

        done = _wme(env, "backfill", "--failed")
        text = done.stdout + done.stderr
        backfills = instance.get_backfills()
        by_id = {b.backfill_id: b for b in backfills}
        # One backfill (one job has failures; publish_job is not among the jobs backfill looks at).
        assert {b.partition_set_origin.partition_set_name: sorted(b.partition_names) for b in backfills} == {
            "paid_snapshot_job_partition_set": failed
        }
        for backfill_id in by_id:
            assert f"backfill {backfill_id}: job " in text
        # The backfill's runs: exactly the failed partitions, once each; they fail again (still no articles).
        (paid,) = [b for b in backfills if b.partition_set_origin.partition_set_name.startswith("paid")]
        reruns = instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": paid.backfill_id}))
        assert sorted(r.tags["dagster/partition"] for r in reruns) == failed
        assert {r.tags[TIER_TAG] for r in reruns} == {"paid"}
        assert done.returncode == 1, text
        assert "paid_snapshot_job 20230503|jawiki: failed again: " in text
        assert [s for s in latest_runs(instance.get_run_records(dg.RunsFilter(job_name="ingest")))] == [
            f"{DUMP_DATE}|bnwiki"
        ]
        assert WORKER_TAG in reruns[0].tags
