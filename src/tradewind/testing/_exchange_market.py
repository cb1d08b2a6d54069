"""The market side of the test exchange: which symbols exist, their rules, candles and tickers.

Kept apart from the HTTP layer so the same data can back the account and order endpoints
later (fills need the same prices) and can be checked without a server.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tradewind.data.schema import conform, validate_candles
from tradewind.data.store import CandleStore
from tradewind.domain.types import Timeframe, normalize_symbol
from tradewind.errors import ConfigError
from tradewind.testing._exchange_common import BinanceError, fixed, plain_number

__all__ = ["CandleFrames", "MarketData", "MarketSpec", "split_symbol"]

#: In-memory candles keyed by ``(symbol, timeframe)``, e.g. ``("BTCUSDT", "5m")``.
CandleFrames = Mapping[tuple[str, str], pd.DataFrame]

_DAY_MS = 86_400_000
# Longest first, so that "FDUSD" wins over "USD"-like suffixes and "USDT" over "DT".
_QUOTES = (
    "FDUSD",
    "USDT",
    "USDC",
    "BUSD",
    "TUSD",
    "DAI",
    "EUR",
    "GBP",
    "TRY",
    "BRL",
    "JPY",
    "BTC",
    "ETH",
    "BNB",
)
_MIN_NOTIONAL = {"BTC": 0.0001, "ETH": 0.001, "BNB": 0.01, "TRY": 100.0, "BRL": 10.0, "JPY": 1000.0}


def split_symbol(symbol: str) -> tuple[str, str]:
    """``BTCUSDT`` → ``("BTC", "USDT")`` by known quote assets; ConfigError when unknown."""
    for quote in _QUOTES:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)], quote
    raise ConfigError(
        f"cannot tell base from quote in {symbol!r}: pass a MarketSpec for it (market_specs=)"
    )


def _decimals(step: float) -> int:
    return max(0, -math.floor(math.log10(step) + 1e-9))


@dataclass(frozen=True, slots=True)
class MarketSpec:
    """The trading rules of one symbol, as ``exchangeInfo`` publishes them.

    Derived from the last stored price unless given, so that clients which round prices
    and amounts to the filters see values of the right magnitude.
    """

    symbol: str
    base: str
    quote: str
    tick_size: float = 0.01
    step_size: float = 0.00001
    min_notional: float = 5.0
    max_qty: float = 9_000_000.0
    max_notional: float = 9_000_000.0
    base_precision: int = 8
    quote_precision: int = 8

    @classmethod
    def derive(cls, symbol: str, price: float | None) -> MarketSpec:
        """Rules of Binance's magnitude for ``price`` (about 4–5 significant tick digits)."""
        base, quote = split_symbol(symbol)
        notional = _MIN_NOTIONAL.get(quote, 5.0)
        if price is None or not math.isfinite(price) or price <= 0:
            return cls(symbol, base, quote, min_notional=notional)
        mag = math.floor(math.log10(price))
        tick = min(0.01, max(1e-8, 10.0 ** (mag - 4)))
        step = min(1.0, max(1e-8, 10.0 ** -(mag + 1)))
        return cls(symbol, base, quote, tick_size=tick, step_size=step, min_notional=notional)

    def round_price(self, price: float, *, up: bool = False) -> float:
        """``price`` on the tick grid (down unless ``up``), free of float noise."""
        ticks = price / self.tick_size
        n = math.ceil(ticks - 1e-9) if up else math.floor(ticks + 1e-9)
        return round(n * self.tick_size, _decimals(self.tick_size))

    def round_qty(self, qty: float) -> float:
        """``qty`` down to the lot step, at least one step."""
        n = max(1, math.floor(qty / self.step_size + 1e-9))
        return round(n * self.step_size, _decimals(self.step_size))

    def symbol_info(self) -> dict[str, object]:
        """The ``symbols[]`` entry of ``exchangeInfo``, with the fields ccxt's parser reads."""
        return {
            "symbol": self.symbol,
            "status": "TRADING",
            "baseAsset": self.base,
            "baseAssetPrecision": self.base_precision,
            "quoteAsset": self.quote,
            "quotePrecision": self.quote_precision,
            "quoteAssetPrecision": self.quote_precision,
            "baseCommissionPrecision": self.base_precision,
            "quoteCommissionPrecision": self.quote_precision,
            "orderTypes": [
                "LIMIT",
                "LIMIT_MAKER",
                "MARKET",
                "STOP_LOSS",
                "STOP_LOSS_LIMIT",
                "TAKE_PROFIT",
                "TAKE_PROFIT_LIMIT",
            ],
            "icebergAllowed": True,
            "ocoAllowed": True,
            "otoAllowed": True,
            "quoteOrderQtyMarketAllowed": True,
            "allowTrailingStop": True,
            "cancelReplaceAllowed": True,
            "amendAllowed": True,
            "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": False,
            "filters": [
                {
                    "filterType": "PRICE_FILTER",
                    "minPrice": fixed(self.tick_size),
                    "maxPrice": fixed(1_000_000.0),
                    "tickSize": fixed(self.tick_size),
                },
                {
                    "filterType": "LOT_SIZE",
                    "minQty": fixed(self.step_size),
                    "maxQty": fixed(self.max_qty),
                    "stepSize": fixed(self.step_size),
                },
                {
                    "filterType": "MARKET_LOT_SIZE",
                    "minQty": fixed(0.0),
                    "maxQty": fixed(self.max_qty / 10),
                    "stepSize": fixed(0.0),
                },
                {
                    "filterType": "NOTIONAL",
                    "minNotional": fixed(self.min_notional),
                    "applyMinToMarket": True,
                    "maxNotional": fixed(self.max_notional),
                    "applyMaxToMarket": False,
                    "avgPriceMins": 5,
                },
                {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
                {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5},
            ],
            "permissions": [],
            "permissionSets": [["SPOT"]],
            "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
            "allowedSelfTradePreventionModes": [
                "NONE",
                "EXPIRE_TAKER",
                "EXPIRE_MAKER",
                "EXPIRE_BOTH",
            ],
        }


class _Series:
    """One symbol at one timeframe, as arrays for slicing plus lazily rendered kline rows.

    Rows are rendered once and cached: a benchmark asking for the same pages again
    then costs a join, not thousands of float formats.
    """

    def __init__(self, frame: pd.DataFrame, timeframe: Timeframe) -> None:
        self.timeframe = timeframe
        stamps = frame["timestamp"].to_numpy(dtype="datetime64[ns]").view("int64")
        self.open_ms: np.ndarray = stamps // 1_000_000
        cols = {c: frame[c].to_numpy(dtype="float64") for c in frame.columns[1:]}
        self.open, self.high, self.low = cols["open"], cols["high"], cols["low"]
        self.close, self.volume = cols["close"], cols["volume"]
        self.quote_volume = cols.get("quote_volume", self.volume * self.close)
        self.trades: np.ndarray | None = cols.get("trades")
        self.taker_buy: np.ndarray | None = cols.get("taker_buy_volume")
        self._rows: list[str | None] = [None] * len(stamps)

    def __len__(self) -> int:
        return len(self._rows)

    def visible(self, now_ms: int) -> int:
        """How many candles have opened by ``now_ms`` (the last one may still be open)."""
        return int(np.searchsorted(self.open_ms, now_ms, side="right"))

    def page(self, start: int | None, end: int | None, limit: int, now_ms: int) -> range:
        """Row positions Binance's klines would return for these parameters."""
        hi = self.visible(now_ms)
        if end is not None:
            hi = min(hi, int(np.searchsorted(self.open_ms, end, side="right")))
        if start is not None:
            lo = int(np.searchsorted(self.open_ms, start, side="left"))
            return range(lo, max(lo, min(lo + limit, hi)))
        return range(max(0, hi - limit), hi)

    def render(self, rows: range) -> str:
        """The JSON array of Binance's 12-field klines for ``rows``."""
        parts: list[str] = []
        for i in rows:
            row = self._rows[i]
            if row is None:
                row = self._rows[i] = self._render_row(i)
            parts.append(row)
        return "[" + ",".join(parts) + "]"

    def _render_row(self, i: int) -> str:
        t = int(self.open_ms[i])
        volume, quote = float(self.volume[i]), float(self.quote_volume[i])
        trades = 0 if self.trades is None else int(self.trades[i])
        buy = 0.0 if self.taker_buy is None else float(self.taker_buy[i])
        buy_quote = buy * quote / volume if volume > 0 else 0.0
        n = plain_number
        return (
            f'[{t},"{n(self.open[i])}","{n(self.high[i])}","{n(self.low[i])}",'
            f'"{n(self.close[i])}","{n(volume)}",{t + self.timeframe.milliseconds - 1},'
            f'"{n(quote)}",{trades},"{n(buy)}","{n(buy_quote)}","0"]'
        )

    def last_close(self, now_ms: int | None = None) -> float | None:
        """Close of the newest candle visible at ``now_ms`` (any candle when None)."""
        k = len(self) if now_ms is None else self.visible(now_ms)
        return float(self.close[k - 1]) if k else None

    def ticker_24h(self, spec: MarketSpec, now_ms: int) -> dict[str, object]:
        """Binance's rolling 24 h statistics from the candles opened in ``(now-24h, now]``."""
        hi = self.visible(now_ms)
        lo = int(np.searchsorted(self.open_ms, now_ms - _DAY_MS, side="right"))
        w = slice(lo, hi)
        if lo < hi:
            first, last = float(self.open[lo]), float(self.close[hi - 1])
            high, low = float(self.high[w].max()), float(self.low[w].min())
            volume, quote = float(self.volume[w].sum()), float(self.quote_volume[w].sum())
            count = int(self.trades[w].sum()) if self.trades is not None else hi - lo
        else:
            first = last = high = low = volume = quote = 0.0
            count = 0
        prev = float(self.close[lo - 1]) if lo > 0 else first
        change = last - first
        book = self.book_ticker(spec, now_ms)
        return {
            "symbol": spec.symbol,
            "priceChange": fixed(change),
            "priceChangePercent": fixed(change / first * 100 if first else 0.0, 3),
            "weightedAvgPrice": fixed(quote / volume if volume else last),
            "prevClosePrice": fixed(prev),
            "lastPrice": fixed(last),
            "lastQty": fixed(spec.step_size),
            **{k: v for k, v in book.items() if k != "symbol"},
            "openPrice": fixed(first),
            "highPrice": fixed(high),
            "lowPrice": fixed(low),
            "volume": fixed(volume),
            "quoteVolume": fixed(quote),
            "openTime": now_ms - _DAY_MS,
            "closeTime": now_ms,
            "firstId": 0 if count else -1,
            "lastId": count - 1 if count else -1,
            "count": count,
        }

    def book_ticker(self, spec: MarketSpec, now_ms: int, spread: float = 2e-4) -> dict[str, str]:
        """Best bid/ask straddling the last close by ``spread`` (relative), on the tick grid."""
        last = self.last_close(now_ms)
        if last is None:
            zero = fixed(0.0)
            return {
                "symbol": spec.symbol,
                "bidPrice": zero,
                "bidQty": zero,
                "askPrice": zero,
                "askQty": zero,
            }
        bid = spec.round_price(last * (1 - spread / 2))
        ask = max(
            spec.round_price(last * (1 + spread / 2), up=True),
            spec.round_price(bid + spec.tick_size, up=True),
        )
        qty = fixed(spec.round_qty(200 * spec.min_notional / last))
        return {
            "symbol": spec.symbol,
            "bidPrice": fixed(bid),
            "bidQty": qty,
            "askPrice": fixed(ask),
            "askQty": qty,
        }


class MarketData:
    """Candles from a :class:`CandleStore` (read lazily, once) or from in-memory frames.

    Thread-safe: the server reads from its loop thread (and loads files in worker
    threads) while a test may swap candles in. File reads happen outside the lock, so
    a slow first read never stalls the event loop on it.
    """

    def __init__(
        self,
        candles: CandleStore | CandleFrames,
        *,
        timeframes: Iterable[str] | None = None,
        symbols: Iterable[str] | None = None,
        specs: Mapping[str, MarketSpec] | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._store = candles if isinstance(candles, CandleStore) else None
        # symbol -> timeframe name -> candles (None: in the store, not read yet)
        self._data: dict[str, dict[str, _Series | None]] = {}
        self._specs = {normalize_symbol(k): v for k, v in (specs or {}).items()}
        wanted = None if symbols is None else {normalize_symbol(s) for s in symbols}
        tf_filter = None if timeframes is None else {Timeframe.parse(t).name for t in timeframes}
        if isinstance(candles, CandleStore):
            for tf in candles.timeframes():
                if tf_filter is None or tf in tf_filter:
                    for sym in candles.symbols(tf):
                        if wanted is None or sym in wanted:
                            self._data.setdefault(sym, {})[tf] = None
        else:
            for (sym, tf), frame in candles.items():
                if (wanted is None or normalize_symbol(sym) in wanted) and (
                    tf_filter is None or Timeframe.parse(tf).name in tf_filter
                ):
                    self.set_candles(sym, tf, frame)
        missing = sorted((wanted or set()) - set(self._data))
        if missing:
            raise ConfigError(f"no candles for symbol(s) {', '.join(missing)} in {candles!r}")
        for sym in self._data:
            if sym not in self._specs:
                split_symbol(sym)  # fail at construction, not on the first request

    def set_candles(self, symbol: str, timeframe: str, frame: pd.DataFrame) -> None:
        """Add or replace the candles of ``symbol`` at ``timeframe`` (validated)."""
        tf = Timeframe.parse(timeframe)
        sym = normalize_symbol(symbol)
        where = f"candles for {sym} {tf}"
        conformed = conform(frame, where=where)
        validate_candles(conformed, tf, where=where)
        series = _Series(conformed, tf)
        with self._lock:
            self._data.setdefault(sym, {})[tf.name] = series

    def symbols(self) -> list[str]:
        """Every listed symbol, sorted."""
        with self._lock:
            return sorted(self._data)

    def has_symbol(self, symbol: str) -> bool:
        """True when ``symbol`` is listed."""
        with self._lock:
            return symbol in self._data

    def timeframes(self, symbol: str) -> list[Timeframe]:
        """Stored timeframes of ``symbol``, finest first."""
        with self._lock:
            names = list(self._data.get(symbol, ()))
        return sorted((Timeframe.parse(n) for n in names), key=lambda t: t.seconds)

    def is_loaded(self, symbol: str, timeframe: str) -> bool:
        """True when ``series`` will not read a file (so a caller can skip a thread hop)."""
        with self._lock:
            return self._data.get(symbol, {}).get(timeframe) is not None

    def series(self, symbol: str, timeframe: str) -> _Series:
        """The candles of ``symbol`` at ``timeframe``; Binance errors when not listed."""
        with self._lock:
            frames = self._data.get(symbol)
            if frames is None:
                raise BinanceError.invalid_symbol()
            if timeframe not in frames:
                raise BinanceError.invalid_interval()
            found = frames[timeframe]
        if found is not None:
            return found
        if self._store is None:  # pragma: no cover - only stores leave None behind
            raise BinanceError.invalid_interval()
        tf = Timeframe.parse(timeframe)
        loaded = _Series(self._store.read(symbol, tf), tf)
        with self._lock:  # two first reads may race; keep whichever came first
            current = self._data[symbol].get(tf.name)
            if current is None:
                self._data[symbol][tf.name] = current = loaded
            return current

    def finest(self, symbol: str) -> _Series:
        """The finest stored timeframe of ``symbol``: the most exact tickers."""
        tfs = self.timeframes(symbol)
        if not tfs:
            raise BinanceError.invalid_symbol()
        return self.series(symbol, tfs[0].name)

    def spec(self, symbol: str) -> MarketSpec:
        """The trading rules of ``symbol``: given, or derived once from its last price."""
        with self._lock:
            found = self._specs.get(symbol)
        if found is None:
            derived = MarketSpec.derive(symbol, self.finest(symbol).last_close())
            with self._lock:
                found = self._specs.setdefault(symbol, derived)
        return found
