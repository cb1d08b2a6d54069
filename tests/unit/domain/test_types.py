from __future__ import annotations

import pandas as pd
import pytest

from tests.conftest import make_candles
from tradewind.data.resample import resample
from tradewind.data.schema import find_problems
from tradewind.domain.types import Timeframe, normalize_symbol, parse_utc
from tradewind.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "seconds"), [("1m", 60), ("5m", 300), ("4h", 14400), ("1d", 86400), ("1w", 604800)]
)
def test_timeframes_parse(text: str, seconds: int) -> None:
    assert Timeframe.parse(text).seconds == seconds


@pytest.mark.parametrize("text", ["7m", "1M", "", "5 m", "0h", "h1"])
def test_unknown_timeframes_are_config_errors_listing_the_choices(text: str) -> None:
    with pytest.raises(ConfigError, match="use one of 1m"):
        Timeframe.parse(text)


def test_weekly_candles_open_on_mondays_like_binance() -> None:
    week = Timeframe.parse("1w")
    thursday = pd.Timestamp("2024-01-04 12:00", tz="UTC")
    assert pd.Timestamp(week.floor_ns(thursday.value), tz="UTC") == pd.Timestamp(
        "2024-01-01", tz="UTC"
    )
    assert pd.Timestamp(week.ceil_ns(thursday.value), tz="UTC") == pd.Timestamp(
        "2024-01-08", tz="UTC"
    )
    daily = make_candles(28, timeframe_s=86400, start="2024-01-01")  # a Monday
    weekly = resample(daily, "1d", "1w")
    assert list(weekly["timestamp"].dt.day_of_week) == [0, 0, 0, 0]
    assert find_problems(weekly, week) == []
    thursdays = weekly.assign(timestamp=weekly["timestamp"] + pd.Timedelta(days=3))
    assert {p.rule for p in find_problems(thursdays, week)} == {"aligned"}


def test_symbols_normalise_to_exchange_ids() -> None:
    assert normalize_symbol("btc/usdt") == "BTCUSDT"
    with pytest.raises(ConfigError):
        normalize_symbol("BTC USDT!")


def test_naive_times_are_utc() -> None:
    assert parse_utc("2024-01-01") == pd.Timestamp("2024-01-01", tz="UTC")
    assert parse_utc("2024-01-01T02:00+02:00") == pd.Timestamp("2024-01-01", tz="UTC")
    with pytest.raises(ConfigError, match="invalid date"):
        parse_utc("yesterday-ish")
