"""Pieces the exchange-server modules share: Binance's answer shapes, numbers, the clock."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from aiohttp import web

from tradewind.domain.types import parse_utc

__all__ = [
    "BinanceError",
    "Call",
    "Clock",
    "Endpoint",
    "Handler",
    "ClockValue",
    "clock_ms",
    "error_response",
    "fixed",
    "gateway_error",
    "json_response",
    "not_found",
    "plain_number",
]

_GATEWAY_TEXT = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}

#: A moment: epoch milliseconds, or a timestamp (naive ones are taken as UTC).
ClockValue = int | pd.Timestamp | datetime
#: The server clock: a fixed moment, a function returning one, or None for the wall clock.
Clock = ClockValue | Callable[[], ClockValue] | None


class BinanceError(Exception):
    """An error the server answers with Binance's ``{"code": ..., "msg": ...}`` body.

    Handlers raise it instead of building responses, so every endpoint (including the
    account and order endpoints still to come) reports errors the same way.
    """

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.status = status

    @classmethod
    def invalid_symbol(cls) -> BinanceError:
        """Binance's answer to a symbol it does not list (ccxt raises BadSymbol)."""
        return cls(-1121, "Invalid symbol.")

    @classmethod
    def invalid_interval(cls) -> BinanceError:
        """Binance's answer to an interval it does not know (here: one not stored)."""
        return cls(-1120, "Invalid interval.")

    @classmethod
    def mandatory(cls, name: str) -> BinanceError:
        """A required parameter was missing or empty."""
        return cls(
            -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
        )

    @classmethod
    def illegal(cls, name: str, legal: str = "^[0-9]{1,20}$") -> BinanceError:
        """A parameter had characters its type does not allow."""
        return cls(
            -1100, f"Illegal characters found in parameter '{name}'; legal range is '{legal}'."
        )

    @classmethod
    def not_valid(cls, name: str) -> BinanceError:
        """A well-formed parameter had a value out of range."""
        return cls(-1130, f"Data sent for parameter '{name}' is not valid.")


def plain_number(value: float) -> str:
    """The shortest decimal text that reads back as exactly ``value``, never in e-notation.

    Binance writes 8 fixed decimals; exact text instead lets a test compare fetched
    candles with the stored float64 frame bit for bit, whatever the data's precision.
    """
    text = repr(float(value))
    if "e" in text or "n" in text:  # e-notation, nan, inf
        text = np.format_float_positional(value, trim="-")
    return text


def fixed(value: float, decimals: int = 8) -> str:
    """Binance's fixed-decimal text, for derived values (filters, tickers)."""
    if not math.isfinite(value):
        value = 0.0
    return f"{value:.{decimals}f}"


def clock_ms(clock: Clock) -> int:
    """Read ``clock`` as epoch milliseconds; None reads the wall clock."""
    if clock is None:
        return time.time_ns() // 1_000_000
    value = clock() if callable(clock) else clock
    if isinstance(value, bool):
        raise TypeError("the server clock must be epoch ms or a timestamp, not a bool")
    if isinstance(value, int | np.integer):
        return int(value)
    return int(parse_utc(value).value // 1_000_000)


def json_response(payload: object, status: int = 200) -> web.Response:
    """Compact JSON, as Binance sends it."""
    return web.json_response(
        payload, status=status, dumps=lambda o: json.dumps(o, separators=(",", ":"))
    )


def error_response(error: BinanceError) -> web.Response:
    """Binance's error body for ``error``."""
    return json_response({"code": error.code, "msg": error.msg}, status=error.status)


async def not_found(_: object) -> web.StreamResponse:
    """What Binance's edge answers for a path it does not serve (HTML, no error code)."""
    return web.Response(
        status=404,
        text="<html><body><h1>404 Not Found</h1></body></html>",
        content_type="text/html",
    )


def gateway_error(status: int, body: str | None) -> web.Response:
    """A 5xx as a load balancer sends it: HTML, no Binance code, so clients go by status."""
    if body is not None:
        is_json = body.lstrip().startswith("{")
        return web.Response(
            status=status, text=body, content_type="application/json" if is_json else "text/html"
        )
    reason = _GATEWAY_TEXT.get(status, "Server Error")
    return web.Response(
        status=status,
        text=f"<html><body><h1>{status} {reason}</h1></body></html>",
        content_type="text/html",
    )


@dataclass(frozen=True, slots=True)
class Call:
    """One admitted request, as endpoint handlers see it.

    ``now_ms`` is read once per request so a handler sees one consistent moment;
    ``fault`` is set only for faults the handler itself must honour (short pages).
    """

    request: web.Request
    params: Mapping[str, str]
    endpoint: str
    now_ms: int
    fault: Any = None  #: a Fault the handler itself honours


Handler = Callable[[Call], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A route under ``/api/v3/``: its handler and Binance's request weight for it.

    ``weight`` is a number, or a function of the parameters for endpoints whose weight
    depends on them (tickers with and without ``symbol``).
    """

    name: str
    handler: Handler
    weight: int | Callable[[Mapping[str, str]], int] = 1
    method: str = "GET"
    prefix: str = "/api/v3"  #: ``/sapi/v1`` for the margin endpoints

    @property
    def label(self) -> str:
        """The key in the statistics: the path, prefixed by the method unless GET."""
        return self.name if self.method == "GET" else f"{self.method} {self.name}"

    def weight_of(self, params: Mapping[str, str]) -> int:
        """The weight this request costs."""
        return self.weight(params) if callable(self.weight) else self.weight
