"""Risk-based sizing and the open-risk cap of the modular trader's session (seed 004).

Open risk is what the account loses if every open trade hits its stop. A new trade is
sized to risk a fixed fraction of equity between its entry and its stop, capped by the
agent's budget and the exchange's rules, and refused when taking it would lift the open
risk above the cap. Pure functions: the session feeds them its book.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tradewind.errors import ConfigError

__all__ = ["Sizing", "open_risk", "risk_size"]


@dataclass(frozen=True, slots=True)
class Sizing:
    """A sized order: ``qty`` units costing ``cost`` (fees included) and risking ``risk``;
    ``qty = 0`` with ``reason`` when it cannot be placed."""

    qty: float
    cost: float
    risk: float
    reason: str = ""


def open_risk(
    side: np.ndarray, qty: np.ndarray, price: np.ndarray, stop: np.ndarray, fee: float = 0.0
) -> float:
    """Loss if every open position (arrays, one row each) exited at its stop, after the exit
    fee, measured from the current ``price``; a stop already past the price risks nothing
    more."""
    move = np.where(side > 0, price - stop, stop - price)
    loss = qty * np.maximum(move, 0.0) + qty * stop * fee
    return float(loss.sum())


def risk_size(
    *,
    equity: float,
    risk_fraction: float,
    entry: float,
    stop: float,
    side: int,
    budget: float,
    fee: float = 0.0,
    lot_step: float = 0.0,
    min_notional: float = 0.0,
    open_risk_now: float = 0.0,
    open_risk_cap: float = math.inf,
) -> Sizing:
    """Size a trade to risk ``risk_fraction × equity`` between ``entry`` and ``stop``.

    The quantity is then capped by ``budget`` (capital the agent can commit, fees
    included), rounded down to ``lot_step``, and refused below ``min_notional`` or when
    ``open_risk_now`` plus its risk would exceed ``open_risk_cap × equity``.
    """
    if not 0 < risk_fraction <= 1:
        raise ConfigError(f"risk_fraction = {risk_fraction!r} must be in (0, 1]")
    per_unit = (entry - stop) if side > 0 else (stop - entry)
    if per_unit <= 0 or entry <= 0:
        return Sizing(0.0, 0.0, 0.0, "stop on the wrong side of the entry")
    per_unit += (entry + stop) * fee  # both fills' fees are part of the loss at the stop
    qty = risk_fraction * equity / per_unit
    qty = min(qty, budget / (entry * (1.0 + fee)))
    if lot_step > 0:
        qty = math.floor(qty / lot_step + 1e-9) * lot_step
    if qty <= 0 or qty * entry < min_notional:
        return Sizing(0.0, 0.0, 0.0, "below the exchange's minimum order")
    risk = qty * per_unit
    if open_risk_now + risk > open_risk_cap * equity + 1e-12:
        return Sizing(0.0, 0.0, risk, "open-risk cap")
    return Sizing(qty, qty * entry * (1.0 + fee), risk)
