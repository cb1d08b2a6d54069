"""What the status server reads: a trade book seen through read-only connections.

The node writes its book in one transaction per tick (SQLite in WAL mode), so a reader
here sees whole ticks only and never blocks the writer. Nothing in this module writes:
the connections themselves refuse it (:func:`~tradewind.store.db.open_book` with
``read_only``), so a bug in a route cannot change a trade.

A *view* is the set of runs one server shows: a node's (its cycle trader, the ensemble's
other members, its session of agents), found by the node's name among the saved states,
or one run of the book by id (a backtest saved with ``--save``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Float, Table, func, select

from tradewind.engine.records import POOL_NAMES
from tradewind.errors import StateError
from tradewind.store.db import open_book
from tradewind.store.repository import (
    CYCLES,
    EQUITY,
    LEDGER,
    MODE_CHANGES,
    ORDERS,
    RUNS,
    STATES,
    TABLES,
    TRADES,
)

__all__ = ["BookView", "Runs", "Prices", "thin_curve"]

MODELS: Table = TABLES["models"]
MODES = MODE_CHANGES

#: pair → (last close, its candle's open time); what open trades are measured against
Prices = Callable[[list[str]], dict[str, tuple[float, datetime | None]]]
POOLS = POOL_NAMES[:5]
OPEN = ("pending", "active")


@dataclass(frozen=True)
class Runs:
    """The runs a view shows."""

    cycle: int | None = None  #: the cycle trader's run (an ensemble's host)
    members: tuple[int, ...] = ()  #: an ensemble's other members
    agents: int | None = None  #: the session of agents' run
    label: str = ""
    states: tuple[str, ...] = field(default_factory=tuple)  #: saved states behind it

    @property
    def all(self) -> list[int]:
        return [r for r in (self.cycle, *self.members, self.agents) if r is not None]


def _json(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        out = json.loads(text)
    except ValueError:
        return {}
    return out if isinstance(out, dict) else {}


def _num(x: Any) -> float | None:
    """A float for JSON: None for NaN, infinities and missing values."""
    if x is None or x is pd.NA:
        return None
    v = float(x)
    return v if math.isfinite(v) else None


def _dt(x: Any) -> datetime | None:
    if x is None or x is pd.NaT:
        return None
    if isinstance(x, pd.Timestamp):
        return None if pd.isna(x) else x.to_pydatetime()
    return x if isinstance(x, datetime) else None


def thin_curve(frame: pd.DataFrame, points: int) -> pd.DataFrame:
    """At most ``points`` rows of an equity curve (``at``, ``equity``, …, ``drawdown``):
    in each bucket of consecutive rows the last row, with the deepest drawdown of the
    bucket, so a thinned curve never hides the worst moment."""
    n = len(frame)
    if n <= points:
        return frame
    edges = np.linspace(0, n, points + 1).astype(np.int64)
    last = edges[1:] - 1
    out = frame.iloc[last].copy()
    dd = frame["drawdown"].to_numpy()
    out["drawdown"] = np.minimum.reduceat(dd, edges[:-1])
    return out.reset_index(drop=True)


class BookView:
    """Read-only queries of the trade book at ``url`` for one view: the node ``name``'s
    runs, or ``run_id`` alone (default: the node's when the book has it, else the newest
    run)."""

    def __init__(self, url: str, *, name: str | None = None, run_id: int | None = None) -> None:
        self.engine = open_book(url, read_only=True)
        self.name = name
        self.run_id = run_id

    def close(self) -> None:
        self.engine.dispose()

    def _rows(self, stmt: Any) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]

    # -- which runs ----------------------------------------------------------------------

    def runs(self) -> Runs:
        """The view's runs as the book holds them now (a node's runs appear with its first
        save)."""
        if self.run_id is not None:
            found = self._rows(select(RUNS.c.id, RUNS.c.kind).where(RUNS.c.id == self.run_id))
            if not found:
                raise StateError(f"the trade book has no run {self.run_id}")
            kind = found[0]["kind"]
            if kind == "session":
                return Runs(agents=self.run_id, label=f"run {self.run_id}")
            return Runs(cycle=self.run_id, label=f"run {self.run_id}")
        if self.name is not None:
            name = self.name
            states = self._rows(
                select(STATES.c.name, STATES.c.run_id).where(
                    (STATES.c.name == name)
                    | (STATES.c.name == f"{name}-agents")
                    | STATES.c.name.like(f"{name}-e%")
                )
            )
            by = {s["name"]: s["run_id"] for s in states}
            members = sorted(
                (
                    (int(k.rsplit("-e", 1)[1]), v)
                    for k, v in by.items()
                    if k.startswith(f"{name}-e") and k.rsplit("-e", 1)[1].isdigit()
                ),
            )
            if name in by or f"{name}-agents" in by:
                return Runs(
                    cycle=by.get(name),
                    members=tuple(v for _, v in members if v is not None),
                    agents=by.get(f"{name}-agents"),
                    label=f"node {name}",
                    states=tuple(sorted(by)),
                )
        newest = self._rows(select(RUNS.c.id, RUNS.c.kind).order_by(RUNS.c.id.desc()).limit(1))
        if not newest:
            return Runs(label="empty trade book")
        rid, kind = newest[0]["id"], newest[0]["kind"]
        if kind == "session":
            return Runs(agents=rid, label=f"run {rid}")
        return Runs(cycle=rid, label=f"run {rid}")

    def run_list(self) -> list[dict[str, Any]]:
        """Every run of the book, newest first, with the headline of its summary."""
        rows = self._rows(select(RUNS).order_by(RUNS.c.id.desc()))
        out = []
        for r in rows:
            summary = _json(r.pop("summary"))
            metrics = summary.get("metrics") or {}
            out.append(
                {
                    **{k: r[k] for k in ("id", "kind", "source", "created_at", "seed")},
                    "config_hash": r["config_hash"],
                    "name": summary.get("node") or summary.get("session"),
                    "trader": summary.get("trader"),
                    "equity": _num(summary.get("equity", metrics.get("final_equity"))),
                    "clock": summary.get("clock"),
                }
            )
        return out

    def run_kind(self, run_id: int) -> str | None:
        rows = self._rows(select(RUNS.c.kind).where(RUNS.c.id == run_id))
        return str(rows[0]["kind"]) if rows else None

    def summary(self, run_id: int | None) -> dict[str, Any]:
        if run_id is None:
            return {}
        rows = self._rows(select(RUNS.c.summary).where(RUNS.c.id == run_id))
        return _json(rows[0]["summary"]) if rows else {}

    def states(self, names: tuple[str, ...]) -> list[dict[str, Any]]:
        """The saved states' bookkeeping (never their payload)."""
        if not names:
            return []
        cols = (STATES.c.name, STATES.c.source, STATES.c.updated_at, STATES.c.clock)
        return self._rows(select(*cols).where(STATES.c.name.in_(names)).order_by(STATES.c.name))

    # -- trades --------------------------------------------------------------------------

    def open_trades(
        self, runs: list[int], prices: Prices | None, kind: str = "real"
    ) -> list[dict[str, Any]]:
        """Trades of ``kind`` still pending or active, each with the last price and how far
        its stop and target are from it (a fraction of the price: positive = room left)."""
        if not runs:
            return []
        stmt = (
            select(TRADES)
            .where(
                TRADES.c.run_id.in_(runs),
                TRADES.c.status.in_(OPEN),
                TRADES.c.kind == kind,
            )
            .order_by(TRADES.c.id)
        )
        rows = self._rows(stmt)
        last = prices(sorted({r["pair"] for r in rows})) if prices is not None and rows else {}
        out = []
        for r in rows:
            item = _trade_item(r)
            price, at = last.get(r["pair"], (None, None))
            item["price"], item["price_at"] = _num(price), at
            side, stop, target = r["side"], _num(r["stop"]), _num(r["target"])
            item["stop_distance"] = item["target_distance"] = item["unrealised_pnl"] = None
            if price is not None and price > 0:
                if stop is not None:
                    item["stop_distance"] = side * (price - stop) / price
                if target is not None:
                    item["target_distance"] = side * (target - price) / price
                qty, entry = _num(r["qty"]), _num(r["entry_price"])
                if r["status"] == "active" and qty and entry:
                    item["unrealised_pnl"] = side * (price - entry) * qty
            out.append(item)
        return out

    def closed_trades(
        self,
        runs: list[int],
        *,
        agent: str | None,
        pair: str | None,
        kind: str | None,
        status: str,
        limit: int,
        offset: int,
    ) -> tuple[int, list[dict[str, Any]]]:
        """Finished trades, newest exit first: the total that match and one page."""
        if not runs:
            return 0, []
        where = [TRADES.c.run_id.in_(runs), TRADES.c.status == status]
        if agent is not None:
            where.append(TRADES.c.agent.is_(None) if agent == "cycle" else TRADES.c.agent == agent)
        if pair is not None:
            where.append(TRADES.c.pair == pair)
        if kind is not None:
            where.append(TRADES.c.kind == kind)
        with self.engine.connect() as conn:
            total = int(conn.execute(select(func.count()).where(*where)).scalar_one())
        stmt = (
            select(TRADES)
            .where(*where)
            .order_by(TRADES.c.exit_at.desc(), TRADES.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return total, [_trade_item(r) for r in self._rows(stmt)]

    # -- money ---------------------------------------------------------------------------

    def equity(self, run_id: int | None, points: int) -> dict[str, list[Any]]:
        """The run's equity curve with its drawdown from the running peak, thinned to at
        most ``points`` rows (:func:`thin_curve`), as columns (what a chart takes, and a
        third of the bytes of one object a row), times as ISO text (UTC)."""
        empty: dict[str, list[Any]] = {"at": [], "equity": [], "paper_equity": [], "drawdown": []}
        if run_id is None:
            return empty
        cols = (EQUITY.c.at, EQUITY.c.equity, EQUITY.c.paper_equity)
        stmt = select(*cols).where(EQUITY.c.run_id == run_id).order_by(EQUITY.c.at)
        with self.engine.connect() as conn:
            rows = [tuple(r) for r in conn.execute(stmt)]
        if not rows:
            return empty
        at, values, papers = zip(*rows, strict=True)
        eq = np.array(values, dtype=np.float64)
        peak = np.maximum.accumulate(eq)
        frame = pd.DataFrame(
            {
                # ISO text at once, vectorised: the route sends it as it is
                "at": np.char.add(
                    np.datetime_as_string(
                        pd.DatetimeIndex(at).tz_convert("UTC").tz_localize(None).to_numpy(),
                        unit="s",
                    ),
                    "Z",
                ),
                "equity": eq,
                "paper_equity": np.array(
                    [np.nan if p is None else p for p in papers], dtype=np.float64
                ),
                "drawdown": np.where(peak > 0, eq / peak - 1.0, 0.0),
            }
        )
        frame = thin_curve(frame, points)
        paper = frame["paper_equity"].to_numpy(dtype=np.float64)
        return {
            "at": frame["at"].tolist(),
            "equity": frame["equity"].tolist(),
            "paper_equity": [None if p != p else p for p in paper.tolist()],
            "drawdown": frame["drawdown"].tolist(),
        }

    def last_at(self, run_id: int | None) -> datetime | None:
        """The newest candle of a run's equity curve."""
        if run_id is None:
            return None
        stmt = (  # not max(): a function's result skips the column's UTC type
            select(EQUITY.c.at)
            .where(EQUITY.c.run_id == run_id)
            .order_by(EQUITY.c.at.desc())
            .limit(1)
        )
        with self.engine.connect() as conn:
            found = conn.execute(stmt).scalar_one_or_none()
        return found if isinstance(found, datetime) else None

    def budget(self, runs: Runs, points: int) -> dict[str, Any]:
        """The budget pools now and over time. The cycle trader's come from its ledger
        (every movement between pools, from the opening capital on): the history is the
        running balance of each pool after each movement, and its last row is the pools as
        the node's summary states them. A session's pools are summed over its agents."""
        run_id = runs.cycle if runs.cycle is not None else runs.agents
        if run_id is None:
            return {"run_id": None, "now": {}, "history": [], "books": []}
        stmt = (
            select(LEDGER.c.at, LEDGER.c.amount, LEDGER.c.src, LEDGER.c.dst, LEDGER.c.book)
            .where(LEDGER.c.run_id == run_id)
            .order_by(LEDGER.c.id)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        if run_id == runs.cycle:
            rows = [r for r in rows if r[4] == "real"]
        books = sorted({str(r[4]) for r in rows})
        balance = dict.fromkeys(POOLS, 0.0)
        history: list[dict[str, Any]] = []
        for at, amount, src, dst, _book in rows:
            if src in balance:
                balance[src] -= float(amount)
            if dst in balance:
                balance[dst] += float(amount)
            for k, v in balance.items():  # float dust of a pool emptied by subtraction
                if abs(v) < 1e-6:
                    balance[k] = 0.0
            if history and history[-1]["at"] == at:
                history[-1].update(balance)
            else:
                history.append({"at": at, **balance})
        if len(history) > points:
            keep = np.unique(np.linspace(0, len(history) - 1, points).astype(np.int64))
            history = [history[i] for i in keep]
        summary = self.summary(run_id)
        now = summary.get("pools") if run_id == runs.cycle else None
        if not isinstance(now, Mapping):
            now = dict(balance)
        return {
            "run_id": run_id,
            "now": {k: 0.0 if abs(float(v)) < 1e-6 else float(v) for k, v in now.items()},
            "history": history,
            "books": books,
        }

    # -- the rest ------------------------------------------------------------------------

    def cycles(self, run_id: int | None, limit: int) -> list[dict[str, Any]]:
        if run_id is None:
            return []
        stmt = select(CYCLES).where(CYCLES.c.run_id == run_id).order_by(CYCLES.c.cycle_no.desc())
        rows = self._rows(stmt.limit(limit))
        for r in rows:
            r.pop("id")
            for k in ("pnl", "paper_pnl"):
                r[k] = _num(r[k])
        return rows

    def mode_changes(self, runs: list[int], limit: int) -> list[dict[str, Any]]:
        if not runs:
            return []
        stmt = (
            select(MODES)
            .where(MODES.c.run_id.in_(runs))
            .order_by(MODES.c.at.desc(), MODES.c.id.desc())
            .limit(limit)
        )
        rows = self._rows(stmt)
        for r in rows:
            r.pop("id")
        return rows

    def models(self) -> list[dict[str, Any]]:
        """The models the node would load now: the newest promoted one of each role and
        scope (what ``latest`` resolves to), with its out-of-sample scores."""
        cols = (
            MODELS.c.id,
            MODELS.c.role,
            MODELS.c.scope,
            MODELS.c.kind,
            MODELS.c.created_at,
            MODELS.c.promoted_at,
            MODELS.c.train_start,
            MODELS.c.train_end,
            MODELS.c.metrics,
        )
        stmt = select(*cols).where(MODELS.c.promoted_at.is_not(None))
        rows = self._rows(stmt.order_by(MODELS.c.promoted_at.desc(), MODELS.c.id))
        seen: set[tuple[str, str]] = set()
        out = []
        for r in rows:
            key = (r["role"], r["scope"])
            if key in seen:
                continue
            seen.add(key)
            metrics = _json(r.pop("metrics"))
            r["metrics"] = {k: _num(v) for k, v in metrics.items() if _scalar(v)}
            out.append(r)
        return sorted(out, key=lambda r: (r["scope"], r["role"]))

    def orders(self, runs: list[int], limit: int) -> list[dict[str, Any]]:
        if not runs:
            return []
        stmt = (
            select(ORDERS, TRADES.c.trade_no, TRADES.c.agent)
            .outerjoin(TRADES, ORDERS.c.trade_id == TRADES.c.id)
            .where(ORDERS.c.run_id.in_(runs))
            .order_by(ORDERS.c.id.desc())
            .limit(limit)
        )
        rows = self._rows(stmt)
        for r in rows:
            for k in ("qty", "price", "stop_price", "filled", "average", "fee", "dust"):
                r[k] = _num(r[k])
        return rows

    def agent_stats(self, run_id: int | None) -> dict[str, dict[str, Any]]:
        """Per agent of a session: its real trades open and closed and their P/L."""
        if run_id is None:
            return {}
        stmt = (
            select(
                TRADES.c.agent,
                TRADES.c.status,
                func.count(),
                func.coalesce(func.sum(TRADES.c.pnl), 0.0),
            )
            .where(TRADES.c.run_id == run_id, TRADES.c.kind == "real")
            .group_by(TRADES.c.agent, TRADES.c.status)
        )
        out: dict[str, dict[str, Any]] = {}
        with self.engine.connect() as conn:
            for agent, status, n, pnl in conn.execute(stmt):
                a = out.setdefault(str(agent), {"open": 0, "closed": 0, "pnl": 0.0})
                if status in OPEN:
                    a["open"] += int(n)
                elif status == "closed":
                    a["closed"] += int(n)
                    a["pnl"] += float(pnl)
        return out


def _scalar(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


#: the trade book's columns an API trade carries
TRADE_FIELDS = (
    "id",
    "run_id",
    "trade_no",
    "kind",
    "sim_reason",
    "agent",
    "pair",
    "side",
    "timeframe",
    "cycle",
    "status",
    "nominated_at",
    "entry_at",
    "entry_price",
    "exit_at",
    "exit_price",
    "exit_reason",
    "stop",
    "initial_stop",
    "target",
    "qty",
    "cost",
    "fees",
    "pnl",
    "r_multiple",
    "legs",
    "limit_price",
    "window_stop",
)
#: of those, the money and price columns (NaN in the book is null in JSON)
_FLOATS = {name for name in TRADE_FIELDS if isinstance(TRADES.c[name].type, Float)}


def _trade_item(row: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: row.get(k) for k in TRADE_FIELDS}
    for k in _FLOATS:
        out[k] = _num(out[k])
    out["side"] = "long" if row["side"] > 0 else "short"
    out["agent"] = row.get("agent") or "cycle"
    return out
