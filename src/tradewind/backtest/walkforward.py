"""``tradewind walkforward``: retrain per window, stitch, backtest out of sample.

For the cycle trader's nominator and each agent's technical model: stitched out-of-sample
probabilities (:mod:`tradewind.ml.walkforward`) drive a backtest beside the same backtest
without the model (the momentum ranking; the agent's setups unfiltered). Both runs are
identical until the first test window (no model has scored anything there), so the
comparison is the equity from that row on. Reported with the out-of-sample AUC, the
deflated Sharpe ratio of the model's out-of-sample returns and the probability of backtest
overfitting of choosing between the model and its baseline, window by window.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tradewind.backtest.run import load_backtest_panel, run_backtest
from tradewind.backtest.session_run import run_session_backtest
from tradewind.config import Settings, config_hash
from tradewind.data.panel import Panel
from tradewind.domain.types import Timeframe
from tradewind.engine.params import lifecycle_params
from tradewind.ml.apply import ModelUse, model_features
from tradewind.ml.datasets import cycle_dataset, prepared_agent_dataset
from tradewind.ml.train import Dataset
from tradewind.ml.validation import deflated_sharpe, probability_of_backtest_overfitting
from tradewind.ml.walkforward import WalkForward, oos_summary, walk_forward_predictions
from tradewind.strategies.agents import prepare_agents
from tradewind.strategies.nominators import Nominator, make_nominator

__all__ = ["SilentUntil", "run_walkforward"]


@dataclass
class _Stitched:
    """Nominates from walk-forward probabilities: the pairs scored at ``t`` at or above
    their window's threshold, best first, at most ``top_n``."""

    p: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]
    top_n: int
    name: str = "walk-forward model"

    def nominate(self, panel: Panel, t: int, rng: np.random.Generator) -> np.ndarray:
        got = self.p.get(int(t))
        if got is None:
            return np.zeros(0, dtype=np.int64)
        pairs, prob, thr = got
        order = np.argsort(-prob, kind="stable")
        chosen = [int(pairs[i]) for i in order if prob[i] >= thr[i]]
        return np.array(chosen[: self.top_n], dtype=np.int64)

    def warmup_bars(self, timeframe: Timeframe | str) -> int:
        return 1


@dataclass
class SilentUntil:
    """A nominator that is silent before row ``start`` (the baseline of the same span)."""

    inner: Nominator
    start: int

    @property
    def name(self) -> str:
        return self.inner.name

    def nominate(self, panel: Panel, t: int, rng: np.random.Generator) -> np.ndarray:
        if t < self.start:
            return np.zeros(0, dtype=np.int64)
        return self.inner.nominate(panel, t, rng)

    def warmup_bars(self, timeframe: Timeframe | str) -> int:
        return self.inner.warmup_bars(timeframe)


def _window_returns(equity: pd.Series, wf: WalkForward) -> np.ndarray:
    """Return of ``equity`` over each scored test window."""
    values = equity.to_numpy(dtype=np.float64)
    out = []
    for w in wf.windows:
        if "auc" not in w:
            continue
        a, b = w["test"]
        e0 = values[max(a - 1, 0)]
        e1 = values[min(b, len(values)) - 1]
        out.append(e1 / e0 - 1.0 if e0 > 0 else math.nan)
    return np.array(out)


def _compare(
    model_eq: pd.Series, base_eq: pd.Series, start: int, wf: WalkForward, trials: int
) -> dict[str, Any]:
    index = model_eq.index
    m = model_eq.iloc[start:]
    b = base_eq.iloc[start:]
    daily_m = m.resample("1D").last().pct_change().dropna()
    daily_b = b.resample("1D").last().pct_change().dropna()

    def sharpe(r: pd.Series) -> float:
        sd = float(r.std(ddof=1))
        return float(r.mean()) / sd if sd > 0 else math.nan

    sr_m, sr_b = sharpe(daily_m), sharpe(daily_b)
    r = daily_m.to_numpy(dtype=np.float64)
    sd = r.std()
    z = (r - r.mean()) / sd if sd > 0 else np.zeros_like(r)
    skew = float(np.mean(z**3)) if len(r) > 2 else 0.0
    kurt = float(np.mean(z**4)) if len(r) > 3 else 3.0  # raw (not excess) kurtosis
    n_trials = 1 + max(trials, 0)
    finite = [x for x in (sr_m, sr_b) if math.isfinite(x)]
    var = float(np.var(finite, ddof=1)) if n_trials > 1 and len(finite) > 1 else 0.0
    dsr = (
        deflated_sharpe(sr_m, len(daily_m), n_trials, var, skew, kurt) if sr_m == sr_m else math.nan
    )
    per_window = np.column_stack([_window_returns(model_eq, wf), _window_returns(base_eq, wf)])
    per_window = per_window[np.isfinite(per_window).all(axis=1)]
    blocks = min(8, len(per_window) // 4 * 2)  # even, and two windows a block at least
    pbo = (
        probability_of_backtest_overfitting(per_window, blocks=blocks) if blocks >= 2 else math.nan
    )
    return {
        "from": index[start].isoformat(),
        "model_return": float(m.iloc[-1] / m.iloc[0] - 1.0),
        "baseline_return": float(b.iloc[-1] / b.iloc[0] - 1.0),
        "model_daily_sharpe": sr_m,
        "baseline_daily_sharpe": sr_b,
        "deflated_sharpe": dsr,
        "trials": n_trials,
        "pbo": pbo,
        "pbo_windows": len(per_window),
    }


def _curves(model_eq: pd.Series, base_eq: pd.Series, start: int) -> pd.DataFrame:
    """Both equity curves from the first out-of-sample bar on."""
    return pd.DataFrame(
        {"with the models": model_eq.iloc[start:], "baseline": base_eq.iloc[start:]}
    )


def _first_test(wf: WalkForward) -> int | None:
    starts = [w["test"][0] for w in wf.windows if "auc" in w]
    return min(starts) if starts else None


def run_walkforward(
    settings: Settings,
    *,
    train: str = "90d",
    test: str = "30d",
    anchored: bool = False,
    panel: Panel | None = None,
    folder: Path | None = None,
) -> dict[str, Any]:
    """Walk-forward of every model the config names; see the module docstring.

    With ``folder``, the report (``walkforward.json``), the equity curves of the
    backtests with and without the models (``equity_cycle.parquet``,
    ``equity_session.parquet``) and the trades of the runs with the models
    (``trades_cycle.parquet``, ``trades_session.parquet``: what a trade bootstrap of the
    out-of-sample result resamples) are written there, for ``tradewind report``."""
    panel = panel if panel is not None else load_backtest_panel(settings)
    features = model_features(settings, panel)
    params = lifecycle_params(settings.lifecycle, settings.fills, panel.timeframe)
    horizon = settings.ml.label_horizon
    report: dict[str, Any] = {
        "train": train,
        "test": test,
        "anchored": anchored,
        "config_hash": config_hash(settings),
        "models": [],
    }
    curves: dict[str, pd.DataFrame] = {}
    trades: dict[str, pd.DataFrame] = {}

    def evaluate(name: str, data: Dataset) -> tuple[WalkForward, dict[str, Any]]:
        wf = walk_forward_predictions(
            data, settings, panel, train=train, test=test, anchored=anchored
        )
        entry = {"name": name, "oos": oos_summary(data, wf), "windows": wf.windows}
        report["models"].append(entry)
        return wf, entry

    # The cycle trader's nominator.
    data = cycle_dataset(panel, features, params, cycle=settings.cycle, horizon=horizon)
    wf, entry = evaluate("cycle trader nominator", data)
    start = _first_test(wf)
    if start is not None:
        ok = wf.scored()
        stitched: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for t in np.unique(data.t[ok]).tolist():
            rows = ok & (data.t == t)
            pairs = data.pair if data.pair is not None else np.zeros(len(data.t), np.int64)
            stitched[int(t)] = (pairs[rows], wf.p[rows], wf.threshold[rows])
        top_n = int(settings.cycle.nominator_params.get("top_n", 10))
        params_mom = {k: v for k, v in settings.cycle.nominator_params.items() if k != "model"}
        model_run = run_backtest(
            settings, panel=panel, save=False, nominator=(_Stitched(stitched, top_n), "wf")
        )
        base = SilentUntil(make_nominator("momentum", **params_mom), start)
        base_run = run_backtest(settings, panel=panel, save=False, nominator=(base, "momentum"))
        entry["backtest"] = _compare(
            model_run.equity["equity"], base_run.equity["equity"], start, wf, settings.ml.trials
        )
        curves["cycle"] = _curves(model_run.equity["equity"], base_run.equity["equity"], start)
        trades["cycle"] = model_run.trades
    # Each agent's technical model.
    wanted = [a for a, agent in enumerate(settings.agents) if "technical" in agent.models]
    if wanted:
        prepared = prepare_agents(panel, settings.agents)
        ev = prepared.events
        veto = np.zeros(len(ev.t), dtype=np.bool_)
        starts = []
        for a in wanted:
            agent = settings.agents[a]
            mine = np.flatnonzero(ev.agent == a)
            data = prepared_agent_dataset(
                panel, features, params, prepared, agent, a, horizon=horizon
            )
            wf, entry = evaluate(f"agent {agent.name} technical", data)
            ok = wf.scored()
            veto[mine[ok]] = wf.p[ok] < wf.threshold[ok]
            first = _first_test(wf)
            if first is not None:
                starts.append(first)
                entry["vetoed"] = int(veto[mine].sum())
        if starts:
            start = min(starts)
            with_models = run_session_backtest(
                settings,
                panel=panel,
                save=False,
                prepared=prepared,
                models=ModelUse(veto=veto, notes=["walk-forward vetoes"]),
            )
            without = run_session_backtest(
                settings,
                panel=panel,
                save=False,
                prepared=prepared,
                models=ModelUse(veto=np.zeros_like(veto)),
            )
            curves["session"] = _curves(
                with_models.equity["equity"], without.equity["equity"], start
            )
            trades["session"] = with_models.trades
            report["session_backtest"] = _compare(
                with_models.equity["equity"],
                without.equity["equity"],
                start,
                WalkForward(np.zeros(0), np.zeros(0), report["models"][-1]["windows"]),
                settings.ml.trials,
            )
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        for name, table in curves.items():
            table.to_parquet(folder / f"equity_{name}.parquet")
        for name, table in trades.items():
            table.to_parquet(folder / f"trades_{name}.parquet")
        tmp = folder / ".walkforward.json.tmp"
        tmp.write_text(json.dumps(report, default=str, indent=2), encoding="utf-8")
        os.replace(tmp, folder / "walkforward.json")
        report["folder"] = str(folder)
    return report
