"""A throw-away MediaWiki on loopback, with real pages imported, for the tests of the HTML path.

Debian 12's ``mediawiki`` package (1.39, Parsoid bundled in core) serves
``rest.php/v1/revision/{id}/html`` with nothing but PHP's built-in web server. One instance is one
directory: ``install.php`` writes LocalSettings.php and a SQLite database there, ``MW_CONFIG_FILE``
points both the maintenance scripts and the web entry points at it, and the code stays read-only in
``/usr/share/mediawiki``. See ``shared/reference/mediawiki-on-loopback.md`` for the measurements.

The pages are the four real enwiki Wikimedia Enterprise records of ``shared/fixtures/wme-articles``,
exported as MediaWiki XML (:func:`export_xml_from_enterprise_records`) and imported with
``importDump.php --no-updates`` (no link tables: 4× faster, and the tests need only revisions).
MediaWiki renumbers pages and revisions on import, so the revision ids are read back from the API.

When the packages are missing, :func:`ensure_installed` runs ``infra/install-mediawiki.sh`` (root on
Debian 12, as on CI), so a fresh machine works; a machine where that fails fails these tests with the reason.

Use the session fixture :func:`mediawiki` (import it into a test module): it starts one wiki per
test session (~5–10 s) and stops it at the end.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from wme_assets_tests.paths import FIXTURES
from wme_assets_tests.paths import REPO_ROOT as REPO
from wme_assets_tests.servers import refuse_outside_integration

ENWIKI_RECORDS = FIXTURES / "wme-articles" / "enwiki"
INSTALL_SCRIPT = REPO / "infra" / "install-mediawiki.sh"
MW_IP = Path("/usr/share/mediawiki")


@dataclass
class MediaWikiServer:
    base_url: str  # the directory of rest.php and api.php, e.g. http://127.0.0.1:41234
    directory: Path
    revisions: dict[str, int]  # title -> revision id on this wiki
    wikitext: dict[str, str] = field(default_factory=dict)  # title -> imported wikitext
    log: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)

    def requests_to(self, path_fragment: str) -> int:
        """How many requests the server logged whose path contains ``path_fragment``."""
        if self.log is None or not self.log.exists():
            return 0
        return sum(1 for line in self.log.read_text(errors="replace").splitlines()
                   if path_fragment in line and "Accepted" not in line and "Closing" not in line)


def is_installed() -> bool:
    return (MW_IP / "maintenance" / "install.php").is_file() and shutil.which("php") is not None


def ensure_installed() -> float:
    """Install the packages when missing; the seconds it took (0 when already there)."""
    if is_installed():
        return 0.0
    if not INSTALL_SCRIPT.is_file():
        pytest.fail(f"MediaWiki is not installed and {INSTALL_SCRIPT} is missing")
    start = time.monotonic()
    proc = subprocess.run(["bash", str(INSTALL_SCRIPT)], capture_output=True, text=True)
    sys.stderr.write(proc.stderr)
    if proc.returncode != 0 or not is_installed():
        pytest.fail(f"MediaWiki could not be installed by {INSTALL_SCRIPT.name}: {proc.stderr.strip()[-500:]}")
    return time.monotonic() - start


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _php(script: str, *args: str, env: dict[str, str], stdin: bytes | None = None) -> None:
    proc = subprocess.run(["php", str(MW_IP / "maintenance" / script), *args], input=stdin,
                          capture_output=True, env=env, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"{script} failed ({proc.returncode}): {proc.stderr.decode(errors='replace')[-2000:]}"
                           f"{proc.stdout.decode(errors='replace')[-2000:]}")


def fixture_export() -> tuple[bytes, dict[str, str]]:
    """The enwiki Enterprise records as an XML export, and their wikitext by title."""
    from wme_assets.devtools.mirror import export_xml_from_enterprise_records, read_enterprise_records

    records = read_enterprise_records(ENWIKI_RECORDS)
    xml = export_xml_from_enterprise_records(records, dbname="enwiki")
    return xml, {r["name"]: r["article_body"]["wikitext"] for r in records}


def start_mediawiki(directory: Path, xml: bytes, wikitext: dict[str, str], *,
                    link_updates: bool = False, lang: str = "en", dbname: str = "wiki",
                    ) -> tuple[MediaWikiServer, subprocess.Popen]:
    """Install, import ``xml`` and serve. ``link_updates`` imports with MediaWiki's link updates
    (templatelinks, categorylinks…: what ``prop=templates`` reads), slower than revisions only;
    ``lang`` is the content language (its namespace names and magic words); ``dbname`` the wiki's id (siteinfo
    ``wikiid``: the project a test names, e.g. one of WME_PROJECTS for a Dagster partition)."""
    timings: dict[str, float] = {}
    port = _free_port()  # baked into $wgServer at install time, so chosen first
    base_url = f"http://127.0.0.1:{port}"
    for sub in ("data", "images", "cache"):
        (directory / sub).mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MW_CONFIG_FILE": str(directory / "LocalSettings.php")}

    t0 = time.monotonic()
    _php("install.php", "--quiet", "--dbtype", "sqlite", "--dbpath", str(directory / "data"), "--dbname", dbname,
         "--server", base_url, "--scriptpath", "", "--confpath", str(directory), "--lang", lang,
         "--skins", "Vector", "--pass", "wme-test-Admin-pass-1", "WmeTestWiki", "Admin", env=env)
    with open(directory / "LocalSettings.php", "a", encoding="utf-8") as fh:
        fh.write(f"""
# ---- wme test instance: every writable path inside {directory} ----
$wgUploadDirectory = "{directory}/images";
$wgCacheDirectory = "{directory}/cache";
$wgExtensionDirectory = "$IP/extensions-core";  # Debian ships the bundled extensions here
$wgMetaNamespace = 'Wikipedia';
wfLoadExtension( 'ParserFunctions' );
wfLoadExtension( 'Cite' );
$wgShowExceptionDetails = true;
$wgRateLimits = [];
$wgJobRunRate = 0;  # no job runs at the end of web requests: deterministic latency
""")
    timings["install_s"] = time.monotonic() - t0

    t0 = time.monotonic()
    _php("importDump.php", *(() if link_updates else ("--no-updates",)), env=env, stdin=xml)
    timings["import_s"] = time.monotonic() - t0

    t0 = time.monotonic()
    log = directory / "server.log"
    with open(log, "wb") as log_fh:
        proc = subprocess.Popen(["php", "-S", f"127.0.0.1:{port}", "-t", str(MW_IP)], env=env,
                                stdout=log_fh, stderr=subprocess.STDOUT, start_new_session=True)
    api = f"{base_url}/api.php"
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"php -S exited with {proc.returncode}: {log.read_text(errors='replace')[-2000:]}")
        try:
            if requests.get(api, params={"action": "query", "meta": "siteinfo", "format": "json"}, timeout=5).ok:
                break
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            proc.terminate()
            raise RuntimeError(f"MediaWiki did not answer on {api} within 60 s")
        time.sleep(0.1)
    timings["serve_s"] = time.monotonic() - t0

    # importDump renumbers revisions: read the ids back, by title (50 titles a query, the API's limit)
    revisions = {}
    titles = list(wikitext)
    for start in range(0, len(titles), 50):
        reply = requests.get(api, params={"action": "query", "prop": "revisions", "rvprop": "ids",
                                          "titles": "|".join(titles[start:start + 50]), "format": "json",
                                          "formatversion": "2"}, timeout=30).json()
        revisions.update(
            {page["title"]: page["revisions"][0]["revid"] for page in reply["query"]["pages"] if "revisions" in page}
        )
    missing = set(wikitext) - set(revisions)
    if missing:
        proc.terminate()
        raise RuntimeError(f"pages not imported: {sorted(missing)}")
    server = MediaWikiServer(base_url=base_url, directory=directory, revisions=revisions,
                             wikitext=wikitext, log=log, timings=timings)
    return server, proc


# What an admin may do on a wiki the tests change: Debian's 1.39 gives revision deletion and suppression only to
# the (empty) suppress group; Wikimedia's wikis give sysops revision deletion. PHP reads LocalSettings on every
# request, so a running server sees lines appended to it.
ADMIN_REVISION_DELETION = (
    "$wgGroupPermissions['sysop']['deleterevision'] = true;\n"
    "$wgGroupPermissions['sysop']['suppressrevision'] = true;\n"
    "$wgGroupPermissions['sysop']['suppressionlog'] = true;\n"
)


@contextlib.contextmanager
def running_mediawiki(prefix: str, xml: bytes, wikitext: dict[str, str], **options) -> Iterator[MediaWikiServer]:
    """A wiki in a directory of its own (tmpfs when there is one: SQLite writes during the import are the
    slow part on disk), stopped and removed at the end; ``options`` go to :func:`start_mediawiki`."""
    parent = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    directory = Path(tempfile.mkdtemp(prefix=f"wme-mediawiki-{prefix}-", dir=parent))
    proc = None
    try:
        server, proc = start_mediawiki(directory, xml, wikitext, **options)
        yield server
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(directory, ignore_errors=True)


@contextlib.contextmanager
def own_mediawiki(
    request, prefix: str, local_settings: str = ADMIN_REVISION_DELETION, **options
) -> Iterator[MediaWikiServer]:
    """A wiki of one test module's own, with the enwiki fixture pages: for tests that edit, delete and move;
    ``options`` go to :func:`start_mediawiki`."""
    refuse_outside_integration(request, "MediaWiki")
    if not ENWIKI_RECORDS.is_dir():
        pytest.skip(f"{ENWIKI_RECORDS} is missing")
    ensure_installed()
    xml, wikitext = fixture_export()
    with running_mediawiki(prefix, xml, wikitext, **options) as server:
        with open(server.directory / "LocalSettings.php", "a", encoding="utf-8") as fh:
            fh.write(local_settings)
        yield server


@pytest.fixture(scope="session")
def mediawiki(request) -> Iterator[MediaWikiServer]:
    """One MediaWiki per test session, with the enwiki fixture pages imported."""
    refuse_outside_integration(request, "MediaWiki")
    if not ENWIKI_RECORDS.is_dir():
        pytest.skip(f"{ENWIKI_RECORDS} is missing")
    install_s = ensure_installed()
    xml, wikitext = fixture_export()
    with running_mediawiki("session", xml, wikitext) as server:
        server.timings["apt_install_s"] = install_s
        sys.stderr.write(f"\nMediaWiki on {server.base_url}: {server.timings}\n")
        yield server
