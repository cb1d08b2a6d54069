"""Training rows for each model: features at the decision, labels from the lifecycle.

* The cycle trader: every pair with a candle at each daily decision row (23:55 by default);
  the label is whether a nomination there would have made a profitable trade through the
  pre-trade window and the active exits (:func:`tradewind.engine.labels.label_nominations`).
* An agent: every setup its strategy produced inside its universe; the label is whether
  that setup, taken alone, would have made money (:func:`tradewind.engine.labels.label_setups`,
  with the strategy's trailing stop), its value the R multiple.

Features are read at the decision row only; labels carry the row at which they became known
(for purging). Nothing from a label ever enters ``X``.
"""

from __future__ import annotations

import numpy as np

from tradewind.config.models import AgentConfig, CycleConfig
from tradewind.data.panel import Panel, decision_bars, resample_panel
from tradewind.domain.types import Timeframe, duration_bars
from tradewind.engine.labels import label_nominations, label_setups
from tradewind.engine.lifecycle import P_BOTH, P_EXPIRY, P_LIMIT, P_WSTOP, Params
from tradewind.engine.records import ExitReason
from tradewind.features.compute import Features
from tradewind.ml.train import Dataset
from tradewind.strategies.agents import AgentSetups, agent_side

__all__ = [
    "agent_dataset",
    "cycle_dataset",
    "feature_panel",
    "feature_rows",
    "prepared_agent_dataset",
]

_FIELDS = ("open", "high", "low", "close", "volume")


def _fields(panel: Panel) -> np.ndarray:
    return np.array([panel.fields.index(f) for f in _FIELDS], dtype=np.int64)


def _safe(labels: np.ndarray) -> np.ndarray:
    stopped = labels["exit_reason"] == ExitReason.STOP
    deep = labels["mae_r"] <= -0.8
    out: np.ndarray = ((labels["entered"] == 1) & ~stopped & ~deep).astype(np.int64)
    return out


def feature_panel(panel: Panel, timeframe: str) -> Panel:
    """The candles features are computed on: ``timeframe`` resampled from the trading
    clock, or the clock itself when it is that timeframe or longer."""
    tf = Timeframe.parse(timeframe)
    if tf.seconds <= panel.timeframe.seconds:
        return panel
    return resample_panel(panel, tf)


def feature_rows(
    panel: Panel, features: Features, t: np.ndarray, pair: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Where decisions at clock rows ``t`` on ``pair`` (indices into ``panel``) read their
    features: the feature grid's last candle closed by the decision's close (the grids may
    differ), and the pair's column there."""
    decided = panel.timestamps[t] + panel.timeframe.nanoseconds
    rows = features.row_at(decided)
    where = {s: i for i, s in enumerate(features.symbols)}
    pairs = np.array([where[s] for s in panel.symbols], dtype=np.int64)[pair]
    return rows, pairs


def _features_at(panel: Panel, features: Features, labels: np.ndarray) -> np.ndarray:
    """Features of each label's pair as known at its decision."""
    return features.rows(*feature_rows(panel, features, labels["t"], labels["pair"]))


def cycle_dataset(
    panel: Panel,
    features: Features,
    params: Params,
    *,
    cycle: CycleConfig,
    horizon: str,
) -> Dataset:
    """The cycle trader's rows: each pair at each decision row, labelled by the trade a
    nomination would have made (``value`` = its return after fees; 0 when it never filled)."""
    rows = decision_bars(panel.timestamps, panel.timeframe, cycle.decision_time)
    labels = label_nominations(
        rows,
        panel.values,
        _fields(panel),
        panel.mask,
        params,
        limit_mult=params[P_LIMIT],
        window_mult=params[P_WSTOP] if params[P_BOTH] > 0 else 0.0,
        expiry=int(params[P_EXPIRY]),
        horizon=duration_bars(horizon, panel.timeframe, "ml.label_horizon"),
    )
    X = _features_at(panel, features, labels)
    return Dataset(
        X=X,
        y=labels["win"].astype(np.int64),
        t=labels["t"].copy(),
        known_t=labels["known_t"].copy(),
        value=np.nan_to_num(labels["ret"]),
        features=list(features.names),
        pair=labels["pair"].copy(),
    )


def agent_dataset(
    panel: Panel,
    features: Features,
    params: Params,
    *,
    t: np.ndarray,
    pair: np.ndarray,
    side: int,
    ref: np.ndarray,
    stop: np.ndarray,
    target: np.ndarray,
    horizon: str,
    bar_at: np.ndarray | None = None,
    trail: np.ndarray | None = None,
    trail_offset: np.ndarray | None = None,
    trail_bars: np.ndarray | None = None,
    agent_index: int = 0,
    label: str = "win",
) -> Dataset:
    """One agent's rows: its setups, labelled by the trade each would have been
    (``value`` = R multiple; 0 when the entry was void).

    ``label`` ``win``: the trade made money (the technical model). ``safe``: it was
    neither stopped out at its initial stop nor ever 0.8 R against (the risk model, which
    learns the opposite of a stop-out or a large adverse excursion)."""
    n = len(t)
    labels = label_setups(
        t,
        np.full(n, agent_index, dtype=np.int64),
        pair,
        np.full(n, side, dtype=np.int64),
        ref,
        stop,
        target,
        panel.values,
        _fields(panel),
        panel.mask,
        params,
        duration_bars(horizon, panel.timeframe, "ml.label_horizon"),
        bar_at=bar_at,
        trail=trail,
        trail_offset=trail_offset,
        trail_bars=trail_bars,
    )
    X = _features_at(panel, features, labels)
    return Dataset(
        X=X,
        y=(labels["win"] if label == "win" else _safe(labels)).astype(np.int64),
        t=labels["t"].copy(),
        known_t=labels["known_t"].copy(),
        value=np.nan_to_num(labels["r_multiple"]),
        features=list(features.names),
        pair=labels["pair"].copy(),
    )


def prepared_agent_dataset(
    panel: Panel,
    features: Features,
    params: Params,
    prepared: AgentSetups,
    agent: AgentConfig,
    index: int,
    *,
    horizon: str,
    label: str = "win",
) -> Dataset:
    """:func:`agent_dataset` for agent ``index`` of setups prepared by
    :func:`tradewind.strategies.agents.prepare_agents` (its own setups, its trailing stops)."""
    ev = prepared.events
    mine = ev.agent == index
    return agent_dataset(
        panel,
        features,
        params,
        t=ev.t[mine],
        pair=ev.pair[mine],
        side=agent_side(agent),
        ref=ev.ref[mine],
        stop=ev.stop[mine],
        target=ev.target[mine],
        horizon=horizon,
        bar_at=prepared.bar_at,
        trail=prepared.trail,
        trail_offset=prepared.trail_offset,
        trail_bars=prepared.trail_bars,
        agent_index=index,
        label=label,
    )
