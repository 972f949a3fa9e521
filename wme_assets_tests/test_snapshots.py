"""Snapshots end to end: schedules, the `wme snapshot` chain, verification, tiers, reproducibility, backfill."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from wme_assets.settings import DEFAULT_PROJECTS
from wme_assets.storage.object_store import ObjectStore
from wme_assets.storage.seaweedfs import free_ports

WME = str(Path(sys.executable).parent / "wme")
PROJECTS = DEFAULT_PROJECTS.split(",")


# One instance for every tick: the loaded definitions keep a reference to the instance that evaluated them.
_INSTANCE = None


def _tick(schedule_name: str, when: datetime) -> list[dg.RunRequest]:
    global _INSTANCE
    from wme_assets.definitions import defs

    definitions = defs()
    schedule = definitions.resolve_schedule_def(schedule_name)
    _INSTANCE = _INSTANCE or dg.DagsterInstance.ephemeral()
    context = dg.build_schedule_context(
        instance=_INSTANCE, repository_def=definitions.get_repository_def(), scheduled_execution_time=when
    )
    return list(schedule.evaluate_tick(context).run_requests)


def test_paid_schedule_requests_the_day_for_every_project():
    requests = _tick("paid_snapshot_daily", datetime(2026, 3, 2, 1, tzinfo=UTC))
    assert [r.partition_key for r in requests] == [f"20260302|{p}" for p in PROJECTS]
    assert {r.tags["wme/tier"] for r in requests} == {"paid"}


@pytest.mark.parametrize("day", [2, 21])
def test_free_schedule_requests_the_2nd_and_21st(day):
    requests = _tick("free_snapshot_2nd_and_21st", datetime(2026, 3, day, 6, tzinfo=UTC))
    assert [r.partition_key for r in requests] == [f"202603{day:02d}|{p}" for p in PROJECTS]
    assert {r.tags["wme/tier"] for r in requests} == {"free"}


def test_schedule_crons_are_utc():
    from wme_assets.definitions import defs

    definitions = defs()
    paid = definitions.resolve_schedule_def("paid_snapshot_daily")
    free = definitions.resolve_schedule_def("free_snapshot_2nd_and_21st")
    assert (paid.cron_schedule, paid.execution_timezone) == ("0 1 * * *", "UTC")
    assert (free.cron_schedule, free.execution_timezone) == ("0 6 2,21 * *", "UTC")  # after the paid run


# ----- the command line on embedded services -----------------------------------------------------------


@pytest.fixture(scope="module")
def home(tmp_path_factory, dumps_mirror):
    (s3_port,) = free_ports(1)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WME_", "AWS_", "DAGSTER_", "HF_"))}
    env.update(
        WME_HOME=str(tmp_path_factory.mktemp("snapshot-home")),
        WME_EMBEDDED_S3_PORT=str(s3_port),
        WME_DUMPS_URL=dumps_mirror.as_uri(),
        WME_SNAPSHOT_MEMBER_BYTES="1000000",  # small members, so the bnwiki snapshot has several chunks
    )
    yield env
    subprocess.run([WME, "services", "stop"], env=env, capture_output=True, timeout=60, check=False)


def _wme(env, *args, timeout=300):
    return subprocess.run([WME, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)


def _store(env) -> ObjectStore:
    server = json.loads((Path(env["WME_HOME"]) / "seaweedfs" / "server.json").read_text())
    from wme_assets.settings import EMBEDDED_ACCESS_KEY, EMBEDDED_SECRET_KEY

    return ObjectStore(
        bucket="wme",
        endpoint_url=f"http://127.0.0.1:{server['ports']['s3']}",
        access_key=EMBEDDED_ACCESS_KEY,
        secret_key=EMBEDDED_SECRET_KEY,
    )


def test_snapshot_chain_verify_tamper_rerun_and_backfill(home):
    # 1. A snapshot of the 2nd holds the dump run of the 1st: ingest, enrich, export through Dagster.
    done = _wme(home, "snapshot", "bnwiki", "--date", "20230502")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "snapshot 20230502 of bnwiki holds the dump run of 20230501" in done.stdout
    assert "paid_snapshot: s3://wme/snapshots/20230502/" in done.stdout
    assert "bnwiki_namespace_0: 380 articles" in done.stdout
    # The paid job also made the Structured Contents snapshot, and says where.
    assert "structured_snapshot: s3://wme/structured-snapshots/20230502/" in done.stdout
    assert "bnwiki_namespace_0: 380 Structured Contents" in done.stdout
    store = _store(home)
    archive = "snapshots/20230502/bnwiki_namespace_0.tar.gz"
    first = store.head(archive)
    structured_archive = "structured-snapshots/20230502/bnwiki_namespace_0.tar.gz"
    structured_first = store.head(structured_archive)
    chunks = sorted(o.key for o in store.list("chunks/20230502/bnwiki_namespace_0/") if o.key.endswith(".tar.gz"))
    assert len(chunks) > 1, "1 MB members should split the namespace into several chunks"

    # 2. Verification passes, then fails naming a tampered chunk.
    verified = _wme(home, "snapshot", "verify", "s3://wme/snapshots/20230502/")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    verified = _wme(home, "snapshot", "verify", "s3://wme/structured-snapshots/20230502/")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    tampered = chunks[0]
    original = store.read_bytes(tampered)
    store.client.put_object(Bucket="wme", Key=tampered, Body=original[:-10] + b"0123456789")
    broken = _wme(home, "snapshot", "verify", "s3://wme/snapshots/20230502/")
    assert broken.returncode == 1
    assert tampered.rsplit("/", 1)[-1] in broken.stderr
    store.client.put_object(Bucket="wme", Key=tampered, Body=original)

    # 3. Re-running the succeeded partition gives byte-identical archives.
    rerun = _wme(home, "snapshot", "bnwiki", "--date", "20230502")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    again = store.head(archive)
    assert (again.sha256, again.size) == (first.sha256, first.size)
    structured_again = store.head(structured_archive)
    assert (structured_again.sha256, structured_again.size) == (structured_first.sha256, structured_first.size)

    # 4. The free tier on the 2nd: Enterprise's `_group_1` names; not on other days.
    free = _wme(home, "snapshot", "bnwiki", "--date", "20230502", "--tier", "free")
    assert free.returncode == 0, free.stdout + free.stderr
    assert store.head("snapshots/20230502/bnwiki_namespace_0_group_1.tar.gz").sha256 == first.sha256
    wrong_day = _wme(home, "snapshot", "bnwiki", "--date", "20230503", "--tier", "free")
    assert wrong_day.returncode == 2 and "the 2nd and the 21st" in wrong_day.stderr
    not_yet = _wme(home, "snapshot", "bnwiki", "--date", "20990202", "--tier", "free")
    assert not_yet.returncode == 2 and "opens at 06:00 UTC" in not_yet.stderr

    # The free job also published the day's run in the dumps-site layout, listed done once verified.
    status = json.loads(store.read_bytes("dumps-site/other/enterprise_html/runs/20230502/status.json"))
    name = "bnwiki-NS0-20230502-ENTERPRISE-HTML.json.tar.gz"
    assert status["files"][name]["status"] == "done" and status["files"][name]["sha256"] == first.sha256
    assert store.head(f"dumps-site/other/enterprise_html/runs/20230502/{name}").sha256 == first.sha256
    # ... and the Parquet shards with their manifest, and the Hugging Face tree (a dry run: no HF_TOKEN).
    parquet = json.loads(store.read_bytes("parquet/20230502/bnwiki_namespace_0.parquet-manifest.json"))
    assert parquet["rows"] == 380
    # ... built from the verified free-tier snapshot (and Structured Contents from the paid structured one).
    assert parquet["source"]["manifest_key"] == "snapshots/20230502/bnwiki_namespace_0_group_1.manifest.json"
    assert parquet["source"]["archive_sha256"] == first.sha256 and parquet["source"]["record_count"] == 380
    structured_parquet = json.loads(
        store.read_bytes("parquet/structured-contents/20230502/bnwiki_namespace_0.parquet-manifest.json")
    )
    assert structured_parquet["source"]["archive_sha256"] == structured_first.sha256
    assert structured_parquet["rows"] == structured_parquet["source"]["record_count"] == 380
    card = [o.key for o in store.list("hf-dry-run/") if o.key.endswith("/README.md")]
    assert card, "the dry run writes the repository tree with its dataset card"
    assert "20230502.bn" in store.read_bytes(card[0]).decode()
    republished = _wme(home, "publish", "bnwiki", "--date", "20230502", "--to", "dumps")
    assert republished.returncode == 0, republished.stdout + republished.stderr
    assert "0 files uploaded" in republished.stdout  # nothing changed, nothing new published
    # The Dagster UI shows where each publication went: paths an operator can copy or open.
    links = subprocess.run(
        [sys.executable, "-c", "import dagster as dg; i = dg.DagsterInstance.get(); "
         "m = lambda k: i.get_latest_materialization_event(dg.AssetKey(k)).asset_materialization.metadata; "
         "print(m('dumps_site_run')['status_json'].value); print(m('huggingface_dataset')['uri'].value)"],
        env=dict(home, DAGSTER_HOME=str(Path(home["WME_HOME"]) / "dagster")),
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert links.returncode == 0, links.stderr
    status_link, hub_link = links.stdout.split()
    assert status_link == "s3://wme/dumps-site/other/enterprise_html/runs/20230502/status.json"
    assert hub_link.startswith("s3://wme/hf-dry-run/") and store.head(hub_link.removeprefix("s3://wme/") + "/README.md")

    # 5. A partition that failed (jawiki has no articles yet) is what `backfill --failed` re-runs, alone.
    env = dict(home, DAGSTER_HOME=str(Path(home["WME_HOME"]) / "dagster"))
    failing = subprocess.run(
        [
            sys.executable,
            "-c",
            "from wme_assets.pipeline import run_partition; "
            "r = run_partition('paid_snapshot_job', project='jawiki', date='20230503'); print(r.success)",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert failing.stdout.strip().endswith("False"), failing.stdout + failing.stderr
    listed = _wme(home, "backfill", "--failed", "--dry-run")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert [line for line in listed.stdout.splitlines() if line.startswith("failed:")] == [
        f"failed: paid_snapshot_job 20230503|jawiki (run {listed.stdout.split('(run ')[1].split(')')[0]})"
    ]
    assert _wme(home, "ingest", "jawiki", "--date", "20230501").returncode == 0
    enrich = subprocess.run(
        [
            sys.executable,
            "-c",
            "from wme_assets.pipeline import run_partition; "
            "print(run_partition('main', project='jawiki', date='20230501').success)",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert enrich.stdout.strip().endswith("True"), enrich.stdout + enrich.stderr
    backfilled = _wme(home, "backfill", "--failed")
    assert backfilled.returncode == 0, backfilled.stdout + backfilled.stderr
    assert "paid_snapshot_job 20230503|jawiki: succeeded" in backfilled.stdout
    assert "bnwiki" not in backfilled.stdout
    assert _wme(home, "backfill", "--failed").stdout.strip().endswith("no failed partitions")


def test_new_dump_run_sensor_requests_each_finished_run(dumps_url):
    from wme_assets.defs.resources import DumpsSourceResource
    from wme_assets.defs.sensors import new_dump_runs

    context = dg.build_sensor_context(resources={"dumps": DumpsSourceResource(base_url=dumps_url, retries=0)})
    result = new_dump_runs(context)
    keys = {str(r.partition_key) for r in result.run_requests}
    # The mirror holds bnwiki (20230501 done, 20230520 still in progress) and jawiki: only finished runs.
    assert keys == {"20230501|bnwiki", "20230501|jawiki"}
    assert all(r.run_key == str(r.partition_key) for r in result.run_requests)
