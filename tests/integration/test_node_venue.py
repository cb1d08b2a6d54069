"""The live node against the local exchange through the real ccxt client: the model's
trades become orders, every order is in the book before it is sent, positions keep a
stop resting at the exchange, and the book's fills add up to the account's balances."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from tests.unit.live.test_node import ENV, START
from tradewind.config import load_config
from tradewind.data.store import CandleStore
from tradewind.data.synthetic import generate_market, write_market
from tradewind.live.broker import held_of
from tradewind.live.clock import SimClock
from tradewind.live.node import CycleNode
from tradewind.live.run import replay
from tradewind.store.repository import TradeBook
from tradewind.testing.exchange_server import AccountSpec, ExchangeServer, binance_client
from tradewind.venues.ccxt_venue import CcxtVenue

END = pd.Timestamp("2024-02-08", tz="UTC")


@pytest.fixture
def market(home: Path) -> Path:
    write_market(
        generate_market(pairs=6, timeframe="1h", days=40, seed=5),
        CandleStore(home / "data", "synthetic"),
    )
    return home


def _server(home: Path, clock: SimClock, **spec: object) -> ExchangeServer:
    account = AccountSpec(balances={"USDT": 20_000.0}, **spec)  # type: ignore[arg-type]
    return ExchangeServer(
        CandleStore(home / "data", "synthetic"),
        timeframes=["1h"],
        now=lambda: clock.now(),
        weight_limit=10**9,  # a replay fires a day of ticks in a second of wall time
        account=account,
    )


def _venue(server: ExchangeServer) -> CcxtVenue:
    return CcxtVenue(binance_client(server, enableRateLimit=False), sleep=lambda _s: None)


def test_a_live_replay_trades_at_the_exchange_as_the_model_decides(market: Path) -> None:
    settings = load_config(environ=ENV)
    clock = SimClock(START)
    with _server(market, clock) as server:
        result = replay(settings, START, END, venue=_venue(server), clock=clock)
        account = server.account
        assert account is not None
        at_exchange = {o.client_id: o for o in account.orders.values()}
        balances = {b["asset"]: float(b["free"]) + float(b["locked"]) for b in account.balances()}
        lots = {s: server.market.spec(s).step_size for s in server.market.symbols()}
    assert result.safe is None  # reconciliation found the book and the account agreeing
    with TradeBook(settings.book_url) as book:
        trades = book.trades(run_id=result.run_id)
        orders = book.orders(run_id=result.run_id)
        rows = book.node_orders(result.run_id)
    real = trades[(trades["kind"] == "real") & trades["entry_at"].notna()]
    assert len(real) >= 8
    # Every real trade the model entered has its entry order, sent or (entered and exited
    # between two ticks) recorded as skipped; nothing else was ever sent.
    entries = orders[orders["role"] == "entry"]
    assert set(entries["trade_id"]) == set(real["id"])
    assert orders["client_order_id"].is_unique
    sent = orders[~orders["status"].isin(["skipped"])]
    assert set(sent["client_order_id"]) == set(at_exchange)
    assert account.placed == len(at_exchange)  # no order twice
    for _, o in sent.iterrows():
        theirs = at_exchange[o["client_order_id"]]
        assert o["filled"] == pytest.approx(theirs.executed, rel=1e-12, abs=1e-12)
    # Protective stops rest at the exchange, and they followed the trailing stop.
    stops = orders[orders["role"].str.match(r"s\d+$")]
    assert (stops["type"] == "stop_loss_limit").all()
    assert (stops["role"] != "s1").any()  # at least one stop was replaced as it trailed
    # A trade the model closed is flat at the exchange but for dust below one lot.
    by_trade: dict[int, list[dict[str, object]]] = {}
    for r in rows:
        by_trade.setdefault(int(r["trade_no"]), []).append(r)  # type: ignore[arg-type]
    # The model's reinvestment legs are bought too: a trade with n legs whose entry filled
    # has its leg<n> order (sent, or skipped when below the exchange's minimum).
    legged = real[real["legs"] > 1]
    assert len(legged) >= 1
    for _, t in legged.iterrows():
        mine = by_trade[int(t["trade_no"])]
        entry = next(r for r in mine if r["role"] == "entry")
        if float(entry["filled"] or 0) > 0:
            assert f"leg{int(t['legs'])}" in {r["role"] for r in mine}, t["trade_no"]
    assert any(r["role"].startswith("leg") and r["status"] == "closed" for r in rows)
    # An open position holds the model's quantity, legs included, less the exchange's fee
    # in the base asset and the lot-step rounding of each order.
    for _, t in real[real["status"] == "active"].iterrows():
        mine = by_trade[int(t["trade_no"])]
        base = str(t["pair"]).removesuffix("USDT")
        step = lots[str(t["pair"])]
        want = float(t["qty"]) * (1 - 0.001)
        assert held_of(mine, base) == pytest.approx(want, abs=step * int(t["legs"]) + 1e-9)
    closed = real[real["status"] == "closed"]
    for _, t in closed.iterrows():
        mine = by_trade.get(int(t["trade_no"]), [])
        base = str(t["pair"]).removesuffix("USDT")
        assert held_of(mine, base) == pytest.approx(
            sum(float(r["dust"] or 0) for r in mine if str(r["role"]).startswith("x")), abs=1e-9
        )
    # Each position still open has exactly one stop resting at the exchange, at the
    # model's stop.
    open_real = real[real["status"] == "active"]
    resting = [o for o in at_exchange.values() if o.status in ("NEW", "PARTIALLY_FILLED")]
    assert len(resting) == len(open_real)
    # The account holds what the book's fills say (base asset by base asset).
    for asset, total in balances.items():
        if asset == "USDT":
            continue
        held = sum(
            held_of(rs, asset)
            for rs in by_trade.values()
            if str(rs[0]["pair"]).removesuffix("USDT") == asset
        )
        assert total == pytest.approx(held, abs=1e-9), asset


class Crash(BaseException):
    """The process dying at one chosen moment (not an error anything catches)."""


@pytest.mark.parametrize("sent", [False, True], ids=["before-sending", "after-sending"])
def test_a_crash_around_an_order_neither_loses_nor_doubles_it(
    market: Path, monkeypatch: pytest.MonkeyPatch, sent: bool
) -> None:
    """The intent is in the book before the request: a node that dies before sending
    sends it on restart; one that dies after the exchange took it finds it there and
    sends nothing."""
    settings = load_config(environ=ENV)
    clock = SimClock(START)
    real_place = CcxtVenue.place
    crashed: list[str] = []

    def place(self: CcxtVenue, intent: object) -> object:
        if not crashed:
            crashed.append(intent.client_id)  # type: ignore[attr-defined]
            if sent:
                real_place(self, intent)  # type: ignore[arg-type]
            raise Crash
        return real_place(self, intent)  # type: ignore[arg-type]

    with _server(market, clock) as server:
        monkeypatch.setattr(CcxtVenue, "place", place)
        with pytest.raises(Crash):
            replay(settings, START, END, venue=_venue(server), clock=clock)
        (cid,) = crashed
        with TradeBook(settings.book_url) as book:
            (row,) = [r for r in book.node_orders(1) if r["client_order_id"] == cid]
        assert row["status"] == "intent"  # in the book, fate unknown
        account = server.account
        assert account is not None
        assert account.placed == (1 if sent else 0)
        result = replay(settings, START, END, venue=_venue(server), clock=clock)
        at_exchange = Counter(o.client_id for o in account.orders.values())
    assert result.safe is None
    assert at_exchange[cid] == 1  # sent exactly once, whichever side of the crash
    assert max(at_exchange.values()) == 1
    with TradeBook(settings.book_url) as book:
        (row,) = [r for r in book.node_orders(result.run_id) if r["client_order_id"] == cid]
    assert row["status"] != "intent"
    assert float(row["filled"]) > 0


def test_flatten_sells_every_position_cancels_every_order_and_stays_safe(market: Path) -> None:
    settings = load_config(environ=ENV)
    clock = SimClock(START)
    held_at = pd.Timestamp("2024-01-10 12:00", tz="UTC")  # positions are open then
    with _server(market, clock) as server:
        replay(settings, START, held_at, venue=_venue(server), clock=clock)
        account = server.account
        assert account is not None
        assert account.open_orders(None)  # open positions with their stops resting
        with CycleNode(settings, source="replay", clock=clock, venue=_venue(server)) as node:
            report = node.flatten()
        assert report["placed"] >= 1
        assert report["cancelled"] >= 1
        assert not report["problems"]
        assert not account.open_orders(None)
        # What is left of each base asset is dust below one lot.
        with TradeBook(settings.book_url) as book:
            rows = book.node_orders(node.run_id or 0)
        lots = {s: server.market.spec(s).step_size for s in server.market.symbols()}
        for b in account.balances():
            if b["asset"] != "USDT":
                step = max(lots[f"{b['asset']}USDT"], 1e-12)
                assert float(b["free"]) + float(b["locked"]) < step
        assert all(r["status"] != "open" for r in rows)
        # A restart stays in safe mode: nothing new is bought.
        placed = account.placed
        later = held_at + pd.Timedelta(days=3)
        result = replay(settings, START, later, venue=_venue(server), clock=clock)
        assert result.safe is not None
        assert "flatten" in result.safe
        new = [o for o in account.orders.values() if o.side == "BUY"][placed:]
        assert not new


def test_an_order_the_book_does_not_know_puts_the_node_in_safe_mode_between_ticks(
    market: Path,
) -> None:
    settings = load_config(environ=ENV)
    clock = SimClock(START)
    held_at = pd.Timestamp("2024-01-10 12:00", tz="UTC")
    with _server(market, clock) as server:
        replay(settings, START, held_at, venue=_venue(server), clock=clock)
        with CycleNode(settings, source="replay", clock=clock, venue=_venue(server)) as node:
            assert node.reconcile() is not None
            assert node.safe is None  # the book and the account agree
            # Someone places an order by hand in the node's account.
            ex = binance_client(server, enableRateLimit=False)
            ex.load_markets()
            symbol = next(iter(ex.markets))
            spec = server.market.spec(symbol.replace("/", ""))
            price = spec.round_price(float(ex.fetch_ticker(symbol)["last"]) * 0.5)
            qty = spec.round_qty(2 * max(spec.min_notional, 10.0) / price + spec.step_size)
            ex.create_order(symbol, "limit", "buy", qty, price)
            report = node.reconcile()
            assert report is not None
            assert any("unknown open order" in p for p in report["problems"])
            assert node.safe is not None
        # Saved at once: a restart stays safe.
        with CycleNode(settings, source="replay", clock=clock, venue=_venue(server)) as again:
            assert again.safe is not None
