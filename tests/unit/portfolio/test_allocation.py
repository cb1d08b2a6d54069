from __future__ import annotations

import math

import pytest

from tradewind.errors import ConfigError
from tradewind.portfolio.allocation import allocate


def test_shares_follow_expectancy_above_a_floor_and_sum_to_the_capital() -> None:
    shares = allocate(1000.0, {"a": 0.03, "b": 0.01, "c": -0.02}, floor=0.3)
    assert sum(shares.values()) == pytest.approx(1000.0)
    assert shares["c"] == pytest.approx(100.0)  # only its floor
    assert shares["a"] == pytest.approx(100.0 + 700.0 * 0.75)
    assert shares["b"] == pytest.approx(100.0 + 700.0 * 0.25)


def test_cold_agents_without_any_edge_split_equally() -> None:
    shares = allocate(900.0, {"a": math.nan, "b": -0.1, "c": 0.0})
    assert shares == pytest.approx({"a": 300.0, "b": 300.0, "c": 300.0})
    assert allocate(100.0, {}) == {}


def test_bad_floor() -> None:
    with pytest.raises(ConfigError):
        allocate(1.0, {"a": 0.1}, floor=1.5)
