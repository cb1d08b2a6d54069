"""Models at work: the cycle trader's nominator and the agents' setup filters.

Backtests and the scanner load the model a config names (``latest`` or an id) from the
registry, check its feature schema, and use it:

* the cycle trader ranks the pairs at each decision by the nominator's probability and
  nominates those above its threshold (:class:`ModelNominator`);
* an agent's setups whose technical-model probability is below its threshold are vetoed:
  the session records them as sim trades (reason ``model``).

With no trained model they run without it and say so (the rule-based nominator, setups
unfiltered) — unless ``ml.require_models`` is set, which makes a missing model an error.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tradewind.config import Settings
from tradewind.data.panel import Panel
from tradewind.domain.types import Timeframe
from tradewind.engine.params import T_EXPIRY, RegimeParams
from tradewind.errors import ConfigError, StateError
from tradewind.features.cache import cached_features
from tradewind.features.compute import Features, feature_signature
from tradewind.ml.datasets import feature_panel, feature_rows
from tradewind.ml.registry import ModelCard, Registry
from tradewind.strategies.agents import AgentSetups

__all__ = [
    "ModelNominator",
    "ModelUse",
    "agent_vetoes",
    "model_features",
    "nominator_model",
    "regime_clusters",
    "regime_params",
    "session_edges",
    "session_vetoes",
]


def model_features(settings: Settings, panel: Panel) -> Features:
    """The features models read, on ``ml.timeframe`` candles (cached)."""
    source = feature_panel(panel, settings.ml.timeframe)
    return cached_features(source, settings.home / "cache" / "features")


@dataclass
class ModelUse:
    """Which models a run used, and what it did without the missing ones."""

    veto: np.ndarray
    models: dict[str, str] = field(default_factory=dict)
    scale: np.ndarray | None = None  #: size factor per setup (the risk model's shrink)
    notes: list[str] = field(default_factory=list)


def _check_signature(card: ModelCard, features: Features) -> None:
    """A model reads features by name; a feature set whose definitions changed (same names,
    other computations) would feed it numbers it never saw. Refuse that."""
    now = feature_signature(features.specs)
    if card.feature_signature and card.feature_signature != now:
        raise StateError(
            f"model {card.id} ({card.role} of {card.scope}) was trained on feature set "
            f"{card.feature_signature}; this version computes {now}: retrain it "
            "(`tradewind train`)"
        )


def _by_regime(
    registry: Registry, agent: str, features: Features, rows: np.ndarray, pairs: np.ndarray
) -> list[tuple[np.ndarray, tuple[Any, ModelCard]]]:
    """Setups (as masks) that go to a promoted per-regime technical model of ``agent``."""
    regime = registry.resolve("latest", "regime", "cycle", required=False)
    if regime is None:
        return []
    out = []
    assigned: np.ndarray | None = None
    for r in range(int(regime.params.get("k", 0))):
        rc = registry.resolve("latest", "technical", f"{agent}.r{r}", required=False)
        if rc is None or rc.params.get("regime_model") != regime.id:
            continue
        _check_signature(rc, features)
        if assigned is None:
            rmodel = registry.load(regime)
            assigned = rmodel.predict(features.rows(rows, pairs, regime.features))
        sel = assigned == r
        if sel.any():
            out.append((sel, (registry.load(rc), rc)))
    return out


def agent_vetoes(
    settings: Settings, panel: Panel, prepared: AgentSetups, registry: Registry
) -> ModelUse:
    """One veto flag per setup of ``prepared``: the agent's technical model scored it below
    its threshold, or its risk model judged it unsafe (a likely stop-out or a large
    adverse excursion)."""
    ev = prepared.events
    use = ModelUse(veto=np.zeros(len(ev.t), dtype=np.bool_))
    features: Features | None = None
    for a, agent in enumerate(settings.agents):
        for role in ("technical", "risk"):
            ref = agent.models.get(role)
            if ref is None:
                continue
            card = registry.resolve(ref, role, agent.name, required=settings.ml.require_models)
            if card is None:
                use.notes.append(
                    f"agent {agent.name}: no promoted {role} model — its setups are not "
                    f"filtered by one (run `tradewind train`)"
                )
                continue
            model = registry.load(card)
            if features is None:
                features = model_features(settings, panel)
            _check_signature(card, features)
            mine = np.flatnonzero(ev.agent == a)
            if len(mine) == 0:
                continue
            rows, pairs = feature_rows(panel, features, ev.t[mine], ev.pair[mine])
            X = features.rows(rows, pairs, card.features)
            p = model.predict_proba(X)[:, 1]
            thr = np.full(len(p), float(card.params.get("threshold", 0.5)))
            if role == "technical":
                routed = _by_regime(registry, agent.name, features, rows, pairs)
                for sel, (rm, rc) in routed:
                    p[sel] = rm.predict_proba(features.rows(rows[sel], pairs[sel], rc.features))[
                        :, 1
                    ]
                    thr[sel] = float(rc.params.get("threshold", 0.5))
                if routed:
                    use.notes.append(
                        f"agent {agent.name}: setups routed to {len(routed)} regime model(s)"
                    )
            threshold = float(thr.mean()) if len(thr) else 0.5
            use.veto[mine] |= p < thr
            if role == "risk":
                # Between its threshold and its typical accepted probability the risk model
                # shrinks a setup linearly from half to full size.
                full = max(float(card.params.get("full_size_p", threshold)), threshold + 1e-9)
                if use.scale is None:
                    use.scale = np.ones(len(ev.t))
                use.scale[mine] = np.clip(
                    0.5 + 0.5 * (p - threshold) / (full - threshold), 0.5, 1.0
                )
            use.models[agent.name if role == "technical" else f"{agent.name}:{role}"] = card.id
            use.notes.append(
                f"agent {agent.name}: {role} model {card.id} (threshold {threshold:.3f}) "
                f"vetoed {int((p < thr).sum())} of {len(mine)} setups"
            )
    return use


@dataclass
class ModelNominator:
    """The cycle trader's nominator from trained models: each pair's regime (when a regime
    model is promoted) picks the classifier — the regime's own where one is promoted, the
    global one otherwise; pairs are ranked by probability, those at or above their
    model's threshold, the best ``top_n``."""

    model: Any
    card: ModelCard
    features: Features
    top_n: int = 10
    name: str = "model"
    regime: tuple[Any, ModelCard] | None = None
    by_regime: dict[int, tuple[Any, ModelCard]] = field(default_factory=dict)

    def _score(
        self, model: Any, card: ModelCard, rows: np.ndarray, pairs: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        X = self.features.rows(rows, pairs, card.features)
        p = model.predict_proba(X)[:, 1]
        return p, np.full(len(p), float(card.params.get("threshold", 0.5)))

    def nominate(self, panel: Panel, t: int, rng: np.random.Generator) -> np.ndarray:
        present = np.flatnonzero(panel.mask[t])
        if len(present) == 0:
            return np.zeros(0, dtype=np.int64)
        rows, pairs = feature_rows(panel, self.features, np.full(len(present), t), present)
        p, thr = self._score(self.model, self.card, rows, pairs)
        if self.regime is not None and self.by_regime:
            rmodel, rcard = self.regime
            regimes = rmodel.predict(self.features.rows(rows, pairs, rcard.features))
            for r, (model, card) in self.by_regime.items():
                mine = regimes == r
                if mine.any():
                    p[mine], thr[mine] = self._score(model, card, rows[mine], pairs[mine])
        order = np.argsort(-p, kind="stable")
        chosen = [int(present[i]) for i in order if p[i] >= thr[i]][: self.top_n]
        return np.array(chosen, dtype=np.int64)

    def warmup_bars(self, timeframe: Timeframe | str) -> int:
        return 1


def nominator_model(
    settings: Settings, panel: Panel, registry: Registry
) -> tuple[ModelNominator | None, str]:
    """The model nominator the config asks for (``cycle.nominator`` = model or auto), or
    None with the reason the rule-based one runs instead."""
    choice = settings.cycle.nominator
    if choice in ("momentum", "random"):
        return None, f"nominator: {choice} (rule-based, as configured)"
    ref = str(settings.cycle.nominator_params.get("model", "latest"))
    required = choice == "model" or settings.ml.require_models
    card = registry.resolve(ref, "nominator", "cycle", required=required)
    if card is None:
        return None, (
            "nominator: momentum — no promoted nominator model yet (run `tradewind train`)"
        )
    model = registry.load(card)
    features = model_features(settings, panel)
    _check_signature(card, features)
    top_n = int(settings.cycle.nominator_params.get("top_n", 10))
    if top_n < 1:
        raise ConfigError(f"cycle.nominator_params.top_n = {top_n} must be at least 1")
    nominator = ModelNominator(model, card, features, top_n)
    note = f"nominator: model {card.id}"
    regime = registry.resolve("latest", "regime", "cycle", required=False)
    if regime is not None:
        _check_signature(regime, features)
        for r in range(int(regime.params.get("k", 0))):
            rc = registry.resolve("latest", "nominator", f"cycle.r{r}", required=False)
            if rc is not None and rc.params.get("regime_model") == regime.id:
                _check_signature(rc, features)
                nominator.by_regime[r] = (registry.load(rc), rc)
        if nominator.by_regime:
            nominator.regime = (registry.load(regime), regime)
            note += f", regime model {regime.id} with its own nominator in regime(s) " + ", ".join(
                str(r) for r in sorted(nominator.by_regime)
            )
    return nominator, note


def session_vetoes(
    settings: Settings,
    panel: Panel,
    prepared: AgentSetups,
    registry: Registry | None = None,
) -> ModelUse:
    """:func:`agent_vetoes` with ``registry`` or the home's, opened only when an agent
    names a model (a session without models touches no database)."""
    if not any("technical" in a.models or "risk" in a.models for a in settings.agents):
        return ModelUse(veto=np.zeros(len(prepared.events.t), dtype=np.bool_))
    with _registry(settings, registry) as models:
        return agent_vetoes(settings, panel, prepared, models)


def _registry(
    settings: Settings, registry: Registry | None
) -> AbstractContextManager[Registry]:
    """``registry`` (its caller's: left open), or the home's, opened for one use."""
    if registry is not None:
        return nullcontext(registry)
    return Registry(settings.home / "models", settings.book_url)


def session_edges(
    settings: Settings,
    panel: Panel,
    prepared: AgentSetups,
    registry: Registry | None = None,
) -> tuple[np.ndarray | None, list[str]]:
    """The performance model's expected R per (clock row, agent) at each day end, for the
    agents that name it (NaN elsewhere: the trailing mean applies) — or None."""
    named = [a for a, agent in enumerate(settings.agents) if "performance" in agent.models]
    if not named:
        return None, []
    from tradewind.engine.params import lifecycle_params
    from tradewind.ml.pipeline import agent_records, performance_inputs

    with _registry(settings, registry) as registry:
        refs = {settings.agents[a].models["performance"] for a in named}
        ref = refs.pop() if len(refs) == 1 else "latest"
        card = registry.resolve(ref, "performance", "session", required=settings.ml.require_models)
        if card is None:
            return None, [
                "performance model: none promoted — capital is allocated by trailing "
                "expectancy (run `tradewind train`)"
            ]
        model = registry.load(card)
    params = lifecycle_params(settings.lifecycle, settings.fills, panel.timeframe)
    records = agent_records(settings, panel, model_features(settings, panel), params)
    parts = performance_inputs(settings, panel, records, require_target=False)
    edges = np.full((len(panel.timestamps), len(settings.agents)), np.nan)
    for a in named:
        part = parts[a]
        if len(part.t):
            edges[part.t, a] = model.predict(part.X)
    return edges, [f"performance model {card.id}: allocation by predicted expectancy"]


def regime_clusters(
    settings: Settings, panel: Panel, registry: Registry, t: np.ndarray, pair: np.ndarray
) -> tuple[np.ndarray, ModelCard | None]:
    """The promoted regime model's cluster of each (decision row, pair) — zeros (one
    cluster) when no regime model is promoted — and that model's card."""
    card = registry.resolve("latest", "regime", "cycle", required=False)
    if card is None or len(t) == 0:
        return np.zeros(len(t), dtype=np.int64), card
    features = model_features(settings, panel)
    _check_signature(card, features)
    model = registry.load(card)
    rows, cols = feature_rows(panel, features, np.asarray(t), np.asarray(pair))
    return np.asarray(model.predict(features.rows(rows, cols, card.features)), np.int64), card


def regime_params(
    settings: Settings, panel: Panel, rows: np.ndarray, registry: Registry
) -> tuple[RegimeParams | None, str]:
    """The cycle trader's per-regime lifecycle parameters (``cycle.risk_params``) for
    decisions at ``rows``, or None with the reason the configured ones apply.

    A parameter set is keyed by the regime model it was optimised for: k-means numbers its
    clusters anew each time it is fitted, so a set applies only while that model is the
    promoted one."""
    ref = settings.cycle.risk_params
    if ref == "static":
        return None, "lifecycle: the [lifecycle] parameters (cycle.risk_params = static)"
    card = registry.resolve(
        "latest" if ref == "auto" else ref, "lifecycle", "cycle", required=ref != "auto"
    )
    if card is None:
        return None, (
            "lifecycle: the [lifecycle] parameters — no optimised set promoted "
            "(`tradewind optimize`)"
        )
    wanted = card.params.get("regime_model")
    current = registry.resolve("latest", "regime", "cycle", required=False)
    now = current.id if current is not None else None
    if wanted != now:
        why = (
            f"parameter set {card.id} was optimised for regime model {wanted or '(none)'}, "
            f"the promoted one is {now or '(none)'}: run `tradewind optimize` again"
        )
        if ref != "auto":
            raise ConfigError(f"cycle.risk_params = {ref}: {why}")
        return None, f"lifecycle: the [lifecycle] parameters — {why}"
    table = np.array(registry.load(card), dtype=np.float64)  # expiry in hours
    hours = table[:, T_EXPIRY]
    step_h = panel.timeframe.seconds / 3600
    table[:, T_EXPIRY] = np.where(
        np.isfinite(hours), np.maximum(1.0, np.round(hours / step_h)), np.nan
    )
    rows = np.asarray(rows, dtype=np.int64)
    r, p = np.nonzero(panel.mask[rows]) if len(rows) else (np.zeros(0, np.int64),) * 2
    clusters = np.full((len(rows), len(panel.symbols)), -1, dtype=np.int64)
    found, _ = regime_clusters(settings, panel, registry, rows[r], p)
    clusters[r, p] = np.where(found < len(table), found, -1)
    tuned = int(np.isfinite(table).all(axis=1).sum())
    return RegimeParams(card.id, wanted, rows, clusters, table), (
        f"lifecycle: optimised set {card.id} ({card.params.get('objective', '?')}; "
        f"{tuned} of {len(table)} cluster(s) tuned, the rest as configured)"
    )
