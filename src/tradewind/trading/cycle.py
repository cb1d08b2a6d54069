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
    P_EXPIRY,
    P_LIMIT,
    P_WSTOP,
    Params,
    level,
    round_price,
)
from tradewind.engine.params import lifecycle_params
from tradewind.engine.records import Kind, Pool, Status, new_trades
from tradewind.errors import ConfigError
from tradewind.portfolio.ledger import (
    R_ALLOCATE,
    R_INITIAL,
    REAL_BOOK,
    SHADOW_BOOK,
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

__all__ = ["CycleTrader", "decision_bars", "lifecycle_params"]


@dataclass
class _Arrays:
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    valid: np.ndarray
    last_valid: np.ndarray


def _arrays(panel: Panel) -> _Arrays:
    """Asset-major contiguous (pair, time) arrays: what the kernels loop over."""

    def field(name: str) -> np.ndarray:
        return np.ascontiguousarray(panel.field(name).T)

    valid = np.ascontiguousarray(panel.mask.T)
    last_valid = np.where(
        valid.any(axis=1), valid.shape[1] - 1 - np.argmax(valid[:, ::-1], axis=1), -1
    ).astype(np.int64)
    close = field("close")
    volume = (
        np.nan_to_num(field("volume")) if "volume" in panel.fields else np.full_like(close, np.inf)
    )
    return _Arrays(
        field("open"), field("high"), field("low"), np.nan_to_num(close), volume, valid, last_valid
    )


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
    ) -> None:
        self.panel = panel
        self.cfg = cycle
        self.nominator = nominator
        self.rng = rng
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
        self.expiry_bars = int(self.params[P_EXPIRY])
        self.vol_bars = duration_bars(
            cycle.volatility_lookback, self.tf, "cycle.volatility_lookback"
        )
        self.a = _arrays(panel)
        # The exchange's order rules per pair (0 = unknown: no rounding, no minimum).
        known = rules or {}
        self.rules = np.array(
            [
                (r.lot_step, r.tick, max(r.min_notional, 0.0))
                for r in (known.get(symbol, MarketRules()) for symbol in panel.symbols)
            ],
            dtype=np.float64,
        ).reshape(len(panel.symbols), 3)
        self.detail_high, self.detail_low, self.detail_ratio = _detail_arrays(panel, detail)
        n_t = len(panel.timestamps)
        self.trades = new_trades(256)
        self.ledger = new_ledger(1024)
        self.cycles = np.zeros(64, dtype=ck.CYCLE_DTYPE)
        self.counters = np.zeros(ck.N_COUNTERS, dtype=np.int64)
        self.counters[ck.C_CYCLE] = -1
        self.pools = np.zeros((2, Pool.PNL + 1), dtype=np.float64)
        self.equity = np.full(n_t, np.nan)
        self.paper_equity = np.full(n_t, np.nan)
        self.last_close = np.full(len(panel.symbols), np.nan)
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
        if self.counters[ck.C_NLEDGER] + 4 * trades + 64 > len(self.ledger):
            grown_l = new_ledger(2 * len(self.ledger) + 4 * trades)
            grown_l[: len(self.ledger)] = self.ledger
            self.ledger = grown_l
        if self.counters[ck.C_NCYCLES] + 1 >= len(self.cycles):
            grown_c = np.zeros(2 * len(self.cycles), dtype=ck.CYCLE_DTYPE)
            grown_c[: len(self.cycles)] = self.cycles
            self.cycles = grown_c

    # -- the two entry points --------------------------------------------------------------

    def step(self, t1: int) -> None:
        """Run the bar loop up to (not including) grid row ``t1``."""
        while self.next_t < t1:
            # Room for a dry-run cycle converting to live: one real trade per paper trade.
            self._room(2 * (self.cfg.pairs_per_cycle + 16))
            self.next_t = ck.advance(
                self.trades,
                self.counters,
                self.pools,
                self.ledger,
                self.cycles,
                self.equity,
                self.paper_equity,
                self.last_close,
                self.a.open,
                self.a.high,
                self.a.low,
                self.a.close,
                self.a.volume,
                self.a.valid,
                self.a.last_valid,
                self.params,
                self.cparams,
                self.detail_high,
                self.detail_low,
                self.detail_ratio,
                self.next_t,
                t1,
            )
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
        others = (
            np.setdiff1d(ranked, chosen) if self.cfg.track_not_selected else np.zeros(0, np.int64)
        )
        self._room(len(ranked) + 2 * k + 16)
        mode = int(self.counters[ck.C_NEXT_MODE])
        book = SHADOW_BOOK if mode == ck.MODE_DRY else REAL_BOOK
        if book == SHADOW_BOOK:
            self.pools[SHADOW_BOOK, :] = self.pools[REAL_BOOK, :]
        weights = self._weights(chosen, t)
        budget = self.pools[book, Pool.MAIN] + self.pools[book, Pool.HELD]
        cid = int(self.counters[ck.C_NCYCLES])
        rec = self.cycles[cid]
        rec["id"], rec["start_t"], rec["end_t"], rec["mode"] = cid, t, -1, mode
        rec["converted_t"], rec["next_mode"] = -1, mode
        self.counters[ck.C_NCYCLES] = cid + 1
        self.counters[ck.C_CYCLE] = cid
        self.counters[ck.C_ACTIVE] = 1
        self.counters[ck.C_MODE] = mode
        self.counters[ck.C_CONVERTED] = 0
        share = budget / k
        for pair, weight in zip(chosen, weights, strict=True):
            alloc = budget * float(weight)
            kind, reason = (Kind.REAL, 0) if book == REAL_BOOK else (Kind.SIM, ck.SIM_DRY_RUN)
            if alloc <= 0.0 or alloc < self.cfg.min_allocation:
                kind, reason, alloc = Kind.SIM, ck.SIM_NO_BUDGET, max(share, alloc)
            i = self._nominate(int(pair), t, cid, kind, reason, alloc)
            if kind == Kind.REAL or reason == ck.SIM_DRY_RUN:
                from_main = min(alloc, self.pools[book, Pool.MAIN])
                for src, amount in ((Pool.MAIN, from_main), (Pool.HELD, alloc - from_main)):
                    transfer(
                        self.pools,
                        self.ledger,
                        self.counters,
                        ck.C_NLEDGER,
                        t,
                        amount,
                        src,
                        Pool.PRE_TRADE,
                        R_ALLOCATE,
                        i,
                        book,
                    )
        for pair in others:
            self._nominate(int(pair), t, cid, Kind.SIM, ck.SIM_NOT_SELECTED, share)
        return k

    def run(self, first: int = 0, on_day: Callable[[int], None] | None = None) -> None:
        """Backtest: the bar loop with a decision at every decision bar from ``first``."""
        n_t = len(self.panel.timestamps)
        warmup = max(first, self.nominator.warmup_bars(self.tf))
        days = decision_bars(self.panel.timestamps, self.tf, self.cfg.decision_time, warmup)
        # A decision on the very last bar could never be acted on: the data ends there.
        for d in days[days < n_t - 1]:
            self.step(int(d) + 1)
            self.decide(int(d))
            if on_day is not None:
                on_day(int(d))
        self.step(n_t)

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

    def _nominate(self, pair: int, t: int, cycle: int, kind: int, reason: int, alloc: float) -> int:
        i = int(self.counters[ck.C_NTRADES])
        tr = self.trades[i]
        p0 = float(self.a.close[pair, t])
        tr["id"], tr["pair"], tr["side"], tr["kind"], tr["reason"] = i, pair, 1, kind, reason
        tr["cycle"], tr["status"], tr["market_entry"] = cycle, Status.PENDING, 0
        tr["nominated_t"], tr["expiry_t"], tr["p0"], tr["alloc"] = (
            t,
            t + 1 + self.expiry_bars,
            p0,
            alloc,
        )
        lot, tick, min_notional = self.rules[pair]
        tr["lot_step"], tr["tick"], tr["min_notional"] = lot, tick, min_notional
        tr["limit"] = round_price(level(p0, self.params[P_LIMIT], 1), tick)
        tr["window_stop"] = round_price(level(p0, self.params[P_WSTOP], 1), tick)
        self.counters[ck.C_NTRADES] = i + 1
        return i

    @property
    def n_trades(self) -> int:
        """Trades (real and sim) created so far."""
        return int(self.counters[ck.C_NTRADES])
