"""Loading all 1h files of ../shared/data into an aligned panel vs a pandas loop."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pandas as pd

from tradewind.data.panel import load_panel
from tradewind.data.store import CandleStore

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _best(fn: Any, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def run() -> dict[str, Any] | None:
    """Best of five of each loader; None when the shared data is absent."""
    store = CandleStore(SHARED, "binance")
    symbols = store.symbols("1h")
    if not symbols:
        return None
    paths = [store.path(s, "1h") for s in symbols]
    panel = load_panel(store, symbols, "1h")
    return {
        "files": len(symbols),
        "shape": panel.shape,
        "pandas_loop_s": _best(lambda: [pd.read_parquet(p) for p in paths]),
        "panel_s": _best(lambda: load_panel(store, symbols, "1h", validate=False)),
        "panel_validated_s": _best(lambda: load_panel(store, symbols, "1h")),
    }


def markdown(r: dict[str, Any] | None) -> str:
    """The section of docs/performance.md for these figures."""
    if r is None:
        return "## Panel loading\n\nSkipped: ../shared/data not found.\n"
    t, p, f = r["shape"]
    base = r["pandas_loop_s"]
    return f"""## Panel loading: {r["files"]} 1h files of ../shared/data

`load_panel` reads every file (pyarrow, a small thread pool), aligns them on one hourly grid
and returns a ({t:,} × {p} × {f}) float64 array with a mask for missing candles. The
baseline is a plain loop of `pandas.read_parquet` over the same files, which returns 124
separate, unaligned and unvalidated frames. Best of five runs.

| loader | time (s) | ratio to pandas loop |
|---|---|---|
| `pandas.read_parquet` loop (no alignment, no checks) | {base:.3f} | 1.00 |
| `load_panel(validate=False)` | {r["panel_s"]:.3f} | {r["panel_s"] / base:.2f} |
| `load_panel()` (every row validated) | {r["panel_validated_s"]:.3f} | {r["panel_validated_s"] / base:.2f} |
"""
