"""The one exception tree of Tradewind.

Every error a user can cause or meet derives from :class:`TradewindError`, and each
branch has its own exit code in the CLI, so scripts can tell a bad config from a bad
file from a flaky exchange without parsing messages::

    TradewindError                      exit 1
    ├── ConfigError                     exit 3  bad TOML, unknown key, wrong type or value
    ├── DataError                       exit 4  a candle file or import breaks a rule
    ├── ExchangeError                   exit 5
    │   ├── ExchangeRetryable                   429/418/5xx/timeout: try again after a pause
    │   ├── ExchangeRejected                    the exchange said no (bad symbol, bad order)
    │   └── ExchangeFatal                       will not get better by retrying (auth, unknown
    │                                           exchange, missing capability)
    ├── StateError                      exit 6  durable state is inconsistent or unreadable
    └── LookAheadError                  exit 7  a computation used data from after its time

Messages name *what* is wrong, *where* (file, key path, row) and, where possible, how to
fix it. Never use ``assert`` for input checks: it disappears under ``python -O``.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DataError",
    "ExchangeError",
    "ExchangeFatal",
    "ExchangeRejected",
    "ExchangeRetryable",
    "LookAheadError",
    "StateError",
    "TradewindError",
]


class TradewindError(Exception):
    """Base of every error Tradewind raises on purpose."""

    exit_code: int = 1


class ConfigError(TradewindError):
    """The configuration (file, environment overlay or CLI option) is invalid."""

    exit_code = 3


class DataError(TradewindError):
    """Candle data breaks a rule of the store's contract, or cannot be read or imported."""

    exit_code = 4


class ExchangeError(TradewindError):
    """An exchange call failed; the subclass says whether a retry can help."""

    exit_code = 5


class ExchangeRetryable(ExchangeError):
    """A transient failure: rate limit, ban window, server error, timeout, network.

    ``retry_after`` is the pause in seconds the exchange asked for, when it said so.
    """

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ExchangeRejected(ExchangeError):
    """The exchange understood the request and refused it (unknown symbol, bad order)."""


class ExchangeFatal(ExchangeError):
    """A failure no retry will fix: unknown exchange, bad credentials, missing capability."""


class StateError(TradewindError):
    """Durable state (trade book, budget ledger, registry) is missing or inconsistent."""

    exit_code = 6


class LookAheadError(TradewindError):
    """A feature, signal or label at time t depended on data after t."""

    exit_code = 7
