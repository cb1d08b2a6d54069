"""The node's clock: the wall clock live and on paper, a simulated one in a replay.

The clock is one of the three things injected into the node (with the candle feed and the
venue): nothing below it asks the system for the time.
"""

from __future__ import annotations

from typing import Protocol

import pandas as pd

from tradewind.domain.types import utc_now

__all__ = ["Clock", "SimClock", "WallClock"]


class Clock(Protocol):
    def now(self) -> pd.Timestamp:
        """The current time, tz-aware UTC."""
        ...


class WallClock:
    """The system's clock (UTC)."""

    def now(self) -> pd.Timestamp:
        return utc_now()


class SimClock:
    """A clock that moves only when told: a replay sets it to each job's fire time."""

    def __init__(self, start: pd.Timestamp) -> None:
        self._now = pd.Timestamp(start).tz_convert("UTC")

    def now(self) -> pd.Timestamp:
        return self._now

    def set(self, when: pd.Timestamp) -> None:
        when = pd.Timestamp(when).tz_convert("UTC")
        if when < self._now:
            raise ValueError(f"SimClock: time runs forward ({when} is before {self._now})")
        self._now = when
