"""The equity curve of every run in the trade book: one row per candle of a backtest,
one per candle a node has traded (written in the tick's transaction). The status server
draws the curve and its drawdown from it without loading a trader's saved state.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "equity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("equity", sa.Float(), nullable=False),
        sa.Column("paper_equity", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_equity_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_equity")),
        sa.UniqueConstraint("run_id", "at", name=op.f("uq_equity_run_id")),
    )


def downgrade() -> None:
    op.drop_table("equity")
