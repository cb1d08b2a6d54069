"""The recent log lines a node keeps for ``/api/logs``, with every known secret masked.

Secrets should never reach a log line in the first place; the mask is the second line of
defence, so that an exception message quoting a URL with a token in it is not served.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pydantic import SecretStr

from tradewind.config import Settings
from tradewind.live.notify import keep_stderr

__all__ = ["LogBuffer", "secrets_of"]


def secrets_of(settings: Settings, *extra: str | None) -> list[str]:
    """Every secret value the process knows: exchange keys, notification URLs and
    tokens, the API token (``extra``)."""
    values: list[Any] = [
        settings.exchange.api_key,
        settings.exchange.api_secret,
        settings.notify.webhook_url,
        settings.notify.telegram_token,
        settings.notify.telegram_chat_id,
        *extra,
    ]
    out = []
    for v in values:
        raw = v.get_secret_value() if isinstance(v, SecretStr) else v
        if raw and len(raw) >= 4:
            out.append(str(raw))
    return sorted(set(out), key=len, reverse=True)


class LogBuffer(logging.Handler):
    """A ring of the last ``size`` records of the ``tradewind`` loggers, as dicts."""

    def __init__(self, size: int, secrets: Iterable[str] = ()) -> None:
        super().__init__(level=logging.INFO)
        self.lines: deque[dict[str, Any]] = deque(maxlen=size)
        self.secrets = list(secrets)
        self._seq = 0
        self._guard = threading.Lock()

    def mask(self, text: str) -> str:
        for s in self.secrets:
            text = text.replace(s, "***")
        return text

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                message += f" ({type(record.exc_info[1]).__name__}: {record.exc_info[1]})"
        except Exception:  # a bad format string is not worth losing the node over
            message = str(record.msg)
        with self._guard:
            self._seq += 1
            self.lines.append(
                {
                    "seq": self._seq,
                    "at": datetime.fromtimestamp(record.created, UTC),
                    "level": record.levelname,
                    "logger": record.name,
                    "message": self.mask(message),
                }
            )

    def recent(self, limit: int, level: str | None = None) -> list[dict[str, Any]]:
        """The newest ``limit`` lines (oldest first), at ``level`` or above."""
        floor = logging.getLevelName(level.upper()) if level else 0
        with self._guard:
            lines = list(self.lines)
        if isinstance(floor, int) and floor:
            lines = [x for x in lines if logging.getLevelName(x["level"]) >= floor]
        return lines[-limit:] if limit else []

    def attach(self) -> LogBuffer:
        """Collect the ``tradewind`` loggers' INFO and above (warnings still reach stderr:
        :func:`~tradewind.live.notify.keep_stderr`)."""
        log = logging.getLogger("tradewind")
        self._level = log.level
        if log.getEffectiveLevel() > logging.INFO:
            log.setLevel(logging.INFO)
        self._stderr = keep_stderr(log)
        log.addHandler(self)
        return self

    def detach(self) -> None:
        log = logging.getLogger("tradewind")
        log.removeHandler(self)
        if self._stderr is not None:
            log.removeHandler(self._stderr)
        log.setLevel(self._level)
