"""Feature and training speed.

1. Every feature of the default set for all 124 pairs × 1h candles of ../shared/data
   (``compute_features``, no cache; the panel is loaded beforehand). Best of 3 after a
   warm-up.
2. ``tradewind train`` with the default configuration on the embedded synthetic market
   (generated first, not timed), in a fresh home: features (cold cache) + labels + the
   training protocol + registry, as the command reports it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
REPO = Path(__file__).resolve().parents[1]


def _train_synthetic() -> dict[str, Any]:
    tradewind = [sys.executable, "-m", "tradewind"]
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEWIND__")}
        subprocess.run([*tradewind, "data", "synth", "--quiet"], cwd=tmp, env=env, check=True)
        started = time.perf_counter()
        proc = subprocess.run(
            [*tradewind, "train", "--json", "--quiet"],
            cwd=tmp,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - started
    report: dict[str, Any] = json.loads(proc.stdout)
    return {"wall_s": wall, "report": report}


def run() -> dict[str, Any] | None:
    if not (SHARED / "binance" / "1h").is_dir():
        print(f"skipped: {SHARED} not found")
        return None
    from tradewind.data.panel import load_panel
    from tradewind.data.store import CandleStore
    from tradewind.features.compute import compute_features

    panel = load_panel(CandleStore(SHARED, "binance"), None, "1h")
    compute_features(panel)  # warm-up: numba caches, TA-Lib import, page faults
    times = []
    for _ in range(3):
        started = time.perf_counter()
        features = compute_features(panel)
        times.append(time.perf_counter() - started)
    n_t, n_p, n_f = features.values.shape
    by_group: dict[str, int] = {}
    for s in features.specs:
        by_group[s.group] = by_group.get(s.group, 0) + 1
    return {
        "rows": n_t,
        "pairs": n_p,
        "features": n_f,
        "groups": by_group,
        "best_s": min(times),
        "train": _train_synthetic(),
    }


def markdown(r: dict[str, Any] | None) -> str:
    if r is None:
        return "## Features and training\n\nSkipped: ../shared/data not found.\n"
    values = r["rows"] * r["pairs"] * r["features"]
    pair_bars = r["rows"] * r["pairs"]
    groups = ", ".join(f"{g} {n}" for g, n in r["groups"].items())
    train = r["train"]
    rep = train["report"]
    models = "; ".join(
        f"{m['name']}: {m['rows']:,} rows, {m['features']} features kept, test AUC "
        f"{m['test']['roc_auc']:.3f} ± {m['test']['roc_auc_se']:.3f}, "
        f"{'promoted' if m['promoted'] else 'kept back'}"
        for m in rep["models"]
        if "roc_auc" in m["test"]
    )
    others = ", ".join(m["name"] for m in rep["models"] if "roc_auc" not in m["test"])
    return f"""## Features and training

**All features, 124 pairs × 1h of ../shared/data:** {r['features']} features ({groups}) for
{r['pairs']} pairs × {r['rows']:,} candles = {values / 1e6:.0f} M values in
**{r['best_s']:.2f} s** — {values / r['best_s'] / 1e6:.0f} M feature values/s,
{pair_bars / r['best_s'] / 1e6:.2f} M pair-bars/s (best of 3 after a warm-up; TA-Lib and
numpy per contiguous run of each pair, pairs on 2 threads; no Python loop over rows).
Command: `.venv/bin/python -m benchmarks features`.

**`tradewind train`, default configuration, synthetic market** (30 pairs × 240 days of 5m
candles; features on 1h candles, cold cache): **{train['wall_s']:.1f} s** wall time for the
whole command (features {rep['timings_s']['features']:.1f} s, everything the command does
{rep['timings_s']['total']:.1f} s; the rest is Python start-up and loading). {models}.
Also trained: {others or 'nothing else'}.
The default synthetic market has no planted signal, so a model that is kept back is the
expected outcome.
"""


if __name__ == "__main__":
    print(markdown(run()))
