"""Universe selection: which pairs an agent may trade at bar ``t`` (seed 004: top N pairs
by 1-day quote volume, refreshed daily). Causal: only candles up to ``t`` are read."""

from __future__ import annotations

import numpy as np
from numba import njit

from tradewind.data.panel import Panel
from tradewind.domain.types import duration_bars
from tradewind.errors import ConfigError

__all__ = [
    "UNIVERSE_METHODS",
    "quote_turnover",
    "select_universe",
    "top_by_quote_volume",
    "universe_ranks",
]


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


_BIG = 1.7976931348623157e308  # what np.nan_to_num makes of an infinity


@njit(cache=True)
def _ranks(
    values: np.ndarray,
    mask: np.ndarray,
    close_f: int,
    volume_f: int,
    quote_f: int,
    rows: np.ndarray,
    n: int,
    bars: int,
) -> np.ndarray:
    """Ranks from the candles themselves: a candle's quote volume is its ``quote_volume``
    (``quote_f`` -1: none), or close × volume where that is missing; NaN counts as 0."""
    n_p = values.shape[1]
    out = np.full((len(rows), n_p), -1, dtype=np.int64)
    turnover = np.zeros(n_p)
    for i in range(len(rows)):
        t = rows[i]
        turnover[:] = 0.0
        for k in range(max(0, t - bars + 1), t + 1):
            for p in range(n_p):
                if mask[k, p]:
                    q = np.nan
                    if quote_f >= 0:
                        q = values[k, p, quote_f]
                    if np.isnan(q):
                        q = values[k, p, close_f] * values[k, p, volume_f]
                    if np.isnan(q):
                        q = 0.0
                    elif q == np.inf:
                        q = _BIG
                    elif q == -np.inf:
                        q = -_BIG
                    turnover[p] += q
        present = np.flatnonzero(mask[t])
        order = np.argsort(-turnover[present], kind="mergesort")  # stable: ties by pair
        for r in range(min(n, len(present))):
            out[i, present[order[r]]] = r
    return out


def universe_ranks(panel: Panel, rows: np.ndarray, n: int, lookback: str = "1d") -> np.ndarray:
    """``(len(rows), pair)``: each pair's rank in the top ``n`` by quote volume over
    ``lookback`` up to each row (0 = busiest; -1 = not selected). Only pairs with a candle at
    the row are selected; equal volumes keep pair order. Causal: row ``t`` reads ``<= t``.
    The quote volume is read in the kernel, candle by candle, over the rows' windows only:
    a node prepares its agents every hour over its whole history."""
    if n < 1:
        raise ConfigError(f"selection pairs = {n!r} must be at least 1")
    rows = np.asarray(rows, dtype=np.int64)
    n_t = len(panel.timestamps)
    if len(rows) and (rows.min() < 0 or rows.max() >= n_t):
        raise IndexError(f"rows outside the panel's {n_t} rows")
    bars = duration_bars(lookback, panel.timeframe, "selection lookback")
    fields = panel.fields
    quote_f = fields.index("quote_volume") if "quote_volume" in fields else -1
    out: np.ndarray = _ranks(
        panel.values,
        panel.mask,
        fields.index("close"),
        fields.index("volume"),
        quote_f,
        rows,
        int(n),
        bars,
    )
    return out


def top_by_quote_volume(panel: Panel, t: int, n: int, lookback: str = "1d") -> np.ndarray:
    """Indices of the ``n`` pairs with a candle at ``t`` and most quote volume over
    ``lookback`` up to ``t``, largest first (ties by pair order)."""
    if not 0 <= t < len(panel.timestamps):
        raise IndexError(f"row t={t!r} is outside the panel's {len(panel.timestamps)} rows")
    ranks = universe_ranks(panel, np.array([t]), n, lookback)[0]
    chosen = np.flatnonzero(ranks >= 0)
    return chosen[np.argsort(ranks[chosen])].astype(np.int64)


def _quote_volume_1d(panel: Panel, rows: np.ndarray, n: int) -> np.ndarray:
    return universe_ranks(panel, rows, n, "1d")


#: Universe selection methods by their config name (``selection.method``): each maps
#: ``(panel, rows, n)`` to ``(len(rows), pair)`` ranks, -1 for pairs left out.
UNIVERSE_METHODS = {"quote_volume_1d": _quote_volume_1d}


def select_universe(method: str, panel: Panel, rows: np.ndarray, n: int) -> np.ndarray:
    """Ranks of the pairs ``method`` selects at each of ``rows`` (see ``UNIVERSE_METHODS``)."""
    try:
        fn = UNIVERSE_METHODS[method]
    except KeyError:
        raise ConfigError(
            f"selection method {method!r} is unknown; known: {', '.join(UNIVERSE_METHODS)}"
        ) from None
    return fn(panel, rows, n)
