"""Request-weight budget, IP ban and request statistics of the test exchange.

Windows run on the monotonic clock, not the server clock: the server clock may be frozen
at a historical moment, but a client's pacing happens in real time.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

__all__ = ["Admission", "ServerStats", "StatsRecorder", "WeightLimiter"]


@dataclass(frozen=True, slots=True)
class Admission:
    """The limiter's verdict on one request.

    ``status`` is 200 (admitted), 429 (over budget) or 418 (banned); ``used`` is the
    weight to report in the header; ``retry_after`` the seconds to wait (0 if admitted).
    """

    status: int
    used: int
    retry_after: float = 0.0

    @property
    def retry_after_header(self) -> str:
        """Whole seconds, rounded up and at least 1, as HTTP's Retry-After wants."""
        return str(max(1, math.ceil(self.retry_after)))


class WeightLimiter:
    """A rolling-window weight budget with Binance's escalation from 429 to 418.

    A request that does not fit gets 429 and opens a back-off period lasting until enough
    weight has expired for it. Requests that still do not fit, sent during that period
    after ``ban_after_429s`` such 429s, earn a ban of ``ban_seconds``; every request
    during a ban gets 418. Rejected requests are not added to the window (so Retry-After
    stays truthful), but the header on a 429 shows the weight the request would have
    brought the window to, as Binance's counter does.
    """

    def __init__(
        self,
        limit: int = 6000,
        window: float = 60.0,
        *,
        ban_seconds: float = 120.0,
        ban_after_429s: int | None = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit <= 0 or window <= 0 or ban_seconds < 0:
            raise ValueError("limit and window must be positive, ban_seconds not negative")
        self.limit = limit
        self.window = window
        self.ban_seconds = ban_seconds
        self.ban_after_429s = ban_after_429s
        self._clock = clock
        self._lock = threading.Lock()
        self._events: deque[tuple[float, int]] = deque()
        self._used = 0
        self._backoff_until = -math.inf
        self._strikes = 0
        self._banned_until = -math.inf

    def _expire(self, now: float) -> None:
        while self._events and self._events[0][0] <= now - self.window:
            self._used -= self._events.popleft()[1]

    def used(self) -> int:
        """Weight used in the current window."""
        with self._lock:
            self._expire(self._clock())
            return self._used

    def banned_for(self) -> float:
        """Seconds left of the current ban (0 when not banned)."""
        with self._lock:
            return max(0.0, self._banned_until - self._clock())

    def reset(self) -> None:
        """Forget all weight, back-off and ban (between test phases)."""
        with self._lock:
            self._events.clear()
            self._used = self._strikes = 0
            self._backoff_until = self._banned_until = -math.inf

    def admit(self, weight: int) -> Admission:
        """Record ``weight`` if it fits the budget; otherwise say how long to wait."""
        with self._lock:
            now = self._clock()
            self._expire(now)
            if now < self._banned_until:
                return Admission(418, self._used, self._banned_until - now)
            if self._used + weight <= self.limit:
                self._events.append((now, weight))
                self._used += weight
                return Admission(200, self._used)
            if now >= self._backoff_until:
                self._strikes = 0
            if self.ban_after_429s is not None and self._strikes >= self.ban_after_429s:
                self._banned_until = now + self.ban_seconds
                self._strikes = 0
                self._backoff_until = -math.inf
                return Admission(418, self._used, self.ban_seconds)
            wait = self._wait_for(weight, now)
            self._strikes += 1
            self._backoff_until = max(self._backoff_until, now + wait)
            return Admission(429, self._used + weight, wait)

    def _wait_for(self, weight: int, now: float) -> float:
        """Seconds until enough recorded weight expires for ``weight`` to fit."""
        if weight > self.limit:
            return self.window  # never fits; a full window is the honest upper bound
        need = self._used + weight - self.limit
        for stamp, w in self._events:
            need -= w
            if need <= 0:
                return max(0.0, stamp + self.window - now)
        return self.window  # pragma: no cover - need <= 0 is reached by the last event


@dataclass(frozen=True, slots=True)
class ServerStats:
    """A snapshot of what the server saw, for assertions in tests and benchmark reports.

    ``rate_limited`` and ``banned`` count the limiter's own 429 and 418 answers;
    injected faults are counted apart in ``faults`` (by kind) and all answers by HTTP
    status in ``by_status``. ``max_used_weight`` is the highest admitted window weight.
    """

    requests: int = 0
    by_endpoint: Mapping[str, int] = field(default_factory=dict)
    by_status: Mapping[int, int] = field(default_factory=dict)
    faults: Mapping[str, int] = field(default_factory=dict)
    rate_limited: int = 0
    banned: int = 0
    max_used_weight: int = 0


class StatsRecorder:
    """Thread-safe counters behind :class:`ServerStats`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Start counting from zero."""
        with self._lock:
            self._requests = 0
            self._by_endpoint: Counter[str] = Counter()
            self._by_status: Counter[int] = Counter()
            self._faults: Counter[str] = Counter()
            self._limited = self._banned = self._max_used = 0

    def request(self, endpoint: str, admission: Admission) -> None:
        """Count an arriving request and the limiter's verdict on it."""
        with self._lock:
            self._requests += 1
            self._by_endpoint[endpoint] += 1
            if admission.status == 429:
                self._limited += 1
            elif admission.status == 418:
                self._banned += 1
            else:
                self._max_used = max(self._max_used, admission.used)

    def fault(self, kind: str) -> None:
        """Count an injected fault."""
        with self._lock:
            self._faults[kind] += 1

    def response(self, status: int) -> None:
        """Count an answer by HTTP status."""
        with self._lock:
            self._by_status[status] += 1

    def snapshot(self) -> ServerStats:
        """A frozen copy, safe to keep while the server goes on counting."""
        with self._lock:
            return ServerStats(
                requests=self._requests,
                by_endpoint=dict(self._by_endpoint),
                by_status=dict(self._by_status),
                faults=dict(self._faults),
                rate_limited=self._limited,
                banned=self._banned,
                max_used_weight=self._max_used,
            )
