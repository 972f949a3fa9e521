"""The time budget of one extraction: checked between stages and inside long loops."""

from __future__ import annotations

import time


class ExtractionTimeout(TimeoutError):
    """The extraction ran past its ``time_budget_s``; ``stage`` names where it stopped."""

    def __init__(self, stage: str, budget_s: float) -> None:
        super().__init__(f"wikitext extraction exceeded its {budget_s:g} s budget (during {stage})")
        self.stage = stage
        self.budget_s = budget_s


class _Deadline:
    """Cooperative time budget: checked between stages and every few hundred loop iterations."""

    __slots__ = ("budget", "end")

    def __init__(self, budget_s: float | None) -> None:
        self.budget = budget_s
        self.end = None if budget_s is None else time.monotonic() + budget_s

    def check(self, stage: str) -> None:
        if self.end is not None and time.monotonic() > self.end:
            raise ExtractionTimeout(stage, self.budget)


_NO_DEADLINE = _Deadline(None)
