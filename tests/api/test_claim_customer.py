"""claimCustomer: a known customer (one who consented to this partner before), fixed-pay engagements only."""

import pytest

from tests.api.nominating import (
    CLAIM,
    PARTNER_CONTACT,
    add,
    contact,
    errors,
    global_ids,
    mark_consented,
    refusals,
    row_counts,
)
from tests.conftest import Api
from tests.demo import (
    BERLIN,
    CONTOSO_ADMIN,
    CONTOSO_SELLER,
    FABRIKAM_ADMIN,
    LONDON,
    MEXICO_CITY,
    NORTHWIND_DOMAIN,
    NORTHWIND_OPPORTUNITY,
    NORTHWIND_TENANT,
    SEATTLE,
    TORONTO,
)


async def _claim(
    api: Api,
    user: str,
    customer_id: str,
    *,
    location: str,
    engagements: list[str],
    friendly_name: str = "Northwind, second round",
    **extra,
):
    ids = await global_ids(api)
    variables = {
        "input": {
            "customerId": customer_id,
            "friendlyName": friendly_name,
            "locationId": ids.location(location),
            "engagementIds": ids.engagement(*engagements),
            "customerContact": contact(),
            "partnerContact": PARTNER_CONTACT,
            **extra,
        }
    }
    response = await api.graphql(CLAIM, variables, as_user=user)
    assert response.status == 200
    return response.data["claimCustomer"]


async def _added(api: Api, *, consented: bool, user=CONTOSO_ADMIN, location=SEATTLE, **arguments):
    """A customer added by domain for the Copilot Readiness Assessment; known when `consented`."""
    arguments = {
        "id_type": "DOMAIN_NAME",
        "id_value": NORTHWIND_DOMAIN,
        "engagements": ["copilot-readiness-assessment"],
    } | arguments
    payload = await add(api, user, location=location, **arguments)
    assert payload["userErrors"] == []
    if consented:
        # Consent (sendConsent, respondToConsent) arrives with a later issue: until then the test makes the
        # customer known by stamping `consented_at` on its claim directly in the database.
        await mark_consented(api, payload["claims"][0]["id"])
    return payload["customer"]


async def test_a_customer_that_never_consented_cannot_be_claimed(clean_api):
    api = clean_api
    customer = await _added(api, consented=False)
    counts = await row_counts(api)
    payload = await _claim(
        api, CONTOSO_ADMIN, customer["id"], location=SEATTLE, engagements=["teams-phone-deployment"]
    )
    assert errors(payload) == [("NOT_A_KNOWN_CUSTOMER", ("input", "customerId"))]
    assert payload["claims"] == [] and payload["customer"] is None
    assert await row_counts(api) == counts


async def test_a_known_customer_is_claimed_with_its_identifier(clean_api):
    api = clean_api
    customer = await _added(api, consented=True)
    counts = await row_counts(api)
    keys = ["teams-phone-deployment", "purview-data-security-deployment"]
    payload = await _claim(api, CONTOSO_ADMIN, customer["id"], location=SEATTLE, engagements=keys)
    assert payload["userErrors"] == []
    assert payload["customer"]["id"] == customer["id"]
    claims = payload["claims"]
    assert [c["engagement"]["key"] for c in claims] == keys
    assert len({c["claimNumber"] for c in claims}) == 2
    for claim in claims:
        assert claim["status"] == "CUSTOMER_CLAIMED"
        assert claim["friendlyName"] == "Northwind, second round"
        assert claim["identifier"] == {"idType": "DOMAIN_NAME", "value": NORTHWIND_DOMAIN}
        assert claim["customer"]["id"] == customer["id"]
        assert claim["hours"] is None and claim["proposedPayout"] is None
        assert [edge["node"]["action"] for edge in claim["history"]["edges"]] == ["CREATE"]
    after = await row_counts(api)
    assert after["claim"] == counts["claim"] + 2
    assert after["customer"] == counts["customer"]  # the same customer, not a new one


async def test_a_known_customer_can_be_claimed_by_another_user_of_the_account(clean_api):
    # Customers are known to the whole partner account; claims stay scoped to the user's locations.
    api = clean_api
    customer = await _added(api, consented=True)
    payload = await _claim(
        api, CONTOSO_SELLER, customer["id"], location=TORONTO, engagements=["teams-phone-deployment"]
    )
    assert payload["userErrors"] == []
    assert payload["claims"][0]["location"]["locationId"] == TORONTO


async def test_claiming_needs_no_mismatch_reason_for_a_contact_at_the_tenant(clean_api):
    """The customer was added with a contact elsewhere (and a reason); this claim's contact is at the tenant's
    domain, so it needs none (claiming elsewhere needs one: tests/api/test_consent_recipient.py)."""
    api = clean_api
    customer = await _added(
        api,
        consented=True,
        id_type="TENANT_ID",
        id_value=NORTHWIND_TENANT,
        customer_contact=contact("cio@holding.example"),
        tenantMismatchReason="The holding signs.",
    )
    payload = await _claim(
        api, CONTOSO_ADMIN, customer["id"], location=SEATTLE, engagements=["teams-phone-deployment"]
    )
    assert payload["userErrors"] == []
    assert payload["claims"][0]["identifier"] == {"idType": "TENANT_ID", "value": NORTHWIND_TENANT}
    assert payload["claims"][0]["tenantMismatchReason"] is None


@pytest.mark.parametrize(
    "keys",
    [
        ["azure-migrate-and-modernize"],
        ["teams-phone-deployment", "azure-migrate-and-modernize"],
    ],
)
async def test_variable_pay_is_not_claimable(clean_api, keys):
    api = clean_api
    customer = await _added(api, consented=True)
    counts = await row_counts(api)
    payload = await _claim(api, CONTOSO_ADMIN, customer["id"], location=SEATTLE, engagements=keys)
    assert errors(payload) == [("VARIABLE_PAY_NOT_CLAIMABLE", ("input", "engagementIds"))]
    assert await row_counts(api) == counts


async def test_a_known_msx_customer_is_not_claimable_for_variable_pay_either(clean_api):
    api = clean_api
    customer = await _added(
        api,
        consented=True,
        id_type="MSX_OPPORTUNITY_ID",
        id_value=NORTHWIND_OPPORTUNITY,
        engagements=["azure-migrate-and-modernize"],
        hours=10,
    )
    payload = await _claim(
        api, CONTOSO_ADMIN, customer["id"], location=SEATTLE, engagements=["sap-on-azure-migration"]
    )
    assert errors(payload) == [("VARIABLE_PAY_NOT_CLAIMABLE", ("input", "engagementIds"))]


async def test_another_partners_customer_looks_missing(clean_api):
    api = clean_api
    theirs = await _added(api, consented=True, user=FABRIKAM_ADMIN, location=BERLIN)
    counts = await row_counts(api)
    for customer_id in (
        theirs["id"],
        "Q3VzdG9tZXI6OTk5OTk5",
        "garbage",
    ):  # theirs, Customer:999999, malformed
        payload = await _claim(
            api, CONTOSO_ADMIN, customer_id, location=SEATTLE, engagements=["teams-phone-deployment"]
        )
        assert errors(payload) == [("NOT_FOUND", ("input", "customerId"))], customer_id
    assert await row_counts(api) == counts


@pytest.mark.parametrize(
    ("location", "key", "codes"),
    [
        (MEXICO_CITY, "teams-phone-deployment", ["LOCATION_NOT_ENROLLED", "LOCATION_NOT_ELIGIBLE"]),
        (TORONTO, "purview-data-security-deployment", ["LOCATION_NOT_ELIGIBLE"]),
        (LONDON, "copilot-adoption-workshop", ["LOCATION_NOT_ELIGIBLE", "CRITERIA_NOT_MET"]),
    ],
)
async def test_the_location_must_be_enrolled_and_eligible(clean_api, location, key, codes):
    api = clean_api
    customer = await _added(api, consented=True)
    counts = await row_counts(api)
    payload = await _claim(api, CONTOSO_ADMIN, customer["id"], location=location, engagements=[key])
    # The location's problems once, on its field; the identifier's on the engagement's index.
    assert errors(payload) == refusals(codes)
    assert await row_counts(api) == counts


async def test_a_location_the_user_cannot_see_is_not_found(clean_api):
    api = clean_api
    customer = await _added(api, consented=True)
    for user, location in [(CONTOSO_SELLER, SEATTLE), (CONTOSO_ADMIN, BERLIN)]:
        payload = await _claim(
            api, user, customer["id"], location=location, engagements=["teams-phone-deployment"]
        )
        assert errors(payload) == [("NOT_FOUND", ("input", "locationId"))], (user, location)


async def test_add_or_claim_not_both(clean_api):
    api = clean_api
    customer = await _added(api, consented=True)
    # The customer already has this partner's active claim on the Copilot Readiness Assessment.
    payload = await _claim(
        api,
        CONTOSO_ADMIN,
        customer["id"],
        location=TORONTO,
        engagements=["teams-phone-deployment", "copilot-readiness-assessment"],
    )
    assert errors(payload) == [("ALREADY_CLAIMED_BY_YOU", ("input", "engagementIds", "1"))]


async def test_claim_limits_count_across_partners(clean_api):
    api = clean_api
    customer = await _added(api, consented=True)
    theirs = await add(
        api,
        FABRIKAM_ADMIN,
        location=BERLIN,
        id_type="TENANT_ID",
        id_value=NORTHWIND_TENANT,
        engagements=["security-posture-assessment"],
    )
    assert theirs["userErrors"] == []
    payload = await _claim(
        api, CONTOSO_ADMIN, customer["id"], location=SEATTLE, engagements=["security-posture-assessment"]
    )
    assert errors(payload) == [("CLAIM_LIMIT_REACHED", ("input", "engagementIds", "0"))]


async def test_claiming_is_idempotent_with_a_key(clean_api):
    api = clean_api
    customer = await _added(api, consented=True)
    arguments = {"location": SEATTLE, "engagements": ["teams-phone-deployment"], "idempotencyKey": "claim-1"}
    first = await _claim(api, CONTOSO_ADMIN, customer["id"], **arguments)
    assert first["userErrors"] == []
    counts = await row_counts(api)
    again = await _claim(api, CONTOSO_ADMIN, customer["id"], **arguments)
    assert [c["id"] for c in again["claims"]] == [c["id"] for c in first["claims"]]
    other = await _claim(api, CONTOSO_ADMIN, customer["id"], **arguments, friendly_name="Changed")
    assert errors(other) == [("IDEMPOTENCY_KEY_REUSED", ("input", "idempotencyKey"))]
    assert await row_counts(api) == counts


async def test_claiming_for_no_engagement_is_a_user_error(clean_api):
    api = clean_api
    customer = await _added(api, consented=True)
    payload = await _claim(api, CONTOSO_ADMIN, customer["id"], location=SEATTLE, engagements=[])
    assert errors(payload) == [("INVALID_INPUT", ("input", "engagementIds"))]
