"""The ``tradewind`` command line: one Typer app, errors mapped to exit codes.

Exit codes: 0 success, 1 unexpected error, 2 usage error, 3 configuration, 4 data,
5 exchange, 6 state, 7 look-ahead, 130 interrupted. Errors print one line on stderr;
``--debug`` adds the traceback.
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tradewind import __version__
from tradewind.cli._runtime import (
    ConfigOpt,
    DataDirOpt,
    DebugOpt,
    ExchangeOpt,
    HomeOpt,
    JsonOpt,
    QuietOpt,
    SeedOpt,
    TimeframeOpt,
    make_runtime,
    market_overrides,
)
from tradewind.cli.backtest import backtest_command, human_summary
from tradewind.cli.data import data_app
from tradewind.cli.models import models_app, train_command, walkforward_command
from tradewind.cli.run import flatten_command, run_command
from tradewind.cli.scan import scan_command
from tradewind.cli.serve import serve_command
from tradewind.cli.studies import montecarlo_command, optimize_command, report_command
from tradewind.cli.trades import trades_app
from tradewind.config import DEFAULT_CONFIG_NAME, json_schema, resolved_dict, starter_toml
from tradewind.errors import TradewindError

__all__ = ["app", "main"]

app = typer.Typer(
    name="tradewind",
    help="Machine-learning crypto trading: data, training, backtest, Monte Carlo, paper, live.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
config_app = typer.Typer(
    help="Show the resolved configuration or its JSON Schema.", no_args_is_help=True
)
app.add_typer(config_app, name="config")
app.add_typer(data_app, name="data")
app.add_typer(trades_app, name="trades")
app.command("backtest")(backtest_command)
app.command("montecarlo")(montecarlo_command)
app.command("optimize")(optimize_command)
app.command("report")(report_command)
app.command("scan")(scan_command)
app.command("run")(run_command)
app.command("flatten")(flatten_command)
app.command("serve")(serve_command)
app.command("train")(train_command)
app.command("walkforward")(walkforward_command)
app.add_typer(models_app, name="models")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tradewind {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    config: ConfigOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Options here apply to every subcommand that does not set them itself."""
    ctx.obj = {"config": config, "home": home, "json": json_out, "quiet": quiet, "debug": debug}


@app.command()
def init(
    ctx: typer.Context,
    path: Annotated[Path, typer.Option("--path", help="Where to write the starter config.")] = Path(
        DEFAULT_CONFIG_NAME
    ),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Write the built-in defaults as a commented starter config, create the home folder
    and the status API's token (<home>/api-token, mode 0600; kept if there is one)."""
    from tradewind.api.token import ensure_token

    if path.exists() and not force:
        raise TradewindError(f"{path} already exists; use --force to overwrite it")
    rt = make_runtime(ctx, home=home, json_out=json_out, quiet=quiet)
    path.write_text(starter_toml(), encoding="utf-8")
    rt.settings.home.mkdir(parents=True, exist_ok=True)
    token, written = ensure_token(rt.settings)
    rt.emit(
        {"config": str(path), "home": str(rt.settings.home), "api_token_file": str(token)},
        lambda out: out.print(
            f"wrote {path} (edit it, or delete it to use the defaults); home: "
            f"{rt.settings.home}; API token {'written to' if written else 'kept in'} {token}"
        ),
    )


@config_app.command("show")
def config_show(
    ctx: typer.Context,
    config: ConfigOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Print the resolved configuration (file + environment + options), secrets masked."""
    rt = make_runtime(ctx, config=config, home=home, json_out=json_out, quiet=quiet)
    resolved = resolved_dict(rt.settings)
    payload = {
        "source": str(rt.config_path) if rt.config_path else "defaults or ./tradewind.toml",
        "hash": rt.config_hash,
        "config": resolved,
    }

    def human(out: Console) -> None:
        out.print_json(json.dumps(resolved, default=str))
        out.print(f"config hash: {rt.config_hash}")

    rt.emit(payload, human)


@config_app.command("schema")
def config_schema() -> None:
    """Print the JSON Schema of the config file."""
    sys.stdout.write(json.dumps(json_schema(), indent=2) + "\n")


@app.command()
def demo(
    ctx: typer.Context,
    config: ConfigOpt = None,
    home: HomeOpt = None,
    data_dir: DataDirOpt = None,
    exchange: ExchangeOpt = None,
    timeframe: TimeframeOpt = None,
    start: Annotated[str | None, typer.Option("--start", help="First candle (UTC).")] = None,
    end: Annotated[str | None, typer.Option("--end", help="Last candle (UTC).")] = None,
    seed: SeedOpt = None,
    runs: Annotated[int, typer.Option("--runs", help="Monte Carlo runs.")] = 200,
    jobs: Annotated[int, typer.Option("--jobs", help="Monte Carlo worker processes.")] = 2,
    replay_days: Annotated[
        float,
        typer.Option("--replay-days", help="Days of the market's end the node replays (0: none)."),
    ] = 3.0,
    speed: Annotated[
        float | None,
        typer.Option(
            "--speed", help="Replay at this many times real time, to watch the dashboard."
        ),
    ] = None,
    no_api: Annotated[
        bool, typer.Option("--no-api", help="No dashboard during the replay.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Regenerate the synthetic market even if present.")
    ] = False,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """The main job, end to end: the synthetic market (or --data-dir/--exchange), training,
    backtests of the cycle trader and a session of agents, Monte Carlo, a replay of the
    live node with the dashboard up, and one HTML report over it all."""
    from tradewind.cli.data import SYNTH_EXCHANGE
    from tradewind.cli.demo import DEMO_AGENTS, run_demo

    overrides = market_overrides(data_dir, exchange, timeframe, start, end, seed)
    rt = make_runtime(
        ctx, config=config, home=home, json_out=json_out, quiet=quiet, overrides=overrides
    )
    synthetic = exchange is None or exchange == SYNTH_EXCHANGE
    if synthetic:
        # Without --exchange the demo runs on the embedded market, whatever the config reads.
        overrides.update(
            {
                "data.exchange": SYNTH_EXCHANGE,
                "data.timeframe": timeframe or rt.settings.synth.timeframe,
                "data.pairs": [],
            }
        )
    if not rt.settings.agents:
        overrides["agents"] = DEMO_AGENTS
    rt = make_runtime(
        ctx, config=config, home=home, json_out=json_out, quiet=quiet, overrides=overrides
    )
    result = run_demo(
        rt,
        synthetic=synthetic,
        force=force,
        runs=runs,
        jobs=jobs,
        replay_days=replay_days,
        speed=speed,
        api=not no_api,
    )

    def human(out: Console) -> None:
        if "synthetic_market" in result:
            _market_tables(out, result["synthetic_market"])
        human_summary(result["cycle"])(out)
        human_summary(result["session"])(out)
        table = Table(title=f"Demo: {result['seconds']:.0f} s", show_lines=False)
        for col in ("step", "s", "result", "where"):
            table.add_column(col, justify="right" if col == "s" else "left", overflow="fold")
        for row in result["steps"]:
            table.add_row(row["step"], f"{row['seconds']:.1f}", row["what"], row["where"] or "")
        out.print(table)
        out.print(result["train"]["note"], markup=False)
        out.print(
            "next: `tradewind report FOLDER` for any run or study, `tradewind serve` for the "
            "dashboard over the trade book, `tradewind demo --data-dir ../shared/data "
            "--exchange binance` for real data (the README's five-minute tour)",
            markup=False,
        )
        out.print(f"report: {result['report']}", markup=False)

    rt.emit(result, human)


def _market_tables(out: Console, summary: dict[str, Any]) -> None:
    table = Table(title="Synthetic market", show_header=False)
    table.add_row("store", str(summary["path"]))
    table.add_row("pairs", f"{len(summary['pairs'])} ({summary['pairs'][0]} leads)")
    table.add_row("timeframe", str(summary["timeframe"]))
    table.add_row("period", f"{summary['first_candle']} → {summary['last_candle']}")
    table.add_row("candles", f"{summary['rows']:,}")
    shares = ", ".join(f"{k} {v:.0%}" for k, v in summary["regime_shares"].items())
    table.add_row("regimes", shares)
    table.add_row("planted events", f"{summary['events']} (signal {summary['signal']})")
    table.add_row("seed", str(summary["seed"]))
    table.add_row("generated", "reused (same parameters)" if summary["reused"] else "now")
    out.print(table)
    stats = Table(title="Pairs (first five)")
    for col in ("pair", "total return", "annual vol"):
        stats.add_column(col)
    for row in summary["pair_stats"][:5]:
        stats.add_row(*_pair_row(row))
    out.print(stats)


def _pair_row(row: dict[str, Any]) -> tuple[str, str, str]:
    ret = next((v for k, v in row.items() if "return" in k), float("nan"))
    vol = next((v for k, v in row.items() if "vol" in k), float("nan"))
    return str(row.get("pair", row.get("symbol", "?"))), f"{ret:+.1%}", f"{vol:.0%}"


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turn known errors into one line and an exit code."""
    args = sys.argv[1:] if argv is None else list(argv)
    # --debug is accepted anywhere on the line, not only before the subcommand.
    debug = "--debug" in args
    if debug:
        args = ["--debug", *(a for a in args if a != "--debug")]
    try:
        code = app(args=args, prog_name="tradewind", standalone_mode=False)
    except TradewindError as exc:
        if debug:
            traceback.print_exc()
        Console(stderr=True, soft_wrap=True).print(
            f"[bold red]error:[/] {escape(str(exc))}", highlight=False
        )
        sys.exit(exc.exit_code)
    except typer.TyperException as exc:  # usage errors: typer's own message and code 2
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            Console(stderr=True).print(f"error: {escape(exc.format_message())}", highlight=False)
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        Console(stderr=True).print("interrupted")
        sys.exit(130)
    except Exception as exc:  # an internal bug: say so, keep the traceback behind --debug
        if debug:
            traceback.print_exc()
        Console(stderr=True, soft_wrap=True).print(
            f"[bold red]internal error:[/] {type(exc).__name__}: {escape(str(exc))} "
            "(re-run with --debug for the traceback, and please report it)",
            highlight=False,
        )
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
