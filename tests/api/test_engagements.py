"""The engagement catalogue: every field DOMAIN.md lists, filters, keyset pagination, per-location earning."""

import json

import pytest

from app.cli import DEMO_DATA
from tests.demo import CONTOSO_ADMIN, CONTOSO_SELLER, CONTOSO_SELLER_LOCATION, ENGAGEMENT_COUNT

PAGE = """
query($first: Int, $after: String, $last: Int, $before: String, $filter: EngagementFilter) {
  engagements(first: $first, after: $after, last: $last, before: $before, filter: $filter) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id key name payType engagementType } }
  }
}
"""

FULL = """
query($id: ID!) {
  engagement(id: $id) {
    id key name description solutionArea engagementType payType allowedCustomerIdTypes
    customerCriteria { countries segments }
    maxActiveClaimsPerCustomer maxCompletedClaimsPerCustomer claimsOpenUntil openForClaims
    timelines { consentDays submitDays reviewDays disputeDays coolingOffDays partnerActionDays }
    variablePay { hourlyRates { market rate { amount currency } } percentOfDeal cap { amount currency }
                  minDealSize { amount currency } maxHours }
    locationEligibility { location { locationId } canEarn canNominate reasons }
  }
}
"""


_DEMO_ENGAGEMENTS = json.loads(DEMO_DATA.read_text())["engagements"]
# Engagements overriding a window their type sets (cooling off and partner action have one default for all).
_BY_TYPE = {"consentDays", "submitDays", "reviewDays", "disputeDays"}
OVERRIDDEN = {e["key"] for e in _DEMO_ENGAGEMENTS if _BY_TYPE & set(e.get("timelines", {}))}


async def _all(api, user=CONTOSO_ADMIN, **variables):
    return (await api.graphql(PAGE, {"first": 100, **variables}, as_user=user)).data["engagements"]


async def test_walking_forward_page_by_page_yields_every_engagement_once(api):
    seen, after, pages = [], None, 0
    while True:
        page = (await api.graphql(PAGE, {"first": 4, "after": after}, as_user=CONTOSO_ADMIN)).data[
            "engagements"
        ]
        assert page["totalCount"] == ENGAGEMENT_COUNT
        assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
        seen += [edge["node"]["key"] for edge in page["edges"]]
        pages += 1
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert pages == 4
    assert len(seen) == len(set(seen)) == ENGAGEMENT_COUNT


async def test_walking_backward_matches_walking_forward(api):
    forward = [edge["node"]["key"] for edge in (await _all(api))["edges"]]
    backward, before = [], None
    while True:
        page = (await api.graphql(PAGE, {"last": 6, "before": before}, as_user=CONTOSO_ADMIN)).data[
            "engagements"
        ]
        backward = [edge["node"]["key"] for edge in page["edges"]] + backward
        if not page["pageInfo"]["hasPreviousPage"]:
            break
        before = page["pageInfo"]["startCursor"]
    assert backward == forward


async def test_filters_narrow_the_catalogue(api):
    variable = await _all(api, filter={"payType": "VARIABLE"})
    assert variable["totalCount"] >= 2
    assert {edge["node"]["payType"] for edge in variable["edges"]} == {"VARIABLE"}

    workshops = await _all(api, filter={"engagementTypes": ["WORKSHOP"], "payType": "FIXED"})
    assert workshops["totalCount"] >= 1
    assert {edge["node"]["engagementType"] for edge in workshops["edges"]} == {"WORKSHOP"}

    opened = (await _all(api, filter={"openForClaims": True}))["totalCount"]
    closed = (await _all(api, filter={"openForClaims": False}))["totalCount"]
    assert closed >= 1 and opened + closed == ENGAGEMENT_COUNT

    found = await _all(api, filter={"search": "COPILOT"})
    assert found["totalCount"] >= 1
    assert all("copilot" in edge["node"]["name"].lower() for edge in found["edges"])


@pytest.mark.parametrize(
    ("arguments", "argument"),
    [
        ({"first": 101}, "first"),
        ({"first": -1}, "first"),
        ({"after": "not-a-cursor"}, "after"),
        ({"first": 2, "last": 2}, "first"),
    ],
)
async def test_bad_page_arguments_are_clear_errors(api, arguments, argument):
    response = await api.graphql(PAGE, arguments, as_user=CONTOSO_ADMIN)
    assert response.status == 200
    assert response.error_codes == ["BAD_USER_INPUT"]
    assert response.body["errors"][0]["extensions"]["argument"] == argument


async def test_an_engagement_has_every_field_of_the_domain(api):
    variable_key = next(e["node"] for e in (await _all(api, filter={"payType": "VARIABLE"}))["edges"])
    engagement = (await api.graphql(FULL, {"id": variable_key["id"]}, as_user=CONTOSO_ADMIN)).data[
        "engagement"
    ]
    assert engagement["allowedCustomerIdTypes"] == ["MSX_OPPORTUNITY_ID"]
    assert engagement["variablePay"]["maxHours"] > 0
    assert {rate["market"] for rate in engagement["variablePay"]["hourlyRates"]} == {"A", "B", "C"}
    assert engagement["timelines"]["consentDays"] == 30
    fixed = next(e["node"] for e in (await _all(api, filter={"payType": "FIXED"}))["edges"])
    engagement = (await api.graphql(FULL, {"id": fixed["id"]}, as_user=CONTOSO_ADMIN)).data["engagement"]
    assert engagement["variablePay"] is None
    assert "MSX_OPPORTUNITY_ID" not in engagement["allowedCustomerIdTypes"]


async def test_timelines_follow_the_engagement_type(api):
    expected = {
        "ASSESSMENT": (30, 60, 90, 30),
        "WORKSHOP": (30, 90, 120, 30),
        "PROJECT_M": (30, 200, 230, 30),
    }
    for node in [edge["node"] for edge in (await _all(api))["edges"]]:
        if node["engagementType"] not in expected:
            continue
        engagement = (await api.graphql(FULL, {"id": node["id"]}, as_user=CONTOSO_ADMIN)).data["engagement"]
        timelines = engagement["timelines"]
        figures = (
            timelines["consentDays"],
            timelines["submitDays"],
            timelines["reviewDays"],
            timelines["disputeDays"],
        )
        overridden = engagement["key"] in OVERRIDDEN
        assert (figures != expected[node["engagementType"]]) is overridden, engagement["key"]


async def test_location_eligibility_covers_only_the_viewers_locations(api):
    first = (await _all(api))["edges"][0]["node"]
    admin = (await api.graphql(FULL, {"id": first["id"]}, as_user=CONTOSO_ADMIN)).data["engagement"]
    rows = {row["location"]["locationId"]: row for row in admin["locationEligibility"]}
    assert set(rows) == {"4100101", "4100102", "4100103", "4100104"}
    assert rows["4100104"]["canEarn"] is False
    assert "LOCATION_NOT_ENROLLED" in rows["4100104"]["reasons"]
    for row in rows.values():
        assert row["canEarn"] is (row["reasons"] == [])
        assert row["canNominate"] is not (
            {"LOCATION_NOT_ENROLLED", "LOCATION_NOT_ELIGIBLE"} & set(row["reasons"])
        )

    seller = (await api.graphql(FULL, {"id": first["id"]}, as_user=CONTOSO_SELLER)).data["engagement"]
    assert [row["location"]["locationId"] for row in seller["locationEligibility"]] == [
        CONTOSO_SELLER_LOCATION
    ]


async def test_an_invalid_payee_profile_cannot_earn_but_can_nominate(api):
    # London (enrolled, payee profile invalid) is eligible for the Copilot Readiness Assessment.
    ids = {e["node"]["key"]: e["node"]["id"] for e in (await _all(api))["edges"]}
    engagement = (
        await api.graphql(FULL, {"id": ids["copilot-readiness-assessment"]}, as_user=CONTOSO_ADMIN)
    ).data["engagement"]
    rows = {row["location"]["locationId"]: row for row in engagement["locationEligibility"]}
    assert rows["4100103"] == {
        "location": {"locationId": "4100103"},
        "canEarn": False,
        "canNominate": True,
        "reasons": ["PAYEE_PROFILE_INVALID"],
    }
    assert rows["4100101"]["canEarn"] is rows["4100101"]["canNominate"] is True
    # Mexico City: not enrolled, not eligible, payee profile invalid as well.
    assert rows["4100104"]["reasons"] == [
        "LOCATION_NOT_ENROLLED",
        "LOCATION_NOT_ELIGIBLE",
        "PAYEE_PROFILE_INVALID",
    ]
    assert rows["4100104"]["canNominate"] is False


async def test_cooling_off_and_partner_action_days_are_engagement_data(api):
    for edge in (await _all(api))["edges"]:
        node = edge["node"]
        engagement = (await api.graphql(FULL, {"id": node["id"]}, as_user=CONTOSO_ADMIN)).data["engagement"]
        given = next(e for e in _DEMO_ENGAGEMENTS if e["key"] == node["key"]).get("timelines", {})
        timelines = engagement["timelines"]
        assert timelines["coolingOffDays"] == given.get("coolingOffDays", 30), node["key"]
        assert timelines["partnerActionDays"] == given.get("partnerActionDays", 14), node["key"]
    assert any("coolingOffDays" in e.get("timelines", {}) for e in _DEMO_ENGAGEMENTS)


async def test_unknown_engagement_is_null(api):
    response = await api.graphql(FULL, {"id": "RW5nYWdlbWVudDo5OTk5OTk"}, as_user=CONTOSO_ADMIN)
    assert response.data == {"engagement": None}


async def test_statement_count_of_a_page_does_not_grow_with_its_size(api):
    query = """query($first: Int) { engagements(first: $first) { edges { node {
        name timelines { consentDays } locationEligibility { location { name } canEarn } } } } }"""
    counts = []
    for size in (2, 12):
        with api.statements() as statements:
            response = await api.graphql(query, {"first": size}, as_user=CONTOSO_ADMIN)
        assert len(response.data["engagements"]["edges"]) == size
        counts.append(len(statements))
    assert counts[0] == counts[1], counts
