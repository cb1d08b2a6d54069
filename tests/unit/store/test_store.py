"""The trade book: round trips, migrations, WAL, atomic saves, queries, exports."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, Table, text
from sqlalchemy.orm import Session

from tradewind.errors import StateError
from tradewind.store import TradeBook, open_book, upgrade
from tradewind.store import repository as repo
from tradewind.store.models import Base, Order, Trade

T0 = pd.Timestamp("2024-01-01", tz="UTC")


def _t(hours: list[float | None]) -> pd.Series:
    return pd.Series(
        [pd.NaT if h is None else T0 + pd.Timedelta(hours=h) for h in hours],
        dtype="datetime64[ns, UTC]",
    )


def _tables(n: int = 6) -> dict[str, Any]:
    ids = np.arange(n, dtype=np.int64)
    hours: list[float | None] = [float(i) for i in range(n)]
    trades = pd.DataFrame(
        {
            "id": ids,
            "kind": ["real" if i % 2 == 0 else "sim" for i in range(n)],
            "sim_reason": ["none" if i % 2 == 0 else "dry_run" for i in range(n)],
            "cycle": ids // 2,
            "pair": ["BTC/USDT" if i % 3 == 0 else "ETH/USDT" for i in range(n)],
            "side": np.where(ids % 2 == 0, 1, -1),
            "status": ["closed"] * (n - 1) + ["expired"],
            "nominated_time": _t(hours),
            "p0": ids * 1.5 + 100,
            "limit": ids * 1.5 + 101,
            "window_stop": ids * 1.5 + 99,
            "alloc": np.full(n, 250.0),
            "entry_time": _t([*hours[:-1], None]),
            "entry_price": [*(ids[:-1] + 100.25), np.nan],
            "qty": np.full(n, 2.5),
            "cost": np.full(n, 250.0),
            "legs": np.ones(n, dtype=np.int64),
            "exit_time": _t([*(h + 3 for h in hours[:-1] if h is not None), None]),
            "exit_price": [*(ids[:-1] + 105.5), np.nan],
            "exit_reason": ["take_profit"] * (n - 1) + ["expired"],
            "pnl": ids * 0.75 - 1,
            "fees": np.full(n, 0.1),
            "ambiguous": np.zeros(n, dtype=np.int64),
            "parent": np.full(n, -1, dtype=np.int64),
            "agent": [f"agent-{i % 2}" for i in range(n)],
            "timeframe": ["1h", "4h"] * (n // 2),
            "stop": ids * 1.5 + 97,
            "initial_stop": ids * 1.5 + 96,
            "target": [*(ids[:-1] * 1.5 + 110), np.nan],
            "r_multiple": [*(ids[:-1] * 0.25 - 1), np.nan],
        }
    )
    tracked = pd.DataFrame(
        {
            "trade": [0, 2],
            "kind": "tracked",
            "of_kind": ["real", "real"],
            "pair": ["BTC/USDT", "ETH/USDT"],
            "side": [1, 1],
            "entry_time": _t([0, 2]),
            "entry_price": [100.25, 102.25],
            "closed_time": _t([3, 5]),
            "closed_price": [105.5, 107.5],
            "closed_reason": ["take_profit", "take_profit"],
            "exit_time": _t([10, None]),
            "exit_price": [111.0, np.nan],
            "exit_reason": ["horizon", "none"],
            "cost": [250.0, 250.0],
            "pnl": [20.0, np.nan],
            "pnl_taken": [13.0, 13.0],
            "fees": [0.1, 0.1],
            "agent": ["agent-0", "agent-0"],
            "timeframe": ["1h", "1h"],
            "r_multiple": [2.5, np.nan],
        }
    )
    ledger = pd.DataFrame(
        {
            "time": _t([0, 1, None]),
            "amount": [250.0, -12.5, 3.0],
            "from": ["main", "pre_trade", "pnl"],
            "to": ["pre_trade", "active", "main"],
            "reason": ["nominate", "enter", "close"],
            "trade": [0, 0, -1],
            "book": ["real", "real", "paper"],
        }
    )
    cycles = pd.DataFrame(
        {
            "cycle": [0, 1],
            "start_time": _t([0, 4]),
            "end_time": _t([4, None]),
            "mode": ["live", "dry_run"],
            "converted_time": _t([None, 5]),
            "pnl": [1.5, 0.0],
            "paper_pnl": [0.0, 2.25],
            "trades": [2, 3],
            "next_mode": ["dry_run", "live"],
        }
    )
    switches = [
        {
            "time": (T0 + pd.Timedelta(hours=4)).isoformat(),
            "cycle": 1,
            "agent": None,
            "to": "dry_run",
            "reason": "losing streak",
        },
        {
            "time": (T0 + pd.Timedelta(hours=5)).isoformat(),
            "cycle": 1,
            "agent": "agent-1",
            "to": "live",
            "reason": "paper trade passed the live threshold",
        },
    ]
    summary = {
        "trader": "cycle",
        "seed": 7,
        "config_hash": "c" * 64,
        "data": {"timeframe": "1h", "fingerprint": "f" * 32},
        "metrics": {"sharpe": 1.25},
    }
    return {
        "summary": summary,
        "trades": trades,
        "tracked": tracked,
        "ledger": ledger,
        "cycles": cycles,
        "mode_switches": switches,
    }


@pytest.fixture
def url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'book.db'}"
    upgrade(url)
    return url


@pytest.fixture
def book(url: str) -> Any:
    with TradeBook(url) as book:
        yield book


def _back(frame: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    return frame[list(columns.values())].set_axis(list(columns), axis=1)


def _same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(
        got.reset_index(drop=True).astype(object).where(got.notna().to_numpy(), None),
        want.reset_index(drop=True).astype(object).where(want.notna().to_numpy(), None),
        check_dtype=False,
    )


def test_round_trip_of_every_table(book: TradeBook) -> None:
    data = _tables()
    run_id = book.save_backtest(**data)
    runs = book.runs()
    assert runs["id"].tolist() == [run_id]
    run = runs.iloc[0]
    assert (run["kind"], run["source"], run["seed"]) == ("backtest", "backtest", 7)
    assert (run["config_hash"], run["data_fingerprint"]) == ("c" * 64, "f" * 32)
    assert run["created_at"].tzinfo is not None
    assert json.loads(run["summary"]) == data["summary"]

    trades = book.trades(run_id=run_id)
    assert str(trades["entry_at"].dtype) == "datetime64[ns, UTC]"
    real = trades[trades["kind"] != "tracked"]
    _same(_back(real, repo.TRADE_COLUMNS), data["trades"])
    assert set(real["timeframe"]) == {"1h", "4h"}
    assert set(trades["source"]) == {"backtest"}
    assert trades["models"].isna().all()
    tracked = trades[trades["kind"] == "tracked"]
    _same(_back(tracked, repo.TRACKED_COLUMNS), data["tracked"])
    assert tracked["trade_no"].tolist() == [0, 2]
    assert tracked["status"].tolist() == ["closed", "active"]

    _same(_back(book.table("ledger", run_id), repo.LEDGER_COLUMNS), data["ledger"])
    _same(_back(book.table("cycles", run_id), repo.CYCLE_COLUMNS), data["cycles"])
    changes = _back(book.table("mode_changes", run_id), repo.MODE_CHANGE_COLUMNS)
    want = pd.DataFrame(data["mode_switches"])
    want["time"] = pd.to_datetime(want["time"], utc=True)
    _same(changes, want)

    one = book.trade(int(trades["id"].iloc[0]))
    assert one["entry_at"] == datetime(2024, 1, 1, tzinfo=UTC)
    assert one["entry_at"].tzinfo is not None


def test_orders_and_json_columns_round_trip(book: TradeBook) -> None:
    run_id = book.save_backtest(**_tables(2))
    now = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    with Session(book.engine) as session, session.begin():
        trade_id = int(book.trades(run_id=run_id)["id"].iloc[0])
        trade = session.get_one(Trade, trade_id)
        trade.models = '{"m1": 0.5}'
        trade.features = '{"rsi": 31.0}'
        trade.agent = "alice"
        trade.r_multiple = 1.5
        session.add(
            Order(
                trade_id=trade_id,
                client_order_id="tw-1",
                role="entry",
                side="buy",
                type="limit",
                qty=1.25,
                price=None,
                status="open",
                created_at=now,
                updated_at=now,
                exchange_order_id=None,
            )
        )
    with Session(book.engine) as session:
        order = session.query(Order).one()
        assert (order.client_order_id, order.role, order.qty, order.price) == (
            "tw-1",
            "entry",
            1.25,
            None,
        )
        assert order.created_at == now
        assert order.created_at.tzinfo is not None
        assert order.exchange_order_id is None
    one = book.trade(trade_id)
    assert one["models"] == {"m1": 0.5}
    assert one["features"] == {"rsi": 31.0}
    assert (one["agent"], one["r_multiple"]) == ("alice", 1.5)


def test_upgrade_creates_exactly_the_models_schema(url: str) -> None:
    engine = open_book(url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    engine.dispose()
    upgrade(url)  # idempotent


def test_head_is_alembics_newest_revision_and_an_old_book_still_migrates(
    tmp_path: Path,
) -> None:
    from alembic.script import ScriptDirectory

    from tradewind.store.db import HEAD, alembic_config

    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == HEAD
    # A book left at an older revision is not taken for a current one.
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    upgrade(url, "0002")
    upgrade(url)
    engine = open_book(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == HEAD
    engine.dispose()


def test_orders_name_their_run_after_migration_0006_and_may_belong_to_a_pair(
    tmp_path: Path,
) -> None:
    """Orders written before 0006 take their trade's run; a netted order (agents sharing
    one exchange position) has a run and a pair but no trade."""
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    upgrade(url, "0005")
    with TradeBook(url) as book:
        run_id = book.save_backtest(**_tables())
        trade_id = book.trade_id(run_id, 0)
    engine = open_book(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO orders (trade_id, client_order_id, role, side, type, qty, "
                "status, created_at, updated_at) VALUES (:t, 'tw-old', 'entry', 'buy', "
                "'market', 1.0, 'closed', '2024-01-01 00:00:00', '2024-01-01 00:00:00')"
            ),
            {"t": trade_id},
        )
    engine.dispose()
    upgrade(url)
    now = datetime(2024, 1, 2, tzinfo=UTC)
    with TradeBook(url) as book:
        book.put_order(
            {
                "run_id": run_id,
                "trade_id": None,
                "client_order_id": "tw-net",
                "role": "n1",
                "side": "buy",
                "type": "market",
                "qty": 2.0,
                "status": "intent",
                "created_at": now,
                "updated_at": now,
                "pair": "BTCUSDT",
            }
        )
        rows = {r["client_order_id"]: r for r in book.node_orders(run_id)}
        assert rows["tw-old"]["run_id"] == run_id
        assert rows["tw-old"]["trade_no"] == 0
        assert rows["tw-net"]["trade_no"] is None
        assert rows["tw-net"]["pair"] == "BTCUSDT"
        assert set(book.orders(run_id=run_id)["client_order_id"]) == {"tw-old", "tw-net"}


def test_sqlite_files_run_in_wal_mode(url: str) -> None:
    engine = open_book(url)
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar_one() > 0
    engine.dispose()


def _blocking_insert(
    at_table: str, reached: threading.Event, go: threading.Event, fail: bool
) -> Any:
    real = repo._insert_rows

    def insert_rows(conn: Connection, table: Table, rows: Any) -> None:
        if table.name == at_table:
            reached.set()
            assert go.wait(10)
            if fail:
                raise RuntimeError("injected failure")
        real(conn, table, rows)

    return insert_rows


@pytest.mark.parametrize("fail", [False, True])
def test_readers_see_none_or_all_of_a_save(
    url: str, monkeypatch: pytest.MonkeyPatch, fail: bool
) -> None:
    reached, go = threading.Event(), threading.Event()
    monkeypatch.setattr(repo, "_insert_rows", _blocking_insert("ledger", reached, go, fail))
    errors: list[BaseException] = []

    def write() -> None:
        try:
            with TradeBook(url) as writer:
                writer.save_backtest(**_tables())
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            errors.append(exc)

    thread = threading.Thread(target=write)
    thread.start()
    try:
        assert reached.wait(10)
        with TradeBook(url) as reader:  # the writer holds its open transaction
            assert reader.runs().empty
            assert reader.trades().empty
    finally:
        go.set()
        thread.join(10)
    with TradeBook(url) as reader:
        counts = {t: reader.count(t) for t in ("runs", "trades", "ledger", "cycles")}
    if fail:
        assert len(errors) == 1
        assert "injected" in str(errors[0])
        assert counts == {"runs": 0, "trades": 0, "ledger": 0, "cycles": 0}
    else:
        assert errors == []
        assert counts == {"runs": 1, "trades": 8, "ledger": 3, "cycles": 2}


def test_filters_and_pagination(book: TradeBook) -> None:
    first = book.save_backtest(**_tables(6))
    data = _tables(4)
    data["trades"] = data["trades"].drop(columns="agent")  # the run's agent fills it in
    second = book.save_backtest(**data, agent="bob")
    assert len(book.trades()) == 6 + 2 + 4 + 2
    assert len(book.trades(run_id=first)) == 8
    assert set(book.trades(kind="sim")["trade_no"]) == {1, 3, 5}
    assert (book.trades(kind="tracked")["kind"] == "tracked").all()
    assert set(book.trades(pair="BTC/USDT", run_id=first)["trade_no"]) == {0, 3}
    assert set(book.trades(agent="bob")["run_id"]) == {second}
    assert set(book.trades(agent="agent-1")["trade_no"]) == {1, 3, 5}
    everything = book.trades()
    page = book.trades(limit=5, offset=3)
    assert page["id"].tolist() == everything["id"].iloc[3:8].tolist()
    assert book.trades(offset=100).empty
    with pytest.raises(StateError, match="no trade with id 9999"):
        book.trade(9999)


@pytest.mark.parametrize("fmt", ["json", "csv", "parquet"])
def test_export_round_trips_rows_and_columns(book: TradeBook, tmp_path: Path, fmt: Any) -> None:
    run_id = book.save_backtest(**_tables())
    path = tmp_path / f"trades.{fmt}"
    n = book.export(path, fmt, run_id=run_id, kind="real")
    back = {"json": pd.read_json, "csv": pd.read_csv, "parquet": pd.read_parquet}[fmt](path)
    assert n == len(back) == 3
    assert list(back.columns) == list(book.trades().columns)


def test_a_file_that_is_not_sqlite_is_a_state_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"this is certainly not a SQLite database file\n" * 100)
    with pytest.raises(StateError, match="notes.db"):
        open_book(f"sqlite:///{path}")
    with pytest.raises(StateError, match="notes.db"):
        upgrade(f"sqlite:///{path}")


def test_a_missing_directory_is_a_state_error(tmp_path: Path) -> None:
    with pytest.raises(StateError, match="no directory"):
        open_book(f"sqlite:///{tmp_path / 'nope' / 'book.db'}")
