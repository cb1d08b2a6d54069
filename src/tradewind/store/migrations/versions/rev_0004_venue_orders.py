"""Orders as the exchange keeps them: what filled, at what average, the fee and its
asset, the stop price of a resting stop, the leftover dust, and a note (why rejected).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

COLUMNS = (
    ("pair", sa.String(length=64)),
    ("stop_price", sa.Float()),
    ("filled", sa.Float()),
    ("average", sa.Float()),
    ("fee", sa.Float()),
    ("fee_asset", sa.String(length=16)),
    ("dust", sa.Float()),
    ("note", sa.Text()),
)


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        for name, kind in COLUMNS:
            batch.add_column(sa.Column(name, kind, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        for name, _kind in reversed(COLUMNS):
            batch.drop_column(name)
