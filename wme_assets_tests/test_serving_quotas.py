"""Monthly quotas, counted in the accounts database (SQLite and a real PostgreSQL): exact under concurrency from
several server processes' stores, kept across restarts, starting again with the month."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from wme_assets.serving.accounts import AccountStore
from wme_assets.serving.quotas import ONDEMAND, Quotas, month_of, seconds_to_next_month
from wme_assets.settings import Settings

NOW = datetime(2026, 12, 31, 23, 59, 30, tzinfo=UTC)
CAP = 40


def _settings(tmp_path, postgres=None) -> Settings:
    if postgres is None:
        return Settings(home=tmp_path, api_free_ondemand_monthly=CAP)
    return Settings(
        home=tmp_path,
        api_free_ondemand_monthly=CAP,
        pg_host=postgres.host,
        pg_port=postgres.port,
        pg_user=postgres.user,
        pg_password=postgres.password,
        pg_db=postgres.db,
    )


def _exercise(settings: Settings) -> None:
    # Two stores on one database: what two API servers of a deployment hold.
    first, second = AccountStore.open(settings), AccountStore.open(settings)
    try:
        quotas = [Quotas.for_settings(first, settings), Quotas.for_settings(second, settings)]
        free, paid = f"free-{uuid.uuid4().hex[:8]}", f"paid-{uuid.uuid4().hex[:8]}"

        def charge(i: int) -> bool:
            return quotas[i % 2].charge(free, "free", ONDEMAND, now=NOW).allowed

        with ThreadPoolExecutor(8) as pool:
            allowed = list(pool.map(charge, range(3 * CAP)))
        assert allowed.count(True) == CAP  # never one more, whatever the interleaving
        assert quotas[0].used(free, ONDEMAND, now=NOW) == CAP  # refusals are not counted

        refused = quotas[1].charge(free, "free", ONDEMAND, now=NOW)
        assert (refused.allowed, refused.used, refused.cap, refused.remaining) == (False, CAP, CAP, 0)
        assert refused.retry_after == 31  # the first second of January, UTC

        # A restarted server (a new store on the same database) knows the count.
        restarted = AccountStore.open(settings)
        try:
            assert not Quotas.for_settings(restarted, settings).charge(free, "free", ONDEMAND, now=NOW).allowed
        finally:
            restarted.close()

        january = datetime(2027, 1, 1, tzinfo=UTC)
        again = quotas[0].charge(free, "free", ONDEMAND, now=january)
        assert (again.allowed, again.used, again.remaining) == (True, 1, CAP - 1)

        for _ in range(CAP + 5):  # paid: counted, never capped
            assert quotas[0].charge(paid, "paid", ONDEMAND, now=NOW).allowed
        mine = [u for u in quotas[1].usage() if u.account in (free, paid)]
        assert [(u.account, u.month, u.requests) for u in mine] == [
            (free, "2027-01", 1),
            (free, "2026-12", CAP),
            (paid, "2026-12", CAP + 5),
        ]
        assert [u.requests for u in quotas[0].usage(free, "2026-12")] == [CAP]
    finally:
        first.close()
        second.close()


def test_quotas_in_sqlite(tmp_path):
    _exercise(_settings(tmp_path))


def test_quotas_in_postgresql(postgres, tmp_path):
    _exercise(_settings(tmp_path, postgres))


@pytest.mark.parametrize(
    ("now", "month", "seconds"),
    [
        (datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC), "2026-12", 2),
        (datetime(2026, 2, 28, 0, 0, tzinfo=UTC), "2026-02", 86401),
        (datetime(2026, 3, 1, 0, 0, tzinfo=UTC), "2026-03", 31 * 86400 + 1),
    ],
)
def test_months_are_utc_and_roll_over(now, month, seconds):
    assert month_of(now) == month
    assert seconds_to_next_month(now) == seconds


def test_a_zero_cap_refuses_without_counting(tmp_path):
    settings = Settings(home=tmp_path, api_free_ondemand_monthly=0)
    store = AccountStore.open(settings)
    quotas = Quotas.for_settings(store, settings)
    assert not quotas.charge("someone", "free", ONDEMAND, now=NOW).allowed
    assert quotas.usage() == []
