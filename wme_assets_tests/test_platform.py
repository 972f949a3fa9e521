"""The platform end to end on real servers: a partitioned asset run through a Dagster instance whose
storage is PostgreSQL, with its output in SeaweedFS S3; bad configuration failing fast."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage
from pydantic import SecretStr

from wme_assets.instance import check_postgres, instance_config
from wme_assets.settings import ConfigurationError, Settings
from wme_assets.storage import ObjectStoreError, open_object_store
from wme_assets_tests import partitions
from wme_assets_tests.paths import DUMP_DATE, REPO_ROOT

PARTITION = dg.MultiPartitionKey({"date": DUMP_DATE, "project": "bnwiki"})


@pytest.fixture
def postgres_instance(postgres, s3_env, monkeypatch, tmp_path):
    """A Dagster instance from the repository's deployment dagster.yaml, on the session's PostgreSQL."""
    for name, value in postgres.env().items():
        monkeypatch.setenv(name, value)
    home = tmp_path / "dagster-home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "infra" / "dagster.yaml", home / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        yield partitions.with_projects(instance, "bnwiki")


def _ingest_job(monkeypatch, dumps_url):
    monkeypatch.setenv("WME_DUMPS_URL", dumps_url)
    from wme_assets.definitions import defs

    return defs().resolve_job_def("ingest")


def test_repository_dagster_yamls_are_the_generated_configs():
    assert yaml.safe_load((REPO_ROOT / "infra" / "dagster.yaml").read_text()) == instance_config(postgres=True)
    assert yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text()) == instance_config(postgres=False)


def test_partitioned_asset_on_postgres_and_s3(
    postgres, postgres_instance, monkeypatch, dumps_url, dumps_mirror, tmp_path
):
    assert isinstance(postgres_instance.run_storage, PostgresRunStorage)
    assert isinstance(postgres_instance.event_log_storage, PostgresEventLogStorage)

    result = _ingest_job(monkeypatch, dumps_url).execute_in_process(
        instance=postgres_instance, partition_key=PARTITION
    )
    assert result.success

    # The run record and its event log are rows in PostgreSQL.
    with postgres.connect() as conn, conn.cursor() as cursor:
        cursor.execute("SELECT status FROM runs WHERE run_id = %s", (result.run_id,))
        assert cursor.fetchone() == ("SUCCESS",)
        cursor.execute(
            "SELECT asset_key, partition FROM event_logs WHERE run_id = %s "
            "AND dagster_event_type = 'ASSET_MATERIALIZATION'",
            (result.run_id,),
        )
        assert sorted(cursor.fetchall()) == [
            ('["dump_run_status"]', f"{DUMP_DATE}|bnwiki"),
            ('["page_store"]', f"{DUMP_DATE}|bnwiki"),
            ('["raw_dump_files"]', f"{DUMP_DATE}|bnwiki"),
        ]
        cursor.execute(
            "SELECT count(*) FROM event_logs WHERE run_id = %s AND dagster_event_type = 'ASSET_CHECK_EVALUATION'",
            (result.run_id,),
        )
        assert cursor.fetchone() == (3,)  # checksums_verified, page_count_matches_dump, no_duplicate_page_ids

    # The output is an object in S3, byte for byte the run's dumpstatus.json.
    store = open_object_store(Settings())
    key = store.key(f"raw/bnwiki/{DUMP_DATE}/dumpstatus.json")
    expected = (dumps_mirror / "bnwiki" / DUMP_DATE / "dumpstatus.json").read_bytes()
    assert store.read_bytes(key) == expected
    materialization = result.asset_materializations_for_node("dump_run_status")[0]
    assert materialization.metadata["uri"].value == store.uri(key)
    assert materialization.metadata["files"].value >= 3  # multistream, its index, page_props
    # The page store holds every complete page of the dump, queryable with DuckDB.
    from wme_assets.storage.page_store import query_page_store

    pages = result.asset_materializations_for_node("page_store")[0].metadata
    assert pages["pages"].value == 722 and pages["redirects"].value == 76
    query = query_page_store(store, f"pages/bnwiki/{DUMP_DATE}/", cache_dir=tmp_path / "cache")
    assert query.sql("SELECT count(*), count(*) FILTER (WHERE is_redirect) FROM pages").fetchall() == [(722, 76)]
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks == {"checksums_verified": True, "page_count_matches_dump": True, "no_duplicate_page_ids": True}
    # The dump files themselves are in the raw zone, byte for byte.
    run_dir = dumps_mirror / "bnwiki" / DUMP_DATE
    for path in run_dir.iterdir():
        if path.name.endswith((".bz2", ".sql.gz")):
            assert store.read_bytes(store.key(f"raw/bnwiki/{DUMP_DATE}/{path.name}")) == path.read_bytes()


def test_unfinished_dump_run_is_refused_and_nothing_stored(postgres_instance, monkeypatch, dumps_url):
    partition = dg.MultiPartitionKey({"date": "20230520", "project": "bnwiki"})
    result = _ingest_job(monkeypatch, dumps_url).execute_in_process(
        instance=postgres_instance, partition_key=partition, raise_on_error=False
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = failure.event_specific_data.error.message
    assert "bnwiki 20230520" in message and "articlesmultistreamdump: in-progress" in message
    store = open_object_store(Settings())
    assert not list(store.list(store.key("raw/bnwiki/20230520") + "/"))


def test_a_stopped_seaweedfs_leaves_no_sockets_behind(tmp_path):
    """weed keeps its components' Unix sockets in /tmp, named by port; stopping the server removes them."""
    from wme_assets.storage.seaweedfs import local_sockets, start_seaweedfs

    server = start_seaweedfs(tmp_path / "s3")
    try:
        while_running = local_sockets(server.ports.values())
    finally:
        server.stop()
    assert while_running, "weed made no sockets under its ports: the check below would prove nothing"
    assert local_sockets(server.ports.values()) == []


# ----- bad configuration fails fast, saying what to fix --------------------------------------------


def test_unreachable_s3_endpoint(tmp_path):
    from wme_assets.storage.seaweedfs import free_ports

    (port,) = free_ports(1)
    settings = Settings(home=tmp_path, s3_endpoint_url=f"http://127.0.0.1:{port}")
    with pytest.raises(ObjectStoreError, match=rf"127.0.0.1:{port} is unreachable.*WME_S3_ENDPOINT_URL"):
        open_object_store(settings)


def test_missing_bucket(seaweedfs, tmp_path):
    settings = Settings(home=tmp_path, s3_endpoint_url=seaweedfs.endpoint_url, s3_bucket="no-such-bucket")
    with pytest.raises(ObjectStoreError, match="bucket 'no-such-bucket' does not exist.*WME_S3_BUCKET"):
        open_object_store(settings)


def test_wrong_postgres_credentials(postgres):
    settings = Settings(
        pg_host=postgres.host, pg_port=postgres.port, pg_user=postgres.user, pg_password="wrong", pg_db=postgres.db
    )
    with pytest.raises(ConfigurationError, match="rejected user 'wme': check WME_PG_USER and WME_PG_PASSWORD"):
        check_postgres(settings)
    check_postgres(settings.model_copy(update={"pg_password": SecretStr(postgres.password)}))  # the right ones pass


def test_unset_deployment_variables():
    with pytest.raises(ConfigurationError, match="WME_PG_PASSWORD, WME_PG_DB are not set"):
        Settings(pg_host="db.example", pg_user="wme").require_postgres_settings()


def test_invalid_project_key_is_refused(monkeypatch):
    from wme_assets.settings import load_settings

    monkeypatch.setenv("WME_PROJECTS", "enwiki,../../etc")
    with pytest.raises(ConfigurationError, match="'../../etc' is not a valid project key"):
        load_settings()



def test_every_job_carries_a_tier_that_a_run_limit_names():
    """Runs escape the tier limits when a job has no tier tag, and a limit no job's tag matches limits nothing."""
    from wme_assets.definitions import defs
    from wme_assets.instance import RUN_CONCURRENCY, TIER_TAG

    limited = {limit["value"] for limit in RUN_CONCURRENCY["tag_concurrency_limits"] if limit["key"] == TIER_TAG}
    jobs = [job for job in defs().resolve_all_job_defs() if not job.name.startswith("__")]
    assert jobs
    tiers = {job.name: job.tags.get(TIER_TAG) for job in jobs}
    assert all(tier in limited for tier in tiers.values()), tiers
    assert limited == set(tiers.values())
    # The Helm chart's run queue has the same limits.
    helm = yaml.safe_load((REPO_ROOT / "infra" / "helm" / "values.yaml").read_text())
    queue = helm["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    assert queue["maxConcurrentRuns"] == RUN_CONCURRENCY["max_concurrent_runs"]
    assert queue["tagConcurrencyLimits"] == RUN_CONCURRENCY["tag_concurrency_limits"]


def test_a_large_projects_runs_ask_for_a_bigger_pod_and_a_longer_timeout():
    """Every job sizes its runs by project: a large project's partition carries the `dagster-k8s/config` tag (read
    by the K8sRunLauncher) and `dagster/max_runtime` (run monitoring); a small one keeps the defaults."""
    import json

    from wme_assets.definitions import defs
    from wme_assets.instance import K8S_CONFIG_TAG, MAX_RUNTIME_TAG

    definitions = defs()
    keys = {"ingest": "20230501", "main": "20230501", "paid_snapshot_job": "20230502", "free_snapshot_job": "20230502",
            "publish_job": "20230502", "hourly_batch_job": "2026120306", "compaction_job": "20230502",
            "main_split": "20230501"}  # fmt: skip
    for job, date in keys.items():
        resolved = definitions.resolve_job_def(job)
        large = resolved.get_tags_for_partition_key(f"{date}|enwiki", selected_asset_keys=None)
        small = resolved.get_tags_for_partition_key(f"{date}|bnwiki", selected_asset_keys=None)
        resources = json.loads(large[K8S_CONFIG_TAG])["container_config"]["resources"]
        assert resources["requests"]["cpu"] == "4" and resources["limits"]["memory"] == "16Gi", job
        assert int(large[MAX_RUNTIME_TAG]) > 21600, job  # longer than dagster.yaml's max_runtime_seconds
        assert K8S_CONFIG_TAG not in small and MAX_RUNTIME_TAG not in small, job


def test_every_step_writes_its_temporary_files_to_the_scratch_directory(s3_env, monkeypatch, tmp_path):
    """Compose and Helm mount a scratch volume; without this, temporary files fill the container's /tmp."""
    import tempfile

    from wme_assets.defs.resources import ObjectStorageResource
    from wme_assets.settings import load_settings

    scratch = tmp_path / "scratch-volume"
    monkeypatch.setenv("WME_SCRATCH_DIR", str(scratch))
    resource = ObjectStorageResource.from_settings(load_settings())
    assert resource.scratch_dir == str(scratch)
    with dg.build_resources({"object_storage": resource}):  # what a step process does before its asset
        assert tempfile.gettempdir() == str(scratch)
        with tempfile.TemporaryDirectory(prefix="wme-export-") as work:
            assert Path(work).parent == scratch
    # Unset, it is WME_HOME/scratch.
    monkeypatch.delenv("WME_SCRATCH_DIR")
    assert load_settings().scratch_path == Path(s3_env["WME_HOME"]).resolve() / "scratch"


def test_worker_pools_start_under_a_deep_scratch_directory(tmp_path):
    """The fork server's Unix socket must not follow the scratch directory: a socket path over ~107 bytes
    fails to bind ("AF_UNIX path too long"). A fresh interpreter, so the fork server starts here for sure."""
    import subprocess
    import sys

    deep = tmp_path / ("scratch-" + "d" * 60) / ("volume-" + "e" * 60)
    script = f"""
from pathlib import Path
from wme_assets.settings import use_scratch_dir
from wme_assets.util.workers import worker_context

use_scratch_dir(Path({str(deep)!r}))
with worker_context().Pool(1) as pool:
    print(pool.map(abs, [-1, -2]))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[1, 2]"
