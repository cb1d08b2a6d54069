"""Download and update through the real ccxt client against the local exchange server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import make_candles
from tradewind.cli.app import main
from tradewind.config.models import DownloadConfig, ExchangeConfig
from tradewind.data.sources.download import DownloadReport, sync_candles
from tradewind.data.store import CandleStore
from tradewind.errors import ConfigError, ExchangeRejected
from tradewind.testing.exchange_server import ExchangeServer, Fault

N = 3200
START = pd.Timestamp("2024-03-01", tz="UTC")
LATE = START + pd.Timedelta(hours=100)


def server_frames() -> dict[str, pd.DataFrame]:
    frames = {
        "BTCUSDT": make_candles(N, seed=1, price=60000),
        "ETHUSDT": make_candles(N, seed=2, price=3000),
        "SOLUSDT": make_candles(N, seed=3, price=100),
    }
    late = make_candles(N - 1200, seed=4, price=5, start=str(LATE))  # listed 100 h later
    frames["NEWUSDT"] = late
    for df in frames.values():
        df["timestamp"] = df["timestamp"] + (START - pd.Timestamp("2024-01-01", tz="UTC"))
    frames["NEWUSDT"]["timestamp"] = late["timestamp"] - (
        START - pd.Timestamp("2024-01-01", tz="UTC")
    )
    return frames


FRAMES = server_frames()
LAST_OPEN = max(df["timestamp"].iloc[-1] for df in FRAMES.values())
NOW = LAST_OPEN + pd.Timedelta(minutes=2)  # the last candle is still open


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ExchangeServer]:
    store = CandleStore(tmp_path / "server", "binance")
    for symbol, df in FRAMES.items():
        store.write(symbol, "5m", df)
    with ExchangeServer(store, now=NOW) as srv:
        yield srv


def configs(server: ExchangeServer, **exchange: object) -> tuple[ExchangeConfig, DownloadConfig]:
    return (
        ExchangeConfig(api_url=server.api_url, timeout_s=2.0, **exchange),  # type: ignore[arg-type]
        DownloadConfig(backoff_s=0.05, backoff_max_s=1.0, max_retries=8, concurrency=8),
    )


def expected(symbol: str) -> pd.DataFrame:
    df = FRAMES[symbol]
    return df.loc[df["timestamp"] < LAST_OPEN].reset_index(drop=True)


def assert_same_candles(store: CandleStore, symbol: str) -> None:
    got = store.read(symbol, "5m")
    want = expected(symbol)
    pd.testing.assert_frame_equal(got.loc[:, list(want.columns)], want)


def run_sync(server: ExchangeServer, store: CandleStore, **kwargs: object) -> DownloadReport:
    exchange_cfg, download_cfg = configs(server)
    params: dict[str, object] = {
        "exchange_cfg": exchange_cfg,
        "download_cfg": download_cfg,
        "now": NOW,
    }
    params.update(kwargs)
    return sync_candles(store, "5m", **params)  # type: ignore[arg-type]


def test_download_pages_every_pair_and_never_stores_the_open_candle(
    server: ExchangeServer, tmp_path: Path
) -> None:
    store = CandleStore(tmp_path / "client", "binance")
    report = run_sync(server, store, pairs=list(FRAMES), since=START, mode="download")
    assert [p.status for p in report.pairs] == ["ok"] * 4
    for symbol in FRAMES:
        assert_same_candles(store, symbol)
    assert store.last_timestamp("BTCUSDT", "5m") == LAST_OPEN - pd.Timedelta(minutes=5)
    got = store.read("BTCUSDT", "5m")
    assert {"quote_volume", "trades", "taker_buy_volume"} <= set(got.columns)
    # the late listing costs no empty requests before its first candle
    assert store.read("NEWUSDT", "5m")["timestamp"].iloc[0] == LATE
    assert server.stats().rate_limited == 0


def test_update_fetches_only_the_tail_and_the_holes(server: ExchangeServer, tmp_path: Path) -> None:
    store = CandleStore(tmp_path / "client", "binance")
    old = expected("ETHUSDT").iloc[:2000].drop(index=range(500, 620)).reset_index(drop=True)
    store.write("ETHUSDT", "5m", old)
    store.write("BTCUSDT", "5m", expected("BTCUSDT"))
    server.reset_stats()
    report = run_sync(server, store, mode="update")
    by_symbol = {p.symbol: p for p in report.pairs}
    assert by_symbol["ETHUSDT"].holes == 1
    assert by_symbol["ETHUSDT"].added == len(expected("ETHUSDT")) - len(old)
    assert by_symbol["BTCUSDT"].status == "up-to-date"
    assert_same_candles(store, "ETHUSDT")
    assert_same_candles(store, "BTCUSDT")
    klines = server.stats().by_endpoint.get("klines", 0)
    assert klines <= 6  # one for the hole, about two for ETH's tail, one for BTC's
    again = run_sync(server, store, mode="update")
    assert all(p.added == 0 for p in again.pairs)
    assert_same_candles(store, "ETHUSDT")


def test_faults_are_retried_and_end_with_identical_files(
    server: ExchangeServer, tmp_path: Path
) -> None:
    store = CandleStore(tmp_path / "client", "binance")
    server.faults.push(
        Fault.rate_limit(0.2), Fault.server_error(503), Fault.timeout(3.0), Fault.ban(0.3)
    )
    server.faults.set_rates(
        [
            (Fault.server_error(502), 0.1),
            (Fault.short_page(), 0.2),
            (Fault.server_error(500), 0.05),
        ],
        seed=7,
    )
    report = run_sync(server, store, pairs=list(FRAMES), since=START, mode="download")
    assert report.failed == []
    assert report.retries >= 3
    assert report.rate_limited >= 1
    for symbol in FRAMES:
        assert_same_candles(store, symbol)


def test_a_pair_that_keeps_failing_is_reported_and_its_file_untouched(
    server: ExchangeServer, tmp_path: Path
) -> None:
    store = CandleStore(tmp_path / "client", "binance")
    store.write("SOLUSDT", "5m", expected("SOLUSDT").iloc[:100])
    before = store.path("SOLUSDT", "5m").read_bytes()
    server.faults.set_rates([(Fault.server_error(503, symbol="SOLUSDT"), 1.0)], seed=1)
    exchange_cfg, _ = configs(server)
    report = sync_candles(
        store,
        "5m",
        exchange_cfg=exchange_cfg,
        download_cfg=DownloadConfig(backoff_s=0.01, max_retries=2),
        pairs=["SOLUSDT", "BTCUSDT"],
        since=START,
        now=NOW,
    )
    assert [p.symbol for p in report.failed] == ["SOLUSDT"]
    assert "503" in (report.failed[0].error or "") or "ExchangeNotAvailable" in (
        report.failed[0].error or ""
    )
    assert store.path("SOLUSDT", "5m").read_bytes() == before
    assert_same_candles(store, "BTCUSDT")


def test_binding_budget_is_respected_without_a_single_429(tmp_path: Path) -> None:
    store = CandleStore(tmp_path / "server", "binance")
    for symbol, df in FRAMES.items():
        store.write(symbol, "5m", df)
    with ExchangeServer(store, now=NOW, weight_limit=40, weight_window=1.5) as srv:
        client = CandleStore(tmp_path / "client", "binance")
        exchange_cfg, download_cfg = configs(srv, weight_budget=40, weight_window_s=1.5)
        report = sync_candles(
            client,
            "5m",
            exchange_cfg=exchange_cfg,
            download_cfg=download_cfg,
            pairs=list(FRAMES),
            since=START,
            now=NOW,
        )
        assert report.failed == []
        assert srv.stats().rate_limited == 0
        assert srv.stats().banned == 0
        assert srv.stats().max_used_weight <= 40
        assert report.weight > 40  # the job needed more than one window
    for symbol in FRAMES:
        assert_same_candles(client, symbol)


def test_unknown_pair_fails_before_anything_is_written(
    server: ExchangeServer, tmp_path: Path
) -> None:
    store = CandleStore(tmp_path / "client", "binance")
    with pytest.raises(ExchangeRejected, match="BTCUSTD.*did you mean BTCUSDT"):
        run_sync(server, store, pairs=["BTCUSDT", "BTCUSTD"], since=START)
    assert not store.root.exists()


def test_unknown_exchange_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="binanse.*did you mean 'binance'"):
        sync_candles(
            CandleStore(tmp_path, "binanse"),
            "5m",
            exchange_cfg=ExchangeConfig(),
            download_cfg=DownloadConfig(),
            pairs=["BTCUSDT"],
            since=START,
        )


def test_update_marks_pairs_gone_from_the_exchange_as_delisted(
    server: ExchangeServer, tmp_path: Path
) -> None:
    store = CandleStore(tmp_path / "client", "binance")
    store.write("GONEUSDT", "5m", make_candles(50))
    store.write("SOLUSDT", "5m", expected("SOLUSDT").iloc[:3000])
    report = run_sync(server, store, mode="update")
    by_symbol = {p.symbol: p.status for p in report.pairs}
    assert by_symbol == {"GONEUSDT": "delisted", "SOLUSDT": "ok"}
    assert_same_candles(store, "SOLUSDT")


def test_top_n_by_quote_volume(server: ExchangeServer, tmp_path: Path) -> None:
    store = CandleStore(tmp_path / "client", "binance")
    report = run_sync(server, store, top=2, since=NOW - pd.Timedelta(hours=2))
    assert len(report.pairs) == 2
    assert {p.symbol for p in report.pairs} <= set(FRAMES)


def test_cli_download_then_update(
    server: ExchangeServer,
    tmp_path: Path,
    home: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRADEWIND__EXCHANGE__API_URL", server.api_url)
    args = [
        "data",
        "download",
        "--exchange",
        "binance",
        "--timeframe",
        "5m",
        "--pairs",
        "BTCUSDT,ETHUSDT",
        "--since",
        str(LAST_OPEN - pd.Timedelta(days=1)),
        "--json",
        "--quiet",
    ]
    with pytest.raises(SystemExit) as done:
        main(args)
    assert done.value.code == 0
    payload = json.loads(capsys.readouterr().out)
    # the CLI takes the exchange's clock (earlier than ours): its last candle is still open
    assert payload["added"] == 2 * 288
    with pytest.raises(SystemExit) as done:
        main(["data", "update", "--exchange", "binance", "--timeframe", "5m", "--json"])
    assert done.value.code == 0
    assert json.loads(capsys.readouterr().out)["added"] == 0


def test_update_of_a_pair_without_file_needs_since(server: ExchangeServer, tmp_path: Path) -> None:
    store = CandleStore(tmp_path / "client", "binance")
    store.write("BTCUSDT", "5m", expected("BTCUSDT").iloc[:100])
    before = store.path("BTCUSDT", "5m").read_bytes()
    with pytest.raises(ConfigError, match="ETHUSDT: give --since"):
        run_sync(server, store, pairs=["BTCUSDT", "ETHUSDT"], mode="update")
    assert store.path("BTCUSDT", "5m").read_bytes() == before
    assert not store.exists("ETHUSDT", "5m")


def test_a_broken_stored_file_fails_its_pair_only(server: ExchangeServer, tmp_path: Path) -> None:
    store = CandleStore(tmp_path / "client", "binance")
    store.write("BTCUSDT", "5m", expected("BTCUSDT").iloc[:100])
    broken = store.path("ETHUSDT", "5m")
    broken.write_bytes(b"not parquet")
    report = run_sync(server, store, mode="update")
    assert [p.symbol for p in report.failed] == ["ETHUSDT"]
    assert "not a readable Parquet file" in (report.failed[0].error or "")
    assert broken.read_bytes() == b"not parquet"
    assert_same_candles(store, "BTCUSDT")


def test_download_keeps_the_exchanges_order_rules_beside_the_candles(
    server: ExchangeServer, tmp_path: Path
) -> None:
    from tradewind.data.markets import load_market_rules

    store = CandleStore(tmp_path / "client", "binance")
    run_sync(server, store, pairs=["BTCUSDT", "ETHUSDT"], since=LAST_OPEN - pd.Timedelta(hours=2))
    rules = load_market_rules(store)
    assert set(rules) == {"BTCUSDT", "ETHUSDT"}
    btc = rules["BTCUSDT"]
    assert btc.tick > 0
    assert btc.lot_step > 0
    assert btc.min_notional > 0
