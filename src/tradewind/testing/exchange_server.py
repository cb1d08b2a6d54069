"""A Binance-compatible spot REST server on 127.0.0.1, for tests and benchmarks.

Clients (ccxt, or our own adapters) talk to it exactly as to ``api.binance.com``, so the
code under test is the production code path: URL building, parameter spelling, error
mapping, paging, rate-limit pacing and retries. Market data comes from a
:class:`~tradewind.data.store.CandleStore` or in-memory frames; a server clock (``now``)
hides the future and leaves the current candle open, so look-ahead bugs show up; a
weight budget with 429 → 418 escalation and scripted or random faults (see
:class:`Fault`) make the failure paths testable on demand.

Usage::

    with ExchangeServer(CandleStore(data_dir, "binance"), weight_limit=600,
                        weight_window=6) as server:
        exchange = binance_client(server)
        exchange.fetch_ohlcv("BTC/USDT", "5m", since=...)
        server.faults.push(Fault.server_error(503), Fault.short_page())
        assert server.stats().rate_limited == 0

The endpoint table is open (:meth:`ExchangeServer.add_endpoint`), so account and order
endpoints can be added later with the same weights, faults and error handling.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import pandas as pd
from aiohttp import web

from tradewind.data.store import CandleStore
from tradewind.testing._exchange_account import Account, AccountSpec
from tradewind.testing._exchange_common import (
    BinanceError,
    Call,
    Clock,
    Endpoint,
    clock_ms,
    error_response,
    gateway_error,
    json_response,
    not_found,
)
from tradewind.testing._exchange_faults import Fault, FaultInjector, FaultKind
from tradewind.testing._exchange_limits import Admission, ServerStats, StatsRecorder, WeightLimiter
from tradewind.testing._exchange_margin import MarginAccount
from tradewind.testing._exchange_market import CandleFrames, MarketData, MarketSpec, _Series
from tradewind.testing._exchange_orders import order_endpoints

if TYPE_CHECKING:
    import ccxt
    import ccxt.async_support

__all__ = [
    "BinanceError",
    "Call",
    "CandleFrames",
    "Endpoint",
    "ExchangeServer",
    "Fault",
    "FaultInjector",
    "FaultKind",
    "MarketSpec",
    "ServerStats",
    "async_binance_client",
    "Account",
    "AccountSpec",
    "binance_client",
    "ccxt_config",
    "error_response",
    "json_response",
]

_SYMBOL_RE = re.compile(r"^[A-Z0-9\-_.]{1,20}$")
_INT_RE = re.compile(r"^[0-9]{1,20}$")


def _symbol_count(params: Mapping[str, str]) -> int | None:
    """How many symbols a request names: 1 for ``symbol``, n for ``symbols``, None for all."""
    if params.get("symbol"):
        return 1
    raw = params.get("symbols")
    if not raw:
        return None
    try:
        names = json.loads(raw)
    except ValueError:
        return 1
    return len(names) if isinstance(names, list) else 1


def _ticker_24h_weight(params: Mapping[str, str]) -> int:
    n = _symbol_count(params)
    return 80 if n is None or n > 100 else 40 if n > 20 else 2


def _book_ticker_weight(params: Mapping[str, str]) -> int:
    return 2 if params.get("symbol") else 4


def _int_param(params: Mapping[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not _INT_RE.match(raw):
        raise BinanceError.illegal(name)
    return int(raw)


class ExchangeServer:
    """Binance's public spot market endpoints over candles, with limits and faults.

    Args:
        candles: a CandleStore (exchange folder) or ``{(symbol, timeframe): frame}``.
        timeframes, symbols: serve only these (default: everything found).
        market_specs: trading rules per symbol, instead of ones derived from prices.
        now: the server clock (epoch ms, a timestamp, or a function returning one;
            None = wall clock). Candles opening after it do not exist yet; the one
            containing it is served as stored, as the still-open candle.
        weight_limit, weight_window: the request-weight budget per rolling window (s).
        ban_seconds, ban_after_429s: a client over budget again after this many 429s,
            before the back-off has passed, is banned (418) for ``ban_seconds``;
            ``ban_after_429s=None`` never bans.
        latency, jitter: every request waits ``latency`` s plus a uniform
            ``[0, jitter)`` s, with asyncio.sleep so concurrent requests overlap.
        faults, fault_rates, seed: scripted faults and ``(fault, probability)`` rules;
            change them at run time through :attr:`faults`.
        account: serve the signed account and order endpoints of this account, with a
            matching engine on the candles (:mod:`tradewind.testing._exchange_account`).
        spread: the relative bid/ask spread of the book ticker.
        host, port: where to listen; port 0 picks a free one.
    """

    def __init__(
        self,
        candles: CandleStore | CandleFrames,
        *,
        timeframes: Iterable[str] | None = None,
        symbols: Iterable[str] | None = None,
        market_specs: Mapping[str, MarketSpec] | None = None,
        now: Clock = None,
        weight_limit: int = 6000,
        weight_window: float = 60.0,
        ban_seconds: float = 120.0,
        ban_after_429s: int | None = 1,
        latency: float = 0.0,
        jitter: float = 0.0,
        faults: Iterable[Fault] = (),
        fault_rates: Iterable[tuple[Fault, float]] = (),
        seed: int = 0,
        spread: float = 2e-4,
        host: str = "127.0.0.1",
        port: int = 0,
        account: AccountSpec | None = None,
    ) -> None:
        self.market = MarketData(
            candles, timeframes=timeframes, symbols=symbols, specs=market_specs
        )
        #: The trading account behind the signed endpoints (None: market data only).
        self.account = None if account is None else Account(account, self.market)
        #: Its cross-margin account (``AccountSpec.margin``), behind ``/sapi/v1/margin/…``.
        self.margin = (
            MarginAccount(account, self.market)
            if account is not None and account.margin is not None
            else None
        )
        self.limiter = WeightLimiter(
            weight_limit, weight_window, ban_seconds=ban_seconds, ban_after_429s=ban_after_429s
        )
        self.faults = FaultInjector(faults, fault_rates, seed=seed, latency=latency, jitter=jitter)
        self.spread = spread
        self.host = host
        self._requested_port = port
        self._now: Clock = now
        self._stats = StatsRecorder()
        self._port: int | None = None
        self._runner: web.AppRunner | None = None
        self._sock: socket.socket | None = None
        self._closing: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._endpoints: dict[tuple[str, str], Endpoint] = {}
        for endpoint in self._market_endpoints():
            self.add_endpoint(endpoint)
        if self.account is not None:
            for endpoint in order_endpoints(self.account):
                self.add_endpoint(endpoint)
        if self.margin is not None:
            for endpoint in order_endpoints(self.margin, margin=True):
                self.add_endpoint(endpoint)

    # -- configuration and observation (any thread) -------------------------------------

    @property
    def port(self) -> int:
        """The listening port (only while running)."""
        if self._port is None:
            raise RuntimeError("the exchange server is not running; use `with server:`")
        return self._port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        """The base of the spot REST API, what ccxt calls ``urls['api']['public']``."""
        return f"{self.url}/api/v3"

    def now_ms(self) -> int:
        """The server clock in epoch milliseconds."""
        return clock_ms(self._now)

    def set_now(self, now: Clock) -> None:
        """Move the server clock (a fixed moment, a function, or None for the wall clock)."""
        clock_ms(now)  # reject a bad clock here, not in the next request
        self._now = now

    def set_candles(self, symbol: str, timeframe: str, frame: pd.DataFrame) -> None:
        """Add or replace candles while serving (e.g. to list a new symbol)."""
        self.market.set_candles(symbol, timeframe, frame)

    def stats(self) -> ServerStats:
        """What the server has seen so far."""
        return self._stats.snapshot()

    def reset_stats(self) -> None:
        """Start counting from zero (the weight window and any ban are kept)."""
        self._stats.reset()

    def used_weight(self) -> int:
        """Weight used in the current rolling window."""
        return self.limiter.used()

    def add_endpoint(self, endpoint: Endpoint) -> None:
        """Serve ``endpoint`` at ``/api/v3/<name>`` (before the server starts)."""
        if self._runner is not None:
            raise RuntimeError("add endpoints before starting the server")
        self._endpoints[(endpoint.method, endpoint.name)] = endpoint

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> Self:
        """Serve from a background thread with its own event loop; returns when ready."""
        if self._thread is not None or self._runner is not None:
            raise RuntimeError("the exchange server is already running")
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            try:
                asyncio.run(self._serve_until_stopped(ready))
            except BaseException as exc:  # reported to the starting thread below
                failure.append(exc)
                ready.set()

        thread = threading.Thread(target=run, name="tradewind-exchange-server", daemon=True)
        thread.start()
        if not ready.wait(timeout=30):
            raise RuntimeError("the exchange server did not start within 30 s")
        if failure:
            thread.join()
            raise failure[0]
        self._thread = thread
        return self

    def stop(self) -> None:
        """Stop the background server: hanging requests end, connections close."""
        thread, loop, event = self._thread, self._loop, self._stop_event
        if thread is None:
            return
        if loop is not None and event is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # the loop closed between the check and the call
                pass
        thread.join(timeout=30)
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        """Serve inside the running event loop instead of a thread."""
        if self._thread is not None or self._runner is not None:
            raise RuntimeError("the exchange server is already running")
        await self._start_site()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stop_site()

    async def _serve_until_stopped(self, ready: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        await self._start_site()
        ready.set()
        try:
            await self._stop_event.wait()
        finally:
            await self._stop_site()
            self._loop = self._stop_event = None

    async def _start_site(self) -> None:
        self._closing = asyncio.Event()
        app = web.Application()
        for endpoint in self._endpoints.values():
            path = f"{endpoint.prefix}/{endpoint.name}"
            app.router.add_route(endpoint.method, path, self._route(endpoint))
        app.router.add_route("*", "/{tail:.*}", self._route(Endpoint("unknown", not_found)))
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self._requested_port))
            runner = web.AppRunner(
                app, handler_cancellation=True, shutdown_timeout=1.0, access_log=None
            )
            await runner.setup()
            await web.SockSite(runner, sock).start()
        except BaseException:
            sock.close()
            raise
        self._sock, self._runner = sock, runner
        self._port = int(sock.getsockname()[1])

    async def _stop_site(self) -> None:
        if self._closing is not None:
            self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._sock is not None:
            self._sock.close()
        self._runner = self._sock = self._port = None

    # -- the request pipeline -----------------------------------------------------------

    def _route(self, endpoint: Endpoint) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            return await self._serve(endpoint, request)

        return handle

    async def _serve(self, endpoint: Endpoint, request: web.Request) -> web.StreamResponse:
        """Latency, weight budget, faults, handler, headers and statistics, in that order."""
        params = {k: str(v) for k, v in request.query.items()}
        if request.can_read_body:
            params.update({k: str(v) for k, v in (await request.post()).items()})
        delay = self.faults.delay()
        if delay > 0:
            await asyncio.sleep(delay)
        admission = self.limiter.admit(endpoint.weight_of(params))
        self._stats.request(endpoint.label, admission)
        if admission.status == 200:
            response = await self._answer(endpoint, request, params)
        else:
            response = self._limit_response(admission)
        response.headers["X-MBX-USED-WEIGHT-1M"] = str(admission.used)
        interval, num = self._window_interval()
        if (interval, num) != ("MINUTE", 1):  # Binance names the header after its window
            response.headers[f"X-MBX-USED-WEIGHT-{num}{interval[0]}"] = str(admission.used)
        self._stats.response(response.status)
        return response

    def _limit_response(self, admission: Admission) -> web.Response:
        if admission.status == 429:
            msg = (
                f"Too much request weight used; current limit is {self.limiter.limit} "
                f"request weight per {self._window_text()}. Please use WebSocket Streams "
                "for live updates to avoid polling the API."
            )
        else:
            until = clock_ms(None) + round(admission.retry_after * 1000)
            msg = (
                f"Way too much request weight used; IP banned until {until}. Please use "
                "WebSocket Streams for live updates to avoid bans."
            )
        response = error_response(BinanceError(-1003, msg, admission.status))
        response.headers["Retry-After"] = admission.retry_after_header
        return response

    async def _answer(
        self, endpoint: Endpoint, request: web.Request, params: Mapping[str, str]
    ) -> web.StreamResponse:
        fault = self.faults.draw(endpoint.name, params.get("symbol"))
        if fault is not None:
            self._stats.fault(fault.kind.value)
            if fault.kind in (FaultKind.RATE_LIMIT, FaultKind.BAN):
                return self._limit_response(Admission(fault.status, 0, fault.retry_after))
            if fault.kind is FaultKind.SERVER_ERROR:
                return gateway_error(fault.status, fault.body)
            if fault.kind is FaultKind.TIMEOUT and await self._hang(fault.delay):
                return gateway_error(503, None)  # shutting down: the client is long gone
        own = (FaultKind.SHORT_PAGE, FaultKind.PARTIAL_FILL, FaultKind.REJECT)
        mine = fault if fault is not None and fault.kind in own else None
        call = Call(request, params, endpoint.name, self.now_ms(), mine)
        try:
            response = await endpoint.handler(call)
        except BinanceError as error:
            response = error_response(error)
        if fault is not None and fault.kind is FaultKind.LOST_RESPONSE:
            # Carried out; the answer never reaches the client.
            await self._hang(fault.delay)
            return gateway_error(fault.status, None)
        return response

    async def _hang(self, delay: float | None) -> bool:
        """Wait ``delay`` s, or until shutdown; True when the server is shutting down."""
        if self._closing is None:  # pragma: no cover - set whenever the site runs
            return True
        try:
            async with asyncio.timeout(delay):
                await self._closing.wait()
        except TimeoutError:
            return False
        return True

    def _window_text(self) -> str:
        interval, num = self._window_interval()
        return f"{num} {interval}"

    def _window_interval(self) -> tuple[str, int]:
        window = self.limiter.window
        for name, seconds in (("DAY", 86400), ("HOUR", 3600), ("MINUTE", 60)):
            if window % seconds == 0:
                return name, round(window / seconds)
        return "SECOND", max(1, round(window))

    # -- market endpoints ---------------------------------------------------------------

    def _market_endpoints(self) -> list[Endpoint]:
        """Binance's spot market endpoints with their documented request weights."""
        return [
            Endpoint("ping", self._ping, 1),
            Endpoint("time", self._time, 1),
            Endpoint("exchangeInfo", self._exchange_info, 20),
            Endpoint("klines", self._klines, 2),
            Endpoint("ticker/24hr", self._ticker_24h, _ticker_24h_weight),
            Endpoint("ticker/bookTicker", self._book_ticker, _book_ticker_weight),
        ]

    def _symbol(self, raw: str | None, name: str = "symbol") -> str:
        """A listed symbol from a parameter, with Binance's errors for bad ones."""
        if not raw:
            raise BinanceError.mandatory(name)
        if not _SYMBOL_RE.match(raw):
            raise BinanceError.illegal(name, _SYMBOL_RE.pattern)
        if not self.market.has_symbol(raw):
            raise BinanceError.invalid_symbol()
        return raw

    def _symbols(self, params: Mapping[str, str]) -> list[str] | None:
        """Symbols named by ``symbol`` or ``symbols`` (a JSON list); None means all."""
        if params.get("symbol") and params.get("symbols"):
            raise BinanceError(-1128, "Combination of optional parameters invalid.")
        if params.get("symbol"):
            return [self._symbol(params["symbol"])]
        raw = params.get("symbols")
        if not raw:
            return None
        try:
            names = json.loads(raw)
        except ValueError:
            names = None
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise BinanceError.illegal("symbols", '["SYMBOL1","SYMBOL2"]')
        return [self._symbol(n, "symbols") for n in names]

    async def _series(self, symbol: str, interval: str | None = None) -> _Series:
        """A symbol's candles (its finest when no interval); first reads go to a thread."""
        if interval is None:
            tfs = self.market.timeframes(symbol)
            if not tfs:
                raise BinanceError.invalid_symbol()
            interval = tfs[0].name
        if self.market.is_loaded(symbol, interval):
            return self.market.series(symbol, interval)
        return await asyncio.to_thread(self.market.series, symbol, interval)

    async def _ping(self, call: Call) -> web.StreamResponse:
        return json_response({})

    async def _time(self, call: Call) -> web.StreamResponse:
        return json_response({"serverTime": call.now_ms})

    async def _exchange_info(self, call: Call) -> web.StreamResponse:
        symbols = self._symbols(call.params) or self.market.symbols()
        for sym in symbols:
            await self._series(sym)  # specs are derived from prices: load them first
        interval, num = self._window_interval()
        return json_response(
            {
                "timezone": "UTC",
                "serverTime": call.now_ms,
                "rateLimits": [
                    {
                        "rateLimitType": "REQUEST_WEIGHT",
                        "interval": interval,
                        "intervalNum": num,
                        "limit": self.limiter.limit,
                    },
                    {
                        "rateLimitType": "ORDERS",
                        "interval": "SECOND",
                        "intervalNum": 10,
                        "limit": 100,
                    },
                    {
                        "rateLimitType": "ORDERS",
                        "interval": "DAY",
                        "intervalNum": 1,
                        "limit": 200000,
                    },
                    {
                        "rateLimitType": "RAW_REQUESTS",
                        "interval": "MINUTE",
                        "intervalNum": 5,
                        "limit": 61000,
                    },
                ],
                "exchangeFilters": [],
                "symbols": [self.market.spec(sym).symbol_info() for sym in symbols],
            }
        )

    async def _klines(self, call: Call) -> web.StreamResponse:
        """Binance's klines: open times in [startTime, endTime], at most ``limit`` rows.

        With only endTime (or neither) the newest rows are returned; a short-page fault
        cuts the page although more rows exist, as Binance sometimes does.
        """
        params = call.params
        raw_symbol = params.get("symbol")
        if not raw_symbol:
            raise BinanceError.mandatory("symbol")
        if not params.get("interval"):
            raise BinanceError.mandatory("interval")
        symbol = self._symbol(raw_symbol)
        start, end = _int_param(params, "startTime"), _int_param(params, "endTime")
        limit = _int_param(params, "limit")
        if limit is not None and limit < 1:
            raise BinanceError.not_valid("limit")
        if start is not None and end is not None and start > end:
            raise BinanceError(-1023, "Start time is greater than end time.")
        series = await self._series(symbol, params["interval"])
        rows = series.page(start, end, min(limit or 500, 1000), call.now_ms)
        if call.fault is not None:
            keep = len(rows) // 2 if call.fault.rows is None else min(call.fault.rows, len(rows))
            rows = range(rows.start, rows.start + keep)
        return web.Response(text=series.render(rows), content_type="application/json")

    async def _ticker_24h(self, call: Call) -> web.StreamResponse:
        symbols = self._symbols(call.params)
        out = []
        for sym in symbols or self.market.symbols():
            series = await self._series(sym)
            out.append(series.ticker_24h(self.market.spec(sym), call.now_ms))
        return json_response(out[0] if call.params.get("symbol") else out)

    async def _book_ticker(self, call: Call) -> web.StreamResponse:
        symbols = self._symbols(call.params)
        out = []
        for sym in symbols or self.market.symbols():
            series = await self._series(sym)
            out.append(series.book_ticker(self.market.spec(sym), call.now_ms, self.spread))
        return json_response(out[0] if call.params.get("symbol") else out)


def ccxt_config(server: ExchangeServer, config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """ccxt constructor config aiming binance's spot API at ``server``.

    Only ``urls['api']['public'|'private']`` are replaced (ccxt merges a partial
    ``urls`` with its defaults), and market loading is kept to the spot exchangeInfo,
    so nothing reaches out to the real Binance. ``config`` adds to or overrides this.
    """
    extra = dict(config or {})
    options = {
        "fetchMarkets": {"types": ["spot"]},
        "fetchCurrencies": False,
        "fetchMargins": False,
        **extra.pop("options", {}),
    }
    urls = dict(extra.pop("urls", {}))
    urls["api"] = {
        **urls.get("api", {}),
        "public": server.api_url,
        "private": server.api_url,
        "sapi": f"{server.url}/sapi/v1",
    }
    return {"urls": urls, "options": options, **extra}


def binance_client(server: ExchangeServer, **config: Any) -> ccxt.binance:
    """A synchronous ``ccxt.binance`` talking to ``server`` (with its account's keys
    when it serves one)."""
    import ccxt  # imported here: slow to import, and only some callers need it

    if server.account is not None:
        config = {
            "apiKey": server.account.spec.api_key,
            "secret": server.account.spec.secret,
            **config,
        }
    return ccxt.binance(ccxt_config(server, config))


def async_binance_client(server: ExchangeServer, **config: Any) -> ccxt.async_support.binance:
    """An asyncio ``ccxt.async_support.binance`` talking to ``server``; ``await .close()`` it."""
    import ccxt.async_support

    return ccxt.async_support.binance(ccxt_config(server, config))
