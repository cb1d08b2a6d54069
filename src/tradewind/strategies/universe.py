"""Universe selection: which pairs an agent may trade at bar ``t`` (seed 004: top N pairs
by 1-day quote volume, refreshed daily). Causal: only candles up to ``t`` are read."""

from __future__ import annotations

import numpy as np

from tradewind.data.panel import Panel
from tradewind.domain.types import duration_bars
from tradewind.errors import ConfigError

__all__ = ["quote_turnover", "top_by_quote_volume"]


def quote_turnover(panel: Panel, t: int, bars: int) -> np.ndarray:
    """Quote volume of each pair over the ``bars`` candles ending at ``t`` (missing = 0).

    Uses the ``quote_volume`` field where the panel has it and falls back, row by row, to
    ``close × volume`` where it is missing.
    """
    lo = max(0, t - bars + 1)
    closes = panel.field("close")[lo : t + 1]
    estimate = closes * panel.field("volume")[lo : t + 1]
    if "quote_volume" in panel.fields:
        quote = panel.field("quote_volume")[lo : t + 1]
        quote = np.where(np.isnan(quote), estimate, quote)
    else:
        quote = estimate
    return np.asarray(np.nansum(np.where(panel.mask[lo : t + 1], quote, 0.0), axis=0))


def top_by_quote_volume(panel: Panel, t: int, n: int, lookback: str = "1d") -> np.ndarray:
    """Indices of the ``n`` pairs with a candle at ``t`` and most quote volume over
    ``lookback`` up to ``t``, largest first (ties by pair order)."""
    if n < 1:
        raise ConfigError(f"selection pairs = {n!r} must be at least 1")
    if not 0 <= t < len(panel.timestamps):
        raise IndexError(f"row t={t!r} is outside the panel's {len(panel.timestamps)} rows")
    bars = duration_bars(lookback, panel.timeframe, "selection lookback")
    turnover = quote_turnover(panel, t, bars)
    present = np.flatnonzero(panel.mask[t])
    order = np.argsort(-turnover[present], kind="stable")
    return present[order][:n].astype(np.int64)
