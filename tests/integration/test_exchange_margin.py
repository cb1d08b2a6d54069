"""The test exchange's cross-margin account through the real ccxt client: a short borrows
what it sells, pays interest for every hour begun, and a buy with auto-repay pays the
interest and the loan back; resting stops, queries and cancels go to the margin
endpoints."""

from __future__ import annotations

from collections.abc import Iterator

import ccxt
import pandas as pd
import pytest

from tradewind.testing.exchange_server import AccountSpec, ExchangeServer, binance_client

T0 = pd.Timestamp("2024-01-01", tz="UTC")
HOURS = 12
RATE = 0.0024  # a day: 0.0001 an hour begun
CROSS = {"marginMode": "cross"}


def _frame() -> pd.DataFrame:
    opens = [100.0] * 6 + [110.0] * (HOURS - 6)  # a rise at hour 6 that stops a short
    return pd.DataFrame(
        {
            "timestamp": pd.date_range(T0, periods=HOURS, freq="1h"),
            "open": opens,
            "high": [o + 0.5 for o in opens],
            "low": [o - 0.5 for o in opens],
            "close": opens,
            "volume": [1000.0] * HOURS,
        }
    )


class Clock:
    def __init__(self) -> None:
        self.now = T0 + pd.Timedelta(minutes=10)

    def __call__(self) -> pd.Timestamp:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def server(clock: Clock) -> Iterator[ExchangeServer]:
    spec = AccountSpec(
        balances={"USDT": 1000.0},
        margin={"USDT": 5000.0},
        margin_rate=RATE,
        fee=0.001,
        spread=0.0,
    )
    with ExchangeServer({("BTCUSDT", "1h"): _frame()}, now=clock, account=spec) as srv:
        yield srv


@pytest.fixture
def ex(server: ExchangeServer) -> ccxt.binance:
    client = binance_client(server)
    client.load_markets()
    return client


def _margin(ex: ccxt.binance) -> dict[str, dict[str, float]]:
    raw = ex.fetch_balance({"type": "margin"})["info"]["userAssets"]
    return {a["asset"]: {k: float(v) for k, v in a.items() if k != "asset"} for a in raw}


def test_a_short_borrows_pays_interest_by_the_hour_and_is_repaid(
    server: ExchangeServer, ex: ccxt.binance, clock: Clock
) -> None:
    sold = ex.create_order(
        "BTC/USDT",
        "market",
        "sell",
        2.0,
        params={**CROSS, "sideEffectType": "MARGIN_BUY", "newClientOrderId": "short-1"},
    )
    assert sold["filled"] == 2.0
    book = _margin(ex)
    assert book["BTC"]["borrowed"] == pytest.approx(2.0)
    assert book["BTC"]["interest"] == pytest.approx(2.0 * 0.0001)  # the first hour at once
    assert book["USDT"]["free"] == pytest.approx(5000.0 + 200.0 * (1 - 0.001))
    # The spot account is another account: untouched.
    spot = ex.fetch_balance()
    assert spot["USDT"]["free"] == pytest.approx(1000.0)
    assert "BTC" not in spot or not spot["BTC"]["total"]
    # Three hours begin: three more charges.
    clock.now = T0 + pd.Timedelta(hours=3, minutes=5)
    assert _margin(ex)["BTC"]["interest"] == pytest.approx(2.0 * 0.0001 * 4)
    history = ex.sapiGetMarginInterestHistory({"asset": "BTC", "size": 100})
    assert history["total"] == 4
    assert {r["type"] for r in history["rows"]} == {"ON_BORROW", "PERIODIC"}
    # A protective stop above the price, on the margin account, with auto-repay.
    ex.create_order(
        "BTC/USDT",
        "stop_loss_limit",
        "buy",
        2.01,
        112.0,
        params={**CROSS, "stopPrice": 104.0, "sideEffectType": "AUTO_REPAY",
                "newClientOrderId": "stop-1"},
    )  # fmt: skip
    assert [o["clientOrderId"] for o in ex.fetch_open_orders("BTC/USDT", params=CROSS)] == [
        "stop-1"
    ]
    assert ex.fetch_open_orders("BTC/USDT") == []  # not on the spot account
    # The rise at hour 6 triggers it: the loan and its interest are repaid from the fill.
    clock.now = T0 + pd.Timedelta(hours=7, minutes=5)
    stop = ex.fetch_order(None, "BTC/USDT", params={**CROSS, "origClientOrderId": "stop-1"})
    assert stop["status"] == "closed"
    assert stop["average"] == pytest.approx(110.0)  # gapped through its stop, within its limit
    book = _margin(ex)
    assert book["BTC"]["borrowed"] == pytest.approx(0.0, abs=1e-12)
    assert book["BTC"]["interest"] == pytest.approx(0.0, abs=1e-12)
    charged = server.margin.interest_paid_and_owed()["BTC"]  # type: ignore[union-attr]
    assert charged == pytest.approx(2.0 * 0.0001 * 7)  # hours 0 to 6 begun while owed
    received = 2.01 * (1 - 0.001)
    assert book["BTC"]["free"] == pytest.approx(received - 2.0 - charged)
    trades = ex.fetch_my_trades("BTC/USDT", params=CROSS)
    assert [t["side"] for t in trades] == ["sell", "buy"]


def test_a_refused_short_gives_its_loan_back_and_a_cancel_reaches_the_margin_book(
    ex: ccxt.binance,
) -> None:
    with pytest.raises(ccxt.BadRequest):  # below the minimum notional: refused
        ex.create_order(
            "BTC/USDT", "market", "sell", 0.01, params={**CROSS, "sideEffectType": "MARGIN_BUY"}
        )
    assert _margin(ex).get("BTC", {}).get("borrowed", 0.0) == 0.0
    ex.create_order(
        "BTC/USDT",
        "limit",
        "buy",
        1.0,
        90.0,
        params={**CROSS, "newClientOrderId": "rest-1"},
    )
    assert _margin(ex)["USDT"]["locked"] == pytest.approx(90.0, rel=1e-6)
    ex.cancel_order(None, "BTC/USDT", params={**CROSS, "origClientOrderId": "rest-1"})
    assert _margin(ex)["USDT"]["locked"] == pytest.approx(0.0, abs=1e-9)
