"""The node on paper against an exchange: ``tradewind run``'s job on the wall clock
downloads the candles that closed (from the local exchange, through ccxt) and trades them
on the simulated venue."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tradewind.config import load_config
from tradewind.data.store import CandleStore
from tradewind.data.synthetic import generate_market, write_market
from tradewind.domain.types import utc_now
from tradewind.live.node import Tick
from tradewind.live.run import run_paper, update_candles
from tradewind.store.repository import TradeBook
from tradewind.testing.exchange_server import ExchangeServer


class Stop(Exception):
    """Ends the node after its first tick (as Ctrl-C would)."""


def test_a_paper_node_downloads_what_closed_and_trades_it(home: Path) -> None:
    now = utc_now()
    hour = now.floor("1h")
    # 40 days of 1h candles up to the one still open now, on the exchange.
    start = hour - pd.Timedelta(days=40)
    market = generate_market(pairs=4, timeframe="1h", start=start, days=41, seed=9)
    served = CandleStore(home / "exchange", "binance")
    write_market(market, served)
    # The node's own store has them up to three hours ago: the first job fetches the rest.
    local = CandleStore(home / "data", "binance")
    for symbol, frame in market.frames.items():
        local.write(symbol, "1h", frame[frame["timestamp"] < hour - pd.Timedelta(hours=3)])
    ticks: list[Tick] = []

    def first(tick: Tick) -> None:
        ticks.append(tick)
        raise Stop

    # The exchange's clock stays at ``now`` (the test must not depend on an hour turning).
    with ExchangeServer(served, timeframes=["1h"], now=now) as server:
        settings = load_config(
            environ={
                "TRADEWIND__HOME": str(home),
                "TRADEWIND__DATA__EXCHANGE": "binance",
                "TRADEWIND__DATA__TIMEFRAME": "1h",
                "TRADEWIND__EXCHANGE__API_URL": server.api_url,
                "TRADEWIND__CYCLE__NOMINATOR": "momentum",
                "TRADEWIND__LIVE__HISTORY": "20d",
            }
        )
        with pytest.raises(Stop):
            run_paper(settings, update=lambda: update_candles(settings), on_tick=first)
    (tick,) = ticks
    # The job downloaded the three candles that closed since the node's store ended, and
    # its tick read them all (the last: the one that closed on this hour).
    for symbol in market.frames:
        assert local.read(symbol, "1h")["timestamp"].iloc[-1] == hour - pd.Timedelta(hours=1)
    assert tick.candles == 3
    assert tick.last_candle == hour - pd.Timedelta(hours=1)
    with TradeBook(settings.book_url) as book:
        saved = book.session_state(settings.live.name)
        runs = book.runs()
    assert saved is not None
    assert saved.source == "paper"
    assert (runs["source"] == "paper").any()
