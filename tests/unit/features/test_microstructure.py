"""Spread and liquidity features: the published estimators by hand, scale, causality."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from tests.conftest import make_candles
from tradewind.features.base import GROUPS, Candles
from tradewind.features.microstructure import (
    AMIHUD_SCALE,
    MicrostructureBlock,
    abdi_ranaldo,
    corwin_schultz,
    rolling_stats,
)

BLOCK = MicrostructureBlock()
NAMES = [s.name for s in BLOCK.specs]
QUOTED = {"quoted_spread", "quoted_spread_24"}


def _candles(n: int = 600, seed: int = 0, quotes: bool = False) -> Candles:
    f = make_candles(n, 3600, seed=seed)
    close = f["close"].to_numpy()
    bid = ask = None
    if quotes:
        half = np.random.default_rng(seed + 100).uniform(0.0002, 0.002, n) * close
        bid, ask = close - half, close + half
    return Candles(
        open=f["open"].to_numpy(),
        high=f["high"].to_numpy(),
        low=f["low"].to_numpy(),
        close=close,
        volume=f["volume"].to_numpy(),
        bid=bid,
        ask=ask,
    )


def _scaled(c: Candles, price: float, volume: float) -> Candles:
    def p(a: np.ndarray | None) -> np.ndarray | None:
        return None if a is None else a * price

    return Candles(
        open=c.open * price,
        high=c.high * price,
        low=c.low * price,
        close=c.close * price,
        volume=c.volume * volume,
        quote_volume=None if c.quote_volume is None else c.quote_volume * price * volume,
        bid=p(c.bid),
        ask=p(c.ask),
    )


def _head(c: Candles, k: int) -> Candles:
    def cut(a: np.ndarray | None) -> np.ndarray | None:
        return None if a is None else a[:k].copy()

    return Candles(
        open=c.open[:k].copy(),
        high=c.high[:k].copy(),
        low=c.low[:k].copy(),
        close=c.close[:k].copy(),
        volume=c.volume[:k].copy(),
        quote_volume=cut(c.quote_volume),
        bid=cut(c.bid),
        ask=cut(c.ask),
    )


# -- the estimators, written out from the papers one bar pair at a time -------------------


def _cs_by_hand(h0: float, l0: float, c0: float, h1: float, l1: float) -> float:
    """Corwin & Schultz (2012), eqs. (14), (18), (19) and the overnight adjustment."""
    if l1 > c0:
        h1, l1 = h1 - (l1 - c0), c0
    elif h1 < c0:
        h1, l1 = c0, l1 + (c0 - h1)
    beta = math.log(h0 / l0) ** 2 + math.log(h1 / l1) ** 2
    gamma = math.log(max(h0, h1) / min(l0, l1)) ** 2
    k = 3 - 2 * math.sqrt(2)
    alpha = (math.sqrt(2 * beta) - math.sqrt(beta)) / k - math.sqrt(gamma / k)
    s = 2 * (math.exp(alpha) - 1) / (1 + math.exp(alpha))
    return max(s, 0.0)


def _ar_by_hand(h0: float, l0: float, c0: float, h1: float, l1: float) -> float:
    """Abdi & Ranaldo (2017), eq. (11) on two bars, negative products set to 0."""
    eta0 = (math.log(h0) + math.log(l0)) / 2
    eta1 = (math.log(h1) + math.log(l1)) / 2
    c = math.log(c0)
    return math.sqrt(max(4 * (c - eta0) * (c - eta1), 0.0))


# Bar 1 is quiet (a wide spread relative to its move); bar 2 opens above bar 1's close
# (overnight adjustment); bar 3 gaps down; bar 4 is a big move (negative estimate -> 0).
HIGH = np.array([100.5, 100.6, 102.0, 99.0, 110.0])
LOW = np.array([99.5, 99.6, 101.2, 98.0, 99.0])
CLOSE = np.array([100.4, 99.7, 101.5, 98.5, 109.0])


def test_corwin_schultz_matches_the_paper_by_hand() -> None:
    got = corwin_schultz(HIGH, LOW, CLOSE)
    assert np.isnan(got[0])
    for i in range(1, len(CLOSE)):
        want = _cs_by_hand(HIGH[i - 1], LOW[i - 1], CLOSE[i - 1], HIGH[i], LOW[i])
        assert got[i] == pytest.approx(want, rel=1e-12, abs=1e-15), i
    assert got[1] > 0.005  # a real spread where the range barely moves
    assert got[4] == 0.0  # volatility swamps the spread: set to zero, not negative
    # the adjustment is applied: bar 2's low (101.2) is above bar 1's close (99.7)
    unadjusted = _cs_by_hand(HIGH[1], LOW[1], LOW[2], HIGH[2], LOW[2])
    assert got[2] != pytest.approx(unadjusted)


def test_abdi_ranaldo_matches_the_paper_by_hand() -> None:
    got = abdi_ranaldo(HIGH, LOW, CLOSE)
    assert np.isnan(got[0])
    for i in range(1, len(CLOSE)):
        want = _ar_by_hand(HIGH[i - 1], LOW[i - 1], CLOSE[i - 1], HIGH[i], LOW[i])
        assert got[i] == pytest.approx(want, rel=1e-12, abs=1e-15), i
    # close 100.4 near the top of bar 0 and above bar 1's mid-range: a positive estimate
    assert got[1] > 0
    assert (got[1:] >= 0).all()
    # close 101.5 is below bar 2's mid-range (101.6) and above bar 3's (98.5): a negative
    # product, set to 0
    assert got[3] == 0.0


def test_block_columns_are_the_rolling_means_of_the_estimators() -> None:
    c = _candles(400, seed=3)
    out = BLOCK.compute(c)
    cs = pd.Series(corwin_schultz(c.high, c.low, c.close))
    ar = pd.Series(abdi_ranaldo(c.high, c.low, c.close))
    for w in (24, 168):
        np.testing.assert_allclose(
            out[:, NAMES.index(f"cs_spread_{w}")], cs.rolling(w).mean(), rtol=1e-9
        )
        np.testing.assert_allclose(
            out[:, NAMES.index(f"ar_spread_{w}")], ar.rolling(w).mean(), rtol=1e-9
        )
    np.testing.assert_allclose(out[:, NAMES.index("ar_spread_2")], ar, rtol=1e-12)
    # Amihud: log1p(scale x mean |r| / (close x volume)), half-window minimum
    r = pd.Series(c.close).pct_change().abs()
    illiq = r / (c.close * c.volume)
    want = np.log1p(AMIHUD_SCALE * illiq.rolling(24, min_periods=12).mean())
    np.testing.assert_allclose(out[:, NAMES.index("amihud_24")], want, rtol=1e-9)
    v = pd.Series(c.volume)
    want = np.log(v / v.rolling(168).mean())
    np.testing.assert_allclose(out[:, NAMES.index("volume_rel_168")], want, rtol=1e-9)
    lq = pd.Series(np.log(c.close * c.volume))
    z = (lq - lq.rolling(24, min_periods=12).mean()) / lq.rolling(24, min_periods=12).std()
    np.testing.assert_allclose(out[:, NAMES.index("quote_volume_z_24")], z, rtol=1e-8)


def test_quote_volume_column_is_preferred_to_close_times_volume() -> None:
    c = _candles(300, seed=4)
    qv = c.close * c.volume * np.linspace(1.0, 3.0, len(c))
    with_qv = Candles(c.open, c.high, c.low, c.close, c.volume, quote_volume=qv)
    out = BLOCK.compute(with_qv)
    lq = pd.Series(np.log(qv))
    roll = lq.rolling(168, min_periods=84)
    np.testing.assert_allclose(
        out[:, NAMES.index("quote_volume_z_168")], (lq - roll.mean()) / roll.std(), rtol=1e-8
    )


def test_quoted_spread_from_bid_ask_and_nan_without() -> None:
    c = _candles(200, seed=5, quotes=True)
    assert c.bid is not None
    assert c.ask is not None
    out = BLOCK.compute(c)
    rel = (c.ask - c.bid) / ((c.ask + c.bid) / 2)
    np.testing.assert_allclose(out[:, NAMES.index("quoted_spread")], rel, rtol=1e-12)
    np.testing.assert_allclose(
        out[23:, NAMES.index("quoted_spread_24")],
        pd.Series(rel).rolling(24).mean()[23:],
        rtol=1e-9,
    )
    bare = BLOCK.compute(_candles(200, seed=5))
    for name in QUOTED:
        assert np.isnan(bare[:, NAMES.index(name)]).all()


def test_specs_are_named_grouped_and_warmed_up_as_stated() -> None:
    assert len(set(NAMES)) == len(NAMES)
    for s in BLOCK.specs:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", s.name)
        assert s.group in {"spread", "liquidity"}
        assert s.group in GROUPS
        assert s.description
        assert "\n" not in s.description
    out = BLOCK.compute(_candles(500, seed=6, quotes=True))
    for j, s in enumerate(BLOCK.specs):
        finite = np.isfinite(out[:, j])
        # the stated warm-up is exactly where the value starts, and it stays defined
        assert finite[s.warmup :].all(), s.name
        assert not finite[: s.warmup].any() or s.name.startswith(("amihud", "quote_volume_z"))


@pytest.mark.parametrize("seed", [0, 1])
def test_finite_after_warmup(seed: int) -> None:
    c = _candles(700, seed=seed, quotes=True)
    out = BLOCK.compute(c)
    assert out.shape == (len(c), len(BLOCK.specs))
    assert out.dtype == np.float64
    for j, s in enumerate(BLOCK.specs):
        assert np.isfinite(out[s.warmup :, j]).all(), s.name
    bare = BLOCK.compute(_candles(700, seed=seed))
    for j, s in enumerate(BLOCK.specs):
        if s.name not in QUOTED:
            assert np.isfinite(bare[s.warmup :, j]).all(), s.name


def test_price_level_changes_nothing_but_amihud() -> None:
    c = _candles(500, seed=7, quotes=True)
    base = BLOCK.compute(c)
    # prices x 1000, same base volume: 1000x the money, so only Amihud may move
    dearer = BLOCK.compute(_scaled(c, 1000.0, 1.0))
    for j, name in enumerate(NAMES):
        if name.startswith("amihud"):
            assert not np.allclose(dearer[300:, j], base[300:, j])
        else:
            np.testing.assert_allclose(dearer[:, j], base[:, j], rtol=1e-7, atol=1e-10)
    # a redenomination (prices x 1000, base volume / 1000: same quote turnover) moves nothing
    redenominated = BLOCK.compute(_scaled(c, 1000.0, 1e-3))
    np.testing.assert_allclose(redenominated, base, rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("k", [1, 2, 25, 169, 170, 333])
def test_causal_a_prefix_gives_the_same_rows(k: int) -> None:
    c = _candles(400, seed=8, quotes=True)
    full = BLOCK.compute(c)
    head = BLOCK.compute(_head(c, k))
    np.testing.assert_array_equal(head, full[:k])


def test_bars_without_trades_do_not_break_the_block() -> None:
    c = _candles(400, seed=9)
    vol = c.volume.copy()
    vol[[50, 51, 300]] = 0.0
    quiet = Candles(c.open, c.high, c.low, c.close, vol)
    out = BLOCK.compute(quiet)  # no warnings (pytest turns them into errors)
    rel = out[:, NAMES.index("volume_rel_24")]
    assert rel[50] == pytest.approx(np.log(1e-3))
    assert np.isnan(out[300, NAMES.index("quote_volume_z_168")])
    assert np.isfinite(out[301:, NAMES.index("quote_volume_z_168")]).all()
    assert np.isfinite(out[200:, NAMES.index("amihud_168")]).all()


def test_empty_and_single_candle_runs() -> None:
    assert BLOCK.compute(_head(_candles(10), 0)).shape == (0, len(NAMES))
    one = BLOCK.compute(_head(_candles(10), 1))
    assert one.shape == (1, len(NAMES))


def test_rolling_stats_match_pandas_and_skip_nan() -> None:
    rng = np.random.default_rng(10)
    x = rng.normal(50.0, 3.0, (1000, 3))
    x[rng.random(x.shape) < 0.05] = np.nan
    for w, mp in [(7, 7), (24, 12), (100, 1)]:
        count, mean, std = rolling_stats(x, w, mp)
        roll = pd.DataFrame(x).rolling(w, min_periods=mp)
        np.testing.assert_allclose(mean, roll.mean().to_numpy(), rtol=1e-10)
        np.testing.assert_allclose(std, roll.std().to_numpy(), rtol=1e-8)
        counts = pd.DataFrame(x).rolling(w, min_periods=0).count().to_numpy()
        np.testing.assert_array_equal(count, counts)
    count, mean, std = rolling_stats(np.full(50, 3.25), 10)
    assert (mean[9:] == 3.25).all()
    assert (std[9:] == 0.0).all()
    assert np.isnan(mean[:9]).all()
