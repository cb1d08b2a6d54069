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

The channel uses the O(n) rolling extremes of :mod:`tradewind.strategies.rolling`, and
the rules run in :func:`channel_run_core`, one numba kernel shared with the panel API
(:mod:`tradewind.strategies.panel`), so the 1-D and the panel results cannot differ.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
from numba import njit

from tradewind.errors import ConfigError
from tradewind.strategies.rolling import _rolling_max, _rolling_min

__all__ = [
    "ChannelPoint",
    "ChannelRunParams",
    "Setups",
    "channel_run_core",
    "channel_run_params",
    "channel_run_setups",
    "wilder_atr",
]

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


class ChannelRunParams(NamedTuple):
    """Validated parameters in the plain form the numba kernels take (no strings, no None)."""

    side: int
    lookback: int
    entry_mid: bool
    goal_mid: bool
    atr_period: int
    stop_atr: float
    min_reward_risk: float


def channel_run_params(
    *,
    side: int,
    lookback: int,
    entry: ChannelPoint,
    goal: ChannelPoint,
    atr_period: int,
    stop_atr: float,
    min_reward_risk: float,
) -> ChannelRunParams:
    """Check the parameters once for the 1-D and the panel API; ConfigError names the bad one.

    No defaults here: they live only in :func:`channel_run_setups`'s signature, which the
    panel API reads, so the two cannot drift apart.
    """
    side = check_side(side)
    lookback = check_int("lookback", lookback, 1)
    atr_period = check_int("atr_period", atr_period, 1)
    for name, value in (("entry", entry), ("goal", goal)):
        if value not in ("edge", "mid"):
            raise ConfigError(f"{name} = {value!r} must be 'edge' or 'mid'")
    return ChannelRunParams(
        side=side,
        lookback=lookback,
        entry_mid=entry == "mid",
        goal_mid=goal == "mid",
        atr_period=atr_period,
        stop_atr=_check_float("stop_atr", stop_atr, 0.0),
        min_reward_risk=_check_float("min_reward_risk", min_reward_risk, 0.0),
    )


@njit(cache=True)
def channel_run_core(
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    side: int,
    lookback: int,
    entry_mid: bool,
    goal_mid: bool,
    atr_period: int,
    stop_atr: float,
    min_reward_risk: float,
    entry: np.ndarray,
    rejected: np.ndarray,
    entry_price: np.ndarray,
    stop: np.ndarray,
    target: np.ndarray,
    reward_risk: np.ndarray,
) -> None:
    """The one implementation of the rules, shared by the 1-D and the panel API.

    Writes every row of the six outputs (length ``len(close)``) so callers can reuse
    scratch buffers; the panel passes one pair's compressed (existing) candles.
    """
    n = len(close)
    upper = _rolling_max(high, lookback)
    lower = _rolling_min(low, lookback)
    atr = _wilder_atr(high, low, close, atr_period)
    for t in range(n):
        entry[t] = False
        rejected[t] = False
        entry_price[t] = np.nan
        stop[t] = np.nan
        target[t] = np.nan
        reward_risk[t] = np.nan
        up = upper[t]
        dn = lower[t]
        if not (np.isfinite(up) and np.isfinite(atr[t])):
            continue
        mid = (up + dn) / 2.0
        c = close[t]
        if entry_mid:
            if t < 1 or not np.isfinite(upper[t - 1]):
                continue  # no mid-line at t - 1 to cross yet
            prev_mid = (upper[t - 1] + lower[t - 1]) / 2.0
            if side == 1:
                rule = close[t - 1] <= prev_mid and c > mid
            else:
                rule = close[t - 1] >= prev_mid and c < mid
        elif side == 1:
            rule = low[t] <= dn and c > dn
        else:
            rule = high[t] >= up and c < up
        if not rule:
            continue
        if goal_mid:
            tgt = mid
        else:
            tgt = up if side == 1 else dn
        stp = dn - stop_atr * atr[t] if side == 1 else up + stop_atr * atr[t]
        reward = side * (tgt - c)
        risk = side * (c - stp)
        rr = reward / risk if risk > 0.0 else np.nan
        ok = rr >= min_reward_risk and reward > 0.0 and risk > 0.0
        entry[t] = ok
        rejected[t] = not ok
        entry_price[t] = c
        stop[t] = stp
        target[t] = tgt
        reward_risk[t] = rr


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
    min_reward_risk: float = 0.5,
) -> Setups:
    """Channel-run setups for one pair and side; see the module docstring for the rules.

    Raises ConfigError for a bad parameter, ValueError for arrays that are not 1-D or
    differ in length.
    """
    params = channel_run_params(
        side=side,
        lookback=lookback,
        entry=entry,
        goal=goal,
        atr_period=atr_period,
        stop_atr=stop_atr,
        min_reward_risk=min_reward_risk,
    )
    h, lo, c = as_price_arrays(high=high, low=low, close=close)
    n = len(c)
    ok = np.zeros(n, dtype=np.bool_)
    rejected = np.zeros(n, dtype=np.bool_)
    prices = [np.empty(n) for _ in range(4)]
    channel_run_core(h, lo, c, *params, ok, rejected, *prices)
    entry_price, stop, target, reward_risk = prices
    return Setups(
        side=params.side,
        entry=ok,
        entry_price=entry_price,
        stop=stop,
        target=target,
        reward_risk=reward_risk,
        rejected=rejected,
    )
