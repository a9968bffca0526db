"""What the nominating-customers API tests share: the operations, global IDs by public key, inputs and DB counts."""

import base64
import json
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import text, update

from app.cli import DEMO_DATA
from app.models import Claim
from tests.conftest import CLAIM_TABLES, Api, reset_partner_domains
from tests.demo import CONTOSO_ADMIN, FABRIKAM_ADMIN, LITWARE_ADMIN

DEMO = json.loads(DEMO_DATA.read_text())
ENGAGEMENTS: dict[str, dict[str, Any]] = {e["key"]: e for e in DEMO["engagements"]}
FIXED = [key for key, e in ENGAGEMENTS.items() if e["payType"] == "FIXED"]
VARIABLE = [key for key, e in ENGAGEMENTS.items() if e["payType"] == "VARIABLE"]

# addCustomer refuses an engagement with a userError whose code is the preview's reason: the identifier's reasons
# on the engagement's index in `input.engagementIds`, the location's once, on `input.locationId`. An identifier
# missing from the directory is IDENTIFIER_NOT_FOUND: NOT_FOUND is for IDs that name nothing you can see.
LOCATION_REASONS = {"LOCATION_NOT_ENROLLED", "LOCATION_NOT_ELIGIBLE"}


def refusals(reasons: list[str], index: int = 0) -> list[tuple[str, tuple[str, ...]]]:
    """The userErrors (code, field) addCustomer or claimCustomer reports for one engagement's preview reasons."""
    located = [(r, ("input", "locationId")) for r in reasons if r in LOCATION_REASONS]
    return located + [
        (r, ("input", "engagementIds", str(index))) for r in reasons if r not in LOCATION_REASONS
    ]


ERRORS = "userErrors { code field message }"

PREVIEW = f"""
query($input: CustomerEligibilityInput!) {{
  customerEligibility(input: $input) {{
    customerIdType customerIdValue customerName resolvedTenantId tenantMismatchReasonRequired
    eligibleEngagements {{ engagement {{ key }} reasons proposedPayout {{ amount currency }} }}
    ineligibleEngagements {{ engagement {{ key }} reasons proposedPayout {{ amount currency }} }}
    {ERRORS}
  }}
}}
"""

CLAIM_FIELDS = """
  id claimNumber friendlyName status hours tenantMismatchReason createdAt deadline daysRemaining
  identifier { idType value }
  proposedPayout { amount currency }
  customerContact { firstName lastName email phone jobTitle }
  partnerContact { firstName lastName email phone jobTitle }
  engagement { id key timelines { consentDays } }
  customer { id }
  location { locationId }
  history(first: 10) {
    totalCount
    edges { node { action fromStatus toStatus actor { kind name } occurredAt } }
  }
"""

CUSTOMER_FIELDS = "id name tenantId identifier { idType value } identifiers { idType value }"

ADD = f"""
mutation($input: AddCustomerInput!) {{
  addCustomer(input: $input) {{
    customer {{ {CUSTOMER_FIELDS} }}
    claims {{ {CLAIM_FIELDS} }}
    {ERRORS}
  }}
}}
"""

CLAIM = f"""
mutation($input: ClaimCustomerInput!) {{
  claimCustomer(input: $input) {{
    customer {{ {CUSTOMER_FIELDS} }}
    claims {{ {CLAIM_FIELDS} }}
    {ERRORS}
  }}
}}
"""

_ENGAGEMENTS = "{ engagements(first: 100) { edges { node { id key } } } }"
_LOCATIONS = "{ viewer { locations(first: 50) { edges { node { id locationId } } } } }"


class Ids:
    """Global IDs by public key: engagements by key, locations (of every demo partner) by locationId."""

    def __init__(self, engagements: dict[str, str], locations: dict[str, str]) -> None:
        self.engagements = engagements
        self.locations = locations

    def engagement(self, *keys: str) -> list[str]:
        return [self.engagements[key] for key in keys]

    def location(self, location_id: str) -> str:
        return self.locations[location_id]


_ids: dict[str, Ids] = {}


async def global_ids(api: Api) -> Ids:
    """Looked up through the API, as a client would; once per server."""
    if api.base_url not in _ids:
        data = (await api.graphql(_ENGAGEMENTS, as_user=CONTOSO_ADMIN)).data
        engagements = {edge["node"]["key"]: edge["node"]["id"] for edge in data["engagements"]["edges"]}
        locations = {}
        for admin in (CONTOSO_ADMIN, FABRIKAM_ADMIN, LITWARE_ADMIN):
            viewer = (await api.graphql(_LOCATIONS, as_user=admin)).data["viewer"]
            locations |= {e["node"]["locationId"]: e["node"]["id"] for e in viewer["locations"]["edges"]}
        _ids[api.base_url] = Ids(engagements, locations)
    return _ids[api.base_url]


def tenant_domain(id_type: str, value: str) -> str | None:
    """A domain of the demo tenant an identifier names (an opportunity: its tenant's), for a customer contact
    that needs no mismatch reason; None when the tenant has none."""
    directory = DEMO["directory"]
    if id_type == "MSX_OPPORTUNITY_ID":
        id_type, value = "TENANT_ID", opportunity(value)["tenantId"]
    fields = {
        "DOMAIN_NAME": "domains",
        "TENANT_ID": "tenantId",
        "TPID": "tpid",
        "AZURE_SUBSCRIPTION_ID": "azureSubscriptionIds",
    }
    for tenant in directory["tenants"]:
        held = tenant[fields[id_type]]
        if value == held or (isinstance(held, list) and value in held):
            return tenant["domains"][0] if tenant["domains"] else None
    return None


def contact(email: str = "cio@northwind.example", **overrides: Any) -> dict[str, Any]:
    return {"firstName": "Nancy", "lastName": "Davolio", "email": email, **overrides}


PARTNER_CONTACT = {
    "firstName": "Megan",
    "lastName": "Bowen",
    "email": "megan@contoso-partners.example",
    "phone": "+1 425 555 0100",
    "jobTitle": "Partner manager",
}


async def add_input(
    api: Api,
    *,
    location: str,
    id_type: str,
    id_value: str,
    engagements: list[str],
    friendly_name: str = "Northwind rollout",
    customer_contact: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """An AddCustomerInput from public keys (location ID, engagement keys); `extra` adds camelCase fields."""
    ids = await global_ids(api)
    return {
        "friendlyName": friendly_name,
        "locationId": ids.location(location),
        "customerIdType": id_type,
        "customerIdValue": id_value,
        "engagementIds": ids.engagement(*engagements),
        "customerContact": customer_contact or contact(),
        "partnerContact": PARTNER_CONTACT,
        **extra,
    }


async def add(api: Api, user: str, **arguments: Any) -> dict[str, Any]:
    """addCustomer's payload; the HTTP call itself must succeed without top-level errors."""
    response = await api.graphql(ADD, {"input": await add_input(api, **arguments)}, as_user=user)
    assert response.status == 200
    return response.data["addCustomer"]


async def preview(api: Api, user: str, *, location: str, id_type: str, id_value: str, **extra: Any):
    ids = await global_ids(api)
    variables = {
        "input": {
            "locationId": ids.location(location),
            "customerIdType": id_type,
            "customerIdValue": id_value,
            **extra,
        }
    }
    response = await api.graphql(PREVIEW, variables, as_user=user)
    assert response.status == 200
    return response.data["customerEligibility"]


def verdicts(answer: dict[str, Any]) -> dict[str, list[str]]:
    """Engagement key -> reasons (empty: eligible), from a preview answer."""
    found = {v["engagement"]["key"]: v["reasons"] for v in answer["eligibleEngagements"]}
    found |= {v["engagement"]["key"]: v["reasons"] for v in answer["ineligibleEngagements"]}
    return found


def errors(payload: dict[str, Any]) -> list[tuple[str, tuple[str, ...] | None]]:
    """(code, field path) of each userError, in order."""
    return [(e["code"], tuple(e["field"]) if e["field"] is not None else None) for e in payload["userErrors"]]


def pk(global_id: str) -> int:
    """The row behind one of our global IDs (test-only knowledge: base64 of `Type:pk`)."""
    raw = base64.urlsafe_b64decode(global_id + "=" * (-len(global_id) % 4)).decode()
    return int(raw.partition(":")[2])


async def row_counts(api: Api) -> dict[str, int]:
    """Rows in every table a nomination writes."""
    async with api.database.engine.connect() as conn:
        return {t: (await conn.execute(text(f"SELECT COUNT(*) FROM {t}"))).scalar_one() for t in CLAIM_TABLES}


async def count_claims(api: Api, id_value: str | None = None) -> int:
    statement = "SELECT COUNT(*) FROM claim" + (" WHERE id_value = :value" if id_value else "")
    async with api.database.engine.connect() as conn:
        return (await conn.execute(text(statement), {"value": id_value})).scalar_one()


async def wipe_nominations(api: Api) -> None:
    """What `clean_api` does, for a test that needs a fresh state more than once."""
    async with api.writing() as conn:
        for table in CLAIM_TABLES:
            await conn.execute(text(f"DELETE FROM {table}"))
        await reset_partner_domains(conn)


async def mark_consented(api: Api, claim_id: str) -> None:
    """Consent arrives with a later issue (sendConsent/respondToConsent): until then a test makes a customer
    known by stamping `consented_at` on one of its claims directly in the database."""
    async with api.writing() as conn:
        await conn.execute(
            update(Claim).where(Claim.id == pk(claim_id)).values(consented_at=api.clock.now())  # type: ignore[arg-type]
        )


async def set_status(api: Api, claim_id: str, status: str) -> None:
    """Move a claim straight to `status` in the database, for a test about what a claim in it means to limits."""
    async with api.writing() as conn:
        await conn.execute(update(Claim).where(Claim.id == pk(claim_id)).values(status=status))  # type: ignore[arg-type]


def expected_payout(engagement_key: str, market: str, hours: int, deal_size: Decimal | int) -> str:
    """DOMAIN.md: min(hours x market rate, percent-of-deal x deal size, cap), from the demo data, to cents."""
    e = ENGAGEMENTS[engagement_key]
    by_hours = Decimal(str(e["hourlyRates"][market])) * hours
    by_deal = Decimal(str(e["percentOfDeal"])) * Decimal(str(deal_size))
    payout = min(by_hours, by_deal, Decimal(str(e["cap"])))
    return str(payout.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def opportunity(msx_id: str) -> dict[str, Any]:
    return next(o for o in DEMO["directory"]["opportunities"] if o["msxOpportunityId"] == msx_id)


def market_of(location_id: str) -> str:
    country = next(
        loc["country"] for p in DEMO["partners"] for loc in p["locations"] if loc["locationId"] == location_id
    )
    return DEMO["markets"].get(country, "C")
