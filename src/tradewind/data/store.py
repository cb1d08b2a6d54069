"""The candle store: one Parquet file per ``<data_dir>/<exchange>/<timeframe>/<SYMBOL>.parquet``.

This is the layout of ``../shared/data``, so that folder reads in place. Writes are atomic
(temporary file in the same folder, fsync, rename, fsync of the folder): a crash leaves the
old file or the new one, never a torn one. Reads and writes are validated against the
candle contract (:mod:`tradewind.data.schema`).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tradewind.data.schema import conform, validate_candles
from tradewind.domain.types import Timeframe, normalize_symbol
from tradewind.errors import DataError

__all__ = ["CandleStore", "MergeResult", "atomic_write_parquet", "read_parquet_file"]


@dataclass(frozen=True, slots=True)
class MergeResult:
    """What a merge changed: candles ``added`` and existing ones ``replaced`` by newer data."""

    added: int
    replaced: int
    total: int


def atomic_write_parquet(table: pa.Table, path: Path) -> None:
    """Write ``table`` to ``path`` so that readers only ever see a whole file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            pq.write_table(table, fh, compression="zstd")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def read_parquet_file(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    """Read a Parquet file; an unreadable file raises :class:`DataError` naming it."""
    try:
        table = pq.read_table(path, columns=columns)
    except FileNotFoundError:
        raise DataError(f"{path}: no such candle file") from None
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"{path}: not a readable Parquet file ({exc})") from None
    frame: pd.DataFrame = table.to_pandas()
    return frame


class CandleStore:
    """Candles of one exchange under ``data_dir``.

    ``symbols`` are exchange ids (``BTCUSDT``); ``BTC/USDT`` is accepted and normalised.
    """

    def __init__(self, data_dir: Path | str, exchange: str) -> None:
        self.data_dir = Path(data_dir)
        self.exchange = exchange
        self.root = self.data_dir / exchange

    def __repr__(self) -> str:
        return f"CandleStore({str(self.root)!r})"

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold this exchange folder's writer lock for a whole download, update or import.

        Two overlapping runs (a cron job that outlives its interval) would each merge
        what they fetched into files the other is replacing; the second run is refused
        with a clear message instead. The lock is an OS advisory lock, released when the
        process ends however it ends.
        """
        import fcntl
        import hashlib

        # The lock file lives in the temp folder, keyed by the store's real path, so that
        # taking the lock changes nothing in the store (a refused import leaves no trace).
        key = hashlib.sha256(str(self.root.resolve()).encode()).hexdigest()[:16]
        path = Path(tempfile.gettempdir()) / f"tradewind-store-{key}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                raise DataError(
                    f"{self.root} is being written by another process (pid {holder}); "
                    "try again when it has finished"
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            yield
        finally:
            os.close(fd)

    def path(self, symbol: str, timeframe: Timeframe | str) -> Path:
        """The file of ``symbol`` at ``timeframe`` (which may not exist yet)."""
        tf = Timeframe.parse(timeframe)
        return self.root / tf.name / f"{normalize_symbol(symbol)}.parquet"

    def exists(self, symbol: str, timeframe: Timeframe | str) -> bool:
        """True when the store has a file for ``symbol`` at ``timeframe``."""
        return self.path(symbol, timeframe).is_file()

    def timeframes(self) -> list[str]:
        """Timeframes that have at least one file, shortest first."""
        if not self.root.is_dir():
            return []
        found = []
        for child in self.root.iterdir():
            if child.is_dir() and any(child.glob("*.parquet")):
                try:
                    found.append(Timeframe.parse(child.name))
                except Exception:  # noqa: S112 - a foreign folder is not ours to judge
                    continue
        return [tf.name for tf in sorted(found, key=lambda t: t.seconds)]

    def symbols(self, timeframe: Timeframe | str) -> list[str]:
        """Symbols stored at ``timeframe``, sorted."""
        folder = self.root / Timeframe.parse(timeframe).name
        if not folder.is_dir():
            return []
        return sorted(p.stem for p in folder.glob("*.parquet") if not p.name.startswith("."))

    def read(
        self,
        symbol: str,
        timeframe: Timeframe | str,
        *,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
        validate: bool = True,
    ) -> pd.DataFrame:
        """Read candles with open time in ``[start, end]``; validated unless told not to."""
        tf = Timeframe.parse(timeframe)
        path = self.path(symbol, tf)
        df = conform(read_parquet_file(path), where=str(path))
        if validate:
            validate_candles(df, tf, where=str(path))
        if start is not None or end is not None:
            ts = df["timestamp"]
            keep = pd.Series(True, index=df.index)
            if start is not None:
                keep &= ts >= start
            if end is not None:
                keep &= ts <= end
            df = df.loc[keep].reset_index(drop=True)
        return df

    def read_raw(self, symbol: str, timeframe: Timeframe | str) -> pd.DataFrame:
        """Read without row checks (for ``data check`` and repairs)."""
        path = self.path(symbol, timeframe)
        return conform(read_parquet_file(path), where=str(path))

    def last_timestamp(self, symbol: str, timeframe: Timeframe | str) -> pd.Timestamp | None:
        """Open time of the newest stored candle, or None when there is no file."""
        path = self.path(symbol, timeframe)
        if not path.is_file():
            return None
        ts = read_parquet_file(path, columns=["timestamp"])["timestamp"]
        return None if ts.empty else pd.Timestamp(ts.max()).tz_convert("UTC")

    def write(self, symbol: str, timeframe: Timeframe | str, df: pd.DataFrame) -> Path:
        """Replace the file with ``df`` (validated first; nothing is written if it fails)."""
        tf = Timeframe.parse(timeframe)
        path = self.path(symbol, tf)
        frame = conform(df, where=f"new candles for {path}")
        validate_candles(frame, tf, where=f"new candles for {path}")
        atomic_write_parquet(pa.Table.from_pandas(frame, preserve_index=False), path)
        return path

    def merge(self, symbol: str, timeframe: Timeframe | str, df: pd.DataFrame) -> MergeResult:
        """Add ``df`` to the stored candles; on equal timestamps the new candle wins.

        The stored file must be valid (a broken one raises rather than being overwritten);
        the result is validated before the atomic replace.
        """
        tf = Timeframe.parse(timeframe)
        path = self.path(symbol, tf)
        new = conform(df, where=f"new candles for {path}")
        new = new.drop_duplicates("timestamp", keep="last").sort_values("timestamp")
        if path.is_file():
            old = self.read(symbol, tf)
            # An optional column survives only when both sides have it: a half-filled
            # column would be NaN in the other rows, which the contract forbids.
            shared = [c for c in old.columns if c in new.columns]
            old, new = old.loc[:, shared], new.loc[:, shared]
            seen = new["timestamp"].isin(old["timestamp"])
            replaced = int(seen.sum())
            kept_old = old.loc[~old["timestamp"].isin(new["timestamp"])]
            parts = [p for p in (kept_old, new) if not p.empty]
            merged = pd.concat(parts, ignore_index=True) if parts else new
        else:
            replaced = 0
            merged = new
        merged = merged.sort_values("timestamp", kind="stable").reset_index(drop=True)
        if not new.empty:
            self.write(symbol, tf, merged)
        return MergeResult(added=len(new) - replaced, replaced=replaced, total=len(merged))
