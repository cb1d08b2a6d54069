"""The cycle trader on hand-made markets: cycles, divestment, the dry-run switch."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradewind.backtest.run import _cycle_table, _ledger_table, _trade_tables, mode_switches
from tradewind.config.models import CycleConfig, FillsConfig, LifecycleConfig
from tradewind.data.panel import Panel
from tradewind.domain.types import Timeframe
from tradewind.strategies.nominators import RandomNominator
from tradewind.trading.cycle import CycleTrader, decision_bars

HOUR = 3_600_000_000_000
START = pd.Timestamp("2024-01-01", tz="UTC")


class Market:
    """Hourly candles of a few pairs, flat unless told otherwise."""

    def __init__(self, pairs: int, days: int) -> None:
        self.n = days * 24
        self.bars = np.full((self.n, pairs, 4), 100.0)

    def flat(self, pair: int, start: int, price: float) -> None:
        self.bars[start:, pair, :] = price

    def bar(self, pair: int, row: int, o: float, h: float, lo: float, c: float) -> None:
        self.bars[row, pair] = (o, h, lo, c)

    def panel(self) -> Panel:
        values = np.concatenate([self.bars, np.ones((*self.bars.shape[:2], 1))], axis=2)
        stamps = START.value + np.arange(self.n, dtype=np.int64) * HOUR
        symbols = tuple(f"P{i}USDT" for i in range(self.bars.shape[1]))
        return Panel(
            Timeframe.parse("1h"),
            stamps,
            symbols,
            ("open", "high", "low", "close", "volume"),
            values,
            np.ones(self.bars.shape[:2], dtype=bool),
        )


def trader(panel: Panel, **cycle: object) -> CycleTrader:
    return CycleTrader(
        panel,
        cycle=CycleConfig(capital=1000.0, **cycle),  # type: ignore[arg-type]
        lifecycle=LifecycleConfig(),
        fills=FillsConfig(fee=0.0, slippage=0.0),
        nominator=RandomNominator(top_n=5),
        rng=np.random.default_rng(0),
    )


def losing_day(m: Market, pair: int, day: int, price: float) -> float:
    """Nominated at 22:00 at ``price``; breaks out at 23:00; stopped out at 00:00."""
    r = day * 24 + 23
    m.bar(pair, r, price, price * 1.006, price, price * 1.004)
    m.bar(pair, r + 1, price * 1.004, price * 1.004, price * 0.97, price * 0.975)
    m.flat(pair, r + 2, price * 0.975)
    return price * 0.975


def test_losing_cycles_switch_to_dry_run_and_a_strong_paper_trade_converts_to_live() -> None:
    m = Market(pairs=1, days=7)
    price = 100.0
    for day in range(3):
        price = losing_day(m, 0, day, price)
    r = 3 * 24 + 23  # the dry-run cycle's breakout
    e = price * 1.005
    m.bar(0, r, price, price * 1.006, price, e * 1.01)
    m.bar(0, r + 1, e * 1.01, e * 1.05, e * 1.0, e * 1.05)
    m.bar(0, r + 2, e * 1.05, e * 1.12, e * 1.04, e * 1.12)  # paper +12 %: convert
    m.bar(0, r + 3, e * 1.12, e * 1.20, e * 1.11, e * 1.18)  # the real entry at this open
    m.bar(0, r + 4, e * 1.18, e * 1.31, e * 1.17, e * 1.30)  # both trail from 1.30
    m.bar(0, r + 5, e * 1.30, e * 1.30, e * 1.25, e * 1.26)  # both stopped at 1.30 × 0.983
    m.flat(0, r + 6, e * 1.26)
    t = trader(m.panel(), pairs_per_cycle=1, dry_run_loss_threshold=3)
    t.run()
    cycles = _cycle_table(t)
    assert list(cycles["mode"][:4]) == ["live", "live", "live", "dry_run"]
    assert (cycles["pnl"][:3] < 0).all()
    assert cycles["converted_time"].iloc[3] == START + pd.Timedelta(hours=r + 2)
    assert cycles["next_mode"].iloc[3] == "live"
    assert cycles["pnl"].iloc[3] > 0
    switches = mode_switches(cycles)
    assert [(s["cycle"], s["to"]) for s in switches[:2]] == [(3, "dry_run"), (3, "live")]
    assert switches[1]["reason"] == "paper trade passed the live threshold"
    trades, _ = _trade_tables(t)
    paper = trades.loc[trades["sim_reason"] == "dry_run"].iloc[0]
    real = trades.loc[trades["parent"] == paper["id"]].iloc[0]
    assert real["kind"] == "real"
    assert real["entry_time"] == START + pd.Timedelta(hours=r + 3)
    assert real["entry_price"] == pytest.approx(e * 1.12)
    assert real["exit_price"] == pytest.approx(e * 1.30 * 0.983)
    assert paper["exit_reason"] == real["exit_reason"] == "trail_stop"
    ledger = _ledger_table(t)
    assert (ledger.loc[ledger["reason"] == "convert", "book"] == "real").all()
    assert ledger.loc[ledger["reason"] == "convert", "amount"].sum() == pytest.approx(
        1000.0 + cycles["pnl"][:3].sum()
    )
    # the real money never moved during the paper cycle before the conversion
    before = ledger.loc[
        (ledger["time"] < START + pd.Timedelta(hours=r + 2))
        & (ledger["time"] > START + pd.Timedelta(days=3))
    ]
    assert set(before.loc[before["book"] == "real", "reason"]) <= {"cycle_end"}


def test_a_losing_paper_cycle_extends_the_dry_run() -> None:
    m = Market(pairs=1, days=6)
    price = 100.0
    for day in range(2):
        price = losing_day(m, 0, day, price)
    r = 2 * 24 + 23
    e = price * 1.005
    m.bar(0, r, price, price * 1.006, price, e * 1.01)
    m.bar(0, r + 1, e * 1.01, e * 1.06, e * 1.0, e * 1.06)
    m.bar(0, r + 2, e * 1.06, e * 1.06, e * 0.9, e * 0.95)  # stopped at e × 0.983
    m.flat(0, r + 3, e * 0.95)
    t = trader(m.panel(), pairs_per_cycle=1, dry_run_loss_threshold=2)
    t.run()
    cycles = _cycle_table(t)
    assert list(cycles["mode"][:3]) == ["live", "live", "dry_run"]
    assert cycles["converted_time"].isna().all()
    # the paper trade was stopped at entry × 0.983: a losing paper cycle extends the streak
    assert cycles["paper_pnl"].iloc[2] < 0
    assert cycles["next_mode"].iloc[2] == "dry_run"
    assert cycles["pnl"].iloc[2] == 0.0


def test_a_paper_cycle_ending_in_profit_ends_the_dry_run() -> None:
    m = Market(pairs=1, days=6)
    price = 100.0
    for day in range(2):
        price = losing_day(m, 0, day, price)
    r = 2 * 24 + 23
    e = price * 1.005
    m.bar(0, r, price, price * 1.006, price, e * 1.01)
    m.bar(0, r + 1, e * 1.01, e * 1.12, e * 1.0, e * 1.12)  # trail from 1.12
    m.bar(0, r + 2, e * 1.12, e * 1.12, e * 0.9, e * 0.95)  # trail stop: a paper profit
    m.flat(0, r + 3, e * 0.95)
    t = trader(m.panel(), pairs_per_cycle=1, dry_run_loss_threshold=2, convert_mid_cycle=False)
    t.run()
    cycles = _cycle_table(t)
    assert list(cycles["mode"][:4]) == ["live", "live", "dry_run", "live"]
    assert cycles["converted_time"].isna().all()
    trades, _ = _trade_tables(t)
    paper = trades.loc[trades["sim_reason"] == "dry_run"].iloc[0]
    assert paper["exit_price"] == pytest.approx(e * 1.12 * 0.983)
    assert cycles["paper_pnl"].iloc[2] == pytest.approx(paper["pnl"])
    assert paper["pnl"] > 0
    assert cycles["pnl"].iloc[2] == 0.0


def test_losses_are_reinvested_into_the_cycles_winners() -> None:
    m = Market(pairs=2, days=3)
    r = 23
    m.bar(0, r, 100, 100.6, 100, 100.4)  # pair 0 breaks out, then is stopped
    m.bar(0, r + 1, 100.4, 100.4, 97, 97.5)
    m.flat(0, r + 2, 97.5)
    m.bar(1, r, 100, 100.6, 100, 100.5)  # pair 1 breaks out and rises 2 %
    m.bar(1, r + 1, 100.5, 102.6, 100.4, 102.51)
    m.bar(1, r + 2, 103.0, 103.5, 102.8, 103.2)  # the reinvestment fills at this open
    m.flat(1, r + 3, 103.2)
    t = trader(m.panel(), pairs_per_cycle=2, reinvest_threshold=0.01, min_reinvest=1.0)
    t.run()
    trades, _ = _trade_tables(t)
    ledger = _ledger_table(t)
    loser = trades.loc[trades["pair"] == "P0USDT"].iloc[0]
    winner = trades.loc[trades["pair"] == "P1USDT"].iloc[0]
    proceeds = loser["cost"] + loser["pnl"]
    reinvest = ledger.loc[ledger["reason"] == "reinvest"]
    assert reinvest["amount"].sum() == pytest.approx(proceeds)
    assert (reinvest["trade"] == winner["id"]).all()
    assert winner["legs"] == 2
    assert winner["cost"] == pytest.approx(500.0 + proceeds)
    qty1, qty2 = 500.0 / 100.5, proceeds / 103.0
    assert winner["entry_price"] == pytest.approx((qty1 * 100.5 + qty2 * 103.0) / (qty1 + qty2))
    # stop and target stay at the first leg's levels
    assert winner["exit_reason"] == "data_end"
    assert ledger.loc[ledger["reason"] == "close_loss", "to"].tolist() == ["divestment"]
    # the example ledger in docs/engine.md is this scenario
    amounts = ledger.set_index("reason")["amount"].round(2)
    assert amounts["loss"] == 8.50
    assert amounts["reinvest"] == 491.50
    assert amounts["close_profit"] == 991.50
    assert amounts["profit"] == 14.39


def test_decision_bars_are_the_last_closed_candle_before_the_decision_time() -> None:
    stamps = START.value + np.arange(72, dtype=np.int64) * HOUR
    rows = decision_bars(stamps, Timeframe.parse("1h"), "23:55")
    assert rows.tolist() == [22, 46, 70]  # the 22:00 candle closes at 23:00
    five = START.value + np.arange(2 * 288, dtype=np.int64) * 300_000_000_000
    assert decision_bars(five, Timeframe.parse("5m"), "23:55").tolist() == [286, 574]


def test_allocations_below_the_minimum_are_followed_as_no_budget_sims() -> None:
    m = Market(pairs=2, days=3)
    losing_day(m, 0, 0, 100.0)
    losing_day(m, 1, 0, 100.0)
    t = trader(m.panel(), pairs_per_cycle=2, min_allocation=600.0)
    t.run()
    trades, _ = _trade_tables(t)
    first = trades.loc[trades["cycle"] == 0]
    assert set(first["kind"]) == {"sim"}
    assert set(first["sim_reason"]) == {"no_budget"}
    ledger = _ledger_table(t)
    assert set(ledger["reason"]) == {"initial"}  # no real money moved


def test_a_cycle_that_traded_nothing_neither_extends_nor_resets_the_streak() -> None:
    m = Market(pairs=1, days=8)
    price = 100.0
    price = losing_day(m, 0, 0, price)
    # day 1: no breakout within 24 h — the nomination expires, the cycle has no P/L
    m.flat(0, 1 * 24 + 23, price)
    price = losing_day(m, 0, 3, price)  # the next breakout comes on day 3
    t = trader(m.panel(), pairs_per_cycle=1, dry_run_loss_threshold=2)
    t.run()
    cycles = _cycle_table(t)
    assert cycles["pnl"].iloc[0] < 0
    assert cycles["pnl"].iloc[1] == 0.0  # expired
    assert cycles["pnl"].iloc[2] < 0
    # two losing cycles around an empty one: the streak reached 2, so paper trading follows
    assert cycles["next_mode"].iloc[2] == "dry_run"
