"""The training protocol finds a planted signal and finds nothing in noise."""

from __future__ import annotations

import numpy as np
import pytest

from tradewind.config.models import MLConfig
from tradewind.errors import DataError
from tradewind.ml.train import Dataset, train_classifier


def _data(n: int, signal: float, seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 12))
    X[rng.random((n, 12)) < 0.02] = np.nan  # features may be missing
    latent = signal * np.nan_to_num(X[:, 3]) + rng.normal(size=n)
    y = (latent > 0.3).astype(np.int64)
    value = np.where(y == 1, 1.0, -0.6) + rng.normal(0, 0.1, n)
    t = np.sort(rng.integers(0, n * 3, n))
    return Dataset(
        X=X, y=y, t=t, known_t=t + 24, value=value, features=[f"f{i}" for i in range(12)]
    )


CFG = MLConfig(model_params={"n_estimators": 60, "min_samples_leaf": 20}, select_k=8)


def test_a_planted_signal_is_found_and_the_model_beats_its_baseline() -> None:
    result = train_classifier(
        _data(4000, 1.5, 1), CFG, embargo_rows=24, half_life_rows=None, seed=0
    )
    test = result.metrics["test"]
    assert test["roc_auc"] > 0.75
    assert "f3" in result.features
    assert result.beats_baseline, result.verdict
    assert test["expectancy_accepted"] > test["expectancy_all"]
    assert result.split["purged"] > 0


def test_noise_gives_an_auc_within_three_standard_errors_of_a_coin() -> None:
    result = train_classifier(
        _data(4000, 0.0, 2), CFG, embargo_rows=24, half_life_rows=500.0, seed=0
    )
    test = result.metrics["test"]
    assert abs(test["roc_auc"] - 0.5) < 3 * test["roc_auc_se"]
    assert not result.beats_baseline
    assert "does not beat" in result.verdict


def test_too_few_rows_is_explained() -> None:
    with pytest.raises(DataError, match="fewer than ml.min_samples"):
        train_classifier(_data(50, 1.0, 3), CFG, embargo_rows=0, half_life_rows=None, seed=0)


def test_an_optuna_study_resumes_where_it_stopped(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import optuna

    url = f"sqlite:///{tmp_path / 'optuna.sqlite'}"
    cfg = MLConfig(model="hist_gradient_boosting", trials=3, select_k=6, permutation=False)
    data = _data(1500, 1.0, 4)
    first = train_classifier(
        data, cfg, embargo_rows=0, half_life_rows=None, seed=0, study_name="s", storage=url
    )
    assert len(optuna.load_study(study_name="s", storage=url).trials) == 3
    more = cfg.model_copy(update={"trials": 5})
    train_classifier(
        data, more, embargo_rows=0, half_life_rows=None, seed=0, study_name="s", storage=url
    )
    assert len(optuna.load_study(study_name="s", storage=url).trials) == 5  # 2 more, not 5
    assert set(first.params) >= {"learning_rate", "max_leaf_nodes"}


def test_forward_selection_keeps_the_signal_within_its_budget() -> None:
    import time

    cfg = CFG.model_copy(update={"sfs_seconds": 20.0, "permutation": False})
    started = time.monotonic()
    result = train_classifier(
        _data(3000, 1.5, 5), cfg, embargo_rows=24, half_life_rows=None, seed=0
    )
    assert time.monotonic() - started < 60
    assert "f3" in result.features
    assert len(result.features) < 8  # it stopped adding features that did not help
    assert result.metrics["test"]["roc_auc"] > 0.75


def test_any_scikit_learn_classifier_by_its_dotted_path() -> None:
    from tradewind.errors import ConfigError

    cfg = MLConfig(
        model="sklearn.ensemble.ExtraTreesClassifier",
        model_params={"n_estimators": 50, "min_samples_leaf": 20},
        select_k=6,
        permutation=False,
    )
    result = train_classifier(_data(2000, 1.5, 6), cfg, embargo_rows=0, half_life_rows=None, seed=0)
    assert type(result.model[-1]).__name__ == "ExtraTreesClassifier"
    assert result.metrics["test"]["roc_auc"] > 0.7
    with pytest.raises(ValueError, match="dotted scikit-learn"):
        MLConfig(model="os.system")
    with pytest.raises(ConfigError, match="not a classifier"):
        train_classifier(
            _data(500, 1.0, 7),
            MLConfig(model="sklearn.preprocessing.StandardScaler", min_samples=50),
            embargo_rows=0,
            half_life_rows=None,
            seed=0,
        )
