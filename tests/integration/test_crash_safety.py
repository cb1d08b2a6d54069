"""A writer killed mid-write leaves a readable file: the old version or the new one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from tradewind.data.store import CandleStore

WRITER = """
import sys
from tests.conftest import make_candles
from tradewind.data.store import CandleStore

store = CandleStore(sys.argv[1], "binance")
versions = [make_candles(150_000, seed=1), make_candles(150_000, seed=2)]
store.write("BTCUSDT", "5m", versions[0])
print("ready", flush=True)
i = 1
while True:
    store.write("BTCUSDT", "5m", versions[i % 2])
    i += 1
"""


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.05, 0.13, 0.29, 0.41, 0.67])
def test_killed_writer_leaves_old_or_new_file(tmp_path: Path, delay: float) -> None:
    from tests.conftest import make_candles

    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path)],
        cwd=repo,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(repo)},
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()
    back = CandleStore(tmp_path, "binance").read("BTCUSDT", "5m")
    candidates = [make_candles(150_000, seed=1), make_candles(150_000, seed=2)]
    assert any(back.equals(c) for c in candidates)
    assert isinstance(back, pd.DataFrame)
