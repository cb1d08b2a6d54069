"""The kill test against the exchange: a live replay node trading at the local exchange
under random faults is killed with SIGKILL at random moments and started again each time;
at the end no order is duplicated or lost, the ledger balances, and the book matches the
account. The model's trades are those of a node that was never killed.

The node runs the cycle trader and a session of agents: long ones netted into one
position per pair on the spot account, short ones into one short per pair on the
cross-margin account (borrowing, repaying, interest), so every kind of order the node
sends is killed around."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.integration._kill import kill_at_random
from tests.integration.test_node_venue_books import AGENTS as NETTED
from tradewind.data.store import CandleStore
from tradewind.data.synthetic import generate_market, write_market
from tradewind.live.broker import FINAL, held_of
from tradewind.store.repository import TradeBook
from tradewind.testing.exchange_server import AccountSpec, ExchangeServer, Fault

#: The agents of the netting tests, the short ones on the margin account.
AGENTS = NETTED.replace('[live]\nhistory = "8d"', '[live]\nhistory = "8d"\nshorts = "margin"')

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX"),
]

HELPER = Path(__file__).with_name("_venue_node.py")
ROOT = Path(__file__).resolve().parents[2]
START, END = "2024-01-11", "2024-03-01"
KILLS = 20
ENV = {
    "TRADEWIND__DATA__TIMEFRAME": "1h",
    "TRADEWIND__CYCLE__NOMINATOR": "momentum",
    "TRADEWIND__LIVE__HISTORY": "10d",
    "TRADEWIND__CYCLE__PAIRS_PER_CYCLE": "2",
    "TRADEWIND__EXCHANGE__API_KEY": "kill-test-key",
    "TRADEWIND__EXCHANGE__API_SECRET": "kill-test-secret-do-not-print",
}
FAULTS = [
    (Fault.lost_response(0.0, endpoint="order"), 0.15),  # placed (or cancelled), answer lost
    (Fault.server_error(503, endpoint="order"), 0.08),
    (Fault.rate_limit(0.0, endpoint="order"), 0.05),
    (Fault.lost_response(0.0, endpoint="margin/order"), 0.15),  # the shorts' orders too
    (Fault.server_error(503, endpoint="margin/order"), 0.08),
    (Fault.partial_fill(0.5), 0.15),
    (Fault.server_error(502), 0.03),  # any endpoint: reads of orders and balances too
]


def _exchange(tmp: Path, clock_file: Path) -> ExchangeServer:
    def now() -> int:
        try:
            return int(clock_file.read_text())
        except (OSError, ValueError):
            return int(pd.Timestamp(START, tz="UTC").value // 1_000_000)

    return ExchangeServer(
        CandleStore(tmp / ".tradewind" / "data", "synthetic"),
        timeframes=["1h"],
        now=now,
        weight_limit=10**9,
        account=AccountSpec(
            api_key=ENV["TRADEWIND__EXCHANGE__API_KEY"],
            secret=ENV["TRADEWIND__EXCHANGE__API_SECRET"],
            balances={"USDT": 40_000.0},
            margin={"USDT": 20_000.0},
        ),
    )


def _node(tmp: Path, server: ExchangeServer, clock_file: Path, name: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("TRADEWIND__")}
    env = {**env, **ENV, "TRADEWIND__EXCHANGE__API_URL": server.api_url}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return subprocess.Popen(
        [sys.executable, str(HELPER), str(clock_file), START, END, name],
        cwd=tmp,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _saved_clock(tmp: Path) -> object:
    """The last candle the killed node saved (None before its first tick)."""
    book_file = tmp / ".tradewind" / "tradebook.sqlite"
    if not book_file.exists():
        return None
    with TradeBook(f"sqlite:///{book_file}") as book:
        saved = book.session_state("killed")
    return None if saved is None else saved.clock


AGENT_MODEL = [
    "trade_no", "agent", "pair", "side", "kind", "status", "entry_at", "entry_price",
    "exit_at", "exit_price", "exit_reason", "qty", "pnl",
]  # fmt: skip
MODEL = [
    "trade_no", "pair", "kind", "status", "cycle", "entry_at", "entry_price", "exit_at",
    "exit_price", "exit_reason", "qty", "pnl",
]  # fmt: skip


def test_a_live_node_killed_twenty_times_under_faults_loses_no_order(tmp_path: Path) -> None:
    write_market(
        generate_market(pairs=6, timeframe="1h", days=70, seed=5),
        CandleStore(tmp_path / ".tradewind" / "data", "synthetic"),
    )
    (tmp_path / "tradewind.toml").write_text(AGENTS)  # the nodes run in tmp_path
    ref_clock, clock = tmp_path / "ref.clock", tmp_path / "killed.clock"
    with _exchange(tmp_path, ref_clock) as ref_server:
        ref = _node(tmp_path, ref_server, ref_clock, "ref")
        out, err = ref.communicate(timeout=600)
        assert ref.returncode == 0, err
    want = json.loads(out)

    rng = np.random.default_rng(7)
    logs = []
    server = _exchange(tmp_path, clock)
    server.faults.set_rates(FAULTS, seed=3)
    with server:
        moved = 0  #: kills that fell while the node was trading (it had saved a tick)
        for k in range(KILLS):
            before = _saved_clock(tmp_path)
            proc = _node(tmp_path, server, clock, "killed")
            # every fifth kill during start-up, the others while it trades
            kill_at_random(
                proc, lambda: _saved_clock(tmp_path), rng, while_trading=k % 5 != 2
            )
            logs.append(proc.communicate(timeout=60)[1])
            moved += _saved_clock(tmp_path) != before
        server.faults.clear()  # the last start runs to the end undisturbed
        last = _node(tmp_path, server, clock, "killed")
        out, err = last.communicate(timeout=600)
        assert last.returncode == 0, err
        logs.append(err)
        got = json.loads(out)
        account, margin = server.account, server.margin
        assert account is not None
        assert margin is not None
        stats = server.stats()
        charged = margin.interest_paid_and_owed()

    assert got["safe_mode"] is None, got["safe_mode"]  # the final reconciliation agreed
    assert got["ticks"] < want["ticks"]  # the last start went on; it did not start over
    assert sum(stats.faults.values()) > 40  # the faults did bite
    assert moved >= KILLS // 2  # most kills fell mid-trading, not during start-up
    with TradeBook(f"sqlite:///{tmp_path / '.tradewind' / 'tradebook.sqlite'}") as book:
        mine = book.trades(run_id=got["run_id"])
        theirs = book.trades(run_id=want["run_id"])
        my_agents = book.trades(run_id=got["agents_run_id"])
        their_agents = book.trades(run_id=want["agents_run_id"])
        orders = book.node_orders(got["run_id"])
        netted = book.node_orders(got["agents_run_id"])
        record = json.loads(book.session_state("killed-margin").payload)  # type: ignore[union-attr]
        ledger = book.table("ledger", run_id=got["run_id"])
        summary = json.loads(str(book.runs().set_index("id").loc[got["run_id"], "summary"]))
    # The model traded as a node never killed.
    pd.testing.assert_frame_equal(
        mine[MODEL].reset_index(drop=True), theirs[MODEL].reset_index(drop=True)
    )
    # The agents too (a tracked continuation is saved when it ends: sorted, not in order).
    pd.testing.assert_frame_equal(
        my_agents[AGENT_MODEL].sort_values(["trade_no", "kind"]).reset_index(drop=True),
        their_agents[AGENT_MODEL].sort_values(["trade_no", "kind"]).reset_index(drop=True),
    )
    shorts = my_agents[(my_agents["kind"] == "real") & (my_agents["side"] < 0)]
    assert shorts["entry_at"].notna().sum() >= 3  # the shorts did trade, on margin
    # No order twice, none lost: each account's orders are the book's sent orders.
    spot_rows = [*orders, *(r for r in netted if not str(r["role"]).startswith("m"))]
    margin_rows = [r for r in netted if str(r["role"]).startswith("m")]
    assert margin_rows
    for where, rows in ((account, spot_rows), (margin, margin_rows)):
        at_exchange = Counter(o.client_id for o in where.orders.values())
        assert max(at_exchange.values()) == 1
        assert where.placed == len(at_exchange)
        sent = {r["client_order_id"] for r in rows if r["status"] not in ("skipped", "rejected")}
        assert sent == set(at_exchange)
        assert all(r["status"] in FINAL or r["status"] == "open" for r in rows)
        by_id = {o.client_id: o for o in where.orders.values()}
        for r in rows:
            if r["client_order_id"] in by_id:
                assert float(r["filled"]) == pytest.approx(by_id[r["client_order_id"]].executed)
    # The book matches the spot account, asset by asset: the cycle trader's trades plus the
    # agents' netted positions.
    per_pair: dict[str, list[dict[str, object]]] = {}
    for r in spot_rows:
        per_pair.setdefault(str(r["pair"]), []).append(r)
    balances = {b["asset"]: float(b["free"]) + float(b["locked"]) for b in account.balances()}
    for asset, total in balances.items():
        if asset == "USDT":
            continue
        held = sum(held_of([r], asset) for r in per_pair.get(f"{asset}USDT", []))
        assert total == pytest.approx(held, abs=1e-9), asset
    # And the margin account: each base's net is its fills less the interest charged, the
    # interest the node recorded.
    for asset, amount in charged.items():
        assert record["interest"].get(asset, 0.0) == pytest.approx(amount, rel=1e-9), asset
        fills = sum(held_of([r], asset) for r in margin_rows if str(r["pair"]) == f"{asset}USDT")
        assert margin.net(asset) == pytest.approx(fills - amount, abs=1e-9), asset
    # The ledger balances: its movements add up to the pools the node reports.
    pools = dict.fromkeys(summary["pools"], 0.0)
    for _, e in ledger[ledger["book"] == "real"].iterrows():
        for pool, sign in ((e["src"], -1.0), (e["dst"], 1.0)):
            if pool in pools:
                pools[pool] += sign * float(e["amount"])
    for pool, value in summary["pools"].items():
        assert pools[pool] == pytest.approx(value, abs=1e-6), pool
    # The keys never appear in what the node wrote or logged.
    secret = ENV["TRADEWIND__EXCHANGE__API_SECRET"]
    assert not any(secret in log for log in logs)
    assert secret.encode() not in (tmp_path / ".tradewind" / "tradebook.sqlite").read_bytes()
