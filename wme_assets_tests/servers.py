"""Real servers for the test session: a throwaway PostgreSQL cluster, and helpers to serve files over HTTP.

PostgreSQL comes from the machine's binaries (``/usr/lib/postgresql/<v>/bin`` on Debian, or ``pg_ctl`` on
PATH). ``initdb`` refuses to run as root, so under root the cluster is created and run as the ``postgres``
(or ``nobody``) user in a directory that user owns.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from wme_assets.settings import EMBEDDED_ACCESS_KEY, EMBEDDED_SECRET_KEY
from wme_assets.storage.object_store import ObjectStore
from wme_assets.storage.seaweedfs import SeaweedServer, free_ports

TEST_BUCKET = "wme-test"

# The fixtures that start a real server (SeaweedFS, PostgreSQL, MediaWiki, an HTTP dumps site). A test that
# uses one, directly or through another fixture, is an integration test: conftest marks it so, and the
# fixtures refuse to start under `-m "not integration"`.
SERVER_FIXTURES = frozenset({"seaweedfs", "postgres", "mediawiki", "dumps_url"})


def refuse_outside_integration(request, what: str) -> None:
    """Fail loudly when a server would start in a run that selected `not integration`."""
    if "not integration" in (request.config.option.markexpr or ""):
        raise RuntimeError(f"{what} started under -m {request.config.option.markexpr!r}: mark the test integration")


def new_test_store(seaweedfs: SeaweedServer) -> ObjectStore:
    """A store on the session's SeaweedFS, under a prefix of its own so tests never see each other."""
    store = ObjectStore(
        bucket=TEST_BUCKET,
        prefix=f"t-{uuid.uuid4().hex[:12]}",
        endpoint_url=seaweedfs.endpoint_url,
        access_key=EMBEDDED_ACCESS_KEY,
        secret_key=EMBEDDED_SECRET_KEY,
    )
    store.check_bucket(create=True)
    return store


def postgres_bin_dir() -> Path:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).parent)
    for candidate in candidates:
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    raise RuntimeError(
        "no PostgreSQL server binaries found (initdb, pg_ctl): install them with "
        "`apt-get install postgresql` (Debian) or put their directory on PATH"
    )


@dataclass
class PostgresCluster:
    bin_dir: Path
    data_dir: Path
    host: str
    port: int
    user: str
    password: str
    db: str
    run_as: str | None

    def env(self) -> dict[str, str]:
        return {
            "WME_PG_HOST": self.host,
            "WME_PG_PORT": str(self.port),
            "WME_PG_USER": self.user,
            "WME_PG_PASSWORD": self.password,
            "WME_PG_DB": self.db,
        }

    def connect(self, **overrides):
        import psycopg2

        params = dict(host=self.host, port=self.port, user=self.user, password=self.password, dbname=self.db)
        params.update(overrides)
        return psycopg2.connect(**params)

    def stop(self) -> None:
        _run(self, ["pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop"], check=False)
        shutil.rmtree(self.data_dir.parent, ignore_errors=True)


def _run(cluster_or_user, command: list[str], check: bool = True, bin_dir: Path | None = None):
    run_as = cluster_or_user.run_as if isinstance(cluster_or_user, PostgresCluster) else cluster_or_user
    bin_dir = bin_dir or cluster_or_user.bin_dir
    command = [str(bin_dir / command[0]), *command[1:]]
    if run_as:
        command = ["runuser", "-u", run_as, "--", *command]
    return subprocess.run(command, check=check, capture_output=True, text=True)


def start_postgres(user: str = "wme", password: str = "wme-test-password", db: str = "dagster") -> PostgresCluster:
    """initdb + pg_ctl start on a free loopback port, password (SCRAM) authentication only."""
    bin_dir = postgres_bin_dir()
    run_as = None
    if os.geteuid() == 0:
        run_as = "postgres" if _user_exists("postgres") else "nobody"
    root = Path(tempfile.mkdtemp(prefix="wme-pg-"))
    data_dir = root / "data"
    pwfile = root / "pwfile"
    pwfile.write_text(password + "\n")
    if run_as:
        account = pwd.getpwnam(run_as)
        os.chown(root, account.pw_uid, account.pw_gid)
        os.chown(pwfile, account.pw_uid, account.pw_gid)
    result = _run(
        run_as,
        ["initdb", "-D", str(data_dir), "-U", user, f"--pwfile={pwfile}", "--auth=scram-sha-256",
         "--encoding=UTF8", "--locale=C.UTF-8"],
        check=False,
        bin_dir=bin_dir,
    )
    if result.returncode != 0:
        raise RuntimeError(f"initdb failed: {result.stderr}")
    (port,) = free_ports(1)
    options = f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={root} -c fsync=off"
    cluster = PostgresCluster(bin_dir, data_dir, "127.0.0.1", port, user, password, db, run_as)
    result = _run(cluster, ["pg_ctl", "-D", str(data_dir), "-o", options, "-l", str(root / "log"), "-w", "start"],
                  check=False)
    if result.returncode != 0:
        log = (root / "log").read_text(errors="replace") if (root / "log").exists() else ""
        raise RuntimeError(f"pg_ctl start failed: {result.stderr}\n{log}")
    conn = cluster.connect(dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{db}"')
    conn.close()
    return cluster


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@contextlib.contextmanager
def serve_directory(directory: Path):
    """Serve a directory over HTTP on a free loopback port (the stdlib's static file server)."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def wait_for_port(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def wait_until(predicate, timeout: float, what: str, interval: float = 0.5):
    """``predicate()``'s first truthy value, polled every ``interval``; fails naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"{what} within {timeout:.0f} s")


def start_dagster_daemon(env: dict[str, str], log: Path | None = None) -> subprocess.Popen:
    """``dagster-daemon run`` on the repository's workspace, in its own process group (which its code server
    and the run workers that server starts join), so a test can kill the lot."""
    import sys

    from wme_assets_tests.paths import REPO_ROOT

    command = [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", str(REPO_ROOT / "workspace.yaml")]
    if log is None:
        return subprocess.Popen(command, cwd=REPO_ROOT, env=env, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    with log.open("wb") as out:
        return subprocess.Popen(command, cwd=REPO_ROOT, env=env, start_new_session=True,
                                stdout=out, stderr=subprocess.STDOUT)  # fmt: skip


def stop_process_group(process: subprocess.Popen, timeout: float = 10.0) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


class RangeFileHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with HTTP Range support (as the dumps site's nginx has) and injectable faults.

    ``faults`` (a dict on the server) maps a URL path to a list of actions consumed one per request:
    ``("drop", n)`` sends the headers and n body bytes then closes the connection; ``("status", code)``
    answers with that HTTP status.
    """

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        faults = self.server.faults.get(self.path.split("?")[0])
        action = faults.pop(0) if faults else None
        self.server.requests.append((self.path, self.headers.get("Range")))
        if action and action[0] == "status":
            self.send_error(action[1])
            return
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            return super().do_GET()  # directory listings and 404s as usual
        data_size = path.stat().st_size
        start, end = 0, data_size - 1
        range_header = self.headers.get("Range")
        etag = f'"{int(path.stat().st_mtime_ns)}-{data_size}"'
        if range_header and self.headers.get("If-Range", etag) == etag:
            first, _, last = range_header.removeprefix("bytes=").partition("-")
            start, end = int(first), int(last) if last else data_size - 1
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end}/{data_size}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("ETag", etag)
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        limit = end - start + 1
        if action and action[0] == "drop":
            limit = min(limit, action[1])
        with path.open("rb") as source:
            source.seek(start)
            remaining = limit
            while remaining:
                chunk = source.read(min(remaining, 64 * 1024))
                if not chunk:
                    break
                self.wfile.write(chunk)
                remaining -= len(chunk)
        if action and action[0] == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)


@contextlib.contextmanager
def serve_with_ranges(directory: Path):
    """Serve a directory with Range support; yields (base_url, server) — set ``server.faults``."""
    handler = functools.partial(RangeFileHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.faults = {}
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server
    finally:
        server.shutdown()
        server.server_close()


def same_store(store: ObjectStore, cls=ObjectStore, **kwargs) -> ObjectStore:
    return cls(
        bucket=store.bucket,
        prefix=store.prefix,
        endpoint_url=store.endpoint_url,
        access_key=EMBEDDED_ACCESS_KEY,
        secret_key=EMBEDDED_SECRET_KEY,
        **kwargs,
    )
