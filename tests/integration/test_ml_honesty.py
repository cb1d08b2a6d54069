"""Honesty checks of the whole ML pipeline (features → lifecycle labels → protocol).

A planted signal must be found; a market where nothing is predictable must yield nothing.
The second is the leak detector: any look-ahead in features, labels or splits shows up as
an edge on a random walk.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradewind.config import load_config
from tradewind.data.panel import DEFAULT_FIELDS, Panel
from tradewind.data.synthetic import generate_market, random_walk_frames
from tradewind.domain.types import Timeframe, duration_bars
from tradewind.engine.params import lifecycle_params
from tradewind.features.compute import compute_features
from tradewind.ml.datasets import cycle_dataset
from tradewind.ml.train import train_classifier
from tradewind.ml.walkforward import oos_summary, walk_forward_predictions

pytestmark = pytest.mark.slow


def _panel(frames: dict[str, pd.DataFrame], tf: str) -> Panel:
    names = sorted(frames)
    step = Timeframe.parse(tf).nanoseconds
    first = min(int(f["timestamp"].iloc[0].value) for f in frames.values())
    last = max(int(f["timestamp"].iloc[-1].value) for f in frames.values())
    n = (last - first) // step + 1
    values = np.full((n, len(names), 5), np.nan)
    mask = np.zeros((n, len(names)), bool)
    for p, name in enumerate(names):
        f = frames[name]
        rows = (f["timestamp"].to_numpy(dtype="datetime64[ns]").view("int64") - first) // step
        values[rows, p] = f[list(DEFAULT_FIELDS)].to_numpy()
        mask[rows, p] = True
    grid = first + step * np.arange(n, dtype=np.int64)
    return Panel(Timeframe.parse(tf), grid, tuple(names), DEFAULT_FIELDS, values, mask)


def _dataset(panel: Panel):  # type: ignore[no-untyped-def]
    settings = load_config(environ={})
    params = lifecycle_params(settings.lifecycle, settings.fills, panel.timeframe)
    features = compute_features(panel)
    return settings, cycle_dataset(panel, features, params, cycle=settings.cycle, horizon="1d")


def _train(settings, data, tf: Timeframe):  # type: ignore[no-untyped-def]
    return train_classifier(
        data,
        settings.ml,
        embargo_rows=duration_bars("1d", tf, "embargo"),
        half_life_rows=None,
        seed=0,
    )


def test_a_planted_signal_is_found_out_of_sample() -> None:
    market = generate_market(
        pairs=20,
        timeframe="15m",
        days=240,
        seed=42,
        signal=1.0,
        event_rate=0.25,
        regime_dependent=True,
    )
    panel = _panel(market.frames, "15m")
    settings, data = _dataset(panel)
    result = _train(settings, data, panel.timeframe)
    test = result.metrics["test"]
    assert test["roc_auc"] > 0.6, result.verdict
    assert result.beats_baseline, result.verdict
    assert test["expectancy_accepted"] > test["expectancy_all"]


def test_a_random_walk_yields_no_edge_in_sample_split_or_walk_forward() -> None:
    panel = _panel(random_walk_frames(pairs=20, timeframe="15m", days=240, seed=7), "15m")
    settings, data = _dataset(panel)
    result = _train(settings, data, panel.timeframe)
    test = result.metrics["test"]
    assert abs(test["roc_auc"] - 0.5) < 3 * test["roc_auc_se"], result.verdict
    assert not result.beats_baseline
    # Walk-forward: the stitched out-of-sample decisions carry no edge either.
    wf = walk_forward_predictions(data, settings, panel, train="90d", test="30d")
    oos = oos_summary(data, wf)
    assert oos["rows"] > 1000
    assert abs(oos["roc_auc"] - 0.5) < 3 * oos["roc_auc_se"]
    scored = wf.scored()
    value = data.value[scored]
    se = value.std(ddof=1) / np.sqrt(max(oos["accepted"], 1))
    assert oos["expectancy_accepted"] - oos["expectancy_all"] < 3 * se
