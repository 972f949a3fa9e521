"""Realtime fan-out: events per second delivered to concurrent clients of ``/v2/articles``, and the delay from
the feed's commit to each client.

Real articles: pages of the fixture dumps (``xztextfilter-truncated-dumps``) built into Enterprise articles by the
dump path's enrichment before the clock starts. Then, for ``--seconds``, the feed is appended to as the
appliers do (:func:`wme_assets.realtime.feed.append_records`: the feed lease, segment, head; ``--batch``
records every ``--every`` seconds, as creates and updates of those pages) on a real SeaweedFS started here,
while ``wme serve`` (a process of its own) streams to ``--clients`` concurrent connections (threads of one
client process, NDJSON as the SDK asks for it) that read every record's ``date_published``. Each client
connects at the feed's newest offsets before the first timed append and stops when it has every record appended.

Prints: records appended, records delivered (all clients), delivered per second; per-record delay from the
head's commit (wall clock after the head's write) to the client's read: p50, p95, max; CPU seconds of every
process (the server, the clients, this appender, SeaweedFS) and per 1,000 delivered records.

    .venv/bin/python benchmarks/bench_realtime_fanout.py [--clients 10] [--seconds 20] [--batch 100] [--every 0.2]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from proc_cpu import own_cpu, process_group_cpu  # noqa: E402  (benchmarks/, beside this script)

from wme_assets.devtools.prefetched import load
from wme_assets.enrichment.article import Site
from wme_assets.realtime.apply import build_fetched
from wme_assets.realtime.feed import append_records, load_head
from wme_assets.realtime.feed_records import application_records
from wme_assets.settings import EMBEDDED_ACCESS_KEY, EMBEDDED_SECRET_KEY, Settings
from wme_assets.storage.object_store import ObjectStore
from wme_assets.storage.seaweedfs import free_ports, start_seaweedfs

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "benchmark password, long enough"
PUBLISHED = b'"date_published":"'  # an article has no other date_published than its event's




def build_articles(fixtures: Path, wikis: list[str], per_wiki: int) -> list[tuple[str, int, object]]:
    built = []
    for wiki in wikis:
        siteinfo, revisions = load(fixtures / "xztextfilter-truncated-dumps" / f"{wiki}-truncated-100k.xml.xz")
        site = Site.from_siteinfo(siteinfo)
        for rev in revisions[:per_wiki]:
            built.append((siteinfo["dbname"], rev.page_id, build_fetched(rev, site, run_id="bench", source="bench")))
    return built


def client_process(url: str, token: str, offsets: dict, clients: int, expected: int, out: str) -> None:
    """``clients`` connections in threads; each reads until it has ``expected`` records; receipt times to ``out``."""
    results: list[list[tuple[str, float]]] = [[] for _ in range(clients)]

    def one(i: int) -> None:
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/x-ndjson"}
        with httpx.stream("POST", f"{url}v2/articles", json={"offsets": offsets}, headers=headers, timeout=120) as r:
            r.raise_for_status()
            pending = b""
            # The client's own work is kept small (it shares the machine's cores with the server): lines split
            # as bytes, and each record's date_published found in its line, not the whole article parsed.
            for chunk in r.iter_raw():
                *lines, pending = (pending + chunk).split(b"\n")
                for line in lines:
                    if not line:
                        continue
                    at = line.index(PUBLISHED) + len(PUBLISHED)
                    results[i].append((line[at : line.index(b'"', at)].decode(), time.time()))
                    if len(results[i]) >= expected:
                        return

    threads = [threading.Thread(target=one, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    Path(out).write_text(json.dumps({"results": results, "cpu": own_cpu()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixtures", type=Path, default=REPO.parent / "shared" / "fixtures")
    parser.add_argument("--wikis", default="mrwiki,bnwiki,elwiki")
    parser.add_argument("--pages", type=int, default=150, help="pages built per wiki")
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--batch", type=int, default=100, help="records per append")
    parser.add_argument("--every", type=float, default=0.2, help="seconds between appends")
    args = parser.parse_args()

    articles = build_articles(args.fixtures, args.wikis.split(","), args.pages)
    mb = sum(len(a[2].article_json) for a in articles) / 1e6
    print(f"{len(articles)} real articles built ({mb:.1f} MB of article JSON, {mb * 1000 / len(articles):.1f} kB each)")
    with tempfile.TemporaryDirectory(prefix="wme-bench-fanout-") as tmp:
        work = Path(tmp)
        seaweed = start_seaweedfs(work / "seaweedfs")
        server = None
        try:
            store = ObjectStore(bucket="bench", endpoint_url=seaweed.endpoint_url,
                                access_key=EMBEDDED_ACCESS_KEY, secret_key=EMBEDDED_SECRET_KEY)  # fmt: skip
            store.check_bucket(create=True)
            env = {k: v for k, v in os.environ.items() if not k.startswith("WME_")} | {
                "PYTHONPATH": str(REPO), "WME_HOME": str(work / "home"), "WME_S3_ENDPOINT_URL": seaweed.endpoint_url,
                "WME_S3_BUCKET": "bench", "WME_API_SECRET": "benchmark-secret-0123456789abcdef0123456789",
                "AWS_ACCESS_KEY_ID": EMBEDDED_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": EMBEDDED_SECRET_KEY,
            }  # fmt: skip
            settings = Settings(home=work / "appender", s3_endpoint_url=seaweed.endpoint_url, s3_bucket="bench")
            wme = [sys.executable, "-m", "wme_assets.cli"]
            subprocess.run([*wme, "accounts", "create", "bench", "--tier", "paid"], env=env, input=PASSWORD + "\n",
                           text=True, check=True, capture_output=True)  # fmt: skip
            (port,) = free_ports(1)
            log = (work / "serve.log").open("wb")
            server = subprocess.Popen([*wme, "serve", "--port", str(port)], env=env, stdout=log,
                                      stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
            url = f"http://127.0.0.1:{port}/"
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{url}health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline and server.poll() is None, (work / "serve.log").read_text()
                time.sleep(0.2)
            token = httpx.post(f"{url}v1/login", json={"username": "bench", "password": PASSWORD}).json()
            token = token["access_token"]

            appends = int(args.seconds / args.every)
            expected = appends * args.batch
            offsets = {str(p): o for p, o in enumerate(load_head(store).next_offsets)}
            out = work / "clients.json"
            clients = multiprocessing.get_context("spawn").Process(
                target=client_process, args=(url, token, offsets, args.clients, expected, str(out))
            )
            clients.start()
            time.sleep(2.0)  # the connections are made (each plans from the offsets given, so none misses any)
            server_cpu0, seaweed_cpu0 = process_group_cpu(server.pid), process_group_cpu(seaweed.pid)
            own_cpu0 = own_cpu()
            committed: dict[str, float] = {}
            started = time.monotonic()
            for n in range(appends):
                due = started + n * args.every
                time.sleep(max(0.0, due - time.monotonic()))
                chosen = [articles[(n * args.batch + i) % len(articles)] for i in range(args.batch)]
                for project in {c[0] for c in chosen}:
                    rows = {page_id: ("upsert", built) for p, page_id, built in chosen if p == project}
                    records = application_records(project, None, rows, {}, n)
                    done = append_records(store, settings, project, n, records)
                    committed[done.published] = time.time()
            append_seconds = time.monotonic() - started
            clients.join(timeout=300)
            wall = time.monotonic() - started
            server_cpu = process_group_cpu(server.pid) - server_cpu0
            seaweed_cpu = process_group_cpu(seaweed.pid) - seaweed_cpu0
            appender_cpu = own_cpu() - own_cpu0
            data = json.loads(out.read_text())
            delays = sorted(received - committed[published] for result in data["results"]
                            for published, received in result)  # fmt: skip
            delivered = len(delays)
            print(f"clients {args.clients}, appends {appends} of {args.batch} records every {args.every}s "
                  f"({append_seconds:.1f} s), wall until every client had everything {wall:.1f} s")  # fmt: skip
            print(f"records appended {expected}, delivered {delivered} (all clients), "
                  f"{delivered / wall:.0f} delivered/s")  # fmt: skip
            p95 = delays[int(0.95 * (delivered - 1))]
            print(f"delay commit -> client: p50 {statistics.median(delays):.3f} s, p95 {p95:.3f} s, "
                  f"max {delays[-1]:.3f} s")  # fmt: skip
            total_cpu = server_cpu + data["cpu"] + appender_cpu + seaweed_cpu
            print(f"CPU s: server {server_cpu:.1f}, clients {data['cpu']:.1f}, appender {appender_cpu:.1f}, "
                  f"SeaweedFS {seaweed_cpu:.1f}, total {total_cpu:.1f} over {wall:.1f} s wall on "
                  f"{os.cpu_count()} cores")  # fmt: skip
            print(f"server CPU per 1,000 delivered records: {server_cpu * 1000 / delivered:.3f} s; "
                  f"measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")  # fmt: skip
        finally:
            if server is not None:
                os.killpg(server.pid, 15)
                server.wait(timeout=30)
            seaweed.stop()


if __name__ == "__main__":
    main()
