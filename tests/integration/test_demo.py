"""``tradewind demo``: the whole pipeline on a small synthetic market and on real data.

The demo only chains the commands' own code, so the checks are that every step ran and
wrote what it says, that the report covers them, and that the demo's backtest is the
backtest ``tradewind backtest`` gives on the same data, trade for trade.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest

from tests.unit.cli.test_cli import run
from tradewind.cli.demo import DEMO_AGENTS

pytestmark = pytest.mark.slow

STEPS = ["market", "train", "backtest cycle", "backtest session", "monte carlo", "replay", "report"]


def _ask_the_dashboard(home: Path, seen: dict[str, object]) -> None:
    """Wait for the replay's server to say where it is, then ask it as a browser would."""
    info = home / "api-demo.json"
    deadline = time.monotonic() + 120
    while not info.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    if not info.exists():
        return
    url = json.loads(info.read_text())["url"]
    token = (home / "api-token").read_text().strip()
    seen["url"] = url
    seen["page"] = httpx.get(url, timeout=10).status_code
    seen["status"] = httpx.get(
        f"{url}api/status", headers={"Authorization": f"Bearer {token}"}, timeout=10
    ).json()


def _small_market(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEWIND__SYNTH__PAIRS", "6")
    monkeypatch.setenv("TRADEWIND__SYNTH__DAYS", "45")
    monkeypatch.setenv("TRADEWIND__LIVE__HISTORY", "20d")
    monkeypatch.setenv("TRADEWIND__API__PORT", "0")


def test_demo_runs_every_step_and_reports_them(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _small_market(monkeypatch)
    seen: dict[str, object] = {}
    watcher = threading.Thread(target=_ask_the_dashboard, args=(home, seen), daemon=True)
    watcher.start()
    code, out, err = run(capsys, "demo", "--runs", "12", "--replay-days", "1", "--json")
    watcher.join(timeout=30)
    assert code == 0, err
    demo = json.loads(out)
    assert [s["step"] for s in demo["steps"]] == STEPS
    assert all(s["seconds"] >= 0 and s["what"] for s in demo["steps"])
    # progress bars on stderr, throughout
    for bar in (
        "train",
        "backtest: cycle trader",
        "backtest: session of agents",
        "Monte Carlo: 12 runs",
        "replay: the node",
        "report",
    ):
        assert bar in err
    # the market
    market = demo["market"]
    assert (market["exchange"], market["timeframe"], market["pairs"]) == ("synthetic", "5m", 6)
    assert demo["synthetic_market"]["reused"] is False
    # training: every model the config names was trained or skipped with a reason
    names = {m["name"] for m in demo["train"]["models"]} | {
        s["name"] for s in demo["train"]["skipped"]
    }
    assert "cycle trader nominator" in names
    assert "agent channel-run-long-1h technical" in names
    assert demo["train"]["note"]
    # the session of agents is the demo's own when the config has none
    assert [a["agent"] for a in demo["session"]["agents"]] == [a["name"] for a in DEMO_AGENTS]
    assert demo["session"]["trader"] == "session"
    # Monte Carlo: the runs asked for, each in the study's table
    mc = demo["montecarlo"]
    assert mc["runs"] == 12
    assert len(pd.read_parquet(Path(mc["folder"]) / "runs.parquet")) == 12
    # the replay: one tick per 5-minute candle of the last day, the dashboard up meanwhile
    replay = demo["replay"]
    assert replay["node"] == "demo"
    assert 288 <= replay["ticks"] <= 289
    assert replay["dashboard"].startswith("http://127.0.0.1:")
    # while the replay ran, its dashboard answered with the node's status
    assert seen.get("url") == replay["dashboard"], seen
    assert seen["page"] == 200
    assert seen["status"]["served_by"] == "node"
    assert seen["status"]["node"] == "demo"
    assert not (home / "api-demo.json").exists()  # gone with the server
    assert pd.Timestamp(replay["end"]) == pd.Timestamp(market["end"]) + pd.Timedelta("5min")
    # the report: one page over every step, its figures beside it
    report = Path(demo["report"])
    assert report.resolve() == home / "demo" / "report.html"
    page = report.read_text()
    for title in (
        "What ran",
        "Models trained",
        "Cycle trader: metrics",
        "Cycle trader: equity and drawdown",
        "Agents: metrics",
        "Agents: agents",
        "Monte Carlo: percentiles",
        "Replay of the live node",
    ):
        assert f"<h2>{title}</h2>" in page, title
    assert (home / "demo" / "figures" / "cycle_equity.png").is_file()
    assert (home / "demo" / "figures" / "session_equity.png").is_file()
    saved = json.loads((home / "demo" / "demo.json").read_text())
    assert saved["report"] == demo["report"]
    # each run and study folder has its own report too
    for folder in (demo["cycle"]["run_dir"], demo["session"]["run_dir"], mc["folder"]):
        assert (Path(folder) / "report.html").is_file()

    # The demo's backtest is `tradewind backtest` on the same market: trade for trade.
    code, out, err = run(capsys, "backtest", "--trader", "cycle", "--json", "--quiet")
    assert code == 0, err
    alone = json.loads(out)
    assert alone["metrics"] == demo["cycle"]["metrics"]
    ours = pd.read_parquet(Path(demo["cycle"]["run_dir"]) / "trades.parquet")
    theirs = pd.read_parquet(Path(alone["run_dir"]) / "trades.parquet")
    pd.testing.assert_frame_equal(ours, theirs)


def test_demo_refuses_a_replay_without_history(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _small_market(monkeypatch)
    monkeypatch.setenv("TRADEWIND__SYNTH__DAYS", "12")
    code, _, err = run(capsys, "demo", "--runs", "2", "--no-api", "--quiet")
    assert code == 4
    assert "live.history (20d)" in err
    assert "--replay-days" in err


def test_demo_on_real_data(
    home: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    shared_data: Path,
) -> None:
    pairs = [
        "BTCUSDT",
        "ETHUSDT",
        "AVAXUSDT",
        "SOLUSDT",
        "XRPUSDT",
        "LTCUSDT",
        "DOGEUSDT",
        "LINKUSDT",
    ]
    monkeypatch.setenv("TRADEWIND__DATA__PAIRS", json.dumps(pairs))
    args = [
        "demo",
        "--data-dir",
        str(shared_data),
        "--exchange",
        "binance",
        "--timeframe",
        "1h",
        "--start",
        "2024-02-01",
        "--end",
        "2024-05-01",
        "--runs",
        "10",
        "--replay-days",
        "2",
        "--no-api",
        "--json",
        "--quiet",
    ]
    code, out, err = run(capsys, *args)
    assert code == 0, err
    demo = json.loads(out)
    assert "synthetic_market" not in demo
    market = demo["market"]
    assert (market["exchange"], market["timeframe"], market["pairs"]) == ("binance", "1h", 8)
    assert market["start"].startswith("2024-02-01")
    assert demo["cycle"]["data"]["exchange"] == "binance"
    assert demo["replay"]["ticks"] in (48, 49)
    assert demo["replay"].get("dashboard") is None
    assert Path(demo["report"]).is_file()
    # nothing was written into the data folder
    assert not (shared_data / "binance" / "1h" / ".tradewind").exists()
