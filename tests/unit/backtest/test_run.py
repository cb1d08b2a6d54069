"""Backtest runs: determinism, run folder, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tradewind.backtest.run import run_backtest
from tradewind.cli.app import main
from tradewind.config import load_config
from tradewind.data.store import CandleStore
from tradewind.data.synthetic import generate_market, write_market

SMALL = {
    "TRADEWIND__SYNTH__PAIRS": "6",
    "TRADEWIND__SYNTH__DAYS": "40",
    "TRADEWIND__SYNTH__TIMEFRAME": "1h",
    "TRADEWIND__DATA__TIMEFRAME": "1h",
    "TRADEWIND__CYCLE__NOMINATOR_PARAMS": '{"lookback": "24h", "volume_lookback": "3d"}',
}


@pytest.fixture
def small_market(home: Path) -> Path:
    market = generate_market(pairs=6, timeframe="1h", days=40, seed=5)
    write_market(market, CandleStore(home / "data", "synthetic"))
    return home


def test_same_config_data_and_seed_give_an_identical_result(small_market: Path) -> None:
    settings = load_config(environ=SMALL)
    a = run_backtest(settings, save=False)
    b = run_backtest(settings, save=False)
    pd.testing.assert_frame_equal(a.trades, b.trades)
    pd.testing.assert_frame_equal(a.equity, b.equity)
    pd.testing.assert_frame_equal(a.ledger, b.ledger)
    assert a.summary["metrics"] == b.summary["metrics"]
    assert a.summary["data"]["fingerprint"] == b.summary["data"]["fingerprint"]
    assert len(a.trades) > 10
    # the random choice of K among the nominated pairs follows the seed
    luck = {
        **SMALL,
        "TRADEWIND__CYCLE__NOMINATOR": "random",
        "TRADEWIND__CYCLE__PAIRS_PER_CYCLE": "2",
        "TRADEWIND__CYCLE__NOMINATOR_PARAMS": "{}",
    }
    one = run_backtest(load_config(environ=luck), save=False)
    same = run_backtest(load_config(environ=luck), save=False)
    other = run_backtest(load_config(environ={**luck, "TRADEWIND__SEED": "7"}), save=False)
    pd.testing.assert_frame_equal(one.trades, same.trades)
    assert not other.trades["pair"].equals(one.trades["pair"])


def test_the_equity_curve_ends_at_capital_plus_realised_pnl(small_market: Path) -> None:
    result = run_backtest(load_config(environ=SMALL), save=False)
    real = result.trades.loc[
        (result.trades["kind"] == "real") & (result.trades["status"] == "closed")
    ]
    capital = result.summary["capital"]
    assert result.equity["equity"].iloc[-1] == pytest.approx(capital + real["pnl"].sum())
    pools = result.summary["final_pools"]
    assert sum(pools.values()) == pytest.approx(capital + real["pnl"].sum())
    assert pools["active"] == pytest.approx(0.0, abs=1e-6)


def test_cli_backtest_writes_a_complete_run_folder(
    small_market: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in SMALL.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SystemExit) as done:
        main(["backtest", "--json", "--quiet"])
    assert done.value.code == 0
    summary = json.loads(capsys.readouterr().out)
    run_dir = Path(summary["run_dir"])
    assert run_dir.resolve().parent == (small_market / "runs").resolve()
    for name in ("trades", "tracked", "equity", "ledger", "cycles"):
        assert (run_dir / f"{name}.parquet").is_file()
    saved = json.loads((run_dir / "summary.json").read_text())
    assert saved["config_hash"] == summary["config_hash"]
    assert saved["seed"] == 42
    assert saved["data"]["fingerprint"] == summary["data"]["fingerprint"]
    config = json.loads((run_dir / "config.json").read_text())
    assert config["hash"] == summary["config_hash"]
    assert config["config"]["cycle"]["pairs_per_cycle"] == 5
    trades = pd.read_parquet(run_dir / "trades.parquet")
    assert set(trades["kind"]) <= {"real", "sim"}
    assert summary["metrics"]["trades_real"] == int(
        ((trades["kind"] == "real") & (trades["status"] == "closed")).sum()
    )
    with pytest.raises(SystemExit) as done:
        main(["config", "show", "--json"])
    assert json.loads(capsys.readouterr().out)["hash"] == summary["config_hash"]


def test_backtest_without_candles_explains_what_to_do(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        main(["backtest", "--exchange", "binance", "--timeframe", "1h"])
    assert done.value.code == 4
    assert "no candles" in capsys.readouterr().err


def test_too_little_history_for_the_nominator_is_explained(small_market: Path) -> None:
    from tradewind.errors import DataError

    settings = load_config(environ={**SMALL, "TRADEWIND__BACKTEST__END": "2024-01-03"})
    with pytest.raises(DataError, match=r"momentum nominator needs 71 1h candles.*has 49"):
        run_backtest(settings, save=False)


def test_a_saved_backtest_lands_in_the_trade_book_and_the_cli_reads_it(
    small_market: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key, value in SMALL.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SystemExit):
        main(["backtest", "--json", "--quiet"])
    summary = json.loads(capsys.readouterr().out)
    run_id = summary["trade_book"]["run_id"]
    closed_real = summary["metrics"]["trades_real"]
    with pytest.raises(SystemExit) as done:
        main(
            ["trades", "list", "--run", str(run_id), "--kind", "real", "--limit", "1000", "--json"]
        )
    assert done.value.code == 0
    rows = json.loads(capsys.readouterr().out)["trades"]
    assert sum(r["status"] == "closed" for r in rows) == closed_real
    first = rows[0]["id"]
    with pytest.raises(SystemExit):
        main(["trades", "show", str(first), "--json"])
    shown = json.loads(capsys.readouterr().out)
    assert shown["id"] == first
    assert shown["run_id"] == run_id
    out = tmp_path / "trades.parquet"
    with pytest.raises(SystemExit) as done:
        main(["trades", "export", str(out), "--format", "parquet", "--run", str(run_id)])
    assert done.value.code == 0
    exported = pd.read_parquet(out)
    saved = pd.read_parquet(Path(summary["run_dir"]) / "trades.parquet")
    tracked = pd.read_parquet(Path(summary["run_dir"]) / "tracked.parquet")
    assert len(exported) == len(saved) + len(tracked)
    assert (exported["kind"] == "tracked").sum() == len(tracked)
