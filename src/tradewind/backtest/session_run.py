"""One backtest of the modular trader: a session of agents over stored candles.

``run_session_backtest(settings)`` is what ``tradewind backtest`` runs when agents are
configured. Its result has the cycle trader's shape (:class:`BacktestResult`) — trades,
tracked continuations, equity, ledger — so the same run folder, trade book and reports
serve both traders; the session adds per-agent tables.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from tradewind import __version__
from tradewind.backtest.metrics import summarize
from tradewind.backtest.run import (
    BacktestResult,
    _metric_trades,
    _record,
    _save,
    data_summary,
    load_backtest_panel,
)
from tradewind.config import Settings, config_hash
from tradewind.data.markets import load_market_rules
from tradewind.data.panel import Panel
from tradewind.data.store import CandleStore
from tradewind.ml.apply import ModelUse, session_edges, session_vetoes
from tradewind.strategies.agents import AgentSetups, prepare_agents
from tradewind.trading.session import Session
from tradewind.trading.session_report import agent_table, mode_switches, session_tables

__all__ = ["run_session_backtest"]


_WARM: list[bool] = []


def _compile() -> float:
    """Compile (or load from numba's cache) the session's kernels on a tiny run; seconds."""
    if _WARM:
        return 0.0
    from tradewind.config.models import AgentConfig, FillsConfig, LifecycleConfig, SessionConfig
    from tradewind.domain.types import Timeframe

    started = time.perf_counter()
    rows = 24 * 3
    rng = np.random.default_rng(0)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (rows, 2)), axis=0))
    values = np.stack([close, close * 1.01, close * 0.99, close, np.ones_like(close)], axis=2)
    tiny = Panel(
        Timeframe.parse("1h"),
        np.arange(rows, dtype=np.int64) * 3_600_000_000_000,
        ("A", "B"),
        ("open", "high", "low", "close", "volume"),
        values,
        np.ones((rows, 2), bool),
    )
    agents = [
        AgentConfig(
            name="c", strategy="channel_run", side="long", timeframe="1h", params={"lookback": 5}
        ),
        AgentConfig(name="f", strategy="trail_fractals", side="short", timeframe="4h"),
    ]
    Session(
        tiny, agents, session=SessionConfig(), lifecycle=LifecycleConfig(), fills=FillsConfig()
    ).run()
    _WARM.append(True)
    return time.perf_counter() - started


def run_session_backtest(
    settings: Settings,
    *,
    panel: Panel | None = None,
    save: bool | None = None,
    models: ModelUse | None = None,
    prepared: AgentSetups | None = None,
) -> BacktestResult:
    """Backtest the session of ``settings.agents`` (on ``panel``, or the configured data).

    ``models`` replaces the registry's models (walk-forward passes its out-of-sample
    vetoes), with the ``prepared`` setups they refer to."""
    t_load = time.perf_counter()
    panel = panel if panel is not None else load_backtest_panel(settings)
    load_s = time.perf_counter() - t_load
    compile_s = _compile()
    rules = load_market_rules(CandleStore(settings.data_dir, settings.data.exchange))
    t_prep = time.perf_counter()
    if prepared is None or models is None:
        prepared = prepare_agents(panel, settings.agents)
        models = session_vetoes(settings, panel, prepared)
    edges, edge_notes = session_edges(settings, panel, prepared)
    models.notes.extend(edge_notes)
    session = Session(
        panel,
        settings.agents,
        session=settings.session,
        lifecycle=settings.lifecycle,
        fills=settings.fills,
        rules=rules,
        prepared=prepared,
        veto=models.veto,
        scale=models.scale,
        edges=edges,
    )
    prepare_s = time.perf_counter() - t_prep
    started = time.perf_counter()
    session.run()
    run_s = time.perf_counter() - started
    trades, tracked, ledger = session_tables(session)
    equity = pd.DataFrame({"equity": session.equity}, index=panel.index)
    equity.index.name = "timestamp"
    metrics = summarize(
        equity["equity"],
        _metric_trades(trades, tracked),
        ambiguous_bars=int(session.trades["ambiguous"][: session.n_trades].sum()),
    )
    agents = agent_table(session, trades)
    pair_bars = len(panel.timestamps) * len(panel.symbols)
    summary: dict[str, Any] = {
        "trader": "session",
        "metrics": metrics.to_dict(),
        "capital": settings.session.capital,
        "agents": agents.to_dict(orient="records"),
        "setups": int(len(session.events.t)),
        "sim_reasons": {
            str(k): int(v)
            for k, v in trades.loc[trades["kind"] == "sim", "sim_reason"].value_counts().items()
        },
        "mode_switches": mode_switches(session),
        "models": models.models,
        "model_notes": models.notes,
        "data": data_summary(settings, panel),
        "market_rules": sum(symbol in rules for symbol in panel.symbols),
        "seed": settings.seed,
        "config_hash": config_hash(settings),
        "timings_s": {"load": load_s, "compile": compile_s, "prepare": prepare_s, "run": run_s},
        "pair_bars_per_s": pair_bars / max(prepare_s + run_s, 1e-9),
        "version": __version__,
    }
    cycles = pd.DataFrame(
        columns=[
            "cycle",
            "start_time",
            "end_time",
            "mode",
            "converted_time",
            "pnl",
            "paper_pnl",
            "trades",
            "next_mode",
        ]
    )
    result = BacktestResult(summary, trades, tracked, equity, ledger, cycles)
    result.extras["agents"] = agents
    if save if save is not None else settings.backtest.save:
        result.run_dir = _save(result, settings)
        summary["run_dir"] = str(result.run_dir)
        summary["trade_book"] = _record(result, settings)
    return result
