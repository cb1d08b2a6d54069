"""Walk-forward: retrain on a rolling (or anchored) window, predict the next one, stitch.

For each test window the model is trained by the same protocol as ``tradewind train`` on
the decisions of its training window only (split in time into train and validation;
training labels not known before the test window starts are purged), then it scores the
test window's decisions. The stitched out-of-sample probabilities drive a backtest of the
whole test span — the cycle trader nominating from them, or each agent vetoing its setups
— beside the same backtest without the model. Nothing in a test window was seen by the
model that scores it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tradewind.config import Settings
from tradewind.data.panel import Panel
from tradewind.domain.types import duration_bars
from tradewind.errors import DataError
from tradewind.ml.train import Dataset, train_classifier
from tradewind.ml.validation import Split, hanley_mcneil_se, walk_forward_windows

__all__ = ["WalkForward", "oos_summary", "walk_forward_predictions"]


@dataclass
class WalkForward:
    """Stitched out-of-sample probabilities of one model's decisions."""

    p: np.ndarray  #: probability per dataset row (NaN: not in any test window)
    threshold: np.ndarray  #: the threshold of the window that scored each row
    windows: list[dict[str, Any]] = field(default_factory=list)

    def scored(self) -> np.ndarray:
        ok: np.ndarray = np.isfinite(self.p)
        return ok


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else math.nan


def walk_forward_predictions(
    data: Dataset,
    settings: Settings,
    panel: Panel,
    *,
    train: str,
    test: str,
    anchored: bool = False,
    first_row: int = 0,
) -> WalkForward:
    """Retrain per window over ``data`` (rows of ``panel``) and score each test window."""
    cfg = settings.ml
    tf = panel.timeframe
    train_rows = duration_bars(train, tf, "walk-forward --train")
    test_rows = duration_bars(test, tf, "walk-forward --test")
    embargo = duration_bars(cfg.embargo, tf, "ml.embargo")
    half_life = (
        float(duration_bars(cfg.recency_half_life, tf, "ml.recency_half_life"))
        if cfg.recency_half_life
        else None
    )
    windows = walk_forward_windows(
        first_row,
        len(panel.timestamps),
        train_rows,
        test_rows,
        anchored=anchored,
        embargo=embargo,
    )
    if not windows:
        raise DataError(
            f"walk-forward: {len(panel.timestamps)} {tf} candles leave no test window after "
            f"a {train} training window; use a shorter --train or more data"
        )
    p = np.full(len(data.y), np.nan)
    thresholds = np.full(len(data.y), np.nan)
    out = WalkForward(p, thresholds)
    for w in windows:
        in_train = (data.t >= w.train_start) & (data.t < w.train_end)
        idx = np.flatnonzero(in_train & (data.known_t < w.test_start))  # purged
        idx = idx[np.argsort(data.t[idx], kind="stable")]
        test_idx = np.flatnonzero((data.t >= w.test_start) & (data.t < w.test_end))
        row = {
            "train": [int(w.train_start), int(w.train_end)],
            "test": [int(w.test_start), int(w.test_end)],
            "train_rows": len(idx),
            "test_rows": len(test_idx),
        }
        if len(idx) < cfg.min_samples or len(test_idx) == 0 or len(np.unique(data.y[idx])) < 2:
            row["skipped"] = "too few labelled rows"
            out.windows.append(row)
            continue
        # Inside the training window: the last share by time validates (purged).
        cut = int(data.t[idx[int(len(idx) * 0.75)]])
        tr = idx[(data.t[idx] < cut) & (data.known_t[idx] < cut)]
        va = idx[data.t[idx] >= cut + embargo]
        split = Split(tr, va, test_idx, int(len(idx) - len(tr) - len(va)))
        try:
            result = train_classifier(
                data,
                cfg,
                embargo_rows=embargo,
                half_life_rows=half_life,
                seed=settings.seed,
                split=split,
            )
        except DataError as exc:
            row["skipped"] = str(exc)
            out.windows.append(row)
            continue
        p[test_idx] = result.test_p
        thresholds[test_idx] = result.threshold
        row.update(
            auc=result.metrics["test"]["roc_auc"],
            threshold=result.threshold,
            features=len(result.features),
        )
        out.windows.append(row)
    return out


def oos_summary(data: Dataset, wf: WalkForward) -> dict[str, Any]:
    """AUC of the stitched predictions (with its Hanley–McNeil error) and the trading value
    of the decisions the model would have accepted against all of them."""
    ok = wf.scored()
    y, p, v = data.y[ok], wf.p[ok], data.value[ok]
    take = p >= wf.threshold[ok]
    auc = _auc(y, p) if len(y) else math.nan
    return {
        "rows": int(ok.sum()),
        "roc_auc": auc,
        "roc_auc_se": hanley_mcneil_se(auc, int(y.sum()), int(len(y) - y.sum()))
        if auc == auc
        else math.nan,
        "accepted": int(take.sum()),
        "expectancy_accepted": float(np.mean(v[take])) if take.any() else math.nan,
        "expectancy_all": float(np.mean(v)) if len(v) else math.nan,
        "windows": len(wf.windows),
        "windows_scored": sum("auc" in w for w in wf.windows),
    }
