"""The trade book's repository: save a backtest in one transaction, query and export trades."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, Table, bindparam, delete, func, insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.types import Float, Integer

from tradewind.errors import StateError
from tradewind.store.db import open_book
from tradewind.store.models import Base, UTCDateTime

__all__ = [
    "CYCLE_COLUMNS",
    "ORDER_COLUMNS",
    "SavedSession",
    "LEDGER_COLUMNS",
    "TRACKED_COLUMNS",
    "TRADE_COLUMNS",
    "TradeBook",
]

#: backtest trades column → trade book column
TRADE_COLUMNS: dict[str, str] = {
    "id": "trade_no",
    "kind": "kind",
    "sim_reason": "sim_reason",
    "cycle": "cycle",
    "pair": "pair",
    "side": "side",
    "status": "status",
    "nominated_time": "nominated_at",
    "p0": "p0",
    "limit": "limit_price",
    "window_stop": "window_stop",
    "alloc": "alloc",
    "entry_time": "entry_at",
    "entry_price": "entry_price",
    "qty": "qty",
    "cost": "cost",
    "legs": "legs",
    "exit_time": "exit_at",
    "exit_price": "exit_price",
    "exit_reason": "exit_reason",
    "pnl": "pnl",
    "fees": "fees",
    "ambiguous": "ambiguous",
    "parent": "parent",
    "agent": "agent",
    "timeframe": "timeframe",
    "stop": "stop",
    "initial_stop": "initial_stop",
    "target": "target",
    "r_multiple": "r_multiple",
}
#: backtest tracked column → trade book column (the engine id goes to ``parent``)
TRACKED_COLUMNS: dict[str, str] = {
    "trade": "parent",
    "kind": "kind",
    "of_kind": "of_kind",
    "pair": "pair",
    "side": "side",
    "entry_time": "entry_at",
    "entry_price": "entry_price",
    "closed_time": "closed_at",
    "closed_price": "closed_price",
    "closed_reason": "closed_reason",
    "exit_time": "exit_at",
    "exit_price": "exit_price",
    "exit_reason": "exit_reason",
    "cost": "cost",
    "pnl": "pnl",
    "pnl_taken": "pnl_taken",
    "fees": "fees",
    "agent": "agent",
    "timeframe": "timeframe",
    "r_multiple": "r_multiple",
}
LEDGER_COLUMNS: dict[str, str] = {
    "time": "at",
    "amount": "amount",
    "from": "src",
    "to": "dst",
    "reason": "reason",
    "trade": "trade_no",
    "book": "book",
}
CYCLE_COLUMNS: dict[str, str] = {
    "cycle": "cycle_no",
    "start_time": "start_at",
    "end_time": "end_at",
    "mode": "mode",
    "converted_time": "converted_at",
    "pnl": "pnl",
    "paper_pnl": "paper_pnl",
    "trades": "trades",
    "next_mode": "next_mode",
}
MODE_CHANGE_COLUMNS: dict[str, str] = {
    "time": "at",
    "cycle": "cycle_no",
    "agent": "agent",
    "to": "to_mode",
    "reason": "reason",
}

TABLES = Base.metadata.tables
RUNS: Table = TABLES["runs"]
TRADES: Table = TABLES["trades"]
LEDGER: Table = TABLES["ledger"]
CYCLES: Table = TABLES["cycles"]
MODE_CHANGES: Table = TABLES["mode_changes"]
ORDERS: Table = TABLES["orders"]
STATES: Table = TABLES["session_states"]
EQUITY: Table = TABLES["equity"]
CHUNKS: Table = TABLES["state_chunks"]

#: order frame column → trade book column (``trade_no`` is mapped to the stored trade's id)
ORDER_COLUMNS: dict[str, str] = {
    "trade": "trade_no",
    "client_order_id": "client_order_id",
    "role": "role",
    "side": "side",
    "type": "type",
    "qty": "qty",
    "price": "price",
    "status": "status",
    "created_time": "created_at",
    "updated_time": "updated_at",
    "exchange_order_id": "exchange_order_id",
}

ExportFormat = Literal["json", "csv", "parquet"]


def _py(value: Any) -> Any:
    """A plain Python value for the driver (NaN/NaT/NA → None, numpy → builtins)."""
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, pd.Timestamp):
        if value.tzinfo is None:
            value = value.tz_localize(UTC)
        return value.to_pydatetime()
    if isinstance(value, np.datetime64):
        return None if np.isnat(value) else pd.Timestamp(value).tz_localize(UTC).to_pydatetime()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _in_run(client_id: str, run_id: int) -> str:
    """A paper order's id with its run filled in (``{run}``): see ``paper_orders``."""
    return client_id.replace("{run}", str(run_id))


def _rows(
    frame: pd.DataFrame,
    columns: Mapping[str, str],
    extra: Mapping[str, Any],
    defaults: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Rows for ``insert``: ``extra`` overrides the frame, ``defaults`` fill what it lacks."""
    present = [c for c in columns if c in frame.columns]
    values = [frame[c].tolist() for c in present]
    rows = []
    for row in zip(*values, strict=True):
        out = {columns[c]: _py(v) for c, v in zip(present, row, strict=True)}
        for key, value in (defaults or {}).items():
            if out.get(key) is None:
                out[key] = value
        out.update(extra)
        rows.append(out)
    return rows


def _equity_rows(equity: pd.DataFrame | None, run_id: int) -> list[dict[str, Any]]:
    """Rows of the ``equity`` table from a frame indexed by candle time (UTC) with an
    ``equity`` column and, for the cycle trader, ``paper_equity``; NaN rows (before the
    first candle) are left out."""
    if equity is None or not len(equity):
        return []
    values = equity["equity"].to_numpy(dtype=np.float64)
    keep = np.isfinite(values)
    stamps = pd.DatetimeIndex(equity.index)[keep]
    paper = (
        equity["paper_equity"].to_numpy(dtype=np.float64)[keep]
        if "paper_equity" in equity.columns
        else np.full(int(keep.sum()), np.nan)
    )
    return [
        {
            "run_id": run_id,
            "at": at,
            "equity": float(e),
            "paper_equity": None if p != p else float(p),
        }
        for at, e, p in zip(stamps.to_pydatetime(), values[keep], paper, strict=True)
    ]


def _insert_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """One executemany of ``rows`` into ``table`` (nothing when there are none)."""
    if rows:
        conn.execute(insert(table), list(rows))


def _frame(table: Table, rows: Sequence[Any], keys: Sequence[str]) -> pd.DataFrame:
    """Rows of ``table`` as a typed DataFrame (UTC times, float NaN, nullable ints)."""
    frame = pd.DataFrame([tuple(r) for r in rows], columns=list(keys))
    for name in keys:
        col = table.c[name]
        if isinstance(col.type, UTCDateTime):
            frame[name] = pd.to_datetime(frame[name], utc=True).astype("datetime64[ns, UTC]")
        elif isinstance(col.type, Float):
            frame[name] = frame[name].astype("float64")
        elif isinstance(col.type, Integer):
            series = frame[name]
            frame[name] = series.astype("Int64" if series.isna().any() else "int64")
    return frame


@dataclass(frozen=True, slots=True)
class SavedSession:
    """A paper or live session's saved state (see :meth:`TradeBook.save_session_pass`)."""

    name: str
    source: str
    run_id: int | None
    clock: datetime | None
    config_hash: str | None
    payload: bytes


def _run_row(summary: Mapping[str, Any], kind: str, source: str) -> dict[str, Any]:
    data = summary.get("data") or {}
    fingerprint = data.get("fingerprint") if isinstance(data, Mapping) else None
    seed = summary.get("seed")
    return {
        "created_at": datetime.now(UTC),
        "kind": kind,
        "source": source,
        "config_hash": summary.get("config_hash"),
        "data_fingerprint": summary.get("data_fingerprint", fingerprint),
        "seed": None if seed is None else int(seed),
        "summary": json.dumps(summary, default=str, sort_keys=True),
    }


def _insert_run_tables(
    conn: Connection,
    run_id: int,
    summary: Mapping[str, Any],
    trades: pd.DataFrame,
    tracked: pd.DataFrame,
    ledger: pd.DataFrame,
    cycles: pd.DataFrame,
    mode_switches: Sequence[Mapping[str, Any]],
    *,
    source: str,
    timeframe: str | None = None,
    agent: str | None = None,
) -> None:
    """Insert a run's tables (inside the caller's transaction)."""
    data = summary.get("data") or {}
    timeframe = timeframe or (data.get("timeframe") if isinstance(data, Mapping) else None)
    at = {"run_id": run_id}
    common = {"source": source}
    defaults = {"agent": agent, "timeframe": timeframe}
    _insert_rows(conn, TRADES, _rows(trades, TRADE_COLUMNS, {**at, **common}, defaults))
    tracked_rows = _rows(tracked, TRACKED_COLUMNS, {**at, **common}, defaults)
    for row in tracked_rows:
        row["kind"] = "tracked"
        row["trade_no"] = row["parent"]
        row["status"] = "closed" if row.get("exit_at") is not None else "active"
    _insert_rows(conn, TRADES, tracked_rows)
    _insert_rows(conn, LEDGER, _rows(ledger, LEDGER_COLUMNS, at))
    _insert_rows(conn, CYCLES, _rows(cycles, CYCLE_COLUMNS, at))
    changes = _rows(pd.DataFrame(list(mode_switches)), MODE_CHANGE_COLUMNS, at)
    for row in changes:
        if isinstance(row["at"], str):
            row["at"] = pd.Timestamp(row["at"]).tz_convert(UTC).to_pydatetime()
    _insert_rows(conn, MODE_CHANGES, changes)


def _put_state(
    conn: Connection,
    name: str,
    source: str,
    summary: Mapping[str, Any],
    clock: datetime | None,
    run_id: int,
    payload: bytes,
    new: bool,
) -> None:
    """Write the saved state ``name`` (inside the caller's transaction)."""
    values = {
        "name": name,
        "source": source,
        "updated_at": datetime.now(UTC),
        "clock": clock,
        "config_hash": summary.get("config_hash"),
        "run_id": run_id,
        "payload": payload,
    }
    if new:
        conn.execute(insert(STATES).values(values))
    else:
        conn.execute(update(STATES).where(STATES.c.name == name).values(values))


class TradeBook:
    """The durable trade book on one database (``url`` or an engine from :func:`open_book`)."""

    def __init__(self, book: str | Engine) -> None:
        self.engine = open_book(book) if isinstance(book, str) else book

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> TradeBook:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ write

    def save_backtest(
        self,
        summary: Mapping[str, Any],
        trades: pd.DataFrame,
        tracked: pd.DataFrame,
        ledger: pd.DataFrame,
        cycles: pd.DataFrame,
        mode_switches: Sequence[Mapping[str, Any]],
        *,
        source: str = "backtest",
        kind: str = "backtest",
        timeframe: str | None = None,
        agent: str | None = None,
        equity: pd.DataFrame | None = None,
    ) -> int:
        """Store one backtest in ONE transaction (all of it or nothing), its equity curve
        (a frame indexed by candle time) with it; return the run id."""
        try:
            with self.engine.begin() as conn:
                result = conn.execute(insert(RUNS).values(_run_row(summary, kind, source)))
                key = result.inserted_primary_key
                if key is None:  # pragma: no cover - every backend returns it
                    raise StateError("trade book: the new run got no id")
                run_id = int(key[0])
                _insert_run_tables(
                    conn,
                    run_id,
                    summary,
                    trades,
                    tracked,
                    ledger,
                    cycles,
                    mode_switches,
                    source=source,
                    timeframe=timeframe,
                    agent=agent,
                )
                _insert_rows(conn, EQUITY, _equity_rows(equity, run_id))
        except SQLAlchemyError as exc:
            raise StateError(f"saving the backtest to the trade book failed: {exc}") from exc
        return run_id

    def session_state(self, name: str) -> SavedSession | None:
        """The saved state of the session ``name`` (``tradewind scan --execute``), if any."""
        stmt = select(STATES).where(STATES.c.name == name)
        try:
            with self.engine.connect() as conn:
                row = conn.execute(stmt).mappings().first()
        except SQLAlchemyError as exc:
            raise StateError(f"reading session {name!r} from the trade book failed: {exc}") from exc
        if row is None:
            return None
        return SavedSession(
            name=row["name"],
            source=row["source"],
            run_id=row["run_id"],
            clock=row["clock"],
            config_hash=row["config_hash"],
            payload=bytes(row["payload"]),
        )

    def save_session_pass(
        self,
        *,
        name: str,
        source: str,
        summary: Mapping[str, Any],
        payload: bytes,
        clock: datetime | None,
        trades: pd.DataFrame,
        tracked: pd.DataFrame,
        ledger: pd.DataFrame,
        mode_switches: Sequence[Mapping[str, Any]],
        orders: pd.DataFrame,
    ) -> int:
        """Store a pass of a paper or live session in ONE transaction: its run's trades,
        orders, ledger and mode changes as they now stand, and the state the next pass
        starts from. A crash leaves the previous pass whole. Returns the run id."""
        try:
            with self.engine.begin() as conn:
                state = conn.execute(select(STATES).where(STATES.c.name == name)).mappings()
                found = state.first()
                run_row = _run_row(summary, "session", source)
                if found is not None and found["run_id"] is not None:
                    run_id = int(found["run_id"])
                    conn.execute(update(RUNS).where(RUNS.c.id == run_id).values(run_row))
                    old = select(TRADES.c.id).where(TRADES.c.run_id == run_id)
                    conn.execute(delete(ORDERS).where(ORDERS.c.trade_id.in_(old)))
                    for table in (TRADES, LEDGER, MODE_CHANGES):
                        conn.execute(delete(table).where(table.c.run_id == run_id))
                else:
                    key = conn.execute(insert(RUNS).values(run_row)).inserted_primary_key
                    if key is None:  # pragma: no cover - every backend returns it
                        raise StateError("trade book: the new run got no id")
                    run_id = int(key[0])
                _insert_run_tables(
                    conn,
                    run_id,
                    summary,
                    trades,
                    tracked,
                    ledger,
                    pd.DataFrame(),
                    mode_switches,
                    source=source,
                )
                ids = dict(
                    conn.execute(
                        select(TRADES.c.trade_no, TRADES.c.id).where(
                            TRADES.c.run_id == run_id, TRADES.c.kind != "tracked"
                        )
                    ).all()
                )
                order_rows = _rows(orders, ORDER_COLUMNS, {"run_id": run_id})
                for row in order_rows:
                    row["trade_id"] = ids[int(row.pop("trade_no"))]
                    row["client_order_id"] = _in_run(row["client_order_id"], run_id)
                _insert_rows(conn, ORDERS, order_rows)
                _put_state(conn, name, source, summary, clock, run_id, payload, found is None)
        except SQLAlchemyError as exc:
            raise StateError(f"saving session {name!r} to the trade book failed: {exc}") from exc
        return run_id

    def save_node_tick(
        self,
        *,
        name: str,
        source: str,
        summary: Mapping[str, Any],
        payload: bytes,
        clock: datetime | None,
        run_id: int | None,
        trades: pd.DataFrame,
        known: int,
        tracked: pd.DataFrame,
        ledger: pd.DataFrame,
        cycles: pd.DataFrame,
        mode_switches: Sequence[Mapping[str, Any]],
        orders: pd.DataFrame | None = None,
        kind: str = "node",
        chunks: Sequence[tuple[str, int, bytes]] = (),
        equity: pd.DataFrame | None = None,
    ) -> int:
        """A node's tick in ONE transaction, writing only what changed: ``trades`` are
        the trades the tick touched (those numbered below ``known`` are in the book
        already and are updated in place, the others inserted), ``tracked`` their
        finished tracked continuations, ``ledger`` the new entries, ``orders`` the paper
        venue's orders of the touched trades (replacing theirs); the cycles and mode
        changes (few) are written whole, and the state the next tick starts from, with
        ``chunks`` (part, seq, payload) of it archived for good, and ``equity`` the
        candles' equity the tick added (indexed by candle time). ``run_id`` None starts the
        node's run (of ``kind``: the cycle trader's ``node``, the agents' ``session``).
        Returns the run id."""
        source_col = {"source": source}
        try:
            with self.engine.begin() as conn:
                run_row = _run_row(summary, kind, source)
                if run_id is None:
                    key = conn.execute(insert(RUNS).values(run_row)).inserted_primary_key
                    if key is None:  # pragma: no cover - every backend returns it
                        raise StateError("trade book: the new run got no id")
                    run_id = int(key[0])
                else:
                    conn.execute(update(RUNS).where(RUNS.c.id == run_id).values(run_row))
                at = {"run_id": run_id}
                data = summary.get("data") or {}
                defaults = {"agent": None, "timeframe": data.get("timeframe")}
                old = trades[trades["id"] < known]
                rows = _rows(old, TRADE_COLUMNS, {**at, **source_col}, defaults)
                if rows:
                    cols = [c for c in rows[0] if c not in ("run_id", "trade_no")]
                    stmt = (
                        update(TRADES)
                        .where(
                            TRADES.c.run_id == bindparam("w_run"),
                            TRADES.c.trade_no == bindparam("w_no"),
                            TRADES.c.kind != "tracked",
                        )
                        .values({c: bindparam(c) for c in cols})
                    )
                    for row in rows:
                        row["w_run"], row["w_no"] = row.pop("run_id"), row.pop("trade_no")
                    conn.execute(stmt, rows)
                new = trades[trades["id"] >= known]
                added = _rows(new, TRADE_COLUMNS, {**at, **source_col}, defaults)
                _insert_rows(conn, TRADES, added)
                if len(tracked):
                    parents = [int(x) for x in tracked["trade"].tolist()]
                    conn.execute(
                        delete(TRADES).where(
                            TRADES.c.run_id == run_id,
                            TRADES.c.kind == "tracked",
                            TRADES.c.trade_no.in_(parents),
                        )
                    )
                for table in (CYCLES, MODE_CHANGES):
                    conn.execute(delete(table).where(table.c.run_id == run_id))
                _insert_run_tables(
                    conn,
                    run_id,
                    summary,
                    trades.iloc[0:0],
                    tracked,
                    ledger,
                    cycles,
                    mode_switches,
                    source=source,
                )
                if orders is not None and len(trades):
                    nos = [int(x) for x in trades["id"].tolist()]
                    ids = dict(
                        conn.execute(
                            select(TRADES.c.trade_no, TRADES.c.id).where(
                                TRADES.c.run_id == run_id,
                                TRADES.c.kind != "tracked",
                                TRADES.c.trade_no.in_(nos),
                            )
                        ).all()
                    )
                    conn.execute(delete(ORDERS).where(ORDERS.c.trade_id.in_(list(ids.values()))))
                    order_rows = _rows(orders, ORDER_COLUMNS, at)
                    for row in order_rows:
                        row["trade_id"] = ids[int(row.pop("trade_no"))]
                        row["client_order_id"] = _in_run(row["client_order_id"], run_id)
                    _insert_rows(conn, ORDERS, order_rows)
                _insert_rows(conn, EQUITY, _equity_rows(equity, run_id))
                _insert_rows(
                    conn,
                    CHUNKS,
                    [{"name": name, "part": p, "seq": q, "payload": b} for p, q, b in chunks],
                )
                found = conn.execute(select(STATES.c.id).where(STATES.c.name == name)).first()
                _put_state(conn, name, source, summary, clock, run_id, payload, found is None)
        except SQLAlchemyError as exc:
            raise StateError(f"saving node {name!r} to the trade book failed: {exc}") from exc
        return run_id

    def state_chunks(self, name: str) -> dict[str, list[bytes]]:
        """The archived parts of saved state ``name``: part → payloads in order."""
        stmt = (
            select(CHUNKS.c.part, CHUNKS.c.payload)
            .where(CHUNKS.c.name == name)
            .order_by(CHUNKS.c.part, CHUNKS.c.seq)
        )
        out: dict[str, list[bytes]] = {}
        with self.engine.connect() as conn:
            for part, payload in conn.execute(stmt):
                out.setdefault(str(part), []).append(bytes(payload))
        return out

    def drop_session(self, name: str) -> bool:
        """Forget the saved state of session ``name`` (its run and trades stay); True if
        there was one."""
        try:
            with self.engine.begin() as conn:
                conn.execute(delete(CHUNKS).where(CHUNKS.c.name == name))
                result = conn.execute(delete(STATES).where(STATES.c.name == name))
        except SQLAlchemyError as exc:
            raise StateError(f"dropping session {name!r} failed: {exc}") from exc
        return bool(result.rowcount)

    # ------------------------------------------------------------------- read

    def _select(self, table: Table, stmt: Any) -> pd.DataFrame:
        try:
            with self.engine.connect() as conn:
                result = conn.execute(stmt)
                return _frame(table, result.fetchall(), list(result.keys()))
        except SQLAlchemyError as exc:
            raise StateError(f"reading {table.name} from the trade book failed: {exc}") from exc

    def trades(
        self,
        run_id: int | None = None,
        kind: str | None = None,
        pair: str | None = None,
        agent: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> pd.DataFrame:
        """Stored trades, filtered, in insertion order (``limit``/``offset`` page them)."""
        table = TRADES
        stmt = select(table)
        for name, value in (("run_id", run_id), ("kind", kind), ("pair", pair), ("agent", agent)):
            if value is not None:
                stmt = stmt.where(table.c[name] == value)
        stmt = stmt.order_by(table.c.id).offset(offset)
        if limit is not None:
            stmt = stmt.limit(limit)
        return self._select(table, stmt)

    def count(self, table: str, run_id: int | None = None) -> int:
        """How many rows ``table`` holds (of one run, with ``run_id``)."""
        tab = TABLES[table]
        stmt = select(func.count()).select_from(tab)
        if run_id is not None:
            stmt = stmt.where(tab.c.run_id == run_id)
        with self.engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())

    def trade(self, id: int) -> dict[str, Any]:  # noqa: A002 - the column's name
        """One stored trade by its book id (JSON columns decoded)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(TRADES).where(TRADES.c.id == id)).first()
        if row is None:
            raise StateError(f"trade book: no trade with id {id}")
        out = dict(row._mapping)
        for name in ("models", "features"):
            if out[name] is not None:
                out[name] = json.loads(out[name])
        return out

    def equity(self, run_id: int) -> pd.DataFrame:
        """A run's equity curve: ``at``, ``equity``, ``paper_equity``, oldest first."""
        stmt = (
            select(EQUITY.c.at, EQUITY.c.equity, EQUITY.c.paper_equity)
            .where(EQUITY.c.run_id == run_id)
            .order_by(EQUITY.c.at)
        )
        return self._select(EQUITY, stmt)

    def runs(self) -> pd.DataFrame:
        """Every stored run, oldest first."""
        table = RUNS
        return self._select(table, select(table).order_by(table.c.id))

    def orders(self, run_id: int | None = None, trade_id: int | None = None) -> pd.DataFrame:
        """Stored orders (of one run, or of one trade by its book id), oldest first."""
        stmt = select(ORDERS)
        if trade_id is not None:
            stmt = stmt.where(ORDERS.c.trade_id == trade_id)
        if run_id is not None:
            stmt = stmt.where(ORDERS.c.run_id == run_id)
        return self._select(ORDERS, stmt.order_by(ORDERS.c.created_at, ORDERS.c.id))

    # ----------------------------------------------------------- venue orders

    def node_orders(self, run_id: int) -> list[dict[str, Any]]:
        """Every order of a node's run, each with its trade's number (None for an order of
        a pair's netted position), oldest first."""
        stmt = (
            select(ORDERS, TRADES.c.trade_no)
            .outerjoin(TRADES, ORDERS.c.trade_id == TRADES.c.id)
            .where(ORDERS.c.run_id == run_id)
            .order_by(ORDERS.c.id)
        )
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]

    def trade_id(self, run_id: int, trade_no: int) -> int:
        """The book id of trade ``trade_no`` of run ``run_id`` (not its tracked twin)."""
        stmt = select(TRADES.c.id).where(
            TRADES.c.run_id == run_id, TRADES.c.trade_no == trade_no, TRADES.c.kind != "tracked"
        )
        with self.engine.connect() as conn:
            found = conn.execute(stmt).first()
        if found is None:
            raise StateError(f"trade book: run {run_id} has no trade {trade_no}")
        return int(found[0])

    def put_order(self, row: Mapping[str, Any]) -> None:
        """Write an order's intent, committed before the request goes out: a crash after
        sending leaves a record for reconciliation to ask the exchange about."""
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(ORDERS).values(dict(row)))
        except SQLAlchemyError as exc:
            raise StateError(
                f"writing order {row.get('client_order_id')!r} failed: {exc}"
            ) from exc

    def put_state(self, name: str, source: str, run_id: int, payload: bytes) -> None:
        """Write a small saved state of its own (a node's venue baseline) at once."""
        try:
            with self.engine.begin() as conn:
                found = conn.execute(select(STATES.c.id).where(STATES.c.name == name)).first()
                _put_state(conn, name, source, {}, None, run_id, payload, found is None)
        except SQLAlchemyError as exc:
            raise StateError(f"saving state {name!r} failed: {exc}") from exc

    def update_order(self, client_order_id: str, values: Mapping[str, Any]) -> None:
        """Record what the exchange said of an order."""
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    update(ORDERS)
                    .where(ORDERS.c.client_order_id == client_order_id)
                    .values(dict(values))
                )
        except SQLAlchemyError as exc:
            raise StateError(f"updating order {client_order_id!r} failed: {exc}") from exc

    def table(self, name: str, run_id: int | None = None) -> pd.DataFrame:
        """All rows of one table (``ledger``, ``cycles``, ``mode_changes``, ...)."""
        tab = TABLES[name]
        stmt = select(tab)
        if run_id is not None and "run_id" in tab.c:
            stmt = stmt.where(tab.c.run_id == run_id)
        return self._select(tab, stmt.order_by(tab.c.id))

    # ----------------------------------------------------------------- export

    def export(self, path: str | Path, fmt: ExportFormat = "json", **filters: Any) -> int:
        """Write the trades ``filters`` select (as for :meth:`trades`) to ``path``."""
        frame = self.trades(**filters)
        path = Path(path)
        if fmt == "json":
            frame.to_json(path, orient="records", date_format="iso", indent=1)
        elif fmt == "csv":
            frame.to_csv(path, index=False)
        elif fmt == "parquet":
            frame.to_parquet(path, index=False)
        else:
            raise StateError(f"export format {fmt!r}: use json, csv or parquet")
        return len(frame)
