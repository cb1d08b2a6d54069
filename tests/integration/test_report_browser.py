"""Reports looked at as a person would: headless Chromium opens them, every chart renders
with the run's own numbers, no JavaScript error, and a screenshot is kept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.browser import browser_page, keep_screenshot
from tests.unit.backtest.test_montecarlo import SETTINGS_ENV
from tests.unit.backtest.test_run import SMALL
from tradewind.backtest.report import write_report
from tradewind.backtest.run import run_backtest
from tradewind.config import load_config
from tradewind.data.store import CandleStore
from tradewind.data.synthetic import generate_market, write_market

pytestmark = pytest.mark.slow

#: Per chart: its traces, how many plotted SVG paths/points it drew, and its size on screen.
_CHARTS = """() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(d => {
  const box = d.getBoundingClientRect();
  return {id: d.id, traces: d.data.length,
          drawn: d.querySelectorAll('.scatterlayer path, .barlayer path, .boxlayer path').length,
          width: box.width, height: box.height};
})"""


def _open(report: Path, name: str) -> tuple[list[dict[str, Any]], Any, list[str]]:
    with browser_page() as (page, errors):
        page.goto(report.resolve().as_uri())
        page.wait_for_function(
            "document.querySelectorAll('.js-plotly-plot').length > 0 && "
            "Array.from(document.querySelectorAll('.js-plotly-plot'))"
            ".every(d => d.querySelector('.main-svg'))",
            timeout=30_000,
        )
        charts = page.evaluate(_CHARTS)
        last_equity = page.evaluate(
            "() => { const d = document.getElementById('chart-equity');"
            " if (!d) return null; const y = d._fullData[0].y; return y[y.length-1]; }"
        )
        errors += page.evaluate("() => window.__reportErrors")
        shot = keep_screenshot(page, name)
    return charts, (last_equity, shot), errors


def _looks_drawn(shot: Path) -> None:
    import matplotlib.image as mpimg

    pixels = mpimg.imread(str(shot))
    assert pixels.shape[0] > 1500  # a full page, not a blank viewport
    assert float(np.std(pixels[..., :3])) > 0.05  # not one colour


@pytest.fixture
def market(home: Path) -> Path:
    write_market(
        generate_market(pairs=6, timeframe="1h", days=40, seed=5),
        CandleStore(home / "data", "synthetic"),
    )
    return home


def test_a_backtest_report_renders_in_chromium(market: Path) -> None:
    result = run_backtest(load_config(environ=SMALL), save=True)
    assert result.run_dir is not None
    charts, (last_equity, shot), errors = _open(write_report(result.run_dir), "report-backtest")
    assert errors == []
    ids = {c["id"] for c in charts}
    assert {"chart-equity", "chart-trades", "chart-pools", "chart-cycles"} <= ids
    for c in charts:
        assert c["traces"] > 0, c
        assert c["drawn"] > 0, c
        assert c["width"] > 300, c
        assert c["height"] > 200, c
    # The curve on screen ends where the run ended.
    assert last_equity == pytest.approx(result.summary["metrics"]["final_equity"], rel=1e-9)
    _looks_drawn(shot)


def test_a_monte_carlo_report_renders_in_chromium(market: Path, tmp_path: Path) -> None:
    from tradewind.backtest.montecarlo import run_montecarlo

    study = run_montecarlo(load_config(environ=SETTINGS_ENV), runs=6, folder=tmp_path / "mc")
    charts, (_, shot), errors = _open(write_report(study.folder), "report-montecarlo")
    assert errors == []
    assert {"chart-hist_final_equity", "chart-bands"} <= {c["id"] for c in charts}
    assert all(c["traces"] > 0 for c in charts), charts
    assert all(c["drawn"] > 0 for c in charts), charts
    _looks_drawn(shot)
