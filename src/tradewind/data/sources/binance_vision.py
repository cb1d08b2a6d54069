"""Import of data.binance.vision spot kline dumps into the candle store.

Binance publishes every candle it ever printed as monthly and daily files
(``BTCUSDT-1h-2024-01.zip``, one 12-column CSV inside), which makes them the cheapest
way to a long, exact history. Their quirks decide the shape of this module:

* the official files have no header line, but copies found in the wild often have one;
* times are epoch milliseconds up to 2024 and microseconds from 2025 on, so the unit is
  read from the numbers themselves, per file (a renamed file cannot fool it);
* ``close_time`` is not always ``open + interval - 1ms`` (a halted candle closes early)
  and candles can be missing during halts: both are facts to report, not to repair, so
  ``close_time`` is only checked to be a number and gaps are listed, never filled.

Importing is all or nothing: every file is read and checked, and every target file in
the store is read and checked, before the first write. A bad file among good ones thus
raises one :class:`DataError` naming it (and its line) and leaves the store untouched.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from tradewind.data.schema import Gap, conform, find_gaps, find_problems
from tradewind.data.store import CandleStore
from tradewind.domain.types import (
    CANDLE_COLUMNS,
    OPTIONAL_COLUMNS,
    Timeframe,
    normalize_symbol,
)
from tradewind.errors import ConfigError, DataError

__all__ = ["KLINE_COLUMNS", "ImportReport", "SeriesImport", "import_files", "parse_file_name"]

#: The 12 columns of a data.binance.vision kline CSV, in file order.
KLINE_COLUMNS: tuple[str, ...] = (
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "count",
    "taker_buy_volume",
    "taker_buy_quote_volume",
    "ignore",
)
_INT_COLUMNS = frozenset({"open_time", "close_time", "count"})
# ``ignore`` is documented as unused, so its content is never judged.
_CHECKED_COLUMNS: tuple[str, ...] = KLINE_COLUMNS[:-1]
_RENAMED = {"count": "trades"}
# Binance Vision carries three of the contract's optional columns.
_CONTRACT_COLUMNS: tuple[str, ...] = (
    *CANDLE_COLUMNS,
    *(c for c in OPTIONAL_COLUMNS if c in {"quote_volume", "trades", "taker_buy_volume"}),
)

_NAME_RE = re.compile(
    r"^(?P<symbol>[A-Za-z0-9]+)-(?P<interval>[0-9]+[A-Za-z]+)-"
    r"(?P<date>\d{4}-\d{2}(?:-\d{2})?)\.(?:csv|zip)$",
    re.IGNORECASE,
)
_SUFFIXES = frozenset({".csv", ".zip"})
_INT_RE = re.compile(rb"^\s*[+-]?\d+\s*$")
_FLOAT_RE = re.compile(rb"^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$")
_NON_FINITE = frozenset({b"nan", b"inf", b"+inf", b"-inf", b"infinity", b"-infinity"})

# Open times must fall in [2000, 2200): the two unit ranges are then far apart, and
# both convert to int64 nanoseconds without overflow.
_MS_LO = 946_684_800_000
_MS_HI = 7_258_118_400_000
_NS_PER_MS = 1_000_000
_NS_PER_US = 1_000


@dataclass(frozen=True, slots=True)
class SeriesImport:
    """What the import did to one (symbol, timeframe) series of the store.

    ``rows_read`` counts CSV rows, ``candles`` the distinct open times among them (files
    may overlap); ``first``, ``last`` and ``gaps`` describe the imported candles, so a
    halt inside the imported range shows up even if the store had it before.
    """

    symbol: str
    timeframe: str
    files: tuple[Path, ...]
    rows_read: int
    candles: int
    added: int
    replaced: int
    total: int
    first: pd.Timestamp
    last: pd.Timestamp
    gaps: tuple[Gap, ...]
    path: Path

    @property
    def missing(self) -> int:
        """Candles missing inside the imported range, over all gaps."""
        return sum(g.missing for g in self.gaps)

    def describe(self) -> str:
        """One line for the CLI: series, counts, range and gaps."""
        gaps = f", {len(self.gaps)} gap(s) / {self.missing} missing candle(s)" if self.gaps else ""
        return (
            f"{self.symbol} {self.timeframe}: {len(self.files)} file(s), {self.rows_read} rows, "
            f"{self.added} added, {self.replaced} replaced, {self.total} stored, "
            f"{self.first.isoformat()} .. {self.last.isoformat()}{gaps}"
        )


@dataclass(frozen=True, slots=True)
class ImportReport:
    """The outcome of one :func:`import_files` call, one entry per series, sorted."""

    series: tuple[SeriesImport, ...]

    @property
    def files(self) -> int:
        """Files read over all series."""
        return sum(len(s.files) for s in self.series)

    @property
    def rows_read(self) -> int:
        """CSV rows read over all series."""
        return sum(s.rows_read for s in self.series)

    @property
    def added(self) -> int:
        """Candles new to the store over all series."""
        return sum(s.added for s in self.series)

    @property
    def replaced(self) -> int:
        """Stored candles overwritten by imported ones over all series."""
        return sum(s.replaced for s in self.series)

    def describe(self) -> list[str]:
        """Lines for the CLI, one per series."""
        return [s.describe() for s in self.series]


@dataclass(frozen=True, slots=True)
class _Parsed:
    """One file, read and checked, waiting for the write phase."""

    path: Path
    symbol: str
    timeframe: Timeframe
    frame: pd.DataFrame


def parse_file_name(name: str | Path) -> tuple[str, Timeframe] | None:
    """Symbol and timeframe from ``<SYMBOL>-<interval>-<YYYY-MM>[-DD].(csv|zip)``.

    ``name`` may be a whole path (only its last part is parsed; all of it is used in
    messages). Returns None for a name not in that form; raises :class:`DataError` for an interval
    Tradewind has no grid for (``1s``, ``3d``, ``1mo``), since guessing one would import
    candles under the wrong timeframe.
    """
    match = _NAME_RE.match(Path(name).name)
    if match is None:
        return None
    try:
        tf = Timeframe.parse(match["interval"])
    except ConfigError:
        raise DataError(
            f"{name}: interval {match['interval']!r} in the file name is not a supported "
            f"timeframe ({', '.join(Timeframe.SUPPORTED)})"
        ) from None
    return match["symbol"].upper(), tf


def import_files(
    paths: Sequence[Path],
    store: CandleStore,
    *,
    symbol: str | None = None,
    timeframe: str | None = None,
) -> ImportReport:
    """Import kline files (and ``*.csv``/``*.zip`` found below directories) into ``store``.

    ``symbol`` and ``timeframe`` override what the file names say, for files renamed
    or named otherwise. Files are grouped by (symbol, timeframe); each group is merged
    with one atomic write, imported candles replacing stored ones at equal open times.

    Raises :class:`DataError` (naming the file, and the line where there is one) before
    anything is written when any file or any target file in the store is unusable.
    """
    forced_symbol = normalize_symbol(symbol) if symbol is not None else None
    forced_tf = Timeframe.parse(timeframe) if timeframe is not None else None
    files = _collect(paths)

    parsed = [_read_file(p, forced_symbol, forced_tf) for p in files]
    groups: dict[tuple[str, str], list[_Parsed]] = {}
    for item in parsed:
        groups.setdefault((item.symbol, item.timeframe.name), []).append(item)

    staged: list[tuple[list[_Parsed], pd.DataFrame]] = []
    for key in sorted(groups):
        members = groups[key]
        frame = pd.concat([m.frame for m in members], ignore_index=True)
        # Overlapping files (a monthly and a daily dump) repeat candles; the later file wins,
        # as it would against the store.
        frame = frame.sort_values("timestamp", kind="stable")
        frame = frame.drop_duplicates("timestamp", keep="last").reset_index(drop=True)
        sym, tf = members[0].symbol, members[0].timeframe
        if store.exists(sym, tf):
            store.read(sym, tf)  # a broken stored file must fail now, not after other writes
        staged.append((members, frame))

    series: list[SeriesImport] = []
    for members, frame in staged:
        sym, tf = members[0].symbol, members[0].timeframe
        result = store.merge(sym, tf, frame)
        stamps = frame["timestamp"]
        series.append(
            SeriesImport(
                symbol=sym,
                timeframe=tf.name,
                files=tuple(m.path for m in members),
                rows_read=sum(len(m.frame) for m in members),
                candles=len(frame),
                added=result.added,
                replaced=result.replaced,
                total=result.total,
                first=stamps.iloc[0],
                last=stamps.iloc[-1],
                gaps=tuple(find_gaps(frame, tf)),
                path=store.path(sym, tf),
            )
        )
    return ImportReport(series=tuple(series))


def _collect(paths: Sequence[Path]) -> list[Path]:
    """The files to read, in argument order, directories expanded, each file once."""
    found: list[Path] = []
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            candidates = sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and p.suffix.lower() in _SUFFIXES and not p.name.startswith(".")
            )
        elif path.is_file():
            if path.suffix.lower() not in _SUFFIXES:
                raise DataError(f"{path}: not a .csv or .zip kline file")
            candidates = [path]
        else:
            raise DataError(f"{path}: no such file or directory")
        for candidate in candidates:
            key = candidate.resolve()
            if key not in seen:
                seen.add(key)
                found.append(candidate)
    if not found:
        raise DataError(
            f"no .csv or .zip kline files in {', '.join(str(p) for p in paths) or '(nothing)'}"
        )
    return found


def _read_file(path: Path, symbol: str | None, timeframe: Timeframe | None) -> _Parsed:
    """Read, convert and check one file; every problem becomes a DataError naming it."""
    if symbol is None or timeframe is None:
        named = parse_file_name(path)
        if named is None:
            raise DataError(
                f"{path}: cannot tell symbol and timeframe from the file name (expected "
                f"<SYMBOL>-<interval>-<YYYY-MM>[-DD].csv or .zip); pass them explicitly"
            )
        symbol = symbol or named[0]
        timeframe = timeframe or named[1]
    where, data = _load_bytes(path)
    frame = _parse_csv(data, where, timeframe)
    return _Parsed(path=path, symbol=symbol, timeframe=timeframe, frame=frame)


def _load_bytes(path: Path) -> tuple[str, bytes]:
    """The CSV bytes of ``path`` and the name to use in messages about them."""
    if path.suffix.lower() != ".zip":
        try:
            return str(path), path.read_bytes()
        except OSError as exc:
            raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        with zipfile.ZipFile(path) as archive:
            members = [
                info
                for info in archive.infolist()
                if not info.is_dir()
                and info.filename.lower().endswith(".csv")
                and not info.filename.startswith("__MACOSX/")
            ]
            if len(members) != 1:
                listing = ", ".join(i.filename for i in archive.infolist()) or "nothing"
                count = "no CSV file" if not members else f"{len(members)} CSV files"
                raise DataError(
                    f"{path}: expected exactly one CSV file in the zip, found {count} "
                    f"(contents: {listing})"
                )
            return f"{path} [{members[0].filename}]", archive.read(members[0])
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(f"{path}: not a readable zip file ({exc})") from None


def _parse_csv(data: bytes, where: str, timeframe: Timeframe) -> pd.DataFrame:
    """Convert one CSV to a contract frame, checked row by row (vectorised)."""
    data = data.removeprefix(b"\xef\xbb\xbf")
    first_line, _, rest = data.partition(b"\n")
    # A header is a line of 12 names; anything else on line 1 is data and gets checked
    # as such, so a corrupt first row cannot pass for a header and vanish.
    names = first_line.split(b",")
    header = len(names) == len(KLINE_COLUMNS) and not any(_FLOAT_RE.match(f) for f in names)
    body, offset = (rest, 1) if header else (data, 0)
    if not body.strip():
        raise DataError(f"{where}: no candles in the file")
    try:
        table = pacsv.read_csv(
            io.BytesIO(body),
            read_options=pacsv.ReadOptions(column_names=list(KLINE_COLUMNS)),
            convert_options=pacsv.ConvertOptions(
                column_types={
                    c: pa.int64() if c in _INT_COLUMNS else pa.float64() for c in _CHECKED_COLUMNS
                },
                include_columns=list(_CHECKED_COLUMNS),
                null_values=[],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as exc:
        raise _diagnose(body, offset, where, exc) from None
    if table.num_rows == 0:
        raise DataError(f"{where}: no candles in the file")

    open_time: npt.NDArray[np.int64] = table.column("open_time").to_numpy()
    frame = pd.DataFrame({"timestamp": _to_utc(open_time, body, offset, where)})
    for col in (
        "open",
        "high",
        "low",
        "close",
        "volume",
        "quote_volume",
        "count",
        "taker_buy_volume",
    ):
        frame[_RENAMED.get(col, col)] = table.column(col).to_numpy().astype("float64")
    frame = conform(frame.loc[:, list(_CONTRACT_COLUMNS)], where=where)

    problems = find_problems(frame, timeframe)
    if problems:
        first = min(problems, key=lambda p: p.row)
        line = _line_numbers(body, offset)[first.row]
        when = first.timestamp.isoformat() if first.timestamp is not None else "?"
        raise DataError(
            f"{where}: line {line} ({when}): {first.detail}"
            f" (rule {first.rule!r}; {len(problems)} problem(s) in the file)"
        )
    return frame


def _to_utc(open_time: npt.NDArray[np.int64], body: bytes, offset: int, where: str) -> pd.Series:
    """Open times as datetime64[ns, UTC], their unit (ms or µs) told by their size."""
    as_ms = (open_time >= _MS_LO) & (open_time < _MS_HI)
    as_us = (open_time >= _MS_LO * 1000) & (open_time < _MS_HI * 1000)
    if as_ms.all():
        ns = open_time * _NS_PER_MS
    elif as_us.all():
        ns = open_time * _NS_PER_US
    else:
        lines = _line_numbers(body, offset)
        unknown = np.flatnonzero(~(as_ms | as_us))
        if unknown.size:
            row = int(unknown[0])
            raise DataError(
                f"{where}: line {lines[row]}: open_time {open_time[row]} is neither epoch "
                f"milliseconds nor microseconds of a date between 2000 and 2200"
            )
        row = int(np.flatnonzero(as_ms != as_ms[0])[0])
        units = ("milliseconds", "microseconds") if as_ms[0] else ("microseconds", "milliseconds")
        raise DataError(
            f"{where}: line {lines[row]}: open_time {open_time[row]} is in {units[1]} but "
            f"line {lines[0]} is in {units[0]}; one file must use one unit"
        )
    stamps = pd.Series(ns.view("datetime64[ns]"))
    return stamps.dt.tz_localize("UTC").astype("datetime64[ns, UTC]")


def _line_numbers(body: bytes, offset: int) -> list[int]:
    """1-based file line of each data row (the CSV reader skips empty lines).

    Only called on the way to an error, so a plain loop is fine here.
    """
    return [n + 1 + offset for n, line in enumerate(body.split(b"\n")) if line.rstrip(b"\r")]


def _diagnose(body: bytes, offset: int, where: str, exc: pa.ArrowInvalid) -> DataError:
    """Turn the CSV reader's complaint into one naming the line, column and value."""
    for n, raw in enumerate(body.split(b"\n")):
        line = raw.rstrip(b"\r")
        if not line:
            continue
        fields = line.split(b",")
        lineno = n + 1 + offset
        if len(fields) != len(KLINE_COLUMNS):
            return DataError(
                f"{where}: line {lineno}: expected {len(KLINE_COLUMNS)} comma-separated "
                f"columns ({', '.join(KLINE_COLUMNS)}), found {len(fields)}"
            )
        for col, field in zip(_CHECKED_COLUMNS, fields, strict=False):
            value = field.strip().strip(b'"')
            if col in _INT_COLUMNS:
                ok = _INT_RE.match(value) is not None
            else:  # the reader takes nan/inf as floats; the contract rejects them later
                ok = _FLOAT_RE.match(value) is not None or value.lower() in _NON_FINITE
            if not ok:
                kind = "an integer" if col in _INT_COLUMNS else "a number"
                text = field.decode("utf-8", errors="replace")
                return DataError(f"{where}: line {lineno}: column {col} is not {kind}: {text!r}")
    return DataError(f"{where}: not a kline CSV file ({exc})")
