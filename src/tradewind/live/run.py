"""Driving the node: APScheduler on the wall clock (paper, live), or the same job's fire
times on a simulated clock (``--replay``).

The candle job fires every timeframe, ``live.candle_delay`` seconds after each close (all
times UTC). The cycle trader's daily decision is not a job of its own: it is the close of
the candle at or before ``cycle.decision_time`` (23:55 by default), handled by the candle
job that reads that candle, which is how a backtest takes it too — a decision never runs
on a candle that has not arrived. A run missed while the machine slept runs once on wake
(``coalesce``, no grace limit), and it reads every candle closed since the last one.
The jobs themselves are in :mod:`tradewind.live.schedule`, retraining included.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from tradewind.config import Settings
from tradewind.domain.types import Timeframe
from tradewind.errors import ConfigError
from tradewind.live.clock import SimClock, WallClock
from tradewind.live.ensemble import EnsembleNode, open_node
from tradewind.live.node import Tick
from tradewind.live.schedule import candle_trigger, node_scheduler, retrain

if TYPE_CHECKING:
    from tradewind.venues.ccxt_venue import CcxtVenue

__all__ = ["Replay", "candle_trigger", "replay", "run_paper", "update_candles"]

log = logging.getLogger(__name__)


@dataclass
class Replay:
    """What a replay did."""

    name: str
    start: pd.Timestamp
    end: pd.Timestamp
    ticks: int = 0
    candles: int = 0
    decided: list[str] = field(default_factory=list)
    equity: float = float("nan")
    tick_seconds: list[float] = field(default_factory=list)
    run_id: int | None = None
    agents_equity: float | None = None  #: the session of agents', when configured
    agents_run_id: int | None = None
    member_run_ids: list[int | None] = field(default_factory=list)  #: an ensemble's runs
    stale: dict[str, str] = field(default_factory=dict)  #: pair → first tick it was stale
    safe: str | None = None  #: why the node went into safe mode, if it did

    def to_dict(self) -> dict[str, Any]:
        s = sorted(self.tick_seconds)

        def q(x: float) -> float | None:
            return s[min(len(s) - 1, int(x * len(s)))] if s else None

        return {
            "node": self.name,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "ticks": self.ticks,
            "candles": self.candles,
            "decisions": len(self.decided),
            "equity": self.equity,
            "tick_p50_s": q(0.5),
            "tick_p99_s": q(0.99),
            "run_id": self.run_id,
            "agents_equity": self.agents_equity,
            "agents_run_id": self.agents_run_id,
            "member_run_ids": self.member_run_ids,
            "stale": self.stale,
            "safe_mode": self.safe,
        }


def replay(
    settings: Settings,
    start: pd.Timestamp,
    end: pd.Timestamp,
    *,
    speed: float | None = None,
    name: str | None = None,
    reset: bool = False,
    on_tick: Callable[[Tick], None] | None = None,
    venue: CcxtVenue | None = None,
    clock: SimClock | None = None,
    on_open: Callable[[Any], Any] | None = None,
) -> Replay:
    """Drive the node over the stored candles closing in ``[start, end]`` with a simulated
    clock set to each fire time of the candle job, as fast as it can — or ``speed`` times real
    time. A replay stopped half way goes on from its saved state when run again.

    With ``venue`` the replay's orders go to that exchange (a test exchange whose clock
    follows ``clock``): the live node on stored candles. ``on_open(node)`` runs once the
    node is open (the status server starts there); what it returns is closed at the end."""
    if end <= start:
        raise ConfigError(f"--end {end} is not after --start {start}")
    if speed is not None and speed <= 0:
        raise ConfigError(f"--speed {speed}: a positive factor of real time")
    trigger = candle_trigger(settings)
    clock = SimClock(start) if clock is None else clock
    out = Replay(name or settings.live.name, start, end)
    with open_node(
        settings,
        source="replay",
        clock=clock,
        start=start,
        end=end,
        name=name,
        reset=reset,
        venue=venue,
    ) as node, _attached(on_open, node):
        # The close of the first candle the node has not read (after a restart: the one
        # after its saved clock); its fire is the first tick.
        unread = node.market.end_ns + node.tf.nanoseconds
        begin = max(start, pd.Timestamp(unread, tz="UTC"))
        out.safe = node.safe
        so_far = node.equity()
        if so_far == so_far:  # a node that goes on (not NaN): its equity so far
            out.equity = so_far
        fire = trigger.get_next_fire_time(None, begin.to_pydatetime())
        # Every candle closing in [start, end] is read, by the fire just after its close.
        last = end + pd.Timedelta(seconds=settings.live.candle_delay)
        while fire is not None and pd.Timestamp(fire) <= last:
            at = pd.Timestamp(fire)
            clock.set(at)
            started = time.perf_counter()
            tick = node.tick(at)
            out.ticks += 1
            out.candles += tick.candles
            out.decided += tick.decided
            out.equity = tick.equity
            out.tick_seconds.append(tick.seconds)
            out.safe = tick.safe
            for pair in tick.stale:
                out.stale.setdefault(pair, at.isoformat())
            if tick.agents is not None:
                out.agents_equity = tick.agents["equity"]
                out.agents_run_id = tick.agents["run_id"]
            if on_tick is not None:
                on_tick(tick)
            fire = trigger.get_next_fire_time(fire, fire)
            if speed is not None and fire is not None:
                wait = (pd.Timestamp(fire) - at).total_seconds() / speed
                time.sleep(max(0.0, wait - (time.perf_counter() - started)))
        out.run_id = node.run_id
        if isinstance(node, EnsembleNode):
            out.member_run_ids = node.run_ids
    return out


@contextmanager
def _attached(on_open: Callable[[Any], Any] | None, node: Any) -> Iterator[None]:
    """``on_open(node)`` for the node's life: what it returns is closed after the node's
    last tick (a status server stops before the node closes its book)."""
    attached = on_open(node) if on_open is not None else None
    try:
        yield
    finally:
        if attached is not None:
            attached.close()


def update_candles(settings: Settings) -> None:
    """The candle job's download: what ``tradewind data update`` fetches, into the store
    the node reads (only what is missing: the candles after the last stored one)."""
    from tradewind.data.sources.download import sync_candles
    from tradewind.data.store import CandleStore

    sync_candles(
        CandleStore(settings.data_dir, settings.data.exchange),
        Timeframe.parse(settings.data.timeframe),
        exchange_cfg=settings.exchange,
        download_cfg=settings.download,
        pairs=list(settings.data.pairs) or None,
        top=None,
        quote="USDT",
        since=None,
        mode="update",
        concurrency=None,
    )


def run_paper(
    settings: Settings,
    *,
    name: str | None = None,
    reset: bool = False,
    on_tick: Callable[[Tick], None] | None = None,
    update: Callable[[], None] | None = None,
    venue: CcxtVenue | None = None,
    on_open: Callable[[Any], Any] | None = None,
) -> None:
    """The node on the wall clock until interrupted: at each fire of the candle job,
    ``update`` (the candle download) and then a tick. With ``venue`` the node is live: its
    orders go to that exchange (past the ``--live`` gate only). ``live.retrain`` retrains
    the models beside the ticks."""
    source = "paper" if venue is None else "live"
    with (
        open_node(
            settings, source=source, clock=WallClock(), name=name, reset=reset, venue=venue
        ) as node,
        _attached(on_open, node),
    ):

        def job() -> None:
            if update is not None:
                update()
            tick = node.tick()
            if on_tick is not None:
                on_tick(tick)

        def retraining() -> None:
            try:
                report = retrain(settings, node.clock.now())
            except Exception:  # a failed retraining leaves the models in use, and the node up
                log.exception("node %s: retraining failed; the models in use stay", node.name)
                return
            promoted = [m["id"] for m in report["models"] if m["promoted"]]
            log.info("node %s: retrained; promoted %s", node.name, ", ".join(promoted) or "none")

        def reconciling() -> None:
            node.reconcile()

        job()  # catch up at once: the candles closed while the node was down
        scheduler = node_scheduler(
            settings, job, retraining, reconciling if venue is not None else None
        )
        try:
            scheduler.start()
        except (KeyboardInterrupt, SystemExit):
            pass
