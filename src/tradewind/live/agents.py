"""The session of agents inside the node: kept in memory on the node's own grid.

``tradewind scan --execute`` loads every stored candle, prepares the agents over them and
restores the session from the trade book on every pass, which costs a third of a second on
100 pairs of 5m candles. In the node the candles are already in memory, in the grid the
cycle trader runs on (:class:`~tradewind.live.market.GrowingMarket`), so the session lives
there too and a tick only does what the new candles require:

* the agents' setups (strategies, universes, models) change only when one of their bars
  closes — an agent on 1h acts at the close of each hour, whatever the node's candle is
  — so they are prepared again only on a tick that closes an agent's bar, or when the grid
  has grown (then the session is rebuilt on the new grid from its snapshot, as a scan
  pass restores it);
* every tick steps the session's kernel over the new rows: stops, targets and trailing
  stops on the node's candles, as in a backtest.

The setups on a prepared grid's rows ahead of the candles are never used: the rows are
stepped only after the tick that brings them, and a tick that closes an agent's bar
prepares the setups again first. The trades are those of one session run over the node's
candles (from its history's start), tested.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from numpy.lib.recfunctions import repack_fields

from tradewind import __version__
from tradewind.config import Settings, config_hash
from tradewind.data.markets import load_market_rules
from tradewind.data.panel import Panel
from tradewind.data.store import CandleStore
from tradewind.domain.types import Timeframe
from tradewind.engine.records import STATUS_NAMES, Status
from tradewind.errors import StateError
from tradewind.live.archive import StateArchive, changeable_trades, frozen_trades
from tradewind.live.notify import Event, Notifier, trade_events
from tradewind.ml.apply import session_edges, session_vetoes
from tradewind.ml.registry import Registry
from tradewind.store.repository import TradeBook
from tradewind.strategies.agents import AgentSetups, prepare_agents
from tradewind.trading import session_kernel as sk
from tradewind.trading.scan import net_positions, paper_orders
from tradewind.trading.session import Session, dump_state, load_state, restore, snapshot
from tradewind.trading.session_report import mode_switches, session_tables

__all__ = ["NodeAgents"]


#: The trade fields the trade book shows (a change in any other is internal state).
_STORED = (
    "status", "entry_t", "entry_price", "qty", "cost", "legs", "stop", "target", "exit_t",
    "exit_price", "exit_reason", "pnl", "fees", "ambiguous", "track", "track_exit_t",
)  # fmt: skip


def _seen(trades: np.ndarray) -> np.ndarray:
    """The stored fields of ``trades`` as raw bytes, one item a trade: comparable with
    ``!=`` (a NaN equals itself here, unlike in a float comparison)."""
    packed = repack_fields(trades[list(_STORED)])
    return np.ascontiguousarray(packed).view(np.dtype((np.void, packed.dtype.itemsize)))


#: The session's state parts archived once they can no longer change (see
#: :mod:`tradewind.live.archive`), and the rows a chunk gathers.
SESSION_PARTS: dict[str, tuple[str, ...]] = {"trades": ("trades",), "ledger": ("ledger",)}
SESSION_CHUNK_ROWS = {"trades": 256, "ledger": 512}


class NodeAgents:
    """The agents of ``settings`` on ``panel`` (the node's grid, ``rows`` of it filled),
    saved under ``name``; a saved session of that name goes on where it stopped, and a new
    one trades from row ``start``."""

    def __init__(
        self,
        settings: Settings,
        book: TradeBook,
        panel: Panel,
        rows: int,
        *,
        name: str,
        source: str,
        start: int,
        at_exchange: bool = False,
        notifier: Notifier | None = None,
    ) -> None:
        self.settings = settings
        self.notifier = notifier
        #: live: the agents' orders go to the exchange netted per pair (the broker's), so
        #: the paper venue's per-trade orders are not written
        self.at_exchange = at_exchange
        self._halt: int | None = None
        self.book = book
        #: the models over the node's own book: the setups are scored again at every bar
        #: close, with no database opened (and probed) each time
        self.registry = Registry(settings.home / "models", settings.book_url, engine=book.engine)
        self.name = name
        self.source = source
        self.rules = load_market_rules(CandleStore(settings.data_dir, settings.data.exchange))
        base = panel.timeframe
        self._bars = sorted({Timeframe.parse(a.timeframe) for a in settings.agents}, key=str)
        self._base_ns = base.nanoseconds
        saved = book.session_state(name)
        self.run_id = None if saved is None else saved.run_id
        self.notes: list[str] = []
        self.archive = StateArchive(book, name, SESSION_PARTS, SESSION_CHUNK_ROWS)
        self.session = self._build(panel, rows, start if saved is None else None)
        if saved is not None:
            restore(self.session, self.archive.whole(load_state(saved.payload)))
        #: trades and ledger entries already in the book (the rest is written next save;
        #: a new session's opening entries too)
        self._saved_trades = self.session.n_trades if saved is not None else 0
        self._saved_ledger = int(self.session.counters[sk.C_NLEDGER]) if saved is not None else 0
        #: the first row whose equity is not in the book yet
        self._saved_equity = self.session.next_t if saved is not None else start
        self._switches_seen = len(mode_switches(self.session)) if saved is not None else 0

    def _prepare(self, panel: Panel) -> tuple[AgentSetups, dict[str, Any]]:
        prepared = prepare_agents(panel, self.settings.agents)
        models = session_vetoes(self.settings, panel, prepared, self.registry)
        edges, edge_notes = session_edges(self.settings, panel, prepared, self.registry)
        self.notes = [*models.notes, *edge_notes]
        return prepared, {"veto": models.veto, "scale": models.scale, "edges": edges}

    def halt(self) -> None:
        """Safe mode: no new real trade from the next row on (setups become sim trades
        with the reason ``safe_mode``); open trades keep their exits. A restarted node in
        safe mode halts again (the state does not carry it)."""
        if self._halt is None:
            self._halt = self.session.next_t
            self.session.halt(self._halt)

    def _save(self, panel: Panel, rows: int, changed: np.ndarray) -> None:
        """The session in one transaction: the trades ``changed`` and the new ones, the
        new ledger entries and equity rows, the state the next step starts from."""
        session = self.session
        index = panel.index
        n = session.n_trades
        ids = np.union1d(changed, np.arange(self._saved_trades, n, dtype=np.int64))
        trades, tracked, ledger = session_tables(session, ids, self._saved_ledger)
        summary = {
            "trader": "session",
            "source": self.source,
            "session": self.name,
            "clock": index[rows - 1].isoformat(),
            "equity": float(session.equity[rows - 1]) if rows else float("nan"),
            "config_hash": config_hash(self.settings),
            "data": {
                "exchange": self.settings.data.exchange,
                "timeframe": panel.timeframe.name,
            },
            "version": __version__,
        }
        state = snapshot(session)
        limits = {"trades": frozen_trades(state["trades"]), "ledger": len(state["ledger"])}
        chunks, archived = self.archive.cut(state, limits)
        done = slice(self._saved_equity, max(self._saved_equity, session.next_t))
        equity_rows = pd.DataFrame(
            {"equity": session.equity[done]},
            index=pd.DatetimeIndex(panel.timestamps[done], tz="UTC"),
        )
        self.run_id = self.book.save_node_tick(
            name=self.name,
            source=self.source,
            summary=summary,
            payload=dump_state(state),
            clock=index[rows - 1].to_pydatetime(),
            run_id=self.run_id,
            trades=trades,
            known=self._saved_trades,
            tracked=tracked,
            ledger=ledger,
            cycles=pd.DataFrame(),
            mode_switches=mode_switches(session),
            orders=None if self.at_exchange else paper_orders(trades, self.name),
            kind="session",
            chunks=chunks,
            equity=equity_rows,
        )
        self.archive.saved(chunks, archived)
        self._saved_equity = done.stop
        self._saved_trades = n
        self._saved_ledger = int(session.counters[sk.C_NLEDGER])

    # -- the operator's requests (the status API's control endpoints) ------------------

    def close_trade(self, trade_no: int) -> tuple[bool, str]:
        """Trade ``trade_no`` exits at the open of its next candle (cancelled if still
        waiting): the kernel carries it out, as a backtest would. Saved at once."""
        session = self.session
        if not 0 <= trade_no < session.n_trades:
            return False, f"agents have no trade {trade_no}"
        tr = session.trades[trade_no]
        if int(tr["status"]) not in (Status.PENDING, Status.ACTIVE):
            return False, f"trade {trade_no} is not open ({STATUS_NAMES[int(tr['status'])]})"
        tr["close_t"] = session.next_t
        self._save(session.panel, session.next_t, np.array([trade_no], dtype=np.int64))
        return True, f"trade {trade_no} closes at the next candle's open"

    def set_mode(self, agent: str, mode: str) -> tuple[bool, str]:
        """Agent ``agent`` to ``dry_run`` (its setups become sim trades from the next
        candle; its open trades keep their exits) or back to ``live``. With the dry-run
        switch on, an agent sent to dry run comes back as any does: after a winning paper
        day. Recorded as a mode switch "switched from the API", saved at once."""
        names = [a.name for a in self.settings.agents]
        if agent not in names:
            raise StateError(f"no agent {agent!r} (agents: {', '.join(names)})")
        a = names.index(agent)
        session = self.session
        want = sk.MODE_DRY if mode == "dry_run" else sk.MODE_LIVE
        if int(session.agent_mode[a]) == want:
            return False, f"agent {agent} is already {mode}"
        session.agent_mode[a] = want
        # the switch's own rule goes on from here: a losing streak that keeps it on paper
        # until a winning paper day, or none
        session.agent_streak[a] = int(session.sparams[3]) if want == sk.MODE_DRY else 0
        session.record_mode(a, want, manual=True)
        self._save(session.panel, session.next_t, np.empty(0, dtype=np.int64))
        return True, f"agent {agent} is {mode} from the next candle"

    def _notify(
        self,
        notifier: Notifier,
        session: Session,
        statuses: dict[int, int],
        touched: np.ndarray,
        n_before: int,
        panel: Panel,
    ) -> None:
        """Events of the step: real trades opened and closed, agents switched."""
        names = [a.name for a in self.settings.agents]
        ids = np.union1d(touched, np.arange(n_before, session.n_trades)).tolist()
        for event in trade_events(
            session.trades,
            statuses,
            ids,
            panel.symbols,
            node=self.name,
            times=panel.timestamps,
            agents=names,
        ):
            notifier.send(event)
        switches = mode_switches(session)
        for sw in switches[self._switches_seen :]:
            to = str(sw.get("to", "")).replace("_", " ")
            text = f"agent {sw.get('agent')} switched to {to}: {sw.get('reason', '')}"
            data = {k: v for k, v in sw.items() if isinstance(v, str | int | float | None)}
            notifier.send(Event("mode_switch", self.name, text, str(sw.get("time")), data))
        self._switches_seen = len(switches)

    def resume(self) -> None:
        """New real trades again from the next candle (a pause from the API lifted)."""
        self._halt = None
        self.session.halt(None)

    def _build(self, panel: Panel, rows: int, start: int | None) -> Session:
        prepared, models = self._prepare(panel)
        session = self._session(panel, rows, start, prepared, models)
        if self._halt is not None:
            session.halt(self._halt)
        return session

    def _session(
        self,
        panel: Panel,
        rows: int,
        start: int | None,
        prepared: AgentSetups,
        models: dict[str, Any],
    ) -> Session:
        return Session(
            panel,
            self.settings.agents,
            session=self.settings.session,
            lifecycle=self.settings.lifecycle,
            fills=self.settings.fills,
            rules=self.rules,
            close_at_end=False,
            prepared=prepared,
            start=rows if start is None else start,
            **models,
        )

    def _closes_a_bar(self, first: int, last: int) -> bool:
        """Whether a candle in rows ``[first, last)`` closes a bar of some agent."""
        stamps = self.session.panel.timestamps[first:last] + self._base_ns
        return any(bool(((stamps - tf.origin_ns) % tf.nanoseconds == 0).any()) for tf in self._bars)

    def advance(self, panel: Panel, rows: int, regridded: bool) -> dict[str, Any]:
        """Step the session to ``rows`` (the grid may have been replaced: ``regridded``),
        save it in one transaction; returns the pass as ``tradewind scan`` reports it."""
        session = self.session
        first = session.next_t
        if regridded:
            saved = snapshot(session)
            session = self._build(panel, rows, None)
            restore(session, saved)
            self.session = session
        elif first < rows and self._closes_a_bar(first, rows):
            prepared, models = self._prepare(panel)
            session.views = prepared.views
            session.events = prepared.events
            session.bar_at = prepared.bar_at
            session.trail = prepared.trail
            session.trail_offset = prepared.trail_offset
            session.trail_bars = prepared.trail_bars
            n_ev = len(prepared.events.t)
            veto, scale = models["veto"], models["scale"]
            session.veto = (
                np.zeros(n_ev, np.bool_) if veto is None else np.ascontiguousarray(veto, np.bool_)
            )
            session.scale = np.ones(n_ev) if scale is None else np.ascontiguousarray(scale, float)
            if models["edges"] is not None:
                session.edges = np.ascontiguousarray(models["edges"], dtype=np.float64)
        # What this step can change: the trades still changeable, and those it creates.
        touched = changeable_trades(session.trades[: session.n_trades])
        before = _seen(session.trades[touched])
        n_before = session.n_trades
        status = session.trades["status"]
        statuses = {int(i): int(status[i]) for i in touched} if self.notifier else {}
        session.step(rows)
        if self.notifier is not None:
            self._notify(self.notifier, session, statuses, touched, n_before, panel)
        index = panel.index
        equity = float(session.equity[rows - 1]) if rows else float("nan")
        if session.next_t > first:
            # Of those, the ones whose stored columns changed (most waiting setups and
            # tracked continuations do not move on a given candle).
            changed = touched[_seen(session.trades[touched]) != before]
            self._save(panel, rows, changed)
        return {
            "session": self.name,
            "candles": max(0, rows - first),
            "last_candle": pd.Timestamp(index[rows - 1]).isoformat() if rows else None,
            "equity": equity,
            "run_id": self.run_id,
            "positions": net_positions(session),
            "model_notes": self.notes,
        }
