"""The node's jobs: the candle job and the retraining, both coalescing in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tradewind.config import load_config
from tradewind.errors import ConfigError
from tradewind.live.schedule import node_scheduler, retrain_trigger


def _next(spec: str, after: datetime) -> datetime:
    trigger = retrain_trigger(spec)
    assert trigger is not None
    fire: datetime = trigger.get_next_fire_time(None, after)
    return fire


def test_the_retraining_runs_when_live_retrain_says() -> None:
    wednesday = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    assert _next("weekly", wednesday) == datetime(2026, 12, 7, 3, 0, tzinfo=UTC)  # Monday
    assert _next("daily", wednesday) == datetime(2026, 12, 3, 3, 0, tzinfo=UTC)
    assert _next("30 1 * * sun", wednesday) == datetime(2026, 12, 6, 1, 30, tzinfo=UTC)
    assert retrain_trigger("off") is None
    with pytest.raises(ConfigError, match="not a crontab"):
        retrain_trigger("0 3 * * funday")


def test_a_bad_retraining_schedule_is_refused_when_the_config_loads() -> None:
    with pytest.raises(ConfigError, match="fortnightly.*five-field crontab"):
        load_config(environ={"TRADEWIND__LIVE__RETRAIN": "fortnightly"})


@pytest.mark.parametrize("spec", ["weekly", "off"])
def test_the_node_schedules_its_jobs_to_run_once_after_a_sleep(spec: str) -> None:
    settings = load_config(environ={"TRADEWIND__LIVE__RETRAIN": spec})
    scheduler = node_scheduler(settings, lambda: None, lambda: None)
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == ({"candles", "retrain"} if spec == "weekly" else {"candles"})
    for job in jobs.values():
        # A run missed while the machine slept runs once on wake-up, never twice, however
        # long the sleep; a job never overlaps itself.
        assert job.coalesce is True
        assert job.misfire_grace_time is None
        assert job.max_instances == 1
    noon = datetime(2026, 12, 2, 12, 1, tzinfo=UTC)
    fire = jobs["candles"].trigger.get_next_fire_time(None, noon)
    assert fire == datetime(2026, 12, 2, 12, 5, 10, tzinfo=UTC)  # 5m candles, 10 s after close


def test_a_live_node_also_reconciles_between_ticks() -> None:
    settings = load_config(environ={"TRADEWIND__LIVE__RECONCILE_EVERY": "120"})
    scheduler = node_scheduler(settings, lambda: None, lambda: None, lambda: None)
    job = {j.id: j for j in scheduler.get_jobs()}["reconcile"]
    assert job.coalesce is True
    assert job.max_instances == 1
    noon = datetime(2026, 12, 2, 12, 0, 30, tzinfo=UTC)
    first = job.trigger.get_next_fire_time(None, noon)
    assert job.trigger.get_next_fire_time(first, first) - first == timedelta(seconds=120)
