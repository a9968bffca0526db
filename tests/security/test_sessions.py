"""Live sessions bound to their token, through a real server and real clients (SECURITY.md, "Sessions"):

- a WebSocket (graphql-transport-ws and the legacy graphql-ws) or Server-Sent Events session ends at its token's
  `exp`: the socket is closed with 4403 "token expired" (legacy: a `connection_error` first), the stream ends with
  an UNAUTHENTICATED error; an `addCustomer` sent after `exp` is refused and makes no claim, even when the timer that
  closes the socket has not fired;
- an import that removes a user's role (or narrows it) ends that user's subscriptions and closes its sockets and
  streams, within the re-check interval; the other users' sessions go on and still receive events;
- the per-user caps: connections (WebSocket and SSE alike; close 4429 "too many connections", HTTP 429) and
  subscriptions over all of a user's connections (TOO_MANY_SUBSCRIPTIONS); other users are not affected;
- the legacy protocol's connection_init rules: closed after the init timeout (4408) when none comes, closed (4429)
  at a second one, as graphql-transport-ws does;
- WebSocket messages larger than the HTTP body cap close the socket (1009), by uvicorn's `ws_max_size` (as
  `mci serve` runs it) and by the app itself under a server that allows more.

Nothing here asserts a time except as a generous upper bound on "ends at all".
"""

import asyncio
import contextlib
import copy
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from sqlalchemy import text
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from app.auth import PARTNER
from app.cli import DEMO_DATA
from app.services.importer import import_reference_data, load_document
from tests.api.claim_flow import ADD, ids, new_claim
from tests.api.subscriptions import EVENTS
from tests.conftest import CLAIM_TABLES
from tests.demo import ADELE, CONTOSO_ADMIN, CONTOSO_SELLER, FABRIKAM_ADMIN, SEATTLE
from tests.security.conftest import Server, seeded_database, serve

RECHECK_SECONDS = 0.3
INIT_TIMEOUT_SECONDS = 1.0
MAX_CONNECTIONS = 3
MAX_SUBSCRIPTIONS = 4
BOUND = 10  # seconds: the generous upper bound on "it ends at all"


@pytest.fixture(scope="module")
async def scene(backend, smtp) -> AsyncIterator[tuple[Server, Any]]:
    """A server of its own over a database of its own (an import here changes roles), with a short re-check
    interval and init timeout and small per-user caps."""
    database = await seeded_database(backend, "sessions")
    try:
        async with serve(
            database.url,
            smtp,
            session_recheck_seconds=RECHECK_SECONDS,
            ws_init_timeout_seconds=INIT_TIMEOUT_SECONDS,
            max_connections_per_user=MAX_CONNECTIONS,
            max_subscriptions_per_user=MAX_SUBSCRIPTIONS,
        ) as server:
            yield server, database
    finally:
        await database.engine.dispose()


@pytest.fixture
async def server(scene) -> AsyncIterator[Server]:
    """The scene's server, with no customers or claims left by an earlier test."""
    server, database = scene
    async with database.engine.begin() as conn:
        for table in CLAIM_TABLES:
            await conn.execute(text(f"DELETE FROM {table}"))
    server.runtime.judgements.clear()
    server.runtime.deadlines.forget()
    yield server
    await _until(lambda: len(_live(server)) == 0, "every session of the test ended")


def _live(server: Server) -> Any:
    return server.app.state.live_sessions


def _server_loop(server: Server) -> asyncio.AbstractEventLoop:
    """The event loop of the server's thread."""
    return _live(server)._task.get_loop()


def short_token(server: Server, email: str, seconds: float) -> str:
    """A partner token that expires `seconds` from now (as `mint_token` makes them, with its own `exp`)."""
    settings = server.settings
    now = datetime.now(UTC).timestamp()
    claims = {
        "sub": email,
        "kind": PARTNER,
        "name": email,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": int(now),
        "exp": int(now + seconds),
    }
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")


def expiry_of(token: str) -> float:
    return float(jwt.decode(token, options={"verify_signature": False})["exp"])


async def _until(condition, what: str, seconds: float = BOUND) -> None:
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {seconds}s: {what}")


async def connected(server: Server, token: str | None, *, legacy: bool = False, init: bool = True):
    protocol = "graphql-ws" if legacy else "graphql-transport-ws"
    socket = await connect(server.base_url.replace("http://", "ws://") + "/graphql", subprotocols=[protocol])
    if init:
        payload = {"Authorization": f"Bearer {token}"} if token else {}
        await socket.send(json.dumps({"type": "connection_init", "payload": payload}))
    return socket


async def acknowledged(server: Server, token: str, *, legacy: bool = False) -> ClientConnection:
    socket = await connected(server, token, legacy=legacy)
    ack = json.loads(await asyncio.wait_for(socket.recv(), BOUND))
    assert ack["type"] == "connection_ack", ack
    return socket


async def start(
    socket: ClientConnection, op_id: str, query: str, variables: dict | None = None, *, legacy=False
):
    kind = "start" if legacy else "subscribe"
    payload = {"query": query, "variables": variables or {}}
    await socket.send(json.dumps({"id": op_id, "type": kind, "payload": payload}))


async def messages_until_closed(socket: ClientConnection) -> list[dict]:
    """Every message the server still sends (keep-alives left out), until it closes the socket."""
    seen = []
    try:
        while True:
            message = json.loads(await asyncio.wait_for(socket.recv(), BOUND))
            if message["type"] not in ("ka", "ping", "pong"):
                seen.append(message)
    except ConnectionClosed:
        return seen


def closed_with(socket: ClientConnection) -> tuple[int | None, str | None]:
    return socket.close_code, socket.close_reason


async def next_message(socket: ClientConnection, seconds: float = BOUND) -> dict:
    while True:
        message = json.loads(await asyncio.wait_for(socket.recv(), seconds))
        if message["type"] == "ping":
            await socket.send(json.dumps({"type": "pong"}))
        elif message["type"] not in ("ka", "pong"):
            return message


async def claims_count(database, domain: str) -> int:
    async with database.engine.connect() as conn:
        found = await conn.execute(text("SELECT COUNT(*) FROM claim WHERE id_value = :v"), {"v": domain})
        return int(found.scalar_one())


def add_input(locations: dict[str, str], engagements: dict[str, str], domain: str) -> dict:
    return {
        "input": {
            "friendlyName": "After expiry",
            "locationId": locations[SEATTLE],
            "customerIdType": "DOMAIN_NAME",
            "customerIdValue": domain,
            "engagementIds": [engagements["copilot-readiness-assessment"]],
            "customerContact": {"firstName": "Nancy", "lastName": "Davolio", "email": f"it@{domain}"},
            "partnerContact": {"firstName": "Megan", "lastName": "Bowen", "email": CONTOSO_ADMIN},
        }
    }


# ------------------------------------------------------------------------------------------- token expiry


@pytest.mark.parametrize("legacy", [False, True], ids=["graphql-transport-ws", "graphql-ws"])
async def test_a_socket_is_closed_at_its_tokens_expiry_and_its_subscription_ends(scene, server, legacy):
    _server, database = scene
    token = short_token(server, CONTOSO_ADMIN, 3)
    socket = await acknowledged(server, token, legacy=legacy)
    await start(socket, "1", EVENTS, legacy=legacy)
    await _until(lambda: server.runtime.hub.subscriber_count == 1, "the subscription started")
    seen = await messages_until_closed(socket)
    ended = time.time()
    assert closed_with(socket) == (4403, "token expired")
    assert expiry_of(token) - 1 <= ended < expiry_of(token) + BOUND
    if legacy:  # an error, then the close
        [error] = seen
        assert error["type"] == "connection_error", error
        assert error["payload"]["extensions"]["code"] == "UNAUTHENTICATED"
        assert "expired" in error["payload"]["message"]
    else:
        assert seen == []
    # The subscription ended with its session: no subscriber is left to receive events.
    await _until(lambda: server.runtime.hub.subscriber_count == 0, "the subscription ended")
    await new_claim(server, domain="northwind.example")  # an event that no ended session may see
    assert await claims_count(database, "northwind.example") == 1


@pytest.mark.parametrize("legacy", [False, True], ids=["graphql-transport-ws", "graphql-ws"])
async def test_an_add_customer_after_expiry_is_refused_and_makes_no_claim(scene, server, legacy):
    """Sent after `exp` but before the closing timer fired (the timer is held back): the operation is refused
    when it arrives, and the socket is closed."""
    _server, database = scene
    locations, engagements = await ids(server)
    token = short_token(server, CONTOSO_ADMIN, 2)
    socket = await acknowledged(server, token, legacy=legacy)
    [session] = _live(server)._by_user[f"partner:{CONTOSO_ADMIN}"]
    _server_loop(server).call_soon_threadsafe(session._timer.cancel)  # as if the timer were late
    await asyncio.sleep(max(0.0, expiry_of(token) - time.time()) + 0.3)
    domain = "adatum.example"
    await start(socket, "1", ADD, add_input(locations, engagements, domain), legacy=legacy)
    seen = await messages_until_closed(socket)
    assert closed_with(socket) == (4403, "token expired")
    assert not [m for m in seen if m["type"] in ("next", "data")], seen
    if legacy:
        assert [m["type"] for m in seen] == ["error", "connection_error"], seen
        assert seen[0]["id"] == "1" and seen[0]["payload"]["extensions"]["code"] == "UNAUTHENTICATED"
    assert await claims_count(database, domain) == 0


async def test_an_add_customer_sent_after_the_socket_closed_at_expiry_makes_no_claim(scene, server):
    _server, database = scene
    locations, engagements = await ids(server)
    token = short_token(server, CONTOSO_ADMIN, 2)
    socket = await acknowledged(server, token)
    await asyncio.sleep(max(0.0, expiry_of(token) - time.time()) + 0.3)
    domain = "tailwindtraders.example"
    with contextlib.suppress(ConnectionClosed):  # closed at `exp` already
        await start(socket, "1", ADD, add_input(locations, engagements, domain))
    assert await messages_until_closed(socket) == []
    assert closed_with(socket) == (4403, "token expired")
    assert await claims_count(database, domain) == 0


async def test_a_server_sent_events_stream_ends_at_its_tokens_expiry(server):
    token = short_token(server, CONTOSO_ADMIN, 3)
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    events: list[tuple[str, str]] = []
    async with server.http.stream(
        "POST", "/graphql/stream", json={"query": EVENTS}, headers=headers
    ) as response:
        assert response.status_code == 200
        lines = response.aiter_lines()
        event = None
        while True:
            line = await asyncio.wait_for(anext(lines), BOUND)
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: ") and event is not None:
                events.append((event, line.removeprefix("data: ")))
                if event == "complete":
                    break
    ended = time.time()
    assert expiry_of(token) - 1 <= ended < expiry_of(token) + BOUND
    [(kind, data), (last, _)] = events
    assert (kind, last) == ("next", "complete")
    [error] = json.loads(data)["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED" and "expired" in error["message"]
    await _until(lambda: server.runtime.hub.subscriber_count == 0, "the subscription ended")


async def test_a_connection_with_an_expired_token_is_refused(server):
    token = short_token(server, CONTOSO_ADMIN, -5)
    socket = await connected(server, token)
    assert await messages_until_closed(socket) == []
    assert closed_with(socket) == (4403, "Forbidden")


# ----------------------------------------------------------------------------------------- role changes


def _without_roles(document: dict, changes: dict[str, list[dict]]) -> dict:
    changed = copy.deepcopy(document)
    for partner in changed["partners"]:
        for user in partner["users"]:
            if user["email"] in changes:
                user["roles"] = changes[user["email"]]
    return changed


async def _sse_lines(server: Server, token: str, out: list[str]) -> None:
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    async with server.http.stream(
        "POST", "/graphql/stream", json={"query": EVENTS}, headers=headers
    ) as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            out.append(line)
            if line == "event: complete":
                return


async def test_an_import_that_removes_or_narrows_roles_ends_those_users_sessions(scene, server):
    _server, database = scene
    document = load_document(DEMO_DATA)
    seller = await acknowledged(server, server.token(CONTOSO_SELLER))
    await start(seller, "1", EVENTS)
    legacy_seller = await acknowledged(server, server.token(CONTOSO_SELLER), legacy=True)
    await start(legacy_seller, "1", EVENTS, legacy=True)
    adele = await acknowledged(server, server.token(ADELE))
    await start(adele, "1", EVENTS)
    admin = await acknowledged(server, server.token(CONTOSO_ADMIN))  # its roles stay: it goes on
    await start(admin, "1", EVENTS)
    streamed: list[str] = []
    stream = asyncio.create_task(_sse_lines(server, server.token(CONTOSO_SELLER), streamed))
    await _until(lambda: server.runtime.hub.subscriber_count == 5, "five subscriptions started")
    try:
        # The seller loses its only role; Adele keeps Seattle but loses London.
        adele_roles = [{"role": "INCENTIVES_USER", "locationId": SEATTLE}]
        await import_reference_data(
            database.sessions, _without_roles(document, {CONTOSO_SELLER: [], ADELE: adele_roles})
        )
        for socket in (seller, adele):
            assert await messages_until_closed(socket) == []
        assert closed_with(seller) == (4403, "no Incentives role")
        assert closed_with(adele) == (4403, "roles changed")
        [error] = await messages_until_closed(legacy_seller)
        assert (error["type"], error["payload"]["extensions"]["code"]) == ("connection_error", "FORBIDDEN")
        assert closed_with(legacy_seller) == (4403, "no Incentives role")
        await asyncio.wait_for(stream, BOUND)
        data = json.loads(streamed[streamed.index("event: next") + 1].removeprefix("data: "))
        assert data["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        await _until(
            lambda: server.runtime.hub.subscriber_count == 1, "only the admin's subscription is left"
        )

        # The admin's session went on: it still receives events.
        claim_id, _ = await new_claim(server, domain="northwind.example")
        event = await next_message(admin)
        assert event["payload"]["data"]["claimStatusChanged"]["claim"]["id"] == claim_id
        # A new connection gets what the user holds now: nothing, for the seller.
        again = await connected(server, server.token(CONTOSO_SELLER))
        assert await messages_until_closed(again) == []
        assert closed_with(again) == (4403, "Forbidden")
    finally:
        await import_reference_data(database.sessions, document)  # the demo roles back
        for socket in (seller, legacy_seller, adele, admin):
            await socket.close()
        stream.cancel()
    # With the roles back, the seller connects again.
    back = await acknowledged(server, server.token(CONTOSO_SELLER))
    await back.close()


# ------------------------------------------------------------------------------------------ per-user caps


async def test_connections_per_user_are_capped_over_websocket_and_sse(server):
    token = server.token(FABRIKAM_ADMIN)
    held = [await acknowledged(server, token) for _ in range(MAX_CONNECTIONS)]
    try:
        refused = await connected(server, token)
        assert await messages_until_closed(refused) == []
        assert closed_with(refused) == (4429, "too many connections")
        legacy = await connected(server, token, legacy=True)
        [error] = await messages_until_closed(legacy)
        assert error["type"] == "connection_error"
        assert error["payload"]["extensions"]["code"] == "TOO_MANY_CONNECTIONS"
        assert closed_with(legacy) == (4429, "too many connections")
        streamed = await server.http.post(
            "/graphql/stream", json={"query": EVENTS}, headers={"Authorization": f"Bearer {token}"}
        )
        assert streamed.status_code == 429
        assert streamed.json()["errors"][0]["extensions"]["code"] == "TOO_MANY_CONNECTIONS"
        # Another user is not affected.
        other = await acknowledged(server, server.token(CONTOSO_ADMIN))
        await other.close()
        # One connection closed: one more may open.
        await held.pop().close()
        await _until(
            lambda: _live(server).connections_of(f"partner:{FABRIKAM_ADMIN}") == MAX_CONNECTIONS - 1,
            "the closed connection was released",
        )
        held.append(await acknowledged(server, token))
    finally:
        for socket in held:
            await socket.close()


async def test_subscriptions_per_user_are_capped_over_all_its_connections(server):
    token = server.token(FABRIKAM_ADMIN)
    first, second = await acknowledged(server, token), await acknowledged(server, token, legacy=True)
    try:
        for n in range(1, MAX_SUBSCRIPTIONS):
            await start(first, str(n), EVENTS)
        await start(second, "a", EVENTS, legacy=True)
        await _until(
            lambda: server.runtime.hub.subscriber_count == MAX_SUBSCRIPTIONS, "the subscriptions started"
        )
        await start(first, "over", EVENTS)
        refused = await next_message(first)
        assert refused["id"] == "over" and refused["type"] in ("next", "error"), refused
        errors = refused["payload"]["errors"] if refused["type"] == "next" else refused["payload"]
        assert errors[0]["extensions"]["code"] == "TOO_MANY_SUBSCRIPTIONS"
        await start(second, "b", EVENTS, legacy=True)
        refused = await next_message(second)
        assert refused["id"] == "b", refused
        assert refused["payload"]["errors"][0]["extensions"]["code"] == "TOO_MANY_SUBSCRIPTIONS"
        # Another user is not affected.
        other = await acknowledged(server, server.token(CONTOSO_ADMIN))
        await start(other, "1", EVENTS)
        await _until(lambda: server.runtime.hub.subscriber_count == MAX_SUBSCRIPTIONS + 1, "it started")
        await other.close()
        # One completed: one more may start.
        await first.send(json.dumps({"id": "1", "type": "complete"}))
        await _until(lambda: _live(server).subscriptions_of(f"partner:{FABRIKAM_ADMIN}") == 3, "one ended")
        await start(first, "again", EVENTS)
        await _until(lambda: _live(server).subscriptions_of(f"partner:{FABRIKAM_ADMIN}") == 4, "it started")
    finally:
        await first.close()
        await second.close()


# ------------------------------------------------------------------------------- connection_init, legacy


@pytest.mark.parametrize("legacy", [False, True], ids=["graphql-transport-ws", "graphql-ws"])
async def test_a_socket_that_never_initialises_is_closed_after_the_init_timeout(server, legacy):
    socket = await connected(server, None, legacy=legacy, init=False)
    opened = time.monotonic()
    assert await messages_until_closed(socket) == []
    assert closed_with(socket) == (4408, "Connection initialisation timeout")
    assert INIT_TIMEOUT_SECONDS - 0.2 <= time.monotonic() - opened < BOUND


@pytest.mark.parametrize("legacy", [False, True], ids=["graphql-transport-ws", "graphql-ws"])
@pytest.mark.parametrize("second", ["same token", "garbage token"])
async def test_a_second_connection_init_closes_the_socket(server, legacy, second):
    token = server.token(CONTOSO_ADMIN)
    socket = await acknowledged(server, token, legacy=legacy)
    again = token if second == "same token" else "garbage"
    await socket.send(
        json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {again}"}})
    )
    assert [m["type"] for m in await messages_until_closed(socket)] == []
    assert closed_with(socket) == (4429, "Too many initialisation requests")


async def test_legacy_keep_alive_runs_once_per_connection(server):
    """One keep-alive task per acknowledged connection: a second init starts none, and closing ends it."""
    socket = await acknowledged(server, server.token(CONTOSO_ADMIN), legacy=True)
    await _until(lambda: _keep_alive_tasks(server) == 1, "the connection's keep-alive task runs")
    await socket.send(json.dumps({"type": "connection_init", "payload": {}}))
    await messages_until_closed(socket)
    assert closed_with(socket)[0] == 4429
    await _until(lambda: _keep_alive_tasks(server) == 0, "no keep-alive task is left")


def _keep_alive_tasks(server: Server) -> int:
    tasks = asyncio.all_tasks(_server_loop(server))
    return sum(1 for t in tasks if "handle_keep_alive" in repr(t.get_coro()))


# ------------------------------------------------------------------------------------- WebSocket message cap


@pytest.mark.parametrize("where", ["uvicorn ws_max_size", "the app"])
async def test_a_websocket_message_larger_than_the_body_cap_closes_the_socket(api, smtp, where):
    cap = 4096
    # `mci serve` (and the test servers) tell uvicorn the cap; under a server that does not, the app enforces it.
    extra = {} if where == "uvicorn ws_max_size" else {"uvicorn_config": {"ws_max_size": 16 * 1024 * 1024}}
    async with serve(api.database.url, smtp, max_body_bytes=cap, **extra) as server:
        token = server.token(CONTOSO_ADMIN)
        socket = await acknowledged(server, token)
        fits = "{ __typename }" + " " * (cap - 200)  # just under the cap: answered
        await start(socket, "small", fits)
        answer = await next_message(socket)
        assert answer["payload"]["data"] == {"__typename": "Query"}, answer
        await start(socket, "big", "{ __typename }" + " " * (cap + 10))
        await messages_until_closed(socket)
        reason = "exceeds limit" if where == "uvicorn ws_max_size" else "message too big"
        assert socket.close_code == 1009 and reason in (socket.close_reason or ""), closed_with(socket)
        # Text counts in bytes: a message of fewer characters than the cap but more bytes is refused too.
        socket = await acknowledged(server, token)
        await start(socket, "wide", "{ __typename } #" + "é" * (cap // 2 + 10))
        await messages_until_closed(socket)
        assert socket.close_code == 1009
        await _until(lambda: len(_live(server)) == 0, "the sessions were released")
