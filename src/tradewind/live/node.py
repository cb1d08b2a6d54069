"""The node behind ``tradewind run``: the cycle trader on candles as they close, its
state in the trade book after every tick.

One tick: read the candles that closed since the node's last row (the feed), write them
into the grid (:class:`~tradewind.live.market.GrowingMarket`), and advance the trader over
them with :meth:`~tradewind.trading.cycle.CycleTrader.advance` — the backtest's own loop,
so the daily decision falls on the same candle as in a backtest (the close at or before
``cycle.decision_time``, 23:55 UTC by default) and every fill follows the same model. Then
the trades, ledger, cycles and the trader's whole state go to the trade book in ONE
transaction: a crash loses at most the tick in flight, which the next start runs again
from the same state (same candles, same random state, so the same result).

Start-up and recovery are one path: load the saved state if there is one, rebuild the grid
from the stored candles, restore, and go on from the saved clock.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tradewind import __version__
from tradewind.backtest.run import RunInputs, compile_kernels, run_inputs
from tradewind.config import Settings, config_hash
from tradewind.data.panel import decision_bars
from tradewind.data.store import CandleStore
from tradewind.domain.types import Timeframe, parse_duration
from tradewind.engine.records import POOL_NAMES, STATUS_NAMES, Status
from tradewind.errors import ConfigError, DataError, StateError
from tradewind.live.archive import StateArchive, changeable_trades, frozen_trades
from tradewind.live.clock import Clock
from tradewind.live.feed import StoreFeed
from tradewind.live.market import GrowingMarket
from tradewind.live.notify import ErrorEvents, Event, Notifier, keep_stderr, trade_events
from tradewind.store.db import upgrade
from tradewind.store.repository import TradeBook
from tradewind.trading import cycle_kernel as ck
from tradewind.trading.cycle import CycleTrader
from tradewind.trading.cycle_report import cycle_table, ledger_table, mode_switches, trade_tables
from tradewind.trading.state import dump_state, load_state, restore_cycle, snapshot_cycle

if TYPE_CHECKING:
    from tradewind.live.agents import NodeAgents
    from tradewind.live.broker import Broker
    from tradewind.venues.ccxt_venue import CcxtVenue

__all__ = ["CycleNode", "NodeLock", "Tick"]

SOURCES = ("paper", "replay", "live")
#: the safe-mode reason of a pause from the API: the only safe mode the API may lift
PAUSED = "paused from the API"
log = logging.getLogger(__name__)

#: The parts of the trader's state archived for good once they can no longer change, each
#: with its arrays and the rows a chunk gathers: a state row that grew with every trade,
#: ledger entry and equity row cost a node that runs for months more each tick.
PARTS: dict[str, tuple[str, ...]] = {
    "trades": ("trades",),
    "ledger": ("ledger",),
    "equity": ("equity_ns", "equity", "paper_equity"),
}
CHUNK_ROWS = {"trades": 64, "ledger": 256, "equity": 2048}


@dataclass
class Tick:
    """What one tick saw and did."""

    at: pd.Timestamp
    candles: int  #: rows added to the grid
    last_candle: pd.Timestamp | None  #: open time of the newest row
    decided: list[str] = field(default_factory=list)  #: decision candles (ISO open times)
    open_trades: int = 0
    equity: float = float("nan")
    seconds: float = 0.0  #: the tick's own time (reading, trading, saving)
    #: the session of agents' pass, when agents are configured (``ScanReport.to_dict``)
    agents: dict[str, Any] | None = None
    #: pairs the freshness watchdog finds stale: pair → open time of its newest candle
    stale: dict[str, str] = field(default_factory=dict)
    #: why the node is in safe mode (no new entries), or None
    safe: str | None = None
    #: what the tick did at the exchange (live: :class:`~tradewind.live.broker.SyncReport`)
    orders: dict[str, Any] | None = None


class NodeLock:
    """One node per trade book: an exclusive lock on a file beside it, held while the
    node runs and released by the system if the process dies (``flock``)."""

    def __init__(self, home: Path, book_url: str) -> None:
        key = hashlib.blake2b(book_url.encode(), digest_size=8).hexdigest()
        home.mkdir(parents=True, exist_ok=True)
        self.path = home / f"node-{key}.lock"
        self._fh: IO[str] | None = None

    def acquire(self) -> None:
        fh = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held while running
        if sys.platform != "win32":
            import fcntl

            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                fh.seek(0)
                holder = fh.read().strip() or "?"
                fh.close()
                raise StateError(
                    f"another node runs on this trade book (pid {holder}, lock {self.path}); "
                    "one node per trade book and account"
                ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def _book(settings: Settings) -> str:
    url = settings.book_url
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    upgrade(url)
    return url


class CycleNode:
    """The cycle trader of ``settings`` run as a node (``source``: paper, replay or live)
    from ``start``; a saved node of the same name goes on where it stopped."""

    #: Rows the grid is allocated ahead of the candles (it doubles when they run out).
    AHEAD = 2048

    url: str
    lock: NodeLock
    book: TradeBook | None
    feed: StoreFeed
    market: GrowingMarket
    inputs: RunInputs

    def __init__(
        self,
        settings: Settings,
        *,
        source: str,
        clock: Clock,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
        name: str | None = None,
        reset: bool = False,
        venue: CcxtVenue | None = None,
        host: CycleNode | None = None,
        until: pd.Timestamp | None = None,
    ) -> None:
        """``host`` makes this trader a member of an ensemble: it shares the host's lock,
        trade book, candle feed and grid (the host reads the candles, each member trades
        them). ``until``: the grid holds the candles closed by then at least (the newest
        clock among an ensemble's saved members)."""
        if source not in SOURCES:
            raise ConfigError(f"node source {source!r}: use one of {', '.join(SOURCES)}")
        self.settings = settings
        self.source = source
        self.clock = clock
        self.name = name or settings.live.name
        self.agents_name = f"{self.name}-agents"  #: the session of agents' saved state
        self._stale: set[str] = set()
        self.safe: str | None = None
        self.venue = venue
        self.broker: Broker | None = None
        self.tf = Timeframe.parse(settings.data.timeframe)
        self.host = host
        #: an ensemble's other members, whose trades the host's broker carries out too
        self.members: list[CycleNode] = []
        self._mutex = threading.RLock()  #: a tick and a reconciliation never overlap
        #: the decision inputs last built, and on how many rows (an ensemble shares them)
        self._inputs_at: tuple[int, tuple[Any, str, Any, str]] | None = None
        #: what the status server shows between ticks: replaced whole after each tick
        self.snapshot: dict[str, Any] = {}
        self.ticks = 0
        self.notifier: Notifier | None = None
        self._error_events: logging.Handler | None = None
        self._stderr: logging.Handler | None = None
        self._switches_seen = 0  #: mode switches already notified
        if host is not None:
            self.notifier = host.notifier
            if venue is not None:
                raise ConfigError("an ensemble's members trade on paper: no venue for them")
            self.url, self.lock, self.book = host.url, host.lock, host.book
            self._open(start, end, reset, until)
            return
        self.url = _book(settings)
        self.lock = NodeLock(settings.home, self.url)
        self.lock.acquire()
        self.book = None
        try:
            # One connection pool for the node's life: opening the book costs 2 ms a tick.
            self.book = TradeBook(self.url)
            self.notifier = Notifier.of(settings, self.name)
            if self.notifier is not None:
                self._error_events = ErrorEvents(self.notifier, self.name)
                root = logging.getLogger("tradewind")
                self._stderr = keep_stderr(root)
                root.addHandler(self._error_events)
            self._open(start, end, reset, until)
        except BaseException:
            self.close()
            raise

    def _open(
        self,
        start: pd.Timestamp | None,
        end: pd.Timestamp | None,
        reset: bool,
        until_at_least: pd.Timestamp | None,
    ) -> None:
        settings = self.settings
        book = self._book()
        if reset:
            book.drop_session(self.name)
            book.drop_session(self.agents_name)
            book.drop_session(f"{self.name}-venue")
        saved = book.session_state(self.name)
        self.archive = StateArchive(book, self.name, PARTS, CHUNK_ROWS)
        state = None if saved is None else self.archive.whole(load_state(saved.payload))
        if saved is not None and saved.source != self.source:
            raise StateError(
                f"node {self.name!r} in the trade book is a {saved.source} node, not "
                f"{self.source}: use another --name, or --reset to start it anew"
            )
        if state is not None:
            origin = pd.Timestamp(int(state["origin"][0]), tz="UTC")
            self.start = pd.Timestamp(int(state["start"][0]), tz="UTC")
            self.run_id = saved.run_id if saved is not None else None
        else:
            begin = start if start is not None else self.clock.now()
            self.start = pd.Timestamp(self.tf.floor_ns(int(begin.value)), unit="ns", tz="UTC")
            origin = self.start - parse_duration(settings.live.history)
            self.run_id = None
        if self.host is not None:
            self._share(self.host, state is not None)
        else:
            self._load(origin, end, state, until_at_least)
        #: The nominator's models and the per-regime lifecycle parameters read features
        #: computed once per panel: on a grid that grows they are built again on the
        #: candles at hand before each decision (which also picks up a retrained model).
        cycle = settings.cycle
        self._fresh_inputs = cycle.nominator in ("model", "auto") or cycle.risk_params != "static"
        compile_kernels()
        self.trader = CycleTrader(
            self.market.panel,
            cycle=settings.cycle,
            lifecycle=settings.lifecycle,
            fills=settings.fills,
            nominator=self.inputs.nominator,
            rng=np.random.default_rng(settings.seed),
            rules=self.inputs.rules,
            market=self.market.market,
            regime_params=self.inputs.regime_params,
        )
        self._flags()
        self.agents: NodeAgents | None = None
        if settings.agents and self.host is None:
            from tradewind.live.agents import NodeAgents

            self.agents = NodeAgents(
                settings,
                book,
                self.market.panel,
                self.market.rows,
                name=self.agents_name,
                source=self.source,
                start=self.market.rows,
                at_exchange=self.venue is not None,
                notifier=self.notifier,
            )
        #: trades and ledger entries already in the book (the rest is written next save)
        self._saved_trades, self._saved_ledger = 0, 0
        #: the first grid row whose equity is not in the book yet (the history before the
        #: start only warms up)
        self._saved_equity = int(
            np.searchsorted(self.market.panel.timestamps, int(self.start.value))
        )
        if state is not None:
            restore_cycle(self.trader, state)
            self._saved_trades = self.trader.n_trades
            self._switches_seen = len(mode_switches(cycle_table(self.trader)))
            self._saved_equity = max(self._saved_equity, self.trader.next_t)
            self._saved_ledger = int(self.trader.counters[ck.C_NLEDGER])
            reason = str(state["safe"]) if "safe" in state else ""
            self.safe = reason or None
            if self.safe and self.agents is not None:
                self.agents.halt()
            # Start-up is recovery: the account is brought in line with the saved trader
            # (orders whose fate is unknown are asked about first) before the first tick;
            # an ensemble's host does it once its members are there.
            if self.host is None and settings.live.ensemble == 1:
                self._sync()

    def _share(self, host: CycleNode, saved: bool) -> None:
        """An ensemble member: the host's start, feed, grid and decision inputs."""
        if saved and self.start != host.start:
            raise StateError(
                f"node {self.name!r} started at {self.start}, its ensemble at {host.start}: "
                "an ensemble's members start together (--reset starts them all afresh)"
            )
        self.start = host.start
        self.feed, self.market, self.inputs = host.feed, host.market, host.inputs

    def _load(
        self,
        origin: pd.Timestamp,
        end: pd.Timestamp | None,
        state: dict[str, np.ndarray] | None,
        until_at_least: pd.Timestamp | None,
    ) -> None:
        """The candle feed and the grid, from ``origin`` to the node's clock."""
        settings = self.settings
        self.feed = StoreFeed(
            CandleStore(settings.data_dir, settings.data.exchange),
            self.tf,
            list(settings.data.pairs) or None,
            start=origin,
            end=end,
            preload=self.source == "replay",
        )
        # Warm-up: the candles closed before the start (the one closing at the start is
        # the first tick's).
        until = max(self.clock.now(), self.start) - pd.Timedelta(1, "ns")
        if state is not None and int(state["clock"][0]) >= 0:
            # Every candle the saved trader had processed: it goes on from the next.
            done = pd.Timestamp(int(state["clock"][0]) + self.tf.nanoseconds, tz="UTC")
            until = max(until, done)
        if until_at_least is not None:
            until = max(until, until_at_least)
        history = self.feed.closed(None, until)
        if len(history.timestamps) == 0:
            raise StateError(f"node {self.name!r}: no candles closed before {self.start}")
        self.market = GrowingMarket(history, ahead=self.AHEAD)
        try:
            self.inputs = run_inputs(settings, history)  # the grid's filled rows
        except DataError as exc:
            raise DataError(
                f"node {self.name!r}: the candles before its start (live.history = "
                f"{settings.live.history}) are too few for the nominator's warm-up; raise "
                f"live.history. {exc}"
            ) from exc

    def _flags(self) -> None:
        """The decision rows on the whole grid: from the node's start (history before it
        only warms up) once the nominator's warm-up has passed."""
        panel = self.market.panel
        first = int(np.searchsorted(panel.timestamps, int(self.start.value)))
        warmup = self.inputs.nominator.warmup_bars(panel.timeframe)
        rows = decision_bars(panel.timestamps, self.tf, self.settings.cycle.decision_time, warmup)
        self.decisions = np.zeros(len(panel.timestamps), dtype=np.bool_)
        self.decisions[rows[rows >= first]] = True
        self._no_decisions = np.zeros_like(self.decisions)

    # -- running -------------------------------------------------------------------------

    def tick(self, now: pd.Timestamp | None = None) -> Tick:
        """Read what closed by ``now`` (default: the clock), trade it, save."""
        with self._mutex:
            started = time.perf_counter()
            now = self.clock.now() if now is None else now
            candles, regridded = self.read(now)
            tick = self.trade(now, candles, regridded)
            tick.seconds = time.perf_counter() - started
            self.ticks += 1
            self._publish(tick)
            return tick

    def _publish(self, tick: Tick) -> None:
        """The snapshot the status server reads (one assignment: never half of one)."""
        m = self.market
        rows = m.last_row
        close = m.market.close
        prices = {
            sym: (
                float(close[p, rows[p]]),
                pd.Timestamp(int(m.panel.timestamps[rows[p]]), tz="UTC").to_pydatetime(),
            )
            for p, sym in enumerate(m.panel.symbols)
            if rows[p] >= 0
        }
        self.snapshot = {
            "last_candle": None if tick.last_candle is None else tick.last_candle.to_pydatetime(),
            "equity": tick.equity if tick.equity == tick.equity else None,
            "stale": dict(tick.stale),
            "prices": prices,
            "tick": {
                "at": tick.at.to_pydatetime(),
                "seconds": tick.seconds,
                "candles": tick.candles,
                "ticks": self.ticks,
            },
        }

    def last_prices(self, pairs: list[str]) -> dict[str, tuple[float, Any]]:
        """The last close of each pair as of the last tick."""
        prices = self.snapshot.get("prices", {})
        return {p: prices[p] for p in pairs if p in prices}

    @property
    def paused(self) -> bool:
        return bool(self.safe and self.safe.startswith(PAUSED))

    def pause(self) -> bool:
        """New entries stop (safe mode, saved at once: a restart stays paused); False when
        already in safe mode. Taken between two ticks."""
        with self._mutex:
            if self.safe:
                return False
            for node in (self, *self.members):
                node.enter_safe_mode(PAUSED)
                node._save(np.empty(0, dtype=np.int64))
            return True

    def resume(self) -> tuple[bool, str]:
        """Lift a pause from the API; a safe mode the node entered itself stays (that
        takes ``--reset``): whether it was lifted, and why not."""
        with self._mutex:
            if not self.safe:
                return True, "not paused"
            if not self.paused:
                return False, (
                    f"the node is in safe mode of its own ({self.safe}); the API lifts only "
                    "its own pause: restart with --reset after checking the account"
                )
            for node in (self, *self.members):
                node.safe = None
                node._save(np.empty(0, dtype=np.int64))
            if self.agents is not None:
                self.agents.resume()
            log.warning("node %s: resumed from the API; new entries from the next candle",
                        self.name)
            return True, "resumed"

    def reconcile(self) -> dict[str, Any] | None:
        """Live, between ticks: the account brought in line with the trader as it stands
        (orders asked about, fills recorded, open orders and balances checked); never at
        the same time as a tick. Safe mode it enters is saved at once."""
        with self._mutex:
            return self.sync()

    def sync(self) -> dict[str, Any] | None:
        """The venue synced (:meth:`_sync`); a safe mode it made any trader enter is saved
        at once."""
        nodes = [self, *self.members]
        before = [n.safe for n in nodes]
        report = self._sync()
        for node, was in zip(nodes, before, strict=True):
            if node.safe != was:
                node._save(np.empty(0, dtype=np.int64))  # the safe mode the sync entered
        return report

    def equity(self) -> float:
        """The equity at the last processed row (NaN before the first)."""
        t = self.trader
        return float(t.equity[t.next_t - 1]) if t.next_t else float("nan")

    def read(self, now: pd.Timestamp) -> tuple[int, bool]:
        """The candles closed by ``now`` written into the grid: how many, and whether the
        grid was replaced by a larger one."""
        new = self.feed.closed(self.market.end_ns, now)
        return len(new.timestamps), self.market.extend(new)

    def trade(
        self, now: pd.Timestamp, candles: int, regridded: bool, *, sync: bool = True
    ) -> Tick:
        """Advance the trader (and the agents) over the grid's new rows, save, sync the
        venue (``sync`` False: an ensemble's host syncs once all members have traded)."""
        if regridded:
            self.trader.regrid(self.market.panel, self.market.market)
            self._flags()
        rows = self.market.rows
        # What this tick can change: the trades still changeable now, and those it creates.
        touched = changeable_trades(self.trader.trades[: self.trader.n_trades])
        n_before = self.trader.n_trades
        status = self.trader.trades["status"]
        before = {int(i): int(status[i]) for i in touched} if self.notifier else {}
        if self._fresh_inputs and self.safe_flags()[self.trader.next_t : rows].any():
            self._decision_inputs(rows)
        decided = self.trader.advance(rows, self.safe_flags())
        if self.notifier is not None:
            ids = np.union1d(touched, np.arange(n_before, self.trader.n_trades))
            for event in trade_events(
                self.trader.trades,
                before,
                ids.tolist(),
                self.market.panel.symbols,
                node=self.name,
                times=self.market.panel.timestamps,
            ):
                self.notifier.send(event)
        self._breakers()
        self._save(touched)
        agents = None
        if self.agents is not None:
            # The session of agents on the same grid, with the kernel a session backtest
            # runs, saved in its own transaction under its own name.
            agents = self.agents.advance(self.market.panel, rows, regridded)
        orders = self.sync() if sync else None
        stamps = self.market.panel.timestamps
        stale = self._watch() if self.host is None else {}
        return Tick(
            at=now,
            candles=candles,
            last_candle=pd.Timestamp(int(stamps[rows - 1]), tz="UTC") if rows else None,
            decided=[pd.Timestamp(int(stamps[d]), tz="UTC").isoformat() for d in decided],
            open_trades=int(self.trader.counters[ck.C_NOPEN]),
            equity=self.equity(),
            agents=agents,
            stale=stale,
            safe=self.safe,
            orders=orders,
        )

    def _decision_inputs(self, rows: int) -> None:
        """The nominator and regime parameters rebuilt on the grid's filled ``rows`` (the
        decision about to be taken lies among them); see :func:`decision_inputs`."""
        from dataclasses import replace

        from tradewind.backtest.run import decision_inputs

        host = self.host
        if host is not None and host._inputs_at is not None and host._inputs_at[0] == rows:
            built = host._inputs_at[1]  # an ensemble's host built them on these rows
        else:
            panel = self.market.panel
            filled = replace(
                panel,
                timestamps=panel.timestamps[:rows],
                values=panel.values[:rows],
                mask=panel.mask[:rows],
            )
            built = decision_inputs(self.settings, filled)
        self._inputs_at = (rows, built)
        nominator, note, params, lifecycle_note = built
        self.trader.nominator = nominator
        self.trader.regime_params = params
        self.inputs.nominator_note = note
        self.inputs.lifecycle_note = lifecycle_note

    # -- the venue -----------------------------------------------------------------------

    def _books(self) -> list[Any]:
        """What the account follows: this trader, an ensemble's other members, and the
        agents netted per pair (once each has a run in the book)."""
        from tradewind.live.broker import AgentsBook, CycleBook

        first = int(np.searchsorted(self.market.panel.timestamps, int(self.start.value)))
        books: list[Any] = [
            CycleBook(n.run_id, n.name, n.trader, first)
            for n in (self, *self.members)
            if n.run_id is not None
        ]
        agents = self.agents
        if agents is not None and agents.at_exchange and agents.run_id is not None:
            books.append(
                AgentsBook(agents.run_id, agents.name, agents.session, safe=self.safe is not None)
            )
        return books

    def _sync(self) -> dict[str, Any] | None:
        """Live: make the account follow the books, then reconcile (see
        :mod:`tradewind.live.broker`); None on paper and in replay."""
        if self.venue is None or self.run_id is None:
            return None
        books = self._books()
        if self.broker is None:
            from tradewind.live.broker import Broker

            self.broker = Broker(
                self.venue,
                self._book(),
                name=self.name,
                run_id=self.run_id,
                runs=[b.run_id for b in books],
                symbols=self.market.panel.symbols,
                config=self.settings.live,
                now=lambda: self.clock.now().to_pydatetime(),
                on_problem=self._account_problem,
            )
        return self.broker.sync(books).to_dict()

    def _account_problem(self, reason: str) -> None:
        """The account is shared: a problem with it stops new entries everywhere."""
        for node in (self, *self.members):
            node.enter_safe_mode(reason)

    def flatten(self) -> dict[str, Any]:
        """Live: safe mode, then every open order of the node cancelled and every position
        sold at the market; saved at once. Returns what was done at the exchange."""
        if self.venue is None:
            raise ConfigError("flatten needs the exchange: a paper node holds no position")
        self._sync()  # the broker, and the orders brought up to date
        if self.broker is None:
            return {"placed": 0, "cancelled": 0, "problems": ["the node has not traded yet"]}
        self._account_problem("flattened by `tradewind flatten`")
        report = self.broker.flatten(self._books()).to_dict()
        for node in (self, *self.members):
            node._save(np.empty(0, dtype=np.int64))
        report["positions"] = self.broker.positions()
        return report

    # -- the operator's requests (the status API's control endpoints) --------------------

    def close_trade(self, trade_id: int) -> tuple[bool, str]:
        """The trade with book id ``trade_id`` (the cycle trader's, an ensemble member's or
        an agent's) exits at the open of its pair's next candle, or is cancelled if still
        waiting. The trade kernel carries it out at the next tick, as it carries out a
        stop (exit reason ``manual``), so the books, the ledger and a live account follow
        as for any exit. Saved at once: a restart still closes it. Taken between ticks."""
        with self._mutex:
            row = self._book().trade(trade_id)  # StateError: no such trade
            if row["kind"] == "tracked":
                return False, f"trade {trade_id} is a tracked continuation, not a position"
            no = int(row["trade_no"])
            for node in (self, *self.members):
                if node.run_id == row["run_id"]:
                    return node._close(no, trade_id)
            agents = self.agents
            if agents is not None and agents.run_id == row["run_id"]:
                return agents.close_trade(no)
            raise StateError(f"trade {trade_id} is not one of node {self.name!r}'s")

    def _close(self, no: int, trade_id: int) -> tuple[bool, str]:
        trader = self.trader
        tr = trader.trades[: trader.n_trades]
        if not 0 <= no < len(tr) or int(tr["id"][no]) != no:
            raise StateError(f"trade {trade_id} is not in node {self.name!r}'s memory")
        status = int(tr["status"][no])
        if status not in (Status.PENDING, Status.ACTIVE):
            return False, f"trade {trade_id} is not open ({STATUS_NAMES[status]})"
        tr["close_t"][no] = trader.next_t
        self._save(np.array([no], dtype=np.int64))
        log.warning("node %s: trade %d closes at the next open (from the API)", self.name, no)
        return True, f"trade {trade_id} closes at the next candle's open"

    def set_agent_mode(self, agent: str, mode: str) -> tuple[bool, str]:
        """Agent ``agent`` to ``dry_run`` or back to ``live`` from the next candle (see
        :meth:`~tradewind.live.agents.NodeAgents.set_mode`); saved at once."""
        if mode not in ("dry_run", "live"):
            raise ConfigError(f"agent mode {mode!r}: use dry_run or live")
        with self._mutex:
            if self.agents is None:
                raise StateError(f"node {self.name!r} runs no agents")
            done, detail = self.agents.set_mode(agent, mode)
            if done:
                log.warning("node %s: agent %s to %s (from the API)", self.name, agent, mode)
            return done, detail

    # -- safe mode -----------------------------------------------------------------------

    def safe_flags(self) -> np.ndarray:
        """The decision rows the trader may use: none in safe mode."""
        return self._no_decisions if self.safe else self.decisions

    def enter_safe_mode(self, reason: str) -> None:
        """No new entries from now on: no daily decision, and the nominations still
        waiting for their breakout expire at the next candle (their capital goes where an
        expiry sends it); open positions keep their exits. Saved with the state, so a
        restart stays safe. Leaving it is a deliberate act (``--reset`` for now)."""
        if self.safe:
            return
        self.safe = reason
        log.error(
            "node %s: SAFE MODE — %s; no new entries, exits still managed",
            self.name,
            reason,
            extra={"notified": True},
        )
        if self.notifier is not None:
            self.notifier.send(
                Event(
                    "safe_mode",
                    self.name,
                    f"SAFE MODE: {reason}; no new entries, exits still managed",
                    self.clock.now().isoformat(),
                    {"reason": reason},
                )
            )
        if self.agents is not None:
            self.agents.halt()
        tr = self.trader.trades
        # By status: a nomination made this tick is not in the kernel's open list yet.
        ids = np.flatnonzero(tr["status"][: self.trader.n_trades] == Status.PENDING)
        for i in ids.tolist():
            if not tr["market_entry"][i]:
                tr["expiry_t"][i] = min(int(tr["expiry_t"][i]), self.trader.next_t)

    def _breakers(self) -> None:
        """Circuit breakers on the real book's equity: the day's loss and the drawdown."""
        t = self.trader.next_t - 1
        first = int(np.searchsorted(self.market.panel.timestamps, int(self.start.value)))
        if self.safe or t < first:
            return
        eq = self.trader.equity
        day = int(self.market.panel.timestamps[t]) // 86_400_000_000_000 * 86_400_000_000_000
        d0 = max(first, int(np.searchsorted(self.market.panel.timestamps, day)))
        opening = float(eq[d0 - 1]) if d0 > first else float(eq[first])
        now, peak = float(eq[t]), float(np.nanmax(eq[first : t + 1]))
        limits = self.settings.live
        if opening > 0 and now <= opening * (1 - limits.daily_loss_limit):
            self.enter_safe_mode(
                f"daily loss {1 - now / opening:.1%} reached live.daily_loss_limit "
                f"{limits.daily_loss_limit:.1%}"
            )
        elif peak > 0 and now <= peak * (1 - limits.max_drawdown):
            self.enter_safe_mode(
                f"drawdown {1 - now / peak:.1%} from the peak reached live.max_drawdown "
                f"{limits.max_drawdown:.1%}"
            )

    def _watch(self) -> dict[str, str]:
        """The freshness watchdog: the stale pairs, logged when the set changes."""
        market = self.market
        pairs = market.stale(self.settings.live.stale_after)
        stamps = market.panel.timestamps
        stale = {
            market.panel.symbols[p]: pd.Timestamp(int(stamps[market.last_row[p]]), tz="UTC")
            .isoformat()
            for p in pairs
        }
        if set(stale) != self._stale:
            gone, back = sorted(set(stale) - self._stale), sorted(self._stale - set(stale))
            if gone:
                log.warning("node %s: stale candles for %s", self.name, ", ".join(gone))
            if back:
                log.info("node %s: candles again for %s", self.name, ", ".join(back))
            self._stale = set(stale)
        return stale

    def _save(self, touched: np.ndarray) -> None:
        """The tick's trades, ledger entries, cycles and the trader's state, in one
        transaction — only what the tick changed: the trades open before it (``touched``)
        and those it created, and the ledger entries it added."""
        trader = self.trader
        n = trader.n_trades
        ids = np.union1d(touched, np.arange(self._saved_trades, n, dtype=np.int64))
        trades, tracked = trade_tables(trader, ids)
        cycles = cycle_table(trader)
        state = snapshot_cycle(trader)
        limits = {
            "trades": frozen_trades(state["trades"]),
            "ledger": len(state["ledger"]),
            "equity": len(state["equity"]),
        }
        chunks, archived = self.archive.cut(state, limits)
        origin = int(self.market.panel.timestamps[0])
        state["origin"] = np.array([origin], dtype=np.int64)
        state["start"] = np.array([int(self.start.value)], dtype=np.int64)
        state["safe"] = np.array(self.safe or "")
        clock = int(state["clock"][0])
        pools = trader.pools[0]
        summary: dict[str, Any] = {
            "trader": "cycle",
            "node": self.name,
            "source": self.source,
            "start": self.start.isoformat(),
            "clock": None if clock < 0 else pd.Timestamp(clock, tz="UTC").isoformat(),
            "equity": float(trader.equity[trader.next_t - 1]) if trader.next_t else None,
            "capital": self.settings.cycle.capital,
            "pools": {k: float(pools[i]) for i, k in enumerate(POOL_NAMES[:5])},
            "nominator": self.inputs.nominator_note,
            "safe_mode": self.safe,
            "config_hash": config_hash(self.settings),
            "seed": self.settings.seed,
            "data": {"exchange": self.settings.data.exchange, "timeframe": self.tf.name},
            "version": __version__,
        }
        n_ledger = int(trader.counters[ck.C_NLEDGER])
        switches = mode_switches(cycles)
        self._notify_switches(switches, "cycle trader")
        done = slice(self._saved_equity, max(self._saved_equity, trader.next_t))
        equity = pd.DataFrame(
            {"equity": trader.equity[done], "paper_equity": trader.paper_equity[done]},
            index=pd.DatetimeIndex(self.market.panel.timestamps[done], tz="UTC"),
        )
        self.run_id = self._book().save_node_tick(
            name=self.name,
            source=self.source,
            summary=summary,
            payload=dump_state(state),
            clock=None if clock < 0 else pd.Timestamp(clock, tz="UTC").to_pydatetime(),
            run_id=self.run_id,
            trades=trades,
            known=self._saved_trades,
            tracked=tracked,
            ledger=ledger_table(trader, self._saved_ledger),
            cycles=cycles,
            mode_switches=switches,
            chunks=chunks,
            equity=equity,
        )
        self._saved_trades, self._saved_ledger = n, n_ledger
        self._saved_equity = done.stop
        self.archive.saved(chunks, archived)

    def _notify_switches(self, switches: list[dict[str, Any]], who: str) -> None:
        """A ``mode_switch`` event for each switch not notified yet."""
        if self.notifier is None:
            return
        for sw in switches[self._switches_seen :]:
            to = str(sw.get("to", "")).replace("_", " ")
            self.notifier.send(
                Event(
                    "mode_switch",
                    self.name,
                    f"{who} switched to {to}: {sw.get('reason', '')}",
                    str(sw.get("time")),
                    {k: v for k, v in sw.items() if isinstance(v, str | int | float | None)},
                )
            )
        self._switches_seen = len(switches)

    def _book(self) -> TradeBook:
        if self.book is None:
            raise StateError(f"node {self.name!r} is closed")
        return self.book

    def close(self) -> None:
        if self.host is not None:  # an ensemble member: the host owns book and lock
            return
        if self._error_events is not None:
            for handler in (self._error_events, self._stderr):
                if handler is not None:
                    logging.getLogger("tradewind").removeHandler(handler)
            self._error_events = self._stderr = None
        if self.notifier is not None:
            self.notifier.close()
            self.notifier = None
        if self.book is not None:
            self.book.close()
            self.book = None
        self.lock.release()

    def __enter__(self) -> CycleNode:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
