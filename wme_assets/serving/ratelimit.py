"""Sliding-window rate limits kept in the server's memory: per account, and per login name and address.

In memory on purpose: a limit is a guard against a runaway client or password guessing, not a quota, and a
restarted server forgetting a minute of counts costs nothing. Monthly quotas, which must survive restarts
and be shared by every server, are counted in the accounts database instead (:mod:`.quotas`).
"""

from __future__ import annotations

import threading
import time
from collections import deque


class SlidingWindow:
    """At most ``limit`` hits per ``window`` seconds per key."""

    def __init__(self, limit: int, window: float, *, clock=time.monotonic):
        self.limit = limit
        self.window = window
        self.clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self._next_prune = 0.0

    def hit(self, key: str) -> float | None:
        """Count a hit; None when allowed, else the seconds until the next one would be (``Retry-After``)."""
        return self._count(key, record=True)

    def check(self, key: str) -> float | None:
        """As :meth:`hit`, without counting (a login counts only its failures)."""
        return self._count(key, record=False)

    def _count(self, key: str, *, record: bool) -> float | None:
        now = self.clock()
        with self._lock:
            if now >= self._next_prune:
                self._prune(now)
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return max(hits[0] + self.window - now, 0.001)
            if record:
                hits.append(now)
            return None

    def _prune(self, now: float) -> None:
        """Forget keys whose hits have all expired, so that memory follows the active clients only."""
        for key in [k for k, hits in self._hits.items() if not hits or hits[-1] <= now - self.window]:
            del self._hits[key]
        self._next_prune = now + self.window
