"""Events per second the EventStreams listener parses, filters and stores, on one core.

Events are generated from the real page_change fixture (ids, titles, pages, projects and namespaces varied;
a fifth of them in a namespace that is filtered out), served by a loopback SSE server in a *separate process*
(so the listener's core is its own), and stored in the event log on a real SeaweedFS started here.
Prints events/s, MB/s of SSE bytes and the peak RSS of the listener's process.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_listener.py [--events 50000]
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def serve(events: int, ready) -> None:
    from wme_assets_tests.page_change_stream import (
        PageChangeStream,
        load_fixture_event,
        make_events,
        start_stream_server,
    )
    from wme_assets_tests.paths import FIXTURES

    stream = PageChangeStream(make_events(load_fixture_event(FIXTURES), events, namespaces=(0, 6, 10, 14, 1)))
    _, url = start_stream_server(stream)
    ready.put(url)
    time.sleep(3600)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=50_000)
    args = parser.parse_args()

    from wme_assets.realtime.listener import run_listener
    from wme_assets.settings import EMBEDDED_ACCESS_KEY, EMBEDDED_SECRET_KEY, Settings
    from wme_assets.storage.object_store import ObjectStore
    from wme_assets.storage.seaweedfs import start_seaweedfs

    ready = multiprocessing.Queue()
    server = multiprocessing.Process(target=serve, args=(args.events, ready), daemon=True)
    server.start()
    url = ready.get(timeout=120)
    weed = start_seaweedfs(Path(tempfile.mkdtemp(prefix="bench-listener-")))
    try:
        store = ObjectStore(bucket="bench", prefix="listener", endpoint_url=weed.endpoint_url,
                            access_key=EMBEDDED_ACCESS_KEY, secret_key=EMBEDDED_SECRET_KEY)
        store.check_bucket(create=True)
        settings = Settings(projects="enwiki,dewiki", eventstreams_url=url, realtime_stall_seconds=10,
                            realtime_cold_start_seconds=10 * 365 * 86400)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        stats = run_listener(settings, store, once=True)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    finally:
        weed.stop()
        server.terminate()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"frames read {stats.read:,}, kept {stats.kept:,}, filtered {dict(stats.filtered)}, bad {dict(stats.bad)}, "
          f"flushes {stats.flushes}")
    print(f"{stats.read / wall:,.0f} events/s wall ({stats.read / cpu:,.0f} per CPU-second of the listener), "
          f"{stats.bytes / wall / 1e6:.1f} MB/s of SSE, wall {wall:.1f} s, CPU {cpu:.1f} s, peak RSS {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
