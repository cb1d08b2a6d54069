"""``tradewind optimize``: the cycle trader's lifecycle parameters per regime cluster.

The search itself is :mod:`tradewind.ml.optimize`; here are the trades it searches over
(the configured nominator's nominations at every decision), the split in time, the
backtests of the test period with and without the result, the registration of the
parameter set (keyed by the regime model it was made for) and the study folder.

The set is registered in the model registry (role ``lifecycle``, scope ``cycle``) and
*promoted* — so that ``cycle.risk_params = auto`` picks it up — only when it beats the
configured parameters out of sample twice: pooled over the clusters on the objective, and
in the backtest of the test period (the trader's return, same seed).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tradewind.backtest.run import load_backtest_panel, make_trader, run_inputs
from tradewind.config import Settings, config_hash
from tradewind.data.panel import Panel, data_fingerprint
from tradewind.domain.types import duration_bars
from tradewind.engine.params import THETA
from tradewind.engine.records import Kind, Status
from tradewind.errors import ConfigError, DataError
from tradewind.ml.apply import regime_clusters
from tradewind.ml.optimize import (
    SPACE,
    Nominations,
    Objective,
    expiry_bars,
    objective_value,
    optimize_clusters,
    static_theta,
    trade_returns,
)
from tradewind.ml.registry import Registry
from tradewind.strategies.nominators import uses_rng

__all__ = ["run_optimize"]

#: The registry's columns of a parameter set: THETA with the expiry in hours.
COLUMNS = [name if name != "expiry_bars" else "expiry_hours" for name in THETA]


def _nominations(
    settings: Settings, panel: Panel
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """Every nomination the configured nominator makes at the decision rows (a random
    nominator draws once, from the master seed)."""
    inputs = run_inputs(settings.model_copy(update={"cycle": _static(settings)}), panel)
    rows = make_trader(settings, inputs).decision_rows()
    rng = np.random.default_rng(settings.seed)
    ts, pairs = [], []
    for t in rows.tolist():
        ranked = np.asarray(inputs.nominator.nominate(panel, t, rng), dtype=np.int64)
        ranked = ranked[panel.mask[t, ranked]] if len(ranked) else ranked
        ts += [t] * len(ranked)
        pairs += ranked.tolist()
    note = inputs.nominator_note + (" (drawn once)" if uses_rng(inputs.nominator) else "")
    return np.array(ts, np.int64), np.array(pairs, np.int64), rows, note


def _static(settings: Settings) -> Any:
    return settings.cycle.model_copy(update={"risk_params": "static"})


def _write_json(path: Path, payload: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
    os.replace(tmp, path)


def _finite(x: float) -> float | None:
    return float(x) if isinstance(x, float | int) and math.isfinite(x) else None


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (_finite(v) if isinstance(v, float) else v) for k, v in row.items()}


def run_optimize(
    settings: Settings,
    *,
    folder: Path,
    objective: Objective = "sharpe",
    trials: int = 60,
    train_fraction: float = 0.7,
    min_trades: int = 30,
    panel: Panel | None = None,
    on_trial: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Optimise, validate, register (and promote when it beats the static parameters out
    of sample); write ``optimize.json`` into ``folder``. Rerunning the same command in the
    same folder resumes the Optuna studies where they stopped."""
    if not 0.2 <= train_fraction <= 0.9:
        raise ConfigError(f"--train-fraction {train_fraction}: between 0.2 and 0.9")
    panel = panel if panel is not None else load_backtest_panel(settings)
    folder.mkdir(parents=True, exist_ok=True)
    ts, pairs, rows, nominator_note = _nominations(settings, panel)
    if len(rows) < 10 or len(ts) == 0:
        raise DataError(
            f"optimize needs decisions to learn from: {len(rows)} decision days and "
            f"{len(ts)} nominations in the data; use a longer period"
        )
    tf = panel.timeframe
    horizon = duration_bars(settings.ml.label_horizon, tf, "ml.label_horizon")
    split = int(rows[int(len(rows) * train_fraction)])
    # Purged: a training trade's outcome (at most the longest window, then the horizon)
    # is known before the first test decision.
    purge = expiry_bars(SPACE["expiry_hours"][1], tf) + horizon
    train = ts + purge < split
    test = ts >= split
    with Registry(settings.home / "models", settings.book_url) as registry:
        clusters, regime = regime_clusters(settings, panel, registry, ts, pairs)
        k = int(regime.params.get("k", 1)) if regime is not None else 1
        noms = Nominations(ts, pairs, clusters, train, test)
        fingerprint = data_fingerprint(panel)[:12]
        results = optimize_clusters(
            noms,
            panel.values,
            panel.mask,
            tf,
            settings.lifecycle,
            settings.fills,
            objective=objective,
            trials=trials,
            horizon=horizon,
            seed=settings.seed,
            min_trades=min_trades,
            storage=f"sqlite:///{(folder / 'optuna.sqlite').as_posix()}",
            study_prefix=f"{objective}-{fingerprint}-{regime.id if regime else 'all'}-{split}",
            on_trial=on_trial,
        )
        table = np.full((k, len(THETA)), np.nan)
        for r in results:
            if r.theta is not None and r.cluster < k:
                table[r.cluster] = [r.theta[c] for c in COLUMNS]
        # Pooled out of sample: every test nomination with its cluster's θ (or the static).
        def returns(theta: dict[str, float], where: np.ndarray) -> np.ndarray:
            return trade_returns(
                theta,
                ts[where],
                pairs[where],
                panel.values,
                panel.mask,
                tf,
                settings.lifecycle,
                settings.fills,
                horizon,
            )

        static = static_theta(settings.lifecycle, tf)
        dyn = np.zeros(int(test.sum()))
        te_idx = np.flatnonzero(test)
        for c in np.unique(clusters[test]).tolist():
            mine = clusters[te_idx] == c
            theta = (
                dict(zip(COLUMNS, table[c], strict=True))
                if c < k and np.isfinite(table[c]).all()
                else static
            )
            dyn[mine] = returns(theta, te_idx[mine])
        stat = returns(static, test)
        pooled = {
            "test_trades": int(test.sum()),
            "static": _finite(objective_value(stat, objective)),
            "optimised": _finite(objective_value(dyn, objective)),
        }
        beats = (
            pooled["optimised"] is not None
            and pooled["static"] is not None
            and pooled["optimised"] > pooled["static"]
            and np.isfinite(table).all(axis=1).any()
        )
        card = registry.register(
            table,
            role="lifecycle",
            scope="cycle",
            features=[],
            params={
                "regime_model": regime.id if regime is not None else None,
                "objective": objective,
                "columns": COLUMNS,
                "clusters": k,
                "trials": trials,
                "train_until": panel.index[split].isoformat(),
            },
            metrics={"pooled_test": pooled, "clusters": [_clean(r.row()) for r in results]},
            train_start=panel.index[0].to_pydatetime(),
            train_end=panel.index[split].to_pydatetime(),
            data_fingerprint=data_fingerprint(panel),
        )
        # Promoted only when the trader itself does better too: the per-trade objective
        # ignores how the trader sizes, overlaps and recycles its trades.
        backtest = _test_backtests(settings, panel, split, card.id)
        beats = bool(beats and backtest["optimised_return"] >= backtest["static_return"])
        if beats:
            registry.promote(card.id)
    summary: dict[str, Any] = {
        "objective": objective,
        "trials": trials,
        "nominator": nominator_note,
        "regime_model": regime.id if regime is not None else None,
        "clusters": [_clean(r.row()) for r in results],
        "pooled_test": pooled,
        "train_until": panel.index[split].isoformat(),
        "set_id": card.id,
        "promoted": beats,
        "backtest": backtest,
        "note": (
            "θ per regime cluster of the "
            + (f"regime model {regime.id}" if regime else "whole market (no regime model)")
            + f"; trained on decisions before {panel.index[split].date()} (purged), tested "
            "after. "
            + (
                "Promoted: cycle.risk_params = auto uses it."
                if beats
                else "Not promoted: out of sample it does not beat the configured parameters "
                "(per trade and in the backtest of the test period)."
            )
        ),
        "config_hash": config_hash(settings),
        "folder": str(folder),
    }
    _write_json(folder / "optimize.json", summary)
    return summary


def _test_backtests(settings: Settings, panel: Panel, split: int, set_id: str) -> dict[str, Any]:
    """The cycle trader over the test period with the configured and with the optimised
    parameters — the latter picked up as a backtest picks them up (``cycle.risk_params``
    naming the set) — on the same seed, so with the same luck."""
    out: dict[str, Any] = {"from": panel.index[split].isoformat()}
    for name, ref in (("static", "static"), ("optimised", set_id)):
        cfg = settings.model_copy(
            update={"cycle": settings.cycle.model_copy(update={"risk_params": ref})}
        )
        trader = make_trader(cfg, run_inputs(cfg, panel))
        trader.run(first=split)
        eq = trader.equity[split:]
        out[f"{name}_return"] = float(eq[-1] / eq[0] - 1.0)
        out[f"{name}_max_drawdown"] = float((eq / np.maximum.accumulate(eq) - 1.0).min())
        done = trader.trades[: trader.n_trades]
        closed = (done["kind"] == Kind.REAL) & (done["status"] == Status.CLOSED)
        out[f"{name}_trades"] = int(closed.sum())
    return out
