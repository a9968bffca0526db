"""claimStatusChanged with real WebSocket clients against the real server: live events, resume without loss,
scoping, authentication at connection_init, both protocols."""

import asyncio
import json

import pytest
from websockets.exceptions import ConnectionClosed

from tests.api.claim_flow import act, consent_token, ids, new_claim
from tests.api.subscriptions import open_socket, subscribe
from tests.demo import CONTOSO_ADMIN, CONTOSO_SELLER, FABRIKAM_ADMIN

RESPOND = """mutation($token: String!) { respondToConsent(input: {token: $token, decision: ACCEPT}) { accepted } }"""


async def test_a_change_through_http_reaches_the_subscriber(clean_api, smtp):
    api = clean_api
    subscription = await subscribe(api.base_url, api.token(CONTOSO_ADMIN))
    try:
        claim_id, recipient = await new_claim(api)
        created = await subscription.event()
        assert (created["action"], created["fromStatus"], created["toStatus"]) == (
            "CREATE",
            None,
            "CUSTOMER_CLAIMED",
        )
        assert created["claim"]["id"] == claim_id
        assert created["actor"] == {"kind": "PARTNER_USER", "name": "Megan Bowen"}

        token = await consent_token(api, smtp, claim_id, recipient)
        sent = await subscription.event()
        assert sent["toStatus"] == "AWAITING_CUSTOMER_CONSENT_RESPONSE"
        # The claim is read as it is now, not from a cache of an earlier event.
        assert sent["claim"]["status"] == "AWAITING_CUSTOMER_CONSENT_RESPONSE"
        await api.graphql(RESPOND, {"token": token})
        accepted = await subscription.event()
        assert (accepted["action"], accepted["actor"]["kind"]) == ("ACCEPT_CONSENT", "CUSTOMER")
        assert accepted["claim"]["status"] == "CUSTOMER_CONSENT_RECEIVED"
    finally:
        await subscription.socket.close()


async def test_a_client_that_drops_resumes_with_its_cursor_and_misses_nothing(clean_api, smtp):
    api = clean_api
    subscription = await subscribe(api.base_url, api.token(CONTOSO_ADMIN))
    first, _ = await new_claim(api, domain="northwind.example")
    seen = await subscription.event()
    await subscription.socket.close()

    # While the client is away: three more events.
    second, _ = await new_claim(api, domain="adatum.example")
    await act(api, "cancelClaim", first)
    await act(api, "cancelClaim", second)

    resumed = await subscribe(api.base_url, api.token(CONTOSO_ADMIN), {"after": seen["cursor"]})
    try:
        missed = [await resumed.event() for _ in range(3)]
        assert [(e["claim"]["id"], e["action"]) for e in missed] == [
            (second, "CREATE"),
            (first, "CANCEL"),
            (second, "CANCEL"),
        ]
        # Then it is live, with nothing repeated at the seam.
        third, _ = await new_claim(api, domain="tailwindtraders.example")
        live = await resumed.event()
        assert (live["claim"]["id"], live["action"]) == (third, "CREATE")
        cursors = [seen["cursor"], *(e["cursor"] for e in missed), live["cursor"]]
        assert len(set(cursors)) == 5
    finally:
        await resumed.socket.close()


async def test_filters_and_scope(clean_api):
    api = clean_api
    _, engagements = await ids(api)
    fabrikam = await subscribe(api.base_url, api.token(FABRIKAM_ADMIN))
    seller = await subscribe(api.base_url, api.token(CONTOSO_SELLER))  # location 4100102 only
    by_engagement = await subscribe(
        api.base_url, api.token(CONTOSO_ADMIN), {"engagementId": engagements["security-posture-assessment"]}
    )
    try:
        await new_claim(api, domain="northwind.example")  # copilot-readiness-assessment at 4100101
        wanted, _ = await new_claim(api, domain="adatum.example", engagement="security-posture-assessment")
        event = await by_engagement.event()
        assert (event["claim"]["id"], event["claim"]["engagement"]["key"]) == (
            wanted,
            "security-posture-assessment",
        )
        assert await fabrikam.nothing_within(0.5)
        assert await seller.nothing_within(0.2)
        assert await by_engagement.nothing_within(0.2)
    finally:
        for subscription in (fabrikam, seller, by_engagement):
            await subscription.socket.close()


async def test_the_legacy_graphql_ws_protocol_works_too(clean_api):
    api = clean_api
    subscription = await subscribe(api.base_url, api.token(CONTOSO_ADMIN), legacy=True)
    try:
        claim_id, _ = await new_claim(api)
        assert (await subscription.event())["claim"]["id"] == claim_id
    finally:
        await subscription.socket.close()


@pytest.mark.parametrize("token", [None, "not-a-token"])
async def test_no_operation_runs_before_the_token_is_checked(api, token):
    socket = await open_socket(api.base_url, token)
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(socket.recv(), 5)
    assert closed.value.rcvd.code == 4403


async def test_subscribing_before_connection_init_is_refused(api):
    from websockets.asyncio.client import connect

    socket = await connect(
        api.base_url.replace("http://", "ws://") + "/graphql", subprotocols=["graphql-transport-ws"]
    )
    await socket.send(
        json.dumps({"id": "1", "type": "subscribe", "payload": {"query": "subscription { x }"}})
    )
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(socket.recv(), 5)
    assert closed.value.rcvd.code == 4401


async def test_a_foreign_origin_is_refused(api):
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    with pytest.raises(InvalidStatus) as refused:
        await connect(
            api.base_url.replace("http://", "ws://") + "/graphql",
            subprotocols=["graphql-transport-ws"],
            origin="https://evil.example",
        )
    assert refused.value.response.status_code == 403


async def test_server_sent_events_for_clients_without_websockets(clean_api):
    from tests.api.subscriptions import EVENTS

    api = clean_api
    headers = {"Authorization": f"Bearer {api.token(CONTOSO_ADMIN)}", "Accept": "text/event-stream"}
    async with api.http.stream(
        "POST", "/graphql/stream", json={"query": EVENTS}, headers=headers
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        await asyncio.sleep(0.3)
        claim_id, _ = await new_claim(api)
        lines = response.aiter_lines()
        while await asyncio.wait_for(anext(lines), 10) != "event: next":
            pass
        data = json.loads((await anext(lines)).removeprefix("data: "))
        assert data["data"]["claimStatusChanged"]["claim"]["id"] == claim_id

    refused = await api.http.post("/graphql/stream", json={"query": EVENTS})
    assert (refused.status_code, refused.json()["errors"][0]["extensions"]["code"]) == (
        401,
        "UNAUTHENTICATED",
    )
