"""Alembic migrations of the trade book (run by :func:`tradewind.store.db.upgrade`)."""
