"""The test exchange's account: balances, orders and a matching engine on its candles.

What a live node must get right against Binance is reproduced here so that it can be
tested: signed requests, orders (``MARKET``, ``LIMIT``, ``STOP_LOSS_LIMIT``) with their
filters, queries by order id and by client order id, cancels, open orders, the account's
trades and balances, and Binance's rule on client order ids — a new order reusing the
client order id of an order that is not filled is rejected as a duplicate; once that order
is filled, the id may be used again (so a blind retry *can* buy twice: the client must ask
first).

Fills:

* a market order fills at once at the open of the candle containing the server's clock
  (the price when that candle started), plus half the spread against the taker;
* a limit order that can trade at that price fills there (taker); otherwise it rests and
  fills at its price when a later candle reaches it (maker);
* a stop-loss-limit rests until a candle trades through its stop price, then fills at the
  stop (or at the open of a candle that gaps through it) if that is no worse than its
  limit, else it rests as a limit order;
* the commission is ``fee`` of what is received, in the received asset — or, with
  ``bnb_fees`` and enough BNB, three quarters of that in BNB at ``bnb_price``.

Resting orders are matched against the candles that have *closed* since they were placed
(the still-open candle is not known yet), whenever a request arrives.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import math
import threading
from dataclasses import dataclass, field
from typing import Any

from tradewind.testing._exchange_common import BinanceError, plain_number
from tradewind.testing._exchange_market import MarketData, MarketSpec

__all__ = ["Account", "AccountSpec", "Fill", "Order"]

OPEN = ("NEW", "PARTIALLY_FILLED")


@dataclass(frozen=True)
class AccountSpec:
    """One account: its keys, starting balances and fee schedule."""

    api_key: str = "test-key"
    secret: str = "test-secret"  # noqa: S105 - the test exchange's made-up key
    balances: dict[str, float] = field(default_factory=lambda: {"USDT": 10_000.0})
    fee: float = 0.001
    bnb_fees: bool = False
    bnb_price: float = 300.0  #: BNB in the quote asset, for fees paid in BNB
    spread: float = 2e-4
    #: the cross-margin account's starting balances (None: no margin account), and its
    #: daily interest rate on what is borrowed
    margin: dict[str, float] | None = None
    margin_rate: float = 0.0002


@dataclass
class Fill:
    id: int
    order_id: int
    symbol: str
    side: str
    price: float
    qty: float
    commission: float
    commission_asset: str
    time_ms: int
    maker: bool

    def as_trade(self) -> dict[str, Any]:
        """``GET myTrades`` row."""
        return {
            "symbol": self.symbol,
            "id": self.id,
            "orderId": self.order_id,
            "orderListId": -1,
            "price": plain_number(self.price),
            "qty": plain_number(self.qty),
            "quoteQty": plain_number(self.price * self.qty),
            "commission": plain_number(self.commission),
            "commissionAsset": self.commission_asset,
            "time": self.time_ms,
            "isBuyer": self.side == "BUY",
            "isMaker": self.maker,
            "isBestMatch": True,
        }


@dataclass
class Order:
    id: int
    client_id: str
    symbol: str
    side: str
    type: str
    qty: float
    price: float | None
    stop_price: float | None
    time_ms: int
    status: str = "NEW"
    executed: float = 0.0
    quote: float = 0.0
    update_ms: int = 0
    triggered: bool = False
    fills: list[Fill] = field(default_factory=list)
    #: what may still fill (a partial-fill fault caps it; the rest stays open or expires)
    cap: float = math.inf

    @property
    def remaining(self) -> float:
        return self.qty - self.executed

    def as_order(self) -> dict[str, Any]:
        """``GET order`` shape."""
        return {
            "symbol": self.symbol,
            "orderId": self.id,
            "orderListId": -1,
            "clientOrderId": self.client_id,
            "price": plain_number(self.price or 0.0),
            "origQty": plain_number(self.qty),
            "executedQty": plain_number(self.executed),
            "cummulativeQuoteQty": plain_number(self.quote),
            "status": self.status,
            "timeInForce": "GTC",
            "type": self.type,
            "side": self.side,
            "stopPrice": plain_number(self.stop_price or 0.0),
            "icebergQty": "0",
            "time": self.time_ms,
            "updateTime": self.update_ms or self.time_ms,
            "isWorking": self.type != "STOP_LOSS_LIMIT" or self.triggered,
            "workingTime": self.time_ms,
            "origQuoteOrderQty": "0",
            "selfTradePreventionMode": "EXPIRE_MAKER",
        }

    def as_full(self) -> dict[str, Any]:
        """``POST order`` answer with ``newOrderRespType=FULL``."""
        out = self.as_order()
        out["transactTime"] = self.time_ms
        out["fills"] = [
            {
                "price": plain_number(f.price),
                "qty": plain_number(f.qty),
                "commission": plain_number(f.commission),
                "commissionAsset": f.commission_asset,
                "tradeId": f.id,
            }
            for f in self.fills
        ]
        return out


def _insufficient() -> BinanceError:
    return BinanceError(-2010, "Account has insufficient balance for requested action.")


def _on_step(value: float, step: float) -> bool:
    n = value / step
    return abs(n - round(n)) <= 1e-9 * max(1.0, abs(n))


class Account:
    """Balances, orders and fills of one account; thread-safe (tests read it while the
    server's thread serves)."""

    def __init__(self, spec: AccountSpec, market: MarketData) -> None:
        self.spec = spec
        self.market = market
        self._lock = threading.RLock()
        self.free: dict[str, float] = dict(spec.balances)
        self.locked: dict[str, float] = {}
        self.orders: dict[int, Order] = {}
        self._by_client: dict[str, int] = {}
        self.fills: list[Fill] = []
        self._ids = itertools.count(1)
        self._trade_ids = itertools.count(1)
        self._matched: dict[int, int] = {}  # order id → candles already matched against it
        self.placed = 0  #: orders accepted (a test counts duplicates with it)

    # -- auth ------------------------------------------------------------------------

    def check_signature(self, api_key: str | None, total: str, signature: str | None) -> None:
        """Binance's checks of a signed request (``total``: query + body without the
        signature)."""
        if api_key != self.spec.api_key:
            raise BinanceError(-2015, "Invalid API-key, IP, or permissions for action.", 401)
        if not signature:
            raise BinanceError.mandatory("signature")
        want = hmac.new(self.spec.secret.encode(), total.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want, signature):
            raise BinanceError(-1022, "Signature for this request is not valid.")

    # -- balances --------------------------------------------------------------------

    def _take(self, asset: str, amount: float, *, from_locked: bool = False) -> None:
        book = self.locked if from_locked else self.free
        have = book.get(asset, 0.0)
        if amount > have * (1 + 1e-12) + 1e-12:
            raise _insufficient()
        book[asset] = max(0.0, have - amount)

    def _give(self, asset: str, amount: float) -> None:
        self.free[asset] = self.free.get(asset, 0.0) + amount

    def _lock_funds(self, asset: str, amount: float) -> None:
        self._take(asset, amount)
        self.locked[asset] = self.locked.get(asset, 0.0) + amount

    def _unlock(self, asset: str, amount: float) -> None:
        have = self.locked.get(asset, 0.0)
        amount = min(amount, have)
        self.locked[asset] = have - amount
        self._give(asset, amount)

    def balances(self) -> list[dict[str, str]]:
        with self._lock:
            assets = sorted(set(self.free) | set(self.locked))
            return [
                {
                    "asset": a,
                    "free": plain_number(self.free.get(a, 0.0)),
                    "locked": plain_number(self.locked.get(a, 0.0)),
                }
                for a in assets
            ]

    # -- prices ----------------------------------------------------------------------

    def _series(self, symbol: str) -> Any:
        tfs = self.market.timeframes(symbol)
        if not tfs:
            raise BinanceError.invalid_symbol()
        return self.market.series(symbol, tfs[0].name)

    def _price_now(self, symbol: str, now_ms: int) -> float:
        s = self._series(symbol)
        i = s.visible(now_ms) - 1
        if i < 0:
            raise BinanceError(-1013, "Market is closed.")
        return float(s.open[i])

    # -- orders ----------------------------------------------------------------------

    def new_order(
        self,
        *,
        symbol: str,
        side: str,
        type_: str,
        qty: float,
        price: float | None,
        stop_price: float | None,
        client_id: str | None,
        now_ms: int,
        cap: float = math.inf,
    ) -> Order:
        spec = self.market.spec(symbol)
        with self._lock:
            self.match(now_ms)
            if client_id:
                prev = self._by_client.get(client_id)
                if prev is not None and self.orders[prev].status != "FILLED":
                    raise BinanceError(-2010, "Duplicate order sent.")
            self._check_filters(spec, type_, qty, price, stop_price, now_ms)
            oid = next(self._ids)
            order = Order(
                oid,
                client_id or f"server-{oid}",
                symbol,
                side,
                type_,
                qty,
                price,
                stop_price,
                now_ms,
                cap=cap,
            )
            market_price = self._price_now(symbol, now_ms)
            half = self.spec.spread / 2
            if type_ == "MARKET":
                fill_at = market_price * (1 + half if side == "BUY" else 1 - half)
                self._reserve(spec, order, fill_at)
                self._fill(spec, order, fill_at, order.remaining, now_ms, maker=False)
                if order.remaining > 0:  # the rest of a market order expires
                    self._release(spec, order, fill_at)
                    order.status = "EXPIRED"
            else:
                limit = float(price or 0.0)
                self._reserve(spec, order, limit)
                marketable = type_ == "LIMIT" and (
                    (side == "BUY" and limit >= market_price * (1 + half))
                    or (side == "SELL" and limit <= market_price * (1 - half))
                )
                if marketable:
                    at = market_price * (1 + half if side == "BUY" else 1 - half)
                    self._fill(spec, order, at, order.remaining, now_ms, maker=False)
                self._matched[oid] = self._series(symbol).visible(now_ms)
            self.orders[oid] = order
            self._by_client[order.client_id] = oid
            self.placed += 1
            return order

    def _check_filters(
        self,
        spec: MarketSpec,
        type_: str,
        qty: float,
        price: float | None,
        stop_price: float | None,
        now_ms: int,
    ) -> None:
        if not (qty > 0 and math.isfinite(qty)):
            raise BinanceError.not_valid("quantity")
        if not _on_step(qty, spec.step_size) or qty > spec.max_qty:
            raise BinanceError(-1013, "Filter failure: LOT_SIZE")
        if type_ in ("LIMIT", "STOP_LOSS_LIMIT"):
            if price is None or not price > 0:
                raise BinanceError.mandatory("price")
            if not _on_step(price, spec.tick_size):
                raise BinanceError(-1013, "Filter failure: PRICE_FILTER")
        if type_ == "STOP_LOSS_LIMIT":
            if stop_price is None or not stop_price > 0:
                raise BinanceError.mandatory("stopPrice")
            if not _on_step(stop_price, spec.tick_size):
                raise BinanceError(-1013, "Filter failure: PRICE_FILTER")
        at = price if price else self._price_now(spec.symbol, now_ms)
        if qty * at < spec.min_notional:
            raise BinanceError(-1013, "Filter failure: NOTIONAL")

    def _reserve(self, spec: MarketSpec, order: Order, price: float) -> None:
        """Lock what the order may spend: quote for a buy, base for a sell."""
        if order.side == "BUY":
            self._lock_funds(spec.quote, order.qty * price * (1 + 1e-9))
        else:
            self._lock_funds(spec.base, order.qty)

    def _release(self, spec: MarketSpec, order: Order, price: float) -> None:
        """Unlock what a finished order no longer needs."""
        if order.side == "BUY":
            self._unlock(spec.quote, order.remaining * price * (1 + 1e-9))
        else:
            self._unlock(spec.base, order.remaining)

    def _fill(
        self, spec: MarketSpec, order: Order, price: float, qty: float, now_ms: int, maker: bool
    ) -> None:
        qty = min(qty, order.cap - order.executed)
        if qty <= 0:
            return
        quote = qty * price
        reserved_price = price if order.type == "MARKET" else float(order.price or price)
        if order.side == "BUY":
            self._take(spec.quote, qty * reserved_price * (1 + 1e-9), from_locked=True)
            self._give(spec.quote, qty * (reserved_price * (1 + 1e-9) - price))
            received, asset = qty, spec.base
        else:
            self._take(spec.base, qty, from_locked=True)
            received, asset = quote, spec.quote
        fee = self.spec.fee * received
        fee_asset = asset
        bnb_fee = self.spec.fee * 0.75 * quote / self.spec.bnb_price
        if self.spec.bnb_fees and self.free.get("BNB", 0.0) >= bnb_fee:
            self._take("BNB", bnb_fee)
            fee, fee_asset = bnb_fee, "BNB"
            self._give(asset, received)
        else:
            self._give(asset, received - fee)
        f = Fill(next(self._trade_ids), order.id, order.symbol, order.side, price, qty, fee,
                 fee_asset, now_ms, maker)
        order.fills.append(f)
        self.fills.append(f)
        order.executed += qty
        order.quote += quote
        order.update_ms = now_ms
        order.status = "FILLED" if order.remaining <= 1e-12 else "PARTIALLY_FILLED"

    def match(self, now_ms: int) -> None:
        """Fill resting orders against the candles that closed since they were placed."""
        with self._lock:
            for oid in [o for o, order in self.orders.items() if order.status in OPEN]:
                order = self.orders[oid]
                s = self._series(order.symbol)
                spec = self.market.spec(order.symbol)
                tf_ms = s.timeframe.seconds * 1000
                first = self._matched.get(oid, 0)
                closed = int((s.open_ms + tf_ms <= now_ms).sum())
                for i in range(first, closed):
                    if order.status not in OPEN:
                        break
                    self._match_candle(spec, order, s, i)
                self._matched[oid] = max(first, closed)

    def _match_candle(self, spec: MarketSpec, order: Order, s: Any, i: int) -> None:
        o, h, lo = float(s.open[i]), float(s.high[i]), float(s.low[i])
        at_ms = int(s.open_ms[i])
        limit = float(order.price or 0.0)
        if order.type == "STOP_LOSS_LIMIT" and not order.triggered:
            stop = float(order.stop_price or 0.0)
            hit = lo <= stop if order.side == "SELL" else h >= stop
            if not hit:
                return
            order.triggered = True
            gap = o <= stop if order.side == "SELL" else o >= stop
            at = o if gap else stop
            ok = at >= limit if order.side == "SELL" else at <= limit
            if ok:
                self._fill(spec, order, at, order.remaining, at_ms, maker=False)
                return
        if order.side == "BUY" and lo <= limit:
            self._fill(spec, order, min(limit, o), order.remaining, at_ms, maker=True)
        elif order.side == "SELL" and h >= limit:
            self._fill(spec, order, max(limit, o), order.remaining, at_ms, maker=True)

    def find(self, symbol: str, order_id: int | None, client_id: str | None) -> Order:
        with self._lock:
            oid = order_id if order_id is not None else self._by_client.get(client_id or "")
            order = self.orders.get(oid) if oid is not None else None
            if order is None or order.symbol != symbol:
                raise BinanceError(-2013, "Order does not exist.")
            return order

    def cancel(
        self, symbol: str, order_id: int | None, client_id: str | None, now_ms: int
    ) -> Order:
        with self._lock:
            self.match(now_ms)
            try:
                order = self.find(symbol, order_id, client_id)
            except BinanceError:
                raise BinanceError(-2011, "Unknown order sent.") from None
            if order.status not in OPEN:
                raise BinanceError(-2011, "Unknown order sent.")
            spec = self.market.spec(symbol)
            self._release(spec, order, float(order.price or 0.0))
            order.status = "CANCELED"
            order.update_ms = now_ms
            return order

    def open_orders(self, symbol: str | None) -> list[Order]:
        with self._lock:
            return [
                o
                for o in self.orders.values()
                if o.status in OPEN and (symbol is None or o.symbol == symbol)
            ]

    def my_trades(self, symbol: str) -> list[Fill]:
        with self._lock:
            return [f for f in self.fills if f.symbol == symbol]
