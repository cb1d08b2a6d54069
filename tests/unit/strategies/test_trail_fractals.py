"""Trail-fractals setups: known fractals, confirmation lag, breakout, no look-ahead."""

from __future__ import annotations

import math
from dataclasses import fields
from typing import Any

import numpy as np
import pytest

from tradewind.errors import ConfigError
from tradewind.strategies.channel_run import Setups
from tradewind.strategies.trail_fractals import (
    fractal_levels,
    trail_fractals_setups,
    trailing_stops,
)

NAN = math.nan
# fractal high at k=2 (5.0, confirmed at 4) and k=7 (6.0, confirmed at 9);
# fractal low at k=4 (1.0, confirmed at 6). Bar 7 closes above 5.0: the long breakout.
HIGH = np.array([1.0, 2.0, 5.0, 3.0, 2.0, 3.0, 4.0, 6.0, 4.0, 3.0, 2.0, 3.0])
LOW = np.array([0.5, 1.5, 4.0, 2.5, 1.0, 2.0, 3.0, 5.0, 3.5, 2.5, 1.5, 2.5])
CLOSE = np.array([0.8, 1.8, 4.5, 2.8, 1.5, 2.5, 3.5, 5.5, 3.8, 2.8, 1.8, 2.8])


def test_fractal_levels_known_series() -> None:
    fh, fl = fractal_levels(HIGH, LOW, 5)
    np.testing.assert_array_equal(fh, [NAN] * 4 + [5.0] * 5 + [6.0] * 3)
    np.testing.assert_array_equal(fl, [NAN] * 6 + [1.0] * 6)


def test_confirmation_lag_is_width_half() -> None:
    # the fractal at k=2 is invisible until bar 4, the one at k=7 until bar 9
    for t in range(len(HIGH)):
        fh, fl = fractal_levels(HIGH[: t + 1], LOW[: t + 1], 5)
        assert np.isnan(fh[-1]) if t < 4 else fh[-1] == (5.0 if t < 9 else 6.0), t
        assert np.isnan(fl[-1]) if t < 6 else fl[-1] == 1.0, t
    # width 3: one bar each side, so the k=2 high is known at bar 3
    fh3, _ = fractal_levels(HIGH, LOW, 3)
    assert np.isnan(fh3[2])
    assert fh3[3] == 5.0


def test_long_breakout_exact_levels() -> None:
    s = trail_fractals_setups(HIGH, LOW, CLOSE, side=1, width=5, target_r=2)
    assert s.entry.tolist() == [t == 7 for t in range(len(HIGH))]
    assert s.side == 1
    assert s.entry_price[7] == 5.0
    assert s.stop[7] == 1.0
    assert s.target[7] == 13.0  # 5 + 2 * (5 - 1)
    assert np.isnan(np.delete(s.entry_price, 7)).all()
    assert np.isnan(s.reward_risk).all()
    assert not s.rejected.any()
    no_target = trail_fractals_setups(HIGH, LOW, CLOSE, side=1)
    assert np.isnan(no_target.target).all()
    np.testing.assert_array_equal(no_target.stop, s.stop)


def test_short_breakout_exact_levels_on_mirrored_series() -> None:
    s = trail_fractals_setups(-LOW, -HIGH, -CLOSE, side=-1, width=5, target_r=2)
    assert s.entry.tolist() == [t == 7 for t in range(len(HIGH))]
    assert s.side == -1
    assert s.entry_price[7] == -5.0
    assert s.stop[7] == -1.0
    assert s.target[7] == -13.0
    assert not trail_fractals_setups(HIGH, LOW, CLOSE, side=-1).entry.any()


def test_no_setup_before_a_stop_is_known() -> None:
    # bar 5 closes above the fractal high 5.0, but no fractal low is confirmed before bar 6
    high, close = HIGH.copy(), CLOSE.copy()
    high[5], close[5] = 5.5, 5.2
    fh, fl = fractal_levels(high, LOW)
    assert fh[4] == 5.0
    assert np.isnan(fl[5])
    s = trail_fractals_setups(high, LOW, close, side=1)
    assert s.entry.tolist() == [t == 7 for t in range(len(HIGH))]


def test_trailing_stops() -> None:
    fh, fl = fractal_levels(HIGH, LOW)
    np.testing.assert_array_equal(trailing_stops(HIGH, LOW, side=1), fl)
    np.testing.assert_array_equal(trailing_stops(HIGH, LOW, side=-1), fh)


def _random_ohlc(seed: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.02, n)))
    open_ = np.concatenate(([100.0], close[:-1]))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, 0.01, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, 0.01, n)))
    return np.round(high, 1), np.round(low, 1), close  # rounding makes ties (not fractals)


@pytest.mark.parametrize("width", [3, 5, 7])
def test_fractal_levels_match_loop_reference(width: int) -> None:
    high, low, _ = _random_ohlc(3, 300)
    h = width // 2
    fh, fl = fractal_levels(high, low, width)
    last_h = last_l = NAN
    for t in range(len(high)):
        k = t - h
        if k >= h:
            others = [j for j in range(k - h, k + h + 1) if j != k]
            if all(high[k] > high[j] for j in others):
                last_h = high[k]
            if all(low[k] < low[j] for j in others):
                last_l = low[k]
        np.testing.assert_array_equal([fh[t], fl[t]], [last_h, last_l])
    assert np.isfinite(fh).sum() > 100


def _assert_setups_equal(a: Setups, b: Setups, upto: int) -> None:
    for f in fields(Setups):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray):
            np.testing.assert_array_equal(x[:upto], y[:upto], err_msg=f.name)
        else:
            assert x == y


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("side", [1, -1])
@pytest.mark.parametrize("width", [3, 5])
def test_no_look_ahead(seed: int, side: int, width: int) -> None:
    high, low, close = _random_ohlc(seed, 300)
    kw: dict[str, Any] = {"side": side, "width": width, "target_r": 1.5}
    full = trail_fractals_setups(high, low, close, **kw)
    levels = fractal_levels(high, low, width)
    assert full.entry.any()
    rng = np.random.default_rng(seed + 100)
    for t in (0, 1, 2, 3, 7, 40, 151, 298):
        cut = trail_fractals_setups(high[: t + 1], low[: t + 1], close[: t + 1], **kw)
        _assert_setups_equal(cut, full, t + 1)
        g_high, g_low, g_close = high.copy(), low.copy(), close.copy()
        m = len(close) - t - 1
        g_high[t + 1 :] = rng.choice([1e12, 1e-12, -1e9], m)
        g_low[t + 1 :] = rng.choice([1e12, 1e-12, -1e9], m)
        g_close[t + 1 :] = rng.choice([1e12, 1e-12, -1e9], m)
        _assert_setups_equal(trail_fractals_setups(g_high, g_low, g_close, **kw), full, t + 1)
        for a, b in zip(fractal_levels(g_high, g_low, width), levels, strict=True):
            np.testing.assert_array_equal(a[: t + 1], b[: t + 1])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"side": 2}, "side"),
        ({"width": 4}, "odd"),
        ({"width": 1}, "width"),
        ({"width": 5.0}, "width"),
        ({"target_r": 0}, "target_r"),
        ({"target_r": -1.0}, "target_r"),
        ({"target_r": math.nan}, "target_r"),
        ({"target_r": True}, "target_r"),
    ],
)
def test_parameter_validation(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        trail_fractals_setups(HIGH, LOW, CLOSE, **({"side": 1} | kwargs))


def test_validation_of_fractal_helpers() -> None:
    with pytest.raises(ConfigError, match="odd"):
        fractal_levels(HIGH, LOW, 6)
    with pytest.raises(ConfigError, match="side"):
        trailing_stops(HIGH, LOW, side=0)
    with pytest.raises(ValueError, match="length"):
        fractal_levels(HIGH, LOW[:-1])
