"""Strategy setups for a whole panel of pairs in one numba call.

An agent evaluates its rule on every pair of its universe at once; a Python loop over
hundreds of pairs would cost more than the rules themselves. The pair loop therefore runs
inside numba and calls the very same per-pair kernels as the 1-D functions
(:func:`~tradewind.strategies.channel_run.channel_run_core`,
:func:`~tradewind.strategies.trail_fractals.trail_fractals_core`), so there is one
implementation of each rule.

Missing candles: a pair's rule runs on the candles that exist (its ``valid`` rows,
compressed, in order), exactly as if the 1-D function were given only those; the results
are scattered back to their rows. A gap is thus not a bar: a 200-bar channel spans the
pair's last 200 real candles. Rows without a candle carry no setup, NaN prices and a NaN
trailing stop. Every row ``t`` reads only rows ``<= t``, as in the 1-D functions.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit, prange

from tradewind.errors import ConfigError
from tradewind.strategies.channel_run import (
    channel_run_core,
    channel_run_params,
    channel_run_setups,
    check_side,
)
from tradewind.strategies.trail_fractals import (
    trail_fractals_core,
    trail_fractals_params,
    trail_fractals_setups,
)

__all__ = ["STRATEGIES", "PanelSetups", "panel_setups", "strategy_params"]

#: The 1-D function of each strategy: its keyword parameters and defaults are the panel's.
STRATEGIES: dict[str, Callable[..., Any]] = {
    "channel_run": channel_run_setups,
    "trail_fractals": trail_fractals_setups,
}


@dataclass(frozen=True, slots=True)
class PanelSetups:
    """Setups of one strategy and side for every pair, asset-major ``(P, T)`` arrays.

    ``level`` is the 1-D ``Setups.entry_price`` (the close for channel run, the broken
    fractal level for trail fractals). ``trail`` is the trailing-stop candidate of
    :func:`~tradewind.strategies.trail_fractals.trailing_stops`; all NaN for channel run.
    """

    side: int
    entry: np.ndarray  #: bool: a setup the strategy takes
    rejected: np.ndarray  #: bool: a setup seen but rejected (channel run: reward/risk)
    level: np.ndarray  #: float64, NaN where no setup
    stop: np.ndarray  #: float64, NaN where no setup
    target: np.ndarray  #: float64, NaN where no setup or no target
    reward_risk: np.ndarray  #: float64, NaN where no setup or not computed
    trail: np.ndarray  #: float64, NaN where unknown or no candle


def strategy_params(strategy: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` completed with the 1-D function's defaults; ConfigError for unknown keys.

    ``side`` is not a parameter here: it is passed separately, as agents have one side.
    """
    try:
        fn = STRATEGIES[strategy]
    except KeyError:
        raise ConfigError(
            f"strategy = {strategy!r} must be one of {', '.join(STRATEGIES)}"
        ) from None
    signature = {
        name: p
        for name, p in inspect.signature(fn).parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY and name != "side"
    }
    unknown = [key for key in params if key not in signature]
    if unknown:
        raise ConfigError(
            f"{strategy} has no parameter(s) {', '.join(map(repr, unknown))} "
            f"(allowed: {', '.join(signature)})"
        )
    missing = [n for n, p in signature.items() if p.default is p.empty and n not in params]
    if missing:
        raise ConfigError(f"{strategy} needs parameter(s) {', '.join(missing)}")
    return {name: params[name] if name in params else p.default for name, p in signature.items()}


@njit(cache=True)
def _gather(
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    valid: np.ndarray,
    p: int,
    h: np.ndarray,
    lo: np.ndarray,
    c: np.ndarray,
) -> int:
    """Copy pair ``p``'s existing candles to the front of the scratch arrays; their count.

    Returns ``-1 - t`` for the first existing row ``t`` with a non-finite price, because a
    NaN would silently break the rules' comparisons.
    """
    m = 0
    for t in range(high.shape[1]):
        if valid[p, t]:
            hv = high[p, t]
            lv = low[p, t]
            cv = close[p, t]
            if not (np.isfinite(hv) and np.isfinite(lv) and np.isfinite(cv)):
                return -1 - t
            h[m] = hv
            lo[m] = lv
            c[m] = cv
            m += 1
    return m


# The pair loops run in parallel (``prange``): the per-pair rules are independent and
# Wilder's ATR is a serial chain of divisions, so pairs are the only parallelism there is.
# Each pair writes only its own output row, so the result does not depend on scheduling.
# The outputs are written once each (np.empty, then every row filled) because first-touch
# page faults on the (P, T) arrays cost as much as the rules.


@njit(cache=True, parallel=True)
def _channel_run_panel(
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    valid: np.ndarray,
    side: int,
    lookback: int,
    entry_mid: bool,
    goal_mid: bool,
    atr_period: int,
    stop_atr: float,
    min_reward_risk: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n_pairs, n_bars = close.shape
    entry = np.empty((n_pairs, n_bars), dtype=np.bool_)
    rejected = np.empty((n_pairs, n_bars), dtype=np.bool_)
    level = np.empty((n_pairs, n_bars))
    stop = np.empty((n_pairs, n_bars))
    target = np.empty((n_pairs, n_bars))
    reward_risk = np.empty((n_pairs, n_bars))
    bad = np.full(n_pairs, -1, dtype=np.int64)
    for p in prange(n_pairs):
        h = np.empty(n_bars)
        lo = np.empty(n_bars)
        c = np.empty(n_bars)
        m = _gather(high, low, close, valid, p, h, lo, c)
        if m < 0:
            bad[p] = -1 - m
            m = 0
        e = np.empty(m, dtype=np.bool_)
        r = np.empty(m, dtype=np.bool_)
        lv = np.empty(m)
        s = np.empty(m)
        tg = np.empty(m)
        rr = np.empty(m)
        channel_run_core(
            h[:m], lo[:m], c[:m], side, lookback, entry_mid, goal_mid, atr_period, stop_atr,
            min_reward_risk, e, r, lv, s, tg, rr,
        )  # fmt: skip
        i = 0
        for t in range(n_bars):
            if valid[p, t] and i < m:
                entry[p, t] = e[i]
                rejected[p, t] = r[i]
                level[p, t] = lv[i]
                stop[p, t] = s[i]
                target[p, t] = tg[i]
                reward_risk[p, t] = rr[i]
                i += 1
            else:
                entry[p, t] = False
                rejected[p, t] = False
                level[p, t] = np.nan
                stop[p, t] = np.nan
                target[p, t] = np.nan
                reward_risk[p, t] = np.nan
    return entry, rejected, level, stop, target, reward_risk, bad


@njit(cache=True, parallel=True)
def _trail_fractals_panel(
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    valid: np.ndarray,
    side: int,
    half: int,
    target_r: float,
    trend: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n_pairs, n_bars = close.shape
    entry = np.empty((n_pairs, n_bars), dtype=np.bool_)
    level = np.empty((n_pairs, n_bars))
    stop = np.empty((n_pairs, n_bars))
    target = np.empty((n_pairs, n_bars))
    trail = np.empty((n_pairs, n_bars))
    bad = np.full(n_pairs, -1, dtype=np.int64)
    for p in prange(n_pairs):
        h = np.empty(n_bars)
        lo = np.empty(n_bars)
        c = np.empty(n_bars)
        m = _gather(high, low, close, valid, p, h, lo, c)
        if m < 0:
            bad[p] = -1 - m
            m = 0
        e = np.empty(m, dtype=np.bool_)
        lv = np.empty(m)
        s = np.empty(m)
        tg = np.empty(m)
        tr = np.empty(m)
        trail_fractals_core(
            h[:m], lo[:m], c[:m], side, half, target_r, trend, e, lv, s, tg, tr
        )  # fmt: skip
        i = 0
        for t in range(n_bars):
            if valid[p, t] and i < m:
                entry[p, t] = e[i]
                level[p, t] = lv[i]
                stop[p, t] = s[i]
                target[p, t] = tg[i]
                trail[p, t] = tr[i]
                i += 1
            else:
                entry[p, t] = False
                level[p, t] = np.nan
                stop[p, t] = np.nan
                target[p, t] = np.nan
                trail[p, t] = np.nan
    return entry, level, stop, target, trail, bad


def _panel_arrays(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, valid: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    prices = [np.ascontiguousarray(a, dtype=np.float64) for a in (high, low, close)]
    mask = np.ascontiguousarray(valid, dtype=np.bool_)
    names = ("high", "low", "close", "valid")
    shapes = {name: a.shape for name, a in zip(names, [*prices, mask], strict=True)}
    if mask.ndim != 2 or len(set(shapes.values())) > 1:
        raise ValueError(f"high, low, close and valid must be (P, T) arrays of one shape: {shapes}")
    return prices[0], prices[1], prices[2], mask


def panel_setups(
    strategy: str,
    side: int,
    params: Mapping[str, Any],
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    valid: np.ndarray,
) -> PanelSetups:
    """Setups of ``strategy`` on every pair of an asset-major ``(P, T)`` panel.

    ``params`` are the strategy's keyword parameters (missing ones take the 1-D function's
    defaults). Pair ``p`` gets exactly what the 1-D function returns for its existing
    candles ``valid[p]``, scattered back to those rows. Raises ConfigError for an unknown
    strategy or a bad or unknown parameter, ValueError for arrays of the wrong shape or a
    non-finite price on an existing candle.
    """
    side = check_side(side)
    kw = strategy_params(strategy, params)
    h, lo, c, mask = _panel_arrays(high, low, close, valid)
    if strategy == "channel_run":
        cr = channel_run_params(side=side, **kw)
        entry, rejected, level, stop, target, rr, bad = _channel_run_panel(h, lo, c, mask, *cr)
        trail = np.full(c.shape, np.nan)
    else:
        tf = trail_fractals_params(side=side, **kw)
        entry, level, stop, target, trail, bad = _trail_fractals_panel(h, lo, c, mask, *tf)
        rejected = np.zeros(c.shape, dtype=np.bool_)
        rr = np.full(c.shape, np.nan)
    broken = np.flatnonzero(bad >= 0)
    if len(broken):
        p = int(broken[0])
        raise ValueError(f"pair {p}, bar {int(bad[p])}: non-finite price on an existing candle")
    return PanelSetups(
        side=side,
        entry=entry,
        rejected=rejected,
        level=level,
        stop=stop,
        target=target,
        reward_risk=rr,
        trail=trail,
    )
