"""Upgrading a database that holds data, with `mci db upgrade`; the latest revision's downgrade and upgrade.

Honest note: when these tests were written the repository had one migration (0001, the initial schema) and a
second one (0002, indexes for the Customers page) was being written beside them. So the tests hold for either:
- a database created at 0001 and filled through the API (demo data, a claim with its consent request, events and
  mail) keeps every row through `mci db upgrade` to head and through a second run (idempotence). On PostgreSQL the
  server leaves the schema alone, so the upgrade crosses every later revision with the data in place. On SQLite
  the server migrates its own file at start, so the test first takes the filled file back to 0001; with 0001 as
  the only revision the test shows idempotence on a filled database, nothing more;
- the latest revision downgrades and upgrades again, ending at the schema the models describe (for 0001 alone
  the downgrade leaves no table);
- the models and the migrations agree, so a model change cannot land without its migration.
"""

import asyncio
import os
import sys
import tempfile
from pathlib import Path

import httpx
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

from app import db
from app.cli import DEMO_DATA
from app.observability import migration_heads
from app.services.importer import import_reference_data, load_document
from tests.conftest import POSTGRES_URL, _fresh_postgres
from tests.demo import CONTOSO_ADMIN
from tests.ops import ADD, DOMAINS, SEND, ServeProcess, add_customer_input

FIRST = "0001"


async def _empty_url(backend: str, purpose: str) -> str:
    if backend == "postgres":
        assert POSTGRES_URL
        return await _fresh_postgres(POSTGRES_URL, purpose)
    return f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp(prefix='mci-ops-')) / f'{purpose}.db'}"


async def _counts(engine) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Rows per table of the models that the database has (a later revision's tables are missing before it)."""
    async with engine.connect() as conn:
        present = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        return {
            table.name: (await conn.execute(text(f"SELECT count(*) FROM {table.name}"))).scalar_one()
            for table in SQLModel.metadata.sorted_tables
            if table.name in present
        }


async def _version(engine) -> set[str]:  # type: ignore[no-untyped-def]
    async with engine.connect() as conn:
        return set((await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars())


async def _mci(url: str, *args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli",
        *args,
        env={**os.environ, "MCI_DATABASE_URL": url},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, output.decode()
    return output.decode()


def _differences(connection) -> list:  # type: ignore[no-untyped-def]
    return compare_metadata(
        MigrationContext.configure(connection, opts={"compare_type": True}), SQLModel.metadata
    )


async def test_mci_db_upgrade_keeps_the_data_of_a_filled_database(backend):
    url = await _empty_url(backend, "ops_upgrade")
    # The importer and the server use this code's schema: import and make a claim at head, then take the data
    # back down to the first revision, where the upgrade under test starts.
    await asyncio.to_thread(db.upgrade_sync, url, "head")
    engine = db.create_engine(url)
    try:
        await import_reference_data(db.session_factory(engine), load_document(DEMO_DATA))
        # A claim with its consent request, events and outbox mail, made through a real server.
        server = ServeProcess(url)
        await server.start()
        try:
            token = server.token(CONTOSO_ADMIN)
            locations, engagements = await server.ids(token)
            async with httpx.AsyncClient(timeout=30) as client:
                added = await server.graphql(
                    client,
                    ADD,
                    {"input": add_customer_input(locations, engagements, DOMAINS[0])},
                    token=token,
                )
                [claim] = added.json()["data"]["addCustomer"]["claims"]
                sent = await server.graphql(client, SEND, {"id": claim["id"]}, token=token)
                assert sent.json()["data"]["sendConsent"]["userErrors"] == []
        finally:
            await server.stop()
        await asyncio.to_thread(command.downgrade, db._alembic_config(url), FIRST)
        await engine.dispose()
        assert await _version(engine) == {FIRST}
        before = await _counts(engine)
        assert before["claim"] == 1 and before["claim_event"] >= 2 and before["mail_outbox"] == 1
        assert before["engagement"] > 0 and before["directory_tenant"] > 0

        await _mci(url, "db", "upgrade")
        assert await _version(engine) == migration_heads()
        after = await _counts(engine)
        assert {name: after[name] for name in before} == before  # every row kept; new tables come with theirs
        await _mci(url, "db", "upgrade")  # again: nothing to do, nothing lost
        assert await _version(engine) == migration_heads()
        assert await _counts(engine) == after
        async with engine.connect() as conn:
            number = (await conn.execute(text("SELECT claim_number FROM claim"))).scalar_one()
        assert number == claim["claimNumber"]
    finally:
        await engine.dispose()


async def test_the_latest_revision_downgrades_and_upgrades_to_the_models_schema(backend):
    url = await _empty_url(backend, "ops_roundtrip")
    config = db._alembic_config(url)
    engine = db.create_engine(url)
    try:
        await asyncio.to_thread(command.upgrade, config, "head")
        async with engine.connect() as conn:
            assert await conn.run_sync(_differences) == []  # the models and the migrations agree
            tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        assert {t.name for t in SQLModel.metadata.sorted_tables} <= tables

        [head] = migration_heads()
        previous = ScriptDirectory(str(db.MIGRATIONS_DIR)).get_revision(head).down_revision
        await asyncio.to_thread(command.downgrade, config, "-1")
        await engine.dispose()
        async with engine.connect() as conn:
            left = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        if previous is None:  # the latest is the first: nothing is left
            assert not left & {t.name for t in SQLModel.metadata.sorted_tables}
        else:
            assert await _version(engine) == {previous}

        await asyncio.to_thread(command.upgrade, config, "head")
        await engine.dispose()
        assert await _version(engine) == migration_heads()
        async with engine.connect() as conn:
            assert await conn.run_sync(_differences) == []
    finally:
        await engine.dispose()


async def test_event_ids_are_never_reused_after_every_migration_on_sqlite():
    """A migration that copies claim_event (SQLite alters a column that way) must keep AUTOINCREMENT: without it a
    deleted event's id comes back, and a cursor (or the deadline watch's mark) points at two events."""
    url = await _empty_url("sqlite", "ops_autoincrement")
    await asyncio.to_thread(db.upgrade_sync, url, "head")
    await asyncio.to_thread(command.downgrade, db._alembic_config(url), FIRST)
    await asyncio.to_thread(db.upgrade_sync, url, "head")
    engine = db.create_engine(url)
    try:
        async with engine.connect() as conn:
            created = (
                await conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'claim_event'"))
            ).scalar_one()
        assert "AUTOINCREMENT" in created
    finally:
        await engine.dispose()
