"""``tradewind serve``: the dashboard over a trade book, until interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.unit.cli.test_cli import run


def test_serve_runs_until_interrupted_and_says_where(home: Path) -> None:
    from tradewind.store.db import upgrade

    home.mkdir(parents=True)
    upgrade(f"sqlite:///{home / 'tradebook.sqlite'}")  # an empty book
    env = {**os.environ, "TRADEWIND__HOME": str(home), "TRADEWIND__API__PORT": "0"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tradewind", "serve", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if line.startswith("}"):
                break
        out = json.loads("".join(lines))
        assert out["url"].startswith("http://127.0.0.1:")
        token = (home / "api-token").read_text().strip()  # written at the first start
        assert (home / "api-token").stat().st_mode & 0o777 == 0o600
        assert token not in json.dumps(out)
        assert httpx.get(out["url"] + "health").json()["status"] == "ok"
        status = httpx.get(
            out["url"] + "api/status", headers={"Authorization": f"Bearer {token}"}
        ).json()
        assert status["served_by"] == "book"
        assert status["mode"] == "empty"  # a new book: nothing in it yet
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        assert not (home / "api-serve-book.json").exists()  # its address file is gone
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def test_serve_names_a_run_that_is_not_there(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "serve", "--port", "0")
    assert code == 6
    assert "no trade book at" in err
    from tradewind.store.db import upgrade

    home.mkdir(parents=True)
    upgrade(f"sqlite:///{home / 'tradebook.sqlite'}")
    code, _, err = run(capsys, "serve", "--run", "999", "--port", "0")
    assert code == 6
    assert "no run 999" in err
