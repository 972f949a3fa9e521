"""Peak memory of the chain at two dump sizes: it must not grow with the dump (a script, not a test).

    .venv/bin/python benchmarks/bench_memory.py [--wiki bnwiki] [--scales 1,4] [--workers 2] [--no-export]

For each scale N the real dump fixture of ``--wiki`` (``xztextfilter-truncated-dumps``) is made N times
larger out of its own pages: copy 0 is the real dump unchanged, copy k keeps every page's text and gives it
fresh page and revision ids and the title "T (k)"; redirects of copy k point at the copies k of their
targets, so the redirect join scales with the dump too. Each scaled export becomes a dumps-site run
(``build_dumps_mirror``), and then, in a fresh process of its own, goes through the same functions the
Dagster assets call: download into the raw zone, parse into the page store, enrich into the article store
and (unless ``--no-export``) export the snapshots, against a real SeaweedFS started here.

Measured per stage:

* ``driver``: the peak RSS of the process running the stage (VmHWM, reset before each stage through
  ``/proc/self/clear_refs``), exact;
* ``tree``: the peak of the summed RSS of that process and all its descendants (the parse and enrich
  worker pools, the forkserver), sampled every 20 ms from here; RSS counts pages shared between forked
  workers once per process, so this is an upper bound; ``PSS`` counts them once in total;
* ``worker``: the largest peak RSS (VmHWM) of any single descendant.

SeaweedFS (storage, not the chain) is not counted. Flat means: the same figures at scale 1 and N.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DATE = "20230501"
STAGES = ("download", "parse", "enrich", "export")


# --------------------------------------------------------------------------------------------------
# The scaled dump: real pages repeated under fresh ids and titles
# --------------------------------------------------------------------------------------------------

_TITLE = re.compile(rb"^(\s*<title>)(.*)(</title>\s*)$", re.S)
_PAGE_ID = re.compile(rb"^(    <id>)(\d+)(</id>\s*)$", re.S)
_REVISION_ID = re.compile(rb"^(      <(?:id|parentid)>)(\d+)(</(?:id|parentid)>\s*)$", re.S)
_REDIRECT = re.compile(rb'^(\s*<redirect title=")([^"]*)(" />\s*)$', re.S)


def _suffixed(title: bytes, k: int) -> bytes:
    name, hash_, section = title.partition(b"#")
    return name + f" ({k})".encode() + hash_ + section


def write_scaled_export(source: Path, scale: int, out_path: Path) -> dict[str, int]:
    """Write ``source`` (a real, possibly truncated export) ``scale`` times over into ``out_path``."""
    from wme_assets.devtools.mirror import _read_export, complete_pages_xml

    with complete_pages_xml(source) as complete:
        header, pages = _read_export(complete)
        page_xml = [page.xml for page in pages]
    max_page = max_rev = 0
    for xml in page_xml:
        for line in xml.splitlines(keepends=True):
            if m := _PAGE_ID.match(line):
                max_page = max(max_page, int(m.group(2)))
            elif m := _REVISION_ID.match(line):
                max_rev = max(max_rev, int(m.group(2)))
    text_bytes = 0
    with out_path.open("wb") as out:
        out.write(header)
        for k in range(scale):
            for xml in page_xml:
                if k:
                    lines = []
                    for line in xml.splitlines(keepends=True):
                        if m := _TITLE.match(line):
                            line = m.group(1) + _suffixed(m.group(2), k) + m.group(3)
                        elif m := _PAGE_ID.match(line):
                            line = m.group(1) + str(int(m.group(2)) + k * (max_page + 1)).encode() + m.group(3)
                        elif m := _REVISION_ID.match(line):
                            line = m.group(1) + str(int(m.group(2)) + k * (max_rev + 1)).encode() + m.group(3)
                        elif m := _REDIRECT.match(line):
                            line = m.group(1) + _suffixed(m.group(2), k) + m.group(3)
                        lines.append(line)
                    xml = b"".join(lines)
                out.write(xml)
                text_bytes += len(xml)
        out.write(b"</mediawiki>\n")
    return {"pages": len(page_xml) * scale, "xml_bytes": out_path.stat().st_size}


# --------------------------------------------------------------------------------------------------
# One measured run (a fresh process: nothing left over from building the mirror or an earlier size)
# --------------------------------------------------------------------------------------------------


def _vm(field: str, pid: str = "self") -> int:
    """A ``VmXXX`` line of /proc/<pid>/status, in bytes (0 when the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def measure_one(args: argparse.Namespace) -> None:
    from wme_assets.enrichment.run import enrich_pages
    from wme_assets.ingestion.download import download_run
    from wme_assets.ingestion.run import ingest_pages
    from wme_assets.settings import EMBEDDED_ACCESS_KEY, EMBEDDED_SECRET_KEY
    from wme_assets.snapshots.run import export_snapshots
    from wme_assets.sources.dumps_client import DumpsClient
    from wme_assets.storage.object_store import ObjectStore

    store = ObjectStore(
        bucket="bench",
        prefix=args.prefix,
        endpoint_url=args.endpoint,
        access_key=EMBEDDED_ACCESS_KEY,
        secret_key=EMBEDDED_SECRET_KEY,
    )
    client = DumpsClient(Path(args.mirror).as_uri())
    quiet = lambda _: None  # noqa: E731
    stage_file = Path(args.stage_file)
    out: dict = {"stages": {}}
    store.put_bytes(store.key(f"raw/{args.wiki}/{DATE}/dumpstatus.json"), client.fetch_status_bytes(args.wiki, DATE))

    def stage(name, fn):
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        stage_file.write_text(name)
        start_rss = _vm("VmRSS")
        started = time.perf_counter()
        value = fn()
        out["stages"][name] = {"seconds": time.perf_counter() - started, "start": start_rss, "driver": _vm("VmHWM")}
        stage_file.write_text("")
        return value

    stage("download", lambda: download_run(client, store, args.wiki, DATE))
    pages = stage("parse", lambda: ingest_pages(store, args.wiki, DATE, workers=args.workers, log=quiet))
    enriched = stage(
        "enrich", lambda: enrich_pages(store, args.wiki, DATE, run_id="bench", workers=args.workers, log=quiet)
    )
    if args.export:
        stage("export", lambda: export_snapshots(store, args.wiki, DATE, log=quiet))
    out.update(
        pages=pages.summary.rows,
        text_bytes=pages.summary.text_bytes,
        articles=enriched.articles,
        redirects=enriched.redirects_attached,
        dangling=enriched.redirects_dangling,
        quarantined=len(enriched.quarantined),
    )
    print(json.dumps(out), flush=True)


# --------------------------------------------------------------------------------------------------
# Sampling the measured process tree from outside
# --------------------------------------------------------------------------------------------------


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            for task in Path(f"/proc/{current}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


def _rss_pss(pid: int) -> tuple[int, int]:
    rss = pss = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss = int(line.split()[1]) * 1024
            elif line.startswith("Pss:"):
                pss = int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return rss, pss


class TreeSampler(threading.Thread):
    def __init__(self, pid: int, stage_file: Path, interval: float = 0.02):
        super().__init__(daemon=True)
        self.pid, self.stage_file, self.interval = pid, stage_file, interval
        self.peaks: dict[str, dict[str, int]] = {}
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                stage = self.stage_file.read_text().strip()
            except FileNotFoundError:
                stage = ""
            if stage:
                peak = self.peaks.setdefault(stage, {"tree_rss": 0, "tree_pss": 0, "worker": 0, "processes": 0})
                rss = pss = 0
                pids = _descendants(self.pid)
                for pid in pids:
                    r, p = _rss_pss(pid)
                    rss, pss = rss + r, pss + p
                    if pid != self.pid:
                        peak["worker"] = max(peak["worker"], _vm("VmHWM", str(pid)))
                peak["tree_rss"] = max(peak["tree_rss"], rss)
                peak["tree_pss"] = max(peak["tree_pss"], pss)
                peak["processes"] = max(peak["processes"], len(pids))
            time.sleep(self.interval)


# --------------------------------------------------------------------------------------------------
# The driver
# --------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fixtures", type=Path, default=REPO.parent / "shared" / "fixtures")
    parser.add_argument("--wiki", default="bnwiki")
    parser.add_argument("--scales", default="1,4", help="comma-separated multiples of the real dump")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-export", dest="export", action="store_false")
    parser.add_argument("--measure-one", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--endpoint", help=argparse.SUPPRESS)
    parser.add_argument("--prefix", help=argparse.SUPPRESS)
    parser.add_argument("--mirror", help=argparse.SUPPRESS)
    parser.add_argument("--stage-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure_one:
        measure_one(args)
        return

    from wme_assets.devtools.mirror import build_dumps_mirror
    from wme_assets.settings import EMBEDDED_ACCESS_KEY, EMBEDDED_SECRET_KEY
    from wme_assets.storage.object_store import ObjectStore
    from wme_assets.storage.seaweedfs import start_seaweedfs

    scales = [int(s) for s in args.scales.split(",")]
    source = args.fixtures / "xztextfilter-truncated-dumps" / f"{args.wiki}-truncated-100k.xml.xz"
    results = []
    with tempfile.TemporaryDirectory(prefix="wme-bench-memory-") as tmp:
        server = start_seaweedfs(Path(tmp) / "seaweedfs")
        try:
            ObjectStore(
                bucket="bench",
                endpoint_url=server.endpoint_url,
                access_key=EMBEDDED_ACCESS_KEY,
                secret_key=EMBEDDED_SECRET_KEY,
            ).check_bucket(create=True)
            for scale in scales:
                root = Path(tmp) / f"mirror-x{scale}"
                xml = Path(tmp) / f"scaled-x{scale}.xml"
                made = write_scaled_export(source, scale, xml)
                build_dumps_mirror(root, args.wiki, DATE, xml)
                xml.unlink()
                stage_file = Path(tmp) / f"stage-x{scale}"
                stage_file.write_text("")
                command = [
                    sys.executable,
                    __file__,
                    "--measure-one",
                    "--wiki",
                    args.wiki,
                    "--workers",
                    str(args.workers),
                    "--endpoint",
                    server.endpoint_url,
                    "--prefix",
                    f"x{scale}",
                    "--mirror",
                    str(root),
                    "--stage-file",
                    str(stage_file),
                ]
                if not args.export:
                    command.append("--no-export")
                child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
                sampler = TreeSampler(child.pid, stage_file)
                sampler.start()
                stdout, _ = child.communicate()
                sampler.done.set()
                sampler.join()
                if child.returncode:
                    raise SystemExit(f"the measured run of scale {scale} failed ({child.returncode})")
                measured = json.loads(stdout.strip().splitlines()[-1])
                results.append((scale, made, measured, sampler.peaks))
                print(f"scale {scale}: done", file=sys.stderr, flush=True)
        finally:
            server.stop()

    mb = 1024 * 1024
    print(
        f"# {args.wiki} dump fixture scaled by {', '.join(map(str, scales))}; {args.workers} workers; "
        f"peak memory in MiB"
    )
    for scale, made, measured, _ in results:
        print(
            f"x{scale}: {made['xml_bytes'] / 1e6:.0f} MB of XML, {measured['pages']} pages, "
            f"{measured['text_bytes'] / 1e6:.0f} MB of wikitext, {measured['articles']} articles, "
            f"{measured['redirects']} redirects attached, {measured['dangling']} dangling, "
            f"{measured['quarantined']} quarantined"
        )
    columns = ("stage", "scale", "seconds", "start", "driver", "tree RSS", "tree PSS", "worker", "procs")
    widths = (9, 5, 8, 6, 7, 9, 9, 7, 5)
    header = " ".join(
        c.ljust(w) if k == 0 else c.rjust(w) for k, (c, w) in enumerate(zip(columns, widths, strict=True))
    )
    print(header)
    print("-" * len(header))
    for stage in STAGES:
        for scale, _made, measured, peaks in results:
            if stage not in measured["stages"]:
                continue
            own = measured["stages"][stage]
            tree = peaks.get(stage, {"tree_rss": 0, "tree_pss": 0, "worker": 0, "processes": 0})
            print(
                f"{stage:9} {'x' + str(scale):>5} {own['seconds']:8.1f} {own['start'] / mb:6.0f} "
                f"{own['driver'] / mb:7.0f} "
                f"{tree['tree_rss'] / mb:9.0f} {tree['tree_pss'] / mb:9.0f} {tree['worker'] / mb:7.0f} "
                f"{tree['processes']:5d}"
            )
    worst = {scale: max(m["stages"][s]["driver"] for s in m["stages"]) for scale, _, m, _ in results}
    print("peak driver RSS over the chain: " + ", ".join(f"x{s}: {v / mb:.0f} MiB" for s, v in worst.items()))
    worst_tree = {scale: max(p["tree_rss"] for p in peaks.values()) for scale, _, _, peaks in results}
    print("peak tree RSS over the chain:   " + ", ".join(f"x{s}: {v / mb:.0f} MiB" for s, v in worst_tree.items()))


if __name__ == "__main__":
    main()
