"""The venue in the node: the model's trades carried out at an exchange, and the exchange
checked against the book.

The cycle trader decides exactly as in a backtest; after each tick the broker makes the
account follow it. Each step is a pure function of two things, the trader's saved state and
the order rows in the trade book, so the same :meth:`Broker.sync` serves a tick, a start-up
and a recovery after a crash:

* a real trade the model **entered** and that has no entry order gets a market buy of the
  model's quantity (role ``entry``). A trade that entered and exited between two ticks
  (the node was down) is recorded as ``skipped``, never sent;
* an **open position** has a protective stop resting at the exchange
  (``STOP_LOSS_LIMIT`` sell, roles ``s1``, ``s2`` …) at the model's stop, replaced when the
  trailing stop moves it, so the position stays protected while the node is down;
* a trade the model **exited** has its stop cancelled and what is really held sold
  (``x1``; another ``x<n>`` if a partial fill left enough). What the lot step leaves is
  recorded as dust.

Every order is written to the book as an intent before it is sent, with a client order id
derived from the node's run, the trade and the role, so a crash at any moment leaves a row
that the next sync asks the exchange about before anything is sent again.

Each sync also **reconciles**: an open order of the account that the book does not know,
or a balance far from what the book's fills add up to, puts the node in safe mode (no new
entries, exits still managed), as do fatal errors and repeated failures.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
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

__all__ = ["Broker", "SyncReport", "held_of"]

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
    """What a trade's orders leave at the exchange: bought, less fees taken in the base
    asset, less sold."""
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


@dataclass
class SyncReport:
    """What one sync did at the exchange."""

    placed: int = 0
    cancelled: int = 0
    skipped: int = 0
    rejected: int = 0
    requests: int = 0
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "placed": self.placed,
            "cancelled": self.cancelled,
            "skipped": self.skipped,
            "rejected": self.rejected,
            "requests": self.requests,
            "problems": list(self.problems),
        }


class Broker:
    """Makes the account at ``venue`` follow the trader of node run ``run_id``.

    ``symbols`` are the panel's pairs (the exchange's market ids), ``now`` the node's
    clock for the rows' times, ``on_problem`` what to do about an unexpected state (the
    node enters safe mode)."""

    def __init__(
        self,
        venue: CcxtVenue,
        book: TradeBook,
        *,
        name: str,
        run_id: int,
        symbols: Sequence[str],
        config: LiveConfig,
        now: Callable[[], datetime],
        on_problem: Callable[[str], None],
    ) -> None:
        self.venue = venue
        self.book = book
        self.name = name
        self.run_id = run_id
        self.key = f"{name}#{run_id}"  #: client ids differ between runs of one name
        self.prefix = client_order_id(self.key, 0, "x").rsplit("-", 2)[0] + "-"
        self.config = config
        self.now = now
        self.on_problem = on_problem
        self._symbols = list(symbols)
        self._unified: dict[int, str] = {}
        self._ids: dict[str, str] = {}  #: symbol → the exchange's market id
        self._rules: dict[str, MarketRules] = {}
        self._assets: dict[str, tuple[str, str]] = {}
        self._trade_ids: dict[int, int] = {}
        self.failures = 0  #: syncs in a row that could not finish their work
        rows = book.node_orders(run_id)
        self.rows: dict[str, dict[str, Any]] = {}
        self.by_trade: dict[int, list[dict[str, Any]]] = {}
        self._pending: set[str] = set()  #: client ids of orders not final yet
        self._settled: set[int] = set()  #: trades done with: finished, flat, all final
        self._last_open: set[int] | None = None  #: None: the first sync looks at all
        self._last_n = 0
        self.baseline = self._baseline()
        self.totals = dict(self.baseline)  #: each asset as the book's fills leave it
        for r in rows:
            r["symbol"] = self.venue.symbol_of(str(r["pair"]))
            self._add(r)

    # -- the account before the node's first order ----------------------------------

    def _baseline(self) -> dict[str, float]:
        """The account's balances before the node's first order, saved once: every later
        balance is checked against them plus the book's fills."""
        key = f"{self.name}-venue"
        saved = self.book.session_state(key)
        if saved is not None and saved.run_id == self.run_id:
            return {str(k): float(v) for k, v in json.loads(saved.payload).items()}
        if self.rows:
            raise StateError(
                f"node {self.name!r}: orders in the book but no saved balances to check them "
                "against; start the node afresh (--reset)"
            )
        totals = {a: free + locked for a, (free, locked) in self.venue.balances().items()}
        self.book.put_state(key, "live", self.run_id, json.dumps(totals).encode())
        return totals

    def _add(self, row: dict[str, Any]) -> None:
        self.rows[row["client_order_id"]] = row
        self.by_trade.setdefault(int(row["trade_no"]), []).append(row)
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
        t = self.totals
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

    def sync(self, trader: Any, first_t: int) -> SyncReport:
        """Bring the account in line with the trader (trades entered from row
        ``first_t`` on), then reconcile; see the module's docstring."""
        report = SyncReport()
        start = self.venue.requests
        try:
            self._refresh(trader, report)
            for i in self._candidates(trader, first_t):
                self._follow(trader, int(i), report)
            self._reconcile(report)
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

    def _candidates(self, trader: Any, first_t: int) -> list[int]:
        """Real trades that may need an order: those open now or at the last sync, those
        created since, and those with orders not settled. The first sync after a start
        looks at every trade (what changed while the node was down is not known)."""
        tr = trader.trades
        n = trader.n_trades
        # Pending or active by status: a nomination joins the kernel's open list only at
        # the next candle.
        status = tr["status"][:n]
        live = (status == Status.PENDING) | (status == Status.ACTIVE)
        open_now = set(np.flatnonzero(live).tolist())
        if self._last_open is None:
            ids = set(range(n))
        else:
            ids = open_now | self._last_open | set(range(self._last_n, n))
            ids.update(int(self.rows[c]["trade_no"]) for c in self._pending)
        self._last_open, self._last_n = open_now, n
        pick = np.array(sorted(ids - self._settled), dtype=np.int64)
        if len(pick) == 0:
            return []
        keep = (tr["kind"][pick] == Kind.REAL) & (tr["entry_t"][pick] >= first_t)
        return [int(i) for i in pick[keep]]

    def _refresh(self, trader: Any, report: SyncReport) -> None:
        """Ask the exchange about every order not final yet; send intents that never
        reached it (unless the model has moved on: an entry or a stop for a trade no longer
        open is skipped); flag open orders the book does not know."""
        open_now = {o.client_id: o for o in self.venue.open_orders()}
        for cid in sorted(set(open_now) - set(self.rows)):
            report.problems.append(
                f"unknown open order {cid!r} on {open_now[cid].symbol} in the account"
            )
        for cid in sorted(self._pending):
            row = self.rows[cid]
            state = open_now.get(cid)
            if state is None:
                state = self.venue.order(cid, row["symbol"])
            if state is not None:
                self._record(row, state)
                continue
            if row["status"] in ("intent", "unknown"):
                gone = int(trader.trades["status"][int(row["trade_no"])]) != Status.ACTIVE
                if gone and not row["role"].startswith("x"):
                    note = "never reached the exchange; the model has exited since"
                    self._update(row, {"status": "skipped", "note": note})
                    report.skipped += 1
                else:
                    self._send(row, report)  # it never arrived: send it now, same id
            else:
                report.problems.append(f"order {cid!r} was open and the exchange lost it")
                self._update(row, {"status": "expired", "note": "lost by the exchange"})

    def _follow(self, trader: Any, i: int, report: SyncReport) -> None:
        self._act(trader, i, report)
        rows = self.by_trade.get(i, [])
        finished = int(trader.trades["status"][i]) in (Status.CLOSED, Status.EXPIRED)
        if finished and rows and all(r["status"] in FINAL for r in rows):
            base, _ = self.assets(rows[0]["symbol"])
            exits = [r for r in rows if r["role"].startswith("x")]
            dust = float(exits[-1].get("dust") or 0.0) if exits else 0.0
            if held_of(rows, base) <= dust + 1e-12:  # flat but for the dust it recorded
                self._settled.add(i)

    def _act(self, trader: Any, i: int, report: SyncReport) -> None:
        tr = trader.trades[i]
        rows = self.by_trade.get(i, [])
        symbol = self.symbol(int(tr["pair"]))
        rules = self.rules(symbol)
        base, _quote = self.assets(symbol)
        status = int(tr["status"])
        entry = next((r for r in rows if r["role"] == "entry"), None)
        if entry is None:
            if status == Status.ACTIVE:
                qty = _clean(_floor(float(tr["qty"]), rules.lot_step), rules.lot_step)
                self._new(i, symbol, "entry", "buy", "market", qty, report)
            elif status == Status.CLOSED:
                self._new(
                    i,
                    symbol,
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
        held = held_of(rows, base)
        lot = rules.lot_step
        resting = next((r for r in pending if r["role"].startswith("s")), None)
        if status == Status.ACTIVE:
            if not self.config.protective_stops or held < max(lot, 1e-12):
                return
            level = _clean(_nearest(float(tr["stop"]), rules.tick), rules.tick)
            qty = _clean(_floor(held, lot), lot)
            if resting is not None:
                same = math.isclose(float(resting["stop_price"]), level, rel_tol=1e-12)
                if same and math.isclose(float(resting["qty"]), qty, rel_tol=1e-12):
                    return
                if not self._cancel(resting, report):
                    return  # it filled meanwhile: held is 0 now, nothing to protect
                held = held_of(self.by_trade[i], base)
                qty = _clean(_floor(held, lot), lot)
                if qty <= 0:
                    return
            if qty * level < rules.min_notional:
                return  # below the exchange's minimum: the model's exit sells it
            stops = [r for r in rows if r["role"].startswith("s")]
            if stops and stops[-1]["status"] == "rejected" and stops[-1]["stop_price"] == level:
                return  # refused at this level already (e.g. it would trigger at once)
            limit = _clean(_floor(level * (1 - self.config.stop_limit_gap), rules.tick), rules.tick)
            n = 1 + sum(1 for r in rows if r["role"].startswith("s"))
            self._new(i, symbol, f"s{n}", "sell", "stop_loss_limit", qty, report, level, limit)
            return
        # The model has exited: cancel the protection and sell what is really there.
        if resting is not None and not self._cancel(resting, report):
            return  # the stop filled at the exchange: already flat
        held = held_of(self.by_trade.get(i, []), base)
        exits = [r for r in self.by_trade.get(i, []) if r["role"].startswith("x")]
        qty = _clean(_floor(held, lot), lot)
        if held <= 1e-12 or any(r["status"] not in FINAL for r in exits):
            return
        if exits and held <= float(exits[-1].get("dust") or 0.0) + 1e-12:
            return  # only the dust the last exit recorded is left
        n = len(exits) + 1
        price = float(trader.a.last_close[int(tr["pair"]), trader.next_t - 1])
        if qty <= 0 or (rules.min_notional and qty * price < rules.min_notional):
            self._new(
                i,
                symbol,
                f"x{n}",
                "sell",
                "market",
                0.0,
                report,
                skip="below the exchange's minimum: kept as dust",
                dust=held,
            )
            return
        self._new(i, symbol, f"x{n}", "sell", "market", qty, report, dust=held - qty)

    def flatten(self, trader: Any) -> SyncReport:
        """Cancel every open order of the node and sell every position it holds, whatever
        the model says (``tradewind flatten``); the node is put in safe mode by its caller."""
        report = SyncReport()
        start = self.venue.requests
        self._refresh(trader, report)
        for cid in sorted(self._pending):
            row = self.rows[cid]
            if row["status"] == "open":
                self._cancel(row, report)
        for i in sorted(self.by_trade):
            rows = self.by_trade[i]
            symbol = rows[0]["symbol"]
            rules = self.rules(symbol)
            base, _ = self.assets(symbol)
            held = held_of(rows, base)
            qty = _clean(_floor(held, rules.lot_step), rules.lot_step)
            if qty <= 0:
                continue
            if any(r["status"] not in FINAL for r in rows):
                report.problems.append(
                    f"trade {i}: an order's fate is still unknown; its {held:.10g} "
                    f"{base} is not sold yet"
                )
                continue
            n = 1 + sum(1 for r in rows if r["role"].startswith("x"))
            price = float(trader.a.last_close[int(trader.trades["pair"][i]), trader.next_t - 1])
            if rules.min_notional and qty * price < rules.min_notional:
                continue  # dust: the exchange takes no order this small
            self._new(i, symbol, f"x{n}", "sell", "market", qty, report, dust=held - qty)
        self._reconcile(report)
        report.requests = self.venue.requests - start
        return report

    # -- orders ------------------------------------------------------------------------

    def _trade_id(self, i: int) -> int:
        if i not in self._trade_ids:
            self._trade_ids[i] = self.book.trade_id(self.run_id, i)
        return self._trade_ids[i]

    def _new(
        self,
        i: int,
        symbol: str,
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
        now = self.now()
        row: dict[str, Any] = {
            "run_id": self.run_id,
            "trade_id": self._trade_id(i),
            "client_order_id": client_order_id(self.key, i, role),
            "role": role,
            "side": side,
            "type": kind,
            "qty": qty,
            "price": limit,
            "stop_price": stop,
            "status": "skipped" if skip else "intent",
            "created_at": now,
            "updated_at": now,
            "pair": self._ids[symbol],
            "filled": 0.0,
            "dust": dust,
            "note": skip,
        }
        self.book.put_order(row)  # the intent is in the book before the request goes out
        row["trade_no"] = i
        row["symbol"] = symbol
        self._add(row)
        if skip:
            report.skipped += 1
            log.info("node %s: trade %d %s: %s", self.name, i, role, skip)
            return
        self._send(row, report)

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
        state = self.venue.cancel(row["client_order_id"], row["symbol"])
        if state is None:  # no longer open: learn how it ended
            state = self.venue.order(row["client_order_id"], row["symbol"])
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
        """The account's balances against the baseline plus the book's fills."""
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
                    f"balance of {asset} at the exchange is {got:.10g}, the book expects "
                    f"{want:.10g}"
                )

    def positions(self) -> dict[str, float]:
        """Each pair's quantity the book holds at the exchange (netted over trades)."""
        out: dict[str, float] = {}
        for rows in self.by_trade.values():
            symbol = rows[0]["symbol"]
            base, _ = self.assets(symbol)
            held = held_of(rows, base)
            if abs(held) > 0:
                out[symbol] = out.get(symbol, 0.0) + held
        return out
