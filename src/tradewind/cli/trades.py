"""``tradewind trades list|show|export``: read the trade book."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from tradewind.cli._runtime import ConfigOpt, HomeOpt, JsonOpt, QuietOpt, Runtime, make_runtime

__all__ = ["trades_app"]

trades_app = typer.Typer(help="The trade book: list, show and export trades.", no_args_is_help=True)

RunOpt = Annotated[int | None, typer.Option("--run", help="Only this run id.")]
KindOpt = Annotated[str | None, typer.Option("--kind", help="real, sim or tracked.")]
PairOpt = Annotated[str | None, typer.Option("--pair", help="Only this pair.")]
AgentOpt = Annotated[str | None, typer.Option("--agent", help="Only this agent.")]


def _book(rt: Runtime) -> Any:
    from tradewind.store.db import upgrade
    from tradewind.store.repository import TradeBook

    url = rt.settings.book_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        from tradewind.errors import StateError

        raise StateError(f"no trade book at {url} yet: run `tradewind backtest` first")
    upgrade(url)
    return TradeBook(url)


def _filters(
    run: int | None, kind: str | None, pair: str | None, agent: str | None
) -> dict[str, Any]:
    return {"run_id": run, "kind": kind, "pair": pair.upper() if pair else None, "agent": agent}


@trades_app.command("list")
def list_trades(
    ctx: typer.Context,
    config: ConfigOpt = None,
    home: HomeOpt = None,
    run: RunOpt = None,
    kind: KindOpt = None,
    pair: PairOpt = None,
    agent: AgentOpt = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many rows.")] = 50,
    offset: Annotated[int, typer.Option("--offset", help="Skip this many rows.")] = 0,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """List stored trades in the order they were recorded, filtered and paged."""
    rt = make_runtime(ctx, config=config, home=home, json_out=json_out, quiet=quiet)
    with _book(rt) as book:
        frame = book.trades(**_filters(run, kind, pair, agent), limit=limit, offset=offset)
    rows = json.loads(frame.to_json(orient="records", date_format="iso"))

    def human(out: Console) -> None:
        table = Table(title=f"trades ({len(rows)} shown; --json for every column)")
        for col in ("id", "run", "agent", "kind", "pair", "entry (UTC)", "exit reason", "pnl"):
            table.add_column(col)
        for row in rows:
            pnl = row.get("pnl")
            table.add_row(
                str(row["id"]),
                str(row["run_id"]),
                str(row.get("agent") or "-"),
                str(row["kind"]),
                str(row["pair"]),
                str(row.get("entry_at") or "")[:16],
                str(row.get("exit_reason") or ""),
                "" if pnl is None else f"{pnl:+.2f}",
            )
        out.print(table)

    rt.emit({"trades": rows, "limit": limit, "offset": offset}, human)


@trades_app.command("show")
def show_trade(
    ctx: typer.Context,
    trade_id: Annotated[int, typer.Argument(help="Trade id in the book.")],
    config: ConfigOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Every stored field of one trade, with its orders."""
    rt = make_runtime(ctx, config=config, home=home, json_out=json_out, quiet=quiet)
    with _book(rt) as book:
        trade = book.trade(trade_id)
        orders = book.orders(trade_id=trade_id)
    trade["orders"] = json.loads(orders.to_json(orient="records", date_format="iso"))
    payload = json.loads(json.dumps(trade, default=str))
    rt.emit(payload, lambda out: out.print_json(json.dumps(payload)))


@trades_app.command("export")
def export_trades(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="Output file.")],
    fmt: Annotated[str, typer.Option("--format", help="json, csv or parquet.")] = "json",
    config: ConfigOpt = None,
    home: HomeOpt = None,
    run: RunOpt = None,
    kind: KindOpt = None,
    pair: PairOpt = None,
    agent: AgentOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Export stored trades (filtered) to JSON, CSV or Parquet."""
    from tradewind.errors import ConfigError

    if fmt not in ("json", "csv", "parquet"):
        raise ConfigError(f"--format {fmt!r}: use json, csv or parquet")
    rt = make_runtime(ctx, config=config, home=home, json_out=json_out, quiet=quiet)
    filters = {k: v for k, v in _filters(run, kind, pair, agent).items() if v is not None}
    with _book(rt) as book:
        count = book.export(path, fmt, **filters)
    rt.emit(
        {"path": str(path), "format": fmt, "rows": count},
        lambda out: out.print(f"wrote {count} trades to {path}"),
    )
