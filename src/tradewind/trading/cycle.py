"""The cycle trader (seed 000) as a driver around the compiled bar loop.

Python decides what needs Python — the daily nomination (a model, later), the seeded
random choice of K pairs, the sizing — and writes the nominations into the trade array;
:func:`tradewind.trading.cycle_kernel.advance` does everything that happens bar by bar.
A backtest calls :meth:`CycleTrader.run`; the live node will call :meth:`decide` at the
decision time and :meth:`step` on every closed candle: the same code in both.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from tradewind.config.models import CycleConfig, FillsConfig, LifecycleConfig
from tradewind.data.markets import MarketRules
from tradewind.data.panel import Panel, decision_bars
from tradewind.domain.types import duration_bars
from tradewind.engine.lifecycle import (
    Params,
)
from tradewind.engine.params import THETA, RegimeParams, lifecycle_params
from tradewind.engine.records import Pool, Status, new_trades
from tradewind.errors import ConfigError
from tradewind.portfolio.ledger import (
    R_INITIAL,
    REAL_BOOK,
    new_ledger,
    transfer,
)
from tradewind.portfolio.sizing import (
    equal_weights,
    inverse_volatility_weights,
    kelly_weights,
    realised_volatility,
)
from tradewind.strategies.nominators import Nominator
from tradewind.trading import cycle_kernel as ck

__all__ = [
    "CycleTrader",
    "MarketArrays",
    "cycle_decision_rows",
    "decision_bars",
    "lifecycle_params",
]


def _detail_arrays(panel: Panel, detail: Panel | None) -> tuple[np.ndarray, np.ndarray, int]:
    """Lower-timeframe highs and lows laid out so bar ``t`` owns rows ``t·r … t·r + r − 1``."""
    pairs = len(panel.symbols)
    if detail is None:
        empty = np.zeros((pairs, 0))
        return empty, empty, 0
    if not panel.timeframe.is_multiple_of(detail.timeframe) or detail.timeframe == panel.timeframe:
        raise ConfigError(
            f"detail candles must be a shorter timeframe that divides {panel.timeframe}, "
            f"not {detail.timeframe}"
        )
    ratio = panel.timeframe.seconds // detail.timeframe.seconds
    rows = len(panel.timestamps) * ratio
    high = np.full((pairs, rows), np.nan)
    low = np.full((pairs, rows), np.nan)
    step = detail.timeframe.nanoseconds
    at = (detail.timestamps - int(panel.timestamps[0])) // step
    keep = (at >= 0) & (at < rows)
    where = {s: i for i, s in enumerate(detail.symbols)}
    for p, symbol in enumerate(panel.symbols):
        if symbol not in where:
            continue
        q = where[symbol]
        ok = keep & detail.mask[:, q]
        high[p, at[ok]] = detail.field("high")[ok, q]
        low[p, at[ok]] = detail.field("low")[ok, q]
    return high, low, ratio


@dataclass
class MarketArrays:
    """The candles as the kernels loop over them: asset-major contiguous (pair, time)
    arrays, plus the lower-timeframe highs and lows that resolve ambiguous bars.

    Built once per panel (:meth:`of`) and shared, read-only, by every trader on it — the
    runs of a Monte Carlo study receive one copy, memory-mapped into their processes."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray  #: 0 where a candle is missing
    volume: np.ndarray
    valid: np.ndarray
    last_valid: np.ndarray  #: each pair's last row with a candle (-1: none)
    last_close: np.ndarray  #: the last close at or before each row (NaN before the first)
    detail_high: np.ndarray
    detail_low: np.ndarray
    detail_ratio: int

    @classmethod
    def of(cls, panel: Panel, detail: Panel | None = None) -> MarketArrays:
        def field(name: str) -> np.ndarray:  # always a copy: fixed up in place below
            return np.array(panel.field(name).T, order="C")

        valid = np.ascontiguousarray(panel.mask.T)
        last_valid = np.where(
            valid.any(axis=1), valid.shape[1] - 1 - np.argmax(valid[:, ::-1], axis=1), -1
        ).astype(np.int64)
        close = field("close")
        volume = (
            np.nan_to_num(field("volume"), copy=False)
            if "volume" in panel.fields
            else np.full_like(close, np.inf)
        )
        high, low, ratio = _detail_arrays(panel, detail)
        # Forward-filled closes: what a position on a pair is worth while its candles
        # are missing, read per trade instead of carried across all pairs every bar.
        seen = np.where(valid, np.arange(valid.shape[1]), -1)
        np.maximum.accumulate(seen, axis=1, out=seen)
        last_close = np.where(seen >= 0, np.take_along_axis(close, np.maximum(seen, 0), 1), np.nan)
        return cls(
            field("open"),
            field("high"),
            field("low"),
            np.nan_to_num(close, copy=False),  # after last_close, which reads it
            volume,
            valid,
            last_valid,
            np.ascontiguousarray(last_close),
            high,
            low,
            ratio,
        )


def cycle_decision_rows(
    panel: Panel, cycle: CycleConfig, nominator: Nominator, first: int = 0
) -> np.ndarray:
    """The rows a backtest of the cycle trader decides at: each day's decision bar from
    ``first``, once the nominator's warm-up has passed — not the very last bar, whose
    decision could never be acted on (the data ends there)."""
    n_t = len(panel.timestamps)
    warmup = max(first, nominator.warmup_bars(panel.timeframe))
    days = decision_bars(panel.timestamps, panel.timeframe, cycle.decision_time, warmup)
    return days[days < n_t - 1]


class CycleTrader:
    """One cycle trader over one panel: state arrays, nominations, the bar loop."""

    def __init__(
        self,
        panel: Panel,
        *,
        cycle: CycleConfig,
        lifecycle: LifecycleConfig,
        fills: FillsConfig,
        nominator: Nominator,
        rng: np.random.Generator,
        detail: Panel | None = None,
        rules: Mapping[str, MarketRules] | None = None,
        market: MarketArrays | None = None,
        regime_params: RegimeParams | None = None,
    ) -> None:
        """``market`` is :meth:`MarketArrays.of` ``(panel, detail)`` when the caller already
        built it (then ``detail`` is not read again). ``regime_params`` gives each
        nomination its regime's lifecycle parameters (`tradewind optimize`)."""
        self.panel = panel
        self.cfg = cycle
        self.nominator = nominator
        self.rng = rng
        self.regime_params = regime_params
        self.tf = panel.timeframe
        self.params = lifecycle_params(lifecycle, fills, self.tf)
        self.cparams: Params = (
            float(cycle.reinvest_threshold),
            float(cycle.min_reinvest),
            1.0 if cycle.reinvest_split == "profit" else 0.0,
            float(cycle.dry_run_loss_threshold),
            float(cycle.dry_run_to_live_threshold),
            1.0 if cycle.convert_mid_cycle else 0.0,
        )
        self.vol_bars = duration_bars(
            cycle.volatility_lookback, self.tf, "cycle.volatility_lookback"
        )
        self.a = market if market is not None else MarketArrays.of(panel, detail)
        # The exchange's order rules per pair (0 = unknown: no rounding, no minimum).
        known = rules or {}
        self.rules = np.array(
            [
                (r.lot_step, r.tick, max(r.min_notional, 0.0))
                for r in (known.get(symbol, MarketRules()) for symbol in panel.symbols)
            ],
            dtype=np.float64,
        ).reshape(len(panel.symbols), 3)
        n_t = len(panel.timestamps)
        self.trades = new_trades(256)
        self.open_list = np.zeros(len(self.trades), dtype=np.int64)
        self._no_stop = np.zeros(n_t, dtype=np.bool_)
        self.ledger = new_ledger(1024)
        self.cycles = np.zeros(64, dtype=ck.CYCLE_DTYPE)
        self.counters = np.zeros(ck.N_COUNTERS, dtype=np.int64)
        self.counters[ck.C_CYCLE] = -1
        self.pools = np.zeros((2, Pool.PNL + 1), dtype=np.float64)
        self.equity = np.full(n_t, np.nan)
        self.paper_equity = np.full(n_t, np.nan)
        self.next_t = 0
        transfer(
            self.pools,
            self.ledger,
            self.counters,
            ck.C_NLEDGER,
            0,
            cycle.capital,
            Pool.PNL,
            Pool.MAIN,
            R_INITIAL,
            -1,
            REAL_BOOK,
        )

    # -- growth ---------------------------------------------------------------------------

    def _room(self, trades: int) -> None:
        n = int(self.counters[ck.C_NTRADES])
        if n + trades > len(self.trades):
            grown = new_trades(max(2 * len(self.trades), n + trades))
            grown[: len(self.trades)] = self.trades
            self.trades = grown
            open_list = np.zeros(len(grown), dtype=np.int64)
            open_list[: len(self.open_list)] = self.open_list
            self.open_list = open_list
        if self.counters[ck.C_NLEDGER] + 4 * trades + 64 > len(self.ledger):
            grown_l = new_ledger(2 * len(self.ledger) + 4 * trades)
            grown_l[: len(self.ledger)] = self.ledger
            self.ledger = grown_l
        if self.counters[ck.C_NCYCLES] + 1 >= len(self.cycles):
            grown_c = np.zeros(2 * len(self.cycles), dtype=ck.CYCLE_DTYPE)
            grown_c[: len(self.cycles)] = self.cycles
            self.cycles = grown_c

    # -- the two entry points --------------------------------------------------------------

    def step(self, t1: int, decisions: np.ndarray | None = None) -> None:
        """Run the bar loop up to (not including) grid row ``t1`` — or, with ``decisions``
        (a flag per row), only until the close of the first flagged row at which no
        cycle is active, the next moment :meth:`decide` can start one."""
        stop = self._no_stop if decisions is None else decisions
        while self.next_t < t1:
            # Room for a dry-run cycle converting to live: one real trade per paper trade.
            self._room(2 * (self.cfg.pairs_per_cycle + 16))
            start = self.next_t
            self.next_t = ck.advance(
                self.trades,
                self.open_list,
                self.counters,
                self.pools,
                self.ledger,
                self.cycles,
                self.equity,
                self.paper_equity,
                self.a.last_close,
                self.a.open,
                self.a.high,
                self.a.low,
                self.a.close,
                self.a.volume,
                self.a.valid,
                self.a.last_valid,
                self.params,
                self.cparams,
                self.a.detail_high,
                self.a.detail_low,
                self.a.detail_ratio,
                stop,
                self.next_t,
                t1,
            )
            done = self.next_t - 1
            if done >= start and stop[done] and not self.counters[ck.C_ACTIVE]:
                return  # a decision is due at the close of row ``done``
            if self.next_t < t1:  # the ledger filled up: grow it and go on
                grown = new_ledger(2 * len(self.ledger))
                grown[: len(self.ledger)] = self.ledger
                self.ledger = grown

    def decide(self, t: int) -> int:
        """The daily decision at the close of row ``t``: start a cycle if none is active.

        Returns the number of real or paper nominations made (0 when a cycle is active or
        nothing was nominated).
        """
        if self.counters[ck.C_ACTIVE]:
            return 0
        ranked = np.asarray(self.nominator.nominate(self.panel, t, self.rng), dtype=np.int64)
        # A pair without a candle at t has no price to nominate at, whatever a model says.
        ranked = ranked[self.a.valid[ranked, t]] if len(ranked) else ranked
        if len(ranked) == 0:
            return 0
        k = min(self.cfg.pairs_per_cycle, len(ranked))
        chosen = np.sort(self.rng.choice(ranked, size=k, replace=False))
        # Sorted, as ``np.setdiff1d`` would give them (cheaper for a handful of pairs).
        taken = set(chosen.tolist())
        others = np.array(
            sorted({int(r) for r in ranked.tolist()} - taken)
            if self.cfg.track_not_selected
            else [],
            dtype=np.int64,
        )
        self._room(len(ranked) + 2 * k + 16)
        pairs = np.concatenate([chosen, others])
        theta = (
            np.full((len(pairs), len(THETA)), np.nan)
            if self.regime_params is None
            else self.regime_params.at(t, pairs)
        )
        ck.open_cycle(
            self.trades,
            self.counters,
            self.pools,
            self.ledger,
            self.cycles,
            chosen,
            np.ascontiguousarray(self._weights(chosen, t), dtype=np.float64),
            others,
            t,
            self.a.close,
            self.rules,
            self.params,
            float(self.cfg.min_allocation),
            theta,
        )
        return k

    def decision_rows(self, first: int = 0) -> np.ndarray:
        """The rows a backtest decides at (:func:`cycle_decision_rows`)."""
        return cycle_decision_rows(self.panel, self.cfg, self.nominator, first)

    def run(self, first: int = 0, on_day: Callable[[int], None] | None = None) -> None:
        """Backtest: the bar loop with a decision at every decision bar from ``first``."""
        n_t = len(self.panel.timestamps)
        rows = self.decision_rows(first)
        decisions = np.zeros(n_t, dtype=np.bool_)
        decisions[rows] = True
        told = 0
        while self.next_t < n_t:
            # Through whole cycles in one call: a decision while a cycle runs does nothing.
            self.step(n_t, decisions)
            if self.next_t < n_t:
                self.decide(self.next_t - 1)
            if on_day is not None:
                reached = int(np.searchsorted(rows, self.next_t))
                for d in rows[told:reached]:
                    on_day(int(d))
                told = reached

    def advance(self, t1: int, decisions: np.ndarray) -> list[int]:
        """:meth:`run`'s loop up to row ``t1`` of a panel whose candles arrive as they
        close — what the live node calls after each update: the bar loop, and the
        decision at every flagged row whose close finds no cycle active, the newest row
        included (the backtest takes the same decisions on the same rows; only at the
        very end of its data does it not decide, as nothing could follow). Returns the
        rows decided at."""
        decided: list[int] = []
        while self.next_t < t1:
            self.step(t1, decisions)
            done = self.next_t - 1
            if decisions[done] and not self.counters[ck.C_ACTIVE]:
                self.decide(done)
                decided.append(done)
        return decided

    def regrid(self, panel: Panel, market: MarketArrays) -> None:
        """Go on over ``panel`` (with its ``market``), a longer grid with the same first
        rows: the node grows its panel ahead of the candles and hands it over here. The
        equity so far is kept; nothing else depends on the grid's length."""
        old = len(self.panel.timestamps)
        if len(panel.timestamps) < old or not np.array_equal(
            panel.timestamps[:old], self.panel.timestamps
        ):
            raise ConfigError("regrid: the new panel must extend the trader's grid")
        n_t = len(panel.timestamps)
        for name in ("equity", "paper_equity"):
            grown = np.full(n_t, np.nan)
            grown[:old] = getattr(self, name)
            setattr(self, name, grown)
        self._no_stop = np.zeros(n_t, dtype=np.bool_)
        self.panel = panel
        self.a = market

    # -- helpers ----------------------------------------------------------------------------

    def _weights(self, chosen: np.ndarray, t: int) -> np.ndarray:
        if self.cfg.sizing == "inverse_volatility":
            vol = realised_volatility(self.a.close, self.a.valid, chosen, t, self.vol_bars)
            return inverse_volatility_weights(vol)
        if self.cfg.sizing == "kelly":
            n = int(self.counters[ck.C_NTRADES])
            done = self.trades[:n]
            closed = done[(done["status"] == Status.CLOSED) & (done["cost"] > 0)]
            return kelly_weights(
                len(chosen), closed["pnl"] / closed["cost"], self.cfg.kelly_fraction
            )
        return equal_weights(len(chosen))

    @property
    def n_trades(self) -> int:
        """Trades (real and sim) created so far."""
        return int(self.counters[ck.C_NTRADES])
