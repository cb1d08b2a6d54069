"""Budget conservation (DESIGN §4.1) over random markets, settings and event sequences.

After every bar: for each book the accounts sum to the starting capital (pools = capital +
realised P/L), no pool is negative, ``active`` equals the open positions at cost (plus
reinvestment legs waiting for their fill) and ``pre_trade`` the capital reserved by
waiting nominations.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradewind.config.models import CycleConfig, FillsConfig, LifecycleConfig
from tradewind.data.markets import MarketRules
from tradewind.data.panel import Panel
from tradewind.domain.types import Timeframe
from tradewind.engine.records import Kind, Pool, Status
from tradewind.strategies.nominators import RandomNominator
from tradewind.trading import cycle_kernel as ck
from tradewind.trading.cycle import CycleTrader, decision_bars

CAPITAL = 1000.0
TOL = 1e-7 * CAPITAL


def random_panel(seed: int, pairs: int, days: int, gap_rate: float) -> Panel:
    rng = np.random.default_rng(seed)
    n = days * 24
    ret = rng.normal(0.0005, 0.02, (n, pairs))
    close = 100 * np.exp(np.cumsum(ret, axis=0))
    open_ = np.vstack([np.full((1, pairs), 100.0), close[:-1]])
    wick = np.abs(rng.normal(0, 0.01, (n, pairs)))
    high = np.maximum(open_, close) * (1 + wick)
    low = np.minimum(open_, close) * (1 - wick)
    volume = rng.lognormal(1.0, 1.0, (n, pairs))
    values = np.stack([open_, high, low, close, volume], axis=2)
    mask = rng.random((n, pairs)) >= gap_rate
    values[~mask] = np.nan
    stamps = np.datetime64("2024-01-01", "ns").astype(np.int64) + np.arange(n) * 3_600_000_000_000
    return Panel(
        Timeframe.parse("1h"),
        stamps,
        tuple(f"P{i}USDT" for i in range(pairs)),
        ("open", "high", "low", "close", "volume"),
        values,
        mask,
    )


def check_books(trader: CycleTrader) -> None:
    pools = trader.pools
    n = trader.n_trades
    tr = trader.trades[:n]
    # double entry: every movement has two sides, so each book's accounts sum to zero
    assert abs(pools[0].sum()) < TOL
    assert abs(pools[1].sum()) < TOL
    assert (pools[:, : Pool.PNL] >= -TOL).all(), pools
    real_closed = (tr["kind"] == Kind.REAL) & (tr["status"] == Status.CLOSED)
    assert abs(pools[0, : Pool.PNL].sum() - (CAPITAL + tr["pnl"][real_closed].sum())) < TOL
    book = np.array(
        [ck.book_of(int(k), int(r)) for k, r in zip(tr["kind"], tr["reason"], strict=True)],
        dtype=np.int64,
    )
    for b in (0, 1):
        open_ = (tr["status"] == Status.ACTIVE) & (book == b)
        waiting = (tr["status"] == Status.PENDING) & (book == b)
        expected_active = float((tr["cost"][open_] + tr["pending_add"][open_]).sum())
        assert abs(pools[b, Pool.ACTIVE] - expected_active) < TOL
        assert abs(pools[b, Pool.PRE_TRADE] - float(tr["alloc"][waiting].sum())) < TOL


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    pairs=st.integers(1, 4),
    days=st.integers(3, 8),
    gap_rate=st.sampled_from([0.0, 0.05]),
    k=st.integers(1, 3),
    take_profit=st.floats(1.01, 1.2),
    stop_loss=st.floats(0.95, 0.995),
    activation=st.floats(1.005, 1.08),
    reinvest=st.floats(0.0, 0.02),
    min_reinvest=st.sampled_from([0.0, 5.0, 50.0]),
    losses=st.integers(0, 3),
    to_live=st.floats(0.005, 0.05),
    convert=st.booleans(),
    split=st.sampled_from(["equal", "profit"]),
    sizing=st.sampled_from(["equal", "inverse_volatility", "kelly"]),
    breakout=st.sampled_from(["both", "up"]),
    fee=st.sampled_from([0.0, 0.0015]),
    volume_share=st.sampled_from([0.0, 0.5]),
    lot=st.sampled_from([0.0, 0.01, 0.5]),
    min_notional=st.sampled_from([0.0, 50.0]),
)
def test_pools_plus_positions_always_equal_capital(
    seed: int,
    pairs: int,
    days: int,
    gap_rate: float,
    k: int,
    take_profit: float,
    stop_loss: float,
    activation: float,
    reinvest: float,
    min_reinvest: float,
    losses: int,
    to_live: float,
    convert: bool,
    split: str,
    sizing: str,
    breakout: str,
    fee: float,
    volume_share: float,
    lot: float,
    min_notional: float,
) -> None:
    panel = random_panel(seed, pairs, days, gap_rate)
    trader = CycleTrader(
        panel,
        cycle=CycleConfig(
            capital=CAPITAL,
            pairs_per_cycle=k,
            reinvest_threshold=reinvest,
            min_reinvest=min_reinvest,
            dry_run_loss_threshold=losses,
            dry_run_to_live_threshold=to_live,
            convert_mid_cycle=convert,
            reinvest_split=split,
            sizing=sizing,
            volatility_lookback="1d",  # type: ignore[arg-type]
        ),
        lifecycle=LifecycleConfig(
            take_profit=take_profit,
            stop_loss=stop_loss,
            trail_activation=activation,
            breakout=breakout,
            expiry="12h",
            track_horizon="1d",  # type: ignore[arg-type]
        ),
        fills=FillsConfig(fee=fee, slippage=0.0005, max_volume_share=volume_share),
        nominator=RandomNominator(top_n=3),
        rng=np.random.default_rng(seed),
        rules={
            s: MarketRules(lot_step=lot, tick=0.01, min_notional=min_notional)
            for s in panel.symbols
        },
    )
    decisions = set(decision_bars(panel.timestamps, panel.timeframe, "23:55").tolist())
    for t in range(len(panel.timestamps)):
        trader.step(t + 1)
        if t in decisions and t < len(panel.timestamps) - 1:
            trader.decide(t)
        check_books(trader)
    tr = trader.trades[: trader.n_trades]
    # every trade ends: closed, expired, or still tracking after the data
    assert not ((tr["status"] == Status.ACTIVE) | (tr["status"] == Status.PENDING)).any()
    real = tr[(tr["kind"] == Kind.REAL) & (tr["status"] == Status.CLOSED)]
    assert abs(trader.equity[-1] - (CAPITAL + real["pnl"].sum())) < 1e-6 * CAPITAL
