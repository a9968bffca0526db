"""The throttle's buckets belong to verified principals: a partner user (by id, whichever of its tokens it sends, over
HTTP or WebSocket) or a reviewer (by email); a caller that is not signed in spends from its client address's bucket
whatever token it sends, so a made-up token never gets a bucket of its own, and no number of them pushes a user's
bucket out of the store (kept in a pool of its own, bounded)."""

import asyncio
import json
import time
from types import SimpleNamespace

from starlette.requests import Request

from app.auth import PARTNER, REVIEWER, mint_token
from app.resolvers.context import build_context
from app.resolvers.limits import MAX_ADDRESS_BUCKETS, Throttle, pipeline_of, throttle_key
from tests.api.subscriptions import EVENTS, open_socket
from tests.demo import CONTOSO_ADMIN, FABRIKAM_ADMIN
from tests.security.conftest import serve

RESPOND = """mutation($input: RespondToConsentInput!) {
  respondToConsent(input: $input) { accepted userErrors { code } } }"""
ENGAGEMENTS = "{ engagements(first: 10) { edges { node { id } } } }"  # requests 21, returns 10 engagements


def token_of(server, email: str = CONTOSO_ADMIN, kind: str = PARTNER) -> str:
    """A token of its own: tokens minted in one second are otherwise identical."""
    return mint_token(server.settings, email, kind, f"throttle-{time.perf_counter_ns()}")


def throttle_status(response) -> dict:
    return response.body["extensions"]["cost"]["throttleStatus"]


def request_with(token: str | None, host: str = "203.0.113.7") -> Request:
    headers = [(b"authorization", f"Bearer {token}".encode())] if token else []
    return Request({"type": "http", "method": "POST", "headers": headers, "client": (host, 40000)})


def test_keys_are_principals_or_addresses():
    def context(**fields: object) -> SimpleNamespace:
        values = {"viewer": None, "reviewer": None, "request": request_with("made-up")} | fields
        return SimpleNamespace(**values)

    assert throttle_key(context(viewer=SimpleNamespace(user_id=7))) == "user:7"
    assert throttle_key(context(reviewer=SimpleNamespace(email=" Rita@Microsoft.example"))) == (
        "reviewer:rita@microsoft.example"
    )
    assert throttle_key(context()) == "address:203.0.113.7"  # the token it sent plays no part
    assert throttle_key(SimpleNamespace()) == "address:unknown"


async def test_ten_thousand_made_up_tokens_share_one_bucket_and_flush_no_one(api):
    """Contexts built as the server builds them (each token verified and refused: no database read), 10,000
    distinct fake tokens: one address bucket; a user's half-spent bucket stays half spent."""
    throttle = Throttle(1000, 0.001)
    user = throttle_key(SimpleNamespace(viewer=SimpleNamespace(user_id=1), request=request_with("real")))
    assert throttle.spend(user, 600)
    for n in range(10_000):
        anonymous = await build_context(api.runtime, request_with(f"fake.{n}.token"), None)
        assert not anonymous.authenticated
        throttle.spend(throttle_key(anonymous), 0)
    assert throttle.bucket_keys() == ["user:1", "address:203.0.113.7"]
    assert throttle.available(user) < 401  # not flushed back to a full bucket


def test_addresses_never_push_a_principal_out():
    throttle = Throttle(1000, 0.001)
    throttle.spend("user:1", 900)
    for n in range(MAX_ADDRESS_BUCKETS * 2):
        throttle.spend(f"address:198.51.{n // 256}.{n % 256}", 1)
    assert len(throttle) == MAX_ADDRESS_BUCKETS + 1
    assert throttle.available("user:1") < 101


async def test_every_token_of_a_user_spends_from_one_bucket_and_strangers_from_their_address(api, smtp):
    async with serve(
        api.database.url, smtp, throttle_bucket_size=1000, throttle_restore_rate=0.001
    ) as server:
        first = await server.graphql(ENGAGEMENTS, token=token_of(server))
        assert throttle_status(first)["currentlyAvailable"] == 1000 - 21
        second = await server.graphql(ENGAGEMENTS, token=token_of(server))  # another token, the same user
        assert throttle_status(second)["currentlyAvailable"] == 1000 - 42
        other = await server.graphql(ENGAGEMENTS, token=token_of(server, FABRIKAM_ADMIN))
        assert throttle_status(other)["currentlyAvailable"] == 1000 - 21

        # Over WebSocket too: the connection's user is the bucket (a subscription spends its requested cost).
        socket = await open_socket(server.base_url, token_of(server))
        try:
            assert json.loads(await socket.recv())["type"] == "connection_ack"
            await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": EVENTS}}))
            await asyncio.sleep(0.5)
            after = await server.graphql("{ __typename }", token=token_of(server))
        finally:
            await socket.close()
        assert throttle_status(after)["currentlyAvailable"] < 1000 - 42

        # Reviewers by email, whichever token.
        review = "{ claimsForReview(first: 5) { edges { node { id } } } }"
        rita = [token_of(server, "rita@microsoft.example", REVIEWER) for _ in range(2)]
        spent = [throttle_status(await server.graphql(review, token=token)) for token in rita]
        assert spent[0]["currentlyAvailable"] > spent[1]["currentlyAvailable"]

        # Callers that are not signed in: one bucket for the address, whatever token (or none) they send.
        answers = []
        for token in ("made-up-1", "made-up-2", None, token_of(server, "nobody@nowhere.example")):
            variables = {"input": {"token": "not-a-link", "decision": "ACCEPT"}}
            response = await server.graphql(RESPOND, variables, token=token)
            assert response.data["respondToConsent"]["userErrors"], response.body
            answers.append(throttle_status(response)["currentlyAvailable"])
        assert answers == sorted(answers, reverse=True) and len(set(answers)) == 4
        store = pipeline_of(server.graphql_app.schema).throttle
        assert [key for key in store.bucket_keys() if key.startswith("address:")] == ["address:127.0.0.1"]
        assert not [key for key in store.bucket_keys() if key.startswith("token:")]
