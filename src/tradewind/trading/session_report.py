"""Tables of a session (trades, tracked continuations, ledger, agents, mode switches) —
what a backtest saves and what each ``tradewind scan --execute`` pass writes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tradewind.data.panel import row_times
from tradewind.engine.lifecycle import P_BORROW
from tradewind.engine.records import EXIT_NAMES, KIND_NAMES, POOL_NAMES, STATUS_NAMES, Status
from tradewind.engine.tables import tracked_table
from tradewind.portfolio.ledger import LEDGER_REASONS
from tradewind.trading import session_kernel as sk
from tradewind.trading.session import Session

__all__ = ["agent_table", "mode_switches", "session_tables"]


def _r_multiple(tr: np.ndarray, pnl: np.ndarray) -> np.ndarray:
    risk = tr["qty"] * np.abs(tr["entry_price"] - tr["initial_stop"])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(risk > 0, pnl / np.where(risk > 0, risk, 1.0), np.nan)


def _borrow(tr: np.ndarray, closed: np.ndarray, rate: float) -> np.ndarray:
    """The borrowing interest a closed short paid (part of its ``fees``; see
    :func:`~tradewind.engine.lifecycle.borrow_cost`), shown on its own."""
    bars = np.maximum(tr["exit_t"] - tr["entry_t"] + 1, 1)
    paid = tr["qty"] * tr["entry_price"] * rate * bars
    return np.where(closed & (tr["side"] < 0) & (tr["entry_t"] >= 0), paid, 0.0)


def session_tables(
    session: Session, ids: np.ndarray | None = None, ledger_from: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Trades, tracked continuations and ledger of a session, with agent names: of the
    trades ``ids`` only (default: all) and the ledger entries from ``ledger_from`` on (a
    node saves what its tick changed)."""
    tr = session.trades[: session.n_trades]
    if ids is not None:
        tr = tr[np.asarray(ids, dtype=np.int64)]
    index = session.panel.index
    symbols = np.array(session.panel.symbols)
    names = np.array([a.name for a in session.agents])
    tfs = np.array([a.timeframe for a in session.agents])
    closed = tr["status"] == Status.CLOSED
    entered = tr["entry_t"] >= 0
    trades = pd.DataFrame(
        {
            "id": tr["id"],
            "agent": names[tr["agent"]],
            "timeframe": tfs[tr["agent"]],
            "kind": np.array(KIND_NAMES)[tr["kind"]],
            "sim_reason": np.array(sk.SIM_REASONS)[tr["reason"]],
            "pair": symbols[tr["pair"]],
            "side": tr["side"],
            "status": np.array(STATUS_NAMES)[tr["status"]],
            "nominated_time": row_times(index, tr["nominated_t"]),
            "p0": tr["p0"],
            "limit": tr["limit"],
            "alloc": tr["alloc"],
            "entry_time": row_times(index, tr["entry_t"]),
            "entry_price": np.where(entered, tr["entry_price"], np.nan),
            "initial_stop": tr["initial_stop"],
            "stop": tr["stop"],
            "target": tr["target"],
            "qty": np.where(entered, tr["qty"], tr["target_qty"]),
            "cost": tr["cost"],
            "legs": tr["legs"],
            "exit_time": row_times(index, tr["exit_t"]),
            "exit_price": np.where(closed, tr["exit_price"], np.nan),
            "exit_reason": np.array(EXIT_NAMES)[tr["exit_reason"]],
            "pnl": np.where(closed, tr["pnl"], np.nan),
            "r_multiple": np.where(closed, _r_multiple(tr, tr["pnl"]), np.nan),
            "fees": tr["fees"],
            "borrow": _borrow(tr, closed, session.params[P_BORROW]),
            "ambiguous": tr["ambiguous"],
            "parent": tr["parent"],
        }
    )
    done = tr[tr["track"] == 2]
    tracked = tracked_table(done, index, symbols)
    tracked.insert(1, "agent", names[done["agent"]])
    tracked.insert(2, "timeframe", tfs[done["agent"]])
    tracked["r_multiple"] = _r_multiple(done, done["track_pnl"])
    led = session.ledger[ledger_from : int(session.counters[sk.C_NLEDGER])]
    pools = np.array(POOL_NAMES)
    ledger = pd.DataFrame(
        {
            "time": row_times(index, led["t"]),
            "amount": led["amount"],
            "from": pools[led["src"]],
            "to": pools[led["dst"]],
            "reason": np.array(LEDGER_REASONS)[led["reason"]],
            "trade": led["trade"],
            "book": names[led["book"]],
        }
    )
    return trades, tracked, ledger


def agent_table(session: Session, trades: pd.DataFrame) -> pd.DataFrame:
    """One row per agent: what it did, what it made, where its money is."""
    rows: list[dict[str, Any]] = []
    for a, agent in enumerate(session.agents):
        mine = trades[trades["agent"] == agent.name]
        real = mine[(mine["kind"] == "real") & (mine["status"] == "closed")]
        sim = mine[mine["kind"] == "sim"]
        pools = session.pools[a]
        rows.append(
            {
                "agent": agent.name,
                "strategy": agent.strategy,
                "side": agent.side,
                "timeframe": agent.timeframe,
                "real_trades": len(real),
                "sim_trades": len(sim),
                "pnl": float(real["pnl"].sum()),
                "win_rate": float((real["pnl"] > 0).mean()) if len(real) else float("nan"),
                "mean_r": float(real["r_multiple"].mean()) if len(real) else float("nan"),
                "refused_open_risk": int((sim["sim_reason"] == "open_risk").sum()),
                "mode": "dry_run" if session.agent_mode[a] else "live",
                "main": float(pools[0]),
                "in_positions": float(pools[1] + pools[2]),
            }
        )
    return pd.DataFrame(rows)


def mode_switches(session: Session) -> list[dict[str, Any]]:
    modes = session.modes[: int(session.counters[sk.C_NMODES])]
    index = session.panel.index
    step = session.panel.timeframe.timedelta
    return [
        {
            "time": (index[int(m["t"])] + step).isoformat(),
            "agent": session.agents[int(m["agent"])].name,
            "to": "dry_run" if m["mode"] % sk.MODE_MANUAL else "live",
            "reason": (
                "switched from the API"
                if m["mode"] >= sk.MODE_MANUAL
                else "losing days"
                if m["mode"]
                else "winning paper day"
            ),
        }
        for m in modes
    ]
