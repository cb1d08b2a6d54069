"""The modular trader: a trade's initial stop, the agent of a mode change, session states.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("trades", sa.Column("initial_stop", sa.Float(), nullable=True))
    op.add_column("mode_changes", sa.Column("agent", sa.String(length=64), nullable=True))
    op.create_table(
        "session_states",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("clock", sa.DateTime(timezone=True), nullable=True),
        sa.Column("config_hash", sa.String(length=64), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_states")),
        sa.UniqueConstraint("name", name=op.f("uq_session_states_name")),
    )


def downgrade() -> None:
    op.drop_table("session_states")
    op.drop_column("mode_changes", "agent")
    op.drop_column("trades", "initial_stop")
