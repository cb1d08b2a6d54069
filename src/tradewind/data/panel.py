"""Aligned panels: many pairs on one time grid, as plain numpy arrays for the engine.

``values[t, p, f]`` is field ``f`` of pair ``p`` at grid time ``t``; ``mask[t, p]`` says
whether that candle exists. Missing candles stay NaN and masked — never filled — so the
engine can skip a pair until its next real candle.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tradewind.data.schema import validate_arrays
from tradewind.data.store import CandleStore
from tradewind.domain.types import CANDLE_COLUMNS, Timeframe
from tradewind.errors import DataError

__all__ = ["DEFAULT_FIELDS", "Panel", "load_panel"]

DEFAULT_FIELDS: tuple[str, ...] = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True, slots=True)
class Panel:
    """Candles of several pairs aligned on the timeframe's grid."""

    timeframe: Timeframe
    timestamps: np.ndarray  #: int64 ns since epoch, UTC open times, shape (T,)
    symbols: tuple[str, ...]
    fields: tuple[str, ...]
    values: np.ndarray  #: float64, shape (T, P, F); NaN where a candle is missing
    mask: np.ndarray  #: bool, shape (T, P); True where the candle exists

    def field(self, name: str) -> np.ndarray:
        """The (T, P) array of one field (a view)."""
        try:
            return self.values[:, :, self.fields.index(name)]
        except ValueError:
            raise DataError(
                f"panel has no field {name!r}; it has {', '.join(self.fields)}"
            ) from None

    @property
    def index(self) -> pd.DatetimeIndex:
        """The grid as tz-aware UTC timestamps."""
        return pd.DatetimeIndex(pd.to_datetime(self.timestamps, unit="ns", utc=True))

    @property
    def shape(self) -> tuple[int, int, int]:
        """(time, pair, field)."""
        t, p, f = self.values.shape
        return int(t), int(p), int(f)


def _read_columns(
    store: CandleStore,
    symbol: str,
    tf: Timeframe,
    fields: Sequence[str],
    validate: bool,
    start_ns: int | None,
    end_ns: int | None,
) -> tuple[np.ndarray, np.ndarray]:
    path = store.path(symbol, tf)
    columns = ["timestamp", *fields]
    try:
        table = pq.read_table(path, columns=None if validate else columns)
    except FileNotFoundError:
        raise DataError(f"{path}: no such candle file (pair {symbol} at {tf})") from None
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"{path}: not a readable Parquet file ({exc})") from None
    required = [*CANDLE_COLUMNS, *fields] if validate else columns
    missing = [c for c in dict.fromkeys(required) if c not in table.column_names]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}")
    ts = table.column("timestamp")
    if not pa.types.is_timestamp(ts.type):
        raise DataError(f"{path}: column timestamp is {ts.type}, not a timestamp")
    stamps = pc.cast(ts, pa.timestamp("ns", tz="UTC")).to_numpy().view("int64")
    arrays = {
        c: table.column(c).to_numpy().astype(np.float64, copy=False)
        for c in table.column_names
        if c != "timestamp" and (validate or c in fields)
    }
    if validate:
        validate_arrays(stamps, arrays, tf, where=str(path))
    values = np.column_stack([arrays[f] for f in fields])
    keep = np.ones(len(stamps), dtype=bool)
    if start_ns is not None:
        keep &= stamps >= start_ns
    if end_ns is not None:
        keep &= stamps <= end_ns
    return stamps[keep], values[keep]


def load_panel(
    store: CandleStore,
    symbols: Sequence[str] | None = None,
    timeframe: Timeframe | str = "1h",
    *,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
    fields: Sequence[str] = DEFAULT_FIELDS,
    validate: bool = True,
    threads: int = 4,
) -> Panel:
    """Load ``symbols`` (default: all in the store) into one aligned :class:`Panel`.

    The grid runs from the earliest to the latest candle found, every ``timeframe``.
    Files are read in a small thread pool (pyarrow releases the GIL while decoding).
    """
    tf = Timeframe.parse(timeframe)
    names = list(symbols) if symbols is not None else store.symbols(tf)
    if not names:
        raise DataError(f"{store.root / tf.name}: no candle files to load")
    start_ns = None if start is None else int(start.value)
    end_ns = None if end is None else int(end.value)
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        parts = list(
            pool.map(
                lambda s: _read_columns(store, s, tf, fields, validate, start_ns, end_ns), names
            )
        )
    nonempty = [p[0] for p in parts if len(p[0])]
    if not nonempty:
        raise DataError(f"{store.root / tf.name}: no candles in the requested period")
    first = min(int(s[0]) for s in nonempty)
    last = max(int(s[-1]) for s in nonempty)
    step = tf.nanoseconds
    n_t = (last - first) // step + 1
    values = np.full((n_t, len(names), len(fields)), np.nan, dtype=np.float64)
    mask = np.zeros((n_t, len(names)), dtype=bool)
    for p, (stamps, vals) in enumerate(parts):
        rows = (stamps - first) // step
        values[rows, p, :] = vals
        mask[rows, p] = True
    grid = first + step * np.arange(n_t, dtype=np.int64)
    return Panel(tf, grid, tuple(names), tuple(fields), values, mask)
