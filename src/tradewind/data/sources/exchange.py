"""The thin layer over ccxt for market data: client factory, limits, error mapping.

Raw calls stay ccxt's; what crosses into Tradewind is parsed into our types and our
errors. Per-exchange differences (request weights, page sizes, the used-weight header)
are data in :data:`LIMITS`, not branches in the download code.
"""

from __future__ import annotations

import contextvars
import difflib
from dataclasses import dataclass, replace
from typing import Any

import ccxt
import ccxt.async_support as ccxt_async

from tradewind.config.models import ExchangeConfig
from tradewind.errors import (
    ConfigError,
    ExchangeError,
    ExchangeFatal,
    ExchangeRejected,
    ExchangeRetryable,
)

__all__ = [
    "LIMITS",
    "ExchangeLimits",
    "last_response_headers",
    "limits_for",
    "make_async_exchange",
    "make_exchange",
    "map_ccxt_error",
]


@dataclass(frozen=True, slots=True)
class ExchangeLimits:
    """Request-weight rules of one exchange (Binance spot values from its API docs)."""

    weight_budget: int  #: weight allowed per window
    window_s: float  #: rolling window length, seconds
    klines_weight: int
    tickers_weight: int  #: 24 h tickers of all symbols
    markets_weight: int  #: exchange info / markets
    max_klines: int  #: candles per request
    used_weight_header: str | None  #: header reporting the weight used in the window
    raw_klines: bool  #: klines carry quote volume, trades, taker volume (Binance layout)


LIMITS: dict[str, ExchangeLimits] = {
    "binance": ExchangeLimits(6000, 60.0, 2, 80, 20, 1000, "x-mbx-used-weight-1m", True),
}


def limits_for(cfg: ExchangeConfig, exchange: Any | None = None) -> ExchangeLimits:
    """The limits of ``cfg.name``, with the config's budget/window overrides applied.

    Exchanges without an entry get one request = one unit, at ccxt's ``rateLimit`` pace.
    """
    base = LIMITS.get(cfg.name)
    if base is None:
        rate_ms = float(getattr(exchange, "rateLimit", 1000) or 1000)
        base = ExchangeLimits(max(1, int(60_000 / rate_ms)), 60.0, 1, 1, 1, 500, None, False)
    if cfg.weight_budget is not None:
        base = replace(base, weight_budget=cfg.weight_budget)
    if cfg.weight_window_s is not None:
        base = replace(base, window_s=cfg.weight_window_s)
    return base


_headers: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "tradewind_last_response_headers", default=None
)


def last_response_headers() -> dict[str, str]:
    """Headers of the last response seen *by the current task* (lower-case keys).

    ccxt keeps only one ``last_response_headers`` per client, which concurrent tasks
    overwrite; a context variable gives each asyncio task its own.
    """
    return _headers.get() or {}


def _with_header_capture(cls: type[Any]) -> type[Any]:
    def on_rest_response(
        self: Any,
        code: Any,
        reason: Any,
        url: Any,
        method: Any,
        response_headers: Any,
        response_body: Any,
        request_headers: Any,
        request_body: Any,
    ) -> Any:
        _headers.set({str(k).lower(): str(v) for k, v in (response_headers or {}).items()})
        return cls.on_rest_response(
            self,
            code,
            reason,
            url,
            method,
            response_headers,
            response_body,
            request_headers,
            request_body,
        )

    return type(f"Tradewind{cls.__name__}", (cls,), {"on_rest_response": on_rest_response})


def _check_name(name: str) -> None:
    if name not in ccxt.exchanges:
        hint = difflib.get_close_matches(name, ccxt.exchanges, n=1)
        guess = f" — did you mean {hint[0]!r}?" if hint else ""
        raise ConfigError(f"unknown exchange {name!r}{guess} (any ccxt exchange id works)")


def _client_params(cfg: ExchangeConfig) -> dict[str, Any]:
    params: dict[str, Any] = {
        "timeout": int(cfg.timeout_s * 1000),
        "options": {
            "fetchMarkets": {"types": ["spot"]},
            "fetchCurrencies": False,
            "fetchMargins": False,
            "adjustForTimeDifference": False,
        },
    }
    if cfg.api_key is not None:
        params["apiKey"] = cfg.api_key.get_secret_value()
    if cfg.api_secret is not None:
        params["secret"] = cfg.api_secret.get_secret_value()
    return params


def _aimed(client: Any, cfg: ExchangeConfig) -> Any:
    if cfg.testnet:
        client.set_sandbox_mode(True)  # before URL overrides: sandbox mode rewrites URLs
    if cfg.api_url:
        api = dict(client.urls.get("api", {}))
        for key in ("public", "private"):
            api[key] = cfg.api_url
        if "sapi" in api and cfg.api_url.rstrip("/").endswith("/api/v3"):
            # Binance's margin endpoints sit beside the spot ones: /sapi/v1.
            api["sapi"] = cfg.api_url.rstrip("/").removesuffix("/api/v3") + "/sapi/v1"
        client.urls["api"] = api
    return client


def make_async_exchange(cfg: ExchangeConfig, *, name: str | None = None) -> Any:
    """An async ccxt client for ``name`` (default ``cfg.name``), our limiter in charge.

    ccxt's own throttle is switched off: one shared weight limiter paces every task.
    ``cfg.api_url`` points the client at another server (a local test exchange).
    """
    exchange_id = name or cfg.name
    _check_name(exchange_id)
    params = {**_client_params(cfg), "enableRateLimit": False}
    return _aimed(_with_header_capture(getattr(ccxt_async, exchange_id))(params), cfg)


def make_exchange(cfg: ExchangeConfig) -> Any:
    """A synchronous ccxt client for the node's orders: keys from the configuration
    (the environment), ccxt's own throttle on (a node sends a few requests a tick),
    ``cfg.testnet`` for the sandbox and ``cfg.api_url`` for another server."""
    _check_name(cfg.name)
    params = {**_client_params(cfg), "enableRateLimit": True}
    return _aimed(_with_header_capture(getattr(ccxt, cfg.name))(params), cfg)


def _retry_after(headers: dict[str, str]) -> float | None:
    value = headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def map_ccxt_error(exc: BaseException) -> ExchangeError:
    """Translate a ccxt exception into retryable / rejected / fatal.

    Order matters: ccxt's hierarchy puts ``DDoSProtection`` and ``RequestTimeout`` under
    ``NetworkError``, and ``BadSymbol`` under ``BadRequest``.
    """
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, ccxt.NetworkError):  # 429/418, 5xx, timeouts, unreachable
        return ExchangeRetryable(text, retry_after=_retry_after(last_response_headers()))
    if isinstance(exc, ccxt.BadSymbol | ccxt.BadRequest | ccxt.InvalidOrder | ccxt.OrderNotFound):
        return ExchangeRejected(text)
    if isinstance(exc, ccxt.AuthenticationError | ccxt.PermissionDenied | ccxt.NotSupported):
        return ExchangeFatal(text)
    if isinstance(exc, ccxt.ExchangeError):
        return ExchangeFatal(text)
    return ExchangeFatal(text)
