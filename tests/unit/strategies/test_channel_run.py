"""Channel-run setups: hand-computed cases, a loop reference, no look-ahead, validation."""

from __future__ import annotations

import math
from dataclasses import fields
from typing import Any

import numpy as np
import pytest

from tradewind.errors import ConfigError
from tradewind.strategies.channel_run import ChannelPoint, Setups, channel_run_setups, wilder_atr

# Bars 0..2 form the channel; bar 3 touches the lower edge and closes back inside; bar 4
# crosses the mid-line from below.
HIGH = np.array([12.0, 11.0, 12.0, 10.0, 11.0])
LOW = np.array([10.0, 9.0, 10.0, 8.5, 9.4])
CLOSE = np.array([11.0, 10.0, 11.0, 9.5, 10.8])
# atr_period=1 makes ATR[t] = TR[t]: TR[3] = 11 - 8.5 = 2.5, TR[4] = 11 - 9.4 = 1.6.
BASE: dict[str, Any] = {"lookback": 3, "atr_period": 1, "stop_atr": 0.4, "min_reward_risk": 1.0}


def _mirror(
    high: np.ndarray, low: np.ndarray, close: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return -low, -high, -close


def _only(arr: np.ndarray, t: int) -> None:
    """Exactly bar t is set (bool array)."""
    assert arr.tolist() == [i == t for i in range(len(arr))]


def test_long_edge_entry_edge_goal() -> None:
    s = channel_run_setups(HIGH, LOW, CLOSE, side=1, entry="edge", goal="edge", **BASE)
    # channel at 3: upper 12, lower 9; stop = 9 - 0.4 * 2.5 = 8; target = 12
    _only(s.entry, 3)
    assert not s.rejected.any()
    assert s.side == 1
    assert s.entry_price[3] == 9.5
    assert s.stop[3] == pytest.approx(8.0)
    assert s.target[3] == 12.0
    assert s.reward_risk[3] == pytest.approx(2.5 / 1.5)
    for arr in (s.entry_price, s.stop, s.target, s.reward_risk):
        assert np.isnan(np.delete(arr, 3)).all()


def test_long_edge_entry_mid_goal_is_rejected_when_reward_risk_too_low() -> None:
    s = channel_run_setups(HIGH, LOW, CLOSE, side=1, entry="edge", goal="mid", **BASE)
    # target = mid = 10.5: rr = (10.5 - 9.5) / (9.5 - 8) = 2/3 < 1
    assert not s.entry.any()
    _only(s.rejected, 3)
    assert s.target[3] == 10.5
    assert s.stop[3] == pytest.approx(8.0)
    assert s.reward_risk[3] == pytest.approx(1.0 / 1.5)
    ok = channel_run_setups(
        HIGH, LOW, CLOSE, side=1, entry="edge", goal="mid", **(BASE | {"min_reward_risk": 0.6})
    )
    _only(ok.entry, 3)
    assert not ok.rejected.any()


def test_long_mid_entry() -> None:
    # bar 3: close 9.5 <= mid 10.5; bar 4: channel 12 / 8.5, mid 10.25 < close 10.8
    # stop = 8.5 - 0.4 * 1.6 = 7.86
    edge = channel_run_setups(
        HIGH, LOW, CLOSE, side=1, entry="mid", goal="edge", **(BASE | {"min_reward_risk": 0.4})
    )
    _only(edge.entry, 4)
    assert edge.entry_price[4] == 10.8
    assert edge.stop[4] == pytest.approx(7.86)
    assert edge.target[4] == 12.0
    assert edge.reward_risk[4] == pytest.approx(1.2 / 2.94)
    strict = channel_run_setups(HIGH, LOW, CLOSE, side=1, entry="mid", goal="edge", **BASE)
    assert not strict.entry.any()
    _only(strict.rejected, 4)
    # goal mid: target 10.25 is below the entry -> negative reward, always rejected
    mid = channel_run_setups(
        HIGH, LOW, CLOSE, side=1, entry="mid", goal="mid", **(BASE | {"min_reward_risk": 0.0})
    )
    assert not mid.entry.any()
    _only(mid.rejected, 4)
    assert mid.target[4] == 10.25
    assert mid.reward_risk[4] == pytest.approx(-0.55 / 2.94)


def test_short_edge_and_mid_hand_computed() -> None:
    h, lo, c = _mirror(HIGH, LOW, CLOSE)
    # mirrored channel at 3: upper -9, lower -12, mid -10.5; bar 3 high -8.5 touches -9
    s = channel_run_setups(h, lo, c, side=-1, entry="edge", goal="edge", **BASE)
    _only(s.entry, 3)
    assert s.side == -1
    assert s.entry_price[3] == -9.5
    assert s.stop[3] == pytest.approx(-8.0)
    assert s.target[3] == -12.0
    assert s.reward_risk[3] == pytest.approx(2.5 / 1.5)
    r = channel_run_setups(h, lo, c, side=-1, entry="edge", goal="mid", **BASE)
    _only(r.rejected, 3)
    assert r.target[3] == -10.5
    m = channel_run_setups(
        h, lo, c, side=-1, entry="mid", goal="edge", **(BASE | {"min_reward_risk": 0.4})
    )
    _only(m.entry, 4)
    assert m.stop[4] == pytest.approx(-7.86)
    assert m.target[4] == -12.0
    # the long setups on the original series do not fire short
    other = channel_run_setups(HIGH, LOW, CLOSE, side=-1, entry="edge", goal="edge", **BASE)
    assert not (other.entry | other.rejected).any()


def _random_ohlc(seed: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.02, n)))
    open_ = np.concatenate(([100.0], close[:-1]))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, 0.01, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, 0.01, n)))
    return high, low, close


def _assert_setups_equal(a: Setups, b: Setups, upto: int | None = None) -> None:
    for f in fields(Setups):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray):
            np.testing.assert_array_equal(x[:upto], y[:upto], err_msg=f.name)
        else:
            assert x == y


@pytest.mark.parametrize("side", [1, -1])
@pytest.mark.parametrize(("entry", "goal"), [("edge", "edge"), ("edge", "mid"), ("mid", "edge")])
def test_matches_loop_reference(side: int, entry: ChannelPoint, goal: ChannelPoint) -> None:
    high, low, close = _random_ohlc(7, 400)
    lb, period, k, min_rr = 10, 5, 0.5, 1.0
    s = channel_run_setups(
        high,
        low,
        close,
        side=side,
        lookback=lb,
        entry=entry,
        goal=goal,
        atr_period=period,
        stop_atr=k,
        min_reward_risk=min_rr,
    )
    atr = wilder_atr(high, low, close, period)
    n_setups = 0
    for t in range(len(close)):
        if t < max(lb, period):
            assert not s.entry[t]
            assert not s.rejected[t]
            continue
        up, dn = max(high[t - lb : t]), min(low[t - lb : t])
        mid = (up + dn) / 2
        if entry == "edge":
            rule = low[t] <= dn < close[t] if side == 1 else high[t] >= up > close[t]
        elif t == lb:
            rule = False  # no channel (hence no mid-line) at t - 1 yet
        else:
            pmid = (max(high[t - 1 - lb : t - 1]) + min(low[t - 1 - lb : t - 1])) / 2
            c0, c1 = close[t - 1], close[t]
            rule = (c0 <= pmid and c1 > mid) if side == 1 else (c0 >= pmid and c1 < mid)
        if not rule:
            assert not s.entry[t]
            assert not s.rejected[t]
            assert math.isnan(s.stop[t])
            continue
        n_setups += 1
        target = (up if side == 1 else dn) if goal == "edge" else mid
        stop = dn - k * atr[t] if side == 1 else up + k * atr[t]
        rr = side * (target - close[t]) / (side * (close[t] - stop))
        assert s.target[t] == pytest.approx(target)
        assert s.stop[t] == pytest.approx(stop)
        assert s.reward_risk[t] == pytest.approx(rr)
        assert s.entry[t] == (rr >= min_rr and side * (target - close[t]) > 0)
        assert s.rejected[t] == (not s.entry[t])
    assert n_setups > 0


def test_wilder_atr_hand_computed() -> None:
    high = np.array([10.0, 11.0, 12.0, 11.5])
    low = np.array([9.0, 10.0, 10.5, 10.0])
    close = np.array([9.5, 10.5, 11.0, 10.2])
    # TR[1] = max(1, 1.5, 0.5) = 1.5; TR[2] = max(1.5, 1.5, 0) = 1.5; TR[3] = max(1.5, .5, 1)
    atr = wilder_atr(high, low, close, 2)
    assert np.isnan(atr[:2]).all()
    assert atr[2] == pytest.approx(1.5)
    assert atr[3] == pytest.approx((1.5 + 1.5) / 2)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(("entry", "goal"), [("edge", "edge"), ("mid", "mid")])
@pytest.mark.parametrize("side", [1, -1])
def test_no_look_ahead(seed: int, entry: str, goal: str, side: int) -> None:
    high, low, close = _random_ohlc(seed, 300)
    kw: dict[str, Any] = {
        "side": side,
        "lookback": 12,
        "entry": entry,
        "goal": goal,
        "atr_period": 7,
        "min_reward_risk": 0.5,
    }
    full = channel_run_setups(high, low, close, **kw)
    assert (full.entry | full.rejected).any()
    rng = np.random.default_rng(seed + 100)
    for t in (0, 5, 12, 13, 40, 151, 298):
        _assert_setups_equal(
            channel_run_setups(high[: t + 1], low[: t + 1], close[: t + 1], **kw), full, t + 1
        )
        g_high, g_low, g_close = high.copy(), low.copy(), close.copy()
        m = len(close) - t - 1
        g_high[t + 1 :] = rng.choice([1e12, 1e-12, -1e9], m)
        g_low[t + 1 :] = rng.choice([1e12, 1e-12, -1e9], m)
        g_close[t + 1 :] = rng.choice([1e12, 1e-12, -1e9], m)
        _assert_setups_equal(channel_run_setups(g_high, g_low, g_close, **kw), full, t + 1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"side": 0}, "side"),
        ({"side": True}, "side"),
        ({"lookback": 0}, "lookback"),
        ({"lookback": 2.5}, "lookback"),
        ({"entry": "top"}, "entry"),
        ({"goal": "far"}, "goal"),
        ({"atr_period": 0}, "atr_period"),
        ({"stop_atr": -0.1}, "stop_atr"),
        ({"stop_atr": math.nan}, "stop_atr"),
        ({"min_reward_risk": -1.0}, "min_reward_risk"),
        ({"min_reward_risk": math.inf}, "min_reward_risk"),
    ],
)
def test_parameter_validation(kwargs: dict[str, Any], message: str) -> None:
    kw: dict[str, Any] = {"side": 1, "lookback": 3, "entry": "edge", "goal": "edge"} | kwargs
    with pytest.raises(ConfigError, match=message):
        channel_run_setups(HIGH, LOW, CLOSE, **kw)


def test_array_shape_errors() -> None:
    with pytest.raises(ValueError, match="length"):
        channel_run_setups(HIGH, LOW, CLOSE[:-1], side=1, lookback=3, entry="edge", goal="edge")
    with pytest.raises(ValueError, match="1-D"):
        channel_run_setups(
            HIGH[None], LOW[None], CLOSE[None], side=1, lookback=3, entry="edge", goal="edge"
        )


def test_short_series_and_empty() -> None:
    s = channel_run_setups(
        HIGH[:2], LOW[:2], CLOSE[:2], side=1, lookback=3, entry="mid", goal="edge"
    )
    assert not s.entry.any()
    assert np.isnan(s.stop).all()
    e = channel_run_setups(
        HIGH[:0], LOW[:0], CLOSE[:0], side=-1, lookback=3, entry="edge", goal="mid"
    )
    assert len(e.entry) == 0
    assert e.entry.dtype == np.bool_
