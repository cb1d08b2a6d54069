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
