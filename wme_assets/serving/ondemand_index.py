"""The On-demand API's title indexes: built from the article store, kept current, shared by the server's processes.

A request cannot read Parquet from S3 in its latency budget, so the server keeps one SQLite file per project
(:mod:`.title_index`) under ``WME_ONDEMAND_INDEX_DIR`` (default ``WME_HOME/ondemand``; layout and builds in
:mod:`.index_files`).

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

import logging
import sqlite3
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from wme_assets.serving.catalogue import CatalogSource, CatalogUnavailable
from wme_assets.serving.index_files import (
    IndexFiles,
    build_index,
    delta_etag,
    flock,
    pointer_etag,
    read_state,
)
from wme_assets.serving.title_index import COLUMNS, Hit, TitleIndexReader, TitleIndexWriter, manifest_digest
from wme_assets.serving.titles import TitleRules
from wme_assets.settings import Settings
from wme_assets.storage.article_store import iter_delta_changes
from wme_assets.storage.object_store import ObjectStore

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


class OnDemandIndex:
    def __init__(self, settings: Settings, store: ObjectStore, catalog: CatalogSource):
        self.store = store
        self.catalog = catalog
        self.refresh_seconds = settings.ondemand_refresh_seconds
        self.files = IndexFiles(
            Path(settings.ondemand_index_dir or settings.home_dir / "ondemand").expanduser().resolve()
        )
        # Replaced whole by each check (never changed in place): a request reads the one it got.
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

    def due(self) -> bool:
        """Whether the stores are to be checked before this request is answered (:meth:`check`)."""
        return self._checked_at is None or time.monotonic() - self._checked_at >= self.refresh_seconds

    def check(self) -> None:
        """Check the stores for changes (blocking: S3 requests; a request calls it off the event loop)."""
        strict = self.refresh_seconds == 0 or self._checked_at is None
        try:
            self.refresh(wait=strict)
        except CatalogUnavailable:
            raise
        except Exception as exc:
            if strict:  # freshness is promised on every request: say it cannot be kept
                raise NotReady({"all projects": f"the article stores cannot be checked: {exc}"}) from exc
            # Otherwise the indexes answer as they are; the next check tries again.
            log.exception("on-demand: checking the article stores failed")
            self._checked_at = time.monotonic()

    def projects(self) -> list[str]:
        """The served projects, in the order answers list them (by dbname)."""
        return sorted(self._projects)

    def require_ready(self, projects: list[str]) -> None:
        known, missing = self._projects, {}
        for name in projects:
            project = known.get(name)
            if project is not None and project.file is None:
                missing[name] = f"build failed ({project.failed})" if project.failed else "being built"
        if missing:
            raise NotReady(missing)

    def lookup(self, project: str, title: str, *, structured: bool = False) -> Hit | None:
        """The project's article with that title (None when it has none, or was dropped since)."""
        entry = self._projects.get(project)
        if entry is None or entry.file is None:
            return None
        try:
            return self._reader(entry).lookup(title, structured=structured)
        except sqlite3.OperationalError:  # another process switched the file and removed this one: follow it
            entry.file = self.files.current_file(project) or entry.file
            return self._reader(entry).lookup(title, structured=structured)

    def _reader(self, entry: _Project) -> TitleIndexReader:
        """This thread's connection to the project's current file (reopened when the file changes)."""
        readers = getattr(self._local, "readers", None)
        if readers is None:
            readers = self._local.readers = {}
        held = readers.get(entry.name)
        if held is None or held[0] != entry.file:
            if held is not None:
                held[1].close()
            readers[entry.name] = held = (entry.file, TitleIndexReader(self.files.path(entry.file)))
        return held[1]

    # ----- freshness ----------------------------------------------------------------------------------------

    def refresh(self, *, wait: bool) -> None:
        """Check every project now (module docstring); without ``wait``, return at once if a check is running."""
        if not self._check_lock.acquire(blocking=wait):
            return
        try:
            known = self.catalog.metadata().projects
            checked = {}
            for name in self.store.folders(self.store.key("articles") + "/"):
                if name not in known:
                    continue
                project = self._projects.get(name) or _Project(name)
                if self._refresh_project(project, wait=wait):  # else a folder without a store (yet)
                    checked[name] = project
            self._projects = checked
            self._checked_at = time.monotonic()
        finally:
            self._check_lock.release()

    def _refresh_project(self, project: _Project, *, wait: bool) -> bool:
        """Bring one project's index up to date, or start its build; False when the project has no store."""
        project.file = self.files.current_file(project.name)
        etag = pointer_etag(self.store, project.name)
        if etag is None:
            return False
        if project.file is None:
            self._schedule_build(project)
            return True
        state = self.files.state(project.file)
        newest = state.deltas[-1] if state.deltas else None
        if state.pointer_etag == etag and state.newest_etag == delta_etag(self.store, project.name, newest):
            return True
        with flock(self.files.lock(project.name), wait=wait) as held:
            if held:
                self._update(project)
        return True

    def _update(self, project: _Project) -> None:
        """Apply the deltas published since the file's state, or start a rebuild when that cannot be done."""
        project.file = self.files.current_file(project.name)  # another process may have switched it meanwhile
        writer = TitleIndexWriter(self.files.path(project.file))
        try:
            state = writer.state()
            current, etag, newest_etag = read_state(self.store, project.name)
            if (current.base, manifest_digest(current.base_manifest)) != (state.base, state.base_digest):
                self._schedule_build(project)  # a new base: a whole new file; the old one answers meanwhile
                return
            applied, hours = state.deltas, list(current.deltas)
            new = [hour for hour in hours if hour not in applied]
            if not set(applied) <= set(hours) or (applied and new and min(new) < applied[-1]):
                self._schedule_build(project)  # a delta went away, or one came before those applied
                return
            redo = []
            if applied and delta_etag(self.store, project.name, applied[-1]) != state.newest_etag:
                redo = [applied[-1]]  # republished in place (the realtime path's next application in its hour)
            if not new and not redo and state.pointer_etag == etag:
                return
            with tempfile.TemporaryDirectory(dir=self.files.directory, prefix=f".{project.name}-delta-") as cache:
                batches = (
                    batch
                    for hour in redo + new
                    for batch in iter_delta_changes(
                        self.store, project.name, current.delta_manifests[hour], cache_dir=cache, columns=COLUMNS
                    )
                )
                rows = writer.apply(
                    batches,
                    TitleRules.from_json(state.rules),
                    replace(state, deltas=hours, pointer_etag=etag, newest_etag=newest_etag),
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
        self._builds.submit(self._build, project, project.file)

    def _build(self, project: _Project, replacing: str | None) -> None:
        """Build the project's file that is to replace ``replacing`` (None: the first), unless another process
        is building it, or has built it since (the current file is no longer ``replacing``)."""
        try:
            with flock(self.files.build_lock(project.name), wait=False) as held:
                if held and self.files.current_file(project.name) == replacing:
                    started = time.monotonic()
                    code = self.catalog.metadata().projects[project.name].get("code")
                    file, rows = build_index(self.store, self.files, project.name, code, self._stopping)
                    self.files.switch(project.name, file)
                    project.file = file
                    log.info(
                        "on-demand: %s: title index built, %d articles, %.1f s",
                        project.name, rows, time.monotonic() - started,
                    )  # fmt: skip
            project.failed = None
        except Exception as exc:  # noqa: BLE001  (reported to requests, retried later)
            log.exception("on-demand: building the title index of %s failed", project.name)
            project.failed, project.failed_at = f"{type(exc).__name__}: {exc}", time.monotonic()
        finally:
            project.building = False
