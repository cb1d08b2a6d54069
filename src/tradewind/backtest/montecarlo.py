"""Monte Carlo studies of the cycle trader: many seeded runs over the same history.

Three sources of randomness so far:

* ``choice`` — the trader's own luck (seed 000): each run draws a different seed, so the
  random choice of K pairs among the nominated ones differs; everything else (data,
  models, which are loaded once and held fixed) is the same. Runs are independent full
  backtests, spread over ``jobs`` worker processes (joblib; the price arrays are memory-
  mapped into the workers, not copied per task).
* ``blocks`` — moving-block bootstrap of the candles (blocks of ``block``, all pairs
  together), a new history per run (:func:`block_bootstrap`);
* ``trades`` — bootstrap of the trade sequence of one base run, as returns relative to the
  equity at each trade's entry (never absolute P/L, which could push a path past −100 %),
  compounded from the starting capital.

Every run's seed comes from one master seed (``numpy.random.SeedSequence.spawn``), so a
study is reproducible on one worker or many. Finished runs are appended to the study's
journal as they arrive (``runs.jsonl``, a line per run); a study started again in the
same folder skips them, so an interrupted study resumes where it stopped.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields, is_dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tradewind.backtest.metrics import (
    annualised_sharpe,
    infer_periods_per_year,
    total_return,
)
from tradewind.backtest.run import (
    RunInputs,
    load_backtest_panel,
    make_trader,
    run_backtest,
    run_inputs,
)
from tradewind.backtest.workers import Workers
from tradewind.config import Settings
from tradewind.data.panel import Panel
from tradewind.domain.types import duration_bars
from tradewind.engine.records import Kind, Status
from tradewind.errors import ConfigError
from tradewind.strategies.nominators import FixedNominations, RandomNominator, uses_rng
from tradewind.trading.cycle import MarketArrays, cycle_decision_rows

__all__ = [
    "MonteCarlo",
    "block_bootstrap",
    "bootstrap_trades",
    "compare_sizing",
    "ensemble_sizes",
    "run_ensembles",
    "run_montecarlo",
    "run_seeds",
    "study_inputs",
]

SOURCES = ("choice", "trades", "blocks")


def run_seeds(master: int, runs: int) -> list[int]:
    """One independent 63-bit seed per run, spawned from ``master``."""
    children = np.random.SeedSequence(master).spawn(runs)
    return [int(c.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1)) for c in children]


def _max_drawdown(path: np.ndarray) -> np.ndarray:
    peak = np.maximum.accumulate(path, axis=-1)
    out: np.ndarray = (path / peak - 1.0).min(axis=-1)
    return out


def _finite(x: float) -> float | None:
    """JSON has no nan or inf: undefined and unbounded figures become null (as in the
    backtest summary's metrics)."""
    return float(x) if math.isfinite(x) else None


#: The last panel's timestamps as an index and its bars per year: built once per worker,
#: not per run (a run of the cycle trader costs a few milliseconds; these cost one).
_GRID: list[tuple[Panel, pd.DatetimeIndex, float]] = []


def _grid_of(panel: Panel) -> tuple[pd.DatetimeIndex, float]:
    if not _GRID or _GRID[0][0] is not panel:
        index = panel.index
        _GRID[:] = [(panel, index, infer_periods_per_year(index))]
    return _GRID[0][1], _GRID[0][2]


def _outcome(settings: Settings, inputs: RunInputs, seed: int, run: int) -> dict[str, Any]:
    """One run's figures, computed as the backtest summary computes them (the same metric
    functions on the same equity curve) but without building its tables."""
    trader = make_trader(settings, inputs, seed)
    trader.run()
    eq = trader.equity
    index, periods = _grid_of(inputs.panel)
    curve = pd.Series(eq, index=index, copy=False)
    done = trader.trades[: trader.n_trades]
    return {
        "run": run,
        "seed": seed,
        "final_equity": float(eq[-1]),
        "total_return": total_return(curve),
        # max_drawdown(curve).depth, the same arithmetic without the timing it also finds.
        "max_drawdown": float(_max_drawdown(eq)),
        "sharpe": _finite(annualised_sharpe(curve, periods)),
        "trades_real": int(((done["kind"] == Kind.REAL) & (done["status"] == Status.CLOSED)).sum()),
        "equity_sampled": eq[:: max(1, len(eq) // 200)].tolist(),
    }


#: Inputs a worker process has loaded, by the path the parent wrote them to: each worker
#: maps them once, whatever the number of runs it is given.
_LOADED: dict[str, RunInputs] = {}


def _inputs_of(ref: str | RunInputs) -> RunInputs:
    if isinstance(ref, RunInputs):  # on Dask: the scattered object itself
        return ref
    if ref not in _LOADED:
        from joblib import load

        # Copy-on-write maps: the pages are the parent's file, shared by every worker.
        _LOADED.clear()
        _LOADED[ref] = _unmapped(load(ref, mmap_mode="c"))
    return _LOADED[ref]


def _unmapped(obj: Any) -> Any:
    """``obj`` with every ``np.memmap`` in it (through dataclasses and dicts) seen as a
    plain array over the same pages: each slice of a memmap is another memmap, built at a
    cost that made a run 12 % slower."""
    if isinstance(obj, np.memmap):
        return np.asarray(obj)
    if is_dataclass(obj) and not isinstance(obj, type):
        mine = {f.name: _unmapped(getattr(obj, f.name)) for f in fields(obj) if f.init}
        return replace(obj, **mine)
    if isinstance(obj, dict):
        return {k: _unmapped(v) for k, v in obj.items()}
    return obj


def _task(
    ref: str | RunInputs, settings: Settings, seed: int, run: int, block: int = 0
) -> dict[str, Any]:
    inputs = _inputs_of(ref)
    if block > 0:
        boot = block_bootstrap(inputs.panel, np.random.default_rng(seed), block)
        inputs = replace(inputs, panel=boot, market=MarketArrays.of(boot))
    return _outcome(settings, inputs, seed, run)


def block_bootstrap(panel: Panel, rng: np.random.Generator, block: int) -> Panel:
    """A new history made of blocks of ``block`` consecutive candles drawn with replacement
    (moving-block bootstrap), all pairs together so their co-movement survives. Each candle
    keeps its open, high, low and close relative to the previous close and its volume;
    prices are chained from the first closes. A pair missing in a drawn row is missing
    there (its price carries on from its last close)."""
    n_t = len(panel.timestamps)
    if not 1 <= block < n_t:
        raise ConfigError(f"block bootstrap: block {block} must be between 1 and {n_t - 1}")
    f = {name: panel.fields.index(name) for name in ("open", "high", "low", "close")}
    v = panel.values
    prev = np.vstack([v[:1, :, f["close"]], v[:-1, :, f["close"]]])
    rel = {k: v[:, :, i] / prev for k, i in f.items()}  # NaN where a candle is missing
    starts = rng.integers(1, n_t - block + 1, size=(n_t - 1) // block + 1)
    rows = np.concatenate([np.arange(s, s + block) for s in starts])[: n_t - 1]
    rows = np.concatenate([[0], rows])
    mask = panel.mask[rows].copy()
    mask[0] = panel.mask[0]
    out = np.full_like(v, np.nan)
    last = v[0, :, f["close"]].copy()
    out[0] = v[0]
    for t in range(1, n_t):
        r = rows[t]
        ok = mask[t] & np.isfinite(last)
        for k, i in f.items():
            out[t, ok, i] = last[ok] * rel[k][r, ok]
        for i, name in enumerate(panel.fields):
            if name not in f:
                out[t, ok, i] = v[r, ok, i]
        last[ok] = out[t, ok, f["close"]]
    mask &= np.isfinite(out[:, :, f["close"]])
    return Panel(panel.timeframe, panel.timestamps, panel.symbols, panel.fields, out, mask)


def bootstrap_trades(returns: np.ndarray, capital: float, runs: int, seed: int) -> pd.DataFrame:
    """Resample the trade returns (relative to equity at entry) with replacement, in a new
    order per run, and compound them from ``capital``."""
    if len(returns) == 0:
        raise ConfigError("trade bootstrap: the base run has no closed real trade")
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(returns), size=(runs, len(returns)))
    paths = capital * np.cumprod(1.0 + returns[picks], axis=1)
    paths = np.concatenate([np.full((runs, 1), capital), paths], axis=1)
    final = paths[:, -1]
    per_trade = returns[picks]
    sd = per_trade.std(axis=1, ddof=1)
    return pd.DataFrame(
        {
            "run": np.arange(runs),
            "seed": seed,
            "final_equity": final,
            "total_return": final / capital - 1.0,
            "max_drawdown": _max_drawdown(paths),
            "sharpe": np.divide(
                per_trade.mean(axis=1), sd, out=np.full(runs, np.nan), where=sd > 0
            ),
            "trades_real": len(returns),
        }
    )


def _for_workers(inputs: RunInputs, block: int) -> RunInputs:
    """What the workers need of ``inputs``: without the panel's candles (half the bytes
    to write, map or send) when the runs read only the kernels' own copy of them — the
    nominations are computed already, or drawn from the mask alone — and do not
    bootstrap new candles. Reading a field of that panel fails naming the field."""
    if block > 0 or not isinstance(inputs.nominator, FixedNominations | RandomNominator):
        return inputs
    panel = inputs.panel
    bare = replace(panel, fields=(), values=np.empty((*panel.values.shape[:2], 0)))
    return replace(inputs, panel=bare)


def _runs(
    tasks: list[tuple[Settings, int, int]],
    inputs: RunInputs,
    workers: Workers,
    *,
    block: int = 0,
) -> Iterator[dict[str, Any]]:
    """Run ``(settings, seed, run)`` tasks on ``workers``; yield each result as it finishes
    (in any order).

    The candles go to the workers once: written to one file that every worker on this
    machine maps (copy on write) — joblib's processes and a ``--cluster local`` — or
    scattered once to the workers of a remote Dask scheduler. joblib dispatches only a
    couple of tasks ahead of the workers: a study of any size holds no more than a few
    runs' state at once."""
    from joblib import Parallel, delayed, dump, parallel_config

    if not tasks:
        return
    if workers.cluster is None and workers.jobs == 1:
        for cfg, seed, run in tasks:  # no process to share with: no file to write
            yield _task(inputs, cfg, seed, run, block)
        return
    shared = _for_workers(inputs, block)
    on_this_machine = workers.cluster in (None, "local")
    with tempfile.TemporaryDirectory(prefix="tradewind-mc-") as tmp:
        ref: str | RunInputs = shared
        if on_this_machine:
            ref = str(Path(tmp) / "inputs.joblib")
            dump(shared, ref)
        calls = (delayed(_task)(ref, cfg, seed, run, block) for cfg, seed, run in tasks)
        workers.ready()
        if workers.cluster is None:
            parallel = Parallel(
                n_jobs=workers.jobs, return_as="generator_unordered", pre_dispatch="2*n_jobs"
            )
            yield from parallel(calls)
            return
        with parallel_config(backend="dask", scatter=[] if on_this_machine else [shared]):
            parallel = Parallel(
                n_jobs=-1, return_as="generator_unordered", pre_dispatch="2*n_jobs"
            )
            yield from parallel(calls)


def study_inputs(
    settings: Settings, panel: Panel | None = None, *, fixed: bool = True
) -> RunInputs:
    """What every run of a study shares (:func:`run_inputs`), with the nominations computed
    once where the nominator draws no random numbers (``fixed``): the same candles give
    the same nominations in every run, only the choice among them is each run's luck."""
    inputs = run_inputs(settings, panel)
    if fixed and not uses_rng(inputs.nominator):
        rows = cycle_decision_rows(inputs.panel, settings.cycle, inputs.nominator)
        fixed_nominations = FixedNominations.of(inputs.nominator, inputs.panel, rows)
        inputs = replace(inputs, nominator=fixed_nominations)
    return inputs


@dataclass
class MonteCarlo:
    """A finished study: every run and the summary over them."""

    runs: pd.DataFrame
    summary: dict[str, Any]
    folder: Path


def _read_journal(path: Path) -> dict[int, dict[str, Any]]:
    """The finished runs of a study's journal (``runs.jsonl``, one JSON line per run, in
    the order they finished). A last line cut short by a crash is dropped — and cut off
    the file, so that new lines follow whole ones: that run is simply run again, with the
    same seed and so the same result."""
    done: dict[int, dict[str, Any]] = {}
    if not path.exists():
        return done
    whole = 0
    with open(path, "rb") as fh:
        for line in fh:
            if not line.endswith(b"\n"):
                break
            try:
                row = json.loads(line)
            except ValueError:
                break
            done[int(row["run"])] = row
            whole += len(line)
    if whole < path.stat().st_size:
        with open(path, "r+b") as fh:
            fh.truncate(whole)
    return done


def _journaled(
    settings: Settings,
    panel: Panel,
    folder: Path,
    tasks: list[tuple[Settings, int, int]],
    keys: list[str],
    *,
    jobs: int,
    cluster: str | None,
    block: int = 0,
    check: Callable[[RunInputs], None] | None = None,
    on_run: Callable[[int], None] | None = None,
) -> tuple[list[dict[str, Any]], int, dict[str, Any]]:
    """Every task's result in task order, running only those the study's journal lacks;
    how many it had; and how the others were carried (:meth:`Workers.describe`, empty
    when there were none). ``keys[i]`` names what task ``i`` computes (its seed and what
    differs between tasks): a line counts only for the task it was written for, so a
    folder reused with other options never mixes in results of another study."""
    journal = folder / "runs.jsonl"
    found = _read_journal(journal)
    # Lines past this study's tasks stay (a longer study in the same folder keeps its
    # runs); lines written for another task than this study's are dropped.
    keep = {i: r for i, r in found.items() if i >= len(keys) or r.get("key") == keys[i]}
    if len(keep) < len(found):
        tmp = journal.with_name(f".{journal.name}.tmp")
        tmp.write_text("".join(json.dumps(keep[i]) + "\n" for i in sorted(keep)), "utf-8")
        os.replace(tmp, journal)
    done = {i: r for i, r in keep.items() if i < len(keys)}
    todo = [i for i in range(len(tasks)) if i not in done]
    how: dict[str, Any] = {}
    if todo:
        # A run's own state is small — its equity curve and trades — unless it bootstraps
        # new candles: the number of local processes is bounded by memory.
        per_run = 64 * len(panel.timestamps) + 3 * panel.values.nbytes * (block > 0) + 2**22
        start = settings.backtest.worker_start
        with Workers(jobs=jobs, cluster=cluster, per_run=per_run, start=start) as workers:
            how = workers.describe()
            # Models loaded once and held fixed; with blocks the candles differ every run.
            inputs = study_inputs(settings, panel, fixed=block == 0)
            if check is not None:
                check(inputs)
            with open(journal, "a", encoding="utf-8") as fh:
                for row in _runs([tasks[i] for i in todo], inputs, workers, block=block):
                    i = int(row["run"])
                    row["key"] = keys[i]
                    # One line per finished run, handed to the system at once: a crash
                    # loses at most the line being written, which the next start drops.
                    fh.write(json.dumps(row, default=str) + "\n")
                    fh.flush()
                    done[i] = row
                    if on_run:
                        on_run(i)
    return [done[i] for i in range(len(tasks))], len(tasks) - len(todo), how


def _write_json(path: Path, payload: Any) -> None:
    """Atomically: a reader sees the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(payload, default=str))
    os.replace(tmp, path)


def _summary(runs: pd.DataFrame, capital: float, ruin: float) -> dict[str, Any]:
    q = [0.05, 0.25, 0.5, 0.75, 0.95]
    pct = {
        col: {f"p{int(x * 100)}": float(runs[col].quantile(x)) for x in q}
        for col in ("final_equity", "total_return", "max_drawdown", "sharpe")
    }
    return {
        "runs": len(runs),
        "percentiles": pct,
        "probability_of_loss": float((runs["final_equity"] < capital).mean()),
        "risk_of_ruin": float((runs["max_drawdown"] <= -ruin).mean()),
        "ruin_threshold": ruin,
    }


def run_montecarlo(
    settings: Settings,
    *,
    runs: int,
    folder: Path,
    source: str = "choice",
    jobs: int = 1,
    ruin: float = 0.5,
    panel: Panel | None = None,
    on_run: Callable[[int], None] | None = None,
    cluster: str | None = None,
    block: str = "1d",
) -> MonteCarlo:
    """Run (or resume) a study of ``runs`` runs into ``folder``.

    ``cluster`` sends the runs to Dask instead of local processes — the same tasks through
    joblib's Dask backend, so there is one code path: ``local`` starts a
    ``LocalCluster`` with ``jobs`` worker processes on this machine, ``tcp://HOST:8786``
    connects to a running scheduler. ``block`` is the block length of the ``blocks``
    source."""
    if source not in SOURCES:
        raise ConfigError(f"--source {source!r}: use one of {', '.join(SOURCES)}")
    if runs < 1:
        raise ConfigError(f"--runs {runs}: at least one run")
    if not 0 < ruin < 1:
        raise ConfigError(f"--ruin {ruin}: a drawdown fraction between 0 and 1")
    panel = panel if panel is not None else load_backtest_panel(settings)
    folder.mkdir(parents=True, exist_ok=True)
    capital = settings.cycle.capital
    resumed = 0
    workers: dict[str, Any] = {}  # the trades source resamples in this process
    if source == "trades":
        base = run_backtest(settings, panel=panel, save=False)
        t = base.trades
        real = t[(t["kind"] == "real") & (t["status"] == "closed")]
        eq = base.equity["equity"]
        before = eq.reindex(real["entry_time"], method="ffill").to_numpy()
        returns = (real["pnl"].to_numpy() / before).astype(np.float64)
        table = bootstrap_trades(returns, capital, runs, settings.seed)
    else:
        seeds = run_seeds(settings.seed, runs)
        length = 0
        if source == "blocks":
            length = duration_bars(block, panel.timeframe, "--block")
            if settings.backtest.detail:
                raise ConfigError(
                    "--source blocks rebuilds the candles each run; backtest.detail's "
                    "lower-timeframe candles would not match them: unset it"
                )

        def check(inputs: RunInputs) -> None:
            if source == "blocks" and inputs.nominator.name not in ("momentum", "random"):
                raise ConfigError(
                    "--source blocks rebuilds the candles each run, which the model "
                    "nominator's features are not computed on: use cycle.nominator = "
                    "momentum or random"
                )

        rows, resumed, workers = _journaled(
            settings,
            panel,
            folder,
            [(settings, seeds[i], i) for i in range(runs)],
            [f"{source}/{length}/{seed}" for seed in seeds],
            jobs=jobs,
            cluster=cluster,
            block=length,
            check=check,
            on_run=on_run,
        )
        table = pd.DataFrame(rows).drop(columns=["equity_sampled", "key"])
        curves = np.array([r["equity_sampled"] for r in rows], dtype=np.float64)
        bands: dict[str, Any] = {
            f"p{p}": np.nanpercentile(curves, p, axis=0).tolist() for p in (5, 25, 50, 75, 95)
        }
        # The sampled curves' times (every run samples the same rows; see _outcome).
        step = max(1, len(panel.timestamps) // 200)
        bands["time"] = [ts.isoformat() for ts in panel.index[::step]]
        _write_json(folder / "equity_bands.json", bands)
    table = table.sort_values("run").reset_index(drop=True)
    table.to_parquet(folder / "runs.parquet", index=False)
    summary = {
        "source": source,
        "seed": settings.seed,
        "resumed": resumed,  # runs found finished in the folder, not run again
        "workers": workers,  # how the other runs were carried (empty: none ran)
        **_summary(table, capital, ruin),
    }
    _write_json(folder / "summary.json", summary)
    return MonteCarlo(table, summary, folder)


def ensemble_sizes(largest: int) -> list[int]:
    """1, 2, 4, … up to ``largest``."""
    if largest < 1:
        raise ConfigError(f"--ensemble {largest}: at least 1 trader")
    out = [1]
    while out[-1] * 2 <= largest:
        out.append(out[-1] * 2)
    return out


def run_ensembles(
    settings: Settings,
    *,
    largest: int,
    ensembles: int,
    folder: Path,
    jobs: int = 1,
    panel: Panel | None = None,
    cluster: str | None = None,
    on_run: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Seed §5.2: K independent traders on the same data, each with 1/K of the capital;
    ``ensembles`` portfolios per K (K = 1, 2, 4, … ``largest``). Reports how the spread of
    the portfolio return falls with K, and draws it (``ensembles.png``)."""
    if ensembles < 2:
        raise ConfigError("--runs: at least 2 portfolios per ensemble size to measure spread")
    panel = panel if panel is not None else load_backtest_panel(settings)
    folder.mkdir(parents=True, exist_ok=True)
    sizes = ensemble_sizes(largest)
    capital = settings.cycle.capital
    # One run per trader, grouped by size, then portfolio: K consecutive runs per portfolio.
    owners = [(k, e) for k in sizes for e in range(ensembles) for _ in range(k)]
    seeds = run_seeds(settings.seed, len(owners))
    split = {
        k: settings.model_copy(
            update={"cycle": settings.cycle.model_copy(update={"capital": capital / k})}
        )
        for k in sizes
    }
    done, _, _ = _journaled(
        settings,
        panel,
        folder,
        [(split[k], seeds[n], n) for n, (k, _e) in enumerate(owners)],
        [f"capital={capital / k!r}/{seeds[n]}" for n, (k, _e) in enumerate(owners)],
        jobs=jobs,
        cluster=cluster,
        on_run=on_run,
    )
    finals = np.array([row["final_equity"] for row in done], dtype=np.float64)
    rows = []
    start = 0
    for k in sizes:
        per = finals[start : start + k * ensembles].reshape(ensembles, k).sum(axis=1)
        start += k * ensembles
        ret = per / capital - 1.0
        rows.append(
            {
                "traders": k,
                "portfolios": ensembles,
                "mean_return": float(ret.mean()),
                "std_return": float(ret.std(ddof=1)),
                "variance": float(ret.var(ddof=1)),
            }
        )
    table = pd.DataFrame(rows)
    table.to_parquet(folder / "ensembles.parquet", index=False)
    _plot_ensembles(table, folder / "ensembles.png")
    summary = {"sizes": sizes, "table": rows, "folder": str(folder)}
    _write_json(folder / "ensembles.json", summary)
    return summary


def _plot_ensembles(table: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=90)
    ax.plot(table["traders"], table["variance"], marker="o", label="measured")
    first = float(table["variance"].iloc[0])
    ax.plot(table["traders"], first / table["traders"], ls="--", label="1/K (independent)")
    ax.set_xscale("log", base=2)
    if (table["variance"] > 0).all():  # every portfolio alike (no choice left): no log scale
        ax.set_yscale("log")
    ax.set_xlabel("traders K (each with 1/K of the capital)")
    ax.set_ylabel("variance of the portfolio return")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


SIZINGS = ("equal", "inverse_volatility", "kelly")


def compare_sizing(
    settings: Settings,
    *,
    runs: int,
    folder: Path,
    jobs: int = 1,
    panel: Panel | None = None,
    cluster: str | None = None,
    on_run: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Seed §5.3: equal, inverse-volatility and fractional-Kelly sizing side by side — the
    same ``runs`` seeds (the same luck) for each, so only the sizing differs."""
    panel = panel if panel is not None else load_backtest_panel(settings)
    folder.mkdir(parents=True, exist_ok=True)
    seeds = run_seeds(settings.seed, runs)
    order = [(sizing, i) for sizing in SIZINGS for i in range(runs)]
    configs = {
        sizing: settings.model_copy(
            update={"cycle": settings.cycle.model_copy(update={"sizing": sizing})}
        )
        for sizing in SIZINGS
    }
    done, _, _ = _journaled(
        settings,
        panel,
        folder,
        [(configs[sizing], seeds[i], n) for n, (sizing, i) in enumerate(order)],
        [f"{sizing}/{seeds[i]}" for sizing, i in order],
        jobs=jobs,
        cluster=cluster,
        on_run=on_run,
    )
    rows = dict(enumerate(done))
    table = []
    for s, sizing in enumerate(SIZINGS):
        mine = pd.DataFrame([rows[s * runs + i] for i in range(runs)])
        table.append(
            {
                "sizing": sizing,
                "runs": runs,
                "median_return": float(mine["total_return"].median()),
                "p5_return": float(mine["total_return"].quantile(0.05)),
                "p95_return": float(mine["total_return"].quantile(0.95)),
                "median_max_drawdown": float(mine["max_drawdown"].median()),
                "median_sharpe": float(mine["sharpe"].median()),
                "probability_of_loss": float((mine["total_return"] < 0).mean()),
            }
        )
    result = {"table": table, "folder": str(folder)}
    pd.DataFrame(table).to_parquet(folder / "sizing.parquet", index=False)
    _write_json(folder / "sizing.json", result)
    return result
