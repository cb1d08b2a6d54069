"""TA-Lib indicators of one pair, made scale-free: :class:`IndicatorBlock`.

Every TA-Lib group is represented (overlap studies, momentum, volume, volatility, cycle,
pattern recognition, statistic functions), most at several periods, plus plain log returns
and candle-shape features. One model serves pairs priced at 0.00001 and at 60,000, so every
output is turned into something that does not depend on the price or volume level:

* price levels (moving averages, bands, SAR, regression lines) → ``level / close - 1``;
* price differences (MACD, ATR, MOM, STDDEV, slopes, DM, Hilbert phasor) → ``diff / close``;
* bounded oscillators → ``[-1, 1]`` (RSI, CMO, MFI, WILLR, ...) or ``[0, 1]`` (ADX, STOCH,
  AROON, ...); candlestick patterns → ``-1 / 0 / +1``;
* volume levels (OBV, AD, ADOSC) → their change over ``n`` bars divided by the volume of
  those bars (a flow in ``[-1, 1]``), or a z-score of that change over a trailing window.

**Normalisation.** Before TA-Lib sees a run, prices are divided by the run's first close
and volumes by its first positive volume. The features are invariant to this on paper; it
matters in practice because TA-Lib treats variances below ``1e-14`` as zero, which would
silently flatten STDDEV and the Bollinger bands of a pair priced at 1e-5. Both constants are
read from the start of the run, so no row depends on a later one (rows before the first
positive volume see only zeros, whatever the divisor).

**Warm-up rule** (computed per feature in :func:`_warmup`, never typed by hand)::

    warmup = TA-Lib lookback (abstract.Function(name), its parameters set)
           + convergence allowance (functions whose output depends on the whole past)
           + post-processing lookback (a diff over n bars: n; a trailing window w: w - 1)

TA-Lib's lookback is only where the first number appears. Exponential smoothers (EMA,
DEMA, TEMA, TRIX, T3, MACD, ADOSC: ``alpha = 2/(n+1)``; Wilder's RSI, CMO, ATR, NATR, DM,
DI, DX, ADX, ADXR, STOCHRSI: ``alpha = 1/n``; KAMA: ``alpha`` at an efficiency ratio of
0.1, since at zero efficiency it barely moves) start from a seed whose weight decays
geometrically; the allowance is the number of bars until the seed's weight falls below
:data:`SEED_WEIGHT` (0.1 %), with ``m`` cascaded smoothers
counted exactly (the seed's weight after ``k`` bars is ``P[Binomial(k, alpha) < m]``), and
sequential smoothers (MACD's signal) adding their allowances. The Hilbert-transform family
(HT_*, MAMA) gets :data:`HT_ALLOWANCE` bars more and the path-dependent SAR
:data:`PATH_ALLOWANCE`: neither has a closed form, both were checked empirically (the unit
tests compare each feature at its warm-up against the same series started later).
A TA-Lib function flagged "unstable period" without a rule here is refused at start-up.

**Left out.** HT_DCPHASE, HT_SINE and HT_TRENDMODE: each runs a DFT over the dominant
cycle at ~2 ms per 6,000 bars, which alone would double this block's cost (target: well
under 10 ms per pair-run of 6,000 bars). The cycle's phase is kept as sin/cos of the
HT_PHASOR angle instead.

**Speed.** One TA-Lib call per distinct (function, parameters, inputs), shared by the
features that read it; TA-Lib's compiled functions are called without their pandas
wrapper; features are written one contiguous row each and returned transposed. TA-Lib
releases the GIL inside its C routines, so the driver's thread pool overlaps them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
import talib
from talib import abstract

from tradewind.features.base import Candles, FeatureSpec

__all__ = ["HT_ALLOWANCE", "PATH_ALLOWANCE", "SEED_WEIGHT", "IndicatorBlock", "settle_bars"]

#: weight the smoother's seed may keep when a feature's warm-up ends
SEED_WEIGHT = 0.001
#: extra bars for the Hilbert-transform family (HT_*, MAMA) to forget its start
HT_ALLOWANCE = 200
#: extra bars for the path-dependent parabolic SAR to reach the same trend state
PATH_ALLOWANCE = 100

_WILDER = frozenset(
    {"RSI", "CMO", "ATR", "NATR", "PLUS_DM", "MINUS_DM", "PLUS_DI", "MINUS_DI", "DX", "STOCHRSI"}
)
_EMA_CASCADE = {"EMA": 1, "DEMA": 2, "TEMA": 3, "TRIX": 3, "T3": 6}
#: TA-Lib's KAMA smooths with ``(ER * (2/3 - 2/31) + 2/31) ** 2`` (ER: efficiency ratio);
#: the allowance assumes ER >= 0.1 — a market with no net move at all would need ~7,000 bars
_KAMA_EFFICIENCY = 0.1
_KAMA_ALPHA = (_KAMA_EFFICIENCY * (2.0 / 3.0 - 2.0 / 31.0) + 2.0 / 31.0) ** 2

Array = np.ndarray
Params = tuple[tuple[str, float], ...]


@cache
def settle_bars(alpha: float, stages: int = 1, seed_weight: float = SEED_WEIGHT) -> int:
    """Bars after which a seed passed through ``stages`` cascaded exponential smoothers of
    factor ``alpha`` keeps less than ``seed_weight`` of the output: the smallest ``k`` with
    ``P[Binomial(k, alpha) < stages] <= seed_weight``. Runs once per (alpha, stages)."""
    k = 0
    while True:
        tail = sum(
            math.comb(k, j) * alpha**j * (1.0 - alpha) ** (k - j) for j in range(min(stages, k + 1))
        )
        if tail <= seed_weight:
            return k
        k += 1


def _convergence(func: str, params: dict[str, float]) -> int:
    """Bars beyond TA-Lib's lookback until ``func`` has forgotten how the run started."""
    n = float(params.get("timeperiod", 0))
    if func in _EMA_CASCADE:
        return settle_bars(2.0 / (n + 1.0), _EMA_CASCADE[func])
    if func in _WILDER:
        return settle_bars(1.0 / n)
    if func in ("ADX", "ADXR"):  # Wilder-smoothed DX, itself from Wilder-smoothed DM/TR
        return settle_bars(1.0 / n, 2)
    if func == "KAMA":
        return settle_bars(_KAMA_ALPHA)
    if func == "MACD":  # slow EMA, then the signal EMA of the MACD line
        return settle_bars(2.0 / (params["slowperiod"] + 1.0)) + settle_bars(
            2.0 / (params["signalperiod"] + 1.0)
        )
    if func == "ADOSC":
        return settle_bars(2.0 / (params["slowperiod"] + 1.0))
    if func == "MAMA":
        return HT_ALLOWANCE + settle_bars(params["slowlimit"])
    if func.startswith("HT_"):
        return HT_ALLOWANCE
    if func == "SAR":
        return PATH_ALLOWANCE
    if "Function has an unstable period" in _abstract(func).info["function_flags"]:
        raise ValueError(f"TA-Lib marks {func} unstable and no convergence rule covers it")
    for name, value in params.items():
        if name.endswith("matype") and value != 0:
            raise ValueError(f"{func}: only simple moving averages (matype 0) are supported")
    return 0


def _abstract(func: str) -> Any:
    """TA-Lib's abstract function object (lookback, flags); its stub omits ``Function``."""
    return abstract.Function(func)  # type: ignore[attr-defined]


@cache
def _lookback(func: str, params: Params) -> int:
    f = _abstract(func)
    if params:
        f.parameters = dict(params)
    return int(f.lookback)


@cache
def _default_inputs(func: str) -> tuple[str, ...]:
    names: list[str] = []
    for value in _abstract(func).info["input_names"].values():
        names.extend([value] if isinstance(value, str) else value)
    return tuple(names)


@cache
def _raw(func: str) -> Callable[..., object]:
    """TA-Lib's compiled function without the pandas/polars wrapper (a few us per call,
    ~150 calls per run): inputs here are always float64 numpy arrays."""
    fn = getattr(talib, func)
    return getattr(fn, "__wrapped__", fn)  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class _Call:
    """One TA-Lib call: function, parameters and input series (names of :class:`_Ctx`)."""

    func: str
    params: Params = ()
    inputs: tuple[str, ...] = ()

    def run(self, ctx: _Ctx) -> tuple[Array, ...]:
        got = _raw(self.func)(
            *(ctx.series(name) for name in self.inputs or _default_inputs(self.func)),
            **dict(self.params),
        )
        outs = got if isinstance(got, tuple) else (got,)
        return tuple(np.asarray(o, dtype=np.float64) for o in outs)


class _Ctx:
    """A run's normalised candles plus derived series, computed on first use."""

    def __init__(self, candles: Candles) -> None:
        close = np.asarray(candles.close, dtype=np.float64)
        p0 = close[0] if len(close) and close[0] > 0 else 1.0
        vol = np.asarray(candles.volume, dtype=np.float64)
        positive = np.flatnonzero(vol > 0)
        v0 = vol[positive[0]] if len(positive) else 1.0
        self._series: dict[str, Array] = {
            "open": np.asarray(candles.open, dtype=np.float64) / p0,
            "high": np.asarray(candles.high, dtype=np.float64) / p0,
            "low": np.asarray(candles.low, dtype=np.float64) / p0,
            "close": close / p0,
            "volume": vol / v0,
        }
        self._volume_sums: dict[int, Array] = {}

    @property
    def close(self) -> Array:
        return self._series["close"]

    def series(self, name: str) -> Array:
        got = self._series.get(name)
        if got is None:
            got = self._derive(name)
            self._series[name] = got
        return got

    def _derive(self, name: str) -> Array:
        c = self._series["close"]
        if name == "logclose":  # percent log price: regression slopes in % per bar
            return np.asarray(100.0 * np.log(c), dtype=np.float64)
        if name == "logret":
            out = np.full(len(c), np.nan)
            out[1:] = np.log(c[1:] / c[:-1])
            return out
        if name == "hlrange":
            return np.asarray((self._series["high"] - self._series["low"]) / c, dtype=np.float64)
        raise KeyError(name)

    def volume_sum(self, n: int) -> Array:
        got = self._volume_sums.get(n)
        if got is None:
            got = np.asarray(talib.SUM(self._series["volume"], timeperiod=n), dtype=np.float64)
            self._volume_sums[n] = got
        return got


Post = Callable[[tuple[Array, ...], _Ctx], Array]


@dataclass(frozen=True, slots=True)
class _Feature:
    spec: FeatureSpec
    call: _Call | None
    post: Post


# --- post-processing: every one is causal (reads rows <= i only) --------------------------


def _diff(x: Array, n: int) -> Array:
    out = np.full(len(x), np.nan)
    if len(x) > n:
        out[n:] = x[n:] - x[:-n]
    return out


def _div(a: Array, b: Array, fill: float = np.nan) -> Array:
    """``a / b`` with ``fill`` where ``b`` is 0 (flat market) instead of a warning."""
    out = np.full(len(a), fill)
    np.divide(a, b, out=out, where=b != 0)
    return out


def _zscore(x: Array, w: int) -> Array:
    """Trailing z-score over ``w`` rows (TA-Lib's rolling SMA and STDDEV: causal)."""
    mean = np.asarray(talib.SMA(x, timeperiod=w), dtype=np.float64)
    std = np.asarray(talib.STDDEV(x, timeperiod=w, nbdev=1.0), dtype=np.float64)
    return _div(x - mean, std, 0.0)


def _dist(k: int = 0) -> Post:
    return lambda o, c: o[k] / c.close - 1.0


def _rel(k: int = 0) -> Post:
    return lambda o, c: o[k] / c.close


def _lin(scale: float, shift: float = 0.0, k: int = 0) -> Post:
    return lambda o, c: o[k] * scale + shift


def _sign(k: int = 0) -> Post:
    return lambda o, c: np.sign(o[k])


def _log_return(n: int) -> Post:
    """``log(close_t / close_{t-n})`` (``logclose`` is in percent)."""
    return lambda o, c: _diff(c.series("logclose"), n) * 0.01


def _flow(n: int) -> Post:
    """Change of a cumulative volume line (OBV, A/D) over ``n`` bars divided by the volume
    traded in those bars: in ``[-1, 1]`` whatever the pair's volume level."""
    return lambda o, c: _div(_diff(o[0], n), c.volume_sum(n), 0.0)


# --- the feature list ------------------------------------------------------------------------


@dataclass
class _Builder:
    features: list[_Feature] = field(default_factory=list)

    def add(
        self,
        name: str,
        group: str,
        description: str,
        call: _Call | None,
        post: Post,
        extra: int = 0,
    ) -> None:
        """One feature; ``extra`` is what ``post`` adds to the warm-up (diffs, windows)."""
        warmup = extra if call is None else _warmup(call) + extra
        self.features.append(_Feature(FeatureSpec(name, group, warmup, description), call, post))


def _warmup(call: _Call) -> int:
    params = dict(call.params)
    return _lookback(call.func, call.params) + _convergence(call.func, params)


def _c(func: str, inputs: tuple[str, ...] = (), **params: float) -> _Call:
    return _Call(func, tuple(sorted(params.items())), inputs)


#: Candlestick patterns: the ones that fire most often on real 5m crypto candles (BTCUSDT,
#: 2024: from ~23 % of bars down to ~0.25 %). Left out: the rare ones (most of TA-Lib's 61
#: need gaps between candles, which crypto hardly has) and near-duplicates (rickshaw man is
#: a long-legged doji, takuri a dragonfly doji, harami cross mostly a harami).
_PATTERNS = (
    "CDL3INSIDE",
    "CDL3OUTSIDE",
    "CDL3WHITESOLDIERS",
    "CDLADVANCEBLOCK",
    "CDLBELTHOLD",
    "CDLCLOSINGMARUBOZU",
    "CDLDOJI",
    "CDLDOJISTAR",
    "CDLDRAGONFLYDOJI",
    "CDLENGULFING",
    "CDLEVENINGSTAR",
    "CDLGRAVESTONEDOJI",
    "CDLHAMMER",
    "CDLHANGINGMAN",
    "CDLHARAMI",
    "CDLHIGHWAVE",
    "CDLHIKKAKE",
    "CDLIDENTICAL3CROWS",
    "CDLINVERTEDHAMMER",
    "CDLLONGLEGGEDDOJI",
    "CDLLONGLINE",
    "CDLMARUBOZU",
    "CDLMORNINGSTAR",
    "CDLSHOOTINGSTAR",
    "CDLSHORTLINE",
    "CDLSPINNINGTOP",
)


def _overlap(b: _Builder) -> None:
    g = "overlap"
    for n in (10, 20, 50, 100, 200):
        b.add(
            f"sma_{n}_dist",
            g,
            f"Close's SMA({n}) as SMA/close - 1",
            _c("SMA", timeperiod=n),
            _dist(),
        )
    for n in (10, 20, 50, 100):
        b.add(
            f"ema_{n}_dist",
            g,
            f"Close's EMA({n}) as EMA/close - 1",
            _c("EMA", timeperiod=n),
            _dist(),
        )
    for n in (10, 20, 50):
        b.add(
            f"wma_{n}_dist",
            g,
            f"Weighted MA({n}) as WMA/close - 1",
            _c("WMA", timeperiod=n),
            _dist(),
        )
    for n in (10, 20):
        b.add(
            f"dema_{n}_dist",
            g,
            f"Double EMA({n}) as DEMA/close - 1",
            _c("DEMA", timeperiod=n),
            _dist(),
        )
        b.add(
            f"tema_{n}_dist",
            g,
            f"Triple EMA({n}) as TEMA/close - 1",
            _c("TEMA", timeperiod=n),
            _dist(),
        )
    b.add(
        "trima_20_dist",
        g,
        "Triangular MA(20) as TRIMA/close - 1",
        _c("TRIMA", timeperiod=20),
        _dist(),
    )
    for n in (10, 30):
        b.add(
            f"kama_{n}_dist",
            g,
            f"Kaufman adaptive MA({n}) as KAMA/close - 1",
            _c("KAMA", timeperiod=n),
            _dist(),
        )
    for n in (5, 10):
        b.add(
            f"t3_{n}_dist",
            g,
            f"Tillson T3({n}, vfactor 0.7) as T3/close - 1",
            _c("T3", timeperiod=n, vfactor=0.7),
            _dist(),
        )
    b.add(
        "midpoint_14_dist",
        g,
        "Mid of the 14-bar close range as MIDPOINT/close - 1",
        _c("MIDPOINT", timeperiod=14),
        _dist(),
    )
    b.add(
        "midprice_14_dist",
        g,
        "Mid of the 14-bar high-low range as MIDPRICE/close - 1",
        _c("MIDPRICE", timeperiod=14),
        _dist(),
    )
    b.add(
        "sar_dist",
        g,
        "Parabolic SAR (0.02, 0.2) as SAR/close - 1",
        _c("SAR", acceleration=0.02, maximum=0.2),
        _dist(),
    )
    for n in (20, 50):
        bb = _c("BBANDS", timeperiod=n, nbdevup=2.0, nbdevdn=2.0, matype=0)
        b.add(
            f"bb_{n}_upper_dist",
            g,
            f"Upper Bollinger band ({n}, 2 sd) as upper/close - 1",
            bb,
            _dist(0),
        )
        b.add(
            f"bb_{n}_lower_dist",
            g,
            f"Lower Bollinger band ({n}, 2 sd) as lower/close - 1",
            bb,
            _dist(2),
        )
        b.add(
            f"bb_{n}_width",
            g,
            f"Bollinger band ({n}, 2 sd) width as (upper-lower)/middle",
            bb,
            lambda o, c: _div(o[0] - o[2], o[1]),
        )
        b.add(
            f"bb_{n}_pctb",
            g,
            f"Close's place in the Bollinger band ({n}, 2 sd): 0 at lower, 1 at upper",
            bb,
            lambda o, c: _div(c.close - o[2], o[0] - o[2], 0.5),
        )
    b.add(
        "ht_trendline_dist",
        g,
        "Hilbert instantaneous trendline as HT_TRENDLINE/close - 1",
        _c("HT_TRENDLINE"),
        _dist(),
    )
    mama = _c("MAMA", fastlimit=0.5, slowlimit=0.05)
    b.add("mama_dist", g, "MESA adaptive MA (0.5, 0.05) as MAMA/close - 1", mama, _dist(0))
    b.add("fama_dist", g, "Following adaptive MA of MAMA as FAMA/close - 1", mama, _dist(1))
    b.add(
        "sma_50_200_ratio",
        g,
        "Trend of the averages: SMA(50)/SMA(200) - 1",
        _c("SMA", timeperiod=200),
        lambda o, c: _div(talib.SMA(c.close, timeperiod=50), o[0]) - 1.0,
    )


def _momentum(b: _Builder) -> None:
    g = "momentum"
    for n in (7, 14, 28):
        b.add(
            f"rsi_{n}",
            g,
            f"RSI({n}) scaled to [-1, 1] as (RSI-50)/50",
            _c("RSI", timeperiod=n),
            _lin(0.02, -1.0),
        )
    macd = _c("MACD", fastperiod=12, slowperiod=26, signalperiod=9)
    b.add("macd", g, "MACD line (12, 26) divided by close", macd, _rel(0))
    b.add("macd_signal", g, "MACD signal line (9) divided by close", macd, _rel(1))
    b.add("macd_hist", g, "MACD histogram (line - signal) divided by close", macd, _rel(2))
    for n in (7, 14, 28):
        b.add(
            f"adx_{n}",
            g,
            f"ADX({n}) trend strength scaled to [0, 1]",
            _c("ADX", timeperiod=n),
            _lin(0.01),
        )
    b.add("adxr_14", g, "ADX rating (14) scaled to [0, 1]", _c("ADXR", timeperiod=14), _lin(0.01))
    b.add(
        "dx_14",
        g,
        "Directional movement index DX(14) scaled to [0, 1]",
        _c("DX", timeperiod=14),
        _lin(0.01),
    )
    b.add("plus_di_14", g, "+DI(14) scaled to [0, 1]", _c("PLUS_DI", timeperiod=14), _lin(0.01))
    b.add("minus_di_14", g, "-DI(14) scaled to [0, 1]", _c("MINUS_DI", timeperiod=14), _lin(0.01))
    b.add(
        "plus_dm_14", g, "+DM(14) Wilder sum divided by close", _c("PLUS_DM", timeperiod=14), _rel()
    )
    b.add(
        "minus_dm_14",
        g,
        "-DM(14) Wilder sum divided by close",
        _c("MINUS_DM", timeperiod=14),
        _rel(),
    )
    for n in (14, 28):
        b.add(
            f"cci_{n}",
            g,
            f"Commodity channel index ({n}) / 100 (mostly within [-3, 3])",
            _c("CCI", timeperiod=n),
            _lin(0.01),
        )
        b.add(
            f"cmo_{n}",
            g,
            f"Chande momentum oscillator ({n}) scaled to [-1, 1]",
            _c("CMO", timeperiod=n),
            _lin(0.01),
        )
        b.add(
            f"mfi_{n}",
            g,
            f"Money flow index ({n}) scaled to [-1, 1] as (MFI-50)/50",
            _c("MFI", timeperiod=n),
            _lin(0.02, -1.0),
        )
        b.add(
            f"willr_{n}",
            g,
            f"Williams %R ({n}) scaled to [-1, 1] (+1 at the high)",
            _c("WILLR", timeperiod=n),
            _lin(0.02, 1.0),
        )
        b.add(
            f"aroonosc_{n}",
            g,
            f"Aroon oscillator ({n}) scaled to [-1, 1]",
            _c("AROONOSC", timeperiod=n),
            _lin(0.01),
        )
    for n in (10, 20):
        b.add(
            f"mom_{n}",
            g,
            f"Momentum: close - close {n} bars ago, divided by close",
            _c("MOM", timeperiod=n),
            _rel(),
        )
        b.add(
            f"roc_{n}",
            g,
            f"Rate of change over {n} bars as a fraction (ROC/100)",
            _c("ROC", timeperiod=n),
            _lin(0.01),
        )
    stoch = _c(
        "STOCH", fastk_period=14, slowk_period=3, slowk_matype=0, slowd_period=3, slowd_matype=0
    )
    b.add("stoch_k", g, "Slow stochastic %K (14, 3) scaled to [0, 1]", stoch, _lin(0.01, k=0))
    b.add("stoch_d", g, "Slow stochastic %D (3) scaled to [0, 1]", stoch, _lin(0.01, k=1))
    stochf = _c("STOCHF", fastk_period=5, fastd_period=3, fastd_matype=0)
    b.add("stochf_k", g, "Fast stochastic %K (5) scaled to [0, 1]", stochf, _lin(0.01, k=0))
    b.add("stochf_d", g, "Fast stochastic %D (3) scaled to [0, 1]", stochf, _lin(0.01, k=1))
    stochrsi = _c("STOCHRSI", timeperiod=14, fastk_period=5, fastd_period=3, fastd_matype=0)
    b.add(
        "stochrsi_k",
        g,
        "Stochastic of RSI(14), %K (5), scaled to [0, 1]",
        stochrsi,
        _lin(0.01, k=0),
    )
    b.add(
        "stochrsi_d",
        g,
        "Stochastic of RSI(14), %D (3), scaled to [0, 1]",
        stochrsi,
        _lin(0.01, k=1),
    )
    b.add(
        "ultosc",
        g,
        "Ultimate oscillator (7, 14, 28) scaled to [0, 1]",
        _c("ULTOSC", timeperiod1=7, timeperiod2=14, timeperiod3=28),
        _lin(0.01),
    )
    aroon = _c("AROON", timeperiod=14)
    b.add("aroon_down_14", g, "Aroon down (14) scaled to [0, 1]", aroon, _lin(0.01, k=0))
    b.add("aroon_up_14", g, "Aroon up (14) scaled to [0, 1]", aroon, _lin(0.01, k=1))
    b.add(
        "apo",
        g,
        "Absolute price oscillator, SMA(12) - SMA(26), divided by close",
        _c("APO", fastperiod=12, slowperiod=26, matype=0),
        _rel(),
    )
    b.add(
        "ppo",
        g,
        "Percentage price oscillator, SMA(12) vs SMA(26), as a fraction",
        _c("PPO", fastperiod=12, slowperiod=26, matype=0),
        _lin(0.01),
    )
    b.add("bop", g, "Balance of power (close-open)/(high-low), in [-1, 1]", _c("BOP"), _lin(1.0))
    for n in (15, 30):
        b.add(
            f"trix_{n}",
            g,
            f"TRIX({n}): 1-bar change of a triple EMA, as a fraction",
            _c("TRIX", timeperiod=n),
            _lin(0.01),
        )
    for n in (1, 3, 12, 24, 72):
        b.add(
            f"ret_log_{n}",
            g,
            f"Log return of close over {n} bars",
            None,
            _log_return(n),
            extra=n,
        )


def _volume(b: _Builder) -> None:
    g = "volume"
    obv = _c("OBV")
    b.add(
        "obv_flow_20",
        g,
        "OBV change over 20 bars / volume of those bars, in [-1, 1]",
        obv,
        _flow(20),
        extra=20,
    )
    b.add(
        "obv_z_20",
        g,
        "z-score (100 bars) of the 20-bar OBV change",
        obv,
        lambda o, c: _zscore(_diff(o[0], 20), 100),
        extra=20 + 99,
    )
    ad = _c("AD")
    for n in (20, 50):
        b.add(
            f"ad_flow_{n}",
            g,
            f"Chaikin money flow: A/D change over {n} bars / their volume, in [-1, 1]",
            ad,
            _flow(n),
            extra=n,
        )
    b.add(
        "ad_z_20",
        g,
        "z-score (100 bars) of the 20-bar A/D line change",
        ad,
        lambda o, c: _zscore(_diff(o[0], 20), 100),
        extra=20 + 99,
    )
    b.add(
        "adosc",
        g,
        "Chaikin A/D oscillator (3, 10) / mean volume of the last 10 bars",
        _c("ADOSC", fastperiod=3, slowperiod=10),
        lambda o, c: _div(o[0], c.volume_sum(10)) * 10.0,
    )
    b.add(
        "volume_ratio_20",
        g,
        "Volume / its SMA(20)",
        _c("SMA", ("volume",), timeperiod=20),
        lambda o, c: _div(c.series("volume"), o[0]),
    )
    b.add(
        "volume_z_50",
        g,
        "z-score (50 bars) of log(1 + volume / SMA(50) of volume)",
        _c("SMA", ("volume",), timeperiod=50),
        lambda o, c: _zscore(np.log1p(_div(c.series("volume"), o[0], 0.0)), 50),
        extra=49,
    )


def _volatility(b: _Builder) -> None:
    g = "volatility"
    for n in (7, 14, 28):
        b.add(
            f"atr_{n}",
            g,
            f"Average true range ({n}) divided by close",
            _c("ATR", timeperiod=n),
            _rel(),
        )
    for n in (5, 50):
        b.add(
            f"natr_{n}",
            g,
            f"Normalised ATR ({n}) as a fraction of close (NATR/100)",
            _c("NATR", timeperiod=n),
            _lin(0.01),
        )
    b.add(
        "atr_ratio_7_28",
        g,
        "Volatility regime: ATR(7) / ATR(28)",
        _c("ATR", timeperiod=28),
        lambda o, c: _div(
            talib.ATR(c.series("high"), c.series("low"), c.close, timeperiod=7), o[0]
        ),
    )
    b.add("trange", g, "True range of the bar divided by close", _c("TRANGE"), _rel())
    b.add("hl_range", g, "Bar range (high - low) / close", None, lambda o, c: c.series("hlrange"))
    b.add(
        "close_loc",
        g,
        "Close's place in the bar's range: 0 at low, 1 at high (0.5 if flat)",
        None,
        lambda o, c: _div(c.close - c.series("low"), c.series("high") - c.series("low"), 0.5),
    )
    b.add(
        "upper_wick",
        g,
        "Upper shadow (high - max(open, close)) / close",
        None,
        lambda o, c: (c.series("high") - np.maximum(c.series("open"), c.close)) / c.close,
    )
    b.add(
        "lower_wick",
        g,
        "Lower shadow (min(open, close) - low) / close",
        None,
        lambda o, c: (np.minimum(c.series("open"), c.close) - c.series("low")) / c.close,
    )
    b.add(
        "body",
        g,
        "Candle body (close - open) / close",
        None,
        lambda o, c: (c.close - c.series("open")) / c.close,
    )


def _cycle(b: _Builder) -> None:
    g = "cycle"
    b.add(
        "ht_dcperiod",
        g,
        "Hilbert dominant cycle period / 50 (TA-Lib clamps it to 6..50)",
        _c("HT_DCPERIOD"),
        _lin(1.0 / 50.0),
    )
    phasor = _c("HT_PHASOR")
    b.add("ht_inphase", g, "Hilbert phasor in-phase component divided by close", phasor, _rel(0))
    b.add(
        "ht_quadrature", g, "Hilbert phasor quadrature component divided by close", phasor, _rel(1)
    )
    # The cycle's phase, as sin and cos of the phasor's angle atan2(quadrature, in-phase).
    # TA-Lib's own HT_DCPHASE / HT_SINE / HT_TRENDMODE measure it by a DFT over the cycle at
    # ~2 ms per 6,000 bars each and are left out (see the module docstring).
    b.add(
        "ht_phase_sin",
        g,
        "sin of the Hilbert phasor's phase angle, in [-1, 1]",
        phasor,
        lambda o, c: _div(o[1], np.hypot(o[0], o[1]), 0.0),
    )
    b.add(
        "ht_phase_cos",
        g,
        "cos of the Hilbert phasor's phase angle, in [-1, 1]",
        phasor,
        lambda o, c: _div(o[0], np.hypot(o[0], o[1]), 1.0),
    )


def _pattern(b: _Builder) -> None:
    for func in _PATTERNS:
        name = "cdl_" + func[3:].lower()
        label = _abstract(func).info["display_name"]
        b.add(name, "pattern", f"{label}: +1 bullish, -1 bearish, 0 none", _c(func), _sign())


def _statistic(b: _Builder) -> None:
    g = "statistic"
    for n in (14, 50):
        b.add(
            f"linreg_slope_{n}",
            g,
            f"Slope of the {n}-bar close regression, per bar, / close",
            _c("LINEARREG_SLOPE", timeperiod=n),
            _rel(),
        )
        b.add(
            f"linreg_angle_{n}",
            g,
            f"Angle of the {n}-bar regression of 100*log(close) (% per bar), / 90 deg",
            _c("LINEARREG_ANGLE", ("logclose",), timeperiod=n),
            _lin(1.0 / 90.0),
        )
    b.add(
        "linreg_14_dist",
        g,
        "End of the 14-bar close regression line as LINEARREG/close - 1",
        _c("LINEARREG", timeperiod=14),
        _dist(),
    )
    b.add(
        "linreg_intercept_14_dist",
        g,
        "Start of the 14-bar close regression line as INTERCEPT/close - 1",
        _c("LINEARREG_INTERCEPT", timeperiod=14),
        _dist(),
    )
    b.add(
        "tsf_14_dist",
        g,
        "Time-series forecast (14) for the next bar as TSF/close - 1",
        _c("TSF", timeperiod=14),
        _dist(),
    )
    for n in (10, 20, 50):
        b.add(
            f"stddev_{n}",
            g,
            f"Standard deviation of close over {n} bars divided by close",
            _c("STDDEV", timeperiod=n, nbdev=1.0),
            _rel(),
        )
    for n in (20, 100):
        b.add(
            f"var_ret_{n}",
            g,
            f"Variance of 1-bar log returns over {n} bars, x 1e4",
            _c("VAR", ("logret",), timeperiod=n, nbdev=1.0),
            _lin(1e4),
            extra=1,
        )
    b.add(
        "correl_close_volume_20",
        g,
        "Correlation of close and volume over 20 bars",
        _c("CORREL", ("close", "volume"), timeperiod=20),
        _lin(1.0),
    )
    b.add(
        "correl_range_volume_20",
        g,
        "Correlation of bar range/close and volume over 20 bars",
        _c("CORREL", ("hlrange", "volume"), timeperiod=20),
        _lin(1.0),
    )
    b.add(
        "beta_high_low_20",
        g,
        "Beta of high's returns on low's returns over 20 bars",
        _c("BETA", ("high", "low"), timeperiod=20),
        _lin(1.0),
    )


def _build() -> tuple[_Feature, ...]:
    b = _Builder()
    for section in (_overlap, _momentum, _volume, _volatility, _cycle, _pattern, _statistic):
        section(b)
    return tuple(b.features)


class IndicatorBlock:
    """TA-Lib indicators of one pair's run, scale-free (see the module docstring)."""

    name = "indicators"

    def __init__(self) -> None:
        self._features = _build()
        self.specs: tuple[FeatureSpec, ...] = tuple(f.spec for f in self._features)
        # each distinct TA-Lib call runs once per run, however many features read it
        self._calls: tuple[_Call, ...] = tuple(
            dict.fromkeys(f.call for f in self._features if f.call is not None)
        )

    def compute(self, candles: Candles) -> np.ndarray:
        n = len(candles)
        # one contiguous row per feature, returned transposed: filling (n, F) column by
        # column would stride through memory and cost more than the indicators themselves
        out = np.full((len(self.specs), n), np.nan)
        if n == 0:
            return out.T
        ctx = _Ctx(candles)
        results = {call: call.run(ctx) for call in self._calls}
        with np.errstate(divide="ignore", invalid="ignore"):
            for j, feat in enumerate(self._features):
                outs = () if feat.call is None else results[feat.call]
                out[j] = feat.post(outs, ctx)
        return out.T
