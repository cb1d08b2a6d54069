"""What the status API's control endpoints ask of a node: close one trade at the next
candle's open, switch one agent between dry run and live, pause and resume. Each is
carried out by the trade kernel (one implementation for backtest, paper and live),
saved at once, and survives a restart."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.unit.live.test_node import ENV, START
from tradewind.config import load_config
from tradewind.data.store import CandleStore
from tradewind.data.synthetic import generate_market, write_market
from tradewind.engine.records import Status
from tradewind.errors import StateError
from tradewind.live.clock import SimClock
from tradewind.live.node import CycleNode
from tradewind.live.run import replay
from tradewind.store.repository import TradeBook

AGENTS = """
[[agents]]
name = "cr-long"
strategy = "channel_run"
side = "long"
timeframe = "1h"
params = {lookback = 48}
"""
MID = pd.Timestamp("2024-01-20", tz="UTC")
END = pd.Timestamp("2024-01-26", tz="UTC")
HOUR = pd.Timedelta("1h")


@pytest.fixture
def settings(home: Path):  # type: ignore[no-untyped-def]
    write_market(
        generate_market(pairs=6, timeframe="1h", days=40, seed=5),
        CandleStore(home / "data", "synthetic"),
    )
    config = home.parent / "agents.toml"
    config.write_text(AGENTS, encoding="utf-8")
    return load_config(config, environ=ENV)


def _tick_until(node: CycleNode, at: pd.Timestamp) -> None:
    t = pd.Timestamp(int(node.market.panel.timestamps[node.market.rows - 1]), tz="UTC")
    while t + HOUR < at:
        t += HOUR
        node.clock.set(t + HOUR)  # type: ignore[attr-defined]
        node.tick(t + HOUR)


def _open_real(book: TradeBook, run_id: int | None, status: str) -> pd.DataFrame:
    trades = book.trades(run_id=run_id, kind="real")
    return trades[trades["status"] == status]


def test_a_trade_closed_from_the_api_exits_at_the_next_open_and_stays_closed(
    settings: object,
) -> None:
    replay(settings, START, MID)  # type: ignore[arg-type]
    clock = SimClock(MID)
    with CycleNode(settings, source="replay", clock=clock) as node:  # type: ignore[arg-type]
        # a cycle trader's trade in a position, and one agent's
        _tick_until(node, MID + 12 * HOUR)
        with TradeBook(settings.book_url) as book:  # type: ignore[attr-defined]
            mine = _open_real(book, node.run_id, "active")
            theirs = _open_real(book, node.agents.run_id, "active")  # type: ignore[union-attr]
        tries = 0
        while (mine.empty or theirs.empty) and tries < 400:
            _tick_until(node, clock.now() + HOUR)
            with TradeBook(settings.book_url) as book:  # type: ignore[attr-defined]
                mine = _open_real(book, node.run_id, "active")
                theirs = _open_real(book, node.agents.run_id, "active")  # type: ignore[union-attr]
            tries += 1
        assert not mine.empty
        assert not theirs.empty
        targets = [int(mine["id"].iloc[0]), int(theirs["id"].iloc[0])]
        next_row = node.trader.next_t
        for book_id in targets:
            ok, detail = node.close_trade(book_id)
            assert ok, detail
        with pytest.raises(StateError, match="no trade with id"):
            node.close_trade(10**9)
    # saved at once: a node started again carries the request out
    with CycleNode(settings, source="replay", clock=clock) as node:  # type: ignore[arg-type]
        stamp = int(node.market.panel.timestamps[node.market.rows - 1])
        node.tick(pd.Timestamp(stamp, tz="UTC") + 2 * HOUR)
        with TradeBook(settings.book_url) as book:  # type: ignore[attr-defined]
            rows = [book.trade(i) for i in targets]
        open_ = node.market.market.open
        symbols = list(node.market.panel.symbols)
        slip = settings.fills.slippage  # type: ignore[attr-defined]
        for row in rows:
            assert row["status"] == "closed"
            assert row["exit_reason"] == "manual"
            exit_t = pd.Timestamp(row["exit_at"])
            assert exit_t == pd.Timestamp(int(node.market.panel.timestamps[next_row]), tz="UTC")
            p = symbols.index(row["pair"])
            side = row["side"]
            want = open_[p, next_row] * (1 - slip * side)
            assert row["exit_price"] == pytest.approx(want, rel=1e-12)
        # a closed trade cannot be closed again
        ok, detail = node.close_trade(targets[0])
        assert not ok
        assert "not open" in detail


def test_a_pending_nomination_closed_from_the_api_is_cancelled(settings: object) -> None:
    replay(settings, START, MID)  # type: ignore[arg-type]
    clock = SimClock(MID)
    with CycleNode(settings, source="replay", clock=clock) as node:  # type: ignore[arg-type]
        pending = np.flatnonzero(
            (node.trader.trades["status"][: node.trader.n_trades] == Status.PENDING)
            & (node.trader.trades["kind"][: node.trader.n_trades] == 0)
        )
        tries = 0
        while len(pending) == 0 and tries < 100:
            _tick_until(node, clock.now() + 2 * HOUR)
            tr = node.trader.trades[: node.trader.n_trades]
            pending = np.flatnonzero((tr["status"] == Status.PENDING) & (tr["kind"] == 0))
            tries += 1
        assert len(pending)
        with TradeBook(settings.book_url) as book:  # type: ignore[attr-defined]
            book_id = book.trade_id(node.run_id, int(pending[0]))  # type: ignore[arg-type]
        ok, _ = node.close_trade(book_id)
        assert ok
        _tick_until(node, clock.now() + 2 * HOUR)
        with TradeBook(settings.book_url) as book:  # type: ignore[attr-defined]
            row = book.trade(book_id)
        assert row["status"] == "expired"
        assert row["exit_reason"] == "manual"
        assert row["entry_at"] is None
        # its reserved capital went back as an expiry's does, once
        with TradeBook(settings.book_url) as book:  # type: ignore[attr-defined]
            ledger = book.table("ledger", run_id=node.run_id)
        back = ledger[(ledger["trade_no"] == int(pending[0])) & (ledger["reason"] == "expire")]
        assert len(back) == 1
        assert back["amount"].iloc[0] == pytest.approx(row["alloc"])
        assert back["src"].iloc[0] == "pre_trade"


def test_an_agent_switched_to_dry_run_trades_on_paper_until_switched_back(
    settings: object,
) -> None:
    replay(settings, START, MID)  # type: ignore[arg-type]
    clock = SimClock(MID)
    with CycleNode(settings, source="replay", clock=clock) as node:  # type: ignore[arg-type]
        ok, _ = node.set_agent_mode("cr-long", "dry_run")
        assert ok
        with pytest.raises(StateError, match="no agent 'nobody'"):
            node.set_agent_mode("nobody", "dry_run")
        switched = clock.now()
    with CycleNode(settings, source="replay", clock=clock) as node:  # type: ignore[arg-type]
        _tick_until(node, END)  # a restart keeps it in dry run
        with TradeBook(settings.book_url) as book:  # type: ignore[attr-defined]
            trades = book.trades(run_id=node.agents.run_id)  # type: ignore[union-attr]
            modes = book.table("mode_changes", run_id=node.agents.run_id)  # type: ignore[union-attr]
        after = trades[(trades["nominated_at"] > switched) & (trades["kind"] != "tracked")]
        assert len(after) > 3
        assert set(after["kind"]) == {"sim"}  # no real trade while in dry run
        assert (after["sim_reason"] == "dry_run").sum() > 3
        assert modes["reason"].tolist()[-1] == "switched from the API"
        assert modes["to_mode"].tolist()[-1] == "dry_run"
        ok, _ = node.set_agent_mode("cr-long", "live")
        assert ok
        back = clock.now()
        _tick_until(node, END + 4 * 24 * HOUR)
        with TradeBook(settings.book_url) as book:  # type: ignore[attr-defined]
            trades = book.trades(run_id=node.agents.run_id)  # type: ignore[union-attr]
        later = trades[(trades["nominated_at"] > back) & (trades["kind"] == "real")]
        assert len(later) > 0


def test_a_state_saved_before_the_close_field_existed_still_loads() -> None:
    from numpy.lib.recfunctions import drop_fields

    from tradewind.engine.records import TRADE_DTYPE, new_trades
    from tradewind.trading.state import dump_state, load_state

    trades = new_trades(3)
    trades["id"] = [0, 1, 2]
    trades["entry_price"] = [1.5, 2.5, 3.5]
    old = drop_fields(trades, "close_t", usemask=False, asrecarray=False)
    assert "close_t" not in (old.dtype.names or ())
    got = load_state(dump_state({"trades": old}))["trades"]
    assert got.dtype == TRADE_DTYPE
    assert got["close_t"].tolist() == [-1, -1, -1]  # never asked to close
    assert got["id"].tolist() == [0, 1, 2]
    assert got["entry_price"].tolist() == [1.5, 2.5, 3.5]
    newer = np.zeros(2, dtype=[*TRADE_DTYPE.descr, ("from_the_future", "<i8")])
    with pytest.raises(StateError, match="from_the_future"):
        load_state(dump_state({"trades": newer}))


def test_a_node_started_afresh_keeps_its_old_paper_orders_and_writes_new_ones(
    settings: object,
) -> None:
    """Trade numbers start again in a node's new run (``--reset``): the paper venue's
    order ids carry the run, so both runs' orders are in the book, each once."""
    first = replay(settings, START, MID)  # type: ignore[arg-type]
    second = replay(settings, START, MID, reset=True)  # type: ignore[arg-type]
    assert first.agents_run_id != second.agents_run_id
    with TradeBook(settings.book_url) as book:  # type: ignore[attr-defined]
        old = book.orders(run_id=first.agents_run_id)
        new = book.orders(run_id=second.agents_run_id)
    assert len(old) > 0
    # the same market and config: the same trades, so as many orders, under other ids
    assert len(new) == len(old)
    assert set(old["client_order_id"]).isdisjoint(new["client_order_id"])
    assert all(f"-r{first.agents_run_id}-" in c for c in old["client_order_id"])
