"""Bad input gets a clear, coded answer and changes nothing, on SQLite and PostgreSQL (issue 14, point 6): odd
consent links and CSRF fields, control characters (a NUL byte reaches PostgreSQL as an error), and searches too
long to run."""

import asyncio
import re
import uuid

import pytest
from sqlalchemy import text
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from app.auth import REVIEWER, mint_token
from tests.api.claim_flow import SEND, act, ids, new_claim
from tests.demo import CONTOSO_ADMIN

RESPOND = """mutation($token: String!) {
  respondToConsent(input: {token: $token, decision: ACCEPT}) { accepted userErrors { code field } } }"""
ADD = """mutation($input: AddCustomerInput!) { addCustomer(input: $input) {
  claims { id } userErrors { code field } } }"""

ODD_TOKENS = [
    "1.é",  # a non-ASCII signature
    "1." + "\u00e9" * 40,
    "9" * 5000 + ".abc",  # an id past what int() parses by default
    "1.\x00",
    "\x00",
    "\uff11.abc",  # a full-width digit one
    "",
]


@pytest.mark.parametrize("token", ODD_TOKENS)
async def test_odd_consent_links_are_invalid_links(api, token):
    answer = await api.graphql(RESPOND, {"token": token})
    assert answer.status == 200
    assert answer.data["respondToConsent"]["userErrors"] == [
        {"code": "CONSENT_LINK_INVALID", "field": ["input", "token"]}
    ]
    if token and "\x00" not in token and "/" not in token:
        page = await api.http.get(f"/consent/{token}")
        assert page.status_code == 404, page.text[:300]
        assert "cannot be used" in page.text


async def _sent_token(api, smtp, domain: str = "northwind.example") -> tuple[str, str]:
    claim_id, recipient = await new_claim(api, domain=domain)
    sent = (await api.graphql(SEND, {"id": claim_id}, as_user=CONTOSO_ADMIN)).data["sendConsent"]
    assert sent["userErrors"] == []
    [message] = await smtp.wait_for(recipient)
    return claim_id, re.search(
        r"/consent/(\S+)", message.get_body(preferencelist=("plain",)).get_content()
    ).group(1)


@pytest.mark.parametrize("csrf", ["é", "\u2603" * 30, "abc\x00"])
async def test_an_odd_csrf_field_on_the_consent_page_is_refused_and_changes_nothing(clean_api, smtp, csrf):
    api = clean_api
    claim_id, token = await _sent_token(api, smtp)
    page = await api.http.get(f"/consent/{token}")
    assert page.status_code == 200
    answered = await api.http.post(
        f"/consent/{token}",
        content=f"csrf={csrf}&decision=ACCEPT".encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answered.status_code == 403, answered.text[:300]
    status = await api.graphql(
        "query($id: ID!) { claim(id: $id) { status } }", {"id": claim_id}, as_user=CONTOSO_ADMIN
    )
    assert status.data["claim"]["status"] == "AWAITING_CUSTOMER_CONSENT_RESPONSE"


def _input(locations, engagements, **changes):
    value = {
        "friendlyName": "Pilot",
        "locationId": locations["4100101"],
        "customerIdType": "DOMAIN_NAME",
        "customerIdValue": "northwindtraders.example",
        "engagementIds": [engagements["copilot-readiness-assessment"]],
        "customerContact": {
            "firstName": "Nancy",
            "lastName": "Davolio",
            "email": "nancy@northwindtraders.example",
        },
        "partnerContact": {"firstName": "Megan", "lastName": "Bowen", "email": CONTOSO_ADMIN},
    }
    for key, new in changes.items():
        if "." in key:
            outer, inner = key.split(".")
            value[outer] = {**value[outer], inner: new}
        else:
            value[key] = new
    return value


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"friendlyName": "Pilot\x00"}, ["input", "friendlyName"]),
        ({"friendlyName": "Pi\x07lot"}, ["input", "friendlyName"]),
        ({"idempotencyKey": "key\x00"}, ["input", "idempotencyKey"]),
        ({"tenantMismatchReason": "because\x00"}, ["input", "tenantMismatchReason"]),
        ({"customerContact.firstName": "Nan\x00cy"}, ["input", "customerContact", "firstName"]),
        (
            {"customerContact.email": "nancy\x00@northwindtraders.example"},
            ["input", "customerContact", "email"],
        ),
        ({"customerContact.phone": "+1 555\x00"}, ["input", "customerContact", "phone"]),
        ({"partnerContact.jobTitle": "Lead\x1b[31m"}, ["input", "partnerContact", "jobTitle"]),
    ],
)
async def test_control_characters_are_invalid_input_and_nothing_is_written(clean_api, change, field):
    api = clean_api
    locations, engagements = await ids(api)
    payload = (
        await api.graphql(ADD, {"input": _input(locations, engagements, **change)}, as_user=CONTOSO_ADMIN)
    ).data["addCustomer"]
    assert {"code": "INVALID_INPUT", "field": field} in payload["userErrors"], payload["userErrors"]
    assert payload["claims"] == []
    async with api.database.engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM claim"))).scalar_one() == 0


async def test_a_comment_with_a_nul_byte_is_invalid_input(clean_api):
    api = clean_api
    claim_id, _ = await new_claim(api)
    cancel = await api.graphql(
        "mutation($input: DisputeClaimInput!) { disputeClaim(input: $input) { userErrors { code field } } }",
        {"input": {"claimId": claim_id, "comment": "no\x00"}},
        as_user=CONTOSO_ADMIN,
    )
    assert cancel.data["disputeClaim"]["userErrors"] == [
        {"code": "INVALID_INPUT", "field": ["input", "comment"]}
    ]


async def test_newlines_and_tabs_stay_allowed_in_free_text(clean_api):
    api = clean_api
    locations, engagements = await ids(api)
    given = _input(
        locations,
        engagements,
        tenantMismatchReason="Line one\nLine two\tindented",
        **{"customerContact.email": "nancy@elsewhere.example"},
    )
    payload = (await api.graphql(ADD, {"input": given}, as_user=CONTOSO_ADMIN)).data["addCustomer"]
    assert payload["userErrors"] == []


@pytest.mark.parametrize(
    "query",
    [
        '{ engagements(filter: {search: "a\\u0000"}) { totalCount } }',
        '{ engagements(filter: {solutionArea: "AI\\u0000"}) { totalCount } }',
        '{ engagements(filter: {search: "' + "a" * 50_000 + '"}) { totalCount } }',
    ],
)
async def test_an_odd_or_huge_engagement_search_is_bad_user_input(api, query):
    response = await api.graphql(query, as_user=CONTOSO_ADMIN)
    assert response.error_codes == ["BAD_USER_INPUT"], response.body


async def test_a_customers_page_search_with_a_nul_byte_is_bad_user_input(api):
    _, engagements = await ids(api)
    response = await api.graphql(
        'query($id: ID!) { engagement(id: $id) { customers(tab: ELIGIBLE, search: "x\\u0000") { totalCount } } }',
        {"id": engagements["copilot-readiness-assessment"]},
        as_user=CONTOSO_ADMIN,
    )
    assert response.error_codes == ["BAD_USER_INPUT"], response.body


async def test_the_consent_page_keeps_its_link_to_itself(clean_api, smtp):
    """The URL carries the token: no Referer, no cache, no frame, no script; and each link has its own CSRF
    cookie, so two consent pages open at once both answer (issue 14, point 11)."""
    api = clean_api
    first_claim, first = await _sent_token(api, smtp)
    second_claim, second = await _sent_token(api, smtp, domain="adatum.example")
    pages = {token: await api.http.get(f"/consent/{token}") for token in (first, second)}
    for page in [*pages.values(), await api.http.get("/consent/1.nothing")]:
        assert page.headers["referrer-policy"] == "no-referrer"
        assert page.headers["cache-control"] == "no-store"
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert page.headers["x-content-type-options"] == "nosniff"
    # Both tabs were opened before either answers: the first's cookie was not overwritten by the second's.
    for token, claim_id in ((first, first_claim), (second, second_claim)):
        csrf = re.search(r'name="csrf" value="([^"]+)"', pages[token].text).group(1)
        answered = await api.http.post(f"/consent/{token}", data={"decision": "ACCEPT", "csrf": csrf})
        assert answered.status_code == 200, answered.text[:300]
        assert answered.headers["cache-control"] == "no-store"
        status = await api.graphql(
            "query($id: ID!) { claim(id: $id) { status } }", {"id": claim_id}, as_user=CONTOSO_ADMIN
        )
        assert status.data["claim"]["status"] == "CUSTOMER_CONSENT_RECEIVED"


async def test_the_longest_names_the_api_accepts_are_storable(clean_api, smtp):
    """Issue 14, point 5: a customer whose names are 100 characters each consents (its full name is the actor of
    the answer), and a reviewer token with a 300-character name acts; on PostgreSQL too."""
    api = clean_api
    locations, engagements = await ids(api)
    given = _input(
        locations,
        engagements,
        **{"customerContact.firstName": "N" * 100, "customerContact.lastName": "D" * 100},
        **{"customerContact.email": (recipient := f"n.{uuid.uuid4().hex[:8]}@northwindtraders.example")},
    )
    added = (await api.graphql(ADD, {"input": given}, as_user=CONTOSO_ADMIN)).data["addCustomer"]
    assert added["userErrors"] == []
    [claim] = added["claims"]
    assert (await api.graphql(SEND, {"id": claim["id"]}, as_user=CONTOSO_ADMIN)).data["sendConsent"][
        "userErrors"
    ] == []
    [message] = await smtp.wait_for(recipient)
    token = re.search(r"/consent/(\S+)", message.get_body(preferencelist=("plain",)).get_content()).group(1)
    page = await api.http.get(f"/consent/{token}")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    answered = await api.http.post(f"/consent/{token}", data={"decision": "ACCEPT", "csrf": csrf})
    assert answered.status_code == 200, answered.text[:300]

    submitted = await act(api, "submitClaim", claim["id"])
    assert submitted["userErrors"] == []
    long_name = "Rita " + "R" * 295
    reviewer = mint_token(api.settings, "rita@microsoft.example", REVIEWER, long_name)
    started = await act(api, "startClaimReview", claim["id"], token=reviewer)
    assert started["userErrors"] == [] and started["claim"]["status"] == "UNDER_REVIEW"
    history = await api.graphql(
        "query($id: ID!) { claim(id: $id) { history(first: 10) { edges { node { actor { name } } } } } }",
        {"id": claim["id"]},
        as_user=CONTOSO_ADMIN,
    )
    names = [e["node"]["actor"]["name"] for e in history.data["claim"]["history"]["edges"]]
    assert "N" * 100 + " " + "D" * 100 in names
    async with api.database.engine.connect() as conn:  # partners see "Microsoft reviewer"; the log keeps it
        kept = (
            await conn.execute(text("SELECT actor_name FROM claim_event WHERE actor_kind = 'REVIEWER'"))
        ).all()
    assert [row.actor_name for row in kept] == [long_name[:254]]


@pytest.mark.parametrize("email", ["r" * 250 + "@microsoft.example", "rita\x00@microsoft.example"])
async def test_a_token_whose_subject_cannot_be_an_email_is_refused(api, email):
    for kind in (REVIEWER, "partner"):
        token = mint_token(api.settings, email, kind, "Rita")
        response = await api.graphql("{ claimsForReview { totalCount } }", token=token)
        assert (response.status, response.error_codes) == (401, ["UNAUTHENTICATED"])


NESTED = '{"query": "{ __typename }", "variables": {"x": ' + "[" * 1000 + "]" * 1000 + "}}"


@pytest.mark.parametrize("path", ["/graphql", "/graphql/stream"])
async def test_a_json_body_nested_too_deep_is_a_bad_request(api, path):
    response = await api.http.post(path, content=NESTED, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text[:300]
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


async def test_a_websocket_message_nested_too_deep_closes_the_socket_as_malformed(api):
    socket = await connect(
        api.base_url.replace("http://", "ws://") + "/graphql", subprotocols=["graphql-transport-ws"]
    )
    await socket.send('{"type": "connection_init", "payload": ' + "[" * 1000 + "]" * 1000 + "}")
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(socket.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400


async def test_no_redirect_is_built_from_the_host_header(api):
    response = await api.http.get("/graphql/", headers={"Host": "evil.example"})
    assert response.status_code == 404
    assert "location" not in response.headers
