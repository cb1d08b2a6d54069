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


def test_live_with_the_gate_open_still_refuses_without_a_venue(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADEWIND__LIVE__MODE", "live")
    monkeypatch.setenv("TRADEWIND__EXCHANGE__API_KEY", "k-123-never-printed")
    monkeypatch.setenv("TRADEWIND__EXCHANGE__API_SECRET", "s-456-never-printed")
    code, out, err = run(capsys, "run", "--live")
    assert code != 0
    assert "ccxt venue" in err
    assert "never-printed" not in out + err
