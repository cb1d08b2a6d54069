"""``tradewind backtest`` of a session of agents: summary, run folder, trade book."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tradewind.backtest.session_run import run_session_backtest
from tradewind.cli.app import main
from tradewind.config import load_config
from tradewind.data.store import CandleStore
from tradewind.data.synthetic import generate_market, write_market

AGENTS = """
[data]
exchange = "synthetic"
timeframe = "1h"

[[agents]]
name = "cr-long-1h"
strategy = "channel_run"
side = "long"
timeframe = "1h"
params = { lookback = 48, entry = "edge", goal = "mid", min_reward_risk = 0.3 }
selection = { pairs = 4 }

[[agents]]
name = "tf-short-4h"
strategy = "trail_fractals"
side = "short"
timeframe = "4h"
params = { width = 5, target_r = 2.0 }
selection = { pairs = 4 }
dry_run_switch = true
"""


@pytest.fixture
def agents_home(home: Path) -> Path:
    market = generate_market(pairs=6, timeframe="1h", days=40, seed=5)
    write_market(market, CandleStore(home / "data", "synthetic"))
    (home / "tradewind.toml").write_text(AGENTS)
    return home


def test_session_backtest_is_deterministic_and_balances(agents_home: Path) -> None:
    settings = load_config(agents_home / "tradewind.toml", environ={})
    a = run_session_backtest(settings, save=False)
    b = run_session_backtest(settings, save=False)
    pd.testing.assert_frame_equal(a.trades, b.trades)
    pd.testing.assert_frame_equal(a.equity, b.equity)
    t = a.trades
    assert set(t["agent"]) == {"cr-long-1h", "tf-short-4h"}
    assert set(t.loc[t["agent"] == "tf-short-4h", "side"]) == {-1}
    closed = t[(t["status"] == "closed") & (t["kind"] == "real")]
    assert len(closed) > 5
    # R multiple = P/L over the initial risk, on every closed trade.
    risk = closed["qty"] * (closed["entry_price"] - closed["initial_stop"]).abs()
    np.testing.assert_allclose(closed["r_multiple"], closed["pnl"] / risk, rtol=1e-12)
    final = a.summary["metrics"]["final_equity"]
    assert final == pytest.approx(settings.session.capital + closed["pnl"].sum(), rel=1e-9)
    per_agent = {r["agent"]: r for r in a.summary["agents"]}
    assert per_agent["cr-long-1h"]["real_trades"] == int((closed["agent"] == "cr-long-1h").sum())


def test_cli_backtest_runs_the_session_and_saves_it_to_the_trade_book(
    agents_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        main(["backtest", "--config", str(agents_home / "tradewind.toml"), "--json", "--quiet"])
    assert done.value.code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["trader"] == "session"
    run_dir = Path(summary["run_dir"])
    assert run_dir.name.split("-")[1] == "session"
    assert (run_dir / "agents.parquet").exists()
    saved = pd.read_parquet(run_dir / "trades.parquet")
    with pytest.raises(SystemExit):
        main(["trades", "list", "--agent", "tf-short-4h", "--limit", "10000", "--json"])
    rows = json.loads(capsys.readouterr().out)["trades"]
    mine = saved[saved["agent"] == "tf-short-4h"]
    assert len([r for r in rows if r["kind"] != "tracked"]) == len(mine)
    assert {r["timeframe"] for r in rows} == {"4h"}
    real = [r for r in rows if r["kind"] == "real" and r["status"] == "closed"]
    assert real
    assert all(r["r_multiple"] is not None and r["initial_stop"] for r in real)
    # The cycle trader is still one option away, and a session without agents is refused.
    with pytest.raises(SystemExit) as done:
        main(["backtest", "--trader", "session", "--json", "--quiet"])
    assert done.value.code == 3
    assert "declares no [[agents]]" in capsys.readouterr().err
