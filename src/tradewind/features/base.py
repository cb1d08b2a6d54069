"""The feature framework: what a feature is, and the blocks that compute them.

A feature is a number per (time, pair) that uses only candles up to that time. Two kinds
of blocks compute them:

* a :class:`PairBlock` sees ONE pair's candles, one contiguous run at a time (the driver
  splits a pair's history at every gap, so after a gap each feature's warm-up starts again);
* a :class:`PanelBlock` sees the whole panel at once, for what looks across pairs
  (ranks, breadth, the market's trend).

Every feature declares its warm-up: how many candles of the run it needs before its value
means what it says. The driver blanks (NaN) the rows before it, so a model never sees a
half-formed indicator, and the warm-up check at start-up explains data that is too short.
Features are made scale-free (ratios to price, z-scores, ranks) so that one model can
serve pairs priced at 0.0001 and at 60,000.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from tradewind.data.panel import Panel

__all__ = ["GROUPS", "Candles", "FeatureSpec", "PairBlock", "PanelBlock"]

#: Feature groups, in the order of the generated table in docs/models.md.
GROUPS = (
    "overlap",
    "momentum",
    "volume",
    "volatility",
    "cycle",
    "pattern",
    "statistic",
    "spread",
    "liquidity",
    "context",
)


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    """One feature column."""

    name: str  #: unique, snake_case, e.g. ``rsi_14``
    group: str  #: one of :data:`GROUPS`
    warmup: int  #: candles of the pair's current run needed before the value is defined
    description: str  #: one line for the docs table: what it measures and how it is scaled


@dataclass(frozen=True, slots=True)
class Candles:
    """One pair's contiguous run of candles (no gaps, no NaN): float64 1-D arrays of one
    length. Optional columns are None when the store does not have them."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    quote_volume: np.ndarray | None = None
    bid: np.ndarray | None = None
    ask: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.close)


class PairBlock(Protocol):
    """Features of one pair from its own candles."""

    name: str
    specs: tuple[FeatureSpec, ...]

    def compute(self, candles: Candles) -> np.ndarray:
        """``(len(candles), len(specs))`` float64; row ``i`` may read rows ``<= i`` only.

        Rows before a spec's warm-up may hold anything: the driver blanks them.
        """
        ...


class PanelBlock(Protocol):
    """Features that compare pairs at each time (cross-sectional) or read the market."""

    name: str
    specs: tuple[FeatureSpec, ...]

    def compute(self, panel: Panel) -> np.ndarray:
        """``(T, P, len(specs))`` float64, NaN where undefined (a pair without a candle at
        ``t``); row ``t`` may read rows ``<= t`` only. Warm-ups are counted on the panel's
        grid from its first row and blanked by the driver."""
        ...
