"""The tables of the durable trade book (SQLAlchemy 2 typed declarative models).

Every time is stored as UTC and read back tz-aware (:class:`UTCDateTime`), on SQLite too.
JSON payloads (run summary, model scores, feature snapshots) are stored as text.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from tradewind.errors import StateError

__all__ = [
    "Base",
    "Cycle",
    "EquityPoint",
    "LedgerEntry",
    "ModeChange",
    "ModelRecord",
    "Order",
    "Run",
    "SessionState",
    "Trade",
    "UTCDateTime",
]

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A tz-aware UTC datetime on every backend (SQLite forgets the zone: it is put back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise StateError(f"naive datetime {value!r}: the trade book stores tz-aware UTC only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):  # pragma: no cover - driver quirk
            value = datetime.fromisoformat(str(value))
        stamp: datetime = value
        if stamp.tzinfo is None:
            return stamp.replace(tzinfo=UTC)
        return stamp.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Run(Base):
    """One run that produced trades: a backtest, a paper or a live session."""

    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16))
    config_hash: Mapped[str | None] = mapped_column(String(64))
    data_fingerprint: Mapped[str | None] = mapped_column(String(64))
    seed: Mapped[int | None] = mapped_column(Integer)
    summary: Mapped[str | None] = mapped_column(Text)


class Trade(Base):
    """A real, sim or tracked trade (tracked: ``parent`` = the engine id it continues)."""

    __tablename__ = "trades"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    trade_no: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    sim_reason: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))
    agent: Mapped[str | None] = mapped_column(String(64), index=True)
    pair: Mapped[str] = mapped_column(String(64), index=True)
    side: Mapped[int] = mapped_column(Integer)
    timeframe: Mapped[str | None] = mapped_column(String(16))
    cycle: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str | None] = mapped_column(String(16))
    nominated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    p0: Mapped[float | None] = mapped_column(Float)
    limit_price: Mapped[float | None] = mapped_column(Float)
    window_stop: Mapped[float | None] = mapped_column(Float)
    alloc: Mapped[float | None] = mapped_column(Float)
    entry_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    entry_price: Mapped[float | None] = mapped_column(Float)
    exit_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    exit_price: Mapped[float | None] = mapped_column(Float)
    exit_reason: Mapped[str | None] = mapped_column(String(32))
    of_kind: Mapped[str | None] = mapped_column(String(16))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_price: Mapped[float | None] = mapped_column(Float)
    closed_reason: Mapped[str | None] = mapped_column(String(32))
    stop: Mapped[float | None] = mapped_column(Float)
    initial_stop: Mapped[float | None] = mapped_column(Float)  #: the stop at entry: 1 R
    target: Mapped[float | None] = mapped_column(Float)
    qty: Mapped[float | None] = mapped_column(Float)
    cost: Mapped[float | None] = mapped_column(Float)
    fees: Mapped[float | None] = mapped_column(Float)
    pnl: Mapped[float | None] = mapped_column(Float)
    pnl_taken: Mapped[float | None] = mapped_column(Float)
    r_multiple: Mapped[float | None] = mapped_column(Float)
    legs: Mapped[int | None] = mapped_column(Integer)
    ambiguous: Mapped[int | None] = mapped_column(Integer)
    parent: Mapped[int | None] = mapped_column(Integer)
    models: Mapped[str | None] = mapped_column(Text)  #: model ids and scores at entry (JSON)
    features: Mapped[str | None] = mapped_column(Text)  #: feature snapshot at entry (JSON)


class Order(Base):
    """An order of a run: for one trade (entry, exit, a protective stop ``s<n>``, an added
    leg), or for a pair when agents are netted into one exchange position (``trade_id``
    empty, ``pair`` set); written as an intent before it is sent, then updated with what
    the exchange says."""

    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int | None] = mapped_column(
        ForeignKey("runs.id", ondelete="CASCADE"), index=True
    )
    trade_id: Mapped[int | None] = mapped_column(
        ForeignKey("trades.id", ondelete="CASCADE"), index=True
    )
    client_order_id: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    side: Mapped[str] = mapped_column(String(8))
    type: Mapped[str] = mapped_column(String(16))
    qty: Mapped[float] = mapped_column(Float)
    price: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    exchange_order_id: Mapped[str | None] = mapped_column(String(64))
    pair: Mapped[str | None] = mapped_column(String(64))  #: the exchange's market id
    stop_price: Mapped[float | None] = mapped_column(Float)  #: a resting stop's trigger
    filled: Mapped[float | None] = mapped_column(Float)  #: base quantity executed
    average: Mapped[float | None] = mapped_column(Float)  #: average fill price
    fee: Mapped[float | None] = mapped_column(Float)
    fee_asset: Mapped[str | None] = mapped_column(String(16))
    dust: Mapped[float | None] = mapped_column(Float)  #: what an exit could not sell
    note: Mapped[str | None] = mapped_column(Text)  #: why it was rejected, skipped, …


class LedgerEntry(Base):
    """One movement of money between budget pools."""

    __tablename__ = "ledger"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    amount: Mapped[float] = mapped_column(Float)
    src: Mapped[str] = mapped_column(String(32))
    dst: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(32))
    trade_no: Mapped[int | None] = mapped_column(Integer)
    book: Mapped[str] = mapped_column(String(16))


class EquityPoint(Base):
    """A run's equity at the close of one candle (and the dry-run book's, for the cycle
    trader): the curve the status server draws."""

    __tablename__ = "equity"
    __table_args__ = (UniqueConstraint("run_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    equity: Mapped[float] = mapped_column(Float)
    paper_equity: Mapped[float | None] = mapped_column(Float)


class Cycle(Base):
    """One cycle of the cycle trader."""

    __tablename__ = "cycles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    cycle_no: Mapped[int] = mapped_column(Integer)
    start_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    end_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    mode: Mapped[str] = mapped_column(String(16))
    converted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    pnl: Mapped[float | None] = mapped_column(Float)
    paper_pnl: Mapped[float | None] = mapped_column(Float)
    trades: Mapped[int | None] = mapped_column(Integer)
    next_mode: Mapped[str | None] = mapped_column(String(16))


class ModeChange(Base):
    """The trader switched between live and dry run."""

    __tablename__ = "mode_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cycle_no: Mapped[int | None] = mapped_column(Integer)
    agent: Mapped[str | None] = mapped_column(String(64))
    to_mode: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(128))


class SessionState(Base):
    """The saved state of a paper (or live) session between passes of ``tradewind scan``.

    ``payload`` is an ``.npz`` archive of plain numeric arrays (loaded with
    ``allow_pickle=False``: nothing in it can execute code); ``clock`` is the open time of
    the last candle the session processed, which makes a second pass on it a no-op.
    """

    __tablename__ = "session_states"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    source: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    clock: Mapped[datetime | None] = mapped_column(UTCDateTime())
    config_hash: Mapped[str | None] = mapped_column(String(64))
    run_id: Mapped[int | None] = mapped_column(Integer)
    payload: Mapped[bytes] = mapped_column(LargeBinary())


class StateChunk(Base):
    """An archived part of a saved state (``part``: trades, ledger or equity; ``seq``:
    its order): rows that can no longer change, written once. The state row holds only
    what follows the archived rows, so it does not grow with the run."""

    __tablename__ = "state_chunks"
    __table_args__ = (UniqueConstraint("name", "part", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), index=True)
    part: Mapped[str] = mapped_column(String(16))
    seq: Mapped[int] = mapped_column(Integer)
    payload: Mapped[bytes] = mapped_column(LargeBinary())


class ModelRecord(Base):
    """A trained model in the registry (the artefact is a skops file at ``path``)."""

    __tablename__ = "models"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  #: content hash
    role: Mapped[str] = mapped_column(String(32), index=True)  #: regime, technical, risk, ...
    scope: Mapped[str] = mapped_column(String(64), index=True)  #: an agent's name, or "cycle"
    kind: Mapped[str] = mapped_column(String(64))  #: the estimator's class
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    promoted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    train_start: Mapped[datetime | None] = mapped_column(UTCDateTime())
    train_end: Mapped[datetime | None] = mapped_column(UTCDateTime())
    data_fingerprint: Mapped[str | None] = mapped_column(String(64))
    feature_signature: Mapped[str | None] = mapped_column(String(32))
    features: Mapped[str] = mapped_column(Text)  #: JSON list, the order the model expects
    params: Mapped[str] = mapped_column(Text)  #: JSON
    metrics: Mapped[str] = mapped_column(Text)  #: JSON
    versions: Mapped[str] = mapped_column(Text)  #: JSON: library versions at training
    path: Mapped[str] = mapped_column(String(512))  #: relative to the models folder
    sha256: Mapped[str] = mapped_column(String(64))
