"""Production mode (`MCI_ENV=production`): no demo secrets or sandbox, no introspection, GraphiQL or field
suggestions, unexpected errors masked with an error id that the log carries, CORS from an allowlist only."""

import asyncio
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

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
