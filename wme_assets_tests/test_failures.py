"""How wme fails: at once and by cause when retrying cannot help, retried and still by cause when it can.

Real servers throughout: the session's SeaweedFS, throwaway SeaweedFS servers that are stopped mid-run or
started with someone else's AWS keys in the environment, the dumps mirror over HTTP and on disk, and the
real Dagster jobs through the `wme` command (in process with typer's runner, or as a subprocess where the
retry settings must be read when the definitions load).
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import boto3
import dagster as dg
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from typer.testing import CliRunner

from wme_assets.cli import app
from wme_assets.failures import explain
from wme_assets.ingestion.errors import DumpParseError
from wme_assets.settings import EMBEDDED_ACCESS_KEY, EMBEDDED_SECRET_KEY, ConfigurationError
from wme_assets.sources.dumps_client import DumpsClient, DumpsNotFound, DumpsUnavailable
from wme_assets.storage.seaweedfs import ensure_embedded_s3, free_ports, start_seaweedfs, weed_environment
from wme_assets_tests.paths import DUMP_DATE
from wme_assets_tests.servers import serve_with_ranges

WME = str(Path(sys.executable).parent / "wme")
MULTISTREAM = f"bnwiki-{DUMP_DATE}-pages-articles-multistream.xml.bz2"


def last_line(text: str) -> str:
    return [line for line in text.splitlines() if line.strip()][-1]


@pytest.fixture
def cli_env(s3_env, monkeypatch, tmp_path):
    """The test's store and a Dagster instance of its own; what the CLI sets on its process is restored."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", EMBEDDED_ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", EMBEDDED_SECRET_KEY)
    # Unset, so wme keeps the instance under WME_HOME; set first so that the CLI's own setting is undone.
    monkeypatch.setenv("DAGSTER_HOME", "unset")
    monkeypatch.delenv("DAGSTER_HOME")
    for name in ("WME_PG_HOST", "WME_PG_PORT"):
        monkeypatch.delenv(name, raising=False)
    return s3_env


def instance_dir(env: dict[str, str]) -> Path:
    return Path(env["WME_HOME"]) / "dagster"


def runs_in(dagster_home: Path) -> list:
    if not (dagster_home / "dagster.yaml").exists():
        return []
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        return list(instance.get_runs())


@pytest.fixture
def corrupt_mirror(dumps_mirror, tmp_path) -> Path:
    """The bnwiki run of the session mirror with one byte of its multistream dump flipped."""
    root = tmp_path / "mirror"
    shutil.copytree(dumps_mirror / "bnwiki" / DUMP_DATE, root / "bnwiki" / DUMP_DATE)
    path = root / "bnwiki" / DUMP_DATE / MULTISTREAM
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    return root


# ----- deterministic: fails on the first attempt ----------------------------------------------------


@pytest.mark.integration
def test_md5_mismatch_fails_on_the_first_attempt_naming_the_file(cli_env, corrupt_mirror, monkeypatch):
    monkeypatch.setenv("WME_DUMPS_URL", corrupt_mirror.as_uri())
    started = time.monotonic()
    result = CliRunner().invoke(app, ["ingest", "bnwiki", "--date", DUMP_DATE])
    seconds = time.monotonic() - started
    assert result.exit_code == 1, result.output
    line = last_line(result.output)
    # The cause, the project and date, the file and its S3 key, on the last line.
    assert line.startswith("error: run ") and "raw_dump_files: bnwiki 20230501: " in line, line
    assert f"{MULTISTREAM} failed verification" in line and "md5 of the source is" in line, line
    assert f"s3://{cli_env['WME_S3_BUCKET']}/{cli_env['WME_S3_PREFIX']}/raw/bnwiki/{DUMP_DATE}/{MULTISTREAM}" in line
    assert "Exceeded max_retries" not in result.output
    assert "Traceback" not in result.output and "Stack Trace" not in result.output
    # One attempt: no retry in the run's events (the policy's first retry alone would wait 5 s).
    (run,) = runs_in(instance_dir(cli_env))
    with dg.DagsterInstance.from_config(str(instance_dir(cli_env))) as instance:
        events = [r.dagster_event for r in instance.all_logs(run.run_id) if r.dagster_event]
    assert not [e for e in events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY]
    assert [e.step_key for e in events if e.is_step_failure] == ["raw_dump_files"]
    assert seconds < 60


@pytest.mark.integration
def test_debug_shows_the_tracebacks_and_still_ends_on_the_cause(cli_env, corrupt_mirror, monkeypatch):
    monkeypatch.setenv("WME_DUMPS_URL", corrupt_mirror.as_uri())
    result = CliRunner().invoke(app, ["--debug", "ingest", "bnwiki", "--date", DUMP_DATE])
    assert result.exit_code == 1
    assert "Stack Trace:" in result.output and 'download.py", line' in result.output
    assert f"{MULTISTREAM} failed verification" in last_line(result.output)

    # A failure outside any run (a dumps site with no such project directory) too: traceback, then cause.
    empty = corrupt_mirror.parent / "empty-mirror"
    empty.mkdir()
    monkeypatch.setenv("WME_DUMPS_URL", empty.as_uri())
    quiet = CliRunner().invoke(app, ["ingest", "bnwiki"])
    loud = CliRunner().invoke(app, ["--debug", "ingest", "bnwiki"])
    assert quiet.exit_code == loud.exit_code == 2
    assert "Traceback" not in quiet.output and "Traceback (most recent call last)" in loud.output
    assert last_line(quiet.output) == last_line(loud.output)
    assert "bnwiki/ is not a directory of dump runs" in last_line(quiet.output)


# ----- transient: retried, then reported by its cause ---------------------------------------------------


class _StopsS3OnStatus(http.server.SimpleHTTPRequestHandler):
    """Serves the mirror; stops the S3 server as the run asks for the dump run's status (its first step)."""

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        if self.path.endswith("/dumpstatus.json"):
            self.server.s3.stop()
        super().do_GET()


@pytest.mark.integration
def test_s3_gone_mid_run_fails_naming_the_endpoint_in_bounded_time(dumps_mirror, tmp_path):
    s3 = start_seaweedfs(tmp_path / "s3")
    handler = functools.partial(_StopsS3OnStatus, directory=str(dumps_mirror))
    dumps = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    dumps.s3 = s3
    threading.Thread(target=dumps.serve_forever, daemon=True).start()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WME_", "DAGSTER_"))}
    env.update(
        WME_HOME=str(tmp_path / "home"),
        WME_S3_ENDPOINT_URL=s3.endpoint_url,
        WME_S3_CREATE_BUCKET="true",
        WME_DUMPS_URL=f"http://127.0.0.1:{dumps.server_address[1]}",
        # One retry, 1 s after the first attempt (the defaults, 3 retries from 5 s, take about a minute).
        WME_STEP_RETRIES="1",
        WME_STEP_RETRY_DELAY="1",
    )
    try:
        started = time.monotonic()
        # Through the instance and a daemon: each step process opens the store in the step, where a transient
        # failure is retried.
        done = subprocess.run(
            [WME, "ingest", "bnwiki", "--date", DUMP_DATE], env=env, capture_output=True, text=True, timeout=300
        )
        seconds = time.monotonic() - started
    finally:
        dumps.shutdown()
        dumps.server_close()
        s3.stop()
    assert done.returncode == 1, done.stdout + done.stderr
    line = last_line(done.stderr)
    assert f"dump_run_status: bnwiki {DUMP_DATE}: " in line
    assert f"S3 endpoint {s3.endpoint_url} unreachable: connection refused" in line
    assert "(transient; gave up after 2 attempts)" in line and "Exceeded max_retries" not in line
    assert "attempt 1 of 2 failed, will retry" in done.stdout + done.stderr  # retried, as a transient failure is
    output = done.stdout + done.stderr
    assert "Traceback" not in output and "Stack Trace" not in output
    # Bounded: two attempts of boto3's own retries (at most ~15 s each), the 1 s step retry, start-up: about
    # 30 s on an idle 2-core machine. The limit leaves room for a loaded one; a run that kept retrying would
    # reach the 300 s timeout.
    assert seconds < 120, seconds


@pytest.mark.integration
def test_s3_down_before_the_run_fails_at_once_naming_the_endpoint(cli_env, monkeypatch, dumps_mirror):
    (port,) = free_ports(1)
    monkeypatch.setenv("WME_S3_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("WME_DUMPS_URL", dumps_mirror.as_uri())
    started = time.monotonic()
    result = CliRunner().invoke(app, ["ingest", "bnwiki", "--date", DUMP_DATE])
    assert result.exit_code == 2 and time.monotonic() - started < 30
    line = last_line(result.output)
    assert line.startswith("error: bnwiki: S3 endpoint http://127.0.0.1:") and str(port) in line
    assert "connection refused" in line and "Traceback" not in result.output


# ----- which failures are which --------------------------------------------------------------------


def test_failures_from_real_servers_are_classified_by_what_retrying_can_do(tmp_path):
    (run_dir := tmp_path / "bnwiki" / DUMP_DATE).mkdir(parents=True)
    (run_dir / "dumpstatus.json").write_text("{}")
    with serve_with_ranges(tmp_path) as (url, server):
        client = DumpsClient(url, retries=0)
        path = f"/bnwiki/{DUMP_DATE}/dumpstatus.json"
        for status, kind, transient in (
            (503, DumpsUnavailable, True),
            (429, DumpsUnavailable, True),
            (404, DumpsNotFound, False),
        ):
            server.faults[path] = [("status", status)]
            with pytest.raises(kind) as caught:
                client.fetch_status_bytes("bnwiki", DUMP_DATE)
            cause = explain(caught.value)
            assert cause.transient is transient and f"HTTP {status}" in cause.message
    # Nothing listens there any more: a connection refused is worth retrying.
    with pytest.raises(DumpsUnavailable) as caught:
        client.fetch_status_bytes("bnwiki", DUMP_DATE)
    assert explain(caught.value).transient

    (port,) = free_ports(1)
    s3 = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id="k",
        aws_secret_access_key="s",
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}),
    )
    with pytest.raises(Exception) as caught:
        s3.get_object(Bucket="wme", Key="raw/bnwiki/x.json")
    cause = explain(caught.value)
    assert cause.transient
    assert (
        cause.message
        == f"S3 endpoint http://127.0.0.1:{port} unreachable: connection refused (s3://wme/raw/bnwiki/x.json)"
    )


def test_bad_input_and_bad_configuration_are_not_retried():
    slow_down = ClientError({"Error": {"Code": "SlowDown", "Message": "Reduce your request rate."}}, "PutObject")
    missing = ClientError({"Error": {"Code": "NoSuchKey", "Message": "gone"}}, "GetObject")
    assert explain(slow_down).transient and not explain(missing).transient
    assert not explain(DumpParseError("truncated bz2 stream", name="x.bz2")).transient
    assert not explain(ConfigurationError("WME_PROJECTS is empty")).transient
    try:  # a parse error raised while a connection error was handled is still a parse error
        try:
            raise ConnectionResetError("reset")
        except ConnectionResetError:
            raise DumpParseError("bad XML at byte 10") from None
    except DumpParseError as exc:
        assert not explain(exc).transient
    assert explain(KeyError("title")).message == "KeyError: 'title'"


# ----- dates: refused before anything runs -------------------------------------------------------------


BAD_DATES = [
    (["snapshot", "bnwiki", "--date", "20261340"], "not a calendar day"),
    (["snapshot", "bnwiki", "--date", "abc"], "not of the form YYYYMMDD"),
    (["snapshot", "bnwiki", "--date", "latest"], "not of the form YYYYMMDD"),
    (["snapshot", "bnwiki", "--date", "99991231"], "in the future"),
    (["snapshot", "bnwiki", "--date", "2023-05-01"], "not of the form YYYYMMDD"),
    (["snapshot", "bnwiki", "--date", "20221231"], "not one of them"),  # before the first partition
    (["snapshot", "bnwiki", "--tier", "free", "--date", "20230503"], "the 2nd and the 21st"),
    (["ingest", "bnwiki", "--date", "20230502"], "the 1st and the 20th"),
    (["ingest", "bnwiki", "--date", "2023-05-01"], "'latest' or YYYYMMDD"),
    (["demo", "--date", "99991231"], "in the future"),
    (["publish", "bnwiki", "--date", "20230503"], "the 2nd and the 21st"),
    (["publish", "bnwiki", "--date", "20230231"], "not a calendar day"),
    (["backfill", "--failed", "--since", "2023-13-01"], "YYYY-MM-DD (or YYYYMMDD)"),
    (["backfill", "--failed", "--since", "99991231"], "in the future"),
]


@pytest.mark.parametrize(("args", "reason"), BAD_DATES, ids=[" ".join(a) for a, _ in BAD_DATES])
def test_bad_dates_are_refused_before_any_work(args, reason, monkeypatch, tmp_path):
    # No server at all: the refusal must come before the embedded S3 starts or Dagster is touched.
    home = tmp_path / "home"
    monkeypatch.setenv("WME_HOME", str(home))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    line = last_line(result.output)
    assert line.startswith("error: --") and reason in line, line
    assert "real calendar day, not in the future" in line
    if "snapshot" in args and "--tier" not in args:
        assert "paid-tier snapshots exist for every day: 20230101 to " in line
    assert "Traceback" not in result.output and "running job" not in result.output
    assert not home.exists() and runs_in(home / "dagster") == []


@pytest.mark.integration
def test_no_unknown_partition_reaches_dagster(cli_env, monkeypatch, tmp_path):
    from wme_assets.instance import prepare_dagster_home
    from wme_assets.pipeline import run_partition
    from wme_assets.settings import load_settings

    prepare_dagster_home(load_settings())  # an instance to run in, as the CLI prepares it

    with pytest.raises(ConfigurationError, match="no partition for 20230502"):
        run_partition("ingest", project="bnwiki", date="20230502")
    with pytest.raises(ConfigurationError, match="in the future"):
        run_partition("paid_snapshot_job", project="bnwiki", date="99991231")
    with pytest.raises(ConfigurationError, match="'xxwiki' is not in Wikimedia's site matrix"):
        run_partition("ingest", project="xxwiki", date=DUMP_DATE)
    assert runs_in(instance_dir(cli_env)) == []


# ----- the embedded S3 and the shell's AWS keys -----------------------------------------------------


@pytest.mark.integration
def test_embedded_mode_ignores_the_shells_aws_keys(dumps_mirror, tmp_path):
    (s3_port,) = free_ports(1)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WME_", "AWS_", "DAGSTER_"))}
    env.update(
        WME_HOME=str(tmp_path / "home"),
        WME_EMBEDDED_S3_PORT=str(s3_port),
        WME_DUMPS_URL=dumps_mirror.as_uri(),
        # Someone's keys for another S3, as a shell may hold them.
        AWS_ACCESS_KEY_ID="AKIAIOSFODNN7EXAMPLE",
        AWS_SECRET_ACCESS_KEY="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        AWS_SESSION_TOKEN="not-for-this-server",
    )
    try:
        done = subprocess.run(
            [WME, "ingest", "bnwiki", "--date", DUMP_DATE], env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"with wme's built-in key pair (access key '{EMBEDDED_ACCESS_KEY}'); AWS_ACCESS_KEY_ID, " in done.stdout
        assert f"page_store: s3://wme/pages/bnwiki/{DUMP_DATE}/" in done.stdout
        log = (tmp_path / "home" / "seaweedfs" / "weed.log").read_text(errors="replace")
        assert "AWS environment variables" not in log and "AKIAIOSFODNN7EXAMPLE" not in log
    finally:
        subprocess.run([WME, "services", "stop"], env=env, capture_output=True, timeout=60)


def test_weed_runs_without_any_aws_variable():
    clean = weed_environment({"AWS_ACCESS_KEY_ID": "a", "AWS_PROFILE": "p", "PATH": "/bin", "HOME": "/root"})
    assert clean == {"PATH": "/bin", "HOME": "/root"}


@pytest.mark.integration
def test_an_embedded_server_that_refuses_wmes_keys_is_restarted(tmp_path):
    # As an older wme left it: SeaweedFS running under WME_HOME with another identity than wme's.
    home = tmp_path / "home"
    (port,) = free_ports(1)
    other = start_seaweedfs(home / "seaweedfs" / "data", s3_port=port, access_key="someone", secret_key="else")
    (home / "seaweedfs" / "server.json").write_text(
        json.dumps({"pid": other.pid, "data_dir": other.data_dir, "ports": other.ports, "log_path": other.log_path})
    )
    server = ensure_embedded_s3(home, s3_port=port)
    try:
        assert server.pid != other.pid and server.endpoint_url == f"http://127.0.0.1:{port}"
        client = boto3.client(
            "s3",
            endpoint_url=server.endpoint_url,
            aws_access_key_id=EMBEDDED_ACCESS_KEY,
            aws_secret_access_key=EMBEDDED_SECRET_KEY,
            region_name="us-east-1",
        )
        client.create_bucket(Bucket="wme")
        assert [b["Name"] for b in client.list_buckets()["Buckets"]] == ["wme"]
    finally:
        server.stop()
        other.stop()
