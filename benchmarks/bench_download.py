"""Async vs sequential update through ccxt against the local exchange server.

Job: 100 pairs × 3,000 new 5m candles, 250 ms injected latency per request (a home
connection to Binance). Then the same job under a binding weight budget, to measure how
close the shared limiter gets to the physical limit without a single 429.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import pandas as pd

from tradewind.config.models import DownloadConfig, ExchangeConfig
from tradewind.data.sources.download import DownloadReport, sync_candles
from tradewind.data.store import CandleStore
from tradewind.data.synthetic import generate_market
from tradewind.testing.exchange_server import ExchangeServer, ServerStats

PAIRS = 100
NEW = 3000
OLD = 168
LATENCY = 0.25


def _prepare(root: Path) -> tuple[CandleStore, pd.Timestamp, dict[str, pd.DataFrame]]:
    market = generate_market(pairs=PAIRS, timeframe="5m", days=11, seed=3)
    server_store = CandleStore(root / "server", "binance")
    frames = {}
    for symbol, df in market.frames.items():
        frame = df.iloc[: OLD + NEW].reset_index(drop=True)
        server_store.write(symbol, "5m", frame)
        frames[symbol] = frame
    last = max(f["timestamp"].iloc[-1] for f in frames.values())
    return server_store, last + pd.Timedelta(minutes=5), frames


def _serve(root: str, kwargs: dict[str, Any], conn: Connection) -> None:
    with ExchangeServer(CandleStore(root, "binance"), **kwargs) as server:
        conn.send(server.api_url)
        while (command := conn.recv()) != "stop":
            if command == "reset":
                server.reset_stats()
            conn.send(server.stats())


class _Remote:
    """The exchange in its own process, as a real exchange is on its own machine:
    server and client then do not compete for one interpreter lock."""

    def __init__(self, conn: Connection, api_url: str) -> None:
        self._conn = conn
        self.api_url = api_url

    def stats(self) -> ServerStats:
        self._conn.send("stats")
        result: ServerStats = self._conn.recv()
        return result

    def reset_stats(self) -> None:
        self._conn.send("reset")
        self._conn.recv()


@contextmanager
def _server(store: CandleStore, **kwargs: Any) -> Iterator[_Remote]:
    ours, theirs = mp.Pipe()
    proc = mp.get_context("spawn").Process(
        target=_serve, args=(str(store.data_dir), kwargs, theirs), daemon=True
    )
    proc.start()
    try:
        yield _Remote(ours, ours.recv())
    finally:
        ours.send("stop")
        proc.join(timeout=30)


def _client(root: Path, name: str, frames: dict[str, pd.DataFrame]) -> CandleStore:
    store = CandleStore(root / name, "binance")
    for symbol, df in frames.items():
        store.write(symbol, "5m", df.iloc[:OLD])
    return store


def _update(
    server: _Remote,
    store: CandleStore,
    now: pd.Timestamp,
    concurrency: int,
    **exchange: Any,
) -> DownloadReport:
    return sync_candles(
        store,
        "5m",
        exchange_cfg=ExchangeConfig(api_url=server.api_url, **exchange),
        download_cfg=DownloadConfig(concurrency=concurrency),
        mode="update",
        now=now,
    )


def run() -> dict[str, Any]:
    """Run the three measurements; return figures for docs/performance.md."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        server_store, now, frames = _prepare(root)
        results: dict[str, Any] = {"pairs": PAIRS, "new_candles": NEW, "latency_s": LATENCY}
        with _server(server_store, now=now, latency=LATENCY) as server:
            for label, conc in (("sequential", 1), ("async", 32)):
                store = _client(root, label, frames)
                server.reset_stats()
                start = time.perf_counter()
                report = _update(server, store, now, conc)
                elapsed = time.perf_counter() - start
                stats = server.stats()
                added = sum(p.added for p in report.pairs)
                if added != PAIRS * NEW or report.failed:
                    raise RuntimeError(f"{label}: added {added}, failed {report.failed}")
                results[label] = {
                    "elapsed_s": elapsed,
                    "requests": stats.requests,
                    "http_429": stats.rate_limited + stats.by_status.get(429, 0),
                    "concurrency": conc,
                }
        results["speedup"] = results["sequential"]["elapsed_s"] / results["async"]["elapsed_s"]

        budget, window = 100, 10.0
        results["budget"] = []
        for share in (0.9, 1.0):
            with ExchangeServer(
                server_store, now=now, latency=LATENCY, weight_limit=budget, weight_window=window
            ) as server:
                store = _client(root, f"budget-{share}", frames)
                start = time.perf_counter()
                report = _update(
                    server,
                    store,
                    now,
                    32,
                    weight_budget=budget,
                    weight_window_s=window,
                    budget_share=share,
                )
                elapsed = time.perf_counter() - start
                stats = server.stats()
                weight = report.weight
                # A rolling window lets at most `budget` weight through in any `window`
                # seconds, so the last of `weight` units can pass no earlier than
                # window × (ceil(weight / budget) − 1), plus one response's latency.
                ideal = window * (math.ceil(weight / budget) - 1) + LATENCY
                results["budget"].append(
                    {
                        "share": share,
                        "budget": budget,
                        "window_s": window,
                        "weight": weight,
                        "elapsed_s": elapsed,
                        "ideal_s": ideal,
                        "efficiency": ideal / elapsed,
                        "http_429": stats.rate_limited + stats.by_status.get(429, 0),
                        "http_418": stats.banned + stats.by_status.get(418, 0),
                        "max_used_weight": stats.max_used_weight,
                    }
                )
        return results


def markdown(r: dict[str, Any]) -> str:
    """The section of docs/performance.md for these figures."""
    seq, asy = r["sequential"], r["async"]
    first = r["budget"][0]
    rows = "\n".join(
        f"| {b['share']:.0%} | {b['weight']} | {b['elapsed_s']:.1f} | {b['ideal_s']:.1f} | "
        f"**{b['efficiency']:.0%}** | {b['http_429']} | {b['http_418']} | "
        f"{b['max_used_weight']} / {b['budget']} |"
        for b in r["budget"]
    )
    return f"""## Data download: async vs sequential update

Job: `data update` of {r["pairs"]} pairs × {r["new_candles"]:,} new 5m candles from the local
Binance-compatible server with {r["latency_s"] * 1000:.0f} ms injected latency per request,
through the real ccxt async client; the server runs in its own process. Sequential = the same code with one request in flight.

| path | concurrency | requests | time (s) | HTTP 429 |
|---|---|---|---|---|
| sequential | {seq["concurrency"]} | {seq["requests"]} | {seq["elapsed_s"]:.1f} | {seq["http_429"]} |
| async | {asy["concurrency"]} | {asy["requests"]} | {asy["elapsed_s"]:.2f} | {asy["http_429"]} |

**Async is {r["speedup"]:.1f}× faster than sequential** (target ≥ 10×).

### Under a binding weight budget

The server's budget scaled down to {first["budget"]} weight per {first["window_s"]:.0f} s
rolling window (Binance's 6,000/min scaled, so the job needs several windows); the client is
told the same budget and uses the given share of it (`exchange.budget_share`: 90 % by
default, which leaves room for other tools on the same IP; 100 % uses all of it).

The physical limit of the job: a rolling window lets at most `budget` weight through in any
`window` seconds, so the last of `weight` units cannot pass before
`window × (ceil(weight / budget) − 1)`, plus one response's latency —
{first["ideal_s"]:.2f} s for {first["weight"]} weight. Efficiency = physical limit / time.

| share | weight | time (s) | physical limit (s) | efficiency | HTTP 429 | HTTP 418 | max weight in window |
|---|---|---|---|---|---|---|---|
{rows}

Target: ≥ 80 % of the throughput the budget allows, and not one 429. The limiter books a
request's weight from its send until one window after its response, so it never counts less
than the server does; that costs about one latency per window of throughput.
"""
