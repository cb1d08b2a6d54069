"""``tradewind report``: one self-contained HTML file (and PNG figures) per result folder.

A report reads only what its folder holds — a backtest run folder, a Monte Carlo,
ensemble or sizing study, a walk-forward, an optimisation or a demo (which reads the
folders its steps wrote) — and writes
``report.html`` (plotly, its JavaScript embedded once, so the file works offline and can be
mailed) and ``figures/<chart>.png`` (matplotlib) beside it. The charts are described once
(:mod:`tradewind.backtest.charts`) and drawn by both.
"""

from __future__ import annotations

import html
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from tradewind import __version__
from tradewind.backtest.charts import to_plotly, to_png
from tradewind.backtest.report_base import Report, fmt, folder_kind
from tradewind.backtest.report_demo import demo_report
from tradewind.backtest.report_runs import backtest_report
from tradewind.backtest.report_studies import (
    ensembles_report,
    montecarlo_report,
    optimize_report,
    sizing_report,
    walkforward_report,
)
from tradewind.domain.types import utc_now
from tradewind.errors import DataError

__all__ = ["Report", "folder_kind", "render_html", "write_report"]


BUILDERS: dict[str, Callable[[Path, str | None], Report]] = {
    "backtest": backtest_report,
    "montecarlo": montecarlo_report,
    "ensembles": ensembles_report,
    "sizing": sizing_report,
    "walkforward": walkforward_report,
    "optimize": optimize_report,
    "demo": demo_report,
}


# ----------------------------------------------------------------------- rendering

_CSS = " ".join(
    [
        "body{font-family:system-ui,sans-serif;margin:0;color:#222;background:#fafafa}",
        "header{background:#12355b;color:#fff;padding:18px 28px}",
        "header h1{margin:0;font-size:22px}header p{margin:4px 0 0;opacity:.85}",
        "main{max-width:1180px;margin:0 auto;padding:8px 24px 40px}",
        "section{background:#fff;border:1px solid #e3e3e3;border-radius:6px;margin:18px 0;",
        "padding:14px 18px}h2{font-size:17px;margin:0 0 8px}p.note{color:#555;margin:4px 0 10px}",
        "table{border-collapse:collapse;font-size:13px}",
        "td,th{border-bottom:1px solid #eee;padding:3px 10px;text-align:right}",
        "th{background:#f3f5f8}td:first-child,th:first-child{text-align:left}",
        ".scroll{max-height:420px;overflow:auto}",
        "footer{color:#777;font-size:12px;text-align:center;padding:10px}",
    ]
)

# Collected before any chart script runs, so a test (or a reader) can see a broken chart.
_ERRORS = (
    "<script>window.__reportErrors=[];window.addEventListener('error',function(e)"
    "{window.__reportErrors.push(String(e.message))});</script>"
)


def _table_html(table: pd.DataFrame) -> str:
    shown = table.copy()
    for col in shown.columns:
        if pd.api.types.is_float_dtype(shown[col]):
            shown[col] = shown[col].map(lambda v: fmt(v, ",.4g"))
    inner = shown.to_html(index=False, escape=True, border=0, na_rep="n/a")
    return f'<div class="scroll">{inner}</div>' if len(shown) > 20 else inner


def render_html(report: Report) -> str:
    """The report as one HTML document with plotly's JavaScript embedded once."""
    from plotly.offline import get_plotlyjs

    parts = []
    for s in report.sections:
        body = f"<h2>{html.escape(s.title)}</h2>"
        if s.text:
            body += f'<p class="note">{html.escape(s.text)}</p>'
        if s.chart is not None:
            fig = to_plotly(s.chart)
            body += fig.to_html(
                full_html=False,
                include_plotlyjs=False,
                div_id=f"chart-{s.chart.key}",
                config={"displaylogo": False, "responsive": True},
            )
        if s.table is not None:
            body += _table_html(s.table)
        parts.append(f"<section>{body}</section>")
    stamp = utc_now().strftime("%Y-%m-%d %H:%M UTC")
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(report.title)}</title><style>{_CSS}</style>{_ERRORS}"
        f"<script type='text/javascript'>{get_plotlyjs()}</script></head><body>"
        f"<header><h1>{html.escape(report.title)}</h1><p>{html.escape(report.subtitle)}</p></header>"
        f"<main>{''.join(parts)}</main><footer>Tradewind {__version__} · {stamp}</footer>"
        "</body></html>"
    )


def _write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".report-", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(tmp, 0o644)  # a report is meant to be shared (mkstemp makes it private)
    os.replace(tmp, path)


def write_report(folder: Path, *, pair: str | None = None, png: bool = True) -> Path:
    """Write ``report.html`` (and ``figures/*.png``) into ``folder``; return the HTML path."""
    folder = Path(folder)
    kind = folder_kind(folder)
    try:
        report = BUILDERS[kind](folder, pair)
    except (KeyError, FileNotFoundError) as exc:
        raise DataError(f"{folder}: incomplete {kind} folder ({exc})") from exc
    out = folder / "report.html"
    _write_text(out, render_html(report))
    if png:
        for chart in report.charts:
            to_png(chart, folder / "figures" / f"{chart.key}.png")
    return out
