"""One request-weight limiter shared by every task that talks to an exchange.

Binance counts request weight per IP over a rolling minute and answers 429 (then 418, a
ban) past the budget. The limiter keeps the same books on our side: a request's weight
counts from the moment it is sent, and expires one window after its *response* arrived —
the server counted it somewhere in between, so this never under-counts. The
``X-MBX-USED-WEIGHT-1M`` header, when present, corrects our books upward (another program
on the same IP, a restart). After a 429/418 every task pauses until ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["LimiterStats", "WeightLimiter"]


@dataclass(slots=True)
class LimiterStats:
    """What the limiter did: requests admitted, time spent waiting, pauses ordered."""

    requests: int = 0
    weight: int = 0
    waited_s: float = 0.0
    pauses: int = 0
    max_used: int = 0


class WeightLimiter:
    """Admit requests while their weight fits in ``budget × share`` over ``window_s``."""

    def __init__(
        self,
        budget: int,
        window_s: float,
        *,
        share: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.capacity = max(1, int(budget * share))
        self.window_s = window_s
        self._clock = clock
        self._ids = itertools.count()
        self._inflight: dict[int, int] = {}
        self._done: list[tuple[float, int]] = []  # (expiry, weight), expiry ascending
        self._external: list[tuple[float, int]] = []
        self._paused_until = 0.0
        self._cond: asyncio.Condition | None = None
        self.stats = LimiterStats()

    def _condition(self) -> asyncio.Condition:
        if self._cond is None:
            self._cond = asyncio.Condition()
        return self._cond

    def _purge(self, now: float) -> None:
        self._done = [(t, w) for t, w in self._done if t > now]
        self._external = [(t, w) for t, w in self._external if t > now]

    def used(self) -> int:
        """Weight counted against the window right now (in flight included)."""
        now = self._clock()
        self._purge(now)
        return (
            sum(self._inflight.values())
            + sum(w for _, w in self._done)
            + sum(w for _, w in self._external)
        )

    def _next_release(self, now: float) -> float:
        times = [t for t, _ in self._done] + [t for t, _ in self._external]
        if self._paused_until > now:
            times.append(self._paused_until)
        return max(0.005, min(times) - now) if times else 0.05

    async def acquire(self, weight: int) -> int:
        """Wait until ``weight`` fits; return a ticket to pass to :meth:`release`."""
        weight = min(weight, self.capacity)
        cond = self._condition()
        start = self._clock()
        async with cond:
            while True:
                now = self._clock()
                if now >= self._paused_until and self.used() + weight <= self.capacity:
                    break
                try:
                    await asyncio.wait_for(cond.wait(), timeout=self._next_release(now))
                except TimeoutError:
                    pass
            ticket = next(self._ids)
            self._inflight[ticket] = weight
            self.stats.requests += 1
            self.stats.weight += weight
            self.stats.waited_s += self._clock() - start
            self.stats.max_used = max(self.stats.max_used, self.used())
            return ticket

    async def release(self, ticket: int, used_header: int | None = None) -> None:
        """The response for ``ticket`` arrived; its weight now expires one window later."""
        cond = self._condition()
        async with cond:
            now = self._clock()
            weight = self._inflight.pop(ticket, 0)
            self._done.append((now + self.window_s, weight))
            self._done.sort()
            if used_header is not None:
                ours = self.used()
                if used_header > ours:
                    self._external.append((now + self.window_s, used_header - ours))
            cond.notify_all()

    async def pause(self, seconds: float) -> None:
        """Stop admitting anyone for ``seconds`` (the exchange said Retry-After)."""
        cond = self._condition()
        async with cond:
            until = self._clock() + max(0.0, seconds)
            if until > self._paused_until:
                self._paused_until = until
                self.stats.pauses += 1
            cond.notify_all()
