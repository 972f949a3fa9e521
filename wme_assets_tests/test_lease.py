"""One writer per output: the lease on real PostgreSQL and real flock, across processes, and two concurrent
`wme snapshot` runs of one partition, of which exactly one publishes.

Holders run in child processes that are SIGKILLed: nothing is faked, the kernel and the server release.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import dagster as dg
import pytest

from wme_assets.settings import Settings
from wme_assets.snapshots.manifest import SnapshotManifest
from wme_assets.snapshots.publish import verify_published
from wme_assets.storage import open_object_store
from wme_assets.storage.lease import (
    HOLDERS_TABLE,
    SHARED_OUTPUT_WAIT,
    Holder,
    LeaseLost,
    LeaseRefused,
    PostgresLock,
    lease_key,
    lease_path,
    raw_lease,
    snapshot_lease,
    writer_lease,
)
from wme_assets.storage.object_store import ObjectStoreError
from wme_assets_tests import partitions
from wme_assets_tests.paths import DUMP_DATE, REPO_ROOT

NAME = snapshot_lease("articles", "paid", "bnwiki")
SCOPE = "wme-test/t-lease/"
WME = str(Path(sys.executable).parent / "wme")


def _env(tmp_path: Path, postgres=None) -> dict[str, str]:
    """wme's variables for the lease: a home, and PostgreSQL for the deployment shape."""
    return {"WME_HOME": str(tmp_path / "home"), **(postgres.env() if postgres is not None else {})}


def _settings(env: dict[str, str]) -> Settings:
    return Settings(**{name.removeprefix("WME_").lower(): value for name, value in env.items()})


def _hold_in_child(env: dict[str, str], run_id: str, seconds: float = 300) -> subprocess.Popen:
    """A process that takes the lease, says so on stdout, and holds it for ``seconds`` (or until killed)."""
    script = textwrap.dedent(
        f"""
        import time
        from wme_assets.settings import load_settings
        from wme_assets.storage.lease import writer_lease
        with writer_lease(load_settings(), {NAME!r}, scope={SCOPE!r}, run_id={run_id!r}, wait=0):
            print("held", flush=True)
            time.sleep({seconds})
        """
    )
    child_env = {**os.environ, **env, "PYTHONPATH": str(REPO_ROOT)}
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=child_env)
    assert child.stdout.readline().strip() == "held", "the holder did not take the lease"
    return child


def _kill(child: subprocess.Popen) -> None:
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL


def _refused(settings: Settings, wait: float = 0.5) -> LeaseRefused:
    started = time.monotonic()
    with pytest.raises(LeaseRefused) as refused, writer_lease(settings, NAME, scope=SCOPE, run_id="run-B", wait=wait):
        pytest.fail("a second writer got the lease")
    assert wait <= time.monotonic() - started < wait + 5, "refused without waiting, or waited far too long"
    return refused.value


def _assert_names(refusal: LeaseRefused, child: subprocess.Popen, run_id: str) -> None:
    assert refusal.holder is not None
    assert (refusal.holder.pid, refusal.holder.run_id, refusal.holder.host) == (child.pid, run_id, socket.gethostname())
    message = str(refusal)
    assert f"{NAME} (in s3://{SCOPE}) is being written by another run" in message
    assert (
        f"Dagster run {run_id}, pid {child.pid} on host {socket.gethostname()}, since {refusal.holder.since}" in message
    )
    assert "WME_LEASE_WAIT" in message


# ----- names ------------------------------------------------------------------------------------------


def test_lease_keys_are_stable_64_bit_and_scoped():
    # The same on every machine and in every process: a fixed value, not Python's salted hash().
    assert lease_key("wme/", "articles/bnwiki") == lease_key("wme/", "articles/bnwiki") == 1635558144450762303
    assert lease_key("wme/prod/", "articles/bnwiki") != lease_key("wme/", "articles/bnwiki")
    assert -(2**63) <= lease_key("", NAME) < 2**63


def test_lease_files_stay_under_the_home(tmp_path):
    assert lease_path(tmp_path, "wme/", raw_lease("bnwiki", DUMP_DATE)) == (
        tmp_path / "leases" / "wme" / "raw" / "bnwiki" / f"{DUMP_DATE}.lock"
    )
    assert lease_path(tmp_path, "b/", "../../x").is_relative_to(tmp_path / "leases")


def test_a_shared_output_is_queued_for_and_the_setting_waits_otherwise(tmp_path):
    # The dumps-site run of a date and the Hugging Face dataset are written by every project in turn.
    settings = Settings(home=tmp_path, lease_wait=0)
    assert writer_lease(settings, NAME, scope=SCOPE).wait == 0
    assert writer_lease(settings, NAME, scope=SCOPE, shared=True).wait == SHARED_OUTPUT_WAIT
    longer = Settings(home=tmp_path, lease_wait=2 * SHARED_OUTPUT_WAIT)
    assert writer_lease(longer, NAME, scope=SCOPE, shared=True).wait == 2 * SHARED_OUTPUT_WAIT
    assert Settings().lease_wait == 600


# ----- embedded: flock under WME_HOME ------------------------------------------------------------------


def test_flock_second_process_refused_naming_holder_then_free_when_holder_killed(tmp_path):
    env = _env(tmp_path)
    settings = _settings(env)
    child = _hold_in_child(env, "run-A")
    try:
        refusal = _refused(settings)
        _assert_names(refusal, child, "run-A")
        assert f"flock on {lease_path(settings.home_dir, SCOPE, NAME)}" in str(refusal)
    finally:
        _kill(child)
    # kill -9 closed the holder's descriptor: the lock is free, and its stale record names nobody.
    with writer_lease(settings, NAME, scope=SCOPE, run_id="run-B", wait=0) as lease:
        assert lease.holder.pid == os.getpid()


def test_flock_waiter_gets_the_lease_once_the_holder_ends(tmp_path):
    env = _env(tmp_path)
    settings = _settings(env)
    child = _hold_in_child(env, "run-A", seconds=1.5)
    heard: list[str] = []
    started = time.monotonic()
    with writer_lease(settings, NAME, scope=SCOPE, run_id="run-B", wait=60, log=heard.append) as lease:
        assert lease.holder.run_id == "run-B"
    assert 0.5 < time.monotonic() - started < 30
    assert child.wait(timeout=30) == 0
    assert heard == [
        f"waiting up to 60 s for {NAME}, held by Dagster run run-A, pid {child.pid} on host "
        f"{socket.gethostname()}, since {heard[0].rsplit('since ', 1)[1]}"
    ]


def test_flock_lease_whose_file_was_removed_reports_it_lost(tmp_path):
    settings = _settings(_env(tmp_path))
    with pytest.raises(LeaseLost, match="ended while it was being written"):
        with writer_lease(settings, NAME, scope=SCOPE, wait=0):
            lease_path(settings.home_dir, SCOPE, NAME).unlink()  # a new writer could now lock a new file


# ----- deployment: PostgreSQL advisory lock ------------------------------------------------------------


def test_postgres_second_process_refused_naming_holder_then_free_when_holder_killed(postgres, tmp_path):
    env = _env(tmp_path, postgres)
    settings = _settings(env)
    child = _hold_in_child(env, "run-A")
    try:
        refusal = _refused(settings)
        _assert_names(refusal, child, "run-A")
        assert f"PostgreSQL advisory lock {lease_key(SCOPE, NAME)} in database {postgres.db}" in str(refusal)
        with postgres.connect() as conn, conn.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                (f"wme lease {child.pid}@{socket.gethostname()}"[:63],),
            )
            assert cursor.fetchone() == (1,), "the holder's session is not named in pg_stat_activity"
    finally:
        _kill(child)
    # The server ends the session of a killed process (its socket closed), and the lock with it. The holder's
    # row is still there, but it names nobody: it is joined with the backend that holds the lock.
    lock = PostgresLock(settings, lease_key(SCOPE, NAME), SCOPE + NAME)
    try:
        deadline = time.monotonic() + 10
        while not lock.try_acquire():
            assert time.monotonic() < deadline, "the killed holder's lock was not released"
            time.sleep(0.1)
        lock.release()
        assert lock.holder() is None
        assert lock._execute(f"SELECT pid FROM {HOLDERS_TABLE} WHERE lock_key = %s", (lock.key,)) == [(child.pid,)]
    finally:
        lock.close()
    with writer_lease(settings, NAME, scope=SCOPE, run_id="run-B", wait=0) as lease:
        assert lease.holder == Holder(socket.gethostname(), os.getpid(), "run-B", lease.holder.since)


def test_postgres_lease_whose_session_was_ended_reports_it_lost(postgres, tmp_path):
    settings = _settings(_env(tmp_path, postgres))
    with pytest.raises(LeaseLost, match="another run may have written it"):
        with writer_lease(settings, NAME, scope=SCOPE, wait=0):
            with postgres.connect() as conn, conn.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                    (f"wme lease {os.getpid()}@{socket.gethostname()}"[:63],),
                )
                assert cursor.fetchone() == (True,)
            # The lock is free at once for another writer.
            with writer_lease(settings, NAME, scope=SCOPE, wait=5):
                pass


def test_asset_refused_by_the_lease_fails_once_naming_the_holder(postgres, s3_env, dumps_url, monkeypatch, tmp_path):
    """Deployment shape (instance and lease on PostgreSQL): the refusal fails the step without a retry."""
    import shutil

    for name, value in {**postgres.env(), "WME_DUMPS_URL": dumps_url, "WME_LEASE_WAIT": "1"}.items():
        monkeypatch.setenv(name, value)
    home = tmp_path / "dagster-home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "infra" / "dagster.yaml", home / "dagster.yaml")  # the deployment instance
    from wme_assets.definitions import defs

    job = defs().resolve_job_def("ingest")
    store = open_object_store(Settings())
    scope = f"{store.bucket}/{store.prefix}"
    partition = dg.MultiPartitionKey({"date": DUMP_DATE, "project": "bnwiki"})
    with (
        dg.DagsterInstance.from_config(str(home)) as instance,
        writer_lease(Settings(), raw_lease("bnwiki", DUMP_DATE), scope=scope, run_id="the-holder", wait=0),
    ):
        result = job.execute_in_process(
            instance=partitions.with_projects(instance, "bnwiki"), partition_key=partition, raise_on_error=False
        )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    assert failure.step_key == "dump_run_status"
    message = failure.event_specific_data.error.message
    assert (
        f"raw/bnwiki/{DUMP_DATE} (in s3://{scope}) is being written by another run: Dagster run the-holder, "
        f"pid {os.getpid()} on host {socket.gethostname()}" in message
    )
    assert not [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY]
    assert not list(store.list(store.key(f"raw/bnwiki/{DUMP_DATE}") + "/")), "written without the lease"


# ----- the finding: two `wme snapshot` of one partition at once ----------------------------------------


PUBLISHED_TOPS = ("snapshots", "chunks", "structured-snapshots", "structured-chunks")


class PublishedWatcher(threading.Thread):
    """Lists the dated folders of the published layout over and over, reading each object version it sees
    (by ETag), so that afterwards every byte a consumer could have read is checked against the manifests."""

    def __init__(self, store, date: str):
        super().__init__(daemon=True)
        self.store, self.date = store, date
        self.seen: dict[tuple[str, str], str] = {}  # (key, etag) -> sha256 of the bytes read
        self.polls = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            self.poll()
            time.sleep(0.05)

    def stop(self) -> PublishedWatcher:
        self._halt.set()
        self.join(timeout=120)
        return self

    def poll(self) -> None:
        for top in PUBLISHED_TOPS:
            for info in self.store.list(self.store.key(top, self.date) + "/"):
                key = info.key[len(self.store.prefix) :]
                if (key, info.etag) in self.seen:
                    continue
                try:
                    data = self.store.read_bytes(info.key)
                except ObjectStoreError as exc:
                    if "NoSuchKey" in str(exc):
                        continue  # replaced or removed between the listing and the read
                    raise
                self.seen[(key, info.etag)] = hashlib.sha256(data).hexdigest()
        self.polls += 1


def published_digests(store, date: str) -> dict[str, str]:
    """key -> sha256 of every object the date's published manifests name, and of each manifest."""
    expected: dict[str, str] = {}
    for top in ("snapshots", "structured-snapshots"):
        for info in store.list(store.key(top, date) + "/"):
            if not info.key.endswith(".manifest.json"):
                continue
            data = store.read_bytes(info.key)
            expected[info.key[len(store.prefix) :]] = hashlib.sha256(data).hexdigest()
            manifest = SnapshotManifest.from_json(data)
            for entry in [manifest.archive, *manifest.chunks]:
                expected[entry.key] = entry.sha256
                expected[entry.metadata.key] = entry.metadata.sha256
    return expected


class _TricklingDumps(http.server.SimpleHTTPRequestHandler):
    """The dumps mirror, whose pages file trickles (4 KiB every 0.2 s) until the server's ``gate`` opens."""

    def copyfile(self, source, outputfile):
        if not self.path.endswith("-pages-articles-multistream.xml.bz2"):
            return super().copyfile(source, outputfile)
        while not self.server.gate.is_set():
            chunk = source.read(4096)
            if not chunk:
                return None
            outputfile.write(chunk)
            time.sleep(0.2)
        return shutil.copyfileobj(source, outputfile)

    def log_message(self, format, *args):
        pass


@contextlib.contextmanager
def trickling_dumps(directory: Path):
    """Serve the dumps mirror, the pages file slowed until ``server.gate.set()``: (url, server)."""
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_TricklingDumps, directory=str(directory))
    )
    server.gate = threading.Event()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server
    finally:
        server.gate.set()
        server.shutdown()
        server.server_close()


@pytest.mark.integration
def test_two_concurrent_snapshot_commands_one_publishes_the_other_is_refused(s3_env, dumps_mirror, tmp_path):
    """Embedded shape (SQLite instance, flock). Without the lease both runs rewrite the same chunks and neither
    snapshot verifies. Started together, the two meet on the first output they both write (the raw zone); with
    no wait, the one that comes second fails there, and the other runs alone to the end.

    The run queue starts the two runs seconds apart, and on a fast machine the raw zone takes less than that to
    write, so meeting is made certain: the dumps site sends the pages file slowly (a slow mirror) until one
    command has ended. Whichever run downloads it holds the raw zone's lease all that time."""
    with trickling_dumps(dumps_mirror) as (dumps_url, dumps):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("WME_", "DAGSTER_"))}
        # Small members make many chunks, so the export, the longest step, is long too.
        env.update(
            s3_env, WME_DUMPS_URL=dumps_url, WME_LEASE_WAIT="0", WME_PARSE_WORKERS="1",
            WME_SNAPSHOT_MEMBER_BYTES="20000",
        )
        # The Dagster instance (SQLite) exists before the two start, as on any machine that ran wme before.
        ready = subprocess.run(
            [WME, "backfill", "--failed", "--dry-run"], env=env, capture_output=True, text=True, timeout=120
        )
        assert ready.returncode == 0, ready.stdout + ready.stderr
        command = [WME, "snapshot", "bnwiki", "--date", DUMP_DATE]
        store = open_object_store(Settings())  # s3_env is this process's environment too
        watcher = PublishedWatcher(store, DUMP_DATE)
        watcher.start()
        logs = [tmp_path / f"command-{i}.log" for i in range(2)]
        runs = [
            subprocess.Popen(command, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, text=True)
            for log in logs
        ]
        try:
            deadline = time.monotonic() + 480
            while all(run.poll() is None for run in runs) and time.monotonic() < deadline:
                time.sleep(0.2)
            dumps.gate.set()  # one command has ended: the other's download goes on at full speed
            for run in runs:
                run.wait(timeout=max(1.0, deadline - time.monotonic()))
        finally:
            for run in runs:
                if run.poll() is None:
                    run.kill()
            watcher.stop()
    outputs = [log.read_text() for log in logs]
    codes = [run.returncode for run in runs]
    assert sorted(codes) == [0, 1], "\n\n".join(outputs)  # 1: a run failed (2: bad configuration)
    winner, loser = (0, 1) if codes[0] == 0 else (1, 0)
    assert "is being written by another run" in outputs[loser], outputs[loser]
    assert f" on host {socket.gethostname()}, since " in outputs[loser], outputs[loser]
    # The holder named is one of the winner's runs (its Dagster run id is in the instance).
    instance = dg.DagsterInstance.from_config(str(Path(s3_env["WME_HOME"]) / "dagster"))
    try:
        winner_runs = {r.run_id for r in instance.get_runs() if r.status == dg.DagsterRunStatus.SUCCESS}
    finally:
        instance.dispose()
    # (The holder's pid is the step process the daemon launched for that run, not the winning command's.)
    named = [run_id for run_id in winner_runs if f"by another run: Dagster run {run_id}, pid " in outputs[loser]]
    assert named, outputs[loser]
    # What was published at the dated path is one snapshot, whole: every file matches its manifest.
    manifest = f"snapshots/{DUMP_DATE}/bnwiki_namespace_0.manifest.json"
    assert store.exists(store.key(manifest))
    assert verify_published(store, store.uri(store.key(manifest)), deep=True) == []
    # Nothing unverified was visible at any point: every object version seen at a published key while the
    # two ran is, byte for byte, what the final manifests name.
    expected = published_digests(store, DUMP_DATE)
    assert watcher.polls > 10 and len(expected) > 700
    unexpected = {key: digest for (key, _), digest in watcher.seen.items() if expected.get(key) != digest}
    assert unexpected == {}, sorted(unexpected)[:5]
    verified = subprocess.run(
        [WME, "snapshot", "verify", store.uri(store.key(f"snapshots/{DUMP_DATE}/"))],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
