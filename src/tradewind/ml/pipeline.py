"""``tradewind train``: every model the config names, trained by one protocol, registered.

* the cycle trader's nominator (role ``nominator``, scope ``cycle``): which pairs, at the
  daily decision, would have made a profitable trade;
* each agent's technical model (role ``technical``, scope the agent's name) when the agent
  names one: which of its setups would have made money.

Each is trained on features of the decision rows and labels from the lifecycle
(:mod:`tradewind.ml.datasets`), by :func:`tradewind.ml.train.train_classifier`, then
registered; it is promoted to ``latest`` only when it beats its baseline out of sample.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tradewind.config import Settings
from tradewind.data.panel import Panel, data_fingerprint
from tradewind.domain.types import duration_bars
from tradewind.engine.lifecycle import Params
from tradewind.engine.params import lifecycle_params
from tradewind.errors import DataError
from tradewind.features.base import FeatureSpec
from tradewind.features.cache import cached_features
from tradewind.features.compute import Features, check_history, feature_signature
from tradewind.ml.datasets import cycle_dataset, feature_panel, prepared_agent_dataset
from tradewind.ml.performance import (
    PERF_FEATURES,
    PerformanceData,
    fit_performance,
    performance_rows,
)
from tradewind.ml.regime import fit_regimes, regime_columns
from tradewind.ml.registry import Registry
from tradewind.ml.train import Dataset, TrainResult, train_classifier
from tradewind.ml.validation import time_split
from tradewind.strategies.agents import prepare_agents

__all__ = [
    "TrainReport",
    "agent_records",
    "feature_panel",
    "own_outcomes",
    "performance_inputs",
    "train_all",
]

_DAY_NS = 86_400_000_000_000


@dataclass
class TrainReport:
    """What ``tradewind train`` did, model by model."""

    models: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    timings_s: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"models": self.models, "skipped": self.skipped, "timings_s": self.timings_s}


def _fit_and_register(
    name: str,
    role: str,
    scope: str,
    data: Dataset,
    settings: Settings,
    panel: Panel,
    features: Features,
    registry: Registry,
    storage: str,
    extra_params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    cfg = settings.ml
    tf = panel.timeframe
    started = time.perf_counter()
    result: TrainResult = train_classifier(
        data,
        cfg,
        embargo_rows=duration_bars(cfg.embargo, tf, "ml.embargo"),
        half_life_rows=(
            float(duration_bars(cfg.recency_half_life, tf, "ml.recency_half_life"))
            if cfg.recency_half_life
            else None
        ),
        seed=settings.seed,
        study_name=f"{role}-{scope}-{feature_signature(features.specs)}-{data_fingerprint(panel)[:12]}",
        storage=storage if cfg.trials > 0 else None,
    )
    index = panel.index
    train_rows = data.t[result.train_rows] if len(result.train_rows) else data.t[:1]
    card = registry.register(
        result.model,
        role=role,
        scope=scope,
        features=result.features,
        params={
            "model": cfg.model,
            **result.params,
            "threshold": result.threshold,
            "full_size_p": result.full_size_p,
            **(extra_params or {}),
        },
        metrics={**result.metrics, "split": result.split, "selection": result.selection},
        train_start=index[int(np.min(train_rows))].to_pydatetime(),
        train_end=index[int(np.max(train_rows))].to_pydatetime(),
        data_fingerprint=data_fingerprint(panel),
        feature_signature=feature_signature(features.specs),
        promote=result.beats_baseline,
    )
    test = result.metrics["test"]
    return {
        "name": name,
        "id": card.id,
        "role": role,
        "scope": scope,
        "promoted": result.beats_baseline,
        "verdict": result.verdict,
        "rows": len(data.y),
        "features": len(result.features),
        "threshold": result.threshold,
        "test": test,
        "seconds": time.perf_counter() - started,
    }


def _regimes(
    data: Dataset,
    settings: Settings,
    panel: Panel,
    features: Features,
    registry: Registry,
    storage: str,
    report: TrainReport,
) -> None:
    """The regime model and one nominator per regime (seed 000's predictor)."""
    cfg = settings.ml
    embargo = duration_bars(cfg.embargo, panel.timeframe, "ml.embargo")
    split = time_split(data.t, data.known_t, tuple(cfg.split), embargo)  # type: ignore[arg-type]
    cols = regime_columns(features.specs)
    names = [features.names[c] for c in cols]
    if len(split.train) < cfg.min_samples or not cols:
        report.skipped.append({"name": "regime model", "reason": "too few training rows"})
        return
    fit = fit_regimes(
        data.X[np.ix_(split.train, np.asarray(cols))], names, cfg.regime_k, settings.seed
    )
    card = registry.register(
        fit.model,
        role="regime",
        scope="cycle",
        features=fit.features,
        params={"k": fit.k},
        metrics={"silhouette": fit.silhouette},
        data_fingerprint=data_fingerprint(panel),
        feature_signature=feature_signature(features.specs),
        promote=True,
    )
    keep = [names.index(n) for n in fit.features]
    regime = fit.assign(data.X[:, [cols[i] for i in keep]])
    report.models.append(
        {
            "name": f"regime model (k = {fit.k})",
            "id": card.id,
            "role": "regime",
            "scope": "cycle",
            "promoted": True,
            "verdict": "clusters: "
            + ", ".join(f"{r}: {int((regime == r).sum())} rows" for r in range(fit.k)),
            "rows": len(regime),
            "features": len(fit.features),
            "threshold": None,
            "test": {},
        }
    )
    for r in range(fit.k):
        rows = np.flatnonzero(regime == r)
        sub = data.subset(rows)
        name = f"cycle trader nominator, regime {r}"
        try:
            entry = _fit_and_register(
                name,
                "nominator",
                f"cycle.r{r}",
                sub,
                settings,
                panel,
                features,
                registry,
                storage,
                extra_params={"regime_model": card.id, "regime": r},
            )
        except DataError as exc:
            report.skipped.append({"name": name, "reason": str(exc)})
            continue
        report.models.append(entry)


def _technical_by_regime(
    settings: Settings,
    panel: Panel,
    features: Features,
    params: Params,
    registry: Registry,
    storage: str,
    report: TrainReport,
    jobs: Sequence[tuple[str, str, str, Callable[[], Dataset]]],
) -> None:
    """Each agent's technical model again, once per regime of the latest regime model."""
    regime = registry.resolve("latest", "regime", "cycle", required=False)
    if regime is None:
        report.skipped.append({"name": "technical models per regime", "reason": "no regime model"})
        return
    rmodel = registry.load(regime)
    where = {n: i for i, n in enumerate(features.names)}
    cols = [where[n] for n in regime.features]
    for name, role, scope, build in jobs:
        if role != "technical":
            continue
        data = build()
        assigned = rmodel.predict(data.X[:, cols])
        for r in range(int(regime.params.get("k", 0))):
            rows = np.flatnonzero(assigned == r)
            sub = data.subset(rows)
            label = f"{name}, regime {r}"
            try:
                report.models.append(
                    _fit_and_register(
                        label,
                        "technical",
                        f"{scope}.r{r}",
                        sub,
                        settings,
                        panel,
                        features,
                        registry,
                        storage,
                        extra_params={"regime_model": regime.id, "regime": r},
                    )
                )
            except DataError as exc:
                report.skipped.append({"name": label, "reason": str(exc)})


def risk_columns(specs: Sequence[FeatureSpec]) -> list[int]:
    """The risk model reads spread, liquidity, rank and volatility features only."""
    return [i for i, s in enumerate(specs) if s.group in ("spread", "liquidity", "volatility")]


def own_outcomes(settings: Settings, panel: Panel, agent: str, data: Dataset) -> int:
    """Learning from its own decisions (seed 004): where the trade book holds the agent's
    paper or live trade for a setup in ``data`` (same decision candle and pair), the
    recorded outcome replaces the simulated one. Backtest rows are never used (they are
    the simulation itself). Returns how many rows came from the book."""
    from tradewind.store.repository import TradeBook

    url = settings.book_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return 0
    with TradeBook(url) as book:
        rows = book.trades(agent=agent)
    if rows.empty:
        return 0
    mine = rows[
        rows["source"].isin(["paper", "live"])
        & rows["kind"].isin(["real", "sim"])
        & (rows["status"] == "closed")
        & rows["r_multiple"].notna()
        & rows["nominated_at"].notna()
    ]
    if mine.empty or data.pair is None:
        return 0
    index = {s: i for i, s in enumerate(panel.symbols)}
    stamps = panel.timestamps
    where = {(int(t), int(p)): i for i, (t, p) in enumerate(zip(data.t, data.pair, strict=True))}
    used = 0
    recs: list[dict[str, Any]] = [
        {str(k): v for k, v in r.items()} for r in mine.to_dict(orient="records")
    ]
    for rec in recs:
        pair = index.get(str(rec["pair"]))
        if pair is None:
            continue
        at = int(pd.Timestamp(rec["nominated_at"]).value)
        row = int(np.searchsorted(stamps, at))
        if row >= len(stamps) or int(stamps[row]) != at:
            continue
        i = where.get((row, pair))
        if i is None:
            continue
        r_mult = float(rec["r_multiple"])
        data.y[i] = 1 if r_mult > 0 else 0
        data.value[i] = r_mult
        exit_at = rec.get("exit_at")
        if exit_at is not None and not pd.isna(exit_at):
            exit_row = int(np.searchsorted(stamps, int(pd.Timestamp(exit_at).value)))
            data.known_t[i] = max(int(data.known_t[i]), min(exit_row, len(stamps) - 1))
        used += 1
    return used


def agent_records(
    settings: Settings, panel: Panel, features: Features, params: Params
) -> list[Dataset]:
    """Every agent's setups labelled by the lifecycle (its real-or-sim trade record)."""
    prepared = prepare_agents(panel, settings.agents)
    out = []
    for a, agent in enumerate(settings.agents):
        out.append(
            prepared_agent_dataset(
                panel, features, params, prepared, agent, a, horizon=settings.ml.label_horizon
            )
        )
    return out


def performance_inputs(
    settings: Settings, panel: Panel, records: Sequence[Dataset], *, require_target: bool
) -> list[PerformanceData]:
    """Per agent, one row per UTC day end: its record then (and next week's outcome)."""
    tf = panel.timeframe
    stamps = panel.timestamps
    day_rows = np.flatnonzero(((stamps + tf.nanoseconds) // _DAY_NS) != (stamps // _DAY_NS))
    return [
        performance_rows(
            day_rows,
            a,
            rec.t,
            rec.known_t,
            rec.value,
            last=settings.session.expectancy_trades,
            week=duration_bars("7d", tf, "performance window"),
            month=duration_bars("30d", tf, "performance window"),
            require_target=require_target,
        )
        for a, rec in enumerate(records)
    ]


def _performance(
    settings: Settings, panel: Panel, features: Features, params: Params, registry: Registry
) -> dict[str, Any]:
    started = time.perf_counter()
    records = agent_records(settings, panel, features, params)
    parts = performance_inputs(settings, panel, records, require_target=True)
    fit = fit_performance(
        parts,
        settings.ml.split,
        duration_bars(settings.ml.embargo, panel.timeframe, "ml.embargo"),
        settings.seed,
    )
    card = registry.register(
        fit.model,
        role="performance",
        scope="session",
        features=list(PERF_FEATURES),
        params={"model": "hist_gradient_boosting_regressor"},
        metrics=fit.metrics,
        data_fingerprint=data_fingerprint(panel),
        promote=fit.beats_baseline,
    )
    return {
        "name": "performance model",
        "id": card.id,
        "role": "performance",
        "scope": "session",
        "promoted": fit.beats_baseline,
        "verdict": fit.verdict,
        "rows": int(sum(len(p.y) for p in parts)),
        "features": len(PERF_FEATURES),
        "threshold": None,
        "test": fit.metrics,
        "seconds": time.perf_counter() - started,
    }


def train_all(
    settings: Settings,
    panel: Panel,
    *,
    on_model: Callable[[str], None] | None = None,
) -> TrainReport:
    """Train, register and (when they earn it) promote every model of ``settings``."""
    report = TrainReport()
    started = time.perf_counter()
    home = settings.home
    source = feature_panel(panel, settings.ml.timeframe)
    features = cached_features(source, home / "cache" / "features")
    check_history(features.specs, len(source.timestamps), source.timeframe.name)
    report.timings_s["features"] = time.perf_counter() - started
    params = lifecycle_params(settings.lifecycle, settings.fills, panel.timeframe)
    storage = settings.ml.study_url or f"sqlite:///{(home / 'optuna.sqlite').as_posix()}"
    home.mkdir(parents=True, exist_ok=True)
    jobs: list[tuple[str, str, str, Callable[[], Dataset]]] = [
        (
            "cycle trader nominator",
            "nominator",
            "cycle",
            partial(
                cycle_dataset,
                panel,
                features,
                params,
                cycle=settings.cycle,
                horizon=settings.ml.label_horizon,
            ),
        )
    ]
    wanted = [
        (a, role)
        for a, agent in enumerate(settings.agents)
        for role in ("technical", "risk")
        if role in agent.models
    ]
    if wanted:
        prepared = prepare_agents(panel, settings.agents)
        for a, agent_role in wanted:
            agent = settings.agents[a]
            jobs.append(
                (
                    f"agent {agent.name} {agent_role}",
                    agent_role,
                    agent.name,
                    partial(
                        prepared_agent_dataset,
                        panel,
                        features,
                        params,
                        prepared,
                        agent,
                        a,
                        horizon=settings.ml.label_horizon,
                        label="win" if agent_role == "technical" else "safe",
                    ),
                )
            )
    with Registry(home / "models", settings.book_url) as registry:

        def one(job: tuple[str, str, str, Callable[[], Dataset]]) -> list[Any]:
            """Train one job (and, for the nominator, its regimes); return report items."""
            name, role, scope, build = job
            if on_model:
                on_model(name)
            part = TrainReport()
            try:
                data = build()
                own = 0
                if role == "risk":
                    data = data.columns(risk_columns(features.specs))
                elif role == "technical":
                    own = own_outcomes(settings, panel, scope, data)
                entry = _fit_and_register(
                    name, role, scope, data, settings, panel, features, registry, storage
                )
                entry["own_trades"] = own
                part.models.append(entry)
            except DataError as exc:
                part.skipped.append({"name": name, "reason": str(exc)})
                return [part]
            if role == "nominator":
                _regimes(data, settings, panel, features, registry, storage, part)
            return [part]

        # Models train side by side (`ml.jobs` at once); the report keeps the jobs' order.
        with ThreadPoolExecutor(max_workers=max(1, settings.ml.jobs)) as pool:
            for parts in pool.map(one, jobs):
                for part in parts:
                    report.models.extend(part.models)
                    report.skipped.extend(part.skipped)
        if settings.ml.technical_per_regime:
            _technical_by_regime(settings, panel, features, params, registry, storage, report, jobs)
        if any("performance" in a.models for a in settings.agents):
            if on_model:
                on_model("performance model")
            try:
                report.models.append(_performance(settings, panel, features, params, registry))
            except DataError as exc:
                report.skipped.append({"name": "performance model", "reason": str(exc)})
    report.timings_s["total"] = time.perf_counter() - started
    return report
