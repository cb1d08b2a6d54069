from __future__ import annotations

import numpy as np
import pytest

from tradewind.portfolio.sizing import (
    MIN_KELLY_TRADES,
    equal_weights,
    inverse_volatility_weights,
    kelly_weights,
    realised_volatility,
)


def test_equal_split() -> None:
    np.testing.assert_allclose(equal_weights(4), [0.25] * 4)
    assert equal_weights(0).size == 0


def test_inverse_volatility_gives_riskier_pairs_less() -> None:
    w = inverse_volatility_weights(np.array([0.01, 0.02, 0.04]))
    np.testing.assert_allclose(w, np.array([4, 2, 1]) / 7)
    # an unknown volatility takes the median of the known ones
    w = inverse_volatility_weights(np.array([0.01, np.nan, 0.03]))
    np.testing.assert_allclose(w, np.array([1 / 0.01, 1 / 0.02, 1 / 0.03]) / (100 + 50 + 100 / 3))
    np.testing.assert_allclose(inverse_volatility_weights(np.array([np.nan, np.nan])), [0.5, 0.5])


def test_realised_volatility_uses_only_candles_up_to_t_and_skips_gaps() -> None:
    rng = np.random.default_rng(1)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (2, 300)), axis=1))
    valid = np.ones_like(close, dtype=bool)
    base = realised_volatility(close, valid, np.array([0, 1]), 200, 100)
    later = close.copy()
    later[:, 201:] *= 50  # the future must not matter
    np.testing.assert_allclose(realised_volatility(later, valid, np.array([0, 1]), 200, 100), base)
    expected = np.std(np.diff(np.log(close[0, 100:201])), ddof=1)
    assert base[0] == pytest.approx(expected)
    valid[1, 150] = False
    close[1, 150] = 1e9  # a masked candle is skipped, not a jump
    assert realised_volatility(close, valid, np.array([1]), 200, 100)[0] < 0.02


def test_kelly_deploys_a_fraction_of_the_estimated_edge() -> None:
    wins = np.full(30, 0.04)
    losses = np.full(20, -0.02)
    w = kelly_weights(5, np.concatenate([wins, losses]), fraction=0.5)
    p, b = 30 / 50, 2.0
    np.testing.assert_allclose(w, np.full(5, 0.5 * (p - (1 - p) / b) / 5))
    # no edge: nothing deployed
    assert kelly_weights(3, np.concatenate([np.full(20, 0.01), np.full(20, -0.02)]), 1.0).sum() == 0
    # too little history: equal split
    np.testing.assert_allclose(
        kelly_weights(2, np.full(MIN_KELLY_TRADES - 1, 0.1), 0.25), [0.5, 0.5]
    )
