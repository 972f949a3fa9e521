"""The `wme` command as a user runs it: a subprocess on embedded defaults, and the UI answering."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from wme_assets.storage.seaweedfs import free_ports
from wme_assets_tests.paths import DUMP_DATE
from wme_assets_tests.servers import stop_process_group

pytestmark = pytest.mark.integration  # each test runs `wme`, which starts its embedded SeaweedFS

WME = str(Path(sys.executable).parent / "wme")


@pytest.fixture
def embedded_env(tmp_path):
    """A clean environment as on a fresh machine: nothing configured but a home and a free S3 port."""
    (s3_port,) = free_ports(1)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WME_", "AWS_", "DAGSTER_"))}
    env.update(WME_HOME=str(tmp_path / "home"), WME_EMBEDDED_S3_PORT=str(s3_port))
    yield env
    subprocess.run([WME, "services", "stop"], env=env, capture_output=True, timeout=60)


def test_demo_on_embedded_defaults_with_a_local_mirror(embedded_env, dumps_mirror):
    # Pointing wme at a local mirror is one setting; file:// serves a mirror synced to disk.
    embedded_env["WME_DUMPS_URL"] = dumps_mirror.as_uri()
    done = subprocess.run(
        [WME, "demo", "--project", "bnwiki"], env=embedded_env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"latest finished dump run of bnwiki at {dumps_mirror.as_uri()}: {DUMP_DATE}" in done.stdout
    assert f"dump_run_status: s3://wme/raw/bnwiki/{DUMP_DATE}/dumpstatus.json" in done.stdout
    assert f"articles: s3://wme/articles/bnwiki/base/{DUMP_DATE}/" in done.stdout
    home = Path(embedded_env["WME_HOME"])
    assert (home / "dagster" / "dagster.yaml").exists()
    assert (home / "seaweedfs" / "server.json").exists()
    # The run is in the instance's (SQLite) storage, so the UI lists it.
    import dagster as dg

    instance = dg.DagsterInstance.from_config(str(home / "dagster"))
    runs = instance.get_runs()
    assert sorted(r.job_name for r in runs) == ["main", "paid_snapshot_job"]
    assert {r.status for r in runs} == {dg.DagsterRunStatus.SUCCESS}
    assert "bnwiki_namespace_0: 380 articles" in done.stdout
    instance.dispose()


def test_demo_fails_clearly_when_dumps_site_unreachable(embedded_env):
    (port,) = free_ports(1)
    embedded_env.update(
        WME_DUMPS_URL=f"http://127.0.0.1:{port}", WME_HTTP_RETRIES="1", WME_HTTP_BACKOFF="0.1", WME_STEP_RETRIES="0"
    )
    done = subprocess.run(
        [WME, "demo", "--project", "bnwiki", "--date", DUMP_DATE],
        env=embedded_env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode != 0
    assert f"cannot reach http://127.0.0.1:{port}/bnwiki/{DUMP_DATE}/dumpstatus.json" in done.stdout + done.stderr


def test_ui_serves_the_assets_on_postgres(embedded_env, postgres, dumps_url):
    embedded_env.update(postgres.env())
    embedded_env["WME_DUMPS_URL"] = dumps_url
    (port,) = free_ports(1)
    process = subprocess.Popen(
        [WME, "ui", "--port", str(port)], env=embedded_env, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        query = "{ assetNodes { assetKey { path } groupName } }"
        deadline, body = time.monotonic() + 120, None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                response = requests.post(f"http://127.0.0.1:{port}/graphql", json={"query": query}, timeout=5)
                if response.ok and "data" in response.json():
                    body = response.json()
                    break
            except requests.RequestException:
                pass
            time.sleep(1)
        assert body is not None, f"webserver did not answer: {process.poll()}"
        assets = {tuple(n["assetKey"]["path"]): n["groupName"] for n in body["data"]["assetNodes"]}
        assert assets[("dump_run_status",)] == "ingestion"
        # The daemon runs too, on the same PostgreSQL instance.
        with postgres.connect() as conn, conn.cursor() as cursor:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                cursor.execute("SELECT count(*) FROM daemon_heartbeats")
                if cursor.fetchone()[0] > 0:
                    break
                time.sleep(1)
            cursor.execute("SELECT count(*) FROM daemon_heartbeats")
            assert cursor.fetchone()[0] > 0, "no daemon heartbeat in PostgreSQL"
    finally:
        stop_process_group(process, timeout=30)


def test_ingest_command_prints_what_it_stored(embedded_env, dumps_url):
    embedded_env["WME_DUMPS_URL"] = dumps_url
    done = subprocess.run(
        [WME, "ingest", "bnwiki", "--date", DUMP_DATE], env=embedded_env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"of job 'ingest' ({DUMP_DATE}|bnwiki) succeeded" in done.stdout
    assert f"raw_dump_files: s3://wme/raw/bnwiki/{DUMP_DATE}/" in done.stdout
    assert f"page_store: s3://wme/pages/bnwiki/{DUMP_DATE}/" in done.stdout


def test_snapshot_publish_and_backfill_commands_answer(embedded_env, dumps_mirror):
    # Smoke tests of the commands whose scenarios test_snapshots.py runs in process: wiring and exit codes.
    embedded_env["WME_DUMPS_URL"] = dumps_mirror.as_uri()

    def wme(*args):
        return subprocess.run([WME, *args], env=embedded_env, capture_output=True, text=True, timeout=300)

    wrong_day = wme("snapshot", "bnwiki", "--date", "20230503", "--tier", "free")
    assert wrong_day.returncode == 2 and "the 2nd and the 21st" in wrong_day.stderr, wrong_day.stderr
    assert wrong_day.stdout == ""  # refused before the embedded S3 starts or the dumps site is asked
    nowhere = wme("publish", "bnwiki", "--date", "20230502", "--to", "nowhere")
    assert nowhere.returncode == 2 and "--to must be one of dumps, hf, all" in nowhere.stderr, nowhere.stderr
    listed = wme("backfill", "--failed", "--dry-run")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert listed.stdout.strip().endswith("no failed partitions")
