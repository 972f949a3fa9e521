"""The On-demand title indexes on disk, and what building one reads from the article store.

Layout of ``WME_ONDEMAND_INDEX_DIR`` (default ``WME_HOME/ondemand``)::

    {project}.json                   which file is current: {"file": "{project}-{generation}.sqlite3"}
    {project}-{generation}.sqlite3   the index (:mod:`.title_index`, WAL mode)
    {project}.build.lock             flock(2): one process builds a project's new file at a time
    {project}.lock                   flock(2): one process writes the current file (or switches it) at a time

A new file is built beside the current one and switched to by replacing ``{project}.json``, so a reader sees a
complete file, old or new, never one being built; SQLite's ``-wal`` and ``-shm`` files are named after their
database, so a generation's name is never reused.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import sqlite3
import tempfile
import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import orjson

from wme_assets.serving.title_index import COLUMNS, IndexState, TitleIndexWriter, manifest_digest
from wme_assets.serving.titles import TitleRules
from wme_assets.storage.article_store import (
    CurrentState,
    current_key,
    delta_prefix,
    iter_current_batches,
    read_base_manifest,
    read_current,
    read_delta_manifest,
)
from wme_assets.storage.object_store import ObjectStore
from wme_assets.storage.page_store.layout import page_store_prefix
from wme_assets.storage.page_store.publish import read_page_store_manifest
from wme_assets.storage.parquet_dataset import MANIFEST_NAME


@contextlib.contextmanager
def flock(path: Path, *, wait: bool) -> Iterator[bool]:
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


def remove_index_file(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(f"{path}{suffix}")


class IndexFiles:
    def __init__(self, directory: Path):
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def path(self, file: str) -> Path:
        return self.directory / file

    def lock(self, project: str) -> Path:
        return self.directory / f"{project}.lock"

    def build_lock(self, project: str) -> Path:
        return self.directory / f"{project}.build.lock"

    def current_file(self, project: str) -> str | None:
        pointer = self.directory / f"{project}.json"
        if not pointer.exists():
            return None
        name = orjson.loads(pointer.read_bytes())["file"]
        return name if (self.directory / name).exists() else None

    def state(self, file: str) -> IndexState:
        conn = sqlite3.connect(f"{self.path(file).as_uri()}?mode=ro", uri=True)
        try:
            return IndexState.from_json(conn.execute("SELECT value FROM meta WHERE key = 'state'").fetchone()[0])
        finally:
            conn.close()

    def switch(self, project: str, file: str) -> None:
        """Make ``file`` the project's current index and remove the previous one. Readers of other processes
        still holding the previous file keep reading it (an open file outlives its name) until they follow the
        pointer at their next check."""
        with flock(self.lock(project), wait=True):
            old = self.current_file(project)
            pointer = self.directory / f"{project}.json"
            staged = pointer.with_suffix(".json.tmp")
            staged.write_bytes(orjson.dumps({"file": file}))
            os.replace(staged, pointer)
        if old is not None and old != file:
            remove_index_file(self.path(old))


def etag(store: ObjectStore, key: str) -> str | None:
    info = store.head(store.key(key))
    return info.etag if info is not None else None


def pointer_etag(store: ObjectStore, project: str) -> str | None:
    return etag(store, current_key(project))


def delta_etag(store: ObjectStore, project: str, hour: str | None) -> str | None:
    return etag(store, delta_prefix(project, hour) + MANIFEST_NAME) if hour else None


def read_state(store: ObjectStore, project: str) -> tuple[CurrentState, str | None, str | None]:
    """The current state with the ETags read before it (so a later change shows as a different ETag): the
    pointer's, and the newest delta's, whose manifest is read again after its ETag as it is the one that the
    realtime path republishes in place."""
    pointer = pointer_etag(store, project)
    current = read_current(store, project)
    newest = current.deltas[-1] if current.deltas else None
    newest_etag = delta_etag(store, project, newest)
    if newest is not None:
        current = replace(
            current, delta_manifests={**current.delta_manifests, newest: read_delta_manifest(store, project, newest)}
        )
    return current, pointer, newest_etag


def title_rules(store: ObjectStore, project: str, current: CurrentState, family_code: str | None) -> TitleRules:
    """The project's title rules from the siteinfo of the dump its base came from (following compactions back
    to it), else the rule of its family."""
    base, manifest = current.base, current.base_manifest
    for _ in range(64):
        if store.head(store.key(page_store_prefix(project, base), MANIFEST_NAME)) is not None:
            siteinfo = read_page_store_manifest(store, project, base).get("siteinfo")
            if siteinfo:
                return TitleRules.from_siteinfo(siteinfo)
        base = manifest.get("compacted_from")
        if not base:
            break
        manifest = read_base_manifest(store, project, base)
    return TitleRules.for_family(family_code)


def build_index(
    store: ObjectStore, files: IndexFiles, project: str, family_code: str | None, stopping: threading.Event
) -> tuple[str, int]:
    """A new index file of the project's current view (not yet current: :meth:`IndexFiles.switch`); returns
    its name and its number of articles. The Parquet files are downloaded to a scratch folder removed after."""
    current, pointer, newest_etag = read_state(store, project)
    rules = title_rules(store, project, current, family_code)
    state = IndexState(
        base=current.base,
        base_digest=manifest_digest(current.base_manifest),
        deltas=list(current.deltas),
        pointer_etag=pointer,
        newest_etag=newest_etag,
        rules=rules.to_json(),
    )
    file = f"{project}-{uuid.uuid4().hex[:12]}.sqlite3"
    cache = Path(tempfile.mkdtemp(dir=files.directory, prefix=f".{project}-build-"))
    writer = TitleIndexWriter(files.path(file), create=True)

    def until_stopped():
        for batch in iter_current_batches(store, project, cache_dir=cache, columns=COLUMNS, state=current):
            if stopping.is_set():
                raise RuntimeError("the server is stopping")
            yield batch

    try:
        rows = writer.apply(until_stopped(), rules, state, fresh=True)
        writer.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        writer.close()
    except BaseException:
        writer.close()
        remove_index_file(files.path(file))
        raise
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return file, rows
