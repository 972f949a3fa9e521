"""Snapshot downloads through the API (`wme serve`) beside reading the same object straight from SeaweedFS.

Setup (not timed): long and short real articles (the 70 of ``wtf_wikipedia-wikitext`` and the wikitext of the
12 Enterprise records, repeated to about ``--target-mb`` MB of wikitext, as ``bench_peers.py`` builds them)
go through the chain (parse, enrich, export) into a SeaweedFS started here; then ``wme serve`` runs over that
store with a paid account. The snapshot ``enwiki_namespace_0``'s archive is what is downloaded.

Timed, each ``--rounds`` times, interleaved:

* ``s3 direct, 1 stream (boto3)``: boto3 ``get_object`` streamed in 1 MiB pieces (what a consumer reading our
  bucket does);
* ``s3 direct, 1 stream``: one GET of a presigned URL of the object, streamed by httpx;
* ``api, 1 stream``: one ``GET …/download`` streamed by httpx (the same client: the difference is the API);
* ``s3 direct, parallel (boto3)``: boto3 ranged GETs of the SDK's range size with the SDK's concurrency;
* ``s3 direct, parallel``: the SDK's own download loop (httpx, ranged GETs in threads, 8 KiB pieces) on a
  presigned URL of the object: the reference for the SDK through the API, the same client work without the API;
* ``api, SDK parallel``: Enterprise's SDK ``download_snapshot`` (HEAD, then parallel ranged GETs), unchanged;
* ``api → presigned, …``: the same two against a second ``wme serve`` with ``WME_API_DOWNLOAD_REDIRECT``, whose
  GETs answer 307 to a presigned URL of the object (the API carries no bytes).

Every download is checked against the manifest's SHA-256 outside the timing. Printed per mode: MB/s (median and
range), the API's share of the direct rate, and CPU seconds per GB of the API server, SeaweedFS and the client.

    .venv/bin/python benchmarks/bench_download.py [--target-mb 40] [--rounds 5] [--fixtures ../shared/fixtures]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import io
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from proc_cpu import own_cpu, process_group_cpu  # noqa: E402  (benchmarks/, beside this script)

from wme_assets.settings import EMBEDDED_ACCESS_KEY, EMBEDDED_SECRET_KEY  # noqa: E402
from wme_assets.snapshots.layout import read_latest  # noqa: E402
from wme_assets.storage.object_store import ObjectStore  # noqa: E402
from wme_assets.storage.seaweedfs import start_seaweedfs  # noqa: E402
from wme_assets_tests.api_server import running_server  # noqa: E402
from wme_assets_tests.servers import TEST_BUCKET, wait_until  # noqa: E402

PIECE = 1 << 20


def _peers():
    spec = importlib.util.spec_from_file_location("bench_peers", REPO / "benchmarks" / "bench_peers.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_peers"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module




def build_snapshot(store: ObjectStore, work: Path, fixtures: Path, target_mb: float) -> None:
    from wme_assets.enrichment.run import enrich_pages
    from wme_assets.ingestion.download import download_run
    from wme_assets.ingestion.run import ingest_pages
    from wme_assets.snapshots.run import export_snapshots
    from wme_assets.sources.dumps_client import DumpsClient

    peers = _peers()
    data = peers.build_input(work, fixtures, target_mb)
    client = DumpsClient(data.mirror.as_uri())
    project, date = peers.DBNAME, peers.DATE
    quiet = lambda _: None  # noqa: E731
    store.put_bytes(store.key(f"raw/{project}/{date}/dumpstatus.json"), client.fetch_status_bytes(project, date))
    download_run(client, store, project, date)
    ingest_pages(store, project, date, workers=2, log=quiet)
    enrich_pages(store, project, date, run_id="bench", workers=2, log=quiet)
    export_snapshots(store, project, date, log=quiet)


def s3_single(store: ObjectStore, key: str, size: int) -> bytes:
    out = bytearray()
    body = store.open(key, 0, size - 1)
    for piece in body.iter_chunks(PIECE):
        out += piece
    body.close()
    return bytes(out)


def s3_parallel(store: ObjectStore, key: str, size: int, range_size: int, concurrency: int) -> bytes:
    out = bytearray(size)

    def part(start: int) -> None:
        end = min(start + range_size, size) - 1
        body = store.open(key, start, end)
        position = start
        for piece in body.iter_chunks(PIECE):
            out[position : position + len(piece)] = piece
            position += len(piece)
        body.close()

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(part, range(0, size, range_size)))
    return bytes(out)


def http_parallel(url: str, size: int, range_size: int, concurrency: int) -> bytes:
    """What the SDK's ``download_snapshot`` does (one httpx client, ranged GETs in threads, 8 KiB pieces written
    at their offset under a lock), against a URL that needs no token: the same client work without the API."""
    out = io.BytesIO()
    lock = threading.Lock()
    with httpx.Client(http2=True, follow_redirects=True, timeout=120) as client:

        def part(start: int) -> None:
            end = min(start + range_size, size) - 1
            with client.stream("GET", url, headers={"Range": f"bytes={start}-{end}"}) as response:
                response.raise_for_status()
                position = start
                for piece in response.iter_bytes(chunk_size=8192):
                    with lock:
                        out.seek(position)
                        out.write(piece)
                    position += len(piece)

        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(part, range(0, size, range_size)))
    return out.getvalue()


def http_single(url: str, token: str | None = None) -> bytes:
    out = bytearray()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.stream("GET", url, headers=headers, timeout=120, follow_redirects=True) as response:
        response.raise_for_status()
        for piece in response.iter_raw():
            out += piece
    return bytes(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target-mb", type=float, default=40.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--fixtures", type=Path, default=REPO.parent / "shared" / "fixtures")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="wme-bench-download-") as tmp:
        work = Path(tmp)
        server = start_seaweedfs(work / "seaweedfs")
        try:
            store = ObjectStore(bucket=TEST_BUCKET, prefix="bench/", endpoint_url=server.endpoint_url,
                                access_key=EMBEDDED_ACCESS_KEY, secret_key=EMBEDDED_SECRET_KEY)  # fmt: skip
            store.check_bucket(create=True)
            os.environ.update(AWS_ACCESS_KEY_ID=EMBEDDED_ACCESS_KEY, AWS_SECRET_ACCESS_KEY=EMBEDDED_SECRET_KEY)
            print(f"# building a snapshot from about {args.target_mb:g} MB of real wikitext", flush=True)
            build_snapshot(store, work, args.fixtures, args.target_mb)
            with (
                running_server(store, work / "home") as api,
                running_server(store, work / "home-redirect", api_download_redirect="true") as redirecting,
            ):
                run(args, store, api, redirecting, server.pid)
        finally:
            server.stop()


def run(args: argparse.Namespace, store: ObjectStore, api, redirecting, weed_pgid: int) -> None:
    from modules.api.api_client import Client  # the SDK, on the path through api_server

    identifier = "enwiki_namespace_0"
    pointer = read_latest(store, identifier, "paid")
    key, size, sha256 = store.key(pointer.archive.key), pointer.archive.bytes, pointer.archive.sha256
    token = api.login("paid-user")["access_token"]
    sdk = Client(base_url=api.url, realtime_url=api.url, access_token=token)
    range_size, concurrency = sdk.download_chunk_size, sdk.download_concurrency
    download_url = f"{api.url}v2/snapshots/{identifier}/download"
    ranges = f"SDK ranges of {range_size / 1e6:.0f} MB, {concurrency} at a time"
    print(f"# archive {identifier}: {size / 1e6:.1f} MB; {ranges}")

    redirect_token = redirecting.login("paid-user")["access_token"]
    # Their on-demand indexes are built in the background at start: done first, so that no CPU but the downloads'
    # is counted.
    for server, bearer in ((api, token), (redirecting, redirect_token)):
        wait_until(lambda s=server, b=bearer: s.get("v2/articles/Main_Page", b).status_code != 503, 300, "indexes")
    redirected_sdk = Client(base_url=redirecting.url, realtime_url=redirecting.url, access_token=redirect_token)

    def sdk_parallel(client=sdk) -> bytes:
        buffer = io.BytesIO()
        client.download_snapshot(identifier, buffer)
        return buffer.getvalue()

    modes = {
        "s3 direct, 1 stream (boto3)": lambda: s3_single(store, key, size),
        "s3 direct, 1 stream": lambda: http_single(store.presign(key)),
        "api, 1 stream": lambda: http_single(download_url, token),
        "s3 direct, parallel (boto3)": lambda: s3_parallel(store, key, size, range_size, concurrency),
        "s3 direct, parallel": lambda: http_parallel(store.presign(key), size, range_size, concurrency),
        "api, SDK parallel": sdk_parallel,
        "api → presigned, 1 stream": lambda: http_single(
            f"{redirecting.url}v2/snapshots/{identifier}/download", redirect_token
        ),
        "api → presigned, SDK parallel": lambda: sdk_parallel(redirected_sdk),
    }
    rates: dict[str, list[float]] = {mode: [] for mode in modes}
    cpu: dict[str, dict[str, float]] = {mode: {"api": 0.0, "s3": 0.0, "client": 0.0} for mode in modes}
    names = list(modes)

    def cpu_sample() -> tuple[float, float, float]:  # the API servers, SeaweedFS, this client
        return process_group_cpu(api.pid) + process_group_cpu(redirecting.pid), process_group_cpu(weed_pgid), own_cpu()
    for round_number in range(args.rounds):
        for mode in names[round_number % len(names) :] + names[: round_number % len(names)]:
            before = cpu_sample()
            started = time.perf_counter()
            data = modes[mode]()
            elapsed = time.perf_counter() - started
            after = cpu_sample()
            if hashlib.sha256(data).hexdigest() != sha256:
                raise SystemExit(f"{mode}: the downloaded bytes do not match the manifest's SHA-256")
            rates[mode].append(size / elapsed / 1e6)
            for name, b, a in zip(("api", "s3", "client"), before, after, strict=True):
                cpu[mode][name] += a - b
    print("\n| mode | MB/s median (min–max) | share of direct | CPU-s per GB: api / SeaweedFS / client |")
    print("|---|---|---|---|")
    direct = {"1 stream": statistics.median(rates["s3 direct, 1 stream"]),
              "parallel": statistics.median(rates["s3 direct, parallel"])}  # fmt: skip
    gigabytes = size * args.rounds / 1e9
    for mode in names:
        median = statistics.median(rates[mode])
        base = direct["1 stream" if "1 stream" in mode else "parallel"]  # boto3's rows: against httpx's
        c = cpu[mode]
        print(
            f"| {mode} | {median:.0f} ({min(rates[mode]):.0f}–{max(rates[mode]):.0f}) | {median / base:.0%} | "
            f"{c['api'] / gigabytes:.2f} / {c['s3'] / gigabytes:.2f} / {c['client'] / gigabytes:.2f} |"
        )


if __name__ == "__main__":
    main()
