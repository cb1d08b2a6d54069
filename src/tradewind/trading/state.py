"""A trader's state between passes: plain arrays, times as nanoseconds, kept in the
trade book — what lets ``tradewind scan`` and the live node stop and go on exactly where
they were, and what crash recovery loads.

Grid rows become times on the way out and rows again on the way in, so a trader can go on
over a panel that has grown (new candles, new pairs) since it was saved. The archive is
``.npz`` of plain numeric and string arrays, read with ``allow_pickle=False``: nothing in
it can execute code.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from tradewind.engine.records import TRADE_DTYPE, new_trades
from tradewind.errors import StateError
from tradewind.portfolio.ledger import new_ledger

__all__ = [
    "TRADE_TIME_FIELDS",
    "dump_state",
    "load_state",
    "ns_to_rows",
    "remap_pairs",
    "restore_cycle",
    "rows_to_ns",
    "snapshot_cycle",
]

#: The trade fields that hold grid rows.
TRADE_TIME_FIELDS = ("nominated_t", "expiry_t", "entry_t", "exit_t", "track_exit_t", "close_t")
_CYCLE_TIME_FIELDS = ("start_t", "end_t", "converted_t")


def _step(stamps: np.ndarray) -> int:
    return int(stamps[-1] - stamps[-2]) if len(stamps) >= 2 else 0


def rows_to_ns(rows: np.ndarray, stamps: np.ndarray) -> np.ndarray:
    """Grid rows as open times (ns); -1 stays -1. A row past the grid's end (an expiry
    still ahead of a node's grid) is carried on at the grid's spacing."""
    out = np.full(rows.shape, -1, dtype=np.int64)
    ok = rows >= 0
    inside = ok & (rows < len(stamps))
    out[inside] = stamps[rows[inside]]
    beyond = ok & ~inside
    if beyond.any():
        if len(stamps) < 2:
            raise StateError("a row past a grid of fewer than two candles has no time")
        out[beyond] = stamps[-1] + (rows[beyond] - (len(stamps) - 1)) * _step(stamps)
    return out


def ns_to_rows(
    ns: np.ndarray,
    stamps: np.ndarray,
    what: str,
    owner: str = "saved session",
    *,
    ahead: bool = False,
) -> np.ndarray:
    """Open times (ns) as rows of the grid ``stamps``; with ``ahead``, times past its end
    too, at its spacing (a trade's expiry still to come). A time off the grid is a
    :class:`StateError` naming ``what`` of ``owner``."""
    out = np.full(ns.shape, -1, dtype=np.int64)
    ok = ns >= 0
    values = ns[ok]
    rows = np.searchsorted(stamps, values)
    inside = rows < len(stamps)
    bad = inside & (stamps[np.minimum(rows, len(stamps) - 1)] != values)
    step = _step(stamps)
    past = ~inside
    if past.any() and not ahead:
        bad[past] = True
    elif past.any():
        offset = values[past] - stamps[-1]
        if step <= 0 or (offset % step != 0).any():
            bad[past] = True
        else:
            rows[past] = len(stamps) - 1 + offset // step
    if bad.any():
        missing = pd.Timestamp(int(values[bad][0]), tz="UTC")
        raise StateError(
            f"{owner}: {what} at {missing} is not on the candle grid any more "
            "(candles deleted or a different data.timeframe); start anew with --reset"
        )
    out[ok] = rows
    return out


def remap_pairs(
    saved: Mapping[str, np.ndarray], symbols: tuple[str, ...], owner: str
) -> tuple[np.ndarray, np.ndarray]:
    """The saved trades with their pairs renumbered for a panel of ``symbols`` (pairs
    may have been added), and the map old pair index → new (-1: not in the panel). A
    trade on a pair the panel lacks is a :class:`StateError`."""
    where = {s: i for i, s in enumerate(symbols)}
    old = [str(x) for x in saved["symbols"]]
    trades = saved["trades"].copy()
    gone = sorted({old[p] for p in trades["pair"].tolist()} - set(where))
    if gone:
        raise StateError(
            f"{owner} trades pairs whose candles are gone from the store: {', '.join(gone)}"
        )
    pair_map = np.array([where.get(s, -1) for s in old], dtype=np.int64)
    if len(trades):
        trades["pair"] = pair_map[trades["pair"]]
    return trades, pair_map


def dump_state(saved: Mapping[str, np.ndarray]) -> bytes:
    """A snapshot as ``.npz`` bytes (plain arrays only: nothing that unpickles)."""
    buffer = io.BytesIO()
    arrays: dict[str, Any] = dict(saved)
    np.savez_compressed(buffer, allow_pickle=False, **arrays)
    return buffer.getvalue()


def load_state(payload: bytes) -> dict[str, np.ndarray]:
    """Arrays of :func:`dump_state`, read with ``allow_pickle=False``; trades saved before
    a field was added get it with its default (a node saved by an older Tradewind goes
    on)."""
    with np.load(io.BytesIO(payload), allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    trades = arrays.get("trades")
    if trades is not None and trades.dtype.names and trades.dtype != TRADE_DTYPE:
        arrays["trades"] = conform_trades(trades)
    return arrays


def conform_trades(saved: np.ndarray) -> np.ndarray:
    """``saved`` trades in today's layout: fields copied by name, the missing ones at
    their defaults; a field that is no longer known is refused rather than dropped."""
    names = saved.dtype.names or ()
    unknown = sorted(set(names) - set(TRADE_DTYPE.names or ()))
    if unknown:
        raise StateError(
            f"saved trades have fields this Tradewind does not know: {', '.join(unknown)} "
            "(saved by a newer version?)"
        )
    out = new_trades(len(saved))
    for name in names:
        out[name] = saved[name]
    return out


# -- the cycle trader ------------------------------------------------------------------------


def snapshot_cycle(trader: Any) -> dict[str, np.ndarray]:
    """Everything a :class:`~tradewind.trading.cycle.CycleTrader` needs to go on later:
    trades, open list, counters, pools, ledger, cycles, the equity so far, its random
    generator's state and its clock (the open time of the last row it processed)."""
    from tradewind.trading import cycle_kernel as ck

    stamps = trader.panel.timestamps
    n = trader.n_trades
    trades = trader.trades[:n].copy()
    for name in TRADE_TIME_FIELDS:
        trades[name] = rows_to_ns(trades[name], stamps)
    ledger = trader.ledger[: int(trader.counters[ck.C_NLEDGER])].copy()
    ledger["t"] = rows_to_ns(ledger["t"], stamps)
    cycles = trader.cycles[: int(trader.counters[ck.C_NCYCLES])].copy()
    for name in _CYCLE_TIME_FIELDS:
        cycles[name] = rows_to_ns(cycles[name], stamps)
    done = trader.next_t
    return {
        "symbols": np.array(trader.panel.symbols, dtype=str),
        "clock": np.array([int(stamps[done - 1]) if done else -1], dtype=np.int64),
        "trades": trades,
        "open_ids": trader.open_list[: int(trader.counters[ck.C_NOPEN])].copy(),
        "counters": trader.counters.copy(),
        "pools": trader.pools.copy(),
        "ledger": ledger,
        "cycles": cycles,
        "equity_ns": stamps[:done].copy(),
        "equity": trader.equity[:done].copy(),
        "paper_equity": trader.paper_equity[:done].copy(),
        "rng": np.array(json.dumps(trader.rng.bit_generator.state)),
    }


def restore_cycle(trader: Any, saved: Mapping[str, np.ndarray]) -> None:
    """Put ``saved`` (from :func:`snapshot_cycle`) into a freshly built trader whose panel
    holds the saved clock (it may have grown since: new candles, new pairs); the trader
    goes on after that clock, as if it had never stopped."""
    from tradewind.trading import cycle_kernel as ck

    owner = "saved cycle trader"
    stamps = trader.panel.timestamps
    trades, _ = remap_pairs(saved, trader.panel.symbols, owner)
    for name in TRADE_TIME_FIELDS:
        trades[name] = ns_to_rows(trades[name], stamps, f"trade field {name}", owner, ahead=True)
    ledger = saved["ledger"].copy()
    ledger["t"] = ns_to_rows(ledger["t"], stamps, "a ledger entry", owner)
    cycles = saved["cycles"].copy()
    for name in _CYCLE_TIME_FIELDS:
        cycles[name] = ns_to_rows(cycles[name], stamps, f"cycle field {name}", owner)
    clock = int(saved["clock"][0])
    next_t = 0
    if clock >= 0:
        next_t = int(ns_to_rows(np.array([clock]), stamps, "the clock", owner)[0]) + 1

    n = len(trades)
    trader.trades = new_trades(max(2 * n, 256))
    trader.trades[:n] = trades
    trader.open_list = np.zeros(len(trader.trades), dtype=np.int64)
    open_ids = saved["open_ids"]
    trader.open_list[: len(open_ids)] = open_ids
    trader.ledger = new_ledger(max(2 * len(ledger), 1024))
    trader.ledger[: len(ledger)] = ledger
    trader.cycles = np.zeros(max(2 * len(cycles), 64), dtype=ck.CYCLE_DTYPE)
    trader.cycles[: len(cycles)] = cycles
    trader.counters[:] = saved["counters"]
    trader.pools[:] = saved["pools"]
    if len(saved["equity_ns"]):
        rows = ns_to_rows(saved["equity_ns"], stamps, "the equity curve", owner)
        trader.equity[rows] = saved["equity"]
        trader.paper_equity[rows] = saved["paper_equity"]
    trader.rng.bit_generator.state = json.loads(str(saved["rng"]))
    trader.next_t = next_t
