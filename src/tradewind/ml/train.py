"""The training protocol every classifier goes through.

1. Rows in time order; a purged, embargoed train / validation / test split
   (:func:`tradewind.ml.validation.time_split`) — never shuffled.
2. Recency weights: a row's weight halves every ``ml.recency_half_life``.
3. Feature selection on the training rows only: a mutual-information filter keeps
   ``ml.select_k``; then features whose permutation importance on the validation rows is
   not positive are dropped; then, optionally, greedy forward selection on validation AUC
   within ``ml.sfs_seconds``. The chosen features, in order, are stored with the model.
4. Class balance: the training rows are undersampled (imbalanced-learn).
5. Hyperparameters: the configured ones, or an Optuna study (persistent, resumable) that
   maximises validation ROC AUC.
6. A probability threshold chosen on validation for expected profit (the sum of the label's
   trading value over the accepted rows).
7. Reported on the test rows, which nothing above has seen: ROC AUC with its Hanley–McNeil
   standard error, log loss, precision at the threshold, and the trading value — hit rate
   and expectancy of the accepted rows against all rows.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tradewind.config.models import MLConfig
from tradewind.errors import ConfigError, DataError
from tradewind.ml.validation import Split, hanley_mcneil_se, time_split

__all__ = ["Dataset", "TrainResult", "make_estimator", "predict", "train_classifier"]


@dataclass
class Dataset:
    """Labelled decisions: features ``X`` at each decision, the label ``y`` (1 = the trade
    was worth taking), when it was decided (``t``) and known (``known_t``), and the label's
    trading ``value`` (return or R) for choosing the threshold and judging the model."""

    X: np.ndarray
    y: np.ndarray
    t: np.ndarray
    known_t: np.ndarray
    value: np.ndarray
    features: list[str]
    pair: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.y)
        for name in ("X", "t", "known_t", "value"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"dataset: {name} has {len(getattr(self, name))} rows, y has {n}")
        if self.X.ndim != 2 or self.X.shape[1] != len(self.features):
            raise ValueError(f"dataset: X is {self.X.shape}, features {len(self.features)}")

    def subset(self, rows: np.ndarray) -> Dataset:
        """These rows only (a regime's, say)."""
        return Dataset(
            X=self.X[rows],
            y=self.y[rows],
            t=self.t[rows],
            known_t=self.known_t[rows],
            value=self.value[rows],
            features=self.features,
            pair=None if self.pair is None else self.pair[rows],
        )

    def columns(self, cols: list[int]) -> Dataset:
        """These feature columns only (the risk model's)."""
        return Dataset(
            X=self.X[:, cols],
            y=self.y,
            t=self.t,
            known_t=self.known_t,
            value=self.value,
            features=[self.features[c] for c in cols],
            pair=self.pair,
        )


@dataclass
class TrainResult:
    """A fitted model with what it needs to run and how it did out of sample."""

    model: Any
    features: list[str]
    threshold: float
    metrics: dict[str, Any]
    params: dict[str, Any]
    split: dict[str, int]
    beats_baseline: bool
    verdict: str
    selection: dict[str, Any] = field(default_factory=dict)
    test_p: np.ndarray = field(default_factory=lambda: np.zeros(0))  #: test-row probabilities
    full_size_p: float = 0.5  #: median validation probability above the threshold
    train_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  #: indices


_SPACES: dict[str, dict[str, tuple[str, float, float]]] = {
    "random_forest": {
        "n_estimators": ("int", 100, 400),
        "max_depth": ("int", 3, 16),
        "min_samples_leaf": ("int", 5, 200),
        "max_features": ("float", 0.1, 0.8),
    },
    "hist_gradient_boosting": {
        "learning_rate": ("log", 0.01, 0.3),
        "max_leaf_nodes": ("int", 8, 64),
        "min_samples_leaf": ("int", 10, 300),
        "l2_regularization": ("log", 1e-4, 10.0),
    },
    "logistic_regression": {"C": ("log", 1e-3, 10.0)},
}


def _dotted(path: str) -> Any:
    """A scikit-learn (or imbalanced-learn) classifier class by its dotted path; only those
    libraries, whose types the registry trusts to load back (skops)."""
    import importlib

    module, _, attr = path.rpartition(".")
    if not module.startswith(("sklearn.", "imblearn.")):
        raise ConfigError(f"ml.model = {path!r}: only scikit-learn or imbalanced-learn classes")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        raise ConfigError(f"ml.model = {path!r}: no such class") from None
    if not hasattr(cls, "predict_proba"):
        raise ConfigError(f"ml.model = {path!r} is not a classifier with predict_proba")
    return cls


def make_estimator(name: str, params: Mapping[str, Any], seed: int) -> Any:
    """A scikit-learn pipeline: median imputation (features may be NaN), then the model."""
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    kw = dict(params)
    try:
        if name == "random_forest":
            kw.setdefault("n_estimators", 200)
            kw.setdefault("min_samples_leaf", 20)
            kw.setdefault("n_jobs", 2)
            clf: Any = RandomForestClassifier(random_state=seed, **kw)
        elif name == "hist_gradient_boosting":
            clf = HistGradientBoostingClassifier(random_state=seed, **kw)
        elif name == "logistic_regression":
            kw.setdefault("max_iter", 1000)
            clf = LogisticRegression(**kw)
        else:
            clf = _dotted(name)(**kw)
    except TypeError as exc:
        raise ConfigError(f"ml.model_params for {name}: {exc}") from None
    steps: list[tuple[str, Any]] = [("impute", SimpleImputer(strategy="median"))]
    if name == "logistic_regression":
        steps.append(("scale", StandardScaler()))
    steps.append(("model", clf))
    return Pipeline(steps)


def fit_estimator(
    name: str, params: Mapping[str, Any], seed: int, X: np.ndarray, y: np.ndarray, w: np.ndarray
) -> Any:
    """``make_estimator`` fitted on weighted rows, then set to predict on one thread.

    A forest fits faster on two threads, but predicts the few rows a decision scores
    (or a permutation-importance round) three to four times slower on them: each call pays
    joblib's dispatch. One thread also sums the trees in a fixed order, so a probability
    is the same bit for bit wherever the model is loaded."""
    est = make_estimator(name, params, seed)
    est.fit(X, y, model__sample_weight=w)
    model = est.named_steps["model"]
    if "n_jobs" in model.get_params():
        model.set_params(n_jobs=1)
    return est


def _weights(t: np.ndarray, half_life_rows: float | None, now: int) -> np.ndarray:
    """Recency weights, 1 at row ``now`` (the last training decision: nothing later is
    looked at), halving every ``half_life_rows`` before it."""
    if not half_life_rows:
        return np.ones(len(t))
    age = np.maximum(now - t, 0).astype(np.float64)
    return np.asarray(0.5 ** (age / half_life_rows))


def _undersample(y: np.ndarray, sampler: str, seed: int, X: np.ndarray) -> np.ndarray:
    """Indices of the balanced training rows."""
    if sampler == "none" or len(np.unique(y)) < 2:
        return np.arange(len(y))
    from imblearn.under_sampling import NearMiss, RandomUnderSampler

    if sampler == "random_under":
        s: Any = RandomUnderSampler(random_state=seed)
        s.fit_resample(np.arange(len(y)).reshape(-1, 1), y)
    else:
        filled = np.where(np.isfinite(X), X, np.nanmedian(X, axis=0))
        filled = np.nan_to_num(filled)
        s = NearMiss()
        s.fit_resample(filled, y)
    return np.sort(np.asarray(s.sample_indices_))


def _select_mi(X: np.ndarray, y: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Column indices kept by the mutual-information filter, and every column's score."""
    from sklearn.feature_selection import mutual_info_classif

    finite = np.isfinite(X)
    usable = finite.mean(axis=0) > 0.5
    med = np.array([np.nanmedian(c) if u else 0.0 for c, u in zip(X.T, usable, strict=True)])
    filled = np.where(finite, X, med)
    varying = usable & (np.nanstd(filled, axis=0) > 0)
    scores = np.zeros(X.shape[1])
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(y), size=min(len(y), 20_000), replace=False)
    cols = np.flatnonzero(varying)
    if len(cols):
        scores[cols] = mutual_info_classif(filled[np.ix_(rows, cols)], y[rows], random_state=seed)
    order = cols[np.argsort(-scores[cols], kind="stable")]
    keep = order if k <= 0 else order[:k]
    return np.sort(keep), scores


def _forward_select(
    candidates: np.ndarray,
    seconds: float,
    fit: Any,
    params: Mapping[str, Any],
    X: np.ndarray,
    y: np.ndarray,
    va: np.ndarray,
) -> np.ndarray:
    """Greedy forward selection: add the feature that most raises validation AUC, while it
    rises and the time budget lasts (checked between fits, so a fit may overrun it)."""
    deadline = time.monotonic() + seconds
    chosen: list[int] = []
    best = 0.5
    remaining = [int(c) for c in candidates]
    while remaining and time.monotonic() < deadline:
        scores: list[tuple[float, int]] = []
        for c in remaining:
            if time.monotonic() >= deadline:
                break
            cols = np.array(sorted([*chosen, c]))
            est = fit(cols, params)
            auc = _auc(y[va], est.predict_proba(X[np.ix_(va, cols)])[:, 1])
            if auc == auc:
                scores.append((auc, c))
        if not scores:
            break
        auc, c = max(scores)
        if auc <= best + 1e-4:
            break
        chosen.append(c)
        remaining.remove(c)
        best = auc
    return np.array(sorted(chosen), dtype=np.int64)


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    if len(np.unique(y)) < 2:
        return math.nan
    return float(roc_auc_score(y, p))


def _threshold(p: np.ndarray, value: np.ndarray, minimum: int = 20) -> float:
    """The cut on validation probabilities that maximises the summed trading value of the
    rows it accepts (at least ``minimum`` of them); 0.5 when there is too little to go on."""
    if len(p) < minimum:
        return 0.5
    candidates = np.unique(np.quantile(p, np.linspace(0.0, 0.95, 40)))
    best, best_value = 0.5, -math.inf
    for c in candidates:
        take = p >= c
        if take.sum() < minimum:
            continue
        total = float(np.nansum(value[take]))
        if total > best_value:
            best, best_value = float(c), total
    return best


def _report(y: np.ndarray, p: np.ndarray, value: np.ndarray, threshold: float) -> dict[str, Any]:
    from sklearn.metrics import log_loss

    take = p >= threshold
    n_pos, n_neg = int(y.sum()), int(len(y) - y.sum())
    auc = _auc(y, p)
    return {
        "rows": len(y),
        "positives": n_pos,
        "roc_auc": auc,
        "roc_auc_se": hanley_mcneil_se(auc, n_pos, n_neg) if auc == auc else math.nan,
        "log_loss": float(log_loss(y, np.clip(p, 1e-6, 1 - 1e-6), labels=[0, 1]))
        if len(y)
        else math.nan,
        "threshold": threshold,
        "accepted": int(take.sum()),
        "precision": float(y[take].mean()) if take.any() else math.nan,
        "hit_rate_all": float(y.mean()) if len(y) else math.nan,
        "expectancy_accepted": float(np.nanmean(value[take])) if take.any() else math.nan,
        "expectancy_all": float(np.nanmean(value)) if len(value) else math.nan,
    }


def _optuna_params(
    name: str,
    cfg: MLConfig,
    seed: int,
    study_name: str,
    storage: str | None,
    objective_data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
) -> dict[str, Any]:
    import optuna

    if name not in _SPACES:
        raise ConfigError(
            f"ml.trials > 0: Optuna search spaces exist for {', '.join(_SPACES)}; give "
            f"{name} its parameters in ml.model_params instead"
        )
    space = _SPACES[name]
    Xt, yt, wt, Xv, yv = objective_data

    def objective(trial: Any) -> float:
        params: dict[str, Any] = dict(cfg.model_params)
        for key, (kind, lo, hi) in space.items():
            if kind == "int":
                params[key] = trial.suggest_int(key, int(lo), int(hi))
            elif kind == "log":
                params[key] = trial.suggest_float(key, lo, hi, log=True)
            else:
                params[key] = trial.suggest_float(key, lo, hi)
        est = fit_estimator(name, params, seed, Xt, yt, wt)
        auc = _auc(yv, est.predict_proba(Xv)[:, 1])
        return 0.5 if auc != auc else auc

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=study_name,
        storage=storage,
        direction="maximize",
        load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=seed),
    )
    remaining = cfg.trials - len([t for t in study.trials if t.state.is_finished()])
    if remaining > 0:
        # One job: trials follow the seeded sampler exactly. More: faster, but the order in
        # which trials finish (and so what the sampler sees) varies from run to run.
        study.optimize(objective, n_trials=remaining, n_jobs=cfg.trial_jobs)
    best: dict[str, Any] = {**cfg.model_params, **study.best_params}
    return best


def train_classifier(
    data: Dataset,
    cfg: MLConfig,
    *,
    embargo_rows: int,
    half_life_rows: float | None,
    seed: int,
    study_name: str = "tradewind",
    storage: str | None = None,
    split: Split | None = None,
) -> TrainResult:
    """Fit a classifier on ``data`` by the protocol above; see the module docstring.

    ``split`` replaces the configured one (walk-forward passes each window's own)."""
    if len(data.y) < cfg.min_samples:
        raise DataError(
            f"{len(data.y)} labelled rows, fewer than ml.min_samples = {cfg.min_samples}: "
            "use more history or more pairs"
        )
    if split is None:
        split = time_split(data.t, data.known_t, tuple(cfg.split), embargo_rows)  # type: ignore[arg-type]
    tr, va, te = split.train, split.validation, split.test
    if min(len(tr), len(va), len(te)) == 0 or len(np.unique(data.y[tr])) < 2:
        raise DataError(
            f"the split left train/validation/test = {len(tr)}/{len(va)}/{len(te)} rows with "
            f"{len(np.unique(data.y[tr]))} class(es) in training: too little history"
        )
    weights = _weights(data.t, half_life_rows, int(data.t[tr].max()))
    keep, mi = _select_mi(data.X[tr], data.y[tr], cfg.select_k, seed)
    if len(keep) == 0:
        raise DataError("no usable feature: every column is constant or mostly missing")
    balanced = tr[_undersample(data.y[tr], cfg.sampler, seed, data.X[np.ix_(tr, keep)])]
    params: dict[str, Any] = dict(cfg.model_params)

    def fit(cols: np.ndarray, prm: Mapping[str, Any]) -> Any:
        return fit_estimator(
            cfg.model,
            prm,
            seed,
            data.X[np.ix_(balanced, cols)],
            data.y[balanced],
            weights[balanced],
        )

    if cfg.trials > 0:
        params = _optuna_params(
            cfg.model,
            cfg,
            seed,
            study_name,
            storage,
            (
                data.X[np.ix_(balanced, keep)],
                data.y[balanced],
                weights[balanced],
                data.X[np.ix_(va, keep)],
                data.y[va],
            ),
        )
    model = fit(keep, params)
    dropped: list[str] = []
    if cfg.permutation and len(keep) > 1 and len(np.unique(data.y[va])) == 2:
        from sklearn.inspection import permutation_importance

        imp = permutation_importance(
            model,
            data.X[np.ix_(va, keep)],
            data.y[va],
            scoring="roc_auc",
            n_repeats=3,
            random_state=seed,
        )
        useful = imp.importances_mean > 0
        if useful.any() and not useful.all():
            dropped = [data.features[c] for c in keep[~useful]]
            keep = keep[useful]
            model = fit(keep, params)
    if cfg.sfs_seconds > 0 and len(keep) > 1 and len(np.unique(data.y[va])) == 2:
        chosen = _forward_select(keep, cfg.sfs_seconds, fit, params, data.X, data.y, va)
        if len(chosen) and len(chosen) < len(keep):
            dropped += [data.features[c] for c in keep if c not in set(chosen.tolist())]
            keep = chosen
            model = fit(keep, params)
    p_val = model.predict_proba(data.X[np.ix_(va, keep)])[:, 1]
    threshold = _threshold(p_val, data.value[va])
    above = p_val[p_val >= threshold]
    full_size_p = float(np.quantile(above, 0.5)) if len(above) else threshold
    p_test = model.predict_proba(data.X[np.ix_(te, keep)])[:, 1]
    metrics = {
        "validation": _report(data.y[va], p_val, data.value[va], threshold),
        "test": _report(data.y[te], p_test, data.value[te], threshold),
    }
    test = metrics["test"]
    auc, se = test["roc_auc"], test["roc_auc_se"]
    result_test_p = p_test
    edge = auc == auc and auc - 2 * se > 0.5
    better = (
        test["accepted"] > 0
        and test["expectancy_accepted"] == test["expectancy_accepted"]
        and test["expectancy_accepted"] > test["expectancy_all"]
    )
    beats = bool(edge and better)
    if beats:
        verdict = (
            f"beats its baseline out of sample: AUC {auc:.3f} ± {se:.3f}, accepted setups "
            f"expect {test['expectancy_accepted']:+.4f} vs {test['expectancy_all']:+.4f} for all"
        )
    else:
        verdict = (
            f"does not beat its baseline out of sample (AUC {auc:.3f} ± {se:.3f}; accepted "
            f"{test['expectancy_accepted']:+.4f} vs all {test['expectancy_all']:+.4f})"
        )
    names = [data.features[c] for c in keep]
    return TrainResult(
        full_size_p=full_size_p,
        test_p=result_test_p,
        train_rows=tr,
        model=model,
        features=names,
        threshold=threshold,
        metrics=metrics,
        params=params,
        split={"train": len(tr), "validation": len(va), "test": len(te), "purged": split.purged},
        beats_baseline=beats,
        verdict=verdict,
        selection={
            "mutual_information": {
                data.features[c]: float(mi[c]) for c in np.argsort(-mi)[:20] if mi[c] > 0
            },
            "dropped_by_permutation": dropped,
        },
    )


def predict(model: Any, X: np.ndarray) -> np.ndarray:
    """Probability of the positive class for each row of ``X``."""
    out: np.ndarray = model.predict_proba(X)[:, 1]
    return out
