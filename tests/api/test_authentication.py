"""No token, a bad one, or one for nobody: a top-level UNAUTHENTICATED error and HTTP 401, nothing resolved; a
known user without an Incentives role: FORBIDDEN and HTTP 403."""

import asyncio
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from sqlalchemy import text
from websockets.exceptions import ConnectionClosed

from tests.api.subscriptions import open_socket
from tests.demo import CONTOSO_ADMIN

VIEWER = "{ viewer { user { email } } }"


async def test_no_token_is_refused_with_401(api):
    response = await api.graphql(VIEWER)
    assert response.status == 401
    assert response.error_codes == ["UNAUTHENTICATED"]
    assert response.body["data"] is None


async def test_forged_token_is_refused(api):
    forged = jwt.encode(
        {"sub": CONTOSO_ADMIN, "exp": 4102444800, "aud": "mci-api", "iss": "mci-demo"}, "not-ours" * 8
    )
    response = await api.graphql(VIEWER, token=forged)
    assert (response.status, response.error_codes) == (401, ["UNAUTHENTICATED"])


async def test_expired_token_is_refused(api):
    settings = api.settings
    past = datetime.now(UTC) - timedelta(hours=1)
    expired = jwt.encode(
        {
            "sub": CONTOSO_ADMIN,
            "exp": int(past.timestamp()),
            "aud": settings.jwt_audience,
            "iss": settings.jwt_issuer,
        },
        settings.jwt_secret,
    )
    response = await api.graphql(VIEWER, token=expired)
    assert response.error_codes == ["UNAUTHENTICATED"]
    assert "expired" in response.body["errors"][0]["message"]


async def test_token_of_an_unknown_user_is_refused(api):
    response = await api.graphql(VIEWER, as_user="nobody@nowhere.example")
    assert (response.status, response.error_codes) == (401, ["UNAUTHENTICATED"])


async def test_garbage_authorization_header_is_refused(api):
    response = await api.http.post(
        "/graphql", json={"query": VIEWER}, headers={"Authorization": "Bearer abc.def"}
    )
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_introspection_is_open_in_development(api):
    response = await api.graphql("{ __schema { queryType { name } } }")
    assert response.data == {"__schema": {"queryType": {"name": "Query"}}}


async def test_a_valid_token_is_accepted(api):
    response = await api.graphql(VIEWER, as_user=CONTOSO_ADMIN)
    assert response.status == 200
    assert response.data["viewer"]["user"]["email"] == CONTOSO_ADMIN


async def test_malformed_and_invalid_documents_get_coded_top_level_errors(api):
    invalid = await api.graphql("{ viewer { nope } }", as_user=CONTOSO_ADMIN)
    assert invalid.error_codes == ["GRAPHQL_VALIDATION_FAILED"]
    assert "nope" in invalid.body["errors"][0]["message"]
    malformed = await api.graphql("{ viewer { ", as_user=CONTOSO_ADMIN)
    assert malformed.error_codes == ["GRAPHQL_PARSE_FAILED"]


@pytest.fixture
async def roleless(api):
    """A user of Contoso Partners who holds no Incentives role."""
    email = "no.role@contoso-partners.example"
    async with api.writing() as conn:
        await conn.execute(
            text(
                "INSERT INTO partner_user (partner_id, email, name) "
                "SELECT partner_id, :email, 'No Role' FROM partner_user WHERE email = :admin"
            ),
            {"email": email, "admin": CONTOSO_ADMIN},
        )
    yield email
    async with api.writing() as conn:
        await conn.execute(text("DELETE FROM partner_user WHERE email = :email"), {"email": email})


async def test_a_user_without_an_incentives_role_is_forbidden_not_unauthenticated(api, roleless):
    response = await api.graphql(VIEWER, as_user=roleless)
    assert (response.status, response.error_codes) == (403, ["FORBIDDEN"])
    assert "no Incentives role" in response.body["errors"][0]["message"]
    assert response.body["data"] is None
    mutation = await api.graphql(
        "mutation { advanceTestClock(input: {days: 1}) { userErrors { code } } }", as_user=roleless
    )
    assert (mutation.status, mutation.error_codes) == (403, ["FORBIDDEN"])
    # Server-Sent Events say the same; graphql-transport-ws closes a refused connection_init with 4403 Forbidden.
    streamed = await api.http.post(
        "/graphql/stream",
        json={"query": "subscription { claimStatusChanged { id } }"},
        headers={"Authorization": f"Bearer {api.token(roleless)}"},
    )
    assert (streamed.status_code, streamed.json()["errors"][0]["extensions"]["code"]) == (403, "FORBIDDEN")
    socket = await open_socket(api.base_url, api.token(roleless))
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(socket.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
