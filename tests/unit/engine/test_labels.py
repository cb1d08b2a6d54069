"""Labels are what the lifecycle makes of a decision: they match the session's trades."""

from __future__ import annotations

import numpy as np
import pytest

from tests.unit.trading.test_session import FEE, _agents, _market_panel
from tradewind.config.models import FillsConfig, LifecycleConfig, SessionConfig
from tradewind.engine.labels import label_nominations, label_setups
from tradewind.engine.records import ExitReason, Status
from tradewind.trading.session import Session


@pytest.fixture(scope="module")
def session() -> Session:
    s = Session(
        _market_panel(days=30),
        _agents(),
        session=SessionConfig(open_risk_cap=0.05),
        lifecycle=LifecycleConfig(),
        fills=FillsConfig(fee=FEE, slippage=0.0005),
    )
    s.run()
    return s


def test_each_setup_label_is_the_trade_the_session_made_of_it(session: Session) -> None:
    ev = session.events
    labels = label_setups(
        ev.t,
        ev.agent,
        ev.pair,
        session.agent_side[ev.agent],
        ev.ref,
        ev.stop,
        ev.target,
        session.panel.values,
        session.fields,
        session.panel.mask,
        session.params,
        horizon=0,
        bar_at=session.bar_at,
        trail=session.trail,
        trail_offset=session.trail_offset,
        trail_bars=session.trail_bars,
    )
    assert len(labels) == len(ev.t)
    index = {
        (int(a), int(p), int(t)): e
        for e, (a, p, t) in enumerate(zip(ev.agent, ev.pair, ev.t, strict=True))
    }
    tr = session.trades[: session.n_trades]
    done = tr[(tr["status"] == Status.CLOSED) & (tr["exit_reason"] != ExitReason.DATA_END)]
    assert len(done) > 30
    for k in done:
        lab = labels[index[(int(k["agent"]), int(k["pair"]), int(k["nominated_t"]))]]
        assert (lab["entry_t"], lab["known_t"], lab["exit_reason"]) == (
            k["entry_t"],
            k["exit_t"],
            k["exit_reason"],
        )
        assert lab["exit_price"] == pytest.approx(k["exit_price"], rel=1e-12)
        risk = k["qty"] * abs(k["entry_price"] - k["initial_stop"])
        assert lab["r_multiple"] == pytest.approx(k["pnl"] / risk, rel=1e-9, abs=1e-12)
        assert lab["ret"] == pytest.approx(k["pnl"] / k["cost"], rel=1e-9, abs=1e-12)
        assert lab["win"] == (k["pnl"] > 0)
        assert lab["mae_r"] <= 0.0
    # The outcome is known only after the decision: a split can purge on it.
    entered = labels[labels["entered"] == 1]
    assert (entered["known_t"] > entered["t"]).all()


def test_horizon_ends_open_trades_and_nominations_label_the_window() -> None:
    panel = _market_panel(days=20)
    from tradewind.trading.cycle import lifecycle_params

    params = lifecycle_params(LifecycleConfig(), FillsConfig(), panel.timeframe)
    fields = np.array([0, 1, 2, 3, 4])
    rows = np.arange(24, 24 * 15, 24) - 1
    labels = label_nominations(
        rows,
        panel.values,
        fields,
        panel.mask,
        params,
        limit_mult=1.005,
        window_mult=0.92,
        expiry=24,
        horizon=24 * 5,
    )
    assert len(labels) == int(panel.mask[rows].sum())
    reasons = set(labels["exit_reason"].tolist())
    assert ExitReason.EXPIRED in reasons  # some windows never broke out
    assert (labels["known_t"] - labels["t"] <= 24 * 5).all()
    filled = labels[labels["entered"] == 1]
    assert len(filled) > 10
    assert (filled["entry_t"] <= filled["t"] + 24).all()
    # Limit fills at the level or the open above it: never below p0 × 1.005 for an upside.
    p0 = panel.values[filled["t"], filled["pair"], 3]
    up = filled["entry_price"] >= p0
    assert (filled["entry_price"][up] >= p0[up] * 1.005 - 1e-9).all()


def test_a_simulated_nomination_is_the_trade_the_cycle_trader_made_of_it() -> None:
    # Optimisation and labels judge a nomination by simulate_nominations: it must be the
    # very trade the cycle trader makes — same window, entry, exits — whatever its size.
    from tradewind.config.models import CycleConfig
    from tradewind.engine.labels import simulate_nominations
    from tradewind.strategies.nominators import make_nominator
    from tradewind.trading.cycle import CycleTrader, lifecycle_params

    panel = _market_panel(days=40)
    lifecycle = LifecycleConfig(take_profit=1.06, trail_activation=1.02, expiry="12h")
    fills = FillsConfig()
    trader = CycleTrader(
        panel,
        cycle=CycleConfig(pairs_per_cycle=2, dry_run_loss_threshold=0),
        lifecycle=lifecycle,
        fills=fills,
        nominator=make_nominator("random", top_n=3),
        rng=np.random.default_rng(3),
    )
    trader.run()
    tr = trader.trades[: trader.n_trades]
    # Trades without reinvestment legs (a leg moves the average entry) or conversions.
    mine = tr[(tr["parent"] < 0) & (tr["legs"] <= 1) & (tr["status"] != Status.PENDING)]
    assert len(mine) > 20
    params = lifecycle_params(lifecycle, fills, panel.timeframe)
    sim = simulate_nominations(
        mine["nominated_t"],
        mine["pair"],
        panel.values,
        np.array([0, 1, 2, 3, 4]),
        panel.mask,
        params,
        limit_mult=lifecycle.limit,
        window_mult=lifecycle.window_stop,
        expiry=12,
        horizon=0,
    )
    entered = mine["entry_t"] >= 0
    assert (sim["entered"] == entered).all()
    assert (sim["entry_t"][entered] == mine["entry_t"][entered]).all()
    assert np.allclose(sim["entry_price"][entered], mine["entry_price"][entered])
    closed = mine["status"] == Status.CLOSED
    assert (sim["exit_reason"][closed] == mine["exit_reason"][closed]).all()
    assert np.allclose(sim["exit_price"][closed], mine["exit_price"][closed])
    assert np.allclose(sim["ret"][closed], mine["pnl"][closed] / mine["cost"][closed])
