"""The venue in the node: the models' trades carried out at an exchange, and the exchange
checked against the book.

The traders decide exactly as in a backtest; after each tick the broker makes the
account follow them. One account may serve several books: the cycle trader (or the K
members of an ensemble, each with its own trades) and the session of agents. Each step
is a pure function of two things, the traders' saved state and the order rows in the
trade book, so the same :meth:`Broker.sync` serves a tick, a start-up and a recovery
after a crash.

**A cycle trader's trades** are carried out one by one:

* a real trade the model **entered** and that has no entry order gets a market buy of the
  model's quantity (role ``entry``). A trade that entered and exited between two ticks
  (the node was down) is recorded as ``skipped``, never sent;
* an **open position** has a protective stop resting at the exchange
  (``STOP_LOSS_LIMIT`` sell, roles ``s1``, ``s2`` …) at the model's stop, replaced when the
  trailing stop moves it, so the position stays protected while the node is down;
* a trade the model **exited** has its stop cancelled and what is really held sold
  (``x1``; another ``x<n>`` if a partial fill left enough). What the lot step leaves is
  recorded as dust.

**The agents are netted**: several agents trading one pair hold one exchange position,
the sum of their real long trades. Each sync brings each pair's position to that sum with
one market order (roles ``n1``, ``n2`` … of the pair), and keeps one protective stop
resting for the whole position at the *lowest* of the agents' stops (``s1``, ``s2`` …): a
price that reaches it has passed every agent's stop, so when it fills at the exchange
every agent's model has exited too. An agent's own higher stop is the node's to carry
out, by the netting order of the tick that sees it. Short agents stay on paper by
default (a spot account holds no short position); with ``live.shorts = "margin"`` they are
netted into one short per pair on the cross-margin account: sells that borrow
(``MARGIN_BUY``), buys that repay (``AUTO_REPAY``, roles ``mn1`` …), one stop-buy at the
*highest* of their stops (``ms1`` …), and the borrowing interest the exchange charges read
from its history into the node's record.

Every order is written to the book as an intent before it is sent, with a client order id
derived from the book's run, the trade (or the pair) and the role, so a crash at any
moment leaves a row that the next sync asks the exchange about before anything is sent
again.

Each sync also **reconciles**: an open order of the account that no book knows, or a
balance far from what the books' fills add up to, puts the node in safe mode (no new
entries, exits still managed), as do fatal errors and repeated failures. A pair whose
netted position stays away from the sum of the agents' books is reported.
"""

from __future__ import annotations

import json
import logging
import math
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np

from tradewind.config.models import LiveConfig
from tradewind.data.markets import MarketRules
from tradewind.engine.records import Kind, Status
from tradewind.errors import (
    ExchangeError,
    ExchangeFatal,
    ExchangeRejected,
    ExchangeRetryable,
    StateError,
)
from tradewind.store.repository import TradeBook
from tradewind.venues.ccxt_venue import CcxtVenue, OrderIntent, OrderState, client_order_id

__all__ = ["AgentsBook", "Broker", "CycleBook", "SyncReport", "held_of", "pair_number"]

log = logging.getLogger(__name__)

#: order rows the exchange can no longer change
FINAL = frozenset({"closed", "canceled", "expired", "rejected", "skipped"})


def _floor(value: float, step: float) -> float:
    if step <= 0:
        return value
    return math.floor(value / step + 1e-9) * step


def _nearest(value: float, step: float) -> float:
    if step <= 0:
        return value
    return round(value / step) * step


def _clean(value: float, step: float) -> float:
    """``value`` on ``step`` without float noise (what the exchange's filter checks)."""
    if step <= 0:
        return value
    decimals = max(0, -math.floor(math.log10(step)) + 2)
    return round(value, decimals)


def held_of(rows: Sequence[dict[str, Any]], base: str) -> float:
    """What a trade's (or a netted pair's) orders leave at the exchange: bought, less fees
    taken in the base asset, less sold."""
    held = 0.0
    for row in rows:
        filled = float(row.get("filled") or 0.0)
        if row["side"] == "buy":
            held += filled
            if row.get("fee_asset") == base:
                held -= float(row.get("fee") or 0.0)
        else:
            held -= filled
    return held


def _ceil(value: float, step: float) -> float:
    if step <= 0:
        return value
    return math.ceil(value / step - 1e-9) * step


def account_of(row: dict[str, Any]) -> str:
    """Which account an order row trades on: ``margin`` (a short's ``m…`` roles) or
    ``spot``."""
    return "margin" if str(row["role"]).startswith("m") else "spot"


def pair_number(market_id: str) -> int:
    """The number a netted pair's client order ids carry in place of a trade's: stable
    across restarts whatever the order of the pairs (the panel's index is not)."""
    return zlib.crc32(market_id.encode()) % 1_000_000_000


@dataclass
class CycleBook:
    """A cycle trader the account follows trade by trade (an ensemble has K of them)."""

    run_id: int
    name: str  #: the node's (member's) saved-state name
    trader: Any
    first_t: int  #: trades entered before this row (the warm-up) are not the node's


@dataclass
class AgentsBook:
    """The session of agents, followed as one netted position per pair."""

    run_id: int
    name: str
    session: Any
    safe: bool = False  #: the node is in safe mode: positions only shrink


@dataclass
class SyncReport:
    """What one sync did at the exchange."""

    placed: int = 0
    cancelled: int = 0
    skipped: int = 0
    rejected: int = 0
    requests: int = 0
    problems: list[str] = field(default_factory=list)
    #: netted pairs whose exchange position is away from the agents' books: pair →
    #: (the books' sum, the exchange position from the fills)
    drift: dict[str, tuple[float, float]] = field(default_factory=dict)
    #: the shorts' borrowing interest charged so far, per asset (margin)
    interest: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "placed": self.placed,
            "cancelled": self.cancelled,
            "skipped": self.skipped,
            "rejected": self.rejected,
            "requests": self.requests,
            "problems": list(self.problems),
            "drift": {k: list(v) for k, v in self.drift.items()},
            "interest": dict(self.interest),
        }


def _key(name: str, run_id: int) -> str:
    return f"{name}#{run_id}"  #: client ids differ between runs of one name


class Broker:
    """Makes the account at ``venue`` follow the books of node ``name``.

    ``runs`` are the runs whose orders are in the book already (all of them are checked
    against the account from the first sync on), ``symbols`` the panel's pairs (the
    exchange's market ids), ``now`` the node's clock for the rows' times, ``on_problem``
    what to do about an unexpected state (the node enters safe mode)."""

    def __init__(
        self,
        venue: CcxtVenue,
        book: TradeBook,
        *,
        name: str,
        run_id: int,
        runs: Sequence[int] = (),
        symbols: Sequence[str],
        config: LiveConfig,
        now: Callable[[], datetime],
        on_problem: Callable[[str], None],
    ) -> None:
        self.venue = venue
        self.book = book
        self.name = name
        self.run_id = run_id  #: the host's run: the account's baseline belongs to it
        self.config = config
        self.now = now
        self.on_problem = on_problem
        self._symbols = list(symbols)
        self._unified: dict[int, str] = {}
        self._ids: dict[str, str] = {}  #: symbol → the exchange's market id
        self._rules: dict[str, MarketRules] = {}
        self._assets: dict[str, tuple[str, str]] = {}
        self._trade_ids: dict[tuple[int, int], int] = {}
        self.failures = 0  #: syncs in a row that could not finish their work
        self.rows: dict[str, dict[str, Any]] = {}
        #: a cycle trader's orders by (run, trade); a netted pair's by (run, market id,
        #: account): the long position on spot, the short one on margin
        self.by_trade: dict[tuple[int, int], list[dict[str, Any]]] = {}
        self.by_pair: dict[tuple[int, str, str], list[dict[str, Any]]] = {}
        self._pending: set[str] = set()  #: client ids of orders not final yet
        self._loaded: set[int] = set()
        self._settled: dict[int, set[int]] = {}  #: per run: trades done with
        self._last_open: dict[int, set[int]] = {}  #: absent: the first sync looks at all
        self._last_n: dict[int, int] = {}
        self._paper_noted = False
        self.totals: dict[str, float] = {}
        #: shorts on the cross-margin account: its net assets as the fills leave them and
        #: the interest charged (the record, saved)
        self.margin = config.shorts == "margin"
        self.margin_totals: dict[str, float] = {}
        self.interest: dict[str, float] = {}
        #: per asset, the time of the newest interest charge read (``*``: the start)
        self._interest_since: dict[str, int] = {"*": 0}
        loaded = [self._load(r) for r in dict.fromkeys([run_id, *runs])]
        self.baseline = self._baseline(any(loaded))
        for asset, amount in self.baseline.items():
            self.totals[asset] = self.totals.get(asset, 0.0) + amount
        self.margin_baseline: dict[str, float] = {}
        if self.margin:
            margin_rows = any(account_of(r) == "margin" for r in self.rows.values())
            self.margin_baseline = self._margin_state(margin_rows)
            for asset, amount in self.margin_baseline.items():
                self.margin_totals[asset] = self.margin_totals.get(asset, 0.0) + amount

    # -- the account before the node's first order ----------------------------------

    def _baseline(self, orders: bool) -> dict[str, float]:
        """The account's balances before the node's first order, saved once: every later
        balance is checked against them plus the book's fills."""
        key = f"{self.name}-venue"
        saved = self.book.session_state(key)
        if saved is not None and saved.run_id == self.run_id:
            return {str(k): float(v) for k, v in json.loads(saved.payload).items()}
        if orders:
            raise StateError(
                f"node {self.name!r}: orders in the book but no saved balances to check them "
                "against; start the node afresh (--reset)"
            )
        totals = {a: free + locked for a, (free, locked) in self.venue.balances().items()}
        self.book.put_state(key, "live", self.run_id, json.dumps(totals).encode())
        return totals

    def _margin_state(self, orders: bool) -> dict[str, float]:
        """The cross-margin account's net assets before the first short, saved once with
        the record of the interest charged since (``<name>-margin``)."""
        key = f"{self.name}-margin"
        saved = self.book.session_state(key)
        if saved is not None and saved.run_id == self.run_id:
            state = json.loads(saved.payload)
            self.interest = {str(k): float(v) for k, v in state["interest"].items()}
            self._interest_since = {str(k): int(v) for k, v in state["since"].items()}
            return {str(k): float(v) for k, v in state["baseline"].items()}
        if orders:
            raise StateError(
                f"node {self.name!r}: margin orders in the book but no saved margin balances "
                "to check them against; start the node afresh (--reset)"
            )
        net = {
            a: free + locked - owed - interest
            for a, (free, locked, owed, interest) in self.venue.margin_balances().items()
        }
        self._interest_since = {"*": int(self.now().timestamp() * 1000)}
        self._save_margin(net)
        return net

    def _save_margin(self, baseline: dict[str, float]) -> None:
        state = {"baseline": baseline, "interest": self.interest, "since": self._interest_since}
        self.book.put_state(f"{self.name}-margin", "live", self.run_id, json.dumps(state).encode())

    def _load(self, run_id: int) -> bool:
        """The orders of run ``run_id`` in the book, once; True if it has any."""
        if run_id in self._loaded:
            return False
        self._loaded.add(run_id)
        # The paper venue's rows (``tw-<name>-…``, written while the agents traded on
        # paper) never reached an exchange: they are the model's record, not orders.
        rows = [
            r for r in self.book.node_orders(run_id) if not r["client_order_id"].startswith("tw-")
        ]
        for r in rows:
            r["symbol"] = self.venue.symbol_of(str(r["pair"]))
            self._add(r)
        return bool(rows)

    def _add(self, row: dict[str, Any]) -> None:
        self.rows[row["client_order_id"]] = row
        run = int(row["run_id"])
        if row.get("trade_no") is None:
            key = (run, str(row["pair"]), account_of(row))
            self.by_pair.setdefault(key, []).append(row)
        else:
            self.by_trade.setdefault((run, int(row["trade_no"])), []).append(row)
        if row["status"] not in FINAL:
            self._pending.add(row["client_order_id"])
        self._count(row, 1.0)

    def _count(self, row: dict[str, Any], sign: float) -> None:
        """Add (``sign`` 1) or take back (-1) what an order's fills did to the assets."""
        filled = float(row.get("filled") or 0.0)
        if filled <= 0:
            return
        base, quote = self.assets(row["symbol"])
        side = 1.0 if row["side"] == "buy" else -1.0
        t = self.margin_totals if account_of(row) == "margin" else self.totals
        t[base] = t.get(base, 0.0) + sign * side * filled
        t[quote] = t.get(quote, 0.0) - sign * side * filled * float(row.get("average") or 0.0)
        if row.get("fee_asset"):
            asset = str(row["fee_asset"])
            t[asset] = t.get(asset, 0.0) - sign * float(row.get("fee") or 0.0)

    # -- markets ---------------------------------------------------------------------

    def symbol(self, pair: int) -> str:
        """ccxt's symbol of the panel's pair ``pair``."""
        if pair not in self._unified:
            symbol = self.venue.symbol_of(self._symbols[pair])
            self._unified[pair] = symbol
            self._ids[symbol] = self._symbols[pair]
        return self._unified[pair]

    def rules(self, symbol: str) -> MarketRules:
        if symbol not in self._rules:
            self._rules[symbol] = self.venue.rules(symbol)
            self._assets[symbol] = self.venue.assets(symbol)
        return self._rules[symbol]

    def assets(self, symbol: str) -> tuple[str, str]:
        self.rules(symbol)
        return self._assets[symbol]

    # -- one sync ----------------------------------------------------------------------

    def sync(self, books: Sequence[CycleBook | AgentsBook]) -> SyncReport:
        """Bring the account in line with ``books``, then reconcile; see the module's
        docstring."""
        report = SyncReport()
        start = self.venue.requests
        try:
            for b in books:
                self._load(b.run_id)
            self._refresh(books, report)
            for b in books:
                if isinstance(b, CycleBook):
                    for i in self._candidates(b):
                        self._follow(b, int(i), report)
                else:
                    self._net(b, report)
            self._reconcile(report)
            for b in books:
                if isinstance(b, AgentsBook):
                    self._net_drift(b, report)
            if report.drift:
                log.warning(
                    "node %s: netted positions away from the agents' books: %s",
                    self.name,
                    ", ".join(
                        f"{p} {w:.10g} in the books, {h:.10g} held"
                        for p, (w, h) in sorted(report.drift.items())
                    ),
                )
            self.failures = 0
        except ExchangeFatal as exc:
            report.problems.append(f"fatal exchange error: {exc}")
        except ExchangeRetryable as exc:
            self.failures += 1
            log.warning("node %s: exchange unreachable this sync (%s)", self.name, exc)
            if self.failures >= self.config.max_failures:
                report.problems.append(
                    f"{self.failures} syncs in a row failed at the exchange: {exc}"
                )
        except ExchangeError as exc:  # anything else the exchange said: safe, not a crash
            report.problems.append(f"unexpected answer from the exchange: {exc}")
        report.requests = self.venue.requests - start
        for problem in report.problems:
            log.error("node %s: %s", self.name, problem)
            self.on_problem(problem)
        return report

    def _candidates(self, b: CycleBook) -> list[int]:
        """Real trades that may need an order: those open now or at the last sync, those
        created since, and those with orders not settled. The first sync after a start
        looks at every trade (what changed while the node was down is not known)."""
        tr = b.trader.trades
        n = b.trader.n_trades
        # Pending or active by status: a nomination joins the kernel's open list only at
        # the next candle.
        status = tr["status"][:n]
        live = (status == Status.PENDING) | (status == Status.ACTIVE)
        open_now = set(np.flatnonzero(live).tolist())
        last = self._last_open.get(b.run_id)
        if last is None:
            ids = set(range(n))
        else:
            ids = open_now | last | set(range(self._last_n[b.run_id], n))
            ids.update(
                int(r["trade_no"])
                for c in self._pending
                if (r := self.rows[c])["run_id"] == b.run_id and r.get("trade_no") is not None
            )
        self._last_open[b.run_id], self._last_n[b.run_id] = open_now, n
        pick = np.array(sorted(ids - self._settled.get(b.run_id, set())), dtype=np.int64)
        if len(pick) == 0:
            return []
        keep = (tr["kind"][pick] == Kind.REAL) & (tr["entry_t"][pick] >= b.first_t)
        return [int(i) for i in pick[keep]]

    def _refresh(self, books: Sequence[CycleBook | AgentsBook], report: SyncReport) -> None:
        """Ask the exchange about every order not final yet; send intents that never
        reached it (unless the model has moved on: an entry or a stop for a trade no longer
        open is skipped, as is a netted order the pair no longer needs); flag open orders
        no book knows."""
        by_run = {b.run_id: b for b in books}
        if self.margin:
            self._read_margin()
        open_now = {o.client_id: o for o in self.venue.open_orders()}
        if self.margin:
            open_now.update({o.client_id: o for o in self.venue.open_orders(margin=True)})
        for cid in sorted(set(open_now) - set(self.rows)):
            report.problems.append(
                f"unknown open order {cid!r} on {open_now[cid].symbol} in the account"
            )
        for cid in sorted(self._pending):
            row = self.rows[cid]
            state = open_now.get(cid)
            if state is None:
                state = self.venue.order(cid, row["symbol"], margin=account_of(row) == "margin")
            if state is not None:
                self._record(row, state)
                continue
            if row["status"] in ("intent", "unknown"):
                owner = by_run.get(int(row["run_id"]))
                if owner is None:
                    continue  # a book not followed this sync: asked about again next time
                gone = self._moved_on(owner, row)
                if gone:
                    self._update(row, {"status": "skipped", "note": gone})
                    report.skipped += 1
                else:
                    self._send(row, report)  # it never arrived: send it now, same id
            else:
                report.problems.append(f"order {cid!r} was open and the exchange lost it")
                self._update(row, {"status": "expired", "note": "lost by the exchange"})

    def _moved_on(self, owner: CycleBook | AgentsBook, row: dict[str, Any]) -> str | None:
        """Why an order that never reached the exchange is not to be sent any more (None:
        send it)."""
        role = str(row["role"])
        if isinstance(owner, CycleBook):
            i = int(row["trade_no"])
            if int(owner.trader.trades["status"][i]) != Status.ACTIVE and not role.startswith("x"):
                return "never reached the exchange; the model has exited since"
            return None
        if role.startswith(("s", "ms")):
            return "never reached the exchange; the stop is set again from the books"
        base, _ = self.assets(row["symbol"])
        acct = account_of(row)
        rows = self.by_pair[(owner.run_id, str(row["pair"]), acct)]
        if acct == "margin":  # short: what is owed against what the books short
            want = self._targets(owner, -1).get(str(row["pair"]), (0.0, math.nan))[0]
            diff = self._short(rows, base) - want
        else:
            want = self._targets(owner).get(str(row["pair"]), (0.0, math.nan))[0]
            diff = want - held_of(rows, base)
        needed = diff > 0 if row["side"] == "buy" else diff < 0
        return None if needed else "never reached the exchange; the agents no longer need it"

    # -- a cycle trader, trade by trade ------------------------------------------------

    def _follow(self, b: CycleBook, i: int, report: SyncReport) -> None:
        self._act(b, i, report)
        rows = self.by_trade.get((b.run_id, i), [])
        finished = int(b.trader.trades["status"][i]) in (Status.CLOSED, Status.EXPIRED)
        if finished and rows and all(r["status"] in FINAL for r in rows):
            base, _ = self.assets(rows[0]["symbol"])
            exits = [r for r in rows if r["role"].startswith("x")]
            dust = float(exits[-1].get("dust") or 0.0) if exits else 0.0
            if held_of(rows, base) <= dust + 1e-12:  # flat but for the dust it recorded
                self._settled.setdefault(b.run_id, set()).add(i)

    def _act(self, b: CycleBook, i: int, report: SyncReport) -> None:
        tr = b.trader.trades[i]
        key = (b.run_id, i)
        rows = self.by_trade.get(key, [])
        symbol = self.symbol(int(tr["pair"]))
        rules = self.rules(symbol)
        base, _quote = self.assets(symbol)
        status = int(tr["status"])
        entry = next((r for r in rows if r["role"] == "entry"), None)
        order = _Orders(self, b.name, b.run_id, symbol, trade=i)
        if entry is None:
            if status == Status.ACTIVE:
                qty = _clean(_floor(float(tr["qty"]), rules.lot_step), rules.lot_step)
                order.new("entry", "buy", "market", qty, report)
            elif status == Status.CLOSED:
                order.new(
                    "entry",
                    "buy",
                    "market",
                    float(tr["qty"]),
                    report,
                    skip="entered and exited between two syncs: not sent",
                )
            return
        pending = [r for r in rows if r["status"] not in FINAL]
        if any(r["status"] in ("intent", "unknown") for r in pending):
            return  # fate unknown: nothing more until the exchange has said
        resting = next((r for r in pending if r["role"].startswith("s")), None)
        if status == Status.ACTIVE:
            self._legs(b, i, order, report)
            if any(r["status"] not in FINAL and r["role"].startswith("leg") for r in rows):
                return  # a leg still working: the stop follows once its fill is known
            if self.config.protective_stops:
                self._protect(order, order.rows(), resting, float(tr["stop"]), report)
            return
        # The model has exited: cancel the protection and sell what is really there.
        if resting is not None and not self._cancel(resting, report):
            return  # the stop filled at the exchange: already flat
        rows = self.by_trade.get(key, [])
        held = held_of(rows, base)
        exits = [r for r in rows if r["role"].startswith("x")]
        if held <= 1e-12 or any(r["status"] not in FINAL for r in exits):
            return
        if exits and held <= float(exits[-1].get("dust") or 0.0) + 1e-12:
            return  # only the dust the last exit recorded is left
        price = float(b.trader.a.last_close[int(tr["pair"]), b.trader.next_t - 1])
        self._sell(order, f"x{len(exits) + 1}", held, price, report)

    def _legs(self, b: CycleBook, i: int, order: _Orders, report: SyncReport) -> None:
        """A reinvestment leg the model added to an open trade: a market buy of what the
        model added (role ``leg<n>``, ``n`` the model's leg count; legs added while the
        node was down are bought in one order). Too small for the exchange, it is recorded
        as skipped; a trade whose entry bought nothing gets no leg either."""
        tr = b.trader.trades[i]
        legs = int(tr["legs"])
        rows = order.rows()
        done = max([1] + [int(r["role"][3:]) for r in rows if r["role"].startswith("leg")])
        if legs <= done:
            return
        entry = next(r for r in rows if r["role"] == "entry")
        if not float(entry.get("filled") or 0.0) > 0:
            return  # no position at the exchange (entry refused or skipped): nothing to add
        rules = self.rules(order.symbol)
        ordered = sum(
            float(r["qty"]) for r in rows if r["role"] == "entry" or r["role"].startswith("leg")
        )
        qty = _clean(_floor(float(tr["qty"]) - ordered, rules.lot_step), rules.lot_step)
        price = float(b.trader.a.last_close[int(tr["pair"]), b.trader.next_t - 1])
        if qty <= 0 or qty * price < rules.min_notional:
            order.new(
                f"leg{legs}", "buy", "market", max(qty, 0.0), report,
                skip="the leg is below the exchange's minimum: not sent",
            )  # fmt: skip
            return
        order.new(f"leg{legs}", "buy", "market", qty, report)

    def _protect(
        self,
        order: _Orders,
        rows: list[dict[str, Any]],
        resting: dict[str, Any] | None,
        stop: float,
        report: SyncReport,
    ) -> None:
        """Keep one stop resting at ``stop`` for what ``rows`` hold, replacing the one
        resting when its level or quantity is no longer right."""
        rules = self.rules(order.symbol)
        base, _ = self.assets(order.symbol)
        lot = rules.lot_step
        held = held_of(rows, base)
        if held < max(lot, 1e-12) or not math.isfinite(stop):
            return
        level = _clean(_nearest(stop, rules.tick), rules.tick)
        qty = _clean(_floor(held, lot), lot)
        if resting is not None:
            same = math.isclose(float(resting["stop_price"]), level, rel_tol=1e-12)
            if same and math.isclose(float(resting["qty"]), qty, rel_tol=1e-12):
                return
            if not self._cancel(resting, report):
                return  # it filled meanwhile: held is 0 now, nothing to protect
            held = held_of(order.rows(), base)
            qty = _clean(_floor(held, lot), lot)
            if qty <= 0:
                return
        if qty * level < rules.min_notional:
            return  # below the exchange's minimum: the model's exit sells it
        stops = [r for r in order.rows() if r["role"].startswith("s")]
        if stops and stops[-1]["status"] == "rejected" and stops[-1]["stop_price"] == level:
            return  # refused at this level already (e.g. it would trigger at once)
        limit = _clean(_floor(level * (1 - self.config.stop_limit_gap), rules.tick), rules.tick)
        order.new(f"s{len(stops) + 1}", "sell", "stop_loss_limit", qty, report, level, limit)

    def _sell(
        self, order: _Orders, role: str, held: float, price: float, report: SyncReport
    ) -> None:
        """Sell what ``held`` allows on the lot step; below the exchange's minimum it is
        recorded as dust, not sent."""
        rules = self.rules(order.symbol)
        qty = _clean(_floor(held, rules.lot_step), rules.lot_step)
        if qty <= 0 or (rules.min_notional and qty * price < rules.min_notional):
            order.new(
                role,
                "sell",
                "market",
                0.0,
                report,
                skip="below the exchange's minimum: kept as dust",
                dust=held,
            )
            return
        order.new(role, "sell", "market", qty, report, dust=held - qty)

    # -- the agents, netted per pair ---------------------------------------------------

    def _targets(self, b: AgentsBook, side: int = 1) -> dict[str, tuple[float, float]]:
        """Each pair's position the agents' books hold at the exchange: their real long
        trades with the lowest of their stops (``side`` -1: their real shorts, with the
        highest)."""
        session = b.session
        tr = session.trades[: session.n_trades]
        live = tr[(tr["kind"] == Kind.REAL) & (tr["status"] == Status.ACTIVE)]
        if not self.margin and not self._paper_noted and (live["side"] < 0).any():
            log.warning(
                "node %s: short agents trade on paper only (a spot account holds no short; "
                'live.shorts = "margin" trades them on the cross-margin account)',
                self.name,
            )
            self._paper_noted = True
        mine_side = live[live["side"] == side]
        out: dict[str, tuple[float, float]] = {}
        for p in np.unique(mine_side["pair"]).tolist():
            mine = mine_side[mine_side["pair"] == p]
            stop = float(mine["stop"].min()) if side > 0 else float(mine["stop"].max())
            out[self._symbols[int(p)]] = (float(mine["qty"].sum()), stop)
        return out

    def _short(self, rows: list[dict[str, Any]], base: str) -> float:
        """What a netted short owes in ``base``: sold, less bought back (after the fee),
        plus the interest charged in it since the first short (one pair a base asset)."""
        return -held_of(rows, base) + self.interest.get(base, 0.0)

    def _margin_bases(self) -> list[str]:
        bases = {
            self.assets(rows[0]["symbol"])[0]
            for (_run, _pair, acct), rows in self.by_pair.items()
            if acct == "margin" and rows
        }
        return sorted(bases)

    def _read_margin(self) -> dict[str, float]:
        """The cross-margin account as it stands: the interest charged since the last read
        added to the record (saved when it grew), and each asset's net (free + locked -
        borrowed - interest owed)."""
        have = self.venue.margin_balances()
        grew = False
        for base in self._margin_bases():
            # Each asset from its own newest charge: one asset's charge posted late is
            # not hidden behind another's newer one.
            since = self._interest_since.get(base, self._interest_since["*"])
            charged, newest = self.venue.interest_since(base, since)
            if charged > 0:
                self.interest[base] = self.interest.get(base, 0.0) + charged
                self._interest_since[base] = newest
                grew = True
        if grew:
            self._save_margin(self.margin_baseline)
        return {a: f + lk - b - i for a, (f, lk, b, i) in have.items()}

    def _net(self, b: AgentsBook, report: SyncReport) -> None:
        """Each pair's exchange position brought to the sum of the agents' books, with one
        protective stop for it at the lowest of their stops."""
        if self.margin:
            self._net_shorts(b, report)
        targets = self._targets(b)
        pairs = {p for (run, p, acct) in self.by_pair if run == b.run_id and acct == "spot"}
        pairs |= set(targets)
        index = {m: i for i, m in enumerate(self._symbols)}
        for market_id in sorted(pairs):
            if market_id not in index:
                continue  # a pair no longer on the grid: its rows are kept, not traded
            p = index[market_id]
            symbol = self.symbol(p)
            rules = self.rules(symbol)
            base, _ = self.assets(symbol)
            order = _Orders(self, b.name, b.run_id, symbol, pair=market_id)
            rows = order.rows()
            pending = [r for r in rows if r["status"] not in FINAL]
            if any(r["status"] in ("intent", "unknown") or r["role"][0] == "n" for r in pending):
                continue  # fate unknown, or a market order still working: wait for it
            want, stop = targets.get(market_id, (0.0, math.nan))
            held = held_of(rows, base)
            resting = next((r for r in pending if r["role"].startswith("s")), None)
            price = float(b.session.last_close[p])
            lot = max(rules.lot_step, 1e-12)
            diff = want - held
            trades = [r for r in rows if r["role"][0] == "n"]
            role = f"n{len(trades) + 1}"
            if diff >= lot and math.isfinite(price) and not b.safe:
                qty = _clean(_floor(diff, rules.lot_step), rules.lot_step)
                if not self._refused(trades, "buy", qty) and qty * price >= rules.min_notional:
                    order.new(role, "buy", "market", qty, report)
                    if order.rows()[-1]["status"] not in FINAL:
                        continue  # the stop follows once the fill is known
            elif -diff >= lot and held >= lot:
                qty = _clean(_floor(min(-diff, held), rules.lot_step), rules.lot_step)
                sellable = qty > 0 and qty * price >= rules.min_notional
                if sellable and not self._refused(trades, "sell", qty):
                    if resting is not None:
                        if not self._cancel(resting, report):
                            continue  # the stop filled meanwhile: next sync sees the rest
                        resting = None
                    held = held_of(order.rows(), base)
                    qty = _clean(_floor(min(-diff, held), rules.lot_step), rules.lot_step)
                    if qty > 0:
                        order.new(role, "sell", "market", qty, report, dust=held - qty)
                        if order.rows()[-1]["status"] not in FINAL:
                            continue
            if want <= 0:
                if resting is not None:
                    self._cancel(resting, report)
                continue
            if self.config.protective_stops:
                resting = next(
                    (r for r in order.rows() if r["status"] not in FINAL and r["role"][0] == "s"),
                    None,
                )
                self._protect(order, order.rows(), resting, stop, report)

    # -- the short agents, netted per pair on the cross-margin account -----------------

    def _net_shorts(self, b: AgentsBook, report: SyncReport) -> None:
        """Each pair's short on the margin account brought to the sum of the agents'
        real shorts: a sell that borrows what it lacks (``MARGIN_BUY``) to short more, a
        buy that repays (``AUTO_REPAY``) to short less, and one protective stop-buy for
        the whole short at the *highest* of their stops (mirroring the longs)."""
        targets = self._targets(b, -1)
        pairs = {p for (run, p, acct) in self.by_pair if run == b.run_id and acct == "margin"}
        pairs |= set(targets)
        index = {m: i for i, m in enumerate(self._symbols)}
        for market_id in sorted(pairs):
            if market_id not in index:
                continue
            p = index[market_id]
            symbol = self.symbol(p)
            rules = self.rules(symbol)
            base, _ = self.assets(symbol)
            order = _Orders(self, b.name, b.run_id, symbol, pair=market_id, account="margin")
            rows = order.rows()
            pending = [r for r in rows if r["status"] not in FINAL]
            if any(r["status"] in ("intent", "unknown") or r["role"][1] == "n" for r in pending):
                continue  # fate unknown, or a market order still working
            want, stop = targets.get(market_id, (0.0, math.nan))
            short = self._short(rows, base)
            price = float(b.session.last_close[p])
            lot = max(rules.lot_step, 1e-12)
            trades = [r for r in rows if r["role"].startswith("mn")]
            role = f"mn{len(trades) + 1}"
            diff = want - short
            # Only a short the books hold grows: dust a buy-back left is never sold again
            # (that would open a loan to close it, again and again).
            if want > 0 and diff >= lot and math.isfinite(price) and not b.safe:
                qty = _clean(_floor(diff, rules.lot_step), rules.lot_step)
                if not self._refused(trades, "sell", qty) and qty * price >= rules.min_notional:
                    order.new(role, "sell", "market", qty, report)
                    if order.rows()[-1]["status"] not in FINAL:
                        continue
            elif -diff >= lot or (want <= 0 and short > 0):
                if want <= 0:
                    self._buy_back(order, price, report)
                    continue
                qty = _clean(_floor(-diff, rules.lot_step), rules.lot_step)
                if qty * price >= rules.min_notional and not self._refused(trades, "buy", qty):
                    resting = next((r for r in pending if r["role"].startswith("ms")), None)
                    if resting is not None and not self._cancel(resting, report):
                        continue  # the stop filled meanwhile
                    order.new(role, "buy", "market", qty, report)
                    if order.rows()[-1]["status"] not in FINAL:
                        continue
            if want <= 0:
                continue
            if self.config.protective_stops:
                self._protect_short(order, stop, report)

    def _buy_back(self, order: _Orders, price: float, report: SyncReport) -> None:
        """Close a pair's whole short: cancel its stop, buy back what is owed (interest
        included, rounded up to the lot step; the rest stays as dust in the margin
        account)."""
        rows = order.rows()
        if any(r["status"] in ("intent", "unknown") for r in rows):
            return
        for r in [r for r in rows if r["status"] == "open"]:
            if not self._cancel(r, report):
                return  # it filled: the next sync sees what is left
        rules = self.rules(order.symbol)
        base, _ = self.assets(order.symbol)
        short = self._short(order.rows(), base)
        if short <= 1e-12:
            return
        qty = _clean(_ceil(short / (1 - self._fee_rate(order.rows(), base)), rules.lot_step),
                     rules.lot_step)  # fmt: skip
        trades = [r for r in order.rows() if r["role"].startswith("mn")]
        if self._refused(trades, "buy", qty):
            return
        if qty * price < rules.min_notional:
            qty = _clean(_ceil(rules.min_notional / price, rules.lot_step), rules.lot_step)
        order.new(f"mn{len(trades) + 1}", "buy", "market", qty, report)

    @staticmethod
    def _fee_rate(rows: list[dict[str, Any]], base: str, default: float = 0.001) -> float:
        """The fee rate the exchange took in ``base`` on the buys so far (a buy that must
        leave ``x`` after its fee buys ``x / (1 - rate)``); ``default`` before any."""
        return max(
            (
                float(r["fee"] or 0) / float(r["filled"])
                for r in rows
                if r["side"] == "buy" and r.get("fee_asset") == base and r.get("filled")
            ),
            default=default,
        )

    def _protect_short(self, order: _Orders, stop: float, report: SyncReport) -> None:
        """One stop-buy resting for the whole short at ``stop``, with auto-repay."""
        rules = self.rules(order.symbol)
        base, _ = self.assets(order.symbol)
        rows = order.rows()
        short = self._short(rows, base)
        if short < max(rules.lot_step, 1e-12) or not math.isfinite(stop):
            return
        level = _clean(_nearest(stop, rules.tick), rules.tick)
        qty = _clean(_ceil(short / (1 - self._fee_rate(rows, base)), rules.lot_step),
                     rules.lot_step)  # fmt: skip
        resting = next(
            (r for r in rows if r["status"] not in FINAL and r["role"].startswith("ms")), None
        )
        if resting is not None:
            same = math.isclose(float(resting["stop_price"]), level, rel_tol=1e-12)
            # The interest grows the debt a little every hour: the stop is replaced only
            # when it would no longer cover the short.
            if same and float(resting["qty"]) >= qty - 1e-12:
                return
            if not self._cancel(resting, report):
                return
        if qty * level < rules.min_notional:
            return
        stops = [r for r in rows if r["role"].startswith("ms")]
        if stops and stops[-1]["status"] == "rejected" and stops[-1]["stop_price"] == level:
            return
        limit = _clean(_ceil(level * (1 + self.config.stop_limit_gap), rules.tick), rules.tick)
        order.new(f"ms{len(stops) + 1}", "buy", "stop_loss_limit", qty, report, level, limit)

    @staticmethod
    def _refused(trades: list[dict[str, Any]], side: str, qty: float) -> bool:
        """Whether the last netting order, the same one, was refused (not sent again
        until the books ask for something else)."""
        if not trades:
            return False
        last = trades[-1]
        return (
            last["status"] == "rejected"
            and last["side"] == side
            and math.isclose(float(last["qty"]), qty, rel_tol=1e-12)
        )

    def _net_drift(self, b: AgentsBook, report: SyncReport) -> None:
        """Pairs whose netted position is away from the agents' books by more than the
        exchange lets an order correct (a lot, the minimum notional)."""
        targets = self._targets(b)
        pairs = {p for (run, p, acct) in self.by_pair if run == b.run_id and acct == "spot"}
        pairs |= set(targets)
        for market_id in sorted(pairs & set(self._symbols)):
            rows = self.by_pair.get((b.run_id, market_id, "spot"), [])
            if any(r["status"] not in FINAL and r["role"][0] == "n" for r in rows):
                continue  # on its way
            symbol = self.symbol(self._symbols.index(market_id))
            rules = self.rules(symbol)
            base, _ = self.assets(symbol)
            held = held_of(rows, base)
            want = targets.get(market_id, (0.0, math.nan))[0]
            price = float(b.session.last_close[self._symbols.index(market_id)])
            # A fee taken in the base asset leaves the position short of the books by the
            # fee; an order below a lot or the exchange's minimum cannot correct it.
            slack = rules.lot_step + want * self._fee_rate(rows, base, default=0.0)
            slack += rules.min_notional / price if price > 0 else 0.0
            if abs(held - want) > slack + 1e-9:
                report.drift[market_id] = (want, held)

    # -- flatten -----------------------------------------------------------------------

    def flatten(self, books: Sequence[CycleBook | AgentsBook]) -> SyncReport:
        """Cancel every open order of the node and sell every position it holds, whatever
        the models say (``tradewind flatten``); the node is put in safe mode by its
        caller."""
        report = SyncReport()
        start = self.venue.requests
        for b in books:
            self._load(b.run_id)
        self._refresh(books, report)
        for cid in sorted(self._pending):
            row = self.rows[cid]
            if row["status"] == "open":
                self._cancel(row, report)
        owners = {b.run_id: b for b in books}
        held_rows: list[tuple[_Orders, list[dict[str, Any]], float]] = []
        for (run, i), rows in sorted(self.by_trade.items()):
            owner = owners.get(run)
            if not isinstance(owner, CycleBook):
                continue
            t = owner.trader
            price = float(t.a.last_close[int(t.trades["pair"][i]), t.next_t - 1])
            order = _Orders(self, owner.name, run, rows[0]["symbol"], trade=i)
            held_rows.append((order, rows, price))
        for (run, market_id, acct), rows in sorted(self.by_pair.items()):
            owner = owners.get(run)
            if not isinstance(owner, AgentsBook) or market_id not in self._symbols:
                continue
            price = float(owner.session.last_close[self._symbols.index(market_id)])
            order = _Orders(self, owner.name, run, rows[0]["symbol"], pair=market_id, account=acct)
            if acct == "margin":
                self._buy_back(order, price, report)
                continue
            held_rows.append((order, rows, price))
        for order, rows, price in held_rows:
            base, _ = self.assets(order.symbol)
            rules = self.rules(order.symbol)
            held = held_of(rows, base)
            if _clean(_floor(held, rules.lot_step), rules.lot_step) <= 0:
                continue
            if any(r["status"] not in FINAL for r in rows):
                report.problems.append(
                    f"{order.what}: an order's fate is still unknown; its {held:.10g} "
                    f"{base} is not sold yet"
                )
                continue
            if rules.min_notional and held * price < rules.min_notional:
                continue  # dust: the exchange takes no order this small
            prefix = "x" if order.trade is not None else "n"
            n = 1 + sum(1 for r in rows if r["role"].startswith(prefix))
            self._sell(order, f"{prefix}{n}", held, price, report)
        self._reconcile(report)
        report.requests = self.venue.requests - start
        return report

    # -- orders ------------------------------------------------------------------------

    def _trade_id(self, run_id: int, i: int) -> int:
        if (run_id, i) not in self._trade_ids:
            self._trade_ids[(run_id, i)] = self.book.trade_id(run_id, i)
        return self._trade_ids[(run_id, i)]

    def _send(self, row: dict[str, Any], report: SyncReport) -> None:
        intent = OrderIntent(
            client_id=row["client_order_id"],
            symbol=row["symbol"],
            side=row["side"],
            type=row["type"],
            amount=float(row["qty"]),
            price=row["price"],
            stop_price=row["stop_price"],
        )
        if account_of(row) == "margin":  # a short: sells borrow, buys repay
            effect = "MARGIN_BUY" if row["side"] == "sell" else "AUTO_REPAY"
            intent = replace(intent, margin=True, side_effect=effect)
        try:
            state = self.venue.place(intent)
        except ExchangeRejected as exc:
            report.rejected += 1
            log.warning("node %s: order %s rejected: %s", self.name, intent.client_id, exc)
            self._update(row, {"status": "rejected", "note": str(exc)[:500]})
            return
        except ExchangeRetryable:
            # Not placed, or its fate unknown: the row stays and is asked about first.
            self._update(row, {"status": "unknown"})
            raise
        report.placed += 1
        self._record(row, state)

    def _cancel(self, row: dict[str, Any], report: SyncReport) -> bool:
        """Cancel a resting order; False when it had filled meanwhile."""
        margin = account_of(row) == "margin"
        state = self.venue.cancel(row["client_order_id"], row["symbol"], margin=margin)
        if state is None:  # no longer open: learn how it ended
            state = self.venue.order(row["client_order_id"], row["symbol"], margin=margin)
            if state is None:
                self._update(row, {"status": "expired", "note": "gone at the exchange"})
                return True
        else:
            report.cancelled += 1
        self._record(row, state)
        return float(row.get("filled") or 0.0) <= 0.0 or row["status"] == "canceled"

    def _record(self, row: dict[str, Any], state: OrderState) -> None:
        status = state.status if state.status in FINAL | {"open"} else "open"
        values = {
            "status": status,
            "filled": state.filled,
            "average": state.average,
            "fee": state.fee,
            "fee_asset": state.fee_currency,
            "exchange_order_id": state.exchange_id or None,
        }
        if all(row.get(k) == v for k, v in values.items()):
            return
        self._update(row, values)

    def _update(self, row: dict[str, Any], values: dict[str, Any]) -> None:
        values = {**values, "updated_at": self.now()}
        self.book.update_order(row["client_order_id"], values)
        self._count(row, -1.0)
        row.update(values)
        self._count(row, 1.0)
        if row["status"] in FINAL:
            self._pending.discard(row["client_order_id"])
        else:
            self._pending.add(row["client_order_id"])

    # -- reconciliation ----------------------------------------------------------------

    def _reconcile(self, report: SyncReport) -> None:
        """The account's balances against the baseline plus the books' fills."""
        have = {a: free + locked for a, (free, locked) in self.venue.balances().items()}
        tol = self.config.balance_tolerance
        steps: dict[str, float] = {}
        for symbol, rules in self._rules.items():
            base, _ = self._assets[symbol]
            steps[base] = max(steps.get(base, 0.0), rules.lot_step)
        for asset, want in sorted(self.totals.items()):
            got = have.get(asset, 0.0)
            slack = max(tol * abs(self.baseline.get(asset, want)), 2 * steps.get(asset, 0.0), 1e-8)
            if abs(got - want) > slack:
                report.problems.append(
                    f"balance of {asset} at the exchange is {got:.10g}, the books expect "
                    f"{want:.10g}"
                )
        if not self.margin:
            return
        net = self._read_margin()
        report.interest = dict(self.interest)
        for asset, want in sorted(self.margin_totals.items()):
            want -= self.interest.get(asset, 0.0)
            got = net.get(asset, 0.0)
            before = self.margin_baseline.get(asset, want)
            slack = max(tol * abs(before), 2 * steps.get(asset, 0.0), 1e-8)
            if abs(got - want) > slack:
                report.problems.append(
                    f"margin account: net {asset} is {got:.10g}, the books expect {want:.10g}"
                )

    def positions(self) -> dict[str, float]:
        """Each pair's quantity the books hold at the exchange (netted over trades and
        agents)."""
        out: dict[str, float] = {}
        for (_run, _pair, acct), rows in self.by_pair.items():
            if acct == "margin" and rows:
                base, _ = self.assets(rows[0]["symbol"])
                out[rows[0]["symbol"]] = out.get(rows[0]["symbol"], 0.0) - self._short(rows, base)
        spot = [rows for (_r, _p, acct), rows in self.by_pair.items() if acct == "spot"]
        for rows in [*self.by_trade.values(), *spot]:
            symbol = rows[0]["symbol"]
            base, _ = self.assets(symbol)
            held = held_of(rows, base)
            if abs(held) > 0:
                out[symbol] = out.get(symbol, 0.0) + held
        return out


class _Orders:
    """Where new orders of one trade (``trade``) or one netted pair (``pair``) go: their
    client ids, their rows, and the intent written before each request."""

    def __init__(
        self,
        broker: Broker,
        name: str,
        run_id: int,
        symbol: str,
        *,
        trade: int | None = None,
        pair: str | None = None,
        account: str = "spot",
    ) -> None:
        self.broker = broker
        self.run_id = run_id
        self.key = _key(name, run_id)
        self.symbol = symbol
        self.trade = trade
        self.pair = pair
        self.account = account
        short = " short, on margin" if account == "margin" else ""
        self.what = f"trade {trade}" if trade is not None else f"{pair} (netted{short})"

    def rows(self) -> list[dict[str, Any]]:
        if self.trade is not None:
            return self.broker.by_trade.get((self.run_id, self.trade), [])
        return self.broker.by_pair.get((self.run_id, str(self.pair), self.account), [])

    def new(
        self,
        role: str,
        side: str,
        kind: str,
        qty: float,
        report: SyncReport,
        stop: float | None = None,
        limit: float | None = None,
        *,
        skip: str | None = None,
        dust: float | None = None,
    ) -> None:
        broker = self.broker
        now = broker.now()
        trade = self.trade
        number = trade if trade is not None else pair_number(str(self.pair))
        row: dict[str, Any] = {
            "run_id": self.run_id,
            "trade_id": None if trade is None else broker._trade_id(self.run_id, trade),
            "client_order_id": client_order_id(self.key, number, role),
            "role": role,
            "side": side,
            "type": kind,
            "qty": qty,
            "price": limit,
            "stop_price": stop,
            "status": "skipped" if skip else "intent",
            "created_at": now,
            "updated_at": now,
            "pair": broker._ids[self.symbol],
            "filled": 0.0,
            "dust": dust,
            "note": skip,
        }
        broker.book.put_order(row)  # the intent is in the book before the request goes out
        row["trade_no"] = trade
        row["symbol"] = self.symbol
        broker._add(row)
        if skip:
            report.skipped += 1
            log.info("node %s: %s %s: %s", broker.name, self.what, role, skip)
            return
        broker._send(row, report)
