"""Draw the strategy charts of docs/strategies.md from real candles (synthetic if absent).

Run from the repository root: ``.venv/bin/python docs/charts/strategy_charts.py``. Writes
``docs/img/channel_run.png`` and ``docs/img/trail_fractals.png``. The charts call the same
functions the traders use, so a picture that looks wrong is a rule that is wrong.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402

from tradewind.strategies.channel_run import channel_run_setups  # noqa: E402
from tradewind.strategies.rolling import rolling_max, rolling_min  # noqa: E402
from tradewind.strategies.trail_fractals import (  # noqa: E402
    fractal_levels,
    trail_fractals_setups,
)

ROOT = Path(__file__).resolve().parents[2]
REAL = ROOT.parent / "shared" / "data" / "binance" / "1h" / "BTCUSDT.parquet"
OUT = ROOT / "docs" / "img"
WINDOW = 300  # bars shown; the rules see the whole history before them
DPI = 90


def load_candles() -> tuple[pd.DataFrame, str]:
    """BTCUSDT 1h from the shared store, else the synthetic market's leader."""
    if REAL.exists():
        frame = pd.read_parquet(REAL, columns=["timestamp", "open", "high", "low", "close"])
        return frame.reset_index(drop=True), "BTCUSDT 1h (Binance)"
    from tradewind.data.synthetic import generate_market

    market = generate_market(pairs=1, timeframe="1h", days=60, seed=7)
    frame = next(iter(market.frames.values()))
    return frame[["timestamp", "open", "high", "low", "close"]].reset_index(drop=True), (
        "synthetic market, 1h"
    )


def candles(ax: Axes, frame: pd.DataFrame, x: np.ndarray) -> None:
    up = (frame["close"] >= frame["open"]).to_numpy()
    colour = np.where(up, "#2a9d8f", "#e76f51")
    ax.vlines(x, frame["low"], frame["high"], colors=colour, linewidth=0.6)
    ax.vlines(x, frame["open"], frame["close"], colors=colour, linewidth=2.0)


def _finish(ax: Axes, fig: plt.Figure, title: str, name: str) -> None:
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("bar")
    ax.grid(alpha=0.25)
    ax.legend(fontsize=7, loc="best", ncol=3, framealpha=0.9)
    fig.tight_layout()
    fig.savefig(OUT / name, dpi=DPI)
    plt.close(fig)


def channel_run_chart(frame: pd.DataFrame, source: str) -> None:
    lookback = 100
    h, lo, c = (frame[k].to_numpy() for k in ("high", "low", "close"))
    s = channel_run_setups(h, lo, c, side=1, lookback=lookback, entry="edge", goal="mid")
    taken = np.flatnonzero(s.entry)
    # the window ends some bars after the last taken setup, to show its stop and target
    end = min(len(c), int(taken[-1]) + 60) if len(taken) else len(c)
    win = slice(max(end - WINDOW, lookback), end)
    x = np.arange(win.start, win.stop)
    upper, lower = rolling_max(h, lookback)[win], rolling_min(lo, lookback)[win]
    fig, ax = plt.subplots(figsize=(10, 4.6))
    candles(ax, frame.iloc[win], x)
    ax.plot(x, upper, color="#264653", linewidth=1, label=f"upper (max high, {lookback} bars)")
    ax.plot(x, lower, color="#264653", linewidth=1, label="lower (min low)")
    ax.plot(x, (upper + lower) / 2, color="#264653", linewidth=0.8, linestyle="--", label="mid")
    e, r = s.entry[win], s.rejected[win]
    ax.scatter(x[e], c[win][e], marker="^", color="#1d3557", s=40, zorder=3, label="long setup")
    ax.scatter(x[r], c[win][r], marker="^", facecolors="none", edgecolors="#1d3557", s=40,
               zorder=3, label="rejected (reward/risk < 1)")  # fmt: skip
    shown = taken[(taken >= win.start) & (taken < win.stop)]
    if len(shown):
        t = int(shown[-1])
        span = np.arange(t, min(t + 50, win.stop))
        ax.plot(span, np.full(len(span), s.stop[t]), color="#e63946", label="stop (example)")
        ax.plot(span, np.full(len(span), s.target[t]), color="#2a9d8f", label="target (mid)")
    _finish(ax, fig, f"Channel run, long, entry=edge, goal=mid — {source}", "channel_run.png")


def trailing_path(
    low: np.ndarray, fl: np.ndarray, start: int, stop: float
) -> tuple[np.ndarray, np.ndarray]:
    """The stop of a long from ``start``: raised to each higher fractal low, until hit.

    A sketch of the lifecycle for the picture only: the stop moves at the close of a bar
    and is hit when a later bar's low reaches it.
    """
    xs, ys = [start], [stop]
    for t in range(start + 1, len(low)):
        if low[t] <= stop:
            xs.append(t)
            ys.append(stop)
            break
        if np.isfinite(fl[t]) and fl[t] > stop:
            stop = float(fl[t])
        xs.append(t)
        ys.append(stop)
    return np.array(xs), np.array(ys)


def trail_fractals_chart(frame: pd.DataFrame, source: str) -> None:
    width, half = 5, 2
    h, lo, c = (frame[k].to_numpy() for k in ("high", "low", "close"))
    fh, fl = fractal_levels(h, lo, width)
    s = trail_fractals_setups(h, lo, c, side=1, width=width)
    # the first bar of each break: later closes above the same level repeat the setup
    first = np.flatnonzero(
        s.entry & (np.concatenate(([np.nan], s.entry_price[:-1])) != s.entry_price)
    )
    # the example: of the recent breaks, the one whose stop trailed up the most times
    best, best_raises = int(first[-1]), -1
    for t in first[first > len(c) - 2000]:
        xs, ys = trailing_path(lo, fl, int(t), float(s.stop[t]))
        raises = len(np.unique(ys))
        if xs[-1] + 30 < len(c) and raises > best_raises:
            best, best_raises = int(t), raises
    xs, _ = trailing_path(lo, fl, best, float(s.stop[best]))
    end = min(len(c), int(xs[-1]) + 30)
    win = slice(max(min(best - 60, end - 160), 0), end)
    x = np.arange(win.start, win.stop)
    fig, ax = plt.subplots(figsize=(10, 4.6))
    candles(ax, frame.iloc[win], x)
    # a fractal at k is drawn at k; the step lines show it from k + half, when it is known
    is_h = np.zeros(len(c), dtype=bool)
    is_l = np.zeros(len(c), dtype=bool)
    new_h = np.flatnonzero(np.diff(fh, prepend=np.nan) != 0) - half
    new_l = np.flatnonzero(np.diff(fl, prepend=np.nan) != 0) - half
    is_h[new_h[new_h >= 0]] = True
    is_l[new_l[new_l >= 0]] = True
    mh, ml = is_h[win], is_l[win]
    ax.scatter(x[mh], h[win][mh] * 1.002, marker="v", color="#6d597a", s=14, label="fractal high")
    ax.scatter(x[ml], lo[win][ml] * 0.998, marker="^", color="#b56576", s=14, label="fractal low")
    ax.step(x, fh[win], where="post", color="#6d597a", linewidth=0.8, label="last known high")
    ax.step(x, fl[win], where="post", color="#b56576", linewidth=0.8, label="last known low")
    shown = first[(first >= win.start) & (first < win.stop)]
    ax.scatter(shown, s.entry_price[shown], marker="o", color="#1d3557", s=22, zorder=3,
               label="break of the level")  # fmt: skip
    t = best
    ax.hlines(s.entry_price[t], t - 12, t, color="#1d3557", linestyle="--", linewidth=1.2,
              label="broken level = entry (example)")  # fmt: skip
    xs, ys = trailing_path(lo, fl, t, float(s.stop[t]))
    ax.step(xs, ys, where="post", color="#e63946", linewidth=1.8, label="trailing stop")
    _finish(ax, fig, f"Trail fractals, long, width={width} — {source}", "trail_fractals.png")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    frame, source = load_candles()
    channel_run_chart(frame, source)
    trail_fractals_chart(frame, source)
    for name in ("channel_run.png", "trail_fractals.png"):
        print(f"{OUT / name}: {(OUT / name).stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
