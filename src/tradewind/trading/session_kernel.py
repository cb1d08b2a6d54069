"""The modular trader's compiled bar loop: agents' setups through the lifecycle (seed 004).

``advance`` processes rows ``[t0, t1)`` of the session's clock (the base panel). On every
row it steps each open trade through :func:`tradewind.engine.lifecycle.step_trade` — the
same function the cycle trader and the live node call — settles fills and exits in the
agent's own budget book, and then, for the agents whose candle closed on this row, trails
their stops and turns their setups into trades:

* a setup the strategy itself rejected, one the agent's models veto, one that comes
  while a live node is in safe mode (``halt_t``), or one an agent in dry run sees,
  becomes a sim trade (followed on paper, no money moves);
* otherwise it is sized to risk ``risk_per_trade`` of the session's equity between entry
  and stop, capped by the agent's free budget and the pair's lot size; a size below the
  exchange minimum, no budget, or a risk that would lift the session's open risk above
  ``open_risk_cap × equity`` makes it a sim trade too, with that reason;
* a real trade reserves its capital (``main → pre_trade``) and enters with a market order
  at the next open; its stop and target are the setup's prices.

At the close of each UTC day agents that opted into the dry-run switch are judged on the
day's P/L, and free capital is rebalanced across agents by their recent expectancy, with
a floor (:func:`tradewind.portfolio.allocation.allocation_shares`).

Books: agent ``a`` keeps its pools in ``pools[a]``; capital it receives from or returns to
the session passes through the ``session`` account, so each book's accounts always sum to
zero and the agents' pools together are the session's capital plus its realised P/L.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from tradewind.engine.lifecycle import (
    EV_CLOSED,
    EV_EXPIRED,
    EV_FILLED,
    P_FEE,
    Params,
    borrow_cost,
    end_trade,
    finished,
    mark_value,
    round_qty,
    step_trade,
)
from tradewind.engine.records import ExitReason, Kind, Pool, Status
from tradewind.portfolio.allocation import allocation_shares
from tradewind.portfolio.ledger import (
    R_ALLOCATE,
    R_CLOSE_LOSS,
    R_CLOSE_PROFIT,
    R_EXPIRE,
    R_FILL,
    R_LOSS,
    R_PROFIT,
    R_RELEASE,
    transfer,
)

__all__ = [
    "MODE_DTYPE",
    "SESSION_PARAMS",
    "SIM_REASONS",
    "advance",
]

# counters[...]
C_NTRADES, C_NLEDGER, C_NOPEN, C_EVENT, C_NMODES = range(5)
N_COUNTERS = 5
MODE_LIVE, MODE_DRY = 0, 1
#: added to a mode record's mode when the switch was the operator's (the kernel's own
#: switches are 0 or 1; ``agent_mode`` itself only ever holds MODE_LIVE or MODE_DRY)
MODE_MANUAL = 2

#: Why a setup became a sim trade instead of a real one.
SIM_REASONS = (
    "", "rejected", "dry_run", "no_budget", "too_small", "open_risk", "model", "safe_mode",
)  # fmt: skip
SIM_REJECTED, SIM_DRY_RUN, SIM_NO_BUDGET, SIM_TOO_SMALL, SIM_OPEN_RISK = 1, 2, 3, 4, 5
SIM_MODEL, SIM_SAFE = 6, 7

#: Headroom reserved above the sized cost for a gap between the decision's close and the
#: next open; what the entry does not use goes straight back to ``main``.
GAP_RESERVE = 0.02

SESSION_PARAMS = (
    "risk_per_trade",
    "open_risk_cap",
    "allocation_floor",
    "dry_run_loss_days",
    "halt_t",
)
#: ``halt_t``: from this row on no setup becomes a real trade (a live node's safe mode);
#: open trades keep their exits.
S_RISK, S_CAP, S_FLOOR, S_LOSS_DAYS, S_HALT = range(5)

#: An agent changed mode (dry-run switch) at the close of row ``t``.
MODE_DTYPE = np.dtype([("t", np.int64), ("agent", np.int64), ("mode", np.int64)])


@njit(cache=True)
def _mv(
    pools: np.ndarray,
    ledger: np.ndarray,
    counters: np.ndarray,
    t: int,
    amount: float,
    src: int,
    dst: int,
    reason: int,
    trade: int,
    book: int,
) -> None:
    transfer(pools, ledger, counters, C_NLEDGER, t, amount, src, dst, reason, trade, book)


@njit(cache=True)
def r_multiple(tr: Any) -> float:
    """Profit and loss in units of the trade's initial risk (entry to initial stop)."""
    risk = tr.qty * abs(tr.entry_price - tr.initial_stop)
    if not risk > 0.0:
        return np.nan
    return float(tr.pnl / risk)


@njit(cache=True)
def _settle(
    tr: Any,
    events: int,
    t: int,
    pools: np.ndarray,
    ledger: np.ndarray,
    counters: np.ndarray,
) -> None:
    """Move the agent's money for what the lifecycle just did (real trades only)."""
    book = tr.agent
    tid = tr.id
    if events & EV_FILLED:
        _mv(pools, ledger, counters, t, tr.cost, Pool.PRE_TRADE, Pool.ACTIVE, R_FILL, tid, book)
        rest = tr.alloc - tr.cost
        _mv(pools, ledger, counters, t, rest, Pool.PRE_TRADE, Pool.MAIN, R_RELEASE, tid, book)
    if events & EV_EXPIRED:
        _mv(pools, ledger, counters, t, tr.alloc, Pool.PRE_TRADE, Pool.MAIN, R_EXPIRE, tid, book)
    if events & EV_CLOSED:
        if tr.pnl >= 0.0:
            _mv(
                pools,
                ledger,
                counters,
                t,
                tr.cost,
                Pool.ACTIVE,
                Pool.MAIN,
                R_CLOSE_PROFIT,
                tid,
                book,
            )
            _mv(pools, ledger, counters, t, tr.pnl, Pool.PNL, Pool.MAIN, R_PROFIT, tid, book)
        else:
            _mv(
                pools, ledger, counters, t, tr.cost, Pool.ACTIVE, Pool.MAIN, R_CLOSE_LOSS, tid, book
            )
            _mv(pools, ledger, counters, t, -tr.pnl, Pool.MAIN, Pool.PNL, R_LOSS, tid, book)


@njit(cache=True)
def _cash(pools: np.ndarray) -> float:
    """Money in every agent's pools that is not in a position."""
    total = 0.0
    for a in range(pools.shape[0]):
        total += pools[a, Pool.MAIN] + pools[a, Pool.PRE_TRADE]
        total += pools[a, Pool.DIVESTMENT] + pools[a, Pool.HELD]
    return total


@njit(cache=True, inline="always")
def _trade_risk(tr: Any, price: float, fee: float) -> float:
    """What an open real trade loses if it hits its stop from ``price`` (a waiting entry
    counts with its planned size from its decision price), exit fee included — the rule
    of :func:`tradewind.portfolio.risk.open_risk`."""
    if tr.status == Status.ACTIVE:
        qty = tr.qty
    else:
        qty = tr.target_qty
        price = tr.p0
    move = tr.side * (price - tr.stop)
    return float(qty * max(move, 0.0) + qty * tr.stop * fee)


@njit(cache=True)
def _end_of_day(
    t: int,
    pools: np.ndarray,
    ledger: np.ndarray,
    counters: np.ndarray,
    agent_switch: np.ndarray,
    agent_mode: np.ndarray,
    agent_streak: np.ndarray,
    day_pnl: np.ndarray,
    day_paper: np.ndarray,
    r_hist: np.ndarray,
    r_count: np.ndarray,
    modes: np.ndarray,
    sparams: Params,
    edge_row: np.ndarray,
) -> None:
    n_agents = pools.shape[0]
    # The dry-run switch, a UTC day counting as a cycle (seed 000's rule): losing days in
    # a row send the agent to paper; a winning paper day brings it back; a flat day
    # changes nothing.
    for a in range(n_agents):
        if agent_switch[a]:
            outcome = day_paper[a] if agent_mode[a] == MODE_DRY else day_pnl[a]
            if outcome < 0.0:
                agent_streak[a] += 1
            elif outcome > 0.0:
                agent_streak[a] = 0
            mode = MODE_DRY if agent_streak[a] >= sparams[S_LOSS_DAYS] else MODE_LIVE
            if mode != agent_mode[a]:
                agent_mode[a] = mode
                m = counters[C_NMODES]
                modes[m].t = t
                modes[m].agent = a
                modes[m].mode = mode
                counters[C_NMODES] = m + 1
        day_pnl[a] = 0.0
        day_paper[a] = 0.0
    # Rebalance free capital towards each agent's share of the capital.
    k = r_hist.shape[1]
    edge = np.zeros(n_agents)
    value = np.zeros(n_agents)
    total = 0.0
    for a in range(n_agents):
        n = min(r_count[a], k)
        edge[a] = r_hist[a, :n].mean() if n > 0 else 0.0
        if not np.isnan(edge_row[a]):
            edge[a] = edge_row[a]  # the performance model's prediction
        value[a] = pools[a, Pool.MAIN] + pools[a, Pool.PRE_TRADE] + pools[a, Pool.ACTIVE]
        total += value[a]
    shares = allocation_shares(total, edge, sparams[S_FLOOR])
    pot = 0.0
    need = 0.0
    for a in range(n_agents):
        excess = value[a] - shares[a]
        if excess > 0.0:
            give = min(excess, pools[a, Pool.MAIN])
            _mv(pools, ledger, counters, t, give, Pool.MAIN, Pool.SESSION, R_ALLOCATE, -1, a)
            pot += give
        else:
            need -= excess
    if pot <= 0.0 or need <= 0.0:
        return
    for a in range(n_agents):
        excess = value[a] - shares[a]
        if excess < 0.0:
            amount = pot * (-excess) / need
            _mv(pools, ledger, counters, t, amount, Pool.SESSION, Pool.MAIN, R_ALLOCATE, -1, a)


@njit(cache=True)
def _record_outcome(
    tr: Any, day_pnl: np.ndarray, day_paper: np.ndarray, r_hist: np.ndarray, r_count: np.ndarray
) -> None:
    a = tr.agent
    if tr.kind == Kind.REAL:
        day_pnl[a] += tr.pnl
    elif tr.reason == SIM_DRY_RUN:
        day_paper[a] += tr.pnl
    r = r_multiple(tr)
    if np.isfinite(r):
        k = r_hist.shape[1]
        r_hist[a, r_count[a] % k] = r
        r_count[a] += 1


@njit(cache=True)
def advance(
    trades: np.ndarray,
    counters: np.ndarray,
    open_list: np.ndarray,
    pools: np.ndarray,
    ledger: np.ndarray,
    modes: np.ndarray,
    equity: np.ndarray,
    last_close: np.ndarray,
    candles: np.ndarray,
    fields: np.ndarray,
    valid: np.ndarray,
    last_valid: np.ndarray,
    day_end: np.ndarray,
    lot_step: np.ndarray,
    tick: np.ndarray,
    min_notional: np.ndarray,
    agent_side: np.ndarray,
    agent_dedupe: np.ndarray,
    agent_switch: np.ndarray,
    agent_mode: np.ndarray,
    agent_streak: np.ndarray,
    day_pnl: np.ndarray,
    day_paper: np.ndarray,
    r_hist: np.ndarray,
    r_count: np.ndarray,
    open_slot: np.ndarray,
    last_level: np.ndarray,
    bar_at: np.ndarray,
    trail: np.ndarray,
    trail_offset: np.ndarray,
    trail_bars: np.ndarray,
    ev_t: np.ndarray,
    ev_agent: np.ndarray,
    ev_pair: np.ndarray,
    ev_rejected: np.ndarray,
    ev_veto: np.ndarray,
    ev_scale: np.ndarray,
    ev_ref: np.ndarray,
    ev_level: np.ndarray,
    ev_stop: np.ndarray,
    ev_target: np.ndarray,
    edge_override: np.ndarray,
    params: Params,
    sparams: Params,
    close_at_end: bool,
    t0: int,
    t1: int,
) -> int:
    """Process rows ``[t0, t1)`` of the clock; return the next row to process.

    ``candles`` is the panel's ``(time, pair, field)`` array as loaded (no copy; the fields
    of one candle sit together in memory), ``fields`` the positions of open, high, low,
    close and volume in it, ``valid`` the panel's ``(time, pair)`` mask. ``close_at_end``
    settles everything at the data's end (a backtest); a paper or live pass leaves trades
    open, since the next candle is still to come.

    ``bar_at[a, t]`` is the agent's own bar that closes with row ``t`` (-1: none);
    ``trail[trail_offset[a] + p * trail_bars[a] + j]`` its trailing-stop candidate for pair
    ``p`` at that bar (NaN: none). Events (setups) are sorted by row, then agent, then the
    pair's rank in the agent's universe; ``counters[C_EVENT]`` is the next one to read.
    Returns early, before a row it has not touched, when the trades, the open list, the
    ledger or the mode log might run out of room, so the caller can grow them and call
    again: no work is ever half done.
    """
    fee = params[P_FEE]
    f_o, f_h, f_l, f_c, f_v = fields[0], fields[1], fields[2], fields[3], fields[4]
    n_t, n_pairs = valid.shape
    last_t = n_t - 1
    n_events = len(ev_t)
    n_agents = pools.shape[0]
    for t in range(t0, t1):
        e = counters[C_EVENT]
        while e < n_events and ev_t[e] < t:
            e += 1  # setups before the session started
        counters[C_EVENT] = e
        count = 0
        while e + count < n_events and ev_t[e + count] == t:
            count += 1
        n_open = counters[C_NOPEN]
        if (
            counters[C_NTRADES] + count > len(trades)
            or n_open + count > len(open_list)
            or counters[C_NLEDGER] + 4 * n_open + count + 2 * n_agents + 8 > len(ledger)
            or counters[C_NMODES] + n_agents > len(modes)
        ):
            return t
        for p in range(n_pairs):
            if valid[t, p]:
                last_close[p] = candles[t, p, f_c]
        # 1. Every open trade through the lifecycle, on the clock's candle; what the real
        # ones are worth and risk at this close.
        held = 0.0
        risk_now = 0.0
        k = 0
        while k < n_open:
            i = open_list[k]
            tr = trades[i]
            p = tr.pair
            was_open = tr.status == Status.PENDING or tr.status == Status.ACTIVE
            ok = valid[t, p]
            events = step_trade(
                tr,
                t,
                candles[t, p, f_o],
                candles[t, p, f_h],
                candles[t, p, f_l],
                candles[t, p, f_c],
                candles[t, p, f_v],
                ok,
                close_at_end and t == last_valid[p],
                False,
                0,
                params,
            )
            if tr.status == Status.PENDING and ok:
                # The market entry could not fill (below the exchange minimum after
                # rounding at this open, or no volume): the setup lapses, it never waits.
                tr.status = Status.EXPIRED
                tr.exit_t = t
                tr.exit_reason = ExitReason.INVALID
                events |= EV_EXPIRED
            if close_at_end and (t > last_valid[p] or t == last_t):
                events |= end_trade(tr, t, last_close[p], params)
            if events and tr.kind == Kind.REAL:
                _settle(tr, events, t, pools, ledger, counters)
            if events & EV_CLOSED:
                _record_outcome(tr, day_pnl, day_paper, r_hist, r_count)
            if was_open and not (tr.status == Status.PENDING or tr.status == Status.ACTIVE):
                open_slot[tr.agent, p] = -1
            if finished(tr):
                n_open -= 1
                open_list[k] = open_list[n_open]
                continue
            k += 1
            if tr.status != Status.ACTIVE and tr.status != Status.PENDING:
                continue  # a tracked continuation
            # 2. The strategy's trailing stop, known at this close, applies from the next
            # candle (the lifecycle takes it only where it tightens the stop).
            a = tr.agent
            j = bar_at[a, t]
            if j >= 0:
                level = trail[trail_offset[a] + p * trail_bars[a] + j]
                if not np.isnan(level):
                    tr.strategy_stop = level
            if tr.kind == Kind.REAL:
                if tr.status == Status.ACTIVE:
                    held += mark_value(tr, last_close[p]) - borrow_cost(tr, t, params)
                risk_now += _trade_risk(tr, last_close[p], fee)
        counters[C_NOPEN] = n_open
        # 3. The UTC day closes: dry-run switch and rebalancing, before the day's decisions.
        if day_end[t]:
            _end_of_day(
                t,
                pools,
                ledger,
                counters,
                agent_switch,
                agent_mode,
                agent_streak,
                day_pnl,
                day_paper,
                r_hist,
                r_count,
                modes,
                sparams,
                edge_override[t],
            )
        # 4. Setups of the agents whose candle closed now.
        if count > 0:
            equity_now = _cash(pools) + held
            while e < n_events and ev_t[e] == t:
                a = ev_agent[e]
                p = ev_pair[e]
                level = ev_level[e]
                e += 1
                if open_slot[a, p] >= 0:
                    continue  # one trade per agent and pair at a time
                if agent_dedupe[a]:
                    # A breakout strategy reports every close past the same level: only
                    # the first is a new setup.
                    if level == last_level[a, p]:
                        continue
                    last_level[a, p] = level
                side = agent_side[a]
                ref = ev_ref[e - 1]
                stop = ev_stop[e - 1]
                per_unit = side * (ref - stop) + (ref + stop) * fee
                if not per_unit > 0.0 or not ref > 0.0:
                    continue  # a stop on the wrong side of the price: no trade at all
                # The risk model may shrink a setup it does not veto (1 = full size).
                wanted = sparams[S_RISK] * equity_now / per_unit * ev_scale[e - 1]
                kind = Kind.REAL
                reason = 0
                qty = round_qty(wanted, lot_step[p])
                risk = 0.0
                if ev_rejected[e - 1]:
                    kind, reason = Kind.SIM, SIM_REJECTED
                elif ev_veto[e - 1]:
                    kind, reason = Kind.SIM, SIM_MODEL  # the agent's models said no
                elif t >= sparams[S_HALT]:
                    kind, reason = Kind.SIM, SIM_SAFE  # the node is in safe mode
                elif agent_mode[a] == MODE_DRY:
                    kind, reason = Kind.SIM, SIM_DRY_RUN
                else:
                    unit_cost = ref * (1.0 + fee) * (1.0 + GAP_RESERVE)
                    budget = max(pools[a, Pool.MAIN], 0.0)
                    capped = round_qty(min(wanted, budget / unit_cost), lot_step[p])
                    if capped <= 0.0 or capped * ref < min_notional[p]:
                        kind = Kind.SIM
                        reason = SIM_TOO_SMALL if qty * ref < min_notional[p] else SIM_NO_BUDGET
                    else:
                        qty = capped
                        risk = qty * per_unit
                        if risk_now + risk > sparams[S_CAP] * equity_now + 1e-9:
                            kind, reason = Kind.SIM, SIM_OPEN_RISK
                if not qty > 0.0:
                    qty = wanted  # a sim trade is followed at the size it would have had
                n = counters[C_NTRADES]
                tr = trades[n]
                tr.id = n
                tr.pair = p
                tr.side = side
                tr.kind = kind
                tr.reason = reason
                tr.agent = a
                tr.status = Status.PENDING
                tr.market_entry = 1
                tr.fixed_levels = 1
                tr.nominated_t = t
                tr.p0 = ref
                tr.limit = level
                tr.stop = stop
                tr.initial_stop = stop
                tr.target = ev_target[e - 1]
                tr.target_qty = qty
                tr.alloc = qty * ref * (1.0 + fee) * (1.0 + GAP_RESERVE)
                tr.tick = tick[p]
                counters[C_NTRADES] = n + 1
                if kind == Kind.REAL:
                    tr.lot_step = lot_step[p]
                    tr.min_notional = min_notional[p]
                    if tr.alloc > pools[a, Pool.MAIN]:
                        tr.alloc = pools[a, Pool.MAIN]
                    _mv(
                        pools,
                        ledger,
                        counters,
                        t,
                        tr.alloc,
                        Pool.MAIN,
                        Pool.PRE_TRADE,
                        R_ALLOCATE,
                        n,
                        a,
                    )
                    risk_now += risk
                open_slot[a, p] = n
                open_list[n_open] = n
                n_open += 1
            counters[C_NOPEN] = n_open
        counters[C_EVENT] = e
        equity[t] = _cash(pools) + held  # new entries only moved cash between pools
    return t1
