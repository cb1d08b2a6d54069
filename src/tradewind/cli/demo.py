"""``tradewind demo``: the whole system once, end to end, on one market.

Generate the market (or read a data folder) → train the models → backtest the cycle trader
and a session of agents → Monte Carlo → a short replay of the live node with the dashboard
up → one HTML report over all of it. Each step is the same code its own command runs
(``tradewind synth``, ``train``, ``backtest``, ``montecarlo``, ``run --replay``,
``report``); the demo only chooses their inputs and chains them, so what it shows is what
the commands do.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from tradewind.cli._runtime import Runtime
from tradewind.domain.types import parse_duration
from tradewind.errors import ConfigError, DataError

__all__ = ["DEMO_AGENTS", "run_demo"]

#: The session the demo backtests when the config declares no ``[[agents]]``: both
#: strategies, both sides, 1h and 4h (a fuller set is ``examples/agents.toml``).
DEMO_AGENTS: list[dict[str, Any]] = [
    {
        "name": "channel-run-long-1h",
        "strategy": "channel_run",
        "side": "long",
        "timeframe": "1h",
        "params": {"lookback": 200, "entry": "mid", "goal": "edge"},
        "models": {"technical": "latest"},
    },
    {
        "name": "channel-run-short-4h",
        "strategy": "channel_run",
        "side": "short",
        "timeframe": "4h",
        "params": {"lookback": 60, "entry": "edge", "goal": "mid"},
    },
    {
        "name": "trail-fractals-long-4h",
        "strategy": "trail_fractals",
        "side": "long",
        "timeframe": "4h",
        "params": {"width": 5, "target_r": 3.0},
    },
    {
        "name": "trail-fractals-short-1h",
        "strategy": "trail_fractals",
        "side": "short",
        "timeframe": "1h",
        "params": {"width": 5},
        "dry_run_switch": True,
    },
]


class _Steps:
    """The pipeline's record: each step's time, one line of what it did, where it wrote."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.started = time.perf_counter()

    @contextmanager
    def step(self, name: str) -> Iterator[dict[str, Any]]:
        row: dict[str, Any] = {"step": name, "what": "", "where": None}
        began = time.perf_counter()
        yield row
        row["seconds"] = time.perf_counter() - began
        self.rows.append(row)

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started


def _market(panel: Any, settings: Any) -> dict[str, Any]:
    ts = panel.index
    return {
        "exchange": settings.data.exchange,
        "timeframe": settings.data.timeframe,
        "pairs": len(panel.symbols),
        "start": ts[0].isoformat(),
        "end": ts[-1].isoformat(),
        "candles": int(panel.mask.sum()),
        "path": str(settings.data_dir / settings.data.exchange / settings.data.timeframe),
    }


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _train_note(train: dict[str, Any], synthetic: bool, signal: float) -> str:
    promoted = [m["name"] for m in train["models"] if m["promoted"]]
    if promoted:
        return (
            f"Promoted: {', '.join(promoted)} — the backtests below use them "
            "(nominator and risk parameters 'auto' take a promoted model when there is one)."
        )
    why = (
        " The default synthetic market has no planted signal (synth.signal = 0), so a model "
        "that does not beat its baseline is the expected, honest outcome."
        if synthetic and signal == 0
        else ""
    )
    return (
        "No model beat its baseline out of sample, so none was promoted and the backtests "
        f"use the rule-based nominator and the configured risk parameters.{why}"
    )


def run_demo(
    rt: Runtime,
    *,
    synthetic: bool,
    force: bool,
    runs: int,
    jobs: int,
    replay_days: float,
    speed: float | None,
    api: bool,
) -> dict[str, Any]:
    """Run the pipeline with ``rt``'s settings; return what ``demo.json`` holds."""
    from tradewind.backtest.report import write_report
    from tradewind.backtest.run import load_backtest_panel
    from tradewind.cli.backtest import attach_report, run_backtest_cli
    from tradewind.cli.data import run_synth
    from tradewind.cli.studies import montecarlo_with_bar
    from tradewind.live.run import replay as run_replay
    from tradewind.ml.pipeline import train_all

    if runs < 1:
        raise ConfigError(f"--runs {runs}: at least one Monte Carlo run")
    if replay_days < 0:
        raise ConfigError(f"--replay-days {replay_days}: zero (no replay) or more days")
    settings = rt.settings
    steps = _Steps()
    demo: dict[str, Any] = {"seed": settings.seed, "home": str(settings.home)}

    with steps.step("market") as row:
        if synthetic:
            synth = run_synth(rt, force=force)
            row["what"] = (
                f"synthetic market {'reused' if synth['reused'] else 'generated'}: "
                f"{len(synth['pairs'])} pairs, seed {synth['seed']}"
            )
            demo["synthetic_market"] = synth
        panel = load_backtest_panel(settings)
        demo["market"] = _market(panel, settings)
        row["where"] = demo["market"]["path"]
        if replay_days > 0:
            _replay_window(settings, panel, replay_days)
        if not synthetic:
            row["what"] = f"{demo['market']['pairs']} pairs read in place"

    with steps.step("train") as row, rt.progress() as bar:
        task = bar.add_task("train: features", total=None)

        def on_model(name: str) -> None:
            bar.update(task, description=f"train: {name}")

        train = train_all(settings, panel, on_model=on_model).to_dict()
        bar.update(task, description="train: done", total=1, completed=1)
        train["note"] = _train_note(train, synthetic, settings.synth.signal)
        demo["train"] = train
        promoted = sum(bool(m["promoted"]) for m in train["models"])
        row["what"] = f"{len(train['models'])} models trained, {promoted} promoted"
        row["where"] = str(settings.home / "models")

    for trader in ("cycle", "session"):
        with steps.step(f"backtest {trader}") as row:
            sub = _with(rt, {"backtest": {"trader": trader, "save": True}})
            summary = run_backtest_cli(sub)
            attach_report(sub, summary, summary.get("run_dir"))
            m = summary["metrics"]
            row["what"] = (
                f"{m['total_return']:+.2%} total return, max drawdown {m['max_drawdown']:.1%}, "
                f"{m['trades_real']} real trades"
            )
            row["where"] = summary.get("run_dir")
            demo[trader] = summary

    with steps.step("monte carlo") as row:
        mc = montecarlo_with_bar(
            rt,
            settings,
            f"Monte Carlo: {runs} runs of the cycle trader",
            runs=runs,
            source="choice",
            jobs=jobs,
            panel=panel,
        )
        p = mc["percentiles"]["total_return"]
        row["what"] = (
            f"{mc['runs']} runs: median return {p['p50']:+.2%} (p5 {p['p5']:+.2%}, "
            f"p95 {p['p95']:+.2%}), probability of loss {mc['probability_of_loss']:.0%}"
        )
        row["where"] = mc["folder"]
        demo["montecarlo"] = mc

    if replay_days > 0:
        with steps.step("replay") as row:
            demo["replay"] = _replay(rt, panel, replay_days, speed, api, run_replay)
            r = demo["replay"]
            row["what"] = (
                f"{r['ticks']} ticks over {replay_days:g} days, {r['decisions']} daily "
                f"decisions; equity {r['equity']:,.2f}"
            )
            row["where"] = r.get("dashboard") or str(settings.book_url).split("://")[0]

    folder = settings.home / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    with steps.step("report") as row:
        demo["steps"] = steps.rows + [{**row, "seconds": 0.0}]
        demo["seconds"] = steps.seconds
        _write_json(folder / "demo.json", demo)
        with rt.progress() as bar:
            task = bar.add_task("report", total=None)
            report = write_report(folder)
            bar.update(task, total=1, completed=1)
        row["what"] = "one HTML page over every step, figures as PNG"
        row["where"] = str(report)
    demo["steps"] = steps.rows
    demo["seconds"] = steps.seconds
    demo["report"] = str(report)
    _write_json(folder / "demo.json", demo)
    return demo


def _with(rt: Runtime, update: dict[str, dict[str, Any]]) -> Runtime:
    """``rt`` with some sections' keys replaced (validated like a config file's)."""
    from dataclasses import replace

    from tradewind.config import Settings

    tree = rt.settings.model_dump(mode="python")
    for section, keys in update.items():
        tree[section] = {**tree[section], **keys}
    return replace(rt, settings=Settings.model_validate(tree))


def _replay_window(settings: Any, panel: Any, days: float) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The market's last ``days``; refused before any work when the node would lack the
    ``live.history`` it loads before its first tick."""
    step = pd.Timedelta(seconds=panel.timeframe.seconds)
    first = panel.index[0]
    # A candle is keyed by its open time: the last one closes a timeframe later.
    end = panel.index[-1] + step
    start = end - pd.Timedelta(days=days)
    if start - parse_duration(settings.live.history) < first:
        raise DataError(
            f"the replay of the last {days:g} days needs live.history ({settings.live.history}) "
            f"of candles before {start:%Y-%m-%d}; the data starts {first:%Y-%m-%d} — "
            "use a shorter --replay-days, a shorter live.history or more data"
        )
    return start, end


def _replay(
    rt: Runtime,
    panel: Any,
    days: float,
    speed: float | None,
    api: bool,
    run_replay: Callable[..., Any],
) -> dict[str, Any]:
    """Replay the node over the market's last ``days``, the dashboard up while it runs."""
    settings = rt.settings
    start, end = _replay_window(settings, panel, days)
    shown: dict[str, Any] = {}

    def on_open(node: Any) -> Any:
        from tradewind.api.server import serve_node
        from tradewind.api.token import token_path

        cfg = settings
        if not _port_free(cfg.api.host, cfg.api.port):
            cfg = settings.model_copy(update={"api": settings.api.model_copy(update={"port": 0})})
        server = serve_node(cfg, node)
        shown["dashboard"] = server.url
        rt.note(
            f"dashboard at {server.url} while the replay runs (token in {token_path(settings)}; "
            f"paste it into the page, or open {server.url}#token=… )"
        )
        return server

    with rt.progress() as bar:
        ticks = int((end - start) / pd.Timedelta(seconds=panel.timeframe.seconds)) + 1
        task = bar.add_task(f"replay: the node over the last {days:g} days", total=ticks)
        result = run_replay(
            settings,
            start,
            end,
            speed=speed,
            name="demo",
            reset=True,
            on_open=on_open if api and settings.api.enabled else None,
            on_tick=lambda _t: bar.advance(task),
        )
        bar.update(task, total=result.ticks, completed=result.ticks)
    return {**result.to_dict(), **shown}


def _write_json(path: Path, payload: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(payload, default=str, indent=2), encoding="utf-8")
    os.replace(tmp, path)
