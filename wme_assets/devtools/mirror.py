"""Build a local mirror of dumps.wikimedia.org from real MediaWiki XML exports.

wme reads Wikimedia dumps over HTTP from ``WME_DUMPS_URL``, laid out as ``{base}/{dbname}/{YYYYMMDD}/``
exactly like the dumps site. Development and CI machines have no internet, and some operators keep a local
mirror, so this module writes such a run directory from real XML exports; any static web server on
loopback then stands in for the dumps site::

    python -m wme_assets.devtools.mirror /tmp/dumps-mirror          # builds the fixture mirror
    python -m http.server --bind 127.0.0.1 --directory /tmp/dumps-mirror 8765
    WME_DUMPS_URL=http://127.0.0.1:8765 wme ...

What a run directory holds, file names and formats as the dumps site publishes them (the sources are the
dump scripts in GitHub ``wikimedia/operations-dumps``, ``xmldumps-backup/``, and ``recompressxml`` in
``wikimedia/operations-dumps-mwbzutils``):

- ``{db}-{date}-pages-articles-multistream.xml.bz2`` + ``...-multistream-index.txt.bz2`` (job
  ``articlesmultistreamdump``) for a wiki dumped in one part. A wiki dumped in parts gets
  ``{db}-{date}-pages-articles-multistream{n}.xml-p{first}p{last}.bz2`` +
  ``{db}-{date}-pages-articles-multistream-index{n}.txt-p{first}p{last}.bz2`` from
  ``articlesmultistreamdump`` and the single recombined pair from ``articlesmultistreamdumprecombine``
  (``dumps/fileutils.py`` ``DumpFilename.new_filename``; ``dumps/dumpitemlist.py`` adds the recombine
  jobs only when parts are enabled).
- The multistream layout of ``recompressxml --pagesperstream 100``: the ``<mediawiki>``…``</siteinfo>``
  header is one bz2 stream, every 100 pages one stream, ``</mediawiki>`` the last stream; index lines are
  ``{offset of the page's stream}:{page id}:{title as written in the XML}`` in one bz2 stream.
- ``{db}-{date}-page_props.sql.gz`` (job ``pagepropstable``, ``default_tables.yaml``): a mysqldump of
  ``page_props`` with the production ``CREATE TABLE``.
- ``dumpstatus.json`` (``dumps/runstatusapi.py``, version ``"0.8"``): per job ``status``, ``updated`` and
  ``files`` with ``size``, ``url``, ``md5``, ``sha1``; checksums exist only once a job is done
  (``runnerutils.py`` checksums files after each job).
- ``{db}-{date}-md5sums.txt`` and ``{db}-{date}-sha1sums.txt``: ``{hex}  {file name}`` lines
  (``dumps/checksummers.py``).

The mirror holds only real, complete pages: :func:`complete_pages_xml` cuts a truncated export at its last
complete ``</page>``. Real Wikimedia Enterprise article records (wikitext + revision metadata + Wikidata QID)
become an export with :func:`export_xml_from_enterprise_records`, so their page_props are real too.
"""

from __future__ import annotations

import argparse
import bz2
import gzip
import hashlib
import io
import ipaddress
import itertools
import json
import lzma
import os
import re
import sys
import tempfile
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from datetime import date as Date
from pathlib import Path
from typing import Any, BinaryIO, TypeVar
from urllib.parse import urlsplit

__all__ = [
    "JOB_MULTISTREAM",
    "JOB_MULTISTREAM_RECOMBINE",
    "JOB_PAGE_PROPS",
    "XZTEXTFILTER_WIKIS",
    "MirrorFile",
    "MirrorRun",
    "build_dumps_mirror",
    "build_fixture_mirror",
    "complete_pages_xml",
    "enterprise_dump_date",
    "export_xml_from_enterprise_records",
    "mediawiki_sha1",
    "page_props_from_enterprise_records",
    "read_enterprise_records",
]

# Job names of the dumps scripts (operations-dumps xmldumps-backup/dumps/dumpitemlist.py, default_tables.yaml).
JOB_MULTISTREAM = "articlesmultistreamdump"
JOB_MULTISTREAM_RECOMBINE = "articlesmultistreamdumprecombine"
JOB_PAGE_PROPS = "pagepropstable"
DUMPSTATUS_VERSION = "0.8"  # StatusAPI.VERSION in dumps/runstatusapi.py

STATUS_DONE = "done"
STATUS_IN_PROGRESS = "in-progress"

# The seven wikis of fixtures/xztextfilter-truncated-dumps, all cut from the 2023-05-01 dumps.
XZTEXTFILTER_WIKIS = ("bnwiki", "elwiki", "hywiki", "jawiki", "mrwiki", "ukwiki", "viwiki")
XZTEXTFILTER_DATE = "20230501"

_CHUNK = 1 << 20
_K = TypeVar("_K")
_PAGE_END = b"</page>"
_SITEINFO_END = b"</siteinfo>"
_FOOTER = b"</mediawiki>\n"
_DBNAME = re.compile(r"^[a-z0-9_]{1,64}$")
_TITLE_LINE = re.compile(rb"^\s*<title>(.*)</title>\s*$")
_ID_LINE = re.compile(rb"^\s*<id>([0-9]+)</id>\s*$")
# mysqldump starts a new extended INSERT when the statement reaches net_buffer_length (1 MB by default).
_SQL_STATEMENT_BYTES = 1_000_000


# --------------------------------------------------------------------------------------------------
# Reading exports: compression by magic bytes, cutting at the last complete page
# --------------------------------------------------------------------------------------------------


class _PrefixedReader(io.RawIOBase):
    """Replays the bytes already read to sniff the magic number, then reads on from the stream."""

    def __init__(self, prefix: bytes, rest: BinaryIO) -> None:
        self._prefix = prefix
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._prefix:
            n = min(len(view), len(self._prefix))
            view[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        data = self._rest.read(len(view))
        view[: len(data)] = data
        return len(data)


def _compression_of(head: bytes) -> str | None:
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if head.startswith(b"BZh") and head[3:4].isdigit():
        return "bz2"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    return None


@contextmanager
def _open_decompressed(source: str | os.PathLike[str] | bytes | BinaryIO) -> Iterator[BinaryIO]:
    """A binary stream of the decompressed content of a path, bytes or binary file object.

    The compression (xz, bz2 — multistream included —, gzip or none) is read from the magic bytes, not the
    file name, because fixtures and downloaded files do not always carry a telling extension.
    """
    with ExitStack() as stack:
        raw: BinaryIO
        if isinstance(source, (bytes, bytearray, memoryview)):
            raw = io.BytesIO(bytes(source))
        elif isinstance(source, (str, os.PathLike)):
            raw = stack.enter_context(open(source, "rb"))
        else:
            raw = source
        head = raw.read(6)
        raw = io.BufferedReader(_PrefixedReader(head, raw), buffer_size=_CHUNK)
        kind = _compression_of(head)
        if kind == "xz":
            yield stack.enter_context(lzma.open(raw, "rb"))
        elif kind == "bz2":
            yield stack.enter_context(bz2.open(raw, "rb"))
        elif kind == "gzip":
            yield stack.enter_context(gzip.open(raw, "rb"))
        else:
            yield raw


def complete_pages_xml(
    source: str | os.PathLike[str] | bytes | BinaryIO, out: BinaryIO | None = None
) -> BinaryIO:
    """The export cut after its last complete ``</page>`` and closed with ``</mediawiki>``.

    ``source`` is a path, bytes or binary stream of a MediaWiki XML export, plain or xz/bz2/gzip. Exports
    cut mid-page (the xztextfilter fixtures stop at line 100,000, inside a page and without
    ``</mediawiki>``) lose the incomplete page, so a mirror holds only real, complete pages; a complete
    export comes out unchanged (its ``</mediawiki>`` line is rewritten identically). An export with no
    complete page keeps its ``<siteinfo>`` header.

    The input is streamed (no DOM): a literal ``</page>`` can only be the closing tag, because ``<`` in
    page text is always escaped as ``&lt;``. The result is written to ``out`` if given, otherwise to an
    anonymous temporary file; a seekable result is returned positioned where the export starts.
    """
    # The caller owns the returned file (it is the result), hence no context manager here.
    target = out if out is not None else tempfile.TemporaryFile()  # noqa: SIM115
    start = target.tell() if target.seekable() else None
    try:
        _cut_after_last_page(source, target)
    except BaseException:
        if out is None:
            target.close()
        raise
    if start is not None:
        target.seek(start)
    return target


def _cut_after_last_page(source: str | os.PathLike[str] | bytes | BinaryIO, target: BinaryIO) -> None:
    pending = bytearray()  # bytes after the last </page> seen: a page (or footer) not known to be complete
    at_start = True
    with _open_decompressed(source) as stream:
        while chunk := stream.read(_CHUNK):
            # A closing tag may straddle two chunks: search from len("</page>") - 1 bytes before the new
            # chunk, never from the start of a long page again, so a huge page costs linear time.
            search_from = max(0, len(pending) - len(_PAGE_END) + 1)
            pending += chunk
            cut = pending.rfind(_PAGE_END, search_from)
            if cut < 0:
                continue
            cut += len(_PAGE_END)
            if at_start:
                _require_mediawiki_root(pending[: min(cut, 4096)])
                at_start = False
            target.write(pending[:cut])
            del pending[:cut]
    if at_start:
        # No complete page at all: keep the header, which must itself be complete.
        _require_mediawiki_root(pending)
        end = pending.find(_SITEINFO_END)
        if end < 0:
            raise ValueError("the export has neither a complete <page> nor a complete <siteinfo> header")
        target.write(pending[: end + len(_SITEINFO_END)])
    target.write(b"\n" + _FOOTER)


def _require_mediawiki_root(document_start: bytes) -> None:
    if b"<mediawiki" not in document_start[:4096]:
        raise ValueError("not a MediaWiki XML export: no <mediawiki> root element at the start")


# --------------------------------------------------------------------------------------------------
# Multistream writing (the recompressxml layout)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Page:
    page_id: int
    title: str  # as written in the XML (entities not decoded): what recompressxml puts in the index
    xml: bytes  # the <page> ... </page> lines


def _read_export(stream: BinaryIO) -> tuple[bytes, Iterator[_Page]]:
    """Split a complete export into its header (up to ``</siteinfo>``) and its pages, line by line.

    The dump generator writes every ``<page>``, ``</page>`` and ``</siteinfo>`` tag on its own line, and
    recompressxml relies on that too; the page id is the first ``<id>`` after ``<title>``.
    """
    header = bytearray()
    for line in stream:
        header += line
        if line.strip() == _SITEINFO_END:
            break
    else:
        raise ValueError("the export has no complete <siteinfo> header")

    def pages() -> Iterator[_Page]:
        lines: list[bytes] | None = None
        title: bytes | None = None
        page_id: int | None = None
        for line in stream:
            stripped = line.strip()
            if lines is None:
                if stripped == b"<page>":
                    lines, title, page_id = [line], None, None
                elif stripped == b"</mediawiki>":
                    return
                elif stripped:
                    raise ValueError(f"unexpected line between pages: {line[:80]!r}")
                continue
            lines.append(line)
            if title is None:
                match = _TITLE_LINE.match(line)
                if match:
                    title = match.group(1)
            elif page_id is None:
                match = _ID_LINE.match(line)
                if match:
                    page_id = int(match.group(1))
            if stripped == _PAGE_END:
                if title is None or page_id is None:
                    raise ValueError(f"a <page> without <title> or <id>: {lines[1][:80]!r}")
                yield _Page(page_id, title.decode("utf-8"), b"".join(lines))
                lines = None
        if lines is not None:
            raise ValueError("the export ends inside a <page>: pass it through complete_pages_xml first")

    return bytes(header), pages()


def _page_ids(stream: BinaryIO) -> list[int]:
    _, pages = _read_export(stream)
    return [page.page_id for page in pages]


class _MultistreamFile:
    """One multistream ``.xml.bz2`` and its index, written one finished bz2 stream at a time."""

    def __init__(self, data_path: Path, index_path: Path) -> None:
        self.data_path = data_path
        self.index_path = index_path
        # Both files live as long as this writer, which close() ends (callers close it in a finally).
        self._data = open(data_path, "wb")  # noqa: SIM115
        self._index = open(index_path, "wb")  # noqa: SIM115
        self._index_compressor = bz2.BZ2Compressor(9)  # the index is a single bz2 stream
        self.offset = 0
        self._closed = False

    def write_stream(self, compressed: bytes, pages: Sequence[_Page] = ()) -> None:
        if pages:
            lines = "".join(f"{self.offset}:{page.page_id}:{page.title}\n" for page in pages)
            self._index.write(self._index_compressor.compress(lines.encode("utf-8")))
        self._data.write(compressed)
        self.offset += len(compressed)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._index.write(self._index_compressor.flush())
        finally:
            self._index.close()
            self._data.close()


def _batches(pages: Iterable[_Page], size: int) -> Iterator[list[_Page]]:
    batch: list[_Page] = []
    for page in pages:
        batch.append(page)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _part_batches(
    pages: Iterable[_Page], sizes: Sequence[int], pages_per_stream: int
) -> Iterator[tuple[int, list[_Page]]]:
    """(part number, pages of one stream): a stream never spans two parts."""
    page_iter = iter(pages)
    for number, size in enumerate(sizes, start=1):
        for batch in _batches(itertools.islice(page_iter, size), pages_per_stream):
            yield number, batch


def _compressed_in_order(
    batches: Iterable[tuple[_K, list[_Page]]],
) -> Iterator[tuple[_K, list[_Page], bytes]]:
    """Each batch with its bz2 stream, compressed on a thread pool and yielded in input order.

    bz2 releases the GIL, so streams compress in parallel while the export is read; at most two batches
    per worker are in flight, so memory stays bounded whatever the size of the export.
    """
    workers = min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dumps-mirror-bz2") as pool:
        window: deque[tuple[_K, list[_Page], Future[bytes]]] = deque()
        for key, batch in batches:
            window.append((key, batch, pool.submit(bz2.compress, b"".join(p.xml for p in batch), 9)))
            if len(window) >= 2 * workers:
                key, batch, future = window.popleft()
                yield key, batch, future.result()
        while window:
            key, batch, future = window.popleft()
            yield key, batch, future.result()


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


# --------------------------------------------------------------------------------------------------
# page_props.sql.gz
# --------------------------------------------------------------------------------------------------

_MYSQL_ESCAPES = {"\\": "\\\\", "'": "\\'", '"': '\\"', "\0": "\\0", "\n": "\\n", "\r": "\\r", "\x1a": "\\Z"}

# The production table definition, as in enwiki's page_props.sql.gz (MariaDB 10.11 dump).
_PAGE_PROPS_CREATE = """\
DROP TABLE IF EXISTS `page_props`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `page_props` (
  `pp_page` int(10) unsigned NOT NULL,
  `pp_propname` varbinary(60) NOT NULL DEFAULT '',
  `pp_value` blob NOT NULL,
  `pp_sortkey` float DEFAULT NULL,
  PRIMARY KEY (`pp_page`,`pp_propname`),
  UNIQUE KEY `pp_propname_page` (`pp_propname`,`pp_page`),
  UNIQUE KEY `pp_propname_sortkey_page` (`pp_propname`,`pp_sortkey`,`pp_page`)
) ENGINE=InnoDB DEFAULT CHARSET=binary ROW_FORMAT=COMPRESSED;
/*!40101 SET character_set_client = @saved_cs_client */;
"""

_MYSQLDUMP_PROLOGUE = """\
/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
/*!40101 SET @OLD_CHARACTER_SET_RESULTS=@@CHARACTER_SET_RESULTS */;
/*!40101 SET @OLD_COLLATION_CONNECTION=@@COLLATION_CONNECTION */;
/*!40101 SET NAMES utf8mb4 */;
/*!40103 SET @OLD_TIME_ZONE=@@TIME_ZONE */;
/*!40103 SET TIME_ZONE='+00:00' */;
/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;
/*!40014 SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0 */;
/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;
/*!40111 SET @OLD_SQL_NOTES=@@SQL_NOTES, SQL_NOTES=0 */;
"""

_MYSQLDUMP_EPILOGUE = """\
/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;

/*!40101 SET SQL_MODE=@OLD_SQL_MODE */;
/*!40014 SET FOREIGN_KEY_CHECKS=@OLD_FOREIGN_KEY_CHECKS */;
/*!40014 SET UNIQUE_CHECKS=@OLD_UNIQUE_CHECKS */;
/*!40101 SET CHARACTER_SET_CLIENT=@OLD_CHARACTER_SET_CLIENT */;
/*!40101 SET CHARACTER_SET_RESULTS=@OLD_CHARACTER_SET_RESULTS */;
/*!40101 SET COLLATION_CONNECTION=@OLD_COLLATION_CONNECTION */;
/*!40111 SET SQL_NOTES=@OLD_SQL_NOTES */;
"""


def _mysql_string(value: str) -> str:
    return "'" + "".join(_MYSQL_ESCAPES.get(ch, ch) for ch in value) + "'"


def _page_props_sql(dbname: str, page_props: Mapping[int, str], completed: str) -> bytes:
    """A mysqldump of ``page_props`` holding one ``wikibase_item`` row per page, in primary-key order."""
    out = io.StringIO()
    # The "sandbox mode" line opens every dump made by MariaDB's mysqldump since 2024 (T369406);
    # clients that parse the real files must skip it, so the mirror has it too.
    out.write("/*M!999999\\- enable the sandbox mode */ \n")
    out.write("-- MariaDB dump 10.19  Distrib 10.5.29-MariaDB, for debian-linux-gnu (x86_64)\n--\n")
    out.write(f"-- Host: localhost    Database: {dbname}\n")
    out.write(
        "-- ------------------------------------------------------\n-- Server version\t10.11.13-MariaDB-log\n\n"
    )
    out.write(_MYSQLDUMP_PROLOGUE)
    out.write("\n--\n-- Table structure for table `page_props`\n--\n\n")
    out.write(_PAGE_PROPS_CREATE)
    out.write("\n--\n-- Dumping data for table `page_props`\n--\n\n")
    out.write("/*!40000 ALTER TABLE `page_props` DISABLE KEYS */;\n")
    statement: list[str] = []
    statement_bytes = 0
    for page_id in sorted(page_props):
        row = f"({int(page_id)},'wikibase_item',{_mysql_string(page_props[page_id])},NULL)"
        if statement and statement_bytes + len(row) > _SQL_STATEMENT_BYTES:
            out.write("INSERT INTO `page_props` VALUES " + ",".join(statement) + ";\n")
            statement, statement_bytes = [], 0
        statement.append(row)
        statement_bytes += len(row) + 1
    if statement:
        out.write("INSERT INTO `page_props` VALUES " + ",".join(statement) + ";\n")
    out.write("/*!40000 ALTER TABLE `page_props` ENABLE KEYS */;\n")
    out.write(_MYSQLDUMP_EPILOGUE)
    out.write(f"\n-- Dump completed on {completed}\n")
    return out.getvalue().encode("utf-8")


def _gzip_bytes(data: bytes) -> bytes:
    buffer = io.BytesIO()
    # mtime=0 and no file name: rebuilding a mirror from the same input gives the same bytes and checksums.
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0) as gz:
        gz.write(data)
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------------
# The run directory
# --------------------------------------------------------------------------------------------------


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
    if not re.fullmatch(r"\d{8}", value or ""):
        raise ValueError(f"dump date {value!r} is not YYYYMMDD")
    return datetime.strptime(value, "%Y%m%d").date()


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
    pages_per_stream: int = 100,
    in_progress_jobs: Iterable[str] = (),
    updated: str | None = None,
) -> MirrorRun:
    """Write the dumps-site run ``{root}/{dbname}/{date}/`` for one wiki from a MediaWiki XML export.

    ``export_xml`` (path, bytes or binary stream; plain, xz, bz2 or gzip; may be truncated mid-page) is cut
    to its complete pages, then written as the pages-articles multistream dump: one file pair when
    ``parts == 1``, else ``parts`` part pairs with ``p{first}p{last}`` page ranges plus the recombined pair.
    ``page_props`` maps page id -> Wikidata QID (``wikibase_item`` rows); ``None`` or empty gives a valid
    dump with the table definition and no rows. Jobs named in ``in_progress_jobs`` get status
    ``in-progress`` in dumpstatus.json, with their files listed without checksums and left out of the
    sums files, as on the dumps site while a job runs. ``updated`` ("YYYY-MM-DD HH:MM:SS") defaults to
    midnight of the dump date, so a rebuild gives identical bytes.

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

    jobs = [JOB_PAGE_PROPS, JOB_MULTISTREAM] + ([JOB_MULTISTREAM_RECOMBINE] if parts > 1 else [])
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
    page_props_path = run_dir / f"{prefix}page_props.sql.gz"
    page_props_path.write_bytes(_gzip_bytes(_page_props_sql(dbname, page_props or {}, updated)))
    written.append((JOB_PAGE_PROPS, page_props_path))

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
    target = _MultistreamFile(
        run_dir / f"{prefix}pages-articles-multistream.xml.bz2",
        run_dir / f"{prefix}pages-articles-multistream-index.txt.bz2",
    )
    page_ids: list[int] = []
    try:
        target.write_stream(bz2.compress(header, 9))
        for _, batch, stream in _compressed_in_order((1, b) for b in _batches(pages, pages_per_stream)):
            target.write_stream(stream, batch)
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
    recombined = _MultistreamFile(
        run_dir / f"{prefix}pages-articles-multistream.xml.bz2",
        run_dir / f"{prefix}pages-articles-multistream-index.txt.bz2",
    )
    part_files: list[_MultistreamFile] = []
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
                    _MultistreamFile(
                        run_dir / f"{prefix}pages-articles-multistream{number}.xml-{span}.bz2",
                        run_dir / f"{prefix}pages-articles-multistream-index{number}.txt-{span}.bz2",
                    )
                )
                part_files[-1].write_stream(header_stream)
            part_files[-1].write_stream(stream, batch)
            recombined.write_stream(stream, batch)
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


# --------------------------------------------------------------------------------------------------
# Wikimedia Enterprise article records -> MediaWiki XML export 0.11
# --------------------------------------------------------------------------------------------------

# Core namespaces with their canonical English names (ns 4/5 take the site name, as MediaWiki does).
_CORE_NAMESPACES = (
    (-2, "first-letter", "Media"),
    (-1, "first-letter", "Special"),
    (0, "first-letter", ""),
    (1, "first-letter", "Talk"),
    (2, "first-letter", "User"),
    (3, "first-letter", "User talk"),
    (4, "first-letter", "{site}"),
    (5, "first-letter", "{site} talk"),
    (6, "first-letter", "File"),
    (7, "first-letter", "File talk"),
    (8, "first-letter", "MediaWiki"),
    (9, "first-letter", "MediaWiki talk"),
    (10, "first-letter", "Template"),
    (11, "first-letter", "Template talk"),
    (12, "first-letter", "Help"),
    (13, "first-letter", "Help talk"),
    (14, "first-letter", "Category"),
    (15, "first-letter", "Category talk"),
    (710, "first-letter", "TimedText"),
    (711, "first-letter", "TimedText talk"),
    (828, "first-letter", "Module"),
    (829, "first-letter", "Module talk"),
    (2300, "case-sensitive", "Gadget"),
    (2301, "case-sensitive", "Gadget talk"),
    (2302, "case-sensitive", "Gadget definition"),
    (2303, "case-sensitive", "Gadget definition talk"),
)

_SITE_NAMES = {
    "wiktionary": "Wiktionary",
    "wikibooks": "Wikibooks",
    "wikinews": "Wikinews",
    "wikiquote": "Wikiquote",
    "wikisource": "Wikisource",
    "wikiversity": "Wikiversity",
    "wikivoyage": "Wikivoyage",
    "wiki": "Wikipedia",
}

_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def mediawiki_sha1(text: str | bytes) -> str:
    """MediaWiki's revision sha1: the SHA-1 of the UTF-8 text in base 36, zero-padded to 31 digits."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    number = int(hashlib.sha1(data).hexdigest(), 16)
    digits = []
    while number:
        number, rest = divmod(number, 36)
        digits.append(_BASE36[rest])
    return "".join(reversed(digits)).rjust(31, "0")


def _xml_text(value: str) -> str:
    # MediaWiki escapes element content with htmlspecialchars: & < > and " (the dumps show &quot;).
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _export_timestamp(value: str) -> str:
    """ISO 8601 (``2025-01-21T17:03:22Z``, fractions and offsets allowed) as the dumps write it."""
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _site_name(dbname: str, records: Sequence[Mapping[str, Any]]) -> str:
    for record in records:
        name = (record.get("is_part_of") or {}).get("name")
        if name:
            return str(name)
    for suffix, name in _SITE_NAMES.items():
        if dbname.endswith(suffix):
            return name
    return dbname


def _site_root(records: Sequence[Mapping[str, Any]]) -> str:
    for record in records:
        for url in ((record.get("is_part_of") or {}).get("url"), record.get("url")):
            if url:
                parts = urlsplit(str(url))
                if parts.scheme and parts.netloc:
                    return f"{parts.scheme}://{parts.netloc}"
    raise ValueError("no record carries a url or is_part_of.url to derive the site's <base> from")


def _contributor_xml(editor: Mapping[str, Any] | None) -> list[str]:
    if not editor or not editor.get("name"):
        return ['      <contributor deleted="deleted" />']
    name = str(editor["name"])
    if not editor.get("identifier") and _is_ip(name):
        return ["      <contributor>", f"        <ip>{_xml_text(name)}</ip>", "      </contributor>"]
    lines = ["      <contributor>", f"        <username>{_xml_text(name)}</username>"]
    if editor.get("identifier") is not None:
        lines.append(f"        <id>{int(editor['identifier'])}</id>")
    lines.append("      </contributor>")
    return lines


def _page_xml(record: Mapping[str, Any]) -> str:
    page_id = int(record["identifier"])
    wikitext = (record.get("article_body") or {}).get("wikitext")
    if wikitext is None:
        raise ValueError(f"record for page {page_id} ({record.get('name')!r}) has no article_body.wikitext")
    version = record.get("version") or {}
    revision_id = int(version["identifier"])
    parent_id = (record.get("previous_version") or {}).get("identifier")
    timestamp = record.get("date_modified")
    if not timestamp:
        raise ValueError(f"record for page {page_id} has no date_modified (the revision timestamp)")
    namespace = int((record.get("namespace") or {}).get("identifier", 0))
    sha1 = mediawiki_sha1(wikitext)
    lines = [
        "  <page>",
        f"    <title>{_xml_text(str(record['name']))}</title>",
        f"    <ns>{namespace}</ns>",
        f"    <id>{page_id}</id>",
        "    <revision>",
        f"      <id>{revision_id}</id>",
    ]
    if parent_id:
        lines.append(f"      <parentid>{int(parent_id)}</parentid>")
    lines.append(f"      <timestamp>{_export_timestamp(str(timestamp))}</timestamp>")
    lines += _contributor_xml(version.get("editor"))
    if version.get("is_minor_edit"):
        lines.append("      <minor />")
    if version.get("comment"):
        lines.append(f"      <comment>{_xml_text(str(version['comment']))}</comment>")
    lines += [
        f"      <origin>{revision_id}</origin>",
        "      <model>wikitext</model>",
        "      <format>text/x-wiki</format>",
        (
            f'      <text bytes="{len(wikitext.encode("utf-8"))}" sha1="{sha1}" xml:space="preserve">'
            f"{_xml_text(wikitext)}</text>"
        ),
        f"      <sha1>{sha1}</sha1>",
        "    </revision>",
        "  </page>",
    ]
    return "\n".join(lines) + "\n"


def export_xml_from_enterprise_records(records: Iterable[Mapping[str, Any]], *, dbname: str) -> bytes:
    """A MediaWiki export-0.11 document of one wiki's Wikimedia Enterprise article records.

    One ``<page>`` with one ``<revision>`` per record, in page id order (the order of the dumps): title
    ``name``, id ``identifier``, ns ``namespace.identifier``, revision ``version.identifier``, parent
    ``previous_version.identifier``, timestamp ``date_modified``, contributor ``version.editor`` (an
    editor without id whose name is an IP address becomes ``<ip>``), ``version.comment``,
    ``version.is_minor_edit``, text ``article_body.wikitext`` with ``bytes`` = its UTF-8 length and
    ``sha1`` = MediaWiki's base-36 SHA-1. The siteinfo carries the dbname, ``<base>`` built from the
    records' url as ``{site}/wiki/Main_Page`` (the English main page title: fine for a mirror, not
    necessarily the wiki's real one), ``case`` first-letter and the core namespaces with their canonical
    English names. Records of another wiki (``is_part_of.identifier``) are refused.
    """
    records = sorted(records, key=lambda r: int(r["identifier"]))
    if not records:
        raise ValueError("no records")
    for record in records:
        wiki = (record.get("is_part_of") or {}).get("identifier")
        if wiki and wiki != dbname:
            raise ValueError(f"record {record.get('name')!r} belongs to {wiki}, not {dbname}")
    site = _site_name(dbname, records)
    language = next(
        (
            str(r["in_language"]["identifier"])
            for r in records
            if (r.get("in_language") or {}).get("identifier")
        ),
        re.sub(r"wik\w*$", "", dbname) or "en",
    )
    out = [
        (
            '<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.11/" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            'xsi:schemaLocation="http://www.mediawiki.org/xml/export-0.11/ '
            'http://www.mediawiki.org/xml/export-0.11.xsd" '
            f'version="0.11" xml:lang="{_xml_text(language)}">\n'
        ),
        "  <siteinfo>\n",
        f"    <sitename>{_xml_text(site)}</sitename>\n",
        f"    <dbname>{_xml_text(dbname)}</dbname>\n",
        f"    <base>{_xml_text(_site_root(records))}/wiki/Main_Page</base>\n",
        "    <generator>wme dumps_mirror (from Wikimedia Enterprise article records)</generator>\n",
        "    <case>first-letter</case>\n",
        "    <namespaces>\n",
    ]
    for key, case, name in _CORE_NAMESPACES:
        name = name.format(site=site)
        if name:
            out.append(f'      <namespace key="{key}" case="{case}">{_xml_text(name)}</namespace>\n')
        else:
            out.append(f'      <namespace key="{key}" case="{case}" />\n')
    out += ["    </namespaces>\n", "  </siteinfo>\n"]
    out += [_page_xml(record) for record in records]
    out.append("</mediawiki>\n")
    return "".join(out).encode("utf-8")


def page_props_from_enterprise_records(records: Iterable[Mapping[str, Any]]) -> dict[int, str]:
    """Page id -> Wikidata QID (``main_entity.identifier``) of the records that have one."""
    props = {}
    for record in records:
        qid = (record.get("main_entity") or {}).get("identifier")
        if qid and re.fullmatch(r"Q[1-9][0-9]*", str(qid)):
            props[int(record["identifier"])] = str(qid)
    return props


def read_enterprise_records(folder: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The article records of a folder of ``*.json`` files (plain, xz, bz2 or gzip), in file name order."""
    records = []
    for path in sorted(Path(folder).iterdir()):
        if path.is_file() and ".json" in path.name:
            with _open_decompressed(path) as stream:
                records.append(json.load(stream))
    if not records:
        raise ValueError(f"no *.json records in {folder}")
    return records


def enterprise_dump_date(records: Iterable[Mapping[str, Any]]) -> str:
    """The date of the first dumps run that contains every record's revision, as ``YYYYMMDD``.

    The full dumps start on the 1st and the 20th of each month and hold the revisions saved before the
    run started, so the mirror run of a set of records is dated on the first of those days after the
    newest ``date_modified`` day: the enwiki fixture records (newest 2025-01-30) give ``20250201``.
    """
    newest = max(datetime.fromisoformat(str(r["date_modified"])).date() for r in records)
    if newest.day < 20:
        return newest.replace(day=20).strftime("%Y%m%d")
    year, month = (newest.year + 1, 1) if newest.month == 12 else (newest.year, newest.month + 1)
    return Date(year, month, 1).strftime("%Y%m%d")


# --------------------------------------------------------------------------------------------------
# The fixture mirror
# --------------------------------------------------------------------------------------------------


def build_fixture_mirror(
    root: Path,
    fixtures_dir: Path,
    *,
    date: str = XZTEXTFILTER_DATE,
    wikis: Iterable[str] = XZTEXTFILTER_WIKIS,
    enterprise_wikis: Iterable[str] = ("enwiki",),
) -> list[MirrorRun]:
    """Build the offline demo mirror under ``root`` from the shared real-data fixtures.

    - The seven xztextfilter wikis (``fixtures_dir/xztextfilter-truncated-dumps``, cut from the
      2023-05-01 dumps) as run ``date``: their complete pages, no page_props rows (the fixtures carry no
      Wikidata ids).
    - Each wiki of ``enterprise_wikis`` from its Wikimedia Enterprise records
      (``fixtures_dir/wme-articles/<wiki>``), with real page_props (page id -> QID), dated by
      :func:`enterprise_dump_date` (enwiki: 20250201, the first run after its newest revision of
      2025-01-30).

    Serve ``root`` with any static web server and set ``WME_DUMPS_URL`` to it; directory listings such
    as ``python -m http.server`` produces stand in for the dumps site's ``/{dbname}/`` date index.
    """
    fixtures_dir = Path(fixtures_dir)
    runs = []
    for wiki in wikis:
        source = fixtures_dir / "xztextfilter-truncated-dumps" / f"{wiki}-truncated-100k.xml.xz"
        runs.append(build_dumps_mirror(root, wiki, date, source))
    for wiki in enterprise_wikis:
        records = read_enterprise_records(fixtures_dir / "wme-articles" / wiki)
        runs.append(
            build_dumps_mirror(
                root,
                wiki,
                enterprise_dump_date(records),
                export_xml_from_enterprise_records(records, dbname=wiki),
                page_props=page_props_from_enterprise_records(records),
            )
        )
    return runs


def _default_fixtures_dir() -> Path:
    # The shared fixtures sit next to the repository checkout: <workspace>/shared/fixtures.
    return Path(__file__).resolve().parents[3] / "shared" / "fixtures"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m wme_assets.devtools.mirror",
        description="Build a dumps.wikimedia.org-style mirror from the real-data fixtures.",
    )
    parser.add_argument("root", type=Path, help="directory to serve as WME_DUMPS_URL")
    parser.add_argument("--fixtures", type=Path, default=_default_fixtures_dir(), help="shared fixtures dir")
    parser.add_argument("--date", default=XZTEXTFILTER_DATE, help="run date of the xztextfilter wikis")
    parser.add_argument("--wiki", action="append", help="only these xztextfilter wikis (repeatable)")
    args = parser.parse_args(argv)
    runs = build_fixture_mirror(
        args.root, args.fixtures, date=args.date, wikis=args.wiki or XZTEXTFILTER_WIKIS
    )
    for run in runs:
        size = sum(f.size for f in run.files.values())
        print(f"{run.dbname}/{run.date}: {run.page_count} pages, {len(run.files)} files, {size:,} bytes")
    print(
        f"\nserve it:  python -m http.server --bind 127.0.0.1 --directory {args.root} 8765\n"
        "then:      export WME_DUMPS_URL=http://127.0.0.1:8765"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
