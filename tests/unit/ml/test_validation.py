"""Splits that cannot leak, and the statistics that discount a search."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradewind.errors import ConfigError
from tradewind.ml.validation import (
    deflated_sharpe,
    hanley_mcneil_se,
    probability_of_backtest_overfitting,
    time_split,
    walk_forward_windows,
)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(20, 400),
    horizon=st.integers(0, 30),
    embargo=st.integers(0, 10),
    seed=st.integers(0, 10_000),
)
def test_no_training_label_is_known_after_the_next_segment_starts(
    n: int, horizon: int, embargo: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, 1000, n))
    known = t + rng.integers(0, horizon + 1, n)
    s = time_split(t, known, (0.6, 0.2, 0.2), embargo)
    parts = [s.train, s.validation, s.test]
    assert len(np.unique(np.concatenate(parts))) == sum(len(p) for p in parts)  # disjoint
    if len(s.validation):
        first_val = t[s.validation].min()
        assert (known[s.train] < first_val).all()  # purged
        assert (t[s.train] <= first_val - 1).all()
    if len(s.test):
        first_test = t[s.test].min()
        assert (known[s.validation] < first_test).all()
        assert (known[s.train] < first_test).all()
    if len(s.train) and len(s.validation):
        assert t[s.validation].min() - t[s.train].max() >= embargo + 1
    for p in parts:
        assert (np.diff(t[p]) >= 0).all()  # time order, never shuffled


def test_purging_counts_what_it_drops() -> None:
    t = np.arange(10)
    known = t + 3  # every label needs three more rows
    s = time_split(t, known, (0.5, 0.3, 0.2))
    assert s.train.tolist() == [0, 1]  # 2, 3, 4 are decided before row 5 but known after
    assert s.purged >= 3


def test_walk_forward_windows_cover_the_period_once() -> None:
    w = walk_forward_windows(0, 1000, train=300, test=100, embargo=5)
    assert w[0].test_start == 305
    assert w[-1].test_end == 1000
    for a, b in zip(w, w[1:], strict=False):
        assert a.test_end == b.test_start
    assert all(x.test_start - x.train_end == 5 for x in w)
    assert all(x.train_end - x.train_start == 300 for x in w)
    anchored = walk_forward_windows(0, 1000, train=300, test=100, anchored=True)
    assert all(x.train_start == 0 for x in anchored)


def test_hanley_mcneil_standard_error() -> None:
    # AUC 0.5 with 100 + 100 samples: q1 = q2 = 1/3, var = (0.25 + 2 × 99 / 12) / 10^4.
    assert hanley_mcneil_se(0.5, 100, 100) == pytest.approx(math.sqrt((0.25 + 16.5) / 1e4))
    assert hanley_mcneil_se(0.5, 1000, 1000) < hanley_mcneil_se(0.5, 100, 100)
    assert math.isnan(hanley_mcneil_se(0.7, 0, 10))


def test_deflated_sharpe_discounts_many_trials() -> None:
    sr, n = 0.1, 250
    one = deflated_sharpe(sr, n, 1, 0.0)
    # One trial: the probabilistic Sharpe ratio, Phi(SR * sqrt(n - 1) / sqrt(1 + SR^2 / 2)).
    from scipy.stats import norm

    assert one == pytest.approx(norm.cdf(sr * math.sqrt(n - 1) / math.sqrt(1 + sr * sr / 2)))
    many = [deflated_sharpe(sr, n, k, 0.05**2) for k in (2, 10, 100, 1000)]
    assert all(a > b for a, b in zip(many, many[1:], strict=False))
    assert many[-1] < 0.5 < one


def test_probability_of_backtest_overfitting() -> None:
    rng = np.random.default_rng(3)
    noise = rng.normal(0, 1, (800, 20))
    pbo_noise = probability_of_backtest_overfitting(noise, blocks=8)
    assert 0.25 < pbo_noise < 0.75  # choosing the best of noise is a coin flip
    edge = noise.copy()
    edge[:, 0] += 0.3  # one trial with a real edge
    assert probability_of_backtest_overfitting(edge, blocks=8) < 0.1


def test_probability_of_backtest_overfitting_refuses_blocks_of_one_period() -> None:
    # two walk-forward windows cut in two blocks: one period each, no Sharpe ratio to rank
    with pytest.raises(ConfigError, match="fewer than 2 per block"):
        probability_of_backtest_overfitting(np.ones((3, 2)), blocks=2)
    assert 0.0 <= probability_of_backtest_overfitting(np.eye(4, 2), blocks=2) <= 1.0
