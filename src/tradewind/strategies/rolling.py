"""Rolling extremes over the PREVIOUS ``lookback`` values, in O(n) for any ``lookback``.

A channel of 200 bars over a panel of hundreds of pairs makes the naive O(n * lookback)
window scan the cost of a whole backtest step; the van Herk / Gil-Werman block scheme
costs three comparisons per value, whatever ``lookback`` is.

The window at ``t`` is ``x[t - lookback : t]``: it EXCLUDES ``x[t]``, because a strategy
compares bar ``t`` against the channel formed before it. ``out[t]`` is NaN for
``t < lookback``. Input must be NaN-free (the strategies pass each pair's existing candles
only); a NaN would compare false and silently corrupt the running extremes.

The ``_``-prefixed kernels are for other numba code; :func:`rolling_max` and
:func:`rolling_min` validate their arguments for Python callers.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tradewind.errors import ConfigError

__all__ = ["rolling_max", "rolling_min"]


@njit(cache=True)
def _rolling_extreme(x: np.ndarray, lookback: int, sign: float) -> np.ndarray:
    # van Herk / Gil-Werman: cut x into blocks of ``lookback``; a window of that length
    # spans the tail of one block and the head of the next, so its extreme is the larger
    # of a suffix extreme and a prefix extreme. Three branch-free passes beat a monotonic
    # deque, whose data-dependent pops mispredict on price series.
    # ``sign`` folds min into max (max of -x); multiplying by +-1.0 is exact, so the
    # result is bit-identical to a direct max / min.
    n = len(x)
    out = np.full(n, np.nan)
    if n <= lookback:
        return out
    prefix = np.empty(n)  # sign * max of x from the start of i's block to i
    suffix = np.empty(n)  # sign * max of x from i to the end of i's block
    for start in range(0, n, lookback):
        stop = min(start + lookback, n)
        m = sign * x[start]
        prefix[start] = m
        for i in range(start + 1, stop):
            v = sign * x[i]
            m = v if v > m else m
            prefix[i] = m
        m = sign * x[stop - 1]
        suffix[stop - 1] = m
        for i in range(stop - 2, start - 1, -1):
            v = sign * x[i]
            m = v if v > m else m
            suffix[i] = m
    for t in range(lookback, n):
        a = suffix[t - lookback]
        b = prefix[t - 1]
        out[t] = sign * (a if a > b else b)
    return out


@njit(cache=True)
def _rolling_max(x: np.ndarray, lookback: int) -> np.ndarray:
    return _rolling_extreme(x, lookback, 1.0)


@njit(cache=True)
def _rolling_min(x: np.ndarray, lookback: int) -> np.ndarray:
    return _rolling_extreme(x, lookback, -1.0)


def _prepare(x: np.ndarray, lookback: int) -> tuple[np.ndarray, int]:
    if isinstance(lookback, bool) or not isinstance(lookback, int | np.integer) or lookback < 1:
        raise ConfigError(f"lookback = {lookback!r} must be a whole number >= 1")
    arr = np.ascontiguousarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"x must be 1-D, got shape {arr.shape}")
    return arr, int(lookback)


def rolling_max(x: np.ndarray, lookback: int) -> np.ndarray:
    """``out[t] = max(x[t - lookback : t])`` (bar ``t`` excluded), NaN for ``t < lookback``."""
    arr, lb = _prepare(x, lookback)
    out: np.ndarray = _rolling_max(arr, lb)
    return out


def rolling_min(x: np.ndarray, lookback: int) -> np.ndarray:
    """``out[t] = min(x[t - lookback : t])`` (bar ``t`` excluded), NaN for ``t < lookback``."""
    arr, lb = _prepare(x, lookback)
    out: np.ndarray = _rolling_min(arr, lb)
    return out
