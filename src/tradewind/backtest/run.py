"""One backtest of the cycle trader: load, run, tabulate, measure, save.

``run_backtest(settings)`` is the Python API of ``tradewind backtest``. The result is
typed (:class:`BacktestResult`); the run folder holds Parquet tables and a JSON summary,
written atomically (a temporary folder renamed into place), so a crash never leaves half
a run behind.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tradewind import __version__
from tradewind.backtest.metrics import summarize
from tradewind.config import Settings, config_hash, resolved_dict
from tradewind.data.markets import MarketRules, load_market_rules
from tradewind.data.panel import Panel, data_fingerprint, load_panel
from tradewind.data.store import CandleStore
from tradewind.domain.types import Timeframe, parse_utc, utc_now
from tradewind.engine.params import RegimeParams
from tradewind.engine.records import POOL_NAMES
from tradewind.errors import DataError
from tradewind.strategies.nominators import Nominator, make_nominator
from tradewind.trading.cycle import CycleTrader, MarketArrays, cycle_decision_rows
from tradewind.trading.cycle_report import cycle_table as _cycle_table
from tradewind.trading.cycle_report import ledger_table as _ledger_table
from tradewind.trading.cycle_report import mode_switches
from tradewind.trading.cycle_report import trade_tables as _trade_tables

__all__ = [
    "BacktestResult",
    "RunInputs",
    "data_fingerprint",
    "data_summary",
    "make_trader",
    "run_backtest",
    "run_inputs",
]


@dataclass
class BacktestResult:
    """Everything one backtest produced."""

    summary: dict[str, Any]
    trades: pd.DataFrame  #: real and sim trades (and expired nominations)
    tracked: pd.DataFrame  #: continuations of trades closed by anything but their stop
    equity: pd.DataFrame  #: equity and paper equity per bar
    ledger: pd.DataFrame  #: every movement between budget pools
    cycles: pd.DataFrame
    run_dir: Path | None = None
    extras: dict[str, Any] = field(default_factory=dict)


def data_summary(settings: Settings, panel: Panel) -> dict[str, Any]:
    """Which candles a run saw: source, grid, size and content hash."""
    return {
        "exchange": settings.data.exchange,
        "timeframe": panel.timeframe.name,
        "pairs": len(panel.symbols),
        "start": panel.index[0].isoformat(),
        "end": panel.index[-1].isoformat(),
        "bars": len(panel.timestamps),
        "fingerprint": data_fingerprint(panel),
    }


def _metric_trades(trades: pd.DataFrame, tracked: pd.DataFrame) -> pd.DataFrame:
    closed = trades.loc[trades["status"] == "closed"]
    cols = [
        "kind",
        "side",
        "entry_time",
        "exit_time",
        "entry_price",
        "exit_price",
        "cost",
        "pnl",
        "fees",
        "exit_reason",
    ]
    return pd.concat([closed.loc[:, cols], tracked.loc[:, cols]], ignore_index=True)


def load_backtest_panel(settings: Settings) -> Panel:
    """The candles a backtest of ``settings`` runs on (period and pairs applied)."""
    data = settings.data
    store = CandleStore(settings.data_dir, data.exchange)
    tf = Timeframe.parse(data.timeframe)
    if not store.symbols(tf):
        raise DataError(
            f"{store.root / tf.name}: no candles; run `tradewind data synth` for the synthetic "
            "market, or point --data-dir/--exchange/--timeframe at stored data"
        )
    start = parse_utc(settings.backtest.start) if settings.backtest.start else None
    end = parse_utc(settings.backtest.end) if settings.backtest.end else None
    return load_panel(store, data.pairs or None, tf, start=start, end=end)


def _detail_panel(settings: Settings, panel: Panel) -> Panel | None:
    """The lower-timeframe candles of the run's pairs and period (``backtest.detail``)."""
    if settings.backtest.detail is None:
        return None
    detail_tf = Timeframe.parse(settings.backtest.detail)
    store = CandleStore(settings.data_dir, settings.data.exchange)
    have = set(store.symbols(detail_tf))
    pairs = [s for s in panel.symbols if s in have]
    if not pairs:
        raise DataError(
            f"{store.root / detail_tf.name}: no {detail_tf} candles of the run's pairs for --detail"
        )
    last = panel.index[-1] + panel.timeframe.timedelta - detail_tf.timedelta
    return load_panel(store, pairs, detail_tf, start=panel.index[0], end=last)


_WARM: list[bool] = []


def compile_kernels() -> float:
    """Compile (or load from numba's cache) the kernels on a tiny run; return seconds (0
    when this process has done it already)."""
    if _WARM:
        return 0.0
    from tradewind.config import load_config

    started = time.perf_counter()
    tiny = Panel(
        Timeframe.parse("1h"),
        np.arange(48, dtype=np.int64) * 3_600_000_000_000,
        ("A",),
        ("open", "high", "low", "close", "volume"),
        np.ones((48, 1, 5)),
        np.ones((48, 1), bool),
    )
    s = load_config(environ={})
    trader = CycleTrader(
        tiny,
        cycle=s.cycle,
        lifecycle=s.lifecycle,
        fills=s.fills,
        nominator=make_nominator("random"),
        rng=np.random.default_rng(0),
    )
    trader.run()
    _WARM.append(True)
    return time.perf_counter() - started


def _nominator(
    settings: Settings, panel: Panel, registry: Callable[[], Any]
) -> tuple[Nominator, str]:
    """The configured nominator: a trained model (``auto`` when one is promoted, ``model``
    always), else the rule-based one — and a line saying which. ``registry()`` opens the
    model registry when it is needed."""
    params = {k: v for k, v in settings.cycle.nominator_params.items() if k != "model"}
    choice = settings.cycle.nominator
    if choice in ("auto", "model"):
        from tradewind.ml.apply import nominator_model

        model, note = nominator_model(settings, panel, registry())
        if model is not None:
            return model, note
        return make_nominator("momentum", **params), note
    return make_nominator(choice, **params), f"nominator: {choice} (rule-based, as configured)"


@dataclass
class RunInputs:
    """What every run of one configuration over the same candles shares, built once:
    the candles in the kernels' layout, the exchange's order rules and the nominator
    (models loaded and held fixed). A Monte Carlo study builds it in the parent and hands
    the same object to every run."""

    panel: Panel
    market: MarketArrays
    rules: dict[str, MarketRules]
    nominator: Nominator
    nominator_note: str
    regime_params: RegimeParams | None = None
    lifecycle_note: str = "lifecycle: the [lifecycle] parameters"


def _registry_opener(settings: Settings, stack: ExitStack) -> Callable[[], Any]:
    """A function that opens the model registry on its first call (inside ``stack``) and
    returns it: a run without models never pays for opening it."""
    opened: list[Any] = []

    def registry() -> Any:
        if not opened:
            from tradewind.ml.registry import Registry

            book = Registry(settings.home / "models", settings.book_url)
            opened.append(stack.enter_context(book))
        return opened[0]

    return registry


def run_inputs(
    settings: Settings,
    panel: Panel | None = None,
    nominator: tuple[Nominator, str] | None = None,
) -> RunInputs:
    """Load what a run of ``settings`` needs (``panel`` and ``nominator`` when given).
    The model registry is opened once, and only when a lookup needs it."""
    panel = panel if panel is not None else load_backtest_panel(settings)
    rules = load_market_rules(CandleStore(settings.data_dir, settings.data.exchange))
    with ExitStack() as stack:
        registry = _registry_opener(settings, stack)

        chosen, note = (
            nominator if nominator is not None else _nominator(settings, panel, registry)
        )
        inputs_note = note
        warmup = chosen.warmup_bars(panel.timeframe)
        if len(panel.timestamps) <= warmup + 1:
            raise DataError(
                f"the {chosen.name} nominator needs {warmup} {panel.timeframe} candles of "
                f"history before its first decision, and the data has "
                f"{len(panel.timestamps)}: use a longer period, a longer timeframe, or "
                "shorter nominator lookbacks"
            )
        market = MarketArrays.of(panel, _detail_panel(settings, panel))
        inputs = RunInputs(panel, market, dict(rules), chosen, inputs_note)
        inputs.regime_params, inputs.lifecycle_note = _regime_params(
            settings, panel, chosen, registry
        )
        return inputs


def _regime_params(
    settings: Settings, panel: Panel, chosen: Nominator, registry: Callable[[], Any]
) -> tuple[RegimeParams | None, str]:
    if settings.cycle.risk_params == "static":
        return None, "lifecycle: the [lifecycle] parameters (cycle.risk_params = static)"
    from tradewind.ml.apply import regime_params

    rows = cycle_decision_rows(panel, settings.cycle, chosen)
    return regime_params(settings, panel, rows, registry())


def decision_inputs(
    settings: Settings, panel: Panel
) -> tuple[Nominator, str, RegimeParams | None, str]:
    """The nominator and the per-regime lifecycle parameters of ``settings`` over
    ``panel``, built anew: a node calls this on the candles it has at each decision, so
    that model features (computed once per panel) are never stale and a model promoted
    since (a retraining) is used from the next decision on."""
    with ExitStack() as stack:
        registry = _registry_opener(settings, stack)

        chosen, note = _nominator(settings, panel, registry)
        params, lifecycle_note = _regime_params(settings, panel, chosen, registry)
        return chosen, note, params, lifecycle_note


def make_trader(settings: Settings, inputs: RunInputs, seed: int | None = None) -> CycleTrader:
    """The cycle trader of ``settings`` on ``inputs``, its luck seeded by ``seed`` (default
    ``settings.seed``)."""
    return CycleTrader(
        inputs.panel,
        cycle=settings.cycle,
        lifecycle=settings.lifecycle,
        fills=settings.fills,
        nominator=inputs.nominator,
        rng=np.random.default_rng(settings.seed if seed is None else seed),
        rules=inputs.rules,
        market=inputs.market,
        regime_params=inputs.regime_params,
    )


def run_backtest(
    settings: Settings,
    *,
    panel: Panel | None = None,
    save: bool | None = None,
    on_day: Callable[[int, int], None] | None = None,
    nominator: tuple[Nominator, str] | None = None,
    inputs: RunInputs | None = None,
) -> BacktestResult:
    """Backtest the cycle trader of ``settings`` (on ``panel``, or the configured data);
    ``nominator`` (with the line that names it) replaces the configured one; ``inputs``
    (:func:`run_inputs`) replaces all three."""
    t_load = time.perf_counter()
    if inputs is None:
        inputs = run_inputs(settings, panel, nominator)
    panel = inputs.panel
    load_s = time.perf_counter() - t_load
    compile_s = compile_kernels()
    trader = make_trader(settings, inputs)
    days = len(np.unique(panel.timestamps // 86_400_000_000_000))
    started = time.perf_counter()
    trader.run(on_day=None if on_day is None else (lambda d: on_day(d, days)))
    run_s = time.perf_counter() - started
    trades, tracked = _trade_tables(trader)
    equity = pd.DataFrame(
        {"equity": trader.equity, "paper_equity": trader.paper_equity}, index=panel.index
    )
    equity.index.name = "timestamp"
    cycles = _cycle_table(trader)
    metrics = summarize(
        equity["equity"],
        _metric_trades(trades, tracked),
        ambiguous_bars=int(trader.trades["ambiguous"][: trader.n_trades].sum()),
    )
    pools = trader.pools[0]
    summary: dict[str, Any] = {
        "trader": "cycle",
        "metrics": metrics.to_dict(),
        "capital": settings.cycle.capital,
        "final_pools": {name: float(pools[i]) for i, name in enumerate(POOL_NAMES[:5])},
        "cycles": {
            "total": len(cycles),
            "live": int((cycles["mode"] == "live").sum()),
            "dry_run": int((cycles["mode"] == "dry_run").sum()),
            "converted": int(cycles["converted_time"].notna().sum()),
            "winning": int(
                (np.where(cycles["mode"] == "live", cycles["pnl"], cycles["paper_pnl"]) > 0).sum()
            ),
        },
        "mode_switches": mode_switches(cycles),
        "nominator": inputs.nominator_note,
        "lifecycle": inputs.lifecycle_note,
        "data": data_summary(settings, panel),
        "detail": settings.backtest.detail,
        "market_rules": sum(symbol in inputs.rules for symbol in panel.symbols),
        "seed": settings.seed,
        "config_hash": config_hash(settings),
        "timings_s": {"load": load_s, "compile": compile_s, "run": run_s},
        "version": __version__,
    }
    result = BacktestResult(summary, trades, tracked, equity, _ledger_table(trader), cycles)
    if save if save is not None else settings.backtest.save:
        result.run_dir = _save(result, settings)
        summary["run_dir"] = str(result.run_dir)
        summary["trade_book"] = _record(result, settings)
    return result


def _record(result: BacktestResult, settings: Settings) -> dict[str, Any]:
    """Save the run into the trade book (one transaction); say where, password hidden."""
    # Imported here: a Monte Carlo worker imports this module and never saves a run, and
    # SQLAlchemy with the migrations is a fifth of its start-up.
    from sqlalchemy.engine import make_url

    from tradewind.store.db import upgrade
    from tradewind.store.repository import TradeBook

    url = settings.book_url
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    upgrade(url)
    with TradeBook(url) as book:
        run_id = book.save_backtest(
            result.summary,
            result.trades,
            result.tracked,
            result.ledger,
            result.cycles,
            result.summary.get("mode_switches", []),
            equity=result.equity,
        )
    return {"url": make_url(url).render_as_string(hide_password=True), "run_id": run_id}


def _save(result: BacktestResult, settings: Settings) -> Path:
    runs = Path(settings.home) / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    stamp = utc_now().strftime("%Y%m%dT%H%M%SZ")
    trader = result.summary.get("trader", "cycle")
    final = runs / f"{stamp}-{trader}-{result.summary['config_hash'][:8]}"
    tmp = Path(tempfile.mkdtemp(prefix=".run-", dir=runs))
    try:
        result.trades.to_parquet(tmp / "trades.parquet", index=False)
        result.tracked.to_parquet(tmp / "tracked.parquet", index=False)
        result.equity.to_parquet(tmp / "equity.parquet")
        result.ledger.to_parquet(tmp / "ledger.parquet", index=False)
        result.cycles.to_parquet(tmp / "cycles.parquet", index=False)
        for name, table in result.extras.items():
            if isinstance(table, pd.DataFrame):
                table.to_parquet(tmp / f"{name}.parquet", index=False)
        (tmp / "config.json").write_text(
            json.dumps(
                {"hash": result.summary["config_hash"], "config": resolved_dict(settings)},
                indent=2,
                default=str,
            ),
            encoding="utf-8",
        )
        (tmp / "summary.json").write_text(
            json.dumps({**result.summary, "run_dir": str(final)}, indent=2, default=str),
            encoding="utf-8",
        )
        n = 1
        while final.exists():
            final = final.with_name(f"{final.name}-{n}")
            n += 1
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final
