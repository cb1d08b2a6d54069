"""``tradewind backtest``: the cycle trader or a session of agents over stored candles."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from tradewind.cli._runtime import (
    ConfigOpt,
    DataDirOpt,
    ExchangeOpt,
    HomeOpt,
    JsonOpt,
    QuietOpt,
    Runtime,
    SeedOpt,
    TimeframeOpt,
    make_runtime,
)
from tradewind.errors import ConfigError

__all__ = [
    "attach_report",
    "backtest_command",
    "ensure_market",
    "human_summary",
    "montecarlo_command",
    "report_command",
    "run_backtest_cli",
]


def attach_report(rt: Runtime, payload: dict[str, Any], folder: Any) -> None:
    """Write the folder's report (``backtest.report``) and name it in ``payload``."""
    from pathlib import Path

    from tradewind.backtest.report import write_report

    if folder is None or not rt.settings.backtest.report:
        return
    payload["report"] = str(write_report(Path(folder)))


def which_trader(rt: Runtime) -> str:
    """``cycle`` or ``session``: ``backtest.trader``, where ``auto`` means the session when
    ``[[agents]]`` are configured."""
    trader = rt.settings.backtest.trader
    if trader == "auto":
        return "session" if rt.settings.agents else "cycle"
    if trader == "session" and not rt.settings.agents:
        raise ConfigError(
            "backtest.trader = 'session' but the config declares no [[agents]]; "
            "add some (see docs/configuration.md) or use --trader cycle"
        )
    return trader


def ensure_market(rt: Runtime) -> None:
    """Generate the synthetic market first when it is configured and not there yet."""
    from tradewind.cli.data import SYNTH_EXCHANGE, run_synth

    settings = rt.settings
    store_exists = any(
        (settings.data_dir / settings.data.exchange / settings.data.timeframe).glob("*.parquet")
    )
    if settings.data.exchange == SYNTH_EXCHANGE and not store_exists:
        rt.note("no synthetic market yet: generating it first")
        run_synth(rt)


def run_backtest_cli(rt: Runtime) -> dict[str, Any]:
    """Run the configured backtest with a progress bar; return its summary."""
    from tradewind.backtest.run import run_backtest

    settings = rt.settings
    ensure_market(rt)
    if which_trader(rt) == "session":
        from tradewind.backtest.session_run import run_session_backtest

        if settings.backtest.detail:
            raise ConfigError(
                "backtest.detail (lower-timeframe resolution) is implemented for the cycle "
                "trader only; the session steps trades on data.timeframe candles — use a "
                "shorter data.timeframe instead"
            )
        with rt.progress() as bar:
            bar.add_task("backtest: session of agents", total=None)
            return run_session_backtest(settings).summary
    with rt.progress() as bar:
        task = bar.add_task("backtest: cycle trader", total=None)

        def on_day(_row: int, days: int) -> None:
            bar.update(task, total=days, advance=1)

        result = run_backtest(settings, on_day=on_day)
        bar.update(task, completed=bar.tasks[0].total or 1, total=bar.tasks[0].total or 1)
    return result.summary


def _session_rows(summary: dict[str, Any]) -> list[tuple[str, str]]:
    sims = summary.get("sim_reasons", {})
    return [
        ("agents", str(len(summary["agents"]))),
        ("setups seen", f"{summary['setups']:,}"),
        ("sim trades by reason", ", ".join(f"{k} {v}" for k, v in sorted(sims.items())) or "none"),
        (
            "time",
            f"prepare {summary['timings_s']['prepare']:.2f} s, run "
            f"{summary['timings_s']['run']:.2f} s, compile "
            f"{summary['timings_s']['compile']:.1f} s, load {summary['timings_s']['load']:.2f} s",
        ),
    ]


def _agent_table(summary: dict[str, Any]) -> Table:
    table = Table(title="Agents")
    for col in ("agent", "tf", "real", "sim", "P/L", "win", "mean R", "mode"):
        table.add_column(col, justify="left" if col in ("agent", "tf", "mode") else "right")
    for a in summary["agents"]:
        win = a["win_rate"]
        mean_r = a["mean_r"]
        table.add_row(
            a["agent"],
            a["timeframe"],
            str(a["real_trades"]),
            str(a["sim_trades"]),
            f"{a['pnl']:,.2f}",
            "n/a" if win != win else f"{win:.0%}",
            "n/a" if mean_r != mean_r else f"{mean_r:+.2f}",
            a["mode"],
        )
    return table


def human_summary(summary: dict[str, Any]) -> Any:
    def render(out: Console) -> None:
        m = summary["metrics"]
        data = summary["data"]
        session = summary.get("trader") == "session"
        title = "Backtest: session of agents" if session else "Backtest: cycle trader"
        table = Table(title=title, show_header=False)

        def pct(x: float | None) -> str:
            return "n/a" if x is None else f"{x:+.2%}"

        def rate(x: float | None) -> str:
            return "n/a" if x is None else f"{x:.1%}"

        def num(x: float | None, fmt: str = ".2f") -> str:
            return "n/a" if x is None else format(x, fmt)

        rows = [
            (
                "data",
                f"{data['exchange']} {data['timeframe']}, {data['pairs']} pairs, "
                f"{data['start'][:10]} → {data['end'][:10]}",
            ),
            ("capital", f"{summary['capital']:,.0f} → {m['final_equity']:,.2f}"),
            ("total return", pct(m["total_return"])),
            ("CAGR", pct(m["cagr"])),
            ("Sharpe / Sortino", f"{num(m['sharpe'])} / {num(m['sortino'])}"),
            ("max drawdown", f"{pct(m['max_drawdown'])} (Calmar {num(m['calmar'])})"),
            (
                "trades real / sim / tracked",
                f"{m['trades_real']} / {m['trades_sim']} / {m['trades_tracked']}",
            ),
            ("win rate, profit factor", f"{rate(m['win_rate'])}, {num(m['profit_factor'])}"),
            ("expectancy per trade", f"{num(m['expectancy'])} ({pct(m['expectancy_return'])})"),
            ("fees paid", f"{m['fees_paid']:,.2f}"),
            ("exposure", rate(m["exposure"])),
            (
                "ambiguous bars",
                f"{m['ambiguous_bars']}"
                + (
                    f" (resolved with {summary['detail']} candles where they could)"
                    if summary.get("detail")
                    else " (stop assumed first)"
                ),
            ),
        ]
        if session:
            rows += _session_rows(summary)
        else:
            rows += [
                (
                    "cycles",
                    f"{summary['cycles']['total']} ({summary['cycles']['dry_run']} dry-run, "
                    f"{summary['cycles']['converted']} converted to live)",
                ),
                (
                    "time",
                    f"run {summary['timings_s']['run']:.2f} s, compile "
                    f"{summary['timings_s']['compile']:.1f} s, load "
                    f"{summary['timings_s']['load']:.2f} s",
                ),
            ]
        rows.append(("seed, config hash", f"{summary['seed']}, {summary['config_hash'][:12]}"))
        for key, value in rows:
            table.add_row(key, value)
        out.print(table)
        if session:
            out.print(_agent_table(summary))
        for note in summary.get("model_notes", []) or [summary.get("nominator")]:
            if note:
                out.print(note, markup=False)
        if summary.get("run_dir"):
            out.print(f"run folder: {summary['run_dir']}")
        if summary.get("report"):
            out.print(f"report: {summary['report']}")

    return render


def backtest_command(
    ctx: typer.Context,
    config: ConfigOpt = None,
    home: HomeOpt = None,
    data_dir: DataDirOpt = None,
    exchange: ExchangeOpt = None,
    timeframe: TimeframeOpt = None,
    pairs: Annotated[
        str | None, typer.Option("--pairs", help="Comma-separated pairs (default: all).")
    ] = None,
    start: Annotated[str | None, typer.Option("--start", help="First candle (UTC).")] = None,
    end: Annotated[str | None, typer.Option("--end", help="Last candle (UTC).")] = None,
    detail: Annotated[
        str | None,
        typer.Option(
            "--detail", help="Lower timeframe resolving candles touching stop and target."
        ),
    ] = None,
    seed: SeedOpt = None,
    trader: Annotated[
        str | None,
        typer.Option(
            "--trader",
            help="cycle, session (the [[agents]]) or auto (session when agents exist).",
        ),
    ] = None,
    save: Annotated[
        bool | None, typer.Option("--save/--no-save", help="Write the run folder.")
    ] = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Backtest the cycle trader or the session of [[agents]] over stored candles; print a
    summary, save a run folder and record the run in the trade book."""
    rt = make_runtime(
        ctx,
        config=config,
        home=home,
        json_out=json_out,
        quiet=quiet,
        overrides={
            "data.data_dir": data_dir,
            "data.exchange": exchange,
            "data.timeframe": timeframe,
            "data.pairs": pairs.split(",") if pairs else None,
            "backtest.start": start,
            "backtest.end": end,
            "backtest.save": save,
            "backtest.detail": detail,
            "backtest.trader": trader,
            "seed": seed,
        },
    )
    summary = run_backtest_cli(rt)
    attach_report(rt, summary, summary.get("run_dir"))
    rt.emit(summary, human_summary(summary))


def report_command(
    ctx: typer.Context,
    folder: Annotated[
        str, typer.Argument(help="A run folder (<home>/runs/...) or study folder.")
    ],
    pair: Annotated[
        str | None,
        typer.Option("--pair", help="Pair whose trades are drawn on candles (default: busiest)."),
    ] = None,
    png: Annotated[
        bool, typer.Option("--png/--no-png", help="Also write figures/<chart>.png.")
    ] = True,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Write report.html (self-contained, works offline) and PNG figures for a backtest run,
    a Monte Carlo / ensemble / sizing study, a walk-forward or an optimisation."""
    from pathlib import Path

    from tradewind.backtest.report import folder_kind, write_report

    rt = make_runtime(ctx, json_out=json_out, quiet=quiet, overrides={})
    path = Path(folder)
    kind = folder_kind(path)
    out = write_report(path, pair=pair, png=png)
    payload = {"kind": kind, "report": str(out), "figures": str(path / "figures") if png else None}
    rt.emit(payload, lambda c: c.print(f"{kind} report: {out}", markup=False))


def montecarlo_command(
    ctx: typer.Context,
    config: ConfigOpt = None,
    home: HomeOpt = None,
    data_dir: DataDirOpt = None,
    exchange: ExchangeOpt = None,
    timeframe: TimeframeOpt = None,
    runs: Annotated[int, typer.Option("--runs", help="Number of runs.")] = 100,
    jobs: Annotated[int, typer.Option("--jobs", help="Worker processes.")] = 2,
    source: Annotated[
        str,
        typer.Option(
            "--source",
            help="choice (the pairs drawn), blocks (moving-block bootstrap of the candles) "
            "or trades (bootstrap of the trade sequence).",
        ),
    ] = "choice",
    block: Annotated[
        str, typer.Option("--block", help="Block length of --source blocks, e.g. 1d.")
    ] = "1d",
    ruin: Annotated[
        float, typer.Option("--ruin", help="Drawdown counted as ruin (0.5 = -50 %).")
    ] = 0.5,
    sizing: Annotated[
        bool,
        typer.Option(
            "--compare-sizing",
            help="Equal, inverse-volatility and Kelly sizing side by side (same seeds).",
        ),
    ] = False,
    ensemble: Annotated[
        int | None,
        typer.Option(
            "--ensemble",
            help="Ensembles of K = 1, 2, 4, … up to this many traders with 1/K of the "
            "capital each; --runs portfolios per K.",
        ),
    ] = None,
    cluster: Annotated[
        str | None,
        typer.Option(
            "--cluster",
            help="Run on Dask: 'local' (a LocalCluster of --jobs processes) or "
            "tcp://HOST:8786 (a running scheduler).",
        ),
    ] = None,
    seed: SeedOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Many seeded runs of the cycle trader over the same history: percentiles of final
    capital, drawdown and Sharpe, probability of loss, risk of ruin. Resumes when run again."""
    from tradewind.backtest.montecarlo import run_montecarlo
    from tradewind.config import config_hash

    rt = make_runtime(
        ctx,
        config=config,
        home=home,
        json_out=json_out,
        quiet=quiet,
        overrides={
            "data.data_dir": data_dir,
            "data.exchange": exchange,
            "data.timeframe": timeframe,
            "seed": seed,
        },
    )
    ensure_market(rt)
    settings = rt.settings
    if sizing:
        from tradewind.backtest.montecarlo import compare_sizing

        folder = settings.home / "studies" / f"sizing-{config_hash(settings)[:8]}"
        with rt.progress() as bar:
            bar.add_task("sizing comparison", total=None)
            result = compare_sizing(settings, runs=runs, folder=folder, jobs=jobs, cluster=cluster)
        attach_report(rt, result, folder)

        def show_sizing(out: Console) -> None:
            table = Table(title=f"Position sizing, {runs} runs each (same seeds)")
            for col in (
                "sizing",
                "median return",
                "p5 … p95",
                "median max DD",
                "median Sharpe",
                "P(loss)",
            ):
                table.add_column(col, justify="right")
            for r in result["table"]:
                table.add_row(
                    r["sizing"],
                    f"{r['median_return']:+.1%}",
                    f"{r['p5_return']:+.1%} … {r['p95_return']:+.1%}",
                    f"{r['median_max_drawdown']:.1%}",
                    f"{r['median_sharpe']:.2f}",
                    f"{r['probability_of_loss']:.0%}",
                )
            out.print(table)
            if result.get("report"):
                out.print(f"report: {result['report']}")

        rt.emit(result, show_sizing)
        return
    if ensemble is not None:
        from tradewind.backtest.montecarlo import ensemble_sizes, run_ensembles

        folder = settings.home / "studies" / f"ensembles-{config_hash(settings)[:8]}"
        total = runs * sum(ensemble_sizes(ensemble))
        with rt.progress() as bar:
            task = bar.add_task("ensembles", total=total)
            result = run_ensembles(
                settings,
                largest=ensemble,
                ensembles=runs,
                folder=folder,
                jobs=jobs,
                cluster=cluster,
                on_run=lambda _i: bar.advance(task),
            )
        attach_report(rt, result, folder)

        def show(out: Console) -> None:
            table = Table(title=f"Ensembles: {runs} portfolios per size")
            for col in ("traders K", "mean return", "std of return", "variance"):
                table.add_column(col, justify="right")
            for r in result["table"]:
                table.add_row(
                    str(r["traders"]),
                    f"{r['mean_return']:+.2%}",
                    f"{r['std_return']:.2%}",
                    f"{r['variance']:.5f}",
                )
            out.print(table)
            out.print(f"plot: {folder / 'ensembles.png'}")
            if result.get("report"):
                out.print(f"report: {result['report']}")

        rt.emit(result, show)
        return
    folder = (
        settings.home
        / "studies"
        / f"montecarlo-{source}-{config_hash(settings)[:8]}-{settings.seed}"
    )
    with rt.progress() as bar:
        task = bar.add_task(f"Monte Carlo ({source})", total=runs)
        study = run_montecarlo(
            settings,
            runs=runs,
            folder=folder,
            source=source,
            jobs=jobs,
            ruin=ruin,
            on_run=lambda _i: bar.advance(task),
            cluster=cluster,
            block=block,
        )
        bar.update(task, completed=runs)
    payload = {**study.summary, "folder": str(study.folder)}
    attach_report(rt, payload, study.folder)

    def human(out: Console) -> None:
        table = Table(title=f"Monte Carlo: {study.summary['runs']} runs ({source})")
        table.add_column("")
        for p in ("p5", "p25", "p50", "p75", "p95"):
            table.add_column(p, justify="right")
        fmt = {
            "final_equity": ",.0f",
            "total_return": "+.1%",
            "max_drawdown": ".1%",
            "sharpe": ".2f",
        }
        for key, spec in fmt.items():
            row = study.summary["percentiles"][key]
            table.add_row(key, *(format(row[p], spec) for p in ("p5", "p25", "p50", "p75", "p95")))
        out.print(table)
        out.print(
            f"probability of loss {study.summary['probability_of_loss']:.1%}; risk of ruin "
            f"(drawdown ≥ {ruin:.0%}) {study.summary['risk_of_ruin']:.1%}; every run: "
            f"{study.folder / 'runs.parquet'}"
        )
        if payload.get("report"):
            out.print(f"report: {payload['report']}")

    rt.emit(payload, human)
