"""The performance model: an agent's next-week expectancy from its recent record.

Every setup an agent sees is a trade — real or sim — whose R multiple the lifecycle knows
(:func:`tradewind.engine.labels.label_setups`). At each UTC day's close the model reads
what was known then of each agent's record (mean, spread and hit rate of its last trades'
R, how many, how recent) and predicts the mean R of the setups it will see over the next
week. The session allocates capital by that prediction instead of the trailing mean.

One model serves every agent (pooled rows, no agent identity among the features). It is
judged on the test split by the rank correlation of predicted and realised next-week
expectancy across (day, agent) rows, against the trailing mean it replaces; it is promoted
only when it does better.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tradewind.errors import DataError
from tradewind.ml.validation import time_split

__all__ = [
    "PERF_FEATURES",
    "PerformanceData",
    "PerformanceFit",
    "fit_performance",
    "performance_rows",
]

PERF_FEATURES = (
    "mean_r_last",
    "std_r_last",
    "win_rate_last",
    "count_last",
    "mean_r_week",
    "count_week",
    "mean_r_month",
    "days_since_last",
)


@dataclass
class PerformanceData:
    X: np.ndarray  #: (rows, PERF_FEATURES)
    y: np.ndarray  #: realised mean R of the next week's setups
    t: np.ndarray  #: day-end row
    known_t: np.ndarray  #: when the target was known
    agent: np.ndarray
    trailing: np.ndarray  #: the interim rule's estimate (mean R of the last trades)


def performance_rows(
    day_rows: np.ndarray,
    agent: int,
    label_t: np.ndarray,
    known_t: np.ndarray,
    r: np.ndarray,
    *,
    last: int,
    week: int,
    month: int,
    require_target: bool = True,
) -> PerformanceData:
    """One row per day end: the agent's record known then, and the next week's outcome.

    ``label_t``/``known_t``/``r``: each setup's decision row, the row its outcome was
    known, and its R multiple (NaN when void). ``last`` trades, ``week``/``month`` rows.
    """
    ok = np.isfinite(r)
    label_t, known_t, r = label_t[ok], known_t[ok], r[ok]
    by_known = np.argsort(known_t, kind="stable")
    kt, kr = known_t[by_known], r[by_known]
    rows_x, rows_y, rows_t, rows_k, rows_tr = [], [], [], [], []
    for d in day_rows.tolist():
        n_known = int(np.searchsorted(kt, d, side="right"))
        if n_known < 3:
            continue
        recent = kr[max(0, n_known - last) : n_known]
        w = kr[(kt > d - week) & (kt <= d)]
        m = kr[(kt > d - month) & (kt <= d)]
        future = (label_t > d) & (label_t <= d + week)
        if require_target and future.sum() < 3:
            continue
        rows_x.append(
            [
                recent.mean(),
                recent.std(),
                (recent > 0).mean(),
                len(recent),
                w.mean() if len(w) else np.nan,
                len(w),
                m.mean() if len(m) else np.nan,
                d - kt[n_known - 1],
            ]
        )
        rows_y.append(r[future].mean() if future.any() else np.nan)
        rows_t.append(d)
        rows_k.append(int(known_t[future].max()) if future.any() else d)
        rows_tr.append(recent.mean())
    n = len(rows_y)
    return PerformanceData(
        X=np.array(rows_x, dtype=np.float64).reshape(n, len(PERF_FEATURES)),
        y=np.array(rows_y),
        t=np.array(rows_t, dtype=np.int64),
        known_t=np.array(rows_k, dtype=np.int64),
        agent=np.full(n, agent, dtype=np.int64),
        trailing=np.array(rows_tr),
    )


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    if len(a) < 3 or np.std(a) == 0 or np.std(b) == 0:
        return math.nan
    return float(spearmanr(a, b).statistic)


@dataclass
class PerformanceFit:
    model: Any
    metrics: dict[str, Any]
    beats_baseline: bool
    verdict: str


def fit_performance(
    parts: Sequence[PerformanceData], split: Sequence[float], embargo: int, seed: int
) -> PerformanceFit:
    """Fit the pooled regressor on the training rows of a time split; judge on the test."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    X = np.concatenate([p.X for p in parts])
    y = np.concatenate([p.y for p in parts])
    t = np.concatenate([p.t for p in parts])
    k = np.concatenate([p.known_t for p in parts])
    trailing = np.concatenate([p.trailing for p in parts])
    if len(y) < 50:
        raise DataError(f"performance model: {len(y)} agent-days, need at least 50")
    s = time_split(t, k, tuple(split), embargo)  # type: ignore[arg-type]
    if min(len(s.train), len(s.test)) < 10:
        raise DataError("performance model: the split left too few agent-days")
    model = HistGradientBoostingRegressor(
        max_iter=200, learning_rate=0.05, min_samples_leaf=20, random_state=seed
    ).fit(X[s.train], y[s.train])
    pred = model.predict(X[s.test])
    rho = _spearman(pred, y[s.test])
    rho_base = _spearman(trailing[s.test], y[s.test])
    beats = bool(rho == rho and (rho_base != rho_base or rho > rho_base) and rho > 0)
    metrics = {
        "train": len(s.train),
        "test": len(s.test),
        "spearman": rho,
        "spearman_trailing_mean": rho_base,
        "mae": float(np.mean(np.abs(pred - y[s.test]))),
        "mae_trailing_mean": float(np.mean(np.abs(trailing[s.test] - y[s.test]))),
    }
    verdict = (
        f"rank correlation with next week's expectancy {rho:.3f} vs {rho_base:.3f} for the "
        "trailing mean: " + ("beats it" if beats else "does not beat it")
    )
    return PerformanceFit(model, metrics, beats, verdict)
