"""``--detail``: 5m candles resolve 1h candles that touch both stop and target."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tradewind.backtest.run import run_backtest
from tradewind.config import load_config
from tradewind.data.store import CandleStore

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


def test_detail_candles_resolve_ambiguous_bars_the_way_they_happened(
    shared_data: Path, home: Path
) -> None:
    store = CandleStore(shared_data, "binance")
    pairs = store.symbols("5m")[:10]
    environ = {
        "TRADEWIND__LIFECYCLE__TAKE_PROFIT": "1.03",
        "TRADEWIND__LIFECYCLE__STOP_LOSS": "0.985",
    }
    overrides = {
        "data": {"data_dir": shared_data, "exchange": "binance", "timeframe": "1h", "pairs": pairs}
    }
    plain = run_backtest(load_config(None, overrides, environ=environ), save=False)
    overrides["backtest"] = {"detail": "5m"}
    detailed = run_backtest(load_config(None, overrides, environ=environ), save=False)
    assert plain.summary["metrics"]["ambiguous_bars"] > 0
    a = plain.trades.set_index("id")
    b = detailed.trades.set_index("id")
    changed = a.index[(a["exit_reason"] != b["exit_reason"]) & (a["kind"] == "real")]
    # trades diverge after the first resolved bar; check the first one exactly
    first = min(changed, key=lambda i: a.loc[i, "exit_time"])
    before, after = a.loc[first], b.loc[first]
    assert before["exit_reason"] == "stop"
    assert after["exit_reason"] == "take_profit"
    assert before["exit_time"] == after["exit_time"]
    candles = store.read(
        before["pair"],
        "5m",
        start=before["exit_time"],
        end=before["exit_time"] + pd.Timedelta(minutes=55),
    )
    stop_idx = candles.index[candles["low"] <= after["entry_price"] * 0.985]
    target_idx = candles.index[candles["high"] >= after["exit_price"]]
    assert len(target_idx) > 0
    assert len(stop_idx) == 0 or target_idx[0] < stop_idx[0]
