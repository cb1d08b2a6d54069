"""Honest evaluation: time-ordered splits with purging and embargo, walk-forward windows,
and the statistics that keep a search from fooling itself.

* A sample is decided at row ``t`` and its label becomes known at row ``known_t``. A training
  sample whose label is only known after the next segment begins would leak that segment's
  prices into training: it is **purged**. An **embargo** of a few rows after each boundary
  keeps serially correlated features from bridging it. Splits are never shuffled.
* Hanley & McNeil (1982), "The meaning and use of the area under a receiver operating
  characteristic (ROC) curve", *Radiology* 143(1): the standard error of an AUC — how far
  from 0.5 a model must be before "it found something" means anything.
* Bailey & López de Prado (2014), "The deflated Sharpe ratio", *Journal of Portfolio
  Management* 40(5): the probability that the best Sharpe ratio of ``N`` trials beats zero
  after accounting for the trials, skewness and kurtosis.
* Bailey, Borwein, López de Prado & Zhu (2017), "The probability of backtest overfitting",
  *Journal of Computational Finance* 20(4): combinatorially symmetric cross-validation.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from tradewind.errors import ConfigError

__all__ = [
    "Split",
    "Window",
    "deflated_sharpe",
    "hanley_mcneil_se",
    "probability_of_backtest_overfitting",
    "time_split",
    "walk_forward_windows",
]


@dataclass(frozen=True, slots=True)
class Split:
    """Indices of the samples in each segment (in time order)."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray
    purged: int  #: training/validation samples dropped because their label was not yet known


def time_split(
    t: np.ndarray,
    known_t: np.ndarray,
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
    embargo: int = 0,
) -> Split:
    """Train / validation / test by decision time, purged and embargoed.

    The boundaries sit at the rows where ``fractions`` of the samples (by time) have been
    decided. A sample belongs to a segment when it is decided inside it (after the embargo
    that follows the previous boundary) and — for train and validation — its label is known
    before the next segment starts.
    """
    t = np.asarray(t, dtype=np.int64)
    known_t = np.asarray(known_t, dtype=np.int64)
    if len(t) != len(known_t):
        raise ValueError("t and known_t differ in length")
    if len(fractions) != 3 or min(fractions) < 0 or not math.isclose(sum(fractions), 1.0):
        raise ConfigError(f"split fractions {fractions!r} must be three shares adding to 1")
    if embargo < 0:
        raise ConfigError(f"embargo = {embargo!r} must not be negative")
    if len(t) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Split(empty, empty, empty, 0)
    order = np.argsort(t, kind="stable")
    ts = t[order]
    n = len(ts)
    b1 = int(ts[min(n - 1, int(n * fractions[0]))])
    b2 = int(ts[min(n - 1, int(n * (fractions[0] + fractions[1])))])
    in_train = (t < b1) & (known_t < b1)
    in_val = (t >= b1 + embargo) & (t < b2) & (known_t < b2)
    in_test = t >= b2 + embargo
    purged = int(((t < b1) & ~in_train).sum() + ((t >= b1 + embargo) & (t < b2) & ~in_val).sum())

    def pick(mask: np.ndarray) -> np.ndarray:
        idx = np.flatnonzero(mask)
        return idx[np.argsort(t[idx], kind="stable")]

    return Split(pick(in_train), pick(in_val), pick(in_test), purged)


@dataclass(frozen=True, slots=True)
class Window:
    """One walk-forward step: train on rows ``[train_start, train_end)``, test on
    ``[test_start, test_end)``."""

    train_start: int
    train_end: int
    test_start: int
    test_end: int


def walk_forward_windows(
    first: int, last: int, train: int, test: int, *, anchored: bool = False, embargo: int = 0
) -> list[Window]:
    """Consecutive test windows of ``test`` rows covering ``[first + train, last)``, each
    trained on the ``train`` rows before it (``anchored``: on everything since ``first``),
    with ``embargo`` rows left out between training and test."""
    if train <= 0 or test <= 0:
        raise ConfigError(
            f"walk-forward windows need train > 0 and test > 0 rows, got {train}, {test}"
        )
    out: list[Window] = []
    start = first + train + embargo
    while start < last:
        end = min(start + test, last)
        train_end = start - embargo
        out.append(Window(first if anchored else train_end - train, train_end, start, end))
        start = end
    return out


def hanley_mcneil_se(auc: float, n_pos: int, n_neg: int) -> float:
    """Standard error of an AUC from ``n_pos`` positive and ``n_neg`` negative samples."""
    if n_pos <= 0 or n_neg <= 0:
        return math.nan
    q1 = auc / (2.0 - auc)
    q2 = 2.0 * auc * auc / (1.0 + auc)
    var = (auc * (1 - auc) + (n_pos - 1) * (q1 - auc * auc) + (n_neg - 1) * (q2 - auc * auc)) / (
        n_pos * n_neg
    )
    return math.sqrt(max(var, 0.0))


#: The standard normal (the standard library's: importing scipy.stats costs a second).
_NORM = NormalDist()


def deflated_sharpe(
    sharpe: float,
    n_obs: int,
    n_trials: int,
    trials_sharpe_var: float,
    skew: float = 0.0,
    kurtosis: float = 3.0,
) -> float:
    """Probability that the true Sharpe ratio of the best of ``n_trials`` is above zero.

    ``sharpe`` is per observation (not annualised), over ``n_obs`` returns;
    ``trials_sharpe_var`` the variance of the trials' Sharpe ratios; ``kurtosis`` is the
    raw (not excess) kurtosis of the returns.
    """
    if n_obs < 2 or n_trials < 1:
        return math.nan
    gamma = 0.5772156649015329
    if n_trials == 1:
        sr0 = 0.0
    else:
        sd = math.sqrt(max(trials_sharpe_var, 0.0))
        sr0 = sd * (
            (1 - gamma) * _NORM.inv_cdf(1 - 1.0 / n_trials)
            + gamma * _NORM.inv_cdf(1 - 1.0 / (n_trials * math.e))
        )
    denom = 1 - skew * sharpe + (kurtosis - 1) / 4.0 * sharpe * sharpe
    if denom <= 0:
        return math.nan
    z = (sharpe - sr0) * math.sqrt(n_obs - 1) / math.sqrt(denom)
    return _NORM.cdf(z)


def probability_of_backtest_overfitting(performance: np.ndarray, blocks: int = 8) -> float:
    """PBO by combinatorially symmetric cross-validation.

    ``performance`` is ``(observations, trials)``: each trial's per-period returns over the
    same periods. The rows are cut into ``blocks`` (even) pieces; for every half of them the
    best trial in-sample is ranked out-of-sample; PBO is the share of splits where it ranks
    below the median.
    """
    perf = np.asarray(performance, dtype=np.float64)
    if perf.ndim != 2 or perf.shape[1] < 2:
        raise ValueError("performance must be (observations, trials) with at least 2 trials")
    if blocks < 2 or blocks % 2:
        raise ConfigError(f"blocks = {blocks!r} must be an even number >= 2")
    if perf.shape[0] < 2 * blocks:
        # a block of one period has no standard deviation, so no Sharpe ratio to rank
        raise ConfigError(
            f"blocks = {blocks}: {perf.shape[0]} observations give fewer than 2 per block"
        )
    pieces = np.array_split(np.arange(perf.shape[0]), blocks)
    below = 0
    total = 0
    for chosen in itertools.combinations(range(blocks), blocks // 2):
        ins = np.concatenate([pieces[i] for i in chosen])
        outs = np.concatenate([pieces[i] for i in range(blocks) if i not in chosen])
        is_score = _sharpe_cols(perf[ins])
        oos_score = _sharpe_cols(perf[outs])
        best = int(np.nanargmax(is_score))
        rank = (oos_score < oos_score[best]).sum() + 0.5 * (
            (oos_score == oos_score[best]).sum() - 1
        )
        omega = (rank + 0.5) / perf.shape[1]  # relative rank in (0, 1)
        logit = math.log(omega / (1 - omega))
        below += logit <= 0
        total += 1
    return below / total


def _sharpe_cols(x: np.ndarray) -> np.ndarray:
    sd = x.std(axis=0, ddof=1)
    mean = x.mean(axis=0)
    out: np.ndarray = np.divide(mean, sd, out=np.zeros_like(mean), where=sd > 0)
    return out
