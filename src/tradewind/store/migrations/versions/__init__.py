"""Alembic revisions of the trade book."""
