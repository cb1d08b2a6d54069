"""Notifications: retries, what is given up, a full queue, secrets kept out of the log,
and a receiver that is slow or down never slowing the node's ticks."""

from __future__ import annotations

import logging
import socket
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tradewind.config import load_config
from tradewind.live.notify import Event, Notifier

HOOK = "http://127.0.0.1:9/hook/very-secret-path"


def _settings(home: Path, **env: str) -> Any:
    return load_config(
        environ={
            "TRADEWIND__HOME": str(home),
            "TRADEWIND__NOTIFY__WEBHOOK_URL": HOOK,
            "TRADEWIND__NOTIFY__BACKOFF_S": "0.01",
            **env,
        }
    )


def _event(i: int = 0, kind: str = "trade_open") -> Event:
    return Event(kind, "node", f"event {i}", data={"i": i})


def test_a_failed_delivery_is_retried_with_a_growing_pause(home: Path) -> None:
    answers = [503, 500, 429, 200]
    calls: list[float] = []

    def post(url: str, body: bytes, timeout: float) -> int:
        calls.append(time.monotonic())
        return answers[len(calls) - 1]

    n = Notifier(_settings(home), "node", post=post)
    n.send(_event())
    assert n.flush(5)
    n.close()
    assert len(calls) == 4
    assert n.sent == 1
    assert n.failed == 0
    gaps = [b - a for a, b in zip(calls, calls[1:], strict=False)]
    assert gaps[0] >= 0.01
    assert gaps[2] >= 0.04


def test_a_refused_request_is_not_sent_again_and_the_log_names_no_secret(
    home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[bytes] = []

    def post(url: str, body: bytes, timeout: float) -> int:
        calls.append(body)
        return 400

    n = Notifier(
        _settings(
            home,
            TRADEWIND__NOTIFY__TELEGRAM_TOKEN="999:bot-secret-token",
            TRADEWIND__NOTIFY__TELEGRAM_CHAT_ID="42",
        ),
        "node",
        post=post,
    )
    with caplog.at_level(logging.WARNING, logger="tradewind"):
        n.send(_event())
        n.close()
    assert len(calls) == 2  # once to each channel, no retry of a 400
    assert n.failed == 2
    assert "notification to webhook failed (HTTP 400)" in caplog.text
    assert "notification to telegram failed (HTTP 400)" in caplog.text
    assert "very-secret-path" not in caplog.text
    assert "bot-secret-token" not in caplog.text


def test_events_not_configured_are_not_sent_and_a_full_queue_drops_the_oldest(
    home: Path,
) -> None:
    got: list[bytes] = []
    gate = {"open": False}

    def post(url: str, body: bytes, timeout: float) -> int:
        while not gate["open"]:
            time.sleep(0.005)
        got.append(body)
        return 204

    settings = _settings(
        home, TRADEWIND__NOTIFY__QUEUE="3", TRADEWIND__NOTIFY__EVENTS='["trade_open"]'
    )
    n = Notifier(settings, "node", post=post)
    n.send(_event(0))
    time.sleep(0.05)  # the thread took event 0 and waits on the receiver
    for i in range(1, 6):
        n.send(_event(i))  # 1 and 2 fall out of a queue of 3
    n.send(_event(99, "safe_mode"))  # not configured: never queued
    gate["open"] = True
    n.close()
    import json

    assert [json.loads(b)["data"]["i"] for b in got] == [0, 3, 4, 5]
    assert n.dropped == 2
    assert n.sent == 4


def test_a_receiver_that_is_down_costs_nothing_to_send_to(home: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = _settings(
        home,
        TRADEWIND__NOTIFY__WEBHOOK_URL=f"http://127.0.0.1:{port}/hook",
        TRADEWIND__NOTIFY__RETRIES="1",
    )
    n = Notifier(settings, "node")
    started = time.perf_counter()
    for i in range(200):
        n.send(_event(i))
    assert time.perf_counter() - started < 0.05  # sending never waits on the network
    n.close(timeout=0.5)
    assert n.failed >= 1
    assert n.sent == 0


def test_a_slow_receiver_does_not_slow_a_tick(home: Path) -> None:
    """A replay whose webhook answers after 2 s per event: its ticks take what a replay
    without notifications takes, and the events still arrive."""
    from tests.integration.test_api import receiver
    from tests.unit.live.test_node import ENV, START
    from tradewind.data.store import CandleStore
    from tradewind.data.synthetic import generate_market, write_market
    from tradewind.live.run import replay

    write_market(
        generate_market(pairs=6, timeframe="1h", days=40, seed=5),
        CandleStore(home / "data", "synthetic"),
    )
    server, got = receiver(delay=2.0)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        env = {**ENV, "TRADEWIND__HOME": str(home)}
        end = pd.Timestamp("2024-01-26", tz="UTC")
        plain = replay(load_config(environ=env), START, end, name="plain")
        slow_settings = load_config(environ={**env, "TRADEWIND__NOTIFY__WEBHOOK_URL": url})
        started = time.perf_counter()
        slow = replay(slow_settings, START, end, name="slow")
        took = time.perf_counter() - started
    finally:
        server.shutdown()
        server.server_close()
    events = len(got)
    assert events >= 3  # trades opened and closed, mode switches (some still queued)
    # had a tick waited on the receiver, the slowest tick would take 2 s or more
    assert max(slow.tick_seconds) < 1.0
    assert sorted(slow.tick_seconds)[len(slow.tick_seconds) // 2] < 3 * max(
        sorted(plain.tick_seconds)[len(plain.tick_seconds) // 2], 0.01
    )
    assert slow.equity == plain.equity  # notifications change nothing in the trading
    # The replay did not wait for the receiver: the events it made would have taken
    # longer to deliver one after the other than the whole replay took (the node's close
    # gives the queue at most 5 s to drain, then leaves the rest).
    from tradewind.store.repository import TradeBook

    with TradeBook(slow_settings.book_url) as book:
        trades = book.trades(run_id=slow.run_id, kind="real")
        switches = book.table("mode_changes", run_id=slow.run_id)
    made = int(trades["entry_at"].notna().sum() + (trades["status"] == "closed").sum())
    made += len(switches)
    assert events < made  # some were still queued when the node closed
    assert took < 2.0 * made


def test_warnings_still_reach_stderr_once_a_handler_is_added(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Python's last resort prints warnings only while no handler exists anywhere; the
    notifier's and the log ring's handlers must not silence the node's warnings."""
    from tradewind.live.notify import keep_stderr

    monkeypatch.setattr(logging.getLogger(), "handlers", [])
    log = logging.getLogger("tradewind.test-keep-stderr")
    handler = keep_stderr(log)
    assert handler is not None
    try:
        log.addHandler(logging.NullHandler())  # the handler that would have silenced it
        log.warning("the node says something")
        log.info("not this")
    finally:
        log.handlers.clear()
    err = capsys.readouterr().err
    assert "the node says something" in err
    assert "not this" not in err
    log.addHandler(logging.NullHandler())
    try:
        assert keep_stderr(log) is None  # a logger with handlers keeps them
    finally:
        log.handlers.clear()
