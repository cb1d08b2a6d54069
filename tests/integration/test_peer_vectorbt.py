"""Our active-trade exits against vectorbt's ``Portfolio.from_signals`` on real 5m candles.

Both engines get the same breakout entries (close above the highest high of the previous
200 bars, filled at the next bar's open), one long position at a time, 0.15 % fee per fill,
no slippage, stop 0.983 and take-profit 1.52 of the entry; case ``trail`` adds the activated
trailing stop (once the highest close since entry exceeds entry × 1.10, stop = 0.983 × that
close, from the next bar). Every trade must agree exactly except the categories asserted
below; docs/engine-peers.md explains the mapping and the results.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from numba import njit

from tradewind.engine.lifecycle import make_params
from tradewind.engine.records import EXIT_NAMES, ExitReason
from tradewind.engine.signals import breakout_signal, simulate_signals

pytestmark = pytest.mark.slow

FEE = 0.0015
STOP = 0.983
TARGET = 1.52
ACTIVATION = 1.10
TRAIL = 0.983
LOOKBACK = 200
BARS = 70_000  # the first 70,000 5m candles (2024-01-01 to 2024-08-31) of every pair
REL = 1e-9  # exit prices closer than this are the same exit (they differ by an ulp at most)


def lifecycle_params(activation: float) -> tuple[float, ...]:
    return make_params(
        fee=FEE,
        take_profit=TARGET,
        stop_loss=STOP,
        trail_activation=activation,
        trail_distance=TRAIL,
    )


@njit
def _fraction(level: float, ref: float) -> float:
    """The multiple ``m`` of ``ref`` with ``ref * m == level`` exactly, where one exists.

    vectorbt stores a level as a fraction of a reference price; nudging ``m`` by a few ulps
    makes its product land on our level to the last bit (the callers then pass ``1 - m`` or
    ``m - 1``, which vectorbt turns back into ``m`` exactly for ``m`` in [0.5, 2]).
    """
    m = level / ref
    for _ in range(8):
        got = ref * m
        if got == level:
            break
        m = np.nextafter(m, -np.inf) if got > level else np.nextafter(m, np.inf)
    return m


@njit
def adjust_sl_nb(
    c: Any, open_: np.ndarray, close: np.ndarray, best: np.ndarray, dev: np.ndarray
) -> tuple[float, bool]:
    """The lifecycle's stop at bar ``c.i``: initial stop, raised by the activated trail.

    vectorbt keeps the stop as a fraction below ``c.curr_price``: with ``sl_trail=True`` and
    ``stop_entry_price='close'`` that is the entry bar's close, then the highest high of the
    bars after it — never below the highest close so far, so the trailing level is always
    expressible. ``dev[i]`` gets the relative distance between vectorbt's level and ours
    (inf for a level above the reference, which only follows an entry bar that closed
    beyond the stop or target).
    """
    if c.position_now <= 0 or c.init_i < 0:
        return c.curr_stop, c.curr_trail
    col = c.col
    entry = open_[c.init_i, col]  # filled at the open: no slippage
    prev = close[c.i - 1, col]
    if c.i - 1 == c.init_i:
        best[col] = max(entry, prev)
    elif prev > best[col]:
        best[col] = prev
    level = entry * STOP
    if best[col] > entry * ACTIVATION:
        trailed = best[col] * TRAIL
        if trailed > level:
            level = trailed
    if level > c.curr_price:
        dev[c.i, col] = np.inf
        return 0.0, True
    m = _fraction(level, c.curr_price)
    dev[c.i, col] = abs(c.curr_price * (1.0 - (1.0 - m)) / level - 1.0)
    return 1.0 - m, True


@njit
def adjust_tp_nb(c: Any, open_: np.ndarray, dev: np.ndarray) -> float:
    """The take-profit at 1.52 × the entry, as a fraction above vectorbt's reference."""
    if c.position_now <= 0 or c.init_i < 0:
        return float(c.curr_stop)
    level = open_[c.init_i, c.col] * TARGET
    if level < c.init_price:
        dev[c.i, c.col] = np.inf
        return 0.0
    m = _fraction(level, c.init_price)
    d = abs(c.init_price * (1.0 + (m - 1.0)) / level - 1.0)
    if d > dev[c.i, c.col]:
        dev[c.i, c.col] = d
    return m - 1.0


def run_vectorbt(
    df: pd.DataFrame, signal: np.ndarray, trail: bool
) -> tuple[np.ndarray, np.ndarray]:
    """vectorbt's trades, and per bar how far its stop levels are from ours (relative)."""
    # Imported here, not at collection: it takes seconds, and the fast suite never needs it.
    vbt = pytest.importorskip("vectorbt", reason="vectorbt (the `test` extra) is not installed")
    index = pd.DatetimeIndex(df["timestamp"]).tz_localize(None)  # tz-aware is ~18x slower
    o, h, lo, c = (
        pd.Series(df[k].to_numpy(), index=index) for k in ("open", "high", "low", "close")
    )
    entries = np.zeros(len(signal), dtype=np.bool_)
    entries[1:] = signal[:-1]  # decided at the close, filled at the next open
    kwargs: dict[str, Any] = {
        "entries": pd.Series(entries, index=index),
        "exits": False,
        "direction": "longonly",
        "accumulate": False,
        "price": o,
        "open": o,
        "high": h,
        "low": lo,
        "fees": FEE,
        "slippage": 0.0,
        # Our position is 1.0 of capital with the entry fee included: qty = 1 / (p (1 + fee)).
        "size": 1.0 / (1.0 + FEE),
        "size_type": "value",
        "init_cash": 1e12,
        "upon_stop_exit": "close",
        "stop_exit_price": "stoplimit",
        "freq": "5min",
    }
    dev = np.zeros((len(c), 1), dtype=np.float64)
    if trail:
        cols = (c.to_numpy()[:, None], o.to_numpy()[:, None])
        kwargs.update(
            sl_stop=1.0 - STOP,
            sl_trail=True,
            tp_stop=TARGET - 1.0,
            stop_entry_price="close",
            adjust_sl_func_nb=adjust_sl_nb,
            adjust_sl_args=(cols[1], cols[0], np.zeros(1), dev),
            adjust_tp_func_nb=adjust_tp_nb,
            adjust_tp_args=(cols[1], dev),
        )
    else:
        # 1 - 0.983 and 1.52 - 1 are exact, so vectorbt's levels are entry × 0.983 and
        # entry × 1.52 to the last bit (the literals 0.017 and 0.52 give the same here).
        kwargs.update(sl_stop=1.0 - STOP, tp_stop=TARGET - 1.0, stop_entry_price="fillprice")
    pf = vbt.Portfolio.from_signals(c, **kwargs)
    return pf.trades.values, dev[:, 0]


@dataclass
class Tally:
    pairs: int = 0
    bars: int = 0
    ours: int = 0
    peer: int = 0
    agree: int = 0
    agree_open: int = 0  # agreeing trades still open at the data end in vectorbt
    entry_bar: int = 0
    only_ours: int = 0
    only_peer: int = 0
    inexact: int = 0  # bars where vectorbt's level is off ours by an ulp or so
    max_dev: float = 0.0
    above_ref: int = 0
    fees_ours: float = 0.0
    fees_peer: float = 0.0
    fees_agree_ours: float = 0.0
    fees_agree_peer: float = 0.0
    pnl_agree_ours: float = 0.0
    pnl_agree_peer: float = 0.0
    reasons: dict[str, int] = field(default_factory=dict)  # of the agreeing trades
    gap_fills: int = 0  # agreeing exits filled at the open of a bar that gapped through
    both_touched: int = 0  # agreeing trades with a bar that touched stop and target
    exact_exits: int = 0  # agreeing trades whose exit prices are equal to the last bit
    max_exit_rel: float = 0.0  # the largest relative difference of agreeing exit prices
    examples: dict[str, list[str]] = field(default_factory=dict)


def _holding(starts: np.ndarray, ends: np.ndarray, t: int) -> int:
    """Index of the trade holding a position at bar ``t`` (entered before, exits at/after)."""
    hit = np.flatnonzero((starts < t) & (ends >= t))
    return int(hit[0]) if len(hit) else -1


def compare_pair(
    df: pd.DataFrame, trail: bool, tally: Tally, name: str, signal: np.ndarray | None = None
) -> None:
    o, h, lo, c = (df[k].to_numpy() for k in ("open", "high", "low", "close"))
    if signal is None:
        signal = breakout_signal(h, c, LOOKBACK)
    ours = simulate_signals(o, h, lo, c, signal, lifecycle_params(ACTIVATION if trail else 1e9))
    peer, dev = run_vectorbt(df, signal, trail)
    last = len(c) - 1
    tally.pairs += 1
    tally.bars += len(c)
    tally.ours += len(ours)
    tally.peer += len(peer)
    tally.fees_ours += float(ours["fees"].sum())
    tally.fees_peer += float((peer["entry_fees"] + peer["exit_fees"]).sum())
    finite = dev[np.isfinite(dev)]
    tally.inexact += int((finite > 0).sum())
    tally.max_dev = max(tally.max_dev, float(finite.max()))

    by_entry = {int(t): k for k, t in enumerate(peer["entry_idx"])}
    agreeing_ours: set[int] = set()
    agreeing_peer: set[int] = set()
    for k, tr in enumerate(ours):
        j = by_entry.get(int(tr["entry_t"]))
        if j is None:
            continue
        pv = peer[j]
        assert pv["entry_price"] == tr["entry_price"] == o[tr["entry_t"]]
        same = pv["exit_idx"] == tr["exit_t"] and abs(pv["exit_price"] / tr["exit_price"] - 1) < REL
        if same:
            agreeing_ours.add(k)
            agreeing_peer.add(j)
            tally.agree += 1
            reason = EXIT_NAMES[tr["exit_reason"]]
            tally.reasons[reason] = tally.reasons.get(reason, 0) + 1
            x = int(tr["exit_t"])
            if reason != "data_end" and x > tr["entry_t"] and tr["exit_price"] == o[x]:
                tally.gap_fills += 1
            tally.both_touched += int(tr["ambiguous"] > 0)
            tally.exact_exits += int(pv["exit_price"] == tr["exit_price"])
            rel = abs(pv["exit_price"] / tr["exit_price"] - 1)
            tally.max_exit_rel = max(tally.max_exit_rel, float(rel))
            fees_peer = pv["entry_fees"] + pv["exit_fees"]
            pnl_peer = pv["pnl"]
            if pv["status"] == 0:
                # vectorbt leaves the last position open (marked at the last close, no exit
                # fee); we close it there with the fee, flagged data_end.
                assert tr["exit_reason"] == ExitReason.DATA_END
                assert tr["exit_t"] == last
                assert pv["exit_fees"] == 0.0
                exit_fee = tr["qty"] * tr["exit_price"] * FEE
                fees_peer += exit_fee
                pnl_peer -= exit_fee
                tally.agree_open += 1
            assert abs(tr["pnl"] - pnl_peer) < 1e-12, (name, tr["entry_t"], tr["pnl"], pnl_peer)
            assert abs(tr["fees"] - fees_peer) < 1e-12, (name, tr["entry_t"], tr["fees"], fees_peer)
            tally.fees_agree_ours += float(tr["fees"])
            tally.fees_agree_peer += float(fees_peer)
            tally.pnl_agree_ours += float(tr["pnl"])
            tally.pnl_agree_peer += float(pnl_peer)
            continue
        # The one difference in exits: we check the whole entry bar after a fill at its open
        # (its low may reach the stop, its high the target); vectorbt evaluates stops before
        # the bar's order, so a position opened on bar e is first checked on bar e + 1.
        e = int(tr["entry_t"])
        stop_touched = lo[e] <= o[e] * STOP
        target_touched = h[e] >= o[e] * TARGET
        assert tr["exit_t"] == e, (name, e, tr["exit_t"])
        assert pv["exit_idx"] > e, (name, e, pv["exit_idx"])
        assert (tr["exit_reason"] == ExitReason.STOP and stop_touched) or (
            tr["exit_reason"] == ExitReason.TAKE_PROFIT and target_touched
        ), (name, e, tr["exit_reason"])
        tally.entry_bar += 1
        tally.examples.setdefault("entry_bar", []).append(f"{name}@{e}")

    # A trade in one engine only starts while the other holds a position that it does not
    # (one whose exit differs, or that has no counterpart): the knock-on of the above.
    for tr in ours:
        if int(tr["entry_t"]) in by_entry:
            continue
        j = _holding(peer["entry_idx"], peer["exit_idx"], int(tr["entry_t"]))
        assert j >= 0, (name, tr["entry_t"])
        assert j not in agreeing_peer, (name, tr["entry_t"])
        tally.only_ours += 1
    ours_entries = {int(t) for t in ours["entry_t"]}
    for pv in peer:
        if int(pv["entry_idx"]) in ours_entries:
            continue
        k = _holding(ours["entry_t"], ours["exit_t"], int(pv["entry_idx"]))
        assert k >= 0, (name, pv["entry_idx"])
        assert k not in agreeing_ours, (name, pv["entry_idx"])
        tally.only_peer += 1

    # Levels above vectorbt's reference (not expressible) only occur on the bar after an
    # entry bar that closed beyond the stop or the target: trades we close on that bar.
    peer_entries = {int(t) for t in peer["entry_idx"]}
    for i in np.flatnonzero(np.isinf(dev)):
        e = int(i) - 1
        assert e in peer_entries, (name, i)
        assert c[e] < o[e] * STOP or c[e] > o[e] * TARGET, (name, i)
        tally.above_ref += 1


def load(shared_data: Path) -> dict[str, pd.DataFrame]:
    files = sorted((shared_data / "binance" / "5m").glob("*.parquet"))
    assert len(files) >= 3
    return {f.stem: pd.read_parquet(f).iloc[:BARS] for f in files}


@pytest.mark.realdata
@pytest.mark.parametrize("case", ["no_trail", "trail"])
def test_exits_agree_with_vectorbt(shared_data: Path, case: str) -> None:
    tally = Tally()
    for name, df in load(shared_data).items():
        compare_pair(df, case == "trail", tally, name)
    explained = tally.agree + tally.entry_bar
    print(f"\n{case}: {tally}")
    # Every trade with a counterpart agrees, or is an entry-bar exit; the rest are knock-ons.
    assert tally.ours == explained + tally.only_ours
    assert tally.peer == explained + tally.only_peer
    assert tally.agree > 0.9 * tally.ours
    assert tally.entry_bar > 0  # the real data has them: the category is exercised
    assert tally.max_dev < 2.3e-16  # within one ulp where not exact
    assert tally.max_exit_rel < 2.3e-16  # so are the exit prices
    if case == "no_trail":
        assert tally.exact_exits == tally.agree  # vectorbt's own levels: the same bits
    assert abs(tally.fees_agree_ours - tally.fees_agree_peer) < 1e-7
    assert abs(tally.pnl_agree_ours - tally.pnl_agree_peer) < 1e-7


@pytest.mark.parametrize("trail", [False, True])
def test_rules_the_real_data_rarely_reaches_agree_on_hand_made_bars(trail: bool) -> None:
    """A bar touching stop and target, gaps through target and stop, the trail's exit."""
    bars = [(100.0, 100.0, 100.0, 100.0)] * 3  # signal at 2: entry at the open of 3
    bars += [(100.0, 100.0, 100.0, 100.0), (100.0, 160.0, 97.0, 100.0)]  # both: the stop
    bars += [(100.0, 100.0, 100.0, 100.0)] * 2  # signal at 5: entry at 6
    bars += [(155.0, 156.0, 154.0, 155.0)]  # 7: opens above the target (152): at the open
    bars += [(100.0, 100.0, 100.0, 100.0)] * 2  # signal at 8: entry at 9
    bars += [(97.0, 98.0, 96.0, 97.0)]  # 10: opens below the stop (98.3): at the open
    bars += [(100.0, 100.0, 100.0, 100.0)] * 2  # signal at 11: entry at 12
    bars += [(100.0, 112.0, 100.0, 111.0)]  # 13: closes past 110: trail to 0.983 × 111
    bars += [(111.0, 111.5, 109.0, 110.0)]  # 14: the low reaches 109.113 (with the trail)
    bars += [(110.0, 110.0, 110.0, 110.0)] * 3
    o, h, lo, c = (np.array(col) for col in zip(*bars, strict=True))
    df = pd.DataFrame(
        {
            "timestamp": pd.date_range("2024-01-01", periods=len(bars), freq="5min", tz="UTC"),
            "open": o,
            "high": h,
            "low": lo,
            "close": c,
        }
    )
    signal = np.zeros(len(bars), dtype=np.bool_)
    signal[[2, 5, 8, 11]] = True
    tally = Tally()
    compare_pair(df, trail, tally, "hand-made", signal)
    assert tally.ours == tally.peer == tally.agree == 4
    assert tally.both_touched == 1
    assert tally.gap_fills == 2
    if trail:
        assert tally.reasons == {"stop": 2, "take_profit": 1, "trail_stop": 1}
    else:
        assert tally.reasons == {"stop": 2, "take_profit": 1, "data_end": 1}
        assert tally.agree_open == 1
