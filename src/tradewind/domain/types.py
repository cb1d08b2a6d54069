"""Timeframes, symbols and UTC timestamps: the vocabulary every layer shares."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar

import pandas as pd

from tradewind.errors import ConfigError

__all__ = [
    "CANDLE_COLUMNS",
    "OPTIONAL_COLUMNS",
    "PRICE_COLUMNS",
    "Timeframe",
    "duration_bars",
    "normalize_symbol",
    "parse_duration",
    "parse_utc",
]

#: The columns every candle frame has, in this order.
CANDLE_COLUMNS: tuple[str, ...] = ("timestamp", "open", "high", "low", "close", "volume")
#: Price columns (float64, finite, positive).
PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")
#: Extra columns kept when a source provides them.
OPTIONAL_COLUMNS: tuple[str, ...] = ("quote_volume", "trades", "taker_buy_volume", "bid", "ask")

_TF_RE = re.compile(r"^(\d+)([mhdw])$")
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}
_MONDAY_NS = 4 * 86400 * 1_000_000_000  # 1970-01-05, the first Monday after the epoch


@dataclass(frozen=True, slots=True)
class Timeframe:
    """A candle length such as ``5m`` or ``1h``; candles are keyed by their open time.

    Only whole-minute multiples that divide a day or a week evenly are allowed, so that
    every timeframe has a fixed grid anchored at the Unix epoch (as Binance's are).
    """

    name: str
    seconds: int

    SUPPORTED: ClassVar[tuple[str, ...]] = (
        "1m",
        "3m",
        "5m",
        "15m",
        "30m",
        "1h",
        "2h",
        "4h",
        "6h",
        "8h",
        "12h",
        "1d",
        "1w",
    )

    @classmethod
    def parse(cls, text: str | Timeframe) -> Timeframe:
        """Parse ``"5m"``, ``"1h"``, ``"1d"``…; raise :class:`ConfigError` on anything else."""
        if isinstance(text, Timeframe):
            return text
        match = _TF_RE.match(str(text).strip())
        if match is None or f"{int(match[1])}{match[2]}" not in cls.SUPPORTED:
            raise ConfigError(f"unknown timeframe {text!r}: use one of {', '.join(cls.SUPPORTED)}")
        return cls(
            name=f"{int(match[1])}{match[2]}", seconds=int(match[1]) * _UNIT_SECONDS[match[2]]
        )

    @property
    def nanoseconds(self) -> int:
        """The candle length in nanoseconds (the unit of pandas/numpy timestamps)."""
        return self.seconds * 1_000_000_000

    @property
    def origin_ns(self) -> int:
        """Where the grid is anchored: the epoch, except weeks, which open on Mondays.

        1970-01-01 was a Thursday; Binance's (and everyone's) weekly candles open on
        Monday 00:00 UTC, the first of which after the epoch is 1970-01-05.
        """
        return _MONDAY_NS if self.name.endswith("w") else 0

    def floor_ns(self, ns: int) -> int:
        """Open time (ns) of the candle that contains the instant ``ns``."""
        return ns - (ns - self.origin_ns) % self.nanoseconds

    def ceil_ns(self, ns: int) -> int:
        """The first open time (ns) on the grid at or after ``ns``."""
        floor = self.floor_ns(ns)
        return floor if floor == ns else floor + self.nanoseconds

    @property
    def milliseconds(self) -> int:
        """The candle length in milliseconds (the unit of exchange APIs)."""
        return self.seconds * 1000

    @property
    def timedelta(self) -> pd.Timedelta:
        """The candle length as a pandas Timedelta."""
        return pd.Timedelta(seconds=self.seconds)

    def is_multiple_of(self, other: Timeframe) -> bool:
        """True when candles of ``other`` tile candles of this timeframe exactly."""
        return self.seconds % other.seconds == 0 and self.seconds >= other.seconds

    def __str__(self) -> str:
        return self.name


def normalize_symbol(symbol: str) -> str:
    """Return the exchange-id spelling used in file names: ``BTC/USDT`` → ``BTCUSDT``.

    Raises :class:`ConfigError` for anything that is not letters and digits.
    """
    cleaned = symbol.strip().upper().replace("/", "").replace("-", "").replace("_", "")
    if not cleaned or not cleaned.isalnum():
        raise ConfigError(f"invalid pair {symbol!r}: expected e.g. BTCUSDT or BTC/USDT")
    return cleaned


def parse_utc(value: str | datetime | pd.Timestamp) -> pd.Timestamp:
    """Parse a date or datetime as UTC; naive input is taken to be UTC already.

    Raises :class:`ConfigError` naming the bad value.
    """
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"invalid date/time {value!r}: use e.g. 2024-01-01 or 2024-01-01T12:00"
        ) from exc
    if pd.isna(ts):
        raise ConfigError(f"invalid date/time {value!r}")
    return ts.tz_localize(UTC) if ts.tzinfo is None else ts.tz_convert(UTC)


_DURATION_RE = re.compile(r"^(\d+)\s*(m|min|h|d|w)$")
_DURATION_UNIT = {"m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> pd.Timedelta:
    """Parse ``"90m"``, ``"24h"``, ``"30d"``, ``"2w"``; raise :class:`ConfigError` otherwise."""
    match = _DURATION_RE.match(str(text).strip().lower())
    if match is None or int(match[1]) == 0:
        raise ConfigError(f"invalid duration {text!r}: use e.g. 90m, 24h, 30d or 2w")
    return pd.Timedelta(seconds=int(match[1]) * _DURATION_UNIT[match[2]])


def duration_bars(text: str, timeframe: Timeframe | str, what: str = "duration") -> int:
    """How many bars of ``timeframe`` make ``text``; it must be a whole, positive number.

    A lookback that straddles a bar would silently round one way or the other and change
    the rule between timeframes, so it is refused with a message naming the nearest fits.
    """
    tf = Timeframe.parse(timeframe)
    try:
        seconds = int(parse_duration(text).total_seconds())
    except ConfigError:
        raise ConfigError(
            f"{what} = {text!r} is not a duration: use a positive whole number of minutes,"
            " hours, days or weeks, e.g. '90m', '24h', '7d', '1w'"
        ) from None
    bars, rest = divmod(seconds, tf.seconds)
    if rest or bars == 0:
        count, unit = int(tf.name[:-1]), tf.name[-1]
        fits = [f"'{k * count}{unit}'" for k in (bars, bars + 1) if k > 0]
        raise ConfigError(
            f"{what} = {text!r} is not a whole number of {tf} bars;"
            f" use a multiple of {tf}, e.g. {' or '.join(fits)}"
        )
    return bars


def utc_now() -> pd.Timestamp:
    """The wall clock in UTC (only for composition roots and sources; never in pure code)."""
    return pd.Timestamp(datetime.now(tz=UTC))
