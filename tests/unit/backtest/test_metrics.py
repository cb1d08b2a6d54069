"""Backtest metrics against hand-computed examples, edge cases and a few properties."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradewind.backtest.metrics import (
    Drawdown,
    Expectancy,
    annualised_sharpe,
    annualised_sortino,
    cagr,
    calmar,
    expectancy,
    exposure,
    fees_paid,
    infer_periods_per_year,
    max_drawdown,
    profit_factor,
    summarize,
    total_return,
    trade_counts,
    win_rate,
)
from tradewind.errors import DataError

T0 = pd.Timestamp("2024-01-01", tz="UTC")
DAY = pd.Timedelta(days=1)
HOUR = pd.Timedelta(hours=1)


def curve(values: list[float], step: pd.Timedelta = DAY) -> pd.Series:
    index = pd.date_range(T0, periods=len(values), freq=step)
    return pd.Series(values, index=index, dtype="float64")


def trade(
    kind: str = "real",
    pnl: float = 10.0,
    cost: float = 100.0,
    entry: int = 0,
    exit_: int = 1,
    reason: str = "take_profit",
    fees: float = 0.3,
) -> dict[str, Any]:
    """One trade row; ``entry`` and ``exit_`` are hours after T0."""
    return {
        "kind": kind,
        "side": 1,
        "entry_time": T0 + entry * HOUR,
        "exit_time": T0 + exit_ * HOUR,
        "entry_price": 100.0,
        "exit_price": 100.0 * (1 + pnl / cost),
        "cost": cost,
        "pnl": pnl,
        "fees": fees,
        "exit_reason": reason,
    }


def table(*rows: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(list(rows))


# The hand example: returns +10 %, -10 %, +10 %, +10 % on daily bars.
HAND = curve([100.0, 110.0, 99.0, 108.9, 119.79])


# --------------------------------------------------------------------------- equity curve


def test_total_return_and_cagr_by_hand() -> None:
    assert total_return(HAND) == pytest.approx(0.1979)
    # 4 days of calendar time in 365-day years
    assert cagr(HAND) == pytest.approx(1.1979 ** (365 / 4) - 1, rel=1e-9)
    assert cagr(curve([100.0, 100.0, 121.0], step=pd.Timedelta(days=365))) == pytest.approx(0.1)


def test_sharpe_by_hand() -> None:
    # mean 0.05; deviations .05 -.15 .05 .05 → sum of squares .03 / 3 → std 0.1
    assert annualised_sharpe(HAND) == pytest.approx(0.5 * math.sqrt(365.25))
    assert annualised_sharpe(HAND, periods_per_year=4.0) == pytest.approx(1.0)


def test_sortino_by_hand_uses_all_periods() -> None:
    # downside: sqrt(mean([0, .01, 0, 0])) = 0.05; mean 0.05 → 1 per bar
    assert annualised_sortino(HAND) == pytest.approx(math.sqrt(365.25))
    assert annualised_sortino(HAND, periods_per_year=9.0) == pytest.approx(3.0)


def test_risk_free_is_an_annual_rate_compounded_per_bar() -> None:
    # 4 bars a year, 21.550625 % a year = 5 % a bar: excess returns .05 -.15 .05 .05
    rf = 1.05**4 - 1
    assert annualised_sharpe(HAND, 4.0, risk_free=rf) == pytest.approx(0.0, abs=1e-12)
    # downside sqrt(mean([0, .0225, 0, 0])) = .075; mean 0 → 0
    assert annualised_sortino(HAND, 4.0, risk_free=rf) == pytest.approx(0.0, abs=1e-12)


def test_periods_per_year_from_the_median_spacing() -> None:
    five_min = pd.date_range(T0, periods=10, freq="5min")
    assert infer_periods_per_year(five_min) == pytest.approx(365.25 * 288)
    # one missing bar does not change the bar length
    assert infer_periods_per_year(five_min.delete(4)) == pytest.approx(365.25 * 288)
    assert math.isnan(infer_periods_per_year(five_min[:1]))


def test_drawdown_with_known_peak_trough_recovery() -> None:
    dd = max_drawdown(HAND)
    assert dd.depth == pytest.approx(-0.1)
    assert (dd.peak_time, dd.trough_time, dd.recovery_time) == (
        T0 + DAY,
        T0 + 2 * DAY,
        T0 + 4 * DAY,
    )
    assert dd.duration == pd.Timedelta(days=3)


def test_drawdown_peak_is_the_last_bar_at_the_peak_level() -> None:
    dd = max_drawdown(curve([100.0, 100.0, 100.0, 90.0, 100.0, 80.0, 120.0]))
    assert dd.depth == pytest.approx(-0.2)
    assert (dd.peak_time, dd.trough_time, dd.recovery_time) == (
        T0 + 4 * DAY,
        T0 + 5 * DAY,
        T0 + 6 * DAY,
    )
    assert dd.duration == 2 * DAY


def test_drawdown_not_recovered_lasts_to_the_end() -> None:
    dd = max_drawdown(curve([100.0, 120.0, 90.0, 100.0, 110.0]))
    assert dd.depth == pytest.approx(-0.25)
    assert dd.peak_time == T0 + DAY
    assert dd.trough_time == T0 + 2 * DAY
    assert dd.recovery_time is None
    assert dd.duration == 3 * DAY


def test_calmar() -> None:
    eq = curve([100.0, 120.0, 90.0, 121.0], step=pd.Timedelta(days=365))
    assert calmar(eq) == pytest.approx((1.21 ** (1 / 3) - 1) / 0.25)
    assert calmar(curve([100.0, 110.0])) == math.inf


# --------------------------------------------------------------------------- edge cases


def test_flat_curve() -> None:
    flat = curve([100.0] * 20, step=HOUR)
    assert total_return(flat) == 0.0
    assert cagr(flat) == 0.0
    assert annualised_sharpe(flat) == 0.0
    assert annualised_sortino(flat) == 0.0
    assert calmar(flat) == 0.0
    assert max_drawdown(flat) == Drawdown(0.0, T0, T0, T0, pd.Timedelta(0))


def test_single_bar() -> None:
    one = curve([100.0])
    assert total_return(one) == 0.0
    assert math.isnan(cagr(one))
    assert math.isnan(annualised_sharpe(one))
    assert math.isnan(annualised_sortino(one))
    assert math.isnan(calmar(one))
    assert max_drawdown(one).depth == 0.0
    m = summarize(one, table())
    assert m.bars == 1
    assert json.dumps(m.to_dict())


def test_no_downside_gives_infinite_sortino() -> None:
    up = curve([100.0, 101.0, 103.0, 104.0])
    assert annualised_sortino(up) == math.inf
    assert annualised_sharpe(up) > 0


def test_huge_cagr_over_a_tiny_span_does_not_overflow() -> None:
    assert cagr(curve([100.0, 1e6], step=pd.Timedelta(minutes=5))) == math.inf


@pytest.mark.parametrize(
    "bad",
    [
        pd.Series([], dtype="float64"),
        pd.Series([1.0, 2.0]),
        pd.Series([1.0, 2.0], index=pd.date_range("2024-01-01", periods=2, freq="h")),
        curve([100.0, 0.0, 100.0]),
        curve([100.0, math.nan]),
        pd.Series([1.0, 2.0], index=pd.DatetimeIndex([T0 + HOUR, T0])),
    ],
    ids=["empty", "no-times", "naive", "zero", "nan", "unsorted"],
)
def test_bad_equity_is_a_data_error(bad: pd.Series) -> None:
    with pytest.raises(DataError):
        total_return(bad)


def test_bad_periods_per_year() -> None:
    with pytest.raises(DataError, match="periods_per_year"):
        annualised_sharpe(HAND, periods_per_year=0.0)


# --------------------------------------------------------------------------- trades

TRADES = table(
    trade(pnl=20.0, cost=100.0, fees=0.5),
    trade(pnl=-10.0, cost=50.0, reason="stop", fees=0.25),
    trade(pnl=0.0, cost=100.0, reason="time", fees=0.5),
    trade(pnl=30.0, cost=200.0, fees=1.0),
    trade(kind="sim", pnl=-500.0, reason="stop", fees=9.0),
    trade(kind="tracked", pnl=-700.0, reason="trail_stop", fees=9.0),
    trade(kind="tracked", pnl=999.0, reason="expired", fees=9.0),
)


def test_trade_metrics_count_only_real_trades() -> None:
    assert win_rate(TRADES) == pytest.approx(0.5)  # break-even is not a win
    assert profit_factor(TRADES) == pytest.approx(5.0)  # 50 / 10
    exp = expectancy(TRADES)
    assert isinstance(exp, Expectancy)
    assert exp.pnl == pytest.approx(10.0)
    assert exp.ret == pytest.approx((0.2 - 0.2 + 0.0 + 0.15) / 4)
    assert fees_paid(TRADES) == pytest.approx(2.25)


def test_trade_counts_include_every_kind() -> None:
    assert trade_counts(TRADES) == {
        "real": {"stop": 1, "take_profit": 2, "time": 1},
        "sim": {"stop": 1},
        "tracked": {"expired": 1, "trail_stop": 1},
    }


def test_no_losing_trades() -> None:
    wins = table(trade(pnl=5.0), trade(pnl=7.0), trade(kind="sim", pnl=-3.0, reason="stop"))
    assert profit_factor(wins) == math.inf
    assert win_rate(wins) == 1.0
    assert profit_factor(table(trade(pnl=-5.0))) == 0.0
    assert math.isnan(profit_factor(table(trade(pnl=0.0))))


@pytest.mark.parametrize("empty", [pd.DataFrame(), TRADES.iloc[:0], TRADES[TRADES.kind == "sim"]])
def test_no_real_trades(empty: pd.DataFrame) -> None:
    assert math.isnan(win_rate(empty))
    assert math.isnan(profit_factor(empty))
    exp = expectancy(empty)
    assert math.isnan(exp.pnl)
    assert math.isnan(exp.ret)
    assert fees_paid(empty) == 0.0
    assert exposure(empty, pd.date_range(T0, periods=5, freq="h")) == 0.0


def test_missing_column_is_a_data_error() -> None:
    with pytest.raises(DataError, match="pnl"):
        win_rate(TRADES.drop(columns="pnl"))


# --------------------------------------------------------------------------- exposure

BARS = pd.date_range(T0, periods=10, freq="h")


def test_exposure_is_the_union_of_open_bars() -> None:
    trades = table(
        trade(entry=1, exit_=4),  # bars 1, 2, 3
        trade(entry=3, exit_=6),  # bars 3, 4, 5 (3 overlaps)
        trade(kind="sim", entry=7, exit_=9),  # not real
        trade(entry=8, exit_=8),  # opened and closed at once: no bar
    )
    assert exposure(trades, BARS) == pytest.approx(0.5)


def test_exposure_clips_to_the_index_and_treats_nat_as_open() -> None:
    before_and_after = table(trade(entry=-5, exit_=20))
    assert exposure(before_and_after, BARS) == 1.0
    still_open = table(trade(entry=7))
    still_open["exit_time"] = pd.Series([pd.NaT], dtype="datetime64[ns, UTC]")
    assert exposure(still_open, BARS) == pytest.approx(0.3)
    between_bars = table(trade(entry=0, exit_=2))
    between_bars["entry_time"] += pd.Timedelta(minutes=30)  # first bar at or after: 1h
    assert exposure(between_bars, BARS) == pytest.approx(0.1)


def test_exposure_needs_aware_times() -> None:
    naive = table(trade())
    naive["entry_time"] = naive["entry_time"].dt.tz_localize(None)
    with pytest.raises(DataError, match="entry_time"):
        exposure(naive, BARS)


# --------------------------------------------------------------------------- summary


def test_summarize_and_to_dict() -> None:
    eq = curve([100.0, 120.0, 90.0, 100.0, 110.0, 105.0, 104.0, 106.0, 108.0, 107.0], HOUR)
    m = summarize(eq, TRADES, ambiguous_bars=3)
    assert m.bars == 10
    assert m.periods_per_year == pytest.approx(365.25 * 24)
    assert m.total_return == pytest.approx(0.07)
    assert m.sharpe == pytest.approx(annualised_sharpe(eq))
    assert m.max_drawdown == pytest.approx(-0.25)
    assert m.max_drawdown_recovery is None
    assert (m.trades_real, m.trades_sim, m.trades_tracked) == (4, 1, 2)
    assert m.profit_factor == pytest.approx(5.0)
    assert m.exposure == pytest.approx(0.1)  # every real trade is open on bar 0 only
    assert m.ambiguous_bars == 3
    d = m.to_dict()
    assert json.loads(json.dumps(d, allow_nan=False)) == d
    assert d["start"] == "2024-01-01T00:00:00+00:00"
    assert d["max_drawdown_peak"] == "2024-01-01T01:00:00+00:00"
    assert d["max_drawdown_recovery"] is None
    assert d["max_drawdown_duration"] == "P0DT8H0M0S"
    assert d["exit_reasons"]["real"]["take_profit"] == 2


def test_to_dict_maps_non_finite_to_none() -> None:
    m = summarize(curve([100.0, 101.0, 102.0]), table(trade(pnl=5.0)))
    d = m.to_dict()
    assert m.profit_factor == math.inf
    assert m.sortino == math.inf
    assert d["profit_factor"] is None
    assert d["sortino"] is None
    assert d["calmar"] is None
    json.dumps(d, allow_nan=False)


# --------------------------------------------------------------------------- properties

positive = st.floats(min_value=1e-3, max_value=1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(st.lists(positive, min_size=1, max_size=40))
def test_drawdown_bounded_and_total_return_consistent(values: list[float]) -> None:
    eq = curve(values, HOUR)
    dd = max_drawdown(eq)
    assert -1.0 <= dd.depth <= 0.0
    assert dd.peak_time <= dd.trough_time
    assert dd.depth == pytest.approx(
        min(v / max(values[: i + 1]) - 1 for i, v in enumerate(values))
    )
    assert total_return(eq) == pytest.approx(values[-1] / values[0] - 1)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(positive, min_size=3, max_size=40),
    st.floats(min_value=1e-3, max_value=1e3),
)
def test_returns_metrics_ignore_the_scale_of_equity(values: list[float], k: float) -> None:
    eq = curve(values, HOUR)
    scaled = eq * k
    for metric in (total_return, cagr, annualised_sharpe, annualised_sortino):
        a, b = metric(eq), metric(scaled)
        assert (a == b) or a == pytest.approx(b, rel=1e-6, abs=1e-9)
    assert max_drawdown(scaled).depth == pytest.approx(max_drawdown(eq).depth, abs=1e-12)


def test_exposure_matches_a_bar_loop() -> None:
    rng = np.random.default_rng(7)
    entries = rng.integers(-3, 60, 40)
    rows = [trade(entry=int(e), exit_=int(e + rng.integers(0, 8))) for e in entries]
    bars = pd.date_range(T0, periods=60, freq="h")
    trades = table(*rows)
    loop = np.mean([any(r["entry_time"] <= t < r["exit_time"] for r in rows) for t in bars])
    assert exposure(trades, bars) == pytest.approx(loop)


def test_rounding_noise_is_not_risk() -> None:
    steady = curve([100.0 * 1.001**i for i in range(30)], HOUR)  # constant growth
    assert annualised_sharpe(steady) == math.inf
    assert annualised_sortino(steady) == math.inf
    # a flat curve against a positive risk-free rate loses it every bar, without risk
    assert annualised_sharpe(curve([100.0] * 5), risk_free=0.05) == -math.inf
