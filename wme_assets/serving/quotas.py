"""Monthly request quotas, counted durably in the accounts database: they survive restarts and every API
server of a deployment shares them.

Enterprise sells the free tier with a monthly cap on the on-demand APIs (``/v2/articles/{name}`` and
``/v2/structured-contents/{name}`` share one count); the paid tier has none. A request is charged in one
statement that both counts and checks, so two servers cannot together let an account past its cap::

    INSERT … ON CONFLICT (account, month, api_group) DO UPDATE SET requests = requests + 1
        WHERE requests < cap RETURNING requests

No row returned means the cap was reached: the request is refused with 429 and a ``Retry-After`` reaching the
first second of the next month (UTC), when the count starts again. Paid requests are counted too (no cap), so
``wme accounts usage`` shows what every account used. A refused request is not counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from wme_assets.serving.accounts import AccountStore
from wme_assets.settings import Settings

ONDEMAND = "ondemand"  # the group of /v2/articles/{name} and /v2/structured-contents/{name}
GROUPS: tuple[str, ...] = (ONDEMAND,)
UNLIMITED = 2**62  # a cap no account reaches: paid accounts are counted by the same statement

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS wme_api_usage ("
    " account TEXT NOT NULL, month TEXT NOT NULL, api_group TEXT NOT NULL, requests BIGINT NOT NULL,"
    " PRIMARY KEY (account, month, api_group))"
)


@dataclass(frozen=True)
class Charge:
    """The outcome of charging one request: allowed or not, the count after it, the cap (None: no cap)."""

    allowed: bool
    used: int
    cap: int | None
    retry_after: int  # seconds until the next month, when refused

    @property
    def remaining(self) -> int | None:
        return None if self.cap is None else max(self.cap - self.used, 0)


@dataclass(frozen=True)
class Usage:
    account: str
    month: str
    api_group: str
    requests: int


def month_of(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m")


def seconds_to_next_month(now: datetime) -> int:
    now = now.astimezone(UTC)
    first = datetime(now.year + now.month // 12, now.month % 12 + 1, 1, tzinfo=UTC)
    return max(int((first - now).total_seconds()) + 1, 1)


class Quotas:
    """Monthly caps per tier and group (``caps[tier][group]``, None: no cap), over the accounts database."""

    def __init__(self, accounts: AccountStore, caps: dict[str, dict[str, int | None]]):
        self.db = accounts.db
        self.caps = caps
        accounts._create(SCHEMA)

    @classmethod
    def for_settings(cls, accounts: AccountStore, settings: Settings) -> Quotas:
        """The tiers as Enterprise sells them: free capped (``WME_API_FREE_ONDEMAND_MONTHLY``), paid not."""
        return cls(accounts, {"free": {ONDEMAND: settings.api_free_ondemand_monthly}, "paid": {ONDEMAND: None}})

    def cap(self, tier: str, group: str) -> int | None:
        return self.caps.get(tier, {}).get(group)

    def charge(self, account: str, tier: str, group: str, *, now: datetime | None = None) -> Charge:
        """Count one request of ``group`` for the account, unless its cap for this month is reached."""
        now = now or datetime.now(UTC)
        cap = self.cap(tier, group)
        limit = UNLIMITED if cap is None else cap
        if limit <= 0:
            return Charge(False, 0, cap, seconds_to_next_month(now))
        rows = self.db.execute(
            "INSERT INTO wme_api_usage (account, month, api_group, requests) VALUES (%s, %s, %s, 1) "
            "ON CONFLICT (account, month, api_group) DO UPDATE SET requests = wme_api_usage.requests + 1 "
            "WHERE wme_api_usage.requests < %s RETURNING requests",
            (account, month_of(now), group, limit),
        )
        if rows:
            return Charge(True, int(rows[0][0]), cap, 0)
        return Charge(False, self.used(account, group, now=now), cap, seconds_to_next_month(now))

    def used(self, account: str, group: str, *, now: datetime | None = None) -> int:
        rows = self.db.execute(
            "SELECT requests FROM wme_api_usage WHERE account = %s AND month = %s AND api_group = %s",
            (account, month_of(now or datetime.now(UTC)), group),
        )
        return int(rows[0][0]) if rows else 0

    def usage(self, account: str | None = None, month: str | None = None) -> list[Usage]:
        """Counts per account, month and group, newest month first; filtered by account and month when given."""
        where, params = [], []  # type: ignore[var-annotated]
        if account is not None:
            where.append("account = %s")
            params.append(account)
        if month is not None:
            where.append("month = %s")
            params.append(month)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows: list[tuple[Any, ...]] = self.db.execute(
            f"SELECT account, month, api_group, requests FROM wme_api_usage{clause} "
            "ORDER BY month DESC, account, api_group",
            tuple(params),
        )
        return [Usage(str(a), str(m), str(g), int(r)) for a, m, g, r in rows]
