"""``tradewind data check``: every problem in every file, plus gaps and zero-volume runs.

``fix=True`` repairs only what is safe — order (sort) and duplicates (the newest row, i.e.
the later one in the file, wins) — and lists what it cannot repair. Gaps are reported,
never filled: an invented candle is worse than a missing one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from tradewind.data.schema import (
    Gap,
    Problem,
    ZeroVolumeRun,
    find_gaps,
    find_problems,
    find_zero_volume_runs,
)
from tradewind.data.store import CandleStore, atomic_write_parquet
from tradewind.domain.types import Timeframe
from tradewind.errors import DataError

__all__ = ["SAFE_RULES", "FileReport", "check_file", "check_store"]

#: Rules that ``--fix`` may repair by sorting and dropping duplicates.
SAFE_RULES = frozenset({"sorted", "unique"})


@dataclass(slots=True)
class FileReport:
    """The findings for one candle file."""

    symbol: str
    timeframe: str
    path: Path
    rows: int = 0
    first: str | None = None
    last: str | None = None
    problems: list[Problem] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    zero_volume: list[ZeroVolumeRun] = field(default_factory=list)
    unreadable: str | None = None
    fixed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No broken rule (gaps and zero-volume runs are facts, not errors)."""
        return self.unreadable is None and not self.problems

    def to_dict(self, max_items: int = 50) -> dict[str, Any]:
        """JSON-able summary; long lists are cut to ``max_items`` with a count."""
        return {
            "symbol": self.symbol,
            "timeframe": self.timeframe,
            "path": str(self.path),
            "rows": self.rows,
            "first": self.first,
            "last": self.last,
            "ok": self.ok,
            "unreadable": self.unreadable,
            "problem_count": len(self.problems),
            "problems": [
                {"rule": p.rule, "row": p.row, "timestamp": _iso(p.timestamp), "detail": p.detail}
                for p in self.problems[:max_items]
            ],
            "gap_count": len(self.gaps),
            "missing_candles": sum(g.missing for g in self.gaps),
            "gaps": [
                {"start": _iso(g.start), "end": _iso(g.end), "missing": g.missing}
                for g in self.gaps[:max_items]
            ],
            "zero_volume_runs": [
                {"start": _iso(z.start), "end": _iso(z.end), "length": z.length}
                for z in self.zero_volume[:max_items]
            ],
            "zero_volume_candles": sum(z.length for z in self.zero_volume),
            "fixed": self.fixed,
        }


def _iso(ts: Any) -> str | None:
    return None if ts is None else ts.isoformat()


def check_file(store: CandleStore, symbol: str, timeframe: Timeframe, *, fix: bool) -> FileReport:
    """Check (and with ``fix``, safely repair) one file."""
    path = store.path(symbol, timeframe)
    report = FileReport(symbol, timeframe.name, path)
    try:
        df = store.read_raw(symbol, timeframe)
    except DataError as exc:
        report.unreadable = str(exc)
        return report
    problems = find_problems(df, timeframe)
    if fix and any(p.rule in SAFE_RULES for p in problems):
        before = len(df)
        df = (
            df.sort_values("timestamp", kind="stable")
            .drop_duplicates("timestamp", keep="last")
            .reset_index(drop=True)
        )
        atomic_write_parquet(pa.Table.from_pandas(df, preserve_index=False), path)
        report.fixed.append(f"sorted and dropped {before - len(df)} duplicate row(s)")
        problems = find_problems(df, timeframe)
    report.problems = problems
    report.rows = len(df)
    if len(df):
        report.first = df["timestamp"].min().isoformat()
        report.last = df["timestamp"].max().isoformat()
    if not any(p.rule in SAFE_RULES for p in problems):
        report.gaps = find_gaps(df, timeframe)
    report.zero_volume = find_zero_volume_runs(df)
    return report


def check_store(
    store: CandleStore,
    timeframes: Sequence[str] | None = None,
    symbols: Sequence[str] | None = None,
    *,
    fix: bool = False,
) -> list[FileReport]:
    """Check every file of ``store`` (restricted to ``timeframes`` and ``symbols``)."""
    reports = []
    for tf_name in timeframes or store.timeframes():
        tf = Timeframe.parse(tf_name)
        names = symbols if symbols else store.symbols(tf)
        for symbol in names:
            if not store.exists(symbol, tf):
                raise DataError(f"{store.path(symbol, tf)}: no such candle file")
            reports.append(check_file(store, symbol, tf, fix=fix))
    return reports
