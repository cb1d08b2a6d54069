"""The node with the model nominator and per-regime parameters: rebuilt on the candles at
hand before each decision, it trades as the backtest of the same candles does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tests.unit.live.test_node import COLUMNS, _book_trades, _rows
from tradewind.backtest.run import load_backtest_panel, make_trader, run_inputs
from tradewind.config import load_config
from tradewind.data.store import CandleStore
from tradewind.data.synthetic import generate_market, write_market
from tradewind.live.clock import SimClock
from tradewind.live.node import CycleNode
from tradewind.live.run import replay
from tradewind.live.schedule import retrain
from tradewind.ml.registry import Registry
from tradewind.trading.cycle_report import trade_tables

CONFIG = """
[data]
exchange = "synthetic"
timeframe = "1h"

[ml]
min_samples = 50
select_k = 15
model_params = { n_estimators = 30, min_samples_leaf = 10 }

[cycle]
nominator = "model"
pairs_per_cycle = 2

[live]
history = "20d"
"""
START = pd.Timestamp("2024-02-15", tz="UTC")
END = pd.Timestamp("2024-03-05", tz="UTC")


def test_a_node_on_the_model_nominator_trades_as_the_backtest(home: Path) -> None:
    write_market(
        generate_market(pairs=6, timeframe="1h", days=70, seed=3, signal=1.0),
        CandleStore(home / "data", "synthetic"),
    )
    cfg = home / "tradewind.toml"
    cfg.write_text(CONFIG)
    settings = load_config(cfg, environ={})
    # The node's retraining job, on the candles stored before the replay; then everything
    # it trained is promoted (the test is about use, not quality).
    report = retrain(settings, pd.Timestamp("2024-02-10", tz="UTC"))
    assert report["models"]
    with Registry(home / "models", settings.book_url) as reg:
        for m in report["models"]:
            reg.promote(m["id"])

    result = replay(settings, START, END)
    got = _book_trades(settings, result.run_id)
    # The backtest over the node's candles: from its history's start to the replay's end.
    panel = load_backtest_panel(settings)
    first = int(np.searchsorted(panel.timestamps, (START - pd.Timedelta(days=20)).value))
    last = int(np.searchsorted(panel.timestamps, END.value))
    panel = _rows(panel, first, last)
    inputs = run_inputs(settings, panel)
    assert inputs.nominator.name == "model"
    trader = make_trader(settings, inputs)
    trader.run(first=int(np.searchsorted(panel.timestamps, START.value)))
    want = trade_tables(trader)[0]
    closed = (want["exit_time"] < END - pd.Timedelta("2h")).to_numpy()
    assert closed.sum() >= 3
    assert len(got) >= closed.sum()
    for col, theirs in COLUMNS.items():
        a = got[col].to_numpy()[: len(want)][closed]
        b = want[theirs].to_numpy()[closed]
        if col in ("entry_at", "exit_at"):
            assert list(pd.to_datetime(a, utc=True)) == list(pd.to_datetime(b, utc=True)), col
        elif a.dtype.kind == "f":
            np.testing.assert_allclose(a, b.astype(float), rtol=0, atol=0, err_msg=col)
        else:
            assert list(a) == list(b), col
    # The book holds what the node's trader holds, every trade as it now stands — also a
    # nomination that entered and exited on the candle after its decision (one the
    # kernel's open list never held between two ticks).
    with CycleNode(settings, source="replay", clock=SimClock(END)) as node:
        memory = trade_tables(node.trader)[0]
    assert len(got) == len(memory)
    for col, theirs in COLUMNS.items():
        a, b = got[col].to_numpy(), memory[theirs].to_numpy()
        if col in ("entry_at", "exit_at"):
            assert list(pd.to_datetime(a, utc=True)) == list(pd.to_datetime(b, utc=True)), col
        elif a.dtype.kind == "f":
            np.testing.assert_array_equal(a, b.astype(float), err_msg=col)
        else:
            assert list(a) == list(b), col
