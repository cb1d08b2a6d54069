"""IndicatorBlock: enough features, finite after warm-up, scale-free, causal, honest warm-ups."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from tests.conftest import make_candles
from tradewind.features.base import GROUPS, Candles
from tradewind.features.indicators import (
    SEED_WEIGHT,
    IndicatorBlock,
    _convergence,
    settle_bars,
)

FIELDS = ("open", "high", "low", "close", "volume")


@pytest.fixture(scope="module")
def block() -> IndicatorBlock:
    return IndicatorBlock()


def _arrays(n: int, seed: int = 0, price: float = 100.0) -> dict[str, np.ndarray]:
    frame = make_candles(n, seed=seed, price=price)
    return {k: np.array(frame[k].to_numpy(np.float64), copy=True) for k in FIELDS}


def _candles(arrays: dict[str, np.ndarray], start: int = 0, end: int | None = None) -> Candles:
    return Candles(**{k: np.ascontiguousarray(v[start:end]) for k, v in arrays.items()})


def _warmups(block: IndicatorBlock) -> np.ndarray:
    return np.array([s.warmup for s in block.specs])


def _after_warmup(block: IndicatorBlock, n: int) -> np.ndarray:
    """``(n, F)`` True where a row is at or after its feature's warm-up."""
    return np.arange(n)[:, None] >= _warmups(block)[None, :]


def test_specs_are_many_unique_snake_case_and_grouped(block: IndicatorBlock) -> None:
    specs = block.specs
    assert len(specs) >= 100
    names = [s.name for s in specs]
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", n) for n in names)
    assert {s.group for s in specs} <= set(GROUPS)
    # every TA-Lib group this block promises is present
    assert {s.group for s in specs} == {
        "overlap",
        "momentum",
        "volume",
        "volatility",
        "cycle",
        "pattern",
        "statistic",
    }
    assert all(s.description and "\n" not in s.description for s in specs)
    assert all(s.warmup >= 0 for s in specs)
    assert block.name == "indicators"


def test_shape_and_short_runs(block: IndicatorBlock) -> None:
    arrays = _arrays(300)
    for n in (0, 1, 5, 40, 300):
        got = block.compute(_candles(arrays, 0, n))
        assert got.shape == (n, len(block.specs))
        assert got.dtype == np.float64


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_feature_is_finite_after_its_warmup(block: IndicatorBlock, seed: int) -> None:
    n = 1500
    assert _warmups(block).max() < n - 200
    got = block.compute(_candles(_arrays(n, seed=seed)))
    bad = ~np.isfinite(got) & _after_warmup(block, n)
    assert not bad.any(), [block.specs[j].name for j in np.flatnonzero(bad.any(axis=0))]


def test_patterns_are_minus_one_zero_or_one(block: IndicatorBlock) -> None:
    got = block.compute(_candles(_arrays(1500, seed=3)))
    cols = [j for j, s in enumerate(block.specs) if s.group == "pattern"]
    assert len(cols) >= 20
    values = got[:, cols]
    assert set(np.unique(values[np.isfinite(values)])) <= {-1.0, 0.0, 1.0}


@pytest.mark.parametrize(
    ("price_factor", "volume_factor"),
    [(1000.0, 1e-3), (1000.0, 7.0), (1e-6, 1e4), (0.37, 1.0)],
)
def test_features_are_scale_free(
    block: IndicatorBlock, price_factor: float, volume_factor: float
) -> None:
    """Rescaling prices (down to a 1e-4 price: TA-Lib's zero-variance cut-off must not bite)
    or volumes changes no feature."""
    n = 1500
    arrays = _arrays(n, seed=4)
    scaled = {k: v * (volume_factor if k == "volume" else price_factor) for k, v in arrays.items()}
    base = block.compute(_candles(arrays))
    other = block.compute(_candles(scaled))
    same = np.isclose(base, other, rtol=1e-6, atol=1e-9, equal_nan=True)
    bad = ~same & _after_warmup(block, n)
    assert not bad.any(), [block.specs[j].name for j in np.flatnonzero(bad.any(axis=0))]


@pytest.mark.parametrize("k", [1, 2, 30, 150, 500, 1111])
def test_rows_depend_only_on_the_past(block: IndicatorBlock, k: int) -> None:
    arrays = _arrays(1500, seed=5)
    arrays["volume"][:40] = 0.0  # the volume divisor is found after these rows
    full = block.compute(_candles(arrays))
    head = block.compute(_candles(arrays, 0, k))
    np.testing.assert_array_equal(head, full[:k])


@pytest.mark.parametrize(
    "name",
    [
        "ema_20_dist",
        "ema_100_dist",
        "tema_20_dist",
        "macd_signal",
        "rsi_14",
        "atr_14",
        "adx_28",
        "kama_30_dist",
        "t3_10_dist",
        "ht_dcperiod",
        "mama_dist",
        "sar_dist",
        "obv_z_20",
    ],
)
def test_warmup_covers_convergence(block: IndicatorBlock, name: str) -> None:
    """At its warm-up a feature no longer remembers where the run started: the same candles
    with ``shift`` more bars of history before them give (almost) the same value."""
    j = [s.name for s in block.specs].index(name)
    warmup = block.specs[j].warmup
    for seed in (6, 7):
        arrays = _arrays(2000, seed=seed)
        full = block.compute(_candles(arrays))
        for shift in (60, 400, 900):
            late = block.compute(_candles(arrays, shift))
            for row in (warmup, warmup + 10):
                assert abs(late[row, j] - full[shift + row, j]) < 1e-3, (seed, shift, row)


def test_settle_bars_matches_the_closed_form_for_one_smoother() -> None:
    for alpha in (2 / 21, 1 / 14, 0.5):
        expected = math.ceil(math.log(SEED_WEIGHT) / math.log(1 - alpha))
        assert abs(settle_bars(alpha) - expected) <= 1
    # cascades need longer than one smoother, but less than one smoother per stage
    assert settle_bars(0.1) < settle_bars(0.1, 3) < 3 * settle_bars(0.1)


def test_an_unstable_function_without_a_rule_is_refused() -> None:
    with pytest.raises(ValueError, match="unstable"):
        _convergence("RMA", {"timeperiod": 14})
    with pytest.raises(ValueError, match="matype"):
        _convergence("BBANDS", {"timeperiod": 20, "matype": 1})
