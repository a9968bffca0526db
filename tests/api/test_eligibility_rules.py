"""Eligibility rules that hold on every path (issue 13): the preview (`customerEligibility`), `addCustomer`,
`claimCustomer` and the Customers page judge by the same rules, through the real HTTP API, on the demo's reference
data (which carries exchange rates, deals in yen, euros and francs, and an engagement paid in euros).

- the limit key: a domain and an Azure subscription count as their tenant, so one partner holds one active claim
  per tenant and engagement, whichever identifier it nominates with;
- ALREADY_CLAIMED_BY_YOU (the partner's own claim) apart from CLAIM_LIMIT_REACHED (the customer's limit);
- COOLING_OFF after the partner's own claim ended with consent declined or expired;
- currencies: the minimum deal size and the payout in the engagement's currency, the claim keeping the rate;
- PAYEE_PROFILE_INVALID: the location earns nothing, but nominates;
- the location's problems once, on `input.locationId`; IDENTIFIER_NOT_FOUND in the preview and the add alike.

The clock is moved with the test clock's offset (reads apply passed deadlines, as in production); consent is
answered through the real email's link.
"""

import copy
import re
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from app.cli import DEMO_DATA
from app.models import Claim
from app.services.importer import import_reference_data, load_document
from tests.api.claim_flow import RESPOND, SEND, act
from tests.api.nominating import (
    PARTNER_CONTACT,
    add_input,
    errors,
    global_ids,
    mark_consented,
    row_counts,
)
from tests.api.test_customers_page import rows, tab
from tests.conftest import Api
from tests.demo import (
    BERLIN,
    CONTOSO_ADMIN,
    CONTOSO_SELLER,
    EMEA_MIGRATE,
    FABRIKAM_ADMIN,
    FIRST_UP_CHF_OPPORTUNITY,
    LONDON,
    LUCERNE_EUR_OPPORTUNITY,
    MEXICO_CITY,
    NORTHWIND_DOMAIN,
    NORTHWIND_OPPORTUNITY,
    NORTHWIND_OTHER_DOMAIN,
    NORTHWIND_SUBSCRIPTION,
    NORTHWIND_TENANT,
    NORTHWIND_TPID,
    SEATTLE,
    SOUTHRIDGE_JPY_OPPORTUNITY,
    TORONTO,
    VANARSDEL_JPY_OPPORTUNITY,
    WOODGROVE_OPPORTUNITY,
)

ASSESSMENT = "copilot-readiness-assessment"  # fixed pay, DOMAIN_NAME/TENANT_ID, 30 days' cooling off
SECURITY = "security-posture-assessment"  # Seattle and London can earn on it; Toronto cannot
TEAMS = "teams-phone-deployment"
DESKTOPS = "azure-virtual-desktop-deployment"  # AZURE_SUBSCRIPTION_ID and TENANT_ID
DEFENDER = "defender-for-cloud-deployment"  # AZURE_SUBSCRIPTION_ID and TPID
MIGRATE = "azure-migrate-and-modernize"  # variable pay in USD, minimum deal 50 000 USD
NORTHWIND_OTHER_SUBSCRIPTION = "4062ae13-3730-5d73-ba07-401f12312092"

PAYOUT = "proposedPayout { amount currency dealCurrency exchangeRate }"
VERDICT = f"engagement {{ key }} reasons {PAYOUT} coolingOffUntil canEarn earningReasons"
PREVIEW = f"""
query($input: CustomerEligibilityInput!) {{
  customerEligibility(input: $input) {{
    eligibleEngagements {{ {VERDICT} }}
    ineligibleEngagements {{ {VERDICT} }}
    userErrors {{ code field message }}
  }}
}}
"""
CLAIM_FIELDS = f"id status deadline hours {PAYOUT} engagement {{ key }} location {{ locationId }}"
ADD = f"""
mutation($input: AddCustomerInput!) {{
  addCustomer(input: $input) {{ customer {{ id }} claims {{ {CLAIM_FIELDS} }} userErrors {{ code field message }} }}
}}
"""
CLAIM = f"""
mutation($input: ClaimCustomerInput!) {{
  claimCustomer(input: $input) {{ customer {{ id }} claims {{ {CLAIM_FIELDS} }} userErrors {{ code field message }} }}
}}
"""
NODE = f"query($id: ID!) {{ node(id: $id) {{ ... on Claim {{ {CLAIM_FIELDS} }} }} }}"


def _recipient(domain: str = NORTHWIND_OTHER_DOMAIN) -> str:
    """A fresh address at the customer's domain: the SMTP sink keeps every message of the session."""
    return f"cio.{uuid.uuid4().hex[:10]}@{domain}"


async def nominate(
    api: Api,
    user: str,
    *,
    location: str,
    id_type: str,
    value: str,
    engagements: list[str],
    email: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """addCustomer's payload, with the claims' payouts."""
    variables = await add_input(
        api,
        location=location,
        id_type=id_type,
        id_value=value,
        engagements=engagements,
        customer_contact={"firstName": "Nancy", "lastName": "Davolio", "email": email or _recipient()},
        **extra,
    )
    # These tests are about eligibility, not the consent recipient: a reason is at hand wherever one is asked.
    variables.setdefault("tenantMismatchReason", "The CIO signs for the group.")
    response = await api.graphql(ADD, {"input": variables}, as_user=user)
    return response.data["addCustomer"]


async def claim_known(
    api: Api, user: str, customer_id: str, *, location: str, engagements: list[str]
) -> dict[str, Any]:
    ids = await global_ids(api)
    variables = {
        "input": {
            "customerId": customer_id,
            "friendlyName": "Northwind, again",
            "locationId": ids.location(location),
            "engagementIds": ids.engagement(*engagements),
            "customerContact": {"firstName": "Nancy", "lastName": "Davolio", "email": _recipient()},
            "partnerContact": PARTNER_CONTACT,
        }
    }
    return (await api.graphql(CLAIM, variables, as_user=user)).data["claimCustomer"]


async def ask(
    api: Api, user: str, *, location: str, id_type: str, value: str, **extra: Any
) -> dict[str, Any]:
    """The preview's answer."""
    ids = await global_ids(api)
    variables = {
        "input": {"locationId": ids.location(location), "customerIdType": id_type, "customerIdValue": value}
        | extra
    }
    return (await api.graphql(PREVIEW, variables, as_user=user)).data["customerEligibility"]


def by_key(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every engagement's verdict, by key."""
    return {
        v["engagement"]["key"]: v for v in answer["eligibleEngagements"] + answer["ineligibleEngagements"]
    }


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def answer_consent(api: Api, smtp: Any, claim_id: str, recipient: str, decision: str) -> None:
    """sendConsent, then the customer answers through the mailed link."""
    sent = (await api.graphql(SEND, {"id": claim_id}, as_user=CONTOSO_ADMIN)).data["sendConsent"]
    assert sent["userErrors"] == [], sent["userErrors"]
    [message] = await smtp.wait_for(recipient)
    token = re.search(r"/consent/(\S+)", message.get_body(preferencelist=("plain",)).get_content()).group(1)
    answer = (await api.graphql(RESPOND, {"token": token, "decision": decision})).data["respondToConsent"]
    assert answer["userErrors"] == [], answer["userErrors"]


# ------------------------------------------------------------------------------------------------ the limit key


async def _demo_with(change: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    original = load_document(DEMO_DATA)
    changed = copy.deepcopy(original)
    change(changed)
    return original, changed


async def test_one_partner_holds_one_active_claim_per_tenant_by_domain_subscription_or_tenant_id(clean_api):
    """The limit key: a domain and an Azure subscription count as the tenant that owns them."""
    api = clean_api

    def accept_domains(document: dict[str, Any]) -> None:
        desktops = next(e for e in document["engagements"] if e["key"] == DESKTOPS)
        desktops["allowedCustomerIdTypes"] = ["AZURE_SUBSCRIPTION_ID", "TENANT_ID", "DOMAIN_NAME"]

    original, changed = await _demo_with(accept_domains)
    await import_reference_data(api.database.sessions, changed)
    try:
        first = await nominate(
            api,
            CONTOSO_ADMIN,
            location=SEATTLE,
            id_type="AZURE_SUBSCRIPTION_ID",
            value=NORTHWIND_SUBSCRIPTION,
            engagements=[DESKTOPS],
        )
        assert first["userErrors"] == []
        counts = await row_counts(api)
        for id_type, value in [
            ("DOMAIN_NAME", NORTHWIND_DOMAIN),
            ("TENANT_ID", NORTHWIND_TENANT),
            ("AZURE_SUBSCRIPTION_ID", NORTHWIND_OTHER_SUBSCRIPTION),  # the tenant's other subscription
        ]:
            again = await nominate(
                api, CONTOSO_ADMIN, location=TORONTO, id_type=id_type, value=value, engagements=[DESKTOPS]
            )
            assert errors(again) == [("ALREADY_CLAIMED_BY_YOU", ("input", "engagementIds", "0"))], id_type
            answer = await ask(api, CONTOSO_ADMIN, location=TORONTO, id_type=id_type, value=value)
            assert by_key(answer)[DESKTOPS]["reasons"] == ["ALREADY_CLAIMED_BY_YOU"], id_type
        assert await row_counts(api) == counts
        # Across partners the tenant's limit (one active claim) is reached, whichever identifier.
        theirs = await nominate(
            api, FABRIKAM_ADMIN, location=BERLIN, id_type="DOMAIN_NAME", value=NORTHWIND_OTHER_DOMAIN,
            engagements=[DESKTOPS],
        )  # fmt: skip
        assert errors(theirs) == [("CLAIM_LIMIT_REACHED", ("input", "engagementIds", "0"))]
    finally:
        await import_reference_data(api.database.sessions, original)


async def test_a_tpid_counts_as_itself_not_as_its_tenant(clean_api):
    api = clean_api
    by_subscription = await nominate(
        api, CONTOSO_ADMIN, location=SEATTLE, id_type="AZURE_SUBSCRIPTION_ID", value=NORTHWIND_SUBSCRIPTION,
        engagements=[DEFENDER],
    )  # fmt: skip
    assert by_subscription["userErrors"] == []
    by_tpid = await nominate(
        api, CONTOSO_ADMIN, location=SEATTLE, id_type="TPID", value=NORTHWIND_TPID, engagements=[DEFENDER]
    )
    assert by_tpid["userErrors"] == []  # several tenants may share a TPID: it is its own key


# ----------------------------------------------------------------------------------- the partner's own claim


async def test_the_race_fallback_names_the_partners_own_claim(monkeypatch):
    """When the one-active-claim index still refuses on the retry, the code is the partner's own claim's."""
    from sqlalchemy.exc import IntegrityError

    from app.services import nominations

    async def refused(*_args: Any, **_kwargs: Any) -> None:
        raise IntegrityError("INSERT INTO claim", {}, Exception("ux_claim_active_per_partner"))

    class _Transaction:
        async def __aenter__(self) -> None:
            return None

        async def __aexit__(self, *_exc: Any) -> bool:
            return False

    monkeypatch.setattr(nominations, "_nominate", refused)
    monkeypatch.setattr(nominations, "transaction", lambda *_a, **_k: _Transaction())
    outcome = await nominations.nominate(None, None, None, None)  # type: ignore[arg-type]
    assert isinstance(outcome, list)
    assert [(p.code.value, p.field) for p in outcome] == [
        ("ALREADY_CLAIMED_BY_YOU", ("input", "engagementIds"))
    ]
    assert "already have an active claim" in outcome[0].message


async def test_the_customers_page_never_offers_claiming_a_customer_the_partner_holds(clean_api, smtp):
    """The partner's own claim on the tenant by another identifier: Ineligible, ALREADY_CLAIMED_BY_YOU."""
    api = clean_api
    known = await nominate(
        api,
        CONTOSO_ADMIN,
        location=SEATTLE,
        id_type="DOMAIN_NAME",
        value=NORTHWIND_DOMAIN,
        engagements=[TEAMS],
    )
    await mark_consented(api, known["claims"][0]["id"])  # known to Contoso
    by_tenant = await nominate(
        api,
        CONTOSO_ADMIN,
        location=SEATTLE,
        id_type="TENANT_ID",
        value=NORTHWIND_TENANT,
        engagements=[ASSESSMENT],
    )
    assert by_tenant["userErrors"] == []
    ineligible = rows(await tab(api, ASSESSMENT, "INELIGIBLE"))
    assert ineligible[NORTHWIND_DOMAIN]["ineligibilityReasons"] == ["ALREADY_CLAIMED_BY_YOU"]
    assert ineligible[NORTHWIND_DOMAIN]["availableActions"] == []
    assert NORTHWIND_DOMAIN not in rows(await tab(api, ASSESSMENT, "ELIGIBLE"))
    payload = await claim_known(
        api, CONTOSO_ADMIN, known["customer"]["id"], location=SEATTLE, engagements=[ASSESSMENT]
    )
    assert errors(payload) == [("ALREADY_CLAIMED_BY_YOU", ("input", "engagementIds", "0"))]


# -------------------------------------------------------------------------------------------------- cooling off


async def test_after_its_own_consent_expired_a_partner_cools_off_and_others_do_not(clean_api):
    api = clean_api
    arguments = {"location": SEATTLE, "id_type": "DOMAIN_NAME", "value": NORTHWIND_DOMAIN}
    first = await nominate(api, CONTOSO_ADMIN, **arguments, engagements=[ASSESSMENT])
    assert first["userErrors"] == []
    expired_at = _at(first["claims"][0]["deadline"])  # the consent deadline, 30 days on
    until = expired_at + timedelta(days=30)  # the engagement's coolingOffDays

    api.clock.offset = timedelta(days=31)  # the consent window passed: reads apply the expiry
    answer = await ask(api, CONTOSO_ADMIN, **arguments)
    verdict = by_key(answer)[ASSESSMENT]
    assert verdict["reasons"] == ["COOLING_OFF"]
    assert _at(verdict["coolingOffUntil"]) == until
    assert by_key(answer)[TEAMS]["reasons"] == [] and by_key(answer)[TEAMS]["coolingOffUntil"] is None
    counts = await row_counts(api)
    for id_type, value in [("DOMAIN_NAME", NORTHWIND_DOMAIN), ("TENANT_ID", NORTHWIND_TENANT)]:
        again = await nominate(
            api,
            CONTOSO_ADMIN,
            location=TORONTO,
            id_type=id_type,
            value=value,
            engagements=[TEAMS, ASSESSMENT],
        )
        assert errors(again) == [("COOLING_OFF", ("input", "engagementIds", "1"))], id_type
        assert f"{until:%Y-%m-%d %H:%M:%S} UTC" in again["userErrors"][0]["message"]
        assert "Fabrikam" not in again["userErrors"][0]["message"]
    assert await row_counts(api) == counts  # nothing written

    # Another partner is not affected.
    theirs = await ask(api, FABRIKAM_ADMIN, location=BERLIN, id_type="DOMAIN_NAME", value=NORTHWIND_DOMAIN)
    assert (
        by_key(theirs)[ASSESSMENT]["reasons"] == [] and by_key(theirs)[ASSESSMENT]["coolingOffUntil"] is None
    )

    # From the instant it ends, the partner may nominate again.
    api.clock.offset = until - datetime.now(until.tzinfo) + timedelta(seconds=1)
    assert by_key(await ask(api, CONTOSO_ADMIN, **arguments))[ASSESSMENT]["reasons"] == []
    later = await nominate(api, CONTOSO_ADMIN, **arguments, engagements=[ASSESSMENT])
    assert later["userErrors"] == []


async def test_another_partner_may_nominate_while_one_cools_off(clean_api):
    api = clean_api
    first = await nominate(
        api,
        CONTOSO_ADMIN,
        location=SEATTLE,
        id_type="DOMAIN_NAME",
        value=NORTHWIND_DOMAIN,
        engagements=[ASSESSMENT],
    )
    assert first["userErrors"] == []
    api.clock.offset = timedelta(days=31)
    theirs = await nominate(
        api,
        FABRIKAM_ADMIN,
        location=BERLIN,
        id_type="TENANT_ID",
        value=NORTHWIND_TENANT,
        engagements=[ASSESSMENT],
    )
    assert theirs["userErrors"] == []
    # Contoso: still cooling off, and now the customer's limit is reached by another partner too.
    answer = await ask(api, CONTOSO_ADMIN, location=SEATTLE, id_type="DOMAIN_NAME", value=NORTHWIND_DOMAIN)
    assert by_key(answer)[ASSESSMENT]["reasons"] == ["CLAIM_LIMIT_REACHED", "COOLING_OFF"]


async def test_a_declined_customer_cannot_be_mailed_again_by_a_new_claim(clean_api, smtp):
    """Re-mail after a decline: neither a new add nor a claim of the known customer, on any of its identifiers."""
    api = clean_api
    recipient, first_recipient = _recipient(), _recipient()
    known = await nominate(
        api,
        CONTOSO_ADMIN,
        location=SEATTLE,
        id_type="DOMAIN_NAME",
        value=NORTHWIND_DOMAIN,
        engagements=[TEAMS],
        email=first_recipient,
    )
    # Contoso knows Northwind from an earlier consent; that claim is cancelled, so it has no deadline to pass.
    await answer_consent(api, smtp, known["claims"][0]["id"], first_recipient, "ACCEPT")
    cancelled = await act(api, "cancelClaim", known["claims"][0]["id"])
    assert cancelled["userErrors"] == []
    declined = await nominate(
        api, CONTOSO_ADMIN, location=SEATTLE, id_type="DOMAIN_NAME", value=NORTHWIND_DOMAIN,
        engagements=[ASSESSMENT], email=recipient,
    )  # fmt: skip
    await answer_consent(api, smtp, declined["claims"][0]["id"], recipient, "DECLINE")
    mails = len(await smtp.wait_for(recipient))

    again = await nominate(
        api, CONTOSO_ADMIN, location=SEATTLE, id_type="TENANT_ID", value=NORTHWIND_TENANT, engagements=[ASSESSMENT],
        email=recipient,
    )  # fmt: skip
    assert errors(again) == [("COOLING_OFF", ("input", "engagementIds", "0"))]
    claimed = await claim_known(
        api, CONTOSO_ADMIN, known["customer"]["id"], location=SEATTLE, engagements=[ASSESSMENT]
    )
    assert errors(claimed) == [("COOLING_OFF", ("input", "engagementIds", "0"))]
    assert len([m for m in smtp.messages if m["To"] == recipient]) == mails  # nobody mailed

    # The Customers page: Ineligible for that engagement, with no claim offered; eligible elsewhere.
    ineligible = rows(await tab(api, ASSESSMENT, "INELIGIBLE"))
    assert ineligible[NORTHWIND_DOMAIN]["ineligibilityReasons"] == ["COOLING_OFF"]
    assert ineligible[NORTHWIND_DOMAIN]["availableActions"] == []
    assert NORTHWIND_DOMAIN not in rows(await tab(api, ASSESSMENT, "ELIGIBLE"))
    assert rows(await tab(api, SECURITY, "ELIGIBLE"))[NORTHWIND_DOMAIN]["availableActions"] == [
        "CLAIM_CUSTOMER"
    ]

    # 30 days after the decline the page offers it again, with no claim event in between: the tab judged (and
    # kept) during the cooling off holds only until it ends.
    api.clock.offset = timedelta(days=30, seconds=5)
    eligible = rows(await tab(api, ASSESSMENT, "ELIGIBLE"))
    assert eligible[NORTHWIND_DOMAIN]["availableActions"] == ["CLAIM_CUSTOMER"]
    claimed = await claim_known(
        api, CONTOSO_ADMIN, known["customer"]["id"], location=SEATTLE, engagements=[ASSESSMENT]
    )
    assert claimed["userErrors"] == []


# ---------------------------------------------------------------------------------------------------- currencies


async def test_a_yen_deal_is_judged_and_paid_in_the_engagements_dollars(clean_api):
    api = clean_api
    # 10 000 000 JPY at 0.0067 USD is 67 000 USD: over the 50 000 USD minimum.
    answer = await ask(
        api,
        CONTOSO_ADMIN,
        location=SEATTLE,
        id_type="MSX_OPPORTUNITY_ID",
        value=VANARSDEL_JPY_OPPORTUNITY,
        hours=100,
    )
    migrate = by_key(answer)[MIGRATE]
    assert migrate["reasons"] == []
    # min(100 x 150, 5% of 67 000, 25 000) = 3 350 USD
    assert migrate["proposedPayout"] == {
        "amount": "3350.00",
        "currency": "USD",
        "dealCurrency": "JPY",
        "exchangeRate": "0.0067",
    }
    # Not as if it were 10 000 000 USD: the larger minimums are not met.
    assert by_key(answer)["sap-on-azure-migration"]["reasons"] == ["CRITERIA_NOT_MET"]  # 250 000 USD
    assert by_key(answer)["fabric-analytics-platform"]["reasons"] == ["CRITERIA_NOT_MET"]  # 500 000 USD
    # 5 000 000 JPY is 33 500 USD: under it.
    lower = await ask(
        api, CONTOSO_ADMIN, location=SEATTLE, id_type="MSX_OPPORTUNITY_ID", value=SOUTHRIDGE_JPY_OPPORTUNITY
    )
    assert by_key(lower)[MIGRATE]["reasons"] == ["CRITERIA_NOT_MET"]

    payload = await nominate(
        api, CONTOSO_ADMIN, location=SEATTLE, id_type="MSX_OPPORTUNITY_ID", value=VANARSDEL_JPY_OPPORTUNITY,
        engagements=[MIGRATE], hours=100,
    )  # fmt: skip
    assert payload["userErrors"] == []
    [claim] = payload["claims"]
    assert claim["proposedPayout"] == migrate["proposedPayout"]
    refused = await nominate(
        api, CONTOSO_ADMIN, location=SEATTLE, id_type="MSX_OPPORTUNITY_ID", value=SOUTHRIDGE_JPY_OPPORTUNITY,
        engagements=[MIGRATE], hours=100,
    )  # fmt: skip
    assert errors(refused) == [("CRITERIA_NOT_MET", ("input", "engagementIds", "0"))]

    # The claim keeps the rate it used: a later import of another rate changes nothing of it.
    original = load_document(DEMO_DATA)
    changed = copy.deepcopy(original)
    changed["exchangeRates"] = [{"currency": "JPY", "usdPerUnit": "0.0050"}]
    await import_reference_data(api.database.sessions, changed)
    try:
        stored = (await api.graphql(NODE, {"id": claim["id"]}, as_user=CONTOSO_ADMIN)).data["node"]
        assert stored["proposedPayout"] == migrate["proposedPayout"]
        async with api.database.sessions() as session:
            kept = (
                await session.execute(
                    select(Claim.currency, Claim.deal_currency, Claim.exchange_rate, Claim.proposed_payout)
                )
            ).one()
        assert tuple(kept) == ("USD", "JPY", Decimal("0.0067"), Decimal("3350.00"))
        # New judgements use the new rate: 10 000 000 JPY is 50 000 USD, exactly the minimum.
        answer = await ask(
            api, FABRIKAM_ADMIN, location=BERLIN, id_type="MSX_OPPORTUNITY_ID", value=VANARSDEL_JPY_OPPORTUNITY,
            hours=100,
        )  # fmt: skip
        assert by_key(answer)[MIGRATE]["reasons"] == [
            "CLAIM_LIMIT_REACHED"
        ]  # Contoso's claim; the deal passes
        assert by_key(answer)[MIGRATE]["proposedPayout"]["exchangeRate"] == "0.005"
    finally:
        await import_reference_data(api.database.sessions, original)


async def test_a_dollar_deal_on_a_euro_engagement_is_converted(clean_api):
    api = clean_api
    answer = await ask(
        api,
        CONTOSO_ADMIN,
        location=SEATTLE,
        id_type="MSX_OPPORTUNITY_ID",
        value=WOODGROVE_OPPORTUNITY,
        hours=100,
    )
    # 850 000 USD at 1/1.08 = 0.9259259259 EUR per USD is 787 037.04 EUR; min(100 x 140, 5% of it, 23 000).
    emea = by_key(answer)[EMEA_MIGRATE]
    assert emea["reasons"] == []
    assert emea["proposedPayout"] == {
        "amount": "14000.00",
        "currency": "EUR",
        "dealCurrency": "USD",
        "exchangeRate": "0.9259259259",
    }
    # The same deal on the dollar engagement: no conversion.
    assert by_key(answer)[MIGRATE]["proposedPayout"] == {
        "amount": "15000.00",
        "currency": "USD",
        "dealCurrency": "USD",
        "exchangeRate": "1",
    }
    payload = await nominate(
        api, CONTOSO_ADMIN, location=SEATTLE, id_type="MSX_OPPORTUNITY_ID", value=WOODGROVE_OPPORTUNITY,
        engagements=[EMEA_MIGRATE], hours=100,
    )  # fmt: skip
    assert payload["userErrors"] == []
    assert payload["claims"][0]["proposedPayout"] == emea["proposedPayout"]
    # A euro deal on the euro engagement needs no rate; on the dollar one it is converted at 1.08.
    euros = await ask(
        api,
        CONTOSO_ADMIN,
        location=SEATTLE,
        id_type="MSX_OPPORTUNITY_ID",
        value=LUCERNE_EUR_OPPORTUNITY,
        hours=10,
    )
    assert by_key(euros)[EMEA_MIGRATE]["proposedPayout"]["exchangeRate"] == "1"
    assert by_key(euros)[MIGRATE]["proposedPayout"] == {
        "amount": "1500.00",
        "currency": "USD",
        "dealCurrency": "EUR",
        "exchangeRate": "1.08",
    }


async def test_a_deal_in_a_currency_without_a_rate_is_not_supported(clean_api):
    api = clean_api
    answer = await ask(
        api,
        CONTOSO_ADMIN,
        location=SEATTLE,
        id_type="MSX_OPPORTUNITY_ID",
        value=FIRST_UP_CHF_OPPORTUNITY,
        hours=10,
    )
    for key in (MIGRATE, EMEA_MIGRATE):
        assert by_key(answer)[key]["reasons"] == ["CURRENCY_NOT_SUPPORTED"], key
        assert by_key(answer)[key]["proposedPayout"] is None, key
    assert by_key(answer)["mainframe-modernization"]["reasons"] == ["CURRENCY_NOT_SUPPORTED"]
    payload = await nominate(
        api, CONTOSO_ADMIN, location=SEATTLE, id_type="MSX_OPPORTUNITY_ID", value=FIRST_UP_CHF_OPPORTUNITY,
        engagements=[MIGRATE], hours=10,
    )  # fmt: skip
    assert errors(payload) == [("CURRENCY_NOT_SUPPORTED", ("input", "engagementIds", "0"))]
    assert (await row_counts(api))["claim"] == 0


# ---------------------------------------------------------------------------------------------- the location


async def test_an_invalid_payee_profile_nominates_but_does_not_earn(clean_api):
    api = clean_api
    london = await ask(api, CONTOSO_ADMIN, location=LONDON, id_type="DOMAIN_NAME", value=NORTHWIND_DOMAIN)
    assert london["userErrors"] == []
    assessment = by_key(london)[ASSESSMENT]
    assert assessment in london["eligibleEngagements"]
    assert (assessment["canEarn"], assessment["earningReasons"]) == (False, ["PAYEE_PROFILE_INVALID"])
    # A verdict that cannot be chosen cannot earn either, and says why first.
    workshop = by_key(london)["copilot-adoption-workshop"]
    assert workshop["canEarn"] is False
    assert workshop["earningReasons"] == [*workshop["reasons"], "PAYEE_PROFILE_INVALID"]
    seattle = by_key(
        await ask(api, CONTOSO_ADMIN, location=SEATTLE, id_type="DOMAIN_NAME", value=NORTHWIND_DOMAIN)
    )
    assert (seattle[ASSESSMENT]["canEarn"], seattle[ASSESSMENT]["earningReasons"]) == (True, [])

    added = await nominate(
        api,
        CONTOSO_ADMIN,
        location=LONDON,
        id_type="DOMAIN_NAME",
        value=NORTHWIND_DOMAIN,
        engagements=[ASSESSMENT],
    )
    assert added["userErrors"] == [] and added["claims"][0]["location"]["locationId"] == LONDON
    await mark_consented(api, added["claims"][0]["id"])
    claimed = await claim_known(
        api, CONTOSO_ADMIN, added["customer"]["id"], location=LONDON, engagements=[SECURITY]
    )
    assert claimed["userErrors"] == [] and claimed["claims"][0]["location"]["locationId"] == LONDON


async def test_the_locations_problems_are_reported_once_on_the_location(clean_api):
    api = clean_api
    keys = [ASSESSMENT, SECURITY, TEAMS]
    payload = await nominate(
        api,
        CONTOSO_ADMIN,
        location=MEXICO_CITY,
        id_type="DOMAIN_NAME",
        value=NORTHWIND_DOMAIN,
        engagements=keys,
    )
    assert errors(payload) == [
        ("LOCATION_NOT_ENROLLED", ("input", "locationId")),
        ("LOCATION_NOT_ELIGIBLE", ("input", "locationId")),
    ]
    not_eligible = payload["userErrors"][1]["message"]
    assert all(name in not_eligible for name in ("Copilot Readiness", "Cybersecurity Posture", "Teams Phone"))
    # Toronto is enrolled, and eligible for one of them only; the identifier's own problems stay per engagement.
    payload = await nominate(
        api, CONTOSO_ADMIN, location=TORONTO, id_type="DOMAIN_NAME", value=NORTHWIND_DOMAIN,
        engagements=[ASSESSMENT, SECURITY, "purview-data-security-deployment", "copilot-adoption-workshop"],
    )  # fmt: skip
    assert errors(payload) == [
        ("LOCATION_NOT_ELIGIBLE", ("input", "locationId")),
        ("CRITERIA_NOT_MET", ("input", "engagementIds", "3")),  # Northwind is Enterprise
    ]
    message = payload["userErrors"][0]["message"]
    assert "Cybersecurity Posture" in message and "Purview" in message and "Copilot Readiness" not in message
    assert (await row_counts(api))["claim"] == 0
    # The preview: once on the location for a location not enrolled, and on every verdict it concerns.
    answer = await ask(
        api, CONTOSO_ADMIN, location=MEXICO_CITY, id_type="DOMAIN_NAME", value=NORTHWIND_DOMAIN
    )
    assert [(e["code"], e["field"]) for e in answer["userErrors"]] == [
        ("LOCATION_NOT_ENROLLED", ["input", "locationId"])
    ]
    assert answer["eligibleEngagements"] == []
    assert all(v["reasons"][0] == "LOCATION_NOT_ENROLLED" for v in answer["ineligibleEngagements"])


async def test_claiming_is_offered_only_where_one_of_the_viewers_locations_can_claim(clean_api, smtp):
    """The seller acts for Toronto only, which cannot earn on the Security Posture Assessment."""
    api = clean_api
    known = await nominate(
        api,
        CONTOSO_ADMIN,
        location=SEATTLE,
        id_type="DOMAIN_NAME",
        value=NORTHWIND_DOMAIN,
        engagements=[TEAMS],
    )
    await mark_consented(api, known["claims"][0]["id"])
    admin = rows(await tab(api, SECURITY, "ELIGIBLE"))
    assert admin[NORTHWIND_DOMAIN]["availableActions"] == ["CLAIM_CUSTOMER"]
    seller = rows(await tab(api, SECURITY, "ELIGIBLE", user=CONTOSO_SELLER))
    assert seller[NORTHWIND_DOMAIN]["availableActions"] == []
    refused = await claim_known(
        api, CONTOSO_SELLER, known["customer"]["id"], location=TORONTO, engagements=[SECURITY]
    )
    assert errors(refused) == [("LOCATION_NOT_ELIGIBLE", ("input", "locationId"))]
    # Where Toronto can claim, the seller is offered it, and claiming succeeds.
    assert rows(await tab(api, ASSESSMENT, "ELIGIBLE", user=CONTOSO_SELLER))[NORTHWIND_DOMAIN][
        "availableActions"
    ] == ["CLAIM_CUSTOMER"]
    claimed = await claim_known(
        api, CONTOSO_SELLER, known["customer"]["id"], location=TORONTO, engagements=[ASSESSMENT]
    )
    assert claimed["userErrors"] == []


# ---------------------------------------------------------------------------------------- IDENTIFIER_NOT_FOUND


async def test_an_unknown_identifier_has_one_name_in_the_preview_and_the_add(clean_api):
    api = clean_api
    answer = await ask(
        api, CONTOSO_ADMIN, location=SEATTLE, id_type="DOMAIN_NAME", value="unknown-customer.example"
    )
    assert by_key(answer)[ASSESSMENT]["reasons"] == ["IDENTIFIER_NOT_FOUND"]
    payload = await nominate(
        api, CONTOSO_ADMIN, location=SEATTLE, id_type="DOMAIN_NAME", value="unknown-customer.example",
        engagements=[ASSESSMENT],
    )  # fmt: skip
    assert errors(payload) == [("IDENTIFIER_NOT_FOUND", ("input", "engagementIds", "0"))]
    # NOT_FOUND stays for IDs that name nothing you can see.
    ids = await global_ids(api)
    variables = {
        "input": {
            "locationId": ids.location(BERLIN),
            "customerIdType": "DOMAIN_NAME",
            "customerIdValue": NORTHWIND_DOMAIN,
        }
    }
    other = (await api.graphql(PREVIEW, variables, as_user=CONTOSO_ADMIN)).data["customerEligibility"]
    assert [(e["code"], e["field"]) for e in other["userErrors"]] == [("NOT_FOUND", ["input", "locationId"])]


async def test_an_opportunity_of_another_engagements_currency_keeps_its_other_verdicts(clean_api):
    """No cascading between engagements: the Northwind opportunity (USD, US) on the euro engagement is judged on
    the engagement's own criteria, its deal converted."""
    api = clean_api
    answer = await ask(
        api,
        CONTOSO_ADMIN,
        location=SEATTLE,
        id_type="MSX_OPPORTUNITY_ID",
        value=NORTHWIND_OPPORTUNITY,
        hours=10,
    )
    assert by_key(answer)[EMEA_MIGRATE]["reasons"] == ["CRITERIA_NOT_MET"]  # UK, Germany and France only
    assert by_key(answer)[EMEA_MIGRATE]["proposedPayout"]["currency"] == "EUR"


async def test_a_customer_known_by_subscription_counts_as_its_tenant_on_the_page_and_in_a_claim(clean_api):
    api = clean_api
    known = await nominate(
        api,
        CONTOSO_ADMIN,
        location=SEATTLE,
        id_type="AZURE_SUBSCRIPTION_ID",
        value=NORTHWIND_SUBSCRIPTION,
        engagements=["azure-landing-zone-quick-start"],
    )
    await mark_consented(api, known["claims"][0]["id"])
    assert rows(await tab(api, DESKTOPS, "ELIGIBLE"))[NORTHWIND_SUBSCRIPTION]["availableActions"] == [
        "CLAIM_CUSTOMER"
    ]
    by_tenant = await nominate(
        api,
        CONTOSO_ADMIN,
        location=SEATTLE,
        id_type="TENANT_ID",
        value=NORTHWIND_TENANT,
        engagements=[DESKTOPS],
    )
    assert by_tenant["userErrors"] == []
    row = rows(await tab(api, DESKTOPS, "INELIGIBLE"))[NORTHWIND_SUBSCRIPTION]
    assert (row["ineligibilityReasons"], row["availableActions"]) == (["ALREADY_CLAIMED_BY_YOU"], [])
    claimed = await claim_known(
        api, CONTOSO_ADMIN, known["customer"]["id"], location=TORONTO, engagements=[DESKTOPS]
    )
    assert errors(claimed) == [("ALREADY_CLAIMED_BY_YOU", ("input", "engagementIds", "0"))]


async def test_the_customers_page_judges_a_known_opportunity_in_each_engagements_currency(clean_api, smtp):
    """A known customer by a yen opportunity (67 000 USD): eligible for the 50 000 USD minimum, not the 250 000."""
    api = clean_api
    recipient = _recipient("vanarsdel.example")
    added = await nominate(
        api, CONTOSO_ADMIN, location=SEATTLE, id_type="MSX_OPPORTUNITY_ID", value=VANARSDEL_JPY_OPPORTUNITY,
        engagements=[MIGRATE], hours=10, email=recipient,
    )  # fmt: skip
    assert added["userErrors"] == []
    await answer_consent(api, smtp, added["claims"][0]["id"], recipient, "ACCEPT")
    assert (await act(api, "cancelClaim", added["claims"][0]["id"]))["userErrors"] == []

    assert VANARSDEL_JPY_OPPORTUNITY in rows(await tab(api, MIGRATE, "ELIGIBLE"))
    sap = rows(await tab(api, "sap-on-azure-migration", "INELIGIBLE"))
    assert sap[VANARSDEL_JPY_OPPORTUNITY]["ineligibilityReasons"] == []  # withheld for variable pay
    assert VANARSDEL_JPY_OPPORTUNITY not in rows(await tab(api, "sap-on-azure-migration", "ELIGIBLE"))
