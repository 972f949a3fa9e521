"""One dumps run over many step processes (the main_split job): peak memory per process and scaling.

    .venv/bin/python benchmarks/bench_split.py [--wiki bnwiki] [--scales 1,8] [--processes 1,2,4]
        [--step-mb 4] [--workers 1]

For each scale N the real dump fixture of ``--wiki`` is made N times larger out of its own pages (copy k of
every page under fresh ids and titles, redirects pointing at the copies: bench_memory.write_scaled_export),
written as a dumps-site run and fetched into the raw zone of a real SeaweedFS started here. Then, for each
count P of ``--processes``, the ``main_split`` job runs from the raw zone to the article base through
Dagster's multiprocess executor with ``max_concurrent`` P (P step processes at a time), every step parsing or
enriching with ``--workers`` worker processes, steps of ``--step-mb`` compressed MB; ``single`` is the same
steps run one after another in one process (ingest_pages, enrich_pages). The snapshot export, one process
whatever the split, is not part of it.

Each run is a fresh process tree under a child subreaper that reaps every process with ``wait4`` (fork
servers' workers re-parented to it included): CPU is user + system of the whole tree, "largest" the largest
peak RSS (``ru_maxrss``) of any one process of the tree (Dagster's run and step processes, their parse and
enrich workers, the DuckDB joins); SeaweedFS is not in the tree. A process id per process kind is not kept:
the largest is what the ≤ 512 MB bound is about.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATE = "20230501"
PR_SET_CHILD_SUBREAPER = 36


def measured(command: list[str], env: dict[str, str]) -> dict:
    """Run ``command`` under a process of this script that is its tree's child subreaper (:func:`measure`)."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run([sys.executable, __file__, "--measure", out.name, "--", *command], env=env, check=True)
        return json.loads(Path(out.name).read_text())


def measure(out_path: str, command: list[str]) -> None:
    """Run ``command``, this process a child subreaper: CPU and the largest peak RSS of its whole tree."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")
    started = time.perf_counter()
    main = subprocess.Popen(command)
    cpu, maxrss, code, wall = 0.0, 0, None, 0.0
    while True:
        try:
            pid, status, usage = os.wait4(-1, 0)
        except ChildProcessError:
            break
        cpu += usage.ru_utime + usage.ru_stime
        maxrss = max(maxrss, usage.ru_maxrss * 1024)
        if pid == main.pid:
            code, wall = os.waitstatus_to_exitcode(status), time.perf_counter() - started
    if code:
        raise SystemExit(f"{command} failed ({code})")
    Path(out_path).write_text(json.dumps({"cpu": cpu, "largest": maxrss, "wall": wall}))


def split_job():
    from wme_assets.definitions import defs

    return defs().resolve_job_def("main_split")


def run_one(args: argparse.Namespace) -> None:
    """The measured process: the job with ``--processes`` step processes, or ``single`` in this process."""
    if args.mode == "single":
        from wme_assets.defs.resources import ObjectStorageResource
        from wme_assets.enrichment.run import enrich_pages
        from wme_assets.ingestion.run import ingest_pages
        from wme_assets.settings import load_settings

        store = ObjectStorageResource.from_settings(load_settings()).store
        quiet = lambda _: None  # noqa: E731
        ingest_pages(store, args.wiki, DATE, workers=args.workers, step_bytes=args.step_bytes, log=quiet)
        enrich_pages(store, args.wiki, DATE, run_id="bench", workers=args.workers, log=quiet)
        return
    import dagster as dg
    from dagster._core.test_utils import instance_for_test

    home = Path(args.dagster_home)
    home.mkdir(parents=True, exist_ok=True)
    with instance_for_test(temp_dir=str(home)) as instance:
        result = dg.execute_job(
            dg.reconstructable(split_job),
            instance=instance,
            tags={"dagster/partition/date": DATE, "dagster/partition/project": args.wiki},
            run_config={"execution": {"config": {"multiprocess": {"max_concurrent": int(args.mode)}}}},
        )
        if not result.success:
            raise SystemExit("the split run failed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fixtures", type=Path, default=REPO.parent / "shared" / "fixtures")
    parser.add_argument("--wiki", default="bnwiki")
    parser.add_argument("--scales", default="1,8")
    parser.add_argument("--processes", default="1,2,4", help="step processes at a time (and 'single')")
    parser.add_argument("--step-mb", type=float, default=4.0, help="compressed MB per parse step")
    parser.add_argument("--workers", type=int, default=1, help="parse/enrich workers per step process")
    parser.add_argument("--run-one", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("command", nargs="*", help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    parser.add_argument("--dagster-home", help=argparse.SUPPRESS)
    parser.add_argument("--step-bytes", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(args.measure, args.command)
        return
    if args.run_one:
        run_one(args)
        return

    sys.path.insert(0, str(REPO / "benchmarks"))
    from bench_memory import write_scaled_export

    from wme_assets.devtools.mirror import build_dumps_mirror
    from wme_assets.ingestion.download import download_run
    from wme_assets.settings import EMBEDDED_ACCESS_KEY, EMBEDDED_SECRET_KEY
    from wme_assets.sources.dumps_client import DumpsClient
    from wme_assets.storage.object_store import ObjectStore
    from wme_assets.storage.page_store import read_page_store_manifest
    from wme_assets.storage.seaweedfs import start_seaweedfs

    step_bytes = int(args.step_mb * 1024 * 1024)
    modes = ["single", *args.processes.split(",")] if "single" not in args.processes else args.processes.split(",")
    source = args.fixtures / "xztextfilter-truncated-dumps" / f"{args.wiki}-truncated-100k.xml.xz"
    rows = []
    with tempfile.TemporaryDirectory(prefix="wme-bench-split-") as tmp:
        server = start_seaweedfs(Path(tmp) / "seaweedfs")
        try:
            for scale in (int(s) for s in args.scales.split(",")):
                root, xml = Path(tmp) / f"mirror-x{scale}", Path(tmp) / f"x{scale}.xml"
                made = write_scaled_export(source, scale, xml)
                build_dumps_mirror(root, args.wiki, DATE, xml)
                xml.unlink()
                client = DumpsClient(root.as_uri())
                for mode in modes:
                    prefix = f"x{scale}-{mode}"
                    store = ObjectStore(bucket="bench", prefix=prefix, endpoint_url=server.endpoint_url,
                                        access_key=EMBEDDED_ACCESS_KEY, secret_key=EMBEDDED_SECRET_KEY)
                    store.check_bucket(create=True)
                    store.put_bytes(store.key(f"raw/{args.wiki}/{DATE}/dumpstatus.json"),
                                    client.fetch_status_bytes(args.wiki, DATE))
                    download_run(client, store, args.wiki, DATE)
                    env = {**os.environ, "WME_S3_ENDPOINT_URL": server.endpoint_url, "WME_S3_BUCKET": "bench",
                           "WME_S3_PREFIX": prefix, "WME_STEP_BYTES": str(step_bytes),
                           "WME_PARSE_WORKERS": str(args.workers), "WME_HOME": str(Path(tmp) / "home"),
                           "AWS_ACCESS_KEY_ID": EMBEDDED_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": EMBEDDED_SECRET_KEY,
                           "PYTHONPATH": str(REPO)}
                    command = [sys.executable, __file__, "--run-one", "--mode", mode, "--wiki", args.wiki,
                               "--workers", str(args.workers), "--step-bytes", str(step_bytes),
                               "--dagster-home", str(Path(tmp) / f"dagster-{prefix}")]
                    figures = measured(command, env)
                    manifest = read_page_store_manifest(store, args.wiki, DATE)
                    files = {f["name"][:10] for f in manifest["files"]}
                    rows.append((scale, made, mode, len(files), len(manifest["files"]), manifest["rows"], figures))
                    print(f"x{scale} {mode}: {figures}", file=sys.stderr, flush=True)
        finally:
            server.stop()

    mb = 1024 * 1024
    print(f"# main_split on {args.wiki} scaled; steps of {args.step_mb:g} compressed MB, {args.workers} "
          f"worker(s) per step process; MiB")
    print(f"{'scale':>5} {'XML MB':>7} {'pages':>7} {'mode':>7} {'parse':>5} {'enrich':>6} {'wall s':>7} "
          f"{'CPU s':>7} {'speedup':>7} {'largest':>7}")
    base: dict[int, float] = {}
    for scale, made, mode, parse_steps, enrich_steps, pages, f in rows:
        base.setdefault(scale, f["wall"]) if mode == "1" else None
        speedup = f"{base[scale] / f['wall']:.2f}" if scale in base and mode != "single" else ""
        print(f"{'x' + str(scale):>5} {made['xml_bytes'] / 1e6:7.0f} {pages:7d} {mode:>7} {parse_steps:5d} "
              f"{enrich_steps:6d} {f['wall']:7.1f} {f['cpu']:7.1f} {speedup:>7} {f['largest'] / mb:7.0f}")
    largest = {}
    for scale, *_, f in rows:
        largest[scale] = max(largest.get(scale, 0), f["largest"])
    print("largest peak RSS of any one process: " + ", ".join(f"x{s}: {v / mb:.0f} MiB" for s, v in largest.items()))


if __name__ == "__main__":
    main()
