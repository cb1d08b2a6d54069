"""The modular trader's speed: a session of 6 agents over every 1h candle of ../shared/data.

Agents: channel run (long; lookback 200, mid entry, edge goal) and trail fractals (short;
width 5), each on 1h, 4h and 1d, top 100 pairs by 1-day quote volume — all 124 pairs ×
6,002 hourly candles as the session's clock. Timed: building the session (resampling to
4h and 1d, every agent's setups on every pair, universes, the sorted setup list) plus
running its bar loop; not timed: loading the panel and tabulating the result.

The yardstick, measured in the same run: the cycle trader over every 5m candle of the same
data (30 pairs × 72,031 bars, the engine benchmark's job), building plus running, panel
loaded beforehand. The cost that is compared is time per pair-bar of the clock.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
REPEAT = 5


def agents() -> list[Any]:
    from tradewind.config.models import AgentConfig

    out = []
    for tf in ("1h", "4h", "1d"):
        out.append(
            AgentConfig(
                name=f"channel-run-long-{tf}",
                strategy="channel_run",
                side="long",
                timeframe=tf,
                params={"lookback": 200, "entry": "mid", "goal": "edge"},
            )
        )
        out.append(
            AgentConfig(
                name=f"trail-fractals-short-{tf}",
                strategy="trail_fractals",
                side="short",
                timeframe=tf,
                params={"width": 5},
            )
        )
    return out


def _best(fn: Callable[[], Any], repeat: int = REPEAT) -> tuple[float, Any]:
    out = fn()  # warm-up: compile or load from the cache
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def cold_compile() -> float:
    """Seconds to compile the session's kernels in a fresh process with an empty cache."""
    env = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="numba-cold-") as cache:
        env["NUMBA_CACHE_DIR"] = cache
        env["TRADEWIND_NUMBA_CACHE_ROOT"] = cache
        code = (
            "import json; from tradewind.backtest.session_run import _compile; "
            "print(json.dumps(_compile()))"
        )
        proc = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
    value: float = json.loads(proc.stdout.strip().splitlines()[-1])
    return value


def run() -> dict[str, Any] | None:
    if not (SHARED / "binance" / "1h").is_dir():
        print(f"skipped: {SHARED} not found")
        return None
    from tradewind.config import load_config
    from tradewind.data.markets import load_market_rules
    from tradewind.data.panel import load_panel
    from tradewind.data.store import CandleStore
    from tradewind.strategies.nominators import make_nominator
    from tradewind.trading.cycle import CycleTrader
    from tradewind.trading.session import Session

    settings = load_config(environ={})
    store = CandleStore(SHARED, "binance")
    rules = load_market_rules(store)
    panel = load_panel(store, None, "1h")
    crew = agents()

    def build() -> Session:
        return Session(
            panel,
            crew,
            session=settings.session,
            lifecycle=settings.lifecycle,
            fills=settings.fills,
            rules=rules,
        )

    def whole() -> Session:
        s = build()
        s.run()
        return s

    total, session = _best(whole)
    prepare, _ = _best(build)
    tr = session.trades[: session.n_trades]
    pair_bars = len(panel.timestamps) * len(panel.symbols)
    agent_pair_bars = sum(len(v.panel.timestamps) * len(panel.symbols) for v in session.views)

    cycle_panel = load_panel(store, None, "5m")

    def cycle() -> CycleTrader:
        trader = CycleTrader(
            cycle_panel,
            cycle=settings.cycle,
            lifecycle=settings.lifecycle,
            fills=settings.fills,
            nominator=make_nominator("momentum"),
            rng=np.random.default_rng(settings.seed),
            rules=rules,
        )
        trader.run()
        return trader

    cycle_s, trader = _best(cycle, 3)
    cycle_pair_bars = len(cycle_panel.timestamps) * len(cycle_panel.symbols)
    return {
        "pairs": len(panel.symbols),
        "bars": len(panel.timestamps),
        "pair_bars": pair_bars,
        "agent_pair_bars": agent_pair_bars,
        "total_s": total,
        "prepare_s": prepare,
        "run_s": total - prepare,
        "setups": int(len(session.events.t)),
        "trades": int(len(tr)),
        "real": int((tr["kind"] == 0).sum()),
        "cycle_s": cycle_s,
        "cycle_pairs": len(cycle_panel.symbols),
        "cycle_bars": len(cycle_panel.timestamps),
        "cycle_pair_bars": cycle_pair_bars,
        "cycle_trades": int(trader.n_trades),
        "compile_cold_s": cold_compile(),
    }


def markdown(r: dict[str, Any] | None) -> str:
    if r is None:
        return "## Modular trader: a session of 6 agents\n\nSkipped: ../shared/data not found.\n"
    ns = r["total_s"] / r["pair_bars"] * 1e9
    cycle_ns = r["cycle_s"] / r["cycle_pair_bars"] * 1e9
    ratio = ns / cycle_ns
    return f"""## Modular trader: a session of 6 agents over all 1h candles

**Job:** channel run (long; lookback 200, mid entry, edge goal, stop 0.5 ATR below the
channel) and trail fractals (short; width 5), each on 1h, 4h and 1d candles — 6 agents, top
100 pairs by 1-day quote volume each — over {r['pairs']} pairs × {r['bars']:,} hourly candles
of ../shared/data ({r['pair_bars']:,} pair-bars on the session's 1h clock;
{r['agent_pair_bars']:,} pair-bars counting each agent's own candles). Default session:
10,000 capital, 1 % risk per trade, 6 % open-risk cap, 0.15 % fee.
{r['setups']:,} setups, {r['trades']:,} trades ({r['real']:,} real, the rest sim).

Timed: building the session (4h and 1d candles resampled from 1h, every agent's setups on
every pair, daily universes, the sorted setup list) and running its bar loop, best of
{REPEAT} after a warm-up; the panel is loaded beforehand (see the panel benchmark).
The yardstick, measured in the same run the same way: the cycle trader with the default
configuration over every 5m candle ({r['cycle_pairs']} pairs × {r['cycle_bars']:,} bars,
{r['cycle_pair_bars']:,} pair-bars; {r['cycle_trades']:,} trades), building plus running.

| job | build (s) | run (s) | total (s) | pair-bars/s | ns per pair-bar |
|---|---|---|---|---|---|
| session, 6 agents, 1h clock | {r['prepare_s']:.3f} | {r['run_s']:.3f} | {r['total_s']:.3f} | {r['pair_bars'] / r['total_s'] / 1e6:.1f} M | {ns:.0f} |
| cycle trader, 5m | | | {r['cycle_s']:.3f} | {r['cycle_pair_bars'] / r['cycle_s'] / 1e6:.1f} M | {cycle_ns:.0f} |

**The session costs {ratio:.2f}× the cycle trader per pair-bar** (target: within 2×).
Counted per agent pair-bar (every agent's own candles) it runs at
{r['agent_pair_bars'] / r['total_s'] / 1e6:.1f} M pair-bars/s.

Compiling the session's kernels (strategies, universe, resampling, the bar loop) in a fresh
process with an empty numba cache: {r['compile_cold_s']:.1f} s, once per machine and
version — later runs load them from the cache (`timings_s.compile` of a backtest's summary
says which happened).
"""


if __name__ == "__main__":
    print(markdown(run()))
