"""Killing a node at a random moment that is the same kind of moment on any machine.

A fixed delay after the start lands in start-up on a slow machine and mid-trading on a
fast one (start-up took 1.3 s on one day and 2.8 s on another here), so the kill tests
wait for what they mean instead: nothing, for a kill during start-up, or the node's first
saved tick since it started, for a kill while it trades.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable

import numpy as np


def kill_at_random(
    proc: subprocess.Popen[str],
    saved_clock: Callable[[], object],
    rng: np.random.Generator,
    *,
    while_trading: bool,
    spread: float = 1.5,
    timeout: float = 120.0,
) -> None:
    """SIGKILL ``proc`` during its start-up (0.2 to 1 s after it began, before it can save
    a tick) or, ``while_trading``, once ``saved_clock()`` has moved from where it stood
    when this was called, then 0 to ``spread`` s later: anywhere in a tick or between two.
    A process that ends first is left alone."""
    if not while_trading:
        time.sleep(float(rng.uniform(0.2, 1.0)))
    else:
        before = saved_clock()
        give_up = time.monotonic() + timeout
        while proc.poll() is None and saved_clock() == before:
            if time.monotonic() > give_up:
                proc.kill()
                raise AssertionError(f"the node saved no tick in {timeout:.0f} s")
            time.sleep(0.1)
        time.sleep(float(rng.uniform(0.0, spread)))
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
