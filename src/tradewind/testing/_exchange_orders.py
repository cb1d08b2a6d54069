"""The test exchange's signed account and order endpoints (``/api/v3/order``, ``account``,
``openOrders``, ``myTrades``), over :class:`~tradewind.testing._exchange_account.Account`;
and the cross-margin ones (``/sapi/v1/margin/order``, ``openOrders``, ``myTrades``,
``account``, ``interestHistory``) over
:class:`~tradewind.testing._exchange_margin.MarginAccount`.

Requests are checked as Binance checks them: the ``X-MBX-APIKEY`` header, an HMAC-SHA256
``signature`` of the query string and body, and mandatory parameters.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from tradewind.testing._exchange_account import Account
from tradewind.testing._exchange_common import BinanceError, Call, Endpoint, json_response
from tradewind.testing._exchange_faults import FaultKind
from tradewind.testing._exchange_margin import MarginAccount

__all__ = ["order_endpoints"]

_SIGNATURE = re.compile(r"&?signature=[0-9a-fA-F]*")
_SIDES = ("BUY", "SELL")
_TYPES = ("MARKET", "LIMIT", "STOP_LOSS_LIMIT")


def _number(params: Mapping[str, str], name: str, required: bool = False) -> float | None:
    raw = params.get(name)
    if raw is None or raw == "":
        if required:
            raise BinanceError.mandatory(name)
        return None
    try:
        value = float(raw)
    except ValueError:
        raise BinanceError.illegal(name, "^([0-9]{1,20})(\\.[0-9]{1,20})?$") from None
    if not math.isfinite(value):
        raise BinanceError.not_valid(name)
    return value


def _id(params: Mapping[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not raw.isdigit():
        raise BinanceError.illegal(name)
    return int(raw)


def _margin(account: Account) -> MarginAccount:
    if not isinstance(account, MarginAccount):
        raise BinanceError(-3003, "Margin account does not exist.")
    return account


def order_endpoints(account: Account, *, margin: bool = False) -> list[Endpoint]:
    """The signed endpoints of one account, with Binance's request weights (``margin``:
    the cross-margin ones of a :class:`MarginAccount`)."""

    async def signed(call: Call) -> None:
        body = await call.request.text() if call.request.body_exists else ""
        query = call.request.query_string
        signature = call.params.get("signature")
        total = _SIGNATURE.sub("", query).lstrip("&") + _SIGNATURE.sub("", body).lstrip("&")
        account.check_signature(call.request.headers.get("X-MBX-APIKEY"), total, signature)
        if "timestamp" not in call.params:
            raise BinanceError.mandatory("timestamp")

    def symbol_of(params: Mapping[str, str]) -> str:
        symbol = params.get("symbol")
        if not symbol:
            raise BinanceError.mandatory("symbol")
        if not account.market.has_symbol(symbol):
            raise BinanceError.invalid_symbol()
        return symbol

    async def new_order(call: Call) -> web.StreamResponse:
        await signed(call)
        p = call.params
        symbol = symbol_of(p)
        side = p.get("side", "")
        type_ = p.get("type", "")
        if side not in _SIDES:
            raise BinanceError.not_valid("side")
        if type_ not in _TYPES:
            raise BinanceError.not_valid("type")
        fault = call.fault
        if fault is not None and fault.kind is FaultKind.REJECT:
            raise BinanceError(int(fault.rows or -2010), str(fault.body))
        qty = _number(p, "quantity", required=True) or 0.0
        cap = math.inf
        if fault is not None and fault.kind is FaultKind.PARTIAL_FILL:
            spec = account.market.spec(symbol)
            cap = math.floor(qty * fault.fraction / spec.step_size) * spec.step_size
        fields: dict[str, Any] = {
            "symbol": symbol,
            "side": side,
            "type_": type_,
            "qty": qty,
            "price": _number(p, "price"),
            "stop_price": _number(p, "stopPrice"),
            "client_id": p.get("newClientOrderId") or None,
            "cap": cap,
        }
        if isinstance(account, MarginAccount):
            effect = p.get("sideEffectType") or "NO_SIDE_EFFECT"
            order = account.new_margin_order(side_effect=effect, now_ms=call.now_ms, **fields)
        else:
            order = account.new_order(now_ms=call.now_ms, **fields)
        if order.status in ("NEW", "PARTIALLY_FILLED"):
            order.cap = math.inf  # a partial fill holds for this match only
        return json_response(order.as_full())

    def which(params: Mapping[str, str]) -> tuple[str, int | None, str | None]:
        """The order a request names: symbol, and order id or client order id."""
        oid, cid = _id(params, "orderId"), params.get("origClientOrderId")
        if oid is None and not cid:
            raise BinanceError(-1102, "Param 'origClientOrderId' or 'orderId' must be sent.")
        return symbol_of(params), oid, cid

    async def get_order(call: Call) -> web.StreamResponse:
        await signed(call)
        symbol, oid, cid = which(call.params)
        account.match(call.now_ms)
        return json_response(account.find(symbol, oid, cid).as_order())

    async def cancel_order(call: Call) -> web.StreamResponse:
        await signed(call)
        symbol, oid, cid = which(call.params)
        return json_response(account.cancel(symbol, oid, cid, call.now_ms).as_order())

    async def open_orders(call: Call) -> web.StreamResponse:
        await signed(call)
        symbol = symbol_of(call.params) if call.params.get("symbol") else None
        account.match(call.now_ms)
        return json_response([o.as_order() for o in account.open_orders(symbol)])

    async def my_trades(call: Call) -> web.StreamResponse:
        await signed(call)
        symbol = symbol_of(call.params)
        account.match(call.now_ms)
        rows = [f.as_trade() for f in account.my_trades(symbol)]
        order_id = _id(call.params, "orderId")
        if order_id is not None:
            rows = [r for r in rows if r["orderId"] == order_id]
        since = _id(call.params, "startTime")
        if since is not None:
            rows = [r for r in rows if r["time"] >= since]
        limit = _id(call.params, "limit") or 500
        return json_response(rows[-limit:] if since is None else rows[:limit])

    async def account_info(call: Call) -> web.StreamResponse:
        await signed(call)
        account.match(call.now_ms)
        fee = f"{account.spec.fee:.8f}"
        return json_response(
            {
                "makerCommission": round(account.spec.fee * 10_000),
                "takerCommission": round(account.spec.fee * 10_000),
                "buyerCommission": 0,
                "sellerCommission": 0,
                "commissionRates": {"maker": fee, "taker": fee, "buyer": "0", "seller": "0"},
                "canTrade": True,
                "canWithdraw": False,
                "canDeposit": False,
                "brokered": False,
                "requireSelfTradePrevention": False,
                "preventSor": False,
                "updateTime": call.now_ms,
                "accountType": "SPOT",
                "balances": account.balances(),
                "permissions": ["SPOT"],
                "uid": 1,
            }
        )

    async def margin_account(call: Call) -> web.StreamResponse:
        await signed(call)
        loans = _margin(account)
        loans.match(call.now_ms)
        return json_response(
            {
                "borrowEnabled": True,
                "marginLevel": "999",
                "totalAssetOfBtc": "0",
                "totalLiabilityOfBtc": "0",
                "totalNetAssetOfBtc": "0",
                "tradeEnabled": True,
                "transferEnabled": True,
                "userAssets": loans.user_assets(),
            }
        )

    async def interest_history(call: Call) -> web.StreamResponse:
        await signed(call)
        loans = _margin(account)
        loans.match(call.now_ms)
        rows = [c for c in loans.charges if c.asset == call.params.get("asset", c.asset)]
        since = _id(call.params, "startTime")
        if since is not None:
            rows = [c for c in rows if c.time_ms >= since]
        size = min(_id(call.params, "size") or 10, 100)
        page = max(_id(call.params, "current") or 1, 1)
        newest = sorted(rows, key=lambda c: -c.id)[(page - 1) * size : page * size]
        return json_response({"rows": [c.as_row(loans.rate) for c in newest], "total": len(rows)})

    if margin:
        return [
            Endpoint("margin/order", new_order, 6, "POST", "/sapi/v1"),
            Endpoint("margin/order", get_order, 10, "GET", "/sapi/v1"),
            Endpoint("margin/order", cancel_order, 10, "DELETE", "/sapi/v1"),
            Endpoint("margin/openOrders", open_orders, 10, "GET", "/sapi/v1"),
            Endpoint("margin/myTrades", my_trades, 10, "GET", "/sapi/v1"),
            Endpoint("margin/account", margin_account, 10, "GET", "/sapi/v1"),
            Endpoint("margin/interestHistory", interest_history, 1, "GET", "/sapi/v1"),
        ]
    return [
        Endpoint("order", new_order, 1, "POST"),
        Endpoint("order", get_order, 4, "GET"),
        Endpoint("order", cancel_order, 1, "DELETE"),
        Endpoint("openOrders", open_orders, 6),
        Endpoint("myTrades", my_trades, 20),
        Endpoint("account", account_info, 20),
    ]
