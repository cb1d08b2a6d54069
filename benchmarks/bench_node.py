"""The node's tick: the cycle trader over 100 pairs of 5m candles, replayed.

A fresh process replays ``DAYS`` days of the embedded synthetic market (100 pairs, 5m)
through ``tradewind.live.run.replay``: one tick per 5-minute candle, each reading the new
candles, advancing the trader and saving its state and tables to the trade book (SQLite,
in a temporary home) in one transaction. Reported: the tick's own time (no network: the
candles come from the store) at the p50 and p99, over the first and the last day too —
the save grows with the run — and the process's peak resident memory.

Not yet measured: the issue's "100 pairs × 3 agents" — agents do not run in the node yet.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PAIRS = 100
DAYS = 10
HISTORY_DAYS = 30
TICKS_PER_DAY = 288


def _inside(home: str) -> dict[str, Any]:
    """In this (fresh) process: synthesise, replay, measure."""
    import resource

    import numpy as np
    import pandas as pd

    from tradewind.config import load_config
    from tradewind.data.store import CandleStore
    from tradewind.data.synthetic import generate_market, write_market
    from tradewind.live.run import replay

    env = {
        "TRADEWIND__HOME": home,
        "TRADEWIND__DATA__TIMEFRAME": "5m",
        "TRADEWIND__CYCLE__NOMINATOR": "momentum",
    }
    settings = load_config(environ=env)
    market = generate_market(pairs=PAIRS, timeframe="5m", days=HISTORY_DAYS + DAYS + 1, seed=7)
    write_market(market, CandleStore(settings.data_dir, "synthetic"))
    start = pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(days=HISTORY_DAYS)
    result = replay(settings, start, start + pd.Timedelta(days=DAYS))
    ms = np.array(result.tick_seconds) * 1e3

    def q(a: np.ndarray, p: float) -> float:
        return float(np.percentile(a, p))

    first, last = ms[:TICKS_PER_DAY], ms[-TICKS_PER_DAY:]
    return {
        "ticks": result.ticks,
        "decisions": len(result.decided),
        "p50_ms": q(ms, 50),
        "p99_ms": q(ms, 99),
        "max_ms": float(ms.max()),
        "first_day_p99_ms": q(first, 99),
        "last_day_p99_ms": q(last, 99),
        "last_day_p50_ms": q(last, 50),
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-node-") as home:
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.bench_node", home],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        )
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def markdown(r: dict[str, Any]) -> str:
    verdict = "under" if r["p99_ms"] < 50 else "**over**"
    return f"""## Live node: one tick of the cycle trader

**Job:** `tradewind run --replay` of {DAYS} days of the synthetic market ({PAIRS} pairs,
5m candles, {HISTORY_DAYS} days of history before the start): {r["ticks"]:,} ticks, one per
candle, each reading the new candles, advancing the cycle trader and saving its state and
tables to the trade book (SQLite) in one transaction; {r["decisions"]} daily decisions.
In a fresh process. Command: `.venv/bin/python -m benchmarks node`.

| ticks | p50 (ms) | p99 (ms) | max (ms) | first day p99 | last day p50 / p99 | peak RSS (MB) |
|---|---|---|---|---|---|---|
| all {r["ticks"]:,} | {r["p50_ms"]:.1f} | {r["p99_ms"]:.1f} | {r["max_ms"]:.1f} | {r["first_day_p99_ms"]:.1f} | {r["last_day_p50_ms"]:.1f} / {r["last_day_p99_ms"]:.1f} | {r["rss_mb"]:.0f} |

The p99 is {verdict} the issue's 50 ms for this job. The issue's own job is 100 pairs ×
3 agents; agents do not run in the node yet, so that figure is still to come. Most of a
tick is its save. Only the trades the tick touched and its new ledger entries are
written, but the state archive still holds every trade and is compressed on every tick,
so it grows with the run. The max is the tick at which the grid, allocated 2,048 rows ahead, doubles: the
filled rows are copied into arrays twice as long (about 0.4 s for 100 pairs × 10,700
rows, profiled); that happens once per doubling of the node's history. A few ticks of
80–90 ms are spent in the save; SQLite's write-ahead-log checkpoints are the likely cause,
not yet confirmed. The peak RSS includes the
replay's whole preloaded period.
"""


if __name__ == "__main__":
    print(json.dumps(_inside(sys.argv[1])))
