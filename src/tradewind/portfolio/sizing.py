"""Position sizing: how a cycle's budget is split among the pairs it trades (seed §5.3).

Pure functions returning weights that sum to at most 1 (what is not allocated stays in
``main``). Every input is known at decision time: volatilities from candles up to the
decision bar, the edge from trades already closed.
"""

from __future__ import annotations

import numpy as np

from tradewind.errors import ConfigError

__all__ = [
    "SIZING_METHODS",
    "equal_weights",
    "inverse_volatility_weights",
    "kelly_weights",
    "realised_volatility",
]

SIZING_METHODS = ("equal", "inverse_volatility", "kelly")
#: Closed trades needed before a Kelly edge estimate is trusted; fewer → equal split.
MIN_KELLY_TRADES = 20


def equal_weights(n: int) -> np.ndarray:
    """The seed's rule: every chosen pair gets the same share."""
    if n < 0:
        raise ConfigError(f"cannot split among {n} pairs")
    return np.full(n, 1.0 / n) if n else np.zeros(0)


def realised_volatility(
    close: np.ndarray, valid: np.ndarray, pairs: np.ndarray, t: int, bars: int
) -> np.ndarray:
    """Standard deviation of log returns over the ``bars`` candles up to ``t`` per pair.

    ``close`` and ``valid`` are (pair, time); missing candles are skipped, so a gap does
    not create a fake jump. NaN where fewer than two returns exist.
    """
    start = max(0, t - bars)
    out = np.full(len(pairs), np.nan)
    for k, p in enumerate(pairs):
        window = close[p, start : t + 1][valid[p, start : t + 1]]
        if len(window) > 2:
            out[k] = float(np.std(np.diff(np.log(window)), ddof=1))
    return out


def inverse_volatility_weights(vol: np.ndarray) -> np.ndarray:
    """Weights ∝ 1/σ: smaller positions in riskier pairs; unknown σ gets the median."""
    if len(vol) == 0:
        return np.zeros(0)
    known = np.isfinite(vol) & (vol > 0)
    if not known.any():
        return equal_weights(len(vol))
    filled = np.where(known, vol, np.median(vol[known]))
    inv = 1.0 / filled
    return np.asarray(inv / inv.sum())


def kelly_weights(n: int, returns: np.ndarray, fraction: float) -> np.ndarray:
    """Fractional Kelly on the edge estimated from closed trades' returns (P/L ÷ cost).

    Kelly for a win/loss bet: ``f* = p − (1 − p) / b`` with win rate ``p`` and payoff ratio
    ``b`` (mean win ÷ mean loss). The cycle deploys ``fraction × f*`` of its budget
    (clipped to [0, 1]), split equally; with fewer than ``MIN_KELLY_TRADES`` trades, or no
    losses yet, the edge is unknown and the split is equal.
    """
    if n == 0:
        return np.zeros(0)
    returns = returns[np.isfinite(returns)]
    wins, losses = returns[returns > 0], returns[returns < 0]
    if len(returns) < MIN_KELLY_TRADES or len(losses) == 0 or len(wins) == 0:
        return equal_weights(n)
    p = len(wins) / len(returns)
    b = float(wins.mean() / -losses.mean())
    deployed = float(np.clip(fraction * (p - (1.0 - p) / b), 0.0, 1.0))
    return np.full(n, deployed / n)
