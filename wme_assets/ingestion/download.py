"""Copy a dumps run's files into the raw zone of object storage: verified, resumable, idempotent.

Each file streams from the dumps site (or mirror) straight into a multipart upload, never whole in memory.
A dropped connection resumes where it stopped with an HTTP Range request (guarded by If-Range, so a file
changed on the server restarts instead of being spliced). The bytes are checked against the md5 and sha1
the run publishes before the object becomes visible; a file already stored with the right checksums is
skipped, so a re-run downloads nothing twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import requests
from urllib3.exceptions import HTTPError as Urllib3HTTPError

from wme_assets.sources.dumps_client import (
    CONTENT_JOB,
    PAGE_PROPS_JOB,
    DumpFile,
    DumpRunStatus,
    DumpsClient,
    DumpsError,
    unfinished_jobs,
)
from wme_assets.storage.keys import raw_key
from wme_assets.storage.object_store import ObjectStore, VerificationError

log = _log = logging.getLogger(__name__)

REQUIRED_JOBS = (CONTENT_JOB, PAGE_PROPS_JOB)

# Errors after which a download resumes from the byte it reached.
_RESUMABLE = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    Urllib3HTTPError,
    ConnectionError,
)


@dataclass
class DownloadedFile:
    name: str
    key: str
    size: int
    md5: str
    sha1: str
    sha256: str
    skipped: bool  # already stored with the right checksums
    resumes: int = 0
    seconds: float = 0.0


@dataclass
class RunDownload:
    project: str
    date: str
    files: list[DownloadedFile] = field(default_factory=list)

    @property
    def bytes(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def bytes_downloaded(self) -> int:
        return sum(f.size for f in self.files if not f.skipped)


def table_files(status: DumpRunStatus, project: str, date: str) -> tuple[list[DumpFile], dict[str, str]]:
    """The optional SQL tables the run publishes (see :mod:`.tables`), and why each other one is skipped."""
    from .tables import table_files as find

    found, skipped = find(status, project, date)
    files = {f.name: f for job in status.jobs.values() for f in job.files.values()}
    return [files[name] for name in found.values()], skipped


def run_files(
    status: DumpRunStatus, project: str, date: str, log: Callable[[str], None] | None = None
) -> list[DumpFile]:
    """Every file wme ingests from a run: the required ones and the optional tables it has (each table it
    lacks is skipped, with the reason given to ``log``)."""
    files = required_files(status, project, date)
    tables, skipped = table_files(status, project, date)
    for table, reason in skipped.items():
        (log or _log.info)(f"{project} {date}: table {table} skipped: {reason}")
    return files + tables


def required_files(status: DumpRunStatus, project: str, date: str) -> list[DumpFile]:
    """The files wme ingests from a run: every multistream part with its index, and page_props.

    Refuses a run whose jobs are not done, and files without the checksums the run should publish.
    """
    pending = unfinished_jobs(status, REQUIRED_JOBS)
    if pending:
        states = ", ".join(f"{job}: {state}" for job, state in pending.items())
        raise DumpsError(f"{project} {date}: the dump run is not finished ({states}); nothing was ingested")
    files = [f for job in REQUIRED_JOBS for f in status.jobs[job].files.values()]
    content = [f for f in files if "pages-articles-multistream" in f.name]
    if not any("-index" in f.name for f in content) or not any("-index" not in f.name for f in content):
        raise DumpsError(f"{project} {date}: the run lists no multistream dump with its index")
    for f in files:
        if not (f.md5 or f.sha1):
            raise DumpsError(f"{project} {date}: {f.name} has no published checksum; refusing to ingest it")
        if f.size is None:
            raise DumpsError(f"{project} {date}: {f.name} has no published size")
    return files


class ResumableDownload:
    """A read-only stream of one HTTP file that survives dropped connections with Range requests."""

    def __init__(
        self,
        client: DumpsClient,
        url: str,
        size: int,
        *,
        max_resumes: int = 10,
        backoff: float = 1.0,
        on_bytes: Callable[[int], None] | None = None,
    ):
        self.client = client
        self.url = url
        self.size = size
        self.max_resumes = max_resumes
        self.backoff = backoff
        self.on_bytes = on_bytes
        self.position = 0
        self.resumes = 0
        self.validator: str | None = None  # ETag or Last-Modified of the first response
        self._raw = None
        self._open()

    def _open(self) -> None:
        headers = {}
        if self.position:
            headers["Range"] = f"bytes={self.position}-"
            if self.validator:
                headers["If-Range"] = self.validator
        response = self.client.get(self.url, stream=True, headers=headers)
        if self.position:
            if response.status_code != 206:
                response.close()
                raise DumpsError(
                    f"{self.url}: the server did not resume at byte {self.position} "
                    f"(HTTP {response.status_code}; the file may have changed on the server)"
                )
            content_range = response.headers.get("Content-Range", "")
            if not content_range.startswith(f"bytes {self.position}-"):
                response.close()
                raise DumpsError(f"{self.url}: asked to resume at {self.position}, got range {content_range!r}")
        else:
            self.validator = response.headers.get("ETag") or response.headers.get("Last-Modified")
        self._raw = response.raw
        self._response = response

    def read(self, n: int = -1) -> bytes:
        if self.position >= self.size:
            return b""
        want = self.size - self.position if n is None or n < 0 else min(n, self.size - self.position)
        while True:
            try:
                data = self._raw.read(want, decode_content=False)
                if not data:
                    raise ConnectionError(f"connection closed at byte {self.position} of {self.size}")
                break
            except _RESUMABLE as exc:
                self._resume(exc)
        self.position += len(data)
        if self.on_bytes:
            self.on_bytes(len(data))
        return data

    def _resume(self, exc: BaseException) -> None:
        self._response.close()
        self.resumes += 1
        if self.resumes > self.max_resumes:
            raise DumpsError(
                f"{self.url}: download failed at byte {self.position} of {self.size} after "
                f"{self.max_resumes} resumes ({exc})"
            ) from None
        delay = self.backoff * 2 ** (self.resumes - 1)
        log.warning("%s: %s at byte %d; resuming in %.1fs", self.url, exc, self.position, delay)
        time.sleep(delay)
        self._open()

    def close(self) -> None:
        if self._raw is not None:
            self._response.close()


class _LocalFile:
    """A mirror file on local disk (``file://``), reporting progress like a download."""

    def __init__(self, path: Path, on_bytes: Callable[[int], None]):
        self._file = path.open("rb")
        self._on_bytes = on_bytes

    def read(self, n: int = -1) -> bytes:
        data = self._file.read(n)
        self._on_bytes(len(data))
        return data

    def close(self) -> None:
        self._file.close()


def _open_source(client: DumpsClient, url: str, size: int, on_bytes) -> _LocalFile | ResumableDownload:
    if url.startswith("file://"):
        path = Path(url2pathname(urlparse(url).path))
        if not path.is_file():
            raise DumpsError(f"{url}: no such file in the mirror")
        return _LocalFile(path, on_bytes)
    return ResumableDownload(client, url, size, on_bytes=on_bytes)


def download_run(
    client: DumpsClient,
    store: ObjectStore,
    project: str,
    date: str,
    *,
    files: Iterable[DumpFile] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> RunDownload:
    """Copy a run's files (by default :func:`run_files`) into ``raw/{project}/{date}/``; what was stored.

    ``progress(file_name, bytes_done, bytes_total)`` is called as bytes arrive.
    """
    if files is None:
        files = run_files(client.fetch_status(project, date), project, date)
    result = RunDownload(project, date)
    for dump_file in files:
        result.files.append(_download_file(client, store, project, date, dump_file, progress))
    return result


def _download_file(client, store, project, date, dump_file: DumpFile, progress) -> DownloadedFile:
    key = store.key(raw_key(project, date, dump_file.name))
    existing = store.head(key)
    if (
        existing is not None
        and existing.size == dump_file.size
        and existing.metadata.get("md5") == (dump_file.md5 or existing.metadata.get("md5"))
        and existing.metadata.get("sha1") == (dump_file.sha1 or existing.metadata.get("sha1"))
    ):
        return DownloadedFile(
            dump_file.name,
            key,
            existing.size,
            existing.metadata.get("md5", ""),
            existing.metadata.get("sha1", ""),
            existing.sha256 or "",
            skipped=True,
        )
    url = client.file_url(project, date, dump_file.name)
    done = 0

    def on_bytes(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress(dump_file.name, done, dump_file.size or 0)

    started = time.monotonic()
    source = _open_source(client, url, dump_file.size or 0, on_bytes)
    try:
        published = store.publish(
            source,
            key,
            size=dump_file.size,
            expected={"md5": dump_file.md5 or "", "sha1": dump_file.sha1 or ""},
            digests=("md5", "sha1"),  # both recorded, whichever of them the dumps run published
            metadata={k: v for k, v in (("md5", dump_file.md5), ("sha1", dump_file.sha1)) if v},
        )
    except VerificationError as exc:
        raise DumpsError(f"{project} {date}: {dump_file.name} failed verification: {exc}") from None
    finally:
        source.close()
    return DownloadedFile(
        dump_file.name,
        key,
        published.size,
        published.md5,
        published.sha1,
        published.sha256,
        skipped=False,
        resumes=getattr(source, "resumes", 0),
        seconds=time.monotonic() - started,
    )
