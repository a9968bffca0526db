"""Liveness (`/healthz`) and readiness (`/readyz`): the database answers, it is at this code's migration head, and
the notifier listens (PostgreSQL LISTEN, or the in-process hub on SQLite); 503 with the reasons otherwise."""

import pytest
from sqlalchemy import text

from app.clock import Clock
from app.config import Settings
from app.observability import Observability, known_revisions, migration_heads
from app.runtime import Runtime


async def test_healthz_says_the_process_is_alive(api):
    response = await api.http.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_checks_database_migrations_and_notifier(api):
    response = await api.http.get("/readyz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready"
    checks = body["checks"]
    assert checks["database"] == {"ok": True}
    assert checks["migrations"] == {"ok": True, "version": sorted(migration_heads())}
    kind = "in-process" if api.database.backend == "sqlite" else "postgres-listen"
    assert checks["notifier"] == {"ok": True, "kind": kind}


async def test_readyz_is_503_while_the_database_is_behind_the_code_s_migrations(api):
    """Behind: no revision applied at all (a database older than any known revision looks the same)."""
    async with api.database.engine.begin() as conn:
        versions = list((await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars())
        await conn.execute(text("DELETE FROM alembic_version"))
    try:
        response = await api.http.get("/readyz")
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "not ready"
        assert body["checks"]["migrations"] == {
            "ok": False,
            "reason": "no migration applied: run `mci db upgrade`",
            "version": [],
            "head": sorted(migration_heads()),
        }
        assert body["checks"]["database"] == {"ok": True}
    finally:
        async with api.database.engine.begin() as conn:
            for version in versions:
                await conn.execute(
                    text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": version}
                )
    assert (await api.http.get("/readyz")).status_code == 200


async def test_readyz_is_503_at_an_older_known_revision(api):
    older = sorted(known_revisions() - migration_heads())
    if not older:
        pytest.skip("there is one migration: no revision is older than head")
    async with api.database.engine.begin() as conn:
        [version] = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars()
        await conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": older[0]})
    try:
        response = await api.http.get("/readyz")
        assert response.status_code == 503
        assert "behind" in response.json()["checks"]["migrations"]["reason"]
    finally:
        async with api.database.engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": version})


async def test_a_database_migrated_by_newer_code_keeps_this_process_ready(api):
    """During a rolling deploy the new version migrates first; the old processes stay in service meanwhile."""
    async with api.database.engine.begin() as conn:
        [version] = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars()
        await conn.execute(text("UPDATE alembic_version SET version_num = 'from_the_future'"))
    try:
        response = await api.http.get("/readyz")
        assert response.status_code == 200
        migrations = response.json()["checks"]["migrations"]
        assert migrations["ok"] is True
        assert migrations["version"] == ["from_the_future"]
        assert "newer" in migrations["note"]
    finally:
        async with api.database.engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": version})


async def test_not_ready_before_the_hub_runs_and_once_shutting_down(database):
    """The process-internal checks, on a runtime that was never started (so no server is involved)."""
    runtime = Runtime.create(Settings(database_url=database.url), Clock())
    try:
        ready, checks = await Observability(runtime).readiness()
        assert not ready
        assert checks["database"] == {"ok": True}
        assert checks["migrations"]["ok"] is True
        assert checks["notifier"]["ok"] is False
        assert "not running" in checks["notifier"]["reason"]
        runtime.draining = True
        _, checks = await Observability(runtime).readiness()
        assert checks["shutdown"] == {"ok": False, "reason": "shutting down"}
    finally:
        await runtime.engine.dispose()


async def test_not_ready_when_the_database_is_unreachable():
    runtime = Runtime.create(
        Settings(database_url="postgresql+asyncpg://nobody@127.0.0.1:9/nothing"), Clock()
    )  # nothing listens on the discard port
    try:
        ready, checks = await Observability(runtime).readiness()
    finally:
        await runtime.engine.dispose()
    assert not ready
    assert checks["database"]["ok"] is False
    assert checks["database"]["reason"].startswith("unreachable: ")
    assert checks["migrations"]["ok"] is False
    assert checks["notifier"] == {
        "ok": False,
        "kind": "postgres-listen",
        "reason": "the event hub is not running",
    }
