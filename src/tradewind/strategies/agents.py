"""Agents' setups, prepared once per panel: what a session (or a model) needs to know about
each agent before any state exists.

For every agent: its candles resampled to its timeframe, its strategy's setups on every pair
(:func:`tradewind.strategies.panel.panel_setups`), the clock row on which each of its candles
closes, and each UTC day's universe; then one list of all agents' setups in the order a
session hears of them (clock row, agent, the pair's rank in that day's universe), and the
strategies' trailing-stop candidates laid out for the compiled loops. Pure and causal: it
depends on candles only, so a backtest, a scan and a model's training set see the same
setups.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numba import njit

from tradewind.config.models import AgentConfig
from tradewind.data.panel import Panel, resample_panel
from tradewind.domain.types import Timeframe
from tradewind.errors import ConfigError
from tradewind.strategies.panel import PanelSetups, panel_setups
from tradewind.strategies.universe import select_universe

__all__ = ["AgentSetups", "AgentView", "SetupEvents", "agent_side", "prepare_agents"]

_DAY_NS = 86_400_000_000_000


def agent_side(agent: AgentConfig) -> int:
    """+1 for a long agent, -1 for a short one."""
    return 1 if agent.side == "long" else -1


@dataclass(frozen=True, slots=True)
class AgentView:
    """What the session prepared for one agent."""

    config: AgentConfig
    panel: Panel  #: the agent's high, low and close on its own timeframe
    setups: PanelSetups  #: (pair, agent bar) arrays
    close: np.ndarray  #: (pair, agent bar) closes: the price a setup is decided at
    close_row: np.ndarray  #: clock row on which each agent bar closes
    bar_day: np.ndarray  #: the UTC day (index into ``universe``) of each bar's decision
    universe: np.ndarray  #: (day, pair) rank in that day's universe (0 = busiest; -1 out)


@dataclass(frozen=True, slots=True)
class SetupEvents:
    """Every setup of every agent in the kernel's order: clock row, agent, universe rank."""

    t: np.ndarray
    agent: np.ndarray
    pair: np.ndarray
    bar: np.ndarray  #: the agent's own bar index
    rejected: np.ndarray
    ref: np.ndarray  #: the close the setup was decided at
    level: np.ndarray
    stop: np.ndarray
    target: np.ndarray


def _universe_by_day(panel: Panel, method: str, pairs: int, day_rows: np.ndarray) -> np.ndarray:
    """``(day, pair)`` rank in the universe of each day (0 = first, -1 = not in it), chosen
    at the row before the day's first row (e.g. the top ``pairs`` by quote volume over the
    day before)."""
    out = np.full((len(day_rows), len(panel.symbols)), -1, dtype=np.int64)
    ok = day_rows >= 1
    out[ok] = select_universe(method, panel, day_rows[ok] - 1, pairs)
    return out


def _ranked(ranks: np.ndarray) -> np.ndarray:
    """``(day, k)``: the pair of rank ``k`` on each day (-1 past the last one)."""
    n = int(ranks.max()) + 1 if ranks.size else 0
    out = np.full((ranks.shape[0], max(n, 1)), -1, dtype=np.int64)
    day, pair = np.nonzero(ranks >= 0)
    out[day, ranks[day, pair]] = pair
    return out


@njit(cache=True)
def _collect(
    entry: np.ndarray,
    rejected: np.ndarray,
    level: np.ndarray,
    stop: np.ndarray,
    target: np.ndarray,
    close: np.ndarray,
    close_row: np.ndarray,
    bar_day: np.ndarray,
    ranked: np.ndarray,
    n_rows: int,
) -> tuple[
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
]:
    """One agent's setups inside its universe, by bar and then by the pair's rank that day
    (the busiest pair first): the order in which the session hears of them."""
    n_pairs, n_bars = entry.shape
    # Bar-major copy of "any setup": the rank-ordered scan below reads one bar at a time.
    hit = np.zeros((n_bars, n_pairs), np.bool_)
    for p in range(n_pairs):
        for j in range(n_bars):
            hit[j, p] = entry[p, j] or rejected[p, j]
    count = int(hit.sum())  # at most this many: the universe leaves some out
    rows = np.empty(count, np.int64)
    pairs = np.empty(count, np.int64)
    bars = np.empty(count, np.int64)
    rej = np.empty(count, np.bool_)
    ref = np.empty(count)
    lvl = np.empty(count)
    stp = np.empty(count)
    tgt = np.empty(count)
    i = 0
    for j in range(n_bars):
        d = bar_day[j]
        if d < 0 or close_row[j] < 0 or close_row[j] >= n_rows:
            continue
        for k in range(ranked.shape[1]):
            p = ranked[d, k]
            if p < 0:
                break
            if hit[j, p]:
                rows[i] = close_row[j]
                pairs[i] = p
                bars[i] = j
                rej[i] = rejected[p, j] and not entry[p, j]
                ref[i] = close[p, j]
                lvl[i] = level[p, j]
                stp[i] = stop[p, j]
                tgt[i] = target[p, j]
                i += 1
    return rows[:i], pairs[:i], bars[:i], rej[:i], ref[:i], lvl[:i], stp[:i], tgt[:i]


@njit(cache=True)
def _merge_order(rows: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Merge the agents' row-sorted runs (concatenated, ``counts`` long each) by row, the
    earlier agent first on a tie, each run keeping its own order."""
    n_agents = len(counts)
    start = np.zeros(n_agents, np.int64)
    for a in range(1, n_agents):
        start[a] = start[a - 1] + counts[a - 1]
    head = start.copy()
    end = start + counts
    out = np.empty(len(rows), np.int64)
    for i in range(len(rows)):
        best = -1
        for a in range(n_agents):
            if head[a] < end[a] and (best < 0 or rows[head[a]] < rows[head[best]]):
                best = a
        out[i] = head[best]
        head[best] += 1
    return out


@dataclass(frozen=True, slots=True)
class AgentSetups:
    """Everything :func:`prepare_agents` computed."""

    views: list[AgentView]
    events: SetupEvents
    bar_at: np.ndarray  #: (agent, clock row): the agent's bar closing then, -1 none
    trail: np.ndarray  #: every agent's (pair, bar) trailing-stop candidates, flattened
    trail_offset: np.ndarray  #: where agent a's block starts in ``trail``
    trail_bars: np.ndarray  #: agent a's number of bars (its block is (pair, bar))


def _views(base: Panel, agents: Sequence[AgentConfig]) -> list[AgentView]:
    tf_base = base.timeframe
    n_t = len(base.timestamps)
    # A decision at the close of row r belongs to the UTC day in which that close falls;
    # the universe of that day is ranked on the day before it.
    close_ns = base.timestamps + tf_base.nanoseconds
    day_of_row = close_ns // _DAY_NS
    first_row_of_day = np.searchsorted(base.timestamps, day_of_row * _DAY_NS, side="left")
    panels: dict[str, Panel] = {}
    columns: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    universes: dict[tuple[str, int], np.ndarray] = {}
    views: list[AgentView] = []
    day_starts = np.unique(first_row_of_day)
    # Each timeframe from the longest one already made that divides it (4h from 1h: a
    # twelfth of the reading of 5m candles; high, low and close aggregate the same way).
    for tf in sorted({Timeframe.parse(a.timeframe) for a in agents}, key=lambda x: x.seconds):
        made = [
            p
            for p in panels.values()
            if tf.is_multiple_of(p.timeframe)
            and (tf.origin_ns - p.timeframe.origin_ns) % p.timeframe.nanoseconds == 0
        ]
        source = max(made, key=lambda p: p.timeframe.seconds, default=base)
        panels[tf.name] = resample_panel(source, tf, ("high", "low", "close"))
    for agent in agents:
        tf = Timeframe.parse(agent.timeframe)
        apanel = panels[tf.name]
        if tf.name not in columns:
            columns[tf.name] = (
                apanel.asset_major("high", "low", "close"),
                np.ascontiguousarray(apanel.mask.T),
            )
        hlc, valid = columns[tf.name]
        setups = panel_setups(
            agent.strategy,
            agent_side(agent),
            agent.strategy_params,
            hlc[0],
            hlc[1],
            hlc[2],
            valid,
        )
        last_open = apanel.timestamps + tf.nanoseconds - tf_base.nanoseconds
        close_row = ((last_open - int(base.timestamps[0])) // tf_base.nanoseconds).astype(np.int64)
        ok = (close_row >= 0) & (close_row < n_t)
        n = (agent.selection.method, agent.selection.pairs)
        if n not in universes:
            universes[n] = _universe_by_day(base, *n, day_starts)
        bar_day = np.full(len(close_row), -1, dtype=np.int64)
        bar_day[ok] = np.searchsorted(day_starts, first_row_of_day[close_row[ok]])
        views.append(AgentView(agent, apanel, setups, hlc[2], close_row, bar_day, universes[n]))
    return views


def _events(panel: Panel, views: Sequence[AgentView]) -> SetupEvents:
    parts = []
    for view in views:
        s = view.setups
        parts.append(
            _collect(
                s.entry,
                s.rejected,
                s.level,
                s.stop,
                s.target,
                view.close,
                view.close_row,
                view.bar_day,
                _ranked(view.universe),
                len(panel.timestamps),
            )
        )
    counts = np.array([len(p[0]) for p in parts], dtype=np.int64)
    cols = [np.concatenate([p[i] for p in parts]) for i in range(8)]
    order = _merge_order(cols[0], counts)
    agent = np.repeat(np.arange(len(parts), dtype=np.int64), counts)
    return SetupEvents(
        t=cols[0][order],
        agent=agent[order],
        pair=cols[1][order],
        bar=cols[2][order],
        rejected=cols[3][order],
        ref=cols[4][order],
        level=cols[5][order],
        stop=cols[6][order],
        target=cols[7][order],
    )


def prepare_agents(panel: Panel, agents: Sequence[AgentConfig]) -> AgentSetups:
    """Prepare ``agents`` over ``panel`` (the clock); see the module docstring."""
    tf = panel.timeframe
    for agent in agents:
        atf = Timeframe.parse(agent.timeframe)
        if not atf.is_multiple_of(tf):
            raise ConfigError(
                f"agent {agent.name!r}: timeframe {atf} is not a whole multiple of the "
                f"session's {tf} candles (data.timeframe); use {tf} or longer"
            )
    views = _views(panel, agents)
    events = _events(panel, views)
    n_agents, n_t = len(views), len(panel.timestamps)
    bar_at = np.full((n_agents, n_t), -1, dtype=np.int64)
    trails = []
    offsets = np.zeros(n_agents, dtype=np.int64)
    bars = np.zeros(n_agents, dtype=np.int64)
    at = 0
    for a, view in enumerate(views):
        ok = (view.close_row >= 0) & (view.close_row < n_t)
        bar_at[a, view.close_row[ok]] = np.flatnonzero(ok)
        trail = np.ascontiguousarray(view.setups.trail, dtype=np.float64)
        offsets[a] = at
        bars[a] = trail.shape[1]
        trails.append(trail.ravel())
        at += trail.size
    return AgentSetups(
        views=views,
        events=events,
        bar_at=bar_at,
        trail=np.concatenate(trails) if trails else np.zeros(0),
        trail_offset=offsets,
        trail_bars=bars,
    )
