"""The whole default feature set: causal, restarted after gaps, cached by content."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import make_candles
from tradewind.data.panel import DEFAULT_FIELDS, Panel
from tradewind.domain.types import Timeframe
from tradewind.errors import DataError
from tradewind.features.cache import cached_features
from tradewind.features.compute import check_history, compute_features
from tradewind.features.registry import all_specs

HOUR = 3_600_000_000_000


def _panel(rows: int = 900, pairs: int = 4, seed: int = 0) -> Panel:
    values = np.full((rows, pairs, 5), np.nan)
    mask = np.ones((rows, pairs), bool)
    for p in range(pairs):
        f = make_candles(rows, 3600, seed=seed + p, price=[42_000.0, 3.0, 0.02, 150.0][p % 4])
        values[:, p] = f[list(DEFAULT_FIELDS)].to_numpy()
    mask[300:340, 1] = False  # a gap
    if pairs > 2:
        mask[:120, 2] = False  # listed late
    values[~mask] = np.nan
    stamps = 1_704_067_200_000_000_000 + HOUR * np.arange(rows, dtype=np.int64)
    names = ("BTCUSDT", "AAAUSDT", "BBBUSDT", "CCCUSDT")[:pairs]
    return Panel(Timeframe.parse("1h"), stamps, names, DEFAULT_FIELDS, values, mask)


def _head(panel: Panel, k: int) -> Panel:
    return Panel(
        panel.timeframe,
        panel.timestamps[:k],
        panel.symbols,
        panel.fields,
        panel.values[:k],
        panel.mask[:k],
    )


@pytest.fixture(scope="module")
def full() -> tuple[Panel, np.ndarray]:
    panel = _panel()
    return panel, compute_features(panel).values


def test_the_default_set_has_over_a_hundred_scale_free_features() -> None:
    specs = all_specs()
    assert len(specs) >= 100
    assert len({s.name for s in specs}) == len(specs)
    assert all(s.description for s in specs)


@pytest.mark.parametrize("k", [150, 333, 640, 899])
def test_every_feature_is_causal(full: tuple[Panel, np.ndarray], k: int) -> None:
    panel, values = full
    head = compute_features(_head(panel, k)).values
    a, b = head, values[:k]
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    if not same.all():
        t, p, f = np.argwhere(~same)[0]
        name = all_specs()[f].name
        pytest.fail(f"feature {name} at row {t}, pair {p} changes when rows >= {k} are added")


def test_warm_up_restarts_after_a_gap(full: tuple[Panel, np.ndarray]) -> None:
    panel, values = full
    specs = all_specs()
    pair_specs = [i for i, s in enumerate(specs) if s.group not in ("context",)]
    for i in pair_specs[:60]:
        w = specs[i].warmup
        if w <= 1 or 340 + w >= len(panel.timestamps):
            continue
        col = values[:, 1, i]
        if specs[i].group == "liquidity" and np.isnan(col[340 + w :]).all():
            continue
        assert np.isnan(col[340 : 340 + min(w, 5)]).all(), specs[i].name  # restarted
        assert np.isnan(values[120 : 120 + min(w, 5), 2, i]).all(), specs[i].name  # late listing


def test_too_short_history_is_explained() -> None:
    specs = all_specs()
    with pytest.raises(DataError, match="candles of history"):
        check_history(specs, 10, "1h")


def test_features_are_cached_by_candles_and_feature_set(tmp_path: Path) -> None:
    panel = _panel(400, 2, seed=5)
    first = cached_features(panel, tmp_path)
    files = list(tmp_path.glob("*.npz"))
    assert len(files) == 1
    again = cached_features(panel, tmp_path)
    np.testing.assert_array_equal(again.values, first.values)
    assert list(tmp_path.glob("*.npz")) == files  # served, not recomputed
    other = _panel(400, 2, seed=6)
    cached_features(other, tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) == 2
