"""The modular trader (seed 004): a session of agents around the compiled bar loop.

Python prepares what does not depend on the session's state — each agent's candles on its
own timeframe, its strategy's setups over the whole panel (pure, causal), its universe
(top pairs by 1-day quote volume, refreshed at each UTC day) — and hands them to
:func:`tradewind.trading.session_kernel.advance` as one sorted list of setups. The kernel
does everything that depends on state: open trades, budgets, open risk, allocation,
the dry-run switch. A backtest advances over the whole clock; ``tradewind scan`` and the
live node advance it row by row over new candles: the same code.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from tradewind.config.models import AgentConfig, FillsConfig, LifecycleConfig, SessionConfig
from tradewind.data.markets import MarketRules
from tradewind.data.panel import Panel
from tradewind.engine.records import Pool, Status, new_trades
from tradewind.errors import ConfigError, StateError
from tradewind.portfolio.allocation import allocation_shares
from tradewind.portfolio.ledger import R_INITIAL, new_ledger, transfer
from tradewind.strategies.agents import (
    AgentSetups,
    AgentView,
    SetupEvents,
    agent_side,
    prepare_agents,
)
from tradewind.trading import session_kernel as sk
from tradewind.trading.cycle import lifecycle_params
from tradewind.trading.schedule import due_timeframes
from tradewind.trading.state import dump_state, load_state, ns_to_rows, remap_pairs, rows_to_ns

__all__ = [
    "AgentView",
    "Session",
    "SetupEvents",
    "dump_state",
    "get_timeframes",
    "load_state",
    "restore",
    "snapshot",
]

_DAY_NS = 86_400_000_000_000


def get_timeframes(
    now: pd.Timestamp, agents: Sequence[AgentConfig], last_acted: Mapping[str, pd.Timestamp]
) -> dict[str, pd.Timestamp]:
    """The agents' timeframes due at ``now`` (seed 004's ``get_timeframes``), each with the
    open time of the candle it acts on: a 4h agent after 00:00, 04:00, …; a 1d agent once
    a day; never twice for one candle (``last_acted``)."""
    return due_timeframes(now, sorted({a.timeframe for a in agents}), last_acted)


class Session:
    """A session of agents over one panel (the clock): state arrays, setups, the bar loop."""

    def __init__(
        self,
        panel: Panel,
        agents: Sequence[AgentConfig],
        *,
        session: SessionConfig,
        lifecycle: LifecycleConfig,
        fills: FillsConfig,
        rules: Mapping[str, MarketRules] | None = None,
        expectancy_trades: int | None = None,
        events: SetupEvents | None = None,
        prepared: AgentSetups | None = None,
        veto: np.ndarray | None = None,
        scale: np.ndarray | None = None,
        edges: np.ndarray | None = None,
        start: int = 0,
        close_at_end: bool = True,
    ) -> None:
        """``events`` replaces the strategies' setups (tests, or setups from elsewhere);
        it must be sorted as :func:`tradewind.strategies.agents.prepare_agents` sorts
        them. ``start`` is the first clock row the session trades on (a paper session
        starts at the newest candle, not at the beginning of the history its strategies
        need); ``close_at_end`` settles every trade at the last candle (a backtest)
        instead of leaving it open for the next pass. ``prepared`` reuses the agents' setups
        computed before (to apply models to them); ``veto`` (one flag per setup) marks
        setups the agents' models refused: they become sim trades (reason ``model``);
        ``scale`` (one factor per setup, default 1) shrinks the size of the others;
        ``edges`` (clock row × agent, NaN: none) is the performance model's expectancy,
        which the daily allocation uses instead of the trailing mean."""
        if not agents:
            raise ConfigError("the session has no agents: declare [[agents]] in the config")
        self.panel = panel
        self.agents = list(agents)
        self.cfg = session
        self.close_at_end = close_at_end
        self.tf = panel.timeframe
        self.params = lifecycle_params(lifecycle, fills, self.tf)
        self.sparams = (
            float(session.risk_per_trade),
            float(session.open_risk_cap),
            float(session.allocation_floor),
            float(session.dry_run_loss_days),
            math.inf,  # halt_t: see :meth:`halt`
        )
        self.fields = np.array(
            [panel.fields.index(f) for f in ("open", "high", "low", "close", "volume")],
            dtype=np.int64,
        )
        mask = panel.mask
        self.last_valid = np.where(
            mask.any(axis=0), mask.shape[0] - 1 - np.argmax(mask[::-1], axis=0), -1
        ).astype(np.int64)
        known = rules or {}
        rule_rows = [known.get(s, MarketRules()) for s in panel.symbols]
        self.lot_step = np.array([r.lot_step for r in rule_rows], dtype=np.float64)
        self.tick = np.array([r.tick for r in rule_rows], dtype=np.float64)
        self.min_notional = np.array([max(r.min_notional, 0.0) for r in rule_rows])
        stamps = panel.timestamps
        step = self.tf.nanoseconds
        self.day_end = ((stamps + step) // _DAY_NS) != (stamps // _DAY_NS)
        if prepared is None:
            prepared = prepare_agents(panel, self.agents)
        self.views = prepared.views
        self.events = events if events is not None else prepared.events
        n_ev = len(self.events.t)
        self.veto = (
            np.zeros(n_ev, dtype=np.bool_)
            if veto is None
            else np.ascontiguousarray(veto, dtype=np.bool_)
        )
        if len(self.veto) != n_ev:
            raise ValueError(f"veto has {len(self.veto)} flags for {n_ev} setups")
        self.scale = (
            np.ones(n_ev) if scale is None else np.ascontiguousarray(scale, dtype=np.float64)
        )
        if len(self.scale) != n_ev or not ((self.scale > 0) & (self.scale <= 1)).all():
            raise ValueError("scale needs one factor in (0, 1] per setup")
        n_t, n_a = len(panel.timestamps), len(self.agents)
        self.edges = (
            np.full((n_t, n_a), np.nan)
            if edges is None
            else np.ascontiguousarray(edges, dtype=np.float64)
        )
        if self.edges.shape != (n_t, n_a):
            raise ValueError(f"edges must be (rows, agents) = {(n_t, n_a)}")
        self.bar_at = prepared.bar_at
        self.trail = prepared.trail
        self.trail_offset = prepared.trail_offset
        self.trail_bars = prepared.trail_bars
        self._init_state(expectancy_trades or session.expectancy_trades, start)

    # -- preparation (pure: depends on candles only) ---------------------------------------

    # -- state -------------------------------------------------------------------------

    def _init_state(self, expectancy_trades: int, start: int) -> None:
        n_agents = len(self.agents)
        n_pairs = len(self.panel.symbols)
        n_t = len(self.panel.timestamps)
        # Starting sizes; the kernel stops before a row that might not fit and they grow.
        self.trades = new_trades(1024)
        self.open_list = np.zeros(1024, dtype=np.int64)
        self.ledger = new_ledger(4096)
        self.modes = np.zeros(64, dtype=sk.MODE_DTYPE)
        self.counters = np.zeros(sk.N_COUNTERS, dtype=np.int64)
        self.pools = np.zeros((n_agents, 7), dtype=np.float64)
        self.equity = np.full(n_t, np.nan)
        self.last_close = np.full(n_pairs, np.nan)
        self.agent_side = np.array([agent_side(a) for a in self.agents], dtype=np.int64)
        self.agent_dedupe = np.array(
            [a.strategy == "trail_fractals" for a in self.agents], dtype=np.int64
        )
        self.agent_switch = np.array([a.dry_run_switch for a in self.agents], dtype=np.int64)
        self.agent_mode = np.zeros(n_agents, dtype=np.int64)
        self.agent_streak = np.zeros(n_agents, dtype=np.int64)
        self.day_pnl = np.zeros(n_agents)
        self.day_paper = np.zeros(n_agents)
        self.r_hist = np.zeros((n_agents, expectancy_trades))
        self.r_count = np.zeros(n_agents, dtype=np.int64)
        self.open_slot = np.full((n_agents, n_pairs), -1, dtype=np.int64)
        self.last_level = np.full((n_agents, n_pairs), np.nan)
        shares = allocation_shares(self.cfg.capital, np.zeros(n_agents), 1.0)
        for a in range(n_agents):
            transfer(
                self.pools,
                self.ledger,
                self.counters,
                sk.C_NLEDGER,
                start,
                float(shares[a]),
                Pool.SESSION,
                Pool.MAIN,
                R_INITIAL,
                -1,
                a,
            )
        self.next_t = start

    # -- running -------------------------------------------------------------------------

    def step(self, t1: int) -> None:
        """Advance the clock to row ``t1`` (exclusive)."""
        t1 = min(t1, len(self.panel.timestamps))
        while self.next_t < t1:
            self.next_t = self._advance(t1)
            if self.next_t < t1:
                self._grow()

    def _grow(self) -> None:
        """Double every capacity (the kernel does not say which one ran short; when one
        doubling is not room enough it returns at once and is grown again). The ledger
        doubles too, no more: sized by the open list as well, it reached 47 times the
        entries a year of six agents writes, and touching its fresh pages cost a third of
        the bar loop's time."""
        trades = new_trades(2 * len(self.trades))
        trades[: len(self.trades)] = self.trades
        self.trades = trades
        self.open_list = np.concatenate([self.open_list, np.zeros_like(self.open_list)])
        ledger = new_ledger(2 * len(self.ledger))
        ledger[: len(self.ledger)] = self.ledger
        self.ledger = ledger
        self.modes = np.concatenate(
            [self.modes, np.zeros(len(self.modes) + len(self.agents), self.modes.dtype)]
        )

    def _advance(self, t1: int) -> int:
        e = self.events
        next_t: int = sk.advance(
            self.trades,
            self.counters,
            self.open_list,
            self.pools,
            self.ledger,
            self.modes,
            self.equity,
            self.last_close,
            self.panel.values,
            self.fields,
            self.panel.mask,
            self.last_valid,
            self.day_end,
            self.lot_step,
            self.tick,
            self.min_notional,
            self.agent_side,
            self.agent_dedupe,
            self.agent_switch,
            self.agent_mode,
            self.agent_streak,
            self.day_pnl,
            self.day_paper,
            self.r_hist,
            self.r_count,
            self.open_slot,
            self.last_level,
            self.bar_at,
            self.trail,
            self.trail_offset,
            self.trail_bars,
            e.t,
            e.agent,
            e.pair,
            e.rejected,
            self.veto,
            self.scale,
            e.ref,
            e.level,
            e.stop,
            e.target,
            self.edges,
            self.params,
            self.sparams,
            self.close_at_end,
            self.next_t,
            t1,
        )
        return next_t

    def run(self) -> None:
        """The whole clock."""
        self.step(len(self.panel.timestamps))

    @property
    def n_trades(self) -> int:
        return int(self.counters[sk.C_NTRADES])

    def halt(self, t: int | None) -> None:
        """No new real trade from row ``t`` on (None: trade again): a live node's safe
        mode. Setups still become trades, simulated with the reason ``safe_mode``, so the
        models keep learning from them; open trades keep their exits."""
        risk, cap, floor, loss_days, _ = self.sparams
        self.sparams = (risk, cap, floor, loss_days, math.inf if t is None else float(t))

    def record_mode(self, agent: int, mode: int, *, manual: bool) -> None:
        """A mode switch made outside the kernel (the status API's), at the last close;
        ``manual`` marks it (``MODE_MANUAL`` added to the mode) for the reports."""
        m = int(self.counters[sk.C_NMODES])
        if m >= len(self.modes):
            grown = np.zeros(2 * len(self.modes), self.modes.dtype)
            grown[: len(self.modes)] = self.modes
            self.modes = grown
        self.modes[m]["t"] = max(self.next_t - 1, 0)
        self.modes[m]["agent"] = agent
        self.modes[m]["mode"] = mode + (sk.MODE_MANUAL if manual else 0)
        self.counters[sk.C_NMODES] = m + 1

    @property
    def halted_from(self) -> int | None:
        halt = self.sparams[4]
        return None if math.isinf(halt) else int(halt)

    def open_trades(self) -> np.ndarray:
        """Trades still pending or active."""
        tr = self.trades[: self.n_trades]
        out: np.ndarray = tr[(tr["status"] == Status.PENDING) | (tr["status"] == Status.ACTIVE)]
        return out


# -- saving and restoring a session between passes (paper / live) -------------------------

#: Trade fields holding clock rows; saved as candle open times so a new panel maps them.
_TIME_FIELDS = ("nominated_t", "expiry_t", "entry_t", "exit_t", "track_exit_t", "close_t")
#: Per-agent and per-(agent, pair) state arrays saved as they are.
_AGENT_ARRAYS = ("agent_mode", "agent_streak", "day_pnl", "day_paper", "r_hist", "r_count")


def snapshot(session: Session) -> dict[str, np.ndarray]:
    """Everything a session needs to go on later, as plain arrays (times as ns, pairs and
    agents by name): what ``tradewind scan --execute`` keeps in the trade book."""
    stamps = session.panel.timestamps
    trades = session.trades[: session.n_trades].copy()
    for name in _TIME_FIELDS:
        trades[name] = rows_to_ns(trades[name], stamps)
    ledger = session.ledger[: int(session.counters[sk.C_NLEDGER])].copy()
    ledger["t"] = rows_to_ns(ledger["t"], stamps)
    modes = session.modes[: int(session.counters[sk.C_NMODES])].copy()
    modes["t"] = rows_to_ns(modes["t"], stamps)
    open_ids = session.open_list[: int(session.counters[sk.C_NOPEN])].copy()
    out = {
        "symbols": np.array(session.panel.symbols, dtype=str),
        "agents": np.array([a.name for a in session.agents], dtype=str),
        "clock": np.array([int(stamps[session.next_t - 1]) if session.next_t else -1]),
        "trades": trades,
        "ledger": ledger,
        "modes": modes,
        "open_ids": open_ids,
        "pools": session.pools.copy(),
        "last_close": session.last_close.copy(),
        "open_slot": session.open_slot.copy(),
        "last_level": session.last_level.copy(),
    }
    for name in _AGENT_ARRAYS:
        out[name] = getattr(session, name).copy()
    return out


def restore(session: Session, saved: Mapping[str, np.ndarray]) -> None:
    """Put ``saved`` (from :func:`snapshot`) into a freshly built ``session`` over a panel
    that may have grown (new candles, new pairs); it goes on after the saved clock."""
    names = [str(x) for x in saved["agents"]]
    mine = [a.name for a in session.agents]
    if names != mine:
        raise StateError(
            f"saved session ran agents {names}, the config has {mine}: agents cannot change "
            "under a running session; start a new one with --reset (or another --name)"
        )
    stamps = session.panel.timestamps
    trades, pair_map = remap_pairs(saved, session.panel.symbols, "saved session")
    for name in _TIME_FIELDS:
        trades[name] = ns_to_rows(trades[name], stamps, f"trade field {name}", ahead=True)
    ledger = saved["ledger"].copy()
    ledger["t"] = ns_to_rows(ledger["t"], stamps, "a ledger entry")
    modes = saved["modes"].copy()
    modes["t"] = ns_to_rows(modes["t"], stamps, "a mode change")
    clock = int(saved["clock"][0])
    next_t = int(ns_to_rows(np.array([clock]), stamps, "the session clock")[0]) + 1

    n = len(trades)
    session.trades = new_trades(max(2 * n, 1024))
    session.trades[:n] = trades
    session.ledger = new_ledger(max(2 * len(ledger), 4096))
    session.ledger[: len(ledger)] = ledger
    session.modes = np.zeros(max(2 * len(modes), 64), dtype=sk.MODE_DTYPE)
    session.modes[: len(modes)] = modes
    open_ids = saved["open_ids"]
    session.open_list = np.zeros(max(2 * n, 1024), dtype=np.int64)
    session.open_list[: len(open_ids)] = open_ids
    session.counters[:] = 0
    session.counters[sk.C_NTRADES] = n
    session.counters[sk.C_NLEDGER] = len(ledger)
    session.counters[sk.C_NMODES] = len(modes)
    session.counters[sk.C_NOPEN] = len(open_ids)
    session.pools[:] = saved["pools"]
    for name in _AGENT_ARRAYS:
        getattr(session, name)[...] = saved[name]
    kept = pair_map >= 0
    session.last_close[pair_map[kept]] = saved["last_close"][kept]
    session.open_slot[:, pair_map[kept]] = saved["open_slot"][:, kept]
    session.last_level[:, pair_map[kept]] = saved["last_level"][:, kept]
    session.next_t = next_t
