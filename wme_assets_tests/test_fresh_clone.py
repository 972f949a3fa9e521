"""Dagster's own commands on a fresh clone: nothing set, nothing installed by hand beyond the package.

The repository's tracked files are copied to a temporary folder (what a clone holds, uncommitted edits of
tracked files included), and the commands run there with an environment free of wme's, AWS's and Dagster's
variables, as an operator who knows Dagster would try them first.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from wme_assets_tests.paths import REPO_ROOT, SITEMATRIX_FIXTURE
from wme_assets_tests.servers import stop_process_group

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent
ASSETS_QUERY = "{ assetNodes { assetKey { path } } }"
INSTANCE_QUERY = "{ instance { info runQueueConfig { maxConcurrentRuns tagConcurrencyLimitsYaml } } }"


@pytest.fixture(scope="module")
def fresh_clone(tmp_path_factory) -> Path:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True
    ).stdout.decode().split("\0")
    clone = tmp_path_factory.mktemp("clone") / "wme"
    for name in filter(None, listed):
        source = REPO_ROOT / name
        if source.is_file():  # a file deleted in the working tree but not yet from the index
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, clone / name)
    return clone


def _clean_env(home: Path) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("WME_", "AWS_", "DAGSTER_")) and name != "PYTHONPATH"
    }
    env["HOME"] = str(home)  # no user-level configuration either
    # The one exception: the project_catalogue sensor reads the site matrix of the fixtures, not meta's.
    env["WME_SITEMATRIX_URL"] = SITEMATRIX_FIXTURE.as_uri()
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_definitions_validate_in_a_fresh_clone(fresh_clone, tmp_path):
    done = subprocess.run(
        [str(BIN / "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=fresh_clone, env=_clean_env(tmp_path), capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Validation successful for code location wme_assets" in done.stdout + done.stderr


def test_dagster_dev_in_a_fresh_clone_lists_the_assets(fresh_clone, tmp_path):
    port = _free_port()
    log = tmp_path / "dagster-dev.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(BIN / "dagster"), "dev", "-h", "127.0.0.1", "-p", str(port)],
            cwd=fresh_clone, env=_clean_env(tmp_path), stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}/graphql"
    try:
        keys = _wait_for_assets(url, process, log, timeout=240)
        instance = requests.post(url, json={"query": INSTANCE_QUERY}, timeout=30).json()["data"]["instance"]
    finally:
        stop_process_group(process, timeout=30)
    assert {"raw_dump_files", "page_store", "articles", "paid_snapshot", "free_snapshot"} <= keys
    # The instance is the root dagster.yaml's (its run queue and tier limits), its storage a temporary folder
    # of the clone.
    assert instance["runQueueConfig"]["maxConcurrentRuns"] == 8
    assert "key: wme/tier" in instance["runQueueConfig"]["tagConcurrencyLimitsYaml"]
    assert f"base_dir: {fresh_clone}/.tmp_dagster_home_" in instance["info"]


def _wait_for_assets(url: str, process: subprocess.Popen, log: Path, timeout: float) -> set[str]:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"dagster dev exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            response = requests.post(url, json={"query": ASSETS_QUERY}, timeout=10)
            nodes = (response.json().get("data") or {}).get("assetNodes") or []
            if nodes:
                return {"/".join(node["assetKey"]["path"]) for node in nodes}
            last = response.text[:500]
        except (requests.RequestException, ValueError) as exc:
            last = str(exc)
        time.sleep(2)
    pytest.fail(f"dagster dev did not list the assets within {timeout} s ({last}):\n{log.read_text()[-4000:]}")
