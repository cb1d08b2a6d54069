"""Ensembles live (seed §5.2): K cycle traders in one node, each with 1/K of the capital
and its own seed, each trading as its own backtest would."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.unit.live.test_node import COLUMNS, ENV, START, _backtest, _book_trades, market
from tradewind.config import load_config
from tradewind.errors import StateError
from tradewind.live.ensemble import member_settings
from tradewind.live.run import replay
from tradewind.store.repository import TradeBook

__all__ = ["market"]  # the fixture

END = pd.Timestamp("2024-01-30", tz="UTC")


def test_an_ensemble_runs_k_traders_each_as_its_own_backtest(
    market: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_config(environ={**ENV, "TRADEWIND__LIVE__ENSEMBLE": "3"})
    # Stopped, a crash between two members' saves, then a restart: still one run each.
    replay(settings, START, pd.Timestamp("2024-01-15", tz="UTC"))
    real = TradeBook.save_node_tick
    calls = {"n": 0}

    def flaky(self: TradeBook, **kw: object) -> int:
        calls["n"] += 1
        if calls["n"] == 3 * 20 + 2:  # the second member's save, 21 ticks on
            raise RuntimeError("power cut")
        return real(self, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(TradeBook, "save_node_tick", flaky)
    with pytest.raises(RuntimeError, match="power cut"):
        replay(settings, START, END)
    monkeypatch.setattr(TradeBook, "save_node_tick", real)
    result = replay(settings, START, END)
    assert len(result.member_run_ids) == 3
    assert len(set(result.member_run_ids)) == 3
    total, compared = 0.0, 0
    for cfg, run_id in zip(member_settings(settings, 3), result.member_run_ids, strict=True):
        assert cfg.cycle.capital == pytest.approx(settings.cycle.capital / 3)
        got = _book_trades(settings, run_id)
        want = _backtest(cfg, START)
        want = want[want["nominated_time"] < END - pd.Timedelta("1h")]
        closed = (want["exit_time"] < END - pd.Timedelta("1h")).to_numpy()
        assert closed.sum() >= 1
        compared += int(closed.sum())
        for col, theirs in COLUMNS.items():
            a = got[col].to_numpy()[: len(want)][closed]
            b = want[theirs].to_numpy()[closed]
            if col in ("entry_at", "exit_at"):
                assert list(pd.to_datetime(a, utc=True)) == list(pd.to_datetime(b, utc=True))
            elif a.dtype.kind == "f":
                np.testing.assert_allclose(a, b.astype(float), rtol=0, atol=0, err_msg=col)
            else:
                assert list(a) == list(b), col
        with TradeBook(settings.book_url) as book:
            summary = book.runs().set_index("id").loc[run_id, "summary"]
        total += float(json.loads(str(summary))["equity"])
    assert compared >= 5
    assert result.equity == pytest.approx(total)  # the node's equity: the members' sum
    # The members are independent: their seeds differ, so do their choices.
    picks = [tuple(_book_trades(settings, r)["pair"]) for r in result.member_run_ids]
    assert len(set(picks)) > 1


def test_an_ensembles_members_start_together(market: Path) -> None:
    settings = load_config(environ={**ENV, "TRADEWIND__LIVE__ENSEMBLE": "2"})
    one = load_config(environ=ENV)
    replay(one, START, START + pd.Timedelta(days=2), name="node-e2")  # a stray member
    with pytest.raises(StateError, match="members start together"):
        replay(settings, START + pd.Timedelta(days=1), START + pd.Timedelta(days=3))


def test_an_ensemble_builds_its_decision_inputs_once_for_all_members(
    market: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tradewind.backtest.run as backtest_run

    real = backtest_run.decision_inputs
    rows: list[int] = []

    def counted(settings: object, panel: object) -> object:
        rows.append(len(panel.timestamps))  # type: ignore[attr-defined]
        return real(settings, panel)  # type: ignore[arg-type]

    monkeypatch.setattr(backtest_run, "decision_inputs", counted)
    # "auto" without a promoted model: the momentum nominator, rebuilt before decisions.
    env = {**ENV, "TRADEWIND__LIVE__ENSEMBLE": "3", "TRADEWIND__CYCLE__NOMINATOR": "auto"}
    result = replay(load_config(environ=env), START, START + pd.Timedelta(days=6))
    assert rows  # rebuilt before decision ticks ...
    assert len(rows) == len(set(rows))  # ... once per tick, not once per member
    assert result.decided
