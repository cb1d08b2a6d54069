"""``tradewind run``: the node — paper by default, ``--replay`` over stored candles,
``--live`` only through its gate."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console

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

__all__ = ["flatten_command", "run_command"]


def _human(payload: dict[str, Any]) -> Any:
    def render(out: Console) -> None:
        out.print(
            f"node {payload['node']!r} replayed {payload['start']} → {payload['end']}: "
            f"{payload['ticks']} ticks, {payload['candles']} candles, "
            f"{payload['decisions']} decisions; equity {payload['equity']:,.2f}"
        )
        if payload["tick_p50_s"] is not None:
            out.print(
                f"tick time p50 {payload['tick_p50_s'] * 1e3:.1f} ms, "
                f"p99 {payload['tick_p99_s'] * 1e3:.1f} ms; trade book run {payload['run_id']}"
            )

    return render


def _runtime(
    ctx: typer.Context,
    config: Any,
    home: Any,
    json_out: bool,
    quiet: bool,
    data_dir: Any,
    exchange: str | None,
    timeframe: str | None,
) -> Any:
    """The runtime of a node command: its config with the data options applied."""
    return make_runtime(
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


def run_command(
    ctx: typer.Context,
    config: ConfigOpt = None,
    home: HomeOpt = None,
    data_dir: DataDirOpt = None,
    exchange: ExchangeOpt = None,
    timeframe: TimeframeOpt = None,
    replay: Annotated[
        bool, typer.Option("--replay", help="Drive the node from stored candles, simulated clock.")
    ] = False,
    start: Annotated[str | None, typer.Option("--start", help="Replay from (UTC).")] = None,
    end: Annotated[str | None, typer.Option("--end", help="Replay until (UTC).")] = None,
    speed: Annotated[
        float | None,
        typer.Option("--speed", help="Replay at this many times real time (default: flat out)."),
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="The node's name in the trade book (live.name).")
    ] = None,
    reset: Annotated[
        bool, typer.Option("--reset", help="Start the node afresh (its old trades stay).")
    ] = False,
    live: Annotated[
        bool,
        typer.Option("--live", help="Real orders: also needs live.mode = live and keys in env."),
    ] = False,
    testnet: Annotated[
        bool, typer.Option("--testnet", help="The exchange's sandbox (with exchange.testnet).")
    ] = False,
    no_api: Annotated[
        bool, typer.Option("--no-api", help="No status server and dashboard (api.enabled).")
    ] = False,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Run the trading node: paper on live candles by default; --replay --start --end over
    stored candles (the offline demo of live operation); --live for real orders. The status
    API and dashboard run beside it (http://127.0.0.1:8765/, token in <home>/api-token)."""
    from tradewind.live.gate import live_gate
    from tradewind.live.run import replay as run_replay

    rt = _runtime(ctx, config, home, json_out, quiet, data_dir, exchange, timeframe)
    settings = rt.settings
    if replay and live:
        raise ConfigError("--replay and --live exclude each other: a replay never trades")
    live_gate(settings, live=live, testnet=testnet)
    on_open = None if no_api or not settings.api.enabled else _server(rt)
    if replay:
        if not start or not end:
            raise ConfigError("--replay needs --start and --end (UTC dates)")
        result = run_replay(
            settings,
            parse_utc(start),
            parse_utc(end),
            speed=speed,
            name=name,
            reset=reset,
            on_open=on_open,
        )
        payload = result.to_dict()
        rt.emit(payload, _human(payload))
        return
    if start or end or speed:
        raise ConfigError("--start, --end and --speed belong to --replay")
    if settings.data.exchange == "synthetic":
        raise ConfigError(
            "the synthetic market has no live candles to trade on paper: replay it "
            "(`tradewind run --replay --start … --end …`) or set data.exchange"
        )
    from tradewind.live.run import run_paper, update_candles

    venue = None
    if live:
        venue = live_venue(settings)
        from tradewind.live.gate import live_plan

        plan = live_plan(settings, venue)
        rt.emit({"live": plan}, _plan(plan))
    run_paper(
        settings,
        name=name,
        reset=reset,
        update=lambda: update_candles(settings),
        venue=venue,
        on_open=on_open,
    )


def _server(rt: Any) -> Any:
    """The hook that starts the status server once the node is open, and says where."""

    def start(node: Any) -> Any:
        from tradewind.api.server import serve_node
        from tradewind.api.token import token_path

        server = serve_node(rt.settings, node)
        rt.note(f"dashboard and status API at {server.url} (token in {token_path(rt.settings)})")
        return server

    return start


def live_venue(settings: Any) -> Any:
    """The ccxt venue of ``settings.exchange`` (keys from the environment)."""
    from tradewind.data.sources.exchange import make_exchange
    from tradewind.venues.ccxt_venue import CcxtVenue

    return CcxtVenue(make_exchange(settings.exchange))


def _plan(plan: dict[str, Any]) -> Any:
    def render(out: Console) -> None:
        where = "TESTNET" if plan["testnet"] else "LIVE — real money"
        out.print(f"[bold]{where}[/bold] on {plan['exchange']}: node {plan['node']!r}")
        out.print(
            f"trades {plan['capital']:,.2f} {plan['quote']} (account: "
            f"{plan['account_free']:,.2f} free), {plan['pairs_per_cycle']} pairs a cycle of "
            f"{plan['pairs']} on {plan['timeframe']}"
        )
        breakers = plan["circuit_breakers"]
        out.print(
            f"protective stops at the exchange: {'on' if plan['protective_stops'] else 'off'}; "
            f"safe mode at a {breakers['daily_loss_limit']:.0%} daily loss or a "
            f"{breakers['max_drawdown']:.0%} drawdown"
        )
        if plan.get("ensemble", 1) > 1:
            out.print(
                f"an ensemble of {plan['ensemble']} cycle traders, each with 1/{plan['ensemble']}"
            )
        agents = plan["agents"]
        if agents:
            out.print(
                f"agents at the exchange, netted into one position per pair: "
                f"{', '.join(agents['at_exchange']) or 'none'}"
            )
            if agents.get("on_margin"):
                out.print(
                    f"short agents on the cross-margin account ({plan['margin_free']:,.2f} "
                    f"{plan['quote']} free there): {', '.join(agents['on_margin'])}"
                )
            if agents.get("paper_only"):
                out.print(
                    f"[yellow]on paper only: {', '.join(agents['paper_only'])} — "
                    f"{agents['why_paper']}[/yellow]"
                )

    return render


def flatten_command(
    ctx: typer.Context,
    config: ConfigOpt = None,
    home: HomeOpt = None,
    data_dir: DataDirOpt = None,
    exchange: ExchangeOpt = None,
    timeframe: TimeframeOpt = None,
    name: Annotated[
        str | None, typer.Option("--name", help="The node's name in the trade book (live.name).")
    ] = None,
    testnet: Annotated[
        bool, typer.Option("--testnet", help="The exchange's sandbox (with exchange.testnet).")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Close every position of a live node at the market and cancel its orders; the node
    is left in safe mode. Stop the node first (one process per trade book)."""
    from tradewind.live.clock import WallClock
    from tradewind.live.ensemble import open_node
    from tradewind.live.gate import live_gate

    rt = _runtime(ctx, config, home, json_out, quiet, data_dir, exchange, timeframe)
    settings = rt.settings
    live_gate(settings, live=True, testnet=testnet)
    who = name or settings.live.name
    if not yes and not typer.confirm(
        f"Sell every position of node {who!r} at the market and cancel its orders?"
    ):
        raise typer.Exit(1)
    venue = live_venue(settings)
    with open_node(settings, source="live", clock=WallClock(), name=who, venue=venue) as node:
        report = node.flatten()

    def render(out: Console) -> None:
        out.print(
            f"node {who!r} flattened: {report['placed']} sell orders, {report['cancelled']} "
            "cancelled; it stays in safe mode (no new entries) until started with --reset"
        )
        for problem in report["problems"]:
            out.print(f"[red]{problem}[/red]")

    rt.emit(report, render)
