"""The test exchange's account and order endpoints, through the real ccxt client: fills on
its candles, Binance's filters, fees and client-order-id rule, signatures and the faults
a live node must survive."""

from __future__ import annotations

from collections.abc import Iterator

import ccxt
import numpy as np
import pandas as pd
import pytest

from tradewind.testing.exchange_server import AccountSpec, ExchangeServer, Fault, binance_client

T0 = pd.Timestamp("2024-01-01", tz="UTC")
STEP = pd.Timedelta("5min")


def _frame(opens: list[float], highs: list[float], lows: list[float]) -> pd.DataFrame:
    closes = opens  # flat candles: the moves are in the highs, lows and gaps
    return pd.DataFrame(
        {
            "timestamp": pd.date_range(T0, periods=len(opens), freq="5min"),
            "open": opens,
            "high": highs,
            "low": lows,
            "close": closes,
            "volume": [1000.0] * len(opens),
        }
    )


# BTC: flat at 100 for 10 candles, then a dip to 94 (candle 10), a gap down to 90 (candle
# 12), and a rise to 110 (candle 14).
_OPEN = [100.0] * 10 + [100.0, 96.0, 90.0, 91.0, 100.0, 108.0] + [108.0] * 4
_HIGH = [100.5] * 10 + [100.2, 96.5, 90.8, 100.0, 110.0, 108.5] + [108.5] * 4
_LOW = [99.5] * 10 + [94.0, 95.5, 89.0, 90.5, 99.0, 107.5] + [107.5] * 4
FRAMES = {
    ("BTCUSDT", "5m"): _frame(_OPEN, _HIGH, _LOW),
    ("BNBUSDT", "5m"): _frame([300.0] * 20, [301.0] * 20, [299.0] * 20),
}


def at(candle: int, seconds: int = 10) -> pd.Timestamp:
    """Just after the open of ``candle`` (when the previous one has closed)."""
    return T0 + candle * STEP + pd.Timedelta(seconds=seconds)


@pytest.fixture
def server() -> Iterator[ExchangeServer]:
    spec = AccountSpec(balances={"USDT": 1000.0, "BNB": 0.0}, fee=0.001, spread=0.0)
    with ExchangeServer(FRAMES, now=at(5), account=spec) as srv:
        yield srv


@pytest.fixture
def ex(server: ExchangeServer) -> ccxt.binance:
    client = binance_client(server)
    client.load_markets()
    return client


def test_a_market_buy_fills_at_the_current_open_with_the_fee_in_base(
    server: ExchangeServer, ex: ccxt.binance
) -> None:
    order = ex.create_order("BTC/USDT", "market", "buy", 2.0, params={"newClientOrderId": "t1"})
    assert order["status"] == "closed"
    assert order["filled"] == 2.0
    assert order["average"] == pytest.approx(100.0)
    assert order["fee"] == {"currency": "BTC", "cost": pytest.approx(0.002)}
    total = ex.fetch_balance()["total"]
    assert total["BTC"] == pytest.approx(1.998)  # what is really there: fee taken in base
    assert total["USDT"] == pytest.approx(800.0)
    trades = ex.fetch_my_trades("BTC/USDT")
    assert [(t["price"], t["amount"]) for t in trades] == [(100.0, 2.0)]
    # Asked by its client order id, as a node does after a timeout.
    again = ex.fetch_order(None, "BTC/USDT", params={"origClientOrderId": "t1"})
    assert again["id"] == order["id"]
    assert again["status"] == "closed"


def test_a_resting_limit_fills_at_its_price_when_a_candle_reaches_it(
    server: ExchangeServer, ex: ccxt.binance
) -> None:
    order = ex.create_order("BTC/USDT", "limit", "buy", 1.0, 95.0)
    assert order["status"] == "open"
    assert ex.fetch_balance()["USDT"]["used"] == pytest.approx(95.0)
    server.set_now(at(10))  # candle 10 (low 94) has not closed yet
    assert ex.fetch_order(order["id"], "BTC/USDT")["status"] == "open"
    server.set_now(at(11))
    filled = ex.fetch_order(order["id"], "BTC/USDT")
    assert filled["status"] == "closed"
    assert filled["average"] == pytest.approx(95.0)
    assert ex.fetch_balance()["total"]["USDT"] == pytest.approx(905.0)


def test_a_stop_loss_limit_triggers_at_its_stop_or_at_a_gapping_open(
    server: ExchangeServer, ex: ccxt.binance
) -> None:
    ex.create_order("BTC/USDT", "market", "buy", 3.0)
    amount = 0.999  # what is left of each BTC after the fee, one order per stop
    touch = ex.create_order(
        "BTC/USDT", "STOP_LOSS_LIMIT", "sell", amount, 95.0, params={"stopPrice": 96.0}
    )
    gap = ex.create_order(
        "BTC/USDT", "STOP_LOSS_LIMIT", "sell", amount, 85.0, params={"stopPrice": 92.0}
    )
    below = ex.create_order(
        "BTC/USDT", "STOP_LOSS_LIMIT", "sell", amount, 91.0, params={"stopPrice": 92.0}
    )
    assert ex.fetch_balance()["BTC"]["used"] == pytest.approx(3 * amount)
    server.set_now(at(13))  # candles 10 (low 94), 11 and 12 (gap open 90) have closed
    assert ex.fetch_order(touch["id"], "BTC/USDT")["average"] == pytest.approx(96.0)
    assert ex.fetch_order(gap["id"], "BTC/USDT")["average"] == pytest.approx(90.0)
    # Its limit (91) is above the gap's open: it rests as a limit order until the price
    # comes back (candle 13 reaches 100).
    assert ex.fetch_order(below["id"], "BTC/USDT")["status"] == "open"
    server.set_now(at(14))
    back = ex.fetch_order(below["id"], "BTC/USDT")
    assert back["status"] == "closed"
    assert back["average"] == pytest.approx(91.0)


def test_binance_rule_on_client_order_ids(server: ExchangeServer, ex: ccxt.binance) -> None:
    ex.create_order("BTC/USDT", "limit", "buy", 1.0, 90.0, params={"newClientOrderId": "e1"})
    with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent"):
        ex.create_order("BTC/USDT", "limit", "buy", 1.0, 90.0, params={"newClientOrderId": "e1"})
    # Once filled, the same id is accepted again: a blind retry can buy twice.
    ex.create_order("BTC/USDT", "market", "buy", 1.0, params={"newClientOrderId": "m1"})
    ex.create_order("BTC/USDT", "market", "buy", 1.0, params={"newClientOrderId": "m1"})
    assert server.account is not None
    assert server.account.placed == 3


def test_cancel_open_orders_and_unknown_orders(server: ExchangeServer, ex: ccxt.binance) -> None:
    order = ex.create_order("BTC/USDT", "limit", "buy", 1.0, 90.0, params={"newClientOrderId": "c"})
    assert [o["clientOrderId"] for o in ex.fetch_open_orders("BTC/USDT")] == ["c"]
    assert ex.cancel_order(order["id"], "BTC/USDT")["status"] == "canceled"
    assert ex.fetch_open_orders("BTC/USDT") == []
    assert ex.fetch_balance()["USDT"]["used"] == pytest.approx(0.0)
    with pytest.raises(ccxt.OrderNotFound):
        ex.cancel_order(order["id"], "BTC/USDT")
    with pytest.raises(ccxt.OrderNotFound):
        ex.fetch_order(None, "BTC/USDT", params={"origClientOrderId": "never-sent"})


def test_filters_and_balance_are_enforced(server: ExchangeServer, ex: ccxt.binance) -> None:
    assert server.account is not None
    with pytest.raises(ccxt.InsufficientFunds):
        ex.create_order("BTC/USDT", "market", "buy", 20.0)
    # ccxt classifies Binance's -1013 as a bad request (LOT_SIZE as an invalid order).
    with pytest.raises(ccxt.BadRequest, match="NOTIONAL"):
        ex.create_order("BTC/USDT", "market", "buy", 0.01)
    raw = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "1.000001"}
    with pytest.raises(ccxt.InvalidOrder, match="LOT_SIZE"):
        ex.privatePostOrder(raw)
    assert server.account.placed == 0
    assert ex.fetch_balance()["total"]["USDT"] == pytest.approx(1000.0)


def test_requests_must_be_signed_with_the_account_keys(server: ExchangeServer) -> None:
    wrong = binance_client(server, secret="not-the-secret")  # noqa: S106 - a wrong key
    wrong.load_markets()
    with pytest.raises(ccxt.AuthenticationError, match="Signature"):
        wrong.fetch_balance()
    stranger = binance_client(server, apiKey="someone-else")
    stranger.load_markets()
    with pytest.raises(ccxt.AuthenticationError):
        stranger.fetch_balance()


def test_faults_a_live_node_must_survive(server: ExchangeServer, ex: ccxt.binance) -> None:
    assert server.account is not None
    # The order is placed, but its answer is lost: the client sees a timeout.
    server.faults.push(Fault.lost_response(0.0))
    with pytest.raises(ccxt.RequestTimeout):
        ex.create_order("BTC/USDT", "market", "buy", 1.0, params={"newClientOrderId": "lost"})
    assert server.account.placed == 1
    found = ex.fetch_order(None, "BTC/USDT", params={"origClientOrderId": "lost"})
    assert found["status"] == "closed"
    # A partial fill: a market order's rest expires.
    server.faults.push(Fault.partial_fill(0.5))
    part = ex.create_order("BTC/USDT", "market", "buy", 2.0)
    assert part["filled"] == pytest.approx(1.0)
    assert part["status"] == "expired"
    # A rejection with Binance's code.
    server.faults.push(Fault.reject(-1013, "Filter failure: NOTIONAL"))
    with pytest.raises(ccxt.BadRequest, match="NOTIONAL"):
        ex.create_order("BTC/USDT", "market", "buy", 1.0)
    # 5xx and 429 before the order: nothing is placed.
    server.faults.push(
        Fault.server_error(503, endpoint="order"), Fault.rate_limit(endpoint="order")
    )
    with pytest.raises(ccxt.ExchangeNotAvailable):
        ex.create_order("BTC/USDT", "market", "buy", 1.0)
    with pytest.raises(ccxt.DDoSProtection):
        ex.create_order("BTC/USDT", "market", "buy", 1.0)
    assert server.account.placed == 2


def test_fees_in_bnb_at_a_quarter_off_when_there_is_bnb() -> None:
    spec = AccountSpec(
        balances={"USDT": 1000.0, "BNB": 1.0}, fee=0.001, bnb_fees=True, bnb_price=300.0,
        spread=0.0,
    )
    with ExchangeServer(FRAMES, now=at(5), account=spec) as srv:
        ex = binance_client(srv)
        ex.load_markets()
        order = ex.create_order("BTC/USDT", "market", "buy", 2.0)
        assert order["fee"]["currency"] == "BNB"
        assert order["fee"]["cost"] == pytest.approx(0.001 * 0.75 * 200.0 / 300.0)
        total = ex.fetch_balance()["total"]
        assert total["BTC"] == pytest.approx(2.0)  # the whole amount: the fee was in BNB
        assert total["BNB"] == pytest.approx(1.0 - 0.0005)
        assert np.isclose(total["USDT"], 800.0)
