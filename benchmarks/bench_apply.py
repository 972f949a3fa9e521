"""Applying changes: changes per second per core through enrichment and delta publishing, fetch excluded.

The benchmark's definition: the revisions are fetched before the clock starts. Each page of the real
fixture dumps (``xztextfilter-truncated-dumps``, read with the dump reader; the exported namespaces,
no redirects) becomes one revision as the Action API client would return it and one ``edit`` event; the
events go through :func:`wme_assets.realtime.apply.apply_changes` in batches (plan, store lookup, the
dump path's enrichment, the delta written and published to a real SeaweedFS started here, ``current.json``
moved), with the revision source answering from the pre-fetched revisions. Every project starts from an
empty base, so every event is an upsert; several batches land in the same hour's delta, as the hour's
applications do (each carries the earlier rows over).

Prints per wiki and in total: changes, wall seconds, CPU seconds (this process; the S3 server is not
counted), changes per wall second and per CPU second (= per core), MB of wikitext; then peak RSS.

    .venv/bin/python benchmarks/bench_apply.py [--fixtures ../shared/fixtures] [--batch 500] [--wikis bnwiki,...]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from wme_assets.devtools.mirror import XZTEXTFILTER_WIKIS
from wme_assets.devtools.prefetched import PrefetchedRevisions, load
from wme_assets.realtime.apply import apply_changes
from wme_assets.realtime.events import ChangeEvent
from wme_assets.settings import EMBEDDED_ACCESS_KEY, EMBEDDED_SECRET_KEY
from wme_assets.storage.article_store import ArticleStoreWriter, publish_base
from wme_assets.storage.object_store import ObjectStore
from wme_assets.storage.seaweedfs import start_seaweedfs


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixtures", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "fixtures")
    parser.add_argument("--batch", type=int, default=500, help="events per application")
    parser.add_argument("--wikis", default=",".join(XZTEXTFILTER_WIKIS))
    args = parser.parse_args()

    now = datetime.now(UTC)
    hour, date = now.strftime("%Y%m%d%H"), now.strftime("%Y%m%d")
    with tempfile.TemporaryDirectory(prefix="wme-bench-apply-") as tmp:
        server = start_seaweedfs(Path(tmp) / "seaweedfs")
        try:
            store = ObjectStore(bucket="bench", endpoint_url=server.endpoint_url,
                                access_key=EMBEDDED_ACCESS_KEY, secret_key=EMBEDDED_SECRET_KEY)
            store.check_bucket(create=True)
            totals = {"changes": 0, "wall": 0.0, "cpu": 0.0, "mb": 0.0}
            print(f"{'wiki':8} {'changes':>8} {'wall s':>7} {'CPU s':>7} {'/s wall':>8} {'/CPU-s':>8} {'MB text':>8}")
            for wiki in args.wikis.split(","):
                path = args.fixtures / "xztextfilter-truncated-dumps" / f"{wiki}-truncated-100k.xml.xz"
                siteinfo, revs = load(path)
                project = siteinfo["dbname"]
                # An empty base: every event below is a real change (an upsert), none "unchanged".
                ArticleStoreWriter(Path(tmp) / f"base-{project}", project=project, source="bench", run_id="b").close()
                publish_base(store, Path(tmp) / f"base-{project}", project, date)
                source = PrefetchedRevisions({r.revision_id: r for r in revs})
                events = [
                    ChangeEvent("recentchanges", f"rc:{r.revision_id}", f"rc:{r.revision_id}", project, "edit",
                                r.timestamp, r.page_id, r.namespace, r.title, r.revision_id)
                    for r in revs
                ]
                upserts = 0
                wall0, cpu0 = time.monotonic(), cpu_seconds()
                for start in range(0, len(events), args.batch):
                    result = apply_changes(store, project, events[start:start + args.batch], revisions=source,
                                           siteinfo=siteinfo, run_id="bench", hour=hour, log=lambda _: None)
                    upserts += result.upserts
                    if result.quarantined:
                        print(f"  {project}: quarantined {dict(result.quarantined)}")
                wall, cpu = time.monotonic() - wall0, cpu_seconds() - cpu0
                mb = sum(len((r.text or "").encode()) for r in revs) / 1e6
                print(f"{project:8} {upserts:8d} {wall:7.2f} {cpu:7.2f} {upserts / wall:8.1f} {upserts / cpu:8.1f} "
                      f"{mb:8.1f}")
                for key, value in (("changes", upserts), ("wall", wall), ("cpu", cpu), ("mb", mb)):
                    totals[key] += value
            print(f"{'total':8} {totals['changes']:8d} {totals['wall']:7.2f} {totals['cpu']:7.2f} "
                  f"{totals['changes'] / totals['wall']:8.1f} {totals['changes'] / totals['cpu']:8.1f} "
                  f"{totals['mb']:8.1f}")
            peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"peak RSS {peak_mb:.0f} MB (this process; includes the pre-fetched revisions in memory)")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
