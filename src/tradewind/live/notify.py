"""Notifications: trade opened and closed, dry run ↔ live, safe mode, errors — to a JSON
webhook and to Telegram.

The trading loop only puts an event on a bounded queue (no I/O, no lock it could wait
on); one thread delivers, with retries and a doubling pause. A receiver that is down or
slow costs that thread, never a tick. When the queue is full the oldest event is dropped
and counted: a node that cannot reach its receiver for hours keeps trading and keeps its
memory.

The webhook URL and the bot's token are secrets (environment only). They are never
logged: a failed delivery names the channel, not the URL.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from tradewind.config import Settings
from tradewind.engine.records import EXIT_NAMES, Kind, Status

__all__ = ["ErrorEvents", "Event", "Notifier", "keep_stderr", "trade_events"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    kind: str  #: trade_open, trade_close, mode_switch, safe_mode, error
    node: str
    text: str  #: one line for a person
    at: str | None = None  #: the node's clock (simulated in a replay), ISO
    data: dict[str, Any] = field(default_factory=dict)
    sent_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    def to_json(self) -> dict[str, Any]:
        return {
            "event": self.kind,
            "node": self.node,
            "text": self.text,
            "at": self.at,
            "sent_at": self.sent_at,
            "data": self.data,
        }


Post = Callable[[str, bytes, float], int]


def _post(url: str, body: bytes, timeout: float) -> int:
    """POST JSON; the HTTP status (raises on network errors)."""
    request = urllib.request.Request(  # noqa: S310 - the URL's scheme is checked at start
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


class Notifier:
    """The delivery thread of one node's notifications (see the module's docstring)."""

    def __init__(self, settings: Settings, node: str, *, post: Post = _post) -> None:
        cfg = settings.notify
        self.node = node
        self.cfg = cfg
        self.events = set(cfg.events)
        self.channels: list[tuple[str, str, Callable[[Event], bytes]]] = []
        if cfg.webhook_url is not None:
            url = cfg.webhook_url.get_secret_value()
            _check_scheme(url, "notify.webhook_url")
            self.channels.append(
                ("webhook", url, lambda e: json.dumps(e.to_json(), default=str).encode())
            )
        token, chat = cfg.telegram_token, cfg.telegram_chat_id
        if token is not None and chat is not None:
            _check_scheme(cfg.telegram_api, "notify.telegram_api")
            url = f"{cfg.telegram_api.rstrip('/')}/bot{token.get_secret_value()}/sendMessage"
            chat_id = chat.get_secret_value()
            self.channels.append(
                (
                    "telegram",
                    url,
                    lambda e: json.dumps(
                        {"chat_id": chat_id, "text": f"[{e.node}] {e.text}"}
                    ).encode(),
                )
            )
        self._post = post
        self._queue: deque[Event] = deque()
        self._cv = threading.Condition()
        self._closed = False
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self._busy = False
        self._thread = threading.Thread(target=self._run, name="tradewind-notify", daemon=True)
        self._thread.start()

    @classmethod
    def of(cls, settings: Settings, node: str) -> Notifier | None:
        """The node's notifier, or None when no channel is configured."""
        cfg = settings.notify
        if cfg.webhook_url is None and (cfg.telegram_token is None or cfg.telegram_chat_id is None):
            return None
        return cls(settings, node)

    def send(self, event: Event) -> None:
        """Queue ``event`` (never waits on the network)."""
        if event.kind not in self.events:
            return
        with self._cv:
            if len(self._queue) >= self.cfg.queue:
                self._queue.popleft()
                self.dropped += 1
            self._queue.append(event)
            self._cv.notify()

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._queue and not self._closed:
                    self._cv.wait()
                if not self._queue:
                    return
                event = self._queue.popleft()
                self._busy = True
            try:
                for name, url, body in self.channels:
                    self._deliver(name, url, body(event))
            finally:
                with self._cv:
                    self._busy = False
                    self._cv.notify_all()

    def _deliver(self, name: str, url: str, body: bytes) -> None:
        pause = self.cfg.backoff_s
        for attempt in range(self.cfg.retries + 1):
            try:
                status = self._post(url, body, self.cfg.timeout_s)
                if 200 <= status < 300:
                    self.sent += 1
                    return
                why = f"HTTP {status}"
                if 400 <= status < 500 and status not in (408, 429):
                    break  # a request the receiver refuses: sending it again changes nothing
            except (OSError, ValueError) as exc:  # refused, timed out, unreachable
                why = type(exc).__name__
            if attempt < self.cfg.retries and not self._closed:
                time.sleep(pause)
                pause = min(pause * 2, 300.0)
        self.failed += 1
        # The URL holds the secret: the channel's name only, and nothing back to the
        # notifier (an error event about a failed notification would loop).
        log.warning("notification to %s failed (%s)", name, why, extra={"notified": True})

    def flush(self, timeout: float) -> bool:
        """Wait until every queued event was delivered or given up (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while self._queue or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cv.wait(left)
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued for up to ``timeout`` seconds, then stop."""
        self.flush(timeout)
        with self._cv:
            self._closed = True
            self._cv.notify_all()
        self._thread.join(timeout=1.0)


def _check_scheme(url: str, key: str) -> None:
    from tradewind.errors import ConfigError

    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"{key}: an http:// or https:// URL, not {url.split(':', 1)[0]}:…")


def keep_stderr(log: logging.Logger) -> logging.Handler | None:
    """Python prints warnings on stderr only while no handler is found (its "last
    resort"); a handler added for another purpose would end that. So when neither ``log``
    nor the root has a handler, one for stderr at WARNING takes the last resort's place;
    returned, to be removed with the handler it came with."""
    if log.handlers or logging.getLogger().handlers:
        return None
    handler = logging.StreamHandler()
    handler.setLevel(logging.WARNING)
    log.addHandler(handler)
    return handler


class ErrorEvents(logging.Handler):
    """Errors logged by the node become ``error`` events (not those already notified,
    such as safe mode, nor the notifier's own failures)."""

    def __init__(self, notifier: Notifier, node: str) -> None:
        super().__init__(level=logging.ERROR)
        self.notifier = notifier
        self.node = node

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "notified", False):
            return
        try:
            text = record.getMessage()
        except Exception:
            text = str(record.msg)
        self.notifier.send(Event("error", self.node, text, data={"logger": record.name}))


def trade_events(
    trades: np.ndarray,
    before: dict[int, int],
    ids: Iterable[int],
    symbols: Sequence[str],
    *,
    node: str,
    times: np.ndarray,
    agents: list[str] | None = None,
) -> list[Event]:
    """The real trades that opened or closed in a step: ``before`` holds the statuses of
    the trades that could change (a trade absent from it is new), ``ids`` the trades to
    look at; ``times`` the grid's open times (ns); ``agents`` a session's agent names."""
    out: list[Event] = []
    for i in ids:
        tr = trades[int(i)]
        if int(tr["kind"]) != Kind.REAL:
            continue
        was, now = before.get(int(i), int(Status.PENDING)), int(tr["status"])
        who = "cycle trader" if agents is None or tr["agent"] < 0 else agents[int(tr["agent"])]
        pair = symbols[int(tr["pair"])]
        side = "long" if tr["side"] > 0 else "short"
        data: dict[str, Any] = {"trade": int(tr["id"]), "pair": pair, "side": side, "by": who}
        if now in (Status.ACTIVE, Status.CLOSED) and was == Status.PENDING:
            at = _at(times, int(tr["entry_t"]))
            data |= {"price": float(tr["entry_price"]), "qty": float(tr["qty"])}
            text = f"{who} opened {side} {pair} at {float(tr['entry_price']):.6g}"
            out.append(Event("trade_open", node, text, at, data))
        if now == Status.CLOSED and was != Status.CLOSED:
            at = _at(times, int(tr["exit_t"]))
            reason = EXIT_NAMES[int(tr["exit_reason"])]
            pnl = float(tr["pnl"])
            data |= {"price": float(tr["exit_price"]), "pnl": pnl, "reason": reason}
            text = (
                f"{who} closed {side} {pair} at {float(tr['exit_price']):.6g} ({reason}), "
                f"P/L {pnl:+,.2f}"
            )
            out.append(Event("trade_close", node, text, at, data))
    return out


def _at(times: np.ndarray, t: int) -> str | None:
    if t < 0 or t >= len(times):
        return None
    return datetime.fromtimestamp(int(times[t]) / 1e9, UTC).isoformat()
