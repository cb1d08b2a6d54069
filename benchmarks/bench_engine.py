"""The engine's speed: one breakout strategy three ways, and the cycle trader on real data.

Job (one pair): enter when the close exceeds the highest high of the previous 200 bars
(the signal is computed inside the timed part), fill at the next open, one long position
at a time, stop 0.983, take-profit 1.52, the activated trailing stop (once the highest close
since entry exceeds entry × 1.10, stop = 0.983 × that close, from the next bar), 0.15 % fee
per fill. Run by tradewind (``breakout_signal`` + ``simulate_signals``), by vectorbt's
``Portfolio.from_signals`` (the same rules through its stop callbacks, as in
tests/integration/test_peer_vectorbt.py) and by a bare numba loop that does only this job.

Then the cycle trader over every 5m candle of ../shared/data through ``run_backtest``.

Compilation is measured in fresh processes, cold (numba's cache root pointed at an empty
folder, so nothing is loaded from numba's cache) and warm (tradewind's numba cache folder,
keyed by the kernels' source, filled by the measurements in this process).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from numba import njit

from tradewind.engine.lifecycle import make_params
from tradewind.engine.signals import breakout_signal, simulate_signals

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
#: Concatenated in this order, each rescaled to open at the previous one's last close.
SERIES = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT", "LINKUSDT", "AVAXUSDT")
N_BARS = 500_000
LOOKBACK = 200
FEE = 0.0015
STOP = 0.983
TARGET = 1.52
ACTIVATION = 1.10
TRAIL = 0.983
REPEAT = 9
VBT_REPEAT = 5
CYCLE_REPEAT = 3

Bars = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


# --------------------------------------------------------------------------- the data


def build_series(shared: Path = SHARED, n: int = N_BARS) -> tuple[Bars, list[tuple[str, int]]]:
    """One synthetic pair of ``n`` real 5m candles: whole pairs concatenated, rescaled.

    Each pair's OHLC is multiplied by one factor so that its first open equals the previous
    pair's last close: every candle's shape and every return are real, the joins are
    seamless (no gap), and the price path is continuous.
    """
    parts: list[np.ndarray] = []
    used: list[tuple[str, int]] = []
    have = 0
    prev_close = None
    for symbol in SERIES:
        df = pd.read_parquet(shared / "binance" / "5m" / f"{symbol}.parquet")
        ohlc = df.loc[:, ["open", "high", "low", "close"]].to_numpy(dtype=np.float64)
        if prev_close is not None:
            ohlc = ohlc * (prev_close / ohlc[0, 0])
        take = min(len(ohlc), n - have)
        parts.append(ohlc[:take])
        used.append((symbol, take))
        have += take
        prev_close = ohlc[take - 1, 3]
        if have >= n:
            break
    if have < n:
        raise RuntimeError(f"only {have} 5m candles in {shared}")
    bars = np.concatenate(parts)
    o, h, lo, c = (np.ascontiguousarray(bars[:, k]) for k in range(4))
    return (o, h, lo, c), used


def lifecycle_params() -> tuple[float, ...]:
    return make_params(
        fee=FEE,
        take_profit=TARGET,
        stop_loss=STOP,
        trail_activation=ACTIVATION,
        trail_distance=TRAIL,
    )


# --------------------------------------------------------------------------- tradewind


def run_tradewind(bars: Bars, params: np.ndarray) -> np.ndarray:
    o, h, lo, c = bars
    return simulate_signals(o, h, lo, c, breakout_signal(h, c, LOOKBACK), params)


# --------------------------------------------------------------------------- bare loop


@njit(cache=True)
def bare_loop(
    o: np.ndarray,
    h: np.ndarray,
    lo: np.ndarray,
    c: np.ndarray,
    lookback: int,
    entry_t: np.ndarray,
    exit_t: np.ndarray,
    pnl: np.ndarray,
) -> int:
    """Only this job, in one pass: the practical limit of a compiled bar loop.

    The rolling maximum is the block (van Herk / Gil-Werman) scheme of ``breakout_signal``,
    fused with the trade; the rules are the lifecycle's (gaps fill at the open, the entry
    bar is checked after the fill, stop before target, the trail from the next bar).
    """
    n = len(c)
    k = 0
    in_pos = False
    pending = False
    stop = target = activation = best = qty = 0.0
    et = 0
    suffix = np.empty(lookback, dtype=np.float64)
    for b in range(0, n - lookback, lookback):
        top = -np.inf
        for i in range(b + lookback - 1, b - 1, -1):
            x = h[i]
            top = x if x > top else top
            suffix[i - b] = top
        prefix = -np.inf
        for s in range(b, min(b + lookback, n - lookback)):
            t = s + lookback
            if pending:
                entry = o[t]
                qty = 1.0 / (entry * (1.0 + FEE))
                stop = entry * STOP
                target = entry * TARGET
                activation = entry * ACTIVATION
                best = entry
                et = t
                in_pos = True
                pending = False
            if in_pos:
                price = np.nan
                if t > et:
                    if o[t] <= stop or o[t] >= target:
                        price = o[t]
                if np.isnan(price):
                    if lo[t] <= stop:
                        price = stop
                    elif h[t] >= target:
                        price = target
                    elif t == n - 1:
                        price = c[t]
                if np.isnan(price):
                    if c[t] > best:
                        best = c[t]
                    if best > activation and best * TRAIL > stop:
                        stop = best * TRAIL
                else:
                    entry_t[k] = et
                    exit_t[k] = t
                    pnl[k] = qty * price * (1.0 - FEE) - 1.0
                    k += 1
                    in_pos = False
            a = suffix[s - b]
            if not in_pos and c[t] > (a if a > prefix else prefix):
                pending = True
            x = h[t]
            prefix = x if x > prefix else prefix
    return k


def run_bare(bars: Bars) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    o, h, lo, c = bars
    n = len(c)  # at most one trade per bar; untouched pages of np.empty cost nothing
    entry_t = np.empty(n, dtype=np.int64)
    exit_t = np.empty(n, dtype=np.int64)
    pnl = np.empty(n, dtype=np.float64)
    k = bare_loop(o, h, lo, c, LOOKBACK, entry_t, exit_t, pnl)
    return entry_t[:k], exit_t[:k], pnl[:k]


# --------------------------------------------------------------------------- vectorbt


@njit(cache=True)
def _fraction(level: float, ref: float) -> float:
    """``m`` with ``ref * m == level`` to the last bit where one exists (see the peer test)."""
    m = level / ref
    for _ in range(8):
        got = ref * m
        if got == level:
            break
        m = np.nextafter(m, -np.inf) if got > level else np.nextafter(m, np.inf)
    return m


@njit(cache=True)
def adjust_sl_nb(
    ctx: Any, open_: np.ndarray, close: np.ndarray, best: np.ndarray
) -> tuple[float, bool]:
    """Stop 0.983 × entry, raised to 0.983 × the highest close once it passed entry × 1.10.

    With ``sl_trail=True`` and ``stop_entry_price='close'`` vectorbt's reference is the
    entry bar's close, then the highest high since: never below our level but after an
    entry bar that closed beyond the stop (a trade we close on that bar).
    """
    if ctx.position_now <= 0 or ctx.init_i < 0:
        return ctx.curr_stop, ctx.curr_trail
    entry = open_[ctx.init_i]
    prev = close[ctx.i - 1]
    if ctx.i - 1 == ctx.init_i:
        best[0] = max(entry, prev)
    elif prev > best[0]:
        best[0] = prev
    level = entry * STOP
    if best[0] > entry * ACTIVATION and best[0] * TRAIL > level:
        level = best[0] * TRAIL
    if level > ctx.curr_price:
        return 0.0, True
    return 1.0 - _fraction(level, ctx.curr_price), True


@njit(cache=True)
def adjust_tp_nb(ctx: Any, open_: np.ndarray) -> float:
    """Take-profit 1.52 × entry as a fraction of vectorbt's reference (the entry bar's close)."""
    if ctx.position_now <= 0 or ctx.init_i < 0:
        return float(ctx.curr_stop)
    level = open_[ctx.init_i] * TARGET
    if level < ctx.init_price:
        return 0.0
    return _fraction(level, ctx.init_price) - 1.0


def signal_pandas(h: np.ndarray, c: np.ndarray) -> np.ndarray:
    """pandas' rolling max (a linear-time algorithm in C)."""
    top = pd.Series(h).rolling(LOOKBACK).max().to_numpy()
    out = np.zeros(len(c), dtype=np.bool_)
    out[LOOKBACK:] = c[LOOKBACK:] > top[LOOKBACK - 1 : -1]
    return out


def signal_numpy(h: np.ndarray, c: np.ndarray) -> np.ndarray:
    """numpy's sliding windows (O(n × lookback), vectorised)."""
    top = np.lib.stride_tricks.sliding_window_view(h, LOOKBACK).max(axis=1)
    out = np.zeros(len(c), dtype=np.bool_)
    out[LOOKBACK:] = c[LOOKBACK:] > top[:-1]
    return out


def signal_vectorbt(h: np.ndarray, c: np.ndarray) -> np.ndarray:
    """vectorbt's own rolling max (``generic.nb.rolling_max_1d_nb``, O(n × lookback))."""
    from vectorbt.generic.nb import rolling_max_1d_nb

    top = rolling_max_1d_nb(h, LOOKBACK)
    out = np.zeros(len(c), dtype=np.bool_)
    out[LOOKBACK:] = c[LOOKBACK:] > top[LOOKBACK - 1 : -1]
    return out


SIGNALS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "pandas": signal_pandas,
    "numpy": signal_numpy,
    "vectorbt": signal_vectorbt,
}


def run_vectorbt(
    bars: Bars, signal: Callable[[np.ndarray, np.ndarray], np.ndarray], indexed: bool
) -> Any:
    """vectorbt's portfolio for the job (its order records; trades are derived lazily)."""
    import vectorbt as vbt

    o, h, lo, c = bars
    sig = signal(h, c)
    entries = np.zeros(len(c), dtype=np.bool_)
    entries[1:] = sig[:-1]  # decided at the close, filled at the next open
    close: Any = c
    extra: dict[str, Any] = {}
    if indexed:
        # A tz-naive index: with a tz-aware one vectorbt 1.2 on pandas 3 is ~18x slower.
        index = pd.date_range("2024-01-01", periods=len(c), freq="5min")
        close = pd.Series(c, index=index)
        extra["freq"] = "5min"
    return vbt.Portfolio.from_signals(
        close,
        entries=entries,
        exits=False,
        direction="longonly",
        accumulate=False,
        price=o,
        open=o,
        high=h,
        low=lo,
        fees=FEE,
        slippage=0.0,
        size=1.0 / (1.0 + FEE),
        size_type="value",
        init_cash=1e12,
        sl_stop=1.0 - STOP,
        sl_trail=True,
        tp_stop=TARGET - 1.0,
        stop_entry_price="close",
        stop_exit_price="stoplimit",
        upon_stop_exit="close",
        adjust_sl_func_nb=adjust_sl_nb,
        adjust_sl_args=(o, c, np.zeros(1)),
        adjust_tp_func_nb=adjust_tp_nb,
        adjust_tp_args=(o,),
        **extra,
    )


# --------------------------------------------------------------------------- cycle trader


def cycle_settings(shared: Path = SHARED) -> Any:
    from tradewind.config import load_config

    overrides = {"data": {"data_dir": str(shared), "exchange": "binance", "timeframe": "5m"}}
    return load_config(overrides=overrides, environ={})


def run_cycle(settings: Any) -> dict[str, Any]:
    from tradewind.backtest.run import run_backtest

    result = run_backtest(settings, save=False)
    data = result.summary["data"]
    return {
        "timings_s": dict(result.summary["timings_s"]),
        "bars": int(data["bars"]),
        "pairs": int(data["pairs"]),
        "trades": len(result.trades),
        "real_closed": int(
            ((result.trades["kind"] == "real") & (result.trades["status"] == "closed")).sum()
        ),
    }


# --------------------------------------------------------------------------- measuring


def _best(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm-up: compile or load from the cache, fault the pages in
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _first(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def first_calls(mode: str) -> dict[str, Any]:
    """In a fresh process: the first call of each engine (compile + one run), in seconds."""
    if mode == "cycle":
        settings = cycle_settings()
        out = run_cycle(settings)
        return {"cycle": out["timings_s"]}
    bars, _ = build_series()
    params = lifecycle_params()
    import vectorbt  # noqa: F401  (its import is not compilation)

    return {
        "tradewind": _first(lambda: run_tradewind(bars, params)),
        "bare": _first(lambda: run_bare(bars)),
        "vectorbt": _first(lambda: run_vectorbt(bars, signal_pandas, indexed=True)),
    }


def _subprocess(mode: str, cold: bool) -> dict[str, Any]:
    env = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="numba-cold-") as cache:
        # tradewind keys its numba cache under TRADEWIND_NUMBA_CACHE_ROOT (see
        # tradewind/__init__.py); cold = an empty root, warm = the usual one.
        if cold:
            env["NUMBA_CACHE_DIR"] = cache
            env["TRADEWIND_NUMBA_CACHE_ROOT"] = cache
        else:
            env.pop("NUMBA_CACHE_DIR", None)
            env.pop("TRADEWIND_NUMBA_CACHE_ROOT", None)
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.bench_engine", mode],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def run() -> dict[str, Any] | None:
    """All measurements; None when the shared data is absent."""
    if not (SHARED / "binance" / "5m").is_dir():
        return None
    import vectorbt as vbt

    bars, used = build_series()
    params = lifecycle_params()
    o, h, lo, c = bars
    n = len(c)
    r: dict[str, Any] = {"bars": n, "series": used, "vectorbt_version": vbt.__version__}

    # Same trades? tradewind and the bare loop must agree to the bit; vectorbt differs only
    # where we exit on the entry bar (the peer test's one category) and what follows.
    ours = run_tradewind(bars, params)
    bare = run_bare(bars)
    if not (np.array_equal(bare[0], ours["entry_t"]) and np.array_equal(bare[1], ours["exit_t"])):
        raise RuntimeError("the bare loop and tradewind disagree on the trades")
    if np.max(np.abs(bare[2] - ours["pnl"]), initial=0.0) > 1e-12:
        raise RuntimeError("the bare loop and tradewind disagree on the P/L")
    pf = run_vectorbt(bars, signal_pandas, indexed=True)
    peer = pf.trades.values
    ours_pairs = set(zip(ours["entry_t"].tolist(), ours["exit_t"].tolist(), strict=True))
    peer_pairs = set(zip(peer["entry_idx"].tolist(), peer["exit_idx"].tolist(), strict=True))
    r["trades"] = {
        "tradewind": len(ours),
        "bare": len(bare[0]),
        "vectorbt": len(peer),
        "identical_tradewind_vectorbt": len(ours_pairs & peer_pairs),
        "entry_bar_exits": int((ours["exit_t"] == ours["entry_t"]).sum()),
        "bars_in_position": int((ours["exit_t"] - ours["entry_t"] + 1).sum()),
    }
    r["pnl"] = {"tradewind": float(ours["pnl"].sum()), "vectorbt": float(peer["pnl"].sum())}

    signal_only = _best(lambda: breakout_signal(h, c, LOOKBACK), REPEAT)
    sig = breakout_signal(h, c, LOOKBACK)
    r["time_s"] = {
        "tradewind": _best(lambda: run_tradewind(bars, params), REPEAT),
        "tradewind_signal": signal_only,
        "tradewind_simulate": _best(lambda: simulate_signals(o, h, lo, c, sig, params), REPEAT),
        "bare": _best(lambda: run_bare(bars), REPEAT),
    }
    r["vbt_signal_s"] = {name: _best(partial(fn, h, c), 3) for name, fn in SIGNALS.items()}
    fastest = min(r["vbt_signal_s"], key=r["vbt_signal_s"].get)
    r["vbt_signal"] = fastest
    vbt_times = {
        "index": _best(lambda: run_vectorbt(bars, SIGNALS[fastest], True), VBT_REPEAT),
        "numpy": _best(lambda: run_vectorbt(bars, SIGNALS[fastest], False), VBT_REPEAT),
    }
    r["vbt_variants_s"] = vbt_times
    r["vbt_trades_s"] = _best(lambda: run_vectorbt(bars, SIGNALS[fastest], True).trades.values, 3)
    r["time_s"]["vectorbt"] = min(vbt_times.values())
    t = r["time_s"]
    r["ratio_vectorbt"] = t["vectorbt"] / t["tradewind"]
    r["ratio_bare"] = t["bare"] / t["tradewind"]

    settings = cycle_settings()
    run_cycle(settings)  # compile (or load from cache) outside the measurement
    cycle = [run_cycle(settings) for _ in range(CYCLE_REPEAT)]
    r["cycle"] = {
        "run_s": min(x["timings_s"]["run"] for x in cycle),
        "load_s": min(x["timings_s"]["load"] for x in cycle),
        "bars": cycle[0]["bars"],
        "pairs": cycle[0]["pairs"],
        "trades": cycle[0]["trades"],
        "real_closed": cycle[0]["real_closed"],
        "candles": sum(
            pq.read_metadata(f).num_rows for f in (SHARED / "binance" / "5m").glob("*.parquet")
        ),
    }
    # Fresh processes, now that this one has filled numba's default cache.
    r["first_cold"] = {**_subprocess("engines", True), **_subprocess("cycle", True)}
    r["first_warm"] = {**_subprocess("engines", False), **_subprocess("cycle", False)}
    return r


# --------------------------------------------------------------------------- report


def markdown(r: dict[str, Any] | None) -> str:
    """The section of docs/performance.md for these figures."""
    if r is None:
        return "## Engine speed\n\nSkipped: ../shared/data not found.\n"
    n = r["bars"]
    t = r["time_s"]
    tr = r["trades"]
    cold, warm = r["first_cold"], r["first_warm"]

    def rate(seconds: float) -> str:
        return f"{n / seconds / 1e6:.1f} M"

    def compile_s(first: dict[str, Any], key: str) -> str:
        return f"{max(first[key] - t[key], 0.0):.2f}"

    series = ", ".join(f"{s} ({k:,})" for s, k in r["series"])
    signals = ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in r["vbt_signal_s"].items())
    var = r["vbt_variants_s"]
    cy = r["cycle"]
    grid = cy["bars"] * cy["pairs"]
    in_pos = tr["bars_in_position"]
    per_bar_ns = t["tradewind_simulate"] / in_pos * 1e9
    return f"""## Engine speed: one strategy three ways, and the cycle trader

**Job:** one pair of {n:,} 5m candles; enter when the close exceeds the highest high of
the previous 200 bars (signal computed inside the timed part), fill at the next open, one
long position at a time, stop 0.983, take-profit 1.52, trailing stop activated once the
highest close since entry passes entry × 1.10 (stop = 0.983 × that close, from the next
bar), 0.15 % fee per fill. bars/s = {n:,} / time.

The pair is real data: whole 5m series from ../shared/data concatenated in this order,
each rescaled by one factor so that it opens at the previous one's last close (every
candle and every return is real; no gap at the joins): {series}.

- **tradewind**: `breakout_signal` + `simulate_signals` (the lifecycle's `step_trade`).
- **vectorbt {r["vectorbt_version"]}**: `Portfolio.from_signals` with the rules mapped as in
  [engine-peers.md](engine-peers.md): entries shifted one bar, `price=open`, stop and
  target through `adjust_sl_func_nb` / `adjust_tp_func_nb`. The signal uses the fastest
  rolling max on offer, {r["vbt_signal"]} ({signals}). Timed up to the order records;
  deriving `pf.trades` from them costs another {r["vbt_trades_s"] * 1e3:.0f} ms, not counted.
  Fastest of a tz-naive `DatetimeIndex` ({var["index"] * 1e3:.0f} ms) and plain numpy arrays
  ({var["numpy"] * 1e3:.0f} ms). The Rust engine (`vectorbt-rust`) is not installed, and
  vectorbt does not use it with stop callbacks anyway.
- **bare loop**: `bench_engine.bare_loop`, one numba function doing only this job (signal
  fused in): the practical limit of this design.

Best of {REPEAT} runs ({VBT_REPEAT} for vectorbt) after a warm-up. Compilation = first call in a
fresh process minus the best run: cold = numba's cache root pointed at an empty folder;
warm = tradewind's numba cache (~/.cache/tradewind, keyed by the kernels' source).

| engine | time (ms) | bars/s | compile, cold cache (s) | first call, warm cache (s) | trades |
|---|---|---|---|---|---|
| tradewind | {t["tradewind"] * 1e3:.2f} | {rate(t["tradewind"])} | {compile_s(cold, "tradewind")} | {warm["tradewind"]:.2f} | {tr["tradewind"]} |
| vectorbt | {t["vectorbt"] * 1e3:.1f} | {rate(t["vectorbt"])} | {compile_s(cold, "vectorbt")} | {warm["vectorbt"]:.2f} | {tr["vectorbt"]} |
| bare loop | {t["bare"] * 1e3:.2f} | {rate(t["bare"])} | {compile_s(cold, "bare")} | {warm["bare"]:.2f} | {tr["bare"]} |

**tradewind is {r["ratio_vectorbt"]:.1f}× faster than vectorbt** (target ≥ 8×) and runs at
**{r["ratio_bare"]:.2f} of the bare loop's speed** (target ≥ 0.5).

Same job, same answers: the bare loop's trades equal tradewind's (entry, exit and P/L to
1e-12); {tr["identical_tradewind_vectorbt"]} of tradewind's {tr["tradewind"]} trades have the same
entry and exit bar in vectorbt. The others follow from the one rule vectorbt cannot express
(see engine-peers.md): we check the entry bar after a fill at its open; here
{tr["entry_bar_exits"]} trades exit on their entry bar, and vectorbt, holding on, then
skips or shifts the next entries.

Where tradewind's time goes: signal {t["tradewind_signal"] * 1e3:.2f} ms, simulation
{t["tradewind_simulate"] * 1e3:.2f} ms for {in_pos:,} bars in a position (about
{per_bar_ns:.0f} ns per bar in a position, against a few ns in the bare loop). A perf
profile of `simulate_signals` (2026-11-22) put the largest single cost in numba's
reference counting (`NRT_incref`/`NRT_decref`, atomic) on the `params` array passed to
`step_trade` every bar; the lifecycle now takes its parameters as a tuple of floats
(passed by value). The next cost was the two calls per bar, each copying that tuple and a
dozen arguments: `step_trade` and its active step are now inlined into their callers
(`inline="always"`; still one implementation, compiled into each caller), which took the
simulation from 2.6 ms to 1.4 ms at the price of ~10 % more compile time for this path
and none measurable for the cycle trader. What remains is the separate signal pass, which
the bare loop fuses and skips while in a position. (Measuring such changes needs a fresh
numba cache: numba checks a cached function against its own file only, so tradewind keys
its cache folder by a hash of all kernel sources.)

### The cycle trader on all 5m candles of ../shared/data

`run_backtest(settings, save=False)` with the default configuration on {cy["candles"]:,}
candles ({cy["pairs"]} pairs on a grid of {cy["bars"]:,} bars, {grid:,} pair-bars);
{cy["trades"]:,} trades and nominations, {cy["real_closed"]:,} of them closed real trades.
`timings_s` of the run's summary: run = best of {CYCLE_REPEAT} after a warm-up; compile =
`timings_s["compile"]` of the first backtest in a fresh process.

| run (s) | candles/s | load (s) | compile, cold cache (s) | compile, warm cache (s) |
|---|---|---|---|---|
| {cy["run_s"]:.3f} | {cy["candles"] / cy["run_s"] / 1e6:.1f} M | {cy["load_s"]:.2f} | {cold["cycle"]["compile"]:.2f} | {warm["cycle"]["compile"]:.2f} |
"""


if __name__ == "__main__":
    # `python -m benchmarks.bench_engine engines|cycle`: the first calls in this fresh process.
    print(json.dumps(first_calls(sys.argv[1])))
