"""wme's whole chain beside the peer tools, on the same long real articles, per CPU-second of the process tree.

    .venv/bin/python benchmarks/bench_peers.py [--work DIR] [--rounds 3] [--target-mb 150] [--workers 2]
        [--tools wme,wikiextractor-2,...] [--fixtures ../shared/fixtures] [--wme-repo OTHER_CHECKOUT]

The input: the 70 real articles of ``wtf_wikipedia-wikitext`` (``redirect.txt`` left out) and the wikitext of
the 12 Wikimedia Enterprise records of ``wme-articles``, repeated under fresh page ids, revision ids and
titles ("T (k)") until they hold about ``--target-mb`` MB of wikitext, written as one MediaWiki export and
laid out as a dumps run (``build_dumps_mirror``, what ``wme mirror add`` calls: multistream bz2 + index,
page_props with the records' Wikidata ids, dumpstatus.json, checksums) of a wiki called ``enwiki``. The
tools that read a dump read its multistream bz2; the tools that take wikitext read the same texts as one
NDJSON file (``{"title", "text"}`` per line). Every tool is charged for the same MB of wikitext (the UTF-8
bytes of the texts).

The tools, each in its own throwaway environment under ``--work`` (kept, so a rerun installs nothing):

* ``wme``: the whole chain as the paid job runs it — download and verify the run into the raw zone, parse
  it into the page store, enrich every page into Enterprise articles and Structured Contents, export,
  verify and publish the article snapshots and the Structured Contents snapshot — the functions the Dagster
  assets call (as ``bench_chain.py``), with ``--workers`` parse/enrich workers, in a fresh process, against
  a SeaweedFS started here (its CPU is storage, not the chain: printed apart, not counted), with the CPU of
  each stage (download, parse, enrich, export) printed under the table; ``--wme-repo`` runs the chain of
  another checkout (before/after comparisons);
* ``wme-records``: wme's extraction and record building alone, the work of the chain's enrichment workers,
  in one process and on the texts, as the peers that take wikitext run: per text ``extract_wikitext_fields``
  then ``build_article`` (its Enterprise article and Structured Contents JSON, schema-checked), with the
  dump's own siteinfo and the workers' garbage-collector settings; no dump to decode, nothing stored. The
  distance from this row to ``wme``'s is what the chain adds: bz2, the page and article stores, the
  snapshots' compression, verification and upload;
* ``wikiextractor-2``, ``wikiextractor-1``: WikiExtractor (PyPI ``wikiextractor``) on the bz2 dump, 2 and
  1 extraction processes, plain text out;
* ``gensim``: gensim's ``segment_wiki`` (PyPI ``gensim``) on the bz2 dump, one worker, JSON lines out;
* ``wikitextparser``: PyPI ``wikitextparser``, per text ``parse`` then its sections' titles, templates'
  names and tables;
* ``mwparserfromhell``: PyPI ``mwparserfromhell``, a bare ``parse()`` per text;
* ``wtf_wikipedia``: the npm package under node, ``wtf(text).json()`` per text (sections, infoboxes,
  tables, references, ...).

Each measured command runs under a small process of this script that makes itself a child subreaper
(``prctl(PR_SET_CHILD_SUBREAPER)``) and reaps every process of the tree with ``wait4``: workers that a
multiprocessing fork server started, re-parented when their parent exits, are counted too. CPU is user +
system of every process of the tree; peak RSS is the largest ``ru_maxrss`` of any one process; "left"
counts the processes of the tree still alive when the command's own process exited. Rounds are
interleaved (every tool once per round, in an order rotated each round); the table gives medians and
ranges. A tool that cannot be installed or fails is reported as such in the table.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import math
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATE = "20230501"
DBNAME = "enwiki"
PR_SET_CHILD_SUBREAPER = 36

PEERS = {  # name -> (package spec, what it produces)
    "wikiextractor": "wikiextractor==3.1.0",
    "gensim": "gensim==4.4.0",
    "wikitextparser": "wikitextparser==3.0.0",
    "mwparserfromhell": "mwparserfromhell==0.7.2",
}
WTF_SPEC = "wtf_wikipedia@10.4.2"

PRODUCES = {
    "wme": "dump → verified Enterprise + Structured Contents snapshots in S3",
    "wme-records": "Enterprise + Structured Contents JSON per article, 1 process (wme's extraction alone)",
    "wikiextractor-2": "plain text from the bz2 dump, 2 processes",
    "wikiextractor-1": "plain text from the bz2 dump, 1 process",
    "gensim": "segment_wiki: text + section titles from the bz2 dump",
    "wikitextparser": "parse + sections, templates, tables",
    "mwparserfromhell": "bare parse()",
    "wtf_wikipedia": "structured JSON per article (node)",
}
TOOLS = tuple(PRODUCES)


# --------------------------------------------------------------------------------------------------
# Measuring one command: the whole process tree, re-parented workers included
# --------------------------------------------------------------------------------------------------


def _live_children() -> list[int]:
    pids = []
    for task in Path("/proc/self/task").iterdir():
        try:
            pids += [int(p) for p in (task / "children").read_text().split()]
        except FileNotFoundError:
            pass
    return pids


def measure(out_path: str, command: list[str], linger: float = 120.0) -> int:
    """Run ``command`` as a child subreaper; write CPU, peak RSS and wall time of its whole tree as JSON."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")
    started = time.perf_counter()
    main = subprocess.Popen(command)
    cpu = 0.0
    maxrss_kb = 0
    code: int | None = None
    left = 0
    deadline: float | None = None
    while True:
        try:
            pid, status, usage = os.wait4(-1, 0 if code is None else os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:  # the command is done, some of its descendants are not yet
            if time.perf_counter() > deadline:
                for child in _live_children():
                    os.kill(child, signal.SIGKILL)
                deadline = math.inf
            time.sleep(0.02)
            continue
        cpu += usage.ru_utime + usage.ru_stime
        maxrss_kb = max(maxrss_kb, usage.ru_maxrss)
        if pid == main.pid:
            code = os.waitstatus_to_exitcode(status)
            main.returncode = code
            wall = time.perf_counter() - started
            left = len(_live_children())
            deadline = time.perf_counter() + linger
    Path(out_path).write_text(
        json.dumps({"cpu": cpu, "maxrss": maxrss_kb * 1024, "wall": wall, "code": code, "left": left})
    )
    return 0


# --------------------------------------------------------------------------------------------------
# The input: long real articles repeated into a dumps run
# --------------------------------------------------------------------------------------------------


def _base_articles(fixtures: Path) -> list[dict]:
    """The real articles: (title, wikitext, Wikidata id or None)."""
    from wme_assets.devtools.mirror import read_enterprise_records

    articles = []
    for path in sorted((fixtures / "wtf_wikipedia-wikitext").glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        if path.name == "redirect.txt":
            continue
        title = path.stem.replace("_", " ").replace("-", " ")
        articles.append({"title": title[:1].upper() + title[1:], "text": text, "qid": None})
    for wiki_dir in sorted(p for p in (fixtures / "wme-articles").iterdir() if p.is_dir()):
        for record in read_enterprise_records(wiki_dir):
            articles.append(
                {
                    "title": f"{record['name']} ({wiki_dir.name})",
                    "text": record["article_body"]["wikitext"],
                    "qid": (record.get("main_entity") or {}).get("identifier"),
                }
            )
    return articles


@dataclass
class Input:
    mirror: Path
    dump: Path  # the multistream bz2
    texts: Path  # NDJSON {"title", "text"}
    pages: int
    text_bytes: int


def build_input(work: Path, fixtures: Path, target_mb: float) -> Input:
    from wme_assets.devtools.mirror import build_dumps_mirror, export_xml_from_enterprise_records

    folder = work / f"input-{target_mb:g}mb"
    done = folder / "input.json"
    mirror = folder / "mirror"
    dump = mirror / DBNAME / DATE / f"{DBNAME}-{DATE}-pages-articles-multistream.xml.bz2"
    texts = folder / "texts.ndjson"
    if done.exists():
        meta = json.loads(done.read_text())
        return Input(mirror, dump, texts, meta["pages"], meta["text_bytes"])
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    base = _base_articles(fixtures)
    base_bytes = sum(len(a["text"].encode("utf-8")) for a in base)
    copies = max(1, round(target_mb * 1e6 / base_bytes))
    print(f"# building the input: {len(base)} real articles ({base_bytes / 1e6:.2f} MB) × {copies} copies", flush=True)
    records = []
    text_bytes = 0
    with texts.open("w", encoding="utf-8") as out:
        for k in range(copies):
            for i, article in enumerate(base):
                title = article["title"] if k == 0 else f"{article['title']} ({k})"
                page_id = 1 + k * len(base) + i
                out.write(json.dumps({"title": title, "text": article["text"]}, ensure_ascii=False) + "\n")
                text_bytes += len(article["text"].encode("utf-8"))
                record = {
                    "identifier": page_id,
                    "name": title,
                    "url": f"https://en.wikipedia.org/wiki/{title.replace(' ', '_')}",
                    "namespace": {"identifier": 0},
                    "date_modified": "2023-04-20T12:00:00Z",
                    "version": {
                        "identifier": 10_000_000 + page_id,
                        "editor": {"identifier": 1, "name": "Bench"},
                    },
                    "article_body": {"wikitext": article["text"]},
                }
                if article["qid"]:
                    record["main_entity"] = {"identifier": article["qid"]}
                records.append(record)
    xml = export_xml_from_enterprise_records(records, dbname=DBNAME)
    page_props = {r["identifier"]: r["main_entity"]["identifier"] for r in records if "main_entity" in r}
    build_dumps_mirror(mirror, DBNAME, DATE, xml, page_props=page_props)
    done.write_text(json.dumps({"pages": len(records), "text_bytes": text_bytes}))
    return Input(mirror, dump, texts, len(records), text_bytes)


# --------------------------------------------------------------------------------------------------
# The environments (kept under --work) and the commands
# --------------------------------------------------------------------------------------------------

WIKITEXTPARSER_DRIVER = """\
import json, sys
import wikitextparser as wtp
n = 0
with open(sys.argv[1], encoding="utf-8") as f:
    for line in f:
        page = wtp.parse(json.loads(line)["text"])
        titles = [s.title for s in page.sections]
        names = [t.name for t in page.templates]
        tables = page.tables
        n += 1
print(n, "pages")
"""

MWPARSERFROMHELL_DRIVER = """\
import json, sys
import mwparserfromhell
n = 0
with open(sys.argv[1], encoding="utf-8") as f:
    for line in f:
        mwparserfromhell.parse(json.loads(line)["text"])
        n += 1
print(n, "pages")
"""

WTF_DRIVER = """\
const fs = require('fs');
const readline = require('readline');
const wtf = require('wtf_wikipedia');
let n = 0;
const lines = readline.createInterface({input: fs.createReadStream(process.argv[2]), crlfDelay: Infinity});
lines.on('line', (line) => { if (line) { wtf(JSON.parse(line).text).json(); n += 1; } });
lines.on('close', () => console.log(n, 'pages'));
"""


def _tail(text: str, lines: int = 3) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])[:300]


def prepare_env(work: Path, peer: str) -> tuple[Path | None, str | None]:
    """The environment folder of a peer (installed once), or None and why it could not be installed."""
    env = work / "envs" / peer
    spec = WTF_SPEC if peer == "wtf_wikipedia" else PEERS[peer]
    marker = env / ".installed"
    if marker.exists() and marker.read_text() == spec:
        return env, None
    shutil.rmtree(env, ignore_errors=True)
    env.mkdir(parents=True)
    print(f"# installing {spec} into {env}", flush=True)
    if peer == "wtf_wikipedia":
        if not shutil.which("npm") or not shutil.which("node"):
            return None, "node/npm not found"
        steps = [["npm", "install", "--prefix", str(env), "--no-save", spec]]
    else:
        python = "python3.11" if shutil.which("python3.11") else "python3"
        steps = [[python, "-m", "venv", str(env)], [str(env / "bin" / "python"), "-m", "pip", "install", "-q", spec]]
    for step in steps:
        try:
            done = subprocess.run(step, capture_output=True, text=True, timeout=1800)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return None, f"install failed: {exc}"
        if done.returncode != 0:
            return None, f"install failed: {_tail(done.stderr or done.stdout)}"
    (env / "driver").mkdir(exist_ok=True)
    (env / "driver" / "wikitextparser_driver.py").write_text(WIKITEXTPARSER_DRIVER)
    (env / "driver" / "mwparserfromhell_driver.py").write_text(MWPARSERFROMHELL_DRIVER)
    (env / "driver" / "wtf_driver.js").write_text(WTF_DRIVER)
    marker.write_text(spec)
    return env, None


def peer_command(tool: str, env: Path, data: Input, out: Path) -> list[str]:
    python = str(env / "bin" / "python")
    if tool.startswith("wikiextractor"):
        processes = tool.rsplit("-", 1)[1]
        return [python, "-m", "wikiextractor.WikiExtractor", str(data.dump), "-q", "--processes", processes,
                "-o", str(out)]
    if tool == "gensim":
        return [python, "-m", "gensim.scripts.segment_wiki", "-f", str(data.dump), "-o", str(out / "wiki.json.gz"),
                "-w", "1"]
    if tool == "wikitextparser":
        return [python, str(env / "driver" / "wikitextparser_driver.py"), str(data.texts)]
    if tool == "mwparserfromhell":
        return [python, str(env / "driver" / "mwparserfromhell_driver.py"), str(data.texts)]
    if tool == "wtf_wikipedia":
        # node resolves require() from the script's folder upwards: the driver sits in the npm prefix.
        return ["node", str(env / "driver" / "wtf_driver.js"), str(data.texts)]
    raise ValueError(tool)


# --------------------------------------------------------------------------------------------------
# wme's chain in a process of its own
# --------------------------------------------------------------------------------------------------


def run_wme(args: argparse.Namespace) -> None:
    from wme_assets.enrichment.run import enrich_pages
    from wme_assets.ingestion.download import download_run
    from wme_assets.ingestion.run import ingest_pages
    from wme_assets.settings import EMBEDDED_ACCESS_KEY, EMBEDDED_SECRET_KEY
    from wme_assets.snapshots.run import export_snapshots, export_structured_snapshot
    from wme_assets.sources.dumps_client import DumpsClient
    from wme_assets.storage.object_store import ObjectStore

    store = ObjectStore(bucket="bench", prefix=args.prefix, endpoint_url=args.endpoint,
                        access_key=EMBEDDED_ACCESS_KEY, secret_key=EMBEDDED_SECRET_KEY)
    client = DumpsClient(Path(args.mirror).as_uri())
    quiet = lambda _: None  # noqa: E731
    stages: dict[str, float] = {}
    driver: dict[str, float] = {}  # of which this process itself (the rest: workers, DuckDB's helper)

    def own_cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def stage(name, fn):
        before, own_before = _tree_cpu(), own_cpu()
        value = fn()
        _await_reaped_workers()
        stages[name] = stages.get(name, 0.0) + _tree_cpu() - before
        driver[name] = driver.get(name, 0.0) + own_cpu() - own_before
        return value

    store.put_bytes(store.key(f"raw/{DBNAME}/{DATE}/dumpstatus.json"), client.fetch_status_bytes(DBNAME, DATE))
    stage("download", lambda: download_run(client, store, DBNAME, DATE))
    pages = stage("parse", lambda: ingest_pages(store, DBNAME, DATE, workers=args.workers, log=quiet))
    enriched = stage(
        "enrich", lambda: enrich_pages(store, DBNAME, DATE, run_id="bench", workers=args.workers, log=quiet)
    )
    stage("export", lambda: export_snapshots(store, DBNAME, DATE, log=quiet))
    stage("export", lambda: export_structured_snapshot(store, DBNAME, DATE, log=quiet))
    Path(args.stages_out).write_text(
        json.dumps({"text_bytes": pages.summary.text_bytes, "articles": enriched.articles, "stages": stages,
                    "driver": driver})
    )


def run_wme_records(args: argparse.Namespace) -> None:
    """wme's extraction and record building, page by page in this one process, on the texts file."""
    import gc

    from wme_assets.enrichment.article import Site, build_article
    from wme_assets.enrichment.run import WORKER_GC_THRESHOLD
    from wme_assets.enrichment.wikitext import extract_wikitext_fields
    from wme_assets.ingestion.dump_xml import DumpReader
    from wme_assets.ingestion.steps import siteinfo_record

    with DumpReader(args.dump) as dump:
        site = Site.from_siteinfo(siteinfo_record(dump.siteinfo))
    gc.freeze()  # as an enrichment worker starts (enrichment.run._init_worker)
    gc.set_threshold(WORKER_GC_THRESHOLD, *gc.get_threshold()[1:])
    pages = 0
    with open(args.texts, encoding="utf-8") as texts:
        for pages, line in enumerate(texts, 1):
            page = json.loads(line)
            row = {"page_id": pages, "namespace": 0, "title": page["title"], "revision_id": pages,
                   "parent_revision_id": None, "timestamp": "2023-05-01T00:00:00Z", "contributor_name": "",
                   "contributor_id": None, "text": page["text"]}
            fields = extract_wikitext_fields(page["text"], site.names, dbname=site.dbname, ns=0)
            build_article(row, fields, site, run_id="bench")
    print(pages, "pages")


def _await_reaped_workers(timeout: float = 10.0) -> None:
    """Wait until our live children (the fork server) have reaped every worker of the stage that just ended.

    A pool's shutdown returns once its workers have exited, but the fork server reaps them on its own time:
    until it has, their CPU is in no one's counters, and a stage read at once would miss it (a whole worker's
    CPU at times) and leave it to the next stage."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        grandchildren = []
        for pid in _live_children():
            try:
                for task in Path(f"/proc/{pid}/task").iterdir():
                    grandchildren += (task / "children").read_text().split()
            except FileNotFoundError:
                continue
        if not grandchildren:
            return
        time.sleep(0.05)


def _tree_cpu() -> float:
    """CPU of this process, of the children it reaped and of its live children with what they reaped.

    The parse and enrich pools start through a fork server, a live child of ours that reaps the workers:
    their CPU reaches its cutime/cstime once a pool is shut down (every stage shuts its pools down)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = own.ru_utime + own.ru_stime + reaped.ru_utime + reaped.ru_stime
    ticks = os.sysconf("SC_CLK_TCK")
    for pid in _live_children():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += sum(int(v) for v in fields[11:15]) / ticks
    return total


# --------------------------------------------------------------------------------------------------
# Rounds and the table
# --------------------------------------------------------------------------------------------------


@dataclass
class Result:
    tool: str
    cpu: list[float] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)
    maxrss: list[int] = field(default_factory=list)
    left: list[int] = field(default_factory=list)
    server_cpu: list[float] = field(default_factory=list)
    stages: list[dict[str, float]] = field(default_factory=list)
    driver: list[dict[str, float]] = field(default_factory=list)  # the wme process's own share of each stage
    error: str | None = None


def _proc_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _yardstick() -> float:
    """CPU-seconds of a fixed pure-Python loop, run just before each command: how fast the machine was then.
    On a shared virtual machine it moved by up to 2× from one second to the next; a round whose yardstick is
    far from the others' was measured on a slower (or faster) machine."""
    started = time.process_time()
    counts: dict[int, int] = {}
    for i in range(2_000_000):
        counts[i % 1000] = counts.get(i % 1000, 0) + i
    return time.process_time() - started


def run_measured(command: list[str], work: Path, env: dict | None = None) -> tuple[dict, str]:
    out = work / "measure.json"
    out.unlink(missing_ok=True)
    log = work / "command.log"
    with log.open("w") as stream:
        subprocess.run([sys.executable, __file__, "--measure", str(out), "--", *command],
                       stdout=stream, stderr=subprocess.STDOUT, env=env, check=False)
    text = log.read_text(errors="replace")
    if not out.exists():
        return {"code": -1}, text
    return json.loads(out.read_text()), text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/wme-bench-peers"),
                        help="environments, input and outputs; kept between runs")
    parser.add_argument("--fixtures", type=Path, default=REPO.parent / "shared" / "fixtures")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--target-mb", type=float, default=150.0)
    parser.add_argument("--workers", type=int, default=2, help="wme's parse/enrich worker processes")
    parser.add_argument("--wme-repo", type=Path, default=REPO,
                        help="the wme source tree whose chain runs (another checkout: before/after comparisons)")
    parser.add_argument("--tools", default=",".join(TOOLS), help=f"comma-separated, of {','.join(TOOLS)}")
    args = parser.parse_args()
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = set(tools) - set(TOOLS)
    if unknown:
        parser.error(f"unknown tools {sorted(unknown)}; known: {', '.join(TOOLS)}")

    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    data = build_input(work, args.fixtures, args.target_mb)
    mb = data.text_bytes / 1e6
    results = {tool: Result(tool) for tool in tools}
    yardsticks: list[float] = []
    envs: dict[str, Path] = {}
    for tool in tools:
        if tool.startswith("wme"):
            continue
        peer = tool.split("-")[0]
        if peer not in envs:
            env, error = prepare_env(work, peer)
            if env is None:
                results[tool].error = error
                continue
            envs[peer] = env

    server = None
    if "wme" in tools:
        from wme_assets.storage.seaweedfs import start_seaweedfs

        shutil.rmtree(work / "seaweedfs", ignore_errors=True)
        server = start_seaweedfs(work / "seaweedfs")
    try:
        if server is not None:
            from wme_assets.settings import EMBEDDED_ACCESS_KEY, EMBEDDED_SECRET_KEY
            from wme_assets.storage.object_store import ObjectStore

            ObjectStore(bucket="bench", endpoint_url=server.endpoint_url, access_key=EMBEDDED_ACCESS_KEY,
                        secret_key=EMBEDDED_SECRET_KEY).check_bucket(create=True)
        print(f"# input: {data.pages} pages, {mb:.1f} MB of wikitext; {args.rounds} interleaved rounds", flush=True)
        for round_ in range(args.rounds):
            order = tools[round_ % len(tools):] + tools[: round_ % len(tools)]
            for tool in order:
                result = results[tool]
                if result.error:
                    continue
                out = work / "out" / tool
                shutil.rmtree(out, ignore_errors=True)
                out.mkdir(parents=True)
                env = None
                if tool == "wme":
                    prefix = f"round{round_}/"
                    command = [sys.executable, __file__, "--run-wme", "--mirror", str(data.mirror),
                               "--endpoint", server.endpoint_url, "--prefix", prefix, "--workers", str(args.workers),
                               "--stages-out", str(work / "stages.json")]
                    env = dict(os.environ, PYTHONPATH=str(args.wme_repo.resolve()), WME_SCRATCH_DIR=str(out))
                    server_before = _proc_cpu(server.pid)
                elif tool == "wme-records":
                    command = [sys.executable, __file__, "--run-wme-records", "--dump", str(data.dump),
                               "--texts", str(data.texts)]
                    env = dict(os.environ, PYTHONPATH=str(args.wme_repo.resolve()))
                else:
                    command = peer_command(tool, envs[tool.split("-")[0]], data, out)
                yardstick = _yardstick()
                yardsticks.append(yardstick)
                numbers, log = run_measured(command, work, env)
                if tool == "wme":
                    result.server_cpu.append(_proc_cpu(server.pid) - server_before)
                    _delete_prefix(server, prefix)
                shutil.rmtree(out, ignore_errors=True)
                if numbers.get("code") != 0:
                    result.error = f"failed (exit {numbers.get('code')}): {_tail(log)}"
                    continue
                if tool == "wme":
                    measured = json.loads((work / "stages.json").read_text())
                    result.stages.append(measured["stages"])
                    result.driver.append(measured["driver"])
                result.cpu.append(numbers["cpu"])
                result.wall.append(numbers["wall"])
                result.maxrss.append(numbers["maxrss"])
                result.left.append(numbers["left"])
                print(f"round {round_ + 1} {tool:17} {numbers['cpu']:7.1f} CPU-s {numbers['wall']:7.1f} s "
                      f"{mb / numbers['cpu']:5.2f} MB/CPU-s peak {numbers['maxrss'] / 1e6:6.0f} MB "
                      f"left {numbers['left']} (yardstick {yardstick:.3f} s)", flush=True)
    finally:
        if server is not None:
            server.stop()

    print()
    if yardsticks:
        print(f"# yardstick (the same loop before each command): {min(yardsticks):.3f}–{max(yardsticks):.3f} CPU-s; "
              "a wide range means the machine's speed changed during the rounds")
    print(f"# {data.pages} pages, {mb:.1f} MB of wikitext (long real articles, {mb * 1e6 / data.pages / 1e3:.0f} KB "
          f"on average); {args.rounds} interleaved rounds; CPU of each command's whole process tree")
    print("| tool | produces | MB of wikitext per CPU-second (median, min–max) | CPU s (median) | wall s (median) "
          "| peak RSS of one process | processes left at exit |")
    print("|---|---|---|---|---|---|---|")
    ranked = sorted(results.values(), key=lambda r: -statistics.median([mb / c for c in r.cpu]) if r.cpu else 0)
    for r in ranked:
        if not r.cpu:
            print(f"| {r.tool} | {PRODUCES[r.tool]} | {r.error} | | | | |")
            continue
        rates = [mb / c for c in r.cpu]
        note = f" ({r.error} in a later round)" if r.error else ""
        print(f"| {r.tool} | {PRODUCES[r.tool]} | {statistics.median(rates):.2f} ({min(rates):.2f}–{max(rates):.2f})"
              f"{note} | {statistics.median(r.cpu):.1f} | {statistics.median(r.wall):.1f} "
              f"| {max(r.maxrss) / 1e6:.0f} MB | {max(r.left)} |")
    if results.get("wme") and results["wme"].stages:
        per_stage = {name: [s[name] for s in results["wme"].stages] for name in results["wme"].stages[0]}
        own = {name: [d[name] for d in results["wme"].driver] for name in per_stage}
        print("\nwme per stage (CPU s of the process tree, median, of which the wme process itself, the rest its "
              "workers; MB of wikitext per CPU-second): " + "; ".join(
                  f"{name} {statistics.median(v):.1f}, driver {statistics.median(own[name]):.1f} "
                  f"({mb / statistics.median(v):.1f})" for name, v in per_stage.items()))
    if results.get("wme") and results["wme"].server_cpu:
        print(f"\nSeaweedFS (storage, not counted above) used {statistics.median(results['wme'].server_cpu):.1f} "
              "CPU-s per wme run (median)")


def _delete_prefix(server, prefix: str) -> None:
    from wme_assets.settings import EMBEDDED_ACCESS_KEY, EMBEDDED_SECRET_KEY
    from wme_assets.storage.object_store import ObjectStore

    store = ObjectStore(bucket="bench", prefix=prefix, endpoint_url=server.endpoint_url,
                        access_key=EMBEDDED_ACCESS_KEY, secret_key=EMBEDDED_SECRET_KEY)
    store.delete_prefix(store.prefix)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--measure":
        separator = sys.argv.index("--")
        sys.exit(measure(sys.argv[2], sys.argv[separator + 1:]))
    if len(sys.argv) > 1 and sys.argv[1] == "--run-wme":  # wme comes from PYTHONPATH (--wme-repo)
        wme_parser = argparse.ArgumentParser()
        wme_parser.add_argument("--run-wme", action="store_true")
        for option in ("--mirror", "--endpoint", "--prefix", "--stages-out"):
            wme_parser.add_argument(option, required=True)
        wme_parser.add_argument("--workers", type=int, default=2)
        run_wme(wme_parser.parse_args())
        sys.exit(0)
    if len(sys.argv) > 1 and sys.argv[1] == "--run-wme-records":
        records_parser = argparse.ArgumentParser()
        records_parser.add_argument("--run-wme-records", action="store_true")
        records_parser.add_argument("--dump", required=True)
        records_parser.add_argument("--texts", required=True)
        run_wme_records(records_parser.parse_args())
        sys.exit(0)
    sys.path.insert(0, str(REPO))
    main()
