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
    market_overrides,
)
from tradewind.errors import ConfigError

__all__ = [
    "attach_report",
    "backtest_command",
    "ensure_market",
    "human_summary",
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
            task = bar.add_task("backtest: session of agents", total=None)
            summary = run_session_backtest(settings).summary
            bar.update(task, total=1, completed=1)
            return summary
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
        notes = summary.get("model_notes", []) or [summary.get("nominator")]
        for note in [*notes, summary.get("lifecycle")]:
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
            **market_overrides(data_dir, exchange, timeframe, start, end, seed),
            "data.pairs": pairs.split(",") if pairs else None,
            "backtest.save": save,
            "backtest.detail": detail,
            "backtest.trader": trader,
        },
    )
    summary = run_backtest_cli(rt)
    attach_report(rt, summary, summary.get("run_dir"))
    rt.emit(summary, human_summary(summary))
