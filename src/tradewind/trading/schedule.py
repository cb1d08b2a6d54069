"""Which agents act now: the session's ``get_timeframes`` (seed 004), made idempotent.

A scanner may run every 15 minutes (cron), or the live node on every 5-minute candle; each
agent must act exactly once per closed candle of its own timeframe — a 4h agent after the
00:00, 04:00, … closes, a 1d agent once a day — however often it is asked, and even when a
run was missed (the machine slept: the next run catches up once, never twice).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd

from tradewind.domain.types import Timeframe

__all__ = ["due_timeframes", "last_closed_open"]


def last_closed_open(now: pd.Timestamp, timeframe: Timeframe | str) -> pd.Timestamp:
    """Open time of the newest candle of ``timeframe`` that has closed at ``now``."""
    tf = Timeframe.parse(timeframe)
    current_open = tf.floor_ns(int(now.value))
    return pd.Timestamp(current_open - tf.nanoseconds, unit="ns", tz="UTC")


def due_timeframes(
    now: pd.Timestamp,
    timeframes: Iterable[Timeframe | str],
    last_acted: Mapping[str, pd.Timestamp],
) -> dict[str, pd.Timestamp]:
    """The timeframes with a closed candle newer than the one they last acted on.

    Returns ``{timeframe: open time of that candle}``; the caller records it as acted
    once the agents have run, so a second pass on the same candle returns nothing.
    """
    due: dict[str, pd.Timestamp] = {}
    for item in timeframes:
        tf = Timeframe.parse(item)
        candle = last_closed_open(now, tf)
        seen = last_acted.get(tf.name)
        if seen is None or candle > seen:
            due[tf.name] = candle
    return due
