"""Open the trade book (SQLite with WAL, or PostgreSQL by URL) and migrate it to head."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from tradewind.errors import StateError

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = [
    "BUSY_TIMEOUT_MS",
    "HEAD",
    "MIGRATIONS",
    "alembic_config",
    "open_book",
    "sessions",
    "upgrade",
]

#: how long a SQLite connection waits for a lock before failing
BUSY_TIMEOUT_MS = 10_000
#: the Alembic script directory, inside the installed package
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: the newest migration (a test checks that it is Alembic's head): a book already there is
#: not handed to Alembic, whose import costs a third of a second of every command's start
HEAD = "0007"


def _where(url: str) -> str:
    """The database a URL names, without its password (for messages)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return url
    if parsed.get_backend_name() == "sqlite":
        return parsed.database or ":memory:"
    return parsed.render_as_string(hide_password=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _read_only(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA query_only=ON")
    finally:
        cursor.close()


def _read_only_pg(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
    finally:
        cursor.close()
    dbapi_connection.commit()


def open_book(url: str, *, read_only: bool = False) -> Engine:
    """An engine on the trade book at ``url`` (``sqlite:///path.db`` or a PostgreSQL URL).

    SQLite files run in WAL mode (readers never block the writer and see only committed
    saves), with ``synchronous=NORMAL``, foreign keys on and a busy timeout. The database is
    probed once, so an unreachable server or a file that is not a database fails here with a
    :class:`StateError` naming it. ``read_only``: every connection refuses writes (the
    status server's; SQLite's ``query_only``, PostgreSQL's read-only transactions).
    """
    where = _where(url)
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StateError(f"{url}: not a database URL ({exc})") from exc
    sqlite = parsed.get_backend_name() == "sqlite"
    if sqlite and parsed.database and parsed.database != ":memory:":
        parent = Path(parsed.database).expanduser().resolve().parent
        if not parent.is_dir():
            raise StateError(f"{where}: cannot open the trade book: no directory {parent}")
    try:
        engine = create_engine(parsed, pool_pre_ping=not sqlite)
    except (SQLAlchemyError, ImportError) as exc:
        raise StateError(f"{where}: cannot open the trade book: {exc}") from exc
    if sqlite:
        event.listen(engine, "connect", _sqlite_pragmas)
    if read_only:
        event.listen(engine, "connect", _read_only if sqlite else _read_only_pg)
    try:
        with engine.connect() as conn:
            if sqlite:
                conn.execute(text("SELECT count(*) FROM sqlite_master")).scalar_one()
                conn.execute(text("PRAGMA quick_check(1)")).scalar_one()
            else:
                conn.execute(text("SELECT 1")).scalar_one()
    except (SQLAlchemyError, sqlite3.Error) as exc:
        engine.dispose()
        detail = getattr(exc, "orig", None) or exc
        raise StateError(
            f"{where}: cannot read the trade book ({detail}); "
            "is it a database (a SQLite file, or a reachable PostgreSQL server)?"
        ) from exc
    return engine


def sessions(engine: Engine) -> sessionmaker[Session]:
    """A session factory on ``engine`` (objects stay usable after commit)."""
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config() -> Config:
    """The Alembic configuration of the trade book, built in code (no alembic.ini)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _revision(engine: Engine) -> str | None:
    """The book's migration revision, None when it has none (new, or not ours)."""
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).all()
    except SQLAlchemyError:
        return None
    return str(rows[0][0]) if len(rows) == 1 else None


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the trade book at ``url`` to ``revision`` (default: the newest)."""
    engine = open_book(url)
    try:
        if revision == "head" and _revision(engine) == HEAD:
            return
        from alembic import command

        with engine.begin() as conn:
            config = alembic_config()
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
    except SQLAlchemyError as exc:
        raise StateError(f"{_where(url)}: migration to {revision} failed: {exc}") from exc
    finally:
        engine.dispose()
