"""Reports: one self-contained HTML file and PNG figures per run or study folder."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from tests.unit.backtest.test_montecarlo import SETTINGS_ENV
from tests.unit.backtest.test_run import SMALL
from tradewind.backtest.report import folder_kind, write_report
from tradewind.backtest.run import run_backtest
from tradewind.config import load_config
from tradewind.data.store import CandleStore
from tradewind.data.synthetic import generate_market, write_market
from tradewind.errors import ConfigError


@pytest.fixture
def market(home: Path) -> Path:
    write_market(
        generate_market(pairs=6, timeframe="1h", days=40, seed=5),
        CandleStore(home / "data", "synthetic"),
    )
    return home


def _chart_ids(page: str) -> set[str]:
    return set(re.findall(r'id="(chart-[a-z_0-9]+)"', page))


def test_a_backtest_report_draws_every_chart_offline_with_the_runs_numbers(market: Path) -> None:
    result = run_backtest(load_config(environ=SMALL), save=True)
    assert result.run_dir is not None
    assert folder_kind(result.run_dir) == "backtest"
    out = write_report(result.run_dir)
    page = out.read_text(encoding="utf-8")
    assert {"chart-equity", "chart-trades", "chart-pools", "chart-cycles"} <= _chart_ids(page)
    # Offline: plotly's code is in the file, nothing is fetched from elsewhere.
    assert "Plotly" in page
    assert len(page) > 3_000_000
    assert not re.search(r"<script[^>]+src=", page)
    final = result.summary["metrics"]["final_equity"]
    assert f"{final:,.2f}" in page  # the metrics table shows this run's figure
    for key in ("equity", "trades", "pools", "cycles", "outcomes"):
        assert (result.run_dir / "figures" / f"{key}.png").stat().st_size > 5_000
    # Trades on another pair, and a pair the run never saw.
    other = sorted(set(result.trades["pair"]))[-1]
    assert f"on {other}" in write_report(result.run_dir, pair=other, png=False).read_text()
    with pytest.raises(ConfigError, match="--pair NOPE"):
        write_report(result.run_dir, pair="NOPE")


def test_a_monte_carlo_report_has_the_histograms_bands_and_every_run(
    market: Path, tmp_path: Path
) -> None:
    from tradewind.backtest.montecarlo import run_montecarlo

    study = run_montecarlo(load_config(environ=SETTINGS_ENV), runs=4, folder=tmp_path / "mc")
    page = write_report(study.folder).read_text(encoding="utf-8")
    assert {
        "chart-hist_final_equity",
        "chart-hist_max_drawdown",
        "chart-hist_sharpe",
        "chart-bands",
    } <= _chart_ids(page)
    bands = json.loads((study.folder / "equity_bands.json").read_text())
    assert len(bands["time"]) == len(bands["p50"])  # the bands are drawn against time
    assert page.count("<tr>") >= 4 + 1  # the table of every run
    assert (study.folder / "figures" / "bands.png").exists()


def test_ensemble_and_sizing_studies_get_their_reports(market: Path, tmp_path: Path) -> None:
    from tradewind.backtest.montecarlo import compare_sizing, run_ensembles

    settings = load_config(environ=SETTINGS_ENV)
    run_ensembles(settings, largest=2, ensembles=2, folder=tmp_path / "e")
    compare_sizing(settings, runs=2, folder=tmp_path / "s")
    assert "chart-ensembles" in _chart_ids(write_report(tmp_path / "e").read_text())
    sizing = write_report(tmp_path / "s").read_text()
    assert "chart-sizing" in _chart_ids(sizing)
    table = pd.DataFrame(json.loads((tmp_path / "s" / "sizing.json").read_text())["table"])
    assert all(name in sizing for name in table["sizing"])


def test_a_folder_that_is_no_result_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such folder"):
        folder_kind(tmp_path / "missing")
    with pytest.raises(ConfigError, match="not a run or study folder"):
        folder_kind(tmp_path)
