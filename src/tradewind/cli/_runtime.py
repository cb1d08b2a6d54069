"""What every command shares: resolved settings, output mode, the store, progress bars.

Human output goes to stdout through Rich; ``--json`` replaces it with one JSON document on
stdout (nothing else is printed there); progress bars and notes go to stderr and vanish
with ``--quiet``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from tradewind.config import Settings, config_hash, load_config
from tradewind.data.store import CandleStore

__all__ = [
    "ConfigOpt",
    "DataDirOpt",
    "DebugOpt",
    "ExchangeOpt",
    "HomeOpt",
    "JsonOpt",
    "QuietOpt",
    "Runtime",
    "SeedOpt",
    "TimeframeOpt",
    "make_runtime",
]

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Config file (default: ./tradewind.toml if present)."),
]
HomeOpt = Annotated[
    Path | None,
    typer.Option(
        "--home", help="Home folder for everything Tradewind writes (env TRADEWIND__HOME)."
    ),
]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print a machine-readable summary on stdout.")
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or notes.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")]
DataDirOpt = Annotated[
    Path | None, typer.Option("--data-dir", help="Candle store root (default: <home>/data).")
]
ExchangeOpt = Annotated[
    str | None, typer.Option("--exchange", help="Exchange folder/ccxt id (default from config).")
]
TimeframeOpt = Annotated[
    str | None, typer.Option("--timeframe", "-t", help="Candle timeframe, e.g. 5m, 1h.")
]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="Seed of everything random.")]


@dataclass
class Runtime:
    """The resolved context of one command invocation."""

    settings: Settings
    config_path: Path | None
    json: bool = False
    quiet: bool = False
    debug: bool = False
    out: Console = field(default_factory=lambda: Console(soft_wrap=True))
    err: Console = field(default_factory=lambda: Console(stderr=True, soft_wrap=True))

    @property
    def config_hash(self) -> str:
        """SHA-256 of the resolved config (secrets excluded)."""
        return config_hash(self.settings)

    def store(self, exchange: str | None = None) -> CandleStore:
        """The candle store of ``exchange`` (default: the configured data exchange)."""
        return CandleStore(self.settings.data_dir, exchange or self.settings.data.exchange)

    def note(self, message: str) -> None:
        """A human note on stderr (silent with --quiet or --json)."""
        if not (self.quiet or self.json):
            self.err.print(message, markup=False, highlight=False)

    def emit(self, payload: dict[str, Any], human: Callable[[Console], None]) -> None:
        """Report a result: JSON on stdout with --json, else the human rendering.

        Every JSON result carries the hash of the resolved config that produced it.
        """
        if self.json:
            document = {**payload, "config_hash": self.config_hash}
            sys.stdout.write(json.dumps(document, default=str, indent=2) + "\n")
            sys.stdout.flush()
        elif not self.quiet:
            human(self.out)

    @contextmanager
    def progress(self) -> Iterator[Progress]:
        """A Rich progress bar on stderr; disabled with --quiet."""
        bar = Progress(
            SpinnerColumn(),
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.err,
            disable=self.quiet,
            transient=False,
        )
        with bar:
            yield bar


def market_overrides(
    data_dir: Path | None,
    exchange: str | None,
    timeframe: str | None,
    start: str | None,
    end: str | None,
    seed: int | None,
) -> dict[str, Any]:
    """The overrides of the options every market-reading command shares, so each names
    them the same way and one more option is added in one place."""
    return {
        "data.data_dir": data_dir,
        "data.exchange": exchange,
        "data.timeframe": timeframe,
        "backtest.start": start,
        "backtest.end": end,
        "seed": seed,
    }


def _set(tree: dict[str, Any], path: str, value: Any) -> None:
    head, _, rest = path.partition(".")
    if rest:
        _set(tree.setdefault(head, {}), rest, value)
    else:
        tree[head] = value


def make_runtime(
    ctx: typer.Context,
    *,
    config: Path | None = None,
    home: Path | None = None,
    json_out: bool = False,
    quiet: bool = False,
    debug: bool = False,
    overrides: dict[str, Any] | None = None,
) -> Runtime:
    """Resolve settings from the file, the environment and the command's options.

    ``overrides`` use dotted keys (``"data.timeframe"``); None means "not given".
    Options given to the top-level ``tradewind`` command apply when the subcommand
    leaves them out.
    """
    parent: dict[str, Any] = ctx.find_root().obj or {}
    config = config or parent.get("config")
    home = home or parent.get("home")
    tree: dict[str, Any] = {}
    if home is not None:
        tree["home"] = home
    for key, value in (overrides or {}).items():
        if value is not None:
            _set(tree, key, value)
    settings = load_config(config, tree)
    return Runtime(
        settings=settings,
        config_path=config,
        json=json_out or bool(parent.get("json")),
        quiet=quiet or bool(parent.get("quiet")),
        debug=debug or bool(parent.get("debug")),
    )
