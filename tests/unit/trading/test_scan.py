"""``tradewind scan``: a pass per cron tick, idempotent per candle, equal to one long run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tradewind.cli.app import main
from tradewind.config import load_config
from tradewind.data.panel import load_panel
from tradewind.data.store import CandleStore
from tradewind.data.synthetic import generate_market, write_market
from tradewind.engine.records import Kind
from tradewind.errors import StateError
from tradewind.store.repository import TradeBook
from tradewind.trading.scan import scan
from tradewind.trading.session import Session

CONFIG = """
[data]
exchange = "synthetic"
timeframe = "1h"

[session]
open_risk_cap = 0.04

[[agents]]
name = "cr-long-1h"
strategy = "channel_run"
side = "long"
timeframe = "1h"
params = { lookback = 48, entry = "edge", goal = "mid", min_reward_risk = 0.3 }
selection = { pairs = 4 }

[[agents]]
name = "tf-long-4h"
strategy = "trail_fractals"
side = "long"
timeframe = "4h"
selection = { pairs = 4 }
"""
T0 = pd.Timestamp("2024-01-01", tz="UTC")


@pytest.fixture
def paper(home: Path) -> Path:
    market = generate_market(pairs=5, timeframe="1h", days=20, seed=8)
    write_market(market, CandleStore(home / "data", "synthetic"))
    (home / "tradewind.toml").write_text(CONFIG)
    return home


def _settings(home: Path, extra: str = ""):  # type: ignore[no-untyped-def]
    if extra:
        (home / "extra.toml").write_text(CONFIG + extra)
        return load_config(home / "extra.toml", environ={})
    return load_config(home / "tradewind.toml", environ={})


def test_a_second_pass_on_the_same_candle_opens_nothing(paper: Path) -> None:
    settings = _settings(paper)
    now = T0 + pd.Timedelta(days=8, minutes=7)
    first = scan(settings, now=now, execute=True)
    assert first.candles == 1
    assert not first.resumed
    assert first.last_candle == T0 + pd.Timedelta(days=7, hours=23)
    with TradeBook(settings.book_url) as book:
        before = book.count("trades"), book.count("orders"), book.count("ledger")
    again = scan(settings, now=now + pd.Timedelta(minutes=8), execute=True)
    assert again.candles == 0
    assert again.setups == []
    with TradeBook(settings.book_url) as book:
        assert (book.count("trades"), book.count("orders"), book.count("ledger")) == before
    # A pass without --execute saves nothing, however many candles it sees.
    later = scan(settings, now=now + pd.Timedelta(days=2), execute=False)
    assert later.candles == 48
    with TradeBook(settings.book_url) as book:
        assert (book.count("trades"), book.count("orders"), book.count("ledger")) == before
        assert book.session_state("paper").clock == T0 + pd.Timedelta(days=7, hours=23)


def test_passes_every_15_minutes_trade_like_one_long_run(paper: Path) -> None:
    settings = _settings(paper)
    start = T0 + pd.Timedelta(days=6)
    now = start + pd.Timedelta(hours=1, minutes=3)
    stop = T0 + pd.Timedelta(days=10)
    passes = 0
    while now < stop:
        scan(settings, now=now, execute=True)
        now += pd.Timedelta(minutes=15) if passes % 7 else pd.Timedelta(hours=5)  # and gaps
        passes += 1
    with TradeBook(settings.book_url) as book:
        state = book.session_state("paper")
        assert state is not None
        saved = book.trades(run_id=state.run_id)
        orders = book.orders(run_id=state.run_id)
    # One long run over the same candles, from the first pass's candle to the last one's.
    store = CandleStore(paper / "data", "synthetic")
    panel = load_panel(store, None, "1h", end=pd.Timestamp(state.clock))
    one = Session(
        panel,
        settings.agents,
        session=settings.session,
        lifecycle=settings.lifecycle,
        fills=settings.fills,
        start=int(np.searchsorted(panel.timestamps, start.value)),
        close_at_end=False,
    )
    one.run()
    tr = one.trades[: one.n_trades]
    mine = saved[saved["kind"] != "tracked"].sort_values("trade_no")
    assert len(mine) == len(tr) > 10
    np.testing.assert_array_equal(
        mine["qty"].to_numpy(), np.where(tr["entry_t"] >= 0, tr["qty"], tr["target_qty"])
    )
    entered = tr["entry_t"] >= 0
    np.testing.assert_allclose(
        mine["entry_price"].to_numpy()[entered], tr["entry_price"][entered], rtol=0, atol=0
    )
    assert (mine["kind"].to_numpy() == np.where(tr["kind"] == Kind.REAL, "real", "sim")).all()
    # Every filled real trade has its entry order; every closed one its exit.
    real = mine[(mine["kind"] == "real") & mine["entry_at"].notna()]
    assert (orders["role"] == "entry").sum() == len(real)
    assert (orders["role"] == "exit").sum() == (real["status"] == "closed").sum()
    assert orders["client_order_id"].is_unique


def test_a_saved_session_refuses_a_changed_agent_list(paper: Path) -> None:
    now = T0 + pd.Timedelta(days=8)
    scan(_settings(paper), now=now, execute=True)
    more = """
[[agents]]
name = "tf-short-1d"
strategy = "trail_fractals"
side = "short"
timeframe = "1d"
"""
    with pytest.raises(StateError, match="agents cannot change"):
        scan(_settings(paper, more), now=now + pd.Timedelta(hours=3), execute=True)
    fresh = scan(_settings(paper, more), now=now + pd.Timedelta(hours=3), execute=True, reset=True)
    assert not fresh.resumed


def test_cli_scan_json_and_live_is_refused(paper: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = str(paper / "tradewind.toml")
    with pytest.raises(SystemExit) as done:
        main(["scan", "--config", cfg, "--now", "2024-01-09 00:05", "--execute", "--json"])
    assert done.value.code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["executed"] is True
    assert report["due"] == {"1h": "2024-01-08T23:00:00+00:00", "4h": "2024-01-08T20:00:00+00:00"}
    with pytest.raises(SystemExit) as done:
        main(["scan", "--config", cfg, "--live"])
    assert done.value.code == 3
    assert "paper venue only" in capsys.readouterr().err


def test_a_pass_that_fails_while_saving_leaves_the_previous_pass_whole(
    paper: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tradewind.store import repository

    settings = _settings(paper)
    now = T0 + pd.Timedelta(days=8)
    scan(settings, now=now, execute=True)
    with TradeBook(settings.book_url) as book:
        before = book.session_state("paper")
        counts = book.count("trades"), book.count("orders"), book.count("ledger")
    real = repository._insert_rows

    def crash(conn, table, rows):  # type: ignore[no-untyped-def]
        if table is repository.ORDERS:
            raise repository.SQLAlchemyError("disk full")
        real(conn, table, rows)

    monkeypatch.setattr(repository, "_insert_rows", crash)
    with pytest.raises(StateError, match="disk full"):
        scan(settings, now=now + pd.Timedelta(days=1), execute=True)
    monkeypatch.setattr(repository, "_insert_rows", real)
    with TradeBook(settings.book_url) as book:
        assert (book.count("trades"), book.count("orders"), book.count("ledger")) == counts
        after = book.session_state("paper")
        assert after is not None
        assert before is not None
        assert (after.clock, after.payload) == (before.clock, before.payload)
    # ...and the next pass picks up where the last saved one ended.
    again = scan(settings, now=now + pd.Timedelta(days=1), execute=True)
    assert again.resumed
    assert again.candles == 24
    # trades show lists a trade's orders.
    with TradeBook(settings.book_url) as book:
        orders = book.orders(run_id=again.run_id)
    trade_id = int(orders["trade_id"].iloc[0])
    with pytest.raises(SystemExit):
        main(["trades", "show", str(trade_id), "--config", str(paper / "tradewind.toml"), "--json"])
    shown = json.loads(capsys.readouterr().out)
    assert {o["role"] for o in shown["orders"]} >= {"entry"}
