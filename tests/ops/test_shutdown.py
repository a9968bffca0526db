"""Stopping a real `mci serve` process with SIGTERM while mutations are in flight and clients are subscribed.

The test holds the database's write lock so that every addCustomer is certainly in flight (accepted, waiting to
write) when the signal arrives. Then: subscriptions end at once (WebSockets closed with 1001 "going away", Server-
Sent Events with a GOING_AWAY error and the cursor to resume after), the server stops accepting connections, the
mutations in flight finish once the lock is released, and the process exits. The database then holds exactly the
claims whose responses arrived, each with its CREATE event: no request was lost mid-transaction."""

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from websockets.asyncio.client import ClientConnection

from tests.api.subscriptions import EVENTS, subscribe
from tests.conftest import Database
from tests.demo import CONTOSO_ADMIN
from tests.ops import ADD, DOMAINS, ServeProcess, add_customer_input, metric_samples, sample, seeded_database


@pytest.fixture
async def served(backend: str) -> AsyncIterator[tuple[ServeProcess, Database]]:
    database = await seeded_database(backend, "ops_shutdown")
    server = ServeProcess(database.url)
    await server.start()
    try:
        yield server, database
    finally:
        await server.stop()
        await database.engine.dispose()


@contextlib.asynccontextmanager
async def write_lock(database: Database) -> AsyncIterator[None]:
    """Hold the lock every claim write needs, from another connection, until the block ends."""
    if database.backend == "sqlite":
        path = make_url(database.url).database
        assert path is not None
        connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            connection.execute("ROLLBACK")
            connection.close()
    else:
        async with database.engine.connect() as connection:
            transaction = await connection.begin()
            await connection.execute(text("LOCK TABLE claim IN EXCLUSIVE MODE"))  # reads go on, inserts wait
            try:
                yield
            finally:
                await transaction.rollback()


async def _sse_events(server: ServeProcess, token: str, into: list[dict[str, Any]]) -> None:
    async with (
        httpx.AsyncClient(timeout=30) as client,
        client.stream(
            "POST",
            f"{server.base_url}/graphql/stream",
            json={"query": EVENTS},
            headers={"Authorization": f"Bearer {token}", "Accept": "text/event-stream"},
        ) as response,
    ):
        event = None
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: ") and event == "next":
                into.append(json.loads(line.removeprefix("data: ")))
            elif event == "complete":
                into.append({"complete": True})
                return


async def _closed(socket: ClientConnection, seconds: float = 5) -> tuple[int | None, str | None]:
    with contextlib.suppress(Exception):
        while True:
            await asyncio.wait_for(socket.recv(), seconds)
    return socket.close_code, socket.close_reason


async def test_sigterm_finishes_mutations_in_flight_and_sends_subscribers_away(served):
    server, database = served
    token = server.token(CONTOSO_ADMIN)
    locations, engagements = await server.ids(token)
    modern = await subscribe(server.base_url, token)
    legacy = await subscribe(server.base_url, token, legacy=True)
    streamed: list[dict[str, Any]] = []
    sse = asyncio.create_task(_sse_events(server, token, streamed))

    async def add(domain: str) -> httpx.Response:
        # One connection per request: a request is either sent on a connection the server accepted, or refused.
        async with httpx.AsyncClient(timeout=60) as client:
            return await server.graphql(
                client, ADD, {"input": add_customer_input(locations, engagements, domain)}, token=token
            )

    async with write_lock(database):
        requests = [asyncio.create_task(add(domain)) for domain in DOMAINS]
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
            for _ in range(
                200
            ):  # until every mutation is in the server (the scrape itself is one more request)
                samples = metric_samples((await client.get("/metrics")).text)
                if sample(samples, "mci_http_requests_in_progress") >= len(DOMAINS) + 1:
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the mutations never reached the server")
        assert sample(samples, "mci_subscriptions_open") >= 2
        assert not any(request.done() for request in requests)

        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)

        # Subscribers are sent away first, while the mutations still wait for the lock.
        assert await _closed(modern.socket) == (1001, "server shutting down")
        assert await _closed(legacy.socket) == (1001, "server shutting down")
        await asyncio.wait_for(sse, 10)
        assert streamed[-1] == {"complete": True}
        [going_away] = streamed[-2]["errors"]
        assert going_away["extensions"]["code"] == "GOING_AWAY"
        assert going_away["extensions"]["resumeAfter"]
        # Then the server stops accepting connections.
        async with httpx.AsyncClient(timeout=2) as client:
            for _ in range(100):
                try:
                    await client.get(f"{server.base_url}/healthz")
                except httpx.ConnectError:
                    break
                except (httpx.ReadError, httpx.RemoteProtocolError):
                    pass  # came in as the listening socket closed: dropped unread, never served
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the server still accepts connections after SIGTERM")
        assert not any(request.done() for request in requests), (
            "a mutation ended before the lock was released"
        )

    # The lock is released: every mutation in flight completes and is answered; then the process exits.
    responses = await asyncio.gather(*requests)
    code = await server.wait()
    assert code in (0, -signal.SIGTERM), "\n".join(server.log)
    answered = set()
    for response in responses:
        assert response.status_code == 200, response.text
        payload = response.json()["data"]["addCustomer"]
        assert payload["userErrors"] == []
        answered |= {claim["claimNumber"] for claim in payload["claims"]}
    assert len(answered) == len(DOMAINS)

    async with database.engine.connect() as connection:
        stored = set((await connection.execute(text("SELECT claim_number FROM claim"))).scalars())
        created = (
            await connection.execute(
                text(
                    "SELECT c.claim_number, count(e.id) FROM claim c LEFT JOIN claim_event e "
                    "ON e.claim_id = c.id AND e.action = 'CREATE' GROUP BY c.claim_number"
                )
            )
        ).all()
        customers = (await connection.execute(text("SELECT count(*) FROM customer"))).scalar_one()
    assert stored == answered
    assert all(count == 1 for _, count in created), created
    assert customers == len(DOMAINS)  # no customer left behind by a half-done nomination
    assert not [line for line in server.log if "Traceback" in line or " ERROR " in line], "\n".join(
        server.log
    )


async def test_more_than_one_worker_is_refused_on_sqlite(tmp_path):
    """SQLite serves one process; `--workers 2` on it is a usage error, before anything starts."""
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "app.cli", "serve", "--workers", "2"),
        env={**os.environ, "MCI_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/x.db"},
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2
    assert "SQLite serves one process" in stderr.decode()
