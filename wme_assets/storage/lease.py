"""One writer per output: a lease a run holds while it writes, released on every exit path.

Two runs that write the same output at once (two `wme snapshot bnwiki --date D`, a schedule and a manual
re-run, a backfill overlapping a sensor) overwrite each other's objects and can leave a published snapshot
that no longer matches its manifest. Each asset therefore holds the lease of what it writes for the length
of its body (names below); a second writer waits up to ``WME_LEASE_WAIT`` seconds, then is refused with
:class:`LeaseRefused`, which names the holder: host, process id, Dagster run id and since when.

Where the lease lives follows the Dagster instance (:attr:`Settings.uses_postgres`):

- deployment (``WME_PG_HOST`` set; runs on several machines): a session-level PostgreSQL advisory lock
  (``pg_try_advisory_lock``) on a stable 64-bit hash of the lease, taken on a connection of its own that
  stays open while the lease is held. The holder is recorded in the table ``wme_lease_holders``, joined
  with ``pg_locks`` on the backend that holds the lock, so a row left by a dead holder is never named.
- embedded (SQLite; one machine): ``fcntl.flock`` on ``WME_HOME/leases/{bucket}/{prefix}{name}.lock``,
  the holder written into the file as JSON once the lock is taken.

Both are released by the kernel or the server whatever way the holder ends, ``kill -9`` included: the
process's file descriptors close, so the flock goes and the PostgreSQL session ends with its socket. No
expiry and no heartbeat to tune, which a lease object in S3 (conditional write with ``If-None-Match``)
would need: nothing deletes an object when its writer dies, so it would have to expire, and a slow writer
would outlive its expiry. A machine that vanishes without closing its socket (power loss, network cut)
keeps its PostgreSQL lock until the server's TCP keepalive gives up on it (``tcp_keepalives_idle``), or
until an operator ends that backend (``pg_terminate_backend``; the refusal names the host).

Leases are scoped by the bucket and prefix of the output, so deployments sharing a database or a home
never block each other. Names say what is written (the functions below spell them):

- ``raw/{project}/{date}``: the raw zone of a dumps run (``dump_run_status``, ``raw_dump_files``);
- ``pages/{project}/{date}``: the page store of a dumps run (``page_store``);
- ``articles/{project}``: the project's article store, bases and deltas (``articles``);
- ``snapshots/{kind}/{tier}/{project}``: a project's snapshots of one kind (articles, structured) and tier,
  with their ``latest`` pointers and retention (``paid_snapshot``, ``free_snapshot``, ``structured_snapshot``);
- ``dumps-site/{date}``: the dumps-site run directory of a date, shared by every project (its
  ``status.json`` and checksum files list them all) (``dumps_site_run``);
- ``parquet/{project}/{date}``: a project's Parquet shards of a date (``parquet_shards``);
- ``huggingface/{repo}``: a Hugging Face dataset or its dry run, shared by every project: one dataset card
  lists them all (``huggingface_dataset``).

Only writers are serialised: a run that reads an output another run is rewriting is not held back.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import socket
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from wme_assets.settings import Settings

DEFAULT_POLL_SECONDS = 0.25  # the first retries of a waiting writer; then every MAX_POLL_SECONDS
MAX_POLL_SECONDS = 2.0
# Outputs that every project writes in turn (a date's dumps-site run directory, the Hugging Face dataset):
# the scheduled runs of all projects meet there as a matter of course, each only adding its own files, so
# a writer queues for them (the holder is named if the hour runs out) instead of failing after WME_LEASE_WAIT.
SHARED_OUTPUT_WAIT = 3600.0
HOLDERS_TABLE = "wme_lease_holders"
# A holder records itself just after it takes the lock: a refused writer reads for this long before it
# says the holder is not recorded.
HOLDER_READ_SECONDS = 2.0


# ----- names ------------------------------------------------------------------------------------------


def raw_lease(project: str, date: str) -> str:
    return f"raw/{project}/{date}"


def pages_lease(project: str, date: str) -> str:
    return f"pages/{project}/{date}"


def articles_lease(project: str) -> str:
    return f"articles/{project}"


def snapshot_lease(kind: str, tier: str, project: str) -> str:
    return f"snapshots/{kind}/{tier}/{project}"


def batches_listing_lease(hour: str) -> str:
    """The listing of an hour's batches, which every project's batch of that hour rewrites in turn."""
    return f"batches/{hour}"


def diff_lease(project: str) -> str:
    return f"diffs/{project}"


def dumps_site_lease(date: str) -> str:
    return f"dumps-site/{date}"


def parquet_lease(project: str, date: str) -> str:
    return f"parquet/{project}/{date}"


def huggingface_lease(repo: str) -> str:
    return f"huggingface/{repo}"


def lease_key(scope: str, name: str) -> int:
    """The advisory lock key of a lease: the first 8 bytes of its SHA-256, a signed 64-bit integer.

    Stable across processes, machines and Python versions (``hash()`` is salted per process).
    """
    digest = hashlib.sha256(f"wme-lease:{scope}{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


# ----- holder and errors ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Holder:
    host: str
    pid: int
    run_id: str | None
    since: str  # ISO 8601, UTC

    @classmethod
    def this_process(cls, run_id: str | None) -> Holder:
        return cls(socket.gethostname(), os.getpid(), run_id, datetime.now(UTC).isoformat(timespec="seconds"))

    def describe(self) -> str:
        run = f"Dagster run {self.run_id}" if self.run_id else "no Dagster run"
        return f"{run}, pid {self.pid} on host {self.host}, since {self.since}"


class LeaseRefused(RuntimeError):
    """Another writer holds the lease; the message names it. Not transient: do not retry it blindly."""

    def __init__(self, name: str, scope: str, holder: Holder | None, waited: float, where: str):
        self.name, self.scope, self.holder, self.waited, self.where = name, scope, holder, waited, where
        held_by = holder.describe() if holder else "a writer that has not recorded itself yet"
        super().__init__(
            f"{name} (in s3://{scope}) is being written by another run: {held_by}. Refused after "
            f"waiting {waited:.1f} s (WME_LEASE_WAIT); one writer per output: let that run finish or stop it, "
            f"then run this again. Lease: {where}."
        )


class LeaseLost(RuntimeError):
    """The lease ended while the output was being written (its connection or lock file went away)."""


# ----- the two stores of leases -----------------------------------------------------------------------


class _Lock(Protocol):
    where: str

    def try_acquire(self) -> bool: ...

    def record(self, holder: Holder) -> None: ...

    def holder(self) -> Holder | None: ...

    def release(self) -> bool:  # False when the lock had been lost before
        ...

    def close(self) -> None: ...


def _alive_here(holder: Holder) -> bool:
    """False for a holder of this host whose process is gone (a record left by a killed holder)."""
    if holder.host != socket.gethostname():
        return True
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class FileLock:
    """``fcntl.flock`` on a file that stays in place (deleting it would let two writers lock two inodes)."""

    def __init__(self, path: Path):
        self.path = path
        self.where = f"flock on {path}"
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        self.inode = os.fstat(self.fd).st_ino

    def try_acquire(self) -> bool:
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def record(self, holder: Holder) -> None:
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, json.dumps(asdict(holder)).encode(), 0)

    def holder(self) -> Holder | None:
        try:
            holder = Holder(**json.loads(os.pread(self.fd, 4096, 0)))
        except (ValueError, TypeError):
            return None  # being written, or empty: the holder has not recorded itself yet
        return holder if _alive_here(holder) else None

    def release(self) -> bool:
        try:
            intact = os.stat(self.path).st_ino == self.inode
        except FileNotFoundError:
            intact = False
        if intact:
            os.ftruncate(self.fd, 0)  # a finished holder is not named by anyone
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        return intact

    def close(self) -> None:
        os.close(self.fd)  # releases the lock too, if still held


class PostgresLock:
    """A session-level advisory lock on a connection of its own, with its holder in ``wme_lease_holders``."""

    def __init__(self, settings: Settings, key: int, name: str):
        import psycopg2

        settings.require_postgres_settings()
        self.key, self.name = key, name
        self.where = f"PostgreSQL advisory lock {key} in database {settings.pg_db} at {settings.pg_host}"
        self.conn = psycopg2.connect(
            host=settings.pg_host,
            port=settings.pg_port,
            user=settings.pg_user,
            password=settings.pg_password.get_secret_value(),  # require_postgres_settings: set
            dbname=settings.pg_db,
            connect_timeout=10,
            # Shows who holds what in pg_stat_activity (63 characters at most).
            application_name=f"wme lease {os.getpid()}@{socket.gethostname()}"[:63],
            # A dead peer is noticed by the client too, so a lost lease is reported at release.
            keepalives=1,
            keepalives_idle=30,
            keepalives_interval=10,
            keepalives_count=3,
        )
        try:
            self.conn.autocommit = True
            self._create_holders_table()
        except BaseException:
            self.conn.close()
            raise

    def _create_holders_table(self) -> None:
        import psycopg2.errors

        # Two first writers can race to create it; the loser's error only means it exists.
        with contextlib.suppress(psycopg2.errors.UniqueViolation, psycopg2.errors.DuplicateTable):
            self._execute(
                f"CREATE TABLE IF NOT EXISTS {HOLDERS_TABLE} (lock_key bigint PRIMARY KEY, name text NOT NULL, "
                "backend_pid integer NOT NULL, host text NOT NULL, pid integer NOT NULL, run_id text, "
                "since text NOT NULL)"
            )

    def _execute(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self.conn.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description else []

    def try_acquire(self) -> bool:
        return self._execute("SELECT pg_try_advisory_lock(%s)", (self.key,))[0][0]

    def record(self, holder: Holder) -> None:
        self._execute(
            f"INSERT INTO {HOLDERS_TABLE} (lock_key, name, backend_pid, host, pid, run_id, since) "
            "VALUES (%s, %s, pg_backend_pid(), %s, %s, %s, %s) ON CONFLICT (lock_key) DO UPDATE SET "
            "name = excluded.name, backend_pid = excluded.backend_pid, host = excluded.host, pid = excluded.pid, "
            "run_id = excluded.run_id, since = excluded.since",
            (self.key, self.name, holder.host, holder.pid, holder.run_id, holder.since),
        )

    def holder(self) -> Holder | None:
        # pg_locks shows a bigint advisory key as classid (high 32 bits) and objid (low 32 bits), objsubid 1.
        # Joining on the backend that holds the lock skips a row a killed holder left behind.
        rows = self._execute(
            f"SELECT h.host, h.pid, h.run_id, h.since FROM pg_locks l JOIN {HOLDERS_TABLE} h "
            "ON h.lock_key = %s AND h.backend_pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
            "AND l.classid = %s AND l.objid = %s AND l.objsubid = 1 "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            (self.key, (self.key >> 32) & 0xFFFFFFFF, self.key & 0xFFFFFFFF),
        )
        return Holder(*rows[0]) if rows else None

    def release(self) -> bool:
        import psycopg2

        try:
            self._execute(
                f"DELETE FROM {HOLDERS_TABLE} WHERE lock_key = %s AND backend_pid = pg_backend_pid()", (self.key,)
            )
            return self._execute("SELECT pg_advisory_unlock(%s)", (self.key,))[0][0]
        except (psycopg2.OperationalError, psycopg2.InterfaceError):
            return False  # the session ended, and its lock with it

    def close(self) -> None:
        self.conn.close()  # ends the session: the server drops the lock if still held


# ----- the lease --------------------------------------------------------------------------------------


class Lease:
    """A context manager holding the lease of ``name`` in ``scope``; ``__enter__`` raises :class:`LeaseRefused`.

    ``open_lock`` makes the lock (opened on entry, so a lease can be built before it is taken); ``wait`` is
    how long a second writer waits before it is refused; ``log`` hears when it starts waiting.
    """

    def __init__(
        self,
        name: str,
        *,
        scope: str,
        open_lock: Callable[[], _Lock],
        run_id: str | None = None,
        wait: float = 0.0,
        poll: float = DEFAULT_POLL_SECONDS,
        log: Callable[[str], None] | None = None,
    ):
        self.name, self.scope, self.run_id, self.wait, self.poll = name, scope, run_id, wait, poll
        self._open_lock, self._log = open_lock, log or (lambda _: None)
        self._lock: _Lock | None = None
        self.holder: Holder | None = None

    def __enter__(self) -> Lease:
        lock = self._open_lock()
        try:
            self._acquire(lock)
            self.holder = Holder.this_process(self.run_id)
            lock.record(self.holder)
        except BaseException:
            lock.close()
            raise
        self._lock = lock
        return self

    def _acquire(self, lock: _Lock) -> None:
        started = time.monotonic()
        told, poll = False, self.poll
        while not lock.try_acquire():
            waited = time.monotonic() - started
            if waited >= self.wait:
                raise LeaseRefused(self.name, self.scope, self._read_holder(lock), waited, lock.where)
            if not told:
                holder = lock.holder()
                held_by = holder.describe() if holder else "another writer"
                self._log(f"waiting up to {self.wait:g} s for {self.name}, held by {held_by}")
                told = True
            time.sleep(min(poll, self.wait - waited))
            poll = min(poll * 1.5, MAX_POLL_SECONDS)

    def _read_holder(self, lock: _Lock) -> Holder | None:
        deadline = time.monotonic() + HOLDER_READ_SECONDS
        while (holder := lock.holder()) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        return holder

    def __exit__(self, exc_type, exc, tb) -> None:
        lock, self._lock = self._lock, None
        if lock is None:
            return
        try:
            intact = lock.release()
        finally:
            lock.close()
        if not intact and exc_type is None:
            raise LeaseLost(
                f"the lease of {self.name} (in s3://{self.scope}) ended while it was being written ({lock.where}): "
                "another run may have written it at the same time; run this again"
            )


def lease_path(home: Path, scope: str, name: str) -> Path:
    """``{home}/leases/{scope}{name}.lock``, every part kept inside ``leases/``."""
    parts = [p if p not in ("", ".", "..") else "_" for p in f"{scope}{name}".split("/")]
    return home / "leases" / Path(*parts[:-1]) / f"{parts[-1]}.lock"


def writer_lease(
    settings: Settings,
    name: str,
    *,
    scope: str,
    run_id: str | None = None,
    wait: float | None = None,
    shared: bool = False,
    log: Callable[[str], None] | None = None,
) -> Lease:
    """The lease of output ``name`` in ``scope`` (``{bucket}/{prefix}``), in PostgreSQL or under ``WME_HOME``.

    ``wait`` defaults to ``settings.lease_wait``; for a ``shared`` output (one every project writes in turn)
    to at least :data:`SHARED_OUTPUT_WAIT`.
    """
    if wait is None:
        wait = max(settings.lease_wait, SHARED_OUTPUT_WAIT) if shared else settings.lease_wait
    if settings.uses_postgres:
        key = lease_key(scope, name)

        def open_lock() -> _Lock:
            return PostgresLock(settings, key, f"{scope}{name}")
    else:
        path = lease_path(settings.home_dir, scope, name)

        def open_lock() -> _Lock:
            return FileLock(path)

    return Lease(
        name,
        scope=scope,
        open_lock=open_lock,
        run_id=run_id,
        wait=wait,
        log=log,
    )
