"""Snapshots end to end, in process: schedules, the snapshot chain through Dagster, verification, tiers,
reproducibility, publishing and the failed-partition backfill. The `wme` commands over these functions have
their smoke tests in test_cli.py."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import dagster as dg
import pytest

from wme_assets.backfill import FailedPartition, failed_partitions
from wme_assets.instance import TIER_TAG, instance_config, render_instance_yaml
from wme_assets.pipeline import dump_date_for_snapshot, run_partition, run_snapshot_chain
from wme_assets.schema.validate import record_validator
from wme_assets.settings import DEFAULT_PROJECTS, ConfigurationError, load_settings
from wme_assets.snapshots.manifest import RECORD_SCHEMAS
from wme_assets.snapshots.publish import verify_published
from wme_assets.storage import ObjectStore, open_object_store
from wme_assets_tests import partitions
from wme_assets_tests.servers import TEST_BUCKET

PROJECTS = DEFAULT_PROJECTS.split(",")


@pytest.fixture(scope="module")
def schedule_instance(tmp_path_factory):
    """One instance for every tick, with the default projects as partitions (`wme catalog sync` adds them)."""
    with partitions.schedule_instance(tmp_path_factory.mktemp("schedules"), *PROJECTS) as instance:
        yield instance


def _tick(instance: dg.DagsterInstance, schedule_name: str, when: datetime) -> list[dg.RunRequest]:
    from wme_assets.definitions import defs

    definitions = defs()
    schedule = definitions.resolve_schedule_def(schedule_name)
    context = dg.build_schedule_context(
        instance=instance, repository_def=definitions.get_repository_def(), scheduled_execution_time=when
    )
    return list(schedule.evaluate_tick(context).run_requests)


def test_paid_schedule_requests_the_day_for_every_project(schedule_instance):
    requests = _tick(schedule_instance, "paid_snapshot_daily", datetime(2026, 3, 2, 1, tzinfo=UTC))
    assert [r.partition_key for r in requests] == [f"20260302|{p}" for p in PROJECTS]
    assert {r.tags[TIER_TAG] for r in requests} == {"paid"}


@pytest.mark.parametrize("day", [2, 21])
def test_free_schedule_requests_the_2nd_and_21st(schedule_instance, day):
    requests = _tick(schedule_instance, "free_snapshot_2nd_and_21st", datetime(2026, 3, day, 6, tzinfo=UTC))
    assert [r.partition_key for r in requests] == [f"202603{day:02d}|{p}" for p in PROJECTS]
    assert {r.tags[TIER_TAG] for r in requests} == {"free"}


def test_a_project_added_later_gets_its_runs_from_the_next_tick(tmp_path):
    """The schedules read the projects from the instance at each tick: a partition added by `wme catalog sync`
    (or the project_catalogue sensor) after the code loaded is scheduled without a reload."""
    with partitions.schedule_instance(tmp_path, "bnwiki") as instance:
        when = datetime(2026, 3, 2, 1, tzinfo=UTC)
        assert [r.partition_key for r in _tick(instance, "paid_snapshot_daily", when)] == ["20260302|bnwiki"]
        partitions.with_projects(instance, "frwiktionary")
        requests = _tick(instance, "paid_snapshot_daily", when)
        assert [r.partition_key for r in requests] == ["20260302|bnwiki", "20260302|frwiktionary"]


def test_schedule_crons_are_utc():
    from wme_assets.definitions import defs

    definitions = defs()
    paid = definitions.resolve_schedule_def("paid_snapshot_daily")
    free = definitions.resolve_schedule_def("free_snapshot_2nd_and_21st")
    assert (paid.cron_schedule, paid.execution_timezone) == ("0 1 * * *", "UTC")
    assert (free.cron_schedule, free.execution_timezone) == ("0 6 2,21 * *", "UTC")  # after the paid run


# ----- the chain through a Dagster instance, on the session's SeaweedFS ---------------------------------


@pytest.fixture(scope="module")
def platform(seaweedfs, dumps_mirror, tmp_path_factory):
    """wme configured as an operator would (WME_* variables), with a Dagster instance on SQLite of its own."""
    home = tmp_path_factory.mktemp("snapshot-home")
    dagster_home = home / "dagster"
    dagster_home.mkdir()
    config = instance_config(postgres=False, compute_logs_dir=str(dagster_home / "compute_logs"))
    (dagster_home / "dagster.yaml").write_text(render_instance_yaml(config))
    with pytest.MonkeyPatch.context() as env:
        for name, value in {
            "WME_HOME": str(home),
            "WME_S3_ENDPOINT_URL": seaweedfs.endpoint_url,
            "WME_S3_BUCKET": TEST_BUCKET,
            "WME_S3_PREFIX": f"t-{uuid.uuid4().hex[:12]}",
            "WME_S3_CREATE_BUCKET": "true",
            "WME_DUMPS_URL": dumps_mirror.as_uri(),
            "WME_SNAPSHOT_MEMBER_BYTES": "1000000",  # small members, so the bnwiki snapshot has several chunks
            "DAGSTER_HOME": str(dagster_home),
        }.items():
            env.setenv(name, value)
        env.delenv("HF_TOKEN", raising=False)  # the Hugging Face publishing is a dry run into the bucket
        yield open_object_store(load_settings())


def _snapshot(project: str, date: str, tier: str = "paid") -> tuple[list, list[str]]:
    """What `wme snapshot PROJECT --date DATE --tier TIER` does, with the lines it prints."""
    lines: list[str] = []
    dump_date = dump_date_for_snapshot(project, date, echo=lines.append)
    runs = run_snapshot_chain(project, dump_date=dump_date, snapshot_date=date, tier=tier, echo=lines.append)
    for run in runs:
        assert run.success, run.error
        lines.extend(run.outputs)
    return runs, lines


def _verify(store: ObjectStore, prefix: str) -> list[str]:
    """What `wme snapshot verify URI` checks."""
    validators = {kind: record_validator(schema) for kind, schema in RECORD_SCHEMAS.items()}
    return verify_published(store, store.uri(store.key(prefix)), deep=True, validators=validators)


def test_snapshot_chain_verify_tamper_rerun_and_backfill(platform):
    store = platform
    uri = lambda key: store.uri(store.key(key))  # noqa: E731
    # 1. A snapshot of the 2nd holds the dump run of the 1st: ingest, enrich, export through Dagster.
    _, lines = _snapshot("bnwiki", "20230502")
    printed = "\n".join(lines)
    assert "snapshot 20230502 of bnwiki holds the dump run of 20230501" in printed
    assert f"paid_snapshot: {uri('snapshots/20230502')}/" in printed
    assert "bnwiki_namespace_0: 380 articles" in printed
    # The paid job also made the Structured Contents snapshot, and says where.
    assert f"structured_snapshot: {uri('structured-snapshots/20230502')}/" in printed
    assert "bnwiki_namespace_0: 380 Structured Contents" in printed
    archive = store.key("snapshots/20230502/bnwiki_namespace_0.tar.gz")
    first = store.head(archive)
    structured_archive = store.key("structured-snapshots/20230502/bnwiki_namespace_0.tar.gz")
    structured_first = store.head(structured_archive)
    chunks = sorted(
        o.key for o in store.list(store.key("chunks/20230502/bnwiki_namespace_0/")) if o.key.endswith(".tar.gz")
    )
    assert len(chunks) > 1, "1 MB members should split the namespace into several chunks"

    # 2. Verification passes, then fails naming a tampered chunk.
    assert _verify(store, "snapshots/20230502/") == []
    assert _verify(store, "structured-snapshots/20230502/") == []
    tampered = chunks[0]
    original = store.read_bytes(tampered)
    store.client.put_object(Bucket=store.bucket, Key=tampered, Body=original[:-10] + b"0123456789")
    problems = _verify(store, "snapshots/20230502/")
    assert problems and tampered.rsplit("/", 1)[-1] in "\n".join(problems)
    store.client.put_object(Bucket=store.bucket, Key=tampered, Body=original)

    # 3. Re-running the succeeded partition gives byte-identical archives.
    _snapshot("bnwiki", "20230502")
    again = store.head(archive)
    assert (again.sha256, again.size) == (first.sha256, first.size)
    structured_again = store.head(structured_archive)
    assert (structured_again.sha256, structured_again.size) == (structured_first.sha256, structured_first.size)

    # 4. The free tier on the 2nd: Enterprise's `_group_1` names; not on other days.
    _snapshot("bnwiki", "20230502", tier="free")
    assert store.head(store.key("snapshots/20230502/bnwiki_namespace_0_group_1.tar.gz")).sha256 == first.sha256
    with pytest.raises(ConfigurationError, match="the 2nd and the 21st"):
        run_snapshot_chain("bnwiki", dump_date="20230501", snapshot_date="20230503", tier="free")
    with pytest.raises(ConfigurationError, match="opens at 06:00 UTC"):
        run_snapshot_chain("bnwiki", dump_date="20230501", snapshot_date="20990202", tier="free")

    # The free job also published the day's run in the dumps-site layout, listed done once verified.
    run_dir = "dumps-site/other/enterprise_html/runs/20230502"
    status = json.loads(store.read_bytes(store.key(f"{run_dir}/status.json")))
    name = "bnwiki-NS0-20230502-ENTERPRISE-HTML.json.tar.gz"
    assert status["files"][name]["status"] == "done" and status["files"][name]["sha256"] == first.sha256
    assert store.head(store.key(f"{run_dir}/{name}")).sha256 == first.sha256
    # ... and the Parquet shards with their manifest, and the Hugging Face tree (a dry run: no HF_TOKEN).
    parquet = json.loads(store.read_bytes(store.key("parquet/20230502/bnwiki_namespace_0.parquet-manifest.json")))
    assert parquet["rows"] == 380
    # ... built from the verified free-tier snapshot (and Structured Contents from the paid structured one).
    assert parquet["source"]["manifest_key"] == "snapshots/20230502/bnwiki_namespace_0_group_1.manifest.json"
    assert parquet["source"]["archive_sha256"] == first.sha256 and parquet["source"]["record_count"] == 380
    structured_parquet = json.loads(
        store.read_bytes(store.key("parquet/structured-contents/20230502/bnwiki_namespace_0.parquet-manifest.json"))
    )
    assert structured_parquet["source"]["archive_sha256"] == structured_first.sha256
    assert structured_parquet["rows"] == structured_parquet["source"]["record_count"] == 380
    card = [o.key for o in store.list(store.key("hf-dry-run/")) if o.key.endswith("/README.md")]
    assert card, "the dry run writes the repository tree with its dataset card"
    assert "20230502.bn" in store.read_bytes(card[0]).decode()
    # What `wme publish bnwiki --date 20230502 --to dumps` runs: nothing changed, nothing new published.
    republished = run_partition("publish_job", project="bnwiki", date="20230502", assets=["dumps_site_run"])
    assert republished.success, republished.error
    assert "0 files uploaded" in "\n".join(republished.outputs)
    # The Dagster UI shows where each publication went: paths an operator can copy or open.
    with dg.DagsterInstance.get() as instance:

        def metadata(key: str) -> dict:
            return instance.get_latest_materialization_event(dg.AssetKey(key)).asset_materialization.metadata

        assert metadata("dumps_site_run")["status_json"].value == uri(f"{run_dir}/status.json")
        # Every bnwiki fixture page's lead renders into prose: no abstract withheld, none cut.
        assert metadata("articles")["abstracts_withheld"].value == {}
        assert metadata("articles")["abstracts_truncated"].value == 0
        hub_link = metadata("huggingface_dataset")["uri"].value
    assert hub_link.startswith(uri("hf-dry-run") + "/")
    assert store.head(hub_link.removeprefix(f"s3://{store.bucket}/") + "/README.md")

    # 5. A partition that failed (jawiki has no articles yet) is what `backfill --failed` re-runs, alone.
    failing = run_partition("paid_snapshot_job", project="jawiki", date="20230503")
    assert not failing.success
    assert failed_partitions() == [
        FailedPartition("paid_snapshot_job", "20230503|jawiki", failing.run_id)
    ]
    assert run_partition("ingest", project="jawiki", date="20230501").success
    assert run_partition("main", project="jawiki", date="20230501").success
    rerun = [run_partition(f.job, project=f.project, date=f.date) for f in failed_partitions()]
    assert [(r.job, r.partition, r.success) for r in rerun] == [("paid_snapshot_job", "20230503|jawiki", True)]
    assert failed_partitions() == []


def test_new_dump_run_sensor_requests_each_finished_run(dumps_url):
    from wme_assets.defs.resources import DumpsSourceResource
    from wme_assets.defs.sensors import new_dump_runs

    context = dg.build_sensor_context(
        instance=partitions.instance_with_projects(*PROJECTS),
        resources={"dumps": DumpsSourceResource(base_url=dumps_url, retries=0)},
    )
    result = new_dump_runs(context)
    keys = {str(r.partition_key) for r in result.run_requests}
    # The mirror holds bnwiki (20230501 done, 20230520 still in progress) and jawiki: only finished runs.
    assert keys == {"20230501|bnwiki", "20230501|jawiki"}
    assert all(r.run_key == str(r.partition_key) for r in result.run_requests)
