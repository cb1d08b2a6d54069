"""The study's own arithmetic (studies/evaluate.py): benchmarks after fees, trade returns,
the distributions it draws and the sentences it concludes with, on inputs small enough to
work out by hand. The whole script runs on real data in the docs test."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from tradewind.data.panel import Panel
from tradewind.domain.types import Timeframe

SCRIPT = Path(__file__).resolve().parents[2] / "studies" / "evaluate.py"


@pytest.fixture(scope="module")
def study() -> ModuleType:
    spec = importlib.util.spec_from_file_location("tradewind_study", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _panel(opens: np.ndarray, closes: np.ndarray, symbols: tuple[str, ...]) -> Panel:
    t = len(opens)
    index = pd.date_range("2024-05-01", periods=t, freq="1h", tz="UTC")
    values = np.stack([opens, np.fmax(opens, closes), np.fmin(opens, closes), closes], axis=2)
    return Panel(
        timeframe=Timeframe.parse("1h"),
        timestamps=index.as_unit("ns").asi8,
        symbols=symbols,
        fields=("open", "high", "low", "close"),
        values=values,
        mask=~np.isnan(closes),
    )


def test_benchmarks_pay_the_fee_on_the_way_in_and_out(study: ModuleType) -> None:
    nan = np.nan
    # rows 0-1 are history before the span; the span starts at row 2
    opens = np.array([[90, 10, nan], [95, 11, nan], [100, 20, nan], [110, 22, 5], [120, 30, 6]])
    closes = np.array([[95, 11, nan], [100, 20, nan], [105, 21, nan], [120, 30, 6], [150, 24, 7]])
    panel = _panel(opens.astype(float), closes.astype(float), ("BTCUSDT", "ETHUSDT", "NEWUSDT"))
    fee = 0.001
    btc, equal = study.benchmarks({}, panel, 2, fee)
    assert btc.name == "buy and hold BTCUSDT"
    # starts at the capital; bought at the span's first open, sold at its last close
    assert btc.equity.iloc[0] == 10_000.0
    assert btc.equity.iloc[1] == pytest.approx(10_000 * (1 - fee) * 120 / 100)
    assert btc.equity.iloc[-1] == pytest.approx(10_000 * (1 - fee) ** 2 * 150 / 100)
    # the pair that had no candle at the span's start is not in the portfolio
    assert equal.name == "equal weight, 2 pairs"
    held = (150 / 100 + 24 / 20) / 2
    assert equal.equity.iloc[-1] == pytest.approx(10_000 * (1 - fee) ** 2 * held)
    figs = study.figures(btc.equity)
    assert figs["total_return"] == pytest.approx((1 - fee) ** 2 * 1.5 - 1)


def test_trade_returns_are_relative_to_the_equity_at_entry(study: ModuleType) -> None:
    index = pd.date_range("2024-05-01", periods=4, freq="1h", tz="UTC")
    equity = pd.Series([10_000.0, 12_000.0, 8_000.0, 9_000.0], index=index)
    trades = pd.DataFrame(
        {
            "kind": ["real", "real", "sim", "real"],
            "status": ["closed", "closed", "closed", "expired"],
            "entry_time": [index[1], index[2] + pd.Timedelta("30min"), index[0], index[3]],
            "pnl": [600.0, -400.0, 1_000.0, 0.0],
        }
    )
    r = study.trade_returns(trades, equity)
    # sim trades and expired nominations are no real result
    assert r.tolist() == pytest.approx([600 / 12_000, -400 / 8_000])


def _variant(study: ModuleType, name: str, trader: str, curve: list[float], **extra: object):  # type: ignore[no-untyped-def]
    index = pd.date_range("2024-05-01", periods=len(curve), freq="1D", tz="UTC")
    return study.Variant(name, trader, pd.Series(curve, index=index), pd.DataFrame(), extra=extra)


def test_conclusions_say_what_the_figures_say(study: ModuleType) -> None:
    lose_less = _variant(study, "cycle trader, rules, static", "cycle", [10_000, 9_800, 9_500])
    lose_less.extra["choices"] = [9_000.0, 9_400.0, 9_600.0, 9_700.0]
    bench = _variant(study, "buy and hold BTCUSDT", "benchmark", [10_000, 9_000, 9_000])
    worse = _variant(study, "session of 8 agents, rules only", "session", [10_000, 9_500, 8_000])
    lines = study.conclusions(
        [lose_less, worse, bench], {lose_less.name: 0.4, worse.name: 0.1}, {}, {}
    )
    text = "\n".join(lines)
    assert "returned -5.0%" in text
    assert "so the cycle trader lost less than the better benchmark" in text
    # the run is above two of its four other draws of luck
    assert "at the 50% percentile of its own luck" in text
    assert "by its median it beat buy and hold BTCUSDT (9,000)" in text
    assert "so the session of agents did not beat the better benchmark" in text
    assert "no variant's Sharpe ratio is significant at 95 %" in text
    sig = study.conclusions([lose_less, bench], {lose_less.name: 0.97}, {}, {})
    assert "1 variant(s) keep a Sharpe ratio significant at 95 %" in "\n".join(sig)


def test_the_distribution_figure_draws_every_variant_with_a_distribution(
    study: ModuleType, tmp_path: Path
) -> None:
    cycle = _variant(study, "cycle", "cycle", [10_000, 10_500], choices=[9_000.0, 11_000.0])
    study_runs = study.bootstrap([cycle], runs=50, seed=1)
    assert study_runs == {}  # no trades: nothing to resample
    cycle.extra["bootstrap"] = np.array([9_500.0, 10_200.0, 10_800.0])
    bench = _variant(study, "buy and hold BTCUSDT", "benchmark", [10_000, 10_100])
    path = tmp_path / "montecarlo.png"
    study.plot_finals([cycle, bench], path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    study.plot_finals([bench], tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()  # nothing to draw, no empty figure


def test_figures_of_a_wiped_out_or_very_short_curve(study: ModuleType) -> None:
    index = pd.date_range("2024-05-01", periods=3, freq="1h", tz="UTC")
    gone = study.figures(pd.Series([10_000.0, 5_000.0, 0.0], index=index))
    assert gone["total_return"] == -1.0
    assert np.isnan(gone["cagr"])
    assert gone["max_drawdown"] == -1.0
    doubled = study.figures(pd.Series([10_000.0, 15_000.0, 20_000.0], index=index))
    assert doubled["cagr"] == np.inf  # doubling every two hours, annualised
