"""``tradewind train`` end to end on a small synthetic market, and the models commands."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tradewind.cli.app import main
from tradewind.data.store import CandleStore
from tradewind.data.synthetic import generate_market, write_market

CONFIG = """
[data]
exchange = "synthetic"
timeframe = "1h"

[ml]
min_samples = 50
select_k = 15
model_params = { n_estimators = 40, min_samples_leaf = 10 }

[[agents]]
name = "tf-long-1h"
strategy = "trail_fractals"
side = "long"
timeframe = "1h"
selection = { pairs = 6 }
models = { technical = "latest", risk = "latest", performance = "latest" }

[[agents]]
name = "cr-long-4h"
strategy = "channel_run"
side = "long"
timeframe = "4h"
params = { lookback = 30 }
"""


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> dict:  # type: ignore[type-arg]
    with pytest.raises(SystemExit) as done:
        main(list(args))
    out, err = capsys.readouterr()
    assert done.value.code == 0, err
    result: dict = json.loads(out)  # type: ignore[type-arg]
    return result


def test_train_registers_models_and_the_registry_commands_manage_them(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADEWIND__ML__TECHNICAL_PER_REGIME", "true")
    market = generate_market(pairs=6, timeframe="1h", days=70, seed=3, signal=1.0)
    write_market(market, CandleStore(home / "data", "synthetic"))
    cfg = home / "tradewind.toml"
    cfg.write_text(CONFIG)
    report = _run(capsys, "train", "--config", str(cfg), "--json", "--quiet")
    names = {m["name"] for m in report["models"]} | {s["name"] for s in report["skipped"]}
    assert {
        "cycle trader nominator",
        "agent tf-long-1h technical",
        "agent tf-long-1h risk",
    } <= names
    assert not any("cr-long-4h" in n for n in names)  # it names no model
    regime = [m for m in report["models"] if m["role"] == "regime"]
    assert len(regime) == 1
    k = int(regime[0]["name"].split("k = ")[1].rstrip(")"))
    per_regime = {n for n in names if "regime " in n and "nominator" in n}
    assert len(per_regime) == k  # one nominator per regime (trained or skipped, said so)
    technical = {n for n in names if "regime " in n and "technical" in n}
    assert len(technical) == k  # and one technical model per regime for the agent
    assert report["models"], report["skipped"]
    for m in report["models"]:
        if m["role"] in ("regime", "performance"):
            continue
        assert m["test"]["rows"] > 0
        assert 0.0 <= m["test"]["roc_auc"] <= 1.0
        assert ("beats its baseline" in m["verdict"]) == m["promoted"]
    listed = _run(capsys, "models", "list", "--config", str(cfg), "--json")["models"]
    assert {c["id"] for c in listed} == {m["id"] for m in report["models"]}
    one = report["models"][0]
    shown = _run(capsys, "models", "show", one["id"], "--config", str(cfg), "--json")
    assert shown["features"]
    assert shown["versions"]["scikit-learn"]
    assert shown["metrics"]["split"]["train"] > 0
    promoted = _run(capsys, "models", "promote", one["id"], "--config", str(cfg), "--json")
    assert promoted["latest"] is True
    again = _run(
        capsys,
        "models",
        "prune",
        "--role",
        one["role"],
        "--scope",
        one["scope"],
        "--keep",
        "0",
        "--config",
        str(cfg),
        "--json",
    )
    assert again["removed"] == []  # the only one is latest: never pruned


def test_backtests_use_the_latest_models_or_say_they_run_without(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tradewind.backtest.run import run_backtest
    from tradewind.backtest.session_run import run_session_backtest
    from tradewind.config import load_config
    from tradewind.errors import ConfigError
    from tradewind.ml.registry import Registry

    market = generate_market(pairs=6, timeframe="1h", days=70, seed=3, signal=1.0)
    write_market(market, CandleStore(home / "data", "synthetic"))
    cfg = home / "tradewind.toml"
    cfg.write_text(CONFIG)
    settings = load_config(cfg, environ={})
    # No model yet: the session runs unfiltered and says so; the cycle trader falls back.
    before = run_session_backtest(settings, save=False)
    assert before.summary["models"] == {}
    assert any("not filtered by one" in n for n in before.summary["model_notes"])
    assert "momentum" in run_backtest(settings, save=False).summary["nominator"]
    strict = load_config(cfg, environ={"TRADEWIND__ML__REQUIRE_MODELS": "true"})
    with pytest.raises(ConfigError, match="no promoted technical model"):
        run_session_backtest(strict, save=False)
    # Train, then promote whatever was trained (the test is about use, not quality).
    monkeypatch.setenv("TRADEWIND__ML__TECHNICAL_PER_REGIME", "true")
    report = _run(capsys, "train", "--config", str(cfg), "--json", "--quiet")
    with Registry(home / "models", settings.book_url) as reg:
        for m in report["models"]:
            reg.promote(m["id"])
    ids = {m["scope"]: m["id"] for m in report["models"] if m["role"] in ("nominator", "technical")}
    after = run_session_backtest(settings, save=False)
    if any(m["scope"].startswith("tf-long-1h.r") for m in report["models"]):
        assert any("routed to" in n for n in after.summary["model_notes"])
    perf = [m for m in report["models"] if m["role"] == "performance"]
    if perf:  # promoted above: the allocation uses it and says so
        assert any(
            n.startswith(f"performance model {perf[0]['id']}") for n in after.summary["model_notes"]
        )
    assert after.summary["models"]["tf-long-1h"] == ids["tf-long-1h"]
    assert "regime model" in run_backtest(settings, save=False).summary["nominator"] or not any(
        m["scope"].startswith("cycle.r") for m in report["models"]
    )
    vetoed = sum(
        int(n.split(" vetoed ")[1].split(" of ")[0])
        for n in after.summary["model_notes"]
        if " vetoed " in n
    )
    sims = after.trades[after.trades["sim_reason"] == "model"]
    assert len(sims) <= vetoed  # a vetoed setup may be skipped (pair taken), or vetoed twice
    assert len(sims) > 0 or vetoed == 0
    assert set(sims["agent"]) <= {"tf-long-1h"}
    cycle = run_backtest(settings, save=False).summary["nominator"]
    assert cycle.startswith(f"nominator: model {ids['cycle']}")


def test_walkforward_scores_each_window_with_a_model_that_never_saw_it(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    market = generate_market(pairs=6, timeframe="1h", days=70, seed=4, signal=1.0)
    write_market(market, CandleStore(home / "data", "synthetic"))
    cfg = home / "tradewind.toml"
    cfg.write_text(CONFIG)
    report = _run(
        capsys,
        "walkforward",
        "--config",
        str(cfg),
        "--train",
        "20d",
        "--test",
        "10d",
        "--json",
        "--quiet",
    )
    names = [m["name"] for m in report["models"]]
    assert names == ["cycle trader nominator", "agent tf-long-1h technical"]
    for m in report["models"]:
        scored = [w for w in m["windows"] if "auc" in w]
        assert scored, m["windows"]
        for w in m["windows"]:
            assert w["train"][1] <= w["test"][0]  # trained strictly before its test window
        tests = [w["test"] for w in m["windows"]]
        assert all(a[1] == b[0] for a, b in zip(tests, tests[1:], strict=False))  # stitched
        assert m["oos"]["rows"] == sum(w["test_rows"] for w in scored)
    bt = report["models"][0]["backtest"]
    assert {"model_return", "baseline_return", "deflated_sharpe", "pbo"} <= set(bt)
    assert 0.0 <= bt["deflated_sharpe"] <= 1.0
    assert "session_backtest" in report
    # The study folder keeps the report, both equity curves and the HTML report of them.
    folder = Path(report["folder"])
    assert json.loads((folder / "walkforward.json").read_text())["train"] == "20d"
    for name in ("cycle", "session"):
        curves = pd.read_parquet(folder / f"equity_{name}.parquet")
        assert list(curves.columns) == ["with the models", "baseline"]
        # ... and the trades of the run with the models, whose P/L is that run's gain (the
        # backtest closes every position at the data's end)
        trades = pd.read_parquet(folder / f"trades_{name}.parquet")
        real = trades[trades["kind"] == "real"]
        assert len(real) > 0
        gain = curves["with the models"].iloc[-1] - 10_000.0
        assert real["pnl"].sum() == pytest.approx(gain, abs=0.01)
    page = Path(report["report"]).read_text(encoding="utf-8")
    assert 'id="chart-wf_equity_cycle"' in page
    assert 'id="chart-wf_equity_session"' in page
