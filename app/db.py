"""The database: one async engine per process, sessions, and migrations."""

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session

WRITE = "mci_write"
EVENTS_WRITTEN = "mci_events_written"
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def _ensure_sqlite_directory(url: str) -> None:
    """The embedded default creates its own file, folder included."""
    database = make_url(url).database if url.startswith("sqlite") else None
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)


class StatementTimeout(TimeoutError):
    """PostgreSQL cancelled a statement that ran past `statement_timeout` (SQLSTATE 57014): the database did not
    answer in time, which requests report as UNAVAILABLE, like any other database that cannot serve them now."""


QUERY_CANCELED = "57014"
SQLITE_DEFAULT_BUSY_SECONDS = 30.0  # for the command-line tools (imports may wait for a busy server)


def create_engine(
    url: str,
    *,
    hide_parameters: bool = False,
    statement_timeout: float | None = None,
    command_timeout: float | None = None,
) -> AsyncEngine:
    """`hide_parameters`: keep SQL parameters (emails, names) out of error messages and logs (production).

    The timeouts bound every statement (the server's settings pass them; the command-line tools, whose imports may
    run long, do not): `statement_timeout` is PostgreSQL's own (the server cancels a statement running longer) and,
    with SQLite, how long a connection waits for another's lock; `command_timeout` is the driver's (asyncpg gives up
    on a command, or a new connection, that the server has not answered), so a database that accepts connections
    but stops answering cannot hold a request, or the pool, for ever."""
    if url.startswith("sqlite"):
        _ensure_sqlite_directory(url)
        busy = statement_timeout if statement_timeout is not None else SQLITE_DEFAULT_BUSY_SECONDS
        engine = create_async_engine(url, connect_args={"timeout": busy}, hide_parameters=hide_parameters)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, below
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={int(busy * 1000)}")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _sqlite_begin(conn):  # type: ignore[no-untyped-def]
            # A writer takes the write lock when its transaction starts; a deferred reader that later writes
            # would fail at once with "database is locked" instead of waiting its turn.
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE) else "BEGIN")

        return engine
    connect_args: dict[str, Any] = {}
    if statement_timeout is not None:
        connect_args["server_settings"] = {"statement_timeout": str(max(1, int(statement_timeout * 1000)))}
    if command_timeout is not None:
        connect_args["command_timeout"] = command_timeout
        connect_args["timeout"] = command_timeout  # connecting: the startup handshake unanswered
    engine = create_async_engine(
        url,
        pool_size=10,
        max_overflow=10,
        pool_pre_ping=True,
        hide_parameters=hide_parameters,
        connect_args=connect_args,
    )

    @event.listens_for(engine.sync_engine, "handle_error")
    def _statement_timeout(context: ExceptionContext) -> BaseException | None:
        original = context.original_exception
        if any(getattr(e, "sqlstate", None) == QUERY_CANCELED for e in _chain(original)):
            return StatementTimeout(str(original))
        return None

    return engine


def _chain(error: BaseException | None) -> list[BaseException]:
    seen: list[BaseException] = []
    while error is not None and error not in seen and len(seen) < 8:
        seen.append(error)
        error = error.__cause__ or error.__context__
    return seen


def session_factory(
    engine: AsyncEngine, after_events_commit: Callable[[int], None] | None = None
) -> async_sessionmaker[AsyncSession]:
    """Sessions for `engine`; `after_events_commit` runs after each commit of a transaction that appended claim
    events, with the id of its latest (it wakes this process's event hub)."""
    if after_events_commit is None:
        return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)

    class EventAwareSession(Session):
        pass

    @event.listens_for(EventAwareSession, "after_commit")
    def _events_committed(session: Session) -> None:
        if latest := session.info.pop(EVENTS_WRITTEN, None):
            after_events_commit(latest)

    @event.listens_for(EventAwareSession, "after_rollback")
    def _events_discarded(session: Session) -> None:
        session.info.pop(EVENTS_WRITTEN, None)

    return async_sessionmaker(
        engine, expire_on_commit=False, autoflush=False, sync_session_class=EventAwareSession
    )


@asynccontextmanager
async def transaction(
    sessions: async_sessionmaker[AsyncSession], *, write: bool = False
) -> AsyncIterator[AsyncSession]:
    """One unit of work: commits on success, rolls back on any exception. `write=True` for anything that writes."""
    async with sessions() as session, session.begin():
        await session.connection(execution_options={WRITE: True} if write else {})
        yield session


def _alembic_config(url: str):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade_sync(url: str, revision: str = "head") -> None:
    from alembic import command

    _ensure_sqlite_directory(url)
    command.upgrade(_alembic_config(url), revision)


async def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations; Alembic is synchronous, so it runs in a worker thread with its own event loop."""
    await asyncio.to_thread(upgrade_sync, url, revision)
