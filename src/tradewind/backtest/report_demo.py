"""The report of ``tradewind demo``: one page over every step of the pipeline.

The demo's folder holds ``demo.json`` — what each step did, how long it took and the folder
it wrote — and this report reads it, then takes the main sections of the backtests' and the
Monte Carlo study's own reports from their folders, so the page shows the same figures the
separate reports show (each is also written in its own folder).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from tradewind.backtest.report_base import Report, Section, fmt, read_json
from tradewind.backtest.report_runs import backtest_report
from tradewind.backtest.report_studies import montecarlo_report

__all__ = ["demo_report"]

#: Sections of a backtest's report the demo page repeats (the rest stay in its own report).
_BACKTEST_SECTIONS = ("Metrics", "Equity and drawdown", "Budget pools", "Agents")
_MONTECARLO_SECTIONS = ("Percentiles", "Histogram of final equity", "Equity bands")


def _borrowed(sub: Report, wanted: tuple[str, ...], prefix: str, key: str) -> list[Section]:
    """``sub``'s sections named in ``wanted``, titled with ``prefix`` and with chart keys
    made unique on the page (they name the PNG files and the HTML elements)."""
    out = []
    for s in sub.sections:
        if s.title not in wanted:
            continue
        chart = replace(s.chart, key=f"{key}_{s.chart.key}") if s.chart is not None else None
        out.append(Section(f"{prefix}: {s.title.lower()}", s.text, chart=chart, table=s.table))
    return out


def _steps(demo: dict[str, Any]) -> pd.DataFrame:
    rows = [
        {
            "step": s["step"],
            "seconds": round(float(s["seconds"]), 1),
            "result": s["what"],
            "where": s.get("where") or "",
        }
        for s in demo["steps"]
    ]
    return pd.DataFrame(rows)


def _models(train: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for m in train.get("models", []):
        t = m.get("test", {})
        rows.append(
            {
                "model": m["name"],
                "id": m["id"],
                "rows": m["rows"],
                "features": m["features"],
                "test AUC": fmt(t.get("roc_auc"), ".3f"),
                "promoted": "yes" if m["promoted"] else "kept back",
                "verdict": m["verdict"],
            }
        )
    for s in train.get("skipped", []):
        rows.append({"model": s["name"], "promoted": "skipped", "verdict": s["reason"]})
    return pd.DataFrame(rows)


def _replay(replay: dict[str, Any]) -> pd.DataFrame:
    p50, p99 = replay.get("tick_p50_s"), replay.get("tick_p99_s")
    rows = [
        ("node", replay["node"]),
        ("replayed", f"{replay['start'][:16]} → {replay['end'][:16]} (UTC)"),
        (
            "ticks, candles, daily decisions",
            f"{replay['ticks']}, {replay['candles']:,}, {replay['decisions']}",
        ),
        ("cycle trader's equity at the end", fmt(replay.get("equity"))),
        ("agents' equity at the end", fmt(replay.get("agents_equity"))),
        (
            "tick time p50 / p99",
            f"{fmt(None if p50 is None else p50 * 1e3, '.1f')} / "
            f"{fmt(None if p99 is None else p99 * 1e3, '.1f')} ms",
        ),
        ("dashboard", replay.get("dashboard") or "off (--no-api)"),
        ("safe mode", replay.get("safe_mode") or "no"),
    ]
    return pd.DataFrame(rows, columns=["", "value"])


def demo_report(folder: Path, pair: str | None) -> Report:
    demo = read_json(folder / "demo.json")
    market = demo["market"]
    rep = Report(
        "Tradewind demo",
        f"{market['exchange']} {market['timeframe']} · {market['pairs']} pairs · "
        f"{market['start'][:10]} → {market['end'][:10]} · seed {demo['seed']} · "
        f"{demo['seconds']:.0f} s",
    )
    rep.sections.append(
        Section(
            "What ran",
            "Each step of the pipeline, how long it took and where its results are. Every "
            "backtest and study folder also holds its own full report.",
            table=_steps(demo),
        )
    )
    rep.sections.append(
        Section("Models trained", demo["train"]["note"], table=_models(demo["train"]))
    )
    for name, title, key in (("cycle", "Cycle trader", "cycle"), ("session", "Agents", "session")):
        run = demo.get(name)
        if run and run.get("run_dir"):
            sub = backtest_report(Path(run["run_dir"]), pair)
            rep.sections += _borrowed(sub, _BACKTEST_SECTIONS, title, key)
    mc = demo.get("montecarlo")
    if mc and mc.get("folder"):
        sub = montecarlo_report(Path(mc["folder"]), pair)
        rep.sections += _borrowed(sub, _MONTECARLO_SECTIONS, "Monte Carlo", "mc")
    if demo.get("replay"):
        rep.sections.append(
            Section(
                "Replay of the live node",
                "The node that trades paper and live, driven over the last days of the "
                "market on a simulated clock, with the status API and dashboard up. It "
                "starts flat at the replay's first candle, so its trades are its own.",
                table=_replay(demo["replay"]),
            )
        )
    return rep
