"""The shared helpers of wme_assets.util: dates, digests, the retrying HTTP session."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import pytest

from wme_assets.util.dates import check_yyyymmdd, is_yyyymmdd, midnight_utc
from wme_assets.util.digests import DigestReader, file_digests, file_sha256
from wme_assets.util.http import retrying_session


@pytest.mark.parametrize("value", ["20230501", "20240229", "19991231"])
def test_real_days_pass(value):
    assert check_yyyymmdd(value) == value and is_yyyymmdd(value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2023-05-01", "run date must be YYYYMMDD, got '2023-05-01'"),
        ("abc", "run date must be YYYYMMDD, got 'abc'"),
        (None, "run date must be YYYYMMDD, got None"),
        ("20261340", "run date '20261340' is not a calendar date"),
        ("20230229", "run date '20230229' is not a calendar date"),
    ],
)
def test_bad_dates_say_what_they_should_be(value, message):
    assert not is_yyyymmdd(value)
    with pytest.raises(LookupError) as error:
        check_yyyymmdd(value, "run date", LookupError)
    assert str(error.value) == message


def test_midnight_utc():
    assert midnight_utc("20250101").timestamp() == 1735689600


def test_file_and_stream_digests_agree(tmp_path):
    data = bytes(range(256)) * 50_000  # 12.8 MB: more than one read
    path = tmp_path / "f"
    path.write_bytes(data)
    sha, md5 = hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest()
    assert file_digests(path) == (sha, md5, len(data))
    assert file_sha256(path) == sha
    reader = DigestReader(data[i : i + 7000] for i in range(0, len(data), 7000))
    assert reader.read(10) == data[:10]
    reader.drain()
    assert (reader.sha256.hexdigest(), reader.md5.hexdigest(), reader.bytes) == (sha, md5, len(data))


def test_session_retries_server_errors_and_reads_files(tmp_path):
    session = retrying_session(3, 0.5, files=True, user_agent="ua")
    retry = session.get_adapter("https://example.org").max_retries
    assert (retry.total, retry.backoff_factor, retry.raise_on_status) == (3, 0.5, False)
    assert 503 in retry.status_forcelist and 429 in retry.status_forcelist
    (tmp_path / "a.txt").write_text("x")
    assert session.get((tmp_path / "a.txt").as_uri()).text == "x"
    assert session.headers["User-Agent"] == "ua"


# --- workers: CPUs from the affinity mask and a container's quota ------------------------------------


def test_available_cpus_follows_a_cgroup_v2_quota(tmp_path):
    from wme_assets.util.workers import available_cpus

    host = len(os.sched_getaffinity(0))
    (tmp_path / "cpu.max").write_text("150000 100000\n")  # 1.5 CPUs: two workers, the second half-used
    assert available_cpus(tmp_path) == min(host, 2)
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert available_cpus(tmp_path) == host


def test_available_cpus_follows_a_cgroup_v1_quota(tmp_path):
    from wme_assets.util.workers import available_cpus

    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("100000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert available_cpus(tmp_path) == 1
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")  # v1's "unlimited"
    assert available_cpus(tmp_path) == len(os.sched_getaffinity(0))


def test_available_cpus_on_this_machine_is_at_most_the_host_count():
    from wme_assets.util.workers import available_cpus

    assert 1 <= available_cpus() <= (os.cpu_count() or 1)


# A child subreaper runs a process that used a worker pool, waits for it, then counts what is left of its tree.
_SUBREAPER_DRIVER = """
import ctypes, pathlib, subprocess, sys
assert ctypes.CDLL(None).prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER: orphans come to us
subprocess.run([sys.executable, "-c", sys.argv[1]], check=True)
left = [p for t in pathlib.Path("/proc/self/task").iterdir() for p in (t / "children").read_text().split()]
print(len(left))
"""
_POOL_USER = """
from wme_assets.util.workers import worker_context
with worker_context().Pool(2) as pool:
    assert pool.map(abs, [-1, -2, -3]) == [1, 2, 3]
"""


def test_no_worker_helper_process_outlives_the_process_that_used_a_pool():
    import subprocess
    import sys

    from wme_assets_tests.paths import REPO_ROOT

    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", _SUBREAPER_DRIVER, _POOL_USER], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0"  # the fork server and the resource tracker were stopped before the exit


@pytest.mark.parametrize(("preset", "expected"), [(None, "system"), ("mimalloc", "mimalloc")])
def test_arrow_allocates_with_the_c_library_unless_the_operator_chose(preset, expected, tmp_path):
    """Importing wme makes Arrow use the C library's allocator in this process and its workers (a spawned
    child, as the worker pools start them), unless ARROW_DEFAULT_MEMORY_POOL was set."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    if preset:
        env["ARROW_DEFAULT_MEMORY_POOL"] = preset
    script = (
        "import multiprocessing, wme_assets, pyarrow as pa\n"
        "def pool(_=None):\n"
        "    import pyarrow as pa\n"
        "    return pa.default_memory_pool().backend_name\n"
        "if __name__ == '__main__':\n"
        "    with multiprocessing.get_context('spawn').Pool(1) as workers:\n"
        "        print(pool(), workers.apply(pool))\n"
    )
    (tmp_path / "pools.py").write_text(script)  # a file: spawned workers import the main module
    out = subprocess.run(
        [sys.executable, str(tmp_path / "pools.py")], env=env, capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.split() == [expected, expected]


def test_threads_share_two_malloc_arenas(tmp_path):
    """Importing wme caps glibc's arenas: eight threads allocating at once use at most two (without the cap,
    one each). Counted from glibc's own malloc_info report."""
    import subprocess
    import sys

    script = (
        "import ctypes, sys, threading, wme_assets\n"
        "libc = ctypes.CDLL('libc.so.6')\n"
        "libc.fopen.restype = ctypes.c_void_p\n"
        "go = threading.Barrier(8)\n"
        "def allocate():\n"
        "    go.wait()\n"
        "    kept = [bytes(4096) for _ in range(2000)]\n"
        "threads = [threading.Thread(target=allocate) for _ in range(8)]\n"
        "[t.start() for t in threads]; [t.join() for t in threads]\n"
        "out = libc.fopen(sys.argv[1].encode(), b'w')\n"
        "libc.malloc_info(0, ctypes.c_void_p(out)); libc.fclose(ctypes.c_void_p(out))\n"
    )
    report = str(tmp_path / "malloc.xml")
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    subprocess.run([sys.executable, "-c", script, report], env=env, check=True, timeout=60)
    heaps = (tmp_path / "malloc.xml").read_text().count("<heap nr=")
    assert 1 <= heaps <= 2, heaps
    # The same without wme's cap: more arenas, so the count above is the cap's doing.
    subprocess.run([sys.executable, "-c", script.replace(", wme_assets", ""), report], env=env, check=True, timeout=60)
    assert (tmp_path / "malloc.xml").read_text().count("<heap nr=") > 2


_FAULTS_OF_FREED_BLOCKS = """
import pickle, resource, sys
if sys.argv[1] == "wme":
    import wme_assets  # noqa: F401 - tunes glibc's malloc for this process
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for batch in range(20):  # as a pool's batches: 100 articles of 60-160 KB, pickled, sent, unpickled, freed
    articles = [bytes(60_000 + 997 * i) for i in range(100)]
    sent = pickle.dumps(articles)
    del articles
    received = pickle.loads(sent)
    del sent, received
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="glibc's mallopt")
def test_importing_wme_keeps_freed_memory_for_reuse():
    """By default glibc maps blocks of this size afresh and hands them back to the kernel once freed, so each
    of 20 batches of 11 MB faults in its pages again (about 150,000 faults in all); kept for reuse, the
    first batch's pages serve every later one."""

    def faults(mode: str) -> int:
        done = subprocess.run([sys.executable, "-c", _FAULTS_OF_FREED_BLOCKS, mode], capture_output=True,
                              text=True, check=True)
        return int(done.stdout)

    default, reused = faults("default"), faults("wme")
    assert default > 100_000, default
    assert reused < 20_000, reused
