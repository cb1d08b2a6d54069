"""The kill test: the node, replaying 64 days of 1h candles, is killed with SIGKILL at
random moments and started again each time; at the end its trade book is the one an
uninterrupted node writes — no tick lost, none done twice, one run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import create_engine, text

from tests.integration._kill import kill_at_random
from tradewind.data.store import CandleStore
from tradewind.data.synthetic import generate_market, write_market

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX"),
]

ENV = {
    "TRADEWIND__DATA__TIMEFRAME": "1h",
    "TRADEWIND__CYCLE__NOMINATOR": "momentum",
    "TRADEWIND__LIVE__HISTORY": "10d",
    "TRADEWIND__CYCLE__PAIRS_PER_CYCLE": "2",
}
ARGS = ["run", "--replay", "--start", "2024-01-11", "--end", "2024-03-15", "--json"]
KILLS = 20


def _node(tmp: Path, name: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("TRADEWIND__")}
    return subprocess.Popen(
        [sys.executable, "-m", "tradewind", *ARGS, "--name", name],
        cwd=tmp,
        env={**env, **ENV},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _clock(book: Path, name: str) -> str | None:
    engine = create_engine(f"sqlite:///{book}")
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text("select clock from session_states where name = :n"), {"n": name}
            ).first()
    except Exception:  # the schema may not exist yet: killed before the first save
        return None
    finally:
        engine.dispose()
    return None if row is None else str(row[0])


def _rows(book: Path, sql: str, run_id: int) -> list[tuple[object, ...]]:
    engine = create_engine(f"sqlite:///{book}")
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(text(sql), {"r": run_id})]
    engine.dispose()
    return rows


TRADES = (
    "select trade_no, pair, kind, status, cycle, entry_at, entry_price, exit_at, exit_price, "
    "exit_reason, qty, cost, fees, pnl from trades where run_id = :r order by trade_no, kind"
)
LEDGER = "select at, amount, src, dst, reason, trade_no, book from ledger where run_id = :r"


def test_a_node_killed_twenty_times_ends_as_one_that_never_was(tmp_path: Path) -> None:
    write_market(
        generate_market(pairs=6, timeframe="1h", days=80, seed=5),
        CandleStore(tmp_path / ".tradewind" / "data", "synthetic"),
    )
    book = tmp_path / ".tradewind" / "tradebook.sqlite"
    ref = _node(tmp_path, "ref")
    out, err = ref.communicate(timeout=300)
    assert ref.returncode == 0, err
    want = json.loads(out)

    rng = np.random.default_rng(2026)
    clocks: list[str | None] = []
    for k in range(KILLS):
        proc = _node(tmp_path, "killed")
        # every fifth kill during start-up, the others while it trades
        kill_at_random(proc, lambda: _clock(book, "killed"), rng, while_trading=k % 5 != 2)
        proc.communicate(timeout=60)
        clocks.append(_clock(book, "killed"))
    last = _node(tmp_path, "killed")
    out, err = last.communicate(timeout=300)
    assert last.returncode == 0, err
    got = json.loads(out)

    # The kills fell while it traded: the saved clock moved between them.
    assert len({c for c in clocks if c is not None}) >= 10
    assert got["ticks"] < want["ticks"]  # the last start went on; it did not start over
    assert got["equity"] == want["equity"]
    assert _rows(book, TRADES, got["run_id"]) == _rows(book, TRADES, want["run_id"])
    assert _rows(book, LEDGER, got["run_id"]) == _rows(book, LEDGER, want["run_id"])
    # One run for the node, however often it started.
    nodes = _rows(book, "select summary from runs where kind = 'node' and id >= :r", 0)
    assert sorted(json.loads(str(s))["node"] for (s,) in nodes) == ["killed", "ref"]
