"""Nominators: once a day the cycle trader asks which pairs to put into pre-trade.

A nominator looks at a :class:`~tradewind.data.panel.Panel` at grid row ``t`` — the
decision is taken at the close of bar ``t`` (23:55 UTC by default) — and returns pair
indices, best first. It may read only rows ``<= t``; the tests check this by truncating
the panel and by filling the future with garbage. Pairs without a candle at ``t``, or
with less history than the rule needs, are never nominated.

Two rules ship here, before the ML predictor exists:

* :class:`MomentumNominator`, a transparent prior: recent winners among liquid pairs.
* :class:`RandomNominator`, the null model every other nominator must beat.
"""

from __future__ import annotations

import difflib
import inspect
import math
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from tradewind.data.panel import Panel
from tradewind.domain.types import Timeframe, duration_bars
from tradewind.errors import ConfigError
from tradewind.strategies.universe import quote_turnover

__all__ = [
    "NOMINATORS",
    "FixedNominations",
    "MomentumNominator",
    "Nominator",
    "RandomNominator",
    "duration_bars",
    "make_nominator",
    "uses_rng",
]

_EMPTY = np.empty(0, dtype=np.int64)


@runtime_checkable
class Nominator(Protocol):
    """What the cycle trader needs from anything that picks pairs."""

    @property
    def name(self) -> str:
        """Short registry name, e.g. ``"momentum"`` (used in logs and results)."""
        ...

    def nominate(self, panel: Panel, t: int, rng: np.random.Generator) -> np.ndarray:
        """Pair indices (int64, best first, no duplicates) to nominate at the close of row ``t``.

        Reads only rows ``<= t``. ``rng`` is the only source of randomness allowed, so a
        run is reproducible from its seed.
        """
        ...

    def warmup_bars(self, timeframe: Timeframe | str) -> int:
        """Bars of history needed before ``t``: nothing is nominated while ``t < warmup``."""
        ...


def uses_rng(nominator: Nominator) -> bool:
    """Whether the nominator draws from the run's ``rng`` (then its answers differ per
    seed and cannot be computed once for many runs). Nominators say so with a
    ``uses_rng = True`` attribute; those without one are taken not to."""
    return bool(getattr(nominator, "uses_rng", False))


@dataclass(frozen=True)
class FixedNominations:
    """Another nominator's answers at the decision rows, computed once.

    Many runs over the same candles with a nominator that draws no random numbers see the
    same nominations on the same day; only the trader's own luck (the choice of K among
    them) differs. Monte Carlo studies compute them once with :meth:`of` and hand this to
    every run, which is exactly the same as asking the nominator each time."""

    name: str
    rows: dict[int, np.ndarray]
    warmup: int

    @classmethod
    def of(cls, nominator: Nominator, panel: Panel, rows: np.ndarray) -> FixedNominations:
        if uses_rng(nominator):
            raise ConfigError(
                f"the {nominator.name} nominator draws random numbers: its nominations "
                "differ per run and cannot be computed once"
            )
        rng = np.random.default_rng(0)  # never drawn from (see uses_rng)
        answers = {int(t): nominator.nominate(panel, int(t), rng) for t in rows}
        return cls(nominator.name, answers, nominator.warmup_bars(panel.timeframe))

    def nominate(self, panel: Panel, t: int, rng: np.random.Generator) -> np.ndarray:
        try:
            return self.rows[int(t)]
        except KeyError:
            raise IndexError(f"no precomputed nominations at row {t}") from None

    def warmup_bars(self, timeframe: Timeframe | str) -> int:
        return self.warmup


def _check_t(panel: Panel, t: int) -> int:
    n_rows = int(panel.values.shape[0])
    if isinstance(t, bool) or not isinstance(t, int | np.integer) or not 0 <= t < n_rows:
        # A negative t would wrap around to the end of the panel: look-ahead by accident.
        raise IndexError(f"row t={t!r} is outside the panel's {n_rows} rows")
    return int(t)


def _check_top_n(top_n: int) -> None:
    if isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1:
        raise ConfigError(f"top_n = {top_n!r} must be a whole number >= 1")


@dataclass(frozen=True, slots=True)
class MomentumNominator:
    """Rank liquid pairs by their return over ``lookback``; keep the best ``top_n``.

    Why this rule: the cycle trader buys only on a breakout within 24 hours of the
    nomination, so the prior that matters is "which pairs are already moving, and can
    be traded". Short-horizon time-series momentum is the simplest, best-documented
    effect in crypto, and a liquidity floor keeps thin pairs (whose "momentum" is often
    one print, and whose spread eats the edge) out. The rule has four knobs, needs no
    fitting, and is easy to audit — a fair baseline for the ML predictor to beat.

    At row ``t``, pair ``p`` is eligible when

    * it has a candle at ``t`` and at ``t - lookback`` (so new listings wait out the
      lookback),
    * its return ``close[t] / close[t - lookback] - 1`` exceeds ``min_return``, and
    * its quote volume summed over the ``volume_lookback`` bars ending at ``t`` (the
      ``quote_volume`` field where the panel has it, else ``close * volume``) is at or
      above the median of all pairs with a candle at ``t``.

    Eligible pairs are ranked by return, highest first (ties by pair index).
    """

    lookback: str = "24h"
    volume_lookback: str = "7d"
    top_n: int = 10
    min_return: float = 0.0
    name: str = field(default="momentum", init=False)

    def __post_init__(self) -> None:
        duration_bars(self.lookback, "1m", "lookback")  # validates eagerly
        duration_bars(self.volume_lookback, "1m", "volume_lookback")
        _check_top_n(self.top_n)
        if (
            isinstance(self.min_return, bool)
            or not isinstance(self.min_return, int | float)
            or not math.isfinite(self.min_return)
        ):
            raise ConfigError(f"min_return = {self.min_return!r} must be a finite number")

    def _bars(self, timeframe: Timeframe | str) -> tuple[int, int]:
        return (
            duration_bars(self.lookback, timeframe, "lookback"),
            duration_bars(self.volume_lookback, timeframe, "volume_lookback"),
        )

    def warmup_bars(self, timeframe: Timeframe | str) -> int:
        """``max(lookback, volume_lookback - 1)`` in bars: both windows end at ``t``."""
        ret_bars, vol_bars = self._bars(timeframe)
        return max(ret_bars, vol_bars - 1)

    def nominate(self, panel: Panel, t: int, rng: np.random.Generator) -> np.ndarray:
        """Up to ``top_n`` pair indices, strongest return first (``rng`` is unused)."""
        t = _check_t(panel, t)
        ret_bars, vol_bars = self._bars(panel.timeframe)
        if t < max(ret_bars, vol_bars - 1):
            return _EMPTY.copy()
        close = panel.field("close")
        now, past = close[t], close[t - ret_bars]
        universe = panel.mask[t] & np.isfinite(now)
        if not universe.any():
            return _EMPTY.copy()

        liquidity = quote_turnover(panel, t, vol_bars)
        floor = np.median(liquidity[universe])

        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            returns = now / past - 1.0
        eligible = (
            universe
            & panel.mask[t - ret_bars]
            & np.isfinite(returns)
            & (returns > self.min_return)
            & (liquidity >= floor)
        )
        chosen = np.flatnonzero(eligible)
        order = np.argsort(-returns[chosen], kind="stable")
        return chosen[order][: self.top_n].astype(np.int64)


@dataclass(frozen=True, slots=True)
class RandomNominator:
    """A uniformly random ranking of the pairs that have a candle at ``t``.

    Why: the seed trader picks a random subset of its nominations, so part of any
    result is luck. This null model measures that luck — Monte Carlo runs and
    ensembles compare a real nominator against it, and a nominator that does not beat
    it has no edge. It needs no history and draws only from the ``rng`` it is given.
    """

    top_n: int = 10
    name: str = field(default="random", init=False)
    uses_rng: bool = field(default=True, init=False)

    def __post_init__(self) -> None:
        _check_top_n(self.top_n)

    def warmup_bars(self, timeframe: Timeframe | str) -> int:
        """No history needed (the timeframe is still validated)."""
        Timeframe.parse(timeframe)
        return 0

    def nominate(self, panel: Panel, t: int, rng: np.random.Generator) -> np.ndarray:
        """Up to ``top_n`` distinct pairs with a candle at ``t``, in random order."""
        t = _check_t(panel, t)
        present = np.flatnonzero(panel.mask[t])
        return rng.permutation(present)[: self.top_n].astype(np.int64)


#: Registry of nominators by name, as used in configuration files.
NOMINATORS: dict[str, type[MomentumNominator] | type[RandomNominator]] = {
    "momentum": MomentumNominator,
    "random": RandomNominator,
}


def _did_you_mean(word: str, allowed: list[str]) -> str:
    close = difflib.get_close_matches(word, allowed, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"{hint}(allowed: {', '.join(allowed)})"


def make_nominator(name: str, /, **params: Any) -> Nominator:
    """Build a nominator from its registry name and parameters, as written in a config.

    Unknown names and parameters raise :class:`ConfigError` with the closest allowed
    spelling, so a typo in a TOML file is reported rather than silently defaulted.
    """
    key = str(name).strip().lower()
    cls = NOMINATORS.get(key)
    if cls is None:
        raise ConfigError(f"unknown nominator {name!r}: {_did_you_mean(key, sorted(NOMINATORS))}")
    allowed = list(inspect.signature(cls).parameters)
    for param in params:
        if param not in allowed:
            raise ConfigError(
                f"unknown parameter {param!r} for nominator {key!r}: "
                f"{_did_you_mean(param, allowed)}"
            )
    return cls(**params)
