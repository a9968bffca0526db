"""Nominations racing each other over real HTTP: limits and idempotency keys hold, nothing is half-written."""

import asyncio
from itertools import cycle, islice

from tests.api.nominating import ADD, add_input, count_claims, row_counts, wipe_nominations
from tests.conftest import Api, GraphQLResponse
from tests.demo import (
    ADELE,
    BERLIN,
    CHICAGO,
    CONTOSO_ADMIN,
    CONTOSO_SELLER,
    FABRIKAM_ADMIN,
    FABRIKAM_USER,
    LITWARE_ADMIN,
    LITWARE_SALES,
    NORTHWIND_DOMAIN,
    NORTHWIND_OTHER_DOMAIN,
    NORTHWIND_TENANT,
    SEATTLE,
    TORONTO,
)

RACERS = 24

# Every demo user that can earn on the Copilot Readiness Assessment, at one of its locations, naming Northwind
# by one of its domains or its tenant ID: one identifier for limits.
CONTENDERS = [
    (CONTOSO_ADMIN, SEATTLE, "DOMAIN_NAME", NORTHWIND_DOMAIN),
    (CONTOSO_SELLER, TORONTO, "TENANT_ID", NORTHWIND_TENANT),
    (ADELE, SEATTLE, "DOMAIN_NAME", NORTHWIND_OTHER_DOMAIN),
    (FABRIKAM_ADMIN, BERLIN, "TENANT_ID", NORTHWIND_TENANT),
    (FABRIKAM_USER, "4200202", "DOMAIN_NAME", NORTHWIND_DOMAIN),
    (LITWARE_ADMIN, CHICAGO, "DOMAIN_NAME", NORTHWIND_OTHER_DOMAIN),
    (LITWARE_SALES, CHICAGO, "TENANT_ID", NORTHWIND_TENANT),
]


def _partner(user: str) -> str:
    return user.partition("@")[2]  # the demo's users of one partner share its domain


def _payload(response: GraphQLResponse) -> dict:
    assert response.status == 200, response.body
    return response.data["addCustomer"]


async def _race(api: Api, requests: list[tuple[str, dict]]) -> list[dict]:
    responses = await asyncio.gather(
        *(api.graphql(ADD, {"input": variables}, as_user=user) for user, variables in requests)
    )
    return [_payload(r) for r in responses]


async def test_racing_adds_of_one_identifier_make_exactly_one_claim(clean_api):
    api = clean_api
    requests = [
        (
            user,
            await add_input(
                api,
                location=location,
                id_type=id_type,
                id_value=value,
                engagements=["copilot-readiness-assessment"],  # one active claim per customer
            ),
        )
        for user, location, id_type, value in islice(cycle(CONTENDERS), RACERS)
    ]
    payloads = await _race(api, requests)

    winners = [i for i, p in enumerate(payloads) if p["claims"]]
    assert len(winners) == 1
    winner = winners[0]
    assert payloads[winner]["userErrors"] == []
    for index, payload in enumerate(payloads):
        if index == winner:
            continue
        assert payload["claims"] == [] and payload["customer"] is None
        # The winner's partner already holds the claim; for every other partner the customer's limit is reached.
        same_partner = _partner(requests[index][0]) == _partner(requests[winner][0])
        expected = "ALREADY_CLAIMED_BY_YOU" if same_partner else "CLAIM_LIMIT_REACHED"
        assert [e["code"] for e in payload["userErrors"]] == [expected]
        assert payload["userErrors"][0]["field"][:2] == ["input", "engagementIds"]
    counts = await row_counts(api)
    assert counts["claim"] == counts["claim_event"] == 1
    assert counts["customer"] == 1  # the losers left no customer behind


async def test_racing_retries_with_one_idempotency_key_get_the_one_result(clean_api):
    api = clean_api
    for attempt in range(2):
        await wipe_nominations(api)
        variables = await add_input(
            api,
            location=SEATTLE,
            id_type="DOMAIN_NAME",
            id_value=NORTHWIND_DOMAIN,
            engagements=["copilot-readiness-assessment", "teams-phone-deployment"],
            idempotencyKey=f"retry-storm-{attempt}",
        )
        payloads = await _race(api, [(CONTOSO_ADMIN, variables)] * RACERS)

        assert [p["userErrors"] for p in payloads] == [[]] * RACERS
        claim_ids = {tuple(c["id"] for c in p["claims"]) for p in payloads}
        assert len(claim_ids) == 1 and len(next(iter(claim_ids))) == 2
        assert len({p["customer"]["id"] for p in payloads}) == 1
        assert await count_claims(api) == 2
        assert (await row_counts(api))["idempotency_key"] == 1


async def test_racing_adds_of_one_new_customer_for_different_engagements_all_succeed(clean_api):
    # No limit is shared between the engagements: each request must make its claim, all on one customer.
    api = clean_api
    keys = [
        "copilot-readiness-assessment",
        "security-posture-assessment",
        "data-ai-envisioning-workshop",
        "teams-phone-deployment",
        "purview-data-security-deployment",
    ]
    for _ in range(10):  # a race is lost only sometimes: run it until it would have shown
        await wipe_nominations(api)
        requests = [
            (
                CONTOSO_ADMIN,
                await add_input(
                    api, location=SEATTLE, id_type="TENANT_ID", id_value=NORTHWIND_TENANT, engagements=[key]
                ),
            )
            for key in keys
        ]
        payloads = await _race(api, requests)
        assert [p["userErrors"] for p in payloads] == [[]] * len(keys)
        assert len({p["customer"]["id"] for p in payloads}) == 1
        assert await count_claims(api) == len(keys)
