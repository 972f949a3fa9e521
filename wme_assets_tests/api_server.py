"""`wme serve` on loopback for the serving tests, and Enterprise's SDK on the path (used unchanged, from its folder).

One server process per test module over that module's store (`running_server`), with the same accounts (made by
`wme accounts create`), and the small request helpers both API test modules use.
"""

from __future__ import annotations

import http.client
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from wme_assets.storage.object_store import ObjectStore
from wme_assets.storage.seaweedfs import free_ports
from wme_assets_tests.paths import FIXTURES, REPO_ROOT, SDK_DIR
from wme_assets_tests.servers import TEST_BUCKET, stop_process_group, wait_until

if str(SDK_DIR) not in sys.path:
    sys.path.insert(0, str(SDK_DIR))

from modules.api.api_client import Client, Request  # noqa: E402  (the SDK, from its own folder)
from modules.api.exceptions import APIStatusError  # noqa: E402

__all__ = ["APIStatusError", "Client", "Request"]  # the SDK's names the test modules use

PROJECT = "bnwiki"
SECRET = "test-secret-for-the-serving-tests-0123456789"
PASSWORD = "correct horse battery staple"
SITEMATRIX = FIXTURES / "wme-catalog" / "sitematrix.json"
JWT = re.compile(r"eyJ[\w-]+\.eyJ[\w-]+\.")  # a token's header and claims, base64url of '{"'


def _env(store: ObjectStore, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WME_")}
    env.update(
        PYTHONPATH=str(REPO_ROOT),
        WME_HOME=str(home),
        WME_S3_ENDPOINT_URL=store.endpoint_url or "",
        WME_S3_BUCKET=TEST_BUCKET,
        WME_S3_PREFIX=store.prefix,
        WME_API_SECRET=SECRET,
        WME_API_LOGIN_ATTEMPTS="5",
        WME_SITEMATRIX_URL=SITEMATRIX.as_uri(),
    )
    return env


def wme(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "wme_assets.cli", *args], env=env, input=stdin, capture_output=True, text=True
    )


class Server:
    def __init__(self, url: str, env: dict[str, str], store: ObjectStore, pid: int = 0):
        self.url, self.env, self.store = url, env, store
        self.pid = pid  # the server's process, leader of its own process group

    def login(self, username: str, password: str = PASSWORD) -> dict:
        response = httpx.post(f"{self.url}v1/login", json={"username": username, "password": password})
        response.raise_for_status()
        return response.json()

    def client(self, username: str | None = None, *, token: str | None = None, **options) -> Client:
        token = token or self.login(username)["access_token"]
        return Client(base_url=self.url, realtime_url=self.url, access_token=token, **options)

    def get(self, path: str, token: str | None = None, **kwargs) -> httpx.Response:
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return httpx.get(f"{self.url}{path}", headers=headers, **kwargs)


@contextmanager
def running_server(store: ObjectStore, home: Path, *, args: tuple[str, ...] = (), **settings: str) -> Iterator[Server]:
    """`wme serve` over ``store`` in a subprocess on loopback, with this module's accounts (made by `wme accounts
    create`); stopped on exit, its log then checked for secrets. The batch tests run it over their own store.
    ``settings``: further ``WME_*`` variables (``ondemand_refresh_seconds="0"``); ``args``: of `wme serve`."""
    env = _env(store, home) | {f"WME_{name.upper()}": value for name, value in settings.items()}
    for name, tier in (("paid-user", "paid"), ("free-user", "free"), ("other-user", "free"), ("contract", "paid")):
        created = wme(env, "accounts", "create", name, "--tier", tier, stdin=PASSWORD + "\n")
        assert created.returncode == 0 or "exists already" in created.stderr, created.stderr  # a restart: kept
    (port,) = free_ports(1)
    log = (home / "serve.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "wme_assets.cli", "serve", "--port", str(port), *args],
        env=env,
        cwd=home,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/"

    def healthy():
        assert process.poll() is None, (home / "serve.log").read_text()
        try:
            return httpx.get(f"{url}health").status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until(healthy, 60, "wme serve answers /health")
        yield Server(url, env, store, process.pid)
    finally:
        stop_process_group(process)
        log.close()
        # Nothing secret in the server's log: no password, no token, no secret.
        text = (home / "serve.log").read_text()
        assert PASSWORD not in text and SECRET not in text and not JWT.search(text)


def _status(exc_info) -> int:
    return exc_info.value.response.status_code


def _raw(server: Server, path: str, token: str) -> int:
    """A request whose path goes to the server exactly as written (no client-side normalisation)."""
    host, port = server.url.removeprefix("http://").rstrip("/").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.putrequest("GET", path, skip_accept_encoding=True)
        conn.putheader("Authorization", f"Bearer {token}")
        conn.endheaders()
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()
