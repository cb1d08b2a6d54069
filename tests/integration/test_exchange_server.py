"""The Binance-compatible test exchange, exercised through real ccxt clients and raw HTTP."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import ccxt
import numpy as np
import pandas as pd
import pytest

from tradewind.data.store import CandleStore
from tradewind.errors import ConfigError
from tradewind.testing.exchange_server import (
    ExchangeServer,
    Fault,
    MarketSpec,
    async_binance_client,
    binance_client,
)

T0 = pd.Timestamp("2024-01-01", tz="UTC")
T0_MS = T0.value // 1_000_000
STEP_MS = 300_000  # 5m


def make_frame(
    n: int, price: float, seed: int, *, extras: bool = False, freq: str = "5min"
) -> pd.DataFrame:
    """A valid random walk at full float precision (so round trips must be exact)."""
    rng = np.random.default_rng(seed)
    close = price * np.exp(np.cumsum(rng.normal(0, 0.003, n)))
    open_ = np.concatenate(([price], close[:-1]))
    frame = pd.DataFrame(
        {
            "timestamp": pd.date_range(T0, periods=n, freq=freq),
            "open": open_,
            "high": np.maximum(open_, close) * (1 + rng.uniform(0, 0.002, n)),
            "low": np.minimum(open_, close) * (1 - rng.uniform(0, 0.002, n)),
            "close": close,
            "volume": rng.lognormal(3, 1, n),
        }
    )
    if extras:
        frame["quote_volume"] = frame["volume"] * frame["close"] * 1.0001
        frame["trades"] = rng.integers(1, 500, n).astype("float64")
        frame["taker_buy_volume"] = frame["volume"] * 0.4
    return frame


FRAMES = {
    ("BTCUSDT", "5m"): make_frame(3000, 42_000.0, 1, extras=True),
    ("ETHUSDT", "5m"): make_frame(3000, 2_300.0, 2),
    ("SOLUSDT", "5m"): make_frame(2500, 101.0, 3),
}
BTC = FRAMES[("BTCUSDT", "5m")]


def as_rows(frame: pd.DataFrame) -> list[list[float]]:
    ms = frame["timestamp"].to_numpy(dtype="datetime64[ns]").view("int64") // 1_000_000
    values = frame[["open", "high", "low", "close", "volume"]].to_numpy().tolist()
    return [[int(t), *v] for t, v in zip(ms.tolist(), values, strict=True)]


def fetch_all(ex: Any, symbol: str, since: int) -> list[list[float]]:
    """Page on the last returned open time, as a downloader must (pages may come short)."""
    out: list[list[float]] = []
    while True:
        page = ex.fetch_ohlcv(symbol, "5m", since=since, limit=1000)
        if not page:
            return out
        out.extend(page)
        since = page[-1][0] + 1


@pytest.fixture
def server() -> Iterator[ExchangeServer]:
    with ExchangeServer(FRAMES) as srv:
        yield srv


@pytest.fixture
def client(server: ExchangeServer) -> Iterator[Any]:
    ex = binance_client(server, enableRateLimit=False, timeout=5000)
    yield ex
    ex.close()


async def get(
    session: aiohttp.ClientSession, server: ExchangeServer, path: str, **params: Any
) -> tuple[int, Any, Any]:
    async with session.get(f"{server.api_url}/{path}", params=params) as resp:
        text = await resp.text()
        body = json.loads(text) if resp.content_type == "application/json" else text
        return resp.status, body, resp.headers


Answer = tuple[int, Any, Any]


def raw(server: ExchangeServer, *requests: tuple[str, dict[str, Any]]) -> list[Answer]:
    """Send requests one after another with a plain HTTP client; (status, body, headers)."""

    async def run() -> list[Answer]:
        async with aiohttp.ClientSession() as session:
            return [await get(session, server, path, **params) for path, params in requests]

    return asyncio.run(run())


# -- markets and candles ---------------------------------------------------------------------


def test_sync_ccxt_loads_markets_with_filters(server: ExchangeServer, client: Any) -> None:
    markets = client.load_markets()
    assert sorted(markets) == ["BTC/USDT", "ETH/USDT", "SOL/USDT"]
    btc = markets["BTC/USDT"]
    assert (btc["id"], btc["base"], btc["quote"], btc["spot"], btc["active"]) == (
        "BTCUSDT",
        "BTC",
        "USDT",
        True,
        True,
    )
    assert btc["precision"]["price"] == 0.01
    assert btc["precision"]["amount"] == 1e-05
    assert btc["limits"]["cost"]["min"] == 5.0
    assert markets["SOL/USDT"]["precision"]["price"] == 0.01
    status, info, _ = raw(server, ("exchangeInfo", {}))[0]
    assert status == 200
    assert info["rateLimits"][0] == {
        "rateLimitType": "REQUEST_WEIGHT",
        "interval": "MINUTE",
        "intervalNum": 1,
        "limit": 6000,
    }
    filters = {f["filterType"] for f in info["symbols"][0]["filters"]}
    assert {"PRICE_FILTER", "LOT_SIZE", "NOTIONAL"} <= filters


def test_async_ccxt_loads_markets_and_pages_concurrently(server: ExchangeServer) -> None:
    async def run() -> dict[str, list[list[float]]]:
        ex = async_binance_client(server, enableRateLimit=False)
        try:
            await ex.load_markets()

            async def everything(symbol: str) -> list[list[float]]:
                out: list[list[float]] = []
                since = T0_MS
                while page := await ex.fetch_ohlcv(symbol, "5m", since=since, limit=1000):
                    out.extend(page)
                    since = page[-1][0] + 1
                return out

            symbols = ["BTC/USDT", "ETH/USDT", "SOL/USDT"]
            pages = await asyncio.gather(*(everything(s) for s in symbols))
            return dict(zip(symbols, pages, strict=True))
        finally:
            await ex.close()

    got = asyncio.run(run())
    assert got["BTC/USDT"] == as_rows(BTC)
    assert got["SOL/USDT"] == as_rows(FRAMES[("SOLUSDT", "5m")])


def test_fetch_ohlcv_pages_return_exactly_the_stored_candles(client: Any) -> None:
    assert fetch_all(client, "ETH/USDT", T0_MS) == as_rows(FRAMES[("ETHUSDT", "5m")])


def test_klines_rows_have_binance_fields(server: ExchangeServer) -> None:
    ((status, rows, headers),) = raw(
        server, ("klines", {"symbol": "BTCUSDT", "interval": "5m", "startTime": T0_MS, "limit": 2})
    )
    assert status == 200
    assert headers["Content-Type"].startswith("application/json")
    row, first = rows[0], BTC.iloc[0]
    assert len(row) == 12
    assert row[0] == T0_MS
    assert row[6] == T0_MS + STEP_MS - 1
    assert all(isinstance(row[i], str) for i in (1, 2, 3, 4, 5, 7, 9, 10, 11))
    assert float(row[4]) == first["close"]
    assert float(row[7]) == first["quote_volume"]
    assert row[8] == int(first["trades"])
    assert float(row[9]) == first["taker_buy_volume"]
    ((_, eth, _),) = raw(server, ("klines", {"symbol": "ETHUSDT", "interval": "5m", "limit": 1}))
    eth_last = FRAMES[("ETHUSDT", "5m")].iloc[-1]
    assert float(eth[0][7]) == eth_last["volume"] * eth_last["close"]  # no quote_volume stored


def test_klines_window_semantics(server: ExchangeServer) -> None:
    kl = {"symbol": "BTCUSDT", "interval": "5m"}
    end = T0_MS + 99 * STEP_MS
    answers = raw(
        server,
        ("klines", kl),
        ("klines", {**kl, "startTime": T0_MS + 1, "limit": 3}),
        ("klines", {**kl, "startTime": T0_MS, "endTime": end, "limit": 1000}),
        ("klines", {**kl, "endTime": end, "limit": 10}),
        ("klines", {**kl, "startTime": T0_MS, "limit": 5000}),
        ("klines", {**kl, "startTime": T0_MS + 10**10}),
    )
    default, offset, bounded, before_end, capped, beyond = (a[1] for a in answers)
    assert len(default) == 500
    assert default[-1][0] == T0_MS + 2999 * STEP_MS
    assert [r[0] for r in offset] == [T0_MS + STEP_MS * k for k in (1, 2, 3)]
    assert len(bounded) == 100
    assert bounded[-1][0] == end
    assert len(before_end) == 10
    assert before_end[-1][0] == end
    assert len(capped) == 1000
    assert beyond == []


def test_server_clock_hides_future_candles_and_leaves_current_one_open() -> None:
    now = T0 + pd.Timedelta(minutes=5 * 1000 + 2)  # 2 minutes into candle #1000
    with ExchangeServer(FRAMES, now=now) as server:
        ex = binance_client(server, enableRateLimit=False)
        try:
            assert ex.fetch_time() == now.value // 1_000_000
            candles = fetch_all(ex, "BTC/USDT", T0_MS)
            assert len(candles) == 1001
            last_open = candles[-1][0]
            assert last_open <= ex.fetch_time() < last_open + STEP_MS  # still open
            server.set_now(T0_MS + 2000 * STEP_MS)
            assert ex.fetch_ohlcv("BTC/USDT", "5m", limit=1)[0][0] == T0_MS + 2000 * STEP_MS
            server.set_now(lambda: T0 - pd.Timedelta(days=1))
            assert ex.fetch_ohlcv("BTC/USDT", "5m") == []
        finally:
            ex.close()


def test_candle_store_source_with_two_timeframes(tmp_path: Path) -> None:
    store = CandleStore(tmp_path, "binance")
    store.write("BTCUSDT", "5m", BTC)
    store.write("BTCUSDT", "1h", make_frame(300, 42_000.0, 7, freq="1h"))
    store.write("ETHUSDT", "1h", make_frame(300, 2_300.0, 8, freq="1h"))
    with ExchangeServer(store, now=T0 + pd.Timedelta(hours=100)) as server:
        ex = binance_client(server, enableRateLimit=False)
        try:
            assert sorted(ex.load_markets()) == ["BTC/USDT", "ETH/USDT"]
            hourly = ex.fetch_ohlcv("BTC/USDT", "1h", since=T0_MS, limit=1000)
            assert len(hourly) == 101
            with pytest.raises(ccxt.BadRequest, match="-1120"):
                ex.fetch_ohlcv("ETH/USDT", "5m")
            ticker = ex.fetch_ticker("BTC/USDT")  # from the finest timeframe, 5m
            window = BTC[
                (BTC["timestamp"] > T0 + pd.Timedelta(hours=76))
                & (BTC["timestamp"] <= T0 + pd.Timedelta(hours=100))
            ]
            assert ticker["high"] == pytest.approx(window["high"].max())
        finally:
            ex.close()
    with ExchangeServer(store, timeframes=["1h"], symbols=["ETH/USDT"]) as only:
        assert raw(only, ("exchangeInfo", {}))[0][1]["symbols"][0]["symbol"] == "ETHUSDT"


def test_tickers_cover_the_last_day_up_to_now(server: ExchangeServer, client: Any) -> None:
    server.set_now(T0_MS + 1000 * STEP_MS)
    eth = FRAMES[("ETHUSDT", "5m")].iloc[1000 - 287 : 1001]
    ticker = client.fetch_ticker("ETH/USDT")
    assert ticker["last"] == pytest.approx(eth["close"].iloc[-1])
    assert ticker["open"] == pytest.approx(eth["open"].iloc[0])
    assert ticker["baseVolume"] == pytest.approx(eth["volume"].sum())
    assert ticker["quoteVolume"] == pytest.approx((eth["volume"] * eth["close"]).sum())
    assert sorted(client.fetch_tickers()) == ["BTC/USDT", "ETH/USDT", "SOL/USDT"]
    assert sorted(client.fetch_tickers(["BTC/USDT", "SOL/USDT"])) == ["BTC/USDT", "SOL/USDT"]
    book = client.fetch_bids_asks(["ETH/USDT"])["ETH/USDT"]
    assert book["bid"] < eth["close"].iloc[-1] < book["ask"]
    assert round(book["bid"] * 100) == pytest.approx(book["bid"] * 100)  # on the 0.01 tick
    assert len(raw(server, ("ticker/bookTicker", {}))[0][1]) == 3


# -- errors --------------------------------------------------------------------------------


def test_unknown_symbol_is_bad_symbol_in_ccxt(client: Any) -> None:
    with pytest.raises(ccxt.BadSymbol):
        client.publicGetKlines({"symbol": "NOPEUSDT", "interval": "5m"})
    with pytest.raises(ccxt.BadSymbol):
        client.publicGetTicker24hr({"symbol": "NOPEUSDT"})


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"symbol": "NOPEUSDT", "interval": "5m"}, -1121),
        ({"symbol": "BTCUSDT", "interval": "7m"}, -1120),
        ({"symbol": "BTCUSDT", "interval": "1h"}, -1120),  # valid on Binance, not stored
        ({"interval": "5m"}, -1102),
        ({"symbol": "BTCUSDT"}, -1102),
        ({"symbol": "btcusdt", "interval": "5m"}, -1100),
        ({"symbol": "BTCUSDT", "interval": "5m", "limit": "ten"}, -1100),
        ({"symbol": "BTCUSDT", "interval": "5m", "startTime": "-5"}, -1100),
        ({"symbol": "BTCUSDT", "interval": "5m", "limit": "0"}, -1130),
        ({"symbol": "BTCUSDT", "interval": "5m", "startTime": "9", "endTime": "1"}, -1023),
    ],
)
def test_klines_parameter_errors(server: ExchangeServer, params: dict[str, str], code: int) -> None:
    ((status, body, headers),) = raw(server, ("klines", params))
    assert status == 400
    assert body["code"] == code
    assert body["msg"]
    assert headers["X-MBX-USED-WEIGHT-1M"] == "2"


def test_construction_rejects_what_it_cannot_serve() -> None:
    with pytest.raises(ConfigError, match="DOGEUSDT"):
        ExchangeServer(FRAMES, symbols=["DOGEUSDT"])
    odd = {("WEIRDCOIN", "5m"): BTC}
    with pytest.raises(ConfigError, match="MarketSpec"):
        ExchangeServer(odd)
    spec = MarketSpec("WEIRDCOIN", "WEIRD", "COIN", tick_size=0.5, step_size=0.1)
    with ExchangeServer(odd, market_specs={"WEIRDCOIN": spec}) as server:
        info = raw(server, ("exchangeInfo", {}))[0][1]["symbols"][0]
        assert (info["baseAsset"], info["filters"][0]["tickSize"]) == ("WEIRD", "0.50000000")


# -- weights, 429 and 418 ----------------------------------------------------------------


def test_weight_header_counts_documented_weights(server: ExchangeServer) -> None:
    calls: list[tuple[str, dict[str, Any]]] = [
        ("ping", {}),
        ("time", {}),
        ("exchangeInfo", {}),
        ("klines", {"symbol": "BTCUSDT", "interval": "5m"}),
        ("ticker/24hr", {"symbol": "BTCUSDT"}),
        ("ticker/24hr", {}),
        ("ticker/bookTicker", {"symbol": "BTCUSDT"}),
        ("ticker/bookTicker", {}),
        ("ticker/24hr", {"symbols": '["BTCUSDT","ETHUSDT"]'}),
    ]
    used = [int(h["X-MBX-USED-WEIGHT-1M"]) for _, _, h in raw(server, *calls)]
    assert np.diff([0, *used]).tolist() == [1, 1, 20, 2, 2, 80, 2, 4, 2]
    stats = server.stats()
    assert stats.requests == 9
    assert stats.by_endpoint["ticker/24hr"] == 3
    assert stats.max_used_weight == used[-1] == server.used_weight()


def test_budget_exceeded_gives_429_then_418_to_a_client_that_keeps_going() -> None:
    with ExchangeServer(FRAMES, weight_limit=10, weight_window=60, ban_seconds=0.5) as server:
        kl = ("klines", {"symbol": "BTCUSDT", "interval": "5m", "limit": 1})
        answers = raw(server, *[kl] * 5, kl, kl, ("ping", {}))
        assert [a[0] for a in answers] == [200] * 5 + [429, 418, 418]
        status, body, headers = answers[5]
        assert body["code"] == -1003
        assert "10 request weight per 1 MINUTE" in body["msg"]
        assert 58 <= int(headers["Retry-After"]) <= 60
        assert headers["X-MBX-USED-WEIGHT-1M"] == "12"
        assert answers[6][1]["code"] == -1003
        assert "banned" in answers[6][1]["msg"]
        assert answers[6][2]["Retry-After"] == "1"
        stats = server.stats()
        assert (stats.rate_limited, stats.banned, stats.max_used_weight) == (1, 2, 10)
        assert stats.by_status == {200: 5, 429: 1, 418: 2}
        time.sleep(0.6)  # the ban is over; still over budget, so a fresh 429
        assert raw(server, kl)[0][0] == 429


def test_a_client_that_waits_retry_after_is_never_banned() -> None:
    with ExchangeServer(FRAMES, weight_limit=4, weight_window=1) as server:
        kl = ("klines", {"symbol": "BTCUSDT", "interval": "5m", "limit": 1})
        first = raw(server, kl, kl, kl)
        assert [a[0] for a in first] == [200, 200, 429]
        assert first[2][2]["Retry-After"] == "1"
        assert first[0][2]["X-MBX-USED-WEIGHT-1S"] == "2"
        time.sleep(1.05)
        assert raw(server, kl)[0][0] == 200
        assert server.stats().banned == 0


def test_ccxt_sees_429_and_418_as_ddos_protection() -> None:
    with ExchangeServer(FRAMES, weight_limit=25, ban_seconds=30) as server:
        ex = binance_client(server, enableRateLimit=False)
        try:
            ex.load_markets()  # 20
            ex.fetch_ohlcv("BTC/USDT", "5m")  # 22
            ex.fetch_ohlcv("BTC/USDT", "5m")  # 24
            with pytest.raises(ccxt.DDoSProtection, match="429"):
                ex.fetch_ohlcv("BTC/USDT", "5m")
            assert int(ex.last_response_headers["Retry-After"]) > 50
            with pytest.raises(ccxt.DDoSProtection, match="418"):
                ex.fetch_ohlcv("BTC/USDT", "5m")
            assert ex.last_response_headers["Retry-After"] == "30"
            server.limiter.reset()
            assert len(ex.fetch_ohlcv("BTC/USDT", "5m", limit=3)) == 3
        finally:
            ex.close()


# -- injected faults -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (500, ccxt.ExchangeNotAvailable),
        (502, ccxt.ExchangeNotAvailable),
        (503, ccxt.ExchangeNotAvailable),
        (504, ccxt.RequestTimeout),
    ],
)
def test_scripted_server_errors_hit_once(
    server: ExchangeServer, client: Any, status: int, error: type[Exception]
) -> None:
    server.faults.push(Fault.server_error(status))
    with pytest.raises(error, match=str(status)):
        client.fetch_time()
    assert client.fetch_time() > 0
    assert server.stats().faults == {"server_error": 1}
    assert server.faults.pending == 0


def test_injected_rate_limit_and_ban_do_not_touch_the_budget(server: ExchangeServer) -> None:
    server.faults.push(Fault.rate_limit(retry_after=3), Fault.ban(retry_after=7))
    answers = raw(server, ("ping", {}), ("ping", {}), ("ping", {}))
    assert [(a[0], a[2].get("Retry-After")) for a in answers] == [
        (429, "3"),
        (418, "7"),
        (200, None),
    ]
    assert answers[0][1]["code"] == -1003
    assert server.stats().rate_limited == 0
    assert server.limiter.banned_for() == 0


def test_timeout_fault_hangs_past_the_client_timeout(server: ExchangeServer) -> None:
    ex = binance_client(server, enableRateLimit=False, timeout=300)
    try:
        server.faults.push(Fault.timeout())  # hangs until the client gives up
        with pytest.raises(ccxt.RequestTimeout):
            ex.fetch_time()
        server.faults.push(Fault.timeout(delay=0.4))
        started = time.monotonic()
        with pytest.raises(ccxt.RequestTimeout):
            ex.fetch_time()
        ex.timeout = 3000
        server.faults.push(Fault.timeout(delay=0.4))
        assert ex.fetch_time() > 0  # a slow answer is still an answer
        assert time.monotonic() - started >= 0.7
    finally:
        ex.close()


def test_short_pages_still_page_to_every_candle(server: ExchangeServer, client: Any) -> None:
    server.faults.push(Fault.short_page(rows=100))
    assert len(client.fetch_ohlcv("BTC/USDT", "5m", since=T0_MS, limit=1000)) == 100
    server.faults.set_rates([(Fault.short_page(), 0.5)], seed=3)
    assert fetch_all(client, "BTC/USDT", T0_MS) == as_rows(BTC)
    assert server.stats().faults["short_page"] >= 2


def test_faults_can_be_limited_to_an_endpoint_and_a_symbol(
    server: ExchangeServer, client: Any
) -> None:
    server.faults.push(Fault.server_error(503, endpoint="klines", symbol="ETH/USDT"))
    client.fetch_time()
    client.fetch_ohlcv("BTC/USDT", "5m", limit=5)
    client.fetch_ticker("ETH/USDT")
    assert server.faults.pending == 1
    with pytest.raises(ccxt.ExchangeNotAvailable):
        client.fetch_ohlcv("ETH/USDT", "5m", limit=5)
    assert server.faults.pending == 0


def test_random_faults_follow_the_seed() -> None:
    def statuses(seed: int) -> list[int]:
        rules = [(Fault.server_error(502), 0.3), (Fault.rate_limit(), 0.1)]
        with ExchangeServer(FRAMES, fault_rates=rules, seed=seed) as server:
            got = [a[0] for a in raw(server, *[("ping", {})] * 40)]
            server.faults.clear()
            assert raw(server, ("ping", {}))[0][0] == 200
            return got

    first = statuses(11)
    assert first == statuses(11)
    assert {200, 502} <= set(first)
    assert first.count(200) < 40


def test_latency_applies_concurrently() -> None:
    async def run(server: ExchangeServer) -> float:
        ex = async_binance_client(server, enableRateLimit=False)
        try:
            started = time.monotonic()
            times = await asyncio.gather(*(ex.fetch_time() for _ in range(20)))
            assert len(times) == 20
            return time.monotonic() - started
        finally:
            await ex.close()

    with ExchangeServer(FRAMES, latency=0.2) as server:
        elapsed = asyncio.run(run(server))
        assert 0.2 <= elapsed < 1.5  # serial would take 4 s
        server.faults.set_latency(0.0)
        assert asyncio.run(run(server)) < 0.2


def test_serves_inside_a_running_event_loop() -> None:
    async def run() -> None:
        async with ExchangeServer(FRAMES, now=T0_MS + 5 * STEP_MS) as server:
            async with aiohttp.ClientSession() as session:
                status, body, _ = await get(
                    session, server, "klines", symbol="SOLUSDT", interval="5m"
                )
            assert status == 200
            assert len(body) == 6

    asyncio.run(run())
