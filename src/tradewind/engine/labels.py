"""Labels for the models, simulated by the trade lifecycle itself.

A label says what a decision *would have done*: each setup (or nomination) is run alone
through :func:`tradewind.engine.lifecycle.step_trade` — the function that trades — from the
candle after the decision until it exits, with the same fills, fees, stops and trailing.
So "a win" means exactly what a trade would have made, not a proxy such as "the price rose
2 % within a day". Every label carries the row where its outcome became known
(``known_t``): a training split purges rows whose label was not yet known at the split.
Labels are kept apart from features: nothing here is ever an input to a model.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from tradewind.engine.lifecycle import Params, end_trade, step_trade
from tradewind.engine.records import ExitReason, Status, new_trades

__all__ = ["LABEL_DTYPE", "label_nominations", "label_setups", "simulate_nominations"]

LABEL_DTYPE = np.dtype(
    [
        ("t", np.int64),  # decision row (the close it was decided at)
        ("pair", np.int64),
        ("side", np.int64),
        ("entered", np.int64),  # 0: never filled (expired, void)
        ("entry_t", np.int64),
        ("known_t", np.int64),  # row at whose close the outcome was known
        ("entry_price", np.float64),
        ("exit_price", np.float64),
        ("exit_reason", np.int64),
        ("ret", np.float64),  # P/L after fees / capital committed
        ("r_multiple", np.float64),  # P/L / (qty × |entry − initial stop|)
        ("mae_r", np.float64),  # worst adverse excursion while open, in R (<= 0)
        ("win", np.int64),  # P/L > 0
    ]
)


@njit(cache=True)
def _run_one(
    tr: Any,
    i: int,
    t0: int,
    candles: np.ndarray,
    fields: np.ndarray,
    valid: np.ndarray,
    params: Params,
    horizon: int,
    trail: np.ndarray,
    bar_at_row: np.ndarray,
    trail_base: int,
    out: Any,
) -> None:
    """Step trade ``tr[i]`` from row ``t0 + 1`` to its end; fill ``out`` (one label).

    ``bar_at_row[t]`` is the strategy's bar closing with row ``t`` (-1: none) and
    ``trail[trail_base + bar]`` its trailing-stop candidate (``trail_base < 0``: none)."""
    rec = tr[i]
    n_t = valid.shape[0]
    p = rec.pair
    f_o, f_h, f_l, f_c, f_v = fields[0], fields[1], fields[2], fields[3], fields[4]
    last_close = candles[t0, p, f_c]
    worst = 0.0
    known = -1
    end = min(n_t, t0 + 1 + horizon) if horizon > 0 else n_t
    for t in range(t0 + 1, end):
        ok = valid[t, p]
        if ok:
            last_close = candles[t, p, f_c]
        step_trade(
            rec,
            t,
            candles[t, p, f_o],
            candles[t, p, f_h],
            candles[t, p, f_l],
            candles[t, p, f_c],
            candles[t, p, f_v],
            ok,
            False,
            False,
            0,
            params,
        )
        if rec.status == Status.ACTIVE or (rec.status == Status.CLOSED and rec.entry_t == t):
            # Adverse excursion, in price units of the initial risk.
            risk = abs(rec.entry_price - rec.initial_stop)
            if risk > 0.0 and ok:
                low = candles[t, p, f_l] if rec.side > 0 else candles[t, p, f_h]
                move = rec.side * (low - rec.entry_price) / risk
                if move < worst:
                    worst = move
        if rec.status == Status.PENDING and rec.market_entry and ok:
            rec.status = Status.EXPIRED  # a market entry that could not fill lapses
            rec.exit_t = t
            rec.exit_reason = ExitReason.INVALID
        if rec.status == Status.CLOSED or rec.status == Status.EXPIRED:
            known = t
            break
        j = bar_at_row[t]
        if trail_base >= 0 and j >= 0:
            level = trail[trail_base + j]
            if not np.isnan(level):
                rec.strategy_stop = level
    if known < 0:
        # The horizon (or the data) ended first: settle at the last close, as a time exit.
        known = end - 1
        end_trade(rec, known, last_close, params)
        if rec.status == Status.CLOSED:
            rec.exit_reason = ExitReason.HORIZON if end < n_t else ExitReason.DATA_END
    out.t = t0
    out.pair = p
    out.side = rec.side
    out.entered = 1 if rec.entry_t >= 0 else 0
    out.entry_t = rec.entry_t
    out.known_t = known
    out.entry_price = rec.entry_price if rec.entry_t >= 0 else np.nan
    out.exit_price = rec.exit_price if rec.status == Status.CLOSED else np.nan
    out.exit_reason = rec.exit_reason
    if rec.status == Status.CLOSED and rec.cost > 0.0:
        out.ret = rec.pnl / rec.cost
        risk = rec.qty * abs(rec.entry_price - rec.initial_stop)
        out.r_multiple = rec.pnl / risk if risk > 0.0 else np.nan
        out.win = 1 if rec.pnl > 0.0 else 0
    else:
        out.ret = np.nan
        out.r_multiple = np.nan
        out.win = 0
    out.mae_r = worst


@njit(cache=True)
def _label_setups(
    ev_t: np.ndarray,
    ev_pair: np.ndarray,
    ev_side: np.ndarray,
    ev_ref: np.ndarray,
    ev_stop: np.ndarray,
    ev_target: np.ndarray,
    ev_trail_base: np.ndarray,
    ev_trail_bars: np.ndarray,
    bar_at: np.ndarray,
    ev_agent: np.ndarray,
    trail: np.ndarray,
    candles: np.ndarray,
    fields: np.ndarray,
    valid: np.ndarray,
    params: Params,
    horizon: int,
    tr: np.ndarray,
    out: np.ndarray,
) -> None:
    for e in range(len(ev_t)):
        rec = tr[0]
        rec.id = e
        rec.pair = ev_pair[e]
        rec.side = ev_side[e]
        rec.kind = 1
        rec.status = Status.PENDING
        rec.market_entry = 1
        rec.fixed_levels = 1
        rec.nominated_t = ev_t[e]
        rec.entry_t = -1
        rec.exit_t = -1
        rec.p0 = ev_ref[e]
        rec.stop = ev_stop[e]
        rec.initial_stop = ev_stop[e]
        rec.target = ev_target[e]
        rec.target_qty = 1.0
        rec.alloc = ev_ref[e] * 2.0  # one unit, with room for any gap
        rec.strategy_stop = np.nan
        rec.track = 0
        rec.pnl = 0.0
        rec.fees = 0.0
        rec.ambiguous = 0
        rec.exit_reason = 0
        base = ev_trail_base[e] if ev_trail_bars[e] > 0 else -1
        _run_one(
            tr,
            0,
            ev_t[e],
            candles,
            fields,
            valid,
            params,
            horizon,
            trail,
            bar_at[ev_agent[e]],
            base,
            out[e],
        )


def label_setups(
    ev_t: np.ndarray,
    ev_agent: np.ndarray,
    ev_pair: np.ndarray,
    ev_side: np.ndarray,
    ev_ref: np.ndarray,
    ev_stop: np.ndarray,
    ev_target: np.ndarray,
    candles: np.ndarray,
    fields: np.ndarray,
    valid: np.ndarray,
    params: Params,
    horizon: int,
    bar_at: np.ndarray | None = None,
    trail: np.ndarray | None = None,
    trail_offset: np.ndarray | None = None,
    trail_bars: np.ndarray | None = None,
) -> np.ndarray:
    """One label per setup: the trade it would have been, alone, from the next open.

    ``candles`` is a panel's ``(time, pair, field)`` array with ``fields`` the positions
    of open, high, low, close, volume; ``valid`` its mask. ``horizon`` (rows, 0 = none)
    ends a trade that is still open (``horizon`` exit at the close). The strategy's
    trailing stop (``trail`` laid out as the session lays it out, ``bar_at[agent, row]``)
    is followed when given.
    """
    n = len(ev_t)
    out = np.zeros(n, dtype=LABEL_DTYPE)
    n_agents = int(ev_agent.max()) + 1 if n else 1
    if bar_at is None or trail is None or trail_offset is None or trail_bars is None:
        bar_at = np.full((n_agents, valid.shape[0]), -1, dtype=np.int64)
        trail = np.full(1, np.nan)
        base = np.zeros(n, dtype=np.int64)
        bars = np.zeros(n, dtype=np.int64)
    else:
        base = trail_offset[ev_agent] + ev_pair * trail_bars[ev_agent]
        bars = trail_bars[ev_agent]
    _label_setups(
        np.ascontiguousarray(ev_t, dtype=np.int64),
        np.ascontiguousarray(ev_pair, dtype=np.int64),
        np.ascontiguousarray(ev_side, dtype=np.int64),
        np.ascontiguousarray(ev_ref, dtype=np.float64),
        np.ascontiguousarray(ev_stop, dtype=np.float64),
        np.ascontiguousarray(ev_target, dtype=np.float64),
        np.ascontiguousarray(base, dtype=np.int64),
        np.ascontiguousarray(bars, dtype=np.int64),
        bar_at,
        np.ascontiguousarray(ev_agent, dtype=np.int64),
        trail,
        candles,
        fields,
        valid,
        params,
        int(horizon),
        new_trades(1),
        out,
    )
    return out


@njit(cache=True)
def _label_nominations(
    ts: np.ndarray,
    ps: np.ndarray,
    candles: np.ndarray,
    fields: np.ndarray,
    valid: np.ndarray,
    params: Params,
    limit_mult: float,
    window_mult: float,
    expiry: int,
    horizon: int,
    tr: np.ndarray,
    out: np.ndarray,
) -> None:
    no_trail = np.full(1, np.nan)
    no_bars = np.full(valid.shape[0], -1, np.int64)
    for k in range(len(ts)):
        t = ts[k]
        p = ps[k]
        p0 = candles[t, p, fields[3]]
        rec = tr[0]
        rec.id = k
        rec.pair = p
        rec.side = 1
        rec.kind = 1
        rec.status = Status.PENDING
        rec.market_entry = 0
        rec.fixed_levels = 0
        rec.nominated_t = t
        rec.entry_t = -1
        rec.exit_t = -1
        rec.expiry_t = t + 1 + expiry  # as the cycle trader nominates (cycle_kernel)
        rec.p0 = p0
        rec.limit = p0 * limit_mult
        rec.window_stop = p0 * window_mult
        rec.alloc = 1.0
        rec.target_qty = 0.0
        rec.strategy_stop = np.nan
        rec.track = 0
        rec.pnl = 0.0
        rec.fees = 0.0
        rec.ambiguous = 0
        rec.exit_reason = 0
        _run_one(tr, 0, t, candles, fields, valid, params, horizon, no_trail, no_bars, -1, out[k])


def simulate_nominations(
    ts: np.ndarray,
    pairs: np.ndarray,
    candles: np.ndarray,
    fields: np.ndarray,
    valid: np.ndarray,
    params: Params,
    *,
    limit_mult: float,
    window_mult: float,
    expiry: int,
    horizon: int,
) -> np.ndarray:
    """The trade a cycle-trader nomination of ``pairs[k]`` at the close of row ``ts[k]``
    would have made, alone: the pre-trade window (breakout above ``p0 × limit_mult``, or
    below ``p0 × window_mult`` when the lifecycle trades both ways, for ``expiry`` rows
    after the next one, as the cycle trader waits), then the active exits, until
    ``horizon`` rows. Each needs a candle at its row. Levels are not rounded to the
    exchange's tick (the trader rounds them where the store has market rules)."""
    ts = np.ascontiguousarray(ts, dtype=np.int64)
    pairs = np.ascontiguousarray(pairs, dtype=np.int64)
    if len(ts) and not valid[ts, pairs].all():
        raise ValueError("simulate_nominations: a nomination at a row without its candle")
    out = np.zeros(len(ts), dtype=LABEL_DTYPE)
    _label_nominations(
        ts,
        pairs,
        candles,
        fields,
        valid,
        params,
        float(limit_mult),
        float(window_mult),
        int(expiry),
        int(horizon),
        new_trades(1),
        out,
    )
    return out


def label_nominations(
    rows: np.ndarray,
    candles: np.ndarray,
    fields: np.ndarray,
    valid: np.ndarray,
    params: Params,
    *,
    limit_mult: float,
    window_mult: float,
    expiry: int,
    horizon: int,
) -> np.ndarray:
    """The cycle trader's labels: :func:`simulate_nominations` for every pair with a candle
    at each decision row (row by row, pairs in order)."""
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    r, p = np.nonzero(valid[rows]) if len(rows) else (np.zeros(0, np.int64),) * 2
    return simulate_nominations(
        rows[r],
        p,
        candles,
        fields,
        valid,
        params,
        limit_mult=limit_mult,
        window_mult=window_mult,
        expiry=expiry,
        horizon=horizon,
    )
