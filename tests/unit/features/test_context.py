"""Market context: ranks and market-wide values, causal, scale-free, NaN where absent."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from tests.conftest import make_candles
from tradewind.data.panel import DEFAULT_FIELDS, Panel
from tradewind.domain.types import Timeframe
from tradewind.errors import ConfigError
from tradewind.features.base import GROUPS
from tradewind.features.compute import compute_features
from tradewind.features.context import MarketContextBlock, percent_rank, rank_rows
from tradewind.features.microstructure import MicrostructureBlock

BLOCK = MarketContextBlock()
NAMES = [s.name for s in BLOCK.specs]
RANKS = [n for n in NAMES if "rank" in n]
BREADTH = ["breadth_24", "breadth_168"]
MARKET = [n for n in NAMES if n.startswith(("btc_", "breadth", "market_ret", "dispersion"))]


def _panel(frames: list[pd.DataFrame], names: list[str], tf: str = "1h") -> Panel:
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
    return Panel(Timeframe.parse(tf), grid, tuple(names), DEFAULT_FIELDS, values, mask)


def _random_panel(n: int = 500, pairs: int = 6, btc: bool = True) -> Panel:
    frames = [make_candles(n, 3600, seed=s, price=10.0 ** (s % 4 - 1)) for s in range(pairs)]
    names = [f"C{i}USDT" for i in range(pairs)]
    if btc:
        names[2] = "BTCUSDT"
    return _panel(frames, names)


def _gapped_panel() -> Panel:
    a = make_candles(600, 3600, seed=11)
    b = make_candles(600, 3600, seed=12, price=0.5)
    b = b.drop(index=list(range(100, 130)) + [400]).reset_index(drop=True)  # gaps
    c = make_candles(450, 3600, start="2024-01-07 06:00", seed=13, price=3000.0)  # late
    d = make_candles(600, 3600, seed=14, price=60000.0)
    return _panel([a, b, c, d], ["AUSDT", "BUSDT", "CUSDT", "BTCUSDT"])


def _truncated(panel: Panel, k: int) -> Panel:
    return Panel(
        panel.timeframe,
        panel.timestamps[:k],
        panel.symbols,
        panel.fields,
        panel.values[:k].copy(),
        panel.mask[:k].copy(),
    )


def _scaled(panel: Panel, price: np.ndarray, volume: np.ndarray) -> Panel:
    """Every pair's prices × ``price[p]`` and volume × ``volume[p]``."""
    factor = np.ones((len(panel.symbols), len(panel.fields)))
    for f, name in enumerate(panel.fields):
        factor[:, f] = volume if name == "volume" else price
    return Panel(
        panel.timeframe,
        panel.timestamps,
        panel.symbols,
        panel.fields,
        panel.values * factor[None],
        panel.mask,
    )


def _col(out: np.ndarray, name: str) -> np.ndarray:
    return out[:, :, NAMES.index(name)]


def test_specs_are_named_grouped_and_timeframe_aware() -> None:
    assert len(set(NAMES)) == len(NAMES)
    assert {s.group for s in BLOCK.specs} == {"liquidity", "context"}
    assert all(s.group in GROUPS for s in BLOCK.specs)
    assert BLOCK.specs[NAMES.index("qv_rank_1d")].warmup == 23
    five = MarketContextBlock(timeframe="5m")
    assert five.specs[NAMES.index("qv_rank_7d")].warmup == 7 * 288 - 1
    with pytest.raises(ConfigError, match="timeframe='1h'"):
        five.compute(_random_panel(50))


def test_finite_after_warmup_on_a_full_panel() -> None:
    panel = _random_panel(500)
    out = BLOCK.compute(panel)
    assert out.shape == (len(panel.timestamps), len(panel.symbols), len(NAMES))
    for j, s in enumerate(BLOCK.specs):
        assert np.isfinite(out[s.warmup :, :, j]).all(), s.name


def test_absent_pairs_are_nan_and_ranks_and_breadth_lie_in_0_1() -> None:
    panel = _gapped_panel()
    out = BLOCK.compute(panel)
    assert np.isnan(out[~panel.mask]).all()
    assert np.isfinite(out[300:][panel.mask[300:]][:, NAMES.index("breadth_24")]).all()
    for name in [*RANKS, *BREADTH]:
        v = _col(out, name)
        v = v[np.isfinite(v)]
        assert len(v), name
        assert (v >= 0).all(), name
        assert (v <= 1).all(), name
    # the busiest pair by turnover ranks 1 and is first by market rank
    turnover = np.where(panel.mask, panel.field("close") * panel.field("volume"), 0.0)
    day = pd.DataFrame(turnover).rolling(24, min_periods=1).sum().to_numpy()
    t = 350
    busiest = int(np.argmax(np.where(panel.mask[t], day[t], -1.0)))
    assert _col(out, "qv_rank_1d")[t, busiest] == 1.0
    assert _col(out, "market_rank_1d")[t, busiest] == 0.0
    # market-wide values are the same for every pair present
    for name in MARKET:
        row = _col(out, name)[t][panel.mask[t]]
        assert np.allclose(row, row[0]), name


def test_rolling_quantities_do_not_cross_a_gap() -> None:
    panel = _gapped_panel()
    out = BLOCK.compute(panel)
    b = panel.symbols.index("BUSDT")
    first_back = int(np.flatnonzero(panel.mask[100:, b])[0]) + 100  # after the 30-bar gap
    r24 = _col(out, "ret_rank_24")[:, b]
    # a 24-bar return needs the candle 24 bars back; the gap is 30 bars long
    assert np.isnan(r24[first_back : first_back + 24]).all()
    assert np.isfinite(r24[first_back + 24 : first_back + 30]).all()
    # breadth only counts pairs whose SMA has a full window: at the gap's end B is out
    close = panel.field("close")
    t = first_back + 5
    sma = pd.DataFrame(close).rolling(24).mean().to_numpy()[t]
    ok = np.isfinite(sma) & panel.mask[t]
    assert not ok[b]
    want = np.mean(close[t][ok] > sma[ok])
    assert _col(out, "breadth_24")[t, 0] == pytest.approx(want)


def test_btc_features_read_btc_and_fall_back_to_the_market() -> None:
    panel = _random_panel(400)
    out = BLOCK.compute(panel)
    btc = pd.Series(panel.field("close")[:, panel.symbols.index("BTCUSDT")])
    want = btc / btc.rolling(168).mean() - 1.0
    np.testing.assert_allclose(_col(out, "btc_trend_168")[:, 0], want, rtol=1e-9)
    vol = pd.Series(np.log(btc.to_numpy())).diff().rolling(24).std()
    np.testing.assert_allclose(_col(out, "btc_vol_24")[:, 4], vol, rtol=1e-8)

    bare = _random_panel(400, btc=False)
    got = BLOCK.compute(bare)
    steps = np.diff(np.log(bare.field("close")), axis=0).mean(axis=1)
    index = pd.Series(np.exp(np.concatenate(([0.0], np.cumsum(steps)))))
    want = index / index.rolling(24).mean() - 1.0
    np.testing.assert_allclose(_col(got, "btc_trend_24")[:, 1], want, rtol=1e-9, atol=1e-12)


def test_market_return_and_dispersion_by_hand() -> None:
    panel = _gapped_panel()
    out = BLOCK.compute(panel)
    close = panel.field("close")
    t = 420  # pair B has no candle at 400, so its 24-bar return is still defined
    r = np.log(close[t] / close[t - 24])
    ok = np.isfinite(r)
    assert _col(out, "market_ret_24")[t, 0] == pytest.approx(np.mean(np.expm1(r[ok])))
    assert _col(out, "dispersion_24")[t, 0] == pytest.approx(np.std(r[ok], ddof=1))


@pytest.mark.parametrize("make", [_random_panel, _gapped_panel])
def test_price_level_changes_nothing(make: Callable[[], Panel]) -> None:
    panel = make()
    base = BLOCK.compute(panel)
    n_p = len(panel.symbols)
    # every price x 1000 (the whole market in another quote unit)
    dearer = BLOCK.compute(_scaled(panel, np.full(n_p, 1000.0), np.ones(n_p)))
    np.testing.assert_allclose(dearer, base, rtol=1e-7, atol=1e-10)
    # each pair redenominated differently (same quote turnover)
    k = 10.0 ** np.arange(-2, n_p - 2)
    redenominated = BLOCK.compute(_scaled(panel, k, 1.0 / k))
    np.testing.assert_allclose(redenominated, base, rtol=1e-7, atol=1e-10)


def _market_only_panel() -> Panel:
    return _random_panel(460, btc=False)


@pytest.mark.parametrize("make", [_gapped_panel, _market_only_panel])
@pytest.mark.parametrize("k", [1, 2, 24, 25, 130, 169, 401, 450])
def test_causal_a_truncated_panel_gives_the_same_rows(k: int, make: Callable[[], Panel]) -> None:
    panel = make()
    full = BLOCK.compute(panel)
    head = BLOCK.compute(_truncated(panel, k))
    np.testing.assert_allclose(head, full[:k], rtol=1e-12, atol=1e-15)
    assert (np.isnan(head) == np.isnan(full[:k])).all()


def test_ranks_match_pandas_with_ties_and_nan() -> None:
    rng = np.random.default_rng(3)
    x = np.round(rng.normal(size=(200, 9)), 1)
    x[rng.random(x.shape) < 0.2] = np.nan
    x[5] = np.nan
    x[6, 1:] = np.nan
    frame = pd.DataFrame(x)
    np.testing.assert_array_equal(rank_rows(x), frame.rank(axis=1).to_numpy())
    np.testing.assert_array_equal(
        rank_rows(x, descending=True, average=False),
        frame.rank(axis=1, method="min", ascending=False).to_numpy(),
    )
    pct = percent_rank(x)
    assert np.isnan(pct[5]).all()
    assert pct[6, 0] == 0.5
    ok = np.isfinite(pct)
    assert (pct[ok] >= 0).all()
    assert (pct[ok] <= 1).all()


def test_through_the_driver_with_the_microstructure_block() -> None:
    panel = _gapped_panel()
    features = compute_features(panel, [MicrostructureBlock()], [BLOCK], threads=1)
    assert features.values.shape[2] == len(MicrostructureBlock.specs) + len(NAMES)
    assert np.isnan(features.values[~panel.mask]).all()
    spec = BLOCK.specs[NAMES.index("btc_vol_168")]
    assert np.isnan(features.column("btc_vol_168")[: spec.warmup]).all()
