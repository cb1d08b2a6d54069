"""The candle frame contract and its checks.

A candle frame has ``timestamp`` (datetime64[ns, UTC], candle open time) and float64
``open high low close volume``, plus any of the optional columns. :func:`find_problems`
lists every violation (for ``tradewind data check``); :func:`validate_candles` raises on
the first one (for reads and writes). All checks are vectorised.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tradewind.domain.types import CANDLE_COLUMNS, OPTIONAL_COLUMNS, Timeframe
from tradewind.errors import DataError

__all__ = [
    "Gap",
    "Problem",
    "ZeroVolumeRun",
    "conform",
    "find_gaps",
    "find_problems",
    "find_zero_volume_runs",
    "rule_masks",
    "validate_arrays",
    "validate_candles",
]


@dataclass(frozen=True, slots=True)
class Problem:
    """One broken rule at one row (0-based position in the file)."""

    rule: str
    row: int
    timestamp: pd.Timestamp | None
    detail: str

    def describe(self) -> str:
        """A one-line human description: row, time, rule, detail."""
        when = f" ({self.timestamp.isoformat()})" if self.timestamp is not None else ""
        return f"row {self.row}{when}: {self.rule}: {self.detail}"


@dataclass(frozen=True, slots=True)
class Gap:
    """Missing candles between two stored ones: ``missing`` candles from ``start``."""

    start: pd.Timestamp
    end: pd.Timestamp
    missing: int


@dataclass(frozen=True, slots=True)
class ZeroVolumeRun:
    """Consecutive zero-volume candles (exchange halts, thin markets)."""

    start: pd.Timestamp
    end: pd.Timestamp
    length: int


def conform(df: pd.DataFrame, *, where: str = "candles") -> pd.DataFrame:
    """Return ``df`` with the contract's column order and dtypes (no row checks).

    Raises :class:`DataError` when a required column is missing or cannot be converted.
    """
    missing = [c for c in CANDLE_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(
            f"{where}: missing column(s) {', '.join(missing)}; "
            f"a candle frame needs {', '.join(CANDLE_COLUMNS)}"
        )
    extra = [c for c in OPTIONAL_COLUMNS if c in df.columns]
    out = df.loc[:, [*CANDLE_COLUMNS, *extra]].copy()
    ts = out["timestamp"]
    try:
        if pd.api.types.is_datetime64_any_dtype(ts):
            ts = ts.dt.tz_localize("UTC") if ts.dt.tz is None else ts.dt.tz_convert("UTC")
        else:
            ts = pd.to_datetime(ts, utc=True)
        out["timestamp"] = ts.astype("datetime64[ns, UTC]")
    except (ValueError, TypeError) as exc:
        raise DataError(f"{where}: column timestamp is not a time: {exc}") from None
    for col in out.columns[1:]:
        try:
            out[col] = out[col].astype("float64")
        except (ValueError, TypeError) as exc:
            raise DataError(f"{where}: column {col} is not numeric: {exc}") from None
    return out.reset_index(drop=True)


def _ts_ns(df: pd.DataFrame) -> np.ndarray:
    return df["timestamp"].to_numpy(dtype="datetime64[ns]").view("int64")


def _rule_rows(df: pd.DataFrame, timeframe: Timeframe) -> list[tuple[str, np.ndarray, str]]:
    """(rule, boolean mask of violating rows, explanation) for every row rule."""
    columns = {c: df[c].to_numpy(dtype=np.float64) for c in df.columns[1:]}
    return rule_masks(_ts_ns(df), columns, timeframe)


def rule_masks(
    ts: np.ndarray, columns: dict[str, np.ndarray], timeframe: Timeframe
) -> list[tuple[str, np.ndarray, str]]:
    """The row rules over plain arrays: int64 ns open times and float64 value columns.

    Shared by frame validation and the panel loader, which never builds a DataFrame.
    """
    n = len(ts)
    order = np.zeros(n, dtype=bool)
    dup = np.zeros(n, dtype=bool)
    if n > 1:
        step = np.diff(ts)
        order[1:] = step < 0
        dup[1:] = step == 0
    finite = np.ones(n, dtype=bool)
    for values in columns.values():
        finite &= np.isfinite(values)
    o, h, lo, c, v = (columns[k] for k in ("open", "high", "low", "close", "volume"))
    with np.errstate(invalid="ignore"):
        positive = (o <= 0) | (h <= 0) | (lo <= 0) | (c <= 0)
        return [
            ("sorted", order, "timestamp is earlier than the row before"),
            ("unique", dup, "timestamp repeats the row before"),
            (
                "aligned",
                (ts - timeframe.origin_ns) % timeframe.nanoseconds != 0,
                f"timestamp is not on the {timeframe} grid",
            ),
            ("finite", ~finite, "NaN or infinity in a value"),
            ("positive", positive, "a price is zero or negative"),
            ("high", h < np.maximum(o, c), "high is below max(open, close)"),
            ("low", lo > np.minimum(o, c), "low is above min(open, close)"),
            ("volume", v < 0, "volume is negative"),
        ]


def find_problems(df: pd.DataFrame, timeframe: Timeframe) -> list[Problem]:
    """Every broken row rule in a conformed frame, in row order within each rule."""
    stamps = df["timestamp"]
    problems: list[Problem] = []
    for rule, mask, detail in _rule_rows(df, timeframe):
        for row in np.flatnonzero(mask):
            problems.append(Problem(rule, int(row), stamps.iloc[row], detail))
    return problems


def validate_candles(df: pd.DataFrame, timeframe: Timeframe, *, where: str) -> None:
    """Raise :class:`DataError` naming ``where``, the first bad row and the rule."""
    columns = {c: df[c].to_numpy(dtype=np.float64) for c in df.columns[1:]}
    validate_arrays(_ts_ns(df), columns, timeframe, where=where)


def validate_arrays(
    ts: np.ndarray, columns: dict[str, np.ndarray], timeframe: Timeframe, *, where: str
) -> None:
    """:func:`validate_candles` over plain arrays (int64 ns times, float64 columns)."""
    for rule, mask, detail in rule_masks(ts, columns, timeframe):
        bad = np.flatnonzero(mask)
        if bad.size:
            row = int(bad[0])
            more = f" (and {bad.size - 1} more rows)" if bad.size > 1 else ""
            when = pd.Timestamp(int(ts[row]), unit="ns", tz="UTC").isoformat()
            raise DataError(
                f"{where}: row {row} ({when}): "
                f"rule {rule!r} broken: {detail}{more}; run `tradewind data check` for all"
            )


def find_gaps(df: pd.DataFrame, timeframe: Timeframe) -> list[Gap]:
    """Missing candles between consecutive stored candles of a sorted, unique frame."""
    ts = _ts_ns(df)
    if len(ts) < 2:
        return []
    step = np.diff(ts)
    idx = np.flatnonzero(step > timeframe.nanoseconds)
    stamps = df["timestamp"]
    return [
        Gap(
            start=stamps.iloc[i] + timeframe.timedelta,
            end=stamps.iloc[i + 1] - timeframe.timedelta,
            missing=int(step[i] // timeframe.nanoseconds) - 1,
        )
        for i in idx
    ]


def find_zero_volume_runs(df: pd.DataFrame) -> list[ZeroVolumeRun]:
    """Runs of consecutive zero-volume candles."""
    zero = (df["volume"].to_numpy() == 0).astype(np.int8)
    if not zero.any():
        return []
    edges = np.diff(np.concatenate(([0], zero, [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    stamps = df["timestamp"]
    return [
        ZeroVolumeRun(stamps.iloc[s], stamps.iloc[e], int(e - s + 1))
        for s, e in zip(starts, ends, strict=True)
    ]
