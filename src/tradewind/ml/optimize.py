"""Risk-parameter optimisation of the cycle trader (seed 000 §5.1), per regime cluster.

The seed's trader uses one set of lifecycle parameters θ for every market (take-profit
1.52, stop 0.983, …). Its relaxation of the Kelly problem: for each regime cluster c,

    θ*_c = argmax_θ  mean(R_c(θ)) / std(R_c(θ))        (objective ``sharpe``)

over the simulated returns of the trades the trader would have made in that cluster —
or the Kelly growth ``mean(log(1 + R_c(θ)))`` (objective ``kelly``). Here:

* the candidate trades are the nominations the configured nominator makes at each
  decision of the training period; each is simulated alone by the lifecycle itself
  (:func:`~tradewind.engine.labels.simulate_nominations`, the very trade the cycle
  trader makes of it), and its return is P/L over capital committed — 0 for a nomination
  whose window never broke out (the capital sat idle), so a narrow window cannot look
  good by trading rarely;
* θ = (pre-trade limit and window stop, expiry, take-profit, stop-loss, trailing
  activation and distance), searched by Optuna's seeded TPE sampler, the configured θ
  as the first trial, so the best in-sample is never worse than the static one;
* the regime of a nomination is the promoted regime model's cluster of its pair's
  features at the decision (one cluster, "all", when no regime model is promoted);
* validation is out of sample: the same objective on the nominations of the test
  period (after the training period and a purge of the label horizon), θ*_c against
  the static θ, and the deflated Sharpe ratio of each cluster's choice given its number
  of trials and the spread of their Sharpe ratios.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from tradewind.config.models import FillsConfig, LifecycleConfig
from tradewind.domain.types import Timeframe
from tradewind.engine.labels import simulate_nominations
from tradewind.engine.params import THETA, lifecycle_params, theta_of
from tradewind.errors import ConfigError
from tradewind.ml.validation import deflated_sharpe

__all__ = [
    "OBJECTIVES",
    "SPACE",
    "ClusterResult",
    "Nominations",
    "expiry_bars",
    "objective_value",
    "optimize_clusters",
    "static_theta",
    "trade_returns",
]

Objective = Literal["sharpe", "kelly"]
OBJECTIVES = ("sharpe", "kelly")

#: The search space of each parameter (expiry in hours, turned into bars of the run).
SPACE: dict[str, tuple[float, float]] = {
    "limit": (1.001, 1.05),
    "window_stop": (0.80, 0.995),
    "expiry_hours": (1.0, 72.0),
    "take_profit": (1.02, 2.0),
    "stop_loss": (0.90, 0.995),
    "trail_activation": (1.01, 1.5),
    "trail_distance": (0.90, 0.995),
}


@dataclass
class Nominations:
    """The candidate trades: nominations at decision rows ``t`` of pairs ``pair``, their
    regime cluster, and whether each belongs to the training or the test period."""

    t: np.ndarray
    pair: np.ndarray
    cluster: np.ndarray
    train: np.ndarray
    test: np.ndarray


@dataclass
class ClusterResult:
    cluster: int
    train_trades: int
    test_trades: int
    theta: dict[str, float] | None  #: None: too few trades, the static θ stays
    static_train: float
    best_train: float
    static_test: float
    best_test: float
    trials: int
    deflated_sharpe: float
    trial_values: list[float] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k not in ("theta", "trial_values")}
        out.update({k: (None if self.theta is None else self.theta[k]) for k in SPACE})
        return out


def objective_value(returns: np.ndarray, objective: Objective) -> float:
    """The objective over per-trade returns (nan with fewer than two)."""
    r = np.asarray(returns, dtype=np.float64)
    if len(r) < 2:
        return math.nan
    if objective == "kelly":
        return float(np.mean(np.log1p(np.maximum(r, -0.999999))))
    sd = float(r.std(ddof=1))
    return float(r.mean() / sd) if sd > 1e-12 else math.nan


def expiry_bars(hours: float, timeframe: Timeframe) -> int:
    """An expiry in hours as whole bars of ``timeframe`` (at least one)."""
    return max(1, round(hours * 3600 / timeframe.seconds))


def trade_returns(
    theta: dict[str, float],
    t: np.ndarray,
    pair: np.ndarray,
    candles: np.ndarray,
    valid: np.ndarray,
    timeframe: Timeframe,
    lifecycle: LifecycleConfig,
    fills: FillsConfig,
    horizon: int,
) -> np.ndarray:
    """Return on capital committed of each nomination traded with ``theta`` (0 for one
    that never filled)."""
    names = ("limit", "window_stop", "take_profit", "stop_loss")
    lc = lifecycle.model_copy(
        update={k: theta[k] for k in (*names, "trail_activation", "trail_distance")}
    )
    params = lifecycle_params(lc, fills, timeframe)
    sim = simulate_nominations(
        t,
        pair,
        candles,
        np.arange(5),
        valid,
        params,
        limit_mult=theta["limit"],
        window_mult=theta["window_stop"],
        expiry=expiry_bars(theta["expiry_hours"], timeframe),
        horizon=horizon,
    )
    return np.where(np.isfinite(sim["ret"]), sim["ret"], 0.0)


def static_theta(lifecycle: LifecycleConfig, timeframe: Timeframe) -> dict[str, float]:
    """The configured θ, in the search's terms."""
    values = dict(zip(THETA, theta_of(lifecycle, timeframe), strict=True))
    hours = values.pop("expiry_bars") * timeframe.seconds / 3600
    return {k: float(values.get(k, hours)) for k in SPACE}


def _sharpe(r: np.ndarray) -> float:
    return objective_value(r, "sharpe")


def optimize_clusters(
    noms: Nominations,
    candles: np.ndarray,
    valid: np.ndarray,
    timeframe: Timeframe,
    lifecycle: LifecycleConfig,
    fills: FillsConfig,
    *,
    objective: Objective,
    trials: int,
    horizon: int,
    seed: int,
    min_trades: int = 30,
    storage: str | None = None,
    study_prefix: str = "risk",
    on_trial: Callable[[int], None] | None = None,
) -> list[ClusterResult]:
    """θ*_c for every cluster with at least ``min_trades`` training nominations (see the
    module docstring). ``storage`` (an Optuna URL) makes the search resumable."""
    import optuna

    if objective not in OBJECTIVES:
        raise ConfigError(f"--objective {objective!r}: use one of {', '.join(OBJECTIVES)}")
    if trials < 1:
        raise ConfigError(f"--trials {trials}: at least one trial per cluster")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    static = static_theta(lifecycle, timeframe)
    results = []
    for c in np.unique(noms.cluster).tolist():
        tr = noms.train & (noms.cluster == c)
        te = noms.test & (noms.cluster == c)

        def returns(theta: dict[str, float], mask: np.ndarray) -> np.ndarray:
            return trade_returns(
                theta,
                noms.t[mask],
                noms.pair[mask],
                candles,
                valid,
                timeframe,
                lifecycle,
                fills,
                horizon,
            )

        static_tr = objective_value(returns(static, tr), objective)
        static_te = objective_value(returns(static, te), objective)
        result = ClusterResult(
            cluster=int(c),
            train_trades=int(tr.sum()),
            test_trades=int(te.sum()),
            theta=None,
            static_train=static_tr,
            best_train=static_tr,
            static_test=static_te,
            best_test=static_te,
            trials=0,
            deflated_sharpe=math.nan,
        )
        results.append(result)
        if tr.sum() < min_trades:
            continue

        def score(trial: Any, mask: np.ndarray = tr) -> float:
            theta = {k: trial.suggest_float(k, lo, hi) for k, (lo, hi) in SPACE.items()}
            r = returns(theta, mask)
            value = objective_value(r, objective)
            trial.set_user_attr("sharpe", _sharpe(r))  # for the deflated Sharpe ratio
            if on_trial is not None:
                on_trial(1)
            return value if math.isfinite(value) else -1e9

        study = optuna.create_study(
            study_name=f"{study_prefix}-c{c}",
            storage=storage,
            direction="maximize",
            load_if_exists=True,
            sampler=optuna.samplers.TPESampler(seed=seed + int(c)),
        )
        done = [t for t in study.trials if t.state.is_finished()]
        if not done:
            study.enqueue_trial(static)  # the configured θ is the first candidate
        remaining = trials - len(done)
        if remaining > 0:
            study.optimize(score, n_trials=remaining)
        best = {k: float(v) for k, v in study.best_params.items()}
        r_best = returns(best, tr)
        sharpes = np.array(
            [t.user_attrs.get("sharpe", math.nan) for t in study.trials], dtype=np.float64
        )
        sharpes = sharpes[np.isfinite(sharpes)]
        z = (r_best - r_best.mean()) / r_best.std() if r_best.std() > 0 else r_best * 0
        result.theta = best
        result.best_train = float(study.best_value)
        result.best_test = objective_value(returns(best, te), objective)
        result.trials = len(study.trials)
        result.trial_values = [float(t.value) for t in study.trials if t.value is not None]
        result.deflated_sharpe = deflated_sharpe(
            _sharpe(r_best),
            len(r_best),
            len(study.trials),
            float(np.var(sharpes, ddof=1)) if len(sharpes) > 1 else 0.0,
            float(np.mean(z**3)),
            float(np.mean(z**4)) if len(r_best) > 3 else 3.0,
        )
    return results
