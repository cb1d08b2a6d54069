"""The budget ledger: every movement of capital between pools is one entry.

Pools live in a float64 array ``pools[book, account]`` — book 0 is the real money, book 1
the shadow copy a dry-run cycle trades on paper — with the five pools of seed 000 plus a
``pnl`` account on the other side of realised profit and loss. Every transfer moves an
amount from one account to another and appends an entry, so for each book the sum over all
six accounts never changes: pools = initial capital + realised P/L, always.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["LEDGER_DTYPE", "LEDGER_REASONS", "REAL_BOOK", "SHADOW_BOOK", "new_ledger", "transfer"]

REAL_BOOK = 0
SHADOW_BOOK = 1

#: Why capital moved (codes stored in the ledger's ``reason`` column).
LEDGER_REASONS = (
    "initial",
    "allocate",
    "fill",
    "expire",
    "close_profit",
    "close_loss",
    "profit",
    "loss",
    "reinvest",
    "cycle_end",
    "convert",
    "release",
)
(
    R_INITIAL,
    R_ALLOCATE,
    R_FILL,
    R_EXPIRE,
    R_CLOSE_PROFIT,
    R_CLOSE_LOSS,
    R_PROFIT,
    R_LOSS,
    R_REINVEST,
    R_CYCLE_END,
    R_CONVERT,
    R_RELEASE,
) = range(len(LEDGER_REASONS))

LEDGER_DTYPE = np.dtype(
    [
        ("t", np.int64),  # bar index on the panel's grid
        ("amount", np.float64),
        ("src", np.int64),
        ("dst", np.int64),
        ("reason", np.int64),
        ("trade", np.int64),  # trade id, -1 for none
        ("book", np.int64),
    ]
)


def new_ledger(capacity: int) -> np.ndarray:
    """An empty ledger of ``capacity`` entries."""
    return np.zeros(capacity, dtype=LEDGER_DTYPE)


@njit(cache=True)
def transfer(
    pools: np.ndarray,
    ledger: np.ndarray,
    counters: np.ndarray,
    n_slot: int,
    t: int,
    amount: float,
    src: int,
    dst: int,
    reason: int,
    trade: int,
    book: int,
) -> None:
    """Move ``amount`` from account ``src`` to ``dst`` of ``book`` and record it.

    ``counters[n_slot]`` is the number of entries written; the caller guarantees room.
    Zero amounts are not recorded.
    """
    if amount == 0.0:
        return
    pools[book, src] -= amount
    pools[book, dst] += amount
    n = counters[n_slot]
    entry = ledger[n]
    entry.t = t
    entry.amount = amount
    entry.src = src
    entry.dst = dst
    entry.reason = reason
    entry.trade = trade
    entry.book = book
    counters[n_slot] = n + 1
