"""The trade lifecycle, bar by bar, on hand-made candles."""

from __future__ import annotations

import numpy as np
import pytest

from tradewind.engine.lifecycle import (
    DETAIL_TARGET_FIRST,
    EV_CLOSED,
    EV_EXPIRED,
    EV_FILLED,
    EV_NONE,
    EV_TRACK_DONE,
    make_params,
    step_trade_at,
)
from tradewind.engine.records import EXIT_NAMES, ExitReason, Status, new_trades

DEFAULTS = {
    "fee": 0.0,
    "slippage": 0.0,
    "take_profit": 1.52,
    "stop_loss": 0.983,
    "trail_activation": 1.10,
    "trail_distance": 0.983,
    "trail_on_high": 0.0,
    "max_hold_bars": 0.0,
    "track_horizon_bars": 100.0,
    "both_directions": 1.0,
    "limit_mult": 1.005,
    "window_stop_mult": 0.92,
    "expiry_bars": 24.0,
    "max_volume_share": 0.0,
    "borrow_per_bar": 0.0,
}


def params(**over: float) -> tuple[float, ...]:
    return make_params(**{**DEFAULTS, **over})


def pending(side: int = 1, p0: float = 100.0, expiry: int = 24, market: bool = False) -> np.ndarray:
    trades = new_trades(1)
    tr = trades[0]
    tr["side"], tr["status"], tr["alloc"], tr["p0"] = side, Status.PENDING, 1000.0, p0
    tr["limit"] = p0 * (1.005 if side > 0 else 2 - 1.005)
    tr["window_stop"] = p0 * (0.92 if side > 0 else 2 - 0.92)
    tr["expiry_t"], tr["market_entry"] = expiry, int(market)
    return trades


def step(
    trades: np.ndarray,
    t: int,
    bar: tuple[float, float, float, float],
    p: tuple[float, ...],
    *,
    valid: bool = True,
    last: bool = False,
    signal: bool = False,
    detail: int = 0,
    volume: float = np.inf,
) -> int:
    o, h, lo, c = bar
    return int(step_trade_at(trades, 0, t, o, h, lo, c, volume, valid, last, signal, detail, p))


def active(entry: float = 100.0, side: int = 1, p: tuple[float, ...] | None = None) -> np.ndarray:
    """A trade filled at ``entry`` on bar 0 by a market entry (levels from the entry)."""
    trades = pending(side=side, market=True)
    step(trades, 0, (entry, entry, entry, entry), params() if p is None else p)
    assert trades[0]["status"] == Status.ACTIVE
    return trades


def test_breakout_up_fills_at_the_limit_and_cannot_take_profit_in_that_bar() -> None:
    trades = pending()
    assert step(trades, 1, (100.0, 100.2, 99.9, 100.1), params()) == EV_NONE
    events = step(trades, 2, (100.1, 200.0, 100.0, 105.0), params())
    assert events == EV_FILLED
    tr = trades[0]
    assert tr["entry_price"] == pytest.approx(100.5)
    assert tr["entry_t"] == 2
    assert tr["stop"] == pytest.approx(100.5 * 0.983)
    assert tr["target"] == pytest.approx(100.5 * 1.52)
    assert tr["status"] == Status.ACTIVE  # high 200 ≥ target, but not after the fill for sure


def test_a_gap_through_the_limit_fills_at_the_open() -> None:
    trades = pending()
    assert step(trades, 1, (103.0, 104.0, 102.5, 103.5), params()) == EV_FILLED
    assert trades[0]["entry_price"] == 103.0


def test_breakout_down_fills_at_the_window_stop_only_with_both_directions() -> None:
    trades = pending()
    step(trades, 1, (95.0, 95.0, 91.0, 93.0), params())
    assert trades[0]["entry_price"] == pytest.approx(92.0)
    up_only = pending()
    assert step(up_only, 1, (95.0, 95.0, 91.0, 93.0), params(both_directions=0.0)) == EV_NONE
    assert up_only[0]["status"] == Status.PENDING


def test_a_bar_touching_both_window_edges_fills_at_the_higher_price() -> None:
    trades = pending()
    step(trades, 1, (99.0, 101.0, 91.0, 95.0), params())
    assert trades[0]["entry_price"] == pytest.approx(100.5)


def test_a_nomination_expires_without_breakout() -> None:
    trades = pending(expiry=3)
    for t in (1, 2):
        assert step(trades, t, (100.0, 100.4, 99.0, 100.0), params()) == EV_NONE
    assert step(trades, 3, (100.0, 101.0, 99.0, 100.0), params()) == EV_EXPIRED
    assert trades[0]["status"] == Status.EXPIRED
    assert trades[0]["exit_reason"] == ExitReason.EXPIRED


def test_stop_loss_at_its_level_or_at_a_gapped_open() -> None:
    trades = active()
    assert step(trades, 1, (99.5, 99.8, 98.0, 98.5), params()) == EV_CLOSED
    assert trades[0]["exit_price"] == pytest.approx(98.3)
    assert trades[0]["exit_reason"] == ExitReason.STOP
    gapped = active()
    step(gapped, 1, (97.0, 97.5, 96.0, 97.0), params())
    assert gapped[0]["exit_price"] == 97.0


def test_take_profit_at_its_level_or_at_a_gapped_open() -> None:
    trades = active()
    step(trades, 1, (120.0, 160.0, 119.0, 150.0), params())
    assert trades[0]["exit_price"] == pytest.approx(152.0)
    assert trades[0]["exit_reason"] == ExitReason.TAKE_PROFIT
    gapped = active()
    step(gapped, 1, (155.0, 160.0, 150.0, 158.0), params())
    assert gapped[0]["exit_price"] == 155.0


def test_a_bar_touching_stop_and_target_exits_at_the_stop_unless_detail_says_otherwise() -> None:
    trades = active()
    step(trades, 1, (100.0, 160.0, 90.0, 100.0), params())
    assert trades[0]["exit_reason"] == ExitReason.STOP
    assert trades[0]["ambiguous"] == 1
    resolved = active()
    step(resolved, 1, (100.0, 160.0, 90.0, 100.0), params(), detail=DETAIL_TARGET_FIRST)
    assert resolved[0]["exit_reason"] == ExitReason.TAKE_PROFIT


def test_trailing_stop_activates_past_ten_percent_and_applies_from_the_next_bar() -> None:
    trades = active()
    p = params()
    step(trades, 1, (100.0, 109.0, 99.0, 109.0), p)  # best close 109 < 110: not active
    assert trades[0]["trail_on"] == 0
    assert trades[0]["stop"] == pytest.approx(98.3)
    # close 115 activates; the new stop 113.045 would be hit by this bar's low 112,
    # but a level raised during a bar applies from the next bar only
    assert step(trades, 2, (109.0, 116.0, 112.0, 115.0), p) == EV_NONE
    assert trades[0]["trail_on"] == 1
    assert trades[0]["stop"] == pytest.approx(115.0 * 0.983)
    assert step(trades, 3, (114.0, 114.5, 112.0, 113.0), p) == EV_CLOSED
    assert trades[0]["exit_reason"] == ExitReason.TRAIL_STOP
    assert trades[0]["exit_price"] == pytest.approx(115.0 * 0.983)


def test_trailing_by_highs_when_configured() -> None:
    p = params(trail_on_high=1.0)
    trades = active(p=p)
    step(trades, 1, (100.0, 120.0, 99.0, 105.0), p)
    assert trades[0]["stop"] == pytest.approx(120.0 * 0.983)


def test_time_exit_and_signal_exit_fill_at_the_open_with_slippage() -> None:
    p = params(max_hold_bars=3.0, slippage=0.001)
    trades = active(p=p)
    for t in (1, 2):
        step(trades, t, (100.0, 101.0, 99.0, 100.0), p)
    assert step(trades, 3, (101.0, 102.0, 100.0, 101.0), p) == EV_CLOSED
    assert trades[0]["exit_reason"] == ExitReason.TIME
    assert trades[0]["exit_price"] == pytest.approx(101.0 * 0.999)
    signalled = active(p=p)
    step(signalled, 1, (102.0, 103.0, 101.0, 102.0), p, signal=True)
    assert signalled[0]["exit_reason"] == ExitReason.SIGNAL
    assert signalled[0]["exit_price"] == pytest.approx(102.0 * 0.999)


def test_no_action_during_a_gap_and_exits_judged_on_the_next_candle() -> None:
    trades = active()
    assert step(trades, 1, (50.0, 50.0, 50.0, 50.0), params(), valid=False) == EV_NONE
    assert trades[0]["status"] == Status.ACTIVE
    step(trades, 2, (97.0, 98.0, 96.0, 97.0), params())
    assert trades[0]["exit_price"] == 97.0  # gapped through the stop: the open


def test_data_end_closes_at_the_last_close() -> None:
    trades = active()
    assert step(trades, 1, (100.0, 101.0, 99.0, 100.7), params(), last=True) == EV_CLOSED
    assert trades[0]["exit_reason"] == ExitReason.DATA_END
    assert trades[0]["exit_price"] == 100.7
    assert trades[0]["track"] == 0


def test_fees_are_charged_on_both_fills() -> None:
    p = params(fee=0.0015)
    trades = active(p=p)
    step(trades, 1, (100.0, 100.0, 98.0, 99.0), p)
    tr = trades[0]
    qty = 1000.0 / (100.0 * 1.0015)
    assert tr["qty"] == pytest.approx(qty)
    exit_fee = qty * 98.3 * 0.0015
    assert tr["fees"] == pytest.approx(qty * 100.0 * 0.0015 + exit_fee)
    assert tr["pnl"] == pytest.approx(qty * 98.3 - exit_fee - 1000.0)


def test_a_trade_closed_by_its_target_is_tracked_until_its_trailing_stop() -> None:
    p = params(fee=0.001)
    trades = active(p=p)
    step(trades, 1, (120.0, 160.0, 119.0, 150.0), p)  # take profit at 152
    tr = trades[0]
    assert tr["track"] == 1
    assert tr["track_stop"] == pytest.approx(150.0 * 0.983)  # trailed on the exit bar's close
    assert step(trades, 2, (151.0, 170.0, 150.0, 168.0), p) == EV_NONE
    assert step(trades, 3, (167.0, 168.0, 160.0, 161.0), p) == EV_TRACK_DONE
    assert tr["track_reason"] == ExitReason.TRAIL_STOP
    assert tr["track_exit_price"] == pytest.approx(168.0 * 0.983)
    qty = tr["qty"]
    assert tr["track_pnl"] == pytest.approx(qty * 168.0 * 0.983 * (1 - 0.001) - tr["cost"])
    assert tr["pnl"] < tr["track_pnl"]  # the target left money on the table here


def test_tracking_ends_at_its_horizon_and_never_follows_a_stopped_trade() -> None:
    p = params(track_horizon_bars=2.0)
    trades = active(p=p)
    step(trades, 1, (120.0, 160.0, 119.0, 150.0), p)
    step(trades, 2, (150.0, 151.0, 149.0, 150.0), p)
    assert step(trades, 3, (150.0, 151.0, 149.0, 150.5), p) == EV_TRACK_DONE
    assert trades[0]["track_reason"] == ExitReason.HORIZON
    assert trades[0]["track_exit_price"] == 150.5
    stopped = active(p=p)
    step(stopped, 1, (99.0, 99.0, 95.0, 96.0), p)
    assert stopped[0]["track"] == 0


def test_short_trades_mirror_long_ones() -> None:
    trades = pending(side=-1)
    assert step(trades, 1, (100.0, 100.2, 99.0, 99.6), params()) == EV_FILLED
    tr = trades[0]
    assert tr["entry_price"] == pytest.approx(99.5)
    assert tr["stop"] == pytest.approx(99.5 * 1.017)
    assert tr["target"] == pytest.approx(99.5 * 0.48)
    step(trades, 2, (99.0, 99.0, 85.0, 88.0), params())  # close 88 < 99.5 × 0.9 activates
    assert tr["trail_on"] == 1
    assert tr["stop"] == pytest.approx(88.0 * 1.017)
    step(trades, 3, (88.0, 90.0, 87.0, 89.0), params())
    assert tr["exit_reason"] == ExitReason.TRAIL_STOP
    assert tr["exit_price"] == pytest.approx(88.0 * 1.017)
    assert tr["pnl"] == pytest.approx(tr["qty"] * (99.5 - 88.0 * 1.017))


def test_a_short_pays_borrowing_interest_for_every_bar_begun_and_a_long_none() -> None:
    rate = 0.0001  # per bar
    p = params(borrow_per_bar=rate)
    short = active(side=-1, p=p)
    tr = short[0]
    qty, entry = float(tr["qty"]), float(tr["entry_price"])
    for t in range(1, 5):
        assert step(short, t, (100.0, 100.1, 99.9, 100.0), p) == EV_NONE
    assert step(short, 5, (100.0, 110.0, 99.9, 100.0), p) & EV_CLOSED  # stopped in bar 5
    exit_price = float(tr["exit_price"])
    borrow = qty * entry * rate * 6  # bars 0 (the entry's) to 5 (the exit's)
    assert tr["pnl"] == pytest.approx(qty * (entry - exit_price) - borrow)
    assert tr["fees"] == pytest.approx(borrow)  # fee 0: the fees are the interest
    long = active(side=1, p=p)
    step(long, 5, (100.0, 100.1, 90.0, 100.0), p)
    assert long[0]["status"] == Status.CLOSED
    assert long[0]["fees"] == 0.0


def test_after_an_intrabar_breakout_fill_the_stop_is_judged_pessimistically() -> None:
    trades = pending()
    events = step(trades, 1, (100.0, 101.0, 97.0, 100.0), params())
    assert events == EV_FILLED | EV_CLOSED
    assert trades[0]["exit_reason"] == ExitReason.STOP


def test_every_exit_reason_has_a_name() -> None:
    assert len(EXIT_NAMES) == max(int(r) for r in ExitReason) + 1


def test_lower_timeframe_candles_decide_which_level_came_first() -> None:
    from numba import njit

    from tradewind.engine.lifecycle import DETAIL_STOP_FIRST, DETAIL_UNKNOWN, detail_hint

    @njit
    def hint(
        trades: np.ndarray, o: float, h: float, lo: float, dh: np.ndarray, dl: np.ndarray
    ) -> int:
        return detail_hint(trades[0], o, h, lo, dh, dl, 0, len(dh))

    trades = active()  # stop 98.3, target 152
    nan = np.nan
    # the target is reached in the second 5m candle, the stop only in the fourth
    dh = np.array([101.0, 153.0, 120.0, 110.0])
    dl = np.array([99.0, 100.0, 105.0, 97.0])
    assert hint(trades, 100.0, 153.0, 97.0, dh, dl) == DETAIL_TARGET_FIRST
    assert hint(trades, 100.0, 153.0, 97.0, dh[::-1].copy(), dl[::-1].copy()) == DETAIL_STOP_FIRST
    # one lower candle touching both, or no lower candles, leaves it unknown
    assert hint(trades, 100.0, 153.0, 97.0, np.array([153.0]), np.array([97.0])) == DETAIL_UNKNOWN
    assert hint(trades, 100.0, 153.0, 97.0, np.array([nan]), np.array([nan])) == DETAIL_UNKNOWN
    # a bar that does not touch both needs no hint
    assert hint(trades, 100.0, 120.0, 97.0, dh, dl) == DETAIL_UNKNOWN


def test_an_entry_takes_at_most_its_share_of_the_candles_volume() -> None:
    p = params(max_volume_share=0.1)
    trades = pending()
    # wants 1000 / 100.5 ≈ 9.95 units; 10 % of a 50-unit candle is 5
    assert step(trades, 1, (100.0, 101.0, 99.9, 100.8), p, volume=50.0) == EV_FILLED
    tr = trades[0]
    assert tr["qty"] == pytest.approx(5.0)
    assert tr["cost"] == pytest.approx(5.0 * 100.5)
    assert tr["alloc"] == 1000.0  # the caller releases alloc - cost
    # a candle with no volume fills nothing: the nomination keeps waiting
    waiting = pending()
    assert step(waiting, 1, (100.0, 101.0, 99.9, 100.8), p, volume=0.0) == EV_NONE
    assert waiting[0]["status"] == Status.PENDING


def test_exchange_rules_round_quantities_and_price_levels() -> None:
    p = params()
    trades = pending()
    tr = trades[0]
    tr["lot_step"], tr["tick"], tr["min_notional"] = 0.1, 0.5, 100.0
    assert step(trades, 1, (100.0, 101.0, 99.9, 100.8), p) == EV_FILLED
    assert tr["qty"] == pytest.approx(9.9)  # 1000 / 100.5 = 9.95 → 9.9 lots
    assert tr["cost"] == pytest.approx(9.9 * 100.5)
    assert tr["stop"] == 99.0  # 100.5 × 0.983 = 98.79 → nearest 0.5
    assert tr["target"] == 153.0  # 152.76 → 153.0
    step(trades, 2, (100.8, 116.0, 100.5, 115.3), p)  # trail: 115.3 × 0.983 = 113.34 → 113.5
    assert tr["stop"] == 113.5
    small = pending()
    small[0]["alloc"], small[0]["min_notional"] = 50.0, 100.0
    assert step(small, 1, (100.0, 101.0, 99.9, 100.8), p) == EV_NONE  # below the minimum
    assert small[0]["status"] == Status.PENDING


def test_a_strategy_may_tighten_the_stop_from_the_next_bar_but_never_loosen_it() -> None:
    p = params()
    trades = active()  # stop 98.3
    tr = trades[0]
    tr["strategy_stop"] = 97.0  # looser: ignored
    step(trades, 1, (100.0, 101.0, 99.0, 100.5), p)
    assert tr["stop"] == pytest.approx(98.3)
    tr["strategy_stop"] = 99.5  # a new, higher fractal low known at this close
    assert step(trades, 2, (100.5, 101.0, 99.4, 100.0), p) == EV_CLOSED
    assert tr["exit_price"] == pytest.approx(99.5)
    assert tr["exit_reason"] == ExitReason.STOP
    short = active(side=-1)
    short[0]["strategy_stop"] = 100.5  # below the short's stop of 101.7: tighter
    step(short, 1, (100.0, 100.6, 99.0, 100.2), p)
    assert short[0]["exit_price"] == pytest.approx(100.5)


def test_the_daily_borrow_rate_is_charged_per_bar_of_the_timeframe() -> None:
    from tradewind.config.models import FillsConfig, LifecycleConfig
    from tradewind.domain.types import Timeframe
    from tradewind.engine.lifecycle import LIFECYCLE_PARAMS
    from tradewind.engine.params import lifecycle_params

    at = LIFECYCLE_PARAMS.index("borrow_per_bar")
    fills = FillsConfig(borrow_rate=0.0024)
    for tf, per_bar in (("1h", 0.0001), ("4h", 0.0004), ("5m", 0.0024 / 288), ("1d", 0.0024)):
        p = lifecycle_params(LifecycleConfig(), fills, Timeframe.parse(tf))
        assert p[at] == pytest.approx(per_bar), tf
    assert FillsConfig().borrow_rate == pytest.approx(0.0002)  # Binance-like, not free
