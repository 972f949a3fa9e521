"""A run directory's layout and what describes it: file names, ``status.json`` and the sums files.

The names and URLs Wikimedia's ``other/enterprise_html`` runs use, the :class:`RunStatus` model of
``status.json`` and the ``md5sums.txt``/``sha256sums.txt`` lines, and the errors of publishing a run.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Literal

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from wme_assets.snapshots.publish import Tier
from wme_assets.util.dates import check_yyyymmdd

if TYPE_CHECKING:
    from wme_assets.publishing.dumps_site.targets import DumpsSiteTarget

log = logging.getLogger(__name__)

RUNS_ROOT = "other/enterprise_html/runs"
STATUS_FILE = "status.json"
MD5SUMS_FILE = "md5sums.txt"
SHA256SUMS_FILE = "sha256sums.txt"
STATUS_VERSION = "1.0"

RunState = Literal["in-progress", "done", "failed"]
FileState = Literal["in-progress", "done", "failed", "skipped"]



class DumpsSiteError(RuntimeError):
    """A run could not be published; the run stays ``in-progress`` and a re-run completes it."""


class SourceMismatchError(DumpsSiteError):
    """The bytes read from a snapshot are not what its manifest describes; nothing was published."""


class TargetVerificationError(DumpsSiteError):
    """What landed at the target is not what was sent; the final name was not touched."""



def checked_date(date: str) -> str:
    return check_yyyymmdd(date, "run date")


def run_directory(date: str) -> str:
    """``other/enterprise_html/runs/{date}``, relative to the target's root."""
    return f"{RUNS_ROOT}/{checked_date(date)}"


def dump_file_name(dbname: str, namespace: int, date: str) -> str:
    """``{dbname}-NS{ns}-{date}-ENTERPRISE-HTML.json.tar.gz``, Wikimedia's name for one namespace of one wiki."""
    return f"{dbname}-NS{int(namespace)}-{checked_date(date)}-ENTERPRISE-HTML.json.tar.gz"


def dump_file_url(date: str, name: str) -> str:
    """The site-absolute URL of a run's file, as dumpstatus.json gives it."""
    return f"/{run_directory(date)}/{name}"


class FileStatus(BaseModel):
    """One file of a run in ``status.json``; size and checksums only once it is done."""

    model_config = ConfigDict(extra="forbid")

    status: FileState
    updated: str
    url: str
    dbname: str
    namespace: int
    size: int | None = None
    md5: str | None = None
    sha256: str | None = None
    record_count: int | None = None
    source: str | None = None
    reason: str | None = None

    def same_as(self, other: FileStatus | None) -> bool:
        """Equal but for ``updated``."""
        return other is not None and self.model_dump(exclude={"updated"}) == other.model_dump(exclude={"updated"})


class RunStatus(BaseModel):
    """``status.json`` of one run directory."""

    model_config = ConfigDict(extra="forbid")

    version: str = STATUS_VERSION
    run: str
    tier: Tier
    status: RunState
    updated: str
    files: dict[str, FileStatus]

    def to_json(self) -> bytes:
        data = self.model_dump(mode="json", exclude_none=True)
        data["files"] = {name: data["files"][name] for name in sorted(data["files"])}
        return orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n"

    @classmethod
    def from_json(cls, data: bytes | str) -> RunStatus:
        return cls.model_validate_json(data)

    def done_files(self) -> dict[str, FileStatus]:
        return {name: entry for name, entry in sorted(self.files.items()) if entry.status == "done"}


def read_run_status(target: DumpsSiteTarget, date: str) -> RunStatus | None:
    """The run's ``status.json``, or None when there is none (or it is not ours)."""
    path = f"{run_directory(date)}/{STATUS_FILE}"
    return parse_status(target.read_bytes(path), target.describe(path))


def parse_status(data: bytes | None, where: str) -> RunStatus | None:
    if data is None:
        return None
    try:
        return RunStatus.from_json(data)
    except ValidationError:
        log.warning("%s is not a run status; publish_run rewrites it", where)
        return None


def sums_file(files: dict[str, FileStatus], algorithm: Literal["md5", "sha256"]) -> bytes:
    """``{hex}  {name}\\n`` for every done file, sorted by name: what ``md5sum -c``/``sha256sum -c`` read."""
    lines = [
        f"{getattr(entry, algorithm)}  {name}\n" for name, entry in sorted(files.items()) if entry.status == "done"
    ]
    return "".join(lines).encode("ascii")
