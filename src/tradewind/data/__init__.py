"""Candles: the store, its contract and checks, resampling, panels, the synthetic market.

Exchange sources (ccxt download, Binance Vision import) live in
:mod:`tradewind.data.sources` and are imported on demand (ccxt is slow to import).
"""

from __future__ import annotations

from tradewind.data.check import FileReport, check_store
from tradewind.data.panel import Panel, load_panel
from tradewind.data.resample import resample
from tradewind.data.schema import (
    Gap,
    Problem,
    ZeroVolumeRun,
    find_gaps,
    find_problems,
    find_zero_volume_runs,
    validate_candles,
)
from tradewind.data.store import CandleStore, MergeResult
from tradewind.data.synthetic import SyntheticMarket, generate_market, write_market

__all__ = [
    "CandleStore",
    "FileReport",
    "Gap",
    "MergeResult",
    "Panel",
    "Problem",
    "SyntheticMarket",
    "ZeroVolumeRun",
    "check_store",
    "find_gaps",
    "find_problems",
    "find_zero_volume_runs",
    "generate_market",
    "load_panel",
    "resample",
    "validate_candles",
    "write_market",
]
