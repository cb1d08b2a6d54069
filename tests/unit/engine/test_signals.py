"""The breakout entry signal against a plain reference, and one-pair signal simulation."""

from __future__ import annotations

import time

import numpy as np
import pytest

from tradewind.engine.lifecycle import LIFECYCLE_PARAMS
from tradewind.engine.records import ExitReason
from tradewind.engine.signals import breakout_signal, simulate_signals


def reference(high: np.ndarray, close: np.ndarray, lookback: int) -> np.ndarray:
    """``close[t] > max(high[t - lookback : t])``, False for ``t < lookback``, by brute force."""
    out = np.zeros(len(close), dtype=np.bool_)
    for t in range(lookback, len(close)):
        out[t] = close[t] > np.max(high[t - lookback : t])
    return out


@pytest.mark.parametrize("lookback", [1, 2, 3, 7, 50])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_breakout_signal_matches_the_brute_force_definition(lookback: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 600
    # Coarse prices give many ties between highs and between a close and the window's top.
    close = np.round(100 + np.cumsum(rng.normal(0, 1, n)), 0)
    high = close + np.round(np.abs(rng.normal(0, 1, n)), 0)
    got = breakout_signal(high, close, lookback)
    expected = reference(high, close, lookback)
    np.testing.assert_array_equal(got, expected)
    assert not got[:lookback].any()
    assert expected.any()  # the data does break out


def test_breakout_signal_on_hand_made_bars() -> None:
    high = np.array([5.0, 3.0, 4.0, 2.0, 1.0, 1.0, 9.0])
    close = np.array([9.0, 9.0, 4.5, 4.0, 4.1, 1.0, 9.5])
    # t=2: max(5, 3) = 5 > 4.5; t=3: max(3, 4) = 4, not exceeded by 4.0 (strict);
    # t=4: max(4, 2) = 4 < 4.1; t=5: max(2, 1) = 2 > 1; t=6: max(1, 1) = 1 < 9.5.
    got = breakout_signal(high, close, 2)
    np.testing.assert_array_equal(got, [False, False, False, False, True, False, True])


def test_breakout_signal_window_with_a_nan_is_false() -> None:
    high = np.array([1.0, np.nan, 1.0, 1.0, 1.0])
    close = np.full(5, 2.0)
    # Windows of two: [1, nan] at t=2 and [nan, 1] at t=3 hold a NaN; [1, 1] at t=4 does not.
    np.testing.assert_array_equal(
        breakout_signal(high, close, 2), [False, False, False, False, True]
    )


@pytest.mark.parametrize("lookback", [1, 3, 50, 599, 600, 1000])
def test_breakout_signal_with_scattered_nans_matches_np_max(lookback: int) -> None:
    rng = np.random.default_rng(lookback)
    n = 600
    close = 100 + np.cumsum(rng.normal(0, 1, n))
    high = close + np.abs(rng.normal(0, 1, n))
    high[rng.random(n) < 0.01] = np.nan
    high[-1] = np.nan  # read last, after its bar's output
    close[rng.random(n) < 0.01] = np.nan
    # np.max of a window holding a NaN is NaN, and nothing exceeds NaN.
    np.testing.assert_array_equal(
        breakout_signal(high, close, lookback), reference(high, close, lookback)
    )


def test_breakout_signal_is_linear_in_the_lookback() -> None:
    rng = np.random.default_rng(3)
    n = 200_000
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, n)))
    high = close * 1.001
    breakout_signal(high[:1000], close[:1000], 10)  # compile
    timings = []
    for lookback in (10, 5_000):
        start = time.perf_counter()
        breakout_signal(high, close, lookback)
        timings.append(time.perf_counter() - start)
    # A nested loop would be ~500x slower at the long lookback; the deque is not.
    assert timings[1] < 20 * timings[0] + 0.05


def test_breakout_signal_rejects_an_empty_lookback() -> None:
    with pytest.raises(ValueError, match="lookback"):
        breakout_signal(np.ones(3), np.ones(3), 0)


def test_simulate_signals_enters_at_the_next_open_one_position_at_a_time() -> None:
    values = {name: 0.0 for name in LIFECYCLE_PARAMS}
    values.update(stop_loss=0.9, take_profit=1.2, trail_activation=1e9, trail_distance=0.9)
    params = np.array([values[k] for k in LIFECYCLE_PARAMS])
    close = np.array([100.0, 100.0, 101.0, 102.0, 125.0, 100.0, 100.0, 100.0])
    open_ = np.concatenate(([100.0], close[:-1]))
    high = np.maximum(open_, close)
    low = np.minimum(open_, close)
    entries = np.array([True, True, True, False, False, True, False, False])
    trades = simulate_signals(open_, high, low, close, entries, params)
    # Signal at 0 -> entry at the open of 1; the signals at 1 and 2 fall inside that trade.
    # The target (120) is hit at bar 4; the signal at 5 enters at 6 and runs to the data end.
    assert list(trades["entry_t"]) == [1, 6]
    assert list(trades["exit_t"]) == [4, 7]
    assert list(trades["exit_reason"]) == [ExitReason.TAKE_PROFIT, ExitReason.DATA_END]
    assert trades["exit_price"][0] == pytest.approx(120.0)
