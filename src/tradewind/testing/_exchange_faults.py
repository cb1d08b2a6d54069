"""Fault injection for the test exchange: scripted and random failures, and latency.

Every failure a client must survive against the real exchange can be produced on
demand, deterministically (a script, or a seeded generator), so retry and paging
logic is tested rather than hoped for.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from tradewind.domain.types import normalize_symbol

__all__ = ["Fault", "FaultInjector", "FaultKind"]


class FaultKind(StrEnum):
    """What an injected fault does to a request."""

    RATE_LIMIT = "rate_limit"  # 429 + Retry-After + code -1003, outside the weight budget
    BAN = "ban"  # 418 + Retry-After (one answer; the limiter is not told)
    SERVER_ERROR = "server_error"  # 5xx with a gateway-style body
    TIMEOUT = "timeout"  # answer only after `delay` s (or never, until shutdown)
    SHORT_PAGE = "short_page"  # klines: fewer rows than asked though more exist
    LOST_RESPONSE = "lost_response"  # orders: executed, then the answer is lost
    PARTIAL_FILL = "partial_fill"  # orders: only `fraction` of the quantity fills now
    REJECT = "reject"  # orders: refused with a Binance error (`status`, `body` = code, msg)


@dataclass(frozen=True, slots=True)
class Fault:
    """One failure, optionally limited to an ``endpoint`` (``"klines"``) or a ``symbol``.

    Build with the class methods; the fields say what the answer looks like.
    ``delay=None`` on a timeout hangs until the client gives up or the server stops.
    ``rows=None`` on a short page returns half of the rows the page would have had.
    """

    kind: FaultKind
    status: int = 0
    retry_after: float = 1.0
    delay: float | None = None
    rows: int | None = None
    body: str | None = None
    fraction: float = 1.0
    endpoint: str | None = None
    symbol: str | None = None

    @classmethod
    def rate_limit(
        cls, retry_after: float = 1.0, *, endpoint: str | None = None, symbol: str | None = None
    ) -> Fault:
        """A 429 with ``Retry-After``, as if another client had used the IP's budget."""
        return cls(FaultKind.RATE_LIMIT, 429, retry_after, endpoint=endpoint, symbol=_sym(symbol))

    @classmethod
    def ban(
        cls, retry_after: float = 60.0, *, endpoint: str | None = None, symbol: str | None = None
    ) -> Fault:
        """A 418 (IP ban) with ``Retry-After``."""
        return cls(FaultKind.BAN, 418, retry_after, endpoint=endpoint, symbol=_sym(symbol))

    @classmethod
    def server_error(
        cls,
        status: int = 503,
        *,
        body: str | None = None,
        endpoint: str | None = None,
        symbol: str | None = None,
    ) -> Fault:
        """A 5xx; the default body is gateway HTML, so clients classify it by status."""
        if not 500 <= status <= 599:
            raise ValueError(f"server errors are 5xx, not {status}")
        return cls(
            FaultKind.SERVER_ERROR, status, body=body, endpoint=endpoint, symbol=_sym(symbol)
        )

    @classmethod
    def timeout(
        cls, delay: float | None = None, *, endpoint: str | None = None, symbol: str | None = None
    ) -> Fault:
        """Answer normally but only after ``delay`` s (None: not before shutdown)."""
        return cls(FaultKind.TIMEOUT, delay=delay, endpoint=endpoint, symbol=_sym(symbol))

    @classmethod
    def short_page(cls, rows: int | None = None, *, symbol: str | None = None) -> Fault:
        """Klines cut to ``rows`` rows (None: half), although more are available."""
        if rows is not None and rows < 0:
            raise ValueError("rows must not be negative")
        return cls(FaultKind.SHORT_PAGE, rows=rows, endpoint="klines", symbol=_sym(symbol))

    @classmethod
    def lost_response(
        cls,
        delay: float | None = 0.0,
        status: int = 504,
        *,
        endpoint: str | None = "order",
        symbol: str | None = None,
    ) -> Fault:
        """The request is carried out — an order is placed — but its answer is lost: after
        ``delay`` s (None: not before shutdown) the client gets a ``status`` gateway
        error instead. What a timeout after sending looks like to a client."""
        return cls(
            FaultKind.LOST_RESPONSE, status, delay=delay, endpoint=endpoint, symbol=_sym(symbol)
        )

    @classmethod
    def partial_fill(cls, fraction: float = 0.5, *, symbol: str | None = None) -> Fault:
        """An order that would fill now fills only ``fraction`` of its quantity: a limit
        order keeps the rest open, a market order's rest expires."""
        if not 0.0 <= fraction < 1.0:
            raise ValueError("a partial fill's fraction is in [0, 1)")
        return cls(FaultKind.PARTIAL_FILL, fraction=fraction, endpoint="order", symbol=_sym(symbol))

    @classmethod
    def reject(
        cls,
        code: int = -2010,
        msg: str = "Account has insufficient balance for requested action.",
        *,
        symbol: str | None = None,
    ) -> Fault:
        """A new order refused with Binance's error ``code`` and ``msg``."""
        return cls(
            FaultKind.REJECT, 400, rows=code, body=msg, endpoint="order", symbol=_sym(symbol)
        )

    def applies_to(self, endpoint: str, symbol: str | None) -> bool:
        """True when this fault may hit a request to ``endpoint`` about ``symbol``."""
        if self.kind is FaultKind.SHORT_PAGE and endpoint != "klines":
            return False
        if self.endpoint is not None and self.endpoint != endpoint:
            return False
        return self.symbol is None or self.symbol == symbol


def _sym(symbol: str | None) -> str | None:
    return None if symbol is None else normalize_symbol(symbol)


class FaultInjector:
    """Which request fails how, and how long every request takes; changeable at run time.

    A request takes the first scripted fault that applies to it (scripted faults are
    used once, in order); without one, each random rule is tried in turn with its
    probability. All methods are thread-safe, so a test thread can reconfigure a
    server that is serving.
    """

    def __init__(
        self,
        script: Iterable[Fault] = (),
        rates: Iterable[tuple[Fault, float]] = (),
        *,
        seed: int = 0,
        latency: float = 0.0,
        jitter: float = 0.0,
    ) -> None:
        self._lock = threading.Lock()
        self._script: deque[Fault] = deque(script)
        self._rates: list[tuple[Fault, float]] = []
        self._rng = np.random.default_rng(seed)
        self._latency = 0.0
        self._jitter = 0.0
        self.set_rates(rates)
        self.set_latency(latency, jitter)

    def push(self, *faults: Fault) -> None:
        """Queue faults for the next requests they apply to."""
        with self._lock:
            self._script.extend(faults)

    def set_rates(self, rates: Iterable[tuple[Fault, float]], *, seed: int | None = None) -> None:
        """Replace the random rules: ``(fault, probability per applicable request)``."""
        checked = list(rates)
        for _, p in checked:
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"probability {p} is not within [0, 1]")
        with self._lock:
            self._rates = checked
            if seed is not None:
                self._rng = np.random.default_rng(seed)

    def set_latency(self, latency: float, jitter: float = 0.0) -> None:
        """Every request waits ``latency`` s plus a uniform ``[0, jitter)`` s."""
        if latency < 0 or jitter < 0:
            raise ValueError("latency and jitter must not be negative")
        with self._lock:
            self._latency, self._jitter = latency, jitter

    @property
    def latency(self) -> float:
        """The fixed part of every request's delay, in seconds."""
        with self._lock:
            return self._latency

    @property
    def pending(self) -> int:
        """Scripted faults not used yet."""
        with self._lock:
            return len(self._script)

    def clear(self) -> None:
        """Drop scripted faults and random rules (latency stays)."""
        with self._lock:
            self._script.clear()
            self._rates = []

    def delay(self) -> float:
        """This request's latency."""
        with self._lock:
            extra = float(self._rng.uniform(0.0, self._jitter)) if self._jitter else 0.0
            return self._latency + extra

    def draw(self, endpoint: str, symbol: str | None) -> Fault | None:
        """The fault for this request, if any (consumes a scripted one)."""
        with self._lock:
            for i, fault in enumerate(self._script):
                if fault.applies_to(endpoint, symbol):
                    del self._script[i]
                    return fault
            for fault, p in self._rates:
                if fault.applies_to(endpoint, symbol) and self._rng.random() < p:
                    return fault
        return None
