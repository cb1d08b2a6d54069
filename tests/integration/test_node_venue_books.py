"""One account, several books: the agents netted into one exchange position per pair, and
an ensemble's K cycle traders, each carried out at the local exchange through the real
ccxt client and reconciled against the sum of their books."""

from __future__ import annotations

import json
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
from tradewind.live.node import CycleNode
from tradewind.live.run import replay
from tradewind.store.repository import TradeBook
from tradewind.testing.exchange_server import AccountSpec, ExchangeServer, binance_client
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


def _watch_stops(monkeypatch: pytest.MonkeyPatch, side: int = 1) -> dict[str, Any]:
    """After every sync: each netted position's one resting stop is at the lowest stop of
    the agents' open long trades on its pair (``side`` -1: each short's on the margin
    account, at the highest of their stops); ``missing`` counts positions without one."""
    seen: dict[str, Any] = {"checked": 0, "several": 0, "wrong": [], "missing": 0}
    real = Broker.sync
    account, role = ("spot", "s") if side > 0 else ("margin", "ms")

    def sync(self: Broker, books: Any) -> Any:
        report = real(self, books)
        for b in books:
            if not isinstance(b, AgentsBook):
                continue
            tr = b.session.trades[: b.session.n_trades]
            live = tr[(tr["kind"] == Kind.REAL) & (tr["status"] == Status.ACTIVE)]
            live = live[live["side"] == side]
            for p in np.unique(live["pair"]).tolist():
                stops = live[live["pair"] == p]["stop"]
                rows = self.by_pair.get((b.run_id, self._symbols[p], account), [])
                resting = [
                    r for r in rows if r["status"] == "open" and str(r["role"]).startswith(role)
                ]
                assert len(resting) <= 1
                if not resting:
                    symbol = self.symbol(p)
                    rules, (base, _) = self.rules(symbol), self.assets(symbol)
                    size = self._short(rows, base) if side < 0 else held_of(rows, base)
                    price = float(b.session.last_close[p])
                    if size >= rules.lot_step and size * price >= rules.min_notional:
                        seen["missing"] += 1  # a position worth an order, unprotected
                    continue
                seen["checked"] += 1
                seen["several"] += len(set(stops.tolist())) > 1
                level = stops.min() if side > 0 else stops.max()
                if not math.isclose(resting[0]["stop_price"], level, rel_tol=1e-3):
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
    assert stops["missing"] == 0
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


def test_short_agents_trade_on_the_margin_account_and_their_interest_is_recorded(
    agents_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``live.shorts = "margin"``: the short agents' trades are netted into one short per
    pair on the cross-margin account (sells that borrow, buys that repay, one stop-buy at
    the highest of their stops); the account's net assets match the books' fills less the
    interest, and the interest the exchange charged is the node's record."""
    wide = (
        '[[agents]]\nname = "cr-short-1h-wide"\nstrategy = "channel_run"\nside = "short"\n'
        'timeframe = "1h"\nparams = { lookback = 48, entry = "edge", goal = "mid", '
        "min_reward_risk = 0.2, stop_atr = 0.8 }\nselection = { pairs = 4 }\n\n[cycle]"
    )
    (agents_home / "margin.toml").write_text(
        AGENTS.replace("[cycle]", wide).replace(
            '[live]\nhistory = "8d"', '[live]\nhistory = "8d"\nshorts = "margin"'
        )
    )
    settings = load_config(agents_home / "margin.toml", environ={})
    assert settings.live.shorts == "margin"
    stops = _watch_stops(monkeypatch, side=-1)
    start, stop_at, end = (T0 + pd.Timedelta(days=d) for d in (8, 12, 19))
    clock = SimClock(start)
    spec = AccountSpec(balances={"USDT": 20_000.0}, margin={"USDT": 20_000.0}, margin_rate=0.002)
    server = ExchangeServer(
        CandleStore(agents_home / "data", "synthetic"),
        timeframes=["1h"],
        now=lambda: clock.now(),
        weight_limit=10**9,
        account=spec,
    )
    with server:
        replay(settings, start, stop_at, venue=_venue(server), clock=clock)
        result = replay(settings, start, end, venue=_venue(server), clock=clock)
        margin = server.margin
        assert margin is not None
        at_margin = {o.client_id: o for o in margin.orders.values()}
        resting = [o for o in at_margin.values() if o.status in ("NEW", "PARTIALLY_FILLED")]
        charged = margin.interest_paid_and_owed()
        owed = {a: margin.borrowed.get(a, 0.0) + margin.interest.get(a, 0.0) for a in charged}
        free = {a: margin.free.get(a, 0.0) + margin.locked.get(a, 0.0) for a in charged}
        lots = {s: server.market.spec(s).step_size for s in server.market.symbols()}
        notional = {s: server.market.spec(s).min_notional for s in server.market.symbols()}
        # Then flattened: every short bought back and its loan repaid, nothing resting.
        with CycleNode(settings, source="replay", clock=clock, venue=_venue(server)) as node:
            flat = node.flatten()
        assert not flat["problems"]
        assert not margin.open_orders(None)
        assert all(v <= 1e-9 for v in margin.borrowed.values()), margin.borrowed
        assert all(v <= 1e-9 for v in margin.interest.values()), margin.interest
    assert result.safe is None, result.safe
    assert stops["checked"] > 20
    assert stops["several"] >= 1  # two short agents on one pair, stopped apart
    assert stops["wrong"] == []
    assert stops["missing"] == 0
    with TradeBook(settings.book_url) as book:
        trades = book.trades(run_id=result.agents_run_id)
        rows = book.node_orders(result.agents_run_id or 0)
        record = json.loads(book.session_state(f"{settings.live.name}-margin").payload)  # type: ignore[union-attr]
    shorts = trades[(trades["kind"] == "real") & (trades["side"] < 0) & trades["entry_at"].notna()]
    assert len(shorts) >= 5
    on_margin = [r for r in rows if str(r["role"]).startswith("m")]
    assert {str(r["role"])[:2] for r in on_margin} <= {"mn", "ms"}
    assert any(r["side"] == "sell" and float(r["filled"] or 0) > 0 for r in on_margin)
    # Exactly the sent margin orders are on the margin account, once each.
    sent = {str(r["client_order_id"]) for r in on_margin if r["status"] not in ("skipped",)}
    assert sent == set(at_margin)
    for r in on_margin:
        theirs = at_margin.get(str(r["client_order_id"]))
        if theirs is not None:
            assert float(r["filled"] or 0) == pytest.approx(theirs.executed)
    # Each pair's short at the exchange is the sum of the agents' open real shorts.
    open_shorts = shorts[shorts["status"] == "active"]
    for pair in set(open_shorts["pair"]) | {str(r["pair"]) for r in on_margin}:
        base = pair.removesuffix("USDT")
        at_exchange = owed.get(base, 0.0) - free.get(base, 0.0)
        want = float(open_shorts.loc[open_shorts["pair"] == pair, "qty"].sum())
        low = float(shorts.loc[shorts["pair"] == pair, "entry_price"].min())
        assert at_exchange == pytest.approx(want, abs=2 * lots[pair] + notional[pair] / low), pair
        stops = [o for o in resting if o.symbol == pair]
        if want > 0 and want * low > notional[pair]:
            (stop,) = stops
            high = float(open_shorts.loc[open_shorts["pair"] == pair, "stop"].max())
            assert stop.side == "BUY"
            assert stop.stop_price == pytest.approx(high, rel=1e-3)
            assert stop.qty >= at_exchange - 1e-9  # covers the short and its interest
    # The interest the exchange charged is the node's record.
    assert sum(charged.values()) > 0
    for asset, amount in charged.items():
        assert record["interest"].get(asset, 0.0) == pytest.approx(amount, rel=1e-9), asset


@pytest.mark.parametrize("shorts", ["paper", "margin"])
def test_the_live_plan_says_where_each_agent_trades(agents_home: Path, shorts: str) -> None:
    from tradewind.live.gate import live_plan

    (agents_home / "plan.toml").write_text(
        AGENTS.replace('[live]\nhistory = "8d"', f'[live]\nhistory = "8d"\nshorts = "{shorts}"')
    )
    settings = load_config(agents_home / "plan.toml", environ={})
    clock = SimClock(T0 + pd.Timedelta(days=8))
    spec = AccountSpec(balances={"USDT": 30_000.0}, margin={"USDT": 4_000.0})
    server = ExchangeServer(
        CandleStore(agents_home / "data", "synthetic"),
        timeframes=["1h"],
        now=lambda: clock.now(),
        account=spec,
    )
    with server:
        plan = live_plan(settings, _venue(server))
    agents = plan["agents"]
    assert agents["at_exchange"] == ["cr-long-1h", "tf-long-4h", "cr-long-1h-wide"]
    assert plan["capital"] == settings.cycle.capital + settings.session.capital
    if shorts == "margin":
        assert agents["on_margin"] == ["cr-short-1h"]
        assert plan["margin_free"] == pytest.approx(4_000.0)
        assert "paper_only" not in agents
    else:
        assert agents["paper_only"] == ["cr-short-1h"]
        assert "spot account holds no short" in agents["why_paper"]
        assert "margin_free" not in plan


def test_a_node_whose_agents_traded_on_paper_goes_on_at_the_exchange(agents_home: Path) -> None:
    """The paper venue's order rows of the agents' earlier passes are the model's record:
    a node that goes on with the exchange leaves them alone and nets from there."""
    settings = load_config(agents_home / "tradewind.toml", environ={})
    start, half, end = (T0 + pd.Timedelta(days=d) for d in (8, 11, 14))
    replay(settings, start, half)  # no venue: the agents' orders are the paper venue's
    with TradeBook(settings.book_url) as book:
        runs = book.runs()
        agents_run = int(runs[runs["kind"] == "session"]["id"].iloc[0])
        paper = book.node_orders(agents_run)
    assert paper
    assert all(str(r["client_order_id"]).startswith("tw-") for r in paper)
    clock = SimClock(half)
    with _server(agents_home, clock) as server:
        result = replay(settings, start, end, venue=_venue(server), clock=clock)
        account = server.account
        assert account is not None
        placed = account.placed
    assert result.safe is None, result.safe
    assert result.agents_run_id == agents_run
    assert placed > 0
