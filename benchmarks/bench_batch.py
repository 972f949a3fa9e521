"""Hourly batches: from an hour's close to its published batch, on real articles of every size.

Setup (not timed): the pages of the real fixture dumps (``xztextfilter-truncated-dumps``: long and short
articles, the exported namespaces) are applied as one hour's changes to an empty article store on a real
SeaweedFS started here, with :func:`~wme_assets.realtime.apply.apply_changes` (as ``bench_apply.py`` does),
and a tenth of them deleted in the same hour. Then the timed part, what the ``hourly_batch`` asset does once
the hour has closed: :func:`~wme_assets.realtime.batches.export_batch` reads the hour's delta, looks up every
page's previous state, writes each namespace's archive, validates every line against the article schema
while staging it, publishes, rebuilds the hour's listing.

Prints per wiki: records, MB of NDJSON, wall seconds, CPU seconds of this process and of the S3 server
(SeaweedFS: every process involved), records per wall second and MB per CPU-second; then the total and
peak RSS. The time from an hour's close to its published batch is the schedule's delay (one minute past the
hour) plus the run's start plus the wall time printed here.

    .venv/bin/python benchmarks/bench_batch.py [--fixtures ../shared/fixtures] [--wikis bnwiki,...] [--repeat 1]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from proc_cpu import own_cpu, process_group_cpu  # noqa: E402  (benchmarks/, beside this script)

from wme_assets.devtools.mirror import XZTEXTFILTER_WIKIS
from wme_assets.devtools.prefetched import PrefetchedRevisions, load
from wme_assets.realtime.apply import apply_changes
from wme_assets.realtime.batches import export_batch
from wme_assets.realtime.events import ChangeEvent
from wme_assets.schema.validate import record_validator
from wme_assets.settings import EMBEDDED_ACCESS_KEY, EMBEDDED_SECRET_KEY
from wme_assets.storage.article_store import ArticleStoreWriter, publish_base
from wme_assets.storage.object_store import ObjectStore
from wme_assets.storage.seaweedfs import start_seaweedfs


def prepare(store: ObjectStore, tmp: Path, path: Path, hour: str, date: str) -> tuple[str, float]:
    """One hour's changes of one wiki in its store: every page upserted, a tenth then deleted."""
    siteinfo, revs = load(path)
    project = siteinfo["dbname"]
    ArticleStoreWriter(tmp / f"base-{project}", project=project, source="bench", run_id="b").close()
    publish_base(store, tmp / f"base-{project}", project, date)
    source = PrefetchedRevisions({r.revision_id: r for r in revs})
    edits = [
        ChangeEvent("recentchanges", f"rc:{r.revision_id}", f"rc:{r.revision_id}", project, "edit",
                    r.timestamp, r.page_id, r.namespace, r.title, r.revision_id)
        for r in revs
    ]  # fmt: skip
    deletes = [
        ChangeEvent("recentchanges", f"log:{r.page_id}", f"log:{r.page_id}", project, "delete",
                    r.timestamp, r.page_id, r.namespace, r.title)
        for r in revs[::10]
    ]  # fmt: skip
    for start in range(0, len(edits), 1000):
        apply_changes(store, project, edits[start : start + 1000], revisions=source, siteinfo=siteinfo,
                      run_id="bench", hour=hour, log=lambda _: None)  # fmt: skip
    apply_changes(store, project, deletes, revisions=source, siteinfo=siteinfo, run_id="bench", hour=hour,
                  log=lambda _: None)  # fmt: skip
    return project, sum(len((r.text or "").encode()) for r in revs) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixtures", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "fixtures")
    parser.add_argument("--wikis", default=",".join(XZTEXTFILTER_WIKIS))
    parser.add_argument("--repeat", type=int, default=1, help="exports of each hour (the first publishes)")
    args = parser.parse_args()

    closed = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    hour, date = closed.strftime("%Y%m%d%H"), (closed - timedelta(days=1)).strftime("%Y%m%d")
    validator = record_validator("article")
    with tempfile.TemporaryDirectory(prefix="wme-bench-batch-") as tmp:
        server = start_seaweedfs(Path(tmp) / "seaweedfs")
        try:
            store = ObjectStore(bucket="bench", endpoint_url=server.endpoint_url,
                                access_key=EMBEDDED_ACCESS_KEY, secret_key=EMBEDDED_SECRET_KEY)  # fmt: skip
            store.check_bucket(create=True)
            header = f"{'wiki':8} {'records':>8} {'MB ndjson':>9} {'wall s':>7} {'CPU s':>6} {'S3 CPU':>6} "
            print(header + f"{'rec/s':>7} {'MB/CPU-s':>8}")
            totals = {"records": 0, "mb": 0.0, "wall": 0.0, "cpu": 0.0, "s3": 0.0}
            for wiki in args.wikis.split(","):
                path = args.fixtures / "xztextfilter-truncated-dumps" / f"{wiki}-truncated-100k.xml.xz"
                project, _ = prepare(store, Path(tmp), path, hour, date)
                for attempt in range(args.repeat):
                    wall0, cpu0, s30 = time.monotonic(), own_cpu(), process_group_cpu(server.pid)
                    result = export_batch(store, project, hour, validator=validator, log=lambda _: None)
                    wall, cpu, s3 = time.monotonic() - wall0, own_cpu() - cpu0, process_group_cpu(server.pid) - s30
                    mb = sum(m.bytes for n in result.namespaces if n.published
                             for m in n.published.manifest.members) / 1e6  # fmt: skip
                    label = project if attempt == 0 else "  again"
                    print(f"{label:8} {result.records:8d} {mb:9.1f} {wall:7.2f} {cpu:6.2f} {s3:6.2f} "
                          f"{result.records / wall:7.0f} {mb / (cpu + s3):8.1f}")  # fmt: skip
                    if attempt == 0:
                        for key, value in (("records", result.records), ("mb", mb), ("wall", wall), ("cpu", cpu),
                                           ("s3", s3)):  # fmt: skip
                            totals[key] += value
            print(f"{'total':8} {totals['records']:8d} {totals['mb']:9.1f} {totals['wall']:7.2f} {totals['cpu']:6.2f} "
                  f"{totals['s3']:6.2f} {totals['records'] / totals['wall']:7.0f} "
                  f"{totals['mb'] / (totals['cpu'] + totals['s3']):8.1f}")  # fmt: skip
            peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"peak RSS {peak_mb:.0f} MB (this process; includes the setup's pre-fetched revisions)")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
