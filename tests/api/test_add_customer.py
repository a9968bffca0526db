"""addCustomer: one claim per chosen engagement, all or none, with every problem reported on its field."""

import re
from datetime import datetime, timedelta

import pytest

from tests.api.nominating import (
    ADD,
    ENGAGEMENTS,
    PARTNER_CONTACT,
    add,
    add_input,
    contact,
    count_claims,
    errors,
    expected_payout,
    market_of,
    opportunity,
    preview,
    refusals,
    row_counts,
    set_status,
    verdicts,
    wipe_nominations,
)
from tests.demo import (
    ADATUM_DOMAIN,
    ADELE,
    BERLIN,
    CHICAGO,
    CONTOSO_ADMIN,
    CONTOSO_SELLER,
    FABRIKAM_ADMIN,
    LITWARE_ADMIN,
    MEXICO_CITY,
    NORTHWIND_DOMAIN,
    NORTHWIND_OPPORTUNITY,
    NORTHWIND_OTHER_DOMAIN,
    NORTHWIND_SUBSCRIPTION,
    NORTHWIND_TENANT,
    NORTHWIND_TPID,
    PROSEWARE_TENANT,
    RELECLOUD_LOST_OPPORTUNITY,
    SEATTLE,
    TORONTO,
)

CLAIM_NUMBER = re.compile(r"C\d{2}-[0-9A-HJKMNP-TV-Z]{8}")  # Crockford base32: no I, L, O or U
NOTHING = dict.fromkeys(["idempotency_key", "claim_event", "consent_request", "claim", "customer_identifier",
                         "customer"], 0)  # fmt: skip

# One identifier of each type, typed carelessly, with engagements it is eligible for from Seattle.
ADDS = {
    "DOMAIN_NAME": (
        " NorthwindTraders.Example ",
        NORTHWIND_DOMAIN,
        ["copilot-readiness-assessment", "security-posture-assessment", "teams-phone-deployment"],
    ),
    "TENANT_ID": (
        "{" + NORTHWIND_TENANT.upper() + "}",
        NORTHWIND_TENANT,
        ["data-ai-envisioning-workshop", "teams-phone-deployment"],
    ),
    "TPID": (
        "00" + NORTHWIND_TPID,
        NORTHWIND_TPID,
        ["security-posture-assessment", "defender-for-cloud-deployment", "purview-data-security-deployment"],
    ),
    "AZURE_SUBSCRIPTION_ID": (
        NORTHWIND_SUBSCRIPTION.upper(),
        NORTHWIND_SUBSCRIPTION,
        ["azure-landing-zone-quick-start", "defender-for-cloud-deployment"],
    ),
    "MSX_OPPORTUNITY_ID": (
        NORTHWIND_OPPORTUNITY.lower(),
        NORTHWIND_OPPORTUNITY,
        ["azure-migrate-and-modernize"],
    ),
}

NODE = """query($id: ID!) { node(id: $id) { ... on Claim { id claimNumber status friendlyName
          identifier { idType value } engagement { key } } } }"""


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


@pytest.mark.parametrize("id_type", list(ADDS))
async def test_an_add_makes_one_claim_per_engagement_for_each_id_type(clean_api, id_type):
    api = clean_api
    typed, normalised, keys = ADDS[id_type]
    hours = 40 if id_type == "MSX_OPPORTUNITY_ID" else None
    payload = await add(
        api,
        CONTOSO_ADMIN,
        location=SEATTLE,
        id_type=id_type,
        id_value=typed,
        engagements=keys,
        friendly_name="  Northwind rollout  ",
        customer_contact=contact(" CIO@Northwind.Example ", phone="+1 206 555 0199", jobTitle="CIO"),
        hours=hours,
    )
    assert payload["userErrors"] == []
    claims = payload["claims"]
    assert [c["engagement"]["key"] for c in claims] == keys
    numbers = [c["claimNumber"] for c in claims]
    assert len(set(numbers)) == len(numbers) and all(CLAIM_NUMBER.fullmatch(n) for n in numbers)

    customer = payload["customer"]
    assert customer["identifier"] == {"idType": id_type, "value": normalised}
    assert customer["name"] == "Northwind Traders"
    assert customer["tenantId"] == NORTHWIND_TENANT
    derived = [{"idType": "TENANT_ID", "value": NORTHWIND_TENANT}] if id_type == "DOMAIN_NAME" else []
    assert customer["identifiers"] == [{"idType": id_type, "value": normalised}, *derived]

    for claim in claims:
        assert claim["status"] == "CUSTOMER_CLAIMED"
        assert claim["friendlyName"] == "Northwind rollout"
        assert claim["identifier"] == {"idType": id_type, "value": normalised}
        assert claim["customer"]["id"] == customer["id"]
        assert claim["location"]["locationId"] == SEATTLE
        assert claim["customerContact"] == {
            "firstName": "Nancy",
            "lastName": "Davolio",
            "email": "cio@northwind.example",
            "phone": "+1 206 555 0199",
            "jobTitle": "CIO",
        }
        assert claim["partnerContact"] == PARTNER_CONTACT
        consent_days = claim["engagement"]["timelines"]["consentDays"]
        assert _at(claim["deadline"]) - _at(claim["createdAt"]) == timedelta(days=consent_days)
        assert claim["daysRemaining"] == consent_days
        assert claim["tenantMismatchReason"] is None
        history = claim["history"]
        assert history["totalCount"] == 1
        (event,) = [edge["node"] for edge in history["edges"]]
        assert event["action"] == "CREATE"
        assert (event["fromStatus"], event["toStatus"]) == (None, "CUSTOMER_CLAIMED")
        assert event["actor"] == {"kind": "PARTNER_USER", "name": "Megan Bowen"}
        assert _at(event["occurredAt"]) == _at(claim["createdAt"])
        if id_type == "MSX_OPPORTUNITY_ID":
            deal_size = opportunity(NORTHWIND_OPPORTUNITY)["dealSize"]
            amount = expected_payout(claim["engagement"]["key"], market_of(SEATTLE), 40, deal_size)
            assert claim["hours"] == 40
            assert claim["proposedPayout"] == {"amount": amount, "currency": "USD"}
        else:
            assert claim["hours"] is None and claim["proposedPayout"] is None

    # Stored, not just returned: the claims read back through node, and the database holds exactly them.
    for claim in claims:
        stored = (await api.graphql(NODE, {"id": claim["id"]}, as_user=CONTOSO_ADMIN)).data["node"]
        assert stored == {key: claim[key] for key in stored if key != "engagement"} | {
            "engagement": {"key": claim["engagement"]["key"]}
        }
    counts = await row_counts(api)
    assert counts["claim"] == counts["claim_event"] == len(keys)
    assert counts["customer"] == 1


async def test_the_consent_deadline_follows_the_engagements_own_timeline(clean_api):
    # The Copilot Adoption Workshop overrides the consent window: 14 days instead of 30.
    payload = await add(
        clean_api,
        CONTOSO_ADMIN,
        location=SEATTLE,
        id_type="DOMAIN_NAME",
        id_value=ADATUM_DOMAIN,
        engagements=["copilot-adoption-workshop", "copilot-readiness-assessment"],
        customer_contact=contact("it@adatum.example"),
    )
    assert payload["userErrors"] == []
    spans = {c["engagement"]["key"]: _at(c["deadline"]) - _at(c["createdAt"]) for c in payload["claims"]}
    assert spans == {
        "copilot-adoption-workshop": timedelta(days=14),
        "copilot-readiness-assessment": timedelta(days=30),
    }


# (location, ID type, value, the contact's email): each a fresh state; every engagement is tried alone.
AGREEMENT = [
    (SEATTLE, "DOMAIN_NAME", NORTHWIND_DOMAIN, "cio@northwind.example"),
    (SEATTLE, "TENANT_ID", NORTHWIND_TENANT, "cio@elsewhere.example"),
    (SEATTLE, "TPID", NORTHWIND_TPID, "cio@northwind.example"),
    (SEATTLE, "AZURE_SUBSCRIPTION_ID", NORTHWIND_SUBSCRIPTION, "cio@northwind.example"),
    (SEATTLE, "MSX_OPPORTUNITY_ID", NORTHWIND_OPPORTUNITY, "cio@northwind.example"),
    (SEATTLE, "MSX_OPPORTUNITY_ID", RELECLOUD_LOST_OPPORTUNITY, "cio@relecloud.example"),
    (SEATTLE, "DOMAIN_NAME", "unknown-customer.example", "cio@unknown-customer.example"),
    (TORONTO, "TENANT_ID", PROSEWARE_TENANT, "cio@proseware.example"),
    (MEXICO_CITY, "DOMAIN_NAME", ADATUM_DOMAIN, "cio@adatum.example"),
]


@pytest.mark.parametrize(("location", "id_type", "value", "email"), AGREEMENT)
async def test_the_preview_and_the_add_agree_on_every_engagement(clean_api, location, id_type, value, email):
    api = clean_api
    hours = 10
    answer = await preview(
        api,
        CONTOSO_ADMIN,
        location=location,
        id_type=id_type,
        id_value=value,
        customerEmail=email,
        hours=hours,
    )
    before = verdicts(answer)
    assert set(before) == set(ENGAGEMENTS)
    reason = "Group IT signs for the subsidiary." if answer["tenantMismatchReasonRequired"] else None
    for key, reasons in before.items():
        payload = await add(
            api,
            CONTOSO_ADMIN,
            location=location,
            id_type=id_type,
            id_value=value,
            engagements=[key],
            customer_contact=contact(email),
            hours=hours if ENGAGEMENTS[key]["payType"] == "VARIABLE" else None,
            tenantMismatchReason=reason,
        )
        if not reasons:
            assert payload["userErrors"] == [], key
            assert [c["engagement"]["key"] for c in payload["claims"]] == [key]
        else:
            assert payload["claims"] == [] and payload["customer"] is None, key
            assert sorted(errors(payload)) == sorted(refusals(reasons)), key
    eligible = [key for key, reasons in before.items() if not reasons]
    assert await count_claims(api) == len(eligible)
    # Afterwards the preview shows the claims made: each engagement added is now at its limit for this partner.
    after = verdicts(
        await preview(
            api, CONTOSO_ADMIN, location=location, id_type=id_type, id_value=value, customerEmail=email
        )
    )
    # Afterwards: each engagement added is refused as the partner's own active claim, never as the limit.
    assert after == {key: reasons or ["ALREADY_CLAIMED_BY_YOU"] for key, reasons in before.items()}


async def test_one_bad_engagement_among_good_ones_makes_nothing_and_every_problem_is_reported(clean_api):
    api = clean_api
    payload = await add(
        api,
        CONTOSO_ADMIN,
        location=SEATTLE,
        id_type="DOMAIN_NAME",
        id_value=NORTHWIND_DOMAIN,
        engagements=[
            "copilot-readiness-assessment",
            "copilot-adoption-workshop",  # Northwind is Enterprise: SMB and Corporate only
            "teams-phone-deployment",
            "threat-protection-workshop",  # closed
            "data-ai-envisioning-workshop",  # TPID and tenant ID only
        ],
    )
    assert payload["claims"] == [] and payload["customer"] is None
    assert errors(payload) == [
        ("CRITERIA_NOT_MET", ("input", "engagementIds", "1")),
        ("ENGAGEMENT_CLOSED", ("input", "engagementIds", "3")),
        ("ID_TYPE_NOT_ALLOWED", ("input", "engagementIds", "4")),
    ]
    assert all(e["message"] for e in payload["userErrors"])
    assert await row_counts(api) == NOTHING


async def test_input_problems_and_eligibility_problems_come_together(clean_api):
    api = clean_api
    payload = await add(
        api,
        CONTOSO_ADMIN,
        location=SEATTLE,
        id_type="DOMAIN_NAME",
        id_value=NORTHWIND_DOMAIN,
        engagements=["copilot-readiness-assessment", "copilot-adoption-workshop"],
        friendly_name="   ",
        customer_contact=contact("not-an-email", firstName=" "),
    )
    assert sorted(errors(payload)) == sorted(
        [
            ("INVALID_INPUT", ("input", "friendlyName")),
            ("INVALID_INPUT", ("input", "customerContact", "firstName")),
            ("INVALID_INPUT", ("input", "customerContact", "email")),
            ("CRITERIA_NOT_MET", ("input", "engagementIds", "1")),
        ]
    )
    assert await row_counts(api) == NOTHING


@pytest.mark.parametrize(
    ("customer_contact", "partner_contact", "problems"),
    [
        (contact(email=""), PARTNER_CONTACT, [("customerContact", "email")]),
        (contact(email="nancy@@northwind"), PARTNER_CONTACT, [("customerContact", "email")]),
        (contact(firstName="", lastName="  "), PARTNER_CONTACT, [("customerContact", "firstName"),
                                                                 ("customerContact", "lastName")]),
        (contact(phone="1" * 41, jobTitle="x" * 101), PARTNER_CONTACT, [("customerContact", "phone"),
                                                                        ("customerContact", "jobTitle")]),
        (contact(), {**PARTNER_CONTACT, "email": "megan"}, [("partnerContact", "email")]),
        (contact(), {**PARTNER_CONTACT, "lastName": "x" * 101}, [("partnerContact", "lastName")]),
    ],
)  # fmt: skip
async def test_missing_or_invalid_contact_fields_are_invalid_input_on_their_path(
    clean_api, customer_contact, partner_contact, problems
):
    api = clean_api
    variables = {
        "input": await add_input(
            api,
            location=SEATTLE,
            id_type="DOMAIN_NAME",
            id_value=NORTHWIND_DOMAIN,
            engagements=["copilot-readiness-assessment"],
            customer_contact=customer_contact,
        )
        | {"partnerContact": partner_contact}
    }
    payload = (await api.graphql(ADD, variables, as_user=CONTOSO_ADMIN)).data["addCustomer"]
    assert sorted(errors(payload)) == sorted(("INVALID_INPUT", ("input", *p)) for p in problems)
    assert await row_counts(api) == NOTHING


async def test_a_missing_contact_field_is_refused_by_the_schema(clean_api):
    api = clean_api
    variables = {
        "input": await add_input(
            api,
            location=SEATTLE,
            id_type="DOMAIN_NAME",
            id_value=NORTHWIND_DOMAIN,
            engagements=["copilot-readiness-assessment"],
            customer_contact={"firstName": "Nancy", "lastName": "Davolio"},
        )
    }
    response = await api.graphql(ADD, variables, as_user=CONTOSO_ADMIN)
    assert response.status in (200, 400)
    assert response.body.get("errors") and not (response.body.get("data") or {}).get("addCustomer")
    assert await row_counts(api) == NOTHING


@pytest.mark.parametrize(
    ("id_type", "value"),
    [
        ("DOMAIN_NAME", "http://northwindtraders.example"),
        ("TENANT_ID", "1524eee5"),
        ("TPID", "55-00101"),
        ("AZURE_SUBSCRIPTION_ID", "sub-1"),
        ("MSX_OPPORTUNITY_ID", "3FS2XQBWAO"),
    ],
)
async def test_a_malformed_identifier_makes_nothing(clean_api, id_type, value):
    payload = await add(
        clean_api,
        CONTOSO_ADMIN,
        location=SEATTLE,
        id_type=id_type,
        id_value=value,
        engagements=["copilot-readiness-assessment"],
    )
    assert errors(payload) == [("INVALID_ID_FORMAT", ("input", "customerIdValue"))]
    assert await row_counts(clean_api) == NOTHING


async def test_an_unknown_engagement_id_is_not_found_at_its_index(clean_api):
    api = clean_api
    variables = {
        "input": await add_input(
            api,
            location=SEATTLE,
            id_type="DOMAIN_NAME",
            id_value=NORTHWIND_DOMAIN,
            engagements=["copilot-readiness-assessment"],
        )
    }
    location = variables["input"]["locationId"]
    variables["input"]["engagementIds"] += [
        "RW5nYWdlbWVudDo5OTk5OTk",
        location,
    ]  # Engagement:999999, a location
    payload = (await api.graphql(ADD, variables, as_user=CONTOSO_ADMIN)).data["addCustomer"]
    assert errors(payload) == [
        ("NOT_FOUND", ("input", "engagementIds", "1")),
        ("NOT_FOUND", ("input", "engagementIds", "2")),
    ]
    assert await row_counts(api) == NOTHING


async def test_an_unknown_engagement_id_does_not_hide_the_other_problems(clean_api):
    api = clean_api
    variables = {
        "input": await add_input(
            api,
            location=SEATTLE,
            id_type="DOMAIN_NAME",
            id_value=NORTHWIND_DOMAIN,
            engagements=["copilot-readiness-assessment", "copilot-adoption-workshop"],
        )
    }
    variables["input"]["engagementIds"].insert(1, "RW5nYWdlbWVudDo5OTk5OTk")
    payload = (await api.graphql(ADD, variables, as_user=CONTOSO_ADMIN)).data["addCustomer"]
    # "Every problem found": the unknown ID and the workshop Northwind does not qualify for.
    assert errors(payload) == [
        ("NOT_FOUND", ("input", "engagementIds", "1")),
        ("CRITERIA_NOT_MET", ("input", "engagementIds", "2")),
    ]


async def test_an_engagement_chosen_twice_makes_one_claim(clean_api):
    payload = await add(
        clean_api,
        CONTOSO_ADMIN,
        location=SEATTLE,
        id_type="DOMAIN_NAME",
        id_value=NORTHWIND_DOMAIN,
        engagements=[
            "copilot-readiness-assessment",
            "teams-phone-deployment",
            "copilot-readiness-assessment",
        ],
    )
    assert payload["userErrors"] == []
    assert [c["engagement"]["key"] for c in payload["claims"]] == [
        "copilot-readiness-assessment",
        "teams-phone-deployment",
    ]
    assert await count_claims(clean_api) == 2


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"friendly_name": "x" * 201}, "friendlyName"),
        ({"tenantMismatchReason": "x" * 1001}, "tenantMismatchReason"),
    ],
)
async def test_overlong_text_is_invalid_input(clean_api, extra, field):
    payload = await add(
        clean_api,
        CONTOSO_ADMIN,
        location=SEATTLE,
        id_type="TENANT_ID",
        id_value=NORTHWIND_TENANT,
        engagements=["copilot-readiness-assessment"],
        customer_contact=contact("cio@elsewhere.example"),
        **extra,
    )
    assert ("INVALID_INPUT", ("input", field)) in errors(payload)
    assert await row_counts(clean_api) == NOTHING


async def test_an_overlong_idempotency_key_is_invalid_input(clean_api):
    payload = await add(
        clean_api,
        CONTOSO_ADMIN,
        location=SEATTLE,
        id_type="DOMAIN_NAME",
        id_value=NORTHWIND_DOMAIN,
        engagements=["copilot-readiness-assessment"],
        idempotencyKey="k" * 201,
    )
    assert errors(payload) == [("INVALID_INPUT", ("input", "idempotencyKey"))]
    assert await row_counts(clean_api) == NOTHING


async def test_no_engagement_chosen_is_a_user_error(clean_api):
    payload = await add(
        clean_api,
        CONTOSO_ADMIN,
        location=SEATTLE,
        id_type="DOMAIN_NAME",
        id_value=NORTHWIND_DOMAIN,
        engagements=[],
    )
    assert errors(payload) == [("INVALID_INPUT", ("input", "engagementIds"))]
    assert payload["claims"] == []
    assert await row_counts(clean_api) == NOTHING


@pytest.mark.parametrize(
    ("keys", "hours", "expected"),
    [
        (
            ["azure-migrate-and-modernize", "sap-on-azure-migration"],
            10,
            [("SINGLE_ENGAGEMENT_FOR_VARIABLE_PAY", ("input", "engagementIds"))],
        ),
        (
            ["azure-migrate-and-modernize", "copilot-readiness-assessment"],
            10,
            [("MIXED_PAY_TYPES", ("input", "engagementIds"))],
        ),
        (["azure-migrate-and-modernize"], None, [("HOURS_REQUIRED", ("input", "hours"))]),
        (["azure-migrate-and-modernize"], 0, [("HOURS_OUT_OF_RANGE", ("input", "hours"))]),
        (["azure-migrate-and-modernize"], -1, [("HOURS_OUT_OF_RANGE", ("input", "hours"))]),
        (["azure-migrate-and-modernize"], 201, [("HOURS_OUT_OF_RANGE", ("input", "hours"))]),  # maxHours 200
        (["copilot-readiness-assessment"], 10, [("HOURS_NOT_ALLOWED", ("input", "hours"))]),
    ],
)
async def test_variable_pay_rules(clean_api, keys, hours, expected):
    api = clean_api
    payload = await add(
        api,
        CONTOSO_ADMIN,
        location=SEATTLE,
        id_type="MSX_OPPORTUNITY_ID",
        id_value=NORTHWIND_OPPORTUNITY,
        engagements=keys,
        hours=hours,
    )
    assert errors(payload) == expected
    assert await row_counts(api) == NOTHING


async def test_the_most_hours_allowed_are_accepted(clean_api):
    payload = await add(
        clean_api,
        CONTOSO_ADMIN,
        location=SEATTLE,
        id_type="MSX_OPPORTUNITY_ID",
        id_value=NORTHWIND_OPPORTUNITY,
        engagements=["azure-migrate-and-modernize"],
        hours=ENGAGEMENTS["azure-migrate-and-modernize"]["maxHours"],
    )
    assert payload["userErrors"] == []
    assert payload["claims"][0]["hours"] == 200
    assert payload["claims"][0]["proposedPayout"]["amount"] == "12500.00"  # 5% of 250 000 < 200 x 150


async def test_a_tenant_id_that_does_not_match_the_email_needs_a_reason(clean_api):
    api = clean_api
    arguments = {
        "location": SEATTLE,
        "id_type": "TENANT_ID",
        "id_value": NORTHWIND_TENANT,
        "engagements": ["copilot-readiness-assessment", "teams-phone-deployment"],
        "customer_contact": contact("cio@contoso-holding.example"),
    }
    for reason in (None, "   "):
        payload = await add(api, CONTOSO_ADMIN, **arguments, tenantMismatchReason=reason)
        assert errors(payload) == [("TENANT_MISMATCH_REASON_REQUIRED", ("input", "tenantMismatchReason"))]
        assert await row_counts(api) == NOTHING

    payload = await add(
        api, CONTOSO_ADMIN, **arguments, tenantMismatchReason="  The holding's IT signs for Northwind.  "
    )
    assert payload["userErrors"] == []
    assert [c["tenantMismatchReason"] for c in payload["claims"]] == [
        "The holding's IT signs for Northwind."
    ] * 2


async def test_a_matching_email_needs_no_reason_and_stores_none(clean_api):
    payload = await add(
        clean_api,
        CONTOSO_ADMIN,
        location=SEATTLE,
        id_type="TENANT_ID",
        id_value=NORTHWIND_TENANT,
        engagements=["copilot-readiness-assessment"],
        customer_contact=contact("cio@NorthwindTraders.example"),
        tenantMismatchReason="not needed",
    )
    assert payload["userErrors"] == []
    assert payload["claims"][0]["tenantMismatchReason"] is None


@pytest.mark.parametrize(
    ("id_type", "value"),
    [
        ("DOMAIN_NAME", NORTHWIND_DOMAIN),
        ("TPID", NORTHWIND_TPID),
        ("AZURE_SUBSCRIPTION_ID", NORTHWIND_SUBSCRIPTION),
        ("MSX_OPPORTUNITY_ID", NORTHWIND_OPPORTUNITY),
    ],
)
async def test_every_id_type_needs_a_mismatch_reason_when_the_contact_is_elsewhere(clean_api, id_type, value):
    """DOMAIN.md, the consent recipient: the rule of the tenant ID holds for every identifier type, on its
    tenant's domains (a TPID: any tenant under it; an opportunity: its tenant)."""
    api = clean_api
    engagement = {
        "DOMAIN_NAME": "copilot-readiness-assessment",
        "TPID": "defender-for-cloud-deployment",
        "AZURE_SUBSCRIPTION_ID": "defender-for-cloud-deployment",
        "MSX_OPPORTUNITY_ID": "azure-migrate-and-modernize",
    }[id_type]
    arguments = {
        "location": SEATTLE,
        "id_type": id_type,
        "id_value": value,
        "engagements": [engagement],
        **({"hours": 40} if id_type == "MSX_OPPORTUNITY_ID" else {}),
    }
    elsewhere = await add(api, CONTOSO_ADMIN, **arguments, customer_contact=contact("cio@elsewhere.example"))
    assert errors(elsewhere) == [("TENANT_MISMATCH_REASON_REQUIRED", ("input", "tenantMismatchReason"))]
    assert await row_counts(api) == NOTHING
    reason = "The holding's IT signs for Northwind."
    kept = await add(
        api,
        CONTOSO_ADMIN,
        **arguments,
        customer_contact=contact("cio@elsewhere.example"),
        tenantMismatchReason=reason,
    )
    assert kept["userErrors"] == []
    assert kept["claims"][0]["tenantMismatchReason"] == reason
    await wipe_nominations(api)
    at_home = await add(
        api, CONTOSO_ADMIN, **arguments, customer_contact=contact("cio@mail.northwind.example")
    )
    assert at_home["userErrors"] == []
    assert at_home["claims"][0]["tenantMismatchReason"] is None


async def test_the_same_identifier_twice_by_the_same_partner_reaches_the_limit(clean_api):
    api = clean_api
    first = await add(
        api,
        CONTOSO_ADMIN,
        location=SEATTLE,
        id_type="DOMAIN_NAME",
        id_value=NORTHWIND_DOMAIN,
        engagements=["copilot-readiness-assessment"],
    )
    assert first["userErrors"] == []
    # Again, from another location, by its other domain, and by its tenant ID: one identifier for limits.
    for location, id_type, value in [
        (SEATTLE, "DOMAIN_NAME", NORTHWIND_DOMAIN),
        (TORONTO, "DOMAIN_NAME", NORTHWIND_DOMAIN),
        (SEATTLE, "DOMAIN_NAME", NORTHWIND_OTHER_DOMAIN),
        (SEATTLE, "TENANT_ID", NORTHWIND_TENANT),
    ]:
        again = await add(
            api,
            CONTOSO_ADMIN,
            location=location,
            id_type=id_type,
            id_value=value,
            engagements=["copilot-readiness-assessment"],
        )
        assert errors(again) == [("ALREADY_CLAIMED_BY_YOU", ("input", "engagementIds", "0"))], (
            location,
            value,
        )
        assert "you already have an active claim" in again["userErrors"][0]["message"]
        answer = await preview(api, CONTOSO_ADMIN, location=location, id_type=id_type, id_value=value)
        assert verdicts(answer)["copilot-readiness-assessment"] == ["ALREADY_CLAIMED_BY_YOU"]
    assert await count_claims(api) == 1
    # The limit is per engagement: the same customer can be added for another one.
    other = await add(
        api,
        CONTOSO_ADMIN,
        location=SEATTLE,
        id_type="TENANT_ID",
        id_value=NORTHWIND_TENANT,
        engagements=["teams-phone-deployment"],
    )
    assert other["userErrors"] == []
    assert await count_claims(api) == 2


async def test_a_tenant_id_first_then_its_domain_count_as_one_identifier(clean_api):
    api = clean_api
    first = await add(
        api,
        FABRIKAM_ADMIN,
        location=BERLIN,
        id_type="TENANT_ID",
        id_value=NORTHWIND_TENANT,
        engagements=["copilot-readiness-assessment"],
    )
    assert first["userErrors"] == []
    second = await add(
        api,
        CONTOSO_ADMIN,
        location=SEATTLE,
        id_type="DOMAIN_NAME",
        id_value=NORTHWIND_OTHER_DOMAIN,
        engagements=["copilot-readiness-assessment"],
    )
    assert errors(second) == [("CLAIM_LIMIT_REACHED", ("input", "engagementIds", "0"))]


async def test_limits_count_across_partners(clean_api):
    api = clean_api
    first = await add(
        api,
        CONTOSO_ADMIN,
        location=SEATTLE,
        id_type="DOMAIN_NAME",
        id_value=NORTHWIND_DOMAIN,
        engagements=["copilot-readiness-assessment", "security-posture-assessment"],
    )
    assert first["userErrors"] == []
    theirs = await add(
        api,
        FABRIKAM_ADMIN,
        location=BERLIN,
        id_type="DOMAIN_NAME",
        id_value=NORTHWIND_DOMAIN,
        engagements=["copilot-readiness-assessment", "security-posture-assessment"],
    )
    assert errors(theirs) == [
        ("CLAIM_LIMIT_REACHED", ("input", "engagementIds", "0")),
        ("CLAIM_LIMIT_REACHED", ("input", "engagementIds", "1")),
    ]
    answer = await preview(
        api, FABRIKAM_ADMIN, location=BERLIN, id_type="TENANT_ID", id_value=NORTHWIND_TENANT
    )
    assert verdicts(answer)["copilot-readiness-assessment"] == ["CLAIM_LIMIT_REACHED"]
    assert await count_claims(api) == 2


async def test_an_engagement_allowing_two_active_claims_takes_a_second_partner_not_a_third(clean_api):
    api = clean_api
    key = "data-ai-envisioning-workshop"
    assert ENGAGEMENTS[key]["maxActiveClaimsPerCustomer"] == 2
    arguments = {"id_type": "TPID", "id_value": NORTHWIND_TPID, "engagements": [key]}
    assert (await add(api, CONTOSO_ADMIN, location=SEATTLE, **arguments))["userErrors"] == []
    # The same partner again: add or claim, one active claim per partner, whatever the limit.
    again = await add(api, CONTOSO_ADMIN, location=TORONTO, **arguments)
    assert errors(again) == [("ALREADY_CLAIMED_BY_YOU", ("input", "engagementIds", "0"))]
    assert (await add(api, FABRIKAM_ADMIN, location=BERLIN, **arguments))["userErrors"] == []
    third = await add(api, LITWARE_ADMIN, location=CHICAGO, **arguments)
    assert errors(third) == [("CLAIM_LIMIT_REACHED", ("input", "engagementIds", "0"))]
    answer = await preview(api, LITWARE_ADMIN, location=CHICAGO, id_type="TPID", id_value=NORTHWIND_TPID)
    assert verdicts(answer)[key] == ["CLAIM_LIMIT_REACHED"]
    assert await count_claims(api) == 2
    # No cascading: the organisation's tenant ID is another identifier, with limits of its own.
    by_tenant = await add(
        api,
        LITWARE_ADMIN,
        location=CHICAGO,
        id_type="TENANT_ID",
        id_value=NORTHWIND_TENANT,
        engagements=[key],
    )
    assert by_tenant["userErrors"] == []


async def test_a_completed_engagement_counts_against_the_completed_limit_not_the_active_one(clean_api):
    api = clean_api
    keys = ["copilot-readiness-assessment", "teams-phone-deployment"]
    assert [ENGAGEMENTS[k]["maxCompletedClaimsPerCustomer"] for k in keys] == [1, 2]
    first = await add(
        api, CONTOSO_ADMIN, location=SEATTLE, id_type="TENANT_ID", id_value=NORTHWIND_TENANT, engagements=keys
    )
    assert first["userErrors"] == []
    # Review is another use case: the test approves both claims directly in the database.
    for claim in first["claims"]:
        await set_status(api, claim["id"], "APPROVED")

    answer = await preview(
        api, LITWARE_ADMIN, location=CHICAGO, id_type="DOMAIN_NAME", id_value=NORTHWIND_DOMAIN
    )
    assert verdicts(answer)["copilot-readiness-assessment"] == ["ALREADY_PARTICIPATED"]
    assert verdicts(answer)["teams-phone-deployment"] == []  # completed once, twice allowed; none active
    payload = await add(
        api,
        LITWARE_ADMIN,
        location=CHICAGO,
        id_type="DOMAIN_NAME",
        id_value=NORTHWIND_DOMAIN,
        engagements=keys,
    )
    assert errors(payload) == [("ALREADY_PARTICIPATED", ("input", "engagementIds", "0"))]
    payload = await add(
        api,
        LITWARE_ADMIN,
        location=CHICAGO,
        id_type="DOMAIN_NAME",
        id_value=NORTHWIND_DOMAIN,
        engagements=keys[1:],
    )
    assert payload["userErrors"] == []


async def test_a_location_scoped_user_adds_only_at_its_locations(clean_api):
    api = clean_api
    arguments = {
        "id_type": "DOMAIN_NAME",
        "id_value": NORTHWIND_DOMAIN,
        "engagements": ["copilot-readiness-assessment"],
    }
    refused = await add(api, CONTOSO_SELLER, location=SEATTLE, **arguments)
    assert errors(refused) == [("NOT_FOUND", ("input", "locationId"))]
    assert await row_counts(api) == NOTHING

    made = await add(api, CONTOSO_SELLER, location=TORONTO, **arguments)
    assert made["userErrors"] == []
    assert made["claims"][0]["location"]["locationId"] == TORONTO
    assert made["claims"][0]["history"]["edges"][0]["node"]["actor"]["name"] == "Alex Wilber"


async def test_another_partners_locations_look_missing(clean_api):
    api = clean_api
    for user, location in [(CONTOSO_ADMIN, BERLIN), (FABRIKAM_ADMIN, SEATTLE), (CONTOSO_ADMIN, CHICAGO)]:
        payload = await add(
            api,
            user,
            location=location,
            id_type="DOMAIN_NAME",
            id_value=NORTHWIND_DOMAIN,
            engagements=["copilot-readiness-assessment"],
        )
        assert errors(payload) == [("NOT_FOUND", ("input", "locationId"))], (user, location)
    assert await row_counts(api) == NOTHING


async def test_adding_needs_a_token(clean_api):
    api = clean_api
    variables = {
        "input": await add_input(
            api,
            location=SEATTLE,
            id_type="DOMAIN_NAME",
            id_value=NORTHWIND_DOMAIN,
            engagements=["copilot-readiness-assessment"],
        )
    }
    response = await api.graphql(ADD, variables)
    assert response.error_codes == ["UNAUTHENTICATED"]
    assert await row_counts(api) == NOTHING


async def test_the_same_idempotency_key_and_input_returns_the_first_result(clean_api):
    api = clean_api
    arguments = {
        "location": SEATTLE,
        "id_type": "DOMAIN_NAME",
        "id_value": NORTHWIND_DOMAIN,
        "engagements": ["copilot-readiness-assessment", "teams-phone-deployment"],
        "idempotencyKey": "add-northwind-1",
    }
    first = await add(api, CONTOSO_ADMIN, **arguments)
    assert first["userErrors"] == []
    counts = await row_counts(api)
    for _ in range(2):
        again = await add(api, CONTOSO_ADMIN, **arguments)
        assert again["userErrors"] == []
        assert again["customer"]["id"] == first["customer"]["id"]
        assert [(c["id"], c["claimNumber"]) for c in again["claims"]] == [
            (c["id"], c["claimNumber"]) for c in first["claims"]
        ]
    assert await row_counts(api) == counts


async def test_the_same_idempotency_key_with_another_input_is_refused(clean_api):
    api = clean_api
    arguments = {
        "location": SEATTLE,
        "id_type": "DOMAIN_NAME",
        "id_value": NORTHWIND_DOMAIN,
        "engagements": ["copilot-readiness-assessment"],
        "idempotencyKey": "add-northwind-2",
    }
    assert (await add(api, CONTOSO_ADMIN, **arguments))["userErrors"] == []
    counts = await row_counts(api)
    for changed in (
        {"friendly_name": "Another name"},
        {"engagements": ["teams-phone-deployment"]},
        {"id_value": ADATUM_DOMAIN},
    ):
        payload = await add(api, CONTOSO_ADMIN, **(arguments | changed))
        assert errors(payload) == [("IDEMPOTENCY_KEY_REUSED", ("input", "idempotencyKey"))], changed
        assert payload["claims"] == [] and payload["customer"] is None
    assert await row_counts(api) == counts


async def test_an_idempotency_key_belongs_to_its_user(clean_api):
    api = clean_api
    key = "add-northwind-3"
    mine = await add(
        api,
        CONTOSO_ADMIN,
        location=SEATTLE,
        id_type="DOMAIN_NAME",
        id_value=NORTHWIND_DOMAIN,
        engagements=["copilot-readiness-assessment"],
        idempotencyKey=key,
    )
    assert mine["userErrors"] == []
    # Another user with the same key and another input: a new request of its own, not a reuse.
    sellers = await add(
        api,
        CONTOSO_SELLER,
        location=TORONTO,
        id_type="DOMAIN_NAME",
        id_value=ADATUM_DOMAIN,
        engagements=["copilot-readiness-assessment"],
        customer_contact=contact("it@adatum.example"),
        idempotencyKey=key,
    )
    assert sellers["userErrors"] == []
    assert {c["id"] for c in sellers["claims"]}.isdisjoint({c["id"] for c in mine["claims"]})
    # Another user with the same key and the very same input: not a replay of the admin's result either.
    adeles = await add(
        api,
        ADELE,
        location=SEATTLE,
        id_type="DOMAIN_NAME",
        id_value=NORTHWIND_DOMAIN,
        engagements=["copilot-readiness-assessment"],
        idempotencyKey=key,
    )
    assert errors(adeles) == [("ALREADY_CLAIMED_BY_YOU", ("input", "engagementIds", "0"))]
    assert await count_claims(api) == 2


async def test_a_failed_request_does_not_use_up_its_idempotency_key(clean_api):
    api = clean_api
    arguments = {
        "location": SEATTLE,
        "id_type": "DOMAIN_NAME",
        "id_value": NORTHWIND_DOMAIN,
        "engagements": ["copilot-readiness-assessment"],
        "idempotencyKey": "add-northwind-4",
    }
    failed = await add(api, CONTOSO_ADMIN, **arguments, customer_contact=contact("nancy"))
    assert errors(failed) == [("INVALID_INPUT", ("input", "customerContact", "email"))]
    fixed = await add(api, CONTOSO_ADMIN, **arguments)
    assert fixed["userErrors"] == []
    assert await count_claims(api) == 1


async def test_ids_in_the_payload_are_the_clients_to_read(clean_api):
    """What a client does next: read the customer and the claims back through node/nodes."""
    api = clean_api
    payload = await add(
        api,
        CONTOSO_ADMIN,
        location=SEATTLE,
        id_type="DOMAIN_NAME",
        id_value=NORTHWIND_DOMAIN,
        engagements=["copilot-readiness-assessment"],
    )
    ids = [payload["customer"]["id"], payload["claims"][0]["id"]]
    query = "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }"
    mine = (await api.graphql(query, {"ids": ids}, as_user=CONTOSO_ADMIN)).data["nodes"]
    assert [(n["__typename"], n["id"]) for n in mine] == [("Customer", ids[0]), ("Claim", ids[1])]
    theirs = (await api.graphql(query, {"ids": ids}, as_user=FABRIKAM_ADMIN)).data["nodes"]
    assert theirs == [None, None]
    # The seller (Toronto only) knows the account's customers but not Seattle's claims.
    sellers = (await api.graphql(query, {"ids": ids}, as_user=CONTOSO_SELLER)).data["nodes"]
    assert sellers[0] == {"__typename": "Customer", "id": ids[0]} and sellers[1] is None
