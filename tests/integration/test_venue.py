"""The ccxt venue against the local exchange through the real ccxt client: a retry never
creates a second order, whatever the network does."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from tests.integration.test_exchange_orders import FRAMES, at
from tradewind.errors import ConfigError, ExchangeFatal, ExchangeRejected, ExchangeRetryable
from tradewind.testing.exchange_server import AccountSpec, ExchangeServer, Fault, binance_client
from tradewind.venues.ccxt_venue import CcxtVenue, OrderIntent, client_order_id


@pytest.fixture
def server() -> Iterator[ExchangeServer]:
    spec = AccountSpec(balances={"USDT": 1_000_000.0}, fee=0.001, spread=0.0)
    with ExchangeServer(FRAMES, now=at(5), account=spec) as srv:
        yield srv


def _venue(server: ExchangeServer, **kw: object) -> CcxtVenue:
    ex = binance_client(server)
    ex.load_markets()
    return CcxtVenue(ex, sleep=lambda _s: None, **kw)  # type: ignore[arg-type]


def _buy(i: int, qty: float = 0.1) -> OrderIntent:
    return OrderIntent(client_order_id("node", i, "entry"), "BTC/USDT", "buy", "market", qty)


def test_client_order_ids_come_from_trade_and_role_not_the_attempt() -> None:
    a = client_order_id("paper-node", 123456789, "entry")
    assert a == client_order_id("paper-node", 123456789, "entry")
    assert a != client_order_id("paper-node", 123456789, "exit")
    assert a != client_order_id("other-node", 123456789, "entry")
    assert len(client_order_id("n" * 200, 10**15, "leg12")) <= 36
    with pytest.raises(ConfigError, match="order role"):
        client_order_id("node", 1, "Entry Leg")


def test_a_lost_answer_is_asked_about_before_anything_is_sent_again(
    server: ExchangeServer,
) -> None:
    assert server.account is not None
    venue = _venue(server)
    # The order was placed and filled, but its answer was lost. Binance would accept the
    # same client order id again now that it is filled: a blind retry would buy twice.
    server.faults.push(Fault.lost_response(0.0))
    state = venue.place(_buy(1))
    assert state.status == "closed"
    assert state.filled == pytest.approx(0.1)
    assert server.account.placed == 1
    # Lost, and the first question about it fails too: still one order.
    server.faults.push(Fault.lost_response(0.0), Fault.server_error(502, endpoint="order"))
    assert venue.place(_buy(2)).status == "closed"
    assert server.account.placed == 2


def test_a_duplicate_answer_returns_the_order_already_there(server: ExchangeServer) -> None:
    assert server.account is not None
    venue = _venue(server)
    cid = client_order_id("node", 7, "entry")
    resting = OrderIntent(cid, "BTC/USDT", "buy", "limit", 1.0, 90.0)
    first = venue.place(resting)
    again = venue.place(resting)  # e.g. after a crash, before the book knew the answer
    assert again.exchange_id == first.exchange_id
    assert again.status == "open"
    assert server.account.placed == 1


def test_refusals_are_rejections_and_bad_keys_are_fatal(server: ExchangeServer) -> None:
    venue = _venue(server)
    with pytest.raises(ExchangeRejected, match="insufficient balance"):
        venue.place(_buy(1, qty=20_000.0))
    with pytest.raises(ExchangeRejected, match="NOTIONAL"):
        venue.place(_buy(2, qty=0.01))
    ex = binance_client(server, apiKey="someone-else")
    ex.load_markets()
    with pytest.raises(ExchangeFatal):
        CcxtVenue(ex, sleep=lambda _s: None).place(_buy(3))


def test_rate_limits_are_waited_out_as_the_exchange_asks(server: ExchangeServer) -> None:
    assert server.account is not None
    pauses: list[float] = []
    ex = binance_client(server)
    ex.load_markets()
    venue = CcxtVenue(ex, sleep=pauses.append)
    server.faults.push(Fault.rate_limit(3.0, endpoint="order"), Fault.ban(7.0, endpoint="order"))
    assert venue.place(_buy(1)).status == "closed"
    assert pauses == [3.0, 7.0]  # Retry-After, not a guess
    assert server.account.placed == 1


def test_an_order_whose_fate_stays_unknown_is_not_sent_again(server: ExchangeServer) -> None:
    assert server.account is not None
    venue = _venue(server, lookups=3)
    server.faults.push(Fault.lost_response(0.0), *[Fault.server_error(503, endpoint="order")] * 3)
    with pytest.raises(ExchangeRetryable, match="fate is unknown"):
        venue.place(_buy(1))
    assert server.account.placed == 1  # it is there; the venue did not resend it
    assert venue.order(_buy(1).client_id, "BTC/USDT") is not None


def test_a_thousand_orders_under_random_faults_make_no_duplicate_and_lose_none(
    server: ExchangeServer,
) -> None:
    """The issue's fault-injection run: 1,000 order requests, random lost answers, 5xx,
    429s and partial fills; every intent ends as exactly one order, and every fill the
    exchange made is one the venue reported."""
    assert server.account is not None
    server.faults.set_rates(
        [
            (Fault.lost_response(0.0), 0.08),
            (Fault.server_error(503, endpoint="order"), 0.05),
            (Fault.rate_limit(0.0, endpoint="order"), 0.04),
            (Fault.partial_fill(0.5), 0.03),
        ],
        seed=11,
    )
    venue = _venue(server, attempts=12, lookups=12)
    states = {}
    for i in range(1000):
        intent = _buy(i)
        states[intent.client_id] = venue.place(intent)
    server.faults.clear()
    orders = server.account.orders.values()
    per_id = Counter(o.client_id for o in orders)
    assert len(per_id) == 1000
    assert max(per_id.values()) == 1  # zero duplicates
    assert server.account.placed == 1000
    # Zero untracked positions: what the exchange filled is what the venue reports.
    by_id = {o.client_id: o for o in orders}
    for cid, state in states.items():
        assert state.filled == pytest.approx(by_id[cid].executed), cid
    assert sum(o.executed for o in orders) == pytest.approx(
        sum(s.filled for s in states.values())
    )
    stats = server.stats()
    assert venue.requests > 1000  # the faults did bite
    assert sum(stats.faults.values()) > 100
