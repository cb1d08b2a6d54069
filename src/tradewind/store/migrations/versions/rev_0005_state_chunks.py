"""A saved state's archived parts: the trades, ledger entries and equity rows that can no
longer change, written once in chunks, so a node's per-tick state stays small however
long it runs.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "state_chunks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("part", sa.String(length=16), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_state_chunks")),
        sa.UniqueConstraint("name", "part", "seq", name=op.f("uq_state_chunks_name")),
    )
    op.create_index(op.f("ix_state_chunks_name"), "state_chunks", ["name"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_state_chunks_name"), table_name="state_chunks")
    op.drop_table("state_chunks")
