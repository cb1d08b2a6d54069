"""One pass of the session over the newest stored candles: ``tradewind scan [--execute]``.

The seed's scanner ran from cron every 15 minutes. A pass here loads every stored candle
of the session's pairs (the strategies need their history, and the same history gives the
same setups as a backtest), restores the session saved by the previous pass, and advances
it over the candles that closed since — through the very kernel a backtest runs — so each
agent acts exactly once per close of its own timeframe, however often the pass runs or
however many runs were missed. Without ``--execute`` nothing is saved: the pass shows what
the session would do. With it, the paper venue fills the orders (the lifecycle's fills at
the next open, stops and targets at their levels) and the trades, orders, ledger and the
session's state are written to the trade book in one transaction; a second pass on the
same candle finds nothing new and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tradewind import __version__
from tradewind.config import Settings, config_hash
from tradewind.data.markets import load_market_rules
from tradewind.data.panel import Panel, load_panel
from tradewind.data.store import CandleStore
from tradewind.domain.types import Timeframe, utc_now
from tradewind.engine.records import Kind, Status
from tradewind.errors import ConfigError, DataError, StateError
from tradewind.ml.apply import session_edges, session_vetoes
from tradewind.store.db import upgrade
from tradewind.store.repository import TradeBook
from tradewind.strategies.agents import prepare_agents
from tradewind.trading import session_kernel as sk
from tradewind.trading.session import Session, dump_state, load_state, restore, snapshot
from tradewind.trading.session_report import mode_switches, session_tables

__all__ = ["ScanReport", "net_positions", "paper_orders", "scan"]


@dataclass
class ScanReport:
    """What one pass saw and did."""

    now: pd.Timestamp
    name: str
    executed: bool
    resumed: bool  #: a saved session was restored (else a fresh one started)
    first_candle: pd.Timestamp | None  #: open time of the first candle processed
    last_candle: pd.Timestamp | None  #: ... and of the last (the session's clock)
    candles: int  #: clock candles processed by this pass (0: nothing new)
    due: dict[str, str]  #: agent timeframe → open time of the candle it acted on
    setups: list[dict[str, Any]] = field(default_factory=list)
    closed: list[dict[str, Any]] = field(default_factory=list)
    positions: list[dict[str, Any]] = field(default_factory=list)
    equity: float = float("nan")
    run_id: int | None = None
    model_notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        def iso(x: pd.Timestamp | None) -> str | None:
            return None if x is None else x.isoformat()

        return {
            "now": self.now.isoformat(),
            "session": self.name,
            "executed": self.executed,
            "resumed": self.resumed,
            "first_candle": iso(self.first_candle),
            "last_candle": iso(self.last_candle),
            "candles": self.candles,
            "due": self.due,
            "setups": self.setups,
            "closed": self.closed,
            "positions": self.positions,
            "equity": self.equity,
            "run_id": self.run_id,
            "model_notes": self.model_notes,
        }


def _closed_panel(settings: Settings, now: pd.Timestamp) -> Panel:
    """Every stored candle of the session's pairs that has closed at ``now``."""
    data = settings.data
    tf = Timeframe.parse(data.timeframe)
    store = CandleStore(settings.data_dir, data.exchange)
    if not store.symbols(tf):
        raise DataError(
            f"{store.root / tf.name}: no candles to scan; run `tradewind data update` "
            "(or `tradewind data synth` for the synthetic market)"
        )
    last_open = pd.Timestamp(tf.floor_ns(int(now.value)) - tf.nanoseconds, unit="ns", tz="UTC")
    panel = load_panel(store, data.pairs or None, tf, end=last_open)
    return panel


def net_positions(session: Session) -> list[dict[str, Any]]:
    """The venue's view: the real open positions of every agent netted into one per pair
    (a long of one agent and a short of another on the same pair offset each other)."""
    tr = session.open_trades()
    tr = tr[(tr["kind"] == Kind.REAL) & (tr["status"] == Status.ACTIVE)]
    out: list[dict[str, Any]] = []
    names = [a.name for a in session.agents]
    for p in np.unique(tr["pair"]).tolist():
        mine = tr[tr["pair"] == p]
        qty = float((mine["side"] * mine["qty"]).sum())
        out.append(
            {
                "pair": session.panel.symbols[p],
                "net_qty": qty,
                "agents": sorted({names[a] for a in mine["agent"].tolist()}),
                "last_close": float(session.last_close[p]),
            }
        )
    return out


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): v for k, v in row.items()} for row in frame.to_dict(orient="records")]


def paper_orders(trades: pd.DataFrame, name: str) -> pd.DataFrame:
    """The orders the paper venue filled for ``trades`` (a session's trade table): a
    market entry at its fill, an exit by its kind, and the resting stop of an open
    position. Derived from the lifecycle's fills, so they are the same on every pass.

    Their client ids carry ``{run}``, which the trade book fills with the run they are
    saved in: trade numbers start again in each run of a name (a node started afresh,
    ``--reset``), and an id must be unique in the book."""
    rows: list[dict[str, Any]] = []
    real = trades[(trades["kind"] == "real") & trades["entry_time"].notna()]
    for tr in _records(real):
        buy, sell = ("buy", "sell") if tr["side"] > 0 else ("sell", "buy")
        base = {"trade": tr["id"], "qty": tr["qty"], "exchange_order_id": None}
        rows.append(
            {
                **base,
                "client_order_id": f"tw-{name}-r{{run}}-{tr['id']}-entry",
                "role": "entry",
                "side": buy,
                "type": "market",
                "price": tr["entry_price"],
                "status": "filled",
                "created_time": tr["entry_time"],
                "updated_time": tr["entry_time"],
            }
        )
        if tr["status"] == "closed":
            kind = {"stop": "stop", "trail_stop": "stop", "take_profit": "limit"}.get(
                tr["exit_reason"], "market"
            )
            rows.append(
                {
                    **base,
                    "client_order_id": f"tw-{name}-r{{run}}-{tr['id']}-exit",
                    "role": "exit",
                    "side": sell,
                    "type": kind,
                    "price": tr["exit_price"],
                    "status": "filled",
                    "created_time": tr["entry_time"],
                    "updated_time": tr["exit_time"],
                }
            )
        elif tr["status"] == "active":
            rows.append(
                {
                    **base,
                    "client_order_id": f"tw-{name}-r{{run}}-{tr['id']}-stop",
                    "role": "stop",
                    "side": sell,
                    "type": "stop",
                    "price": tr["stop"],
                    "status": "open",
                    "created_time": tr["entry_time"],
                    "updated_time": tr["entry_time"],
                }
            )
    columns = [
        "trade",
        "client_order_id",
        "role",
        "side",
        "type",
        "qty",
        "price",
        "status",
        "created_time",
        "updated_time",
        "exchange_order_id",
    ]
    return pd.DataFrame(rows, columns=columns)


def _setups(session: Session, first: int, last: int) -> list[dict[str, Any]]:
    """The setups of rows ``[first, last)`` and what the session made of each."""
    ev = session.events
    tr = session.trades[: session.n_trades]
    made = {
        (int(a), int(p), int(t)): i
        for i, (a, p, t) in enumerate(
            zip(tr["agent"].tolist(), tr["pair"].tolist(), tr["nominated_t"].tolist(), strict=True)
        )
    }
    index = session.panel.index
    step = session.panel.timeframe.timedelta
    out: list[dict[str, Any]] = []
    for e in np.flatnonzero((ev.t >= first) & (ev.t < last)).tolist():
        a, p, t = int(ev.agent[e]), int(ev.pair[e]), int(ev.t[e])
        agent = session.agents[a]
        side = 1 if agent.side == "long" else -1
        ref, stop, target = float(ev.ref[e]), float(ev.stop[e]), float(ev.target[e])
        risk = side * (ref - stop)
        row: dict[str, Any] = {
            "agent": agent.name,
            "pair": session.panel.symbols[p],
            "side": agent.side,
            "at": (index[t] + step).isoformat(),
            "price": ref,
            "stop": stop,
            "target": None if np.isnan(target) else target,
            "reward_risk": None if np.isnan(target) or risk <= 0 else side * (target - ref) / risk,
        }
        i = made.get((a, p, t))
        if i is None:
            row.update(decision="skipped", reason="already in this pair, or the same setup again")
        else:
            k = tr[i]
            real = k["kind"] == Kind.REAL
            row.update(
                decision="real" if real else "sim",
                reason="" if real else sk.SIM_REASONS[int(k["reason"])],
                qty=float(k["target_qty"]),
                trade=int(k["id"]),
            )
        out.append(row)
    return out


def scan(
    settings: Settings,
    *,
    now: pd.Timestamp | None = None,
    execute: bool = False,
    name: str = "paper",
    reset: bool = False,
    source: str = "paper",
) -> ScanReport:
    """One pass of the session of ``settings.agents`` at ``now`` (default: the clock);
    ``source`` is what the saved trades say they are (``paper``, or ``replay`` when the
    node replays stored candles)."""
    if not settings.agents:
        raise ConfigError("scan needs agents: declare [[agents]] in the config")
    now = utc_now() if now is None else now
    panel = _closed_panel(settings, now)
    url = settings.book_url
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    upgrade(url)
    rules = load_market_rules(CandleStore(settings.data_dir, settings.data.exchange))
    n_t = len(panel.timestamps)
    with TradeBook(url) as book:
        if reset and execute:
            book.drop_session(name)  # its run and trades stay in the book
        saved = None if reset else book.session_state(name)
        prepared = prepare_agents(panel, settings.agents)
        models = session_vetoes(settings, panel, prepared)
        edges, edge_notes = session_edges(settings, panel, prepared)
        models.notes.extend(edge_notes)
        common: dict[str, Any] = {
            "session": settings.session,
            "lifecycle": settings.lifecycle,
            "fills": settings.fills,
            "rules": rules,
            "close_at_end": False,
            "prepared": prepared,
            "veto": models.veto,
            "scale": models.scale,
            "edges": edges,
        }
        if saved is not None:
            state = load_state(saved.payload)
            if "archived" in state:
                raise StateError(
                    f"session {name!r} is a node's session of agents (its state is archived "
                    "in chunks): it runs through `tradewind run`; scan under another --name"
                )
            session = Session(panel, settings.agents, **common)
            restore(session, state)
        else:
            # A new session trades from the newest closed candle on.
            session = Session(panel, settings.agents, start=n_t - 1, **common)
        first = session.next_t
        session.step(n_t)
        index = panel.index
        report = ScanReport(
            now=now,
            name=name,
            executed=execute,
            resumed=saved is not None,
            first_candle=index[first] if first < n_t else None,
            last_candle=index[n_t - 1],
            candles=max(0, n_t - first),
            due={},
            model_notes=models.notes,
        )
        if first >= n_t:
            report.equity = float("nan")
            report.positions = net_positions(session)
            report.run_id = None if saved is None else saved.run_id
            return report
        closes = panel.timestamps[first:] + panel.timeframe.nanoseconds
        for agent in session.agents:
            tf = Timeframe.parse(agent.timeframe)
            done = closes[(closes - tf.origin_ns) % tf.nanoseconds == 0]
            if len(done):
                report.due[tf.name] = pd.Timestamp(
                    int(done[-1]) - tf.nanoseconds, unit="ns", tz="UTC"
                ).isoformat()
        report.setups = _setups(session, first, n_t)
        trades, tracked, ledger = session_tables(session)
        exits = trades[
            (trades["status"] == "closed")
            & (trades["kind"] == "real")
            & (trades["exit_time"] >= index[first])
        ]
        exits = exits.assign(exit_time=exits["exit_time"].map(pd.Timestamp.isoformat))
        report.closed = _records(exits[["id", "agent", "pair", "exit_time", "exit_reason", "pnl"]])
        report.positions = net_positions(session)
        report.equity = float(session.equity[n_t - 1])
        if execute:
            summary = {
                "trader": "session",
                "source": source,
                "session": name,
                "clock": index[n_t - 1].isoformat(),
                "equity": report.equity,
                "config_hash": config_hash(settings),
                "data": {"exchange": settings.data.exchange, "timeframe": panel.timeframe.name},
                "version": __version__,
            }
            report.run_id = book.save_session_pass(
                name=name,
                source=source,
                summary=summary,
                payload=dump_state(snapshot(session)),
                clock=index[n_t - 1].to_pydatetime(),
                trades=trades,
                tracked=tracked,
                ledger=ledger,
                mode_switches=mode_switches(session),
                orders=paper_orders(trades, name),
            )
    return report
