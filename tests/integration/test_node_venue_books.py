"""One account, several books: the agents netted into one exchange position per pair, and
an ensemble's K cycle traders, each carried out at the local exchange through the real
ccxt client and reconciled against the sum of their books."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.integration.test_node_venue import _server, _venue
from tests.unit.live.test_node import ENV, START
from tests.unit.trading.test_scan import CONFIG, T0
from tradewind.config import load_config
from tradewind.data.store import CandleStore
from tradewind.data.synthetic import generate_market, write_market
from tradewind.engine.records import Kind, Status
from tradewind.live.broker import AgentsBook, Broker, held_of
from tradewind.live.clock import SimClock
from tradewind.live.run import replay
from tradewind.store.repository import TradeBook
from tradewind.testing.exchange_server import binance_client
from tradewind.venues.ccxt_venue import CcxtVenue

#: Long agents, two of them on the same channel with stops of their own (so they hold one
#: pair at the same time, stopped at different levels), and a short one (paper only on a
#: spot account).
AGENTS = (
    CONFIG.replace("open_risk_cap = 0.04", "open_risk_cap = 0.2")
    + """
[[agents]]
name = "cr-long-1h-wide"
strategy = "channel_run"
side = "long"
timeframe = "1h"
params = { lookback = 48, entry = "edge", goal = "mid", min_reward_risk = 0.2, stop_atr = 0.8 }
selection = { pairs = 4 }

[[agents]]
name = "cr-short-1h"
strategy = "channel_run"
side = "short"
timeframe = "1h"
params = { lookback = 48, entry = "edge", goal = "mid", min_reward_risk = 0.3 }
selection = { pairs = 4 }

[cycle]
nominator = "momentum"
[live]
history = "8d"
"""
)


@pytest.fixture
def agents_home(home: Path) -> Path:
    write_market(
        generate_market(pairs=5, timeframe="1h", days=20, seed=8),
        CandleStore(home / "data", "synthetic"),
    )
    (home / "tradewind.toml").write_text(AGENTS)
    return home


@pytest.fixture
def six_pairs(home: Path) -> Path:
    write_market(
        generate_market(pairs=6, timeframe="1h", days=40, seed=5),
        CandleStore(home / "data", "synthetic"),
    )
    return home


def _by_pair(rows: list[dict[str, object]]) -> dict[str, list[dict[str, object]]]:
    out: dict[str, list[dict[str, object]]] = {}
    for r in rows:
        out.setdefault(str(r["pair"]), []).append(r)
    return out


def _watch_stops(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """After every sync: each netted position's one resting stop is at the lowest stop of
    the agents' open long trades on its pair."""
    seen: dict[str, Any] = {"checked": 0, "several": 0, "wrong": []}
    real = Broker.sync

    def sync(self: Broker, books: Any) -> Any:
        report = real(self, books)
        for b in books:
            if not isinstance(b, AgentsBook):
                continue
            tr = b.session.trades[: b.session.n_trades]
            live = tr[(tr["kind"] == Kind.REAL) & (tr["status"] == Status.ACTIVE)]
            live = live[live["side"] > 0]
            for p in np.unique(live["pair"]).tolist():
                stops = live[live["pair"] == p]["stop"]
                rows = self.by_pair.get((b.run_id, self._symbols[p]), [])
                resting = [r for r in rows if r["status"] == "open" and r["role"][0] == "s"]
                assert len(resting) <= 1
                if resting:
                    seen["checked"] += 1
                    seen["several"] += len(set(stops.tolist())) > 1
                    if not math.isclose(resting[0]["stop_price"], stops.min(), rel_tol=1e-3):
                        seen["wrong"].append((self._symbols[p], resting[0]["stop_price"]))
        return report

    monkeypatch.setattr(Broker, "sync", sync)
    return seen


def test_agents_on_one_pair_are_netted_into_one_position_at_the_exchange(
    agents_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_config(agents_home / "tradewind.toml", environ={})
    stops = _watch_stops(monkeypatch)
    start, stop_at, end = (T0 + pd.Timedelta(days=d) for d in (8, 12, 19))
    clock = SimClock(start)
    with _server(agents_home, clock) as server:
        # Stopped and started again half-way: the restart is a recovery of both books.
        replay(settings, start, stop_at, venue=_venue(server), clock=clock)
        result = replay(settings, start, end, venue=_venue(server), clock=clock)
        account = server.account
        assert account is not None
        at_exchange = {o.client_id: o for o in account.orders.values()}
        resting = [o for o in at_exchange.values() if o.status in ("NEW", "PARTIALLY_FILLED")]
        balances = {b["asset"]: float(b["free"]) + float(b["locked"]) for b in account.balances()}
        lots = {s: server.market.spec(s).step_size for s in server.market.symbols()}
        notional = {s: server.market.spec(s).min_notional for s in server.market.symbols()}
    assert result.safe is None  # the account agreed with the books at every sync
    assert result.agents_run_id is not None
    assert stops["checked"] > 20
    assert stops["several"] >= 1  # agents on one pair with different stops
    assert stops["wrong"] == []
    with TradeBook(settings.book_url) as book:
        trades = book.trades(run_id=result.agents_run_id)
        netted = book.node_orders(result.agents_run_id)
        cycle = book.node_orders(result.run_id)
    real = trades[(trades["kind"] == "real") & trades["entry_at"].notna()]
    longs = real[real["side"] > 0]
    assert len(longs) >= 5
    assert (real["side"] < 0).any()  # the short agent traded, on paper
    # Netting was exercised: two agents held one pair at the same time.
    overlap = 0
    for _, group in longs.groupby("pair"):
        spans = sorted(
            (
                t.entry_at,
                t.exit_at if pd.notna(t.exit_at) else pd.Timestamp.max.tz_localize("UTC"),
                t.agent,
            )
            for t in group.itertuples()
        )
        overlap += sum(
            1 for i, a in enumerate(spans) for b in spans[i + 1 :] if b[0] < a[1] and b[2] != a[2]
        )
    assert overlap >= 1
    # The agents' orders belong to pairs, not trades; the exchange has exactly the sent ones.
    assert netted
    assert all(r["trade_id"] is None and r["trade_no"] is None for r in netted)
    assert {str(r["role"])[0] for r in netted} <= {"n", "s"}
    sent = [r for r in [*netted, *cycle] if r["status"] != "skipped"]
    ids = Counter(str(r["client_order_id"]) for r in sent)
    assert max(ids.values()) == 1
    assert set(ids) == set(at_exchange)
    assert account.placed == len(at_exchange)  # no order twice
    for r in sent:
        assert float(r["filled"] or 0) == pytest.approx(
            at_exchange[str(r["client_order_id"])].executed, abs=1e-12
        )
    # Only long positions at the exchange: the short agent's trades never reached it.
    assert all(r["side"] == "buy" or str(r["role"])[0] in "ns" for r in netted)
    # Each pair's exchange position is the sum of the agents' open long trades, to within
    # what one order can correct (a lot, the exchange's minimum notional).
    open_longs = longs[longs["status"] == "active"]
    per_pair = _by_pair(netted)
    agents_ids = {str(r["client_order_id"]) for r in netted}
    for pair in set(per_pair) | set(open_longs["pair"]):
        base = pair.removesuffix("USDT")
        held = held_of(per_pair.get(pair, []), base)
        want = float(open_longs.loc[open_longs["pair"] == pair, "qty"].sum())
        mine_longs = longs[longs["pair"] == pair]
        low = float(mine_longs["entry_price"].min()) if len(mine_longs) else math.inf
        slack = lots[pair] + notional[pair] / low
        assert held == pytest.approx(want, abs=slack), pair
        # One stop rests for the pair's whole position, at the lowest of the agents' stops.
        mine = [o for o in resting if o.symbol == pair and o.client_id in agents_ids]
        stops = open_longs.loc[open_longs["pair"] == pair, "stop"]
        if held >= lots[pair] and held * float(stops.min()) >= notional[pair]:
            (stop,) = mine
            assert stop.stop_price == pytest.approx(float(stops.min()), rel=1e-3)
            assert stop.qty == pytest.approx(held, abs=lots[pair])
        else:
            assert not mine
    # Every base asset at the exchange is the cycle trader's fills plus the netted ones.
    cycle_pairs = _by_pair(cycle)
    for asset, total in balances.items():
        if asset == "USDT":
            continue
        pair = f"{asset}USDT"
        want = held_of(per_pair.get(pair, []), asset) + sum(
            held_of([r], asset) for r in cycle_pairs.get(pair, [])
        )
        assert total == pytest.approx(want, abs=1e-9), asset
    assert not math.isnan(result.agents_equity or math.nan)


def test_an_ensemble_trades_live_each_member_under_its_own_ids(six_pairs: Path) -> None:
    settings = load_config(environ={**ENV, "TRADEWIND__LIVE__ENSEMBLE": "2"})
    clock = SimClock(START)
    half, end = START + pd.Timedelta(days=12), START + pd.Timedelta(days=26)
    with _server(six_pairs, clock) as server:
        replay(settings, START, half, venue=_venue(server), clock=clock)
        result = replay(settings, START, end, venue=_venue(server), clock=clock)
        account = server.account
        assert account is not None
        at_exchange = {o.client_id: o for o in account.orders.values()}
        balances = {b["asset"]: float(b["free"]) + float(b["locked"]) for b in account.balances()}
    assert result.safe is None
    assert len(result.member_run_ids) == 2
    with TradeBook(settings.book_url) as book:
        rows = {r: book.node_orders(r) for r in result.member_run_ids}
    prefixes = {r: {str(o["client_order_id"]).split("-")[0] for o in rs} for r, rs in rows.items()}
    assert all(prefixes.values())  # both members traded at the exchange
    assert not set.intersection(*prefixes.values())  # each under its own ids
    sent = [o for rs in rows.values() for o in rs if o["status"] != "skipped"]
    ids = Counter(str(o["client_order_id"]) for o in sent)
    assert max(ids.values()) == 1
    assert set(ids) == set(at_exchange)
    assert account.placed == len(at_exchange)
    # The account holds the sum of the members' books.
    every = [o for rs in rows.values() for o in rs]
    for asset, total in balances.items():
        if asset != "USDT":
            mine = [o for o in every if str(o["pair"]) == f"{asset}USDT"]
            assert total == pytest.approx(sum(held_of([o], asset) for o in mine), abs=1e-9)


def test_netted_orders_under_faults_are_never_doubled_nor_lost(agents_home: Path) -> None:
    """Lost answers, 5xx, 429s and partial fills on the netting orders: every order is at
    the exchange once, the books' fills are the exchange's, and the account ends as the
    books say (the last stretch runs without faults, and its reconciliation agrees)."""
    from tradewind.testing.exchange_server import Fault

    settings = load_config(agents_home / "tradewind.toml", environ={})
    start, calm, end = (T0 + pd.Timedelta(days=d) for d in (8, 15, 19))
    clock = SimClock(start)
    with _server(agents_home, clock) as server:
        server.faults.set_rates(
            [
                (Fault.lost_response(0.0, endpoint="order"), 0.15),
                (Fault.server_error(503, endpoint="order"), 0.08),
                (Fault.rate_limit(0.0, endpoint="order"), 0.05),
                (Fault.partial_fill(0.5), 0.15),
            ],
            seed=11,
        )
        venue = CcxtVenue(
            binance_client(server, enableRateLimit=False),
            attempts=12,
            lookups=12,
            sleep=lambda _s: None,
        )
        replay(settings, start, calm, venue=venue, clock=clock)
        server.faults.clear()
        result = replay(settings, start, end, venue=_venue(server), clock=clock)
        account = server.account
        assert account is not None
        stats = server.stats()
        at_exchange = Counter(o.client_id for o in account.orders.values())
        by_id = {o.client_id: o for o in account.orders.values()}
        balances = {b["asset"]: float(b["free"]) + float(b["locked"]) for b in account.balances()}
    assert sum(stats.faults.values()) > 10  # the faults did bite
    assert result.safe is None, result.safe
    assert max(at_exchange.values()) == 1
    assert account.placed == len(at_exchange)
    with TradeBook(settings.book_url) as book:
        rows = [*book.node_orders(result.agents_run_id or 0), *book.node_orders(result.run_id)]
    assert any(r["trade_no"] is None for r in rows)
    sent = {str(r["client_order_id"]) for r in rows if r["status"] not in ("skipped", "rejected")}
    assert sent == set(at_exchange)
    for r in rows:
        if r["client_order_id"] in by_id:
            assert float(r["filled"] or 0) == pytest.approx(
                by_id[str(r["client_order_id"])].executed
            )
    for asset, total in balances.items():
        if asset != "USDT":
            mine = [r for r in rows if str(r["pair"]) == f"{asset}USDT"]
            assert total == pytest.approx(sum(held_of([r], asset) for r in mine), abs=1e-9)
