"""Exact resampling of candle frames to a longer timeframe.

Binance builds its 1h candle from the same trades as its twelve 5m candles, so a 1h
candle derived from 5m ones must equal the exchange's to the last digit: open of the
first, close of the last, extremes of high and low, sums of the volumes. Anything that
interpolates, fills or re-anchors would silently invent prices, so this module only
regroups what is there.

Buckets live on the target's epoch-anchored grid (the grid :func:`validate_candles`
checks), keyed by their open time. Two kinds of incomplete bucket need a decision:

* the **last** bucket, when it holds fewer source candles than fit in it, is still
  forming (or the data was cut there); publishing it would freeze a close and a volume
  that are going to change, so it is always dropped;
* an **earlier** bucket with missing source candles is what the exchange prints after
  a trading halt or a listing part-way through the hour, so it is kept unless the caller
  asks for ``complete_only``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from tradewind.data.schema import conform, validate_candles
from tradewind.domain.types import Timeframe
from tradewind.errors import ConfigError

__all__ = ["SUMMED_COLUMNS", "resample"]

#: Columns that accumulate over a candle and are therefore added up.
SUMMED_COLUMNS: tuple[str, ...] = ("volume", "quote_volume", "trades", "taker_buy_volume")
#: Columns that are a snapshot at the candle's end, so the last source value stands.
_LAST_COLUMNS: tuple[str, ...] = ("close", "bid", "ask")


def resample(
    df: pd.DataFrame,
    source: Timeframe | str,
    target: Timeframe | str,
    *,
    complete_only: bool = False,
) -> pd.DataFrame:
    """Aggregate ``df`` (candles of ``source``) into candles of ``target``.

    The input must be a valid candle frame of ``source`` (sorted, unique, on its grid):
    grouping by position is only exact when that holds, so it is checked rather than
    assumed. The result has the input's columns and satisfies the candle contract.

    Raises :class:`ConfigError` when ``target`` is not a whole multiple of ``source``
    and :class:`DataError` when ``df`` breaks the candle contract.
    """
    src, tgt = Timeframe.parse(source), Timeframe.parse(target)
    if not tgt.is_multiple_of(src):
        raise ConfigError(
            f"cannot resample {src} candles to {tgt}: {tgt} is not a whole multiple of {src}"
        )
    frame = conform(df, where=f"{src} candles to resample")
    validate_candles(frame, src, where=f"{src} candles to resample")
    if frame.empty:
        return frame

    ts = frame["timestamp"].to_numpy(dtype="datetime64[ns]").view("int64")
    bucket = (ts - tgt.origin_ns) // tgt.nanoseconds
    # The frame is sorted, so each bucket is one run of rows: run starts and lengths
    # describe the whole grouping, and ufunc.reduceat aggregates every run at once.
    starts = np.flatnonzero(np.diff(bucket, prepend=bucket[0] - 1))
    ends = np.append(starts[1:], len(bucket)) - 1
    counts = ends - starts + 1
    per_bucket = tgt.seconds // src.seconds

    keep = np.ones(len(starts), dtype=bool)
    if complete_only:
        keep = counts == per_bucket
    elif counts[-1] < per_bucket:
        keep[-1] = False

    columns: dict[str, npt.NDArray[np.float64]] = {}
    for col in frame.columns[1:]:
        values = frame[col].to_numpy(dtype="float64")
        columns[col] = _aggregate(col, values, starts, ends)[keep]

    stamps = (bucket[starts][keep] * tgt.nanoseconds + tgt.origin_ns).view("datetime64[ns]")
    utc = pd.Series(stamps).dt.tz_localize("UTC").astype("datetime64[ns, UTC]")
    out = pd.DataFrame({"timestamp": utc})
    for col, values in columns.items():
        out[col] = values
    return out


def _aggregate(
    col: str,
    values: npt.NDArray[np.float64],
    starts: npt.NDArray[np.intp],
    ends: npt.NDArray[np.intp],
) -> npt.NDArray[np.float64]:
    """One output column: how a column combines follows from what it measures."""
    if col == "open":
        return values[starts]
    if col == "high":
        return np.maximum.reduceat(values, starts)
    if col == "low":
        return np.minimum.reduceat(values, starts)
    if col in SUMMED_COLUMNS:
        return np.add.reduceat(values, starts)
    if col in _LAST_COLUMNS:
        return values[ends]
    # conform() only lets contract columns through, so this means the contract grew a
    # column without a rule here; refusing beats guessing how it aggregates.
    raise NotImplementedError(f"resample has no aggregation rule for column {col!r}")
