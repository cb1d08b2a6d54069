"""``tradewind serve``: the status API and dashboard over a trade book, without a node
(a stopped node's book, a backtest saved with ``--save``); read-only."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from tradewind.cli._runtime import ConfigOpt, HomeOpt, JsonOpt, QuietOpt, make_runtime
from tradewind.errors import StateError

__all__ = ["serve_command"]


def serve_command(
    ctx: typer.Context,
    config: ConfigOpt = None,
    home: HomeOpt = None,
    db: Annotated[
        str | None,
        typer.Option("--db", help="The trade book's URL (default: store.url or the home's)."),
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="The node whose runs to show (live.name).")
    ] = None,
    run: Annotated[
        int | None, typer.Option("--run", help="Show this run of the book (`tradewind trades`).")
    ] = None,
    host: Annotated[str | None, typer.Option("--host", help="Bind address (api.host).")] = None,
    port: Annotated[int | None, typer.Option("--port", help="TCP port (api.port).")] = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Serve the status API and dashboard, read-only, over a trade book until interrupted.

    Shows the node --name when the book holds it, else --run, else the newest run."""
    from tradewind.api.server import serve_book
    from tradewind.api.token import token_path
    from tradewind.store.db import upgrade

    rt = make_runtime(
        ctx,
        config=config,
        home=home,
        json_out=json_out,
        quiet=quiet,
        overrides={"api.host": host, "api.port": port},
    )
    url = db or rt.settings.book_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        raise StateError(
            f"no trade book at {url.removeprefix('sqlite:///')}: a backtest or a node writes "
            "one (`tradewind backtest`, `tradewind run`), or name one with --db"
        )
    upgrade(url)  # the schema only (a book written by an older Tradewind); no data changes
    server = serve_book(rt.settings, url, name=name, run_id=run)
    rt.emit(
        {"url": server.url, "token_file": str(token_path(rt.settings))},
        lambda out: out.print(
            f"dashboard and status API at {server.url} (token in {token_path(rt.settings)}); "
            "Ctrl-C stops it",
            highlight=False,
        ),
    )
    try:
        while server.thread is not None and server.thread.is_alive():
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
