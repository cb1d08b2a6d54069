"""Compute every feature over a panel: per pair per contiguous run, then across pairs.

``compute_features(panel)`` returns a :class:`Features` array ``(time, pair, feature)``
(float32: 100+ features × every candle is large, and models do not need more precision).
Each pair's history is split at its gaps; a pair block sees one run at a time and the
rows before each feature's warm-up are blanked, so after a gap every feature starts
afresh. Panel blocks (cross-sectional and market features) see the whole panel.
The work is vectorised per run (TA-Lib, numpy); pairs run in a small thread pool.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from tradewind.data.panel import Panel
from tradewind.domain.types import Timeframe
from tradewind.errors import ConfigError, DataError
from tradewind.features.base import GROUPS, Candles, FeatureSpec, PairBlock, PanelBlock

__all__ = [
    "Features",
    "check_history",
    "compute_features",
    "feature_signature",
    "runs",
]


@dataclass(frozen=True, slots=True)
class Features:
    """Feature values on a panel's grid: ``values[t, p, f]``, NaN where undefined."""

    specs: tuple[FeatureSpec, ...]
    timestamps: np.ndarray
    symbols: tuple[str, ...]
    values: np.ndarray  #: float32, (T, P, F)
    timeframe: str = "1h"  #: the grid's timeframe

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.specs)

    def column(self, name: str) -> np.ndarray:
        """The ``(T, P)`` values of one feature."""
        try:
            f = self.names.index(name)
        except ValueError:
            raise DataError(f"no feature {name!r} in this feature set") from None
        out: np.ndarray = self.values[:, :, f]
        return out

    def row_at(self, instants_ns: np.ndarray) -> np.ndarray:
        """The row of the last candle closed at each instant (-1 before the first): how a
        decision on another grid reads these features without looking ahead."""
        closes = self.timestamps + Timeframe.parse(self.timeframe).nanoseconds
        out: np.ndarray = np.searchsorted(closes, np.asarray(instants_ns), side="right") - 1
        return out.astype(np.int64)

    def rows(self, t: np.ndarray, p: np.ndarray, names: Sequence[str] | None = None) -> np.ndarray:
        """``(n, F)`` float64: the features of pair ``p[i]`` at row ``t[i]`` (in ``names``'
        order when given — a model's stored feature order)."""
        t = np.asarray(t)
        out: np.ndarray = self.values[np.maximum(t, 0), np.asarray(p)].astype(np.float64)
        out[t < 0] = np.nan  # no candle closed yet
        if names is None:
            return out
        where = {n: i for i, n in enumerate(self.names)}
        missing = [n for n in names if n not in where]
        if missing:
            raise DataError(f"features missing from this feature set: {', '.join(missing)}")
        picked: np.ndarray = out[:, [where[n] for n in names]]
        return picked


def runs(valid: np.ndarray) -> list[tuple[int, int]]:
    """``[start, end)`` of each run of True in a 1-D mask."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], valid.astype(np.int8), [0]))))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def _check_specs(specs: Sequence[FeatureSpec]) -> None:
    names = [s.name for s in specs]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"feature names must be unique: {', '.join(twice)}")
    bad = [s.name for s in specs if s.group not in GROUPS]
    if bad:
        raise ConfigError(f"features with an unknown group: {', '.join(bad)}")


def feature_signature(specs: Sequence[FeatureSpec]) -> str:
    """A hash of the feature set (names, order, groups, warm-ups): a model trained on one
    signature refuses features of another."""
    doc = json.dumps([[s.name, s.group, s.warmup] for s in specs])
    return hashlib.blake2b(doc.encode(), digest_size=8).hexdigest()


def check_history(specs: Sequence[FeatureSpec], available: int, timeframe: str) -> None:
    """DataError naming the hungriest feature when ``available`` candles cannot warm it up."""
    if not specs:
        return
    worst = max(specs, key=lambda s: s.warmup)
    if worst.warmup >= available:
        raise DataError(
            f"feature {worst.name!r} needs {worst.warmup} {timeframe} candles of history "
            f"before its first value, and the data has {available}: load a longer period "
            "or drop the longest-period features"
        )


def _field(panel: Panel, name: str) -> np.ndarray | None:
    return panel.field(name) if name in panel.fields else None


def _pair_values(
    panel: Panel,
    p: int,
    blocks: Sequence[PairBlock],
    out: np.ndarray,
) -> None:
    valid = panel.mask[:, p]
    cols = {
        name: (None if (a := _field(panel, name)) is None else a[:, p])
        for name in ("open", "high", "low", "close", "volume", "quote_volume", "bid", "ask")
    }
    for start, end in runs(valid):
        piece = {
            k: (None if v is None else np.ascontiguousarray(v[start:end])) for k, v in cols.items()
        }
        candles = Candles(
            open=piece["open"],  # type: ignore[arg-type]
            high=piece["high"],  # type: ignore[arg-type]
            low=piece["low"],  # type: ignore[arg-type]
            close=piece["close"],  # type: ignore[arg-type]
            volume=piece["volume"],  # type: ignore[arg-type]
            quote_volume=piece["quote_volume"],
            bid=piece["bid"],
            ask=piece["ask"],
        )
        col = 0
        n = end - start
        for block in blocks:
            k = len(block.specs)
            got = np.asarray(block.compute(candles), dtype=np.float64)
            if got.shape != (n, k):
                raise ValueError(
                    f"feature block {block.name!r} returned shape {got.shape}, expected {(n, k)}"
                )
            for j, spec in enumerate(block.specs):
                got[: min(spec.warmup, n), j] = np.nan
            got[~np.isfinite(got)] = np.nan
            out[start:end, p, col : col + k] = got
            col += k


def compute_features(
    panel: Panel,
    pair_blocks: Sequence[PairBlock] | None = None,
    panel_blocks: Sequence[PanelBlock] | None = None,
    *,
    threads: int = 2,
) -> Features:
    """Every feature of the blocks (default: :func:`default_blocks`) over ``panel``."""
    if pair_blocks is None or panel_blocks is None:
        from tradewind.features.registry import default_blocks

        default_pair, default_panel = default_blocks(panel.timeframe.name)
        pair_blocks = default_pair if pair_blocks is None else pair_blocks
        panel_blocks = default_panel if panel_blocks is None else panel_blocks
    pair_specs = [s for b in pair_blocks for s in b.specs]
    specs = tuple(pair_specs + [s for b in panel_blocks for s in b.specs])
    _check_specs(specs)
    n_t, n_p = panel.mask.shape
    values = np.full((n_t, n_p, len(specs)), np.nan, dtype=np.float32)
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        list(pool.map(lambda p: _pair_values(panel, p, pair_blocks, values), range(n_p)))
    col = len(pair_specs)
    for block in panel_blocks:
        k = len(block.specs)
        got = np.asarray(block.compute(panel), dtype=np.float64)
        if got.shape != (n_t, n_p, k):
            raise ValueError(
                f"feature block {block.name!r} returned shape {got.shape}, expected {(n_t, n_p, k)}"
            )
        for j, spec in enumerate(block.specs):
            got[: min(spec.warmup, n_t), :, j] = np.nan
        got[~np.isfinite(got)] = np.nan
        got[~panel.mask] = np.nan
        values[:, :, col : col + k] = got
        col += k
    return Features(specs, panel.timestamps, panel.symbols, values, panel.timeframe.name)
