"""The trade lifecycle, written once: numba step functions over one trade record.

``step_trade`` advances one trade by one bar — pre-trade window, active exits, trailing
stop, tracked continuation — and says what happened (a bit set of ``EV_*``). The backtest
calls it inside a compiled loop over time; the live node calls the very same function once
per closed candle. Nothing else in Tradewind decides a fill, an exit or a stop level.

Conventions (see docs/engine.md): levels are multiples of a reference price for longs and
mirrored for shorts (``2 - m``); market orders fill at the bar's open plus slippage in the
trade's adverse direction; stops and targets fill at their level, or at the open when the
bar gapped through; a bar that touches both stop and target exits at the stop unless a
lower-timeframe hint says otherwise; a stop raised during a bar applies from the next bar;
fees are charged on every fill.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from tradewind.engine.records import ExitReason, Status

__all__ = [
    "EV_CLOSED",
    "EV_EXPIRED",
    "EV_FILLED",
    "EV_NONE",
    "EV_TRACK_DONE",
    "LIFECYCLE_PARAMS",
    "Params",
    "add_leg",
    "round_price",
    "round_qty",
    "fill_cap",
    "detail_hint",
    "end_trade",
    "finished",
    "own_param",
    "make_params",
    "mark_value",
    "borrow_cost",
    "step_trade",
    "step_trade_at",
]

EV_NONE = 0
EV_FILLED = 1
EV_CLOSED = 2
EV_EXPIRED = 4
EV_TRACK_DONE = 8

#: The lifecycle parameters, a tuple of floats in ``LIFECYCLE_PARAMS`` order. A tuple, not an
#: array: numba passes it by value, without the reference counting an array costs on every
#: call (measured: about half the time of a signal backtest).
Params = tuple[float, ...]

#: Positions in the parameter tuple every kernel takes.
LIFECYCLE_PARAMS = (
    "fee",
    "slippage",
    "take_profit",
    "stop_loss",
    "trail_activation",
    "trail_distance",
    "trail_on_high",
    "max_hold_bars",
    "track_horizon_bars",
    "both_directions",
    "limit_mult",
    "window_stop_mult",
    "expiry_bars",
    "max_volume_share",
    "borrow_per_bar",
)


def make_params(**values: float) -> Params:
    """A parameter tuple from names in ``LIFECYCLE_PARAMS``; names not given are 0 (off).

    For code that drives the lifecycle without a config (tests, benchmarks, signal
    backtests); the traders build theirs from the validated config.
    """
    unknown = set(values) - set(LIFECYCLE_PARAMS)
    if unknown:
        raise ValueError(f"unknown lifecycle parameter(s): {', '.join(sorted(unknown))}")
    return tuple(float(values.get(name, 0.0)) for name in LIFECYCLE_PARAMS)


P_FEE, P_SLIP, P_TP, P_SL, P_ACT, P_TRAIL, P_TRAIL_HIGH, P_MAX_HOLD, P_HORIZON = range(9)
P_BOTH, P_LIMIT, P_WSTOP, P_EXPIRY, P_VOLUME_SHARE, P_BORROW = 9, 10, 11, 12, 13, 14

# Detail hints: which of stop and target a lower timeframe saw first in an ambiguous bar.
DETAIL_UNKNOWN, DETAIL_STOP_FIRST, DETAIL_TARGET_FIRST = 0, 1, 2


@njit(cache=True, inline="always")
def level(price: float, mult: float, side: int) -> float:
    """``price × mult`` for a long; the mirrored level ``price × (2 − mult)`` for a short."""
    return price * mult if side > 0 else price * (2.0 - mult)


@njit(cache=True, inline="always")
def round_price(price: float, tick: float) -> float:
    """``price`` on the exchange's tick grid (nearest tick); unchanged when ``tick`` is 0."""
    if tick <= 0.0:
        return price
    return float(np.round(price / tick) * tick)


@njit(cache=True, inline="always")
def round_qty(qty: float, step: float) -> float:
    """``qty`` rounded down to the exchange's lot step; unchanged when ``step`` is 0."""
    if step <= 0.0:
        return qty
    return float(np.floor(qty / step + 1e-9) * step)


@njit(cache=True, inline="always")
def own_param(value: float, default: float) -> float:
    """A trade's own parameter (the cycle trader's per-regime ones), else the run's."""
    return default if np.isnan(value) else value


@njit(cache=True, inline="always")
def fill_cap(volume: float, params: Params) -> float:
    """The largest quantity one fill may take from a candle of ``volume`` (inf = no cap)."""
    share = params[P_VOLUME_SHARE]
    return share * volume if share > 0.0 else np.inf


@njit(cache=True)
def _enter(tr: Any, t: int, price: float, volume: float, params: Params) -> bool:
    """Fill the entry at ``price``; past the volume cap only part of the allocation is
    used (``cost < alloc``; the caller releases the rest). False when nothing can fill."""
    fee = params[P_FEE]
    qty = tr.alloc / (price * (1.0 + fee))
    if tr.target_qty > 0.0 and tr.target_qty < qty:
        qty = tr.target_qty  # risk-sized: the reservation only bounds it
    cap = fill_cap(volume, params)
    if cap <= 0.0:
        return False
    if qty > cap:
        qty = cap
    qty = round_qty(qty, tr.lot_step)
    if qty <= 0.0 or qty * price < tr.min_notional:
        return False  # too small for the exchange: no order
    tr.qty = qty
    tr.cost = qty * price * (1.0 + fee)
    tr.entry_price = price
    tr.fees = qty * price * fee
    tr.entry_t = t
    tr.legs = 1
    tr.status = Status.ACTIVE
    if tr.fixed_levels:
        # A strategy's setup: its stop and target are prices (a missing target is ±inf),
        # and there is no percentage trailing stop — the strategy trails it, if at all.
        tr.stop = round_price(tr.stop, tr.tick)
        tr.target = round_price(tr.target, tr.tick)
        tr.activation = np.inf if tr.side > 0 else -np.inf
    else:
        tr.stop = round_price(level(price, own_param(tr.sl_mult, params[P_SL]), tr.side), tr.tick)
        tr.target = round_price(level(price, own_param(tr.tp_mult, params[P_TP]), tr.side), tr.tick)
        tr.activation = level(price, own_param(tr.act_mult, params[P_ACT]), tr.side)
    tr.initial_stop = tr.stop
    tr.best = price
    tr.trail_on = 0
    return True


@njit(cache=True)
def add_leg(tr: Any, price: float, amount: float, fee: float, max_qty: float) -> float:
    """Add up to ``amount`` of capital to an open position at ``price`` (a reinvestment leg),
    at most ``max_qty`` units (see :func:`fill_cap`); return the capital actually used.

    The average entry moves; stop, target and trailing activation stay at their levels.
    """
    qty = amount / (price * (1.0 + fee))
    if qty > max_qty:
        qty = max_qty
    qty = round_qty(qty, tr.lot_step)
    if qty <= 0.0 or qty * price < tr.min_notional:
        return 0.0
    used = qty * price * (1.0 + fee)
    tr.entry_price = (tr.qty * tr.entry_price + qty * price) / (tr.qty + qty)
    tr.qty += qty
    tr.cost += used
    tr.fees += qty * price * fee
    tr.legs += 1
    return float(used)


@njit(cache=True, inline="always")
def finished(tr: Any) -> bool:
    """Nothing will happen to this trade any more: expired, or closed and not (or no
    longer) tracked. Bar loops keep only the others in their open lists."""
    done: bool = (
        tr.status == Status.FREE
        or tr.status == Status.EXPIRED
        or (tr.status == Status.CLOSED and tr.track != 1)
    )
    return done


@njit(cache=True, inline="always")
def mark_value(tr: Any, price: float) -> float:
    """What the open position is worth at ``price`` (before the exit fee)."""
    value: float = tr.qty * price if tr.side > 0 else tr.qty * (2.0 * tr.entry_price - price)
    return value


@njit(cache=True, inline="always")
def borrow_cost(tr: Any, t: int, params: Params) -> float:
    """A short's borrowing interest from its entry to row ``t``: the entry notional × the
    rate per bar × the bars begun (the exit's own included), as a margin account charges
    interest for every hour begun. Nothing for a long."""
    rate = params[P_BORROW]
    if tr.side > 0 or rate <= 0.0:
        return 0.0
    bars = max(t - tr.entry_t + 1, 1)
    cost: float = tr.qty * tr.entry_price * rate * bars
    return cost


@njit(cache=True)
def _exit(tr: Any, t: int, price: float, reason: int, params: Params, horizon: float) -> None:
    fee = tr.qty * price * params[P_FEE]
    borrow = borrow_cost(tr, t, params)
    tr.fees += fee + borrow  # a short's interest is a cost of the trade, like its fees
    tr.pnl = mark_value(tr, price) - fee - borrow - tr.cost
    tr.exit_t = t
    tr.exit_price = price
    tr.exit_reason = reason
    tr.status = Status.CLOSED
    # Followed on when closed by anything but its stop (or the end of its data).
    if (
        horizon > 0
        and reason != ExitReason.STOP
        and reason != ExitReason.TRAIL_STOP
        and reason != ExitReason.DATA_END
        and reason != ExitReason.CONVERTED
    ):
        tr.track = 1
        tr.track_stop = tr.stop
        tr.track_best = tr.best
        tr.track_on = tr.trail_on


@njit(cache=True, inline="always")
def _trail(
    side: int,
    best: float,
    stop: float,
    on: int,
    activation: float,
    ref: float,
    dist: float,
    tick: float,
) -> tuple[float, float, int]:
    """Best price, stop and activation flag after one bar's reference price."""
    if side > 0:
        if ref > best:
            best = ref
        if best > activation:
            on = 1
            new = round_price(best * dist, tick)
            if new > stop:
                stop = new
    else:
        if ref < best:
            best = ref
        if best < activation:
            on = 1
            new = round_price(best * (2.0 - dist), tick)
            if new < stop:
                stop = new
    return best, stop, on


@njit(cache=True, inline="always")
def _stop_reason(on: int) -> int:
    return ExitReason.TRAIL_STOP if on else ExitReason.STOP


# Inlined (numba IR) into ``step_trade``: a separate call copied the parameter tuple onto the
# stack on every bar of an open position (measured: about a quarter of a signal backtest).
@njit(cache=True, inline="always")
def _step_active(
    tr: Any,
    t: int,
    o: float,
    h: float,
    lo: float,
    c: float,
    is_last: bool,
    exit_signal: bool,
    detail: int,
    target_allowed: bool,
    params: Params,
) -> int:
    side = tr.side
    horizon = params[P_HORIZON]
    slip = params[P_SLIP]
    # A stop the strategy proposed at the last close (e.g. a new fractal low) applies from
    # this bar, and only when it is tighter: a strategy may protect more, never less.
    proposed = tr.strategy_stop
    if not np.isnan(proposed) and t > tr.entry_t:
        if (side > 0 and proposed > tr.stop) or (side < 0 and proposed < tr.stop):
            tr.stop = round_price(proposed, tr.tick)
    if t > tr.entry_t:
        if tr.close_t >= 0 and t >= tr.close_t:  # the operator's close: at this open
            _exit(tr, t, o * (1.0 - slip * side), ExitReason.MANUAL, params, horizon)
            return EV_CLOSED
        if exit_signal:
            _exit(tr, t, o * (1.0 - slip * side), ExitReason.SIGNAL, params, horizon)
            return EV_CLOSED
        max_hold = params[P_MAX_HOLD]
        if max_hold > 0 and t - tr.entry_t >= max_hold:
            _exit(tr, t, o * (1.0 - slip * side), ExitReason.TIME, params, horizon)
            return EV_CLOSED
        # Gaps through a level at the open fill at the open.
        if (side > 0 and o <= tr.stop) or (side < 0 and o >= tr.stop):
            _exit(tr, t, o, _stop_reason(tr.trail_on), params, horizon)
            return EV_CLOSED
        if (side > 0 and o >= tr.target) or (side < 0 and o <= tr.target):
            _exit(tr, t, o, ExitReason.TAKE_PROFIT, params, horizon)
            return EV_CLOSED
    stop_hit = lo <= tr.stop if side > 0 else h >= tr.stop
    target_hit = target_allowed and (h >= tr.target if side > 0 else lo <= tr.target)
    if stop_hit and target_hit:
        tr.ambiguous += 1
        if detail == DETAIL_TARGET_FIRST:
            stop_hit = False
        else:
            target_hit = False
    if stop_hit:
        _exit(tr, t, tr.stop, _stop_reason(tr.trail_on), params, horizon)
        return EV_CLOSED
    if target_hit:
        _exit(tr, t, tr.target, ExitReason.TAKE_PROFIT, params, horizon)
        return EV_CLOSED
    if is_last:
        _exit(tr, t, c, ExitReason.DATA_END, params, 0.0)
        return EV_CLOSED
    ref = c
    if params[P_TRAIL_HIGH] > 0:
        ref = h if side > 0 else lo
    tr.best, tr.stop, tr.trail_on = _trail(
        side,
        tr.best,
        tr.stop,
        tr.trail_on,
        tr.activation,
        ref,
        own_param(tr.trail_mult, params[P_TRAIL]),
        tr.tick,
    )
    return EV_NONE


@njit(cache=True)
def _track_exit_bar(tr: Any, h: float, lo: float, c: float, params: Params) -> None:
    """The exit bar's reference price still trails the tracked stop (from the next bar)."""
    ref = c
    if params[P_TRAIL_HIGH] > 0:
        ref = h if tr.side > 0 else lo
    tr.track_best, tr.track_stop, tr.track_on = _trail(
        tr.side,
        tr.track_best,
        tr.track_stop,
        tr.track_on,
        tr.activation,
        ref,
        own_param(tr.trail_mult, params[P_TRAIL]),
        tr.tick,
    )


@njit(cache=True)
def _step_tracked(
    tr: Any, t: int, o: float, h: float, lo: float, c: float, is_last: bool, params: Params
) -> int:
    side = tr.side
    if t > tr.exit_t:
        stop = tr.track_stop
        price = np.nan
        if (side > 0 and o <= stop) or (side < 0 and o >= stop):
            price = o
        elif (side > 0 and lo <= stop) or (side < 0 and h >= stop):
            price = stop
        reason = _stop_reason(tr.track_on)
        if np.isnan(price) and (is_last or t - tr.exit_t >= params[P_HORIZON]):
            price = c
            reason = ExitReason.DATA_END if is_last else ExitReason.HORIZON
        if not np.isnan(price):
            tr.track = 2
            tr.track_exit_t = t
            tr.track_exit_price = price
            tr.track_reason = reason
            tr.track_pnl = (
                mark_value(tr, price)
                - tr.qty * price * params[P_FEE]
                - borrow_cost(tr, t, params)
                - tr.cost
            )
            return EV_TRACK_DONE
    ref = c
    if params[P_TRAIL_HIGH] > 0:
        ref = h if side > 0 else lo
    tr.track_best, tr.track_stop, tr.track_on = _trail(
        side,
        tr.track_best,
        tr.track_stop,
        tr.track_on,
        tr.activation,
        ref,
        own_param(tr.trail_mult, params[P_TRAIL]),
        tr.tick,
    )
    return EV_NONE


# Inlined into each caller (the cycle kernel, the signal loop, the live entry point): the
# call copied the parameter tuple and a dozen arguments on every bar of an open position.
# Still one implementation — only its machine code is repeated per caller.
@njit(cache=True, inline="always")
def step_trade(
    tr: Any,
    t: int,
    o: float,
    h: float,
    lo: float,
    c: float,
    v: float,
    valid: bool,
    is_last: bool,
    exit_signal: bool,
    detail: int,
    params: Params,
) -> int:
    """Advance one trade by bar ``t`` (open ``o``, high ``h``, low ``lo``, close ``c``,
    volume ``v``, which caps entry fills when ``max_volume_share`` is set).

    ``valid`` False (a gap in the pair's candles) means no action at all; ``is_last``
    marks the pair's last candle (an open position closes there at the close, flagged
    ``data_end``); ``exit_signal`` is a strategy's exit decided at the previous close;
    ``detail`` resolves a bar touching both stop and target (``DETAIL_*``).
    Returns a bit set of ``EV_FILLED``, ``EV_CLOSED``, ``EV_EXPIRED``, ``EV_TRACK_DONE``.
    """
    status = tr.status
    if status == Status.PENDING and t >= tr.expiry_t and not tr.market_entry:
        # Expiry is a matter of time, not price: it happens during a gap too, so capital
        # never waits on a pair that stopped trading.
        tr.status = Status.EXPIRED
        tr.exit_t = t
        tr.exit_reason = ExitReason.EXPIRED
        return EV_EXPIRED
    if status == Status.PENDING and tr.close_t >= 0 and t >= tr.close_t:
        # Cancelled by the operator while waiting: a matter of time, like an expiry.
        tr.status = Status.EXPIRED
        tr.exit_t = t
        tr.exit_reason = ExitReason.MANUAL
        return EV_EXPIRED
    if not valid:
        return EV_NONE
    if status == Status.CLOSED:
        if tr.track == 1:
            return _step_tracked(tr, t, o, h, lo, c, is_last, params)
        return EV_NONE
    if status != Status.PENDING and status != Status.ACTIVE:
        return EV_NONE
    events = EV_NONE
    target_allowed = True
    signal = exit_signal
    if status == Status.PENDING:
        side = tr.side
        signal = False
        if tr.market_entry:
            price = o * (1.0 + params[P_SLIP] * side)
            # A setup whose stop or target the market already passed is void: entering
            # would exit at once, at a price the strategy never planned.
            if tr.fixed_levels and (
                side * (price - tr.stop) <= 0.0 or side * (tr.target - price) <= 0.0
            ):
                tr.status = Status.EXPIRED
                tr.exit_t = t
                tr.exit_reason = ExitReason.INVALID
                return EV_EXPIRED
            if not _enter(tr, t, price, v, params):
                return EV_NONE
        else:
            both = params[P_BOTH] > 0
            if side > 0:
                with_trend = h >= tr.limit
                against = both and lo <= tr.window_stop
                price_with = o if o >= tr.limit else tr.limit
                price_against = o if o <= tr.window_stop else tr.window_stop
            else:
                with_trend = lo <= tr.limit
                against = both and h >= tr.window_stop
                price_with = o if o <= tr.limit else tr.limit
                price_against = o if o >= tr.window_stop else tr.window_stop
            if not (with_trend or against):
                if is_last:
                    tr.status = Status.EXPIRED
                    tr.exit_t = t
                    tr.exit_reason = ExitReason.DATA_END
                    return EV_EXPIRED
                return EV_NONE
            # Both sides touched in one bar: the fill worse for the trade (the higher
            # price for a long), which is the level in the trade's direction.
            price = price_with if with_trend else price_against
            if not _enter(tr, t, price, v, params):
                return EV_NONE  # too little volume or notional: the nomination keeps waiting
            # After a fill inside the bar the rest of the bar is unknown: its stop may still
            # be hit (pessimistic), its target may not. A fill at the open sees the whole bar.
            target_allowed = price == o
        events = EV_FILLED
    events |= _step_active(tr, t, o, h, lo, c, is_last, signal, detail, target_allowed, params)
    if events & EV_CLOSED and tr.track == 1:
        _track_exit_bar(tr, h, lo, c, params)
    return events


@njit(cache=True)
def detail_hint(
    tr: Any,
    o: float,
    h: float,
    lo: float,
    detail_high: np.ndarray,
    detail_low: np.ndarray,
    first: int,
    count: int,
) -> int:
    """Which of stop and target the lower-timeframe candles of this bar touched first.

    Only asked for an active trade whose bar touches both (and did not gap through either
    at the open). ``detail_*[first:first + count]`` are the bar's lower-timeframe candles
    (NaN where missing). A lower candle touching both, or none known, leaves it unknown.
    """
    if tr.status != Status.ACTIVE or count <= 0:
        return DETAIL_UNKNOWN
    side = tr.side
    stop, target = tr.stop, tr.target
    if side > 0:
        if not (lo <= stop and h >= target) or o <= stop or o >= target:
            return DETAIL_UNKNOWN
    elif not (h >= stop and lo <= target) or o >= stop or o <= target:
        return DETAIL_UNKNOWN
    for k in range(first, first + count):
        dh = detail_high[k]
        dl = detail_low[k]
        if np.isnan(dh) or np.isnan(dl):
            continue
        hit_stop = dl <= stop if side > 0 else dh >= stop
        hit_target = dh >= target if side > 0 else dl <= target
        if hit_stop and hit_target:
            return DETAIL_UNKNOWN
        if hit_stop:
            return DETAIL_STOP_FIRST
        if hit_target:
            return DETAIL_TARGET_FIRST
    return DETAIL_UNKNOWN


@njit(cache=True)
def end_trade(tr: Any, t: int, price: float, params: Params) -> int:
    """The data of the trade's pair has ended (or the run has): settle at ``price``.

    A waiting nomination expires, a position closes at the last close, a tracked
    continuation records its outcome there; all flagged ``data_end``.
    """
    status = tr.status
    if status == Status.PENDING:
        tr.status = Status.EXPIRED
        tr.exit_t = t
        tr.exit_reason = ExitReason.DATA_END
        return EV_EXPIRED
    if status == Status.ACTIVE:
        _exit(tr, t, price, ExitReason.DATA_END, params, 0.0)
        return EV_CLOSED
    if status == Status.CLOSED and tr.track == 1:
        tr.track = 2
        tr.track_exit_t = t
        tr.track_exit_price = price
        tr.track_reason = ExitReason.DATA_END
        tr.track_pnl = (
            mark_value(tr, price)
            - tr.qty * price * params[P_FEE]
            - borrow_cost(tr, t, params)
            - tr.cost
        )
        return EV_TRACK_DONE
    return EV_NONE


@njit(cache=True)
def step_trade_at(
    trades: np.ndarray,
    i: int,
    t: int,
    o: float,
    h: float,
    lo: float,
    c: float,
    v: float,
    valid: bool,
    is_last: bool,
    exit_signal: bool,
    detail: int,
    params: Params,
) -> int:
    """:func:`step_trade` on ``trades[i]``: the entry point for Python callers."""
    return step_trade(trades[i], t, o, h, lo, c, v, valid, is_last, exit_signal, detail, params)
