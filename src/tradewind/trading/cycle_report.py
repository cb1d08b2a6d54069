"""Tables of the cycle trader (trades, tracked continuations, ledger, cycles, mode
switches) — what a backtest saves and what each pass of the live node writes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tradewind.data.panel import row_times
from tradewind.engine.records import EXIT_NAMES, KIND_NAMES, POOL_NAMES, STATUS_NAMES, Status
from tradewind.engine.tables import tracked_table
from tradewind.portfolio.ledger import LEDGER_REASONS
from tradewind.trading import cycle_kernel as ck
from tradewind.trading.cycle import CycleTrader

__all__ = ["cycle_table", "ledger_table", "mode_switches", "trade_tables"]


def trade_tables(trader: CycleTrader) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Trades (real and sim) and tracked continuations, with pair names and times."""
    tr = trader.trades[: trader.n_trades]
    index = trader.panel.index
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
            "nominated_time": row_times(index, tr["nominated_t"]),
            "p0": tr["p0"],
            "limit": tr["limit"],
            "window_stop": tr["window_stop"],
            "alloc": tr["alloc"],
            "entry_time": row_times(index, tr["entry_t"]),
            "entry_price": np.where(tr["entry_t"] >= 0, tr["entry_price"], np.nan),
            "qty": tr["qty"],
            "cost": tr["cost"],
            "legs": tr["legs"],
            "exit_time": row_times(index, tr["exit_t"]),
            "exit_price": np.where(tr["status"] == Status.CLOSED, tr["exit_price"], np.nan),
            "exit_reason": np.array(EXIT_NAMES)[tr["exit_reason"]],
            "pnl": tr["pnl"],
            "fees": tr["fees"],
            "ambiguous": tr["ambiguous"],
            "parent": tr["parent"],
        }
    )
    tracked = tracked_table(tr[tr["track"] == 2], index, symbols)
    return trades, tracked


def ledger_table(trader: CycleTrader) -> pd.DataFrame:
    """Every movement between budget pools, with times and names."""
    led = trader.ledger[: int(trader.counters[ck.C_NLEDGER])]
    names = np.array(POOL_NAMES)
    return pd.DataFrame(
        {
            "time": row_times(trader.panel.index, led["t"]),
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
    index = trader.panel.index
    return pd.DataFrame(
        {
            "cycle": cy["id"],
            "start_time": row_times(index, cy["start_t"]),
            "end_time": row_times(index, cy["end_t"]),
            "mode": modes[cy["mode"]],
            "converted_time": row_times(index, cy["converted_t"]),
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
