"""End to end, from a dumps run to published snapshots, on the real dump fixtures.

Per wiki of the fixture mirror (the 7 xztextfilter dumps): download into the raw zone, parse into the page
store, enrich into the article store, export and publish the snapshots (articles of every namespace and
Structured Contents, as the paid job does) — each stage the same function the
Dagster assets call, against a real SeaweedFS started here. Prints per stage the wall time, the CPU time
(this process and its worker processes), the share of the chain, and the throughput in MB of wikitext and
articles per CPU-second; then peak memory.

``--tables`` runs the chain twice, the second time with each run's SQL tables (categorylinks, templatelinks,
linktarget, page_restrictions, page_props, user_groups, wbc_entity_usage) read and joined, and prints what they
cost: the
difference in CPU, as a share of the chain with them, and both peaks. The fixtures hold no tables, so they
are made from the pages as MediaWiki would record them: each page's categories and transcluded templates as
wme's wikitext reading finds them (in the linktarget shape of today's dumps), a protection on every 20th
page, a main image and a short description on every other page with an image, two groups for every 10th
registered editor, and the Wikidata usage of a client wiki: each page its item with the aspects ``C``, ``O``,
``S``, ``T`` and up to six other entities with a label aspect.

    .venv/bin/python benchmarks/bench_chain.py [--fixtures ../shared/fixtures] [--workers 2] [--tables [--rounds N]]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from wme_assets.devtools.mirror import XZTEXTFILTER_WIKIS, build_dumps_mirror, mysqldump_table
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


def _tables(dump: Path, wiki: str) -> dict[str, bytes]:
    """The tables MediaWiki would hold for the dump's pages (see the module's docstring)."""
    from wme_assets.enrichment.wikitext import WikiNames, extract_wikitext_fields
    from wme_assets.ingestion.dump_xml import DumpReader

    rows: dict[str, list[dict]] = defaultdict(list)
    targets: dict[tuple[int, str], int] = {}
    users: set[int] = set()
    with DumpReader(dump, keep_partial=True) as reader:
        names = WikiNames.from_siteinfo(reader.siteinfo)
        for page in reader:
            if not page.latest:
                continue
            fields = extract_wikitext_fields(page.latest.text or "", names, ns=page.ns)
            for category in dict.fromkeys(fields.categories):
                rows["categorylinks"].append({"cl_from": page.id, "cl_to": category.split(":", 1)[1].replace(" ", "_"),
                                              "cl_sortkey": page.title.upper(), "cl_type": "page"})
            for title in dict.fromkeys(fields.transcluded_templates):
                ns, text = names.split_title(title)
                key = (ns, text.replace(" ", "_"))
                lt = targets.setdefault(key, len(targets) + 1)
                rows["templatelinks"].append({"tl_from": page.id, "tl_target_id": lt, "tl_from_namespace": page.ns})
            if page.id % 20 == 0:
                for kind in ("edit", "move"):
                    rows["page_restrictions"].append({"pr_page": page.id, "pr_type": kind, "pr_level": "sysop",
                                                      "pr_cascade": 0, "pr_expiry": "infinity"})
            if fields.image and page.id % 2 == 0:
                rows["page_props"].append({"pp_page": page.id, "pp_propname": "page_image_free",
                                           "pp_value": fields.image["name"].split(":", 1)[-1].replace(" ", "_")})
                rows["page_props"].append({"pp_page": page.id, "pp_propname": "wikibase-shortdesc",
                                           "pp_value": page.title})
            entity_rows = [(f"Q{page.id}", aspect) for aspect in ("C", "O", "S", "T")]
            entity_rows += [(f"Q{page.id * 7 + k}", f"L.{names.language}") for k in range(page.id % 7)]
            rows["wbc_entity_usage"] += [{"eu_row_id": 0, "eu_page_id": page.id, "eu_entity_id": entity,
                                          "eu_aspect": aspect} for entity, aspect in entity_rows]
            user = page.latest.contributor_id
            if user and user % 10 == 0:
                users.add(user)
    rows["linktarget"] = [{"lt_id": i, "lt_namespace": ns, "lt_title": t} for (ns, t), i in targets.items()]
    rows["user_groups"] = [{"ug_user": u, "ug_group": g} for u in sorted(users) for g in ("autoreviewer", "rollbacker")]
    rows["wbc_entity_usage"] = [{**row, "eu_row_id": n} for n, row in enumerate(rows["wbc_entity_usage"], 1)]
    completed = "2023-05-01  0:00:00"
    return {
        table: mysqldump_table(wiki, table, sorted(rows[table], key=lambda r: tuple(r.values())[:2]), completed,
                               shape="linktarget" if table == "templatelinks" else "names")
        for table in ("categorylinks", "templatelinks", "linktarget", "page_restrictions", "page_props",
                      "user_groups", "wbc_entity_usage")
    }


def chain(fixtures: Path, workers: int, with_tables: bool) -> dict:
    """One run of the chain over the 7 dumps: wall and CPU per stage, wikitext bytes, articles, peak RSS."""
    with tempfile.TemporaryDirectory(prefix="wme-bench-chain-") as tmp:
        root = Path(tmp) / "mirror"
        dumps = {wiki: fixtures / "xztextfilter-truncated-dumps" / f"{wiki}-truncated-100k.xml.xz"
                 for wiki in XZTEXTFILTER_WIKIS}
        tables: dict[str, dict[str, bytes] | None] = dict.fromkeys(dumps)
        if with_tables:  # made in another process: the peak memory measured is the chain's alone
            with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
                tables = dict(zip(dumps, pool.map(_tables, dumps.values(), dumps), strict=True))
        for wiki, dump in dumps.items():
            build_dumps_mirror(root, wiki, DATE, dump, tables=tables[wiki])
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
                pages = timed("parse", lambda w=wiki: ingest_pages(store, w, DATE, workers=workers, log=quiet))
                enriched = timed(
                    "enrich",
                    lambda w=wiki: enrich_pages(store, w, DATE, run_id="bench", workers=workers, log=quiet),
                )
                # The paid job's exports: article snapshots of every namespace and the Structured Contents one.
                timed("export", lambda w=wiki: export_snapshots(store, w, DATE, log=quiet))
                timed("export", lambda w=wiki: export_structured_snapshot(store, w, DATE, log=quiet))
                wikitext_bytes += pages.summary.text_bytes
                articles += enriched.articles
        finally:
            server.stop()
    return {"wall": dict(wall), "cpu": dict(cpu), "wikitext_bytes": wikitext_bytes, "articles": articles,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def report(result: dict, workers: int, title: str) -> None:
    wall, cpu, articles = result["wall"], result["cpu"], result["articles"]
    total_wall, total_cpu = sum(wall.values()), sum(cpu.values())
    mb = result["wikitext_bytes"] / 1e6
    print(f"# chain{title}: {len(XZTEXTFILTER_WIKIS)} real dumps, {mb:.1f} MB of wikitext, {articles} articles; "
          f"{workers} parse/enrich workers")
    print(f"{'stage':10} {'wall s':>8} {'CPU s':>8} {'share':>6} {'MB/CPU-s':>9} {'art/CPU-s':>10}")
    for stage in ("download", "parse", "enrich", "export"):
        print(f"{stage:10} {wall[stage]:8.2f} {cpu[stage]:8.2f} {cpu[stage] / total_cpu:6.0%} "
              f"{mb / cpu[stage]:9.2f} {articles / cpu[stage]:10.0f}")
    print(
        f"{'chain':10} {total_wall:8.2f} {total_cpu:8.2f} {1:6.0%} {mb / total_cpu:9.2f} {articles / total_cpu:10.0f}"
    )
    print(f"peak RSS of the driving process: {result['peak_rss_mb']:.0f} MB (worker processes are not included)")
    print(f"wall-clock throughput: {mb / total_wall:.2f} MB/s of wikitext on this machine")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixtures", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "fixtures")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--tables", action="store_true", help="also run with the SQL tables; print their cost")
    parser.add_argument("--rounds", type=int, default=1, help="with --tables: interleaved rounds of both variants")
    parser.add_argument("--variant", choices=("plain", "tables"), help=argparse.SUPPRESS)  # one run, as JSON
    args = parser.parse_args()

    if args.variant:
        print(json.dumps(chain(args.fixtures, args.workers, args.variant == "tables")))
        return
    if not args.tables:
        report(chain(args.fixtures, args.workers, False), args.workers, "")
        return
    # Each variant in a process of its own, so that each peak is its own; rounds interleaved, so that a change
    # in the machine's load falls on both variants alike.
    runs: dict[str, list[dict]] = {"plain": [], "tables": []}
    for _ in range(args.rounds):
        for variant in ("plain", "tables"):
            out = subprocess.run([sys.executable, __file__, "--fixtures", str(args.fixtures), "--workers",
                                  str(args.workers), "--variant", variant], capture_output=True, text=True, check=True)
            runs[variant].append(json.loads(out.stdout.strip().splitlines()[-1]))
    for variant, title in (("plain", " without tables"), ("tables", " with the SQL tables")):
        last = f" (round {args.rounds} of {args.rounds})" if args.rounds > 1 else ""
        report(runs[variant][-1], args.workers, title + last)
    shares, costs, peaks = [], [], {"plain": [], "tables": []}
    for plain, tables in zip(runs["plain"], runs["tables"], strict=True):
        plain_cpu, tables_cpu = sum(plain["cpu"].values()), sum(tables["cpu"].values())
        costs.append(tables_cpu - plain_cpu)
        shares.append((tables_cpu - plain_cpu) / tables_cpu)
        peaks["plain"].append(plain["peak_rss_mb"])
        peaks["tables"].append(tables["peak_rss_mb"])

    def spread(values: list[float], fmt: str) -> str:
        if len(values) == 1:
            return format(values[0], fmt)
        low, middle, high = (format(v, fmt) for v in (min(values), statistics.median(values), max(values)))
        return f"{middle} (median; {low}-{high})"

    print(f"the tables (read, joined, into the articles) over {args.rounds} round(s): {spread(costs, '.2f')} CPU-s, "
          f"{spread(shares, '.1%')} of the chain with them; peak RSS of the driver "
          f"{spread(peaks['plain'], '.0f')} MB without, {spread(peaks['tables'], '.0f')} MB with")

if __name__ == "__main__":
    main()
