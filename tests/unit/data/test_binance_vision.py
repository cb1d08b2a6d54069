"""Import of data.binance.vision kline dumps: real fixture files and synthetic edge cases."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pandas as pd
import pytest

from tradewind.data.sources.binance_vision import (
    KLINE_COLUMNS,
    import_files,
    parse_file_name,
)
from tradewind.data.store import CandleStore
from tradewind.domain.types import Timeframe
from tradewind.errors import ConfigError, DataError

SHARED_DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"
RAW_BTC_1H = SHARED_DATA / "raw" / "binance_vision" / "spot" / "BTCUSDT" / "1h"
HEADER = ",".join(KLINE_COLUMNS)


def kline_lines(
    start: str, count: int, timeframe: str = "1h", *, unit: str = "ms", base: float = 100.0
) -> list[str]:
    """Rows in the Binance layout; prices grow with the row so every candle is distinct."""
    tf = Timeframe.parse(timeframe)
    scale = {"ms": 1, "us": 1000}[unit]
    t0 = pd.Timestamp(start, tz="UTC").value // 1_000_000
    lines = []
    for i in range(count):
        open_ms = t0 + i * tf.milliseconds
        o = base + i
        lines.append(
            f"{open_ms * scale},{o:.8f},{o + 2:.8f},{o - 1:.8f},{o + 1:.8f},{1.5 + i:.8f},"
            f"{(open_ms + tf.milliseconds) * scale - 1},{(1.5 + i) * o:.8f},{10 + i},"
            f"{0.5 + i:.8f},{(0.5 + i) * o:.8f},0"
        )
    return lines


def write_csv(path: Path, lines: list[str], *, header: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = [HEADER, *lines] if header else lines
    path.write_text("\n".join(body) + "\n")
    return path


def write_zip(path: Path, members: dict[str, str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return path


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path below ``root`` with its bytes (None for folders)."""
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None)
        for p in sorted(root.rglob("*"))
    }


@pytest.fixture
def store(tmp_path: Path) -> CandleStore:
    return CandleStore(tmp_path / "store", "binance")


@pytest.fixture
def src(tmp_path: Path) -> Path:
    folder = tmp_path / "downloads"
    folder.mkdir()
    return folder


# ---------------------------------------------------------------- real files


def real_files() -> list[Path]:
    files = sorted(RAW_BTC_1H.glob("BTCUSDT-1h-2023-0*.csv")) if RAW_BTC_1H.is_dir() else []
    if len(files) != 5:
        pytest.skip(f"raw data.binance.vision fixture not found in {RAW_BTC_1H}")
    return files


@pytest.mark.realdata
def test_real_monthly_files_with_header_import_with_the_halt_gap(store: CandleStore) -> None:
    real_files()  # skips cleanly where ../shared/data is absent
    report = import_files([RAW_BTC_1H], store)
    (series,) = report.series
    assert (series.symbol, series.timeframe) == ("BTCUSDT", "1h")
    assert len(series.files) == 5
    assert series.rows_read == 3623
    assert (series.candles, series.added, series.replaced, series.total) == (3623, 3623, 0, 3623)
    assert series.first == pd.Timestamp("2023-01-01 00:00", tz="UTC")
    assert series.last == pd.Timestamp("2023-05-31 23:00", tz="UTC")
    assert [(g.start, g.end, g.missing) for g in series.gaps] == [
        (pd.Timestamp("2023-03-24 13:00", tz="UTC"), pd.Timestamp("2023-03-24 13:00", tz="UTC"), 1)
    ]
    assert "1 gap(s)" in series.describe()

    df = store.read("BTCUSDT", "1h")
    assert str(df["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert len(df) == 3623
    first = df.iloc[0]
    # BTCUSDT-1h-2023-01.csv, line 2.
    assert first["timestamp"] == pd.Timestamp("2023-01-01 00:00", tz="UTC")
    assert (first["open"], first["high"], first["low"], first["close"]) == (
        16541.77,
        16545.70,
        16508.39,
        16529.67,
    )
    assert first["volume"] == 4364.8357
    assert first["quote_volume"] == 72146293.5867229
    assert first["trades"] == 149854
    assert first["taker_buy_volume"] == 2179.94772
    # BTCUSDT-1h-2023-03.csv: the halted candle (closes at 12:39:41.646) and the one after.
    by_time = df.set_index("timestamp")
    halted = by_time.loc[pd.Timestamp("2023-03-24 12:00", tz="UTC")]
    assert (halted["open"], halted["close"], halted["volume"]) == (28080.0, 28080.0, 0.0)
    after = by_time.loc[pd.Timestamp("2023-03-24 14:00", tz="UTC")]
    assert (after["open"], after["high"], after["low"], after["close"]) == (
        28079.99,
        28253.01,
        27835.0,
        27989.06,
    )
    assert after["volume"] == 8983.24018


@pytest.mark.realdata
def test_real_files_listed_one_by_one_equal_the_folder_import(tmp_path: Path) -> None:
    files = real_files()
    a, b = CandleStore(tmp_path / "a", "binance"), CandleStore(tmp_path / "b", "binance")
    import_files([RAW_BTC_1H], a)
    import_files(list(reversed(files)), b)
    pd.testing.assert_frame_equal(a.read("BTCUSDT", "1h"), b.read("BTCUSDT", "1h"))


@pytest.mark.realdata
def test_real_reimport_replaces_and_adds_nothing(store: CandleStore) -> None:
    files = real_files()
    import_files(files, store)
    again = import_files(files, store)
    assert (again.added, again.replaced, again.rows_read) == (0, 3623, 3623)


# ---------------------------------------------------------------- synthetic files


def test_header_and_no_header_give_the_same_candles(tmp_path: Path, src: Path) -> None:
    lines = kline_lines("2024-01-01", 48)
    plain = write_csv(src / "a" / "BTCUSDT-1h-2024-01.csv", lines)
    headed = write_csv(src / "b" / "BTCUSDT-1h-2024-01.csv", lines, header=True)
    s1, s2 = CandleStore(tmp_path / "s1", "binance"), CandleStore(tmp_path / "s2", "binance")
    assert import_files([plain], s1).rows_read == 48
    assert import_files([headed], s2).rows_read == 48
    df = s1.read("BTCUSDT", "1h")
    pd.testing.assert_frame_equal(df, s2.read("BTCUSDT", "1h"))
    assert df["timestamp"].iloc[0] == pd.Timestamp("2024-01-01", tz="UTC")
    assert df["open"].iloc[1] == 101.0
    assert list(df.columns) == [
        "timestamp",
        "open",
        "high",
        "low",
        "close",
        "volume",
        "quote_volume",
        "trades",
        "taker_buy_volume",
    ]


def test_zip_equals_plain_csv(tmp_path: Path, src: Path) -> None:
    text = "\n".join(kline_lines("2024-02-01", 24 * 29, unit="ms")) + "\n"
    zipped = write_zip(src / "ETHUSDT-1h-2024-02.zip", {"ETHUSDT-1h-2024-02.csv": text})
    plain = src / "ETHUSDT-1h-2024-02.csv"
    plain.write_text(text)
    s1, s2 = CandleStore(tmp_path / "s1", "binance"), CandleStore(tmp_path / "s2", "binance")
    report = import_files([zipped], s1)
    assert report.series[0].symbol == "ETHUSDT"
    assert report.series[0].candles == 24 * 29
    import_files([plain], s2)
    pd.testing.assert_frame_equal(s1.read("ETHUSDT", "1h"), s2.read("ETHUSDT", "1h"))


def test_microsecond_timestamps_are_detected(store: CandleStore, src: Path) -> None:
    path = write_zip(
        src / "BTCUSDT-5m-2025-01-01.zip",
        {"BTCUSDT-5m-2025-01-01.csv": "\n".join(kline_lines("2025-01-01", 288, "5m", unit="us"))},
    )
    (series,) = import_files([path], store).series
    assert series.first == pd.Timestamp("2025-01-01 00:00", tz="UTC")
    assert series.last == pd.Timestamp("2025-01-01 23:55", tz="UTC")
    assert series.gaps == ()


def test_unit_comes_from_the_numbers_not_the_file_name(store: CandleStore, src: Path) -> None:
    # A 2024 name on microsecond data, and the other way round.
    us = write_csv(src / "BTCUSDT-1h-2024-03.csv", kline_lines("2025-03-01", 24, unit="us"))
    ms = write_csv(src / "BTCUSDT-1h-2025-04.csv", kline_lines("2024-04-01", 24, unit="ms"))
    import_files([us, ms], store)
    stamps = store.read("BTCUSDT", "1h")["timestamp"]
    assert stamps.iloc[0] == pd.Timestamp("2024-04-01", tz="UTC")
    assert stamps.iloc[-1] == pd.Timestamp("2025-03-01 23:00", tz="UTC")


def test_ms_and_us_months_merge_into_one_continuous_series(store: CandleStore, src: Path) -> None:
    dec = write_zip(
        src / "BTCUSDT-1h-2024-12.zip",
        {"BTCUSDT-1h-2024-12.csv": "\n".join(kline_lines("2024-12-01", 31 * 24, unit="ms"))},
    )
    jan = write_zip(
        src / "BTCUSDT-1h-2025-01.zip",
        {
            "BTCUSDT-1h-2025-01.csv": "\n".join(
                kline_lines("2025-01-01", 31 * 24, unit="us", base=100.0 + 31 * 24)
            )
        },
    )
    (series,) = import_files([src], store).series
    assert (series.rows_read, series.total, series.gaps) == (62 * 24, 62 * 24, ())
    df = store.read("BTCUSDT", "1h")
    expected = pd.date_range("2024-12-01", periods=62 * 24, freq="h", tz="UTC", unit="ns")
    assert list(df["timestamp"]) == list(expected)
    assert (df["open"].diff().iloc[1:] == 1.0).all()
    assert {p.name for p in series.files} == {dec.name, jan.name}


def test_folders_are_searched_recursively_and_other_files_ignored(
    store: CandleStore, src: Path
) -> None:
    spot = src / "spot"
    write_csv(spot / "BTCUSDT" / "1h" / "BTCUSDT-1h-2024-01.csv", kline_lines("2024-01-01", 5))
    write_csv(spot / "BTCUSDT" / "5m" / "BTCUSDT-5m-2024-01.csv", kline_lines("2024-01", 7, "5m"))
    write_csv(spot / "SOLUSDT" / "1h" / "SOLUSDT-1h-2024-01.csv", kline_lines("2024-01-01", 3))
    (spot / "BTCUSDT" / "1h" / "BTCUSDT-1h-2024-01.zip.CHECKSUM").write_text("abc  x\n")
    (spot / "notes.txt").write_text("not data")
    report = import_files([src], store)
    assert [(s.symbol, s.timeframe, s.rows_read) for s in report.series] == [
        ("BTCUSDT", "1h", 5),
        ("BTCUSDT", "5m", 7),
        ("SOLUSDT", "1h", 3),
    ]
    assert report.files == 3
    assert store.symbols("1h") == ["BTCUSDT", "SOLUSDT"]


def test_arguments_override_the_file_name(store: CandleStore, src: Path) -> None:
    path = write_csv(src / "my candles.csv", kline_lines("2024-01-01", 10, "15m"))
    (series,) = import_files([path], store, symbol="eth/usdt", timeframe="15m").series
    assert (series.symbol, series.timeframe, series.candles) == ("ETHUSDT", "15m", 10)
    assert store.exists("ETHUSDT", "15m")


def test_only_the_symbol_can_be_overridden(store: CandleStore, src: Path) -> None:
    path = write_csv(src / "BTCUSDT-1h-2024-01.csv", kline_lines("2024-01-01", 4))
    (series,) = import_files([path], store, symbol="BTCFDUSD").series
    assert (series.symbol, series.timeframe) == ("BTCFDUSD", "1h")


def test_new_data_wins_on_equal_timestamps(store: CandleStore, src: Path) -> None:
    old = write_csv(src / "old" / "BTCUSDT-1h-2024-01.csv", kline_lines("2024-01-01", 10))
    new = write_csv(
        src / "new" / "BTCUSDT-1h-2024-01.csv", kline_lines("2024-01-01 05:00", 10, base=500.0)
    )
    import_files([old], store)
    (series,) = import_files([new], store).series
    assert (series.added, series.replaced, series.total) == (5, 5, 15)
    df = store.read("BTCUSDT", "1h").set_index("timestamp")
    assert df.loc[pd.Timestamp("2024-01-01 04:00", tz="UTC"), "open"] == 104.0
    assert df.loc[pd.Timestamp("2024-01-01 05:00", tz="UTC"), "open"] == 500.0


def test_overlapping_files_in_one_import_count_rows_and_candles(
    store: CandleStore, src: Path
) -> None:
    monthly = write_csv(src / "BTCUSDT-1h-2024-01.csv", kline_lines("2024-01-01", 48))
    daily = write_csv(src / "BTCUSDT-1h-2024-01-02.csv", kline_lines("2024-01-02", 24, base=124.0))
    (series,) = import_files([monthly, daily], store).series
    assert (series.rows_read, series.candles, series.added) == (72, 48, 48)


def test_early_close_time_and_gaps_are_accepted_and_reported(store: CandleStore, src: Path) -> None:
    lines = kline_lines("2024-01-01", 6)
    fields = lines[2].split(",")
    fields[6] = str(int(fields[0]) + 2_381_646)  # closes at 00:39:41.646, like a halt
    lines[2] = ",".join(fields)
    del lines[3]
    (series,) = import_files([write_csv(src / "BTCUSDT-1h-2024-01.csv", lines)], store).series
    assert series.candles == 5
    assert [(g.start, g.missing) for g in series.gaps] == [
        (pd.Timestamp("2024-01-01 03:00", tz="UTC"), 1)
    ]
    assert series.missing == 1


def test_windows_line_endings_and_bom(store: CandleStore, src: Path) -> None:
    path = src / "BTCUSDT-1h-2024-01.csv"
    text = "\r\n".join([HEADER, *kline_lines("2024-01-01", 3)])
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert import_files([path], store).rows_read == 3


def test_file_name_parsing() -> None:
    assert parse_file_name("BTCUSDT-1h-2024-01.zip") == ("BTCUSDT", Timeframe.parse("1h"))
    assert parse_file_name("ethusdt-15m-2025-02-03.CSV") == ("ETHUSDT", Timeframe.parse("15m"))
    assert parse_file_name("BTCUSDT_1h.csv") is None
    assert parse_file_name("BTCUSDT-1h-2024.csv") is None
    with pytest.raises(DataError, match="1mo"):
        parse_file_name("BTCUSDT-1mo-2024-01.zip")


def test_bad_arguments_are_config_errors(store: CandleStore, src: Path) -> None:
    path = write_csv(src / "BTCUSDT-1h-2024-01.csv", kline_lines("2024-01-01", 3))
    with pytest.raises(ConfigError):
        import_files([path], store, timeframe="7m")
    with pytest.raises(ConfigError):
        import_files([path], store, symbol="BTC USDT!")


# ---------------------------------------------------------------- bad input


def _replace_line(lines: list[str], index: int, text: str) -> list[str]:
    return [*lines[:index], text, *lines[index + 1 :]]


def _bad_file(case: str, src: Path) -> tuple[Path, str]:
    """A broken file for ``case`` and a regex its error message must match."""
    good = kline_lines("2024-03-01", 10)
    name = "BTCUSDT-1h-2024-03"
    if case == "too few columns":
        lines = _replace_line(good, 4, ",".join(good[4].split(",")[:11]))
        return write_csv(src / f"{name}.csv", lines, header=True), r"line 6: expected 12 .*found 11"
    if case == "too many columns":
        return write_csv(src / f"{name}.csv", _replace_line(good, 7, good[7] + ",1")), (
            r"line 8: expected 12 .*found 13"
        )
    if case == "non-numeric price":
        fields = good[3].split(",")
        fields[2] = "12x.5"
        lines = _replace_line(good, 3, ",".join(fields))
        return write_csv(src / f"{name}.csv", lines), r"line 4: column high is not a number: '12x"
    if case == "empty value":
        fields = good[0].split(",")
        fields[5] = ""
        lines = _replace_line(good, 0, ",".join(fields))
        return write_csv(src / f"{name}.csv", lines, header=True), r"line 2: column volume"
    if case == "non-integer trade count":
        fields = good[9].split(",")
        fields[8] = "12.5"
        lines = _replace_line(good, 9, ",".join(fields))
        return write_csv(src / f"{name}.csv", lines), r"line 10: column count is not an integer"
    if case == "nan price":
        fields = good[2].split(",")
        fields[4] = "nan"
        lines = _replace_line(good, 2, ",".join(fields))
        return write_csv(src / f"{name}.csv", lines), r"line 3 .*NaN"
    if case == "misaligned timestamp":
        fields = good[5].split(",")
        fields[0] = str(int(fields[0]) + 60_000)
        lines = _replace_line(good, 5, ",".join(fields))
        return write_csv(src / f"{name}.csv", lines, header=True), r"line 7 .*not on the 1h grid"
    if case == "mixed units in one file":
        lines = _replace_line(good, 8, kline_lines("2024-03-01 08:00", 1, unit="us")[0])
        return write_csv(src / f"{name}.csv", lines), r"line 9: .*microseconds"
    if case == "timestamp of no known unit":
        fields = good[1].split(",")
        fields[0] = "12345"
        lines = _replace_line(good, 1, ",".join(fields))
        return write_csv(src / f"{name}.csv", lines), r"line 2: open_time 12345"
    if case == "high below close":
        fields = good[6].split(",")
        fields[2] = fields[3]  # high = low
        lines = _replace_line(good, 6, ",".join(fields))
        return write_csv(src / f"{name}.csv", lines), r"line 7 .*high"
    if case == "unsorted rows":
        lines = [good[0], good[2], good[1], *good[3:]]
        return write_csv(src / f"{name}.csv", lines), r"line 3 .*earlier"
    if case == "header only":
        return write_csv(src / f"{name}.csv", [], header=True), r"no candles"
    if case == "zip without csv":
        return write_zip(src / f"{name}.zip", {"readme.txt": "hi"}), r"found no CSV file"
    if case == "zip with two csv":
        text = "\n".join(good)
        return (
            write_zip(src / f"{name}.zip", {"a.csv": text, "b.csv": text}),
            r"found 2 CSV files",
        )
    if case == "not a zip":
        path = src / f"{name}.zip"
        src.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(good))
        return path, r"not a readable zip"
    if case == "unparseable name":
        return write_csv(src / "candles-march.csv", good), r"cannot tell symbol and timeframe"
    if case == "unsupported interval in name":
        return write_csv(src / "BTCUSDT-1s-2024-03.csv", good), r"not a supported timeframe"
    raise AssertionError(case)


BAD_CASES = [
    "too few columns",
    "too many columns",
    "non-numeric price",
    "empty value",
    "non-integer trade count",
    "nan price",
    "misaligned timestamp",
    "mixed units in one file",
    "timestamp of no known unit",
    "high below close",
    "unsorted rows",
    "header only",
    "zip without csv",
    "zip with two csv",
    "not a zip",
    "unparseable name",
    "unsupported interval in name",
]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_file_raises_naming_it_and_leaves_the_store_untouched(
    case: str, store: CandleStore, tmp_path: Path
) -> None:
    seed = write_csv(tmp_path / "seed" / "BTCUSDT-1h-2024-01.csv", kline_lines("2024-01-01", 24))
    import_files([seed], store)
    before = snapshot(store.data_dir)

    src = tmp_path / "batch"
    # Good files that would change the store if anything were written: a new month of the
    # same series, and a new series.
    write_csv(src / "a" / "BTCUSDT-1h-2024-02.csv", kline_lines("2024-02-01", 24))
    write_csv(src / "a" / "ETHUSDT-1h-2024-02.csv", kline_lines("2024-02-01", 24))
    bad, message = _bad_file(case, src / "z")

    with pytest.raises(DataError, match=message) as info:
        import_files([src], store)
    assert str(bad) in str(info.value)
    assert snapshot(store.data_dir) == before


def test_broken_store_file_fails_before_any_series_is_written(
    store: CandleStore, src: Path
) -> None:
    target = store.path("SOLUSDT", "1h")
    target.parent.mkdir(parents=True)
    target.write_bytes(b"not parquet")
    before = snapshot(store.data_dir)
    write_csv(src / "BTCUSDT-1h-2024-01.csv", kline_lines("2024-01-01", 5))  # sorts first
    write_csv(src / "SOLUSDT-1h-2024-01.csv", kline_lines("2024-01-01", 5))
    with pytest.raises(DataError, match="SOLUSDT.parquet"):
        import_files([src], store)
    assert snapshot(store.data_dir) == before


def test_missing_path_and_empty_folder_raise(store: CandleStore, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        import_files([tmp_path / "nope"], store)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no .csv or .zip"):
        import_files([tmp_path / "empty"], store)
    other = tmp_path / "BTCUSDT-1h-2024-01.txt"
    other.write_text("x")
    with pytest.raises(DataError, match="not a .csv or .zip"):
        import_files([other], store)
    assert not store.data_dir.exists()
