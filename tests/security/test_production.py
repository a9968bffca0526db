"""Production mode (`MCI_ENV=production`): no demo, near-demo or short secrets, no sandbox, no introspection,
GraphiQL or "Did you mean" suggestions of any kind, unexpected errors masked with an error id that the log carries,
CORS from an allowlist only; and, in every mode, bearer tokens living longer than MCI_MAX_TOKEN_LIFETIME_HOURS are
refused."""

import asyncio
import json
import logging
import os
import secrets
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from pydantic import ValidationError
from websockets.exceptions import ConnectionClosed

from app.config import DEMO_JWT_SECRET, DEMO_LINK_SECRET, Settings
from app.services import catalogue, expiry
from tests.api.subscriptions import EVENTS, open_socket
from tests.demo import CONTOSO_ADMIN
from tests.security.conftest import PRODUCTION_SECRETS, serve

ROOT = Path(__file__).resolve().parents[2]
SECRET = "hunter2-the-database-password"


@pytest.mark.parametrize(
    ("unsafe", "named"),
    [
        ({"sandbox": True}, "MCI_SANDBOX"),
        ({"jwt_secret": DEMO_JWT_SECRET}, "MCI_JWT_SECRET"),
        ({"link_secret": DEMO_LINK_SECRET}, "MCI_LINK_SECRET"),
    ],
)
def test_production_settings_refuse_demo_secrets_and_sandbox(unsafe, named):
    with pytest.raises(ValidationError, match=named):
        Settings(env="production", **({"sandbox": False} | PRODUCTION_SECRETS | unsafe))
    Settings(env="production", sandbox=False, **PRODUCTION_SECRETS)  # own secrets, no sandbox: fine


WEAK_SECRETS = [
    "x",  # one character: recovered from one token offline
    "a-31-byte-secret-0123456789abcd",  # 31 bytes
    "é" * 15 + "x",  # 31 bytes in UTF-8, 16 characters
    DEMO_JWT_SECRET + "!",
    DEMO_JWT_SECRET.upper(),
    " " + DEMO_JWT_SECRET + " ",
    DEMO_LINK_SECRET,
    "mci-demo-secret-change-me-in-production-9876543210",
    "ours-but-still-CHANGE-ME-0123456789-abcdefghij",
    "mci-demo-our-own-production-secret-0123456789",
    "abababababababababababababababababab",  # 36 bytes, 2 distinct characters
]


@pytest.mark.parametrize("weak", WEAK_SECRETS)
@pytest.mark.parametrize(
    ("field", "named"), [("jwt_secret", "MCI_JWT_SECRET"), ("link_secret", "MCI_LINK_SECRET")]
)
def test_production_refuses_short_and_near_demo_secrets(weak, field, named):
    with pytest.raises(ValidationError, match=named):
        Settings(env="production", **({"sandbox": False} | PRODUCTION_SECRETS | {field: weak}))
    Settings(env="development", **{field: weak})  # development takes any secret


def test_production_takes_secrets_of_32_bytes_and_more():
    for own in (secrets.token_urlsafe(24), secrets.token_hex(32), "ÿ" * 16 + "0123456789abcdef"):
        assert len(own.encode()) >= 32
        Settings(env="production", sandbox=False, jwt_secret=own, link_secret=secrets.token_urlsafe(32))
    # With RS256 the HS256 secret is not used, so it is not judged; the link secret still is.
    Settings(env="production", sandbox=False, jwt_algorithm="RS256", jwt_secret="x", link_secret=own)


def test_minted_tokens_must_fit_the_lifetime_cap():
    with pytest.raises(ValidationError, match="MCI_MAX_TOKEN_LIFETIME_HOURS"):
        Settings(token_ttl_hours=25)
    Settings(token_ttl_hours=25, max_token_lifetime_hours=48)


def test_the_server_refuses_to_start_in_production_with_the_demo_secrets(tmp_path):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MCI_")} | {
        "MCI_ENV": "production",
        "MCI_SANDBOX": "false",
        "MCI_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'never.db'}",
    }
    started = subprocess.run(
        [sys.executable, "-m", "app.cli", "serve", "--port", "1"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode != 0
    assert "MCI_JWT_SECRET" in started.stderr
    assert not (tmp_path / "never.db").exists()


@pytest.fixture(scope="module")
async def production(api, smtp):
    async with serve(
        api.database.url, smtp, env="production", cors_origins=["https://app.example"]
    ) as server:
        yield server


async def test_no_introspection_graphiql_or_field_suggestions(production):
    introspection = await production.graphql("{ __schema { queryType { name } } }", as_user=CONTOSO_ADMIN)
    assert (
        introspection.body["data"] is None and "introspection" in introspection.body["errors"][0]["message"]
    )
    typename = await production.graphql("{ __typename }", as_user=CONTOSO_ADMIN)
    assert typename.data == {"__typename": "Query"}

    page = await production.http.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 404 and "graphiql" not in page.text.lower()

    typo = await production.graphql("{ viewr { user { id } } }", as_user=CONTOSO_ADMIN)
    [error] = typo.body["errors"]
    assert error["message"] == "Cannot query field 'viewr' on type 'Query'."


SUGGESTED = [
    # (what, document, variables): each gets "Did you mean" from graphql-core unless suggestions are hidden
    ("a field", "{ viewr { user { id } } }", None),
    ("an argument", "{ engagements(frist: 1) { totalCount } }", None),
    ("an enum value", '{ engagement(id: "x") { customers(tab: ELIGIBL) { totalCount } } }', None),
    ("a type", "query($n: Itn) { engagements(first: $n) { totalCount } }", None),
    ("a fragment's type", "{ ...F } fragment F on Quer { __typename }", None),
    ("an input field", '{ engagements(filter: {serch: "x"}) { totalCount } }', None),
    (
        "an enum value in a variable",
        'query($t: CustomersTab!) { engagement(id: "x") { customers(tab: $t) { totalCount } } }',
        {"t": "ELIGIBL"},
    ),
    (
        "an input field in a variable",
        "query($f: EngagementFilter) { engagements(filter: $f) { totalCount } }",
        {"f": {"serch": "x"}},
    ),
]


@pytest.mark.parametrize(("what", "document", "variables"), SUGGESTED, ids=[case[0] for case in SUGGESTED])
async def test_no_suggestion_of_any_kind_in_production(production, api, what, document, variables):
    development = await api.graphql(document, variables, as_user=CONTOSO_ADMIN)
    assert "Did you mean" in json.dumps(development.body), (what, development.body)  # the control
    refused = await production.graphql(document, variables, as_user=CONTOSO_ADMIN)
    assert refused.body["data"] is None and refused.error_codes
    assert all(refused.error_codes), refused.body  # each error carries a code
    assert "Did you mean" not in json.dumps(refused.body), (what, refused.body)
    assert "suggest" not in json.dumps(refused.body).lower()
    # The same errors, less the suggestion.
    assert [e["message"][:15] for e in development.body["errors"]] == [
        e["message"][:15] for e in refused.body["errors"]
    ]


def token_living(server, lifetime: timedelta, *, issued: bool = True) -> str:
    now = datetime.now(UTC)
    claims = {
        "sub": CONTOSO_ADMIN,
        "kind": "partner",
        "iss": server.settings.jwt_issuer,
        "aud": server.settings.jwt_audience,
        "exp": int((now + lifetime).timestamp()),
    }
    if issued:
        claims["iat"] = int(now.timestamp())
    return jwt.encode(claims, server.settings.jwt_secret, algorithm="HS256")


async def test_tokens_living_longer_than_the_cap_are_refused(production, api, smtp):
    viewer = "{ viewer { user { email } } }"
    for server in (production, api):
        assert server.settings.max_token_lifetime_hours == 24
        for lifetime, issued in [
            (timedelta(hours=25), True),
            (timedelta(hours=25), False),  # no iat: from now
            (timedelta(days=3650), True),
        ]:
            refused = await server.graphql(viewer, token=token_living(server, lifetime, issued=issued))
            assert (refused.status, refused.error_codes) == (401, ["UNAUTHENTICATED"])
            message = refused.body["errors"][0]["message"]
            assert "MCI_MAX_TOKEN_LIFETIME_HOURS" in message and "at most 24 hours" in message
        for issued in (True, False):
            fine = await server.graphql(
                viewer, token=token_living(server, timedelta(hours=23), issued=issued)
            )
            assert fine.data["viewer"]["user"]["email"] == CONTOSO_ADMIN
        assert (await server.graphql(viewer, as_user=CONTOSO_ADMIN)).status == 200  # `mci token`: 12 hours
    # An issuer that set iat long ago: the lifetime counts from iat.
    old = datetime.now(UTC) - timedelta(hours=30)
    claims = {"sub": CONTOSO_ADMIN, "iss": "mci-demo", "aud": "mci-api", "iat": int(old.timestamp())}
    claims["exp"] = int((old + timedelta(hours=31)).timestamp())
    stale = await api.graphql(viewer, token=jwt.encode(claims, api.settings.jwt_secret, algorithm="HS256"))
    assert stale.error_codes == ["UNAUTHENTICATED"]
    # Over WebSocket the connection is refused.
    socket = await open_socket(production.base_url, token_living(production, timedelta(days=30)))
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(socket.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
    # The cap is a setting.
    async with serve(api.database.url, smtp, max_token_lifetime_hours=48) as longer:
        accepted = await longer.graphql(viewer, token=token_living(longer, timedelta(hours=25)))
        assert accepted.data["viewer"]["user"]["email"] == CONTOSO_ADMIN


async def test_unexpected_errors_are_masked_with_an_id_the_log_carries(production, monkeypatch, caplog):
    async def broken(*_args, **_kwargs):
        raise RuntimeError(f"could not log in with {SECRET}")

    monkeypatch.setattr(catalogue, "list_engagements", broken)
    with caplog.at_level(logging.ERROR, logger="mci.errors"):
        response = await production.graphql("{ engagements { totalCount } }", as_user=CONTOSO_ADMIN)
    assert response.status == 200 and SECRET not in json.dumps(response.body)
    [error] = response.body["errors"]
    assert error["message"] == "Internal error" and error["path"] == ["engagements"]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    error_id = error["extensions"]["errorId"]
    [logged] = [r for r in caplog.records if error_id in r.getMessage()]
    assert logged.exc_info is not None and SECRET in str(logged.exc_info[1])


async def test_errors_raised_around_execution_are_masked_too(production, monkeypatch, caplog):
    async def broken(*_args, **_kwargs):
        raise RuntimeError(f"sweep failed: {SECRET}")

    monkeypatch.setattr(expiry, "expire_due", broken)  # the deadline sweep that runs before each operation
    with caplog.at_level(logging.ERROR, logger="mci.errors"):
        response = await production.graphql("{ viewer { user { id } } }", as_user=CONTOSO_ADMIN)
    assert SECRET not in json.dumps(response.body)
    assert response.error_codes == ["INTERNAL_SERVER_ERROR"]
    assert any(response.body["errors"][0]["extensions"]["errorId"] in r.getMessage() for r in caplog.records)


async def test_errors_of_a_subscription_are_masked(production, monkeypatch):
    def broken(*_args, **_kwargs):
        raise RuntimeError(f"hub failed: {SECRET}")

    monkeypatch.setattr(production.runtime.hub, "subscribe", broken)
    socket = await open_socket(production.base_url, production.token(CONTOSO_ADMIN))
    try:
        assert json.loads(await socket.recv())["type"] == "connection_ack"
        payload = {"query": EVENTS}
        await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
        message = json.loads(await asyncio.wait_for(socket.recv(), 10))
    finally:
        await socket.close()
    assert SECRET not in json.dumps(message)
    assert [e["extensions"]["code"] for e in message["payload"]["errors"]] == ["INTERNAL_SERVER_ERROR"]


async def test_expected_errors_are_not_masked(production):
    anonymous = await production.graphql("{ viewer { user { id } } }")
    assert anonymous.status == 401 and anonymous.error_codes == ["UNAUTHENTICATED"]
    too_many = await production.graphql(
        "query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": ["x"] * 101}, as_user=CONTOSO_ADMIN
    )
    assert too_many.error_codes == ["BAD_USER_INPUT"]
    bad_variable = await production.graphql(
        "query($n: Int) { engagements(first: $n) { totalCount } }", {"n": "many"}, as_user=CONTOSO_ADMIN
    )
    assert "Int cannot represent" in bad_variable.body["errors"][0]["message"]
    clock = await production.graphql(
        "mutation { advanceTestClock(input: {days: 1}) { now userErrors { code } } }", as_user=CONTOSO_ADMIN
    )
    assert clock.data["advanceTestClock"] == {"now": None, "userErrors": [{"code": "SANDBOX_ONLY"}]}


async def test_cors_answers_only_the_allowed_origins(production, api):
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
    allowed = await production.http.options(
        "/graphql", headers={"Origin": "https://app.example", **preflight}
    )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    other = await production.http.options("/graphql", headers={"Origin": "https://evil.example", **preflight})
    assert other.status_code == 400 and "access-control-allow-origin" not in other.headers

    query = {"query": "{ __typename }"}
    token = {"Authorization": f"Bearer {production.token(CONTOSO_ADMIN)}"}
    simple = await production.http.post(
        "/graphql", json=query, headers={"Origin": "https://app.example", **token}
    )
    assert simple.headers["access-control-allow-origin"] == "https://app.example"
    foreign = await production.http.post(
        "/graphql", json=query, headers={"Origin": "https://evil.example", **token}
    )
    assert "access-control-allow-origin" not in foreign.headers
    # Without MCI_CORS_ORIGINS, no origin is allowed.
    shared = await api.http.post("/graphql", json=query, headers={"Origin": "https://app.example", **token})
    assert "access-control-allow-origin" not in shared.headers
