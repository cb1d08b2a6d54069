"""The live node's candles: a panel and the kernels' arrays over a grid that runs ahead of
the data, filled in place as candles close.

A backtest lays out all its candles at once (:meth:`MarketArrays.of`). The node cannot:
its candles arrive one close at a time, and rebuilding the arrays of 100 pairs × a year of
5-minute candles on every tick would cost most of a tick. So the grid is allocated ahead
(the times of future candles are known: it is a regular grid), rows not yet closed are
missing candles, and each update writes only its new rows — by the very rules
:meth:`MarketArrays.of` applies to a whole panel, which a test checks row for row.

Two differences from a backtest's arrays, both because the data has not ended: no pair's
data ``ends`` (the kernel closes a position at a pair's last candle only in a backtest),
and the grid's last row is never reached (the grid grows, doubling, before it is).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from tradewind.data.panel import Panel
from tradewind.errors import DataError
from tradewind.trading.cycle import MarketArrays

__all__ = ["GrowingMarket", "NEVER"]

#: ``last_valid`` of a pair whose data goes on: beyond any row.
NEVER = np.iinfo(np.int64).max


class GrowingMarket:
    """``panel`` and ``market`` over ``capacity`` rows of which the first ``rows`` hold
    the candles closed so far."""

    def __init__(self, history: Panel, ahead: int = 2048) -> None:
        if ahead < 2:
            raise DataError(f"GrowingMarket: ahead = {ahead} rows, at least 2")
        self.rows = len(history.timestamps)
        self.panel, self.market = self._layout(history, self.rows + ahead)
        #: each pair's newest row with a candle (-1: none yet): what the watchdog reads
        self.last_row = np.where(
            history.mask.any(axis=0),
            self.rows - 1 - np.argmax(history.mask[::-1], axis=0),
            -1,
        ).astype(np.int64)

    @staticmethod
    def _layout(history: Panel, capacity: int) -> tuple[Panel, MarketArrays]:
        n, pairs, fields = history.values.shape
        step = history.timeframe.nanoseconds
        start = int(history.timestamps[0]) if n else 0
        stamps = start + np.arange(capacity, dtype=np.int64) * step
        if n and not np.array_equal(stamps[:n], history.timestamps):
            raise DataError("GrowingMarket: the history is not on its timeframe's grid")
        values = np.full((capacity, pairs, fields), np.nan)
        values[:n] = history.values
        mask = np.zeros((capacity, pairs), dtype=bool)
        mask[:n] = history.mask
        panel = Panel(history.timeframe, stamps, history.symbols, history.fields, values, mask)
        market = MarketArrays.of(panel)
        market.last_valid[:] = NEVER
        return panel, market

    @property
    def capacity(self) -> int:
        return len(self.panel.timestamps)

    def stale(self, after: int) -> list[int]:
        """Pairs whose newest candle is ``after`` or more rows behind the newest row: the
        exchange stopped sending them (or they were delisted). They are not traded on —
        a missing candle is no action for the kernel — and the watchdog reports them."""
        if self.rows == 0:
            return []
        behind = (self.rows - 1) - self.last_row
        return [int(p) for p in np.flatnonzero((behind >= after) & (self.last_row >= 0))]

    @property
    def end_ns(self) -> int:
        """Open time of the first row not filled yet."""
        return int(self.panel.timestamps[0]) + self.rows * self.panel.timeframe.nanoseconds

    def extend(self, candles: Panel) -> bool:
        """Append ``candles`` (same pairs and fields, on the grid, starting at or after
        :attr:`end_ns`; a gap stays missing candles). Returns True when the grid had to
        grow: the caller hands the new :attr:`panel` and :attr:`market` to its traders."""
        p = self.panel
        if candles.symbols != p.symbols or candles.fields != p.fields:
            raise DataError("GrowingMarket.extend: other pairs or fields than the node's")
        if len(candles.timestamps) == 0:
            return False
        step = p.timeframe.nanoseconds
        at = (candles.timestamps - int(p.timestamps[0])) // step
        off_grid = ((candles.timestamps - int(p.timestamps[0])) % step != 0).any()
        if off_grid or at[0] < self.rows:
            raise DataError(
                "GrowingMarket.extend: candles must follow the node's last row on its grid"
            )
        last = int(at[-1]) + 1
        grew = False
        if last + 1 >= self.capacity:  # the grid's last row must stay out of reach
            self._grow(max(2 * self.capacity, last + 2))
            grew = True
            p = self.panel
        p.values[at] = candles.values
        p.mask[at] = candles.mask
        for k, row in enumerate(at.tolist()):
            self.last_row[candles.mask[k]] = row
        self._fill(self.rows, last)
        self.rows = last
        return grew

    def _grow(self, capacity: int) -> None:
        """Move to a grid of ``capacity`` rows: the filled rows are copied, the new ones
        are missing candles (a copy, not a new layout: on 100 pairs a layout of the whole
        grid cost half a second of one tick)."""
        old_p, old_m, n = self.panel, self.market, self.rows
        step = old_p.timeframe.nanoseconds
        stamps = int(old_p.timestamps[0]) + np.arange(capacity, dtype=np.int64) * step
        values = np.full((capacity, *old_p.values.shape[1:]), np.nan)
        values[:n] = old_p.values[:n]
        mask = np.zeros((capacity, old_p.mask.shape[1]), dtype=bool)
        mask[:n] = old_p.mask[:n]
        self.panel = replace(old_p, timestamps=stamps, values=values, mask=mask)
        pairs = len(old_p.symbols)

        def grown(old: np.ndarray, fill: float | bool) -> np.ndarray:
            out = np.full((pairs, capacity), fill, dtype=old.dtype)
            out[:, :n] = old[:, :n]
            return out

        no_volume = 0.0 if "volume" in old_p.fields else np.inf
        self.market = replace(
            old_m,
            open=grown(old_m.open, np.nan),
            high=grown(old_m.high, np.nan),
            low=grown(old_m.low, np.nan),
            close=grown(old_m.close, 0.0),
            volume=grown(old_m.volume, no_volume),
            valid=grown(old_m.valid, False),
            last_close=grown(old_m.last_close, np.nan),
        )

    def _fill(self, first: int, last: int) -> None:
        """The kernels' arrays for rows ``[first, last)``, as :meth:`MarketArrays.of`
        lays them out (transposed; close and volume 0 where missing; the last close
        carried over gaps)."""
        p, m = self.panel, self.market
        rows = slice(first, last)
        valid = p.mask[rows].T
        m.valid[:, rows] = valid
        m.open[:, rows] = p.field("open")[rows].T
        m.high[:, rows] = p.field("high")[rows].T
        m.low[:, rows] = p.field("low")[rows].T
        close = p.field("close")[rows].T
        m.close[:, rows] = np.nan_to_num(close)
        if "volume" in p.fields:
            m.volume[:, rows] = np.nan_to_num(p.field("volume")[rows].T)
        carried = m.last_close[:, first - 1] if first > 0 else np.full(len(p.symbols), np.nan)
        for k in range(last - first):
            carried = np.where(valid[:, k], close[:, k], carried)
            m.last_close[:, first + k] = carried
