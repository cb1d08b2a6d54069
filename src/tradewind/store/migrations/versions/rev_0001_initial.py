"""The initial trade book: runs, trades, orders, ledger, cycles, mode changes.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.Integer(), autoincrement=True, nullable=False)


def _run_id() -> sa.Column[int]:
    return sa.Column("run_id", sa.Integer(), nullable=False)


def _run_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["run_id"], ["runs.id"], name=f"fk_{table}_run_id_runs", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "runs",
        _id(),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("config_hash", sa.String(64), nullable=True),
        sa.Column("data_fingerprint", sa.String(64), nullable=True),
        sa.Column("seed", sa.Integer(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
    )
    op.create_table(
        "trades",
        _id(),
        _run_id(),
        sa.Column("trade_no", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("sim_reason", sa.String(64), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("agent", sa.String(64), nullable=True),
        sa.Column("pair", sa.String(64), nullable=False),
        sa.Column("side", sa.Integer(), nullable=False),
        sa.Column("timeframe", sa.String(16), nullable=True),
        sa.Column("cycle", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(16), nullable=True),
        sa.Column("nominated_at", _utc(), nullable=True),
        sa.Column("p0", sa.Float(), nullable=True),
        sa.Column("limit_price", sa.Float(), nullable=True),
        sa.Column("window_stop", sa.Float(), nullable=True),
        sa.Column("alloc", sa.Float(), nullable=True),
        sa.Column("entry_at", _utc(), nullable=True),
        sa.Column("entry_price", sa.Float(), nullable=True),
        sa.Column("exit_at", _utc(), nullable=True),
        sa.Column("exit_price", sa.Float(), nullable=True),
        sa.Column("exit_reason", sa.String(32), nullable=True),
        sa.Column("of_kind", sa.String(16), nullable=True),
        sa.Column("closed_at", _utc(), nullable=True),
        sa.Column("closed_price", sa.Float(), nullable=True),
        sa.Column("closed_reason", sa.String(32), nullable=True),
        sa.Column("stop", sa.Float(), nullable=True),
        sa.Column("target", sa.Float(), nullable=True),
        sa.Column("qty", sa.Float(), nullable=True),
        sa.Column("cost", sa.Float(), nullable=True),
        sa.Column("fees", sa.Float(), nullable=True),
        sa.Column("pnl", sa.Float(), nullable=True),
        sa.Column("pnl_taken", sa.Float(), nullable=True),
        sa.Column("r_multiple", sa.Float(), nullable=True),
        sa.Column("legs", sa.Integer(), nullable=True),
        sa.Column("ambiguous", sa.Integer(), nullable=True),
        sa.Column("parent", sa.Integer(), nullable=True),
        sa.Column("models", sa.Text(), nullable=True),
        sa.Column("features", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_trades"),
        _run_fk("trades"),
    )
    for column in ("run_id", "kind", "agent", "pair"):
        op.create_index(f"ix_trades_{column}", "trades", [column])
    op.create_table(
        "orders",
        _id(),
        sa.Column("trade_id", sa.Integer(), nullable=False),
        sa.Column("client_order_id", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("qty", sa.Float(), nullable=False),
        sa.Column("price", sa.Float(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.Column("exchange_order_id", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_orders"),
        sa.ForeignKeyConstraint(
            ["trade_id"], ["trades.id"], name="fk_orders_trade_id_trades", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("client_order_id", name="uq_orders_client_order_id"),
    )
    op.create_index("ix_orders_trade_id", "orders", ["trade_id"])
    op.create_table(
        "ledger",
        _id(),
        _run_id(),
        sa.Column("at", _utc(), nullable=True),
        sa.Column("amount", sa.Float(), nullable=False),
        sa.Column("src", sa.String(32), nullable=False),
        sa.Column("dst", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("trade_no", sa.Integer(), nullable=True),
        sa.Column("book", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ledger"),
        _run_fk("ledger"),
    )
    op.create_index("ix_ledger_run_id", "ledger", ["run_id"])
    op.create_table(
        "cycles",
        _id(),
        _run_id(),
        sa.Column("cycle_no", sa.Integer(), nullable=False),
        sa.Column("start_at", _utc(), nullable=True),
        sa.Column("end_at", _utc(), nullable=True),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("converted_at", _utc(), nullable=True),
        sa.Column("pnl", sa.Float(), nullable=True),
        sa.Column("paper_pnl", sa.Float(), nullable=True),
        sa.Column("trades", sa.Integer(), nullable=True),
        sa.Column("next_mode", sa.String(16), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_cycles"),
        _run_fk("cycles"),
    )
    op.create_index("ix_cycles_run_id", "cycles", ["run_id"])
    op.create_table(
        "mode_changes",
        _id(),
        _run_id(),
        sa.Column("at", _utc(), nullable=True),
        sa.Column("cycle_no", sa.Integer(), nullable=True),
        sa.Column("to_mode", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_mode_changes"),
        _run_fk("mode_changes"),
    )
    op.create_index("ix_mode_changes_run_id", "mode_changes", ["run_id"])


def downgrade() -> None:
    for table in ("mode_changes", "cycles", "ledger", "orders", "trades", "runs"):
        op.drop_table(table)
