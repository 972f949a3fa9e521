"""Client for the Wikimedia dumps site, or any mirror laid out like it.

Layout followed: ``{base}/{dbname}/{YYYYMMDD}/dumpstatus.json`` describes one run: per job a status
(``done``, ``in-progress``, ``waiting``, ``failed``...) and its files with size, md5 and sha1. The base URL
may be ``https://`` (the public site or a mirror) or ``file://`` (a mirror synced to local disk).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

import requests
from pydantic import BaseModel, ConfigDict, Field

from wme_assets.settings import validate_project
from wme_assets.util.dates import check_yyyymmdd, is_yyyymmdd
from wme_assets.util.http import retrying_session

USER_AGENT = "wme/0.1 (self-hosted Wikipedia data platform; https://github.com/wme)"

# The jobs whose files wme requires: the page content (multistream XML, split in parts on large wikis,
# with its index) and the page_props table (Wikidata ids). The optional tables (categorylinks…) are found
# by their file names, whichever job lists them (wme_assets.ingestion.tables).
CONTENT_JOB = "articlesmultistreamdump"
RECOMBINED_CONTENT_JOB = "articlesmultistreamdumprecombine"
PAGE_PROPS_JOB = "pagepropstable"


class DumpsError(RuntimeError):
    """A dumps run cannot be ingested; the message names the project, date and file or URL."""


class DumpsNotFound(DumpsError):
    """The dumps site has no such run or file (HTTP 404): permanent, not worth retrying."""


class DumpsUnavailable(DumpsError):
    """The dumps site could not be reached, or answered 429 or 5xx: worth retrying later."""


class DumpFile(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str = ""
    size: int | None = None
    url: str | None = None
    md5: str | None = None
    sha1: str | None = None


class DumpJob(BaseModel):
    model_config = ConfigDict(extra="allow")

    status: str
    updated: str | None = None
    files: dict[str, DumpFile] = Field(default_factory=dict)


class DumpRunStatus(BaseModel):
    """The parsed ``dumpstatus.json`` of one run."""

    model_config = ConfigDict(extra="allow")

    jobs: dict[str, DumpJob]
    version: str | None = None

    def job(self, name: str) -> DumpJob | None:
        return self.jobs.get(name)


def validate_dump_date(date: str) -> str:
    if date == "latest":
        return date
    return check_yyyymmdd(date, "dump date (or 'latest')", DumpsError)


def make_session(retries: int = 4, backoff: float = 1.0) -> requests.Session:
    """HTTP (and ``file://``) with bounded retries and exponential backoff on connection errors and 429/5xx."""
    return retrying_session(retries, backoff, user_agent=USER_AGENT, files=True)


class DumpsClient:
    def __init__(
        self,
        base_url: str,
        *,
        retries: int = 4,
        backoff: float = 1.0,
        session: requests.Session | None = None,
        timeout: float = 30.0,
    ):
        self.base_url = base_url.rstrip("/")
        self.session = session or make_session(retries, backoff)
        self.timeout = timeout

    def run_url(self, project: str, date: str) -> str:
        return f"{self.base_url}/{validate_project(project)}/{validate_dump_date(date)}"

    def file_url(self, project: str, date: str, name: str) -> str:
        return f"{self.run_url(project, date)}/{name}"

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        try:
            response = self.session.get(url, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise DumpsUnavailable(f"cannot reach {url}: {exc.__class__.__name__}: {exc}") from None
        if response.status_code >= 400:
            error = DumpsError
            if response.status_code in (404, 410):
                error = DumpsNotFound
            elif response.status_code == 429 or response.status_code >= 500:
                error = DumpsUnavailable
            raise error(f"{url} answered HTTP {response.status_code} {response.reason}")
        return response

    def fetch_status_bytes(self, project: str, date: str) -> bytes:
        return self.get(self.file_url(project, date, "dumpstatus.json")).content

    def fetch_status(self, project: str, date: str) -> DumpRunStatus:
        url = self.file_url(project, date, "dumpstatus.json")
        raw = self.get(url).content
        try:
            return parse_status(raw)
        except ValueError as exc:
            raise DumpsError(f"{url} is not a valid dumpstatus.json: {exc}") from None

    def list_run_dates(self, project: str) -> list[str]:
        """Dates of the runs listed in the project's directory index, oldest first."""
        url = f"{self.base_url}/{validate_project(project)}/"
        if url.startswith("file://"):
            # A mirror on local disk has no HTML index: list the directory itself.
            directory = Path(url2pathname(urlparse(url).path))
            if not directory.is_dir():
                raise DumpsError(f"{url} is not a directory of dump runs")
            return sorted(p.name for p in directory.iterdir() if is_yyyymmdd(p.name) and p.is_dir())
        html = self.get(url).text
        return sorted(set(re.findall(r'href="(\d{8})/?"', html)))

    def resolve_latest(
        self, project: str, jobs: tuple[str, ...] = (CONTENT_JOB, PAGE_PROPS_JOB), *, on_or_before: str | None = None
    ) -> str:
        """The newest run whose ``jobs`` are all done (the dumps site's own `latest` may be mid-run),
        optionally among the runs dated ``on_or_before`` a day (YYYYMMDD)."""
        for date in reversed(self.list_run_dates(project)):
            if on_or_before is not None and date > on_or_before:
                continue
            try:
                status = self.fetch_status(project, date)
            except DumpsError:
                continue
            if not unfinished_jobs(status, jobs):
                return date
        when = f" on or before {on_or_before}" if on_or_before else ""
        raise DumpsError(f"{project}: no finished dump run{when} found at {self.base_url}/{project}/")


def parse_status(raw: bytes) -> DumpRunStatus:
    status = DumpRunStatus.model_validate_json(raw)
    for job in status.jobs.values():
        for name, info in job.files.items():
            info.name = name
    return status


def unfinished_jobs(status: DumpRunStatus, jobs: tuple[str, ...]) -> dict[str, str]:
    """The named jobs that are not ``done``, with their status (``missing`` if absent)."""
    result = {}
    for name in jobs:
        job = status.job(name)
        if job is None:
            result[name] = "missing"
        elif job.status != "done":
            result[name] = job.status
    return result
