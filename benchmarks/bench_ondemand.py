"""On-demand look-ups (``GET /v2/articles/{name}``) of `wme serve` on loopback, on real pipeline output.

Setup (not timed): a SeaweedFS started here; the real fixture dumps (``xztextfilter-truncated-dumps``, 7 wikis
by default) through wme's own download, ingestion and enrichment into their article stores; an account made by
`wme accounts create`. Then per run of ``--runs`` (server workers x connections): `wme serve --workers N` on
the stores (``WME_ONDEMAND_REFRESH_SECONDS=1``: every process checks every project's store once a second during
the run, as in production; the rate limit raised out of the way), answered once its title indexes are built
(the first run builds them, its wait is printed; the later runs find them on disk).

Timed: the run's keep-alive connections, spread over ``--load-processes`` processes (asyncio, raw HTTP/1.1: the
cheapest client Python has, so that the load generator leaves the server as much of the machine as it can),
each sending its next request as soon as the previous answer is read, for ``--seconds`` after a warm-up.
The titles are sampled from the stored articles: 60% article titles (a third of them spelt with underscores
and a lower-case first letter), 20% redirect titles (from the articles' ``redirects``), 20% titles that
exist nowhere. Each request asks every project (no filter, Enterprise's default limit of 3).

Prints latency p50/p90/p99/max, requests per second, answers by status, MB/s of bodies, and the CPU seconds
of the server's processes, of the load generator's and of SeaweedFS, each per second of the run and per
request, and the machine's load average before the run (other work on the machine slows the server).

    .venv/bin/python benchmarks/bench_ondemand.py [--fixtures ../shared/fixtures] [--wikis bnwiki,...]
        [--runs 1x8,2x8,2x16] [--load-processes 1] [--seconds 20] [--path /v2/namespaces/0]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import orjson
from proc_cpu import process_group_cpu  # noqa: E402  (benchmarks/, beside this script)

from wme_assets.devtools.mirror import XZTEXTFILTER_WIKIS, build_dumps_mirror
from wme_assets.enrichment.run import enrich_pages
from wme_assets.ingestion.download import download_run
from wme_assets.ingestion.run import ingest_pages
from wme_assets.settings import EMBEDDED_ACCESS_KEY, EMBEDDED_SECRET_KEY
from wme_assets.sources.dumps_client import DumpsClient
from wme_assets.storage.article_store import iter_current_batches
from wme_assets.storage.object_store import ObjectStore
from wme_assets.storage.seaweedfs import free_ports, start_seaweedfs

DATE = "20230501"
REPO = Path(__file__).resolve().parents[1]
PASSWORD = "benchmark password 0123456789"



def pipeline(store: ObjectStore, fixtures: Path, wikis: list[str], root: Path) -> None:
    client = DumpsClient(root.as_uri())
    for wiki in wikis:
        build_dumps_mirror(
            root, wiki, DATE, fixtures / "xztextfilter-truncated-dumps" / f"{wiki}-truncated-100k.xml.xz"
        )
        store.put_bytes(store.key(f"raw/{wiki}/{DATE}/dumpstatus.json"), client.fetch_status_bytes(wiki, DATE))
        download_run(client, store, wiki, DATE)
        ingest_pages(store, wiki, DATE, workers=2, log=lambda _: None)
        enrich_pages(store, wiki, DATE, run_id="bench", workers=2, log=lambda _: None)


def sample_titles(store: ObjectStore, wikis: list[str], cache: Path, count: int, seed: int = 7) -> list[str]:
    names, redirects = [], []
    for wiki in wikis:
        for batch in iter_current_batches(store, wiki, cache_dir=cache, columns=["name", "article"]):
            for name, article in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True):
                names.append(name)
                redirects += [r["name"] for r in orjson.loads(article).get("redirects") or ()]
    rng = random.Random(seed)
    titles = []
    for _ in range(count):
        draw = rng.random()
        if draw < 0.6:
            name = rng.choice(names)
            if rng.random() < 1 / 3:
                name = (name[:1].lower() + name[1:]).replace(" ", "_")
            titles.append(name)
        elif draw < 0.8 and redirects:
            titles.append(rng.choice(redirects))
        else:
            titles.append(f"{rng.choice(names)} (nowhere {rng.randrange(10**6)})")
    print(f"titles: {len(names)} articles and {len(redirects)} redirect titles to sample from")
    return titles


async def _client(host: str, port: int, token: str, titles: list[str], start: float, stop: float, out: list) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    i = random.randrange(len(titles))
    while time.perf_counter() < stop:
        title = titles[i % len(titles)]
        path = title if title.startswith("/") else "/v2/articles/" + quote(title, safe="")
        i += 1
        sent = time.perf_counter()
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await reader.readexactly(length)
        done = time.perf_counter()
        if sent >= start:
            out.append((done - sent, status, length))
    writer.close()


def load_process(args: tuple) -> tuple[list, float]:
    host, port, token, titles, clients, warmup, seconds, begin = args
    time.sleep(max(0.0, begin - time.time()))
    results: list = []

    async def run():
        now = time.perf_counter()
        start, stop = now + warmup, now + warmup + seconds
        await asyncio.gather(*(_client(host, port, token, titles, start, stop, results) for _ in range(clients)))

    before = resource.getrusage(resource.RUSAGE_SELF)
    # The warm-up is not counted: CPU is read again once it is over (approximately: the clients start together).
    asyncio.run(run())
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return results, cpu * seconds / (seconds + warmup)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def start_server(wme: list[str], env: dict, port: int, workers: int, log: Path) -> tuple[subprocess.Popen, str]:
    """`wme serve` on ``port``, answered once its indexes are built; returns it and an access token."""
    server = subprocess.Popen(
        [*wme, "serve", "--port", str(port), "--workers", str(workers)],
        env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    while True:
        assert server.poll() is None, log.read_text()[-3000:]
        try:
            token = httpx.post(f"{url}/v1/login", json={"username": "bench", "password": PASSWORD}).json()
            probe = httpx.get(f"{url}/v2/articles/x", headers={"Authorization": f"Bearer {token['access_token']}"})
            if probe.status_code != 503:
                return server, token["access_token"]
        except httpx.TransportError:
            pass
        time.sleep(0.2)


def measure(server: subprocess.Popen, seaweed_pid: int, port: int, token: str, titles: list[str], options,
            workers: int, clients: int) -> None:  # fmt: skip
    per_process = max(1, clients // options.load_processes)
    begin = time.time() + 0.5
    jobs = [("127.0.0.1", port, token, titles, per_process, options.warmup, options.seconds, begin)
            for _ in range(options.load_processes)]  # fmt: skip
    load_average = os.getloadavg()[0]
    with multiprocessing.get_context("spawn").Pool(options.load_processes) as pool:
        pending = pool.map_async(load_process, jobs)
        time.sleep(max(0.0, begin - time.time()) + options.warmup)
        server_cpu, seaweed_cpu = process_group_cpu(server.pid), process_group_cpu(seaweed_pid)
        wall = time.perf_counter()
        time.sleep(options.seconds)
        server_cpu = process_group_cpu(server.pid) - server_cpu
        seaweed_cpu = process_group_cpu(seaweed_pid) - seaweed_cpu
        wall = time.perf_counter() - wall
        outcome = pending.get()
    results = [r for rs, _ in outcome for r in rs]
    load_cpu = sum(cpu for _, cpu in outcome)
    latencies = [r[0] * 1000 for r in results]
    statuses: dict[int, int] = {}
    for _, status, _ in results:
        statuses[status] = statuses.get(status, 0) + 1
    body_mb = sum(r[2] for r in results) / 1e6
    n = len(results)
    print(f"\n{workers} server workers, {per_process * options.load_processes} connections in "
          f"{options.load_processes} load process(es), {options.seconds:.0f} s on {os.cpu_count()} CPUs "
          f"(machine load average before: {load_average:.1f})")  # fmt: skip
    print(f"requests: {n}  ({n / options.seconds:.0f} req/s)   answers: {dict(sorted(statuses.items()))}  "
          f"bodies: {body_mb / options.seconds:.1f} MB/s")  # fmt: skip
    print(f"latency ms: p50 {percentile(latencies, 0.5):.1f}  p90 {percentile(latencies, 0.9):.1f}  "
          f"p99 {percentile(latencies, 0.99):.1f}  max {max(latencies):.1f}")  # fmt: skip
    for what, cpu in (("server", server_cpu), ("load generator", load_cpu), ("SeaweedFS", seaweed_cpu)):
        print(f"CPU {what:15s} {cpu:6.1f} s  ({cpu / wall:.2f} cores, {1000 * cpu / max(n, 1):.2f} ms/request)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fixtures", type=Path, default=REPO.parent / "shared" / "fixtures")
    parser.add_argument("--wikis", default=",".join(XZTEXTFILTER_WIKIS))
    parser.add_argument(
        "--runs", default="1x8,2x8,2x16", help="server workers x connections, one measurement each (comma-separated)"
    )
    parser.add_argument("--load-processes", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument(
        "--path", help="ask this path instead of titles (e.g. /v2/namespaces/0: the floor of an authenticated request)"
    )
    options = parser.parse_args()
    wikis = [w.strip() for w in options.wikis.split(",") if w.strip()]
    runs = [tuple(int(x) for x in run.split("x")) for run in options.runs.split(",")]

    with tempfile.TemporaryDirectory(prefix="wme-bench-ondemand-") as tmp:
        tmp_path = Path(tmp)
        seaweed = start_seaweedfs(tmp_path / "seaweedfs")
        server = None
        try:
            store = ObjectStore(bucket="bench", endpoint_url=seaweed.endpoint_url,
                                access_key=EMBEDDED_ACCESS_KEY, secret_key=EMBEDDED_SECRET_KEY)  # fmt: skip
            store.check_bucket(create=True)
            started = time.perf_counter()
            pipeline(store, options.fixtures, wikis, tmp_path / "mirror")
            print(f"pipeline ({len(wikis)} wikis: download, ingest, enrich): {time.perf_counter() - started:.0f} s")
            titles = (
                sample_titles(store, wikis, tmp_path / "read-cache", 20_000) if not options.path else [options.path]
            )
            env = {k: v for k, v in os.environ.items() if not k.startswith("WME_")} | {
                "PYTHONPATH": str(REPO), "WME_HOME": str(tmp_path / "home"),
                "WME_S3_ENDPOINT_URL": seaweed.endpoint_url, "WME_S3_BUCKET": "bench",
                "WME_API_SECRET": "benchmark-secret-0123456789-0123456789-0123",
                "WME_API_RATE_LIMIT": "100000000", "WME_ONDEMAND_REFRESH_SECONDS": "1",
                "WME_SITEMATRIX_URL": (options.fixtures / "wme-catalog" / "sitematrix.json").as_uri(),
                "AWS_ACCESS_KEY_ID": EMBEDDED_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": EMBEDDED_SECRET_KEY,
            }  # fmt: skip
            wme = [sys.executable, "-m", "wme_assets.cli"]
            subprocess.run([*wme, "accounts", "create", "bench", "--tier", "free"], env=env, input=PASSWORD + "\n",
                           text=True, check=True, capture_output=True)  # fmt: skip
            for index, (workers, clients) in enumerate(runs):
                (port,) = free_ports(1)
                started = time.perf_counter()
                server, token = start_server(wme, env, port, workers, tmp_path / "serve.log")
                if index == 0:  # later runs find the indexes built
                    print(f"server up, title indexes built: {time.perf_counter() - started:.1f} s after the start")
                measure(server, seaweed.pid, port, token, titles, options, workers, clients)
                os.killpg(server.pid, 15)
                server.wait(30)
                server = None
        finally:
            if server is not None:
                os.killpg(server.pid, 15)
                server.wait(30)
            seaweed.stop()


if __name__ == "__main__":
    main()
