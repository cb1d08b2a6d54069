"""Where the node's candles come from: the candle store.

On paper and live the node's candle job first updates the store from the exchange (the
same download as ``tradewind data update``) and then reads the candles that closed since
its last row; in a replay the stored candles are the market, revealed as the simulated
clock passes their close. Either way the node sees a candle only once it has closed.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from tradewind.data.panel import DEFAULT_FIELDS, Panel, load_panel
from tradewind.data.store import CandleStore
from tradewind.domain.types import Timeframe
from tradewind.errors import DataError

__all__ = ["StoreFeed", "rows_between"]


def rows_between(panel: Panel, first_ns: int, last_ns: int) -> Panel:
    """The rows of ``panel`` whose open time is in ``[first_ns, last_ns)``."""
    a, b = np.searchsorted(panel.timestamps, [first_ns, last_ns])
    return replace(
        panel,
        timestamps=panel.timestamps[a:b],
        values=panel.values[a:b],
        mask=panel.mask[a:b],
    )


class StoreFeed:
    """Candles of ``symbols`` on ``timeframe`` from a candle store.

    ``end`` bounds what the feed ever reads (a replay's end); the candles are loaded once
    and served from memory when ``preload`` (a replay: the whole period is known), read
    from the store on each call otherwise (paper and live: the store grows)."""

    def __init__(
        self,
        store: CandleStore,
        timeframe: Timeframe | str,
        symbols: list[str] | None = None,
        *,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
        preload: bool = False,
    ) -> None:
        self.store = store
        self.timeframe = Timeframe.parse(timeframe)
        names = symbols or store.symbols(self.timeframe)
        if not names:
            raise DataError(
                f"{store.root / self.timeframe.name}: no candles for the node; run "
                "`tradewind data update` (or `tradewind data synth` for the synthetic market)"
            )
        self.symbols = list(names)
        self.start = start
        self.end = end
        self._all: Panel | None = None
        if preload:
            self._all = load_panel(
                store, self.symbols, self.timeframe, start=start, end=end, validate=True
            )
            self.symbols = list(self._all.symbols)

    def _panel(self, first_ns: int | None) -> Panel | None:
        if self._all is not None:
            return self._all
        start = self.start if first_ns is None else pd.Timestamp(first_ns, tz="UTC")
        try:
            return load_panel(self.store, self.symbols, self.timeframe, start=start, end=self.end)
        except DataError:
            if first_ns is None:
                raise
            return None  # nothing stored since: no new candle yet

    def closed(self, first_ns: int | None, now: pd.Timestamp) -> Panel:
        """Candles opening at or after ``first_ns`` (all when None) that have closed at
        ``now``, on the grid of the feed's pairs (empty when there is none)."""
        tf = self.timeframe.nanoseconds
        panel = self._panel(first_ns)
        if panel is None:
            empty = np.zeros(0, dtype=np.int64)
            n = len(self.symbols)
            return Panel(
                self.timeframe,
                empty,
                tuple(self.symbols),
                DEFAULT_FIELDS,
                np.zeros((0, n, len(DEFAULT_FIELDS))),
                np.zeros((0, n), dtype=bool),
            )
        lo = int(panel.timestamps[0]) if first_ns is None else first_ns
        # A candle has closed when its open time + timeframe <= now.
        return rows_between(panel, lo, int(now.value) - tf + 1)
