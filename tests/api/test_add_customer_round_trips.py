"""addCustomer's cost in the database: one assessment, no replay lookup for a new idempotency key, the claim
events appended last. Also: replays the lookup no longer precedes, and keys stored with claim ids."""

import json

from sqlalchemy import text

from tests.api.nominating import add, pk, row_counts, set_status
from tests.demo import CONTOSO_ADMIN, NORTHWIND_DOMAIN, NORTHWIND_TENANT, SEATTLE


def _count(statements: list[str], fragment: str) -> int:
    return sum(1 for s in statements if fragment in " ".join(s.split()))


async def test_an_add_judges_once_and_appends_its_events_last(clean_api):
    api = clean_api
    engagements = ["copilot-readiness-assessment", "teams-phone-deployment"]
    with api.statements() as statements:
        payload = await add(
            api,
            CONTOSO_ADMIN,
            location=SEATTLE,
            id_type="DOMAIN_NAME",
            id_value=NORTHWIND_DOMAIN,
            engagements=engagements,
            idempotencyKey="add-once",
        )
    assert payload["userErrors"] == [] and len(payload["claims"]) == 2
    writes = [s for s in statements if s.lstrip().upper().startswith(("INSERT", "WITH", "UPDATE"))]
    # The directory, read once: the domain's tenant, then that tenant's domains (the consent recipient rule).
    assert _count(statements, "FROM directory_domain") == 2
    assert _count(statements, "FROM partner_domain") == 1  # the partner's own domains, once
    assert _count(statements, "INTO partner_domain") == 0  # the partner contact's domain is known already
    assert _count(statements, "FROM idempotency_key") == 0  # a new key: its INSERT is the check
    assert _count(statements, "GROUP BY claim.engagement_id, claim.limit_key") == 1  # counted once, locked
    assert _count(statements, "FROM country_market") == 0  # fixed pay: no payout, no market
    # The events are the transaction's last writes: everything else is written before the first of them.
    events = [i for i, s in enumerate(writes) if "claim_event" in s]
    assert len(events) == 2
    assert all("claim_event" not in s for s in writes[: events[0]])
    between = [s for s in writes[events[0] :] if "claim_event" not in s]
    assert len(between) == 1 and between[0].lstrip().startswith("INSERT INTO claim (")  # the second claim
    if api.database.backend == "postgres":
        # The event-log lock, the append and the NOTIFY travel in one statement per event.
        appends = [s for s in writes if "claim_event" in s]
        assert all("pg_advisory_xact_lock" in s and "pg_notify" in s for s in appends)
        assert _count(statements, "SELECT pg_notify") == 0


async def test_a_key_stored_with_claim_ids_still_replays_its_result(clean_api):
    """Keys written before they carried claim numbers hold the claims' ids: a retry still gets the first result."""
    api = clean_api
    arguments = {
        "location": SEATTLE,
        "id_type": "TENANT_ID",
        "id_value": NORTHWIND_TENANT,
        "engagements": ["data-ai-envisioning-workshop", "teams-phone-deployment"],
        "tenantMismatchReason": "The CIO uses a personal address.",
        "idempotencyKey": "add-before-numbers",
    }
    first = await add(api, CONTOSO_ADMIN, **arguments)
    assert first["userErrors"] == []
    async with api.database.engine.begin() as conn:
        stored = (
            await conn.execute(text("SELECT result FROM idempotency_key WHERE key = 'add-before-numbers'"))
        ).scalar_one()
        stored = json.loads(stored) if isinstance(stored, str) else stored
        assert set(stored) == {"customerId", "claimNumbers"}
        old = {"customerId": stored["customerId"], "claimIds": [pk(c["id"]) for c in first["claims"]]}
        await conn.execute(
            text("UPDATE idempotency_key SET result = :result WHERE key = 'add-before-numbers'"),
            {"result": json.dumps(old)},
        )
    counts = await row_counts(api)
    again = await add(api, CONTOSO_ADMIN, **arguments)
    assert again["userErrors"] == []
    assert again["customer"]["id"] == first["customer"]["id"]
    assert [(c["id"], c["claimNumber"]) for c in again["claims"]] == [
        (c["id"], c["claimNumber"]) for c in first["claims"]
    ]
    assert await row_counts(api) == counts


async def test_a_replay_with_nothing_in_its_way_still_gets_the_first_result(clean_api):
    """The first claims ended, so the same input would be accepted again: the key's first result still wins,
    and nothing more is made."""
    api = clean_api
    arguments = {
        "location": SEATTLE,
        "id_type": "DOMAIN_NAME",
        "id_value": NORTHWIND_DOMAIN,
        "engagements": ["copilot-readiness-assessment", "teams-phone-deployment"],
        "idempotencyKey": "add-after-cancel",
    }
    first = await add(api, CONTOSO_ADMIN, **arguments)
    assert first["userErrors"] == []
    for claim in first["claims"]:
        await set_status(api, claim["id"], "CANCELED")
    counts = await row_counts(api)
    with api.statements() as statements:
        again = await add(api, CONTOSO_ADMIN, **arguments)
    assert again["userErrors"] == []
    assert [c["id"] for c in again["claims"]] == [c["id"] for c in first["claims"]]
    assert again["customer"]["id"] == first["customer"]["id"]
    assert await row_counts(api) == counts
    assert _count(statements, "FROM idempotency_key") == 1  # looked up on the retry after the INSERT failed
