"""The cycle trader's compiled bar loop: lifecycle steps, budget pools, cycles, dry-run.

``advance`` processes bars ``[t0, t1)`` of a panel. The backtest calls it between daily
nominations; the live node calls it with ``t1 = t0 + 1`` on every closed candle. It is the
only place where the cycle trader's capital moves (seed 000): fills take capital from
``pre_trade`` to ``active``, expiries park it in ``held_for_reinvestment``, a winning exit
returns it to ``main``, a losing one to ``divestment``, from where it is reinvested into the
cycle's trades that show early profit, and what is left returns to ``main`` when the cycle
ends. A dry-run cycle trades the same way on a shadow copy of the pools.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from tradewind.engine.lifecycle import (
    EV_CLOSED,
    EV_EXPIRED,
    EV_FILLED,
    P_EXPIRY,
    P_FEE,
    P_LIMIT,
    P_SLIP,
    P_WSTOP,
    Params,
    add_leg,
    detail_hint,
    end_trade,
    fill_cap,
    finished,
    level,
    mark_value,
    own_param,
    round_price,
    step_trade,
)
from tradewind.engine.params import T_ACT, T_EXPIRY, T_LIMIT, T_SL, T_TP, T_TRAIL, T_WSTOP
from tradewind.engine.records import Kind, Pool, Status
from tradewind.portfolio.ledger import (
    R_ALLOCATE,
    R_CLOSE_LOSS,
    R_CLOSE_PROFIT,
    R_CONVERT,
    R_CYCLE_END,
    R_EXPIRE,
    R_FILL,
    R_LOSS,
    R_PROFIT,
    R_REINVEST,
    R_RELEASE,
    REAL_BOOK,
    SHADOW_BOOK,
    transfer,
)

__all__ = [
    "CYCLE_DTYPE",
    "CYCLE_PARAMS",
    "SIM_REASONS",
    "advance",
    "book_of",
    "open_cycle",
]

# counters[...]
C_NTRADES, C_NLEDGER, C_CYCLE, C_ACTIVE, C_MODE, C_STREAK, C_NEXT_MODE, C_CONVERTED = range(8)
C_NCYCLES = 8
C_SEEN = 9  # trades [0, C_SEEN) have entered the open list (or were finished before)
C_NOPEN = 10  # length of the open list
N_COUNTERS = 11
MODE_LIVE, MODE_DRY = 0, 1


#: Why a sim trade is sim.
SIM_REASONS = ("", "not_selected", "dry_run", "no_budget")
SIM_NOT_SELECTED, SIM_DRY_RUN, SIM_NO_BUDGET = 1, 2, 3

CYCLE_PARAMS = (
    "reinvest_threshold",
    "min_reinvest",
    "reinvest_by_profit",
    "dry_run_loss_threshold",
    "dry_run_to_live_threshold",
    "convert_mid_cycle",
)
Q_REINVEST, Q_MIN_REINVEST, Q_BY_PROFIT, Q_LOSSES, Q_TO_LIVE, Q_CONVERT = range(6)

CYCLE_DTYPE = np.dtype(
    [
        ("id", np.int64),
        ("start_t", np.int64),
        ("end_t", np.int64),
        ("mode", np.int64),  # mode the cycle started in
        ("converted_t", np.int64),  # bar where a dry-run cycle went live, -1 if never
        ("pnl", np.float64),  # real money
        ("paper_pnl", np.float64),  # the dry-run book
        ("trades", np.int64),
        ("next_mode", np.int64),
    ]
)


@njit(cache=True, inline="always")
def book_of(kind: int, reason: int) -> int:
    """Which book a trade moves: real trades the real one, dry-run paper trades the shadow
    one, other sim trades (not selected, no budget) none (-1)."""
    if kind == Kind.REAL:
        return REAL_BOOK
    if reason == SIM_DRY_RUN:
        return SHADOW_BOOK
    return -1


@njit(cache=True, inline="always")
def _unrealised(tr: Any, price: float) -> float:
    return float((mark_value(tr, price) - tr.cost) / tr.cost)


@njit(cache=True)
def _settle(
    tr: Any,
    events: int,
    t: int,
    pools: np.ndarray,
    ledger: np.ndarray,
    counters: np.ndarray,
    book: int,
) -> None:
    tid = tr.id
    if events & EV_FILLED:
        transfer(
            pools,
            ledger,
            counters,
            C_NLEDGER,
            t,
            tr.cost,
            Pool.PRE_TRADE,
            Pool.ACTIVE,
            R_FILL,
            tid,
            book,
        )
        # Past the volume cap only part of the allocation filled: the rest goes back.
        transfer(
            pools,
            ledger,
            counters,
            C_NLEDGER,
            t,
            tr.alloc - tr.cost,
            Pool.PRE_TRADE,
            Pool.MAIN,
            R_RELEASE,
            tid,
            book,
        )
    if events & EV_EXPIRED:
        transfer(
            pools,
            ledger,
            counters,
            C_NLEDGER,
            t,
            tr.alloc,
            Pool.PRE_TRADE,
            Pool.HELD,
            R_EXPIRE,
            tid,
            book,
        )
    if events & EV_CLOSED:
        if tr.pending_add > 0.0:  # an unfilled reinvestment leg goes back where it came from
            transfer(
                pools,
                ledger,
                counters,
                C_NLEDGER,
                t,
                tr.pending_add,
                Pool.ACTIVE,
                Pool.DIVESTMENT,
                R_RELEASE,
                tid,
                book,
            )
            tr.pending_add = 0.0
        if tr.pnl >= 0.0:
            transfer(
                pools,
                ledger,
                counters,
                C_NLEDGER,
                t,
                tr.cost,
                Pool.ACTIVE,
                Pool.MAIN,
                R_CLOSE_PROFIT,
                tid,
                book,
            )
            transfer(
                pools,
                ledger,
                counters,
                C_NLEDGER,
                t,
                tr.pnl,
                Pool.PNL,
                Pool.MAIN,
                R_PROFIT,
                tid,
                book,
            )
        else:
            transfer(
                pools,
                ledger,
                counters,
                C_NLEDGER,
                t,
                tr.cost,
                Pool.ACTIVE,
                Pool.DIVESTMENT,
                R_CLOSE_LOSS,
                tid,
                book,
            )
            transfer(
                pools,
                ledger,
                counters,
                C_NLEDGER,
                t,
                -tr.pnl,
                Pool.DIVESTMENT,
                Pool.PNL,
                R_LOSS,
                tid,
                book,
            )


# Inlined: it runs every bar while capital waits in divestment for a winner, and a call
# costs atomic reference counts on each of its arrays.
@njit(cache=True, inline="always")
def _reinvest(
    trades: np.ndarray,
    open_list: np.ndarray,
    n_open: int,
    weights: np.ndarray,
    t: int,
    book: int,
    cycle: int,
    close: np.ndarray,
    valid: np.ndarray,
    pools: np.ndarray,
    ledger: np.ndarray,
    counters: np.ndarray,
    cparams: Params,
) -> None:
    amount = pools[book, Pool.DIVESTMENT]
    if amount < cparams[Q_MIN_REINVEST] or amount <= 0.0:
        return
    total = 0.0
    for k in range(n_open):
        weights[k] = 0.0
        tr = trades[open_list[k]]
        if tr.status != Status.ACTIVE or tr.cycle != cycle or tr.pending_add > 0.0:
            continue
        if book_of(tr.kind, tr.reason) != book or not valid[tr.pair, t]:
            continue
        gain = _unrealised(tr, close[tr.pair, t])
        if gain >= cparams[Q_REINVEST]:
            w = gain if cparams[Q_BY_PROFIT] > 0 else 1.0
            weights[k] = max(w, 1e-12)
            total += weights[k]
    if total <= 0.0:
        return
    for k in range(n_open):
        i = open_list[k]
        if weights[k] > 0.0:
            part = amount * weights[k] / total
            trades[i].pending_add += part
            transfer(
                pools,
                ledger,
                counters,
                C_NLEDGER,
                t,
                part,
                Pool.DIVESTMENT,
                Pool.ACTIVE,
                R_REINVEST,
                trades[i].id,
                book,
            )


@njit(cache=True)
def _convert(
    trades: np.ndarray,
    t: int,
    cycle: int,
    pools: np.ndarray,
    ledger: np.ndarray,
    counters: np.ndarray,
) -> bool:
    """Deploy real capital across the dry-run cycle's open paper trades; False if no room."""
    n = counters[C_NTRADES]
    count = 0
    for i in range(n):
        tr = trades[i]
        if (
            tr.cycle == cycle
            and tr.reason == SIM_DRY_RUN
            and (tr.status == Status.ACTIVE or tr.status == Status.PENDING)
        ):
            count += 1
    if count == 0 or n + count > len(trades):
        return False
    budget = pools[REAL_BOOK, Pool.MAIN] + pools[REAL_BOOK, Pool.HELD]
    share = budget / count
    k = n
    for i in range(n):
        paper = trades[i]
        if not (
            paper.cycle == cycle
            and paper.reason == SIM_DRY_RUN
            and (paper.status == Status.ACTIVE or paper.status == Status.PENDING)
        ):
            continue
        real = trades[k]
        real.id = k
        real.pair = paper.pair
        real.side = paper.side
        real.kind = Kind.REAL
        real.reason = 0
        real.cycle = cycle
        real.parent = paper.id
        real.status = Status.PENDING
        real.nominated_t = t
        real.p0 = paper.p0
        real.limit = paper.limit
        real.window_stop = paper.window_stop
        real.expiry_t = paper.expiry_t
        real.tp_mult = paper.tp_mult
        real.sl_mult = paper.sl_mult
        real.act_mult = paper.act_mult
        real.trail_mult = paper.trail_mult
        # An open paper position becomes a real one at the next open; a paper nomination
        # still waiting becomes a real one waiting for the same breakout.
        real.market_entry = 1 if paper.status == Status.ACTIVE else 0
        real.alloc = share
        real.lot_step = paper.lot_step
        real.tick = paper.tick
        real.min_notional = paper.min_notional
        from_main = min(share, pools[REAL_BOOK, Pool.MAIN])
        transfer(
            pools,
            ledger,
            counters,
            C_NLEDGER,
            t,
            from_main,
            Pool.MAIN,
            Pool.PRE_TRADE,
            R_CONVERT,
            k,
            REAL_BOOK,
        )
        transfer(
            pools,
            ledger,
            counters,
            C_NLEDGER,
            t,
            share - from_main,
            Pool.HELD,
            Pool.PRE_TRADE,
            R_CONVERT,
            k,
            REAL_BOOK,
        )
        k += 1
    counters[C_NTRADES] = k
    return True


@njit(cache=True)
def _end_cycle(
    trades: np.ndarray,
    t: int,
    pools: np.ndarray,
    ledger: np.ndarray,
    counters: np.ndarray,
    cycles: np.ndarray,
    cparams: Params,
) -> None:
    cid = counters[C_CYCLE]
    rec = cycles[counters[C_NCYCLES] - 1]
    pnl = 0.0
    paper = 0.0
    count = 0
    for i in range(counters[C_NTRADES]):
        tr = trades[i]
        if tr.cycle != cid:
            continue
        book = book_of(tr.kind, tr.reason)
        if book == REAL_BOOK and tr.status == Status.CLOSED:
            pnl += tr.pnl
            count += 1
        elif book == SHADOW_BOOK and tr.status == Status.CLOSED:
            paper += tr.pnl
            count += 1
    for book in range(2):
        transfer(
            pools,
            ledger,
            counters,
            C_NLEDGER,
            t,
            pools[book, Pool.DIVESTMENT],
            Pool.DIVESTMENT,
            Pool.MAIN,
            R_CYCLE_END,
            -1,
            book,
        )
    rec.end_t = t
    rec.pnl = pnl
    rec.paper_pnl = paper
    rec.trades = count
    dry = rec.mode == MODE_DRY and counters[C_CONVERTED] == 0
    outcome = paper if dry else pnl
    # Seed 000: N losing cycles in a row switch to paper; a winning cycle (paper or real)
    # resets the streak and ends a dry run; a losing paper cycle extends the streak.
    # A cycle that traded nothing (every nomination expired) neither loses nor wins.
    if outcome < 0.0:
        counters[C_STREAK] += 1
    elif outcome > 0.0:
        counters[C_STREAK] = 0
    if counters[C_STREAK] >= cparams[Q_LOSSES] and cparams[Q_LOSSES] > 0:
        counters[C_NEXT_MODE] = MODE_DRY
    else:
        counters[C_NEXT_MODE] = MODE_LIVE
    rec.next_mode = counters[C_NEXT_MODE]
    counters[C_ACTIVE] = 0
    counters[C_CONVERTED] = 0


@njit(cache=True)
def _nominate(
    trades: np.ndarray,
    counters: np.ndarray,
    pair: int,
    t: int,
    cycle: int,
    kind: int,
    reason: int,
    alloc: float,
    close: np.ndarray,
    rules: np.ndarray,
    params: Params,
    theta: np.ndarray,
) -> int:
    """Write one nomination (pre-trade, waiting for its breakout) into the next free slot;
    ``theta`` (``THETA`` order, NaN = the run's parameter) are its own parameters."""
    i: int = counters[C_NTRADES]
    tr = trades[i]
    p0 = close[pair, t]
    tr.id = i
    tr.pair = pair
    tr.side = 1
    tr.kind = kind
    tr.reason = reason
    tr.cycle = cycle
    tr.status = Status.PENDING
    tr.market_entry = 0
    tr.nominated_t = t
    tr.expiry_t = t + 1 + int(own_param(theta[T_EXPIRY], params[P_EXPIRY]))
    tr.p0 = p0
    tr.alloc = alloc
    tr.lot_step = rules[pair, 0]
    tr.tick = rules[pair, 1]
    tr.min_notional = rules[pair, 2]
    tr.limit = round_price(level(p0, own_param(theta[T_LIMIT], params[P_LIMIT]), 1), tr.tick)
    tr.window_stop = round_price(level(p0, own_param(theta[T_WSTOP], params[P_WSTOP]), 1), tr.tick)
    tr.tp_mult = theta[T_TP]
    tr.sl_mult = theta[T_SL]
    tr.act_mult = theta[T_ACT]
    tr.trail_mult = theta[T_TRAIL]
    counters[C_NTRADES] = i + 1
    return i


@njit(cache=True)
def open_cycle(
    trades: np.ndarray,
    counters: np.ndarray,
    pools: np.ndarray,
    ledger: np.ndarray,
    cycles: np.ndarray,
    chosen: np.ndarray,
    weights: np.ndarray,
    others: np.ndarray,
    t: int,
    close: np.ndarray,
    rules: np.ndarray,
    params: Params,
    min_allocation: float,
    theta: np.ndarray,
) -> None:
    """Start a cycle at the close of row ``t`` (the caller checked none is active).

    The ``chosen`` pairs get ``weights`` of the budget (``main`` + ``held_for_reinvestment``
    of the book the cycle trades: the real one, or in dry run a shadow copy of it), moved
    to ``pre_trade``; an allocation below ``min_allocation`` becomes a sim trade
    (``no_budget``); the ``others`` (nominated, not chosen) are followed as sim trades.
    The caller made room for ``len(chosen) + len(others)`` trades and their entries.
    ``theta`` has one row per chosen pair, then one per other (see :func:`_nominate`).
    """
    mode = counters[C_NEXT_MODE]
    book = SHADOW_BOOK if mode == MODE_DRY else REAL_BOOK
    if book == SHADOW_BOOK:
        for j in range(pools.shape[1]):
            pools[SHADOW_BOOK, j] = pools[REAL_BOOK, j]
    budget = pools[book, Pool.MAIN] + pools[book, Pool.HELD]
    cid = counters[C_NCYCLES]
    rec = cycles[cid]
    rec.id = cid
    rec.start_t = t
    rec.end_t = -1
    rec.mode = mode
    rec.converted_t = -1
    rec.next_mode = mode
    counters[C_NCYCLES] = cid + 1
    counters[C_CYCLE] = cid
    counters[C_ACTIVE] = 1
    counters[C_MODE] = mode
    counters[C_CONVERTED] = 0
    share = budget / len(chosen)
    for j in range(len(chosen)):
        alloc = budget * weights[j]
        kind = Kind.REAL if book == REAL_BOOK else Kind.SIM
        reason = 0 if book == REAL_BOOK else SIM_DRY_RUN
        if alloc <= 0.0 or alloc < min_allocation:
            kind = Kind.SIM
            reason = SIM_NO_BUDGET
            alloc = max(share, alloc)
        i = _nominate(
            trades, counters, chosen[j], t, cid, kind, reason, alloc, close, rules, params,
            theta[j],
        )
        if kind == Kind.REAL or reason == SIM_DRY_RUN:
            from_main = min(alloc, pools[book, Pool.MAIN])
            transfer(
                pools,
                ledger,
                counters,
                C_NLEDGER,
                t,
                from_main,
                Pool.MAIN,
                Pool.PRE_TRADE,
                R_ALLOCATE,
                i,
                book,
            )
            transfer(
                pools,
                ledger,
                counters,
                C_NLEDGER,
                t,
                alloc - from_main,
                Pool.HELD,
                Pool.PRE_TRADE,
                R_ALLOCATE,
                i,
                book,
            )
    for j in range(len(others)):
        _nominate(
            trades, counters, others[j], t, cid, Kind.SIM, SIM_NOT_SELECTED, share, close, rules,
            params, theta[len(chosen) + j],
        )


@njit(cache=True, inline="always")
def _absorb(trades: np.ndarray, open_list: np.ndarray, counters: np.ndarray) -> None:
    """Trades created since the last call (nominations written by the driver, real trades
    of a conversion) join the end of the open list, so it stays in trade order."""
    n_open = counters[C_NOPEN]
    for i in range(counters[C_SEEN], counters[C_NTRADES]):
        if not finished(trades[i]):
            open_list[n_open] = i
            n_open += 1
    counters[C_SEEN] = counters[C_NTRADES]
    counters[C_NOPEN] = n_open


@njit(cache=True)
def advance(
    trades: np.ndarray,
    open_list: np.ndarray,
    counters: np.ndarray,
    pools: np.ndarray,
    ledger: np.ndarray,
    cycles: np.ndarray,
    equity: np.ndarray,
    paper_equity: np.ndarray,
    last_close: np.ndarray,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
    valid: np.ndarray,
    last_valid: np.ndarray,
    params: Params,
    cparams: Params,
    detail_high: np.ndarray,
    detail_low: np.ndarray,
    ratio: int,
    stop: np.ndarray,
    t0: int,
    t1: int,
) -> int:
    """Process bars ``[t0, t1)``; return the next bar to process.

    Returns after the close of a row flagged in ``stop`` at which no cycle is active: the
    driver decides there (a decision while a cycle runs would do nothing).

    ``open_list`` (as long as ``trades``) holds, in trade order, the trades something may
    still happen to (``counters[C_NOPEN]`` of them): each bar touches only those, so a bar
    costs the same at the end of a long run as at its start.

    ``last_close`` (pair × row) is each pair's last close at or before the row.
    ``detail_high``/``detail_low`` (pair × lower-timeframe row) with ``ratio`` lower candles
    per bar resolve bars touching both stop and target; ``ratio = 0`` means no detail.

    Returns early (before a bar it has not touched) when the ledger might run out of room,
    so the caller can grow it and call again: no work is ever half done.
    """
    fee = params[P_FEE]
    slip = params[P_SLIP]
    last_t = close.shape[1] - 1
    weights = np.zeros(len(open_list))
    for t in range(t0, t1):
        _absorb(trades, open_list, counters)
        n_open = counters[C_NOPEN]
        if counters[C_NLEDGER] + 6 * n_open + 16 > len(ledger):
            return t
        # Reinvestment legs decided at the last close fill at this open.
        for k in range(n_open):
            tr = trades[open_list[k]]
            if tr.status == Status.ACTIVE and tr.pending_add > 0.0 and valid[tr.pair, t]:
                p = tr.pair
                used = add_leg(
                    tr,
                    open_[p, t] * (1.0 + slip * tr.side),
                    tr.pending_add,
                    fee,
                    fill_cap(volume[p, t], params),
                )
                # What the volume cap left unfilled returns to divestment.
                transfer(
                    pools,
                    ledger,
                    counters,
                    C_NLEDGER,
                    t,
                    tr.pending_add - used,
                    Pool.ACTIVE,
                    Pool.DIVESTMENT,
                    R_RELEASE,
                    tr.id,
                    book_of(tr.kind, tr.reason),
                )
                tr.pending_add = 0.0
        kept = 0
        for k in range(n_open):
            i = open_list[k]
            tr = trades[i]
            p = tr.pair
            hint = 0
            if ratio > 0 and valid[p, t]:
                hint = detail_hint(
                    tr,
                    open_[p, t],
                    high[p, t],
                    low[p, t],
                    detail_high[p],
                    detail_low[p],
                    t * ratio,
                    ratio,
                )
            events = step_trade(
                tr,
                t,
                open_[p, t],
                high[p, t],
                low[p, t],
                close[p, t],
                volume[p, t],
                valid[p, t],
                t == last_valid[p],
                False,
                hint,
                params,
            )
            book = book_of(tr.kind, tr.reason)
            if events and book >= 0:
                _settle(tr, events, t, pools, ledger, counters, book)
            # The pair's data has ended (delisted), or the whole run ends here.
            if t > last_valid[p] or t == last_t:
                events = end_trade(tr, t, last_close[p, t], params)
                if events and book >= 0:
                    _settle(tr, events, t, pools, ledger, counters, book)
            if not finished(tr):
                open_list[kept] = i
                kept += 1
        n_open = kept
        counters[C_NOPEN] = n_open
        if counters[C_ACTIVE]:
            cid = counters[C_CYCLE]
            for book in range(2):
                # A call costs atomic reference counts on each array it is given, every
                # bar: test here whether there is anything to reinvest at all.
                amount = pools[book, Pool.DIVESTMENT]
                if amount < cparams[Q_MIN_REINVEST] or amount <= 0.0:
                    continue
                _reinvest(
                    trades,
                    open_list,
                    n_open,
                    weights,
                    t,
                    book,
                    cid,
                    close,
                    valid,
                    pools,
                    ledger,
                    counters,
                    cparams,
                )
            if (
                counters[C_MODE] == MODE_DRY
                and counters[C_CONVERTED] == 0
                and cparams[Q_CONVERT] > 0
            ):
                for k in range(n_open):
                    tr = trades[open_list[k]]
                    if (
                        tr.cycle == cid
                        and tr.reason == SIM_DRY_RUN
                        and tr.status == Status.ACTIVE
                        and valid[tr.pair, t]
                        and _unrealised(tr, close[tr.pair, t]) >= cparams[Q_TO_LIVE]
                    ):
                        if _convert(trades, t, cid, pools, ledger, counters):
                            counters[C_CONVERTED] = 1
                            cycles[counters[C_NCYCLES] - 1].converted_t = t
                            _absorb(trades, open_list, counters)
                            n_open = counters[C_NOPEN]
                        break
        # One pass over the open trades: what each book holds, and whether the cycle
        # still has a trade open (it ends when none is left).
        held_real = 0.0
        held_paper = 0.0
        cycle_open = False
        cid = counters[C_CYCLE]
        for k in range(n_open):
            tr = trades[open_list[k]]
            book = book_of(tr.kind, tr.reason)
            if tr.status == Status.ACTIVE:
                value = mark_value(tr, last_close[tr.pair, t]) + tr.pending_add
                if book == REAL_BOOK:
                    held_real += value
                elif book == SHADOW_BOOK:
                    held_paper += value
            if tr.cycle == cid and book >= 0:
                if tr.status == Status.PENDING or tr.status == Status.ACTIVE:
                    cycle_open = True
        if counters[C_ACTIVE] and not cycle_open:
            _end_cycle(trades, t, pools, ledger, counters, cycles, cparams)
        for book in range(2):
            cash = (
                pools[book, Pool.MAIN]
                + pools[book, Pool.PRE_TRADE]
                + pools[book, Pool.DIVESTMENT]
                + pools[book, Pool.HELD]
            )
            if book == REAL_BOOK:
                equity[t] = cash + held_real
            else:
                paper_equity[t] = cash + held_paper
        if stop[t] and not counters[C_ACTIVE]:
            return t + 1
    return t1
