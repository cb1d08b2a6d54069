"""The ccxt venue: orders at a real exchange, placed so that a retry never buys twice.

A thin layer over a ccxt client — raw calls, answers parsed into :class:`OrderState`,
errors mapped to retryable / rejected / fatal — with one rule on top, the one most live
trading bots get wrong: **an order whose fate is unknown is treated as live until the
exchange says otherwise.**

* The client order id comes from the trade and the order's role (:func:`client_order_id`),
  never from the attempt, so every attempt of one order carries the same id. The caller
  writes the intent to its trade book *before* calling :meth:`CcxtVenue.place`, so a crash
  between sending and hearing back leaves a record to reconcile.
* A timeout, a dropped connection or a 5xx after sending may have placed the order. The
  venue then asks the exchange for that client order id, several times if it has to,
  before it sends again. Binance accepts a filled order's id again, so a blind resend
  would buy twice. Only a definite "no such order" allows a resend, with the same id.
* 429 and 418 come before the exchange does anything: those are retried after the pause
  the exchange asked for, or with exponential back-off.
* A duplicate-id answer means the first attempt did arrive: the order is looked up and
  returned.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import ccxt

from tradewind.data.markets import MarketRules, rules_from_ccxt
from tradewind.data.sources.exchange import last_response_headers, map_ccxt_error
from tradewind.errors import (
    ConfigError,
    ExchangeError,
    ExchangeFatal,
    ExchangeRejected,
    ExchangeRetryable,
)

__all__ = ["CcxtVenue", "OrderIntent", "OrderState", "client_order_id"]

_CLIENT_ID = re.compile(r"^[.A-Za-z0-9:/_-]{1,36}$")  # Binance's rule for client order ids
_ROLE = re.compile(r"^[a-z0-9]{1,12}$")


def client_order_id(node: str, trade: int, role: str) -> str:
    """The client order id of ``role`` (``entry``, ``exit``, ``stop``, ``leg2`` …) of trade
    ``trade`` of node ``node``: the same for every attempt, different for every order,
    within the exchange's 36 characters."""
    if not _ROLE.match(role):
        raise ConfigError(f"order role {role!r}: 1–12 lower-case letters or digits")
    if trade < 0:
        raise ConfigError(f"trade id {trade} must not be negative")
    key = hashlib.blake2b(node.encode(), digest_size=4).hexdigest()
    out = f"tw{key}-{trade}-{role}"
    if not _CLIENT_ID.match(out):
        raise ConfigError(f"client order id {out!r} is longer than the exchange allows")
    return out


@dataclass(frozen=True)
class OrderIntent:
    """An order to place: what the node writes to its book before sending it."""

    client_id: str
    symbol: str  #: ccxt's unified symbol, e.g. ``BTC/USDT``
    side: str  #: ``buy`` or ``sell``
    type: str  #: ``market``, ``limit`` or ``stop_loss_limit``
    amount: float
    price: float | None = None
    stop_price: float | None = None
    #: on the cross-margin account (a short), with Binance's ``sideEffectType``:
    #: ``MARGIN_BUY`` borrows what a sell lacks, ``AUTO_REPAY`` repays from a buy
    margin: bool = False
    side_effect: str | None = None


@dataclass(frozen=True)
class OrderState:
    """An order as the exchange keeps it."""

    client_id: str
    exchange_id: str
    symbol: str
    status: str  #: open, closed, canceled, expired, rejected
    amount: float
    filled: float
    average: float | None
    fee: float
    fee_currency: str | None
    attempts: int = 1  #: requests it took to learn this (placing and asking)

    @property
    def is_open(self) -> bool:
        return self.status == "open"


def _parse(raw: dict[str, Any], attempts: int) -> OrderState:
    fee = raw.get("fee") or {}
    fees = raw.get("fees") or ([fee] if fee else [])
    cost = sum(float(f.get("cost") or 0.0) for f in fees)
    currency = next((f.get("currency") for f in fees if f.get("currency")), None)
    return OrderState(
        client_id=str(raw.get("clientOrderId") or ""),
        exchange_id=str(raw.get("id") or ""),
        symbol=str(raw.get("symbol") or ""),
        status=str(raw.get("status") or "open"),
        amount=float(raw.get("amount") or 0.0),
        filled=float(raw.get("filled") or 0.0),
        average=None if raw.get("average") is None else float(raw["average"]),
        fee=cost,
        fee_currency=currency,
        attempts=attempts,
    )


class CcxtVenue:
    """Orders through a synchronous ccxt ``exchange`` (markets loaded on first use).

    ``attempts`` bounds the sends of one order; ``lookups`` the questions about one
    order whose fate is unknown; ``backoff`` is the first pause (doubling) and ``sleep``
    how to pause (a test passes a fake)."""

    def __init__(
        self,
        exchange: Any,
        *,
        attempts: int = 6,
        lookups: int = 5,
        backoff: float = 0.2,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.ex = exchange
        self.attempts = attempts
        self.lookups = lookups
        self.backoff = backoff
        self.sleep = sleep
        self.requests = 0  #: requests sent, for the caller's statistics
        # One open-orders request for the whole account each sync (Binance weighs it 80,
        # against 6 per symbol): ccxt refuses it unless told that this is meant.
        options = getattr(exchange, "options", None)
        if isinstance(options, dict):
            options.setdefault("fetchOpenOrders", {})["warnWithoutSymbol"] = False
            options["warnOnFetchOpenOrdersWithoutSymbol"] = False

    # -- orders ----------------------------------------------------------------------

    def place(self, intent: OrderIntent) -> OrderState:
        """Place ``intent`` exactly once, however the network behaves; see the module's
        docstring. Raises :class:`ExchangeRejected` (the exchange refused it),
        :class:`ExchangeFatal` (keys, permissions) or, after ``attempts``,
        :class:`ExchangeRetryable` — then the order is certainly *not* at the exchange."""
        if not _CLIENT_ID.match(intent.client_id):
            raise ConfigError(f"client order id {intent.client_id!r} breaks the exchange's rule")
        tries = 0
        for attempt in range(self.attempts):
            tries += 1
            try:
                self.requests += 1
                raw = self._create(intent)
                return _parse(raw, tries)
            except (ccxt.DDoSProtection, ccxt.RateLimitExceeded):
                self._pause(attempt, self._retry_after())  # refused before it was looked at
            except ccxt.InvalidOrder as exc:
                if "Duplicate order" not in str(exc):
                    raise ExchangeRejected(f"{intent.client_id}: {exc}") from exc
                found = self._lookup(intent)  # an earlier attempt did arrive
                if found is None:
                    raise ExchangeRetryable(
                        f"{intent.client_id}: the exchange calls it a duplicate but does "
                        "not know it; not sent again"
                    ) from exc
                return _with_attempts(found, tries)
            except (ccxt.InsufficientFunds, ccxt.BadRequest, ccxt.BadSymbol) as exc:
                raise ExchangeRejected(f"{intent.client_id}: {exc}") from exc
            except ccxt.NetworkError:
                # Timeout, lost answer, 5xx: it may be at the exchange. Ask before resending.
                found = self._lookup(intent)
                if found is not None:
                    return _with_attempts(found, tries)
                self._pause(attempt, None)
            except ccxt.BaseError as exc:
                raise _mapped(exc, intent.client_id) from exc
        raise ExchangeRetryable(
            f"{intent.client_id}: not placed after {self.attempts} attempts (the exchange "
            "confirmed each time that it did not have it)"
        )

    def _create(self, intent: OrderIntent) -> dict[str, Any]:
        params: dict[str, Any] = {"newClientOrderId": intent.client_id}
        if intent.margin:
            params.update(_CROSS)
            if intent.side_effect:
                params["sideEffectType"] = intent.side_effect
        kind = intent.type
        if kind == "stop_loss_limit":
            params["stopPrice"] = intent.stop_price
            kind = "STOP_LOSS_LIMIT"
        raw: dict[str, Any] = self.ex.create_order(
            intent.symbol, kind, intent.side, intent.amount, intent.price, params
        )
        return raw

    def _lookup(self, intent: OrderIntent) -> OrderState | None:
        """The order of ``intent`` at the exchange, or None when the exchange says it has
        none (see :meth:`order`)."""
        return self.order(intent.client_id, intent.symbol, margin=intent.margin)

    def order(self, client_id: str, symbol: str, *, margin: bool = False) -> OrderState | None:
        """The order with ``client_id``, or None if the exchange definitely has none.
        Asks again while the answer is not definite, and raises
        :class:`ExchangeRetryable` when it never is: the order's fate stays unknown, and
        the caller must not send it again before it is known. Binance's order query
        carries no commission: for an order with fills, the fee comes from the account's
        trades of that order."""
        for attempt in range(self.lookups):
            try:
                self.requests += 1
                raw = self.ex.fetch_order(
                    None, symbol, {"origClientOrderId": client_id, **_account(margin)}
                )
            except ccxt.OrderNotFound:
                return None
            except ccxt.NetworkError:
                self._pause(attempt, self._retry_after())
                continue
            except ccxt.BaseError as exc:
                raise _mapped(exc, client_id) from exc
            state = _parse(raw, 1)
            if state.filled > 0 and not state.fee_currency and state.exchange_id:
                fee, currency = self.order_fee(state.exchange_id, symbol, margin=margin)
                state = replace(state, fee=fee, fee_currency=currency)
            return state
        raise ExchangeRetryable(
            f"{client_id}: the order's fate is unknown after {self.lookups} questions; "
            "it stays live until reconciliation settles it"
        )

    def order_fee(
        self, exchange_id: str, symbol: str, *, margin: bool = False
    ) -> tuple[float, str | None]:
        """The commission of one order's fills (one asset assumed, as Binance charges)."""
        trades = self._read(
            lambda: self.ex.fetch_order_trades(exchange_id, symbol, None, None, _account(margin))
        )
        fees = [t.get("fee") or {} for t in trades]
        cost = sum(float(f.get("cost") or 0.0) for f in fees)
        currency = next((f.get("currency") for f in fees if f.get("currency")), None)
        return cost, currency

    def cancel(self, client_id: str, symbol: str, *, margin: bool = False) -> OrderState | None:
        """Cancel the order ``client_id``; None when there was no open order to cancel."""
        for attempt in range(self.attempts):
            try:
                self.requests += 1
                raw = self.ex.cancel_order(
                    None, symbol, {"origClientOrderId": client_id, **_account(margin)}
                )
                return _parse(raw, attempt + 1)
            except ccxt.OrderNotFound:
                return None
            except ccxt.NetworkError:
                self._pause(attempt, self._retry_after())
            except ccxt.BaseError as exc:
                raise _mapped(exc, client_id) from exc
        raise ExchangeRetryable(f"{client_id}: cancel not confirmed after {self.attempts} tries")

    def open_orders(self, symbol: str | None = None, *, margin: bool = False) -> list[OrderState]:
        """The account's open orders (of ``symbol``; ``margin``: the cross-margin
        account's)."""
        raw = self._read(lambda: self.ex.fetch_open_orders(symbol, None, None, _account(margin)))
        return [_parse(o, 1) for o in raw]

    def margin_balances(self) -> dict[str, tuple[float, float, float, float]]:
        """The cross-margin account: ``asset → (free, locked, borrowed, interest owed)``."""
        raw = self._read(lambda: self.ex.fetch_balance({"type": "margin"}))
        rows = (raw.get("info") or {}).get("userAssets") or []
        return {
            str(r["asset"]): (
                float(r.get("free") or 0.0),
                float(r.get("locked") or 0.0),
                float(r.get("borrowed") or 0.0),
                float(r.get("interest") or 0.0),
            )
            for r in rows
        }

    def interest_since(self, asset: str, since_ms: int) -> tuple[float, int]:
        """The borrowing interest the cross-margin account was charged in ``asset`` after
        ``since_ms``, and the time of the newest charge (``since_ms`` if none): read page
        by page from Binance's interest history, newest first."""
        total, newest, page = 0.0, since_ms, 1
        while True:
            query = {"asset": asset, "startTime": since_ms + 1, "size": 100, "current": page}
            raw = self._read(partial(self.ex.sapiGetMarginInterestHistory, query))
            rows = raw.get("rows") or []
            for r in rows:
                at = int(r["interestAccuredTime"])
                if at > since_ms:
                    total += float(r["interest"])
                    newest = max(newest, at)
            if len(rows) < 100:
                return total, newest
            page += 1

    def balances(self) -> dict[str, tuple[float, float]]:
        """``asset → (free, locked)`` as the exchange keeps them (fees and dust included)."""
        raw = self._read(self.ex.fetch_balance)
        free, used = raw.get("free") or {}, raw.get("used") or {}
        assets = sorted(set(free) | set(used))
        return {a: (float(free.get(a) or 0.0), float(used.get(a) or 0.0)) for a in assets}

    def rules(self, symbol: str) -> MarketRules:
        """Lot step, tick and minimum notional of ``symbol`` from the market metadata."""
        markets = self._read(self.ex.load_markets)
        if symbol not in markets:
            raise ExchangeRejected(f"{symbol}: not a market of {self.ex.id}")
        return rules_from_ccxt(markets[symbol], int(self.ex.precisionMode))

    def symbol_of(self, market_id: str) -> str:
        """ccxt's unified symbol (``BTC/USDT``) of the exchange's market id (``BTCUSDT``,
        what the candle store names a pair)."""
        markets = self._read(self.ex.load_markets)
        if market_id in markets:
            return market_id
        found = (getattr(self.ex, "markets_by_id", None) or {}).get(market_id)
        if not found:
            raise ExchangeRejected(f"{market_id}: not a market of {self.ex.id}")
        market = found[0] if isinstance(found, list) else found
        return str(market["symbol"])

    def assets(self, symbol: str) -> tuple[str, str]:
        """The base and quote asset of ``symbol``."""
        market = self._read(self.ex.load_markets)[symbol]
        return str(market["base"]), str(market["quote"])

    # -- helpers ---------------------------------------------------------------------

    def _read(self, call: Callable[[], Any]) -> Any:
        """A read: retried on what a retry can help, mapped otherwise."""
        for attempt in range(self.attempts):
            try:
                self.requests += 1
                return call()
            except ccxt.NetworkError:
                self._pause(attempt, self._retry_after())
            except ccxt.BaseError as exc:
                raise _mapped(exc, "read") from exc
        raise ExchangeRetryable(f"{self.ex.id}: no answer after {self.attempts} tries")

    def _retry_after(self) -> float | None:
        """The pause the exchange asked for in its last answer (``Retry-After``)."""
        headers = getattr(self.ex, "last_response_headers", None) or last_response_headers()
        value = {str(k).lower(): v for k, v in dict(headers).items()}.get("retry-after")
        try:
            return None if value is None else float(value)
        except (TypeError, ValueError):
            return None

    def _pause(self, attempt: int, asked: float | None) -> None:
        self.sleep(asked if asked is not None else self.backoff * 2**attempt)


_CROSS = {"marginMode": "cross"}


def _account(margin: bool) -> dict[str, str]:
    """ccxt's parameters that aim a call at the cross-margin account (or none: spot)."""
    return dict(_CROSS) if margin else {}


def _with_attempts(state: OrderState, attempts: int) -> OrderState:
    return replace(state, attempts=attempts + state.attempts)


def _mapped(exc: BaseException, what: str) -> ExchangeError:
    error = map_ccxt_error(exc)
    if isinstance(error, ExchangeFatal | ExchangeRejected | ExchangeRetryable):
        return type(error)(f"{what}: {error}")
    return error
