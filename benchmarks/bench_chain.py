"""End to end, from a dumps run to published snapshots, on the real dump fixtures.

Per wiki of the fixture mirror (the 7 xztextfilter dumps): download into the raw zone, parse into the page
store, enrich into the article store, export and publish the snapshots (articles of every namespace and
Structured Contents, as the paid job does) — each stage the same function the
Dagster assets call, against a real SeaweedFS started here. Prints per stage the wall time, the CPU time
(this process and its worker processes), the share of the chain, and the throughput in MB of wikitext and
articles per CPU-second; then peak memory.

    .venv/bin/python benchmarks/bench_chain.py [--fixtures ../shared/fixtures] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from wme_assets.devtools.mirror import XZTEXTFILTER_WIKIS, build_dumps_mirror
from wme_assets.enrichment.run import enrich_pages
from wme_assets.ingestion.download import download_run
from wme_assets.ingestion.run import ingest_pages
from wme_assets.settings import EMBEDDED_ACCESS_KEY, EMBEDDED_SECRET_KEY
from wme_assets.snapshots.run import export_snapshots, export_structured_snapshot
from wme_assets.sources.dumps_client import DumpsClient
from wme_assets.storage.object_store import ObjectStore
from wme_assets.storage.seaweedfs import start_seaweedfs

DATE = "20230501"


_EXCLUDED_PIDS: set[int] = set()  # the S3 server: storage, not the chain's own work
_TICKS = os.sysconf("SC_CLK_TCK")


def _live_children_cpu() -> float:
    """CPU of our live child processes and of what they reaped (utime, stime, cutime, cstime).

    Worker pools start through a forkserver, a child of ours that reaps the workers: their CPU time
    reaches the forkserver's cutime/cstime, never our RUSAGE_CHILDREN, so it is read from /proc.
    """
    total = 0.0
    for task in Path("/proc/self/task").iterdir():
        for pid in (task / "children").read_text().split():
            if int(pid) in _EXCLUDED_PIDS:
                continue
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except FileNotFoundError:
                continue
            total += sum(int(v) for v in fields[11:15]) / _TICKS
    return total


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + reaped.ru_utime + reaped.ru_stime + _live_children_cpu()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixtures", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "fixtures")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="wme-bench-chain-") as tmp:
        root = Path(tmp) / "mirror"
        for wiki in XZTEXTFILTER_WIKIS:
            dump = args.fixtures / "xztextfilter-truncated-dumps" / f"{wiki}-truncated-100k.xml.xz"
            build_dumps_mirror(root, wiki, DATE, dump)
        server = start_seaweedfs(Path(tmp) / "seaweedfs")
        _EXCLUDED_PIDS.add(server.pid)
        try:
            store = ObjectStore(bucket="bench", endpoint_url=server.endpoint_url,
                                access_key=EMBEDDED_ACCESS_KEY, secret_key=EMBEDDED_SECRET_KEY)
            store.check_bucket(create=True)
            client = DumpsClient(root.as_uri())
            wall: dict[str, float] = defaultdict(float)
            cpu: dict[str, float] = defaultdict(float)
            wikitext_bytes = articles = 0

            def timed(stage, fn):
                w, c = time.perf_counter(), cpu_seconds()
                value = fn()
                wall[stage] += time.perf_counter() - w
                cpu[stage] += cpu_seconds() - c
                return value

            quiet = lambda _: None  # noqa: E731
            for wiki in XZTEXTFILTER_WIKIS:
                status = client.fetch_status_bytes(wiki, DATE)
                store.put_bytes(store.key(f"raw/{wiki}/{DATE}/dumpstatus.json"), status)
                timed("download", lambda w=wiki: download_run(client, store, w, DATE))
                pages = timed("parse", lambda w=wiki: ingest_pages(store, w, DATE, workers=args.workers, log=quiet))
                enriched = timed(
                    "enrich",
                    lambda w=wiki: enrich_pages(store, w, DATE, run_id="bench", workers=args.workers, log=quiet),
                )
                # The paid job's exports: article snapshots of every namespace and the Structured Contents one.
                timed("export", lambda w=wiki: export_snapshots(store, w, DATE, log=quiet))
                timed("export", lambda w=wiki: export_structured_snapshot(store, w, DATE, log=quiet))
                wikitext_bytes += pages.summary.text_bytes
                articles += enriched.articles
        finally:
            server.stop()

    total_wall, total_cpu = sum(wall.values()), sum(cpu.values())
    mb = wikitext_bytes / 1e6
    print(f"# chain: {len(XZTEXTFILTER_WIKIS)} real dumps, {mb:.1f} MB of wikitext, {articles} articles; "
          f"{args.workers} parse/enrich workers")
    print(f"{'stage':10} {'wall s':>8} {'CPU s':>8} {'share':>6} {'MB/CPU-s':>9} {'art/CPU-s':>10}")
    for stage in ("download", "parse", "enrich", "export"):
        print(f"{stage:10} {wall[stage]:8.2f} {cpu[stage]:8.2f} {cpu[stage] / total_cpu:6.0%} "
              f"{mb / cpu[stage]:9.2f} {articles / cpu[stage]:10.0f}")
    print(
        f"{'chain':10} {total_wall:8.2f} {total_cpu:8.2f} {1:6.0%} {mb / total_cpu:9.2f} {articles / total_cpu:10.0f}"
    )
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of the driving process: {own:.0f} MB (worker processes are not included)")
    print(f"wall-clock throughput: {mb / total_wall:.2f} MB/s of wikitext on this machine")


if __name__ == "__main__":
    main()
