"""Tables of the cycle trader (trades, tracked continuations, ledger, cycles, mode
switches) — what a backtest saves and what each pass of the live node writes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tradewind.engine.records import EXIT_NAMES, KIND_NAMES, POOL_NAMES, STATUS_NAMES, Status
from tradewind.engine.tables import tracked_table
from tradewind.portfolio.ledger import LEDGER_REASONS
from tradewind.trading import cycle_kernel as ck
from tradewind.trading.cycle import CycleTrader

__all__ = ["cycle_table", "ledger_table", "mode_switches", "trade_tables"]


def _times(stamps: np.ndarray, rows: np.ndarray) -> pd.Series:
    """Open times of grid ``rows`` (-1: not yet → NaT), straight from the grid's stamps."""
    rows = np.asarray(rows, dtype=np.int64)
    ns = np.where(rows >= 0, stamps[np.clip(rows, 0, len(stamps) - 1)], np.iinfo(np.int64).min)
    return pd.Series(pd.to_datetime(ns, utc=True), index=range(len(rows)))


def trade_tables(
    trader: CycleTrader, ids: np.ndarray | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Trades (real and sim) and tracked continuations, with pair names and times — of
    every trade, or of the trades ``ids`` only (what a node's tick changed)."""
    tr = trader.trades[: trader.n_trades]
    if ids is not None:
        tr = tr[np.asarray(ids, dtype=np.int64)]
    index = trader.panel.timestamps
    symbols = np.array(trader.panel.symbols)
    trades = pd.DataFrame(
        {
            "id": tr["id"],
            "kind": np.array(KIND_NAMES)[tr["kind"]],
            "sim_reason": np.array(ck.SIM_REASONS)[tr["reason"]],
            "cycle": tr["cycle"],
            "pair": symbols[tr["pair"]],
            "side": tr["side"],
            "status": np.array(STATUS_NAMES)[tr["status"]],
            "nominated_time": _times(index, tr["nominated_t"]),
            "p0": tr["p0"],
            "limit": tr["limit"],
            "window_stop": tr["window_stop"],
            "alloc": tr["alloc"],
            "entry_time": _times(index, tr["entry_t"]),
            "entry_price": np.where(tr["entry_t"] >= 0, tr["entry_price"], np.nan),
            "qty": tr["qty"],
            "cost": tr["cost"],
            "legs": tr["legs"],
            "exit_time": _times(index, tr["exit_t"]),
            "exit_price": np.where(tr["status"] == Status.CLOSED, tr["exit_price"], np.nan),
            "exit_reason": np.array(EXIT_NAMES)[tr["exit_reason"]],
            "pnl": tr["pnl"],
            "fees": tr["fees"],
            "ambiguous": tr["ambiguous"],
            "parent": tr["parent"],
            # the protective levels once in a position (the stop as the trailing stop has
            # moved it, for an open trade: the status server measures distances to them)
            "stop": np.where(tr["entry_t"] >= 0, tr["stop"], np.nan),
            "initial_stop": np.where(tr["entry_t"] >= 0, tr["initial_stop"], np.nan),
            "target": np.where(tr["entry_t"] >= 0, tr["target"], np.nan),
        }
    )
    tracked = tracked_table(tr[tr["track"] == 2], trader.panel.index, symbols)
    return trades, tracked


def ledger_table(trader: CycleTrader, first: int = 0) -> pd.DataFrame:
    """Every movement between budget pools (from entry ``first`` on), with times and
    names."""
    led = trader.ledger[first : int(trader.counters[ck.C_NLEDGER])]
    names = np.array(POOL_NAMES)
    return pd.DataFrame(
        {
            "time": _times(trader.panel.timestamps, led["t"]),
            "amount": led["amount"],
            "from": names[led["src"]],
            "to": names[led["dst"]],
            "reason": np.array(LEDGER_REASONS)[led["reason"]],
            "trade": led["trade"],
            "book": np.where(led["book"] == 0, "real", "paper"),
        }
    )


def cycle_table(trader: CycleTrader) -> pd.DataFrame:
    """One row per cycle: when, in which mode, its P/L."""
    cy = trader.cycles[: int(trader.counters[ck.C_NCYCLES])]
    modes = np.array(["live", "dry_run"])
    index = trader.panel.timestamps
    return pd.DataFrame(
        {
            "cycle": cy["id"],
            "start_time": _times(index, cy["start_t"]),
            "end_time": _times(index, cy["end_t"]),
            "mode": modes[cy["mode"]],
            "converted_time": _times(index, cy["converted_t"]),
            "pnl": cy["pnl"],
            "paper_pnl": cy["paper_pnl"],
            "trades": cy["trades"],
            "next_mode": modes[cy["next_mode"]],
        }
    )


def mode_switches(cycles: pd.DataFrame) -> list[dict[str, Any]]:
    """When the trader went from live to dry run and back, and why (from the cycle table)."""
    switches: list[dict[str, Any]] = []
    mode = "live"
    for cycle, start, started_as, converted in zip(
        cycles["cycle"].tolist(),
        cycles["start_time"].tolist(),
        cycles["mode"].tolist(),
        cycles["converted_time"].tolist(),
        strict=True,
    ):
        if started_as != mode:
            reason = "losing streak" if started_as == "dry_run" else "winning paper cycle"
            switches.append(
                {
                    "time": pd.Timestamp(start).isoformat(),
                    "cycle": int(cycle),
                    "to": started_as,
                    "reason": reason,
                }
            )
            mode = started_as
        if not pd.isna(converted):
            switches.append(
                {
                    "time": pd.Timestamp(converted).isoformat(),
                    "cycle": int(cycle),
                    "to": "live",
                    "reason": "paper trade passed the live threshold",
                }
            )
            mode = "live"
    return switches
