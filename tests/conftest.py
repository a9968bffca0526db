"""Shared fixtures: the database backends every database test runs on.

SQLite always; PostgreSQL too when `MCI_TEST_POSTGRES_URL` is set (CI always sets it, and an unreachable server
there is a failure, not a skip).
"""

import asyncio
import contextlib
import email
import email.message
import email.policy
import os
import socket
import tempfile
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from aiosmtpd.controller import Controller
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlmodel import SQLModel

from app import db
from app.auth import mint_token
from app.cli import DEMO_DATA
from app.clock import Clock
from app.config import Settings
from app.domain.identifiers import email_domain
from app.main import create_app, uvicorn_options
from app.runtime import Runtime
from app.services.importer import import_reference_data, load_document

POSTGRES_URL = os.environ.get("MCI_TEST_POSTGRES_URL")
BACKENDS = ["sqlite", "postgres"] if POSTGRES_URL else ["sqlite"]


@dataclass
class Database:
    url: str
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]

    @property
    def backend(self) -> str:
        return "sqlite" if self.url.startswith("sqlite") else "postgres"

    async def wipe(self) -> None:
        """Empty every table, keeping the schema."""
        tables = [t.name for t in reversed(SQLModel.metadata.sorted_tables)]
        async with self.engine.begin() as conn:
            if self.backend == "postgres":
                await conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            else:
                for name in tables:
                    await conn.execute(text(f"DELETE FROM {name}"))


async def _fresh_postgres(base_url: str, suffix: str) -> str:
    """A new, empty database beside the one `base_url` names (`<name>_<suffix>`); its URL."""
    url = make_url(base_url)
    name = f"{url.database}_{suffix}"
    admin = create_async_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


async def _open_database(backend: str, purpose: str) -> Database:
    """A fresh, migrated database of this backend, used for one purpose for the whole session."""
    if backend == "postgres":
        assert POSTGRES_URL
        url = await _fresh_postgres(POSTGRES_URL, purpose)
    else:
        url = f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp(prefix='mci-test-')) / f'{purpose}.db'}"
    await db.upgrade(url)
    engine = db.create_engine(url)
    return Database(url, engine, db.session_factory(engine))


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
async def database(backend: str) -> AsyncIterator[Database]:
    """A database for service tests, which may empty it at will."""
    database = await _open_database(backend, "services")
    yield database
    await database.engine.dispose()


@pytest.fixture
async def empty_database(database: Database) -> Database:
    """The backend with every table emptied before the test."""
    await database.wipe()
    return database


# Names of the server's background tasks (app/runtime.py, app/mail.py, app/events/).
BACKGROUND_TASKS = {"deadline-sweeper", "mci-mail-sender", "event-hub", "pg-listener", "session-watch"}


@dataclass
class GraphQLResponse:
    status: int
    body: dict[str, Any]

    @property
    def data(self) -> dict[str, Any]:
        assert not self.body.get("errors"), self.body["errors"]
        return self.body["data"]

    @property
    def error_codes(self) -> list[str]:
        return [e.get("extensions", {}).get("code") for e in self.body.get("errors") or []]


@dataclass
class Api:
    """A real server (uvicorn on a free port) over a database seeded with the demo data, and an HTTP client."""

    base_url: str
    http: httpx.AsyncClient
    database: Database
    runtime: Runtime

    @property
    def clock(self) -> Clock:
        return self.runtime.clock

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    @contextlib.contextmanager
    def statements(self) -> Iterator[list[str]]:
        """The SQL statements requests run meanwhile. The server's background tasks (mail sender, sweeper, event
        hub, listener) use the same engine at their own pace, so statements are attributed by asyncio task."""
        seen: list[str] = []

        def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            task = asyncio.current_task()
            if task is None or task.get_name() not in BACKGROUND_TASKS:
                seen.append(statement)

        engine = self.runtime.engine.sync_engine
        event.listen(engine, "before_cursor_execute", record)
        try:
            yield seen
        finally:
            event.remove(engine, "before_cursor_execute", record)

    @contextlib.asynccontextmanager
    async def writing(self) -> AsyncIterator[AsyncConnection]:
        """A transaction for a test to write its scene straight into the database. The app never sees such a
        write in its claim event log, so what it keeps from the log's marks (the Customers page's judged tabs, the
        next deadline) is forgotten after it."""
        async with self.database.engine.begin() as conn:
            yield conn
        self.runtime.judgements.clear()
        self.runtime.deadlines.forget()

    def token(self, email: str) -> str:
        return mint_token(self.settings, email)

    async def graphql(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        as_user: str | None = None,
        token: str | None = None,
    ) -> GraphQLResponse:
        headers = {}
        if as_user is not None:
            token = self.token(as_user)
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        response = await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        return GraphQLResponse(response.status_code, response.json())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SmtpSink:
    """A real SMTP server (aiosmtpd) on a free port that keeps every message it receives; it can be stopped
    and started again on the same port, to play an outage."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.messages: list[email.message.EmailMessage] = []
        self._controller: Controller | None = None

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:  # aiosmtpd handler hook
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))  # type: ignore[arg-type]
        return "250 OK"

    def start(self) -> None:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    async def wait_for(
        self, recipient: str, count: int = 1, seconds: float = 10
    ) -> list[email.message.EmailMessage]:
        """The messages to `recipient`, once there are at least `count` of them."""
        for _ in range(int(seconds / 0.05)):
            found = [m for m in self.messages if m["To"] == recipient]
            if len(found) >= count:
                return found
            await asyncio.sleep(0.05)
        raise AssertionError(f"no {count} message(s) to {recipient} within {seconds}s; got {len(found)}")


@pytest.fixture(scope="session")
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture(scope="session")
async def api(backend: str, smtp: SmtpSink) -> AsyncIterator[Api]:
    database = await _open_database(backend, "api")
    await import_reference_data(database.sessions, load_document(DEMO_DATA))
    port = _free_port()
    settings = Settings(
        database_url=database.url,
        public_url=f"http://127.0.0.1:{port}",
        env="development",
        sandbox=True,
        smtp_url=f"smtp://127.0.0.1:{smtp.port}",
        mail_poll_seconds=0.2,
        mail_retry_base_seconds=0.2,
        mail_retry_max_seconds=0.5,
        sweep_interval_seconds=3600,  # reads apply passed deadlines; the periodic sweep would only add noise
        # Tests open many sockets at once for one demo user (test_isolation: every ID slot, every role); the
        # per-user caps are tested on servers of their own (tests/security/test_sessions.py).
        max_connections_per_user=10_000,
        max_subscriptions_per_user=10_000,
    )
    app = create_app(settings, Clock())
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", **uvicorn_options(settings)
        )
    )
    thread = threading.Thread(target=server.run, name=f"uvicorn-{backend}", daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive(), "the server failed to start"
        await asyncio.sleep(0.02)
    base_url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        yield Api(base_url=base_url, http=http, database=database, runtime=app.state.runtime)
    server.should_exit = True
    await asyncio.to_thread(thread.join, 10)
    await database.engine.dispose()


CLAIM_TABLES = [
    "idempotency_key",
    "claim_event",
    "consent_request",
    "claim",
    "customer_identifier",
    "customer",
]


async def reset_partner_domains(conn: AsyncConnection) -> None:
    """The partners' own domains back to those of their users (the reference data's): the domains a test's
    partner contacts added are that test's, and would refuse the next test's recipients (RECIPIENT_IS_PARTNER)."""
    await conn.execute(text("DELETE FROM partner_domain"))
    users = (await conn.execute(text("SELECT partner_id, email FROM partner_user"))).all()
    rows = sorted({(partner_id, domain) for partner_id, email in users if (domain := email_domain(email))})
    if rows:
        await conn.execute(
            text("INSERT INTO partner_domain (partner_id, domain) VALUES (:partner_id, :domain)"),
            [{"partner_id": partner_id, "domain": domain} for partner_id, domain in rows],
        )


@pytest.fixture
async def clean_api(api: Api) -> Api:
    """The API server with no customers or claims (reference data kept), the partners' own domains those of
    their users, and its clock (the process's and the shared sandbox clock) back at the wall clock's time, for
    tests that nominate."""
    api.clock.offset = timedelta(0)
    async with api.writing() as conn:
        for table in CLAIM_TABLES:
            await conn.execute(text(f"DELETE FROM {table}"))
        await conn.execute(text("UPDATE sandbox_clock SET offset_seconds = 0"))  # the shared test clock
        await reset_partner_domains(conn)
    return api
