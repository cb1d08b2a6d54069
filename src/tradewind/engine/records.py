"""The engine's plain-array state: record layouts and the codes stored in them.

Numba kernels read and write these structured numpy arrays in place; Python builds them,
grows them and turns them into tables. Codes are small integers so that the kernels stay
simple and the tables get readable names through the ``*_NAMES`` tuples.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

__all__ = [
    "EXIT_NAMES",
    "KIND_NAMES",
    "POOL_NAMES",
    "STATUS_NAMES",
    "TRADE_DTYPE",
    "ExitReason",
    "Kind",
    "Pool",
    "Status",
    "new_trades",
]


class Status(IntEnum):
    """Where a trade is in its lifecycle."""

    FREE = 0  #: an unused slot
    PENDING = 1  #: pre-trade: waiting for its breakout (or a market entry at the next open)
    ACTIVE = 2  #: a position with stop, target and trailing stop
    CLOSED = 3  #: exited (it may go on being followed as a tracked trade)
    EXPIRED = 4  #: the pre-trade window passed without a breakout


STATUS_NAMES = ("free", "pending", "active", "closed", "expired")


class Kind(IntEnum):
    """Real trades commit capital; sim trades are setups not taken, followed on paper."""

    REAL = 0
    SIM = 1


KIND_NAMES = ("real", "sim")


class ExitReason(IntEnum):
    """Why a trade (or its tracked continuation) ended."""

    NONE = 0
    STOP = 1  #: the initial stop-loss
    TRAIL_STOP = 2  #: the stop after the trailing stop activated
    TAKE_PROFIT = 3
    TIME = 4  #: the maximum holding time passed
    SIGNAL = 5  #: a strategy exit signal
    DATA_END = 6  #: the pair's data ended: closed at its last close
    EXPIRED = 7  #: a pre-trade window that never broke out
    HORIZON = 8  #: a tracked trade's maximum horizon passed
    CONVERTED = 9  #: a paper trade whose cycle converted to live (the real trade goes on)
    INVALID = 10  #: a market entry whose fill price was already past its stop or target
    MANUAL = 11  #: closed (or, waiting, cancelled) by the operator: the status API's close


EXIT_NAMES = (
    "none",
    "stop",
    "trail_stop",
    "take_profit",
    "time",
    "signal",
    "data_end",
    "expired",
    "horizon",
    "converted",
    "invalid",
    "manual",
)


class Pool(IntEnum):
    """Budget pools of the cycle trader (seed 000), plus the P/L account of the ledger."""

    MAIN = 0
    PRE_TRADE = 1
    ACTIVE = 2
    DIVESTMENT = 3
    HELD = 4  #: held_for_reinvestment
    PNL = 5  #: the other side of realised profit and loss (not a pool)
    SESSION = 6  #: the other side of capital a session moves between agents (not a pool)


POOL_NAMES = (
    "main",
    "pre_trade",
    "active",
    "divestment",
    "held_for_reinvestment",
    "pnl",
    "session",
)
N_POOLS = 5

#: One trade. Times are bar indices on the panel's grid (-1 = not yet).
TRADE_DTYPE = np.dtype(
    [
        ("id", np.int64),
        ("pair", np.int64),
        ("side", np.int64),  # +1 long, -1 short
        ("kind", np.int64),
        ("reason", np.int64),  # why a sim trade is sim (see trading codes), 0 for real
        ("cycle", np.int64),
        ("parent", np.int64),  # the paper trade a converted real trade continues, else -1
        ("status", np.int64),
        ("market_entry", np.int64),  # 1: enter at the next open instead of a breakout window
        ("nominated_t", np.int64),
        ("expiry_t", np.int64),
        ("p0", np.float64),
        ("limit", np.float64),  # breakout level in the trade's direction
        ("window_stop", np.float64),  # breakout level against it (used with both directions)
        ("alloc", np.float64),  # capital reserved for the entry
        ("lot_step", np.float64),  # exchange rules of the pair; 0 = unknown (no rounding)
        ("tick", np.float64),
        ("min_notional", np.float64),
        ("entry_t", np.int64),
        ("entry_price", np.float64),  # average entry over all legs
        ("qty", np.float64),
        ("cost", np.float64),  # capital in the position, entry fees included
        ("legs", np.int64),
        ("pending_add", np.float64),  # a reinvestment leg to fill at the next open
        ("stop", np.float64),
        ("target", np.float64),
        ("activation", np.float64),  # the trailing stop activates past this price
        ("best", np.float64),  # best reference price since entry (highest for long)
        ("trail_on", np.int64),
        ("strategy_stop", np.float64),  # a level the strategy proposes (NaN = none)
        ("fixed_levels", np.int64),  # 1: stop and target are given prices, not multiples
        ("target_qty", np.float64),  # quantity a sized entry aims for (0 = all of alloc)
        ("initial_stop", np.float64),  # the stop at entry: the trade's 1 R
        # The trade's own lifecycle multipliers (NaN = the run's): the cycle trader's
        # per-regime parameters from `tradewind optimize`.
        ("tp_mult", np.float64),
        ("sl_mult", np.float64),
        ("act_mult", np.float64),
        ("trail_mult", np.float64),
        ("agent", np.int64),  # the session's agent index, -1 for the cycle trader
        ("exit_t", np.int64),
        ("exit_price", np.float64),
        ("exit_reason", np.int64),
        ("pnl", np.float64),
        ("fees", np.float64),
        ("ambiguous", np.int64),  # bars where stop and target were both touched
        ("track", np.int64),  # 0 not tracked, 1 being tracked, 2 tracking done
        ("track_stop", np.float64),
        ("track_best", np.float64),
        ("track_on", np.int64),
        ("track_exit_t", np.int64),
        ("track_exit_price", np.float64),
        ("track_reason", np.int64),
        ("track_pnl", np.float64),  # what the trade would have made had it run to its stop
        # The operator asked to close it (the status API): from this row on it exits at the
        # open of its next candle, or is cancelled if still waiting (-1 = never asked).
        ("close_t", np.int64),
    ]
)


def new_trades(capacity: int) -> np.ndarray:
    """An empty trade array: every slot FREE, every time -1."""
    trades = np.zeros(capacity, dtype=TRADE_DTYPE)
    for name in (
        "nominated_t",
        "expiry_t",
        "entry_t",
        "exit_t",
        "track_exit_t",
        "parent",
        "agent",
        "close_t",
    ):
        trades[name] = -1
    for name in ("strategy_stop", "initial_stop", "tp_mult", "sl_mult", "act_mult", "trail_mult"):
        trades[name] = np.nan
    return trades
