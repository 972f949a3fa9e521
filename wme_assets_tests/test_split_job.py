"""One dumps run over many processes (the main_split job): the plan, and the same bytes as one process.

The split run goes through Dagster's multiprocess executor (a process per step) on the real bnwiki dump
fixture in two multistream parts cut into page ranges, against the session's SeaweedFS; the one-process path
(ingest_pages, enrich_pages with the split run's id) runs on the same raw zone under another prefix. Page
store parts, article parts and the published snapshot archives must be the same bytes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import dagster as dg
import pytest

from wme_assets.devtools.mirror import build_dumps_mirror
from wme_assets.ingestion.plan import ParseStep, plan_parse_steps
from wme_assets.sources.dumps_client import DumpRunStatus, DumpsError

DATE = "20230501"
BNWIKI = "xztextfilter-truncated-dumps/bnwiki-truncated-100k.xml.xz"
STEP_BYTES = 1_000_000  # the fixture's two parts are ~1.4 MB each: each is cut into 2 page ranges


def _status(files: dict[str, int | None]) -> DumpRunStatus:
    return DumpRunStatus.model_validate(
        {"jobs": {"articlesmultistreamdump": {"status": "done", "files": {n: {"size": s} for n, s in files.items()}}}}
    )


def test_plan_cuts_large_files_into_page_ranges_in_file_order():
    status = _status(
        {
            "enwiki-20230501-pages-articles-multistream2.xml-p41243p151573.bz2": 250,
            "enwiki-20230501-pages-articles-multistream-index2.txt-p41243p151573.bz2": 10,
            "enwiki-20230501-pages-articles-multistream1.xml-p1p41242.bz2": 100,
            "enwiki-20230501-pages-articles-multistream-index1.txt-p1p41242.bz2": 5,
        }
    )
    steps = plan_parse_steps(status, "enwiki", DATE, step_bytes=100)
    assert [(s.number, "multistream1." in s.dump_name, s.slice, s.slices) for s in steps] == [
        (0, True, 0, 1),
        (1, False, 0, 3),
        (2, False, 1, 3),
        (3, False, 2, 3),
    ]
    assert [s.index_name.endswith("index2.txt-p41243p151573.bz2") for s in steps] == [False, True, True, True]
    # The same run planned again (in another process) gives the same steps; the part names sort in step order.
    assert plan_parse_steps(status, "enwiki", DATE, step_bytes=100) == steps
    names = [s.part_name(n) for s in steps for n in range(2)]
    assert names == sorted(names) and names[0] == "part-00000000.parquet"


def test_page_ranges_of_a_file_cover_every_stream_once():
    for streams in (1, 2, 7, 100, 1001):
        for slices in (1, 2, 3, 8):
            ranges = [ParseStep(0, "d", "i", None, k, slices).streams(streams) for k in range(slices)]
            covered = [n for first, stop in ranges for n in range(first, stop)]
            assert covered == list(range(streams)), (streams, slices)


def test_plan_without_sizes_or_with_unpaired_files():
    status = _status({"xwiki-20230501-pages-articles-multistream.xml.bz2": None,
                      "xwiki-20230501-pages-articles-multistream-index.txt.bz2": None})
    assert [(s.slice, s.slices) for s in plan_parse_steps(status, "xwiki", DATE, step_bytes=1)] == [(0, 1)]
    with pytest.raises(DumpsError, match="do not pair up"):
        plan_parse_steps(_status({"xwiki-20230501-pages-articles-multistream.xml.bz2": 5}), "xwiki", DATE)
    with pytest.raises(ValueError, match="step_bytes"):
        plan_parse_steps(status, "xwiki", DATE, step_bytes=0)


def split_job():
    """The job as the code server loads it (for reconstructable: each step process loads it again)."""
    from wme_assets.definitions import defs

    return defs().resolve_job_def("main_split")


def _fill_raw_zone(store, mirror_root, project="bnwiki"):
    from wme_assets.ingestion.download import download_run
    from wme_assets.sources.dumps_client import DumpsClient

    client = DumpsClient(mirror_root.as_uri())
    store.put_bytes(store.key(f"raw/{project}/{DATE}/dumpstatus.json"), client.fetch_status_bytes(project, DATE))
    download_run(client, store, project, DATE)


def _digests(store, prefix: str, *, skip_json: bool = False) -> dict[str, str]:
    """Every object under ``prefix`` (relative key -> sha256 of its bytes)."""
    found = {}
    for info in store.list(store.key(prefix) + "/"):
        relative = info.key[len(store.key(prefix)) :]
        if skip_json and relative.endswith(".json"):
            continue
        found[relative] = hashlib.sha256(store.read_bytes(info.key)).hexdigest()
    return found


def _run_split(instance, tags, **kwargs):
    return dg.execute_job(dg.reconstructable(split_job), instance=instance, tags=tags, **kwargs)


# Rates and durations differ from run to run; the uri is the store's.
_TIMED = {"uri", "duration_s", "pages_per_s", "wikitext_mb_per_s", "articles_per_s"}


def _recorded(instance, run_id: str, asset: str, checks: list[str]) -> tuple[dict, dict]:
    """The asset's latest materialization's metadata (it must be this run's) and its checks' latest evaluations
    (check -> (status, metadata)), each pointing at that materialization."""
    from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

    found = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[f"{DATE}|bnwiki"]), limit=1
    ).records
    assert found and found[0].run_id == run_id, asset
    keys = [dg.AssetCheckKey(dg.AssetKey(asset), name) for name in checks]
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(keys)
    evaluations = {}
    for key in keys:
        record = latest[key]
        assert record.run_id == run_id and record.status != AssetCheckExecutionRecordStatus.PLANNED, key
        evaluation = record.event.dagster_event.event_specific_data
        assert evaluation.target_materialization_data.storage_id == found[0].storage_id, key
        evaluations[key.name] = (record.status.value, {k: v.value for k, v in evaluation.metadata.items()})
    metadata = found[0].asset_materialization.metadata
    return {k: v.value for k, v in metadata.items() if k not in _TIMED}, evaluations


def _as_recorded(record: dg.MaterializeResult) -> tuple[dict, dict]:
    """What the asset itself records, as _recorded reads it back."""
    metadata = dg.AssetMaterialization("x", metadata=record.metadata).metadata
    checks = {}
    for check in record.check_results:
        normalised = dg.AssetMaterialization("x", metadata=check.metadata).metadata
        status = "SUCCEEDED" if check.passed else "FAILED"
        checks[check.check_name] = (status, {k: v.value for k, v in normalised.items()})
    return {k: v.value for k, v in metadata.items() if k not in _TIMED}, checks


@pytest.mark.parametrize("step_io", ["local", "s3"])
def test_split_run_over_processes_publishes_the_bytes_of_one_process(
    step_io, seaweedfs, s3_env, fixtures_dir, tmp_path, monkeypatch
):
    """Under WME_STEP_IO=s3 the steps' outputs are in the object store only: the run's local storage is removed
    between the failed run and its re-execution, as a pod's disk would be, and the re-execution still works."""
    import shutil

    from dagster._core.test_utils import instance_for_test

    from wme_assets.defs.enrichment.assets import articles_record
    from wme_assets.defs.ingestion.assets import page_store_record
    from wme_assets.defs.resources import ObjectStorageResource
    from wme_assets.enrichment.run import enrich_pages
    from wme_assets.ingestion.run import ingest_pages
    from wme_assets.settings import load_settings
    from wme_assets.snapshots.run import export_snapshots
    from wme_assets_tests.servers import new_test_store

    monkeypatch.setenv("WME_STEP_BYTES", str(STEP_BYTES))
    monkeypatch.setenv("WME_PARSE_WORKERS", "1")
    monkeypatch.setenv("WME_STEP_IO", step_io)
    run = build_dumps_mirror(tmp_path / "mirror", "bnwiki", DATE, fixtures_dir / BNWIKI, parts=2)
    split = ObjectStorageResource.from_settings(load_settings()).store  # the store the job's steps write
    single = new_test_store(seaweedfs)
    _fill_raw_zone(split, tmp_path / "mirror")
    _fill_raw_zone(single, tmp_path / "mirror")
    # One multistream part missing from the raw zone: its parse steps fail, the others succeed.
    missing = run.multistream_files[1].name
    kept = split.read_bytes(split.key(f"raw/bnwiki/{DATE}/{missing}"))
    split.delete(split.key(f"raw/bnwiki/{DATE}/{missing}"))
    tags = {"dagster/partition/date": DATE, "dagster/partition/project": "bnwiki"}
    (tmp_path / "dagster").mkdir()
    with instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
        failed = _run_split(instance, tags, run_config={"execution": {"config": {"multiprocess": {}}}})
        assert not failed.success
        parsed_first = {e.step_key for e in failed.all_events if e.is_step_success and e.step_key.startswith("parse[")}
        assert parsed_first, "the steps of the part still there succeed"
        assert not list(split.list(split.key(f"pages/bnwiki/{DATE}") + "/")), "nothing is published before every step"
        sizes = {o.key.split(f"runs/{failed.run_id}/", 1)[1]: o.size for o in split.list(split.key("runs") + "/")}
        outputs = set(sizes)
        local = Path(instance.storage_directory()) / failed.run_id / "plan_parse_steps"
        if step_io == "s3":
            assert "plan_parse_steps/plan" in outputs and any(o.startswith("parse[") for o in outputs), outputs
            assert not local.exists(), "no step output on the run's disk"
            assert max(sizes.values()) < 64 * 1024, sizes  # plans, keys and figures: no page data
            print(f"{len(sizes)} step outputs, {sum(sizes.values())} bytes, largest {max(sizes.values())}")
            shutil.rmtree(instance.storage_directory())  # what a pod that ran a step leaves: nothing
        else:
            assert not outputs and local.exists()
        split.put_bytes(split.key(f"raw/bnwiki/{DATE}/{missing}"), kept)
        again = _run_split(
            instance, tags, reexecution_options=dg.ReexecutionOptions.from_failure(failed.run_id, instance)
        )
        assert again.success
        steps_run = {e.step_key for e in again.all_events if e.is_step_start}
        assert not parsed_first & steps_run, "a step that succeeded is not run again"
        assert {k for k in steps_run if k.startswith("parse[")}, "the failed steps run again"
        parse_steps = len(parsed_first | {k for k in steps_run if k.startswith("parse[")})
        run_id = again.run_id
        assert sum(1 for k in steps_run if k.startswith("enrich[")) >= 2
        materialized = {e.asset_key.to_user_string() for e in again.all_events if e.is_step_materialization
                        for e in [e.event_specific_data.materialization]}
        assert materialized == {"page_store", "articles"}
        assert not list(split.list(split.key("runs") + "/")), "the step outputs of both runs are removed"
        pages_recorded = _recorded(
            instance, run_id, "page_store", ["page_count_matches_dump", "no_duplicate_page_ids"]
        )
        articles_recorded = _recorded(
            instance, run_id, "articles", ["every_page_accounted_for", "articles_match_schema", "no_quarantined_pages"]
        )

    pages = ingest_pages(single, "bnwiki", DATE, workers=2, step_bytes=STEP_BYTES, log=lambda _: None)
    assert len({e["name"][:10] for e in pages.summary.files}) >= 3  # several steps, files named by step
    enriched = enrich_pages(single, "bnwiki", DATE, run_id=run_id, workers=2, log=lambda _: None)
    # The split run recorded what the assets record of the same run in one process, checks included.
    expected_metadata, expected_checks = _as_recorded(page_store_record(single, pages))
    assert pages_recorded == ({**expected_metadata, "parse_steps": parse_steps}, expected_checks)
    expected_metadata, expected_checks = _as_recorded(articles_record(single, enriched, []))
    assert articles_recorded == ({**expected_metadata, "enrichment_steps": len(pages.summary.files)}, expected_checks)
    assert expected_checks["every_page_accounted_for"][0] == "SUCCEEDED"
    assert _digests(split, f"pages/bnwiki/{DATE}", skip_json=True) == _digests(
        single, f"pages/bnwiki/{DATE}", skip_json=True
    )
    assert _digests(split, f"articles/bnwiki/base/{DATE}", skip_json=True) == _digests(
        single, f"articles/bnwiki/base/{DATE}", skip_json=True
    )
    assert not list(split.list(split.key("steps") + "/")), "the steps' scratch is removed"
    exported = {}
    for store in (split, single):
        result = export_snapshots(store, "bnwiki", DATE, log=lambda _: None)
        assert result.records > 300
        exported[store.prefix] = _digests(store, "snapshots", skip_json=True)
    archives = list(exported.values())
    assert any(key.endswith(".tar.gz") for key in archives[0])
    assert archives[0] == archives[1]


def test_items_file_gives_each_page_its_item_holding_one_row_group_at_a_time(tmp_path, monkeypatch):
    from wme_assets.ingestion import steps
    from wme_assets.ingestion.page_props import WikibaseItems

    monkeypatch.setattr(steps, "_ITEMS_ROWS", 3)
    items = WikibaseItems([(1, "Q5"), (4, "Q42"), (7, "Q1"), (9, "Q64"), (12, "Q90"), (20, "L7")])
    lookup = steps.ItemLookup(steps._write_items(items, tmp_path / "items.parquet"))
    assert [lookup.get(page) for page in range(22)] == [items.get(page) for page in range(22)]
    assert len(lookup._loaded) <= 2
    assert steps.ItemLookup(None).get(1) is None


def test_a_steps_slice_of_a_join_file_is_its_ordinals_shifted_to_zero(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from wme_assets.enrichment.steps import _slice_ordinals

    table = pa.table({"article": pa.array([0, 2, 2, 5, 7, 9, 9], pa.int64()), "title": list("abcdefg")})
    pq.write_table(table, tmp_path / "joined.parquet", row_group_size=2)
    sliced = pq.read_table(_slice_ordinals(tmp_path / "joined.parquet", tmp_path / "step.parquet", 2, 8))
    assert sliced.to_pydict() == {"article": [0, 0, 3, 5], "title": ["b", "c", "d", "e"]}
    assert pq.read_table(_slice_ordinals(tmp_path / "joined.parquet", tmp_path / "none.parquet", 10, 12)).num_rows == 0


def test_steps_figures_add_up_and_keep_the_base_in_order():
    from wme_assets.storage.article_store import combine_stats

    first = {"upserts": 3, "deletes": 0, "rows_per_namespace": {"0": 2, "14": 1}, "ascending": True,
             "min_page_id": 1, "max_page_id": 9}
    empty = {"upserts": 0, "deletes": 0, "rows_per_namespace": {}, "ascending": True,
             "min_page_id": None, "max_page_id": None}
    second = {"upserts": 2, "deletes": 0, "rows_per_namespace": {"0": 2}, "ascending": True,
              "min_page_id": 12, "max_page_id": 20}
    assert combine_stats([first, empty, second]) == {
        "upserts": 5, "deletes": 0, "rows_per_namespace": {"0": 4, "14": 1}, "ascending": True,
        "min_page_id": 1, "max_page_id": 20,
    }
    assert combine_stats([second, first])["ascending"] is False


def test_step_io_is_the_object_store_when_steps_run_in_pods_unless_chosen():
    from wme_assets.settings import Settings

    assert Settings(step_executor="multiprocess").step_io_kind == "local"
    assert Settings(step_executor="k8s").step_io_kind == "s3"
    assert Settings(step_executor="multiprocess", step_io="s3").step_io_kind == "s3"
    assert Settings(step_executor="k8s", step_io="local").step_io_kind == "local"  # e.g. a volume the pods share
    with pytest.raises(ValueError, match="step_io"):
        Settings(step_io="nfs")


def test_a_step_output_holding_a_local_path_is_refused(tmp_path):
    import pickle

    from wme_assets.defs.step_io import dump_step_output
    from wme_assets.ingestion.steps import PagesPlan

    plan = PagesPlan("bnwiki", DATE, [], tables={"page": {"key": "steps/bnwiki/x.parquet", "rows": 3}})
    assert pickle.loads(dump_step_output(plan)) == plan
    plan.tables["page"]["path"] = tmp_path / "page.parquet"
    with pytest.raises(ValueError, match="local path .*page.parquet"):
        dump_step_output(plan)


def test_step_outputs_in_the_object_store_round_trip_and_a_removed_one_is_named(s3_env):
    from wme_assets.defs.resources import ObjectStorageResource
    from wme_assets.defs.step_io import ObjectStoreStepIO
    from wme_assets.ingestion.plan import ParseStep
    from wme_assets.settings import load_settings

    object_storage = ObjectStorageResource.from_settings(load_settings())
    step_io = ObjectStoreStepIO(object_storage=object_storage)
    step = ParseStep(1, "bnwiki-dump.xml.bz2", "bnwiki-index.txt.bz2", 1000, 0, 2)
    written = dg.build_output_context(
        run_id="run-a", step_key="plan_parse_steps", name="steps", mapping_key=step.key
    )
    step_io.handle_output(written, step)
    store = object_storage.store
    assert [o.key for o in store.list(store.key("runs") + "/")] == [
        store.key(f"runs/run-a/plan_parse_steps/steps/{step.key}")
    ]
    assert step_io.load_input(dg.build_input_context(upstream_output=written)) == step
    assert step_io.remove_runs(["run-a", "run-b"]) == 1
    with pytest.raises(dg.Failure, match=r"output 'steps' of plan_parse_steps: .* is not at s3://.*/runs/run-a/"):
        step_io.load_input(dg.build_input_context(upstream_output=written))


def test_the_article_sample_is_every_nth_row_across_batches():
    import pyarrow as pa

    from wme_assets.enrichment.checks import every_nth_row

    rows = list(range(23))
    batches = [pa.record_batch({"page_id": rows[a:b], "article": [f"a{r}" for r in rows[a:b]]})
               for a, b in ((0, 5), (5, 5), (5, 12), (12, 23))]
    for n in (1, 2, 3, 7, 30):
        assert list(every_nth_row(batches, n)) == [(r, f"a{r}") for r in rows if r % n == 0], n


def test_a_generator_op_fails_clearly_and_is_not_retried_on_bad_input():
    from wme_assets.defs.failures import TRANSIENT_RETRY, fails_clearly

    attempts = []

    @dg.op(retry_policy=TRANSIENT_RETRY)
    @fails_clearly
    def publishing(context):
        attempts.append(1)
        yield dg.AssetMaterialization("somewhere")
        raise ValueError("page 7 has no title")

    partitions = dg.MultiPartitionsDefinition(
        {"date": dg.StaticPartitionsDefinition([DATE]), "project": dg.StaticPartitionsDefinition(["bnwiki"])}
    )
    job = dg.GraphDefinition("g", node_defs=[publishing]).to_job(partitions_def=partitions)
    result = job.execute_in_process(partition_key=f"{DATE}|bnwiki", raise_on_error=False)
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    error = failure.step_failure_data.user_failure_data
    assert error.description == f"publishing: bnwiki {DATE}: ValueError: page 7 has no title"
    assert attempts == [1]
