from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import make_candles
from tradewind.data.check import check_store
from tradewind.data.schema import find_gaps, find_problems, find_zero_volume_runs
from tradewind.data.store import CandleStore
from tradewind.domain.types import Timeframe
from tradewind.errors import DataError

TF = Timeframe.parse("5m")


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_write_then_read_round_trips_exactly(tmp_path: Path, candles: pd.DataFrame) -> None:
    store = CandleStore(tmp_path, "binance")
    path = store.write("BTC/USDT", "5m", candles)
    assert path == tmp_path / "binance" / "5m" / "BTCUSDT.parquet"
    back = store.read("BTCUSDT", "5m")
    pd.testing.assert_frame_equal(back, candles)
    assert store.symbols("5m") == ["BTCUSDT"]
    assert store.timeframes() == ["5m"]
    assert store.last_timestamp("BTCUSDT", "5m") == candles["timestamp"].iloc[-1]


def test_optional_columns_are_kept(tmp_path: Path, candles: pd.DataFrame) -> None:
    store = CandleStore(tmp_path, "x")
    df = candles.assign(quote_volume=candles.volume * candles.close, trades=7.0)
    store.write("AAAUSDT", "5m", df)
    assert list(store.read("AAAUSDT", "5m").columns)[-2:] == ["quote_volume", "trades"]


@pytest.mark.parametrize(
    ("mutate", "rule"),
    [
        (lambda d: d.assign(high=d.high.where(d.index != 10, d.close * 0.5)), "high"),
        (lambda d: d.assign(low=d.low.where(d.index != 10, d.open * 2)), "low"),
        (lambda d: d.assign(volume=d.volume.where(d.index != 10, -1.0)), "volume"),
        (lambda d: d.assign(close=d.close.where(d.index != 10, np.nan)), "finite"),
        (lambda d: d.assign(open=d.open.where(d.index != 10, np.inf)), "finite"),
        (lambda d: pd.concat([d.iloc[:11], d.iloc[10:]], ignore_index=True), "unique"),
        (
            lambda d: d.iloc[[*range(10), 11, 10, *range(12, len(d))]].reset_index(drop=True),
            "sorted",
        ),
        (
            lambda d: d.assign(
                timestamp=d.timestamp.where(d.index != 10, d.timestamp + pd.Timedelta(seconds=7))
            ),
            "aligned",
        ),
    ],
)
def test_invalid_candles_are_refused_naming_file_row_and_rule(
    tmp_path: Path, candles: pd.DataFrame, mutate: object, rule: str
) -> None:
    store = CandleStore(tmp_path, "binance")
    store.write("BTCUSDT", "5m", candles)
    before = snapshot(tmp_path)
    bad = mutate(candles)  # type: ignore[operator]
    with pytest.raises(DataError) as err:
        store.write("BTCUSDT", "5m", bad)
    assert f"rule {rule!r}" in str(err.value)
    assert "BTCUSDT.parquet" in str(err.value)
    assert "row " in str(err.value)
    assert snapshot(tmp_path) == before


def test_reading_a_bad_file_names_the_file_and_row(tmp_path: Path, candles: pd.DataFrame) -> None:
    path = tmp_path / "binance" / "5m" / "BTCUSDT.parquet"
    path.parent.mkdir(parents=True)
    candles.assign(high=candles.high.where(candles.index != 42, 0.01)).to_parquet(path)
    with pytest.raises(DataError, match=r"BTCUSDT\.parquet: row 42 .*rule 'high'"):
        CandleStore(tmp_path, "binance").read("BTCUSDT", "5m")


def test_corrupted_parquet_is_a_data_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "binance" / "5m" / "BTCUSDT.parquet"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(DataError, match="BTCUSDT.parquet: not a readable Parquet file"):
        CandleStore(tmp_path, "binance").read("BTCUSDT", "5m")


def test_missing_column_is_named(tmp_path: Path, candles: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="missing column"):
        CandleStore(tmp_path, "b").write("BTCUSDT", "5m", candles.drop(columns="volume"))


def test_merge_adds_new_and_newest_wins_on_overlap(tmp_path: Path) -> None:
    store = CandleStore(tmp_path, "binance")
    full = make_candles(300)
    store.write("BTCUSDT", "5m", full.iloc[:200])
    update = full.iloc[150:].copy()
    update.loc[update.index[0], "volume"] = 12345.0
    result = store.merge("BTCUSDT", "5m", update)
    assert (result.added, result.replaced, result.total) == (100, 50, 300)
    back = store.read("BTCUSDT", "5m")
    assert len(back) == 300
    assert back["volume"].iloc[150] == 12345.0


def test_merge_of_nothing_new_writes_nothing(tmp_path: Path, candles: pd.DataFrame) -> None:
    store = CandleStore(tmp_path, "binance")
    store.write("BTCUSDT", "5m", candles)
    mtime = store.path("BTCUSDT", "5m").stat().st_mtime_ns
    result = store.merge("BTCUSDT", "5m", candles.iloc[:0])
    assert result.added == 0
    assert store.path("BTCUSDT", "5m").stat().st_mtime_ns == mtime


def test_gaps_and_zero_volume_runs_are_found() -> None:
    df = make_candles(100).drop(index=[10, 11, 12, 50]).reset_index(drop=True)
    df.loc[70:72, "volume"] = 0.0
    gaps = find_gaps(df, TF)
    assert [g.missing for g in gaps] == [3, 1]
    assert gaps[0].start == make_candles(100)["timestamp"].iloc[10]
    runs = find_zero_volume_runs(df)
    assert [r.length for r in runs] == [3]
    assert find_problems(df, TF) == []


def test_check_fix_sorts_and_drops_duplicates_keeping_newest(tmp_path: Path) -> None:
    df = make_candles(50)
    dup = df.iloc[[20]].assign(volume=999.0)
    bad = pd.concat([df.iloc[:30], dup, df.iloc[30:]]).iloc[::-1]
    path = tmp_path / "binance" / "5m" / "AAAUSDT.parquet"
    path.parent.mkdir(parents=True)
    bad.to_parquet(path)
    store = CandleStore(tmp_path, "binance")
    [report] = check_store(store)
    assert not report.ok
    assert {p.rule for p in report.problems} >= {"sorted"}
    [fixed] = check_store(store, fix=True)
    assert fixed.ok
    assert fixed.fixed
    back = store.read("AAAUSDT", "5m")
    assert len(back) == 50
    # the reversed frame puts the original row 20 after the duplicate: it is the newest
    assert back["volume"].iloc[20] == df["volume"].iloc[20]


def test_check_fix_leaves_unfixable_problems_listed(tmp_path: Path) -> None:
    df = make_candles(50)
    df.loc[5, "high"] = df.loc[5, "low"] * 0.5
    path = tmp_path / "binance" / "5m" / "AAAUSDT.parquet"
    path.parent.mkdir(parents=True)
    df.to_parquet(path)
    before = path.read_bytes()
    [report] = check_store(CandleStore(tmp_path, "binance"), fix=True)
    assert [p.rule for p in report.problems] == ["high"]
    assert report.fixed == []
    assert path.read_bytes() == before


def test_real_files_read_validated(shared_data: Path) -> None:
    store = CandleStore(shared_data, "binance")
    df = store.read("BTCUSDT", "1h")
    first = df.iloc[0]
    assert (first.open, first.high, first.low, first.close) == (
        42283.58,
        42554.57,
        42261.02,
        42475.23,
    )


def test_a_second_writer_is_refused_while_the_lock_is_held(tmp_path: Path) -> None:
    import subprocess
    import sys

    store = CandleStore(tmp_path, "binance")
    code = (
        "import sys; from tradewind.data.store import CandleStore\n"
        "from tradewind.errors import DataError\n"
        "try:\n"
        f"    with CandleStore({str(tmp_path)!r}, 'binance').lock(): print('got it')\n"
        "except DataError as e: print(e)\n"
    )
    with store.lock():
        other = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        assert "being written by another process" in other.stdout
        assert f"pid {__import__('os').getpid()}" in other.stdout
    again = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert again.stdout.strip() == "got it"
    assert not store.root.exists()
