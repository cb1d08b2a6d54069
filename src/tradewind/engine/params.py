"""The lifecycle's parameter tuple from the validated configuration (both traders')."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tradewind.config.models import FillsConfig, LifecycleConfig
from tradewind.domain.types import Timeframe, duration_bars
from tradewind.engine.lifecycle import LIFECYCLE_PARAMS, Params

__all__ = ["THETA", "RegimeParams", "lifecycle_params", "theta_of"]

#: A cycle-trader nomination's own lifecycle parameters, in this order: what
#: `tradewind optimize` tunes per regime cluster (``expiry_bars`` in bars of the run).
THETA = (
    "limit",
    "window_stop",
    "expiry_bars",
    "take_profit",
    "stop_loss",
    "trail_activation",
    "trail_distance",
)
T_LIMIT, T_WSTOP, T_EXPIRY, T_TP, T_SL, T_ACT, T_TRAIL = range(7)


def lifecycle_params(
    lifecycle: LifecycleConfig, fills: FillsConfig, timeframe: Timeframe
) -> Params:
    """The parameter tuple of the lifecycle kernels, in ``LIFECYCLE_PARAMS`` order."""
    values = {
        "fee": fills.fee,
        "slippage": fills.slippage,
        "take_profit": lifecycle.take_profit,
        "stop_loss": lifecycle.stop_loss,
        "trail_activation": lifecycle.trail_activation,
        "trail_distance": lifecycle.trail_distance,
        "trail_on_high": 1.0 if lifecycle.trail_reference == "high" else 0.0,
        "max_hold_bars": float(
            duration_bars(lifecycle.max_hold, timeframe, "lifecycle.max_hold")
            if lifecycle.max_hold
            else 0
        ),
        "track_horizon_bars": float(
            duration_bars(lifecycle.track_horizon, timeframe, "lifecycle.track_horizon")
        ),
        "both_directions": 1.0 if lifecycle.breakout == "both" else 0.0,
        "limit_mult": lifecycle.limit,
        "window_stop_mult": lifecycle.window_stop,
        "expiry_bars": float(duration_bars(lifecycle.expiry, timeframe, "lifecycle.expiry")),
        "max_volume_share": fills.max_volume_share,
        "borrow_per_bar": fills.borrow_rate * timeframe.nanoseconds / 86_400e9,
    }
    return tuple(float(values[name]) for name in LIFECYCLE_PARAMS)


def theta_of(lifecycle: LifecycleConfig, timeframe: Timeframe) -> tuple[float, ...]:
    """The configuration's (static) values of ``THETA``."""
    return (
        lifecycle.limit,
        lifecycle.window_stop,
        float(duration_bars(lifecycle.expiry, timeframe, "lifecycle.expiry")),
        lifecycle.take_profit,
        lifecycle.stop_loss,
        lifecycle.trail_activation,
        lifecycle.trail_distance,
    )


@dataclass(frozen=True)
class RegimeParams:
    """Lifecycle parameters per regime cluster, and each pair's cluster at each decision.

    The cycle trader gives a nomination the parameters of its pair's regime at the decision
    (``theta[cluster]``, ``THETA`` order; NaN keeps the configured value). ``clusters`` is
    computed once for every decision row and pair (the regime model is fixed during a
    run), so many runs share it. ``set_id`` names the registered parameter set and
    ``regime_model`` the regime model whose cluster numbers it uses."""

    set_id: str
    regime_model: str | None
    rows: np.ndarray  #: sorted decision rows
    clusters: np.ndarray  #: (len(rows), pairs) int64; -1 = no cluster (configured values)
    theta: np.ndarray  #: (clusters, len(THETA)) float64

    def at(self, t: int, pairs: np.ndarray) -> np.ndarray:
        """``(len(pairs), len(THETA))`` parameters of nominations at row ``t``."""
        out = np.full((len(pairs), len(THETA)), np.nan)
        i = int(np.searchsorted(self.rows, t))
        if i < len(self.rows) and self.rows[i] == t and len(pairs):
            c = self.clusters[i, pairs]
            ok = c >= 0
            out[ok] = self.theta[c[ok]]
        return out
