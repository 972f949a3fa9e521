"""Benchmark of the snapshot export (NDJSON → Enterprise ``.tar.gz`` archive + chunks) on real articles (not a test).

    python benchmarks/bench_export.py [--mb 200] [--member-mb 100] [--scenarios a,b,...] [--fixtures DIR]

Input: the 15 real Enterprise article records (``wme-articles`` and ``wme-sdk-testdata``, mean ~1 MB of JSON
each, HTML and wikitext included), serialized with orjson and repeated with increasing page ids until the
stream holds ``--mb`` MB of NDJSON. The repeats share the same bytes objects, so the input costs ~20 MB of
memory however large the stream; what the peak RSS shows beyond that is the writer's own.

Scenarios (each in a fresh subprocess, so its peak RSS is its own). Every one writes the archive *and* one
chunk per member, i.e. the same files; they differ in how:

    wme-<codec>-l<level>[-inline]   ``write_snapshot`` (each member deflated once, shared by archive and chunk,
                                    4 MiB blocks in a thread pool; ``-inline``: one thread does everything)
    naive-<module>-l<level>         ``tarfile`` over ``GzipFile(mtime=0)``: a member spooled in memory, then
                                    written to the archive and to its chunk, so compressed twice; the same
                                    SHA-256 and MD5 digests (members, then the written files re-read)

"MB/s" is NDJSON megabytes (10^6 bytes) per wall-clock second; "per CPU-s" per second of CPU time of the
process (user+sys, all threads). "ratio" is NDJSON bytes / archive bytes. zlib-ng rows appear when the
``zlib-ng`` package is importable (e.g. ``PYTHONPATH=/path/with/zlib_ng``).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import lzma
import os
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import orjson  # noqa: E402

from wme_assets.snapshots.archive import (  # noqa: E402
    chunk_member_name,
    chunk_path,
    get_codec,
    member_name,
    snapshot_identifier,
    write_snapshot,
)

DEFAULT_FIXTURES = REPO.parent / "shared" / "fixtures"
SCENARIOS = [
    "wme-isal-l1",
    "wme-isal-l2",
    "wme-isal-l3",
    "wme-isal-l2-inline",
    "wme-zlib-ng-l6",
    "wme-zlib-l6",
    "naive-isal-l2",
    "naive-zlib-ng-l6",
    "naive-gzip-l6",
]


# --------------------------------------------------------------------------------------------------
# Input
# --------------------------------------------------------------------------------------------------


def real_lines(fixtures: Path) -> list[bytes]:
    records = [orjson.loads(lzma.open(p).read()) for p in sorted(fixtures.glob("wme-articles/*/*.json.xz"))]
    sdk = fixtures / "wme-sdk-testdata" / "testdata" / "articles.ndjson"
    records += [orjson.loads(line) for line in sdk.read_bytes().splitlines() if line.strip()]
    return [orjson.dumps(record) for record in records]


def stream(lines: list[bytes], total_bytes: int) -> Iterator[tuple[int, bytes]]:
    """``(page_id, line)`` cycling through the real lines until ``total_bytes`` of NDJSON were yielded."""
    produced, page_id = 0, 0
    while produced < total_bytes:
        line = lines[page_id % len(lines)]
        page_id += 1
        produced += len(line) + 1
        yield page_id, line


# --------------------------------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------------------------------


def run_wme(records, out: Path, codec: str, level: int, member_bytes: int, threads: int | None) -> int:
    files = write_snapshot(
        records,
        out,
        dbname="enwiki",
        namespace=0,
        max_member_bytes=member_bytes,
        compresslevel=level,
        codec=codec,
        dump_date="20250101",
        threads=threads,
    )
    return files.archive.bytes


def _gzip_file(module: str, path: Path, level: int):
    """(GzipFile, its underlying file): closing a GzipFile leaves a passed-in file open."""
    raw = path.open("wb")
    if module == "isal":
        from isal.igzip import GzipFile
    elif module == "zlib-ng":
        from zlib_ng.gzip_ng import GzipFile
    else:
        from gzip import GzipFile
    return GzipFile(filename="", fileobj=raw, mode="wb", compresslevel=level, mtime=0), raw


def _tar_info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode, info.uname, info.gname = size, 1735689600, 0o644, "", ""
    return info


def run_naive(records, out: Path, module: str, level: int, member_bytes: int) -> int:
    """The straightforward way: tarfile over GzipFile, every member compressed for the archive and its chunk."""
    identifier = snapshot_identifier("enwiki", 0)
    out.mkdir(parents=True, exist_ok=True)
    (out / "chunks" / identifier).mkdir(parents=True, exist_ok=True)
    archive_path = out / f"{identifier}.tar.gz"
    archive_gz, archive_raw = _gzip_file(module, archive_path, level)
    archive = tarfile.open(fileobj=archive_gz, mode="w", format=tarfile.PAX_FORMAT)
    member = io.BytesIO()
    index = 0

    def flush() -> None:
        nonlocal member, index
        data = member.getbuffer()
        _digests(data)
        archive.addfile(_tar_info(member_name(identifier, index), len(data)), io.BytesIO(data))
        chunk_gz, chunk_raw = _gzip_file(module, out / chunk_path(identifier, index), level)
        with tarfile.open(fileobj=chunk_gz, mode="w", format=tarfile.PAX_FORMAT) as chunk:
            chunk.addfile(_tar_info(chunk_member_name(index), len(data)), io.BytesIO(data))
        chunk_gz.close()
        chunk_raw.close()
        del data
        member = io.BytesIO()
        index += 1

    for _, line in records:
        if member.tell() and member.tell() + len(line) + 1 > member_bytes:
            flush()
        member.write(line)
        member.write(b"\n")
    if member.tell():
        flush()
    archive.close()
    archive_gz.close()
    archive_raw.close()
    # The same deliverables as write_snapshot: SHA-256 and MD5 of every file written (members are hashed in flush).
    for path in sorted(out.rglob("*.tar.gz")):
        _digests(path.read_bytes())
    return archive_path.stat().st_size


def _digests(data) -> tuple[str, str]:
    return hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest()


def parse_scenario(name: str) -> tuple[str, str, int, bool]:
    kind, rest = name.split("-", 1)
    inline = rest.endswith("-inline")
    rest = rest.removesuffix("-inline")
    codec, level = rest.rsplit("-l", 1)
    return kind, codec, int(level), inline


def available(name: str) -> bool:
    _, codec, _, _ = parse_scenario(name)
    if codec == "zlib-ng":
        try:
            get_codec("zlib-ng")
        except ValueError:
            return False
    return True


def rss_now_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child(args) -> None:
    lines = real_lines(args.fixtures)
    total = int(args.mb * 1e6)
    member_bytes = int(args.member_mb * 1e6)
    kind, codec, level, inline = parse_scenario(args.child)
    rss_before = rss_now_mb()
    with tempfile.TemporaryDirectory(dir=args.workdir) as out:
        cpu0 = sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
        wall0 = time.perf_counter()
        if kind == "wme":
            archive_bytes = run_wme(stream(lines, total), Path(out), codec, level, member_bytes, 0 if inline else None)
        else:
            module = {"isal": "isal", "zlib-ng": "zlib-ng", "gzip": "gzip"}[codec]
            archive_bytes = run_naive(stream(lines, total), Path(out), module, level, member_bytes)
        wall = time.perf_counter() - wall0
        cpu = sum(resource.getrusage(resource.RUSAGE_SELF)[:2]) - cpu0
        on_disk = sum(p.stat().st_size for p in Path(out).rglob("*.tar.gz"))
    input_bytes = sum(len(line) + 1 for _, line in stream(lines, total))
    print(
        json.dumps(
            {
                "input_bytes": input_bytes,
                "archive_bytes": archive_bytes,
                "written_bytes": on_disk,
                "wall": wall,
                "cpu": cpu,
                "rss_before_mb": rss_before,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=200.0, help="MB of NDJSON to export (default 200)")
    parser.add_argument("--member-mb", type=float, default=100.0, help="member size in MB (Enterprise: 100)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--fixtures", type=Path, default=DEFAULT_FIXTURES)
    parser.add_argument("--workdir", type=Path, default=None, help="where outputs are written (default: tmp)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    print(
        f"# snapshot export: {args.mb:.0f} MB of real Enterprise article NDJSON, members of "
        f"{args.member_mb:.0f} MB, archive + chunks; {os.cpu_count()} CPUs; Python {sys.version.split()[0]}"
    )
    header = f"{'scenario':<22} {'MB/s':>7} {'per CPU-s':>9} {'wall s':>7} {'CPU s':>6} {'ratio':>6} "
    header += f"{'written MB':>10} {'peak RSS MB':>11} {'RSS growth MB':>13}"
    print(header)
    print("-" * len(header))
    for name in args.scenarios.split(","):
        if not available(name):
            print(f"{name:<22} (skipped: codec not installed)")
            continue
        command = [
            sys.executable,
            __file__,
            "--child",
            name,
            "--mb",
            str(args.mb),
            "--member-mb",
            str(args.member_mb),
            "--fixtures",
            str(args.fixtures),
        ]
        if args.workdir:
            command += ["--workdir", str(args.workdir)]
        result = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
        mb = result["input_bytes"] / 1e6
        print(
            f"{name:<22} {mb / result['wall']:>7.0f} {mb / result['cpu']:>9.0f} {result['wall']:>7.2f} "
            f"{result['cpu']:>6.2f} {result['input_bytes'] / result['archive_bytes']:>6.2f} "
            f"{result['written_bytes'] / 1e6:>10.1f} {result['peak_rss_mb']:>11.0f} "
            f"{result['peak_rss_mb'] - result['rss_before_mb']:>13.0f}"
        )


if __name__ == "__main__":
    main()
