"""The node's jobs on the wall clock (APScheduler, UTC): the candle job every timeframe
just after each close, and the retraining on ``live.retrain``.

Every job coalesces: a run missed while the machine slept runs once on wake-up, never
twice, however long the sleep (no grace limit).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from tradewind.config import Settings
from tradewind.domain.types import Timeframe
from tradewind.errors import ConfigError

__all__ = ["candle_trigger", "node_scheduler", "retrain", "retrain_trigger"]

#: What the names of ``live.retrain`` mean, as crontabs in UTC.
RETRAIN = {"weekly": "0 3 * * mon", "daily": "0 3 * * *"}


def candle_trigger(settings: Settings) -> Any:
    """The candle job's trigger: every timeframe on the UTC grid, ``candle_delay`` seconds
    after each close."""
    from apscheduler.triggers.interval import IntervalTrigger

    tf = Timeframe.parse(settings.data.timeframe)
    start = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=settings.live.candle_delay)
    return IntervalTrigger(seconds=tf.seconds, start_date=start, timezone=UTC)


def retrain_trigger(spec: str) -> Any | None:
    """The trigger of ``live.retrain`` (None for ``off``)."""
    from apscheduler.triggers.cron import CronTrigger

    if spec == "off":
        return None
    try:
        return CronTrigger.from_crontab(RETRAIN.get(spec, spec), timezone=UTC)
    except ValueError as exc:
        raise ConfigError(f"live.retrain = {spec!r}: not a crontab ({exc})") from None


def retrain(settings: Settings, until: pd.Timestamp) -> dict[str, Any]:
    """``tradewind train`` on the candles stored up to ``until``: every model of the
    configuration trained and registered, promoted only when it beats its baseline out of
    sample. Returns the training report."""
    from tradewind.backtest.run import load_backtest_panel
    from tradewind.ml.pipeline import train_all

    period = settings.backtest.model_copy(update={"start": None, "end": until.isoformat()})
    panel = load_backtest_panel(settings.model_copy(update={"backtest": period}))
    return train_all(settings, panel).to_dict()


def node_scheduler(
    settings: Settings,
    candles: Callable[[], None],
    retraining: Callable[[], None],
    reconciling: Callable[[], None] | None = None,
) -> Any:
    """A blocking scheduler with the node's jobs (not started). Each job runs one at a
    time (a tick never overlaps the previous one); a retraining runs beside the ticks, on
    its own thread, so positions are still managed on time while it trains. It touches
    no state of the node's: it reads candles and writes the model registry, whose
    promoted models the node loads at its next decision. ``reconciling`` (live) runs
    every ``live.reconcile_every`` seconds between ticks; the node serialises it with
    its ticks."""
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.schedulers.blocking import BlockingScheduler

    scheduler = BlockingScheduler(
        timezone=UTC, executors={"default": ThreadPoolExecutor(max_workers=2)}
    )
    common = {"coalesce": True, "max_instances": 1, "misfire_grace_time": None}
    scheduler.add_job(candles, candle_trigger(settings), id="candles", **common)
    trigger = retrain_trigger(settings.live.retrain)
    if trigger is not None:
        scheduler.add_job(retraining, trigger, id="retrain", **common)
    if reconciling is not None:
        from apscheduler.triggers.interval import IntervalTrigger

        every = IntervalTrigger(seconds=settings.live.reconcile_every, timezone=UTC)
        scheduler.add_job(reconciling, every, id="reconcile", **common)
    return scheduler
