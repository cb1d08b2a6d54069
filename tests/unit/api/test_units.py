"""The status server's parts on their own: the token file, the log ring and its mask,
the thinning of a curve, the read-only view of a book."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tradewind.api.logs import LogBuffer, secrets_of
from tradewind.api.token import ensure_token, read_token, same_token
from tradewind.api.view import thin_curve
from tradewind.config import load_config
from tradewind.errors import ConfigError


def test_the_token_file_is_private_random_and_kept(home: Path) -> None:
    settings = load_config(environ={"TRADEWIND__HOME": str(home)})
    path, written = ensure_token(settings)
    assert written
    assert path == home / "api-token"
    assert path.stat().st_mode & 0o777 == 0o600
    token = read_token(path)
    assert len(token) >= 43
    assert ensure_token(settings) == (path, False)  # kept
    assert read_token(path) == token
    other_home = home.parent / "other"
    other = load_config(environ={"TRADEWIND__HOME": str(other_home)})
    assert read_token(ensure_token(other)[0]) != token  # not a fixed default
    renewed, _ = ensure_token(settings, renew=True)
    assert read_token(renewed) != token
    assert not list(home.glob(".api-token*"))  # no temporary file left behind


def test_a_token_others_can_read_is_refused(home: Path) -> None:
    settings = load_config(environ={"TRADEWIND__HOME": str(home)})
    path, _ = ensure_token(settings)
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="can be read by others.*chmod 600"):
        read_token(path)
    with pytest.raises(ConfigError, match="can be read by others"):
        ensure_token(settings)  # a node does not start on it either
    os.chmod(path, 0o600)
    path.write_text("short\n")
    with pytest.raises(ConfigError, match="too short"):
        read_token(path)
    with pytest.raises(ConfigError, match="no API token.*tradewind init"):
        read_token(home / "missing")


def test_tokens_compare_whole() -> None:
    assert same_token("a" * 40, "a" * 40)
    assert not same_token("a" * 39, "a" * 40)
    assert not same_token(None, "a" * 40)
    assert not same_token("", "a" * 40)


def test_the_log_ring_keeps_the_newest_lines_and_masks_secrets(home: Path) -> None:
    settings = load_config(
        environ={
            "TRADEWIND__HOME": str(home),
            "TRADEWIND__EXCHANGE__API_KEY": "AKIA-very-secret-key",
            "TRADEWIND__NOTIFY__WEBHOOK_URL": "https://hooks.example/T0/B0/xyzsecret",
        }
    )
    secrets = secrets_of(settings, "api-token-value-123")
    assert "AKIA-very-secret-key" in secrets
    assert "api-token-value-123" in secrets
    ring = LogBuffer(3, secrets).attach()
    log = logging.getLogger("tradewind.test")
    try:
        log.info("one")
        log.warning("posting to https://hooks.example/T0/B0/xyzsecret failed")
        log.info("key AKIA-very-secret-key and token api-token-value-123")
        log.error("four")
        log.debug("not kept: below INFO")
    finally:
        ring.detach()
    lines = ring.recent(10)
    assert [x["seq"] for x in lines] == [2, 3, 4]  # the oldest fell out of the ring
    text = " ".join(x["message"] for x in lines)
    assert "xyzsecret" not in text
    assert "AKIA" not in text
    assert "api-token-value" not in text
    assert text.count("***") == 3
    assert [x["message"] for x in ring.recent(10, "error")] == ["four"]
    assert ring.recent(1)[0]["message"] == "four"


def test_thinning_keeps_the_last_value_and_the_deepest_drawdown_of_each_stretch() -> None:
    rng = np.random.default_rng(4)
    eq = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 10_000)))
    peak = np.maximum.accumulate(eq)
    frame = pd.DataFrame(
        {
            "at": pd.date_range("2024-01-01", periods=len(eq), freq="5min", tz="UTC"),
            "equity": eq,
            "drawdown": eq / peak - 1,
        }
    )
    thin = thin_curve(frame, 100)
    assert len(thin) == 100
    assert thin["drawdown"].min() == frame["drawdown"].min()
    assert thin["equity"].iloc[-1] == eq[-1]
    assert thin["at"].iloc[-1] == frame["at"].iloc[-1]
    assert thin["at"].is_monotonic_increasing
    assert thin_curve(frame.head(50), 100).equals(frame.head(50))  # short: untouched


def test_a_backtest_saved_to_the_book_is_served_with_its_equity(home: Path) -> None:
    from tests.unit.backtest.test_run import SMALL
    from tradewind.api.view import BookView
    from tradewind.backtest.run import run_backtest
    from tradewind.data.store import CandleStore
    from tradewind.data.synthetic import generate_market, write_market

    write_market(
        generate_market(pairs=6, timeframe="1h", days=40, seed=5),
        CandleStore(home / "data", "synthetic"),
    )
    settings = load_config(environ={**SMALL, "TRADEWIND__HOME": str(home)})
    result = run_backtest(settings, save=True)
    run_id = result.summary["trade_book"]["run_id"]
    view = BookView(settings.book_url, name="no-such-node")
    try:
        runs = view.runs()  # no node of that name: the newest run, the backtest
        assert runs.cycle == run_id
        assert runs.agents is None
        curve = view.equity(run_id, 10**9)
        assert len(curve["equity"]) == len(result.equity)
        assert curve["equity"][-1] == pytest.approx(result.summary["metrics"]["final_equity"])
        assert curve["equity"] == result.equity["equity"].tolist()
        assert curve["paper_equity"] == result.equity["paper_equity"].tolist()
        budget = view.budget(runs, 10**9)
        assert budget["history"][0]["main"] == settings.cycle.capital
        assert view.last_at(run_id) == result.equity.index[-1].to_pydatetime()
        total, items = view.closed_trades(
            runs.all, agent=None, pair=None, kind="real", status="closed", limit=500, offset=0
        )
        real = result.trades[
            (result.trades["kind"] == "real") & (result.trades["status"] == "closed")
        ]
        assert total == len(real) > 0
        assert sorted(t["trade_no"] for t in items) == sorted(real["id"].tolist())
        # served: the status of a backtest is its kind, final equity and last candle
        import httpx

        from tradewind.api.server import serve_book
        from tradewind.api.token import token_path

        served = settings.model_copy(
            update={"api": settings.api.model_copy(update={"port": 0})}
        )
        server = serve_book(served, served.book_url, name=None, run_id=run_id)
        try:
            token = read_token(token_path(served))
            status = httpx.get(
                server.url + "api/status", headers={"Authorization": f"Bearer {token}"}
            )
        finally:
            server.stop()
        assert status.status_code == 200
        got = status.json()
        assert got["served_by"] == "book"
        assert got["mode"] == "backtest"
        assert got["equity"] == pytest.approx(result.summary["metrics"]["final_equity"])
        assert pd.Timestamp(got["clock"]) == result.equity.index[-1]
        assert got["control"] is False
    finally:
        view.close()


def test_a_server_without_a_node_reads_a_pairs_last_close_again_only_when_it_changed(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import make_candles
    from tradewind.api.app import store_prices
    from tradewind.data.store import CandleStore

    settings = load_config(
        environ={
            "TRADEWIND__HOME": str(home),
            "TRADEWIND__DATA__EXCHANGE": "synthetic",
            "TRADEWIND__DATA__TIMEFRAME": "5m",
        }
    )
    store = CandleStore(settings.data_dir, "synthetic")
    candles = make_candles(100)
    store.write("BTCUSDT", "5m", candles.head(50))
    prices = store_prices(settings)
    reads: list[str] = []
    real = CandleStore.read_raw

    def counted(self: CandleStore, symbol: str, timeframe: Any) -> pd.DataFrame:
        reads.append(symbol)
        return real(self, symbol, timeframe)

    monkeypatch.setattr(CandleStore, "read_raw", counted)
    first = prices(["BTCUSDT", "NOPEUSDT"])
    assert first["BTCUSDT"][0] == candles["close"].iloc[49]
    assert "NOPEUSDT" not in first  # no candles: no price, no error
    assert prices(["BTCUSDT"]) == {"BTCUSDT": first["BTCUSDT"]}
    assert reads == ["BTCUSDT"]  # the second ask was served without reading the file
    time.sleep(0.01)
    store.write("BTCUSDT", "5m", candles)
    assert prices(["BTCUSDT"])["BTCUSDT"][0] == candles["close"].iloc[-1]
    assert reads == ["BTCUSDT", "BTCUSDT"]
