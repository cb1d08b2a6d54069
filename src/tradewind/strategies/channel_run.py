"""Channel run: trade from one side of a price channel towards its middle or far side.

Pure, causal setup functions over the float64 arrays of ONE pair (NaN-free input assumed).
Every output row ``t`` describes the setup decided at the CLOSE of bar ``t`` and reads only
bars ``<= t``; the tests check this by truncating the data and by filling the future with
garbage.

Rules (``side = +1`` long, ``side = -1`` short)
-----------------------------------------------

Channel at bar ``t`` (needs ``t >= lookback``)::

    upper[t] = max(high[t - lookback : t])      # the PREVIOUS lookback bars, not bar t
    lower[t] = min(low[t - lookback : t])
    mid[t]   = (upper[t] + lower[t]) / 2

ATR is Wilder's, as in TA-Lib: ``TR[i] = max(high[i] - low[i], |high[i] - close[i-1]|,
|low[i] - close[i-1]|)`` for ``i >= 1``; ``ATR[atr_period] = mean(TR[1 : atr_period + 1])``;
``ATR[i] = (ATR[i-1] * (atr_period - 1) + TR[i]) / atr_period`` after; NaN before
``atr_period``.

Setup rule (long; short mirrors it):

* ``entry="edge"``: a touch of the lower edge and a close back inside,
  ``low[t] <= lower[t] and close[t] > lower[t]``.
  Short: ``high[t] >= upper[t] and close[t] < upper[t]``.
* ``entry="mid"``: a cross of the mid-line from below,
  ``close[t-1] <= mid[t-1] and close[t] > mid[t]`` (needs ``t >= lookback + 1``).
  Short: ``close[t-1] >= mid[t-1] and close[t] < mid[t]``.

Where the rule holds (and the ATR is warmed up, ``t >= atr_period``):

* ``entry_price = close[t]`` (market-style entry; the close is the reference price);
* ``target = upper[t]`` for ``goal="edge"``, ``mid[t]`` for ``goal="mid"``
  (short: ``lower[t]`` / ``mid[t]``);
* ``stop = lower[t] - stop_atr * ATR[t]`` (short: ``upper[t] + stop_atr * ATR[t]``);
* ``reward_risk = (target - close[t]) / (close[t] - stop)``
  (short: ``(close[t] - target) / (stop - close[t])``); NaN if the risk is not positive.

``entry[t]`` is True only when ``reward_risk >= min_reward_risk`` and
``target > close[t] > stop`` (short: ``target < close[t] < stop``). Otherwise the setup is
still reported — prices and ``reward_risk`` filled — with ``entry[t] = False`` and
``rejected[t] = True``, so callers can record it as a simulated trade. On bars without a
setup every price is NaN and both flags are False.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numba import njit

from tradewind.errors import ConfigError

__all__ = ["ChannelPoint", "Setups", "channel_run_setups", "wilder_atr"]

ChannelPoint = Literal["edge", "mid"]


@dataclass(frozen=True, slots=True)
class Setups:
    """Per-bar setups of one strategy, side and pair, decided at the close of each bar.

    All arrays have the length of the input. ``entry`` and ``rejected`` are bool; the
    price arrays are float64 and NaN where there is no setup (``target`` also where the
    strategy sets none; ``reward_risk`` is all NaN for strategies that do not compute it).
    """

    side: int
    entry: np.ndarray
    entry_price: np.ndarray
    stop: np.ndarray
    target: np.ndarray
    reward_risk: np.ndarray
    rejected: np.ndarray


def check_side(side: int) -> int:
    """Return ``side`` as an int if it is +1 (long) or -1 (short); ConfigError otherwise."""
    if isinstance(side, bool) or not isinstance(side, int | np.integer) or side not in (1, -1):
        raise ConfigError(f"side = {side!r} must be 1 (long) or -1 (short)")
    return int(side)


def check_int(name: str, value: int, minimum: int) -> int:
    """Return ``value`` as an int if it is a whole number ``>= minimum``; ConfigError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ConfigError(f"{name} = {value!r} must be a whole number >= {minimum}")
    return int(value)


def _check_float(name: str, value: float, minimum: float) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float | np.integer | np.floating)
        or not math.isfinite(float(value))
        or value < minimum
    ):
        raise ConfigError(f"{name} = {value!r} must be a finite number >= {minimum}")
    return float(value)


def as_price_arrays(**arrays: np.ndarray) -> list[np.ndarray]:
    """The arrays as contiguous 1-D float64, all of one length; ValueError otherwise."""
    out = [np.ascontiguousarray(a, dtype=np.float64) for a in arrays.values()]
    names = list(arrays)
    for name, a in zip(names, out, strict=True):
        if a.ndim != 1:
            raise ValueError(f"{name} must be 1-D, got shape {a.shape}")
    lengths = {name: len(a) for name, a in zip(names, out, strict=True)}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"price arrays differ in length: {lengths}")
    return out


@njit(cache=True)
def _wilder_atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int) -> np.ndarray:
    n = len(close)
    out = np.full(n, np.nan)
    if n <= period:
        return out
    acc = 0.0
    for i in range(1, n):
        tr = max(high[i] - low[i], abs(high[i] - close[i - 1]), abs(low[i] - close[i - 1]))
        if i < period:
            acc += tr
        elif i == period:
            acc += tr
            out[i] = acc / period
        else:
            out[i] = (out[i - 1] * (period - 1) + tr) / period
    return out


def wilder_atr(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int = 14
) -> np.ndarray:
    """Wilder's average true range (TA-Lib convention: NaN before index ``period``). Causal."""
    period = check_int("atr_period", period, 1)
    h, lo, c = as_price_arrays(high=high, low=low, close=close)
    out: np.ndarray = _wilder_atr(h, lo, c, period)
    return out


def _channel(high: np.ndarray, low: np.ndarray, lookback: int) -> tuple[np.ndarray, np.ndarray]:
    """upper/lower over the previous ``lookback`` bars; NaN for ``t < lookback``."""
    n = len(high)
    upper = np.full(n, np.nan)
    lower = np.full(n, np.nan)
    if n > lookback:
        win_h = np.lib.stride_tricks.sliding_window_view(high, lookback)[:-1]
        win_l = np.lib.stride_tricks.sliding_window_view(low, lookback)[:-1]
        upper[lookback:] = win_h.max(axis=1)
        lower[lookback:] = win_l.min(axis=1)
    return upper, lower


def channel_run_setups(
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    *,
    side: int,
    lookback: int,
    entry: ChannelPoint,
    goal: ChannelPoint,
    atr_period: int = 14,
    stop_atr: float = 0.5,
    min_reward_risk: float = 1.0,
) -> Setups:
    """Channel-run setups for one pair and side; see the module docstring for the rules.

    Raises ConfigError for a bad parameter, ValueError for arrays that are not 1-D or
    differ in length.
    """
    side = check_side(side)
    lookback = check_int("lookback", lookback, 1)
    atr_period = check_int("atr_period", atr_period, 1)
    for name, value in (("entry", entry), ("goal", goal)):
        if value not in ("edge", "mid"):
            raise ConfigError(f"{name} = {value!r} must be 'edge' or 'mid'")
    stop_atr = _check_float("stop_atr", stop_atr, 0.0)
    min_reward_risk = _check_float("min_reward_risk", min_reward_risk, 0.0)
    h, lo, c = as_price_arrays(high=high, low=low, close=close)
    n = len(c)

    upper, lower = _channel(h, lo, lookback)
    mid = (upper + lower) / 2.0
    atr = _wilder_atr(h, lo, c, atr_period)
    ready = np.isfinite(upper) & np.isfinite(atr)

    with np.errstate(invalid="ignore"):
        if entry == "edge":
            rule = (lo <= lower) & (c > lower) if side == 1 else (h >= upper) & (c < upper)
        else:
            prev_c = np.concatenate(([np.nan], c[:-1]))[:n]
            prev_mid = np.concatenate(([np.nan], mid[:-1]))[:n]
            if side == 1:
                rule = (prev_c <= prev_mid) & (c > mid)
            else:
                rule = (prev_c >= prev_mid) & (c < mid)
    setup = rule & ready

    if goal == "edge":
        target_all = upper if side == 1 else lower
    else:
        target_all = mid
    stop_all = lower - stop_atr * atr if side == 1 else upper + stop_atr * atr

    entry_price = np.where(setup, c, np.nan)
    stop = np.where(setup, stop_all, np.nan)
    target = np.where(setup, target_all, np.nan)
    reward = side * (target - entry_price)
    risk = side * (entry_price - stop)
    with np.errstate(invalid="ignore", divide="ignore"):
        reward_risk = np.where(risk > 0.0, reward / np.where(risk > 0.0, risk, 1.0), np.nan)
        ok = (reward_risk >= min_reward_risk) & (reward > 0.0) & (risk > 0.0)
    ok &= setup
    return Setups(
        side=side,
        entry=ok,
        entry_price=entry_price,
        stop=stop,
        target=target,
        reward_risk=reward_risk,
        rejected=setup & ~ok,
    )
