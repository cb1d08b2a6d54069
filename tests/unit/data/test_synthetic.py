"""The embedded synthetic market: contract, determinism, stylised facts and planted signal."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradewind.data.schema import conform, validate_candles
from tradewind.data.store import CandleStore
from tradewind.data.synthetic import (
    REGIMES,
    SyntheticMarket,
    generate_market,
    pair_symbols,
    summarize,
    write_market,
)
from tradewind.domain.types import Timeframe, normalize_symbol
from tradewind.errors import ConfigError

Floats = npt.NDArray[np.float64]
COLUMNS = ["timestamp", "open", "high", "low", "close", "volume", "quote_volume", "trades"]


@pytest.fixture(scope="module")
def small() -> SyntheticMarket:
    return generate_market(pairs=4, timeframe="5m", days=20, seed=7)


@pytest.fixture(scope="module")
def moderate() -> SyntheticMarket:
    """Six pairs, 60 days of 5m candles: enough for stable stylised facts."""
    return generate_market(pairs=6, timeframe="5m", days=60, seed=11)


@pytest.fixture(scope="module")
def null_and_signal() -> tuple[SyntheticMarket, SyntheticMarket]:
    null = generate_market(pairs=10, timeframe="15m", days=120, seed=3, signal=0.0)
    planted = generate_market(pairs=10, timeframe="15m", days=120, seed=3, signal=1.0)
    return null, planted


def log_returns(market: SyntheticMarket) -> pd.DataFrame:
    return pd.DataFrame(
        {k: np.log(f["close"].to_numpy() / f["open"].to_numpy()) for k, f in market.frames.items()}
    )


def ns_of(df: pd.DataFrame) -> npt.NDArray[np.int64]:
    return df["timestamp"].to_numpy(dtype="datetime64[ns]").view("int64")


def event_rows(market: SyntheticMarket) -> list[tuple[str, int]]:
    """(pair, row of the last candle showing the pattern) for each planted event."""
    grid = ns_of(next(iter(market.frames.values())))
    seen = market.events["observed_at"].to_numpy(dtype="datetime64[ns]").view("int64")
    rows = np.searchsorted(grid, seen)
    assert np.array_equal(grid[rows], seen)
    return list(zip(market.events["pair"].astype(str).tolist(), rows.tolist(), strict=True))


def check_invariants(market: SyntheticMarket) -> None:
    tf = Timeframe.parse(market.timeframe)
    for symbol, df in market.frames.items():
        assert list(df.columns) == COLUMNS
        assert str(df["timestamp"].dtype) == "datetime64[ns, UTC]"
        assert all(df[c].dtype == np.float64 for c in COLUMNS[1:])
        validate_candles(conform(df), tf, where=symbol)
        o, h, lo, c = (df[k].to_numpy() for k in ("open", "high", "low", "close"))
        assert np.isfinite(df[COLUMNS[1:]].to_numpy()).all()
        assert (lo > 0).all()
        assert (h >= np.maximum(o, c)).all()
        assert (lo <= np.minimum(o, c)).all()
        assert np.array_equal(o[1:], c[:-1])  # a continuous market: open = previous close
        assert (df["volume"] > 0).all()
        trades = df["trades"].to_numpy()
        assert (trades >= 1).all()
        assert np.array_equal(trades, np.rint(trades))
        assert (np.diff(ns_of(df)) == tf.nanoseconds).all()


# --- contract and API ---------------------------------------------------------------------


def test_frames_follow_the_candle_contract(small: SyntheticMarket) -> None:
    check_invariants(small)
    assert list(small.frames) == pair_symbols(4)
    for df in small.frames.values():
        assert len(df) == 20 * 288
        assert df["timestamp"].iloc[0] == pd.Timestamp("2024-01-01", tz="UTC")
        assert np.allclose(
            df["quote_volume"], df["volume"] * (df["high"] + df["low"] + df["close"]) / 3
        )
    assert small.regimes.index.equals(pd.DatetimeIndex(small.frames["SYNBTCUSDT"]["timestamp"]))
    assert list(small.regimes.cat.categories) == list(REGIMES)


def test_symbols_are_valid_unique_and_the_leader_comes_first() -> None:
    names = pair_symbols(40)
    assert names[0] == "SYNBTCUSDT"
    assert names[30] == "SYN030USDT"
    assert len(set(names)) == 40
    assert all(normalize_symbol(n) == n and n.endswith("USDT") for n in names)


def test_leader_has_beta_one_and_the_lowest_volatility(moderate: SyntheticMarket) -> None:
    params = moderate.pair_params.set_index("pair")
    assert params.loc["SYNBTCUSDT", "beta"] == 1.0
    assert params.loc["SYNBTCUSDT", "start_price"] == 42_000.0
    stats = {s.pair: s.annual_volatility for s in summarize(moderate).pair_stats}
    assert min(stats, key=lambda k: stats[k]) == "SYNBTCUSDT"
    assert all(0.25 < v < 1.6 for v in stats.values())


def test_start_prices_spread_over_plausible_levels() -> None:
    params = generate_market(pairs=30, timeframe="1d", days=2).pair_params
    prices = params["start_price"]
    assert prices.min() >= 0.01
    assert prices.max() <= 60_000
    assert prices.max() / prices.min() > 1e3


@pytest.mark.parametrize(("timeframe", "rows"), [("1m", 3 * 1440), ("15m", 3 * 96), ("1h", 72)])
def test_other_timeframes_scale_the_same_model(timeframe: str, rows: int) -> None:
    market = generate_market(pairs=2, timeframe=timeframe, days=3, seed=1)
    check_invariants(market)
    assert all(len(df) == rows for df in market.frames.values())


def test_first_candle_is_on_the_grid_at_or_after_start() -> None:
    market = generate_market(pairs=1, timeframe="5m", start="2024-03-01T00:02:30", days=1)
    first = market.frames["SYNBTCUSDT"]["timestamp"].iloc[0]
    assert first == pd.Timestamp("2024-03-01T00:05", tz="UTC")
    assert market.start == first


@pytest.mark.parametrize(
    "kwargs",
    [
        {"pairs": 0},
        {"seed": -1},
        {"signal": -0.1},
        {"signal": math.nan},
        {"days": 0},
        {"timeframe": "7m"},
        {"timeframe": "1w", "days": 3},
    ],
)
def test_bad_arguments_raise_config_error(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        generate_market(**{"pairs": 1, "days": 2, **kwargs})  # type: ignore[arg-type]


def test_default_market_has_the_documented_size() -> None:
    market = generate_market()
    assert len(market.frames) == 30
    assert sum(len(df) for df in market.frames.values()) == 30 * 240 * 288
    for symbol, df in market.frames.items():
        validate_candles(df, Timeframe.parse("5m"), where=symbol)
    assert len(market.events) > 100


# --- determinism --------------------------------------------------------------------------


def test_same_arguments_give_bit_identical_markets(small: SyntheticMarket) -> None:
    again = generate_market(pairs=4, timeframe="5m", days=20, seed=7)
    for symbol, df in small.frames.items():
        pd.testing.assert_frame_equal(df, again.frames[symbol], check_exact=True)
    pd.testing.assert_series_equal(small.regimes, again.regimes)
    pd.testing.assert_frame_equal(small.events, again.events, check_exact=True)
    pd.testing.assert_frame_equal(small.pair_params, again.pair_params, check_exact=True)


def test_written_files_are_byte_identical(small: SyntheticMarket, tmp_path: Path) -> None:
    first = write_market(small, CandleStore(tmp_path / "a", "synthetic"))
    again = generate_market(pairs=4, timeframe="5m", days=20, seed=7)
    second = write_market(again, CandleStore(tmp_path / "b", "synthetic"))
    assert len(first.paths) == len(second.paths) == 4
    for a, b in zip(first.paths, second.paths, strict=True):
        assert Path(a).read_bytes() == Path(b).read_bytes()
    store = CandleStore(tmp_path / "a", "synthetic")
    assert store.symbols("5m") == sorted(small.frames)
    back = store.read("SYNBTCUSDT", "5m")
    pd.testing.assert_frame_equal(back, small.frames["SYNBTCUSDT"], check_exact=True)


def test_different_seeds_differ(small: SyntheticMarket) -> None:
    other = generate_market(pairs=4, timeframe="5m", days=20, seed=8)
    for symbol, df in small.frames.items():
        assert not np.array_equal(df["close"], other.frames[symbol]["close"])
        assert not np.array_equal(df["volume"], other.frames[symbol]["volume"])


def test_summary_is_consistent_and_json_ready(small: SyntheticMarket, tmp_path: Path) -> None:
    summary = write_market(small, CandleStore(tmp_path, "synthetic"))
    data = json.loads(json.dumps(summary.to_dict()))
    assert data["rows"] == 4 * 20 * 288
    assert data["pairs"] == pair_symbols(4)
    assert data["first_candle"] == "2024-01-01T00:00:00+00:00"
    assert data["last_candle"] == "2024-01-20T23:55:00+00:00"
    assert set(data["regime_shares"]) == set(REGIMES)
    assert math.isclose(sum(data["regime_shares"].values()), 1.0)
    assert data["events"] == len(small.events)
    btc = small.frames["SYNBTCUSDT"]
    expected = btc["close"].iloc[-1] / btc["open"].iloc[0] - 1
    assert math.isclose(data["pair_stats"][0]["total_return"], expected)


# --- stylised facts -----------------------------------------------------------------------


def test_returns_have_fat_tails(moderate: SyntheticMarket) -> None:
    kurt = log_returns(moderate).kurt()  # excess kurtosis; 0 for a normal
    assert (kurt > 3).all(), kurt


def test_pairs_are_correlated_in_the_stated_band(moderate: SyntheticMarket) -> None:
    corr = log_returns(moderate).corr().to_numpy()
    upper = corr[np.triu_indices_from(corr, 1)]
    assert 0.3 < upper.mean() < 0.6, upper.mean()
    assert (upper > 0.1).all()


def test_volume_follows_absolute_returns_and_range(moderate: SyntheticMarket) -> None:
    for df in moderate.frames.values():
        log_volume = np.log(df["volume"])
        abs_ret = np.abs(np.log(df["close"] / df["open"]))
        log_range = np.log(df["high"] / df["low"])
        assert np.corrcoef(abs_ret, log_volume)[0, 1] > 0.2
        assert np.corrcoef(log_range, log_volume)[0, 1] > 0.3


def test_volatility_clusters(moderate: SyntheticMarket) -> None:
    abs_ret = log_returns(moderate).abs()
    for col in abs_ret:
        assert abs_ret[col].autocorr(lag=12) > 0.1  # |r| an hour apart


def test_volatility_follows_the_utc_clock(moderate: SyntheticMarket) -> None:
    hours = moderate.frames["SYNBTCUSDT"]["timestamp"].dt.hour
    by_hour = log_returns(moderate).abs().mean(axis=1).groupby(hours.to_numpy()).mean()
    assert by_hour.loc[13:16].mean() > 1.2 * by_hour.loc[2:5].mean()


def test_regimes_all_appear_and_persist() -> None:
    market = generate_market(pairs=1, timeframe="1h", days=240, seed=42)
    codes = market.regimes.cat.codes.to_numpy()
    assert set(np.unique(codes)) == set(range(len(REGIMES)))
    spells = 1 + int(np.count_nonzero(np.diff(codes)))
    assert len(codes) / spells >= 24  # a regime lasts days, not hours
    assert min(market.regimes.value_counts(normalize=True)) > 0.03


def test_regimes_drive_volatility(moderate: SyntheticMarket) -> None:
    abs_ret = log_returns(moderate)["SYNBTCUSDT"].abs().to_numpy()
    by_regime = pd.Series(abs_ret).groupby(moderate.regimes.to_numpy(), observed=True).mean()
    if {"calm", "volatile"} <= set(by_regime.index):
        assert by_regime["volatile"] > 1.5 * by_regime["calm"]


# --- planted signal -----------------------------------------------------------------------


def post_event_returns(market: SyntheticMarket) -> tuple[Floats, Floats]:
    """Log return over the 24 h after each event, raw and minus the cross-section's."""
    names = list(market.frames)
    closes = np.log(np.column_stack([f["close"].to_numpy() for f in market.frames.values()]))
    day = 86400 // Timeframe.parse(market.timeframe).seconds
    raw, abnormal = [], []
    for pair, row in event_rows(market):
        move = closes[row + day] - closes[row]
        raw.append(move[names.index(pair)])
        abnormal.append(raw[-1] - move.mean())
    return np.asarray(raw), np.asarray(abnormal)


def t_stat(x: Floats) -> float:
    return float(x.mean() / (x.std(ddof=1) / math.sqrt(len(x))))


def test_without_signal_events_are_followed_by_nothing(
    null_and_signal: tuple[SyntheticMarket, SyntheticMarket],
) -> None:
    null, _ = null_and_signal
    assert len(null.events) > 30
    assert (null.events["drift"] == 0).all()
    assert not null.events["followed"].any()
    raw, abnormal = post_event_returns(null)
    assert abs(t_stat(abnormal)) < 3
    assert abs(abnormal.mean()) < 0.015
    assert abs(raw.mean()) < 0.03


def test_with_signal_events_are_followed_by_a_clear_drift(
    null_and_signal: tuple[SyntheticMarket, SyntheticMarket],
) -> None:
    _, planted = null_and_signal
    assert 0.5 < planted.events["followed"].mean() < 0.95
    raw, abnormal = post_event_returns(planted)
    assert raw.mean() > 0.04
    assert t_stat(abnormal) > 4


def test_signal_changes_nothing_before_the_first_drift(
    null_and_signal: tuple[SyntheticMarket, SyntheticMarket],
) -> None:
    null, planted = null_and_signal
    cols = ["pair", "observed_at", "drift_start"]
    pd.testing.assert_frame_equal(null.events[cols], planted.events[cols])
    pd.testing.assert_series_equal(null.regimes, planted.regimes)
    first_drift = planted.events["drift_start"].min().value
    cut = int(np.searchsorted(ns_of(null.frames["SYNBTCUSDT"]), first_drift))
    assert cut > 0
    for symbol, df in null.frames.items():
        pd.testing.assert_frame_equal(
            df.iloc[:cut], planted.frames[symbol].iloc[:cut], check_exact=True
        )
        assert np.array_equal(df["volume"], planted.frames[symbol]["volume"])


def test_observable_window_is_the_same_with_and_without_signal(
    null_and_signal: tuple[SyntheticMarket, SyntheticMarket],
) -> None:
    null, planted = null_and_signal
    for pair, row in event_rows(planted):
        window = slice(row + 1 - 24 * 4, row + 1)  # the day up to the event, 15m candles
        a, b = null.frames[pair].iloc[window], planted.frames[pair].iloc[window]
        for col in ("open", "high", "low", "close"):
            rel_a = a[col].to_numpy() / a["open"].iloc[0]
            rel_b = b[col].to_numpy() / b["open"].iloc[0]
            np.testing.assert_allclose(rel_a, rel_b, rtol=1e-12)
        assert np.array_equal(a["volume"], b["volume"])


def test_accumulation_pattern_is_observable(
    null_and_signal: tuple[SyntheticMarket, SyntheticMarket],
) -> None:
    null, _ = null_and_signal
    vol_ratio, range_ratio = [], []
    for pair, row in event_rows(null):
        end = row + 1
        df = null.frames[pair]
        rng = np.log(df["high"].to_numpy() / df["low"].to_numpy())
        vol = df["volume"].to_numpy()
        last, before = slice(end - 8, end), slice(end - 96, end - 16)  # last 2 h vs earlier
        vol_ratio.append(vol[last].mean() / vol[before].mean())
        range_ratio.append(rng[last].mean() / rng[before].mean())
    assert np.median(vol_ratio) > 1.5
    assert np.median(range_ratio) < 0.8


def test_signal_scales_the_drift_and_no_other_draw() -> None:
    half = generate_market(pairs=4, timeframe="1h", days=90, seed=5, signal=0.5)
    full = generate_market(pairs=4, timeframe="1h", days=90, seed=5, signal=1.0)
    np.testing.assert_allclose(2 * half.events["drift"], full.events["drift"], rtol=1e-15)
    for symbol, df in half.frames.items():
        assert np.array_equal(df["volume"], full.frames[symbol]["volume"])


def test_long_timeframes_plant_no_events() -> None:
    assert generate_market(pairs=3, timeframe="4h", days=120, signal=1.0).events.empty


# --- property -----------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    pairs=st.integers(1, 3),
    days=st.integers(1, 4),
    timeframe=st.sampled_from(["1m", "3m", "5m", "15m", "30m", "1h", "4h", "12h", "1d"]),
    seed=st.integers(0, 2**32 - 1),
    signal=st.floats(0.0, 1.0),
    offset_min=st.integers(0, 1439),
)
def test_ohlc_invariants_always_hold(
    pairs: int, days: int, timeframe: str, seed: int, signal: float, offset_min: int
) -> None:
    start = pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(minutes=offset_min)
    tf = Timeframe.parse(timeframe)
    try:
        market = generate_market(pairs, timeframe, start, days, seed, signal)
    except ConfigError:
        assert days * 86400 < 2 * tf.seconds  # only when no whole candle fits
        return
    check_invariants(market)
    summary = summarize(market)
    assert summary.rows == pairs * len(market.regimes)
    assert all(math.isfinite(s.annual_volatility) for s in summary.pair_stats)
