"""``tradewind scan``: one pass of the session of agents over the newest stored candles."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tradewind.cli._runtime import (
    ConfigOpt,
    DataDirOpt,
    ExchangeOpt,
    HomeOpt,
    JsonOpt,
    QuietOpt,
    TimeframeOpt,
    make_runtime,
)
from tradewind.domain.types import parse_utc
from tradewind.errors import ConfigError

__all__ = ["scan_command"]


def _human(report: dict[str, Any]) -> Any:
    def render(out: Console) -> None:
        verb = "executed on the paper venue" if report["executed"] else "not executed"
        if not report["candles"]:
            out.print(
                f"session {report['session']!r}: nothing new — the last closed candle "
                f"({report['last_candle']}) was already processed; {verb}"
            )
        else:
            out.print(
                f"session {report['session']!r} "
                f"({'resumed' if report['resumed'] else 'new'}): {report['candles']} candle(s) "
                f"{report['first_candle']} → {report['last_candle']}; due: "
                + (", ".join(report["due"]) or "no agent")
                + f"; {verb}"
            )
        table = Table(title=f"setups ({len(report['setups'])})")
        for col in ("at", "agent", "pair", "price", "stop", "target", "R:R", "decision"):
            table.add_column(col)
        for s in report["setups"]:
            rr = s["reward_risk"]
            decision = s["decision"] + (f" ({s['reason']})" if s.get("reason") else "")
            if s["decision"] == "real":
                decision += f" qty {s['qty']:.6g}"
            table.add_row(
                s["at"][:16],
                s["agent"],
                s["pair"],
                f"{s['price']:.6g}",
                f"{s['stop']:.6g}",
                "-" if s["target"] is None else f"{s['target']:.6g}",
                "-" if rr is None else f"{rr:.2f}",
                escape(decision),
            )
        out.print(table)
        for c in report["closed"]:
            out.print(
                f"closed: #{c['id']} {c['agent']} {c['pair']} {c['exit_reason']} "
                f"P/L {c['pnl']:+.2f}"
            )
        for p in report["positions"]:
            out.print(f"position: {p['pair']} net {p['net_qty']:+.6g} ({', '.join(p['agents'])})")
        for note in report.get("model_notes", []):
            out.print(note, markup=False)
        if report["equity"] == report["equity"]:
            out.print(f"equity: {report['equity']:,.2f}")

    return render


def scan_command(
    ctx: typer.Context,
    config: ConfigOpt = None,
    home: HomeOpt = None,
    data_dir: DataDirOpt = None,
    exchange: ExchangeOpt = None,
    timeframe: TimeframeOpt = None,
    execute: Annotated[
        bool,
        typer.Option(
            "--execute", help="Act on the setups through the venue (paper) and save the pass."
        ),
    ] = False,
    live: Annotated[
        bool, typer.Option("--live", help="Refused: real orders go through `tradewind run`.")
    ] = False,
    session: Annotated[
        str, typer.Option("--session", help="Name of the saved paper session.")
    ] = "paper",
    reset: Annotated[
        bool,
        typer.Option("--reset", help="Start the session afresh (its old trades stay)."),
    ] = False,
    now: Annotated[
        str | None,
        typer.Option("--now", help="Pretend it is this UTC time (replays, tests)."),
    ] = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """One pass of the session over the newest stored candles: the setups each agent
    takes or rejects; with --execute, act on them (paper) and save, once per candle."""
    from tradewind.trading.scan import scan

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
        },
    )
    if live:
        raise ConfigError(
            "scan --live: real orders go through the node (`tradewind run --live`); scan "
            "trades on the paper venue only"
        )
    when = parse_utc(now) if now else None
    report = scan(rt.settings, now=when, execute=execute, name=session, reset=reset)
    payload = report.to_dict()
    rt.emit(payload, _human(payload))
