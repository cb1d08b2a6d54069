"""Performance metrics of a backtest: pure functions of an equity curve and a trades table.

Conventions shared by every function here (no I/O, no clock, numpy/pandas only):

* **Equity** is a float ``pd.Series`` of account value in quote currency, indexed by a
  tz-aware, strictly increasing ``DatetimeIndex`` of regular bars; every value is finite
  and > 0 (a spot account without leverage cannot go to zero or below). Anything else
  raises :class:`~tradewind.errors.DataError`.
* **Returns** are per-bar simple returns ``e[t] / e[t-1] - 1``.
* **Calendar**: crypto trades 24/7, so there are no trading-day calendars. Sharpe and
  Sortino annualise with ``periods_per_year = 365.25 * 86400 / median bar spacing (s)``
  unless given; CAGR counts 365-day years of calendar time between first and last bar.
* **Fractions, not percent**: a return of 0.05 is +5 %, a drawdown of -0.23 is -23 %.
* **Trades**: only ``kind == "real"`` trades count for performance (win rate, profit
  factor, expectancy, exposure, fees); counts by kind and exit reason include all kinds.
* **nan means undefined** (not enough data: no trades, a single bar); **inf means
  unbounded** (profits and no losses). ``Metrics.to_dict`` maps both to ``None``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from tradewind.errors import DataError

__all__ = [
    "Drawdown",
    "Expectancy",
    "Metrics",
    "TRADE_KINDS",
    "annualised_sharpe",
    "annualised_sortino",
    "cagr",
    "calmar",
    "expectancy",
    "exposure",
    "fees_paid",
    "infer_periods_per_year",
    "max_drawdown",
    "profit_factor",
    "summarize",
    "total_return",
    "trade_counts",
    "win_rate",
]

#: The trade kinds of the design's vocabulary; only ``real`` counts for performance.
TRADE_KINDS: tuple[str, ...] = ("real", "sim", "tracked")
_SECONDS_PER_YEAR_AVG = 365.25 * 86400  # annualising per-bar statistics (24/7 market)
_SECONDS_PER_YEAR_CAGR = 365 * 86400  # CAGR's calendar year
_NOISE = 1e-12  # per-bar return statistics below this are float rounding, taken as 0
_FloatArray = npt.NDArray[np.float64]


def _values(equity: pd.Series) -> tuple[_FloatArray, pd.DatetimeIndex]:
    """Check the equity contract (see module doc); return its float64 values and index."""
    if not isinstance(equity, pd.Series):
        raise DataError(f"equity must be a pandas Series, got {type(equity).__name__}")
    if len(equity) == 0:
        raise DataError("equity is empty: metrics need at least one bar")
    index = equity.index
    if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
        raise DataError("equity must be indexed by tz-aware (UTC) timestamps")
    if not (index.is_monotonic_increasing and index.is_unique):
        raise DataError("equity index must be strictly increasing (sorted, no duplicates)")
    values = equity.to_numpy(dtype=np.float64, na_value=np.nan)
    if not (np.isfinite(values).all() and (values > 0).all()):
        raise DataError("equity values must be finite and > 0")
    return values, index


def _ns(times: pd.DatetimeIndex | pd.Series, what: str) -> npt.NDArray[np.int64]:
    """Timestamps as int64 nanoseconds since the epoch (NaT → int64 min)."""
    index = pd.DatetimeIndex(times)
    if len(index) and index.tz is None:
        raise DataError(f"{what} must be tz-aware (UTC) timestamps")
    return index.as_unit("ns").asi8


def _real(trades: pd.DataFrame, *columns: str) -> pd.DataFrame:
    """The ``real`` trades' ``columns``; a frame of no rows is "no trades", any columns."""
    if len(trades) == 0:
        return pd.DataFrame(columns=["kind", *columns])
    missing = [c for c in ("kind", *columns) if c not in trades.columns]
    if missing:
        raise DataError(f"trades table lacks column(s) {', '.join(missing)}")
    return trades.loc[trades["kind"] == "real", ["kind", *columns]]


def total_return(equity: pd.Series) -> float:
    """Total simple return ``last / first - 1`` as a fraction (0.0 for a single bar)."""
    values, _ = _values(equity)
    return float(values[-1] / values[0] - 1.0)


def cagr(equity: pd.Series) -> float:
    """Compound annual growth rate, a fraction per 365-day year.

    ``(last / first) ** (1 / years) - 1`` with ``years`` the calendar time from the first to
    the last timestamp over 365 days. nan when that time is zero (a single bar); +inf when
    the compounding overflows a float (a tiny span with a large gain).
    """
    values, index = _values(equity)
    seconds = (index[-1] - index[0]).total_seconds()
    if seconds <= 0:
        return math.nan
    exponent = math.log(values[-1] / values[0]) * _SECONDS_PER_YEAR_CAGR / seconds
    try:
        return math.expm1(exponent)
    except OverflowError:
        return math.inf


def infer_periods_per_year(index: pd.DatetimeIndex) -> float:
    """Bars per 24/7 year: ``365.25 * 86400 / median spacing in seconds``; nan if < 2 bars.

    The median, not the mean, so a few missing bars do not change the bar length.
    """
    if len(index) < 2:
        return math.nan
    spacing_s = float(np.median(np.diff(_ns(index, "equity index")))) / 1e9
    if spacing_s <= 0:
        raise DataError("equity index must be strictly increasing (sorted, no duplicates)")
    return _SECONDS_PER_YEAR_AVG / spacing_s


def _periods(index: pd.DatetimeIndex, periods_per_year: float | None) -> float:
    """The given periods per year after checking it, or the one inferred from ``index``."""
    if periods_per_year is None:
        return infer_periods_per_year(index)
    if not (math.isfinite(periods_per_year) and periods_per_year > 0):
        raise DataError(f"periods_per_year must be finite and > 0, got {periods_per_year!r}")
    return float(periods_per_year)


def _ratio(
    equity: pd.Series, periods_per_year: float | None, risk_free: float, *, downside: bool
) -> float:
    """The body of Sharpe (``downside=False``) and Sortino (``downside=True``).

    ``risk_free`` is an annual rate (fraction), turned into a per-bar rate by compounding:
    ``(1 + risk_free) ** (1 / periods_per_year) - 1``.
    """
    values, index = _values(equity)
    ppy = _periods(index, periods_per_year)
    if len(values) < 3:
        return math.nan
    excess = values[1:] / values[:-1] - 1.0 - math.expm1(math.log1p(risk_free) / ppy)
    mean = float(excess.mean())
    if downside:
        risk = math.sqrt(float(np.mean(np.minimum(excess, 0.0) ** 2)))
    else:
        risk = float(excess.std(ddof=1))
    if risk < _NOISE:  # rounding of a curve that does not vary, not a risk to divide by
        return 0.0 if abs(mean) < _NOISE else math.copysign(math.inf, mean)
    return mean / risk * math.sqrt(ppy)


def annualised_sharpe(
    equity: pd.Series, periods_per_year: float | None = None, risk_free: float = 0.0
) -> float:
    """Annualised Sharpe ratio: ``mean(excess) / std(excess, ddof=1) * sqrt(periods_per_year)``.

    Excess returns are per-bar simple returns minus the per-bar risk-free rate (annual
    ``risk_free``, 0 by default). nan with fewer than two returns (three bars are the
    minimum for a sample std); 0.0 when the returns do not vary and average zero (a flat
    curve: no risk and no reward), ±inf when they do not vary but average non-zero. A std
    or mean below 1e-12 per bar is float rounding and counts as zero.
    """
    return _ratio(equity, periods_per_year, risk_free, downside=False)


def annualised_sortino(
    equity: pd.Series, periods_per_year: float | None = None, risk_free: float = 0.0
) -> float:
    """Annualised Sortino ratio: ``mean(excess) / downside_dev * sqrt(periods_per_year)``.

    Downside deviation is taken against the target 0 of excess returns, over **all**
    periods: ``sqrt(mean(min(excess, 0) ** 2))`` — bars without a loss count as zeros, they
    are not dropped. nan with fewer than two returns (as for Sharpe); when there is no
    downside (below 1e-12): 0.0 if the mean excess is zero (a flat curve), +inf if positive.
    """
    return _ratio(equity, periods_per_year, risk_free, downside=True)


@dataclass(frozen=True, slots=True)
class Drawdown:
    """The deepest fall of the equity curve from a running high.

    ``depth`` is a fraction ≤ 0 (-0.23 = 23 % below the peak). ``peak_time`` is the last bar
    at the peak level before the trough (so a flat start does not stretch the duration),
    ``trough_time`` the first bar at the lowest point, ``recovery_time`` the first bar back
    at or above the peak, None if it never got back. ``duration`` runs from peak to recovery,
    or to the last bar if not recovered. A curve that never falls has depth 0.0, peak,
    trough and recovery all at the first bar and a zero duration.
    """

    depth: float
    peak_time: pd.Timestamp
    trough_time: pd.Timestamp
    recovery_time: pd.Timestamp | None
    duration: pd.Timedelta


def max_drawdown(equity: pd.Series) -> Drawdown:
    """The maximum drawdown and its timing (see :class:`Drawdown`)."""
    values, index = _values(equity)
    high = np.maximum.accumulate(values)
    dd = values / high - 1.0
    trough = int(np.argmin(dd))
    if dd[trough] >= 0.0:
        first = pd.Timestamp(index[0])
        return Drawdown(0.0, first, first, first, pd.Timedelta(0))
    peak_level = high[trough]
    peak = int(np.flatnonzero(values[: trough + 1] == peak_level)[-1])
    back = np.flatnonzero(values[trough:] >= peak_level)
    recovery = trough + int(back[0]) if len(back) else None
    end = index[recovery] if recovery is not None else index[-1]
    return Drawdown(
        depth=float(dd[trough]),
        peak_time=pd.Timestamp(index[peak]),
        trough_time=pd.Timestamp(index[trough]),
        recovery_time=None if recovery is None else pd.Timestamp(index[recovery]),
        duration=pd.Timedelta(end - index[peak]),
    )


def calmar(equity: pd.Series) -> float:
    """Calmar ratio ``CAGR / |max drawdown|`` over the whole curve (not a trailing 3 years).

    Without a drawdown: +inf if CAGR > 0, 0.0 if CAGR is 0, nan if CAGR is nan.
    """
    growth = cagr(equity)
    depth = max_drawdown(equity).depth
    if depth == 0.0:
        return math.inf if growth > 0 else (0.0 if growth == 0 else math.nan)
    return growth / abs(depth)


def win_rate(trades: pd.DataFrame) -> float:
    """Share of real trades with ``pnl > 0`` (break-even is not a win); nan with no trades."""
    pnl = _real(trades, "pnl")["pnl"].to_numpy(dtype=np.float64)
    return float((pnl > 0).mean()) if len(pnl) else math.nan


def profit_factor(trades: pd.DataFrame) -> float:
    """Gross profit over gross loss of real trades (both in quote currency, after fees).

    +inf when there are profits and no losses; nan with no trades or only break-even ones;
    0.0 with losses and no profits.
    """
    pnl = _real(trades, "pnl")["pnl"].to_numpy(dtype=np.float64)
    gain = float(pnl[pnl > 0].sum())
    loss = float(-pnl[pnl < 0].sum())
    if loss == 0.0:
        return math.inf if gain > 0 else math.nan
    return gain / loss


@dataclass(frozen=True, slots=True)
class Expectancy:
    """What a real trade is worth on average.

    ``pnl``: mean P/L per trade in quote currency, after fees. ``ret``: mean of
    ``pnl / cost`` per trade, a fraction of the capital committed (cost includes the entry
    fee). Both nan with no trades.
    """

    pnl: float
    ret: float


def expectancy(trades: pd.DataFrame) -> Expectancy:
    """Mean P/L and mean return per real trade (see :class:`Expectancy`)."""
    real = _real(trades, "pnl", "cost")
    if len(real) == 0:
        return Expectancy(math.nan, math.nan)
    pnl = real["pnl"].to_numpy(dtype=np.float64)
    cost = real["cost"].to_numpy(dtype=np.float64)
    if not (cost > 0).all():
        raise DataError("every real trade needs a cost > 0 to compute its return")
    return Expectancy(pnl=float(pnl.mean()), ret=float((pnl / cost).mean()))


def exposure(trades: pd.DataFrame, equity_index: pd.DatetimeIndex) -> float:
    """Share of bars (0..1) on which at least one real position is open.

    A trade is open on the bars whose timestamp ``t`` satisfies
    ``entry_time <= t < exit_time``; a missing ``exit_time`` (NaT) means still open at the
    end. Overlapping trades count once (the union of their bars, not the sum). Computed
    with ``searchsorted`` and a difference array, O((bars + trades) log bars); nan when the
    index is empty.
    """
    n = len(equity_index)
    if n == 0:
        return math.nan
    real = _real(trades, "entry_time", "exit_time")
    bars = _ns(equity_index, "equity index")
    entry = _ns(real["entry_time"], "entry_time")
    exit_ = _ns(real["exit_time"], "exit_time")
    if (entry == np.iinfo(np.int64).min).any():
        raise DataError("every real trade needs an entry_time")
    exit_ = np.where(exit_ == np.iinfo(np.int64).min, np.iinfo(np.int64).max, exit_)
    start = np.searchsorted(bars, entry, side="left")
    stop = np.maximum(np.searchsorted(bars, exit_, side="left"), start)
    diff = np.bincount(start, minlength=n + 1) - np.bincount(stop, minlength=n + 1)
    return float((np.cumsum(diff[:n]) > 0).mean())


def trade_counts(trades: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Counts by kind, then by exit reason: ``{"real": {"stop": 3, ...}, "sim": {}, ...}``.

    All kinds count here. The three design kinds are always present (possibly empty);
    other kinds appear as found. A missing exit reason is counted as ``"unknown"``. The
    number of trades of a kind is the sum of its inner values.
    """
    counts: dict[str, dict[str, int]] = {kind: {} for kind in TRADE_KINDS}
    if len(trades) == 0:
        return counts
    missing = [c for c in ("kind", "exit_reason") if c not in trades.columns]
    if missing:
        raise DataError(f"trades table lacks column(s) {', '.join(missing)}")
    reasons = trades["exit_reason"].fillna("unknown").astype(str)
    found = trades.groupby([trades["kind"].astype(str), reasons], sort=True).size()
    for (kind, reason), count in zip(found.index.tolist(), found.tolist(), strict=True):
        counts.setdefault(str(kind), {})[str(reason)] = int(count)
    return counts


def fees_paid(trades: pd.DataFrame) -> float:
    """Sum of fees of real trades, in quote currency (0.0 with no trades)."""
    return float(_real(trades, "fees")["fees"].to_numpy(dtype=np.float64).sum())


@dataclass(frozen=True, slots=True)
class Metrics:
    """Everything :func:`summarize` reports; each field follows its function's conventions.

    ``ambiguous_bars`` is passed through from the engine: bars on which a position touched
    both its stop and its target, resolved pessimistically. ``exit_reasons`` is
    :func:`trade_counts`; ``trades_*`` are its totals per kind.
    """

    start: pd.Timestamp
    end: pd.Timestamp
    bars: int
    periods_per_year: float
    initial_equity: float
    final_equity: float
    total_return: float
    cagr: float
    sharpe: float
    sortino: float
    calmar: float
    max_drawdown: float
    max_drawdown_peak: pd.Timestamp
    max_drawdown_trough: pd.Timestamp
    max_drawdown_recovery: pd.Timestamp | None
    max_drawdown_duration: pd.Timedelta
    trades_real: int
    trades_sim: int
    trades_tracked: int
    win_rate: float
    profit_factor: float
    expectancy: float
    expectancy_return: float
    fees_paid: float
    exposure: float
    ambiguous_bars: int
    exit_reasons: Mapping[str, Mapping[str, int]]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values under the field names.

        Timestamps become ISO 8601 strings (``2024-01-01T00:00:00+00:00``), the duration an
        ISO 8601 duration (``P3DT0H0M0S``), and every non-finite float (nan: undefined, inf:
        unbounded) becomes ``None``, since JSON has neither; ints and strings stay as they are.
        """
        out: dict[str, Any] = {}
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, pd.Timestamp | pd.Timedelta):
                value = value.isoformat()
            elif isinstance(value, float) and not math.isfinite(value):
                value = None
            elif isinstance(value, Mapping):
                value = {k: dict(v) for k, v in value.items()}
            out[field.name] = value
        return out


def summarize(
    equity: pd.Series,
    trades: pd.DataFrame,
    *,
    ambiguous_bars: int = 0,
    periods_per_year: float | None = None,
    risk_free: float = 0.0,
) -> Metrics:
    """All metrics of one backtest (see the module doc for the conventions)."""
    values, index = _values(equity)
    ppy = _periods(index, periods_per_year)
    dd = max_drawdown(equity)
    exp = expectancy(trades)
    counts = trade_counts(trades)
    return Metrics(
        start=pd.Timestamp(index[0]),
        end=pd.Timestamp(index[-1]),
        bars=len(values),
        periods_per_year=ppy,
        initial_equity=float(values[0]),
        final_equity=float(values[-1]),
        total_return=total_return(equity),
        cagr=cagr(equity),
        sharpe=annualised_sharpe(equity, periods_per_year, risk_free),
        sortino=annualised_sortino(equity, periods_per_year, risk_free),
        calmar=calmar(equity),
        max_drawdown=dd.depth,
        max_drawdown_peak=dd.peak_time,
        max_drawdown_trough=dd.trough_time,
        max_drawdown_recovery=dd.recovery_time,
        max_drawdown_duration=dd.duration,
        trades_real=sum(counts["real"].values()),
        trades_sim=sum(counts["sim"].values()),
        trades_tracked=sum(counts["tracked"].values()),
        win_rate=win_rate(trades),
        profit_factor=profit_factor(trades),
        expectancy=exp.pnl,
        expectancy_return=exp.ret,
        fees_paid=fees_paid(trades),
        exposure=exposure(trades, index),
        ambiguous_bars=int(ambiguous_bars),
        exit_reasons=counts,
    )
