"""Orders that belong to a run and a pair rather than to one trade: several agents
trading one pair are netted into one exchange position, and the order that moves it
serves all of them. Every order now names its run; ``trade_id`` may be empty.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("run_id", sa.Integer(), nullable=True))
        batch.alter_column("trade_id", existing_type=sa.Integer(), nullable=True)
        batch.create_foreign_key(
            op.f("fk_orders_run_id_runs"), "runs", ["run_id"], ["id"], ondelete="CASCADE"
        )
        batch.create_index(op.f("ix_orders_run_id"), ["run_id"], unique=False)
    # The orders already in the book take their trade's run.
    op.execute(
        "UPDATE orders SET run_id = (SELECT trades.run_id FROM trades "
        "WHERE trades.id = orders.trade_id)"
    )


def downgrade() -> None:
    op.execute("DELETE FROM orders WHERE trade_id IS NULL")
    with op.batch_alter_table("orders") as batch:
        batch.drop_index(op.f("ix_orders_run_id"))
        batch.drop_constraint(op.f("fk_orders_run_id_runs"), type_="foreignkey")
        batch.alter_column("trade_id", existing_type=sa.Integer(), nullable=False)
        batch.drop_column("run_id")
