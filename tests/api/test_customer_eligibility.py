"""customerEligibility, the add-customer preview: for an identifier and a location, every engagement's verdict."""

from datetime import datetime

import pytest

from tests.api.nominating import (
    ENGAGEMENTS,
    PREVIEW,
    expected_payout,
    global_ids,
    market_of,
    opportunity,
    preview,
    verdicts,
)
from tests.demo import (
    ADATUM_OPPORTUNITY,
    BERLIN,
    CONTOSO_ADMIN,
    CONTOSO_SELLER,
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
    TAILWIND_OPPORTUNITY,
    TORONTO,
)

CRITERIA = ["CRITERIA_NOT_MET"]
CLOSED = ["ENGAGEMENT_CLOSED"]
NOT_ALLOWED = ["ID_TYPE_NOT_ALLOWED"]


def _only(eligible: set[str], **ineligible: list[str]) -> dict[str, list[str]]:
    """Every engagement's expected reasons, closing dates aside: those named in `ineligible` (key with _ for -),
    [] for `eligible`, ID_TYPE_NOT_ALLOWED for the rest."""
    named = {key.replace("_", "-"): reasons for key, reasons in ineligible.items()}
    return {key: [] if key in eligible else named.get(key, NOT_ALLOWED) for key in ENGAGEMENTS}


def _closing(expected: dict[str, list[str]], now: datetime) -> dict[str, list[str]]:
    """ENGAGEMENT_CLOSED first for each engagement whose claimsOpenUntil (demo data) has passed at `now`."""
    closed = {
        key
        for key, e in ENGAGEMENTS.items()
        if e["claimsOpenUntil"] and datetime.fromisoformat(e["claimsOpenUntil"]) < now
    }
    return {key: (CLOSED if key in closed else []) + reasons for key, reasons in expected.items()}


# Northwind Traders (US, Enterprise) from Seattle (US, enrolled, eligible for every engagement), by each ID type.
BY_ID_TYPE = {
    "DOMAIN_NAME": (
        NORTHWIND_DOMAIN,
        _only(
            {
                "copilot-readiness-assessment",
                "security-posture-assessment",
                "teams-phone-deployment",
                "purview-data-security-deployment",
            },
            copilot_adoption_workshop=CRITERIA,  # SMB and Corporate only
            threat_protection_workshop=[],  # accepts domains, but closed (since 2025)
            copilot_studio_agent_pilot=CRITERIA,  # SMB only
        ),
    ),
    "TENANT_ID": (
        NORTHWIND_TENANT,
        _only(
            {
                "copilot-readiness-assessment",
                "security-posture-assessment",
                "data-ai-envisioning-workshop",
                "teams-phone-deployment",
                "azure-virtual-desktop-deployment",
                "purview-data-security-deployment",
            },
            copilot_adoption_workshop=CRITERIA,
            threat_protection_workshop=[],
            copilot_studio_agent_pilot=CRITERIA,
        ),
    ),
    "TPID": (
        NORTHWIND_TPID,
        _only(
            {
                "security-posture-assessment",
                "data-ai-envisioning-workshop",
                "defender-for-cloud-deployment",
                "purview-data-security-deployment",
            },
            copilot_studio_agent_pilot=CRITERIA,
        ),
    ),
    "AZURE_SUBSCRIPTION_ID": (
        NORTHWIND_SUBSCRIPTION,
        _only(
            {
                "azure-landing-zone-quick-start",
                "defender-for-cloud-deployment",
                "azure-virtual-desktop-deployment",
            }
        ),
    ),
    "MSX_OPPORTUNITY_ID": (
        NORTHWIND_OPPORTUNITY,  # deal size 250 000
        _only(
            {"azure-migrate-and-modernize", "sap-on-azure-migration"},  # minimums 50 000 and 250 000
            fabric_analytics_platform=CRITERIA,  # minimum 500 000
            mainframe_modernization=CRITERIA,  # minimum 1 000 000
            azure_migrate_emea=CRITERIA,  # customers in GB, DE and FR only
        ),
    ),
}


def _expected(api, id_type: str) -> dict[str, list[str]]:
    return _closing(BY_ID_TYPE[id_type][1], api.clock.now())


@pytest.mark.parametrize("id_type", list(BY_ID_TYPE))
async def test_a_valid_identifier_of_each_type_gets_a_verdict_on_every_engagement(clean_api, id_type):
    api = clean_api  # verdicts depend on the claims that exist: none
    value, _ = BY_ID_TYPE[id_type]
    expected = _expected(api, id_type)
    answer = await preview(api, CONTOSO_ADMIN, location=SEATTLE, id_type=id_type, id_value=value)
    assert answer["userErrors"] == []
    assert answer["customerIdType"] == id_type
    assert answer["customerIdValue"] == value
    assert answer["customerName"] == "Northwind Traders"
    assert answer["resolvedTenantId"] == NORTHWIND_TENANT
    assert verdicts(answer) == expected
    assert all(v["reasons"] == [] for v in answer["eligibleEngagements"])
    assert all(v["reasons"] for v in answer["ineligibleEngagements"])
    assert len(answer["eligibleEngagements"]) + len(answer["ineligibleEngagements"]) == len(ENGAGEMENTS)


async def test_a_domain_resolves_to_its_tenant_and_is_normalised(clean_api):
    api = clean_api  # verdicts depend on the claims that exist: none
    answer = await preview(
        api, CONTOSO_ADMIN, location=SEATTLE, id_type="DOMAIN_NAME", id_value="  NorthWind.Example. "
    )
    assert answer["customerIdValue"] == NORTHWIND_OTHER_DOMAIN
    assert answer["resolvedTenantId"] == NORTHWIND_TENANT
    assert verdicts(answer) == _expected(api, "DOMAIN_NAME")  # the tenant's facts, whichever of its domains


@pytest.mark.parametrize(
    ("id_type", "value", "normalised"),
    [
        ("TENANT_ID", "{" + NORTHWIND_TENANT.upper() + "}", NORTHWIND_TENANT),
        ("AZURE_SUBSCRIPTION_ID", NORTHWIND_SUBSCRIPTION.upper(), NORTHWIND_SUBSCRIPTION),
        ("TPID", "00" + NORTHWIND_TPID, NORTHWIND_TPID),
        ("MSX_OPPORTUNITY_ID", NORTHWIND_OPPORTUNITY.lower(), NORTHWIND_OPPORTUNITY),
    ],
)
async def test_identifiers_typed_another_way_are_the_same_identifier(clean_api, id_type, value, normalised):
    api = clean_api  # verdicts depend on the claims that exist: none
    answer = await preview(api, CONTOSO_ADMIN, location=SEATTLE, id_type=id_type, id_value=value)
    assert answer["customerIdValue"] == normalised
    assert verdicts(answer) == _expected(api, id_type)


@pytest.mark.parametrize(
    ("id_type", "value"),
    [
        ("DOMAIN_NAME", "unknown-customer.example"),
        ("TENANT_ID", "00000000-0000-4000-8000-000000000000"),
        ("TPID", "999999999999"),
        ("AZURE_SUBSCRIPTION_ID", "00000000-0000-4000-8000-000000000001"),
        ("MSX_OPPORTUNITY_ID", "7-NOSUCHOPP1"),
    ],
)
async def test_an_unknown_identifier_is_not_found_where_its_type_is_accepted(clean_api, id_type, value):
    api = clean_api  # verdicts depend on the claims that exist: none
    answer = await preview(api, CONTOSO_ADMIN, location=SEATTLE, id_type=id_type, id_value=value)
    assert answer["userErrors"] == []
    assert answer["customerName"] is None and answer["resolvedTenantId"] is None
    assert answer["eligibleEngagements"] == []
    expected = _closing(
        {
            key: ["IDENTIFIER_NOT_FOUND"]
            if id_type in e["allowedCustomerIdTypes"]
            else ["ID_TYPE_NOT_ALLOWED"]
            for key, e in ENGAGEMENTS.items()
        },
        api.clock.now(),
    )
    assert verdicts(answer) == expected


@pytest.mark.parametrize(
    ("id_type", "value", "engagement", "why"),
    [
        ("TENANT_ID", PROSEWARE_TENANT, "security-posture-assessment", "country IN is not accepted"),
        ("TENANT_ID", PROSEWARE_TENANT, "purview-data-security-deployment", "country IN is not accepted"),
        ("TENANT_ID", NORTHWIND_TENANT, "copilot-adoption-workshop", "segment Enterprise is not accepted"),
        ("MSX_OPPORTUNITY_ID", RELECLOUD_LOST_OPPORTUNITY, "azure-migrate-and-modernize", "lost opportunity"),
        ("MSX_OPPORTUNITY_ID", TAILWIND_OPPORTUNITY, "azure-migrate-and-modernize", "deal 20 000 < 50 000"),
        ("MSX_OPPORTUNITY_ID", NORTHWIND_OPPORTUNITY, "fabric-analytics-platform", "deal 250 000 < 500 000"),
    ],
)
async def test_criteria_not_met(clean_api, id_type, value, engagement, why):
    api = clean_api  # verdicts depend on the claims that exist: none
    answer = await preview(api, CONTOSO_ADMIN, location=SEATTLE, id_type=id_type, id_value=value)
    assert verdicts(answer)[engagement] == ["CRITERIA_NOT_MET"], why


async def test_a_deal_exactly_at_the_minimum_is_eligible(clean_api):
    api = clean_api  # verdicts depend on the claims that exist: none
    # SAP on Azure Migration's minimum deal size is 250 000, Northwind's opportunity is 250 000.
    answer = await preview(
        api, CONTOSO_ADMIN, location=SEATTLE, id_type="MSX_OPPORTUNITY_ID", id_value=NORTHWIND_OPPORTUNITY
    )
    assert verdicts(answer)["sap-on-azure-migration"] == []


async def test_the_closed_engagement_is_closed_to_everyone(clean_api):
    api = clean_api  # verdicts depend on the claims that exist: none
    answer = await preview(
        api, CONTOSO_ADMIN, location=SEATTLE, id_type="TENANT_ID", id_value=NORTHWIND_TENANT
    )
    assert verdicts(answer)["threat-protection-workshop"] == ["ENGAGEMENT_CLOSED"]


async def test_an_unenrolled_location_can_earn_on_nothing(clean_api):
    api = clean_api  # verdicts depend on the claims that exist: none
    answer = await preview(
        api, CONTOSO_ADMIN, location=MEXICO_CITY, id_type="TENANT_ID", id_value=NORTHWIND_TENANT
    )
    # Reported once, on the location; every verdict still names it, so none is offered.
    assert [(e["code"], e["field"]) for e in answer["userErrors"]] == [
        ("LOCATION_NOT_ENROLLED", ["input", "locationId"])
    ]
    assert answer["eligibleEngagements"] == []
    expected = _expected(api, "TENANT_ID")
    for key, reasons in verdicts(answer).items():
        # Mexico City is in no engagement's eligible locations either; the location's reasons come first.
        assert reasons[:2] == ["LOCATION_NOT_ENROLLED", "LOCATION_NOT_ELIGIBLE"], key
        assert reasons[2:] == expected[key], key


async def test_an_enrolled_location_is_refused_where_it_is_not_eligible(clean_api):
    api = clean_api  # verdicts depend on the claims that exist: none
    answer = await preview(
        api, CONTOSO_ADMIN, location=TORONTO, id_type="TENANT_ID", id_value=NORTHWIND_TENANT
    )
    found, expected = verdicts(answer), _expected(api, "TENANT_ID")
    for key, engagement in ENGAGEMENTS.items():
        location_side = [] if TORONTO in engagement["eligibleLocationIds"] else ["LOCATION_NOT_ELIGIBLE"]
        assert found[key] == location_side + expected[key], key
    assert found["security-posture-assessment"] == ["LOCATION_NOT_ELIGIBLE"]
    assert found["copilot-readiness-assessment"] == []
    assert (
        answer["userErrors"] == []
    )  # enrolled: eligibility for each engagement is that engagement's verdict


@pytest.mark.parametrize(
    ("email", "required"),
    [
        ("cio@northwind.example", False),  # one of the tenant's domains
        ("CIO@NorthwindTraders.Example", False),  # the other one, any case
        ("it@mail.northwindtraders.example", False),  # a subdomain of one
        ("cio@adatum.example", True),  # another tenant's domain
        ("cio@northwind.example.evil", True),
        ("not an email", True),  # no match to show
        (None, None),  # DOMAIN.md: null until the customer email is given
        ("", None),
    ],
)
async def test_a_tenant_id_needs_a_mismatch_reason_unless_the_email_is_the_tenants(
    clean_api, email, required
):
    api = clean_api  # verdicts depend on the claims that exist: none
    answer = await preview(
        api,
        CONTOSO_ADMIN,
        location=SEATTLE,
        id_type="TENANT_ID",
        id_value=NORTHWIND_TENANT,
        customerEmail=email,
    )
    assert answer["tenantMismatchReasonRequired"] is required


@pytest.mark.parametrize(
    ("id_type", "value"),
    [
        ("DOMAIN_NAME", NORTHWIND_DOMAIN),
        ("TPID", NORTHWIND_TPID),
        ("AZURE_SUBSCRIPTION_ID", NORTHWIND_SUBSCRIPTION),
        ("MSX_OPPORTUNITY_ID", NORTHWIND_OPPORTUNITY),
    ],
)
async def test_every_id_type_needs_a_mismatch_reason_unless_the_email_is_its_tenants(
    clean_api, id_type, value
):
    """The generalised rule (DOMAIN.md, the consent recipient): on the tenant's domains for every type."""
    api = clean_api  # verdicts depend on the claims that exist: none
    for email, required in [
        ("someone@elsewhere.example", True),
        ("cio@northwind.example", False),
        ("it@mail.northwindtraders.example", False),
        (None, None),
    ]:
        answer = await preview(
            api, CONTOSO_ADMIN, location=SEATTLE, id_type=id_type, id_value=value, customerEmail=email
        )
        assert answer["tenantMismatchReasonRequired"] is required, email
        assert answer["userErrors"] == []


@pytest.mark.parametrize(
    ("msx_id", "hours", "bound"),
    [
        (NORTHWIND_OPPORTUNITY, 40, "hours x rate"),  # 40 x 150 = 6 000
        (NORTHWIND_OPPORTUNITY, 120, "percent of deal"),  # 5% of 250 000 = 12 500 < 18 000
        (ADATUM_OPPORTUNITY, 200, "cap"),  # 200 x 150 = 30 000, 5% of 1 200 000 = 60 000, cap 25 000
    ],
)
async def test_the_proposed_payout_is_the_smallest_of_the_three_figures(clean_api, msx_id, hours, bound):
    api = clean_api  # verdicts depend on the claims that exist: none
    answer = await preview(
        api, CONTOSO_ADMIN, location=SEATTLE, id_type="MSX_OPPORTUNITY_ID", id_value=msx_id, hours=hours
    )
    deal_size = opportunity(msx_id)["dealSize"]
    payouts = {
        v["engagement"]["key"]: v["proposedPayout"]
        for v in answer["eligibleEngagements"] + answer["ineligibleEngagements"]
    }
    expected = expected_payout("azure-migrate-and-modernize", market_of(SEATTLE), hours, deal_size)
    assert payouts["azure-migrate-and-modernize"] == {"amount": expected, "currency": "USD"}, bound
    assert {
        "hours x rate": "6000.00",
        "percent of deal": "12500.00",
        "cap": "25000.00",
    }[bound] == expected
    for key in payouts:
        if ENGAGEMENTS[key]["payType"] == "FIXED":
            assert payouts[key] is None, key


async def test_every_eligible_variable_engagement_gets_its_own_payout(clean_api):
    api = clean_api  # verdicts depend on the claims that exist: none
    answer = await preview(
        api,
        CONTOSO_ADMIN,
        location=SEATTLE,
        id_type="MSX_OPPORTUNITY_ID",
        id_value=NORTHWIND_OPPORTUNITY,
        hours=100,
    )
    deal_size = opportunity(NORTHWIND_OPPORTUNITY)["dealSize"]
    payouts = {v["engagement"]["key"]: v["proposedPayout"] for v in answer["eligibleEngagements"]}
    assert set(payouts) == {"azure-migrate-and-modernize", "sap-on-azure-migration"}
    for key, payout in payouts.items():
        assert payout == {"amount": expected_payout(key, "A", 100, deal_size), "currency": "USD"}, key
    assert payouts["sap-on-azure-migration"]["amount"] == "10000.00"  # 4% of 250 000 < 100 x 175 < 60 000


async def test_no_payout_without_hours(clean_api):
    api = clean_api  # verdicts depend on the claims that exist: none
    answer = await preview(
        api, CONTOSO_ADMIN, location=SEATTLE, id_type="MSX_OPPORTUNITY_ID", id_value=NORTHWIND_OPPORTUNITY
    )
    assert answer["userErrors"] == []
    migrate = next(
        v for v in answer["eligibleEngagements"] if v["engagement"]["key"] == "azure-migrate-and-modernize"
    )
    assert migrate["proposedPayout"] is None


@pytest.mark.parametrize(
    ("hours", "out_of_range"),
    [
        (0, {"azure-migrate-and-modernize", "sap-on-azure-migration", "fabric-analytics-platform",
             "mainframe-modernization", "azure-migrate-emea"}),
        (-5, {"azure-migrate-and-modernize", "sap-on-azure-migration", "fabric-analytics-platform",
              "mainframe-modernization", "azure-migrate-emea"}),
        (201, {"azure-migrate-and-modernize", "azure-migrate-emea"}),  # maxHours 200; the others allow more
        (801, {"azure-migrate-and-modernize", "azure-migrate-emea", "sap-on-azure-migration",
               "fabric-analytics-platform"}),
    ],
)  # fmt: skip
async def test_hours_out_of_range_are_a_user_error_and_no_engagement_is_eligible_without_a_payout(
    clean_api, hours, out_of_range
):
    """The preview applies the add's rule: hours outside 1..maxHours are HOURS_OUT_OF_RANGE on input.hours, with
    no payout, and the engagements they are out of range for are not listed eligible."""
    api = clean_api  # verdicts depend on the claims that exist: none
    answer = await preview(
        api,
        CONTOSO_ADMIN,
        location=SEATTLE,
        id_type="MSX_OPPORTUNITY_ID",
        id_value=NORTHWIND_OPPORTUNITY,
        hours=hours,
    )
    assert [(e["code"], e["field"]) for e in answer["userErrors"]] == [
        ("HOURS_OUT_OF_RANGE", ["input", "hours"])
    ]
    message = answer["userErrors"][0]["message"]
    assert "Azure Migrate & Modernize: 1 to 200" in message
    found = verdicts(answer)
    for key in out_of_range:
        assert "HOURS_OUT_OF_RANGE" in found[key], key
    eligible = {v["engagement"]["key"]: v for v in answer["eligibleEngagements"]}
    assert not out_of_range & set(eligible)
    # Every engagement listed eligible has its payout; those out of range have none.
    for verdict in answer["eligibleEngagements"] + answer["ineligibleEngagements"]:
        key = verdict["engagement"]["key"]
        if key in out_of_range or ENGAGEMENTS[key]["payType"] == "FIXED":
            assert verdict["proposedPayout"] is None, key
        if key in eligible:
            assert verdict["proposedPayout"] is not None, key
    if hours == 201:
        assert set(eligible) == {"sap-on-azure-migration"}  # its maxHours is 500
        assert found["azure-migrate-and-modernize"] == ["HOURS_OUT_OF_RANGE"]


@pytest.mark.parametrize(
    ("id_type", "value"),
    [
        ("DOMAIN_NAME", "https://contoso.com/path"),
        ("DOMAIN_NAME", "localhost"),
        ("DOMAIN_NAME", "10.0.0.1"),
        ("TENANT_ID", "not-a-guid"),
        ("TENANT_ID", "1524eee5-40ea-565d-b6dc-dc79797786c"),
        ("TPID", "12ab"),
        ("TPID", "1234567890123"),
        ("AZURE_SUBSCRIPTION_ID", "7ab2aa36c32e55148e5cefc2f4fa33ca0"),
        ("MSX_OPPORTUNITY_ID", "73FS2XQBWAO"),
        ("MSX_OPPORTUNITY_ID", "7-ABC"),
        ("MSX_OPPORTUNITY_ID", ""),
    ],
)
async def test_a_malformed_identifier_is_a_user_error_on_its_field(clean_api, id_type, value):
    api = clean_api  # verdicts depend on the claims that exist: none
    answer = await preview(api, CONTOSO_ADMIN, location=SEATTLE, id_type=id_type, id_value=value)
    assert [(e["code"], e["field"]) for e in answer["userErrors"]] == [
        ("INVALID_ID_FORMAT", ["input", "customerIdValue"])
    ]
    assert answer["userErrors"][0]["message"]
    assert answer["customerIdValue"] is None
    assert answer["eligibleEngagements"] == answer["ineligibleEngagements"] == []


async def test_a_location_you_cannot_see_is_not_found(clean_api):
    api = clean_api  # verdicts depend on the claims that exist: none
    ids = await global_ids(api)
    cases = [
        (CONTOSO_ADMIN, ids.location(BERLIN)),  # another partner's
        (CONTOSO_SELLER, ids.location(SEATTLE)),  # the seller holds a role for Toronto only
        (CONTOSO_ADMIN, ids.engagement("copilot-readiness-assessment")[0]),  # not a location at all
        (CONTOSO_ADMIN, "garbage"),
    ]
    for user, location_id in cases:
        variables = {
            "input": {
                "locationId": location_id,
                "customerIdType": "TENANT_ID",
                "customerIdValue": NORTHWIND_TENANT,
            }
        }
        answer = (await api.graphql(PREVIEW, variables, as_user=user)).data["customerEligibility"]
        assert [(e["code"], e["field"]) for e in answer["userErrors"]] == [
            ("NOT_FOUND", ["input", "locationId"])
        ], (user, location_id)
        assert answer["eligibleEngagements"] == answer["ineligibleEngagements"] == []


async def test_the_seller_previews_for_its_own_location(clean_api):
    api = clean_api  # verdicts depend on the claims that exist: none
    answer = await preview(
        api, CONTOSO_SELLER, location=TORONTO, id_type="TENANT_ID", id_value=NORTHWIND_TENANT
    )
    assert answer["userErrors"] == []
    assert "copilot-readiness-assessment" in {v["engagement"]["key"] for v in answer["eligibleEngagements"]}


async def test_the_preview_needs_a_token(clean_api):
    api = clean_api  # verdicts depend on the claims that exist: none
    ids = await global_ids(api)
    variables = {
        "input": {
            "locationId": ids.location(SEATTLE),
            "customerIdType": "TENANT_ID",
            "customerIdValue": NORTHWIND_TENANT,
        }
    }
    response = await api.graphql(PREVIEW, variables)
    assert response.error_codes == ["UNAUTHENTICATED"]
