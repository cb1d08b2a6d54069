"""Ensembles live (seed §5.2): ``live.ensemble = K`` runs K independent cycle traders in
one node, each with 1/K of the capital and its own seed, as a Monte Carlo ensemble study
does in a backtest.

The first member hosts the others: it holds the lock and the trade book, reads the
candles into the one grid, and runs the agents; every member then trades the same new
rows and saves its own state and run (``<name>``, ``<name>-e2`` … ``<name>-eK``). A crash
between two members' saves leaves one a tick behind: on restart the grid is built to the
newest saved clock and each member goes on from its own, so the next tick brings all of
them level again. Each member's circuit breakers watch its own equity.

Live, the members share one account: the host's broker carries out every member's trades
(each under its own client ids) once all of them have traded the tick, and reconciles
the account against the sum of their books. A problem with the account puts every member
in safe mode.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from tradewind.config import Settings
from tradewind.live.clock import Clock
from tradewind.live.node import CycleNode, Tick
from tradewind.store.repository import TradeBook
from tradewind.trading.state import load_state

if TYPE_CHECKING:
    from tradewind.venues.ccxt_venue import CcxtVenue

__all__ = ["EnsembleNode", "member_names", "member_settings", "open_node"]


def member_names(name: str, k: int) -> list[str]:
    return [name] + [f"{name}-e{i}" for i in range(2, k + 1)]


def member_settings(settings: Settings, k: int) -> list[Settings]:
    """Each member's settings: 1/K of the capital, its own seed (spawned from the
    configuration's, as a Monte Carlo study spawns its runs' seeds)."""
    from tradewind.backtest.montecarlo import run_seeds

    cycle = settings.cycle.model_copy(update={"capital": settings.cycle.capital / k})
    seeds = run_seeds(settings.seed, k)
    return [settings.model_copy(update={"seed": s, "cycle": cycle}) for s in seeds]


class EnsembleNode:
    """K cycle traders on one grid; the same interface as :class:`CycleNode` for the
    drivers (``tick``, ``market``, ``tf``, ``safe``, ``run_id``, ``equity``)."""

    def __init__(
        self,
        settings: Settings,
        *,
        source: str,
        clock: Clock,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
        name: str | None = None,
        reset: bool = False,
        venue: CcxtVenue | None = None,
    ) -> None:
        k = settings.live.ensemble
        names = member_names(name or settings.live.name, k)
        configs = member_settings(settings, k)
        until = None if reset else _newest_clock(settings, names)
        host = CycleNode(
            configs[0],
            source=source,
            clock=clock,
            start=start,
            end=end,
            name=names[0],
            reset=reset,
            until=until,
            venue=venue,
        )
        self.members = [host]
        try:
            for cfg, member in zip(configs[1:], names[1:], strict=True):
                self.members.append(
                    CycleNode(
                        cfg,
                        source=source,
                        clock=clock,
                        start=start,
                        end=end,
                        name=member,
                        reset=reset,
                        host=host,
                    )
                )
        except BaseException:
            host.close()
            raise
        host.members = self.members[1:]
        self.host = host
        if venue is not None:
            host.sync()  # start-up is recovery, for every member's orders at once
        self.name = host.name
        self.market, self.tf, self.clock = host.market, host.tf, host.clock

    @property
    def safe(self) -> str | None:
        reasons = [f"{m.name}: {m.safe}" for m in self.members if m.safe]
        return "; ".join(reasons) or None

    @property
    def run_id(self) -> int | None:
        return self.host.run_id

    @property
    def run_ids(self) -> list[int | None]:
        return [m.run_id for m in self.members]

    def equity(self) -> float:
        return sum(m.equity() for m in self.members)

    def tick(self, now: pd.Timestamp | None = None) -> Tick:
        import time

        started = time.perf_counter()
        with self.host._mutex:  # never at the same time as a reconciliation
            now = self.host.clock.now() if now is None else now
            candles, regridded = self.host.read(now)
            ticks = [m.trade(now, candles, regridded, sync=False) for m in self.members]
            first = ticks[0]
            first.orders = self.host.sync()  # one sync of the account for all members
        first.decided = sorted({d for t in ticks for d in t.decided})
        first.open_trades = sum(t.open_trades for t in ticks)
        first.equity = sum(t.equity for t in ticks)
        first.safe = self.safe
        first.seconds = time.perf_counter() - started
        self.host.ticks += 1
        self.host._publish(first)
        return first

    def reconcile(self) -> dict[str, Any] | None:
        return self.host.reconcile()

    def flatten(self) -> dict[str, Any]:
        return self.host.flatten()

    def close(self) -> None:
        for member in self.members[1:]:
            member.close()
        self.host.close()

    def __enter__(self) -> EnsembleNode:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_node(settings: Settings, **kw: Any) -> CycleNode | EnsembleNode:
    """The node of ``settings``: one cycle trader, or an ensemble of ``live.ensemble``."""
    if settings.live.ensemble == 1:
        return CycleNode(settings, **kw)
    return EnsembleNode(settings, **kw)


def _newest_clock(settings: Settings, names: list[str]) -> pd.Timestamp | None:
    """The newest candle close any saved member has processed."""
    from tradewind.domain.types import Timeframe
    from tradewind.live.node import _book

    tf = Timeframe.parse(settings.data.timeframe)
    newest = None
    with TradeBook(_book(settings)) as book:
        for member in names:
            saved = book.session_state(member)
            if saved is None:
                continue
            clock = int(load_state(saved.payload)["clock"][0])
            if clock >= 0:
                done = pd.Timestamp(clock + tf.nanoseconds, tz="UTC")
                newest = done if newest is None else max(newest, done)
    return newest
