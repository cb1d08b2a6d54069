"""``tradewind run`` through the CLI: a replay, and the refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.unit.cli.test_cli import run
from tests.unit.live.test_node import ENV, market  # noqa: F401 (fixture)


@pytest.fixture
def env(market: Path, monkeypatch: pytest.MonkeyPatch) -> Path:  # noqa: F811
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    return market


def test_a_replay_through_the_cli_and_again_goes_on(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("run", "--replay", "--start", "2024-01-06", "--end", "2024-01-09", "--json")
    code, out, err = run(capsys, *args)
    assert code == 0, err
    first = json.loads(out)
    assert first["ticks"] == first["candles"] == 73  # closing 6 Jan 00:00 … 9 Jan 00:00
    assert first["tick_p99_s"] is not None
    # Run again with a later end: it goes on from where it stopped.
    code, out, err = run(capsys, *args[:-2], "2024-01-10", "--json")
    assert code == 0, err
    assert json.loads(out)["ticks"] == 24


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("run", "--live"), 'live.mode = "paper"'),
        (("run", "--replay", "--live"), "exclude each other"),
        (("run", "--replay", "--start", "2024-01-06"), "--replay needs --start and --end"),
        (("run",), "synthetic market has no live candles"),
        (("run", "--start", "2024-01-06"), "belong to --replay"),
    ],
)
def test_the_node_refuses_what_it_cannot_do_plainly(
    env: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    code, _, err = run(capsys, *args)
    assert code != 0
    assert message in err


@pytest.mark.parametrize("usdt", [20_000.0, 500.0], ids=["funded", "short-of-capital"])
def test_live_through_its_gate_says_what_it_will_trade_then_starts_with_the_venue(
    env: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    usdt: float,
) -> None:
    from tests.integration.test_exchange_orders import FRAMES, at
    from tradewind.live import run as live_run
    from tradewind.testing.exchange_server import AccountSpec, ExchangeServer

    key, secret = "k-123-never-printed", "s-456-never-printed"
    spec = AccountSpec(api_key=key, secret=secret, balances={"USDT": usdt})
    started: list[object] = []
    monkeypatch.setattr(live_run, "run_paper", lambda *a, **kw: started.append(kw["venue"]))
    with ExchangeServer(FRAMES, now=at(5), account=spec) as server:
        monkeypatch.setenv("TRADEWIND__LIVE__MODE", "live")
        monkeypatch.setenv("TRADEWIND__EXCHANGE__API_KEY", key)
        monkeypatch.setenv("TRADEWIND__EXCHANGE__API_SECRET", secret)
        monkeypatch.setenv("TRADEWIND__EXCHANGE__API_URL", server.api_url)
        monkeypatch.setenv("TRADEWIND__DATA__EXCHANGE", "binance")
        code, out, err = run(capsys, "run", "--live", "--json")
    assert "never-printed" not in out + err
    if usdt < 10_000:  # cycle.capital
        assert code != 0
        assert "the account has 500.00 USDT free" in err
        assert not started
        return
    assert code == 0, err
    plan = json.loads(out)["live"]
    assert plan["capital"] == 10_000
    assert plan["account_free"] == usdt
    assert plan["testnet"] is False
    (venue,) = started
    assert venue is not None  # the node starts with the exchange as its venue


def test_flatten_passes_the_live_gate_and_asks_first(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import typer

    code, out, err = run(capsys, "flatten", "--yes")
    assert code != 0
    assert 'live.mode = "paper"' in err  # the gate of --live, all of it
    monkeypatch.setenv("TRADEWIND__LIVE__MODE", "live")
    monkeypatch.setenv("TRADEWIND__EXCHANGE__API_KEY", "k-123-never-printed")
    monkeypatch.setenv("TRADEWIND__EXCHANGE__API_SECRET", "s-456-never-printed")
    asked: list[str] = []

    def confirm(text: str, **_kw: object) -> bool:
        asked.append(text)
        return False

    monkeypatch.setattr(typer, "confirm", confirm)
    code, out, err = run(capsys, "flatten", "--name", "mine")
    assert code == 1  # declined: nothing was opened or sent
    assert asked == ["Sell every position of node 'mine' at the market and cancel its orders?"]
    assert "never-printed" not in out + err
