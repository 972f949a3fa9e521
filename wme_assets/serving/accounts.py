"""API accounts: name, argon2 password hash, tier, disabled flag, token version; and revoked login sessions.

Stored beside the Dagster instance: in PostgreSQL when ``WME_PG_HOST`` is set (every API server of a
deployment sees the same accounts), else in SQLite at ``WME_HOME/api/accounts.sqlite3`` (embedded). The SQL
is the same for both (``%s`` placeholders, turned into ``?`` for SQLite).

Passwords are hashed with argon2id (argon2-cffi's defaults, rehashed on login when those change); a login
for an unknown name still verifies against a dummy hash, so the time taken does not tell which names exist.
Disabling an account bumps its token version, which ends every token it holds at once
(:mod:`wme_assets.serving.tokens`).
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from wme_assets.settings import Settings

Tier = Literal["free", "paid"]
TIERS: tuple[str, ...] = ("free", "paid")
ACCOUNT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,127}$")
MIN_PASSWORD = 8

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS wme_api_accounts ("
    " name TEXT PRIMARY KEY, password_hash TEXT NOT NULL, tier TEXT NOT NULL,"
    " disabled INTEGER NOT NULL DEFAULT 0, token_version INTEGER NOT NULL DEFAULT 1, created_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS wme_api_revoked_sessions (session_id TEXT PRIMARY KEY, expires_at BIGINT NOT NULL)",
)


class AccountError(ValueError):
    """An account operation was refused; the message says why (unknown name, taken name, bad tier…)."""


@dataclass(frozen=True)
class Account:
    name: str
    tier: str
    disabled: bool
    token_version: int
    created_at: str


class _Database:
    """Runs one statement in its own transaction; returns the rows (a list, possibly empty)."""

    where: str

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class _Sqlite(_Database):
    def __init__(self, path: Path):
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # password hashes: the owner's only
        self.path = path
        self.where = f"SQLite {path}"
        self._local = threading.local()  # one connection per thread: sqlite3 connections are not shared

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            self._local.conn = conn
        return conn

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        conn = self._connection()
        with conn:
            return conn.execute(sql.replace("%s", "?"), params).fetchall()


class _Postgres(_Database):
    def __init__(self, settings: Settings):
        from psycopg2.pool import ThreadedConnectionPool

        settings.require_postgres_settings()
        self.where = f"PostgreSQL database {settings.pg_db} at {settings.pg_host}"
        self._pool = ThreadedConnectionPool(
            1,
            8,
            host=settings.pg_host,
            port=settings.pg_port,
            user=settings.pg_user,
            password=settings.pg_password.get_secret_value(),  # type: ignore[union-attr]
            dbname=settings.pg_db,
            application_name="wme serve",
            connect_timeout=10,
        )

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        conn = self._pool.getconn()
        try:
            with conn, conn.cursor() as cursor:
                cursor.execute(sql, params)
                return cursor.fetchall() if cursor.description else []
        finally:
            self._pool.putconn(conn)

    def close(self) -> None:
        self._pool.closeall()


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class AccountStore:
    """The accounts and revoked sessions, in PostgreSQL or SQLite (module docstring)."""

    def __init__(self, database: _Database):
        self.db = database
        self.hasher = PasswordHasher()
        self._dummy_hash = self.hasher.hash("not a password of anyone")
        for statement in SCHEMA:
            self._create(statement)

    def _create(self, statement: str) -> None:
        try:
            self.db.execute(statement)
        except Exception as exc:  # two servers creating the table at once in PostgreSQL: one of them wins
            if "already exists" not in str(exc) and "duplicate key" not in str(exc):
                raise

    @classmethod
    def open(cls, settings: Settings) -> AccountStore:
        if settings.uses_postgres:
            return cls(_Postgres(settings))
        return cls(_Sqlite(settings.home_dir / "api" / "accounts.sqlite3"))

    def close(self) -> None:
        self.db.close()

    # ----- accounts ------------------------------------------------------------------------------

    def create(self, name: str, password: str, tier: str) -> Account:
        if not ACCOUNT_NAME.match(name or ""):
            raise AccountError(
                f"account name {name!r} is not valid: letters, digits and _ . @ + -, starting with a letter or "
                "digit, at most 128 characters"
            )
        _check_tier(tier)
        if len(password) < MIN_PASSWORD:
            raise AccountError(f"the password is too short: at least {MIN_PASSWORD} characters")
        if self.get(name) is not None:
            raise AccountError(f"account {name!r} exists already")
        created = _now()
        try:
            self.db.execute(
                "INSERT INTO wme_api_accounts (name, password_hash, tier, disabled, token_version, created_at) "
                "VALUES (%s, %s, %s, 0, 1, %s)",
                (name, self.hasher.hash(password), tier, created),
            )
        except Exception as exc:
            if "UNIQUE" in str(exc) or "duplicate key" in str(exc):
                raise AccountError(f"account {name!r} exists already") from None
            raise
        return Account(name, tier, False, 1, created)

    def get(self, name: str) -> Account | None:
        rows = self.db.execute(
            "SELECT name, tier, disabled, token_version, created_at FROM wme_api_accounts WHERE name = %s", (name,)
        )
        return _account(rows[0]) if rows else None

    def list(self) -> list[Account]:
        rows = self.db.execute(
            "SELECT name, tier, disabled, token_version, created_at FROM wme_api_accounts ORDER BY name"
        )
        return [_account(row) for row in rows]

    def disable(self, name: str) -> Account:
        """Disable the account and end every token it holds (its token version moves on)."""
        self._update(name, "disabled = 1, token_version = token_version + 1")
        return self._require(name)

    def enable(self, name: str) -> Account:
        self._update(name, "disabled = 0")
        return self._require(name)

    def set_tier(self, name: str, tier: str) -> Account:
        _check_tier(tier)
        self._update(name, "tier = %s", (tier,))
        return self._require(name)

    def _update(self, name: str, assignments: str, params: tuple[Any, ...] = ()) -> None:
        self._require(name)
        self.db.execute(f"UPDATE wme_api_accounts SET {assignments} WHERE name = %s", (*params, name))

    def _require(self, name: str) -> Account:
        account = self.get(name)
        if account is None:
            raise AccountError(f"no account named {name!r} (`wme accounts list` shows them)")
        return account

    def authenticate(self, name: str, password: str) -> Account | None:
        """The account when the password is right and it is enabled, else None (same work either way)."""
        rows = self.db.execute("SELECT password_hash FROM wme_api_accounts WHERE name = %s", (name,))
        stored = rows[0][0] if rows else self._dummy_hash
        try:
            self.hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return None
        if not rows:
            return None
        if self.hasher.check_needs_rehash(stored):
            self.db.execute(
                "UPDATE wme_api_accounts SET password_hash = %s WHERE name = %s", (self.hasher.hash(password), name)
            )
        account = self.get(name)
        return account if account is not None and not account.disabled else None

    # ----- sessions ------------------------------------------------------------------------------

    def revoke_session(self, session: str, expires_at: int) -> None:
        """Revoke a login session until its refresh token would have expired (then the row is dropped)."""
        now = int(time.time())
        self.db.execute("DELETE FROM wme_api_revoked_sessions WHERE expires_at < %s", (now,))
        self.db.execute(
            "INSERT INTO wme_api_revoked_sessions (session_id, expires_at) VALUES (%s, %s) "
            "ON CONFLICT (session_id) DO NOTHING",  # revoked twice: the first row stands
            (session, expires_at),
        )

    def is_revoked(self, session: str) -> bool:
        return bool(self.db.execute("SELECT 1 FROM wme_api_revoked_sessions WHERE session_id = %s", (session,)))


def _check_tier(tier: str) -> None:
    if tier not in TIERS:
        raise AccountError(f"tier must be one of {', '.join(TIERS)}, got {tier!r}")


def _account(row: tuple[Any, ...]) -> Account:
    name, tier, disabled, version, created = row
    return Account(name=name, tier=tier, disabled=bool(disabled), token_version=int(version), created_at=created)
