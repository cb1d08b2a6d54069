"""Aligned panels: many pairs on one time grid, as plain numpy arrays for the engine.

``values[t, p, f]`` is field ``f`` of pair ``p`` at grid time ``t``; ``mask[t, p]`` says
whether that candle exists. Missing candles stay NaN and masked — never filled — so the
engine can skip a pair until its next real candle.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from numba import njit, prange

from tradewind.data.schema import validate_arrays
from tradewind.data.store import CandleStore
from tradewind.domain.types import CANDLE_COLUMNS, Timeframe
from tradewind.errors import ConfigError, DataError

__all__ = [
    "DEFAULT_FIELDS",
    "Panel",
    "data_fingerprint",
    "decision_bars",
    "load_panel",
    "resample_panel",
    "row_times",
]

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

    def asset_major(self, *names: str) -> np.ndarray:
        """Fields ``names`` as one C-contiguous ``(field, pair, time)`` array: the layout
        per-pair loops want (one pair's history in one run of memory)."""
        missing = [n for n in names if n not in self.fields]
        if missing:
            raise DataError(f"panel has no field {missing[0]!r}; it has {', '.join(self.fields)}")
        positions = np.array([self.fields.index(n) for n in names], dtype=np.int64)
        out: np.ndarray = _asset_major(self.values, positions)
        return out

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


@njit(cache=True)
def _asset_major(values: np.ndarray, positions: np.ndarray) -> np.ndarray:
    n_t, n_p, _ = values.shape
    out = np.empty((len(positions), n_p, n_t))
    block = 64  # a tile of rows stays in cache while it is scattered over the pairs
    for t0 in range(0, n_t, block):
        t1 = min(t0 + block, n_t)
        for p in range(n_p):
            for k in range(len(positions)):
                f = positions[k]
                for t in range(t0, t1):
                    out[k, p, t] = values[t, p, f]
    return out


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


_FIRST, _MAX, _MIN, _SUM, _LAST = range(5)


def _rule(field: str) -> int:
    """How a field aggregates (as :func:`tradewind.data.resample.resample` does it)."""
    rules = {"open": _FIRST, "high": _MAX, "low": _MIN, "close": _LAST, "bid": _LAST}
    rules |= {"ask": _LAST, "volume": _SUM, "quote_volume": _SUM, "trades": _SUM}
    rules |= {"taker_buy_volume": _SUM}
    if field not in rules:
        raise NotImplementedError(f"resample_panel has no rule for field {field!r}")
    return rules[field]


@njit(cache=True, parallel=True)
def _resample(
    values: np.ndarray,
    mask: np.ndarray,
    r0: int,
    n_b: int,
    ratio: int,
    rules: np.ndarray,
    take: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    n_p, n_f = values.shape[1], len(take)
    out = np.full((n_b, n_p, n_f), np.nan)
    valid = np.zeros((n_b, n_p), dtype=np.bool_)
    for b in prange(n_b):  # buckets are independent
        lo = r0 + b * ratio
        for k in range(lo, lo + ratio):
            for p in range(n_p):
                if not mask[k, p]:
                    continue
                first = not valid[b, p]
                valid[b, p] = True
                for f in range(n_f):
                    v = values[k, p, take[f]]
                    rule = rules[f]
                    cur = out[b, p, f]
                    if first or rule == _LAST:
                        out[b, p, f] = v
                    elif rule == _MAX:
                        out[b, p, f] = max(cur, v)
                    elif rule == _MIN:
                        out[b, p, f] = min(cur, v)
                    elif rule == _SUM:
                        out[b, p, f] = cur + v
    return out, valid


def resample_panel(
    panel: Panel, target: Timeframe | str, fields: Sequence[str] | None = None
) -> Panel:
    """``panel`` aggregated into candles of ``target`` (a whole multiple of its timeframe),
    with only ``fields`` (default: all of the panel's; fewer cost less).

    Only buckets whose every source slot lies inside the panel's grid are kept: a partial
    bucket at either end — the still-open candle at the end — would be a candle the exchange
    never printed. Inside, a bucket aggregates the source candles that exist (open of the
    first, highest high, lowest low, close of the last, summed volumes) and is missing only
    when none does, like :func:`tradewind.data.resample.resample` on each pair.
    """
    tgt = Timeframe.parse(target)
    src = panel.timeframe
    if not tgt.is_multiple_of(src):
        raise ConfigError(
            f"cannot resample {src} candles to {tgt}: {tgt} is not a whole multiple of {src}"
        )
    ratio = tgt.seconds // src.seconds
    stamps = panel.timestamps
    if ratio == 1 or len(stamps) == 0:
        return panel
    first = tgt.ceil_ns(int(stamps[0]))
    end = tgt.floor_ns(int(stamps[-1]) + src.nanoseconds)  # end of the last whole bucket
    n_b = max(0, (end - first) // tgt.nanoseconds)
    r0 = (first - int(stamps[0])) // src.nanoseconds
    names = tuple(panel.fields if fields is None else fields)
    missing = [f for f in names if f not in panel.fields]
    if missing:
        raise ConfigError(f"resample_panel: the panel has no field {', '.join(missing)}")
    take = np.array([panel.fields.index(f) for f in names], dtype=np.int64)
    rules = np.array([_rule(name) for name in names], dtype=np.int64)
    out, any_valid = _resample(panel.values, panel.mask, r0, n_b, ratio, rules, take)
    grid = first + tgt.nanoseconds * np.arange(n_b, dtype=np.int64)
    return Panel(tgt, grid, panel.symbols, names, out, any_valid)


def row_times(index: pd.DatetimeIndex, rows: np.ndarray) -> pd.Series:
    """Grid times of ``rows`` (bar indices the engine stores; -1 = not yet → NaT)."""
    rows = np.asarray(rows, dtype=np.int64)
    out = pd.Series(pd.NaT, index=range(len(rows)), dtype="datetime64[ns, UTC]")
    ok = rows >= 0
    out[ok] = index[rows[ok]]
    return out


def decision_bars(
    timestamps: np.ndarray, timeframe: Timeframe, hhmm: str, first: int = 0
) -> np.ndarray:
    """Grid rows whose close is the last one at or before ``hh:mm`` UTC of each day.

    With 5m candles and 23:55 that is the candle opening at 23:50; with 1h candles, the one
    opening at 22:00 (its close, 23:00, is the last known price at 23:55).
    """
    hours, minutes = (int(x) for x in hhmm.split(":"))
    offset = (hours * 3600 + minutes * 60) * 1_000_000_000
    day = 86_400 * 1_000_000_000
    step = timeframe.nanoseconds
    start, end = int(timestamps[0]), int(timestamps[-1])
    days = np.arange(start // day, end // day + 1, dtype=np.int64)
    instants = days * day + offset
    rows = (instants - step - start) // step
    rows = rows[(rows >= max(first, 0)) & (rows < len(timestamps))]
    return np.unique(rows)


def data_fingerprint(panel: Panel) -> str:
    """A content hash of exactly the candles a run saw (BLAKE2b, 32 hex digits)."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(
        json.dumps([panel.timeframe.name, list(panel.symbols), list(panel.fields)]).encode()
    )
    for array in (panel.timestamps, panel.values, panel.mask):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()
