"""Report sections of a backtest run folder (the cycle trader or a session of agents)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tradewind.backtest.charts import Chart, Panel, Trace, thin
from tradewind.backtest.report_base import Report, Section, fmt, read_json
from tradewind.domain.types import Timeframe
from tradewind.errors import ConfigError

__all__ = ["MAX_CANDLES", "backtest_report"]

#: How many candles a chart of trades on candles shows at most (resampled above it).
MAX_CANDLES = 2500


def _metrics_table(summary: dict[str, Any]) -> pd.DataFrame:
    m = summary["metrics"]
    rows = [
        (
            "capital → final equity",
            f"{fmt(summary['capital'], ',.0f')} → {fmt(m['final_equity'])}",
        ),
        ("total return", fmt(m["total_return"], "+.2%")),
        ("CAGR", fmt(m["cagr"], "+.2%")),
        ("Sharpe / Sortino (annualised)", f"{fmt(m['sharpe'])} / {fmt(m['sortino'])}"),
        ("max drawdown", f"{fmt(m['max_drawdown'], '.2%')} (Calmar {fmt(m['calmar'])})"),
        (
            "trades real / sim / tracked",
            f"{m['trades_real']} / {m['trades_sim']} / {m['trades_tracked']}",
        ),
        ("win rate, profit factor", f"{fmt(m['win_rate'], '.1%')}, {fmt(m['profit_factor'])}"),
        (
            "expectancy per trade",
            f"{fmt(m['expectancy'])} ({fmt(m['expectancy_return'], '+.2%')})",
        ),
        ("fees paid", fmt(m["fees_paid"])),
        ("exposure", fmt(m["exposure"], ".1%")),
        ("ambiguous bars (stop assumed first)", str(m["ambiguous_bars"])),
        (
            "data",
            f"{summary['data']['exchange']} {summary['data']['timeframe']}, "
            f"{summary['data']['pairs']} pairs, {summary['data']['start'][:10]} → "
            f"{summary['data']['end'][:10]}",
        ),
        ("seed, config hash", f"{summary['seed']}, {summary['config_hash'][:12]}"),
    ]
    if summary.get("cycles"):
        c = summary["cycles"]
        rows.insert(
            6, ("cycles (dry-run, converted)", f"{c['total']} ({c['dry_run']}, {c['converted']})")
        )
    return pd.DataFrame(rows, columns=["metric", "value"])


def _equity_chart(equity: pd.DataFrame) -> Chart:
    eq = equity["equity"].astype(float)
    dd = eq / eq.cummax() - 1.0
    x, y = thin(eq.index, eq.to_numpy())
    traces = [Trace("line", "equity", x, y)]
    if "paper_equity" in equity:
        # The shadow book exists only while the trader is in dry run (zero before that).
        paper = equity["paper_equity"].astype(float).where(lambda v: v > 0)
        if paper.notna().any() and not np.allclose(paper, eq, equal_nan=True):
            px, py = thin(paper.index, paper.to_numpy())
            traces.append(Trace("line", "dry-run book", px, py, color="#999999"))
    # The drawdown's deepest points must survive thinning: the minimum of each bucket.
    dx, dy = _thin_min(dd.index, dd.to_numpy())
    return Chart(
        "equity",
        "Equity and drawdown",
        [
            Panel(traces, ytitle="equity (quote)", height=2.0),
            Panel(
                [Trace("area", "drawdown", dx, dy, color="#D55E00")],
                ytitle="drawdown",
                percent=True,
            ),
        ],
        note=_thinned(len(eq)),
    )


def _thin_min(index: pd.Index, values: np.ndarray, points: int = 4000) -> tuple[Any, Any]:
    n = len(values)
    if n <= points:
        return index, values
    edges = np.linspace(0, n, points + 1).astype(np.int64)
    lows = np.minimum.reduceat(values, edges[:-1])
    return np.asarray(index)[edges[1:] - 1], lows


def _thinned(n: int, points: int = 4000) -> str:
    return (
        f"{n:,} bars, drawn as {points:,} points (last value of each bucket; drawdown: its "
        "deepest point)"
        if n > points
        else ""
    )


def _pools_chart(ledger: pd.DataFrame, trader: str) -> Chart | None:
    if ledger.empty:
        return None
    led = ledger if trader == "session" else ledger.loc[ledger["book"] == "real"]
    pools = ["main", "pre_trade", "active", "divestment", "held_for_reinvestment"]
    traces = []
    times = pd.DatetimeIndex(led["time"])
    for name in pools:
        delta = np.where(led["to"] == name, led["amount"], 0.0) - np.where(
            led["from"] == name, led["amount"], 0.0
        )
        level = pd.Series(np.cumsum(delta), index=times).groupby(level=0).last()
        if np.allclose(level.to_numpy(), 0.0):
            continue
        x, y = thin(level.index, level.to_numpy())
        traces.append(Trace("step", name, x, y))
    if not traces:
        return None
    return Chart(
        "pools",
        "Budget pools over time",
        [Panel(traces, ytitle="quote")],
        note="Every ledger movement of the real book; active = open positions at cost.",
    )


def _cycles_chart(cycles: pd.DataFrame, equity: pd.DataFrame) -> tuple[Chart, str]:
    if not cycles.empty:
        live = cycles["mode"] == "live"
        pnl = np.where(live, cycles["pnl"], cycles["paper_pnl"])
        x = pd.DatetimeIndex(cycles["start_time"])
        traces = [
            Trace("bar", "live cycle", x[live.to_numpy()], pnl[live.to_numpy()], color="#0072B2"),
            Trace(
                "bar",
                "dry-run cycle (paper)",
                x[~live.to_numpy()],
                pnl[~live.to_numpy()],
                color="#999999",
            ),
        ]
        return Chart("cycles", "P/L per cycle", [Panel(traces, ytitle="P/L (quote)")]), (
            f"{len(cycles)} cycles; {int(live.sum())} live, {int((~live).sum())} in dry run "
            "(their paper P/L)."
        )
    daily = equity["equity"].resample("1D").last().diff().dropna()
    return (
        Chart(
            "cycles",
            "P/L per UTC day",
            [
                Panel(
                    [Trace("bar", "daily P/L", daily.index, daily.to_numpy())], ytitle="P/L (quote)"
                )
            ],
        ),
        "The session has no cycles; for its agents a cycle is a UTC day.",
    )


def _outcomes_chart(trades: pd.DataFrame) -> Chart | None:
    closed = trades.loc[(trades["status"] == "closed") & (trades["cost"] > 0)]
    if closed.empty:
        return None
    ret = closed["pnl"] / closed["cost"]
    hist = [
        Trace(
            "hist",
            f"{kind} trades ({int((closed['kind'] == kind).sum())})",
            y=ret[closed["kind"] == kind].to_numpy(),
        )
        for kind in ("real", "sim")
        if (closed["kind"] == kind).any()
    ]
    reasons = closed.groupby(["exit_reason"]).size().sort_values(ascending=False)
    return Chart(
        "outcomes",
        "Trade outcomes",
        [
            Panel(hist, ytitle="trades", xtitle="return on capital committed", height=1.4),
            Panel(
                [Trace("bar", "exit reason", list(reasons.index), reasons.to_numpy())],
                ytitle="trades",
            ),
        ],
        shared_x=False,
    )


def _candles(
    config: dict[str, Any], pair: str, start: pd.Timestamp, end: pd.Timestamp
) -> pd.DataFrame | None:
    from tradewind.data.store import CandleStore

    data = config.get("data", {})
    root = Path(data.get("data_dir") or Path(config.get("home", ".tradewind")) / "data")
    store = CandleStore(root, data.get("exchange", "synthetic"))
    tf = Timeframe.parse(data.get("timeframe", "1h"))
    if not store.exists(pair, tf):
        return None
    df = store.read(pair, tf, start=start, end=end, validate=False).set_index("timestamp")
    for step in ("5m", "15m", "1h", "4h", "1d", "1w"):
        cand = Timeframe.parse(step)
        if cand.seconds < tf.seconds or len(df) * tf.seconds / cand.seconds > MAX_CANDLES:
            continue
        if cand.seconds > tf.seconds:
            df = (
                df.resample(cand.timedelta, label="left", closed="left")
                .agg({"open": "first", "high": "max", "low": "min", "close": "last"})
                .dropna()
            )
        df.attrs["timeframe"] = cand.name
        return df
    return df


def _trades_chart(
    config: dict[str, Any], trades: pd.DataFrame, equity: pd.DataFrame, pair: str | None
) -> tuple[Chart | None, str]:
    real = trades.loc[(trades["kind"] == "real") & trades["entry_time"].notna()]
    if real.empty:
        return None, "No real trade was entered."
    if pair is None:
        pair = str(real["pair"].value_counts().index[0])
    elif pair not in set(trades["pair"]):
        raise ConfigError(
            f"--pair {pair}: the run traded {', '.join(sorted(set(trades['pair']))[:12])}"
        )
    mine = real.loc[real["pair"] == pair]
    candles = _candles(config, pair, equity.index[0], equity.index[-1])
    traces: list[Trace] = []
    where = ""
    if candles is not None:
        traces.append(
            Trace(
                "candles",
                f"{pair} {candles.attrs.get('timeframe', '')}",
                candles.index,
                ohlc=(candles["open"], candles["high"], candles["low"], candles["close"]),
            )
        )
    else:
        where = " (its candles are not where the run's config says, so only the trades are drawn)"
    traces.append(
        Trace(
            "markers",
            "entry",
            mine["entry_time"],
            mine["entry_price"],
            color="#009E73",
            symbol="triangle-up",
        )
    )
    out = mine.loc[mine["exit_time"].notna()]
    traces.append(
        Trace(
            "markers",
            "exit",
            out["exit_time"],
            out["exit_price"],
            color="#D55E00",
            symbol="triangle-down",
            text=[f"{r}: {p:+,.2f}" for r, p in zip(out["exit_reason"], out["pnl"], strict=True)],
        )
    )
    return Chart("trades", f"Real trades on {pair}", [Panel(traces, ytitle="price")]), (
        f"{len(mine)} real trades on {pair}{where}; "
        "`tradewind report RUN --pair X` draws another pair."
    )


def backtest_report(folder: Path, pair: str | None) -> Report:
    summary = read_json(folder / "summary.json")
    config = (
        read_json(folder / "config.json").get("config", {})
        if (folder / "config.json").exists()
        else {}
    )
    equity = pd.read_parquet(folder / "equity.parquet")
    trades = pd.read_parquet(folder / "trades.parquet")
    ledger = pd.read_parquet(folder / "ledger.parquet")
    cycles = pd.read_parquet(folder / "cycles.parquet")
    trader = summary.get("trader", "cycle")
    rep = Report(
        f"Backtest: {'session of agents' if trader == 'session' else 'cycle trader'}",
        f"{folder.name} · {summary['data']['exchange']} {summary['data']['timeframe']} · "
        f"{summary['data']['start'][:10]} → {summary['data']['end'][:10]}",
    )
    rep.sections.append(Section("Metrics", table=_metrics_table(summary)))
    eq = _equity_chart(equity)
    rep.sections.append(Section("Equity and drawdown", eq.note, chart=eq))
    chart, text = _trades_chart(config, trades, equity, pair)
    rep.sections.append(Section("Trades on candles", text, chart=chart))
    pools = _pools_chart(ledger, trader)
    if pools is not None:
        rep.sections.append(Section("Budget pools", pools.note, chart=pools))
    cyc, text = _cycles_chart(cycles, equity)
    rep.sections.append(Section("Cycle P/L", text, chart=cyc))
    outcomes = _outcomes_chart(trades)
    if outcomes is not None:
        rep.sections.append(
            Section(
                "Outcome distributions",
                "Returns of closed real and sim trades (sim: setups not taken, followed on paper).",
                chart=outcomes,
            )
        )
    if (folder / "agents.parquet").exists():
        rep.sections.append(Section("Agents", table=pd.read_parquet(folder / "agents.parquet")))
    switches = summary.get("mode_switches") or []
    if switches:
        rep.sections.append(Section("Mode switches", table=pd.DataFrame(switches)))
    return rep
