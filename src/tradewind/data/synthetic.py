"""The embedded synthetic market: a reproducible, crypto-like candle set with a known truth.

Why a synthetic market: a fresh clone must run every command with no data and no keys, and
the research loop needs a market where the answer is known, one with a planted, learnable
signal and an honest null version (``signal=0``) that has the same feature distribution.
Only numpy is used. Every random draw comes from its own ``numpy.random.Generator``
(PCG64) seeded with ``SeedSequence(seed, spawn_key=...)``, so the same arguments give
bit-identical frames, and changing ``signal`` changes no random draw at all.

The model, per candle of length ``dt`` (in years, so every rate below is annualised and the
model is the same for any timeframe):

* **Regimes.** A continuous-time Markov chain over ``calm``, ``trending_up``,
  ``trending_down`` and ``volatile`` (mean spells 8, 5, 4 and 2.5 days, floored at 6 h, so
  regimes last days to weeks). Each sets the market factor's drift (+0.1, +3.0, -3.5,
  -0.5 per year, log) and volatility (30, 45, 60, 95 %), and scales idiosyncratic volatility
  (0.8, 1.0, 1.1, 1.5): in turbulent markets everything moves, and correlations rise.
  In the long run the market is calm about half the time, trending up 23 %, down 14 % and
  volatile 13 %. Regimes give strategies trends to ride and crashes to survive.
* **Market factor.** ``m = mu_regime dt + sigma_regime s(t) v_m(t) sqrt(dt) eps``: ``eps`` is
  Student-t with 4 degrees of freedom scaled to unit variance (fat tails), ``v_m`` is a
  log-normal stochastic volatility made of two AR(1) components (half-lives 2 days and
  1 hour) for volatility clustering, ``s`` the seasonality: volatility peaks at 15:00 UTC
  (US hours, +-30 %) and is 20 % lower on weekends. ``E[v^2] = E[s^2] = 1``, so the regime
  volatilities are the actual levels.
* **Pairs.** ``r_i = beta_i m + u_i``; the idiosyncratic part ``u_i`` has its own t shocks and
  stochastic volatility (half-life 12 h). Pair 0, ``SYNBTCUSDT``, is the market leader:
  beta 1, idiosyncratic volatility 12 %, start price 42 000 and the deepest book (about
  50 % annualised volatility). The others draw beta in [0.8, 1.6], idiosyncratic volatility
  around 65 % and start prices log-uniform in [0.01, 5000], which gives annualised
  volatilities of about 60-110 % and an average pairwise correlation of 5m returns of
  0.4-0.5, as among real altcoins.
* **Candles.** Prices are ``exp`` of cumulated log returns, so they stay positive and
  ``open`` is exactly the previous ``close`` (a continuous market). Inside each candle a
  Brownian bridge of 8 sub-steps from open to close, with the candle's instantaneous
  volatility, gives ``high``/``low``: its interior extremes, pushed out by the usual
  discrete-to-continuous correction, then ``max``/``min`` with open and close, so the
  invariants hold exactly. Ranges scale with volatility, the mean range is about twice the
  mean absolute return (as for a continuous path) and about 18 % of candles have their
  high (or low) at the open or close, as real ones often do.
* **Volume** follows volatility: ``(sigma / typical sigma)^0.9 x (0.5 + 0.5 |z| / E|z|)`` times
  log-normal noise (sd 0.35), on a per-pair depth from $1M to $300M a day (the leader
  $1.2B), so some pairs are thin. ``volume`` is in base units at the start price,
  ``quote_volume = volume x (high + low + close) / 3``, ``trades = quote volume at the start
  price / a per-pair average trade size`` (integers, at least 1). Volume does not see the
  planted drift, so it is the same with and without signal.
* **Planted events.** Each pair on each UTC day has a 4 % chance of an *accumulation*: over
  the last 4 hours of the day the pair's volatility compresses (down to 40-65 % of normal)
  while its volume rises (up to 1.8-3x), visible in the candles up to the last one of the
  day (``observed_at``). Then, with probability 0.75, a breakout follows: over the next
  24 h a front-loaded drift (decay time 8 h) of total log return ``signal x size`` with
  ``size`` log-normal (median 9 %), so ``signal=1`` gives an expected move of about +7 %
  and ``signal=0`` none. The pattern draws and the drift draws come from separate streams
  and the drift is added last, so the candles up to ``observed_at`` are identical for
  every ``signal`` (bit-identical up to the first drift; later only shifted in level by
  earlier drifts). Events need at least 4 candles in the pattern window (timeframes up to
  1h) and a full pattern and drift window inside the data; otherwise none are planted.

Symbols: ``SYNBTCUSDT`` (the leader), then ``SYN<TICKER>USDT`` from a fixed list of 29
invented tickers, then ``SYN030USDT``, ``SYN031USDT``... The ``SYN`` prefix makes a
synthetic candle impossible to mistake for a real one in any report.

Cost: pairs are generated one by one, each vectorised over time (loops run only over
pairs, regime spells, events and blocks of the AR(1) recursion), so the default market
(30 pairs x 240 days of 5m, 2.07 M candles) takes about a second and 300 MB.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from tradewind.data.store import CandleStore
from tradewind.domain.types import Timeframe, parse_utc
from tradewind.errors import ConfigError

__all__ = [
    "REGIMES",
    "PairStat",
    "SynthSummary",
    "SyntheticMarket",
    "generate_market",
    "pair_symbols",
    "random_walk_frames",
    "summarize",
    "write_market",
]

Floats = npt.NDArray[np.float64]

#: Market regimes, in the order of their integer codes.
REGIMES: tuple[str, ...] = ("calm", "trending_up", "trending_down", "volatile")
_REGIME_DRIFT = np.array([0.1, 3.0, -3.5, -0.5])  # market log drift per year
_REGIME_VOL = np.array([0.30, 0.45, 0.60, 0.95])  # market volatility per sqrt(year)
_REGIME_IDIO = np.array([0.8, 1.0, 1.1, 1.5])  # multiplier of idiosyncratic volatility
_REGIME_DAYS = np.array([8.0, 5.0, 4.0, 2.5])  # mean spell length
_MIN_SPELL_H = 6.0
#: Jump chain: where a spell goes when it ends (rows: from, columns: to).
_JUMP = np.array(
    [
        [0.00, 0.40, 0.30, 0.30],
        [0.50, 0.00, 0.10, 0.40],
        [0.40, 0.20, 0.00, 0.40],
        [0.50, 0.25, 0.25, 0.00],
    ]
)

_T_DF = 4.0  # Student-t degrees of freedom of every shock
_SV_MARKET = ((48.0, 0.35), (1.0, 0.25))  # (half-life hours, stationary sd) of log-vol parts
_SV_IDIO = (12.0, 0.30)
_SEASON_AMP, _SEASON_PEAK_H, _WEEKEND = 0.30, 15.0, 0.8
_SUBSTEPS = 8  # bridge steps per candle for high/low
_BRIDGE_SHIFT = 0.5826  # -zeta(1/2) / sqrt(2 pi): discrete-to-continuous extreme correction
_VOL_NOISE = 0.35  # sd of log volume noise
_VOL_ELASTICITY = 0.9

_LEADER = "SYNBTCUSDT"
_TICKERS = (
    "ARQ", "BLIX", "CORA", "DUNE", "EMBR", "FLUX", "GLOW", "HALO", "IRIS", "JADE",
    "KITE", "LUMA", "MOSS", "NOVA", "ORBI", "PYRE", "QUIL", "RUNE", "SILT", "TIDE",
    "UMBR", "VALE", "WISP", "XENO", "YARR", "ZEPH", "AXLE", "BRIO", "CYAN",
)  # fmt: skip

_EVENT_PROB = 0.04
_WINDOW_H = 4  # pattern: the last hours of the UTC day
_MIN_WINDOW_BARS = 4
_DEPTH = (0.35, 0.60)  # volatility compression at the end of the window
_BOOST = (0.8, 2.0)  # extra volume (x normal) at the end of the window
_FOLLOW_PROB = 0.75
_DRIFT_MEDIAN, _DRIFT_SD = 0.09, 0.30  # log-normal breakout size (log return at signal=1)
_DRIFT_H, _DRIFT_DECAY_H = 24, 8.0

_HOUR_NS = 3_600_000_000_000
_DAY_NS = 24 * _HOUR_NS
_YEAR_S = 365.0 * 86400.0

# Independent random streams: spawn_key=(stream, pair).
_S_REGIME, _S_MARKET, _S_PAIR, _S_PATTERN, _S_DRIFT = range(5)


def pair_symbols(pairs: int) -> list[str]:
    """The symbols of a market of ``pairs`` pairs; the first is the leader ``SYNBTCUSDT``."""
    names = [_LEADER, *(f"SYN{t}USDT" for t in _TICKERS)]
    return [names[i] if i < len(names) else f"SYN{i:03d}USDT" for i in range(pairs)]


@dataclass(frozen=True, slots=True, eq=False)
class SyntheticMarket:
    """A generated market: candle frames and the truth behind them.

    ``regimes`` is the market regime per candle open time (categorical, :data:`REGIMES`);
    ``events`` has one row per planted accumulation: ``pair``, ``observed_at`` (open time
    of the last candle showing the pattern), ``drift_start`` (first candle of the drift),
    ``drift`` (planted 24 h log return, 0 when ``signal=0`` or no breakout) and ``followed``
    (``drift > 0``); ``pair_params`` has each pair's beta, volatility, start price and depth.
    """

    frames: dict[str, pd.DataFrame]
    regimes: pd.Series
    events: pd.DataFrame
    pair_params: pd.DataFrame
    timeframe: str
    start: pd.Timestamp
    days: int
    seed: int
    signal: float


@dataclass(frozen=True, slots=True)
class PairStat:
    """Total return (``close_last / open_first - 1``) and annualised volatility of a pair."""

    pair: str
    total_return: float
    annual_volatility: float


@dataclass(frozen=True, slots=True)
class SynthSummary:
    """What :func:`write_market` wrote, for humans and JSON (:meth:`to_dict`)."""

    pairs: tuple[str, ...]
    timeframe: str
    first_candle: pd.Timestamp
    last_candle: pd.Timestamp
    rows: int
    regime_shares: dict[str, float]
    pair_stats: tuple[PairStat, ...]
    events: int
    seed: int
    signal: float
    days: int
    paths: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: ISO timestamps, plain floats and ints."""
        return {
            "pairs": list(self.pairs),
            "timeframe": self.timeframe,
            "first_candle": self.first_candle.isoformat(),
            "last_candle": self.last_candle.isoformat(),
            "rows": self.rows,
            "regime_shares": dict(self.regime_shares),
            "pair_stats": [
                {
                    "pair": s.pair,
                    "total_return": s.total_return,
                    "annual_volatility": s.annual_volatility,
                }
                for s in self.pair_stats
            ],
            "events": self.events,
            "seed": self.seed,
            "signal": self.signal,
            "days": self.days,
            "paths": list(self.paths),
        }


@dataclass(frozen=True, slots=True)
class _Grid:
    """The candle open times (ns since the epoch) and the bar length in years and hours."""

    ns: npt.NDArray[np.int64]
    tf: Timeframe
    dt: float
    hours: float


def _stream(seed: int, *key: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=key)))


def _std_t(rng: np.random.Generator, n: int) -> Floats:
    """Student-t shocks scaled to unit variance."""
    return rng.standard_t(_T_DF, n) / math.sqrt(_T_DF / (_T_DF - 2.0))


def _mean_abs_std_t() -> float:
    """E|z| of a unit-variance Student-t (to normalise volume's |return| term)."""
    nu = _T_DF
    e_abs = (
        2
        * math.sqrt(nu)
        * math.gamma((nu + 1) / 2)
        / (math.sqrt(math.pi) * (nu - 1) * math.gamma(nu / 2))
    )
    return e_abs / math.sqrt(nu / (nu - 2.0))


def _make_grid(timeframe: str, start: str | pd.Timestamp, days: int) -> _Grid:
    tf = Timeframe.parse(timeframe)
    if days < 1:
        raise ConfigError(f"synthetic market: days must be at least 1, got {days}")
    begin = parse_utc(start).as_unit("ns")
    begin_ns = int(begin.value)
    first = tf.ceil_ns(begin_ns)  # first candle on the grid
    n = (begin_ns + days * _DAY_NS - first) // tf.nanoseconds
    if n < 1:
        raise ConfigError(
            f"synthetic market: {days} day(s) from {begin.isoformat()} hold no whole "
            f"{tf} candle; use more days or a shorter timeframe"
        )
    ns = first + np.arange(n, dtype=np.int64) * tf.nanoseconds
    return _Grid(ns=ns, tf=tf, dt=tf.seconds / _YEAR_S, hours=tf.seconds / 3600.0)


def _seasonality(grid: _Grid) -> Floats:
    """Volatility multiplier by UTC hour and weekday, normalised to ``E[s^2] = 1``.

    A long candle averages the intraday cycle (sinc attenuation), and candles longer than
    a day see no weekend effect.
    """
    mid = grid.ns + grid.tf.nanoseconds // 2
    hour = (mid % _DAY_NS) / _HOUR_NS
    half = math.pi * grid.hours / 24.0
    amp = _SEASON_AMP * (math.sin(half) / half if half > 0 else 1.0)
    intraday = 1.0 + amp * np.cos(2.0 * np.pi * (hour - _SEASON_PEAK_H) / 24.0)
    weekend = _WEEKEND if grid.tf.seconds <= 86400 else 1.0
    dow = (mid // _DAY_NS + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    week = np.where(dow >= 5, weekend, 1.0)
    norm = math.sqrt((1.0 + amp * amp / 2.0) * (5.0 + 2.0 * weekend * weekend) / 7.0)
    return np.asarray(intraday * week / norm, dtype=np.float64)


def _stationary_regimes() -> Floats:
    """Long-run share of time in each regime (jump-chain stationary x mean spell)."""
    p = np.full(len(REGIMES), 1.0 / len(REGIMES))
    for _ in range(500):
        p = p @ _JUMP
    share = p * _REGIME_DAYS
    return np.asarray(share / share.sum(), dtype=np.float64)


def _regime_path(rng: np.random.Generator, grid: _Grid) -> npt.NDArray[np.int8]:
    """Regime code per candle; one loop step per regime spell, not per candle."""
    span_h = len(grid.ns) * grid.hours
    state = int(rng.choice(len(REGIMES), p=_stationary_regimes()))
    ends: list[float] = []
    states: list[int] = []
    t = 0.0
    while t < span_h:
        t += max(_MIN_SPELL_H, float(rng.exponential(_REGIME_DAYS[state] * 24.0)))
        ends.append(t)
        states.append(state)
        state = int(rng.choice(len(REGIMES), p=_JUMP[state]))
    open_h = np.arange(len(grid.ns)) * grid.hours
    idx = np.searchsorted(np.asarray(ends), open_h, side="right")
    return np.asarray(states, dtype=np.int8)[idx]


def _ar1(rng: np.random.Generator, n: int, half_life_bars: float, sd: float) -> Floats:
    """A stationary Gaussian AR(1) with the given half-life and sd, started in equilibrium.

    Vectorised by blocks through ``x_j = phi^j (phi x_prev + sum_s phi^-s e_s)``; a block is
    as long as ``phi^-j`` stays below 1e4, which keeps the rounding error near 1e-12.
    """
    phi = 0.5 ** (1.0 / half_life_bars)
    x0 = float(rng.standard_normal()) * sd
    e = rng.standard_normal(n) * (sd * math.sqrt(1.0 - phi * phi))
    block = min(n, max(1, int(math.log(1e4) / -math.log(phi))))
    powers = phi ** np.arange(block, dtype=np.float64)
    out = np.empty(n)
    prev = x0
    for a in range(0, n, block):
        seg = e[a : a + block]
        pw = powers[: len(seg)]
        out[a : a + len(seg)] = pw * (phi * prev + np.cumsum(seg / pw))
        prev = float(out[a + len(seg) - 1])
    return out


def _log_vol(
    rng: np.random.Generator, n: int, bar_h: float, parts: tuple[tuple[float, float], ...]
) -> Floats:
    """``exp`` of a sum of AR(1) log-vol parts, normalised to ``E[v^2] = 1``."""
    x = np.zeros(n)
    var = 0.0
    for half_life_h, sd in parts:
        x += _ar1(rng, n, half_life_h / bar_h, sd)
        var += sd * sd
    return np.asarray(np.exp(x - var), dtype=np.float64)


def _pair_params(rng: np.random.Generator, i: int) -> dict[str, float]:
    """Beta, idiosyncratic volatility, start price, daily quote volume and trade size."""
    beta = float(rng.uniform(0.8, 1.6))
    idio = float(np.clip(rng.lognormal(math.log(0.65), 0.3), 0.3, 1.3))
    price = float(10.0 ** rng.uniform(-2.0, math.log10(5000.0)))
    depth = float(10.0 ** rng.uniform(6.0, 8.5))
    trade = float(10.0 ** rng.uniform(2.0, 3.2))
    if i == 0:  # the leader: same draws consumed, fixed values
        beta, idio, price, depth, trade = 1.0, 0.12, 42_000.0, 1.2e9, 1500.0
    price = float(f"{price:.4g}")
    return {
        "beta": beta,
        "idio_vol": idio,
        "start_price": price,
        "daily_quote_volume": depth,
        "trade_size": trade,
    }


@dataclass(frozen=True, slots=True)
class _PairEvents:
    compress: Floats  # volatility multiplier (1 outside patterns)
    volume: Floats  # volume multiplier (1 outside patterns)
    drift: Floats  # extra log return per candle
    rows: list[tuple[int, int, float]]  # (last pattern bar, first drift bar, total drift)


def _pair_events(
    seed: int,
    i: int,
    grid: _Grid,
    signal: float,
    event_rate: float = _EVENT_PROB,
    regimes: npt.NDArray[np.int8] | None = None,
) -> _PairEvents:
    """Accumulation patterns and breakouts of pair ``i`` (see the module docstring)."""
    n = len(grid.ns)
    compress, volume, drift = np.ones(n), np.ones(n), np.zeros(n)
    rows: list[tuple[int, int, float]] = []
    first_day = int(grid.ns[0] // _DAY_NS)
    n_days = int((grid.ns[-1] + grid.tf.nanoseconds - 1) // _DAY_NS) - first_day + 1
    pat, brk = _stream(seed, _S_PATTERN, i), _stream(seed, _S_DRIFT, i)
    occurs = pat.random(n_days) < event_rate
    depth = pat.uniform(*_DEPTH, n_days)
    boost = pat.uniform(*_BOOST, n_days)
    follows = brk.random(n_days) < _FOLLOW_PROB
    size = brk.lognormal(math.log(_DRIFT_MEDIAN), _DRIFT_SD, n_days)
    per_hour = 3600 // grid.tf.seconds if grid.tf.seconds <= 3600 else 0
    n_win = _WINDOW_H * per_hour
    if n_win < _MIN_WINDOW_BARS:
        return _PairEvents(compress, volume, drift, rows)
    n_drift = _DRIFT_H * per_hour
    ramp = np.arange(1, n_win + 1) / n_win
    lag_h = np.arange(n_drift) * grid.hours
    weights = np.exp(-lag_h / _DRIFT_DECAY_H)
    weights /= weights.sum()
    for d in np.flatnonzero(occurs):
        midnight = (first_day + int(d) + 1) * _DAY_NS  # end of the pattern's day
        end = int((midnight - grid.ns[0]) // grid.tf.nanoseconds)  # first drift bar
        if end - n_win < 0 or end + n_drift > n:
            continue
        compress[end - n_win : end] = 1.0 - depth[d] * ramp
        volume[end - n_win : end] = 1.0 + boost[d] * ramp
        follow = bool(follows[d])
        if regimes is not None:
            # Regime-dependent: accumulations break out only in calm or rising markets.
            follow = follow and int(regimes[end - 1]) in (0, 1)
        total = float(signal * size[d]) if follow else 0.0
        drift[end : end + n_drift] += total * weights
        rows.append((end - 1, end, total))
    return _PairEvents(compress, volume, drift, rows)


def _pair_frame(
    rng: np.random.Generator,
    params: dict[str, float],
    grid: _Grid,
    market: dict[str, Floats],
    regimes: npt.NDArray[np.int8],
    events: _PairEvents,
) -> pd.DataFrame:
    """One pair's candles from the market factor, its own shocks and its events."""
    n, sq = len(grid.ns), math.sqrt(grid.dt)
    beta, p0 = params["beta"], params["start_price"]
    sv = _log_vol(rng, n, grid.hours, (_SV_IDIO,))
    sig_u = params["idio_vol"] * _REGIME_IDIO[regimes] * market["season"] * sv
    eps = _std_t(rng, n)
    sig_tot = np.sqrt((beta * market["sigma"]) ** 2 + sig_u**2)  # uncompressed, per year
    shock = beta * market["noise"] + sig_u * sq * eps
    r = beta * market["drift"] + shock * events.compress + events.drift
    # Brownian bridge from 0 to r in _SUBSTEPS steps: only its interior points are needed.
    # The extremes of a discrete path fall short of the continuous one's by about
    # 0.5826 sd of a step (Broadie-Glasserman); the interior extremes get that back.
    step_sd = events.compress * sig_tot * sq / math.sqrt(_SUBSTEPS)
    path = rng.standard_normal((n, _SUBSTEPS))
    path *= step_sd[:, None]
    np.cumsum(path, axis=1, out=path)
    frac = np.arange(1, _SUBSTEPS) / _SUBSTEPS
    inner = path[:, :-1] - frac * (path[:, -1:] - r[:, None])
    reach = _BRIDGE_SHIFT * step_sd
    close = p0 * np.exp(np.cumsum(r))
    open_ = np.concatenate(([p0], close[:-1]))
    high = np.maximum(np.maximum(open_, close), open_ * np.exp(inner.max(axis=1) + reach))
    low = np.minimum(np.minimum(open_, close), open_ * np.exp(inner.min(axis=1) - reach))
    # Volume follows volatility and the size of the move; the pattern multiplies it.
    ref = math.sqrt(beta**2 * float(np.mean(_REGIME_VOL**2)) + params["idio_vol"] ** 2)
    absz = np.abs(shock) / (sig_tot * sq) / _mean_abs_std_t()
    noise = rng.lognormal(-0.5 * _VOL_NOISE**2, _VOL_NOISE, n)
    per_bar = params["daily_quote_volume"] * grid.tf.seconds / 86400.0
    quote0 = per_bar * (sig_tot / ref) ** _VOL_ELASTICITY * (0.5 + 0.5 * absz) * noise
    quote0 *= events.volume
    volume = quote0 / p0
    trades = np.maximum(1.0, np.rint(quote0 / params["trade_size"]))
    return pd.DataFrame(
        {
            "timestamp": pd.to_datetime(grid.ns, unit="ns", utc=True),
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": volume,
            "quote_volume": volume * (high + low + close) / 3.0,
            "trades": trades,
        }
    )


def generate_market(
    pairs: int = 30,
    timeframe: str = "5m",
    start: str | pd.Timestamp = "2024-01-01",
    days: int = 240,
    seed: int = 42,
    signal: float = 0.0,
    event_rate: float = _EVENT_PROB,
    regime_dependent: bool = False,
) -> SyntheticMarket:
    """Generate the synthetic market (see the module docstring for the model).

    ``event_rate`` is the daily probability of an accumulation per pair (4 % by default);
    a higher one makes the planted signal common enough to test that a model finds it.
    ``regime_dependent`` lets an accumulation break out only in the calm and trending-up
    regimes, so the signal is there for a model that knows the regime.

    The first candle is the first one on the ``timeframe`` grid at or after ``start``; the
    market covers ``days`` days from ``start``. Raises :class:`ConfigError` on bad arguments.
    """
    if pairs < 1:
        raise ConfigError(f"synthetic market: pairs must be at least 1, got {pairs}")
    if seed < 0:
        raise ConfigError(f"synthetic market: seed must be non-negative, got {seed}")
    if not (math.isfinite(signal) and signal >= 0):
        raise ConfigError(f"synthetic market: signal must be a number >= 0, got {signal}")
    if not 0.0 <= event_rate <= 1.0:
        raise ConfigError(f"synthetic market: event_rate must be in [0, 1], got {event_rate}")
    grid = _make_grid(timeframe, start, days)
    n, sq = len(grid.ns), math.sqrt(grid.dt)
    regimes = _regime_path(_stream(seed, _S_REGIME), grid)
    rng_m = _stream(seed, _S_MARKET)
    season = _seasonality(grid)
    sigma_m = _REGIME_VOL[regimes] * season * _log_vol(rng_m, n, grid.hours, _SV_MARKET)
    market = {
        "season": season,
        "sigma": sigma_m,
        "noise": sigma_m * sq * _std_t(rng_m, n),
        "drift": _REGIME_DRIFT[regimes] * grid.dt,
    }
    symbols = pair_symbols(pairs)
    frames: dict[str, pd.DataFrame] = {}
    table: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for i, symbol in enumerate(symbols):
        rng = _stream(seed, _S_PAIR, i)
        params = _pair_params(rng, i)
        ev = _pair_events(seed, i, grid, signal, event_rate, regimes if regime_dependent else None)
        frames[symbol] = _pair_frame(rng, params, grid, market, regimes, ev)
        table.append({"pair": symbol, **params})
        events += [
            {"pair": symbol, "observed_at": grid.ns[a], "drift_start": grid.ns[b], "drift": d}
            for a, b, d in ev.rows
        ]
    stamps = pd.DatetimeIndex(pd.to_datetime(grid.ns, unit="ns", utc=True), name="timestamp")
    regime_series = pd.Series(
        pd.Categorical.from_codes(regimes, categories=pd.Index(list(REGIMES))),
        index=stamps,
        name="regime",
    )
    return SyntheticMarket(
        frames=frames,
        regimes=regime_series,
        events=_event_table(events),
        pair_params=pd.DataFrame(table),
        timeframe=grid.tf.name,
        start=pd.Timestamp(grid.ns[0], unit="ns", tz="UTC"),
        days=days,
        seed=seed,
        signal=float(signal),
    )


def _event_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The planted events, sorted by time then pair (typed even when empty)."""
    df = pd.DataFrame(
        {
            "pair": pd.Series([r["pair"] for r in rows], dtype="str"),
            "observed_at": pd.to_datetime(
                np.asarray([r["observed_at"] for r in rows], dtype=np.int64), unit="ns", utc=True
            ),
            "drift_start": pd.to_datetime(
                np.asarray([r["drift_start"] for r in rows], dtype=np.int64), unit="ns", utc=True
            ),
            "drift": np.asarray([r["drift"] for r in rows], dtype=np.float64),
        }
    )
    df["followed"] = df["drift"] > 0
    return df.sort_values(["observed_at", "pair"], kind="stable").reset_index(drop=True)


def summarize(market: SyntheticMarket, paths: tuple[str, ...] = ()) -> SynthSummary:
    """Rows, span, regime shares and per-pair return and annualised volatility."""
    tf = Timeframe.parse(market.timeframe)
    per_year = math.sqrt(_YEAR_S / tf.seconds)
    stats = []
    for symbol, df in market.frames.items():
        o0 = float(df["open"].iloc[0])
        logp = np.log(np.concatenate(([o0], df["close"].to_numpy())))
        vol = float(np.std(np.diff(logp), ddof=1) * per_year) if len(df) > 1 else 0.0
        stats.append(PairStat(symbol, float(df["close"].iloc[-1]) / o0 - 1.0, vol))
    counts = market.regimes.value_counts(normalize=True, sort=False)
    first = next(iter(market.frames.values()))["timestamp"]
    return SynthSummary(
        pairs=tuple(market.frames),
        timeframe=market.timeframe,
        first_candle=first.iloc[0],
        last_candle=first.iloc[-1],
        rows=sum(len(df) for df in market.frames.values()),
        regime_shares={str(k): float(v) for k, v in counts.items()},
        pair_stats=tuple(stats),
        events=len(market.events),
        seed=market.seed,
        signal=market.signal,
        days=market.days,
        paths=paths,
    )


def write_market(market: SyntheticMarket, store: CandleStore) -> SynthSummary:
    """Write every pair through ``store.write`` (validated, atomic); return the summary.

    Files of pairs that are not in ``market`` are left alone.
    """
    paths = tuple(
        str(store.write(symbol, market.timeframe, df)) for symbol, df in market.frames.items()
    )
    return summarize(market, paths)


def random_walk_frames(
    pairs: int = 10,
    timeframe: str = "15m",
    start: str | pd.Timestamp = "2024-01-01",
    days: int = 120,
    seed: int = 0,
    volatility: float = 0.6,
) -> dict[str, pd.DataFrame]:
    """The null market: i.i.d. Gaussian log returns at a constant annualised
    ``volatility``, i.i.d. log-normal volume — nothing in it is predictable, not even
    volatility. A model that finds an edge here has a leak (the ML honesty tests)."""
    if pairs < 1 or days < 1 or not volatility > 0:
        raise ConfigError("random walk: pairs and days must be >= 1 and volatility > 0")
    grid = _make_grid(timeframe, start, days)
    n = len(grid.ns)
    sub = 8
    sigma = volatility * math.sqrt(grid.dt / sub)
    rng = np.random.default_rng(seed)
    stamps = pd.Series(grid.ns.view("datetime64[ns]")).dt.tz_localize("UTC")
    frames: dict[str, pd.DataFrame] = {}
    for i in range(pairs):
        steps = rng.normal(0.0, sigma, (n, sub))
        path = np.cumsum(steps.ravel()).reshape(n, sub)
        start_price = float(np.exp(rng.uniform(math.log(0.01), math.log(5000))))
        close = start_price * np.exp(path[:, -1])
        open_ = np.concatenate(([start_price], close[:-1]))
        inner = start_price * np.exp(path)
        high = np.maximum(np.maximum(open_, close), inner.max(axis=1))
        low = np.minimum(np.minimum(open_, close), inner.min(axis=1))
        volume = rng.lognormal(10.0, 0.5, n) / start_price
        frames[f"RW{i:03d}USDT"] = pd.DataFrame(
            {
                "timestamp": stamps.astype("datetime64[ns, UTC]"),
                "open": open_,
                "high": high,
                "low": low,
                "close": close,
                "volume": volume,
            }
        )
    return frames
