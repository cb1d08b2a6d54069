"""Charts of the reports, described once and drawn twice: plotly for the HTML report,
matplotlib for the PNG figures.

A :class:`Chart` is data — its panels, and in each panel a few :class:`Trace` — so the two
renderers cannot drift apart: the interactive chart and the figure show the same series,
the same names and the same axes. Long series are thinned for display (:func:`thin`);
every figure is computed from the full data first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

__all__ = ["Chart", "Trace", "thin", "to_plotly", "to_png"]

Kind = Literal["line", "step", "area", "bar", "hist", "band", "candles", "markers"]

#: One palette for both renderers (colour-blind safe, Okabe–Ito).
COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")


@dataclass
class Trace:
    """One series. ``x``/``y`` are arrays; ``kind`` says how to draw them:

    * ``line``, ``step``, ``area`` (filled to zero), ``bar``, ``markers``;
    * ``hist`` — ``y`` are the values, binned by the renderer into ``bins`` bins;
    * ``band`` — filled between ``y`` and ``y2``;
    * ``candles`` — ``y`` unused, ``ohlc`` = (open, high, low, close).
    """

    kind: Kind
    name: str
    x: Any = None
    y: Any = None
    y2: Any = None
    ohlc: tuple[Any, Any, Any, Any] | None = None
    color: str | None = None
    symbol: str = "circle"  #: ``markers``: circle, triangle-up, triangle-down, x
    bins: int = 40
    error: Any = None  #: ``bar``: (minus, plus) error extents
    text: Any = None  #: hover text (plotly only)


@dataclass
class Panel:
    """A subplot: its traces and axis titles."""

    traces: list[Trace]
    ytitle: str = ""
    xtitle: str = ""
    log_x: bool = False
    log_y: bool = False
    height: float = 1.0  #: relative height among the chart's panels
    percent: bool = False  #: y values are fractions, shown as percentages


@dataclass
class Chart:
    """A named chart of one or more stacked panels sharing the x axis."""

    key: str  #: file-name stem of its PNG and id of its HTML element
    title: str
    panels: list[Panel] = field(default_factory=list)
    note: str = ""  #: a sentence shown under the chart: what it shows, how it was thinned
    shared_x: bool = True  #: the panels share one x axis (time); False for unlike panels


def thin(index: pd.Index | np.ndarray, values: np.ndarray, points: int = 4000) -> tuple[Any, Any]:
    """At most ``points`` points of a long series for display: the last value of each of
    ``points`` equal buckets (the series itself is left whole)."""
    n = len(values)
    if n <= points:
        return index, values
    edges = np.linspace(0, n, points + 1).astype(np.int64)[1:] - 1
    return np.asarray(index)[edges], np.asarray(values)[edges]


def _color(trace: Trace, i: int) -> str:
    return trace.color or COLORS[i % len(COLORS)]


# ---------------------------------------------------------------------------- plotly


def to_plotly(chart: Chart) -> Any:
    """The chart as a plotly figure."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    heights = [p.height for p in chart.panels]
    fig = make_subplots(
        rows=len(chart.panels),
        cols=1,
        shared_xaxes=chart.shared_x,
        vertical_spacing=0.06 if chart.shared_x else 0.12,
        row_heights=[h / sum(heights) for h in heights],
    )
    n = 0
    for row, panel in enumerate(chart.panels, start=1):
        for trace in panel.traces:
            for item in _plotly_traces(go, trace, _color(trace, n)):
                fig.add_trace(item, row=row, col=1)
            n += 1
        fig.update_yaxes(
            title_text=panel.ytitle,
            type="log" if panel.log_y else None,
            tickformat=".0%" if panel.percent else None,
            row=row,
            col=1,
        )
        fig.update_xaxes(
            title_text=panel.xtitle, type="log" if panel.log_x else None, row=row, col=1
        )
    fig.update_layout(
        title=chart.title,
        height=260 + 220 * len(chart.panels),
        margin={"l": 60, "r": 20, "t": 50, "b": 40},
        legend={"orientation": "h", "y": -0.12},
        template="plotly_white",
        bargap=0.05,
        # Histograms of several kinds overlap (translucent); bars of several series group.
        barmode="overlay"
        if any(t.kind == "hist" for p in chart.panels for t in p.traces)
        else "group",
    )
    fig.update_xaxes(rangeslider_visible=False)
    return fig


def _plotly_traces(go: Any, t: Trace, color: str) -> list[Any]:
    common = {"name": t.name, "hovertext": t.text}
    if t.kind in ("line", "step", "area"):
        return [
            go.Scatter(
                x=t.x,
                y=t.y,
                mode="lines",
                line={"color": color, "width": 1.4, "shape": "hv" if t.kind == "step" else None},
                fill="tozeroy" if t.kind == "area" else None,
                **common,
            )
        ]
    if t.kind == "markers":
        return [
            go.Scatter(
                x=t.x,
                y=t.y,
                mode="markers",
                marker={"color": color, "size": 9, "symbol": t.symbol},
                **common,
            )
        ]
    if t.kind == "bar":
        err = None
        if t.error is not None:
            err = {
                "type": "data",
                "symmetric": False,
                "array": t.error[1],
                "arrayminus": t.error[0],
            }
        return [go.Bar(x=t.x, y=t.y, marker_color=color, error_y=err, **common)]
    if t.kind == "hist":
        return [go.Histogram(x=t.y, nbinsx=t.bins, marker_color=color, opacity=0.75, **common)]
    if t.kind == "band":
        return [
            go.Scatter(x=t.x, y=t.y2, mode="lines", line={"width": 0}, showlegend=False),
            go.Scatter(
                x=t.x,
                y=t.y,
                mode="lines",
                line={"width": 0},
                fill="tonexty",
                fillcolor=_rgba(color, 0.25),
                **common,
            ),
        ]
    if t.kind == "candles":
        assert t.ohlc is not None  # noqa: S101 - a programming error, not input
        o, h, lo, c = t.ohlc
        return [go.Candlestick(x=t.x, open=o, high=h, low=lo, close=c, name=t.name)]
    raise ValueError(f"unknown trace kind {t.kind!r}")


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


# ------------------------------------------------------------------------ matplotlib


def to_png(chart: Chart, path: Path) -> Path:
    """The chart as a PNG figure at ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import PercentFormatter

    heights = [p.height for p in chart.panels]
    fig, axes = plt.subplots(
        len(chart.panels),
        1,
        figsize=(9, 2.2 + 2.0 * len(chart.panels)),
        dpi=90,
        sharex=chart.shared_x and len(chart.panels) > 1,
        gridspec_kw={"height_ratios": heights},
        squeeze=False,
    )
    n = 0
    for ax, panel in zip(axes[:, 0], chart.panels, strict=True):
        for trace in panel.traces:
            _draw(ax, trace, _color(trace, n))
            n += 1
        ax.set_ylabel(panel.ytitle)
        ax.set_xlabel(panel.xtitle)
        if panel.log_x:
            ax.set_xscale("log", base=2)
        if panel.log_y:
            ax.set_yscale("log")
        if panel.percent:
            ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.grid(alpha=0.3)
        if any(t.name for t in panel.traces):
            ax.legend(loc="best", fontsize=8)
    axes[0, 0].set_title(chart.title)
    fig.autofmt_xdate() if _has_times(chart) else None
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def _has_times(chart: Chart) -> bool:
    for panel in chart.panels:
        for t in panel.traces:
            if t.x is not None and len(t.x) and np.issubdtype(np.asarray(t.x).dtype, np.datetime64):
                return True
    return False


def _times(x: Any) -> Any:
    arr = np.asarray(x)
    if arr.dtype == object:  # tz-aware timestamps: matplotlib wants naive UTC datetimes
        return pd.DatetimeIndex(x).tz_convert("UTC").tz_localize(None)
    return x


def _draw(ax: Any, t: Trace, color: str) -> None:
    x = _times(t.x) if t.x is not None else None
    if t.kind == "line":
        ax.plot(x, t.y, color=color, lw=1.1, label=t.name)
    elif t.kind == "step":
        ax.step(x, t.y, where="post", color=color, lw=1.1, label=t.name)
    elif t.kind == "area":
        ax.fill_between(x, t.y, 0, color=color, alpha=0.35, lw=0, label=t.name)
    elif t.kind == "markers":
        marker = {"triangle-up": "^", "triangle-down": "v", "x": "x"}.get(t.symbol, "o")
        ax.scatter(x, t.y, color=color, marker=marker, s=28, label=t.name, zorder=3)
    elif t.kind == "bar":
        labels = [str(v) for v in t.x] if not _is_numeric(t.x) else t.x
        yerr = None if t.error is None else np.vstack([t.error[0], t.error[1]])
        ax.bar(labels, t.y, color=color, label=t.name, yerr=yerr, capsize=3)
    elif t.kind == "hist":
        values = np.asarray(t.y, dtype=np.float64)
        values = values[np.isfinite(values)]
        ax.hist(values, bins=t.bins, color=color, alpha=0.75, label=t.name)
    elif t.kind == "band":
        ax.fill_between(x, t.y, t.y2, color=color, alpha=0.25, lw=0, label=t.name)
    elif t.kind == "candles":
        assert t.ohlc is not None  # noqa: S101 - a programming error, not input
        o, h, lo, c = (np.asarray(v, dtype=np.float64) for v in t.ohlc)
        up = c >= o
        ax.vlines(x, lo, h, color="#555555", lw=0.6)
        ax.vlines(np.asarray(x)[up], o[up], c[up], color="#009E73", lw=2.2)
        ax.vlines(np.asarray(x)[~up], o[~up], c[~up], color="#D55E00", lw=2.2)
    else:
        raise ValueError(f"unknown trace kind {t.kind!r}")


def _is_numeric(x: Any) -> bool:
    return bool(np.issubdtype(np.asarray(x).dtype, np.number))
