"""Shared fixtures: candle frames, a temporary home, the real shared data folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def make_candles(
    n: int = 500,
    timeframe_s: int = 300,
    start: str = "2024-01-01",
    seed: int = 0,
    price: float = 100.0,
) -> pd.DataFrame:
    """A valid random-walk candle frame of ``n`` candles."""
    rng = np.random.default_rng(seed)
    ts = pd.date_range(start, periods=n, freq=pd.Timedelta(seconds=timeframe_s), tz="UTC")
    close = price * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.concatenate(([price], close[:-1]))
    spread = np.abs(rng.normal(0, 0.004, n)) * close
    high = np.maximum(open_, close) + spread
    low = np.minimum(open_, close) - spread
    volume = rng.lognormal(3, 1, n)
    return pd.DataFrame(
        {
            "timestamp": ts.astype("datetime64[ns, UTC]"),
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": volume,
        }
    )


@pytest.fixture
def candles() -> pd.DataFrame:
    return make_candles()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean home folder and working directory; no TRADEWIND__* variables leak in."""
    import os

    for name in list(os.environ):
        if name.upper().startswith("TRADEWIND__"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path / ".tradewind"


@pytest.fixture
def shared_data() -> Path:
    if not (SHARED_DATA / "binance").is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA} (see ../shared/data/README.md)")
    return SHARED_DATA
