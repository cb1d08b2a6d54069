"""Nominators: hand-checked rankings, filters, no look-ahead, the random null model."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pytest

from tradewind.data.panel import Panel
from tradewind.domain.types import Timeframe
from tradewind.errors import ConfigError
from tradewind.strategies.nominators import (
    MomentumNominator,
    Nominator,
    RandomNominator,
    duration_bars,
    make_nominator,
)

FIELDS = ("open", "high", "low", "close", "volume")
T0 = np.int64(1_704_067_200_000_000_000)  # 2024-01-01 00:00 UTC


def make_panel(
    close: np.ndarray,
    volume: np.ndarray | None = None,
    mask: np.ndarray | None = None,
    timeframe: str = "1h",
    quote_volume: np.ndarray | None = None,
) -> Panel:
    """A panel from (T, P) closes; open = high = low = close, NaN where masked out."""
    close = np.asarray(close, dtype=np.float64)
    n_t, n_p = close.shape
    volume = np.ones_like(close) if volume is None else np.asarray(volume, dtype=np.float64)
    mask = np.ones((n_t, n_p), dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    columns = [close, close, close, close, volume]
    fields: tuple[str, ...] = FIELDS
    if quote_volume is not None:
        columns.append(np.asarray(quote_volume, dtype=np.float64))
        fields = (*FIELDS, "quote_volume")
    values = np.stack(columns, axis=2)
    values[~mask] = np.nan
    tf = Timeframe.parse(timeframe)
    return Panel(
        timeframe=tf,
        timestamps=T0 + tf.nanoseconds * np.arange(n_t, dtype=np.int64),
        symbols=tuple(f"P{i}USDT" for i in range(n_p)),
        fields=fields,
        values=values,
        mask=mask,
    )


def truncate(panel: Panel, t: int) -> Panel:
    """The panel as it was known at the close of row ``t`` (rows ``0..t``)."""
    return replace(
        panel,
        timestamps=panel.timestamps[: t + 1].copy(),
        values=panel.values[: t + 1].copy(),
        mask=panel.mask[: t + 1].copy(),
    )


def poison_future(panel: Panel, t: int, seed: int) -> Panel:
    """Rows after ``t`` replaced by NaN / huge / tiny values, all marked present."""
    rng = np.random.default_rng(seed)
    values = panel.values.copy()
    junk = rng.choice(np.array([np.nan, 1e300, -1e300, 1e-300, 0.0]), size=values[t + 1 :].shape)
    values[t + 1 :] = junk
    mask = panel.mask.copy()
    mask[t + 1 :] = True
    return replace(panel, values=values, mask=mask)


def random_panel(seed: int, n_t: int = 300, n_p: int = 12) -> Panel:
    rng = np.random.default_rng(seed)
    close = 10.0 * np.exp(np.cumsum(rng.normal(0, 0.02, (n_t, n_p)), axis=0))
    volume = rng.lognormal(3, 1, (n_t, n_p))
    mask = rng.random((n_t, n_p)) > 0.1
    mask[:, 0] &= np.arange(n_t) > n_t // 3  # a late listing
    return make_panel(close, volume, mask)


def mom(**kw: object) -> MomentumNominator:
    params: dict[str, object] = {"lookback": "2h", "volume_lookback": "3h", "top_n": 10}
    params.update(kw)
    return MomentumNominator(**params)  # type: ignore[arg-type]


RNG = np.random.default_rng(0)


# --- momentum: hand-built panels -------------------------------------------------------


def test_momentum_ranks_by_lookback_return() -> None:
    # returns over 2 bars at t=3: P0 +10%, P1 +50%, P2 +20%, P3 -10%
    close = np.array(
        [
            [1.0, 1.0, 1.0, 1.0],
            [100.0, 100.0, 100.0, 100.0],
            [100.0, 100.0, 100.0, 100.0],
            [110.0, 150.0, 120.0, 90.0],
        ]
    )
    out = mom().nominate(make_panel(close, 1.0 / close), 3, RNG)  # equal quote volume
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, [1, 2, 0])  # P3 lost: not above min_return=0


def test_momentum_min_return_and_top_n() -> None:
    close = np.array([[1.0] * 4, [100.0] * 4, [100.0] * 4, [110.0, 150.0, 120.0, 90.0]])
    panel = make_panel(close, 1.0 / close)  # every pair trades 1 USDT a bar: all liquid
    np.testing.assert_array_equal(mom(min_return=0.15).nominate(panel, 3, RNG), [1, 2])
    np.testing.assert_array_equal(mom(min_return=-0.5).nominate(panel, 3, RNG), [1, 2, 0, 3])
    np.testing.assert_array_equal(mom(top_n=2).nominate(panel, 3, RNG), [1, 2])
    np.testing.assert_array_equal(mom(min_return=0.6).nominate(panel, 3, RNG), [])


def test_momentum_volume_filter_keeps_pairs_at_or_above_the_median() -> None:
    close = np.array([[100.0] * 4, [100.0] * 4, [100.0] * 4, [150.0, 140.0, 130.0, 120.0]])
    # quote volume over the 3 bars ending at t=3 (close * volume):
    # P0 thin, P1 thin, P2 and P3 liquid → median sits between; P0 and P1 are cut.
    volume = np.array([[1.0, 2.0, 50.0, 60.0]] * 4)
    out = mom().nominate(make_panel(close, volume), 3, RNG)
    np.testing.assert_array_equal(out, [2, 3])
    # the oldest row (t=0) is outside the 3-bar volume window: a spike there is ignored
    volume[0, 0] = 1e9
    np.testing.assert_array_equal(mom().nominate(make_panel(close, volume), 3, RNG), [2, 3])
    # inside the window it counts — and, the floor being relative, lifts the median past P2
    volume[1, 0] = 1e9
    np.testing.assert_array_equal(mom().nominate(make_panel(close, volume), 3, RNG), [0, 3])


def test_momentum_uses_quote_volume_field_when_present() -> None:
    close = np.array([[100.0] * 3] * 3 + [[150.0, 140.0, 130.0]])
    volume = np.array([[1.0, 1.0, 100.0]] * 4)  # close*volume would favour P2
    quote = np.array([[1000.0, 1.0, 0.5]] * 4)  # but the exchange's quote volume favours P0
    out = mom().nominate(make_panel(close, volume, quote_volume=quote), 3, RNG)
    np.testing.assert_array_equal(out, [0, 1])  # 3000, 3, 1.5: median 3 (close*volume: [0, 2])
    quote[:, 0] = np.nan  # missing quote volume falls back to close * volume (350), not 0
    out = mom().nominate(make_panel(close, volume, quote_volume=quote), 3, RNG)
    np.testing.assert_array_equal(out, [0, 1])


def test_momentum_excludes_missing_candle_at_t_and_short_history() -> None:
    close = np.array([[100.0] * 4, [100.0] * 4, [100.0] * 4, [150.0, 140.0, 130.0, 120.0]])
    mask = np.ones_like(close, dtype=bool)
    mask[3, 0] = False  # P0: no candle at t
    mask[:2, 1] = False  # P1: listed at row 2, no close at t - 2
    mask[1, 2] = False  # P2: no candle exactly at t - lookback
    out = mom(min_return=-1.0).nominate(make_panel(close, mask=mask), 3, RNG)
    np.testing.assert_array_equal(out, [3])


def test_momentum_nominates_nothing_before_warmup() -> None:
    close = np.linspace(1.0, 2.0, 20)[:, None] * np.ones((1, 3))
    nom = mom(lookback="2h", volume_lookback="6h")
    assert nom.warmup_bars("1h") == 5
    panel = make_panel(close)
    for t in range(5):
        assert nom.nominate(panel, t, RNG).size == 0
    assert nom.nominate(panel, 5, RNG).size == 3


def test_nominate_rejects_rows_outside_the_panel() -> None:
    panel = make_panel(np.ones((5, 2)))
    for nom in (mom(), RandomNominator()):
        with pytest.raises(IndexError, match="outside"):
            nom.nominate(panel, -1, RNG)  # would wrap around to the last row
        with pytest.raises(IndexError, match="outside"):
            nom.nominate(panel, 5, RNG)


# --- durations and warm-up ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tf", "bars"),
    [("24h", "1h", 24), ("7d", "1h", 168), ("90m", "15m", 6), ("90m", "5m", 18), ("1w", "1d", 7)],
)
def test_duration_bars(text: str, tf: str, bars: int) -> None:
    assert duration_bars(text, tf) == bars


@pytest.mark.parametrize(
    ("text", "tf", "match"),
    [
        ("90m", "1h", "not a whole number of 1h bars.*'1h' or '2h'"),
        ("30m", "1h", "not a whole number"),
        ("24", "1h", "not a duration"),
        ("0h", "1h", "not a duration"),
        ("1.5h", "1h", "not a duration"),
        ("-2h", "1h", "not a duration"),
    ],
)
def test_duration_bars_errors(text: str, tf: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        duration_bars(text, tf)


def test_warmup_bars() -> None:
    assert MomentumNominator().warmup_bars("1h") == 167  # 7d volume window ending at t
    assert MomentumNominator().warmup_bars(Timeframe.parse("5m")) == 7 * 288 - 1
    assert MomentumNominator(lookback="7d", volume_lookback="1d").warmup_bars("1h") == 168
    assert MomentumNominator().warmup_bars("1d") == 6
    assert RandomNominator().warmup_bars("1h") == 0
    with pytest.raises(ConfigError, match="lookback = '90m'"):
        MomentumNominator(lookback="90m").warmup_bars("1h")


# --- no look-ahead -------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("kind", ["momentum", "random"])
def test_no_look_ahead(seed: int, kind: str) -> None:
    panel = random_panel(seed)
    nom = make_nominator(
        kind,
        **({"lookback": "12h", "volume_lookback": "2d"} if kind == "momentum" else {}),
        top_n=5,
    )
    picks = 0
    for t in np.random.default_rng(seed).integers(0, 300, 12).tolist() + [47, 48, 299]:
        full = nom.nominate(panel, t, np.random.default_rng(t))
        cut = nom.nominate(truncate(panel, t), t, np.random.default_rng(t))
        junk = nom.nominate(poison_future(panel, t, seed), t, np.random.default_rng(t))
        np.testing.assert_array_equal(full, cut)
        np.testing.assert_array_equal(full, junk)
        assert len(set(full.tolist())) == full.size
        assert panel.mask[t, full].all()
        picks += full.size
    assert picks > 0  # the check is not vacuous


# --- random null model ---------------------------------------------------------------------


def test_random_is_deterministic_per_seed_and_only_picks_present_pairs() -> None:
    mask = np.ones((3, 40), dtype=bool)
    mask[2, ::3] = False
    panel = make_panel(np.ones((3, 40)), mask=mask)
    nom = RandomNominator(top_n=10)
    a = nom.nominate(panel, 2, np.random.default_rng(7))
    b = nom.nominate(panel, 2, np.random.default_rng(7))
    c = nom.nominate(panel, 2, np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.dtype == np.int64
    assert a.size == 10
    assert len(set(a.tolist())) == 10
    assert mask[2, a].all()
    everything = RandomNominator(top_n=100).nominate(panel, 2, np.random.default_rng(1))
    assert sorted(everything.tolist()) == np.flatnonzero(mask[2]).tolist()
    assert (
        RandomNominator().nominate(make_panel(np.ones((1, 3)), mask=np.zeros((1, 3))), 0, RNG).size
        == 0
    )


def test_random_is_roughly_uniform() -> None:
    mask = np.ones((1, 6), dtype=bool)
    mask[0, 4] = False
    panel = make_panel(np.ones((1, 6)), mask=mask)
    nom = RandomNominator(top_n=2)
    rng = np.random.default_rng(123)
    first = np.zeros(6)
    chosen = np.zeros(6)
    draws = 5000
    for _ in range(draws):
        out = nom.nominate(panel, 0, rng)
        first[out[0]] += 1
        chosen[out] += 1
    assert first[4] == chosen[4] == 0
    live = np.flatnonzero(mask[0])
    for counts, expected in ((first[live], draws / 5), (chosen[live], 2 * draws / 5)):
        chi2 = float(((counts - expected) ** 2 / expected).sum())
        assert chi2 < 25.0  # 4 degrees of freedom: p ≈ 5e-5


# --- factory and protocol ----------------------------------------------------------------


def test_make_nominator_builds_both() -> None:
    m = make_nominator("momentum", lookback="12h", top_n=3)
    assert isinstance(m, MomentumNominator)
    assert (m.lookback, m.top_n, m.name) == ("12h", 3, "momentum")
    r = make_nominator(" Random ", top_n=4)
    assert isinstance(r, RandomNominator)
    assert r.name == "random"
    assert isinstance(m, Nominator)
    assert isinstance(r, Nominator)


@pytest.mark.parametrize(
    ("name", "params", "match"),
    [
        ("momentun", {}, r"unknown nominator 'momentun': did you mean 'momentum'\?"),
        ("xyz", {}, r"unknown nominator 'xyz': \(allowed: momentum, random\)"),
        ("momentum", {"lookbak": "1h"}, r"unknown parameter 'lookbak'.*did you mean 'lookback'"),
        ("momentum", {"name": "x"}, r"unknown parameter 'name'.*allowed: lookback, volume_look"),
        ("random", {"top": 3}, r"did you mean 'top_n'\? \(allowed: top_n\)"),
        ("random", {"top_n": 0}, "top_n = 0 must be"),
        ("momentum", {"top_n": True}, "top_n = True must be"),
        ("momentum", {"min_return": float("nan")}, "min_return = nan must be a finite"),
        ("momentum", {"lookback": 24}, "lookback = 24 is not a duration"),
        ("momentum", {"volume_lookback": "week"}, "volume_lookback = 'week'"),
    ],
)
def test_make_nominator_errors(name: str, params: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        make_nominator(name, **params)


def test_momentum_is_fast_on_a_realistic_panel() -> None:
    rng = np.random.default_rng(0)
    n_t, n_p = 6000, 124
    close = 10.0 * np.exp(np.cumsum(rng.normal(0, 0.01, (n_t, n_p)), axis=0))
    panel = make_panel(close, rng.lognormal(3, 1, (n_t, n_p)), rng.random((n_t, n_p)) > 0.02)
    nom = MomentumNominator()
    ts = list(range(200, n_t, 24))
    start = time.perf_counter()
    for t in ts:
        nom.nominate(panel, t, rng)
    per_call = (time.perf_counter() - start) / len(ts)
    assert per_call < 0.02  # typically ~0.1 ms; a generous bound that catches a loop over bars
