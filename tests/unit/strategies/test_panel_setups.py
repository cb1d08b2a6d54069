"""Panel setups: each pair equals the 1-D rule on its existing candles; causal; validated."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from tradewind.errors import ConfigError
from tradewind.strategies.channel_run import channel_run_setups
from tradewind.strategies.panel import PanelSetups, panel_setups
from tradewind.strategies.trail_fractals import trail_fractals_setups, trailing_stops

N_PAIRS, N_BARS = 8, 500


def _random_panel(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(P, T) high/low/close with NaN where ``valid`` is False, and every kind of gap."""
    rng = np.random.default_rng(seed)
    shape = (N_PAIRS, N_BARS)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.02, shape), axis=1))
    open_ = np.concatenate((np.full((N_PAIRS, 1), 100.0), close[:, :-1]), axis=1)
    high = np.round(np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.01, shape))), 1)
    low = np.round(np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.01, shape))), 1)
    valid = rng.random(shape) > 0.15  # scattered single gaps
    valid[0] = True  # no gap at all
    valid[1, :120] = False  # listed late
    valid[2, 300:] = False  # delisted
    valid[3, 200:260] = False  # a long outage
    valid[4] = False  # never traded
    valid[5] = rng.random(N_BARS) > 0.9  # too few candles for a 30-bar channel
    for a in (high, low, close):
        a[~valid] = np.nan
    return high, low, close, valid


CASES: list[tuple[str, dict[str, Any]]] = [
    ("channel_run", {"lookback": 30, "entry": "mid", "goal": "edge", "min_reward_risk": 0.3}),
    ("channel_run", {"lookback": 20, "entry": "edge", "goal": "mid", "atr_period": 5}),
    ("channel_run", {"lookback": 1, "entry": "edge", "goal": "edge", "stop_atr": 0.0}),
    ("trail_fractals", {}),
    ("trail_fractals", {"width": 3, "target_r": 1.5}),
    ("trail_fractals", {"width": 7, "trend": 20}),
]


def _one_pair(
    strategy: str, side: int, params: dict[str, Any], h: np.ndarray, lo: np.ndarray, c: np.ndarray
) -> dict[str, np.ndarray]:
    """What the 1-D API says, named as in PanelSetups."""
    if strategy == "channel_run":
        s = channel_run_setups(h, lo, c, side=side, **params)
        trail = np.full(len(c), np.nan)
    else:
        s = trail_fractals_setups(h, lo, c, side=side, **params)
        width = params.get("width", 5)
        trail = trailing_stops(h, lo, side=side, width=width)
    return {
        "entry": s.entry,
        "rejected": s.rejected,
        "level": s.entry_price,
        "stop": s.stop,
        "target": s.target,
        "reward_risk": s.reward_risk,
        "trail": trail,
    }


@pytest.mark.parametrize("side", [1, -1])
@pytest.mark.parametrize(("strategy", "params"), CASES)
def test_each_pair_is_the_1d_rule_on_its_existing_candles(
    strategy: str, params: dict[str, Any], side: int
) -> None:
    high, low, close, valid = _random_panel(11)
    ps = panel_setups(strategy, side, params, high, low, close, valid)
    assert isinstance(ps, PanelSetups)
    assert ps.side == side
    assert ps.entry.dtype == np.bool_
    assert ps.rejected.dtype == np.bool_
    n_setups = 0
    for p in range(N_PAIRS):
        rows = np.flatnonzero(valid[p])
        expect = _one_pair(strategy, side, params, high[p, rows], low[p, rows], close[p, rows])
        for name, want in expect.items():
            got = getattr(ps, name)
            assert got.shape == (N_PAIRS, N_BARS), name
            np.testing.assert_array_equal(got[p, rows], want, err_msg=f"{name}, pair {p}")
            missing = got[p, ~valid[p]]
            if got.dtype == np.bool_:
                assert not missing.any(), name
            else:
                assert np.isnan(missing).all(), name
        n_setups += int(expect["entry"].sum() + expect["rejected"].sum())
    assert n_setups > 0
    assert not (ps.entry | ps.rejected)[4].any()
    if strategy == "trail_fractals":
        assert np.isfinite(ps.trail).sum() > N_BARS


@pytest.mark.parametrize("side", [1, -1])
@pytest.mark.parametrize(("strategy", "params"), CASES)
def test_no_look_ahead(strategy: str, params: dict[str, Any], side: int) -> None:
    high, low, close, valid = _random_panel(3)
    full = panel_setups(strategy, side, params, high, low, close, valid)
    rng = np.random.default_rng(99)
    for t in (0, 1, 25, 119, 120, 201, 350, N_BARS - 2):
        cut = panel_setups(
            strategy,
            side,
            params,
            high[:, : t + 1],
            low[:, : t + 1],
            close[:, : t + 1],
            valid[:, : t + 1],
        )
        g_high, g_low, g_close, g_valid = high.copy(), low.copy(), close.copy(), valid.copy()
        future = (slice(None), slice(t + 1, None))
        shape = g_close[future].shape
        g_valid[future] = rng.random(shape) > 0.5  # new gaps and new candles in the future
        for a in (g_high, g_low, g_close):
            a[future] = rng.choice([1e12, 1e-12, 5.0], shape)
            a[~g_valid] = np.nan
        garbage = panel_setups(strategy, side, params, g_high, g_low, g_close, g_valid)
        for other in (cut, garbage):
            for name in ("entry", "rejected", "level", "stop", "target", "reward_risk", "trail"):
                np.testing.assert_array_equal(
                    getattr(other, name)[:, : t + 1],
                    getattr(full, name)[:, : t + 1],
                    err_msg=f"{name} at t={t}",
                )


def test_prices_on_missing_rows_are_ignored() -> None:
    high, low, close, valid = _random_panel(5)
    params = {"width": 3}
    a = panel_setups("trail_fractals", 1, params, high, low, close, valid)
    for arr in (high, low, close):
        arr[~valid] = 123.0
    b = panel_setups("trail_fractals", 1, params, high, low, close, valid)
    np.testing.assert_array_equal(a.trail, b.trail)
    np.testing.assert_array_equal(a.level, b.level)


def test_unknown_parameter_is_named() -> None:
    high, low, close, valid = _random_panel(0)
    with pytest.raises(ConfigError, match="'lookbak'"):
        panel_setups(
            "channel_run",
            1,
            {"lookbak": 20, "entry": "mid", "goal": "edge"},
            high,
            low,
            close,
            valid,
        )
    with pytest.raises(ConfigError, match="'lookback'"):
        panel_setups("trail_fractals", 1, {"lookback": 20}, high, low, close, valid)
    with pytest.raises(ConfigError, match="'side'"):
        panel_setups("trail_fractals", 1, {"side": 1}, high, low, close, valid)


@pytest.mark.parametrize(
    ("strategy", "side", "params", "message"),
    [
        ("channel_flow", 1, {}, "strategy"),
        ("trail_fractals", 0, {}, "side"),
        ("channel_run", 1, {"entry": "mid", "goal": "edge"}, "needs parameter.*lookback"),
        ("channel_run", 1, {"lookback": 0, "entry": "mid", "goal": "edge"}, "lookback"),
        ("channel_run", 1, {"lookback": 5, "entry": "top", "goal": "edge"}, "entry"),
        ("channel_run", 1, {"lookback": 5, "entry": "mid", "goal": "mid", "stop_atr": -1}, "stop"),
        ("trail_fractals", 1, {"width": 4}, "odd"),
        ("trail_fractals", 1, {"target_r": math.nan}, "target_r"),
        ("trail_fractals", -1, {"trend": 1}, "trend"),
    ],
)
def test_bad_parameters(strategy: str, side: int, params: dict[str, Any], message: str) -> None:
    high, low, close, valid = _random_panel(0)
    with pytest.raises(ConfigError, match=message):
        panel_setups(strategy, side, params, high, low, close, valid)


def test_array_errors() -> None:
    high, low, close, valid = _random_panel(0)
    with pytest.raises(ValueError, match="shape"):
        panel_setups("trail_fractals", 1, {}, high, low, close[:, :-1], valid)
    with pytest.raises(ValueError, match="shape"):
        panel_setups("trail_fractals", 1, {}, high[0], low[0], close[0], valid[0])
    close[6, 40] = np.nan
    valid[6, 40] = True
    with pytest.raises(ValueError, match="pair 6, bar 40"):
        panel_setups("trail_fractals", 1, {}, high, low, close, valid)


def test_empty_panels() -> None:
    for shape in ((0, 10), (3, 0)):
        z = np.zeros(shape)
        ps = panel_setups("channel_run", -1, {"lookback": 3, "entry": "edge", "goal": "mid"},
                          z, z, z, np.zeros(shape, dtype=bool))  # fmt: skip
        assert ps.entry.shape == shape
        assert ps.trail.shape == shape
