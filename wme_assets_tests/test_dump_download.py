"""Downloading a dumps run into the raw zone: real HTTP on loopback, real SeaweedFS, real dump files."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest

from wme_assets.ingestion.download import download_run, required_files
from wme_assets.settings import ConfigurationError
from wme_assets.sources.dumps_client import DumpsClient, DumpsError, make_session
from wme_assets_tests.paths import DUMP_DATE
from wme_assets_tests.servers import serve_with_ranges

MULTISTREAM = f"bnwiki-{DUMP_DATE}-pages-articles-multistream.xml.bz2"
RUN_PATH = f"/bnwiki/{DUMP_DATE}/"


def _client(url: str) -> DumpsClient:
    return DumpsClient(url, session=make_session(retries=3, backoff=0.01))


def _published_checksums(dumps_mirror) -> dict[str, dict]:
    status = json.loads((dumps_mirror / "bnwiki" / DUMP_DATE / "dumpstatus.json").read_text())
    return {name: info for job in status["jobs"].values() for name, info in job["files"].items()}


def test_run_lands_verified_in_raw_zone_and_rerun_skips(object_store, dumps_mirror):
    published = _published_checksums(dumps_mirror)
    with serve_with_ranges(dumps_mirror) as (url, server):
        first = download_run(_client(url), object_store, "bnwiki", DUMP_DATE)
        names = {f.name for f in first.files}
        assert MULTISTREAM in names
        assert f"bnwiki-{DUMP_DATE}-pages-articles-multistream-index.txt.bz2" in names
        assert f"bnwiki-{DUMP_DATE}-page_props.sql.gz" in names
        for f in first.files:
            assert not f.skipped
            assert (f.md5, f.sha1, f.size) == (published[f.name]["md5"], published[f.name]["sha1"],
                                               published[f.name]["size"])
            local = (dumps_mirror / "bnwiki" / DUMP_DATE / f.name).read_bytes()
            assert object_store.sha256_of(f.key) == hashlib.sha256(local).hexdigest()

        requests_before = len(server.requests)
        second = download_run(_client(url), object_store, "bnwiki", DUMP_DATE)
        assert all(f.skipped for f in second.files)
        assert second.bytes_downloaded == 0
        # Only dumpstatus.json was fetched again: nothing is downloaded twice.
        assert [path for path, _ in server.requests[requests_before:]] == [f"{RUN_PATH}dumpstatus.json"]


def test_dropped_connection_resumes_with_range(object_store, dumps_mirror):
    with serve_with_ranges(dumps_mirror) as (url, server):
        server.faults[RUN_PATH + MULTISTREAM] = [("drop", 300_000), ("drop", 200_000)]
        result = download_run(_client(url), object_store, "bnwiki", DUMP_DATE)
        stored = next(f for f in result.files if f.name == MULTISTREAM)
        assert stored.resumes == 2
        ranges = [rng for path, rng in server.requests if path == RUN_PATH + MULTISTREAM]
        assert ranges == [None, "bytes=300000-", "bytes=500000-"]
        local = (dumps_mirror / "bnwiki" / DUMP_DATE / MULTISTREAM).read_bytes()
        assert object_store.sha256_of(stored.key) == hashlib.sha256(local).hexdigest()


def test_503_is_retried_then_succeeds(object_store, dumps_mirror):
    with serve_with_ranges(dumps_mirror) as (url, server):
        server.faults[RUN_PATH + MULTISTREAM] = [("status", 503), ("status", 503)]
        result = download_run(_client(url), object_store, "bnwiki", DUMP_DATE)
        assert any(f.name == MULTISTREAM for f in result.files)
        assert [p for p, _ in server.requests].count(RUN_PATH + MULTISTREAM) == 3


def test_persistent_503_fails_clearly(object_store, dumps_mirror):
    with serve_with_ranges(dumps_mirror) as (url, server):
        server.faults[RUN_PATH + "dumpstatus.json"] = [("status", 503)] * 10
        with pytest.raises(DumpsError, match=rf"{url}/bnwiki/{DUMP_DATE}/dumpstatus.json answered HTTP 503"):
            download_run(_client(url), object_store, "bnwiki", DUMP_DATE)
        assert [p for p, _ in server.requests].count(RUN_PATH + "dumpstatus.json") == 4  # 1 + 3 retries


def test_404_fails_clearly(object_store, dumps_mirror):
    with serve_with_ranges(dumps_mirror) as (url, _):
        with pytest.raises(DumpsError, match=rf"{url}/bnwiki/20990101/dumpstatus.json answered HTTP 404"):
            download_run(_client(url), object_store, "bnwiki", "20990101")


def test_checksum_mismatch_stores_nothing(object_store, dumps_mirror, tmp_path):
    mirror = tmp_path / "mirror"
    shutil.copytree(dumps_mirror / "bnwiki" / DUMP_DATE, mirror / "bnwiki" / DUMP_DATE)
    status_path = mirror / "bnwiki" / DUMP_DATE / "dumpstatus.json"
    status = json.loads(status_path.read_text())
    status["jobs"]["articlesmultistreamdump"]["files"][MULTISTREAM]["md5"] = "0" * 32
    status_path.write_text(json.dumps(status))
    with serve_with_ranges(mirror) as (url, _):
        with pytest.raises(DumpsError, match=rf"bnwiki {DUMP_DATE}: {MULTISTREAM} failed verification: .*md5"):
            download_run(_client(url), object_store, "bnwiki", DUMP_DATE)
    assert object_store.head(object_store.key(f"raw/bnwiki/{DUMP_DATE}/{MULTISTREAM}")) is None


def test_run_in_progress_is_refused(dumps_mirror):
    client = DumpsClient(dumps_mirror.as_uri())
    with pytest.raises(DumpsError, match="bnwiki 20230520: the dump run is not finished .*in-progress"):
        required_files(client.fetch_status("bnwiki", "20230520"), "bnwiki", "20230520")


def test_latest_resolves_to_newest_finished_run(dumps_mirror):
    with serve_with_ranges(dumps_mirror) as (url, _):
        assert _client(url).resolve_latest("bnwiki") == DUMP_DATE  # 20230520 is still in progress


@pytest.mark.parametrize("project", ["../etc", "bnwiki/../../x", "BNWIKI", "a|b"])
def test_project_cannot_escape_storage_prefix(project):
    with pytest.raises(ConfigurationError, match="not a valid project key"):
        DumpsClient("http://127.0.0.1:9").run_url(project, DUMP_DATE)


def test_latest_on_or_before_a_day(dumps_mirror):
    client = DumpsClient(dumps_mirror.as_uri())
    assert client.resolve_latest("bnwiki", on_or_before="20230530") == DUMP_DATE
    with pytest.raises(DumpsError, match="no finished dump run on or before 20230430"):
        client.resolve_latest("bnwiki", on_or_before="20230430")
