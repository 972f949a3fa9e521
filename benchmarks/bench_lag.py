"""Realtime lag: from an edit on a real wiki to the article store, with `wme listen` running.

A real MediaWiki on loopback (Debian's package, the enwiki fixture pages: long real articles) and a real
SeaweedFS are started here; the article store gets a base of the wiki's pages; then `wme listen` runs as its
own process (the service an operator runs; ``WME_CHANGE_SOURCE=recentchanges``, polling every
``--poll`` seconds) while this script edits the wiki's pages through its API, one edit every ``--every``
seconds, and watches the store (its merged view, as readers see it) until each edit's revision is there.

Prints the lag of every edit (edit accepted → revision in the store) as p50, p95 and max, and the CPU
seconds of the listener's process tree, of SeaweedFS and of PHP (MediaWiki) over the run.

    .venv/bin/python benchmarks/bench_lag.py [--edits 30] [--every 2] [--poll 10]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_batch import tree_cpu

from wme_assets.settings import EMBEDDED_ACCESS_KEY, EMBEDDED_SECRET_KEY
from wme_assets.sources.action_api import ActionApiClient
from wme_assets.storage.article_store import lookup_current
from wme_assets.storage.object_store import ObjectStore
from wme_assets.storage.seaweedfs import start_seaweedfs

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from wme_assets_tests.mediawiki_server import (  # noqa: E402,I001
    ADMIN_REVISION_DELETION,
    ensure_installed,
    fixture_export,
    running_mediawiki,
)
from wme_assets_tests.wiki_admin import WikiAdmin, publish_wiki_base  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=30)
    parser.add_argument("--every", type=float, default=2.0, help="seconds between two edits")
    parser.add_argument("--poll", type=float, default=10.0, help="WME_RECENTCHANGES_POLL_SECONDS of the listener")
    args = parser.parse_args()

    ensure_installed()
    xml, wikitext = fixture_export()
    with (
        tempfile.TemporaryDirectory(prefix="wme-bench-lag-") as tmp,
        running_mediawiki("bench-lag", xml, wikitext) as wiki,
    ):
        with open(wiki.directory / "LocalSettings.php", "a", encoding="utf-8") as fh:
            fh.write(ADMIN_REVISION_DELETION)
        server = start_seaweedfs(Path(tmp) / "seaweedfs")
        listener = None
        try:
            store = ObjectStore(bucket="bench", endpoint_url=server.endpoint_url,
                                access_key=EMBEDDED_ACCESS_KEY, secret_key=EMBEDDED_SECRET_KEY)  # fmt: skip
            store.check_bucket(create=True)
            client = ActionApiClient(f"{wiki.base_url}/api.php", concurrency=2)
            project = client.siteinfo()["dbname"]
            titles = sorted(wiki.revisions)
            publish_wiki_base(store, client, [*titles, "Main Page"], project, Path(tmp) / "base", html=wiki.base_url)
            env = {
                **os.environ, "WME_HOME": f"{tmp}/home", "WME_S3_ENDPOINT_URL": server.endpoint_url,
                "WME_S3_BUCKET": "bench", "AWS_ACCESS_KEY_ID": EMBEDDED_ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": EMBEDDED_SECRET_KEY, "WME_PROJECTS": project,
                "WME_CHANGE_SOURCE": "recentchanges", "WME_MEDIAWIKI_ENDPOINTS": f"{project}={wiki.base_url}",
                "WME_RECENTCHANGES_POLL_SECONDS": str(args.poll), "WME_REALTIME_COLD_START_SECONDS": "60",
            }  # fmt: skip
            php_pid = int(subprocess.run(["pgrep", "-f", f"php -S 127.0.0.1:{wiki.base_url.rsplit(':', 1)[1]}"],
                                         capture_output=True, text=True).stdout.split()[0])  # fmt: skip
            wme = str(Path(sys.executable).with_name("wme"))
            listener = subprocess.Popen([wme, "listen"], env=env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
            time.sleep(args.poll + 2)  # its first poll (cold start) and application
            cpu0 = {"listener": tree_cpu(listener.pid), "s3": tree_cpu(server.pid), "php": tree_cpu(php_pid)}
            admin = WikiAdmin(wiki.base_url)
            pending: dict[int, tuple[int, float]] = {}  # revision -> (page id, when the edit was accepted)
            lags: list[float] = []
            next_edit, made = time.monotonic(), 0
            deadline = None
            while len(lags) < args.edits:
                now = time.monotonic()
                if made < args.edits and now >= next_edit:
                    title = titles[made % len(titles)]
                    edit = admin.edit(title, wikitext[title] + f"\n\nEdit {made} of the lag benchmark.", "bench")
                    pending[edit["newrevid"]] = (edit["pageid"], time.monotonic())
                    made, next_edit = made + 1, next_edit + args.every
                    if made == args.edits:
                        deadline = time.monotonic() + 10 * args.poll + 60
                if pending:
                    found = lookup_current(
                        store, project, {p for p, _ in pending.values()}, cache_dir=Path(tmp) / "watch",
                        columns=("page_id", "revision_id", "op"),
                    )  # fmt: skip
                    seen = time.monotonic()
                    for revision, (page, edited) in list(pending.items()):
                        row = found.get(page)
                        if row is not None and row["revision_id"] is not None and row["revision_id"] >= revision:
                            lags.append(seen - edited)
                            del pending[revision]
                if deadline and time.monotonic() > deadline:
                    print(f"{len(pending)} edits never reached the store within {10 * args.poll + 60:.0f} s")
                    break
                time.sleep(0.25)
            cpu = {"listener": tree_cpu(listener.pid) - cpu0["listener"], "s3": tree_cpu(server.pid) - cpu0["s3"],
                   "php": tree_cpu(php_pid) - cpu0["php"]}  # fmt: skip
            print(f"edits {len(lags)}, one every {args.every:g} s; listener polls every {args.poll:g} s")
            print(f"lag edit → article store: p50 {statistics.median(lags):.1f} s, p95 {percentile(lags, 0.95):.1f} s, "
                  f"max {max(lags):.1f} s")  # fmt: skip
            print("CPU seconds over the edits: " + ", ".join(f"{k} {v:.1f}" for k, v in cpu.items()))
        finally:
            if listener is not None:
                os.killpg(listener.pid, signal.SIGTERM)
                listener.wait(timeout=30)
            server.stop()


if __name__ == "__main__":
    main()
