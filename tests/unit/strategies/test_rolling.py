"""Rolling extremes over the previous window: against a naive scan, incl. property tests."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tradewind.errors import ConfigError
from tradewind.strategies.rolling import rolling_max, rolling_min


def _naive(x: np.ndarray, lookback: int, fn: str) -> np.ndarray:
    out = np.full(len(x), np.nan)
    for t in range(lookback, len(x)):
        out[t] = getattr(np, fn)(x[t - lookback : t])
    return out


def test_hand_computed() -> None:
    x = np.array([3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0])
    np.testing.assert_array_equal(
        rolling_max(x, 3), [np.nan, np.nan, np.nan, 4.0, 4.0, 5.0, 9.0, 9.0]
    )
    np.testing.assert_array_equal(
        rolling_min(x, 3), [np.nan, np.nan, np.nan, 1.0, 1.0, 1.0, 1.0, 2.0]
    )
    # lookback 1 is the previous value: the current one is never in its own window
    np.testing.assert_array_equal(rolling_max(x, 1)[1:], x[:-1])
    np.testing.assert_array_equal(rolling_min(x, 1)[1:], x[:-1])


@pytest.mark.parametrize("lookback", [1, 2, 3, 7, 50, 199, 200, 201, 499, 500, 600])
def test_matches_naive_on_a_random_walk(lookback: int) -> None:
    x = np.cumsum(np.random.default_rng(lookback).normal(size=500))
    np.testing.assert_array_equal(rolling_max(x, lookback), _naive(x, lookback, "max"))
    np.testing.assert_array_equal(rolling_min(x, lookback), _naive(x, lookback, "min"))


def test_short_and_empty_inputs_are_all_nan() -> None:
    assert len(rolling_max(np.array([]), 3)) == 0
    assert np.isnan(rolling_min(np.array([1.0, 2.0, 3.0]), 3)).all()


@settings(max_examples=300, deadline=None)
@given(
    x=arrays(
        np.float64,
        st.integers(0, 80),
        # few distinct values: ties between the block maxima are the interesting case
        elements=st.one_of(
            st.sampled_from([-1.0, 0.0, 1.0, 2.5]),
            st.floats(-1e12, 1e12, allow_nan=False, allow_infinity=False),
        ),
    ),
    lookback=st.integers(1, 90),
)
def test_property_equals_naive(x: np.ndarray, lookback: int) -> None:
    np.testing.assert_array_equal(rolling_max(x, lookback), _naive(x, lookback, "max"))
    np.testing.assert_array_equal(rolling_min(x, lookback), _naive(x, lookback, "min"))


@settings(max_examples=100, deadline=None)
@given(
    x=arrays(np.float64, st.integers(1, 60), elements=st.floats(-1e6, 1e6)),
    lookback=st.integers(1, 20),
    cut=st.integers(0, 59),
)
def test_property_causal(x: np.ndarray, lookback: int, cut: int) -> None:
    # row t depends on x[:t] only: change everything from t on and rows <= t stay
    t = min(cut, len(x) - 1)
    y = x.copy()
    y[t:] = 1e9
    np.testing.assert_array_equal(
        rolling_max(y, lookback)[: t + 1], rolling_max(x, lookback)[: t + 1]
    )
    np.testing.assert_array_equal(
        rolling_min(y, lookback)[: t + 1], rolling_min(x, lookback)[: t + 1]
    )


@pytest.mark.parametrize("lookback", [0, -1, 2.0, True])
def test_bad_lookback(lookback: int) -> None:
    with pytest.raises(ConfigError, match="lookback"):
        rolling_max(np.ones(5), lookback)


def test_not_1d() -> None:
    with pytest.raises(ValueError, match="1-D"):
        rolling_min(np.ones((2, 3)), 2)
