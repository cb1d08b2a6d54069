"""``tradewind data …``: synthesise, check, list, resample, import, download, update."""

from __future__ import annotations

import json
import os
from pathlib import Path
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
from tradewind.data.check import check_store
from tradewind.data.store import CandleStore
from tradewind.domain.types import Timeframe, normalize_symbol
from tradewind.errors import DataError

__all__ = ["data_app", "run_synth"]

data_app = typer.Typer(
    help="Candle data: synthesise, check, list, resample, import, download.", no_args_is_help=True
)

SYNTH_EXCHANGE = "synthetic"
_MANIFEST = "synth.json"

PairsOpt = Annotated[
    str | None, typer.Option("--pairs", help="Comma-separated pairs, e.g. BTCUSDT,ETHUSDT.")
]


def _pairs(text: str | None) -> list[str] | None:
    if not text:
        return None
    return [normalize_symbol(p) for p in text.split(",") if p.strip()]


def run_synth(rt: Runtime, *, force: bool = False) -> dict[str, Any]:
    """Generate the synthetic market into the store unless the same one is already there."""
    from tradewind.data.synthetic import generate_market, write_market

    cfg = rt.settings.synth
    params = {**cfg.model_dump(mode="json"), "seed": rt.settings.seed}
    store = CandleStore(rt.settings.data_dir, SYNTH_EXCHANGE)
    manifest = store.root / _MANIFEST
    old: dict[str, Any] = {}
    if manifest.is_file():
        old = json.loads(manifest.read_text(encoding="utf-8"))
        if (
            not force
            and old.get("params") == params
            and all(store.exists(s, cfg.timeframe) for s in old.get("symbols", []))
        ):
            return {**old["summary"], "reused": True}
    with rt.progress() as bar:
        task = bar.add_task("generating synthetic market", total=None)
        market = generate_market(
            pairs=cfg.pairs,
            timeframe=cfg.timeframe,
            start=cfg.start,
            days=cfg.days,
            seed=rt.settings.seed,
            signal=cfg.signal,
            event_rate=cfg.event_rate,
            regime_dependent=cfg.regime_dependent,
        )
        bar.update(task, description="writing synthetic market")
        summary = write_market(market, store).to_dict()
        bar.update(task, total=1, completed=1)
    symbols = sorted(market.frames)
    for stale in set(old.get("symbols", [])) - set(symbols):
        old_tf = old.get("params", {}).get("timeframe", cfg.timeframe)
        store.path(stale, old_tf).unlink(missing_ok=True)
    summary = {**summary, "path": str(store.root), "seed": rt.settings.seed}
    tmp = manifest.with_suffix(".tmp")
    tmp.write_text(
        json.dumps(
            {"params": params, "symbols": symbols, "summary": summary}, default=str, indent=2
        ),
        encoding="utf-8",
    )
    os.replace(tmp, manifest)
    return {**summary, "reused": False}


@data_app.command("synth")
def synth(
    ctx: typer.Context,
    config: ConfigOpt = None,
    home: HomeOpt = None,
    data_dir: DataDirOpt = None,
    seed: SeedOpt = None,
    pairs: Annotated[int | None, typer.Option("--pairs", help="Number of pairs.")] = None,
    days: Annotated[int | None, typer.Option("--days", help="Length in days.")] = None,
    timeframe: TimeframeOpt = None,
    signal: Annotated[
        float | None, typer.Option("--signal", help="Planted signal strength, 0 = none.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Regenerate even if present.")] = False,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Write the seeded synthetic market into the store as exchange 'synthetic'."""
    rt = make_runtime(
        ctx,
        config=config,
        home=home,
        json_out=json_out,
        quiet=quiet,
        overrides={
            "data.data_dir": data_dir,
            "seed": seed,
            "synth.pairs": pairs,
            "synth.days": days,
            "synth.timeframe": timeframe,
            "synth.signal": signal,
        },
    )
    summary = run_synth(rt, force=force)

    def human(out: Console) -> None:
        table = Table(title="Synthetic market", show_header=False)
        for key, value in summary.items():
            if not isinstance(value, dict | list):
                table.add_row(str(key), str(value))
        out.print(table)

    rt.emit(summary, human)


@data_app.command("check")
def check(
    ctx: typer.Context,
    config: ConfigOpt = None,
    home: HomeOpt = None,
    data_dir: DataDirOpt = None,
    exchange: ExchangeOpt = None,
    timeframe: TimeframeOpt = None,
    pairs: PairsOpt = None,
    fix: Annotated[
        bool,
        typer.Option("--fix", help="Repair what is safe: sort, drop duplicates (newest wins)."),
    ] = False,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Report every broken rule, gap and zero-volume run per file; exit 4 if a rule is broken."""
    rt = make_runtime(
        ctx,
        config=config,
        home=home,
        json_out=json_out,
        quiet=quiet,
        overrides={"data.data_dir": data_dir, "data.exchange": exchange},
    )
    store = rt.store()
    timeframes = [Timeframe.parse(timeframe).name] if timeframe else None
    if not store.timeframes():
        raise DataError(f"{store.root}: no candle files (try `tradewind data synth`)")
    if fix:
        with store.lock():
            reports = check_store(store, timeframes, _pairs(pairs), fix=True)
    else:
        reports = check_store(store, timeframes, _pairs(pairs))
    payload = {
        "store": str(store.root),
        "files": len(reports),
        "ok": all(r.ok for r in reports),
        "files_with_problems": sum(not r.ok for r in reports),
        "files_with_gaps": sum(bool(r.gaps) for r in reports),
        "missing_candles": sum(g.missing for r in reports for g in r.gaps),
        "zero_volume_candles": sum(z.length for r in reports for z in r.zero_volume),
        "reports": [r.to_dict() for r in reports],
    }

    def human(out: Console) -> None:
        table = Table(title=f"data check: {store.root}")
        for col in (
            "pair",
            "tf",
            "rows",
            "first",
            "last",
            "problems",
            "gaps (missing)",
            "zero-vol",
        ):
            table.add_column(col)
        for r in reports:
            status = r.unreadable or (str(len(r.problems)) if r.problems else "-")
            table.add_row(
                r.symbol,
                r.timeframe,
                str(r.rows),
                (r.first or "")[:16],
                (r.last or "")[:16],
                status,
                f"{len(r.gaps)} ({sum(g.missing for g in r.gaps)})" if r.gaps else "-",
                str(sum(z.length for z in r.zero_volume)) if r.zero_volume else "-",
            )
        out.print(table)
        for r in reports:
            for p in r.problems[:20]:
                out.print(f"{r.path}: {p.describe()}", highlight=False)
            if len(r.problems) > 20:
                out.print(f"{r.path}: … and {len(r.problems) - 20} more")
            for line in r.fixed:
                out.print(f"{r.path}: fixed: {line}", highlight=False)
        verdict = (
            "all files pass"
            if payload["ok"]
            else (
                f"{payload['files_with_problems']} file(s) break rules"
                + ("" if fix else " (`--fix` repairs order and duplicates)")
            )
        )
        out.print(verdict)

    rt.emit(payload, human)
    if not payload["ok"]:
        raise typer.Exit(DataError.exit_code)


@data_app.command("list")
def list_data(
    ctx: typer.Context,
    config: ConfigOpt = None,
    home: HomeOpt = None,
    data_dir: DataDirOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """List exchanges, timeframes and pair counts in the store."""
    rt = make_runtime(
        ctx,
        config=config,
        home=home,
        json_out=json_out,
        quiet=quiet,
        overrides={"data.data_dir": data_dir},
    )
    root = Path(rt.settings.data_dir)
    rows = []
    if root.is_dir():
        for ex_dir in sorted(p for p in root.iterdir() if p.is_dir()):
            store = CandleStore(root, ex_dir.name)
            for tf in store.timeframes():
                rows.append(
                    {"exchange": ex_dir.name, "timeframe": tf, "pairs": len(store.symbols(tf))}
                )

    def human(out: Console) -> None:
        table = Table(title=f"candle store: {root}")
        for col in ("exchange", "timeframe", "pairs"):
            table.add_column(col)
        for row in rows:
            table.add_row(str(row["exchange"]), str(row["timeframe"]), str(row["pairs"]))
        out.print(table if rows else f"no candles under {root}")

    rt.emit({"data_dir": str(root), "sets": rows}, human)


def _download(
    rt: Runtime,
    *,
    mode: str,
    exchange: str | None,
    timeframe: str | None,
    pairs: str | None,
    top: int | None,
    quote: str,
    since: str | None,
    concurrency: int | None,
) -> None:
    from tradewind.data.sources.download import sync_candles
    from tradewind.domain.types import parse_utc

    name = exchange or rt.settings.exchange.name
    tf = Timeframe.parse(timeframe or rt.settings.data.timeframe)
    store = CandleStore(rt.settings.data_dir, name)
    with rt.progress() as bar:
        task = bar.add_task(f"{mode} {name} {tf}", total=None)
        report = sync_candles(
            store,
            tf,
            exchange_cfg=rt.settings.exchange,
            download_cfg=rt.settings.download,
            pairs=_pairs(pairs) or (rt.settings.data.pairs or None),
            top=top,
            quote=quote.upper(),
            since=parse_utc(since) if since else None,
            mode=mode,
            concurrency=concurrency,
            progress=lambda _symbol, _added: bar.advance(task),
            on_total=lambda n: bar.update(task, total=n),
        )
    payload = {**report.to_dict(), "store": str(store.root)}

    def human(out: Console) -> None:
        table = Table(title=f"{mode}: {store.root / tf.name}")
        for col in ("pair", "status", "added", "replaced", "holes", "requests", "last"):
            table.add_column(col)
        for p in report.pairs:
            table.add_row(
                p.symbol,
                p.status,
                str(p.added),
                str(p.replaced),
                str(p.holes),
                str(p.requests),
                (p.last or "")[:16],
            )
        out.print(table)
        out.print(
            f"{payload['added']} candles added in {report.elapsed_s:.1f} s; "
            f"{report.requests} requests, weight {report.weight}, {report.retries} retries, "
            f"{report.rate_limited} rate-limited answers"
        )
        for p in report.failed:
            out.print(f"[red]failed[/] {p.symbol}: {p.error} (file unchanged)", highlight=False)

    rt.emit(payload, human)
    if report.failed:
        raise typer.Exit(5)


ConcurrencyOpt = Annotated[
    int | None,
    typer.Option("--concurrency", help="Requests in flight; 1 = sequential (default: config)."),
]
QuoteOpt = Annotated[str, typer.Option("--quote", help="Quote asset for --top.")]
SinceOpt = Annotated[str | None, typer.Option("--since", help="First candle (UTC date/time).")]


@data_app.command("download")
def download(
    ctx: typer.Context,
    config: ConfigOpt = None,
    home: HomeOpt = None,
    data_dir: DataDirOpt = None,
    exchange: ExchangeOpt = None,
    timeframe: TimeframeOpt = None,
    pairs: PairsOpt = None,
    top: Annotated[
        int | None, typer.Option("--top", help="The N pairs with most 24 h quote volume.")
    ] = None,
    quote: QuoteOpt = "USDT",
    since: SinceOpt = None,
    concurrency: ConcurrencyOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Download candles through ccxt into <data-dir>/<exchange>/<timeframe>/ (async)."""
    if not since:
        raise DataError("give --since (e.g. --since 2024-01-01) for a download")
    if not pairs and top is None:
        raise DataError("name --pairs (e.g. BTCUSDT,ETHUSDT) or --top N")
    rt = make_runtime(
        ctx,
        config=config,
        home=home,
        json_out=json_out,
        quiet=quiet,
        overrides={"data.data_dir": data_dir},
    )
    _download(
        rt,
        mode="download",
        exchange=exchange,
        timeframe=timeframe,
        pairs=pairs,
        top=top,
        quote=quote,
        since=since,
        concurrency=concurrency,
    )


@data_app.command("update")
def update(
    ctx: typer.Context,
    config: ConfigOpt = None,
    home: HomeOpt = None,
    data_dir: DataDirOpt = None,
    exchange: ExchangeOpt = None,
    timeframe: TimeframeOpt = None,
    pairs: PairsOpt = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Start for pairs that have no file yet.")
    ] = None,
    concurrency: ConcurrencyOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Fetch only what is missing: candles after the last stored one, and holes."""
    rt = make_runtime(
        ctx,
        config=config,
        home=home,
        json_out=json_out,
        quiet=quiet,
        overrides={"data.data_dir": data_dir},
    )
    _download(
        rt,
        mode="update",
        exchange=exchange,
        timeframe=timeframe,
        pairs=pairs,
        top=None,
        quote="USDT",
        since=since,
        concurrency=concurrency,
    )


@data_app.command("resample")
def resample_cmd(
    ctx: typer.Context,
    target: Annotated[str, typer.Option("--to", help="Target timeframe, e.g. 1h.")],
    config: ConfigOpt = None,
    home: HomeOpt = None,
    data_dir: DataDirOpt = None,
    exchange: ExchangeOpt = None,
    timeframe: Annotated[
        str | None, typer.Option("--from", "--timeframe", help="Source timeframe.")
    ] = None,
    pairs: PairsOpt = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out-dir", help="Write here instead of the same store.")
    ] = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Resample stored candles exactly to a higher timeframe (incomplete last bucket dropped)."""
    from tradewind.data.resample import resample

    rt = make_runtime(
        ctx,
        config=config,
        home=home,
        json_out=json_out,
        quiet=quiet,
        overrides={"data.data_dir": data_dir, "data.exchange": exchange},
    )
    src = rt.store()
    dst = CandleStore(out_dir, src.exchange) if out_dir else src
    source_tf = Timeframe.parse(timeframe or rt.settings.data.timeframe)
    target_tf = Timeframe.parse(target)
    names = _pairs(pairs) or src.symbols(source_tf)
    if not names:
        raise DataError(f"{src.root / source_tf.name}: no candle files to resample")
    written = []
    with rt.progress() as bar:
        task = bar.add_task(f"resample {source_tf} → {target_tf}", total=len(names))
        for symbol in names:
            frame = resample(src.read(symbol, source_tf), source_tf, target_tf)
            dst.write(symbol, target_tf, frame)
            written.append({"symbol": symbol, "rows": len(frame)})
            bar.advance(task)
    rt.emit(
        {"from": source_tf.name, "to": target_tf.name, "store": str(dst.root), "files": written},
        lambda out: out.print(f"wrote {len(written)} file(s) to {dst.root / target_tf.name}"),
    )


@data_app.command("import")
def import_cmd(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="Binance Vision CSV/ZIP files or folders.")],
    config: ConfigOpt = None,
    home: HomeOpt = None,
    data_dir: DataDirOpt = None,
    exchange: Annotated[
        str, typer.Option("--exchange", help="Exchange folder to import into.")
    ] = "binance",
    symbol: Annotated[str | None, typer.Option("--pair", help="Override the pair.")] = None,
    timeframe: Annotated[
        str | None, typer.Option("--timeframe", "-t", help="Override the timeframe.")
    ] = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Import data.binance.vision kline dumps (CSV or ZIP, ms or µs timestamps)."""
    from tradewind.data.sources.binance_vision import import_files

    rt = make_runtime(
        ctx,
        config=config,
        home=home,
        json_out=json_out,
        quiet=quiet,
        overrides={"data.data_dir": data_dir},
    )
    store = rt.store(exchange)
    with store.lock():
        report = import_files(paths, store, symbol=symbol, timeframe=timeframe)
    payload = {
        "store": str(store.root),
        "files": report.files,
        "rows_read": report.rows_read,
        "added": report.added,
        "replaced": report.replaced,
        "series": [
            {
                "symbol": s.symbol,
                "timeframe": s.timeframe,
                "path": str(s.path),
                "files": [str(f) for f in s.files],
                "rows_read": s.rows_read,
                "added": s.added,
                "replaced": s.replaced,
                "total": s.total,
                "first": s.first.isoformat(),
                "last": s.last.isoformat(),
                "gaps": [
                    {"start": g.start.isoformat(), "end": g.end.isoformat(), "missing": g.missing}
                    for g in s.gaps
                ],
            }
            for s in report.series
        ],
    }

    def human(out: Console) -> None:
        for line in report.describe():
            out.print(line, highlight=False)

    rt.emit(payload, human)
