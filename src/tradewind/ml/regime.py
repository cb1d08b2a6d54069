"""The regime model of the cycle trader (seed 000): k-means over standardised candle
features, and one classifier per regime.

Each (pair, decision) is assigned the cluster of its market-state features — volatility,
recent returns, volume and the market context — so a classifier trained on one kind of
market does not have to serve another. ``ml.regime_k`` fixes the number of clusters;
0 chooses it by the silhouette score (k = 2 … 8, on a sample of the training rows). The
clusters are fitted on the training rows only (a time split), so the test rows' regimes
are assigned by a model that never saw them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tradewind.features.base import FeatureSpec

__all__ = ["REGIME_GROUPS", "RegimeFit", "fit_regimes", "regime_columns"]

#: The feature groups that describe a market state (not a setup).
REGIME_GROUPS = ("volatility", "context", "liquidity")
_RETURNS = ("ret_1", "ret_3", "ret_12", "ret_24", "ret_72")


def regime_columns(specs: Sequence[FeatureSpec]) -> list[int]:
    """Columns the regime model clusters on: volatility, liquidity, context and returns."""
    return [
        i
        for i, s in enumerate(specs)
        if s.group in REGIME_GROUPS or any(s.name.startswith(r) for r in _RETURNS)
    ]


@dataclass
class RegimeFit:
    """A fitted regime model: a scikit-learn pipeline (imputer, scaler, k-means)."""

    model: Any
    features: list[str]
    k: int
    silhouette: dict[int, float]

    def assign(self, X: np.ndarray) -> np.ndarray:
        out: np.ndarray = self.model.predict(X).astype(np.int64)
        return out


def _pipeline(k: int, seed: int) -> Any:
    from sklearn.cluster import KMeans
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return Pipeline(
        [
            ("impute", SimpleImputer(strategy="median")),
            ("scale", StandardScaler()),
            ("kmeans", KMeans(n_clusters=k, n_init=4, random_state=seed)),
        ]
    )


def fit_regimes(X: np.ndarray, names: Sequence[str], k: int, seed: int) -> RegimeFit:
    """Cluster the rows of ``X`` (training rows only); ``k = 0`` picks k by silhouette."""
    from sklearn.metrics import silhouette_score

    rng = np.random.default_rng(seed)
    usable = np.isfinite(X).mean(axis=0) > 0.5
    cols = np.flatnonzero(usable)
    Xu = X[:, cols]
    sample = rng.choice(len(Xu), size=min(len(Xu), 4000), replace=False)
    scores: dict[int, float] = {}
    if k <= 0:
        for cand in range(2, 9):
            if cand >= len(sample):
                break
            pipe = _pipeline(cand, seed).fit(Xu[sample])
            labels = pipe.predict(Xu[sample])
            if len(np.unique(labels)) < 2:
                continue
            transformed = pipe[:-1].transform(Xu[sample])
            scores[cand] = float(silhouette_score(transformed, labels, random_state=seed))
        k = max(scores, key=lambda c: scores[c]) if scores else 2
    model = _pipeline(k, seed).fit(Xu)
    return RegimeFit(model, [names[int(c)] for c in cols], k, scores)
