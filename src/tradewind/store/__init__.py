"""The durable trade book: runs, trades, orders, ledger, cycles and mode changes in SQL."""

from __future__ import annotations

from tradewind.store.db import open_book, upgrade
from tradewind.store.repository import TradeBook

__all__ = ["TradeBook", "open_book", "upgrade"]
