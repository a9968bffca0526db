"""Faults, caused for real and reported in the test report (`record_property` and printed lines):

- PostgreSQL becomes unreachable mid-run: a TCP proxy written here stands between the server and PostgreSQL and is
  cut, then comes back. Meanwhile every request gets a clean top-level UNAVAILABLE error (503 when it fails before
  the GraphQL layer), never a 500 or a driver message; afterwards the service answers again by itself.
- PostgreSQL stalls: the proxy keeps accepting connections but stops forwarding (a database reachable but not
  answering). Every request (a partner's, whose authentication reads the database; a reviewer's, whose execution
  does; a mutation; Server-Sent Events; WebSocket connection_init) ends within a generous bound (3x the execution
  timeout) with TIMEOUT or UNAVAILABLE, never hangs; the service recovers when the database answers again.
- A lock held past the statement timeout (PostgreSQL: `statement_timeout`; SQLite: the busy timeout): the mutation
  waiting for it ends with UNAVAILABLE, changes nothing, and succeeds once the lock is released.
- A server process is killed (SIGKILL) in the middle of a mutation: on PostgreSQL while its transaction holds a
  written customer and claim and waits for the event-log lock; on both backends while many nominations are in
  flight. No partial claim is left: claims and their CREATE events match one to one, every customer has a claim.
"""

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy.exc
from graphql import GraphQLError
from sqlalchemy import text
from sqlalchemy.engine import make_url
from websockets.exceptions import ConnectionClosed

from app.auth import REVIEWER, mint_token
from app.config import Settings
from app.resolvers.extensions import clean_error, is_unavailable
from app.services.claims import EVENT_LOG_LOCK
from tests.api.nominating import DEMO
from tests.api.subscriptions import open_socket
from tests.conftest import POSTGRES_URL, Database, _free_port
from tests.demo import CONTOSO_ADMIN, SEATTLE
from tests.security.conftest import seeded_database, serve

ROOT = Path(__file__).resolve().parents[2]

VIEWER = "{ viewer { user { email } } }"
PREVIEW = """query($input: CustomerEligibilityInput!) { customerEligibility(input: $input) {
  eligibleEngagements { engagement { id payType } } } }"""
ADD = """mutation($input: AddCustomerInput!) { addCustomer(input: $input) { claims { id } userErrors { code } } }"""
LOCATIONS = "{ viewer { locations(first: 10) { edges { node { id locationId } } } } }"


def report(record_property, fault: str, outcome: str) -> None:
    record_property(fault, outcome)
    print(f"\nFAULT {fault}: {outcome}")


# ------------------------------------------------------------------------------------------- classification


def test_connection_faults_are_unavailable_and_nothing_else_is():
    refused = ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")
    operational = sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection"))
    for fault in (refused, operational, sqlalchemy.exc.TimeoutError("QueuePool limit"), TimeoutError()):
        error = GraphQLError(str(fault), path=["viewer"], original_error=fault)
        assert is_unavailable(fault)
        cleaned = clean_error(error, production=False)
        assert (cleaned.message, cleaned.extensions) == (
            "The service cannot reach its database; try again shortly.",
            {"code": "UNAVAILABLE"},
        )
        assert "5432" not in cleaned.message and cleaned.path == ["viewer"]
    wrapped = RuntimeError("while reading")
    wrapped.__cause__ = refused
    assert is_unavailable(wrapped)
    bug = GraphQLError("boom", path=["viewer"], original_error=KeyError("boom"))
    assert clean_error(bug, production=False) is bug  # development shows it
    assert clean_error(bug, production=True).extensions["code"] == "INTERNAL_SERVER_ERROR"
    integrity = sqlalchemy.exc.IntegrityError("INSERT", {}, Exception("duplicate key"))
    assert not is_unavailable(integrity)


# ------------------------------------------------------------------------------------ PostgreSQL goes away


class TcpProxy:
    """Forwards 127.0.0.1:<port> to PostgreSQL; `cut()` closes the port and drops every connection; `stall()` keeps
    every connection (and accepts new ones) but forwards nothing until `resume()`, like a database that is reachable
    but does not answer."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = _free_port()
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.connections = 0
        self.flowing = asyncio.Event()
        self.flowing.set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, reuse_address=True)

    def stall(self) -> None:
        self.flowing.clear()

    def resume(self) -> None:
        self.flowing.set()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while data := await reader.read(65536):
                await self.flowing.wait()  # stalled: what arrives waits here, and nothing answers
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.close()
            return
        self.connections += 1
        self.writers |= {client_writer, upstream_writer}
        try:
            await asyncio.gather(
                self._pipe(client_reader, upstream_writer), self._pipe(upstream_reader, client_writer)
            )
        finally:
            self.writers -= {client_writer, upstream_writer}

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in list(self.writers):
            writer.transport.abort()
        self.server = None

    async def close(self) -> None:
        if self.server is not None:
            await self.cut()


def _codes(body: dict) -> list[str]:
    return [(e.get("extensions") or {}).get("code") for e in body.get("errors") or []]


@contextlib.asynccontextmanager
async def behind_proxy(
    backend, smtp, purpose: str, **settings
) -> AsyncIterator[tuple[TcpProxy, object, Database]]:
    """A server with these settings whose PostgreSQL is reached through a `TcpProxy`."""
    if backend != "postgres":
        pytest.skip("PostgreSQL only: SQLite is a file, with no connection to lose")
    database = await seeded_database(backend, purpose)
    target = make_url(POSTGRES_URL)
    proxy = TcpProxy(target.host or "127.0.0.1", target.port or 5432)
    await proxy.start()
    url = make_url(database.url).set(port=proxy.port).render_as_string(hide_password=False)
    try:
        async with serve(url, smtp, **settings) as server:
            yield proxy, server, database
    finally:
        proxy.resume()
        await proxy.close()
        await database.engine.dispose()


@pytest.fixture
async def proxied(backend, smtp) -> AsyncIterator[tuple[TcpProxy, object, Database]]:
    async with behind_proxy(backend, smtp, "faults") as proxied:
        yield proxied


async def test_postgres_unreachable_mid_run_gives_unavailable_then_recovers(proxied, record_property):
    proxy, server, _database = proxied
    partner = server.token(CONTOSO_ADMIN)
    reviewer = mint_token(server.settings, "rita.reviewer@microsoft.example", REVIEWER, "Rita")
    assert (await server.graphql(VIEWER, token=partner)).data == {
        "viewer": {"user": {"email": CONTOSO_ADMIN}}
    }
    assert proxy.connections > 0

    await proxy.cut()
    outcomes = []
    calls = [
        ("partner viewer", VIEWER, partner),  # fails while authenticating the token: before GraphQL
        (
            "partner mutation",
            'mutation { cancelClaim(input: {claimId: "x"}) { userErrors { code } } }',
            partner,
        ),
        ("reviewer claimsForReview", "{ claimsForReview { totalCount } }", reviewer),  # fails inside GraphQL
        ("reviewer node", '{ node(id: "Q2xhaW06MQ") { id } }', reviewer),
    ]
    for _ in range(2):
        for label, query, token in calls:
            response = await server.http.post(
                "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {token}"}
            )
            body = response.json()
            assert response.status_code in (200, 503), (label, response.status_code, body)
            assert _codes(body) and set(_codes(body)) == {"UNAVAILABLE"}, (label, body)
            assert body.get("data") in (None, {}) or all(v is None for v in body["data"].values()), body
            for leak in ("5432", str(proxy.port), "asyncpg", "Connect call failed", "Errno"):
                assert leak not in response.text, (label, response.text)
            outcomes.append(f"{label} -> {response.status_code} {','.join(_codes(body))}")
    # A WebSocket client is refused at connection_init (its token's user cannot be read): closed, no operation.
    socket = await open_socket(server.base_url, partner)
    try:
        with contextlib.suppress(ConnectionClosed):
            await asyncio.wait_for(socket.recv(), 10)
        await asyncio.wait_for(socket.wait_closed(), 10)
    finally:
        await socket.close()
    outcomes.append(f"WebSocket connection_init -> closed {socket.close_code}")
    report(record_property, "postgres-cut", "; ".join(outcomes))

    started = time.monotonic()
    await proxy.start()  # PostgreSQL is back, on the same address
    for _ in range(150):
        recovered = await server.graphql(VIEWER, token=partner)
        if recovered.status == 200 and not recovered.body.get("errors"):
            break
        await asyncio.sleep(0.1)
    assert recovered.data == {"viewer": {"user": {"email": CONTOSO_ADMIN}}}, recovered.body
    review = await server.graphql("{ claimsForReview { totalCount } }", token=reviewer)
    assert review.data == {"claimsForReview": {"totalCount": 0}}
    report(
        record_property,
        "postgres-back",
        f"answering again {time.monotonic() - started:.2f}s after it returned",
    )


# ------------------------------------------------------------------------------ PostgreSQL stops answering

TIMEOUT = (
    2.0  # the execution timeout of the stalled server; the driver gives up on an unanswered command sooner
)
STALL_SETTINGS = {
    "execution_timeout_seconds": TIMEOUT,
    "db_command_timeout_seconds": 1.0,
    "db_statement_timeout_seconds": 1.0,
}
BOUND = 3 * TIMEOUT  # the generous upper bound on "it ends at all"
ADVANCE = "mutation { advanceTestClock(input: {days: 1}) { userErrors { code } } }"


@pytest.fixture
async def stalling(backend, smtp) -> AsyncIterator[tuple[TcpProxy, object, Database]]:
    async with behind_proxy(backend, smtp, "stall", **STALL_SETTINGS) as proxied:
        yield proxied


async def _timed_post(server, path: str, body: dict, token: str) -> tuple[float, int, dict]:
    started = time.monotonic()
    response = await asyncio.wait_for(
        server.http.post(path, json=body, headers={"Authorization": f"Bearer {token}"}), 60
    )
    return time.monotonic() - started, response.status_code, response.json()


async def test_a_stalled_postgres_ends_every_request_in_time_with_timeout_or_unavailable(
    stalling, record_property
):
    proxy, server, _database = stalling
    partner = server.token(CONTOSO_ADMIN)
    reviewer = mint_token(server.settings, "rita.reviewer@microsoft.example", REVIEWER, "Rita")
    assert (await server.graphql(VIEWER, token=partner)).data == {
        "viewer": {"user": {"email": CONTOSO_ADMIN}}
    }
    assert (await server.graphql("{ claimsForReview { totalCount } }", token=reviewer)).error_codes == []

    proxy.stall()
    outcomes = []
    calls = [
        ("partner viewer", "/graphql", VIEWER, partner),  # authentication reads the database
        ("reviewer claimsForReview", "/graphql", "{ claimsForReview { totalCount } }", reviewer),  # execution
        ("partner mutation", "/graphql", ADVANCE, partner),
        ("partner viewer again", "/graphql", VIEWER, partner),  # the pool's connections are all stalled now
        ("SSE subscription", "/graphql/stream", "subscription { claimStatusChanged { id } }", partner),
    ]
    for label, path, query, token in calls:
        elapsed, status, body = await _timed_post(server, path, {"query": query}, token)
        assert elapsed < BOUND, (label, elapsed, body)
        assert status in (200, 503), (label, status, body)
        assert _codes(body) and set(_codes(body)) <= {"TIMEOUT", "UNAVAILABLE"}, (label, body)
        for leak in ("5432", str(proxy.port), "asyncpg", "Errno"):
            assert leak not in json.dumps(body), (label, body)
        outcomes.append(f"{label} -> {status} {','.join(_codes(body))} in {elapsed:.1f}s")
    # WebSocket: connection_init cannot be checked; the socket is closed (1013: try again later) in time.
    started = time.monotonic()
    socket = await open_socket(server.base_url, partner)
    try:
        with contextlib.suppress(ConnectionClosed):
            await asyncio.wait_for(socket.recv(), BOUND)
        await asyncio.wait_for(socket.wait_closed(), BOUND)
    finally:
        await socket.close()
    elapsed = time.monotonic() - started
    assert elapsed < BOUND and socket.close_code == 1013, (elapsed, socket.close_code, socket.close_reason)
    outcomes.append(f"WebSocket connection_init -> closed {socket.close_code} in {elapsed:.1f}s")
    report(record_property, "postgres-stall", "; ".join(outcomes))

    started = time.monotonic()
    proxy.resume()
    for _ in range(200):
        recovered = await server.graphql(VIEWER, token=partner)
        if recovered.status == 200 and not recovered.body.get("errors"):
            break
        await asyncio.sleep(0.1)
    assert recovered.data == {"viewer": {"user": {"email": CONTOSO_ADMIN}}}, recovered.body
    report(record_property, "postgres-stall-over", f"answering again {time.monotonic() - started:.2f}s after")


@pytest.fixture
async def lockable(backend, smtp) -> AsyncIterator[tuple[object, Database]]:
    database = await seeded_database(backend, "locks")
    try:
        async with serve(
            database.url, smtp, **STALL_SETTINGS | {"db_statement_timeout_seconds": 0.5}
        ) as server:
            yield server, database
    finally:
        await database.engine.dispose()


@contextlib.asynccontextmanager
async def lock_held(database: Database) -> AsyncIterator[None]:
    """PostgreSQL: the sandbox clock's table locked (every operation reads it first); SQLite: the write lock."""
    if database.backend == "postgres":
        async with database.engine.connect() as conn:
            await conn.execute(text("LOCK TABLE sandbox_clock IN ACCESS EXCLUSIVE MODE"))
            yield
            await conn.rollback()
    else:
        path = make_url(database.url).database
        held = sqlite3.connect(path, isolation_level=None)
        try:
            held.execute("BEGIN IMMEDIATE")
            yield
            held.execute("ROLLBACK")
        finally:
            held.close()


async def test_a_lock_held_past_the_statement_timeout_ends_the_request_with_unavailable(
    lockable, record_property
):
    server, database = lockable
    admin = server.token(CONTOSO_ADMIN)
    async with lock_held(database):
        elapsed, status, body = await _timed_post(server, "/graphql", {"query": ADVANCE}, admin)
    assert elapsed < BOUND, (elapsed, body)
    assert status in (200, 503) and set(_codes(body)) <= {"TIMEOUT", "UNAVAILABLE"} and _codes(body), body
    async with database.engine.connect() as conn:
        offset = (await conn.execute(text("SELECT offset_seconds FROM sandbox_clock"))).scalar_one()
    assert offset == 0  # nothing changed
    report(
        record_property,
        f"lock-past-statement-timeout-{database.backend}",
        f"advanceTestClock -> {status} {','.join(_codes(body))} in {elapsed:.1f}s",
    )
    again = await server.graphql(ADVANCE, token=admin)
    assert again.data == {"advanceTestClock": {"userErrors": []}}, again.body


# -------------------------------------------------------------------------------------- killed mid-mutation


@contextlib.asynccontextmanager
async def server_process(database_url: str) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    """`uvicorn app.main:create_app --factory` in a process of its own, configured by MCI_* variables."""
    port = _free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MCI_")} | {
        "MCI_DATABASE_URL": database_url,
        "MCI_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "MCI_SWEEP_INTERVAL_SECONDS": "3600",
    }
    command = [
        "-m",
        "uvicorn",
        "--factory",
        "app.main:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *command,
        "--log-level",
        "warning",
        cwd=ROOT,
        env=environment,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            for _ in range(300):
                assert process.returncode is None, "the server process died while starting"
                with contextlib.suppress(httpx.TransportError):
                    answer = await http.post("/graphql", json={"query": "{ __typename }"})
                    if answer.status_code in (200, 401):
                        break
                await asyncio.sleep(0.05)
        yield process, base_url
    finally:
        if process.returncode is None:
            process.kill()
        await asyncio.wait_for(process.wait(), 10)


async def _post(base_url: str, token: str, query: str, variables: dict | None = None) -> dict:
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
        response = await http.post(
            "/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"Authorization": f"Bearer {token}"},
        )
        return response.json()


async def _nominations(base_url: str, token: str, count: int) -> list[dict]:
    """`count` addCustomer inputs at Seattle, each a different directory customer, each eligible."""
    data = await _post(base_url, token, LOCATIONS)
    seattle = next(
        e["node"]["id"]
        for e in data["data"]["viewer"]["locations"]["edges"]
        if e["node"]["locationId"] == SEATTLE
    )
    inputs = []
    for tenant in DEMO["directory"]["tenants"]:
        for domain in tenant.get("domains") or []:
            variables = {
                "input": {"locationId": seattle, "customerIdType": "DOMAIN_NAME", "customerIdValue": domain}
            }
            preview = await _post(base_url, token, PREVIEW, variables)
            fixed = [
                v["engagement"]["id"]
                for v in preview["data"]["customerEligibility"]["eligibleEngagements"]
                if v["engagement"]["payType"] == "FIXED"
            ]
            if fixed:
                inputs.append(
                    {
                        "friendlyName": f"Kill {domain}",
                        "locationId": seattle,
                        "customerIdType": "DOMAIN_NAME",
                        "customerIdValue": domain,
                        "engagementIds": fixed[:2],
                        "customerContact": {
                            "firstName": "Ada",
                            "lastName": "Lovelace",
                            "email": f"it@{domain}",
                        },
                        "partnerContact": {"firstName": "Megan", "lastName": "Bowen", "email": CONTOSO_ADMIN},
                    }
                )
            if len(inputs) == count:
                return inputs
            break  # one domain per tenant: another domain of it is the same organisation
    return inputs


async def _consistency(database: Database) -> dict[str, int]:
    """The counts the invariants speak about; asserts the invariants."""
    async with database.engine.connect() as conn:

        async def scalar(sql: str) -> int:
            return (await conn.execute(text(sql))).scalar_one()

        counts = {
            "claims": await scalar("SELECT COUNT(*) FROM claim"),
            "create_events": await scalar("SELECT COUNT(*) FROM claim_event WHERE action = 'CREATE'"),
            "customers": await scalar("SELECT COUNT(*) FROM customer"),
            "claims_without_one_create": await scalar(
                "SELECT COUNT(*) FROM claim c WHERE (SELECT COUNT(*) FROM claim_event e "
                "WHERE e.claim_id = c.id AND e.action = 'CREATE') <> 1"
            ),
            "events_without_claim": await scalar(
                "SELECT COUNT(*) FROM claim_event e WHERE NOT EXISTS (SELECT 1 FROM claim c WHERE c.id = e.claim_id)"
            ),
            "customers_without_claim": await scalar(
                "SELECT COUNT(*) FROM customer u WHERE NOT EXISTS (SELECT 1 FROM claim c WHERE c.customer_id = u.id)"
            ),
        }
        if database.backend == "sqlite":
            assert (await conn.execute(text("PRAGMA integrity_check"))).scalar_one() == "ok"
    assert counts["claims"] == counts["create_events"], counts
    assert counts["claims_without_one_create"] == counts["events_without_claim"] == 0, counts
    assert counts["customers_without_claim"] == 0, counts
    return counts


@pytest.fixture
async def killable(backend) -> AsyncIterator[Database]:
    database = await seeded_database(backend, "kill")
    yield database
    await database.engine.dispose()


async def test_a_server_killed_amid_nominations_leaves_no_partial_claim(killable, record_property):
    database = killable
    token = mint_token(Settings(database_url=database.url), CONTOSO_ADMIN)
    async with server_process(database.url) as (process, base_url):
        inputs = await _nominations(base_url, token, 12)
        assert len(inputs) >= 6
        tasks = [asyncio.create_task(_post(base_url, token, ADD, {"input": i})) for i in inputs]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        process.send_signal(signal.SIGKILL)
        await asyncio.wait_for(process.wait(), 10)
        results = await asyncio.gather(*tasks, return_exceptions=True)
    answered = [r for r in results if isinstance(r, dict)]
    made = sum(len(r["data"]["addCustomer"]["claims"]) for r in answered if r.get("data"))
    counts = await _consistency(database)
    assert counts["claims"] >= made  # every claim reported made was committed
    report(
        record_property,
        f"sigkill-amid-nominations-{database.backend}",
        f"{len(inputs)} addCustomer in flight, {len(answered)} answered before the kill ({made} claims); "
        f"after: {counts}",
    )
    # A new process on the same database serves, and nominates what the killed one did not finish.
    async with server_process(database.url) as (_process, base_url):
        again = await _post(base_url, token, ADD, {"input": inputs[-1]})
        assert "errors" not in again, again
    await _consistency(database)


async def test_a_server_killed_inside_a_nomination_transaction_leaves_nothing(killable, record_property):
    database = killable
    if database.backend != "postgres":
        pytest.skip("PostgreSQL only: holding the event-log lock parks a nomination mid-transaction")
    token = mint_token(Settings(database_url=database.url), CONTOSO_ADMIN)
    async with server_process(database.url) as (process, base_url):
        [nomination] = await _nominations(base_url, token, 1)
        async with database.engine.connect() as lock:
            await lock.execute(text("SELECT pg_advisory_lock(:key)"), {"key": EVENT_LOG_LOCK})
            await lock.commit()
            task = asyncio.create_task(_post(base_url, token, ADD, {"input": nomination}))
            waiting = 0
            for _ in range(200):  # until the nomination waits for the lock, its customer and claim written
                async with database.engine.connect() as probe:
                    waiting = (
                        await probe.execute(
                            text(
                                "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                            )
                        )
                    ).scalar_one()
                if waiting:
                    break
                await asyncio.sleep(0.05)
            assert waiting == 1
            process.send_signal(signal.SIGKILL)
            await asyncio.wait_for(process.wait(), 10)
            await lock.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": EVENT_LOG_LOCK})
            await lock.commit()
        with pytest.raises(httpx.TransportError):
            await task
        for _ in range(100):  # until PostgreSQL has ended the killed server's sessions
            async with database.engine.connect() as probe:
                others = (
                    await probe.execute(
                        text(
                            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() "
                            "AND pid <> pg_backend_pid() AND state <> 'idle'"
                        )
                    )
                ).scalar_one()
            if not others:
                break
            await asyncio.sleep(0.1)
    counts = await _consistency(database)
    async with database.engine.connect() as conn:
        domain = nomination["customerIdValue"]
        left = (
            await conn.execute(text("SELECT COUNT(*) FROM claim WHERE id_value = :v"), {"v": domain})
        ).scalar_one()
    assert left == 0
    report(
        record_property,
        "sigkill-inside-transaction-postgres",
        f"killed while its addCustomer held an uncommitted customer and claim (waiting on the event-log lock); "
        f"after: no claim for {domain}, {counts}",
    )
