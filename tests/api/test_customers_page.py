"""The Customers page of an engagement (`Engagement.customers`), through the real HTTP API.

Claims live through the API: addCustomer, sendConsent with the real email and respondToConsent, submit, cancel,
dispute and the reviewer's decisions. Two things are written in the database instead, each time saying so: the
clock's expiries (the test clock would move the time of the server every test shares), and the scene of the
statement-count test (many known customers and ended claims, which only set up a measurement).
"""

import base64
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import update

from app.models import Claim
from tests.api.claim_flow import act, reviewer_token
from tests.api.nominating import tenant_domain
from tests.conftest import Api
from tests.demo import CONTOSO_ADMIN, CONTOSO_SELLER, FABRIKAM_ADMIN

SEATTLE, TORONTO, BERLIN = "4100101", "4100102", "4200201"
# Fixed pay, DOMAIN_NAME/TENANT_ID, any customer; Seattle, Toronto and Berlin can earn on it.
ASSESSMENT = "copilot-readiness-assessment"
# Fixed pay, TENANT_ID/DOMAIN_NAME/TPID, customers in US CA GB DE FR AU; Seattle can earn on it.
SECURITY = "security-posture-assessment"
# Variable pay (MSX opportunity IDs, deal size at least 50 000).
MIGRATE = "azure-migrate-and-modernize"

PAGE = """
query($id: ID!, $tab: CustomersTab!, $search: String, $first: Int, $after: String, $last: Int,
      $before: String) {
  engagement(id: $id) {
    customers(tab: $tab, search: $search, first: $first, after: $after, last: $last, before: $before) {
      totalCount
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      edges {
        cursor
        node { id name identifier { idType value } identifiers { idType value } }
        claim { id claimNumber status deadline daysRemaining location { locationId } engagement { key }
                customer { id } }
        ineligibilityReasons availableActions deadline daysRemaining
      }
    }
  }
}
"""

ADD = """
mutation($input: AddCustomerInput!) {
  addCustomer(input: $input) {
    customer { id }
    claims { id claimNumber }
    userErrors { code field message }
  }
}
"""
SEND = "mutation($id: ID!) { sendConsent(input: {claimId: $id}) { userErrors { code message } } }"
RESPOND = """mutation($token: String!, $decision: ConsentDecision!) {
  respondToConsent(input: {token: $token, decision: $decision}) { accepted userErrors { code message } } }"""

_IDS = """{
  engagements(first: 100) { edges { node { id key } } }
  viewer { locations(first: 50) { edges { node { id locationId } } } }
}"""
_ids: dict[str, dict[str, str]] = {}


async def _global_ids(api: Api) -> dict[str, str]:
    """Engagement keys and location IDs to global IDs, looked up through the API like a client would."""
    if api.base_url not in _ids:
        found: dict[str, str] = {}
        for admin in (CONTOSO_ADMIN, FABRIKAM_ADMIN):
            data = (await api.graphql(_IDS, as_user=admin)).data
            found |= {e["node"]["key"]: e["node"]["id"] for e in data["engagements"]["edges"]}
            found |= {e["node"]["locationId"]: e["node"]["id"] for e in data["viewer"]["locations"]["edges"]}
        _ids[api.base_url] = found
    return _ids[api.base_url]


def _pk(global_id: str) -> int:
    """The row behind a global ID (test-only knowledge: base64 of `Type:pk`)."""
    return int(base64.urlsafe_b64decode(global_id + "=" * (-len(global_id) % 4)).decode().partition(":")[2])


async def add(
    api: Api,
    id_value: str,
    *,
    engagement: str = ASSESSMENT,
    location: str = SEATTLE,
    user: str = CONTOSO_ADMIN,
    id_type: str = "DOMAIN_NAME",
    **extra: Any,
) -> dict[str, Any]:
    """addCustomer for one engagement; returns {customer, claim, recipient}: the customer's global ID, the claim's
    global ID and number, and the customer contact's email."""
    ids = await _global_ids(api)
    # At the customer's tenant: no mismatch reason needed (a tenant with no domain needs one, given in `extra`).
    recipient = f"nancy.{uuid.uuid4().hex[:10]}@{tenant_domain(id_type, id_value) or 'customer.example'}"
    contact = {"firstName": "Nancy", "lastName": "Davolio", "email": recipient}
    partner = {"firstName": "Megan", "lastName": "Bowen", "email": "megan@partner.example"}
    variables = {
        "input": {
            "friendlyName": f"Claim for {id_value}",
            "locationId": ids[location],
            "customerIdType": id_type,
            "customerIdValue": id_value,
            "engagementIds": [ids[engagement]],
            "customerContact": contact,
            "partnerContact": partner,
            **extra,
        }
    }
    payload = (await api.graphql(ADD, variables, as_user=user)).data["addCustomer"]
    assert payload["userErrors"] == [], payload["userErrors"]
    return {"customer": payload["customer"]["id"], "claim": payload["claims"][0], "recipient": recipient}


async def send_consent(api: Api, smtp: Any, added: dict[str, Any], user: str = CONTOSO_ADMIN) -> str:
    """sendConsent; the token of the link in the email the SMTP server received."""
    sent = (await api.graphql(SEND, {"id": added["claim"]["id"]}, as_user=user)).data["sendConsent"]
    assert sent["userErrors"] == [], sent["userErrors"]
    [message] = await smtp.wait_for(added["recipient"])
    return re.search(r"/consent/(\S+)", message.get_body(preferencelist=("plain",)).get_content()).group(1)


async def respond(api: Api, token: str, decision: str) -> None:
    """The customer's answer, authorised by the link's token alone."""
    answer = (await api.graphql(RESPOND, {"token": token, "decision": decision})).data["respondToConsent"]
    assert answer["userErrors"] == [], answer["userErrors"]


async def accept(api: Api, smtp: Any, added: dict[str, Any]) -> None:
    await respond(api, await send_consent(api, smtp, added), "ACCEPT")


async def decline(api: Api, smtp: Any, added: dict[str, Any], user: str = CONTOSO_ADMIN) -> None:
    await respond(api, await send_consent(api, smtp, added, user), "DECLINE")


async def step(api: Api, mutation: str, added: dict[str, Any], comment: str | None = None, **kwargs: Any):
    """One claim action (`claim_flow.act`); it must succeed."""
    result = await act(api, mutation, added["claim"]["id"], comment, **kwargs)
    assert result["userErrors"] == [], result["userErrors"]
    return result["claim"]


async def approve(api: Api, smtp: Any, added: dict[str, Any]) -> None:
    """Consent, submit, and the reviewer's approval: the engagement is completed."""
    await accept(api, smtp, added)
    await step(api, "submitClaim", added)
    await step(api, "approveClaim", added, token=reviewer_token(api))


async def cancel(api: Api, added: dict[str, Any]) -> None:
    await step(api, "cancelClaim", added)


async def _update_claim(api: Api, claim: dict[str, Any], **columns: Any) -> None:
    """Write claim columns in the database (through the table's column types: instants are stored as UTC)."""
    table = Claim.__table__  # type: ignore[attr-defined]
    async with api.writing() as conn:
        await conn.execute(
            update(table).where(table.c.id == _pk(claim["id"])).values(**columns, version=table.c.version + 1)
        )


async def expire_consent(api: Api, added: dict[str, Any]) -> None:
    # Shortcut: the clock's expiry, written in the database; `advanceTestClock` would move the time of the server
    # that every test shares.
    await _update_claim(
        api, added["claim"], status="CUSTOMER_CONSENT_EXPIRED", deadline=None, ended_at=api.clock.now()
    )


async def tab(api: Api, engagement: str, which: str, *, user: str = CONTOSO_ADMIN, **variables: Any):
    ids = await _global_ids(api)
    response = await api.graphql(
        PAGE, {"id": ids[engagement], "tab": which, "first": 100, **variables}, as_user=user
    )
    return response.data["engagement"]["customers"]


def rows(connection: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The page's rows in order, by the customer's nominating identifier value (on Complete: by claim number)."""
    found = {}
    for edge in connection["edges"]:
        ended = edge["claim"] is not None and edge["claim"]["status"] in _ENDED
        found[edge["claim"]["claimNumber"] if ended else edge["node"]["identifier"]["value"]] = edge
    assert len(found) == len(connection["edges"]) == connection["totalCount"]
    return found


_ENDED = {
    "APPROVED",
    "CUSTOMER_CONSENT_EXPIRED",
    "NOT_SUBMITTED_EXPIRED",
    "POST_SUBMISSION_EXPIRED",
    "DISPUTED_EXPIRED",
    "CANCELED",
    "CUSTOMER_CONSENT_DECLINED",
    "REJECTED_FINAL",
}


# ------------------------------------------------------------------------------------------------ membership


async def test_each_tab_holds_the_customers_the_domain_puts_there(clean_api, smtp):
    api = clean_api
    # Known and eligible: consented on a claim for another engagement, none on this one.
    northwind = await add(api, "northwindtraders.example", engagement=SECURITY)
    await accept(api, smtp, northwind)
    # Known, but this engagement does not take TPIDs.
    adatum = await add(api, "5500102", engagement=SECURITY, id_type="TPID")
    await accept(api, smtp, adatum)
    # Known and already completed this engagement: Ineligible, and its approved claim on Complete.
    alpine = await add(api, "alpineskihouse.example")
    await approve(api, smtp, alpine)
    # Known, with an active claim here: Eligible with that claim.
    woodgrove = await add(api, "woodgrove.example")
    await accept(api, smtp, woodgrove)
    # Newly added here (never consented), claim active: Eligible with its claim.
    tailwind = await add(api, "tailwindtraders.example")
    # Newly added for another engagement, never consented: not on this engagement's page at all.
    await add(api, "cohowinery.example", engagement=SECURITY)
    # Known to Contoso, while another partner holds the one active claim allowed on this engagement.
    relecloud = await add(api, "relecloud.example", engagement=SECURITY)
    await accept(api, smtp, relecloud)
    await add(api, "relecloud.example", user=FABRIKAM_ADMIN, location=BERLIN)

    eligible = await tab(api, ASSESSMENT, "ELIGIBLE")
    assert list(rows(eligible)) == [
        "northwindtraders.example",
        "woodgrove.example",
        "tailwindtraders.example",
    ]
    row = rows(eligible)["northwindtraders.example"]
    assert row["node"]["id"] == northwind["customer"]
    assert row["node"]["name"] == "Northwind Traders"
    assert row["claim"] is None and row["deadline"] is None and row["daysRemaining"] is None
    assert row["ineligibilityReasons"] == [] and row["availableActions"] == ["CLAIM_CUSTOMER"]
    row = rows(eligible)["woodgrove.example"]
    assert row["claim"]["id"] == woodgrove["claim"]["id"]
    assert row["claim"]["status"] == "CUSTOMER_CONSENT_RECEIVED"
    assert row["availableActions"] == ["SUBMIT", "CANCEL"]
    assert row["daysRemaining"] == 60 and row["deadline"] is not None  # the assessment's submit window
    row = rows(eligible)["tailwindtraders.example"]
    assert row["claim"]["claimNumber"] == tailwind["claim"]["claimNumber"]
    assert row["claim"]["status"] == "CUSTOMER_CLAIMED"
    assert row["claim"]["engagement"]["key"] == ASSESSMENT
    assert row["claim"]["customer"]["id"] == tailwind["customer"] == row["node"]["id"]
    assert row["availableActions"] == ["SEND_CONSENT", "CANCEL"]
    assert row["daysRemaining"] == 30  # the assessment's consent window

    ineligible = rows(await tab(api, ASSESSMENT, "INELIGIBLE"))
    assert {value: row["ineligibilityReasons"] for value, row in ineligible.items()} == {
        "5500102": ["ID_TYPE_NOT_ALLOWED"],
        "alpineskihouse.example": ["ALREADY_PARTICIPATED"],
        "relecloud.example": ["CLAIM_LIMIT_REACHED"],  # Fabrikam's claim counts; Contoso never sees it
    }
    assert all(row["claim"] is None and row["availableActions"] == [] for row in ineligible.values())

    complete = rows(await tab(api, ASSESSMENT, "COMPLETE"))
    assert list(complete) == [alpine["claim"]["claimNumber"]]
    row = complete[alpine["claim"]["claimNumber"]]
    assert row["node"]["id"] == alpine["customer"]
    assert row["claim"]["status"] == "APPROVED"
    assert row["availableActions"] == [] and row["ineligibilityReasons"] == [] and row["deadline"] is None


async def test_a_new_customer_that_declines_leaves_eligible_and_its_claim_moves_to_complete(clean_api, smtp):
    api = clean_api
    tailwind = await add(api, "tailwindtraders.example")
    assert list(rows(await tab(api, ASSESSMENT, "ELIGIBLE"))) == ["tailwindtraders.example"]

    await decline(api, smtp, tailwind)

    assert rows(await tab(api, ASSESSMENT, "ELIGIBLE")) == {}
    assert rows(await tab(api, ASSESSMENT, "INELIGIBLE")) == {}  # never known: not on Ineligible either
    complete = rows(await tab(api, ASSESSMENT, "COMPLETE"))
    assert list(complete) == [tailwind["claim"]["claimNumber"]]
    assert complete[tailwind["claim"]["claimNumber"]]["claim"]["status"] == "CUSTOMER_CONSENT_DECLINED"
    assert (
        complete[tailwind["claim"]["claimNumber"]]["node"]["identifier"]["value"] == "tailwindtraders.example"
    )


async def test_a_known_customer_whose_claim_ended_stays_eligible_and_the_claims_pile_up_on_complete(
    clean_api, smtp
):
    api = clean_api
    first = await add(api, "tailwindtraders.example")
    await accept(api, smtp, first)
    await cancel(api, first)
    second = await add(api, "tailwindtraders.example")
    await cancel(api, second)  # (ended without consent it would cool off: test_eligibility_rules.py)

    eligible = rows(await tab(api, ASSESSMENT, "ELIGIBLE"))
    assert list(eligible) == ["tailwindtraders.example"]
    assert eligible["tailwindtraders.example"]["claim"] is None
    assert eligible["tailwindtraders.example"]["availableActions"] == ["CLAIM_CUSTOMER"]
    complete = await tab(api, ASSESSMENT, "COMPLETE")
    assert [edge["claim"]["claimNumber"] for edge in complete["edges"]] == [
        first["claim"]["claimNumber"],
        second["claim"]["claimNumber"],
    ]
    assert {edge["node"]["id"] for edge in complete["edges"]} == {first["customer"]} == {second["customer"]}


async def test_variable_pay_keeps_the_ineligible_rows_but_withholds_their_reasons(clean_api, smtp):
    api = clean_api
    # Known by a domain: the variable-pay engagement takes only MSX opportunity IDs.
    northwind = await add(api, "northwindtraders.example", engagement=SECURITY)
    await accept(api, smtp, northwind)
    # Known by an opportunity that completed the engagement.
    done = await add(api, "7-3FS2XQBWAO", engagement=MIGRATE, id_type="MSX_OPPORTUNITY_ID", hours=10)
    await approve(api, smtp, done)
    # Known by an opportunity whose claim was cancelled: eligible again, but variable pay is never claimed.
    adatum = await add(api, "7-1K8D2MZQPL", engagement=MIGRATE, id_type="MSX_OPPORTUNITY_ID", hours=10)
    await accept(api, smtp, adatum)
    await cancel(api, adatum)

    ineligible = rows(await tab(api, MIGRATE, "INELIGIBLE"))
    assert set(ineligible) == {"northwindtraders.example", "7-3FS2XQBWAO"}
    assert all(row["ineligibilityReasons"] == [] for row in ineligible.values())
    eligible = rows(await tab(api, MIGRATE, "ELIGIBLE"))
    assert list(eligible) == ["7-1K8D2MZQPL"]
    assert eligible["7-1K8D2MZQPL"]["availableActions"] == []  # no CLAIM_CUSTOMER for variable pay
    assert len((await tab(api, MIGRATE, "COMPLETE"))["edges"]) == 2

    # The same customers on a fixed-pay engagement show their reasons.
    fixed = rows(await tab(api, ASSESSMENT, "INELIGIBLE"))
    assert fixed["7-3FS2XQBWAO"]["ineligibilityReasons"] == ["ID_TYPE_NOT_ALLOWED"]


async def test_available_actions_deadline_and_days_follow_the_claim_through_its_life(clean_api, smtp):
    api = clean_api
    northwind = await add(api, "northwindtraders.example")
    reviewer = reviewer_token(api)

    async def row() -> dict[str, Any]:
        found = rows(await tab(api, ASSESSMENT, "ELIGIBLE"))["northwindtraders.example"]
        assert found["claim"]["id"] == northwind["claim"]["id"]
        assert (found["deadline"], found["daysRemaining"]) == (
            found["claim"]["deadline"],
            found["claim"]["daysRemaining"],
        )
        return found

    async def expect(status: str, actions: list[str]) -> None:
        found = await row()
        assert (found["claim"]["status"], found["availableActions"]) == (status, actions)

    await expect("CUSTOMER_CLAIMED", ["SEND_CONSENT", "CANCEL"])
    assert (await row())["daysRemaining"] == 30
    token = await send_consent(api, smtp, northwind)
    await expect("AWAITING_CUSTOMER_CONSENT_RESPONSE", ["RESEND_CONSENT", "CANCEL"])
    await respond(api, token, "ACCEPT")
    await expect("CUSTOMER_CONSENT_RECEIVED", ["SUBMIT", "CANCEL"])
    assert (await row())["daysRemaining"] == 60
    await step(api, "submitClaim", northwind)
    await expect("SUBMITTED", [])
    assert (await row())["deadline"] is None  # waits on the reviewer: no deadline
    await step(api, "startClaimReview", northwind, token=reviewer)
    await expect("UNDER_REVIEW", [])
    await step(api, "requestPartnerAction", northwind, "Attach the agenda.", token=reviewer)
    await expect("PARTNER_ACTION_REQUIRED", ["SUBMIT"])
    await step(api, "submitClaim", northwind, "Attached.")
    await step(api, "rejectClaim", northwind, "Incomplete.", token=reviewer)
    await expect("REJECTED", ["DISPUTE"])
    assert (await row())["daysRemaining"] == 30  # the dispute window
    await step(api, "disputeClaim", northwind, "It is complete.")
    await expect("DISPUTED", ["SUBMIT"])
    await step(api, "submitClaim", northwind)
    await step(api, "rejectClaim", northwind, "Still incomplete.", token=reviewer)

    # It consented on this claim, so it is known: back on Eligible, with no claim, ready to be claimed again.
    again = rows(await tab(api, ASSESSMENT, "ELIGIBLE"))["northwindtraders.example"]
    assert again["claim"] is None and again["availableActions"] == ["CLAIM_CUSTOMER"]
    ended = rows(await tab(api, ASSESSMENT, "COMPLETE"))[northwind["claim"]["claimNumber"]]
    assert ended["claim"]["status"] == "REJECTED_FINAL"
    assert ended["availableActions"] == [] and ended["deadline"] is None and ended["daysRemaining"] is None


# ---------------------------------------------------------------------------------------- search and pages


async def test_search_matches_name_identifiers_and_on_complete_the_claim_number(clean_api, smtp):
    api = clean_api
    northwind = await add(api, "northwindtraders.example")
    await add(api, "adatum.example")
    woodgrove = await add(api, "woodgrove.example")
    await approve(api, smtp, woodgrove)

    async def found(which: str, search: str) -> list[str]:
        return list(rows(await tab(api, ASSESSMENT, which, search=search)))

    assert await found("ELIGIBLE", "NORTHWIND trad") == ["northwindtraders.example"]  # the name, any case
    assert await found("ELIGIBLE", "adatum.EX") == ["adatum.example"]  # the nominating identifier
    assert await found("ELIGIBLE", "1524EEE5-40ea") == [
        "northwindtraders.example"
    ]  # the tenant it resolved to
    assert await found("ELIGIBLE", "example") == ["northwindtraders.example", "adatum.example"]
    assert await found("ELIGIBLE", "%") == []  # wildcards are text
    assert await found("ELIGIBLE", "   ") == [
        "northwindtraders.example",
        "adatum.example",
    ]  # blank: no filter
    assert await found("INELIGIBLE", "woodgrove") == ["woodgrove.example"]
    assert await found("INELIGIBLE", "northwind") == []

    number = woodgrove["claim"]["claimNumber"]
    assert await found("COMPLETE", number.lower()) == [number]
    assert await found("COMPLETE", "Woodgrove Bank") == [number]
    assert await found("COMPLETE", northwind["claim"]["claimNumber"]) == []  # active: not on Complete


async def _walk(api: Api, engagement: str, which: str, size: int, backwards: bool = False) -> list[str]:
    """Every row of the tab, page by page, forward (`first`/`after`) or backward (`last`/`before`)."""
    seen: list[str] = []
    cursor = None
    while True:
        arguments = (
            {"last": size, "before": cursor, "first": None} if backwards else {"first": size, "after": cursor}
        )
        page = await tab(api, engagement, which, **arguments)
        cursors = [edge["cursor"] for edge in page["edges"]]
        assert len(cursors) <= size
        if cursors:
            assert (page["pageInfo"]["startCursor"], page["pageInfo"]["endCursor"]) == (
                cursors[0],
                cursors[-1],
            )
        values = [
            edge["claim"]["claimNumber"] if which == "COMPLETE" else edge["node"]["id"]
            for edge in page["edges"]
        ]
        if backwards:
            assert page["pageInfo"]["hasNextPage"] is (cursor is not None)
            seen = values + seen
            if not page["pageInfo"]["hasPreviousPage"]:
                return seen
            cursor = page["pageInfo"]["startCursor"]
        else:
            assert page["pageInfo"]["hasPreviousPage"] is (cursor is not None)
            seen += values
            if not page["pageInfo"]["hasNextPage"]:
                return seen
            cursor = page["pageInfo"]["endCursor"]


async def test_walking_a_tab_page_by_page_yields_every_row_once_in_order(clean_api):
    api = clean_api
    domains = [
        "northwindtraders.example",
        "adatum.example",
        "tailwindtraders.example",
        "woodgrove.example",
        "alpineskihouse.example",
        "wideworldimporters.example",
        "cohowinery.example",
    ]
    added = [await add(api, domain) for domain in domains]
    for one in added[:5]:
        await cancel(api, one)
    again = [await add(api, domain) for domain in domains[:5]]
    for one in again[:3]:
        await expire_consent(api, one)

    everyone = await tab(api, ASSESSMENT, "ELIGIBLE")
    expected = [edge["node"]["id"] for edge in everyone["edges"]]
    assert expected == sorted(expected, key=_pk) and len(expected) == 4  # 2 active again, 2 never ended
    complete = await tab(api, ASSESSMENT, "COMPLETE")
    numbers = [edge["claim"]["claimNumber"] for edge in complete["edges"]]
    assert complete["totalCount"] == 8 and len(set(numbers)) == 8

    for size in (1, 3):
        assert await _walk(api, ASSESSMENT, "ELIGIBLE", size) == expected
        assert await _walk(api, ASSESSMENT, "ELIGIBLE", size, backwards=True) == expected
        assert await _walk(api, ASSESSMENT, "COMPLETE", size) == numbers
        assert await _walk(api, ASSESSMENT, "COMPLETE", size, backwards=True) == numbers
    # A cursor of a row that has since left the tab still works: keys are exclusive bounds.
    first_page = await tab(api, ASSESSMENT, "ELIGIBLE", first=1)
    await cancel(api, again[3])  # the first row (woodgrove's) leaves the tab
    rest = await tab(api, ASSESSMENT, "ELIGIBLE", first=10, after=first_page["pageInfo"]["endCursor"])
    assert [edge["node"]["id"] for edge in rest["edges"]] == expected[1:]


@pytest.mark.parametrize(
    ("arguments", "argument"),
    [
        ({"first": 101}, "first"),
        ({"first": -1}, "first"),
        ({"after": "not-a-cursor"}, "after"),
        ({"first": 2, "last": 2}, "first"),
        ({"search": "x" * 201}, "search"),
    ],
)
async def test_bad_page_arguments_are_clear_errors(api, arguments, argument):
    ids = await _global_ids(api)
    variables = {"id": ids[ASSESSMENT], "tab": "ELIGIBLE", **arguments}
    response = await api.graphql(PAGE, variables, as_user=CONTOSO_ADMIN)
    assert response.status == 200
    assert response.error_codes == ["BAD_USER_INPUT"]
    assert response.body["errors"][0]["extensions"]["argument"] == argument


async def test_a_reviewer_token_cannot_read_the_page(api):
    ids = await _global_ids(api)
    response = await api.graphql(PAGE, {"id": ids[ASSESSMENT], "tab": "ELIGIBLE"}, token=reviewer_token(api))
    assert response.status == 200
    assert response.error_codes == ["FORBIDDEN"], response.body


# -------------------------------------------------------------------------------------------------- who sees


async def test_another_partner_sees_none_of_it(clean_api, smtp):
    api = clean_api
    northwind = await add(api, "northwindtraders.example")
    await accept(api, smtp, northwind)
    known = await add(api, "5500102", engagement=SECURITY, id_type="TPID")
    await accept(api, smtp, known)
    ended = await add(api, "woodgrove.example")
    await cancel(api, ended)
    for which in ("ELIGIBLE", "INELIGIBLE", "COMPLETE"):
        assert (await tab(api, ASSESSMENT, which))["totalCount"] == 1, which

    for which in ("ELIGIBLE", "INELIGIBLE", "COMPLETE"):
        page = await tab(api, ASSESSMENT, which, user=FABRIKAM_ADMIN)
        assert page["totalCount"] == 0 and page["edges"] == [], which
        assert (await tab(api, ASSESSMENT, which, user=FABRIKAM_ADMIN, search="example"))["edges"] == []


NORTHWIND = "northwindtraders.example"
CLAIM_CUSTOMER = """mutation($input: ClaimCustomerInput!) {
  claimCustomer(input: $input) { claims { id } userErrors { code field } } }"""


async def _claim_known(
    api: Api, customer: str, engagement: str, location: str, user: str, domain: str
) -> dict[str, Any]:
    ids = await _global_ids(api)
    contact = {"firstName": "Nancy", "lastName": "Davolio", "email": f"nancy.{uuid.uuid4().hex[:8]}@{domain}"}
    variables = {
        "input": {
            "customerId": customer,
            "friendlyName": "Claimed again",
            "locationId": ids[location],
            "engagementIds": [ids[engagement]],
            "customerContact": contact,
            "partnerContact": {"firstName": "Megan", "lastName": "Bowen", "email": "megan@partner.example"},
        }
    }
    return (await api.graphql(CLAIM_CUSTOMER, variables, as_user=user)).data["claimCustomer"]


async def test_claim_customer_is_offered_only_to_a_viewer_with_a_location_that_can_claim(clean_api, smtp):
    """DOMAIN.md, rows offer only what succeeds: the seller holds only Toronto, which cannot earn on the security
    assessment; the known customer is on its Eligible tab, without CLAIM_CUSTOMER, and claiming it fails; the
    admin (Seattle can earn) is offered it, and claiming it succeeds."""
    api = clean_api
    northwind = await add(api, NORTHWIND)
    await accept(api, smtp, northwind)  # known to the account

    seller = rows(await tab(api, SECURITY, "ELIGIBLE", user=CONTOSO_SELLER))
    assert seller["northwindtraders.example"]["availableActions"] == []
    refused = await _claim_known(api, northwind["customer"], SECURITY, TORONTO, CONTOSO_SELLER, NORTHWIND)
    assert [e["code"] for e in refused["userErrors"]] == ["LOCATION_NOT_ELIGIBLE"] and refused["claims"] == []

    admin = rows(await tab(api, SECURITY, "ELIGIBLE"))
    assert admin["northwindtraders.example"]["availableActions"] == ["CLAIM_CUSTOMER"]
    claimed = await _claim_known(api, northwind["customer"], SECURITY, SEATTLE, CONTOSO_ADMIN, NORTHWIND)
    assert claimed["userErrors"] == [] and len(claimed["claims"]) == 1


async def test_a_location_scoped_user_sees_the_accounts_customers_but_only_its_locations_claims(
    clean_api, smtp
):
    api = clean_api
    # The admin's new customer at Seattle: neither known nor the seller's claim.
    fourth = await add(api, "fourthcoffee.example")
    # The seller's own new customer at Toronto.
    wingtip = await add(api, "wingtiptoys.example", location=TORONTO, user=CONTOSO_SELLER)
    # Known to the account (consented at Seattle), no claim on this engagement.
    northwind = await add(api, "northwindtraders.example", engagement=SECURITY)
    await accept(api, smtp, northwind)
    # Known, with the account's one active claim here at Seattle.
    alpine = await add(api, "alpineskihouse.example")
    await accept(api, smtp, alpine)
    # Ended claims, one at each location.
    margie = await add(api, "margiestravel.example", location=TORONTO, user=CONTOSO_SELLER)
    await decline(api, smtp, margie, user=CONTOSO_SELLER)
    await cancel(api, fourth)

    seller = rows(await tab(api, ASSESSMENT, "ELIGIBLE", user=CONTOSO_SELLER))
    assert list(seller) == ["wingtiptoys.example", "northwindtraders.example"]
    assert seller["wingtiptoys.example"]["claim"]["location"]["locationId"] == TORONTO
    assert seller["wingtiptoys.example"]["node"]["id"] == wingtip["customer"]
    assert seller["northwindtraders.example"]["availableActions"] == ["CLAIM_CUSTOMER"]
    seller = rows(await tab(api, ASSESSMENT, "INELIGIBLE", user=CONTOSO_SELLER))
    assert list(seller) == ["alpineskihouse.example"]  # the account already holds its one active claim here
    # The account's own claim, at a location the seller cannot see: the partner's, not the customer's limit.
    assert seller["alpineskihouse.example"]["ineligibilityReasons"] == ["ALREADY_CLAIMED_BY_YOU"]
    assert seller["alpineskihouse.example"]["claim"] is None
    seller = rows(await tab(api, ASSESSMENT, "COMPLETE", user=CONTOSO_SELLER))
    assert list(seller) == [margie["claim"]["claimNumber"]]

    admin = rows(await tab(api, ASSESSMENT, "ELIGIBLE"))
    assert list(admin) == ["wingtiptoys.example", "northwindtraders.example", "alpineskihouse.example"]
    assert admin["alpineskihouse.example"]["claim"]["id"] == alpine["claim"]["id"]
    assert rows(await tab(api, ASSESSMENT, "INELIGIBLE")) == {}
    assert list(rows(await tab(api, ASSESSMENT, "COMPLETE"))) == [
        fourth["claim"]["claimNumber"],
        margie["claim"]["claimNumber"],
    ]


# ------------------------------------------------------------------------------------------------------ cost

ALL_DOMAINS = [
    "northwindtraders.example",
    "adatum.example",
    "tailwindtraders.example",
    "woodgrove.example",
    "alpineskihouse.example",
    "wideworldimporters.example",
    "cohowinery.example",
    "fourthcoffee.example",
    "lucernepublishing.example",
    "margiestravel.example",
    "relecloud.example",
    "treyresearch.example",
    "vanarsdel.example",
    "wingtiptoys.example",
    "proseware.example",
    "consolidatedmessenger.example",
    "graphicdesigninstitute.example",
    "humongousinsurance.example",
    "blueyonderairlines.example",
    "citypowerandlight.example",
    "schooloffineart.example",
    "southridgevideo.example",
    "bellowscollege.example",
    "nodpublishers.example",
    "firstupconsultants.example",
]
MUNSONS_TENANT = "a91daf16-8879-51de-b416-02bd119fea17"  # no domain in the directory


async def _statements(api: Api, which: str, first: int, *, judged: bool = True) -> int:
    """How many SQL statements one request for a page of the tab runs: judging the tab (`judged`), or reading it
    as kept from an earlier request (services/customers_page.TabJudgements, services/expiry.DeadlineWatch)."""
    if judged:  # as the first read after a change: nothing kept
        api.runtime.judgements.clear()
        api.runtime.deadlines.forget()
    with api.statements() as statements:
        page = await tab(api, ASSESSMENT, which, first=first)
    assert len(page["edges"]) == min(first, page["totalCount"])
    return len(statements)


async def _scene(api: Api, added: dict[str, Any], **columns: Any) -> None:
    # Shortcut: this test measures reads over many known customers and ended claims; driving each through
    # consent and review would only slow it down (those flows are tested above), so the scene is written in the
    # database.
    await _update_claim(api, added["claim"], **columns)


async def consent(api: Api, added: dict[str, Any]) -> None:
    await _scene(api, added, consented_at=datetime.now(UTC))


async def set_status(api: Api, added: dict[str, Any], status: str) -> None:
    await _scene(api, added, status=status, deadline=None)


async def test_statement_count_of_a_page_grows_with_neither_its_size_nor_the_customers(clean_api):
    api = clean_api
    munson = await add(
        api, MUNSONS_TENANT, id_type="TENANT_ID", tenantMismatchReason="The contact uses another domain"
    )
    first = [munson] + [await add(api, domain) for domain in ALL_DOMAINS[:3]]
    for one in first:
        await consent(api, one)
    for one in first[::2]:  # known, with no claim here: judged on every read (a tenant ID and a domain)
        await set_status(api, one, "CANCELED")
    # Rows 1 and 2 (the page of two): one without a claim, one with (whose fields cost their loaders' statements).
    few = await _statements(api, "ELIGIBLE", 2)

    more = [await add(api, domain) for domain in ALL_DOMAINS[3:]]
    for one in more[::2]:
        await consent(api, one)
    for one in more[:10:2]:
        await set_status(api, one, "CANCELED")
    assert (await tab(api, ASSESSMENT, "ELIGIBLE"))["totalCount"] == 26
    assert [few, few] == [await _statements(api, "ELIGIBLE", 2), await _statements(api, "ELIGIBLE", 20)]
    kept = await _statements(api, "ELIGIBLE", 2, judged=False)
    assert kept == await _statements(api, "ELIGIBLE", 20, judged=False) < few

    # The active claims are approved: their known customers move to Ineligible (already participated).
    active = first[1::2] + [one for i, one in enumerate(more) if not (i % 2 == 0 and i < 10)]
    for one in active:
        await set_status(api, one, "APPROVED")
    assert (await tab(api, ASSESSMENT, "INELIGIBLE"))["totalCount"] == 2 + 6
    assert (await tab(api, ASSESSMENT, "COMPLETE"))["totalCount"] == 26
    for which in ("ELIGIBLE", "INELIGIBLE", "COMPLETE"):
        small, large = await _statements(api, which, 2), await _statements(api, which, 20)
        assert small == large, which
        kept = await _statements(api, which, 2, judged=False)
        assert kept == await _statements(api, which, 20, judged=False), which
