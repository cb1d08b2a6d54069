from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import make_candles
from tradewind.data.panel import load_panel
from tradewind.data.store import CandleStore
from tradewind.errors import DataError


def test_panel_aligns_pairs_on_the_grid_and_masks_missing(tmp_path: Path) -> None:
    store = CandleStore(tmp_path, "x")
    a = make_candles(100, seed=1)
    b = make_candles(60, seed=2, start="2024-01-01 02:00").drop(index=[5, 6]).reset_index(drop=True)
    store.write("AAAUSDT", "5m", a)
    store.write("BBBUSDT", "5m", b)
    p = load_panel(store, timeframe="5m")
    assert p.symbols == ("AAAUSDT", "BBBUSDT")
    assert p.shape == (100, 2, 5)
    assert p.mask[:, 0].all()
    assert p.mask[:, 1].sum() == 58
    assert not p.mask[:24, 1].any()
    np.testing.assert_array_equal(p.field("close")[:, 0], a["close"].to_numpy())
    row = 24 + 7  # b's 8th original candle (index 7) sits 7 steps after its start
    assert p.field("close")[row, 1] == b.set_index("timestamp").loc[p.index[row], "close"]
    assert np.isnan(p.field("close")[24 + 5, 1])
    assert p.index[0] == a["timestamp"].iloc[0]


def test_panel_period_and_fields(tmp_path: Path) -> None:
    store = CandleStore(tmp_path, "x")
    store.write("AAAUSDT", "5m", make_candles(100))
    start = pd.Timestamp("2024-01-01 01:00", tz="UTC")
    p = load_panel(store, timeframe="5m", start=start, fields=("close",))
    assert p.shape == (88, 1, 1)
    assert p.index[0] == start
    with pytest.raises(DataError, match="no field 'open'"):
        p.field("open")


def test_panel_of_unknown_pair_is_a_data_error(tmp_path: Path) -> None:
    store = CandleStore(tmp_path, "x")
    store.write("AAAUSDT", "5m", make_candles(10))
    with pytest.raises(DataError, match="NOPEUSDT"):
        load_panel(store, ["NOPEUSDT"], "5m")


def test_panel_of_real_hourly_data(shared_data: Path) -> None:
    store = CandleStore(shared_data, "binance")
    p = load_panel(store, ["BTCUSDT", "TONUSDT"], "1h")
    btc = store.read("BTCUSDT", "1h")
    assert p.mask[:, 0].sum() == len(btc)
    assert p.mask[: len(btc), 0].all()
    assert 0 < p.mask[:, 1].sum() < len(p.timestamps)
    assert not p.mask[0, 1]  # TON was listed in August 2024
    np.testing.assert_array_equal(p.field("high")[: len(btc), 0], btc["high"].to_numpy())
