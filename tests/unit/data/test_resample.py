"""Resampling candles to a longer timeframe: unit, property and real-data tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradewind.data.resample import resample
from tradewind.data.schema import validate_candles
from tradewind.data.store import CandleStore
from tradewind.domain.types import Timeframe
from tradewind.errors import ConfigError, DataError

SHARED_DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"
T0 = pd.Timestamp("2024-01-01", tz="UTC")


def candles(
    slots: list[int],
    timeframe: str = "5m",
    *,
    start: pd.Timestamp = T0,
    extra: bool = False,
) -> pd.DataFrame:
    """Candles at ``start + slot * timeframe``; values encode the slot so sums are checkable."""
    step = Timeframe.parse(timeframe).timedelta
    n = np.asarray(slots, dtype="float64")
    df = pd.DataFrame(
        {
            "timestamp": pd.Series([start + s * step for s in slots], dtype="datetime64[ns, UTC]"),
            "open": 100.0 + n,
            "high": 200.0 + n,
            "low": 50.0 - n / 1000,
            "close": 101.0 + n,
            "volume": 1.0 + n,
        }
    )
    if extra:
        df["quote_volume"] = 10.0 * (1.0 + n)
        df["trades"] = 3.0 + n
        df["taker_buy_volume"] = 0.5 * (1.0 + n)
        df["bid"] = 100.5 + n
        df["ask"] = 100.7 + n
    return df


# ---------------------------------------------------------------- unit tests


def test_aggregates_each_column_by_its_meaning() -> None:
    out = resample(candles(list(range(24)), extra=True), "5m", "1h")
    assert list(out["timestamp"]) == [T0, T0 + pd.Timedelta(hours=1)]
    first = out.iloc[0]
    assert first["open"] == 100.0  # slot 0
    assert first["close"] == 101.0 + 11  # slot 11
    assert first["high"] == 200.0 + 11
    assert first["low"] == 50.0 - 11 / 1000
    assert first["volume"] == sum(1.0 + s for s in range(12))
    assert first["quote_volume"] == sum(10.0 * (1.0 + s) for s in range(12))
    assert first["trades"] == sum(3.0 + s for s in range(12))
    assert first["taker_buy_volume"] == sum(0.5 * (1.0 + s) for s in range(12))
    assert first["bid"] == 100.5 + 11
    assert first["ask"] == 100.7 + 11
    assert list(out.columns) == [
        "timestamp",
        "open",
        "high",
        "low",
        "close",
        "volume",
        "quote_volume",
        "trades",
        "taker_buy_volume",
        "bid",
        "ask",
    ]


def test_result_is_ns_utc_and_valid() -> None:
    out = resample(candles(list(range(36))), "5m", "15m")
    assert str(out["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert len(out) == 12
    validate_candles(out, Timeframe.parse("15m"), where="test")


def test_accepts_timeframe_objects_and_strings_alike() -> None:
    df = candles(list(range(24)))
    pd.testing.assert_frame_equal(
        resample(df, Timeframe.parse("5m"), Timeframe.parse("1h")), resample(df, "5m", "1h")
    )


def test_incomplete_last_bucket_is_dropped() -> None:
    out = resample(candles(list(range(12 + 7))), "5m", "1h")
    assert list(out["timestamp"]) == [T0]


def test_incomplete_last_bucket_is_dropped_even_when_it_is_the_only_one() -> None:
    out = resample(candles(list(range(11))), "5m", "1h")
    assert out.empty
    assert str(out["timestamp"].dtype) == "datetime64[ns, UTC]"


def test_last_bucket_with_every_candle_is_kept() -> None:
    out = resample(candles(list(range(24))), "5m", "1h")
    assert len(out) == 2


def test_interior_gap_bucket_is_kept_by_default() -> None:
    # Slots 15..17 (01:15-01:25) are missing, as in an exchange halt.
    slots = [s for s in range(36) if s not in (15, 16, 17)]
    out = resample(candles(slots), "5m", "1h")
    assert len(out) == 3
    gap = out.iloc[1]
    assert gap["timestamp"] == T0 + pd.Timedelta(hours=1)
    assert gap["open"] == 100.0 + 12
    assert gap["close"] == 101.0 + 23
    assert gap["volume"] == sum(1.0 + s for s in range(12, 24) if s not in (15, 16, 17))


def test_complete_only_drops_every_incomplete_bucket() -> None:
    slots = [s for s in range(36) if s not in (15, 16, 17)]
    out = resample(candles(slots), "5m", "1h", complete_only=True)
    assert list(out["timestamp"]) == [T0, T0 + pd.Timedelta(hours=2)]


def test_wholly_missing_bucket_produces_no_candle() -> None:
    slots = [*range(12), *range(24, 36)]
    out = resample(candles(slots), "5m", "1h")
    assert list(out["timestamp"]) == [T0, T0 + pd.Timedelta(hours=2)]


def test_leading_partial_bucket_is_kept_like_a_listing_mid_hour() -> None:
    out = resample(candles(list(range(7, 24))), "5m", "1h")
    assert list(out["timestamp"]) == [T0, T0 + pd.Timedelta(hours=1)]
    assert out["open"].iloc[0] == 100.0 + 7


def test_buckets_are_epoch_anchored() -> None:
    start = pd.Timestamp("2024-01-01 00:30", tz="UTC")
    out = resample(candles(list(range(24)), start=start), "5m", "1h")
    # 00:30-00:55 lands in the 00:00 bucket, 01:00-01:55 in 01:00; 02:00-02:25 is cut.
    assert list(out["timestamp"]) == [T0, T0 + pd.Timedelta(hours=1)]
    assert out["open"].iloc[1] == 100.0 + 6


def test_daily_buckets_start_at_midnight_utc() -> None:
    start = pd.Timestamp("2024-03-10 00:00", tz="UTC")
    out = resample(candles(list(range(48)), "1h", start=start), "1h", "1d")
    assert list(out["timestamp"]) == [start, start + pd.Timedelta(days=1)]


def test_same_timeframe_is_identity() -> None:
    df = candles([0, 1, 2, 5, 6], extra=True)
    pd.testing.assert_frame_equal(resample(df, "5m", "5m"), df)


def test_empty_frame_gives_empty_frame() -> None:
    out = resample(candles([]), "5m", "1h")
    assert out.empty
    assert list(out.columns) == ["timestamp", "open", "high", "low", "close", "volume"]
    assert str(out["timestamp"].dtype) == "datetime64[ns, UTC]"


def test_does_not_modify_the_input() -> None:
    df = candles(list(range(30)))
    before = df.copy()
    resample(df, "5m", "1h")
    pd.testing.assert_frame_equal(df, before)


@pytest.mark.parametrize(
    ("source", "target"), [("15m", "5m"), ("1h", "5m"), ("5m", "3m"), ("15m", "1h30m")]
)
def test_target_not_a_multiple_raises_config_error(source: str, target: str) -> None:
    with pytest.raises(ConfigError):
        resample(candles([0, 1]), source, target)


def test_non_multiple_message_names_both_timeframes() -> None:
    with pytest.raises(ConfigError, match=r"3m.*5m"):
        resample(candles([0, 1]), "5m", "3m")


def test_unsorted_input_raises_data_error() -> None:
    df = candles([0, 2, 1])
    with pytest.raises(DataError, match="sorted"):
        resample(df, "5m", "1h")


def test_input_off_the_source_grid_raises_data_error() -> None:
    df = candles([0, 1, 2], start=T0 + pd.Timedelta(minutes=1))
    with pytest.raises(DataError, match="aligned"):
        resample(df, "5m", "1h")


# ---------------------------------------------------------------- property tests

PAIRS = [("1m", "5m"), ("5m", "15m"), ("5m", "1h"), ("15m", "1h"), ("1h", "4h"), ("1h", "1d")]
price = st.floats(min_value=1e-6, max_value=1e6, allow_nan=False, allow_infinity=False)
stretch = st.floats(min_value=0.0, max_value=0.5, allow_nan=False)
volume = st.one_of(
    st.just(0.0), st.floats(min_value=0.0, max_value=1e9, allow_nan=False, allow_infinity=False)
)


@st.composite
def candle_frames(draw: st.DrawFn) -> tuple[pd.DataFrame, str, str]:
    """Valid candle frames with random start phase, gaps and zero-volume candles."""
    source, target = draw(st.sampled_from(PAIRS))
    src = Timeframe.parse(source)
    steps = draw(st.lists(st.integers(1, 4) | st.just(1) | st.just(1), max_size=150))
    first = draw(st.integers(-50_000, 50_000))
    slots = np.cumsum([first, *steps])
    rows = [draw(st.tuples(price, price, stretch, stretch, volume)) for _ in slots]
    o = np.array([r[0] for r in rows], dtype="float64")
    c = np.array([r[1] for r in rows], dtype="float64")
    high = np.maximum(o, c) * (1.0 + np.array([r[2] for r in rows], dtype="float64"))
    low = np.minimum(o, c) * (1.0 - np.array([r[3] for r in rows], dtype="float64"))
    stamps = pd.Series(
        (T0.value + slots.astype("int64") * src.nanoseconds).view("datetime64[ns]")
    ).dt.tz_localize("UTC")
    df = pd.DataFrame(
        {
            "timestamp": stamps.astype("datetime64[ns, UTC]"),
            "open": o,
            "high": high,
            "low": low,
            "close": c,
            "volume": np.array([r[4] for r in rows], dtype="float64"),
        }
    )
    return df, source, target


def reference(df: pd.DataFrame, source: str, target: str) -> tuple[pd.DataFrame, int]:
    """An independent, slow oracle: pandas floor() buckets and named aggregations."""
    tgt = Timeframe.parse(target)
    per_bucket = tgt.seconds // Timeframe.parse(source).seconds
    bucket = df["timestamp"].dt.floor(f"{tgt.seconds}s")
    out = (
        df.groupby(bucket)
        .agg(
            open=("open", "first"),
            high=("high", "max"),
            low=("low", "min"),
            close=("close", "last"),
            volume=("volume", "sum"),
            n=("open", "size"),
        )
        .rename_axis("timestamp")
        .reset_index()
    )
    return out, per_bucket


@settings(deadline=None, max_examples=150)
@given(candle_frames(), st.booleans())
def test_property_matches_contract_and_oracle(
    case: tuple[pd.DataFrame, str, str], complete_only: bool
) -> None:
    df, source, target = case
    out = resample(df, source, target, complete_only=complete_only)
    tgt = Timeframe.parse(target)
    validate_candles(out, tgt, where="resampled")
    assert str(out["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert list(out.columns) == list(df.columns)

    ref, per_bucket = reference(df, source, target)
    if complete_only:
        ref = ref.loc[ref["n"] == per_bucket]
    elif not ref.empty and ref["n"].iloc[-1] < per_bucket:
        ref = ref.iloc[:-1]
    ref = ref.reset_index(drop=True)
    assert list(out["timestamp"]) == list(ref["timestamp"])
    # Prices are picked, never computed: equal to the bit.
    for col in ("open", "high", "low", "close"):
        np.testing.assert_array_equal(out[col].to_numpy(), ref[col].to_numpy())
    np.testing.assert_allclose(out["volume"], ref["volume"], rtol=1e-12, atol=0)


@settings(deadline=None, max_examples=150)
@given(candle_frames())
def test_property_volume_conserved_and_extremes_kept(case: tuple[pd.DataFrame, str, str]) -> None:
    df, source, target = case
    out = resample(df, source, target)
    tgt = Timeframe.parse(target)
    ends = out["timestamp"] + tgt.timedelta
    covered = (
        df["timestamp"].dt.floor(f"{tgt.seconds}s").isin(out["timestamp"])
        if not out.empty
        else pd.Series(False, index=df.index)
    )
    # Volume over the kept buckets equals the source volume in them.
    assert out["volume"].sum() == pytest.approx(df.loc[covered, "volume"].sum(), rel=1e-12)
    # Everything dropped is the incomplete tail: after the last kept bucket.
    if not out.empty:
        assert (df.loc[~covered, "timestamp"] >= ends.iloc[-1]).all()
    # Every source candle lies within its bucket's range, and the range is attained.
    for ts, end, hi, lo in zip(out["timestamp"], ends, out["high"], out["low"], strict=True):
        inside = df.loc[(df["timestamp"] >= ts) & (df["timestamp"] < end)]
        assert hi == inside["high"].max()
        assert lo == inside["low"].min()
        assert (inside["high"] <= hi).all()
        assert (inside["low"] >= lo).all()


MIDDLE = {
    ("1m", "5m"): "5m",
    ("5m", "15m"): "5m",
    ("5m", "1h"): "15m",
    ("15m", "1h"): "30m",
    ("1h", "4h"): "2h",
    ("1h", "1d"): "4h",
}


@settings(deadline=None, max_examples=100)
@given(candle_frames())
def test_property_resampling_in_steps_equals_resampling_at_once(
    case: tuple[pd.DataFrame, str, str],
) -> None:
    df, source, target = case
    middle = MIDDLE[(source, target)]
    direct = resample(df, source, target, complete_only=True)
    stepped = resample(
        resample(df, source, middle, complete_only=True), middle, target, complete_only=True
    )
    pd.testing.assert_frame_equal(direct, stepped, check_exact=False, rtol=1e-12)


# ---------------------------------------------------------------- real data


def shared_store() -> CandleStore:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared market data not found at {SHARED_DATA}")
    return CandleStore(SHARED_DATA, "binance")


@pytest.mark.realdata
@pytest.mark.parametrize("symbol", ["ETHUSDT", "SOLUSDT", "BTCUSDT"])
@pytest.mark.parametrize("target", ["15m", "1h"])
def test_real_5m_resampled_reproduces_exchange_candles(symbol: str, target: str) -> None:
    store = shared_store()
    if not (store.exists(symbol, "5m") and store.exists(symbol, target)):
        pytest.skip(f"{symbol} 5m/{target} files not found in {SHARED_DATA}")
    five = store.read(symbol, "5m")
    exchange = store.read(symbol, target)
    ours = resample(five, "5m", target)

    both = exchange.merge(ours, on="timestamp", suffixes=("_ex", "_rs"), validate="1:1")
    # The overlap is the whole exchange file bar at most its last candle.
    assert len(both) >= len(exchange) - 1
    assert len(both) > 5000
    for col in ("open", "high", "low", "close"):
        np.testing.assert_array_equal(both[f"{col}_rs"].to_numpy(), both[f"{col}_ex"].to_numpy())
    np.testing.assert_allclose(both["volume_rs"], both["volume_ex"], rtol=1e-9, atol=0)
    # Ours never runs past the 5m data with a half-built candle.
    assert ours["timestamp"].iloc[-1] + Timeframe.parse(target).timedelta <= (
        five["timestamp"].iloc[-1] + pd.Timedelta(minutes=5)
    )
