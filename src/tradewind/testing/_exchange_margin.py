"""The test exchange's cross-margin account: what a live node needs to short on Binance.

A :class:`MarginAccount` is an :class:`~tradewind.testing._exchange_account.Account` (the
same orders, filters, matching engine and fees) that can also owe. As on Binance:

* a ``SELL`` with ``sideEffectType=MARGIN_BUY`` borrows, when the order is placed, the
  base asset it lacks (a short);
* a ``BUY`` with ``sideEffectType=AUTO_REPAY`` repays, as it fills, what is owed in the
  base asset it receives: the interest first, then the principal;
* interest is charged on what is borrowed at ``margin_rate`` a day, one twenty-fourth of it
  at each hour begun (the first hour when the loan is taken), and kept as owed interest
  until repaid. Every charge is in the interest history.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from tradewind.testing._exchange_account import Account, AccountSpec, Order
from tradewind.testing._exchange_common import BinanceError, plain_number
from tradewind.testing._exchange_market import MarketData, MarketSpec

__all__ = ["Charge", "MarginAccount"]

HOUR_MS = 3_600_000
SIDE_EFFECTS = ("NO_SIDE_EFFECT", "MARGIN_BUY", "AUTO_REPAY")


@dataclass(frozen=True)
class Charge:
    """One interest charge (``interestHistory`` row)."""

    id: int
    asset: str
    principal: float
    interest: float
    time_ms: int
    kind: str  #: ON_BORROW or PERIODIC

    def as_row(self, rate: float) -> dict[str, Any]:
        return {
            "txId": self.id,
            "interestAccuredTime": self.time_ms,
            "asset": self.asset,
            "rawAsset": self.asset,
            "principal": plain_number(self.principal),
            "interest": plain_number(self.interest),
            "interestRate": plain_number(rate),
            "type": self.kind,
            "isolatedSymbol": "",
        }


class MarginAccount(Account):
    """A cross-margin account (see the module's docstring)."""

    def __init__(self, spec: AccountSpec, market: MarketData) -> None:
        super().__init__(spec, market)
        self.free = dict(spec.margin or {})
        self.borrowed: dict[str, float] = {}
        self.interest: dict[str, float] = {}
        self.charges: list[Charge] = []
        self._charge_ids = itertools.count(1)
        self._hour: dict[str, int] = {}  #: asset → the last hour its loan was charged for
        self._auto_repay: set[int] = set()
        self.rate = spec.margin_rate / 24.0  #: per hour begun

    # -- loans -------------------------------------------------------------------------

    def _charge(self, asset: str, now_ms: int, kind: str) -> None:
        principal = self.borrowed.get(asset, 0.0)
        if principal <= 0:
            return
        amount = principal * self.rate
        self.interest[asset] = self.interest.get(asset, 0.0) + amount
        self.charges.append(Charge(next(self._charge_ids), asset, principal, amount, now_ms, kind))

    def accrue(self, now_ms: int) -> None:
        """Charge the hours begun since each loan was last charged."""
        with self._lock:
            hour = now_ms // HOUR_MS
            for asset, last in list(self._hour.items()):
                for h in range(last + 1, hour + 1):
                    self._charge(asset, h * HOUR_MS, "PERIODIC")
                self._hour[asset] = max(last, hour)

    def _borrow(self, asset: str, amount: float, now_ms: int) -> None:
        self.accrue(now_ms)
        new = self.borrowed.get(asset, 0.0) <= 0
        self.borrowed[asset] = self.borrowed.get(asset, 0.0) + amount
        self._give(asset, amount)
        if new:
            self._hour[asset] = now_ms // HOUR_MS
            self._charge(asset, now_ms, "ON_BORROW")

    def _undo_borrow(self, asset: str, amount: float) -> None:
        self.borrowed[asset] -= amount
        self.free[asset] -= amount
        last = self.charges[-1] if self.charges else None
        if last is not None and last.asset == asset and last.kind == "ON_BORROW":
            self.charges.pop()
            self.interest[asset] -= last.interest
        if self.borrowed[asset] <= 1e-12:
            self._hour.pop(asset, None)

    def _repay(self, asset: str, now_ms: int) -> None:
        """Repay from the free ``asset``: the interest first, then the principal."""
        self.accrue(now_ms)
        free = self.free.get(asset, 0.0)
        owed = self.interest.get(asset, 0.0)
        paid = min(free, owed)
        self.interest[asset] = owed - paid
        free -= paid
        principal = min(free, self.borrowed.get(asset, 0.0))
        self.borrowed[asset] = self.borrowed.get(asset, 0.0) - principal
        self.free[asset] = free - principal
        if self.borrowed[asset] <= 1e-12 and self.interest[asset] <= 1e-12:
            self._hour.pop(asset, None)

    # -- orders ------------------------------------------------------------------------

    def new_margin_order(self, *, side_effect: str, now_ms: int, **order: Any) -> Order:
        """An order with Binance's ``sideEffectType`` (see the module's docstring)."""
        if side_effect not in SIDE_EFFECTS:
            raise BinanceError.not_valid("sideEffectType")
        with self._lock:
            spec = self.market.spec(order["symbol"])
            self.accrue(now_ms)
            borrowed = 0.0
            if side_effect == "MARGIN_BUY" and order["side"] == "SELL":
                lack = float(order["qty"]) - self.free.get(spec.base, 0.0)
                if lack > 0:
                    self._borrow(spec.base, lack, now_ms)
                    borrowed = lack
            try:
                placed = self.new_order(now_ms=now_ms, **order)
            except BinanceError:
                if borrowed:  # refused: as if the loan had never been taken
                    self._undo_borrow(spec.base, borrowed)
                raise
            if side_effect == "AUTO_REPAY" and placed.side == "BUY":
                self._auto_repay.add(placed.id)
                if placed.executed > 0:
                    self._repay(spec.base, now_ms)
            return placed

    def _fill(
        self, spec: MarketSpec, order: Order, price: float, qty: float, now_ms: int, maker: bool
    ) -> None:
        super()._fill(spec, order, price, qty, now_ms, maker)
        if order.id in self._auto_repay:
            self._repay(spec.base, now_ms)

    def match(self, now_ms: int) -> None:
        with self._lock:
            super().match(now_ms)
            self.accrue(now_ms)

    # -- what the account endpoint shows ------------------------------------------------

    def user_assets(self) -> list[dict[str, str]]:
        with self._lock:
            assets = sorted(set(self.free) | set(self.locked) | set(self.borrowed))
            out = []
            for a in assets:
                free, locked = self.free.get(a, 0.0), self.locked.get(a, 0.0)
                owed, interest = self.borrowed.get(a, 0.0), self.interest.get(a, 0.0)
                out.append(
                    {
                        "asset": a,
                        "free": plain_number(free),
                        "locked": plain_number(locked),
                        "borrowed": plain_number(owed),
                        "interest": plain_number(interest),
                        "netAsset": plain_number(free + locked - owed - interest),
                    }
                )
            return out

    def interest_paid_and_owed(self) -> dict[str, float]:
        """Every asset's interest charged so far (a test compares the node's record)."""
        with self._lock:
            out: dict[str, float] = {}
            for c in self.charges:
                out[c.asset] = out.get(c.asset, 0.0) + c.interest
            return out

    def net(self, asset: str) -> float:
        with self._lock:
            return (
                self.free.get(asset, 0.0)
                + self.locked.get(asset, 0.0)
                - self.borrowed.get(asset, 0.0)
                - self.interest.get(asset, 0.0)
            )
