"""``tradewind montecarlo``, ``optimize`` and ``report``: studies over many runs of the
traders and the reports of runs and studies."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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
    SeedOpt,
    TimeframeOpt,
    make_runtime,
    market_overrides,
)
from tradewind.cli.backtest import attach_report, ensure_market

if TYPE_CHECKING:
    from tradewind.cli._runtime import Runtime
    from tradewind.config import Settings

__all__ = [
    "montecarlo_command",
    "montecarlo_folder",
    "montecarlo_with_bar",
    "optimize_command",
    "report_command",
]


def montecarlo_folder(settings: Settings, source: str) -> Path:
    """Where a Monte Carlo study of ``settings`` lives: the same config, source and seed
    find the same folder, so a study run again resumes (or reuses) its runs."""
    from tradewind.config import config_hash

    return (
        settings.home
        / "studies"
        / f"montecarlo-{source}-{config_hash(settings)[:8]}-{settings.seed}"
    )


def montecarlo_with_bar(
    rt: Runtime, settings: Settings, label: str, *, runs: int, source: str, **kwargs: Any
) -> dict[str, Any]:
    """Run (or resume) the Monte Carlo study of ``settings`` behind a progress bar and
    return its summary with the folder and the report, as ``montecarlo`` and ``demo`` show it."""
    from tradewind.backtest.montecarlo import run_montecarlo

    with rt.progress() as bar:
        task = bar.add_task(label, total=runs)
        study = run_montecarlo(
            settings,
            runs=runs,
            folder=montecarlo_folder(settings, source),
            source=source,
            on_run=lambda _i: bar.advance(task),
            **kwargs,
        )
        bar.update(task, completed=runs)
    payload = {**study.summary, "folder": str(study.folder)}
    attach_report(rt, payload, study.folder)
    return payload


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def optimize_command(
    ctx: typer.Context,
    config: ConfigOpt = None,
    home: HomeOpt = None,
    data_dir: DataDirOpt = None,
    exchange: ExchangeOpt = None,
    timeframe: TimeframeOpt = None,
    start: Annotated[str | None, typer.Option("--start", help="First candle (UTC).")] = None,
    end: Annotated[str | None, typer.Option("--end", help="Last candle (UTC).")] = None,
    trials: Annotated[int, typer.Option("--trials", help="Optuna trials per cluster.")] = 60,
    objective: Annotated[
        str,
        typer.Option(
            "--objective", help="sharpe (mean/std of trade returns) or kelly (mean log growth)."
        ),
    ] = "sharpe",
    train_fraction: Annotated[
        float,
        typer.Option("--train-fraction", help="Share of the decision days trained on."),
    ] = 0.7,
    min_trades: Annotated[
        int,
        typer.Option("--min-trades", help="Fewer training trades: the cluster stays static."),
    ] = 30,
    seed: SeedOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Optimise the cycle trader's lifecycle parameters (pre-trade window, expiry,
    take-profit, stop-loss, trailing stop) per regime cluster on the training period,
    validate them out of sample, register them keyed by the regime model, and promote them
    when they beat the configured ones."""
    from tradewind.backtest.optimize import run_optimize
    from tradewind.config import config_hash

    rt = make_runtime(
        ctx,
        config=config,
        home=home,
        json_out=json_out,
        quiet=quiet,
        overrides=market_overrides(data_dir, exchange, timeframe, start, end, seed),
    )
    ensure_market(rt)
    settings = rt.settings
    folder = settings.home / "studies" / f"optimize-{objective}-{config_hash(settings)[:8]}"
    with rt.progress() as bar:
        task = bar.add_task(f"optimize ({objective}, {trials} trials per cluster)", total=None)
        result = run_optimize(
            settings,
            folder=folder,
            objective=objective,  # type: ignore[arg-type]  # checked by run_optimize
            trials=trials,
            train_fraction=train_fraction,
            min_trades=min_trades,
            on_trial=lambda n: bar.advance(task, n),
        )
    attach_report(rt, result, folder)

    def show(out: Console) -> None:
        table = Table(title=f"Lifecycle parameters per regime cluster ({objective})")
        for col in ("cluster", "trades train/test", "train", "test", "DSR", "TP", "SL", "trail"):
            table.add_column(col, justify="right")
        for r in result["clusters"]:
            tuned = r.get("take_profit") is not None

            def v(x: float | None, spec: str = ".3f") -> str:
                return "n/a" if x is None else format(x, spec)

            table.add_row(
                str(r["cluster"]),
                f"{r['train_trades']}/{r['test_trades']}",
                f"{v(r['static_train'])}→{v(r['best_train'])}",
                f"{v(r['static_test'])}→{v(r['best_test'])}",
                v(r["deflated_sharpe"], ".2f"),
                v(r["take_profit"]) if tuned else "static",
                v(r["stop_loss"]) if tuned else "static",
                f"{v(r['trail_activation'])}/{v(r['trail_distance'])}" if tuned else "static",
            )
        out.print(table)
        p = result["pooled_test"]
        b = result["backtest"]
        out.print(
            f"out of sample ({p['test_trades']} nominations from {result['train_until'][:10]}): "
            f"{objective} {_num(p['static'])} static vs {_num(p['optimised'])} optimised; "
            f"the trader over the test period {b['static_return']:+.2%} vs "
            f"{b['optimised_return']:+.2%}",
            markup=False,
        )
        out.print(f"parameter set {result['set_id']}: {result['note']}", markup=False)
        if result.get("report"):
            out.print(f"report: {result['report']}")

    rt.emit(result, show)


def report_command(
    ctx: typer.Context,
    folder: Annotated[str, typer.Argument(help="A run folder (<home>/runs/...) or study folder.")],
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
        from tradewind.backtest.montecarlo import SIZINGS, compare_sizing

        folder = settings.home / "studies" / f"sizing-{config_hash(settings)[:8]}"
        with rt.progress() as bar:
            task = bar.add_task("sizing comparison", total=runs * len(SIZINGS))
            result = compare_sizing(
                settings,
                runs=runs,
                folder=folder,
                jobs=jobs,
                cluster=cluster,
                on_run=lambda _i: bar.advance(task),
            )
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
    payload = montecarlo_with_bar(
        rt,
        settings,
        f"Monte Carlo ({source})",
        runs=runs,
        source=source,
        jobs=jobs,
        ruin=ruin,
        cluster=cluster,
        block=block,
    )

    def human(out: Console) -> None:
        table = Table(title=f"Monte Carlo: {payload['runs']} runs ({source})")
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
            row = payload["percentiles"][key]
            table.add_row(key, *(format(row[p], spec) for p in ("p5", "p25", "p50", "p75", "p95")))
        out.print(table)
        out.print(
            f"probability of loss {payload['probability_of_loss']:.1%}; risk of ruin "
            f"(drawdown ≥ {ruin:.0%}) {payload['risk_of_ruin']:.1%}; every run: "
            f"{Path(payload['folder']) / 'runs.parquet'}"
        )
        if payload.get("report"):
            out.print(f"report: {payload['report']}")

    rt.emit(payload, human)
