"""Shared fixtures: the database backends every database test runs on.

SQLite always; PostgreSQL too when `MCI_TEST_POSTGRES_URL` is set (CI always sets it, and an unreachable server
there is a failure, not a skip).
"""

import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlmodel import SQLModel

from app import db

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


async def _fresh_postgres(url: str) -> None:
    """Drop and recreate the public schema so each run starts from nothing."""
    engine = db.create_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
async def database(request: pytest.FixtureRequest) -> AsyncIterator[Database]:
    if request.param == "postgres":
        assert POSTGRES_URL
        url = POSTGRES_URL
        await _fresh_postgres(url)
    else:
        url = f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp(prefix='mci-test-')) / 'test.db'}"
    await db.upgrade(url)
    engine = db.create_engine(url)
    yield Database(url, engine, db.session_factory(engine))
    await engine.dispose()


@pytest.fixture
async def empty_database(database: Database) -> Database:
    """The backend with every table emptied before the test."""
    await database.wipe()
    return database
