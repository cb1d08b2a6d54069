"""The trail-fractals trend filter: hand-checked SMA gate, causality, validation."""

from __future__ import annotations

import numpy as np
import pytest

from tradewind.errors import ConfigError
from tradewind.strategies.trail_fractals import fractal_levels, trail_fractals_setups

# A fall, then a bounce. Width 3: fractal high 7.5 at k=4 (known at 5); fractal lows 6.0 at
# k=3 (known at 4) and 5.0 at k=5 (known at 6). Bar 7 closes 7.8 above 7.5: long breakout,
# entry 7.5, stop 5.0.
HIGH = np.array([14.0, 13.0, 12.0, 7.0, 7.5, 6.0, 6.5, 8.0])
LOW = np.array([13.0, 12.0, 11.0, 6.0, 6.5, 5.0, 5.5, 7.0])
CLOSE = np.array([13.5, 12.5, 11.5, 6.5, 7.0, 5.5, 6.0, 7.8])


def test_series_as_described() -> None:
    fh, fl = fractal_levels(HIGH, LOW, 3)
    assert fh[5] == 7.5
    assert np.isnan(fh[4])
    assert fl[4] == 6.0
    assert fl[7] == 5.0
    s = trail_fractals_setups(HIGH, LOW, CLOSE, side=1, width=3)
    assert s.entry.tolist() == [t == 7 for t in range(8)]
    assert (s.entry_price[7], s.stop[7]) == (7.5, 5.0)


@pytest.mark.parametrize(
    ("trend", "taken"),
    [
        (2, True),  # SMA2[7] = (6.0 + 7.8) / 2 = 6.9 < 7.8
        (5, True),  # SMA5[7] = (6.5 + 7.0 + 5.5 + 6.0 + 7.8) / 5 = 6.56 < 7.8
        (8, False),  # SMA8[7] = 70.3 / 8 = 8.7875 > 7.8: a bounce inside a downtrend
        (9, False),  # no SMA9 before bar 8: no setup at all
    ],
)
def test_long_needs_close_above_sma(trend: int, taken: bool) -> None:
    s = trail_fractals_setups(HIGH, LOW, CLOSE, side=1, width=3, target_r=2.0, trend=trend)
    assert s.entry.tolist() == [taken and t == 7 for t in range(8)]
    if taken:
        assert (s.entry_price[7], s.stop[7], s.target[7]) == (7.5, 5.0, 12.5)
    else:
        assert np.isnan(s.entry_price).all()
        assert np.isnan(s.target).all()


@pytest.mark.parametrize(("trend", "taken"), [(2, True), (5, True), (8, False), (9, False)])
def test_short_mirrors_it(trend: int, taken: bool) -> None:
    s = trail_fractals_setups(-LOW, -HIGH, -CLOSE, side=-1, width=3, trend=trend)
    assert s.entry.tolist() == [taken and t == 7 for t in range(8)]
    if taken:
        assert (s.entry_price[7], s.stop[7]) == (-7.5, -5.0)


def test_close_equal_to_sma_is_not_enough() -> None:
    # closes 7.8 at bars 6 and 7: both break the 7.5 level with stop 5.0, but SMA2[7] is
    # exactly 7.8 and the filter is strict; SMA2[6] = (5.5 + 7.8) / 2 = 6.65 lets bar 6 in
    close = CLOSE.copy()
    close[6] = 7.8
    assert trail_fractals_setups(HIGH, LOW, close, side=1, width=3).entry[6:].all()
    s = trail_fractals_setups(HIGH, LOW, close, side=1, width=3, trend=2)
    assert s.entry.tolist() == [t == 6 for t in range(8)]


def _random_ohlc(seed: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.02, n)))
    open_ = np.concatenate(([100.0], close[:-1]))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, 0.01, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, 0.01, n)))
    return high, low, close


@pytest.mark.parametrize("side", [1, -1])
@pytest.mark.parametrize("trend", [2, 20, 50])
def test_is_the_unfiltered_rule_gated_by_the_sma(side: int, trend: int) -> None:
    high, low, close = _random_ohlc(trend, 1000)
    base = trail_fractals_setups(high, low, close, side=side, target_r=1.0)
    s = trail_fractals_setups(high, low, close, side=side, target_r=1.0, trend=trend)
    sma = np.full(len(close), np.nan)
    for t in range(trend - 1, len(close)):
        sma[t] = close[t - trend + 1 : t + 1].mean()
    with np.errstate(invalid="ignore"):
        gate = side * (close - sma) > 0.0
    np.testing.assert_array_equal(s.entry, base.entry & gate)
    assert s.entry.any()
    assert (base.entry & ~gate).any()  # the filter did remove something
    for name in ("entry_price", "stop", "target"):
        expect = np.where(s.entry, getattr(base, name), np.nan)
        np.testing.assert_array_equal(getattr(s, name), expect, err_msg=name)


@pytest.mark.parametrize("side", [1, -1])
def test_trend_is_causal(side: int) -> None:
    high, low, close = _random_ohlc(5, 400)
    kw = {"side": side, "width": 5, "trend": 30}
    full = trail_fractals_setups(high, low, close, **kw)
    for t in (0, 28, 29, 30, 31, 150, 398):
        g_close = close.copy()
        g_close[t + 1 :] = 1e12
        cut = trail_fractals_setups(high[: t + 1], low[: t + 1], close[: t + 1], **kw)
        garbage = trail_fractals_setups(high, low, g_close, **kw)
        for s in (cut, garbage):
            np.testing.assert_array_equal(s.entry[: t + 1], full.entry[: t + 1])
            np.testing.assert_array_equal(s.entry_price[: t + 1], full.entry_price[: t + 1])


@pytest.mark.parametrize("trend", [1, 0, -3, 2.0, 20.5, True, "20"])
def test_trend_validation(trend: object) -> None:
    with pytest.raises(ConfigError, match="trend"):
        trail_fractals_setups(HIGH, LOW, CLOSE, side=1, trend=trend)  # type: ignore[arg-type]
