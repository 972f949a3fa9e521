"""The On-demand API's title indexes: built from the article store, kept current, shared by the server's processes.

A request cannot read Parquet from S3 in its latency budget, so the server keeps one SQLite file per project
(:mod:`.title_index`) under ``WME_ONDEMAND_INDEX_DIR`` (default ``WME_HOME/ondemand``)::

    {project}.json                   which file is current: {"file": "{project}-{generation}.sqlite3"}
    {project}-{generation}.sqlite3   the index (WAL mode)
    {project}.build.lock, {project}.lock   flock(2) locks: one builder, one writer per project

The projects are those with an article store (``articles/{project}/current.json``) that the catalogue knows.
Freshness: at most every ``WME_ONDEMAND_REFRESH_SECONDS`` a request checks each project with two HEADs (the
pointer ``current.json`` and the newest delta's manifest, the one the realtime path republishes within its
hour) against the ETags the index recorded. On a change the checking request applies the new deltas' rows
(small: one hour of changes) in one transaction, so a change published by the realtime path is in the next
answer once checked (with 0 seconds: on every request). With a positive interval, requests that find a check
already running go on with the index as it is rather than wait; with 0 they wait for it.

A project without an index, or whose base changed (a new dump, a compaction, a delta republished out of
order), is built in a background thread into a new generation file, switched to when complete; meanwhile the
previous generation answers, and a project never indexed yet answers 503 with Retry-After (the route names
it). Processes (``wme serve --workers N``) share the files: the builder and the writer of a project hold its
flock, every process reads through its own read-only connections and follows ``{project}.json``.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import sqlite3
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import orjson

from wme_assets.serving.catalogue import CatalogSource
from wme_assets.serving.title_index import (
    COLUMNS,
    Hit,
    IndexState,
    TitleIndexReader,
    TitleIndexWriter,
    manifest_digest,
)
from wme_assets.serving.titles import TitleRules
from wme_assets.settings import Settings
from wme_assets.storage.article_store import (
    CurrentState,
    current_key,
    delta_prefix,
    iter_current_batches,
    iter_delta_changes,
    read_base_manifest,
    read_current,
    read_delta_manifest,
)
from wme_assets.storage.object_store import ObjectStore
from wme_assets.storage.page_store.layout import page_store_prefix
from wme_assets.storage.page_store.publish import read_page_store_manifest
from wme_assets.storage.parquet_dataset import MANIFEST_NAME

log = logging.getLogger(__name__)
RETRY_FAILED_BUILD = 60.0  # seconds before a failed build is tried again


class NotReady(RuntimeError):
    """Projects whose index is not built yet (or whose build failed); the message names them and why."""

    def __init__(self, projects: dict[str, str]):
        self.projects = projects
        named = "; ".join(f"{p}: {why}" for p, why in sorted(projects.items())[:5])
        more = f" and {len(projects) - 5} more" if len(projects) > 5 else ""
        super().__init__(f"the title index is not ready for {named}{more}")


@dataclass
class _Project:
    name: str
    file: str | None = None  # the current generation, once built
    building: bool = False
    failed: str | None = None
    failed_at: float = 0.0


@contextlib.contextmanager
def _flock(path: Path, *, wait: bool):
    """An exclusive flock on ``path``: yields True when held (False when busy and not waiting)."""
    with open(path, "a+b") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class OnDemandIndex:
    def __init__(self, settings: Settings, store: ObjectStore, catalog: CatalogSource):
        self.store = store
        self.catalog = catalog
        self.refresh_seconds = settings.ondemand_refresh_seconds
        self.directory = Path(settings.ondemand_index_dir or settings.home_dir / "ondemand").expanduser().resolve()
        self.directory.mkdir(parents=True, exist_ok=True)
        self._projects: dict[str, _Project] = {}
        self._check_lock = threading.Lock()
        self._checked_at: float | None = None
        self._builds = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wme-ondemand-build")
        self._local = threading.local()
        self._stopping = threading.Event()

    # ----- lifecycle -----------------------------------------------------------------------------------

    def start(self) -> None:
        """Find the projects and start building the missing indexes, without waiting (the server's start)."""
        threading.Thread(target=self._first_check, name="wme-ondemand-start", daemon=True).start()

    def _first_check(self) -> None:
        try:
            self.refresh(wait=True)
        except Exception:  # noqa: BLE001  (a request retries it; the API answers meanwhile)
            log.exception("on-demand: the first check of the article stores failed")

    def stop(self) -> None:
        self._stopping.set()
        self._builds.shutdown(wait=True, cancel_futures=True)

    # ----- what requests call ----------------------------------------------------------------------------

    def projects(self) -> list[str]:
        """The served projects, in the order answers list them (by dbname); checked for changes when due."""
        due = self._checked_at is None or time.monotonic() - self._checked_at >= self.refresh_seconds
        if due:
            self.refresh(wait=self.refresh_seconds == 0 or self._checked_at is None)
        return sorted(self._projects)

    def require_ready(self, projects: list[str]) -> None:
        missing = {}
        for name in projects:
            project = self._projects[name]
            if project.file is None:
                missing[name] = f"build failed ({project.failed})" if project.failed else "being built"
        if missing:
            raise NotReady(missing)

    def lookup(self, project: str, title: str, *, structured: bool = False) -> Hit | None:
        try:
            return self._reader(project).lookup(title, structured=structured)
        except sqlite3.OperationalError:
            # Another process switched the project to a new file and removed the one named here: follow it.
            self._projects[project].file = self._current_file(project) or self._projects[project].file
            return self._reader(project).lookup(title, structured=structured)

    def _reader(self, project: str) -> TitleIndexReader:
        """This thread's connection to the project's current file (reopened when the file changes)."""
        readers = getattr(self._local, "readers", None)
        if readers is None:
            readers = self._local.readers = {}
        file = self._projects[project].file
        held = readers.get(project)
        if held is None or held[0] != file:
            if held is not None:
                held[1].close()
            readers[project] = held = (file, TitleIndexReader(self.directory / file))
        return held[1]

    # ----- freshness ----------------------------------------------------------------------------------------

    def refresh(self, *, wait: bool) -> None:
        """Check every project now (module docstring); without ``wait``, return at once if a check is running."""
        if not self._check_lock.acquire(blocking=wait):
            return
        try:
            served = self._discover()
            for name in list(self._projects):
                if name not in served:
                    del self._projects[name]
            for name in served:
                project = self._projects.setdefault(name, _Project(name))
                self._refresh_project(project, wait=wait)
            self._checked_at = time.monotonic()
        finally:
            self._check_lock.release()

    def _discover(self) -> list[str]:
        known = self.catalog.metadata().projects
        return [name for name in self.store.folders(self.store.key("articles") + "/") if name in known]

    def _pointer_file(self, project: str) -> Path:
        return self.directory / f"{project}.json"

    def _current_file(self, project: str) -> str | None:
        path = self._pointer_file(project)
        if not path.exists():
            return None
        name = orjson.loads(path.read_bytes())["file"]
        return name if (self.directory / name).exists() else None

    def _etag(self, key: str) -> str | None:
        info = self.store.head(self.store.key(key))
        return info.etag if info is not None else None

    def _newest_etag(self, project: str, hour: str | None) -> str | None:
        return self._etag(delta_prefix(project, hour) + MANIFEST_NAME) if hour else None

    def _refresh_project(self, project: _Project, *, wait: bool) -> None:
        project.file = self._current_file(project.name)
        pointer_etag = self._etag(current_key(project.name))
        if pointer_etag is None:
            return  # the folder holds no store (yet): nothing to serve, nothing to build
        if project.file is None:
            self._schedule_build(project)
            return
        state = self._file_state(project.file)
        newest = state.deltas[-1] if state.deltas else None
        if state.pointer_etag == pointer_etag and state.newest_etag == self._newest_etag(project.name, newest):
            return
        with _flock(self.directory / f"{project.name}.lock", wait=wait) as held:
            if held:
                self._update(project)

    def _file_state(self, file: str) -> IndexState:
        conn = sqlite3.connect(f"{(self.directory / file).as_uri()}?mode=ro", uri=True)
        try:
            return IndexState.from_json(conn.execute("SELECT value FROM meta WHERE key = 'state'").fetchone()[0])
        finally:
            conn.close()

    def _read_state(self, project: str) -> tuple[CurrentState, str | None, str | None]:
        """The current state with the ETags read before it (so a later change shows as a different ETag); the
        newest delta's manifest is read again after its ETag, as that is the one republished in place."""
        pointer_etag = self._etag(current_key(project))
        current = read_current(self.store, project)
        newest = current.deltas[-1] if current.deltas else None
        newest_etag = self._newest_etag(project, newest)
        if newest is not None:
            manifests = {**current.delta_manifests, newest: read_delta_manifest(self.store, project, newest)}
            current = replace(current, delta_manifests=manifests)
        return current, pointer_etag, newest_etag

    def _update(self, project: _Project) -> None:
        """Apply the deltas published since the file's state, or start a rebuild when that cannot be done."""
        project.file = self._current_file(project.name)  # another process may have switched it meanwhile
        writer = TitleIndexWriter(self.directory / project.file)
        try:
            state = writer.state()
            current, pointer_etag, newest_etag = self._read_state(project.name)
            if (current.base, manifest_digest(current.base_manifest)) != (state.base, state.base_digest):
                self._schedule_build(project)  # a new base: a whole new file; the old one answers meanwhile
                return
            applied, hours = state.deltas, list(current.deltas)
            new = [hour for hour in hours if hour not in applied]
            if not set(applied) <= set(hours) or (applied and new and min(new) < applied[-1]):
                self._schedule_build(project)
                return
            redo = []
            if applied and self._newest_etag(project.name, applied[-1]) != state.newest_etag:
                redo = [applied[-1]]  # republished in place (the realtime path's next application in its hour)
            if not new and not redo and state.pointer_etag == pointer_etag:
                return
            manifests = {hour: current.delta_manifests[hour] for hour in redo + new}
            with tempfile.TemporaryDirectory(dir=self.directory, prefix=f".{project.name}-delta-") as cache:
                batches = (
                    batch
                    for hour in redo + new
                    for batch in iter_delta_changes(
                        self.store, project.name, manifests[hour], cache_dir=cache, columns=COLUMNS
                    )
                )
                rows = writer.apply(
                    batches,
                    TitleRules.from_json(state.rules),
                    replace(state, deltas=hours, pointer_etag=pointer_etag, newest_etag=newest_etag),
                )
            log.info("on-demand: %s: %d rows of deltas %s applied", project.name, rows, redo + new)
        finally:
            writer.close()

    # ----- builds -------------------------------------------------------------------------------------------

    def _schedule_build(self, project: _Project) -> None:
        if project.building or self._stopping.is_set():
            return
        if project.failed and time.monotonic() - project.failed_at < RETRY_FAILED_BUILD:
            return
        project.building = True
        self._builds.submit(self._build, project)

    def _build(self, project: _Project) -> None:
        try:
            with _flock(self.directory / f"{project.name}.build.lock", wait=False) as held:
                if held:  # else another process builds it; its pointer file shows the result
                    self._build_file(project)
            project.failed = None
        except Exception as exc:  # noqa: BLE001  (reported to requests, retried later)
            log.exception("on-demand: building the title index of %s failed", project.name)
            project.failed, project.failed_at = f"{type(exc).__name__}: {exc}", time.monotonic()
        finally:
            project.building = False

    def _build_file(self, project: _Project) -> None:
        started = time.monotonic()
        current, pointer_etag, newest_etag = self._read_state(project.name)
        file = f"{project.name}-{uuid.uuid4().hex[:12]}.sqlite3"
        rules = self._rules(project.name, current)
        state = IndexState(
            base=current.base,
            base_digest=manifest_digest(current.base_manifest),
            deltas=list(current.deltas),
            pointer_etag=pointer_etag,
            newest_etag=newest_etag,
            rules=rules.to_json(),
        )
        cache = Path(tempfile.mkdtemp(dir=self.directory, prefix=f".{project.name}-build-"))
        writer = TitleIndexWriter(self.directory / file, create=True)
        try:
            batches = iter_current_batches(self.store, project.name, cache_dir=cache, columns=COLUMNS, state=current)
            rows = writer.apply(self._until_stopped(batches), rules, state, fresh=True)
            writer.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except BaseException:
            writer.close()
            _remove_file(self.directory / file)
            raise
        finally:
            shutil.rmtree(cache, ignore_errors=True)
        writer.close()
        with _flock(self.directory / f"{project.name}.lock", wait=True):
            old = self._current_file(project.name)
            pointer = self._pointer_file(project.name)
            staged = pointer.with_suffix(".json.tmp")
            staged.write_bytes(orjson.dumps({"file": file}))
            os.replace(staged, pointer)
        project.file = file
        if old is not None:
            # Readers of other processes that still hold the old file keep reading it (it stays open until
            # they follow the pointer at their next check); new connections open the new one.
            _remove_file(self.directory / old)
        log.info("on-demand: %s: title index built, %d articles, %.1f s", project.name, rows, time.monotonic() - started)

    def _until_stopped(self, batches):
        for batch in batches:
            if self._stopping.is_set():
                raise RuntimeError("the server is stopping")
            yield batch

    def _rules(self, project: str, current: CurrentState) -> TitleRules:
        """The project's title rules from the siteinfo of the dump its base came from (following compactions
        back to it), else the rule of its family."""
        base, manifest = current.base, current.base_manifest
        for _ in range(64):
            if self.store.head(self.store.key(page_store_prefix(project, base), MANIFEST_NAME)) is not None:
                siteinfo = read_page_store_manifest(self.store, project, base).get("siteinfo")
                if siteinfo:
                    return TitleRules.from_siteinfo(siteinfo)
            base = manifest.get("compacted_from")
            if not base:
                break
            manifest = read_base_manifest(self.store, project, base)
        return TitleRules.for_family(self.catalog.metadata().projects[project].get("code"))


def _remove_file(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(f"{path}{suffix}")
