"""The Customers page keeps each judged tab (`services/customers_page.TabJudgements`) and judges it again as soon as
anything it was judged from changes: a claim event on the engagement (any partner's) or of the partner, an import
of reference data, the clock closing the engagement. Every change here goes through the API or the importer, as
in production; nothing is written behind the app's back."""

import copy
from datetime import UTC, datetime, timedelta

from app.cli import DEMO_DATA
from app.services.importer import import_reference_data, load_document
from tests.api.test_customers_page import (
    ASSESSMENT,
    BERLIN,
    SECURITY,
    accept,
    add,
    rows,
    step,
    tab,
)
from tests.demo import FABRIKAM_ADMIN

ADATUM = "adatum.example"
ADATUM_TENANT = "3dc3bda0-b086-5733-afb7-6f350b0e2a18"  # US, Corporate
DESKTOPS = (
    "azure-virtual-desktop-deployment"  # TENANT_ID, Corporate or Enterprise; takes claims until mid-2027
)


async def known(api, smtp, value: str, **extra) -> None:
    """A customer Contoso knows (consented once) and holds no active claim on: judged on every tab."""
    added = await add(api, value, **extra)
    await accept(api, smtp, added)
    await step(api, "cancelClaim", added)


async def test_a_kept_tab_costs_its_page_and_shows_the_same_rows(clean_api, smtp):
    api = clean_api
    await known(api, smtp, ADATUM)
    with api.statements() as judged:
        first = await tab(api, ASSESSMENT, "ELIGIBLE")
    with api.statements() as kept:
        again = await tab(api, ASSESSMENT, "ELIGIBLE")
    assert again == first and ADATUM in rows(first)
    # Kept: no candidates, active claims, directory or claim counts read again.
    assert len(kept) < len(judged)
    assert not [s for s in kept if "directory_" in s]


async def test_another_partners_claim_on_the_engagement_moves_a_known_customer_to_ineligible(clean_api, smtp):
    api = clean_api
    await known(api, smtp, ADATUM)
    assert ADATUM in rows(await tab(api, ASSESSMENT, "ELIGIBLE"))

    await add(api, ADATUM, user=FABRIKAM_ADMIN, location=BERLIN)  # at most one active claim per customer

    assert ADATUM not in rows(await tab(api, ASSESSMENT, "ELIGIBLE"))
    row = rows(await tab(api, ASSESSMENT, "INELIGIBLE"))[ADATUM]
    assert row["ineligibilityReasons"] == ["CLAIM_LIMIT_REACHED"]


async def test_an_import_of_reference_data_is_judged_at_once(clean_api, smtp):
    api = clean_api
    await known(api, smtp, ADATUM)
    assert ADATUM in rows(await tab(api, SECURITY, "ELIGIBLE"))  # US: among its countries

    original = load_document(DEMO_DATA)
    moved = copy.deepcopy(original)
    [tenant] = [t for t in moved["directory"]["tenants"] if t["tenantId"] == ADATUM_TENANT]
    tenant["country"] = "JP"
    await import_reference_data(api.database.sessions, moved)
    try:
        assert ADATUM not in rows(await tab(api, SECURITY, "ELIGIBLE"))
        row = rows(await tab(api, SECURITY, "INELIGIBLE"))[ADATUM]
        assert row["ineligibilityReasons"] == ["CRITERIA_NOT_MET"]
    finally:
        await import_reference_data(api.database.sessions, original)
    assert ADATUM in rows(await tab(api, SECURITY, "ELIGIBLE"))


async def test_the_clock_closing_the_engagement_is_judged_at_once(clean_api, smtp):
    api = clean_api
    await known(
        api,
        smtp,
        ADATUM_TENANT,
        id_type="TENANT_ID",
        tenantMismatchReason="The contact works for a reseller.",
    )
    assert ADATUM_TENANT in rows(await tab(api, DESKTOPS, "ELIGIBLE"))

    api.clock.offset = datetime(2027, 7, 1, tzinfo=UTC) - datetime.now(UTC)  # past its claimsOpenUntil
    try:
        assert ADATUM_TENANT not in rows(await tab(api, DESKTOPS, "ELIGIBLE"))
        row = rows(await tab(api, DESKTOPS, "INELIGIBLE"))[ADATUM_TENANT]
        assert row["ineligibilityReasons"] == ["ENGAGEMENT_CLOSED"]
    finally:
        api.clock.offset = timedelta(0)
