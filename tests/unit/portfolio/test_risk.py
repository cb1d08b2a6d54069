from __future__ import annotations

import numpy as np
import pytest

from tradewind.errors import ConfigError
from tradewind.portfolio.risk import open_risk, risk_size


def test_a_trade_risks_its_fraction_of_equity_between_entry_and_stop() -> None:
    s = risk_size(equity=10_000, risk_fraction=0.01, entry=100.0, stop=95.0, side=1, budget=1e9)
    assert s.qty == pytest.approx(20.0)  # 100 of risk / 5 per unit
    assert s.risk == pytest.approx(100.0)
    short = risk_size(
        equity=10_000, risk_fraction=0.01, entry=100.0, stop=104.0, side=-1, budget=1e9
    )
    assert short.qty == pytest.approx(25.0)


def test_fees_budget_lot_size_and_minimum_notional_cap_the_size() -> None:
    s = risk_size(
        equity=10_000, risk_fraction=0.01, entry=100.0, stop=95.0, side=1, budget=1e9, fee=0.001
    )
    assert s.qty == pytest.approx(100.0 / (5.0 + 0.195))
    capped = risk_size(
        equity=10_000,
        risk_fraction=0.01,
        entry=100.0,
        stop=95.0,
        side=1,
        budget=500.0,
        lot_step=0.1,
    )
    assert capped.qty == pytest.approx(5.0)
    assert capped.cost == pytest.approx(500.0)
    tiny = risk_size(
        equity=100,
        risk_fraction=0.001,
        entry=100.0,
        stop=95.0,
        side=1,
        budget=1e9,
        min_notional=10.0,
    )
    assert tiny.qty == 0.0
    assert "minimum" in tiny.reason


def test_the_open_risk_cap_refuses_exactly_the_trades_that_would_breach_it() -> None:
    base = {
        "equity": 10_000,
        "risk_fraction": 0.01,
        "entry": 100.0,
        "stop": 95.0,
        "side": 1,
        "budget": 1e9,
        "open_risk_cap": 0.03,
    }
    assert risk_size(**base, open_risk_now=200.0).qty > 0  # 200 + 100 = 300 = cap
    refused = risk_size(**base, open_risk_now=200.01)
    assert refused.qty == 0.0
    assert refused.reason == "open-risk cap"


def test_open_risk_of_a_book() -> None:
    side = np.array([1, -1, 1])
    qty = np.array([2.0, 1.0, 3.0])
    price = np.array([100.0, 50.0, 10.0])
    stop = np.array([90.0, 55.0, 11.0])  # the last stop is above its price: no more risk
    assert open_risk(side, qty, price, stop) == pytest.approx(2 * 10 + 1 * 5 + 0)


def test_bad_inputs() -> None:
    with pytest.raises(ConfigError):
        risk_size(equity=1, risk_fraction=0, entry=1, stop=0.5, side=1, budget=1)
    wrong = risk_size(equity=1, risk_fraction=0.1, entry=1, stop=2, side=1, budget=1)
    assert wrong.qty == 0.0
