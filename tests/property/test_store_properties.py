"""Property tests of the candle contract and the store's merge."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from tradewind.data.schema import find_gaps, find_problems
from tradewind.data.store import CandleStore
from tradewind.domain.types import Timeframe

TF = Timeframe.parse("1h")


@st.composite
def candle_frames(draw: st.DrawFn, max_rows: int = 60) -> pd.DataFrame:
    n = draw(st.integers(1, max_rows))
    offsets = sorted(draw(st.sets(st.integers(0, 3 * max_rows), min_size=n, max_size=n)))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    open_ = close * np.exp(rng.normal(0, 0.01, n))
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.01, n)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.01, n)))
    ts = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(np.array(offsets), unit="h")
    return pd.DataFrame(
        {
            "timestamp": ts.astype("datetime64[ns, UTC]"),
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": rng.exponential(10, n),
        }
    )


@settings(max_examples=40, deadline=None)
@given(candle_frames())
def test_valid_frames_round_trip_and_gaps_account_for_every_missing_candle(
    df: pd.DataFrame,
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = CandleStore(Path(tmp), "x")
        store.write("AAAUSDT", TF, df)
        back = store.read("AAAUSDT", TF)
    pd.testing.assert_frame_equal(back, df)
    assert find_problems(df, TF) == []
    span = (df["timestamp"].iloc[-1] - df["timestamp"].iloc[0]) // TF.timedelta + 1
    assert len(df) + sum(g.missing for g in find_gaps(df, TF)) == span


@settings(max_examples=40, deadline=None)
@given(candle_frames(), candle_frames())
def test_merge_is_the_union_with_new_rows_winning(old: pd.DataFrame, new: pd.DataFrame) -> None:
    new = new.assign(volume=new.volume + 1000.0)  # mark new rows
    with tempfile.TemporaryDirectory() as tmp:
        store = CandleStore(Path(tmp), "x")
        store.write("AAAUSDT", TF, old)
        result = store.merge("AAAUSDT", TF, new)
        merged = store.read("AAAUSDT", TF)
        again = store.merge("AAAUSDT", TF, new)
        assert store.read("AAAUSDT", TF).equals(merged)
    stamps = set(old.timestamp) | set(new.timestamp)
    assert list(merged.timestamp) == sorted(stamps)
    assert result.total == len(stamps)
    assert result.added + result.replaced == len(new)
    assert again.added == 0
    from_new = merged.timestamp.isin(new.timestamp)
    assert (merged.loc[from_new, "volume"] >= 1000.0).all()
    assert (merged.loc[~from_new, "volume"] < 1000.0).all()


@settings(max_examples=60, deadline=None)
@given(
    candle_frames(max_rows=30),
    st.integers(0, 29),
    st.sampled_from(["high", "low", "volume", "nan", "shift"]),
)
def test_any_single_corruption_is_found_at_its_row(df: pd.DataFrame, row: int, kind: str) -> None:
    row = row % len(df)
    bad = df.copy()
    if kind == "high":
        bad.loc[row, "high"] = min(bad.loc[row, "open"], bad.loc[row, "close"]) * 0.99
    elif kind == "low":
        bad.loc[row, "low"] = max(bad.loc[row, "open"], bad.loc[row, "close"]) * 1.01
    elif kind == "volume":
        bad.loc[row, "volume"] = -1.0
    elif kind == "nan":
        bad.loc[row, "close"] = np.nan
    else:
        bad.loc[row, "timestamp"] = bad.loc[row, "timestamp"] + pd.Timedelta(minutes=1)
    problems = find_problems(bad, TF)
    assert row in {p.row for p in problems}
