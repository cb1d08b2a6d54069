"""The study commands end to end through the CLI: optimize, montecarlo and report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.unit.backtest.test_run import SMALL
from tests.unit.cli.test_cli import run
from tradewind.data.store import CandleStore
from tradewind.data.synthetic import generate_market, write_market


@pytest.fixture
def market(home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key, value in {**SMALL, "TRADEWIND__CYCLE__NOMINATOR": "momentum"}.items():
        monkeypatch.setenv(key, value)
    write_market(
        generate_market(pairs=6, timeframe="1h", days=60, seed=11),
        CandleStore(home / "data", "synthetic"),
    )
    return home


def test_optimize_then_report_through_the_cli(
    market: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        capsys, "optimize", "--trials", "3", "--min-trades", "5", "--json", "--quiet"
    )
    assert code == 0, err
    result = json.loads(out)
    assert result["objective"] == "sharpe"
    assert result["regime_model"] is None  # none trained: one cluster, the whole market
    assert [c["cluster"] for c in result["clusters"]] == [0]
    folder = Path(result["folder"])
    assert (folder / "optimize.json").exists()
    assert Path(result["report"]) == folder / "report.html"

    # A bad objective is a usage error naming the option's value, not a traceback.
    code, _, err = run(capsys, "optimize", "--objective", "sortino", "--json", "--quiet")
    assert code != 0
    assert "sortino" in err

    code, out, err = run(capsys, "report", str(folder), "--no-png", "--json")
    assert code == 0, err
    payload = json.loads(out)
    assert payload["kind"] == "optimize"
    assert payload["figures"] is None


def test_montecarlo_through_the_cli_resumes(
    market: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("montecarlo", "--runs", "3", "--jobs", "1", "--json", "--quiet")
    code, out, err = run(capsys, *args)
    assert code == 0, err
    first = json.loads(out)
    assert first["runs"] == 3
    assert 0.0 <= first["probability_of_loss"] <= 1.0
    assert first["resumed"] == 0
    assert first["workers"] == {"jobs": 1, "start": "in process", "cluster": None}
    journal = Path(first["folder"], "runs.jsonl")
    lines = journal.read_text(encoding="utf-8").splitlines(keepends=True)
    assert len(lines) == 3
    journal.write_text("".join(lines[:2]), encoding="utf-8")  # interrupted before the last
    code, out, _ = run(capsys, *args)
    again = json.loads(out)
    assert again["resumed"] == 2
    assert again["workers"]["jobs"] == 1  # the one missing run
    assert again["percentiles"] == first["percentiles"]
    # A shorter study in the same folder takes its runs from the journal and keeps the rest.
    code, out, _ = run(capsys, "montecarlo", "--runs", "2", "--jobs", "1", "--json", "--quiet")
    assert json.loads(out)["resumed"] == 2
    assert len(journal.read_text(encoding="utf-8").splitlines()) == 3


@pytest.mark.slow
def test_the_tradewind_command_forks_its_workers_warm(market: Path) -> None:
    """The installed console script, as a user runs it: its main module is harmless to
    import again, so ``auto`` forks the workers from the preloaded forkserver."""
    import subprocess
    import sys

    script = Path(sys.executable).with_name("tradewind")
    if not script.exists():
        pytest.skip(f"no tradewind console script next to {sys.executable}")
    args = [str(script), "montecarlo", "--runs", "4", "--jobs", "2", "--json", "--quiet"]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["workers"] == {"jobs": 2, "start": "forkserver", "cluster": None}
    assert summary["runs"] == 4


def test_sizing_comparison_through_the_cli(
    market: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("montecarlo", "--compare-sizing", "--runs", "2", "--jobs", "1", "--json", "--quiet")
    code, out, err = run(capsys, *args)
    assert code == 0, err
    result = json.loads(out)
    assert [r["sizing"] for r in result["table"]] == ["equal", "inverse_volatility", "kelly"]
    journal = Path(result["folder"], "runs.jsonl")
    assert len(journal.read_text(encoding="utf-8").splitlines()) == 6  # 3 sizings x 2 seeds
    code, again, _ = run(capsys, *args)
    assert json.loads(again)["table"] == result["table"]
