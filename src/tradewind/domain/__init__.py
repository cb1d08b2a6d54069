"""Pure domain types: timeframes, symbols, UTC time helpers. No I/O here."""

from __future__ import annotations

from tradewind.domain.types import (
    CANDLE_COLUMNS,
    OPTIONAL_COLUMNS,
    PRICE_COLUMNS,
    Timeframe,
    normalize_symbol,
    parse_utc,
)

__all__ = [
    "CANDLE_COLUMNS",
    "OPTIONAL_COLUMNS",
    "PRICE_COLUMNS",
    "Timeframe",
    "normalize_symbol",
    "parse_utc",
]
