"""Dates as wme writes them: ``YYYYMMDD`` strings, the keys of dump runs, snapshots and partitions."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

_YYYYMMDD = re.compile(r"^\d{8}$")


def is_yyyymmdd(value: object) -> bool:
    """``value`` is eight digits naming a real calendar day."""
    if not isinstance(value, str) or not _YYYYMMDD.match(value):
        return False
    try:
        datetime.strptime(value, "%Y%m%d")
    except ValueError:
        return False
    return True


def check_yyyymmdd(value: object, what: str = "date", error: type[Exception] = ValueError) -> str:
    """``value`` itself when it is a real day as ``YYYYMMDD``; otherwise ``error`` saying what it should be.

    ``what`` names the date in the message ("snapshot date", "run date", ...): "snapshot date must be
    YYYYMMDD, got '2023-05-01'".
    """
    if not isinstance(value, str) or not _YYYYMMDD.match(value):
        raise error(f"{what} must be YYYYMMDD, got {value!r}")
    try:
        datetime.strptime(value, "%Y%m%d")
    except ValueError:
        raise error(f"{what} {value!r} is not a calendar date") from None
    return value


def midnight_utc(value: str) -> datetime:
    """Midnight UTC of a ``YYYYMMDD`` day."""
    return datetime.strptime(check_yyyymmdd(value), "%Y%m%d").replace(tzinfo=UTC)


def check_yyyymmddhh(value: object, what: str = "hour", error: type[Exception] = ValueError) -> str:
    """``value`` itself when it is a real hour as ``YYYYMMDDHH`` (the key of an hourly batch)."""
    try:
        if isinstance(value, str) and len(value) == 10 and value.isdigit():
            datetime.strptime(value, "%Y%m%d%H")
            return value
    except ValueError:
        pass
    raise error(f"{what} must be YYYYMMDDHH, got {value!r}")


def day_problem(value: object, today: date | None = None) -> str | None:
    """Why ``value`` is not a usable ``YYYYMMDD`` day (None when it is): its form, the calendar, the future.

    "Not in the future" is by UTC, the calendar of the dump runs and snapshots.
    """
    if not isinstance(value, str) or not _YYYYMMDD.match(value):
        return "not of the form YYYYMMDD"
    try:
        day = datetime.strptime(value, "%Y%m%d").date()
    except ValueError:
        return "not a calendar day"
    today = today or datetime.now(UTC).date()
    if day > today:
        return f"in the future (today is {today:%Y%m%d}, UTC)"
    return None


def parse_day(value: str, formats: tuple[str, ...] = ("%Y%m%d", "%Y-%m-%d")) -> date | None:
    """The day ``value`` names in one of ``formats``, or None."""
    for fmt in formats:
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    return None
