"""One dumps run directory of a mirror: the jobs' files, ``dumpstatus.json`` and the sums files.

:func:`build_dumps_mirror` lays out ``{root}/{dbname}/{date}/`` from a MediaWiki XML export, in one part
or in page-range parts plus the recombined pair, as the dump scripts name and checksum them.
"""

from __future__ import annotations

import bz2
import hashlib
import itertools
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date as Date
from pathlib import Path
from typing import Any, BinaryIO

from wme_assets.util.dates import check_yyyymmdd, midnight_utc
from wme_assets.util.sizes import MiB

from .multistream import (
    _FOOTER,
    MultistreamFile,
    _batches,
    _compressed_in_order,
    _Page,
    _page_ids,
    _read_export,
    complete_pages_xml,
)
from .sql_tables import TABLE_JOBS, _gzip_bytes, _page_props_sql

__all__ = [
    "JOB_MULTISTREAM",
    "JOB_MULTISTREAM_RECOMBINE",
    "JOB_PAGE_PROPS",
    "MirrorFile",
    "MirrorRun",
    "build_dumps_mirror",
]

# Job names of the dumps scripts (operations-dumps xmldumps-backup/dumps/dumpitemlist.py, default_tables.yaml).
JOB_MULTISTREAM = "articlesmultistreamdump"
JOB_MULTISTREAM_RECOMBINE = "articlesmultistreamdumprecombine"
JOB_PAGE_PROPS = "pagepropstable"
DUMPSTATUS_VERSION = "0.8"  # StatusAPI.VERSION in dumps/runstatusapi.py

STATUS_DONE = "done"
STATUS_IN_PROGRESS = "in-progress"

_CHUNK = MiB
_DBNAME = re.compile(r"^[a-z0-9_]{1,64}$")


def _index_entries(batch: Sequence[_Page]) -> list[tuple[int, str]]:
    return [(page.page_id, page.title) for page in batch]


def _part_batches(
    pages: Iterable[_Page], sizes: Sequence[int], pages_per_stream: int
) -> Iterator[tuple[int, list[_Page]]]:
    """(part number, pages of one stream): a stream never spans two parts."""
    page_iter = iter(pages)
    for number, size in enumerate(sizes, start=1):
        for batch in _batches(itertools.islice(page_iter, size), pages_per_stream):
            yield number, batch



def _split_sizes(count: int, parts: int) -> list[int]:
    """Page counts of ``parts`` consecutive parts, as even as possible."""
    return [count // parts + (1 if i < count % parts else 0) for i in range(parts)]


def _part_ranges(page_ids: Sequence[int], sizes: Sequence[int]) -> list[tuple[int, int]]:
    """``p{first}p{last}`` ranges of consecutive parts, like the page ranges of the big wikis.

    As on the dumps site (``enwiki-…-multistream1.xml-p1p41242.bz2``, ``…2.xml-p41243p151573.bz2``) the
    ranges tile the id space without gaps: part 1 starts at page id 1, each next part right after the
    previous part's last id, and each part ends at the id of its last page.
    """
    ranges = []
    start, first = 0, 1
    for size in sizes:
        last = page_ids[start + size - 1]
        ranges.append((first, last))
        first, start = last + 1, start + size
    return ranges




@dataclass(frozen=True)
class MirrorFile:
    """One published file of a run, with the values dumpstatus.json gives for it."""

    name: str
    path: Path
    job: str
    url: str  # site-absolute, as in dumpstatus.json: /{dbname}/{date}/{name}
    size: int
    md5: str
    sha1: str


@dataclass
class MirrorRun:
    """What :func:`build_dumps_mirror` wrote: one ``{root}/{dbname}/{date}/`` run directory."""

    root: Path
    dbname: str
    date: str
    run_dir: Path
    files: dict[str, MirrorFile]  # by file name, in the order the jobs wrote them
    jobs: dict[str, str]  # job name -> status in dumpstatus.json
    page_ids: list[int]  # every page in the multistream dump, in dump order
    part_ranges: list[tuple[int, int]]  # (first, last) page id per part; one range when not split
    dumpstatus_path: Path
    md5sums_path: Path
    sha1sums_path: Path
    pages_per_stream: int = 100

    @property
    def page_count(self) -> int:
        return len(self.page_ids)

    def table_file(self, table: str) -> MirrorFile:
        """The ``{db}-{date}-{table}.sql.gz`` file of the run."""
        return self.files[f"{self.dbname}-{self.date}-{table}.sql.gz"]

    def files_of(self, job: str) -> list[MirrorFile]:
        return [f for f in self.files.values() if f.job == job]

    @property
    def multistream_files(self) -> list[MirrorFile]:
        """The ``articlesmultistreamdump`` content files (one, or one per part in part order)."""
        return [f for f in self.files_of(JOB_MULTISTREAM) if "-index" not in f.name]

    @property
    def index_files(self) -> list[MirrorFile]:
        return [f for f in self.files_of(JOB_MULTISTREAM) if "-index" in f.name]

    @property
    def recombined_files(self) -> list[MirrorFile]:
        """The recombined content file and index (only for a run dumped in parts)."""
        return self.files_of(JOB_MULTISTREAM_RECOMBINE)

    @property
    def page_props_file(self) -> MirrorFile:
        return self.files_of(JOB_PAGE_PROPS)[0]


def _checked_date(value: str) -> Date:
    return midnight_utc(check_yyyymmdd(value, "dump date")).date()


def _file_digests(path: Path) -> tuple[int, str, str]:
    md5, sha1, size = hashlib.md5(), hashlib.sha1(), 0
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            md5.update(chunk)
            sha1.update(chunk)
            size += len(chunk)
    return size, md5.hexdigest(), sha1.hexdigest()


def _clear_run_dir(run_dir: Path, dbname: str, date: str) -> None:
    """Remove the files of an earlier build, so a rebuild with fewer parts leaves no stale part files."""
    for path in run_dir.glob(f"{dbname}-{date}-*"):
        if path.is_file():
            path.unlink()
    (run_dir / "dumpstatus.json").unlink(missing_ok=True)


def build_dumps_mirror(
    root: Path,
    dbname: str,
    date: str,
    export_xml: str | os.PathLike[str] | bytes | BinaryIO,
    *,
    parts: int = 1,
    page_props: Mapping[int, str] | None = None,
    tables: Mapping[str, bytes | os.PathLike[str]] | None = None,
    pages_per_stream: int = 100,
    in_progress_jobs: Iterable[str] = (),
    updated: str | None = None,
) -> MirrorRun:
    """Write the dumps-site run ``{root}/{dbname}/{date}/`` for one wiki from a MediaWiki XML export.

    ``export_xml`` (path, bytes or binary stream; plain, xz, bz2 or gzip; may be truncated mid-page) is cut
    to its complete pages, then written as the pages-articles multistream dump: one file pair when
    ``parts == 1``, else ``parts`` part pairs with ``p{first}p{last}`` page ranges plus the recombined pair.
    ``page_props`` maps page id -> Wikidata QID (``wikibase_item`` rows); ``None`` or empty gives a valid
    dump with the table definition and no rows. ``tables`` maps more tables (``categorylinks``,
    ``templatelinks``, ``linktarget``, ``page_restrictions``, ``user_groups``, or ``page_props`` itself) to
    their mysqldump SQL (bytes, or a file: plain or compressed), written gzipped as
    ``{db}-{date}-{table}.sql.gz`` in the table's own job, as the dumps site publishes them
    (:func:`.sql_tables.mysqldump_table` writes such SQL). Jobs named in
    ``in_progress_jobs`` get status ``in-progress`` in dumpstatus.json, with their files listed without
    checksums and left out of the sums files, as on the dumps site while a job runs. ``updated``
    ("YYYY-MM-DD HH:MM:SS") defaults to midnight of the dump date, so a rebuild gives identical bytes.

    dumpstatus.json is written last, so a server already serving ``root`` never announces a file before
    it is complete.
    """
    if not _DBNAME.match(dbname or ""):
        raise ValueError(f"dbname {dbname!r} is not a Wikimedia database name such as 'enwiki'")
    run_date = _checked_date(date)
    if parts < 1:
        raise ValueError("parts must be at least 1")
    if pages_per_stream < 1:
        raise ValueError("pages_per_stream must be at least 1")
    updated = updated or f"{run_date.isoformat()} 00:00:00"
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", updated):
        raise ValueError(f"updated {updated!r} is not 'YYYY-MM-DD HH:MM:SS'")

    tables = dict(tables or {})
    table_jobs = {table: TABLE_JOBS.get(table, table.replace("_", "") + "table") for table in tables}
    jobs = [JOB_PAGE_PROPS, *(j for j in dict.fromkeys(table_jobs.values()) if j != JOB_PAGE_PROPS), JOB_MULTISTREAM]
    jobs += [JOB_MULTISTREAM_RECOMBINE] if parts > 1 else []
    in_progress = set(in_progress_jobs)
    unknown = in_progress - set(jobs)
    if unknown:
        raise ValueError(f"in_progress_jobs {sorted(unknown)} are not jobs of this run: {jobs}")

    root = Path(root)
    run_dir = root / dbname / date
    run_dir.mkdir(parents=True, exist_ok=True)
    _clear_run_dir(run_dir, dbname, date)
    prefix = f"{dbname}-{date}-"
    written: list[tuple[str, Path]] = []  # (job, path) in the order the real run produces them

    # Tables are dumped first in a real run.
    for table, sql in tables.items():
        if not isinstance(sql, bytes):  # a file, plain or compressed
            from wme_assets.ingestion.decompress import open_decompressed

            with open_decompressed(sql) as stream:
                tables[table] = stream.read()
    page_props_path = run_dir / f"{prefix}page_props.sql.gz"
    page_props_sql = tables.pop("page_props", None) or _page_props_sql(dbname, page_props or {}, updated)
    page_props_path.write_bytes(_gzip_bytes(page_props_sql))
    written.append((JOB_PAGE_PROPS, page_props_path))
    for table, sql in sorted(tables.items()):
        path = run_dir / f"{prefix}{table}.sql.gz"
        path.write_bytes(_gzip_bytes(sql))
        written.append((table_jobs[table], path))

    with complete_pages_xml(export_xml) as complete:
        if parts == 1:
            page_ids, ranges = _write_single(complete, run_dir, prefix, pages_per_stream, written)
        else:
            page_ids, ranges = _write_parts(complete, run_dir, prefix, parts, pages_per_stream, written)

    files: dict[str, MirrorFile] = {}
    for job, path in written:
        size, md5, sha1 = _file_digests(path)
        files[path.name] = MirrorFile(path.name, path, job, f"/{dbname}/{date}/{path.name}", size, md5, sha1)

    statuses = {job: (STATUS_IN_PROGRESS if job in in_progress else STATUS_DONE) for job in jobs}
    done_files = [f for f in files.values() if statuses[f.job] == STATUS_DONE]
    md5sums_path = run_dir / f"{prefix}md5sums.txt"
    sha1sums_path = run_dir / f"{prefix}sha1sums.txt"
    md5sums_path.write_text("".join(f"{f.md5}  {f.name}\n" for f in done_files), encoding="utf-8")
    sha1sums_path.write_text("".join(f"{f.sha1}  {f.name}\n" for f in done_files), encoding="utf-8")

    status_jobs: dict[str, Any] = {}
    for job in jobs:
        job_files = {}
        for f in files.values():
            if f.job != job:
                continue
            entry: dict[str, Any] = {"size": f.size, "url": f.url}
            if statuses[job] == STATUS_DONE:  # checksums are computed only after a job completes
                entry.update(md5=f.md5, sha1=f.sha1)
            job_files[f.name] = entry
        status_jobs[job] = {"status": statuses[job], "updated": updated, "files": job_files}
    dumpstatus_path = run_dir / "dumpstatus.json"
    staging = run_dir / "dumpstatus.json.tmp"
    staging.write_text(json.dumps({"jobs": status_jobs, "version": DUMPSTATUS_VERSION}), encoding="utf-8")
    os.replace(staging, dumpstatus_path)

    return MirrorRun(
        root=root,
        dbname=dbname,
        date=date,
        run_dir=run_dir,
        files=files,
        jobs=statuses,
        page_ids=page_ids,
        part_ranges=ranges,
        dumpstatus_path=dumpstatus_path,
        md5sums_path=md5sums_path,
        sha1sums_path=sha1sums_path,
        pages_per_stream=pages_per_stream,
    )


def _write_single(
    complete: BinaryIO, run_dir: Path, prefix: str, pages_per_stream: int, written: list[tuple[str, Path]]
) -> tuple[list[int], list[tuple[int, int]]]:
    header, pages = _read_export(complete)
    target = MultistreamFile(
        run_dir / f"{prefix}pages-articles-multistream.xml.bz2",
        run_dir / f"{prefix}pages-articles-multistream-index.txt.bz2",
    )
    page_ids: list[int] = []
    try:
        target.write_stream(bz2.compress(header, 9))
        for _, batch, stream in _compressed_in_order((1, b) for b in _batches(pages, pages_per_stream)):
            target.write_stream(stream, _index_entries(batch))
            page_ids.extend(p.page_id for p in batch)
        target.write_stream(bz2.compress(_FOOTER, 9))
    finally:
        target.close()
    written += [(JOB_MULTISTREAM, target.data_path), (JOB_MULTISTREAM, target.index_path)]
    return page_ids, [(1, page_ids[-1])] if page_ids else []


def _write_parts(
    complete: BinaryIO,
    run_dir: Path,
    prefix: str,
    parts: int,
    pages_per_stream: int,
    written: list[tuple[str, Path]],
) -> tuple[list[int], list[tuple[int, int]]]:
    # First pass: the page ids, to cut the dump into parts before any stream is compressed.
    all_ids = _page_ids(complete)
    if len(all_ids) < parts:
        raise ValueError(f"{len(all_ids)} pages cannot be split into {parts} parts")
    if any(a >= b for a, b in itertools.pairwise(all_ids)):
        raise ValueError("a dump split into page ranges needs its pages in ascending page id order")
    sizes = _split_sizes(len(all_ids), parts)
    ranges = _part_ranges(all_ids, sizes)
    complete.seek(0)

    header, pages = _read_export(complete)
    header_stream = bz2.compress(header, 9)
    footer_stream = bz2.compress(_FOOTER, 9)
    # The recombine job concatenates the parts' streams (first header, every part's page streams, last
    # footer) and shifts the index offsets (recombinejobs.py RecombineXmlMultiStreamDump), so every
    # stream is compressed once and written to its part file and to the recombined file.
    recombined = MultistreamFile(
        run_dir / f"{prefix}pages-articles-multistream.xml.bz2",
        run_dir / f"{prefix}pages-articles-multistream-index.txt.bz2",
    )
    part_files: list[MultistreamFile] = []
    try:
        recombined.write_stream(header_stream)
        batches = _part_batches(pages, sizes, pages_per_stream)
        for number, batch, stream in _compressed_in_order(batches):
            if number > len(part_files):  # the first stream of the next part (every part has pages)
                if part_files:
                    part_files[-1].write_stream(footer_stream)
                    part_files[-1].close()
                first, last = ranges[number - 1]
                span = f"p{first}p{last}"
                part_files.append(
                    MultistreamFile(
                        run_dir / f"{prefix}pages-articles-multistream{number}.xml-{span}.bz2",
                        run_dir / f"{prefix}pages-articles-multistream-index{number}.txt-{span}.bz2",
                    )
                )
                part_files[-1].write_stream(header_stream)
            part_files[-1].write_stream(stream, _index_entries(batch))
            recombined.write_stream(stream, _index_entries(batch))
        part_files[-1].write_stream(footer_stream)
        part_files[-1].close()
        recombined.write_stream(footer_stream)
    finally:
        recombined.close()
        for part in part_files:
            part.close()
    written += [(JOB_MULTISTREAM, p.data_path) for p in part_files]
    written += [(JOB_MULTISTREAM, p.index_path) for p in part_files]
    written += [
        (JOB_MULTISTREAM_RECOMBINE, recombined.data_path),
        (JOB_MULTISTREAM_RECOMBINE, recombined.index_path),
    ]
    return all_ids, ranges

