"""Panels resample like each pair's candles do, minus the partial buckets at the ends."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.conftest import make_candles
from tradewind.data.panel import DEFAULT_FIELDS, Panel, resample_panel
from tradewind.data.resample import resample
from tradewind.domain.types import Timeframe
from tradewind.errors import ConfigError


def _panel(frames: list[pd.DataFrame], tf: str) -> Panel:
    step = Timeframe.parse(tf).nanoseconds
    stamps = [f["timestamp"].to_numpy(dtype="datetime64[ns]").view("int64") for f in frames]
    first = min(int(s[0]) for s in stamps)
    last = max(int(s[-1]) for s in stamps)
    n_t = (last - first) // step + 1
    values = np.full((n_t, len(frames), 5), np.nan)
    mask = np.zeros((n_t, len(frames)), bool)
    for p, (f, s) in enumerate(zip(frames, stamps, strict=True)):
        rows = (s - first) // step
        values[rows, p] = f[list(DEFAULT_FIELDS)].to_numpy()
        mask[rows, p] = True
    grid = first + step * np.arange(n_t, dtype=np.int64)
    names = tuple(f"P{i}" for i in range(len(frames)))
    return Panel(Timeframe.parse(tf), grid, names, DEFAULT_FIELDS, values, mask)


@pytest.mark.parametrize("target", ["4h", "1d", "1w"])
def test_matches_per_pair_resampling_inside_the_grid(target: str) -> None:
    a = make_candles(24 * 30 + 7, 3600, start="2024-01-01 05:00", seed=1)
    b = make_candles(24 * 20, 3600, start="2024-01-03 00:00", seed=2)
    b = b.drop(index=list(range(40, 70)) + [100, 101, 250]).reset_index(drop=True)  # gaps
    panel = _panel([a, b], "1h")
    out = resample_panel(panel, target)
    tgt = Timeframe.parse(target)
    assert out.timeframe == tgt
    assert (np.diff(out.timestamps) == tgt.nanoseconds).all()
    # Whole buckets only: the first opens at or after the panel's first candle, the last
    # closes at or before the panel's last candle closes.
    assert out.timestamps[0] >= panel.timestamps[0]
    assert out.timestamps[-1] + tgt.nanoseconds <= panel.timestamps[-1] + 3_600_000_000_000
    for p, frame in enumerate([a, b]):
        want = resample(frame, "1h", target).set_index("timestamp")
        got = pd.DataFrame(out.values[:, p, :], columns=list(DEFAULT_FIELDS), index=out.index)
        got = got.loc[out.mask[:, p]]
        common = got.index.intersection(want.index)
        assert len(common) >= len(got) - 1  # pair b may end inside a bucket pair a completes
        inner = common[1:-1] if len(common) > 2 else common
        pd.testing.assert_frame_equal(
            got.loc[inner],
            want.loc[inner, list(DEFAULT_FIELDS)],
            check_freq=False,
            check_names=False,
        )


def test_bucket_without_candles_is_missing_and_same_timeframe_is_identity() -> None:
    a = make_candles(24 * 4, 3600, start="2024-01-01", seed=3)
    a = a.drop(index=range(24, 48)).reset_index(drop=True)  # the whole of 2 January
    panel = _panel([a], "1h")
    day = resample_panel(panel, "1d")
    assert day.mask[:, 0].tolist() == [True, False, True, True]
    assert np.isnan(day.values[1, 0]).all()
    assert resample_panel(panel, "1h") is panel


def test_refuses_a_timeframe_that_does_not_tile() -> None:
    panel = _panel([make_candles(100, 3600, seed=4)], "1h")
    with pytest.raises(ConfigError, match="not a whole multiple"):
        resample_panel(panel, "30m")


@pytest.mark.parametrize(("via", "target"), [("4h", "1d"), ("1d", "1w"), ("2h", "4h")])
def test_high_low_close_resampled_in_two_steps_equal_one(via: str, target: str) -> None:
    """The agents resample their longest timeframe from a shorter one already made: for
    high, low and close on aligned buckets, with gaps and odd ends, that is exact."""
    a = make_candles(24 * 40 + 7, 3600, start="2024-01-01 05:00", seed=5)
    b = make_candles(24 * 25, 3600, start="2024-01-03 03:00", seed=6)
    b = b.drop(index=list(range(40, 90)) + [100, 101, 250]).reset_index(drop=True)
    panel = _panel([a, b], "1h")
    hlc = ("high", "low", "close")
    direct = resample_panel(panel, target, hlc)
    chained = resample_panel(resample_panel(panel, via, hlc), target, hlc)
    assert direct.fields == chained.fields == hlc
    np.testing.assert_array_equal(chained.timestamps, direct.timestamps)
    np.testing.assert_array_equal(chained.mask, direct.mask)
    np.testing.assert_array_equal(chained.values, direct.values)
    full = resample_panel(panel, target)  # every field, for comparison
    np.testing.assert_array_equal(direct.values, full.values[:, :, [1, 2, 3]])
    with pytest.raises(ConfigError, match="no field"):
        resample_panel(panel, target, ("high", "spread"))
