"""Download and incremental update of candles through ccxt, concurrent and weight-aware.

One implementation serves both: ``download`` fetches a period for named pairs (or the top
N by 24 h quote volume), ``update`` fetches only what a stored file lacks — candles after
its last one and the holes inside it. Per pair the first page is fetched alone (it tells
where the pair's history really starts, for pairs listed later); the remaining pages are
independent windows fetched concurrently. Every request passes the shared
:class:`~tradewind.data.sources.ratelimit.WeightLimiter`; retryable failures are retried
with back-off (honouring ``Retry-After``); a pair that still fails is reported and its
file is left untouched — all of a pair's candles are merged in one atomic write.
The still-open candle is never stored.
"""

from __future__ import annotations

import asyncio
import difflib
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC
from typing import Any

import ccxt
import numpy as np
import pandas as pd

from tradewind.config.models import DownloadConfig, ExchangeConfig
from tradewind.data.markets import rules_from_ccxt, save_market_rules
from tradewind.data.schema import find_gaps
from tradewind.data.sources.exchange import (
    ExchangeLimits,
    last_response_headers,
    limits_for,
    make_async_exchange,
    map_ccxt_error,
)
from tradewind.data.sources.ratelimit import WeightLimiter
from tradewind.data.store import CandleStore
from tradewind.domain.types import Timeframe, normalize_symbol, utc_now
from tradewind.errors import (
    ConfigError,
    DataError,
    ExchangeError,
    ExchangeRejected,
    ExchangeRetryable,
)

__all__ = ["DownloadReport", "PairResult", "sync_candles"]

Progress = Callable[[str, int], None]


@dataclass(slots=True)
class PairResult:
    """The outcome for one pair: ``status`` is ok, up-to-date, delisted or failed."""

    symbol: str
    status: str = "ok"
    added: int = 0
    replaced: int = 0
    first: str | None = None
    last: str | None = None
    requests: int = 0
    holes: int = 0
    error: str | None = None


@dataclass(slots=True)
class DownloadReport:
    """What a download or update did, for ``--json`` and the benchmark."""

    exchange: str
    timeframe: str
    mode: str
    concurrency: int
    elapsed_s: float = 0.0
    requests: int = 0
    weight: int = 0
    retries: int = 0
    rate_limited: int = 0
    pauses: int = 0
    waited_s: float = 0.0
    max_used_weight: int = 0
    pairs: list[PairResult] = field(default_factory=list)

    @property
    def failed(self) -> list[PairResult]:
        """Pairs that could not be fetched (their files are unchanged)."""
        return [p for p in self.pairs if p.status == "failed"]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form, with totals."""
        out = asdict(self)
        out["added"] = sum(p.added for p in self.pairs)
        out["failed"] = [p.symbol for p in self.failed]
        return out


@dataclass(slots=True)
class _Market:
    id: str
    symbol: str
    active: bool


class _Fetcher:
    """Paged, retried, rate-limited klines for one client."""

    def __init__(
        self,
        client: Any,
        limits: ExchangeLimits,
        limiter: WeightLimiter,
        cfg: DownloadConfig,
        report: DownloadReport,
    ) -> None:
        self.client = client
        self.limits = limits
        self.limiter = limiter
        self.cfg = cfg
        self.report = report
        self.inflight = asyncio.Semaphore(report.concurrency)
        self.jitter = random.Random(0)  # noqa: S311 - back-off jitter, not cryptography

    async def call(self, weight: int, fn: Callable[[], Awaitable[Any]]) -> Any:
        attempt = 0
        while True:
            async with self.inflight:
                ticket = await self.limiter.acquire(weight)
                self.report.requests += 1
                try:
                    result = await fn()
                except ccxt.BaseError as exc:
                    await self.limiter.release(ticket, self._used_header())
                    error = map_ccxt_error(exc)
                    rate_limited = isinstance(exc, ccxt.DDoSProtection | ccxt.RateLimitExceeded)
                    self.report.rate_limited += int(rate_limited)
                    if not isinstance(error, ExchangeRetryable) or attempt >= self.cfg.max_retries:
                        raise error from exc
                else:
                    await self.limiter.release(ticket, self._used_header())
                    return result
            delay = min(self.cfg.backoff_max_s, self.cfg.backoff_s * 2**attempt)
            delay *= 1 + 0.25 * self.jitter.random()
            if error.retry_after is not None:
                delay = max(delay, error.retry_after)
            if rate_limited:  # the ban is per IP: every task waits, not just this one
                await self.limiter.pause(delay)
            else:
                await asyncio.sleep(delay)
            attempt += 1
            self.report.retries += 1

    def _used_header(self) -> int | None:
        name = self.limits.used_weight_header
        value = last_response_headers().get(name) if name else None
        try:
            return int(value) if value is not None else None
        except ValueError:
            return None

    async def page(
        self, market: _Market, tf: Timeframe, start_ms: int, end_ms: int | None
    ) -> np.ndarray:
        """One request: rows of (ms, o, h, l, c, v[, quote_volume, trades, taker_buy])."""
        limit = min(self.cfg.page_limit, self.limits.max_klines)
        if self.limits.raw_klines:
            params: dict[str, Any] = {
                "symbol": market.id,
                "interval": tf.name,
                "startTime": start_ms,
                "limit": limit,
            }
            if end_ms is not None:
                params["endTime"] = end_ms
            raw = await self.call(
                self.limits.klines_weight, lambda: self.client.publicGetKlines(params)
            )
            if not raw:
                return np.empty((0, 9))
            arr = np.asarray(raw, dtype=object)
            cols = arr[:, [0, 1, 2, 3, 4, 5, 7, 8, 9]]
            return np.asarray(cols.astype(np.float64))
        extra = {"until": end_ms} if end_ms is not None else {}
        rows = await self.call(
            self.limits.klines_weight,
            lambda: self.client.fetch_ohlcv(market.symbol, tf.name, start_ms, limit, extra),
        )
        return np.asarray(rows, dtype=np.float64).reshape(-1, 6)

    async def window(
        self, market: _Market, tf: Timeframe, start_ms: int, end_ms: int
    ) -> list[np.ndarray]:
        """All candles with open time in [start_ms, end_ms], following short pages."""
        out: list[np.ndarray] = []
        cursor = start_ms
        while cursor <= end_ms:
            rows = await self.page(market, tf, cursor, end_ms)
            rows = rows[rows[:, 0] >= cursor] if len(rows) else rows
            if not len(rows):
                break
            out.append(rows)
            cursor = int(rows[-1, 0]) + tf.milliseconds
        return out


def _frame(chunks: list[np.ndarray], raw: bool) -> pd.DataFrame:
    data = np.concatenate(chunks) if chunks else np.empty((0, 9 if raw else 6))
    names = ["timestamp", "open", "high", "low", "close", "volume"]
    if raw:
        names += ["quote_volume", "trades", "taker_buy_volume"]
    df = pd.DataFrame(data, columns=names)
    df["timestamp"] = pd.to_datetime(df["timestamp"].astype(np.int64), unit="ms", utc=True)
    return df


def _ms(ts: pd.Timestamp) -> int:
    return int(ts.value // 1_000_000)


async def _sync_pair(
    fetcher: _Fetcher,
    store: CandleStore,
    market: _Market,
    tf: Timeframe,
    since: pd.Timestamp | None,
    now: pd.Timestamp,
) -> PairResult:
    result = PairResult(symbol=normalize_symbol(market.id))
    before = fetcher.report.requests
    last_closed_ms = tf.floor_ns(int(now.value)) // 1_000_000 - tf.milliseconds
    span = min(fetcher.cfg.page_limit, fetcher.limits.max_klines) * tf.milliseconds
    ranges: list[tuple[int, int]] = []
    stored = store.read(result.symbol, tf) if store.exists(result.symbol, tf) else None
    if stored is not None and len(stored):
        first_ms = _ms(stored["timestamp"].iloc[0])
        if since is not None and _ms(since) < first_ms:
            ranges.append((_ms(since), first_ms - tf.milliseconds))
        gaps = find_gaps(stored, tf)
        ranges += [(_ms(gap.start), _ms(gap.end)) for gap in gaps]
        result.holes = len(gaps)
        tail_start = _ms(stored["timestamp"].iloc[-1]) + tf.milliseconds
    elif since is not None:
        tail_start = _ms(since)
    else:
        raise ConfigError(f"no stored candles for {result.symbol}: give --since to download them")
    chunks: list[np.ndarray] = []
    if tail_start <= last_closed_ms:
        # The first page alone: it shows where the history really starts (late listings).
        head = await fetcher.page(market, tf, tail_start, None)
        head = (
            head[(head[:, 0] >= tail_start) & (head[:, 0] <= last_closed_ms)] if len(head) else head
        )
        if len(head):
            chunks.append(head)
            next_ms = int(head[-1, 0]) + tf.milliseconds
            ranges += [
                (s, min(s + span - tf.milliseconds, last_closed_ms))
                for s in range(next_ms, last_closed_ms + 1, span)
            ]
    windows = await asyncio.gather(*(fetcher.window(market, tf, a, b) for a, b in ranges))
    for parts in windows:
        chunks.extend(parts)
    result.requests = fetcher.report.requests - before
    frame = _frame(chunks, fetcher.limits.raw_klines)
    frame = frame.loc[frame["timestamp"] <= pd.Timestamp(last_closed_ms, unit="ms", tz=UTC)]
    if frame.empty:
        result.status = "up-to-date"
        return result
    merged = store.merge(result.symbol, tf, frame)
    result.added, result.replaced = merged.added, merged.replaced
    result.first = frame["timestamp"].iloc[0].isoformat()
    result.last = frame["timestamp"].max().isoformat()
    result.status = "ok" if merged.added or merged.replaced else "up-to-date"
    return result


async def _exchange_now(fetcher: _Fetcher) -> pd.Timestamp:
    local = utc_now()
    if not fetcher.client.has.get("fetchTime"):
        return local
    server_ms = await fetcher.call(1, fetcher.client.fetch_time)
    return min(local, pd.Timestamp(int(server_ms), unit="ms", tz=UTC))


def _resolve(markets: dict[str, _Market], wanted: Sequence[str], exchange: str) -> list[_Market]:
    by_symbol = {normalize_symbol(m.symbol): m for m in markets.values()}
    found, unknown = [], []
    for name in wanted:
        key = normalize_symbol(name)
        market = markets.get(key) or by_symbol.get(key)
        (found.append(market) if market else unknown.append(key))
    if unknown:
        hints = [
            f"{u} (did you mean {m[0]}?)"
            if (m := difflib.get_close_matches(u, list(markets), 1))
            else u
            for u in unknown
        ]
        raise ExchangeRejected(f"unknown pair(s) on {exchange}: {', '.join(hints)}")
    return found


async def _run(
    exchange_cfg: ExchangeConfig,
    download_cfg: DownloadConfig,
    store: CandleStore,
    tf: Timeframe,
    pairs: Sequence[str] | None,
    top: int | None,
    quote: str,
    since: pd.Timestamp | None,
    mode: str,
    concurrency: int,
    now: pd.Timestamp | None,
    progress: Progress | None,
    on_total: Callable[[int], None] | None,
) -> DownloadReport:
    client = make_async_exchange(exchange_cfg, name=store.exchange)
    limits = limits_for(exchange_cfg.model_copy(update={"name": store.exchange}), client)
    limiter = WeightLimiter(limits.weight_budget, limits.window_s, share=exchange_cfg.budget_share)
    report = DownloadReport(store.exchange, tf.name, mode, concurrency)
    fetcher = _Fetcher(client, limits, limiter, download_cfg, report)
    started = time.perf_counter()
    try:
        raw_markets = await fetcher.call(limits.markets_weight, client.load_markets)
        markets = {
            normalize_symbol(m["id"]): _Market(m["id"], m["symbol"], bool(m.get("active", True)))
            for m in raw_markets.values()
            if m.get("spot", True)
        }
        if now is None:
            now = await _exchange_now(fetcher)
        if top is not None:
            tickers = await fetcher.call(limits.tickers_weight, client.fetch_tickers)
            ranked = sorted(
                (
                    t
                    for s, t in tickers.items()
                    if s in raw_markets and raw_markets[s].get("quote") == quote
                ),
                key=lambda t: float(t.get("quoteVolume") or 0.0),
                reverse=True,
            )
            wanted = [raw_markets[t["symbol"]]["id"] for t in ranked[:top]]
        elif pairs:
            wanted = list(pairs)
        else:
            wanted = store.symbols(tf)
            if not wanted:
                raise ConfigError(
                    f"{store.root / tf.name}: no stored pairs to update; name --pairs"
                )
        delisted = [w for w in wanted if mode == "update" and normalize_symbol(w) not in markets]
        chosen = _resolve(markets, [w for w in wanted if w not in delisted], store.exchange)
        if on_total is not None:
            on_total(len(chosen))
        report.pairs += [PairResult(normalize_symbol(d), status="delisted") for d in delisted]

        if since is None:
            fresh = [m.id for m in chosen if not store.exists(normalize_symbol(m.id), tf)]
            if fresh:
                raise ConfigError(
                    f"no stored candles for {', '.join(fresh)}: give --since to download them"
                )

        async def one(market: _Market) -> PairResult:
            try:
                res = await _sync_pair(fetcher, store, market, tf, since, now)
            except (ExchangeError, DataError) as exc:
                # One pair's failure (or a broken stored file) must not stop the others;
                # its file is untouched because nothing was merged.
                res = PairResult(normalize_symbol(market.id), status="failed", error=str(exc))
            if progress is not None:
                progress(res.symbol, res.added)
            return res

        with store.lock():
            # The exchange's order rules travel with the candles, for backtests to round by.
            save_market_rules(
                store,
                {
                    normalize_symbol(m.id): rules_from_ccxt(
                        raw_markets[m.symbol], int(client.precisionMode)
                    )
                    for m in chosen
                },
            )
            report.pairs += await asyncio.gather(*(one(m) for m in chosen))
    except ccxt.BaseError as exc:
        raise map_ccxt_error(exc) from exc
    finally:
        await client.close()
        report.elapsed_s = time.perf_counter() - started
        report.weight = limiter.stats.weight
        report.pauses = limiter.stats.pauses
        report.waited_s = limiter.stats.waited_s
        report.max_used_weight = limiter.stats.max_used
    return report


def sync_candles(
    store: CandleStore,
    timeframe: Timeframe | str,
    *,
    exchange_cfg: ExchangeConfig,
    download_cfg: DownloadConfig,
    pairs: Sequence[str] | None = None,
    top: int | None = None,
    quote: str = "USDT",
    since: pd.Timestamp | None = None,
    mode: str = "download",
    concurrency: int | None = None,
    now: pd.Timestamp | None = None,
    progress: Progress | None = None,
    on_total: Callable[[int], None] | None = None,
) -> DownloadReport:
    """Fetch candles into ``store`` (see the module docstring); blocking.

    ``concurrency=1`` is the sequential path (one request at a time). ``now`` is the
    clock that decides which candle is still open (default: the earlier of the wall clock
    and the exchange's clock, so a fast local clock never stores a half-formed candle).
    """
    tf = Timeframe.parse(timeframe)
    return asyncio.run(
        _run(
            exchange_cfg,
            download_cfg,
            store,
            tf,
            pairs,
            top,
            quote,
            since,
            mode,
            concurrency or download_cfg.concurrency,
            now,
            progress,
            on_total,
        )
    )
