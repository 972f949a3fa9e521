"""The dumps-site run (``other/enterprise_html/runs/{date}/``) from real snapshots on the real SeaweedFS server.

Snapshots are written from the real Wikimedia Enterprise records in ``wme-articles/`` and published with
:func:`publish_snapshot`; runs go to both targets (S3 on the same SeaweedFS under another prefix, and a local
directory), checked with the real coreutils (``md5sum -c``, ``sha256sum -c``) and downloaded over HTTP from the
stdlib's static server, as a mirror would. Faults are injected by a wrapper around the real target.
"""

from __future__ import annotations

import hashlib
import io
import lzma
import re
import subprocess
import tarfile
from collections import defaultdict
from pathlib import Path

import orjson
import pytest
import requests

from wme_assets.publishing.dumps_site import (
    MD5SUMS_FILE,
    RUNS_ROOT,
    SHA256SUMS_FILE,
    STATUS_FILE,
    DumpsSiteError,
    DumpsSiteTarget,
    LocalDirTarget,
    S3Target,
    dump_file_name,
    publish_run,
    read_run_status,
    run_directory,
    sums_file,
)
from wme_assets.snapshots.archive import SnapshotFiles, write_snapshot
from wme_assets.snapshots.publish import publish_snapshot, snapshot_key
from wme_assets.storage.object_store import STAGING_DIR, ObjectStore
from wme_assets_tests.servers import serve_directory

pytestmark = pytest.mark.integration

DATE = "20250101"
RUN_DIR = f"{RUNS_ROOT}/{DATE}"
# Wikimedia's name, exactly: {dbname}-NS{ns}-{YYYYMMDD}-ENTERPRISE-HTML.json.tar.gz
WIKIMEDIA_NAME = re.compile(r"^[a-z][a-z0-9_]*-NS\d+-\d{8}-ENTERPRISE-HTML\.json\.tar\.gz$")
EMPTY_NAMESPACE = ("enwiki", 6)  # a real, empty snapshot: none of the fixture records is a file page


# --- fixtures --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def snapshot_files(tmp_path_factory, fixtures_dir) -> dict[str, SnapshotFiles]:
    """Snapshots of every (wiki, namespace) of the real Enterprise records, by identifier, written once."""
    groups: dict[tuple[str, int], list[tuple[int, bytes]]] = defaultdict(list)
    for path in sorted(fixtures_dir.glob("wme-articles/*/*.json.xz")):
        record = orjson.loads(lzma.open(path).read())
        key = (record["is_part_of"]["identifier"], record["namespace"]["identifier"])
        groups[key].append((int(record["identifier"]), orjson.dumps(record)))
    groups[EMPTY_NAMESPACE] = []
    out = tmp_path_factory.mktemp("snapshots")
    written = {}
    for (dbname, namespace), records in sorted(groups.items()):
        files = write_snapshot(
            sorted(records),
            out / f"{dbname}-{namespace}",
            dbname=dbname,
            namespace=namespace,
            max_member_bytes=1_000_000,  # several members (and chunks) for the larger wikis
            dump_date=DATE,
        )
        written[files.identifier] = files
    assert len(written) == 7 and written["enwiki_namespace_0"].record_count == 4
    assert len(written["enwiki_namespace_0"].chunks) > 1
    return written


@pytest.fixture
def source(object_store, snapshot_files) -> ObjectStore:
    """The store with every snapshot of DATE published (paid tier), as the export stage leaves it."""
    for files in snapshot_files.values():
        publish_snapshot(object_store, files, date=DATE, update_listing=False)
    return object_store


def expected_names(snapshot_files) -> dict[str, SnapshotFiles]:
    """Dumps file name -> snapshot, for the snapshots that have records."""
    return {
        dump_file_name(files.dbname, files.namespace, DATE): files
        for files in snapshot_files.values()
        if files.record_count > 0
    }


class FaultyTarget:
    """The real target, recording every write; optionally losing the connection half way through the N-th file
    (``fail_file``), or failing the first status.json write after the N-th file landed (``fail_status_after``)."""

    def __init__(self, inner: DumpsSiteTarget, *, fail_file: int | None = None, fail_status_after: int | None = None):
        self.inner = inner
        self.fail_file = fail_file
        self.fail_status_after = fail_status_after
        self.files_started = 0
        self.files_written: list[str] = []
        self.bytes_written: list[str] = []
        self.bytes_sent_before_failure = 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def put_stream(self, path, chunks, *, size, sha256, md5):
        self.files_started += 1
        if self.files_started == self.fail_file:
            chunks = self._half_then_fail(chunks, size)
        self.inner.put_stream(path, chunks, size=size, sha256=sha256, md5=md5)
        self.files_written.append(path.rsplit("/", 1)[-1])

    def _half_then_fail(self, chunks, size):
        half = size // 2
        for chunk in chunks:
            piece = chunk[: half - self.bytes_sent_before_failure]
            yield piece
            self.bytes_sent_before_failure += len(piece)
            if self.bytes_sent_before_failure >= half:
                raise ConnectionError(f"injected: connection lost after {half} of {size} bytes")

    def put_bytes(self, path, data):
        if self.fail_status_after is not None and len(self.files_written) == self.fail_status_after:
            self.fail_status_after = None
            raise ConnectionError(f"injected: lost before writing {path}")
        self.inner.put_bytes(path, data)
        self.bytes_written.append(path.rsplit("/", 1)[-1])


def make_target(kind: str, object_store: ObjectStore, tmp_path: Path) -> DumpsSiteTarget:
    if kind == "local":
        return LocalDirTarget(tmp_path / "site")
    return S3Target(object_store, "dumps-site")


def target_files(target: DumpsSiteTarget) -> dict[str, tuple]:
    """Every file of the run with what changes when it is rewritten (mtime_ns; S3: ETag and LastModified)."""
    if isinstance(target, LocalDirTarget):
        folder = target.root / RUN_DIR
        return {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in folder.iterdir()}
    prefix = target.store.key(target.prefix, RUN_DIR) + "/"
    return {i.key[len(prefix) :]: (i.etag, i.last_modified, i.size) for i in target.store.list(prefix)}


def check_sums(run_dir: Path, names: set[str]) -> None:
    """The real coreutils accept both sums files, and they name exactly ``names``."""
    for tool, sums in (("md5sum", MD5SUMS_FILE), ("sha256sum", SHA256SUMS_FILE)):
        checked = subprocess.run([tool, "--strict", "-c", sums], cwd=run_dir, capture_output=True, text=True)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert checked.stdout.splitlines() == [f"{name}: OK" for name in sorted(names)]


# --- the layout, to a local directory and to S3 ----------------------------------------------------


def test_run_in_a_local_directory_has_wikimedias_names_sums_and_status(source, snapshot_files, tmp_path):
    target = LocalDirTarget(tmp_path / "site")
    published = publish_run(source, target, date=DATE, deep=True)

    names = expected_names(snapshot_files)
    assert set(names) == {
        f"{db}-NS0-{DATE}-ENTERPRISE-HTML.json.tar.gz"
        for db in ("dewiki", "enwiki", "enwikiversity", "frwiki", "ptwiki", "simplewiki")
    }
    run_dir = tmp_path / "site" / "other" / "enterprise_html" / "runs" / DATE
    on_disk = sorted(p.name for p in run_dir.iterdir())
    assert on_disk == sorted([*names, MD5SUMS_FILE, SHA256SUMS_FILE, STATUS_FILE])  # no temporaries left
    assert all(WIKIMEDIA_NAME.match(name) for name in names)
    assert sorted(published.uploaded) == sorted(names) and published.unchanged == [] and published.failed == {}

    # Each file is its snapshot archive byte for byte, readable by a web server running as another user.
    for name, files in names.items():
        path = run_dir / name
        assert hashlib.sha256(path.read_bytes()).hexdigest() == files.archive.sha256
        assert path.stat().st_mode & 0o777 == 0o644
    check_sums(run_dir, set(names))

    status = orjson.loads((run_dir / STATUS_FILE).read_bytes())
    assert status["version"] == "1.0" and status["run"] == DATE and status["tier"] == "paid"
    assert status["status"] == "done"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", status["updated"])
    empty = dump_file_name(*EMPTY_NAMESPACE, DATE)
    assert list(status["files"]) == sorted([*names, empty])
    for name, files in names.items():
        entry = status["files"][name]
        assert entry == {
            "status": "done",
            "updated": entry["updated"],
            "url": f"/other/enterprise_html/runs/{DATE}/{name}",
            "dbname": files.dbname,
            "namespace": files.namespace,
            "size": files.archive.bytes,
            "md5": files.archive.md5,
            "sha256": files.archive.sha256,
            "record_count": files.record_count,
            "source": snapshot_key(DATE, files.identifier, "paid", "manifest"),
        }
        assert entry["updated"] <= status["updated"]
    # The empty namespace is accounted for, but there is nothing to download.
    assert status["files"][empty]["status"] == "skipped" and "size" not in status["files"][empty]
    assert not (run_dir / empty).exists()
    assert read_run_status(target, DATE) == published.status

    # What a downloader gets: Enterprise's NDJSON members, one article record per line.
    enwiki = run_dir / dump_file_name("enwiki", 0, DATE)
    with tarfile.open(enwiki, "r:gz") as archive:
        members = archive.getmembers()
        assert [m.name for m in members] == [f"enwiki_namespace_0_{n}.ndjson" for n in range(len(members))]
        records = [orjson.loads(line) for m in members for line in archive.extractfile(m).read().splitlines()]
    assert len(records) == status["files"][enwiki.name]["record_count"] == 4
    assert {r["is_part_of"]["identifier"] for r in records} == {"enwiki"}


def test_run_in_s3_matches_the_local_run(source, snapshot_files, object_store, tmp_path):
    s3 = S3Target(object_store, "dumps-site")
    in_s3 = publish_run(source, s3, date=DATE)
    local = LocalDirTarget(tmp_path / "site")
    publish_run(source, local, date=DATE)

    names = expected_names(snapshot_files)
    prefix = object_store.key("dumps-site", RUN_DIR) + "/"
    keys = {info.key[len(prefix) :]: info for info in object_store.list(prefix)}
    assert set(keys) == {*names, MD5SUMS_FILE, SHA256SUMS_FILE, STATUS_FILE}
    assert not any(STAGING_DIR in info.key for info in object_store.list(object_store.prefix))
    for name, files in names.items():
        head = object_store.head(prefix + name)
        assert head.size == files.archive.bytes and head.sha256 == files.archive.sha256
        assert object_store.sha256_of(prefix + name) == files.archive.sha256  # the bytes, not just the metadata
        response = object_store.client.head_object(Bucket=object_store.bucket, Key=prefix + name)
        assert response["ContentType"] == "application/gzip"
    assert in_s3.status.status == "done" and set(in_s3.status.done_files()) == set(names)

    # Same sources, same run: the sums files are identical, and the statuses differ only in their times.
    for name in (MD5SUMS_FILE, SHA256SUMS_FILE):
        assert s3.read_bytes(f"{RUN_DIR}/{name}") == local.read_bytes(f"{RUN_DIR}/{name}")
    assert s3.read_bytes(f"{RUN_DIR}/{MD5SUMS_FILE}") == sums_file(in_s3.status.files, "md5")
    in_local = read_run_status(local, DATE)
    strip = {"updated": True, "files": {"__all__": {"updated"}}}
    assert in_s3.status.model_dump(exclude=strip) == in_local.model_dump(exclude=strip)


def test_free_tier_run_takes_only_the_group_1_copies(source, snapshot_files, tmp_path):
    publish_snapshot(source, snapshot_files["frwiki_namespace_0"], date=DATE, tier="free", update_listing=False)
    target = LocalDirTarget(tmp_path / "free-site")
    published = publish_run(source, target, date=DATE, tier="free")
    name = dump_file_name("frwiki", 0, DATE)
    assert published.uploaded == [name] and list(published.status.files) == [name]
    assert published.status.files[name].source == snapshot_key(DATE, "frwiki_namespace_0", "free", "manifest")
    # One run directory holds one tier: the paid run of that date cannot be written over it.
    with pytest.raises(DumpsSiteError, match="free tier"):
        publish_run(source, target, date=DATE, tier="paid")


def test_no_snapshot_of_the_date_is_an_error(source, tmp_path):
    with pytest.raises(DumpsSiteError, match="no paid snapshot of 20250102"):
        publish_run(source, LocalDirTarget(tmp_path / "site"), date="20250102")
    assert not (tmp_path / "site").exists()


def test_names_and_paths_are_checked():
    assert dump_file_name("enwiki", 14, DATE) == "enwiki-NS14-20250101-ENTERPRISE-HTML.json.tar.gz"
    assert run_directory(DATE) == "other/enterprise_html/runs/20250101"
    for bad in ("2025-01-01", "20250230", "latest"):
        with pytest.raises(ValueError):
            run_directory(bad)
    with pytest.raises(ValueError):
        LocalDirTarget("/tmp/x").put_bytes("../escape.txt", b"")


# --- faults ----------------------------------------------------------------------------------------


def test_tampered_snapshots_are_refused_and_never_published(source, snapshot_files, tmp_path):
    # frwiki: a chunk rewritten (through the store, so its recorded sha256 is that of the new bytes):
    # the quick check sees it differs from the manifest.
    frwiki = snapshot_files["frwiki_namespace_0"]
    chunk = source.key(f"chunks/{DATE}/frwiki_namespace_0/chunk_0.tar.gz")
    tampered = bytearray(source.read_bytes(chunk))
    tampered[len(tampered) // 2] ^= 0xFF
    source.put_bytes(chunk, bytes(tampered))
    # dewiki: the archive overwritten behind the store's back keeping its size and recorded sha256: every
    # check that trusts the metadata passes; the bytes are caught as they are copied, before they are visible.
    dewiki = snapshot_files["dewiki_namespace_0"]
    archive_key = source.key(snapshot_key(DATE, dewiki.identifier, "paid"))
    damaged = bytearray(source.read_bytes(archive_key))
    damaged[len(damaged) // 2] ^= 0xFF
    source.client.put_object(
        Bucket=source.bucket, Key=archive_key, Body=bytes(damaged), Metadata={"sha256": dewiki.archive.sha256}
    )

    target = LocalDirTarget(tmp_path / "site")
    published = publish_run(source, target, date=DATE)

    refused = {dump_file_name("frwiki", 0, DATE), dump_file_name("dewiki", 0, DATE)}
    assert set(published.failed) == refused
    status = published.status
    assert status.status == "failed"  # finished, but not complete
    fr, de = (status.files[dump_file_name(db, 0, DATE)] for db in ("frwiki", "dewiki"))
    assert fr.status == "failed" and "chunk_0.tar.gz" in fr.reason and fr.sha256 is None and fr.size is None
    assert de.status == "failed" and "sha256" in de.reason and de.sha256 is None
    assert "enwiki_namespace_0" not in fr.reason  # the reason is about that snapshot only
    run_dir = tmp_path / "site" / RUN_DIR
    good = set(expected_names(snapshot_files)) - refused
    assert {p.name for p in run_dir.glob("*.tar.gz")} == good  # nothing of the refused ones, not even partial
    assert not list(run_dir.glob(".*"))
    check_sums(run_dir, good)

    # Once the snapshots are published again intact, a re-run publishes them and completes the run.
    source.delete(archive_key)  # its metadata lies, so the publisher would take it for in place
    for files in (frwiki, dewiki):
        publish_snapshot(source, files, date=DATE, update_listing=False)
    again = publish_run(source, target, date=DATE)
    assert sorted(again.uploaded) == sorted(refused) and again.failed == {}
    assert again.status.status == "done"
    check_sums(run_dir, set(expected_names(snapshot_files)))


def test_a_snapshot_that_stops_verifying_is_no_longer_listed_done(source, snapshot_files, tmp_path):
    target = LocalDirTarget(tmp_path / "site")
    publish_run(source, target, date=DATE)
    ptwiki = dump_file_name("ptwiki", 0, DATE)
    published_bytes = (tmp_path / "site" / RUN_DIR / ptwiki).read_bytes()

    source.delete(source.key(f"chunks/{DATE}/ptwiki_namespace_0/chunk_0.json"))
    published = publish_run(source, target, date=DATE)

    assert published.status.files[ptwiki].status == "failed" and "missing" in published.status.files[ptwiki].reason
    assert published.status.status == "failed" and published.uploaded == []
    # Out of the sums, but the bytes a mirror may be downloading are left alone.
    assert ptwiki not in target.read_bytes(f"{RUN_DIR}/{SHA256SUMS_FILE}").decode()
    assert (tmp_path / "site" / RUN_DIR / ptwiki).read_bytes() == published_bytes
    check_sums(tmp_path / "site" / RUN_DIR, set(expected_names(snapshot_files)) - {ptwiki})


def test_files_whose_snapshot_left_the_source_stay_listed_while_their_bytes_do(source, snapshot_files, tmp_path):
    target = LocalDirTarget(tmp_path / "site")
    first = publish_run(source, target, date=DATE)
    ptwiki = dump_file_name("ptwiki", 0, DATE)
    # Retention removes the source snapshot (manifest first, as apply_retention does): the run keeps the file.
    source.delete(source.key(snapshot_key(DATE, "ptwiki_namespace_0", "paid", "manifest")))
    again = publish_run(source, target, date=DATE)
    assert again.written == [] and again.status == first.status
    # Once the target no longer holds those bytes either, the file leaves the run.
    (tmp_path / "site" / RUN_DIR / ptwiki).unlink()
    last = publish_run(source, target, date=DATE)
    assert ptwiki not in last.status.files and last.status.status == "done"
    check_sums(tmp_path / "site" / RUN_DIR, set(expected_names(snapshot_files)) - {ptwiki})


@pytest.mark.parametrize("kind", ["local", "s3"])
def test_rerun_with_nothing_changed_writes_nothing(kind, source, snapshot_files, object_store, tmp_path):
    target = make_target(kind, object_store, tmp_path)
    first = publish_run(source, target, date=DATE)
    assert first.written[-1] == STATUS_FILE
    before = target_files(target)
    status_before = target.read_bytes(f"{RUN_DIR}/{STATUS_FILE}")

    recording = FaultyTarget(target)
    again = publish_run(source, recording, date=DATE)

    assert recording.files_written == [] and recording.bytes_written == []
    assert again.uploaded == [] and again.written == [] and again.failed == {}
    assert sorted(again.unchanged) == sorted(expected_names(snapshot_files))
    assert target_files(target) == before  # not one object or file rewritten (mtime, ETag, LastModified)
    assert target.read_bytes(f"{RUN_DIR}/{STATUS_FILE}") == status_before
    assert again.status == first.status


@pytest.mark.parametrize("kind", ["local", "s3"])
def test_upload_interrupted_half_way_is_not_done_and_a_rerun_completes(
    kind, source, snapshot_files, object_store, tmp_path
):
    target = make_target(kind, object_store, tmp_path)
    names = sorted(expected_names(snapshot_files))
    faulty = FaultyTarget(target, fail_file=3)
    with pytest.raises(ConnectionError, match="half|lost after"):
        publish_run(source, faulty, date=DATE)
    assert faulty.bytes_sent_before_failure > 0  # it really was half way through the file

    interrupted = names[2]
    status = read_run_status(target, DATE)
    assert status.status == "in-progress"
    assert [n for n in names if status.files[n].status == "done"] == names[:2]
    assert all(status.files[n].status == "in-progress" and status.files[n].sha256 is None for n in names[2:])
    assert target.size(f"{RUN_DIR}/{interrupted}") is None  # neither the file nor a partial of it
    assert target.list(RUN_DIR) == sorted([*names[:2], STATUS_FILE])  # no sums file lists anything unfinished
    if kind == "s3":
        assert not any(STAGING_DIR in info.key for info in object_store.list(object_store.prefix))
    else:
        assert not list((tmp_path / "site" / RUN_DIR).glob(".*"))

    completed = publish_run(source, target, date=DATE)
    assert completed.unchanged == names[:2] and completed.uploaded == names[2:]  # redone, the rest not re-sent
    assert completed.status.status == "done" and set(completed.status.done_files()) == set(names)
    assert completed.status.files[names[0]].updated == status.files[names[0]].updated  # entry did not change
    if kind == "local":
        check_sums(tmp_path / "site" / RUN_DIR, set(names))
    else:
        assert target.read_bytes(f"{RUN_DIR}/{MD5SUMS_FILE}") == sums_file(completed.status.files, "md5")


def test_crash_after_a_file_landed_but_before_it_was_marked_done(source, snapshot_files, tmp_path):
    target = LocalDirTarget(tmp_path / "site")
    names = sorted(expected_names(snapshot_files))
    faulty = FaultyTarget(target, fail_status_after=1)
    with pytest.raises(ConnectionError):
        publish_run(source, faulty, date=DATE)
    # The first file is complete at the target, but status.json never said so: it is not done.
    assert faulty.files_written == [names[0]]
    assert read_run_status(target, DATE).files[names[0]].status == "in-progress"

    recording = FaultyTarget(target)
    completed = publish_run(source, recording, date=DATE)
    assert names[0] in completed.unchanged and names[0] not in recording.files_written  # verified, not re-sent
    assert completed.status.status == "done"
    check_sums(tmp_path / "site" / RUN_DIR, set(names))


def test_damaged_published_file_is_redone_and_leaves_the_sums_first(source, snapshot_files, tmp_path):
    target = LocalDirTarget(tmp_path / "site")
    publish_run(source, target, date=DATE)
    run_dir = tmp_path / "site" / RUN_DIR
    names = set(expected_names(snapshot_files))
    victim = dump_file_name("simplewiki", 0, DATE)
    damaged = bytearray((run_dir / victim).read_bytes())
    damaged[100] ^= 0x01
    (run_dir / victim).write_bytes(bytes(damaged))

    # The re-copy is interrupted: by then the sums no longer vouch for the file, and its status is in-progress.
    with pytest.raises(ConnectionError):
        publish_run(source, FaultyTarget(target, fail_file=1), date=DATE)
    status = read_run_status(target, DATE)
    assert status.status == "in-progress" and status.files[victim].status == "in-progress"
    check_sums(run_dir, names - {victim})

    repaired = publish_run(source, target, date=DATE)
    assert repaired.uploaded == [victim] and repaired.status.status == "done"
    check_sums(run_dir, names)


# --- a mirror's view -------------------------------------------------------------------------------


def test_a_mirror_downloads_over_http_what_status_json_says_is_done(source, snapshot_files, tmp_path):
    root = tmp_path / "site"
    publish_run(source, LocalDirTarget(root), date=DATE)

    with serve_directory(root) as base:
        run_url = f"{base}/{RUN_DIR}"
        status = requests.get(f"{run_url}/{STATUS_FILE}", timeout=10).json()
        assert status["status"] == "done"
        sums = dict(
            reversed(line.split("  ", 1))
            for line in requests.get(f"{run_url}/{SHA256SUMS_FILE}", timeout=10).text.splitlines()
        )
        name = dump_file_name("enwiki", 0, DATE)
        entry = status["files"][name]
        assert entry["status"] == "done" and sums[name] == entry["sha256"]

        head = requests.head(base + entry["url"], timeout=10)
        assert head.status_code == 200 and int(head.headers["Content-Length"]) == entry["size"]
        digest, size = hashlib.sha256(), 0
        with requests.get(base + entry["url"], stream=True, timeout=10) as response:
            response.raise_for_status()
            for block in response.iter_content(64 * 1024):
                digest.update(block)
                size += len(block)
        assert size == entry["size"] and digest.hexdigest() == entry["sha256"] == sums[name]
        with tarfile.open(fileobj=io.BytesIO(requests.get(base + entry["url"], timeout=10).content)) as archive:
            assert archive.getnames()[0] == "enwiki_namespace_0_0.ndjson"
