from __future__ import annotations

import pandas as pd

from tradewind.trading.schedule import due_timeframes, last_closed_open

TFS = ("15m", "1h", "4h", "1d")


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def test_the_last_closed_candle_of_each_timeframe() -> None:
    now = ts("2024-03-05 08:07")
    assert last_closed_open(now, "15m") == ts("2024-03-05 07:45")
    assert last_closed_open(now, "4h") == ts("2024-03-05 04:00")
    assert last_closed_open(now, "1d") == ts("2024-03-04")
    assert last_closed_open(now, "1w") == ts("2024-02-26")  # weeks open on Mondays


def test_each_timeframe_acts_once_per_closed_candle_however_often_it_is_asked() -> None:
    acted: dict[str, pd.Timestamp] = {}
    runs: list[set[str]] = []
    for now in pd.date_range("2024-03-05 00:01", "2024-03-06 00:01", freq="15min", tz="UTC"):
        due = due_timeframes(now, TFS, acted)
        acted.update(due)
        again = due_timeframes(now, TFS, acted)  # an immediate second pass
        assert again == {}
        runs.append(set(due))
    counts = {tf: sum(tf in r for r in runs) for tf in TFS}
    assert counts == {"15m": 97, "1h": 25, "4h": 7, "1d": 2}


def test_a_missed_run_catches_up_once_not_per_missed_candle() -> None:
    acted = {"1h": ts("2024-03-05 02:00")}
    due = due_timeframes(ts("2024-03-05 07:30"), ["1h"], acted)  # asleep 02:00-07:30
    assert due == {"1h": ts("2024-03-05 06:00")}
