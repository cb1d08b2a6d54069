"""One pair, one position at a time, entries from a boolean signal: the lifecycle alone.

This is the smallest honest use of the engine — what vectorbt's ``from_signals`` does —
and serves the peer cross-checks and the speed benchmark. A signal at the close of bar
``t`` becomes a market entry at the open of ``t + 1``; while a trade is open, further
signals are ignored. Exits, fills and fees are :func:`~tradewind.engine.lifecycle.step_trade`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tradewind.engine.lifecycle import EV_CLOSED, step_trade
from tradewind.engine.records import Kind, Status, new_trades

__all__ = ["breakout_signal", "simulate_signals"]


@njit(cache=True)
def _simulate(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    valid: np.ndarray,
    entries: np.ndarray,
    side: int,
    alloc: float,
    params: np.ndarray,
    trades: np.ndarray,
) -> int:
    n_t = len(close)
    last = -1
    for t in range(n_t - 1, -1, -1):
        if valid[t]:
            last = t
            break
    n = 0
    current = -1
    for t in range(n_t):
        if current < 0 and t > 0 and entries[t - 1] and valid[t] and n < len(trades):
            tr = trades[n]
            tr.id = n
            tr.side = side
            tr.kind = Kind.REAL
            tr.status = Status.PENDING
            tr.market_entry = 1
            tr.nominated_t = t - 1
            tr.alloc = alloc
            current = n
            n += 1
        if current >= 0:
            tr = trades[current]
            events = step_trade(
                tr, t, open_[t], high[t], low[t], close[t], valid[t], t == last, False, 0, params
            )
            if events & EV_CLOSED:
                current = -1
    return n


def simulate_signals(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    entries: np.ndarray,
    params: np.ndarray,
    *,
    side: int = 1,
    alloc: float = 1.0,
    valid: np.ndarray | None = None,
) -> np.ndarray:
    """Trades (``TRADE_DTYPE`` records) of one pair traded on ``entries``."""
    mask = np.ones(len(close), dtype=np.bool_) if valid is None else valid
    capacity = int(np.count_nonzero(entries)) + 1
    trades = new_trades(capacity)
    n = _simulate(
        open_,
        high,
        low,
        close,
        mask,
        np.asarray(entries, dtype=np.bool_),
        side,
        alloc,
        params,
        trades,
    )
    out: np.ndarray = trades[:n]
    return out


@njit(cache=True)
def breakout_signal(high: np.ndarray, close: np.ndarray, lookback: int) -> np.ndarray:
    """True where the close exceeds the highest high of the previous ``lookback`` bars.

    ``out[t] = close[t] > max(high[t - lookback : t])`` for ``t >= lookback``, False before
    (and False when that window holds a NaN, as with ``np.max``). One pass, O(n) whatever
    the lookback: a monotonic deque of indices whose highs decrease from front to back, so
    the front is always the window's maximum.
    """
    if lookback < 1:
        raise ValueError("lookback must be at least 1")
    n = len(close)
    out = np.zeros(n, dtype=np.bool_)
    dq = np.empty(n, dtype=np.int64)
    head = 0
    tail = 0
    last_nan = -1
    for t in range(n):
        if t >= lookback:
            start = t - lookback
            while head < tail and dq[head] < start:
                head += 1
            if last_nan < start and head < tail:
                out[t] = close[t] > high[dq[head]]
        h = high[t]
        if np.isnan(h):
            last_nan = t
            continue
        while tail > head and high[dq[tail - 1]] <= h:
            tail -= 1
        dq[tail] = t
        tail += 1
    return out
