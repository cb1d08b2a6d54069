"""Trail fractals: enter on a break of the last fractal, trail the stop along new fractals.

Pure, causal setup functions over the float64 arrays of ONE pair (NaN-free input assumed).
Row ``t`` of every output is what is known at the CLOSE of bar ``t``; nothing reads a bar
after ``t`` (the tests truncate the data and fill the future with garbage to check this).

Rules (``h = width // 2``; ``width`` odd, ``>= 3``)
---------------------------------------------------

* A **fractal high** at bar ``k`` is a bar whose high is strictly greater than the high of
  each of the ``h`` bars before and the ``h`` bars after it; a **fractal low** mirrors it
  with lows strictly smaller. It needs ``h <= k <= n - 1 - h``.
* It is **confirmed** — known — only at the close of bar ``k + h``, when its right-hand
  bars exist. Before that it is invisible.
* :func:`fractal_levels` gives, per bar ``t``, the price of the most recently confirmed
  fractal high and fractal low (the one with the largest ``k`` such that ``k + h <= t``),
  NaN before the first.

Setups (``side = +1`` long; short mirrors it):

* Long at bar ``t``: ``close[t] > fh[t-1]``, a close above the last fractal high known at
  the previous close. ``entry_price = fh[t-1]`` (the stop-entry level),
  ``stop = fl[t]`` (the last fractal low known at ``t``), and the setup needs
  ``stop < entry_price``. Every bar that closes above the level is reported; callers that
  want only the first break de-duplicate on ``entry_price``.
* Short at bar ``t``: ``close[t] < fl[t-1]``, ``entry_price = fl[t-1]``, ``stop = fh[t]``,
  needs ``stop > entry_price``.
* ``target = entry_price + side * target_r * |entry_price - stop|`` when ``target_r`` is
  given, NaN otherwise. ``reward_risk`` is NaN (not computed) and ``rejected`` all False.
* Trend filter (``trend``, an SMA period ``>= 2``; off when None): a break against the
  trend is mostly a bounce, so a long also needs ``close[t] > SMA[t]`` and a short
  ``close[t] < SMA[t]``, where ``SMA[t]`` is the mean of ``close[t - trend + 1 .. t]``.
  No setup before ``t = trend - 1``, where the first SMA exists. The SMA reads bars
  ``<= t`` only.

The rules run in :func:`trail_fractals_core`, one numba kernel shared with the panel API
(:mod:`tradewind.strategies.panel`), so the 1-D and the panel results cannot differ.

Trailing stop: for a long, each new, higher confirmed fractal low. :func:`trailing_stops`
returns ``fl[t]`` for a long and ``fh[t]`` for a short; the trade lifecycle raises (lowers,
for a short) its stop to that level whenever it is better than the current stop.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from tradewind.errors import ConfigError
from tradewind.strategies.channel_run import Setups, as_price_arrays, check_int, check_side

__all__ = [
    "TrailFractalsParams",
    "fractal_levels",
    "trail_fractals_core",
    "trail_fractals_params",
    "trail_fractals_setups",
    "trailing_stops",
]


@njit(cache=True)
def _fractal_levels(high: np.ndarray, low: np.ndarray, half: int) -> tuple[np.ndarray, np.ndarray]:
    n = len(high)
    fh = np.full(n, np.nan)
    fl = np.full(n, np.nan)
    last_h = np.nan
    last_l = np.nan
    for t in range(n):
        k = t - half  # the candidate confirmed at the close of t
        if k >= half:
            # Branch-free: on a price series the outcome of each comparison is a coin
            # flip, and a mispredicted early exit costs more than the few comparisons.
            hk = high[k]
            lk = low[k]
            is_h = True
            is_l = True
            for j in range(1, half + 1):
                is_h &= (hk > high[k - j]) & (hk > high[k + j])
                is_l &= (lk < low[k - j]) & (lk < low[k + j])
            last_h = hk if is_h else last_h
            last_l = lk if is_l else last_l
        fh[t] = last_h
        fl[t] = last_l
    return fh, fl


def _check_width(width: int) -> int:
    width = check_int("width", width, 3)
    if width % 2 == 0:
        raise ConfigError(f"width = {width!r} must be odd (a centre bar and width // 2 each side)")
    return width


def fractal_levels(
    high: np.ndarray, low: np.ndarray, width: int = 5
) -> tuple[np.ndarray, np.ndarray]:
    """``(fh, fl)``: last confirmed fractal high and low as known at the close of each bar.

    NaN before the first confirmation. See the module docstring for the rules.
    """
    width = _check_width(width)
    h, lo = as_price_arrays(high=high, low=low)
    fh, fl = _fractal_levels(h, lo, width // 2)
    return fh, fl


def trailing_stops(high: np.ndarray, low: np.ndarray, *, side: int, width: int = 5) -> np.ndarray:
    """The trailing-stop candidate per bar: ``fl[t]`` for a long, ``fh[t]`` for a short.

    The lifecycle moves the stop to it only when that tightens the stop.
    """
    side = check_side(side)
    fh, fl = fractal_levels(high, low, width)
    return fl if side == 1 else fh


class TrailFractalsParams(NamedTuple):
    """Validated parameters in the plain form the numba kernels take (NaN / 0 for None)."""

    side: int
    half: int
    target_r: float  # NaN: no target
    trend: int  # 0: no trend filter


def trail_fractals_params(
    *, side: int, width: int, target_r: float | None, trend: int | None
) -> TrailFractalsParams:
    """Check the parameters once for the 1-D and the panel API; ConfigError names the bad one.

    No defaults here: they live only in :func:`trail_fractals_setups`'s signature, which
    the panel API reads, so the two cannot drift apart.
    """
    side = check_side(side)
    width = _check_width(width)
    if target_r is not None and (
        isinstance(target_r, bool)
        or not isinstance(target_r, int | float | np.integer | np.floating)
        or not math.isfinite(float(target_r))
        or target_r <= 0
    ):
        raise ConfigError(f"target_r = {target_r!r} must be None or a finite number > 0")
    if trend is not None:
        trend = check_int("trend", trend, 2)
    return TrailFractalsParams(
        side=side,
        half=width // 2,
        target_r=math.nan if target_r is None else float(target_r),
        trend=0 if trend is None else trend,
    )


@njit(cache=True)
def trail_fractals_core(
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    side: int,
    half: int,
    target_r: float,
    trend: int,
    entry: np.ndarray,
    entry_price: np.ndarray,
    stop: np.ndarray,
    target: np.ndarray,
    trail: np.ndarray,
) -> None:
    """The one implementation of the rules, shared by the 1-D and the panel API.

    Writes every row of the five outputs (length ``len(close)``) so callers can reuse
    scratch buffers; ``trail`` is what :func:`trailing_stops` returns.
    """
    n = len(close)
    fh, fl = _fractal_levels(high, low, half)
    level = fh if side == 1 else fl  # broken by the close
    stop_all = fl if side == 1 else fh
    window_sum = 0.0
    for t in range(n):
        trail[t] = stop_all[t]
        entry[t] = False
        entry_price[t] = np.nan
        stop[t] = np.nan
        target[t] = np.nan
        in_trend = True
        if trend > 0:
            if t < trend - 1:
                continue  # no SMA yet
            # A running sum drifts by a rounding error per step; re-summing the window
            # every ``trend`` bars keeps the drift bounded, at O(1) amortised cost.
            if (t - trend + 1) % trend == 0:
                window_sum = 0.0
                for j in range(t - trend + 1, t + 1):
                    window_sum += close[j]
            else:
                window_sum += close[t] - close[t - trend]
            in_trend = side * (close[t] - window_sum / trend) > 0.0
        if t < 1 or not in_trend:
            continue
        prev = level[t - 1]
        stp = stop_all[t]
        if side * (close[t] - prev) > 0.0 and side * (prev - stp) > 0.0:
            entry[t] = True
            entry_price[t] = prev
            stop[t] = stp
            target[t] = prev + target_r * (prev - stp)


def trail_fractals_setups(
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    *,
    side: int,
    width: int = 5,
    target_r: float | None = None,
    trend: int | None = None,
) -> Setups:
    """Fractal-breakout setups for one pair and side; see the module docstring for the rules.

    Raises ConfigError for a bad parameter, ValueError for arrays that are not 1-D or
    differ in length.
    """
    params = trail_fractals_params(side=side, width=width, target_r=target_r, trend=trend)
    h, lo, c = as_price_arrays(high=high, low=low, close=close)
    n = len(c)
    ok = np.zeros(n, dtype=np.bool_)
    prices = [np.empty(n) for _ in range(4)]
    trail_fractals_core(h, lo, c, *params, ok, *prices)
    entry_price, stop, target, _ = prices
    return Setups(
        side=params.side,
        entry=ok,
        entry_price=entry_price,
        stop=stop,
        target=target,
        reward_risk=np.full(n, np.nan),
        rejected=np.zeros(n, dtype=np.bool_),
    )
