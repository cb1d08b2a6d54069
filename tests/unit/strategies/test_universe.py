from __future__ import annotations

import numpy as np
import pytest

from tradewind.data.panel import Panel
from tradewind.domain.types import Timeframe
from tradewind.errors import ConfigError
from tradewind.strategies.universe import top_by_quote_volume


def panel(volumes: np.ndarray, mask: np.ndarray | None = None) -> Panel:
    n, p = volumes.shape
    values = np.ones((n, p, 5))
    values[:, :, 4] = volumes
    values[:, :, 3] = 2.0  # close
    m = np.ones((n, p), dtype=bool) if mask is None else mask
    stamps = np.arange(n, dtype=np.int64) * 3_600_000_000_000
    return Panel(
        Timeframe.parse("1h"),
        stamps,
        tuple(f"P{i}" for i in range(p)),
        ("open", "high", "low", "close", "volume"),
        values,
        m,
    )


def test_top_pairs_by_one_day_quote_volume_up_to_t() -> None:
    v = np.ones((48, 4))
    v[:, 2] = 5.0
    v[30:, 0] = 100.0  # pair 0 becomes the most traded from row 30
    p = panel(v)
    assert top_by_quote_volume(p, 23, 2).tolist() == [2, 0]  # ties keep pair order
    assert top_by_quote_volume(p, 40, 2).tolist() == [0, 2]
    # the volume spike after t is invisible at t
    assert top_by_quote_volume(p, 29, 1).tolist() == [2]


def test_pairs_without_a_candle_at_t_are_not_selected() -> None:
    v = np.ones((24, 3))
    v[:, 1] = 50.0
    mask = np.ones((24, 3), dtype=bool)
    mask[23, 1] = False
    assert 1 not in top_by_quote_volume(panel(v, mask), 23, 3).tolist()


def test_bad_selection_parameters() -> None:
    with pytest.raises(ConfigError):
        top_by_quote_volume(panel(np.ones((5, 2))), 3, 0)
    with pytest.raises(ConfigError, match="whole number of 1h"):
        top_by_quote_volume(panel(np.ones((5, 2))), 3, 1, lookback="90m")
