"""The empirical evaluation: both traders out of sample on real data, against the benchmarks.

    python studies/evaluate.py --data-dir ../shared/data --start 2024-01-01 --end 2024-09-07

writes ``docs/study.md`` (and its figures in ``docs/study/``) from what it measures; nothing
in that page is written by hand. Any data folder in the store's layout works, so the same
study runs on another period (the first half of 2025, say) wherever that data was
downloaded (``tradewind data download``).

The protocol, in the order the script runs it:

1. **Rolling walk-forward** (``tradewind walkforward``): the cycle trader's nominator and
   each agent's technical model are retrained every ``--test`` on the ``--train`` before
   it; their stitched out-of-sample decisions drive backtests. The first test window
   fixes the **out-of-sample span** every figure below is measured on.
2. **Holdout**: the regime model (k-means), one nominator per regime, each agent's
   technical model (``tradewind train``) and the per-cluster lifecycle parameters
   (``tradewind optimize``) are fitted on the candles *before* the span only, then held
   fixed through it. The study uses them even when the training protocol kept them back
   (it promotes them in its own registry) — measuring them is the point.
3. **Variants** over the span (their decisions start at its first candle; the candles
   before are history for features): the cycle trader with the rule-based momentum
   nominator or the regime models, with the seed's static risk parameters or the
   per-cluster ones; the rolling walk-forward nominator; the session of eight agents
   (channel run and trail fractals × 1h and 4h × long and short) without and with models.
4. **Benchmarks** on the same span after fees: buy-and-hold BTC, and an equal-weight
   portfolio of every pair trading at the span's start (bought once, held).
5. **Deflated Sharpe ratio** of each variant, deflated for all the variants tried.
6. **Monte Carlo**: a bootstrap of each variant's out-of-sample trades (final capital),
   the ensemble variance curve and the sizing comparison (``tradewind montecarlo``).
"""

from __future__ import annotations

import json
import math
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import typer
from rich.console import Console

from tradewind import __version__
from tradewind.config import Settings, load_config

ERR = Console(stderr=True, soft_wrap=True)
ROOT = Path(__file__).resolve().parents[1]

#: The session of the study: both strategies × 1h and 4h × long and short.
AGENTS: list[dict[str, Any]] = [
    {
        "name": f"{strategy.replace('_', '-')}-{side}-{tf}",
        "strategy": strategy,
        "side": side,
        "timeframe": tf,
        "params": params,
        "selection": {"pairs": 30},
        "models": {"technical": "latest"},
    }
    for strategy, params in (
        ("channel_run", {"lookback": 120, "entry": "mid", "goal": "edge"}),
        ("trail_fractals", {"width": 5}),
    )
    for tf in ("1h", "4h")
    for side in ("long", "short")
]


@dataclass
class Variant:
    """One trader's out-of-sample result."""

    name: str
    trader: str  #: cycle or session
    equity: pd.Series  #: from the span's first candle on
    trades: pd.DataFrame  #: real trades entered in the span
    note: str = ""
    capital: float = 10_000.0
    extra: dict[str, Any] = field(default_factory=dict)


def say(message: str) -> None:
    ERR.print(f"[{time.strftime('%H:%M:%S')}] {message}", highlight=False)


def settings_of(args: dict[str, Any], home: Path, **sections: dict[str, Any]) -> Settings:
    """The study's configuration: defaults, the data options, ``sections`` on top; the
    environment and any ./tradewind.toml are ignored so the study is reproducible."""
    tree: dict[str, Any] = {
        "home": str(home),
        "seed": args["seed"],
        "data": {
            "data_dir": str(args["data_dir"]),
            "exchange": args["exchange"],
            "timeframe": args["timeframe"],
            "pairs": args["pairs"],
        },
        "backtest": {"start": args["start"], "end": args["end"], "save": False, "report": False},
        "ml": {"jobs": 2},
        "agents": AGENTS,
    }
    for section, keys in sections.items():
        tree[section] = {**tree.get(section, {}), **keys}
    return load_config(None, tree, environ={})


# ------------------------------------------------------------------ the figures of a curve


def daily(equity: pd.Series) -> pd.Series:
    return equity.resample("1D").last().dropna()


def figures(equity: pd.Series) -> dict[str, float]:
    d = daily(equity)
    r = d.pct_change().dropna()
    sd = float(r.std(ddof=1)) if len(r) > 1 else math.nan
    peak = equity.cummax()
    years = (equity.index[-1] - equity.index[0]).total_seconds() / (365.25 * 86400)
    total = float(equity.iloc[-1] / equity.iloc[0] - 1.0)
    growth = math.log1p(total) / years if years > 0 and total > -1 else math.nan
    return {
        "total_return": total,
        # a gain over a few hours, annualised, is beyond a float: infinite, not a crash
        "cagr": math.inf if growth >= 700 else math.expm1(growth),
        "sharpe": float(r.mean()) / sd * math.sqrt(365) if sd and sd > 0 else math.nan,
        "daily_sharpe": float(r.mean()) / sd if sd and sd > 0 else math.nan,
        "max_drawdown": float((equity / peak - 1.0).min()),
        "days": len(r),
        "skew": float(r.skew()) if len(r) > 2 else 0.0,
        "kurtosis": float(r.kurt()) + 3.0 if len(r) > 3 else 3.0,
    }


def trade_returns(trades: pd.DataFrame, equity: pd.Series) -> np.ndarray:
    """Each closed real trade's P/L relative to the equity when it was entered."""
    done = trades[(trades["kind"] == "real") & (trades["status"] == "closed")]
    if done.empty:
        return np.zeros(0)
    at = pd.DatetimeIndex(done["entry_time"]).as_unit("ns").asi8
    times = equity.index.as_unit("ns").asi8
    row = np.clip(np.searchsorted(times, at, side="right") - 1, 0, len(times) - 1)
    before = equity.to_numpy(dtype=np.float64)[row]
    return np.asarray(done["pnl"].to_numpy() / before, dtype=np.float64)


# --------------------------------------------------------------------------- the steps


def walk_forward(args: dict[str, Any], home: Path, panel: Any) -> dict[str, Any]:
    from tradewind.backtest.walkforward import run_walkforward

    settings = settings_of(args, home / "walkforward")
    say(f"rolling walk-forward: train {args['train']}, test {args['test']}")
    return run_walkforward(
        settings,
        train=args["train"],
        test=args["test"],
        panel=panel,
        folder=home / "walkforward" / "result",
    )


def holdout_models(args: dict[str, Any], home: Path, split: pd.Timestamp) -> dict[str, Any]:
    """Train every model and optimise the per-cluster parameters on the candles before
    ``split``; promote the newest of each (role, scope) in the study's registry."""
    from tradewind.backtest.optimize import run_optimize
    from tradewind.backtest.run import load_backtest_panel
    from tradewind.ml.pipeline import train_all
    from tradewind.ml.registry import Registry

    last = (split - pd.Timedelta(seconds=1)).isoformat()
    settings = settings_of(args, home / "holdout", backtest={"end": last})
    panel = load_backtest_panel(settings)
    say(f"holdout: training on {panel.index[0]:%Y-%m-%d} → {panel.index[-1]:%Y-%m-%d}")
    report = train_all(settings, panel).to_dict()
    say(f"holdout: optimising the lifecycle per regime cluster ({args['trials']} trials)")
    optimised = run_optimize(
        settings,
        folder=home / "holdout" / "optimize",
        trials=args["trials"],
        panel=panel,
        min_trades=20,
    )
    forced = []
    with Registry(settings.home / "models", settings.book_url) as registry:
        newest: dict[tuple[str, str], Any] = {}
        for card in registry.list():
            key = (card.role, card.scope)
            if key not in newest or card.created_at > newest[key].created_at:
                newest[key] = card
        for (role, scope), card in sorted(newest.items()):
            if not card.promoted_at:
                registry.promote(card.id)
                forced.append(f"{role} {scope}")
    return {"train": report, "optimize": optimised, "forced": forced}


def cycle_variant(
    args: dict[str, Any],
    home: Path,
    panel: Any,
    split_row: int,
    name: str,
    nominator: str,
    risk: str,
) -> Variant:
    """One cycle-trader variant over the span, and ``--choices`` more runs of it that
    differ only in the trader's luck: which of the day's nominations it takes (the
    ``choice`` source of ``tradewind montecarlo``)."""
    from dataclasses import replace

    from tradewind.backtest.run import run_backtest, run_inputs
    from tradewind.backtest.walkforward import SilentUntil
    from tradewind.strategies.nominators import FixedNominations
    from tradewind.trading.cycle import cycle_decision_rows

    sections = {"cycle": {"nominator": nominator, "risk_params": risk}}
    settings = settings_of(args, home / "holdout", **sections)
    inputs = run_inputs(settings, panel)
    note = f"{inputs.nominator_note}; {inputs.lifecycle_note}"
    silent = SilentUntil(inputs.nominator, split_row)
    rows = cycle_decision_rows(panel, settings.cycle, silent)
    inputs = replace(inputs, nominator=FixedNominations.of(silent, panel, rows))
    result = run_backtest(settings, inputs=inputs, save=False)
    equity = result.equity["equity"].iloc[split_row:]
    finals = []
    for i in range(args["choices"]):
        lucky = settings_of({**args, "seed": args["seed"] + 1 + i}, home / "holdout", **sections)
        run = run_backtest(lucky, inputs=inputs, save=False)
        finals.append(float(run.equity["equity"].iloc[-1]))
    return Variant(
        name,
        "cycle",
        equity,
        result.trades,
        note=note,
        capital=settings.cycle.capital,
        extra={"cycles": result.summary.get("cycles"), "choices": finals},
    )


def session_variant(
    args: dict[str, Any], home: Path, panel: Any, split: pd.Timestamp, split_row: int, models: bool
) -> Variant:
    from tradewind.backtest.session_run import run_session_backtest
    from tradewind.ml.apply import ModelUse, session_vetoes
    from tradewind.strategies.agents import prepare_agents

    settings = settings_of(args, home / "holdout")
    prepared = prepare_agents(panel, settings.agents)
    before = prepared.events.t < split_row
    if models:
        use = session_vetoes(settings, panel, prepared)
        use.veto = use.veto | before
    else:
        use = ModelUse(veto=before.copy(), notes=["no models"])
    result = run_session_backtest(settings, panel=panel, save=False, prepared=prepared, models=use)
    trades = result.trades
    trades = trades[pd.DatetimeIndex(trades["nominated_time"]) >= split]
    name = "session of 8 agents, " + ("technical models (holdout)" if models else "rules only")
    return Variant(
        name,
        "session",
        result.equity["equity"].iloc[split_row:],
        trades,
        note="; ".join(use.notes),
        capital=settings.session.capital,
        extra={"agents": result.summary["agents"]},
    )


def from_walkforward(folder: Path, split: pd.Timestamp, args: dict[str, Any]) -> list[Variant]:
    out = []
    for trader, label in (
        ("cycle", "cycle trader, walk-forward nominator"),
        ("session", "session of 8 agents, walk-forward models"),
    ):
        path = folder / f"equity_{trader}.parquet"
        if path.exists():
            curve = pd.read_parquet(path)["with the models"]
            note = f"models retrained every {args['test']} on the {args['train']} before " + (
                "(rolling walk-forward); one nominator, without the regime split"
                if trader == "cycle"
                else "(rolling walk-forward), each agent's technical model"
            )
            trades = pd.read_parquet(folder / f"trades_{trader}.parquet")
            # as in the other variants: the trades the span's decisions made
            trades = trades[pd.DatetimeIndex(trades["nominated_time"]) >= split]
            out.append(Variant(label, trader, curve.loc[split:], trades, note=note))
    return out


def benchmarks(args: dict[str, Any], panel: Any, split_row: int, fee: float) -> list[Variant]:
    """Buy-and-hold BTC and an equal-weight portfolio of the pairs trading at the span's
    start, each bought at the first candle's open and valued at the close, one fee to buy
    and one to sell (taken from the start and the end). Each curve starts at the capital,
    as the traders' do, so its return and drawdown include both fees."""
    close = pd.DataFrame(panel.field("close"), index=panel.index, columns=panel.symbols)
    opened = pd.DataFrame(panel.field("open"), index=panel.index, columns=panel.symbols)
    span = close.iloc[split_row:].ffill()
    entry = opened.iloc[split_row]
    out = []
    btc = next((s for s in panel.symbols if s.startswith("BTC")), None)
    if btc is not None:
        curve = 10_000 * (1 - fee) * span[btc] / entry[btc]
        curve.iloc[0] = 10_000.0
        curve.iloc[-1] *= 1 - fee
        out.append(Variant(f"buy and hold {btc}", "benchmark", curve, pd.DataFrame()))
    alive = entry.dropna().index
    weights = (span[alive] / entry[alive]).mean(axis=1)
    curve = 10_000 * (1 - fee) * weights
    curve.iloc[0] = 10_000.0
    curve.iloc[-1] *= 1 - fee
    out.append(Variant(f"equal weight, {len(alive)} pairs", "benchmark", curve, pd.DataFrame()))
    return out


def deflate(variants: list[Variant]) -> dict[str, float]:
    """The deflated Sharpe ratio of each trading variant, for as many trials as variants
    were tried (benchmarks are not trials)."""
    from tradewind.ml.validation import deflated_sharpe

    tried = [v for v in variants if v.trader != "benchmark"]
    stats = {v.name: figures(v.equity) for v in tried}
    srs = [s["daily_sharpe"] for s in stats.values() if s["daily_sharpe"] == s["daily_sharpe"]]
    var = float(np.var(srs, ddof=1)) if len(srs) > 1 else 0.0
    return {
        name: deflated_sharpe(
            s["daily_sharpe"], s["days"], len(tried), var, s["skew"], s["kurtosis"]
        )
        if s["daily_sharpe"] == s["daily_sharpe"]
        else math.nan
        for name, s in stats.items()
    }


def bootstrap(variants: list[Variant], runs: int, seed: int) -> dict[str, dict[str, float]]:
    from tradewind.backtest.montecarlo import bootstrap_trades

    out = {}
    for v in variants:
        if v.trades.empty:
            continue
        r = trade_returns(v.trades, v.equity)
        if len(r) < 5:
            continue
        table = bootstrap_trades(r, v.capital, runs, seed)
        final = table["final_equity"]
        v.extra["bootstrap"] = final.to_numpy()
        out[v.name] = {
            "trades": len(r),
            "p5": float(final.quantile(0.05)),
            "p50": float(final.quantile(0.5)),
            "p95": float(final.quantile(0.95)),
            "loss": float((final < v.capital).mean()),
            "median_dd": float(table["max_drawdown"].median()),
        }
    return out


def studies_of_runs(
    args: dict[str, Any], home: Path, split: pd.Timestamp
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ensemble variance curve and the sizing comparison of the rule-based cycle
    trader over the span (``tradewind montecarlo --ensemble`` / ``--compare-sizing``)."""
    from tradewind.backtest.montecarlo import compare_sizing, run_ensembles

    settings = settings_of(
        args,
        home / "montecarlo",
        backtest={"start": split.isoformat()},
        cycle={"nominator": "momentum", "risk_params": "static"},
    )
    say(f"ensembles: K = 1 … {args['ensemble']}, {args['ensembles']} portfolios each")
    ens = run_ensembles(
        settings,
        largest=args["ensemble"],
        ensembles=args["ensembles"],
        folder=home / "montecarlo" / "ensembles",
        jobs=2,
    )
    say(f"sizing: {args['runs']} runs each")
    sizing = compare_sizing(
        settings, runs=args["runs"], folder=home / "montecarlo" / "sizing", jobs=2
    )
    return ens, sizing


# --------------------------------------------------------------------------- the page


def pct(x: float | None, spec: str = "+.1%") -> str:
    return "n/a" if x is None or x != x else format(x, spec)


def num(x: float | None, spec: str = ".2f") -> str:
    return "n/a" if x is None or x != x else format(x, spec)


def table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def plot(variants: list[Variant], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.5), dpi=90)
    for v in variants:
        curve = daily(v.equity)
        ax.plot(
            curve.index,
            curve / curve.iloc[0],
            label=v.name,
            ls="--" if v.trader == "benchmark" else "-",
        )
    ax.axhline(1.0, color="#888", lw=0.8)
    ax.set_ylabel("equity (start = 1)")
    ax.set_title(title)
    ax.legend(fontsize=7)
    fig.autofmt_xdate()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def plot_finals(variants: list[Variant], path: Path) -> None:
    """The Monte Carlo distributions of final capital, one box per variant and source
    (whiskers at p5 and p95, the box the quartiles), the variant's own run as a dot and
    the benchmarks' final capital as lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows: list[tuple[str, np.ndarray, float]] = []
    for v in variants:
        if v.trader == "benchmark":
            continue
        final = float(v.equity.iloc[-1] / v.equity.iloc[0] * v.capital)
        if v.extra.get("choices"):
            rows.append((f"{v.name}: other luck", np.asarray(v.extra["choices"]), final))
        if v.extra.get("bootstrap") is not None:
            rows.append((f"{v.name}: trades resampled", v.extra["bootstrap"], final))
    if not rows:
        return
    fig, ax = plt.subplots(figsize=(9, 0.42 * len(rows) + 1.6), dpi=90)
    y = np.arange(len(rows))[::-1] + 1
    ax.boxplot(
        [r[1] for r in rows],
        positions=y,
        orientation="horizontal",
        whis=(5, 95),
        showfliers=False,
        widths=0.6,
        medianprops={"color": "black"},
    )
    ax.plot([r[2] for r in rows], y, "o", color="#d62728", ms=4, label="the run in the table")
    capital = next(v.capital for v in variants if v.trader != "benchmark")
    ax.axvline(capital, color="#888", lw=0.8)
    for i, b in enumerate(v for v in variants if v.trader == "benchmark"):
        ax.axvline(
            float(b.equity.iloc[-1]),
            ls="--",
            lw=1,
            color=f"C{i + 1}",
            label=f"{b.name}: {float(b.equity.iloc[-1]):,.0f}",
        )
    ax.set_yticks(y, [r[0] for r in rows], fontsize=7)
    ax.set_xlabel(f"final capital from {capital:,.0f}")
    ax.set_title("Monte Carlo: final capital (box: quartiles, whiskers: p5 and p95)", fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def conclusions(
    variants: list[Variant], dsr: dict[str, float], ens: dict[str, Any], sizing: dict[str, Any]
) -> list[str]:
    """The findings, in sentences computed from the figures (none is fixed in advance)."""
    figs = {v.name: figures(v.equity) for v in variants}
    bench = [v for v in variants if v.trader == "benchmark"]
    best_bench = max(bench, key=lambda v: figs[v.name]["total_return"]) if bench else None
    out = []
    for trader, label in (("cycle", "cycle trader"), ("session", "session of agents")):
        mine = [v for v in variants if v.trader == trader]
        if not mine:
            continue
        best = max(mine, key=lambda v: figs[v.name]["total_return"])
        b = figs[best.name]
        line = (
            f"The best {label} variant out of sample, **{best.name}**, returned "
            f"{pct(b['total_return'])} (Sharpe {num(b['sharpe'])}, max drawdown "
            f"{pct(b['max_drawdown'])})"
        )
        if best_bench is not None:
            bb = figs[best_bench.name]
            beats = b["total_return"] > bb["total_return"]
            verdict = "beat" if beats else "did not beat"
            if beats and b["total_return"] < 0:
                verdict = "lost less than"
            line += (
                f"; {best_bench.name} returned {pct(bb['total_return'])} after fees, so the "
                f"{label} {verdict} the better benchmark"
            )
            if not beats and b["max_drawdown"] > bb["max_drawdown"]:
                line += (
                    f", though with a shallower drawdown ({pct(b['max_drawdown'])} "
                    f"against {pct(bb['max_drawdown'])})"
                )
        finals = np.asarray(best.extra.get("choices") or [], dtype=np.float64)
        if len(finals):
            final = float(best.equity.iloc[-1])
            rank = float((finals < final).mean() + 0.5 * (finals == final).mean())
            line += (
                f". Run again with {len(finals)} other draws of the pairs it takes among the "
                f"same nominations, it ended with a median of {np.median(finals):,.0f} "
                f"(p5 {np.percentile(finals, 5):,.0f}, p95 {np.percentile(finals, 95):,.0f}) "
                f"from {best.capital:,.0f}, and lost money in {(finals < best.capital).mean():.0%} "
                f"of them: the run above is at the {rank:.0%} percentile of its own luck"
            )
            if best_bench is not None:
                bench_final = float(best_bench.equity.iloc[-1])
                by_median = "beat" if np.median(finals) > bench_final else "did not beat"
                line += f"; by its median it {by_median} {best_bench.name} ({bench_final:,.0f})"
        out.append(line + ".")
    significant = [n for n, p in dsr.items() if p == p and p >= 0.95]
    out.append(
        f"Deflated for the {len(dsr)} variants tried, "
        + (
            f"{len(significant)} variant(s) keep a Sharpe ratio significant at 95 %: "
            + ", ".join(significant)
            if significant
            else "no variant's Sharpe ratio is significant at 95 %: none shows an edge this "
            "study can tell from luck"
        )
        + " (the probability that the true Sharpe ratio is above zero is in the table)."
    )
    pairs = [
        ("cycle trader, regime models, static", "cycle trader, rules, static", "the regime models"),
        (
            "cycle trader, rules, per-cluster",
            "cycle trader, rules, static",
            "the per-cluster parameters (rule-based nominator)",
        ),
        (
            "cycle trader, regime models, per-cluster",
            "cycle trader, regime models, static",
            "the per-cluster parameters (regime models)",
        ),
        (
            "session of 8 agents, technical models (holdout)",
            "session of 8 agents, rules only",
            "the agents' technical models",
        ),
    ]
    for a, b, what in pairs:
        if a in figs and b in figs:
            d = figs[a]["total_return"] - figs[b]["total_return"]
            out.append(
                f"{what[0].upper()}{what[1:]} changed the out-of-sample return by "
                f"{d * 100:+.1f} points ({pct(figs[b]['total_return'])} → "
                f"{pct(figs[a]['total_return'])})."
            )
    rows = ens.get("table", [])
    if len(rows) >= 2:
        first, last = rows[0], rows[-1]
        ratio = last["variance"] / first["variance"] if first["variance"] > 0 else math.nan
        if ratio != ratio:
            out.append(
                "Every single-trader portfolio ended the same (the nominations left no choice), "
                "so there was no spread for an ensemble to reduce."
            )
        else:
            out.append(
                f"Splitting the capital among {last['traders']} cycle traders cut the variance of "
                f"the return to {ratio:.2f} of one trader's (1/{last['traders']} = "
                f"{1 / last['traders']:.2f} if they were independent); the mean return moved "
                f"from {pct(first['mean_return'])} to {pct(last['mean_return'])}."
            )
    srows = sizing.get("table", [])
    if srows:
        best = max(srows, key=lambda r: r["median_return"])
        calm = max(srows, key=lambda r: r["median_max_drawdown"])
        out.append(
            f"Of the sizing rules, {best['sizing']} had the best median return "
            f"({pct(best['median_return'])}) and {calm['sizing']} the shallowest median "
            f"drawdown ({pct(calm['median_max_drawdown'])})."
        )
    return out


def write_page(
    path: Path,
    args: dict[str, Any],
    command: str,
    span: tuple[pd.Timestamp, pd.Timestamp],
    wf: dict[str, Any],
    hold: dict[str, Any],
    variants: list[Variant],
    dsr: dict[str, float],
    mc: dict[str, dict[str, float]],
    ens: dict[str, Any],
    sizing: dict[str, Any],
    seconds: float,
    fee: float,
    slippage: float,
    pairs: int,
) -> None:
    figdir = path.parent / "study"
    figdir.mkdir(parents=True, exist_ok=True)
    plot(
        [v for v in variants if v.trader in ("cycle", "benchmark")],
        figdir / "cycle.png",
        "Cycle trader out of sample, against the benchmarks",
    )
    plot(
        [v for v in variants if v.trader in ("session", "benchmark")],
        figdir / "session.png",
        "Session of agents out of sample, against the benchmarks",
    )
    plot_finals(variants, figdir / "montecarlo.png")
    ens_png = Path(ens["folder"]) / "ensembles.png" if ens.get("folder") else None
    if ens_png is not None and ens_png.exists():
        shutil.copyfile(ens_png, figdir / "ensembles.png")
    figs = {v.name: figures(v.equity) for v in variants}
    lines = [
        "# Study: both traders out of sample on real data",
        "",
        "<!-- generated by studies/evaluate.py: do not edit by hand, run it again -->",
        "",
        f"Generated by `{command}` (Tradewind {__version__}, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {seconds / 60:.0f} min on "
        "this machine). The protocol is in the script's docstring; in short: every model is "
        "fitted on data before the span it is judged on, and every figure below is measured "
        "on that span only.",
        "",
        "## Reproduce",
        "",
        "```bash",
        f"{command}   # [long] about {max(1, round(seconds / 60))} minutes on 2 cores",
        "```",
        "",
        "Any folder in the store's layout and any period work (`--exchange`, `--timeframe`, "
        "`--pairs`; `--help` lists the study's sizes: trials, runs, bootstrap). The study's "
        "scratch folder (`--work`, default `.tradewind/study`) starts empty at each run.",
        "",
        "## Data and protocol",
        "",
        table(
            ["", ""],
            [
                [
                    "data",
                    f"{args['exchange']} {args['timeframe']} candles in "
                    f"`{args['data_dir_shown']}`, {pairs} pairs",
                ],
                ["period", f"{args['start']} → {args['end']}"],
                [
                    "out-of-sample span",
                    f"{span[0]:%Y-%m-%d %H:%M} → {span[1]:%Y-%m-%d %H:%M} UTC "
                    f"({(span[1] - span[0]).days} days)",
                ],
                [
                    "rolling walk-forward",
                    f"train {args['train']}, test {args['test']}, retrained per window",
                ],
                ["holdout models", f"fitted on {args['start']} → {span[0]:%Y-%m-%d}, held fixed"],
                [
                    "costs",
                    f"fee {fee:.2%} per fill, slippage {slippage:.2%}; "
                    "benchmarks pay the fee twice",
                ],
                ["capital", "10,000 USDT per trader"],
                ["seed", str(args["seed"])],
            ],
        ),
        "",
        "## Out-of-sample results",
        "",
        "Deflated Sharpe: the probability that the variant's true Sharpe ratio is above zero, "
        f"given that {len(dsr)} variants were tried (Bailey and López de Prado). Above 0.95 "
        "counts as significant.",
        "",
        table(
            ["variant", "return", "CAGR", "Sharpe", "max DD", "real trades", "deflated Sharpe"],
            [
                [
                    v.name,
                    pct(figs[v.name]["total_return"]),
                    pct(figs[v.name]["cagr"]),
                    num(figs[v.name]["sharpe"]),
                    pct(figs[v.name]["max_drawdown"]),
                    str(
                        int(((v.trades["kind"] == "real") & (v.trades["status"] == "closed")).sum())
                    )
                    if not v.trades.empty
                    else ("—" if v.trader == "benchmark" else "n/a"),
                    num(dsr.get(v.name), ".2f") if v.trader != "benchmark" else "—",
                ]
                for v in variants
            ],
        ),
        "",
        "![cycle trader](study/cycle.png)",
        "",
        "![session of agents](study/session.png)",
        "",
        "What each variant ran with:",
        "",
    ]
    lines += [f"- **{v.name}**: {v.note}" for v in variants if v.note]
    lines += [
        "",
        "## Conclusions",
        "",
    ]
    lines += [f"- {c}" for c in conclusions(variants, dsr, ens, sizing)]
    days = (span[1] - pd.Timestamp(args["start"], tz="UTC")).days
    lines += [
        f"- This is one exchange, one stretch of {days} "
        "days and the pairs the data set holds (pairs still listed when it was collected: "
        "survivors). A result here is a measurement of this period, not a forecast.",
        "",
        "## Models",
        "",
        "Rolling walk-forward (retrained every window), out of sample:",
        "",
        table(
            ["model", "windows", "AUC", "accepted / all expectancy"],
            [
                [
                    m["name"],
                    str(sum("auc" in w for w in m["windows"])),
                    num(m["oos"].get("roc_auc"), ".3f"),
                    f"{num(m['oos'].get('expectancy_accepted'), '+.4f')} / "
                    f"{num(m['oos'].get('expectancy_all'), '+.4f')}",
                ]
                for m in wf["models"]
            ],
        ),
        "",
        "Holdout (fitted before the span), on their own test split:",
        "",
        table(
            ["model", "rows", "test AUC", "the protocol's verdict"],
            [
                [
                    m["name"],
                    str(m["rows"]),
                    num(m.get("test", {}).get("roc_auc"), ".3f"),
                    m["verdict"].replace("|", "/"),
                ]
                for m in hold["train"]["models"]
            ]
            + [[s["name"], "", "", "skipped: " + s["reason"]] for s in hold["train"]["skipped"]],
        ),
        "",
        "Promoted by the study although the protocol kept them back: "
        + (", ".join(hold["forced"]) or "none")
        + ".",
        "",
        "Per-cluster lifecycle parameters (optimised on the holdout's training part, "
        f"objective {hold['optimize'].get('objective', 'sharpe')}):",
        "",
        table(
            ["cluster", "trades train/test", "test static → optimised", "deflated Sharpe"],
            [
                [
                    str(r["cluster"]),
                    f"{r['train_trades']}/{r['test_trades']}",
                    f"{num(r['static_test'], '.3f')} → {num(r['best_test'], '.3f')}",
                    num(r["deflated_sharpe"], ".2f"),
                ]
                for r in hold["optimize"]["clusters"]
            ],
        ),
        "",
        "## Monte Carlo",
        "",
        f"The cycle trader's luck: each variant run {args['choices']} more times over the "
        "span with other seeds, the same nominations each day, another draw of the pairs "
        "it takes (the `choice` source of `tradewind montecarlo`). Final capital from 10,000:",
        "",
        table(
            ["variant", "the run above", "p5", "median", "p95", "P(loss)"],
            [
                [
                    v.name,
                    f"{float(v.equity.iloc[-1]):,.0f}",
                    f"{np.percentile(v.extra['choices'], 5):,.0f}",
                    f"{np.median(v.extra['choices']):,.0f}",
                    f"{np.percentile(v.extra['choices'], 95):,.0f}",
                    pct(float((np.asarray(v.extra["choices"]) < v.capital).mean()), ".0%"),
                ]
                for v in variants
                if v.extra.get("choices")
            ],
        ),
        "",
        f"Each variant's out-of-sample trades resampled with replacement "
        f"({args['bootstrap']:,} runs): final capital from 10,000.",
        "",
        table(
            ["variant", "trades", "p5", "median", "p95", "P(loss)", "median max DD"],
            [
                [
                    name,
                    str(m["trades"]),
                    f"{m['p5']:,.0f}",
                    f"{m['p50']:,.0f}",
                    f"{m['p95']:,.0f}",
                    pct(m["loss"], ".0%"),
                    pct(m["median_dd"]),
                ]
                for name, m in mc.items()
            ],
        ),
        "",
        "Both distributions side by side, with each variant's own run and the benchmarks' "
        "final capital:",
        "",
        "![Monte Carlo distributions of final capital](study/montecarlo.png)",
        "",
        f"### Ensembles (rule-based cycle trader, {args['ensembles']} portfolios per K)",
        "",
        table(
            ["traders K", "mean return", "std of return", "variance"],
            [
                [
                    str(r["traders"]),
                    pct(r["mean_return"], "+.2%"),
                    pct(r["std_return"], ".2%"),
                    num(r["variance"], ".5f"),
                ]
                for r in ens.get("table", [])
            ],
        ),
        "",
        "![ensemble variance](study/ensembles.png)",
        "",
        f"### Sizing (rule-based cycle trader, {args['runs']} runs each, same seeds)",
        "",
        table(
            ["sizing", "median return", "p5 … p95", "median max DD", "median Sharpe", "P(loss)"],
            [
                [
                    r["sizing"],
                    pct(r["median_return"]),
                    f"{pct(r['p5_return'])} … {pct(r['p95_return'])}",
                    pct(r["median_max_drawdown"]),
                    num(r["median_sharpe"]),
                    pct(r["probability_of_loss"], ".0%"),
                ]
                for r in sizing.get("table", [])
            ],
        ),
        "",
        "## Agents out of sample (session with holdout models)",
        "",
    ]
    agents = next((v.extra.get("agents") for v in variants if v.extra.get("agents")), None)
    if agents:
        lines.append(
            table(
                ["agent", "real", "sim", "P/L", "win rate", "mean R"],
                [
                    [
                        a["agent"],
                        str(a["real_trades"]),
                        str(a["sim_trades"]),
                        f"{a['pnl']:,.0f}",
                        pct(a["win_rate"], ".0%"),
                        num(a["mean_r"], "+.2f"),
                    ]
                    for a in agents
                ],
            )
        )
        lines.append("")
        lines.append(
            "(The agents' counts include the trades before the span, where every "
            "setup was vetoed: those are sim trades.)"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------- the command


def main(
    data_dir: Annotated[Path, typer.Option("--data-dir", help="Candle store root.")],
    start: Annotated[str, typer.Option("--start", help="First candle (UTC date).")],
    end: Annotated[str, typer.Option("--end", help="Last candle (UTC date).")],
    exchange: Annotated[str, typer.Option("--exchange")] = "binance",
    timeframe: Annotated[str, typer.Option("--timeframe")] = "1h",
    pairs: Annotated[
        str | None, typer.Option("--pairs", help="Comma-separated; default all.")
    ] = None,
    train: Annotated[str, typer.Option("--train", help="Walk-forward training window.")] = "120d",
    test: Annotated[str, typer.Option("--test", help="Walk-forward test window.")] = "30d",
    trials: Annotated[int, typer.Option("--trials", help="Optuna trials per cluster.")] = 40,
    runs: Annotated[int, typer.Option("--runs", help="Sizing runs per rule.")] = 100,
    ensemble: Annotated[int, typer.Option("--ensemble", help="Largest ensemble K.")] = 8,
    ensembles: Annotated[int, typer.Option("--ensembles", help="Portfolios per K.")] = 40,
    choices: Annotated[
        int, typer.Option("--choices", help="Runs of each cycle variant with other luck.")
    ] = 100,
    bootstrap_runs: Annotated[
        int, typer.Option("--bootstrap", help="Trade bootstrap runs.")
    ] = 2000,
    seed: Annotated[int, typer.Option("--seed")] = 42,
    work: Annotated[Path, typer.Option("--work", help="Where the study's runs go.")] = Path(
        ".tradewind/study"
    ),
    out: Annotated[Path, typer.Option("--out", help="The page written.")] = ROOT
    / "docs"
    / "study.md",
) -> None:
    """Run the study and write its page (see the module docstring)."""
    from tradewind.backtest.run import load_backtest_panel

    began = time.perf_counter()
    args: dict[str, Any] = {
        "data_dir": data_dir.resolve(),
        "data_dir_shown": str(data_dir),
        "start": start,
        "end": end,
        "exchange": exchange,
        "timeframe": timeframe,
        "pairs": pairs.split(",") if pairs else [],
        "train": train,
        "test": test,
        "trials": trials,
        "runs": runs,
        "ensemble": ensemble,
        "ensembles": ensembles,
        "bootstrap": bootstrap_runs,
        "choices": choices,
        "seed": seed,
    }
    # The study's results depend on its options only: its scratch folder starts empty
    # (a resumed Optuna study or an older model in the registry would change them).
    stamp = work / ".tradewind-study"
    if work.exists() and any(work.iterdir()):
        if not stamp.exists():
            raise SystemExit(
                f"{work} is not a study's folder (no {stamp.name}): give another --work"
            )
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    stamp.write_text("scratch folder of studies/evaluate.py, emptied at each run\n")
    base = settings_of(args, work / "walkforward")
    panel = load_backtest_panel(base)
    say(f"{len(panel.symbols)} pairs × {len(panel.timestamps):,} candles of {timeframe}")
    wf = walk_forward(args, work, panel)
    starts = [m["backtest"]["from"] for m in wf["models"] if m.get("backtest")]
    if not starts:
        why = sorted(
            {
                f"{m['name']}: {w['skipped']} ({w['train_rows']} to train on)"
                for m in wf["models"][:1]
                for w in m.get("windows", [])[:1]
                if w.get("skipped")
            }
        )
        raise SystemExit(
            "the walk-forward scored no test window of the cycle trader"
            + (f" ({'; '.join(why)})" if why else "")
            + ": use a longer period or more pairs"
        )
    split = pd.Timestamp(starts[0])
    split_row = int(panel.index.get_indexer([split])[0])
    hold = holdout_models(args, work, split)
    variants: list[Variant] = []
    for name, nominator, risk in (
        ("cycle trader, rules, static", "momentum", "static"),
        ("cycle trader, rules, per-cluster", "momentum", "latest"),
        ("cycle trader, regime models, static", "model", "static"),
        ("cycle trader, regime models, per-cluster", "model", "latest"),
    ):
        say(f"backtest: {name}")
        variants.append(cycle_variant(args, work, panel, split_row, name, nominator, risk))
    variants += from_walkforward(work / "walkforward" / "result", split, args)
    for models in (False, True):
        say(f"backtest: session of agents, models {models}")
        variants.append(session_variant(args, work, panel, split, split_row, models))
    fee, slippage = base.fills.fee, base.fills.slippage
    variants += benchmarks(args, panel, split_row, fee)
    dsr = deflate(variants)
    say("trade bootstrap")
    mc = bootstrap([v for v in variants if v.trader != "benchmark"], bootstrap_runs, seed)
    ens, sizing = studies_of_runs(args, work, split)
    command = (
        f"python studies/evaluate.py --data-dir {data_dir} --start {start} --end {end}"
        + (f" --exchange {exchange}" if exchange != "binance" else "")
        + (f" --timeframe {timeframe}" if timeframe != "1h" else "")
        + (f" --pairs {pairs}" if pairs else "")
    )
    write_page(
        out,
        args,
        command,
        (split, panel.index[-1]),
        wf,
        hold,
        variants,
        dsr,
        mc,
        ens,
        sizing,
        time.perf_counter() - began,
        fee,
        slippage,
        len(panel.symbols),
    )
    summary = {
        "span": [split.isoformat(), panel.index[-1].isoformat()],
        "variants": {v.name: figures(v.equity) for v in variants},
        "deflated_sharpe": dsr,
        "bootstrap": mc,
    }
    (work / "study.json").write_text(json.dumps(summary, default=str, indent=2), encoding="utf-8")
    say(f"wrote {out} in {(time.perf_counter() - began) / 60:.1f} min")


if __name__ == "__main__":
    sys.exit(typer.run(main))
