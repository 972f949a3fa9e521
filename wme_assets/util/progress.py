"""Progress lines for long stages, so an operator watching a run's log sees how far it is and how fast.

A partition of a large wiki runs for hours (enwiki: ~7 million pages to parse, enrich and export); the
Dagster UI shows the run's log live, and these lines are what tells "slow" from "stuck". A line is logged
at each tenth of the total when the total is known, and at least every ``every_s`` seconds while work
advances, never more often than ``min_gap_s``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


class Progress:
    """Counts work done and logs ``"{what}: 1,234 of 5,678 pages (21%), 310 pages/s, about 14 s left"``."""

    def __init__(
        self,
        what: str,
        total: int | None,
        log: Callable[[str], None],
        *,
        unit: str = "pages",
        every_s: float = 60.0,
        min_gap_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.what = what
        self.total = total if total and total > 0 else None
        self.log = log
        self.unit = unit
        self.every_s = every_s
        self.min_gap_s = min_gap_s
        self.clock = clock
        self.done = 0
        self.started = clock()
        self._last_log = self.started
        self._last_tenth = 0

    def advance(self, n: int = 1) -> None:
        self.update(self.done + n)

    def update(self, done: int) -> None:
        """Set the work done so far (for counters kept elsewhere, e.g. a reader's streams read)."""
        if done <= self.done:
            return
        self.done = done
        now = self.clock()
        tenth = min(10, done * 10 // self.total) if self.total else 0
        due = now - self._last_log >= self.every_s or (tenth > self._last_tenth and tenth < 10)
        if due and now - self._last_log >= self.min_gap_s:
            self._last_tenth = tenth
            self._last_log = now
            self.log(self.line(now))

    def line(self, now: float | None = None) -> str:
        now = self.clock() if now is None else now
        elapsed = max(now - self.started, 1e-9)
        rate = self.done / elapsed
        text = f"{self.what}: {self.done:,}"
        if self.total:
            text += f" of {self.total:,} {self.unit} ({min(100, 100 * self.done // self.total)}%)"
        else:
            text += f" {self.unit}"
        text += f", {rate:,.0f} {self.unit}/s"
        if self.total and rate > 0 and self.done < self.total:
            text += f", about {_duration((self.total - self.done) / rate)} left"
        return text

    def wrap(self, items: Iterable[T]) -> Iterator[T]:
        """``items``, advancing by one for each item taken."""
        for item in items:
            self.advance()
            yield item


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
