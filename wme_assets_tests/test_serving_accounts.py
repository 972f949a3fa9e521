"""The serving API's parts that need no snapshot: accounts (SQLite and a real PostgreSQL), tokens, the query
model, byte ranges and rate limits."""

from __future__ import annotations

import time
import uuid

import pytest

from wme_assets.serving.accounts import AccountError, AccountStore
from wme_assets.serving.downloads import parse_range
from wme_assets.serving.errors import ApiError
from wme_assets.serving.query import QueryModel
from wme_assets.serving.ratelimit import SlidingWindow
from wme_assets.serving.tokens import TokenError, TokenIssuer, signing_secret
from wme_assets.settings import ConfigurationError, Settings

PASSWORD = "a long enough password"


def _exercise(store: AccountStore) -> None:
    name = f"user-{uuid.uuid4().hex[:8]}"
    account = store.create(name, PASSWORD, "free")
    assert (account.tier, account.disabled, account.token_version) == ("free", False, 1)
    with pytest.raises(AccountError, match="exists already"):
        store.create(name, PASSWORD, "paid")
    for bad in (("../x", PASSWORD, "free"), ("ok", "short", "free"), ("ok", PASSWORD, "gold")):
        with pytest.raises(AccountError):
            store.create(*bad)

    assert store.authenticate(name, PASSWORD) == account
    assert store.authenticate(name, "wrong password") is None
    assert store.authenticate("nobody-" + name, PASSWORD) is None
    assert store.set_tier(name, "paid").tier == "paid"
    assert name in [a.name for a in store.list()]

    disabled = store.disable(name)
    assert disabled.disabled and disabled.token_version == 2  # every token issued before is now stale
    assert store.authenticate(name, PASSWORD) is None
    with pytest.raises(AccountError, match="no account"):
        store.disable("nobody-" + name)

    session = uuid.uuid4().hex
    assert not store.is_revoked(session)
    store.revoke_session(session, int(time.time()) + 60)
    store.revoke_session(session, int(time.time()) + 60)  # twice is once
    assert store.is_revoked(session)
    store.revoke_session("expired-" + session, int(time.time()) - 1)
    store.revoke_session("next-" + session, int(time.time()) + 60)  # each revocation drops the expired rows
    assert not store.is_revoked("expired-" + session)


def test_accounts_in_sqlite_under_wme_home(tmp_path):
    settings = Settings(home=tmp_path)
    store = AccountStore.open(settings)
    assert store.db.where == f"SQLite {tmp_path.resolve() / 'api' / 'accounts.sqlite3'}"
    assert (tmp_path / "api").stat().st_mode & 0o777 == 0o700  # password hashes: the owner's only
    _exercise(store)
    # A second server process on the same home sees the same accounts.
    assert [a.name for a in AccountStore.open(settings).list()] == [a.name for a in store.list()]


def test_accounts_in_postgresql_when_configured(postgres, tmp_path):
    settings = Settings(
        home=tmp_path,
        pg_host=postgres.host,
        pg_port=postgres.port,
        pg_user=postgres.user,
        pg_password=postgres.password,
        pg_db=postgres.db,
    )
    store = AccountStore.open(settings)
    try:
        assert store.db.where.startswith("PostgreSQL")
        _exercise(store)
        AccountStore.open(settings).close()  # the tables exist already: a second server starts all the same
    finally:
        store.close()
    assert not (tmp_path / "api").exists()
    with pytest.raises(ConfigurationError, match="WME_API_SECRET"):
        signing_secret(settings)  # servers sharing PostgreSQL must share a secret: none is made up


def test_the_embedded_secret_is_made_once_and_kept_private(tmp_path):
    settings = Settings(home=tmp_path)
    secret = signing_secret(settings)
    path = tmp_path / "api" / "secret"
    assert len(secret) >= 32 and path.stat().st_mode & 0o777 == 0o600
    assert signing_secret(settings) == secret
    assert signing_secret(Settings(home=tmp_path, api_secret="x" * 40)) == "x" * 40


def test_tokens_carry_kind_version_and_session_and_expire():
    issuer = TokenIssuer("s" * 40, access_ttl=1, refresh_ttl=60)
    access = issuer.issue("alice", "access", version=3, session="abc")
    claims = issuer.decode(access, "access")
    assert (claims.subject, claims.version, claims.session) == ("alice", 3, "abc")
    with pytest.raises(TokenError, match="not an refresh token"):
        issuer.decode(access, "refresh")
    with pytest.raises(TokenError, match="not valid"):
        TokenIssuer("t" * 40, access_ttl=1, refresh_ttl=60).decode(access, "access")
    time.sleep(2.1)
    with pytest.raises(TokenError, match="expired"):
        issuer.decode(access, "access")
    with pytest.raises(ConfigurationError):
        TokenIssuer("short", access_ttl=1, refresh_ttl=1)


RECORDS = [
    {"identifier": "a_namespace_0", "namespace": {"identifier": 0}, "is_part_of": {"identifier": "a"}, "chunks": ["x"]},
    {"identifier": "a_namespace_14", "namespace": {"identifier": 14}, "is_part_of": {"identifier": "a"}},
    {"identifier": "b_namespace_0", "namespace": {"identifier": 0}, "is_part_of": {"identifier": "b"}, "ok": True},
]


def test_filters_match_scalars_exactly_and_fields_project():
    def select(**query):
        return QueryModel.model_validate(query).select(RECORDS)

    assert [r["identifier"] for r in select(filters=[{"field": "namespace.identifier", "value": 0}])] == [
        "a_namespace_0",
        "b_namespace_0",
    ]
    # S3 Select compares text: "0" finds the namespace 0, "true" the boolean.
    assert len(select(filters=[{"field": "namespace.identifier", "value": "0"}])) == 2
    assert [r["identifier"] for r in select(filters=[{"field": "ok", "value": "true"}])] == ["b_namespace_0"]
    assert select(filters=[{"field": "namespace", "value": "0"}]) == []  # an object is no scalar
    both = [{"field": "namespace.identifier", "value": 0}, {"field": "is_part_of.identifier", "value": "b"}]
    assert [r["identifier"] for r in select(filters=both)] == ["b_namespace_0"]
    assert select(fields=["identifier", "namespace.identifier"], limit=1) == [
        {"identifier": "a_namespace_0", "namespace": {"identifier": 0}}
    ]
    assert select(fields=["missing"]) == [{}, {}, {}]
    for bad in ({"fields": ["a"] * 256}, {"filters": [{"field": "a", "value": 1}] * 256}, {"limit": 0},
                {"fields": ["a..b"]}, {"filters": [{"field": "a", "value": {"nested": 1}}]}):  # fmt: skip
        with pytest.raises(ValueError):
            QueryModel.model_validate(bad)


def test_ranges():
    assert parse_range(None, 100) is None
    assert parse_range("bytes=0-9", 100) == (0, 9)
    assert parse_range("bytes=90-", 100) == (90, 99)
    assert parse_range("bytes=-10", 100) == (90, 99)
    assert parse_range("bytes=-1000", 100) == (0, 99)
    assert parse_range("bytes=95-1000", 100) == (95, 99)
    assert parse_range("bytes=0-1,5-9", 100) is None  # several ranges: the whole file
    assert parse_range("items=0-1", 100) is None
    for unsatisfiable in ("bytes=100-", "bytes=5-1", "bytes=-0"):
        with pytest.raises(ApiError) as refused:
            parse_range(unsatisfiable, 100)
        assert refused.value.status_code == 416 and refused.value.headers == {"Content-Range": "bytes */100"}


def test_sliding_window():
    now = [0.0]
    window = SlidingWindow(2, 10.0, clock=lambda: now[0])
    assert window.hit("k") is None and window.hit("k") is None
    assert window.hit("k") == pytest.approx(10.0)
    assert window.check("other") is None and window.hit("other") is None  # keys are separate
    now[0] = 10.5
    assert window.hit("k") is None  # the first hits have left the window
    now[0] = 100.0
    window.hit("fresh")
    assert set(window._hits) == {"fresh"}  # keys whose hits all expired are forgotten
