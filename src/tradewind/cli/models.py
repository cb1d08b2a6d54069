"""``tradewind train`` and ``tradewind models list|show|promote|prune``."""

from __future__ import annotations

import json
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
from tradewind.cli.backtest import attach_report

__all__ = ["models_app", "train_command", "walkforward_command"]

models_app = typer.Typer(help="The model registry: list, show, promote, prune.")


def _registry(rt: Runtime) -> Any:
    from tradewind.ml.registry import Registry

    return Registry(rt.settings.home / "models", rt.settings.book_url)


def _fmt(x: Any, spec: str = ".3f") -> str:
    return "n/a" if x is None or x != x else format(x, spec)


def train_command(
    ctx: typer.Context,
    config: ConfigOpt = None,
    home: HomeOpt = None,
    data_dir: DataDirOpt = None,
    exchange: ExchangeOpt = None,
    timeframe: TimeframeOpt = None,
    start: Annotated[str | None, typer.Option("--start", help="First candle (UTC).")] = None,
    end: Annotated[str | None, typer.Option("--end", help="Last candle (UTC).")] = None,
    seed: SeedOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Train every model the config names (the cycle trader's nominator, each agent's
    technical model), register them, and promote those that beat their baseline."""
    from tradewind.backtest.run import load_backtest_panel
    from tradewind.cli.backtest import ensure_market
    from tradewind.ml.pipeline import train_all

    rt = make_runtime(
        ctx,
        config=config,
        home=home,
        json_out=json_out,
        quiet=quiet,
        overrides=market_overrides(data_dir, exchange, timeframe, start, end, seed),
    )
    ensure_market(rt)
    panel = load_backtest_panel(rt.settings)
    with rt.progress() as bar:
        task = bar.add_task("features", total=None)

        def on_model(name: str) -> None:
            bar.update(task, description=f"training: {name}")

        report = train_all(rt.settings, panel, on_model=on_model)
        bar.update(task, description="done", completed=1, total=1)
    payload = report.to_dict()

    def human(out: Console) -> None:
        table = Table(title="Models trained (out-of-sample figures: the test split)")
        for col in ("model", "id", "rows", "feat.", "AUC ± se", "accepted / all", "latest"):
            table.add_column(col)
        for m in payload["models"]:
            t = m["test"]
            table.add_row(
                m["name"],
                m["id"],
                str(m["rows"]),
                str(m["features"]),
                # The regime model (k-means) has no test split scores: n/a.
                f"{_fmt(t.get('roc_auc'))} ± {_fmt(t.get('roc_auc_se'))}",
                f"{_fmt(t.get('expectancy_accepted'), '+.4f')} / "
                f"{_fmt(t.get('expectancy_all'), '+.4f')}",
                "promoted" if m["promoted"] else "kept back",
            )
        out.print(table)
        for m in payload["models"]:
            out.print(f"{m['name']}: {m['verdict']}")
        for s in payload["skipped"]:
            out.print(f"skipped {s['name']}: {s['reason']}", markup=False)
        out.print(f"time: {payload['timings_s'].get('total', 0):.1f} s")

    rt.emit(payload, human)


@models_app.command("list")
def list_models(
    ctx: typer.Context,
    config: ConfigOpt = None,
    home: HomeOpt = None,
    role: Annotated[str | None, typer.Option("--role", help="Only this role.")] = None,
    scope: Annotated[str | None, typer.Option("--scope", help="Only this scope.")] = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Registered models, newest first."""
    rt = make_runtime(ctx, config=config, home=home, json_out=json_out, quiet=quiet)
    with _registry(rt) as reg:
        cards = [c.to_dict() for c in reg.list(role=role, scope=scope)]

    def human(out: Console) -> None:
        table = Table(title=f"models ({len(cards)})")
        for col in ("id", "role", "scope", "kind", "created (UTC)", "promoted", "test AUC"):
            table.add_column(col)
        for c in cards:
            auc = c["metrics"].get("test", {}).get("roc_auc")
            table.add_row(
                c["id"],
                c["role"],
                c["scope"],
                c["kind"],
                c["created_at"][:16],
                (c["promoted_at"] or "")[:16],
                _fmt(auc),
            )
        out.print(table)

    rt.emit({"models": cards}, human)


@models_app.command("show")
def show_model(
    ctx: typer.Context,
    model_id: Annotated[str, typer.Argument(help="Model id.")],
    config: ConfigOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Everything the registry knows about one model."""
    rt = make_runtime(ctx, config=config, home=home, json_out=json_out, quiet=quiet)
    with _registry(rt) as reg:
        card = reg.get(model_id).to_dict()
    payload = json.loads(json.dumps(card, default=str))
    rt.emit(payload, lambda out: out.print_json(json.dumps(payload)))


@models_app.command("promote")
def promote_model(
    ctx: typer.Context,
    model_id: Annotated[str, typer.Argument(help="Model id.")],
    config: ConfigOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Make a model the ``latest`` of its role and scope."""
    rt = make_runtime(ctx, config=config, home=home, json_out=json_out, quiet=quiet)
    with _registry(rt) as reg:
        card = reg.promote(model_id)
    rt.emit(
        {"id": card.id, "role": card.role, "scope": card.scope, "latest": True},
        lambda out: out.print(f"{card.id} is now the latest {card.role} model of {card.scope}"),
    )


@models_app.command("prune")
def prune_models(
    ctx: typer.Context,
    role: Annotated[str, typer.Option("--role", help="Role to prune.")],
    scope: Annotated[str, typer.Option("--scope", help="Scope to prune.")],
    keep: Annotated[int, typer.Option("--keep", help="Newest models kept.")] = 3,
    config: ConfigOpt = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Delete all but the newest ``--keep`` models of a role and scope (never ``latest``)."""
    rt = make_runtime(ctx, config=config, home=home, json_out=json_out, quiet=quiet)
    with _registry(rt) as reg:
        gone = reg.prune(role, scope, keep)
    rt.emit({"removed": gone}, lambda out: out.print(f"removed {len(gone)} model(s)"))


def walkforward_command(
    ctx: typer.Context,
    config: ConfigOpt = None,
    home: HomeOpt = None,
    data_dir: DataDirOpt = None,
    exchange: ExchangeOpt = None,
    timeframe: TimeframeOpt = None,
    train: Annotated[str, typer.Option("--train", help="Training window, e.g. 90d.")] = "90d",
    test: Annotated[str, typer.Option("--test", help="Test window, e.g. 30d.")] = "30d",
    anchored: Annotated[
        bool, typer.Option("--anchored", help="Train on everything since the start.")
    ] = False,
    start: Annotated[str | None, typer.Option("--start", help="First candle (UTC).")] = None,
    end: Annotated[str | None, typer.Option("--end", help="Last candle (UTC).")] = None,
    seed: SeedOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Retrain per window, score the next, and backtest the stitched out-of-sample
    decisions against the same backtest without the model."""
    from tradewind.backtest.walkforward import run_walkforward
    from tradewind.cli.backtest import ensure_market

    rt = make_runtime(
        ctx,
        config=config,
        home=home,
        json_out=json_out,
        quiet=quiet,
        overrides=market_overrides(data_dir, exchange, timeframe, start, end, seed),
    )
    ensure_market(rt)
    with rt.progress() as bar:
        bar.add_task("walk-forward", total=None)
        folder = (
            rt.settings.home
            / "studies"
            / f"walkforward-{rt.config_hash[:8]}-{train}-{test}{'-anchored' if anchored else ''}"
        )
        report = run_walkforward(
            rt.settings, train=train, test=test, anchored=anchored, folder=folder
        )
    attach_report(rt, report, folder)

    def human(out: Console) -> None:
        table = Table(title=f"Walk-forward (train {train}, test {test}; out of sample)")
        for col in ("model", "windows", "rows", "AUC ± se", "accepted / all"):
            table.add_column(col)
        for m in report["models"]:
            o = m["oos"]
            table.add_row(
                m["name"],
                f"{o['windows_scored']}/{o['windows']}",
                str(o["rows"]),
                f"{_fmt(o['roc_auc'])} ± {_fmt(o['roc_auc_se'])}",
                f"{_fmt(o['expectancy_accepted'], '+.4f')} / {_fmt(o['expectancy_all'], '+.4f')}",
            )
        out.print(table)
        for label, bt in [
            *((m["name"], m.get("backtest")) for m in report["models"]),
            ("session of agents", report.get("session_backtest")),
        ]:
            if not bt:
                continue
            out.print(
                f"{label}: from {bt['from'][:10]} model {bt['model_return']:+.2%} vs baseline "
                f"{bt['baseline_return']:+.2%}; deflated Sharpe {_fmt(bt['deflated_sharpe'])} "
                f"({bt['trials']} trial(s)); PBO {_fmt(bt['pbo'], '.2f')} over "
                f"{bt['pbo_windows']} windows",
                markup=False,
            )
        if report.get("report"):
            out.print(f"report: {report['report']}")

    rt.emit(report, human)
