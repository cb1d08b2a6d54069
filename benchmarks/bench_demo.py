"""``tradewind demo``, the README's first command: wall time, step by step, in a fresh home.

Run as the user runs it (``python -m tradewind demo`` in a new process and an empty home),
twice: with an empty numba cache (a first run on a new machine: every kernel compiled) and
with the cache the first run left (every later run). The synthetic market is generated in
both. No peer does this job end to end, so there is no ratio; the issue's target is "a few
minutes on two cores".
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


def _once(numba_root: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tw-demo-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEWIND__")}
        env["TRADEWIND_NUMBA_CACHE_ROOT"] = str(numba_root)
        began = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "tradewind", "demo", "--quiet", "--no-api"],
            cwd=tmp,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - began
        if proc.returncode != 0:
            raise RuntimeError(f"tradewind demo failed: {proc.stderr[-2000:]}")
        demo = json.loads((Path(tmp) / ".tradewind" / "demo" / "demo.json").read_text())
    return {"wall_s": wall, "steps": {s["step"]: s["seconds"] for s in demo["steps"]}}


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tw-numba-") as cache:
        cold = _once(Path(cache))
        warm = _once(Path(cache))
    return {"cold": cold, "warm": warm}


def markdown(r: dict[str, Any]) -> str:
    """The section of docs/performance.md for these figures."""
    steps = list(r["warm"]["steps"])
    rows = "\n".join(
        f"| {s} | {r['cold']['steps'][s]:.1f} | {r['warm']['steps'][s]:.1f} |" for s in steps
    )
    return f"""## The demo: `tradewind demo` end to end

**Job:** `python -m tradewind demo --quiet --no-api` in a new process and an empty home,
as `make demo` runs it (the dashboard is left off so that no port is needed): the
synthetic market (30 pairs × 240 days of 5m candles) generated, the models trained, the
cycle trader and a session of four agents backtested, 200 Monte Carlo runs on 2
processes, a replay of the node over the last 3 days (864 ticks), the report. Once with
an empty numba cache (the first run on a machine compiles every kernel) and once with the
cache it left. Command: `.venv/bin/python -m benchmarks demo`.

| step | first run (s) | later runs (s) |
|---|---|---|
{rows}
| **whole command (wall)** | **{r["cold"]["wall_s"]:.0f}** | **{r["warm"]["wall_s"]:.0f}** |

The issue's target is a few minutes on two cores: the first run takes
{r["cold"]["wall_s"] / 60:.1f} min, later ones {r["warm"]["wall_s"] / 60:.1f} min.
"""
