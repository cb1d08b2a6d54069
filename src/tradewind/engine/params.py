"""The lifecycle's parameter tuple from the validated configuration (both traders')."""

from __future__ import annotations

from tradewind.config.models import FillsConfig, LifecycleConfig
from tradewind.domain.types import Timeframe, duration_bars
from tradewind.engine.lifecycle import LIFECYCLE_PARAMS, Params

__all__ = ["lifecycle_params"]


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
    }
    return tuple(float(values[name]) for name in LIFECYCLE_PARAMS)
