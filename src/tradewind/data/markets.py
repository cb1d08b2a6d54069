"""Exchange trading rules per pair — lot step, tick size, minimum notional — kept beside
the candles (``<data_dir>/<exchange>/markets.json``) so that backtests round quantities
and prices the way the exchange will. Written by ``data download``/``data update`` from the
exchange's market metadata; a store without the file trades unrounded.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tradewind.data.store import CandleStore
from tradewind.domain.types import normalize_symbol
from tradewind.errors import DataError

__all__ = [
    "MARKETS_FILE",
    "MarketRules",
    "load_market_rules",
    "rules_from_ccxt",
    "save_market_rules",
]

MARKETS_FILE = "markets.json"


@dataclass(frozen=True, slots=True)
class MarketRules:
    """One pair's order rules; 0 means unknown (no rounding, no minimum)."""

    lot_step: float = 0.0
    tick: float = 0.0
    min_notional: float = 0.0
    min_qty: float = 0.0


def _step(value: Any, mode: int) -> float:
    """A precision value as a step size: ccxt's TICK_SIZE mode (4) gives the step itself,
    DECIMAL_PLACES (2) the number of decimals; other modes are not used (0)."""
    if value is None:
        return 0.0
    if mode == 4:
        return float(value)
    if mode == 2:
        return float(10.0 ** -float(value))
    return 0.0


def rules_from_ccxt(market: dict[str, Any], precision_mode: int) -> MarketRules:
    """Parse one ccxt market dict into :class:`MarketRules`."""
    precision = market.get("precision") or {}
    limits = market.get("limits") or {}
    cost = limits.get("cost") or {}
    amount = limits.get("amount") or {}
    return MarketRules(
        lot_step=_step(precision.get("amount"), precision_mode),
        tick=_step(precision.get("price"), precision_mode),
        min_notional=float(cost.get("min") or 0.0),
        min_qty=float(amount.get("min") or 0.0),
    )


def load_market_rules(store: CandleStore) -> dict[str, MarketRules]:
    """The stored rules of the exchange (empty when there is no markets.json)."""
    path = store.root / MARKETS_FILE
    if not path.is_file():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return {normalize_symbol(k): MarketRules(**v) for k, v in raw["pairs"].items()}
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(
            f"{path}: not a valid markets file ({exc}); delete it to re-fetch"
        ) from None


def save_market_rules(store: CandleStore, rules: dict[str, MarketRules]) -> Path:
    """Merge ``rules`` into the stored ones (atomic replace)."""
    merged = {**load_market_rules(store), **rules}
    store.root.mkdir(parents=True, exist_ok=True)
    path = store.root / MARKETS_FILE
    payload = {
        "exchange": store.exchange,
        "pairs": {k: asdict(v) for k, v in sorted(merged.items())},
    }
    fd, tmp = tempfile.mkstemp(prefix=".markets.", suffix=".tmp", dir=store.root)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(payload, fh, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path
