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

Trailing stop: for a long, each new, higher confirmed fractal low. :func:`trailing_stops`
returns ``fl[t]`` for a long and ``fh[t]`` for a short; the trade lifecycle raises (lowers,
for a short) its stop to that level whenever it is better than the current stop.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from tradewind.errors import ConfigError
from tradewind.strategies.channel_run import Setups, as_price_arrays, check_int, check_side

__all__ = ["fractal_levels", "trail_fractals_setups", "trailing_stops"]


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
            is_h = True
            is_l = True
            for j in range(k - half, k + half + 1):
                if j == k:
                    continue
                if not high[k] > high[j]:
                    is_h = False
                if not low[k] < low[j]:
                    is_l = False
            if is_h:
                last_h = high[k]
            if is_l:
                last_l = low[k]
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


def trail_fractals_setups(
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    *,
    side: int,
    width: int = 5,
    target_r: float | None = None,
) -> Setups:
    """Fractal-breakout setups for one pair and side; see the module docstring for the rules.

    Raises ConfigError for a bad parameter, ValueError for arrays that are not 1-D or
    differ in length.
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
    h, lo, c = as_price_arrays(high=high, low=low, close=close)
    n = len(c)
    fh, fl = _fractal_levels(h, lo, width // 2)

    level = fh if side == 1 else fl  # broken by the close
    stop_all = fl if side == 1 else fh
    prev_level = np.concatenate(([np.nan], level[:-1]))[:n]
    with np.errstate(invalid="ignore"):
        setup = (side * (c - prev_level) > 0.0) & (side * (prev_level - stop_all) > 0.0)

    entry_price = np.where(setup, prev_level, np.nan)
    stop = np.where(setup, stop_all, np.nan)
    if target_r is None:
        target = np.full(n, np.nan)
    else:
        target = entry_price + float(target_r) * (entry_price - stop)
    return Setups(
        side=side,
        entry=setup,
        entry_price=entry_price,
        stop=stop,
        target=target,
        reward_risk=np.full(n, np.nan),
        rejected=np.zeros(n, dtype=np.bool_),
    )
