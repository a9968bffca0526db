"""The reference-data import: the demo file, idempotence, updates in place, problems by path, all or none."""

import copy
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db import transaction
from app.domain.enums import CustomerIdType, EngagementType, IncentivesRole, OpportunityStatus, PayType
from app.models import (
    CountryMarket,
    DirectoryDomain,
    DirectoryOpportunity,
    DirectorySubscription,
    DirectoryTenant,
    Engagement,
    EngagementLocation,
    ExchangeRate,
    PartnerAccount,
    PartnerLocation,
    PartnerUser,
    RoleAssignment,
)
from app.services.importer import (
    DEMO_DOCUMENT,
    InvalidReferenceData,
    import_reference_data,
    load_document,
    validate_document,
)
from tests.conftest import Database

REFERENCE_TABLES = [
    PartnerAccount,
    PartnerLocation,
    PartnerUser,
    RoleAssignment,
    Engagement,
    EngagementLocation,
    CountryMarket,
    ExchangeRate,
    DirectoryTenant,
    DirectoryDomain,
    DirectorySubscription,
    DirectoryOpportunity,
]

NORTHWIND = "Northwind Traders"


_DEMO = load_document(DEMO_DOCUMENT)


def demo() -> dict[str, Any]:
    """A fresh copy of the demo document, to change at will."""
    return copy.deepcopy(_DEMO)


def engagement(document: dict[str, Any], key: str) -> dict[str, Any]:
    return next(e for e in document["engagements"] if e["key"] == key)


def tenant(document: dict[str, Any], name: str) -> dict[str, Any]:
    return next(t for t in document["directory"]["tenants"] if t["name"] == name)


def user(document: dict[str, Any], email: str) -> dict[str, Any]:
    return next(u for p in document["partners"] for u in p["users"] if u["email"] == email)


async def row_counts(db: Database) -> dict[str, int]:
    async with transaction(db.sessions) as session:
        return {
            model.__tablename__: (await session.execute(select(func.count()).select_from(model))).scalar_one()
            for model in REFERENCE_TABLES
        }


async def snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every reference table, in a stable order."""
    async with transaction(db.sessions) as session:
        return {
            model.__tablename__: sorted(
                (tuple(row) for row in await session.execute(select(model.__table__))),  # type: ignore[attr-defined]
                key=repr,
            )
            for model in REFERENCE_TABLES
        }


async def one(db: Database, statement: Any) -> Any:
    async with transaction(db.sessions) as session:
        return (await session.execute(statement)).scalar_one()


async def all_of(db: Database, statement: Any) -> list[Any]:
    async with transaction(db.sessions) as session:
        return list((await session.execute(statement)).scalars().all())


async def roles_of(db: Database, email: str) -> set[tuple[str, str | None]]:
    """(role, location ID or None for the whole account) of a user."""
    async with transaction(db.sessions) as session:
        rows = await session.execute(
            select(RoleAssignment.role, PartnerLocation.location_id)
            .join(PartnerUser, PartnerUser.id == RoleAssignment.user_id)
            .outerjoin(PartnerLocation, PartnerLocation.id == RoleAssignment.location_pk)
            .where(PartnerUser.email == email)
        )
        return {(role, location_id) for role, location_id in rows}


@contextmanager
def counting_statements(engine: AsyncEngine) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


# --- the demo file ------------------------------------------------------------------------------------------


async def test_the_demo_file_imports(empty_database: Database) -> None:
    db = empty_database
    summary = await import_reference_data(db.sessions, demo())

    assert summary.partners.created == 3
    assert summary.engagements.created == len(_DEMO["engagements"])
    assert summary.tenants.created == len(_DEMO["directory"]["tenants"])
    assert str(summary).startswith("Reference data imported: 3 partners (3 created);")

    contoso = await one(db, select(PartnerAccount).where(PartnerAccount.key == "contoso-partners"))
    assert contoso.name == "Contoso Partners"
    locations = {
        loc.location_id: loc
        for loc in await all_of(db, select(PartnerLocation).where(PartnerLocation.partner_id == contoso.id))
    }
    assert set(locations) == {"4100101", "4100102", "4100103", "4100104"}
    assert (locations["4100103"].country, locations["4100103"].mci_enrolled) == ("GB", True)
    assert locations["4100103"].payee_profile_valid is False
    assert locations["4100104"].mci_enrolled is False

    assert await roles_of(db, "admin@contoso-partners.example") == {("INCENTIVES_ADMIN", None)}
    assert await roles_of(db, "seller@contoso-partners.example") == {("INCENTIVES_USER", "4100102")}
    assert await roles_of(db, "admin@fabrikam-consulting.example") == {("INCENTIVES_ADMIN", None)}
    assert await roles_of(db, "user@fabrikam-consulting.example") == {("INCENTIVES_USER", "4200202")}

    migrate = await one(db, select(Engagement).where(Engagement.key == "azure-migrate-and-modernize"))
    assert (migrate.pay_type, migrate.engagement_type) == ("VARIABLE", "PROJECT_M")
    assert migrate.allowed_customer_id_types == ["MSX_OPPORTUNITY_ID"]
    assert (migrate.hourly_rate_a, migrate.hourly_rate_b, migrate.hourly_rate_c) == (150, 110, 75)
    assert migrate.percent_of_deal == Decimal("0.05")
    assert (migrate.payout_cap, migrate.min_deal_size, migrate.max_hours) == (25000, 50000, 200)
    assert migrate.currency == "USD"

    closed = await one(db, select(Engagement).where(Engagement.key == "threat-protection-workshop"))
    assert closed.claims_open_until == datetime(2025, 1, 1, tzinfo=UTC)
    workshop = await one(db, select(Engagement).where(Engagement.key == "copilot-adoption-workshop"))
    assert (workshop.consent_days, workshop.submit_days, workshop.review_days) == (14, 60, 90)
    assert workshop.dispute_days is None
    assert workshop.criteria_segments == ["SMB", "Corporate"]
    assert workshop.hourly_rate_a is None and workshop.percent_of_deal is None

    eligible = await all_of(
        db, select(EngagementLocation.location_id).where(EngagementLocation.engagement_id == closed.id)
    )
    assert sorted(eligible) == ["4100101", "4200201"]

    northwind = await one(db, select(DirectoryTenant).where(DirectoryTenant.name == NORTHWIND))
    assert await one(
        db, select(DirectoryDomain.tenant_pk).where(DirectoryDomain.domain == "northwind.example")
    )
    domains = await all_of(
        db, select(DirectoryDomain.domain).where(DirectoryDomain.tenant_pk == northwind.id)
    )
    assert sorted(domains) == ["northwind.example", "northwindtraders.example"]
    opportunity = await one(
        db, select(DirectoryOpportunity).where(DirectoryOpportunity.msx_opportunity_id == "7-3FS2XQBWAO")
    )
    assert (opportunity.tenant_pk, opportunity.deal_size, opportunity.status) == (
        northwind.id,
        250000,
        "OPEN",
    )

    market = await one(db, select(CountryMarket.market).where(CountryMarket.country == "IN"))
    assert market == "C"


def test_the_demo_file_covers_every_case() -> None:
    data = validate_document(demo())  # self-contained: valid without any database
    engagements = [e.item for e in data.engagements]
    assert {e.engagement_type for e in engagements} == set(EngagementType)
    assert 12 <= len(engagements) <= 16
    variable = [e for e in engagements if e.pay_type is PayType.VARIABLE]
    assert len(variable) >= 2
    fixed_id_types = {
        t for e in engagements if e.pay_type is PayType.FIXED for t in e.allowed_customer_id_types
    }
    assert fixed_id_types == set(CustomerIdType) - {CustomerIdType.MSX_OPPORTUNITY_ID}
    assert any(e.customer_criteria.countries for e in engagements)
    assert any(e.customer_criteria.segments for e in engagements)
    assert any(
        e.claims_open_until and e.claims_open_until < datetime(2025, 6, 1, tzinfo=UTC) for e in engagements
    )
    assert any(e.timelines.consent_days for e in engagements)

    all_locations = {loc.location_id for p in data.partners for loc in p.item.locations}
    assert any(all_locations - set(e.eligible_location_ids) for e in engagements)
    for p in data.partners:
        locations = p.item.locations
        assert any(loc.mci_enrolled for loc in locations) and any(not loc.mci_enrolled for loc in locations)
        roles = [(r.role, r.location_id) for u in p.item.users for r in u.roles]
        assert (IncentivesRole.INCENTIVES_ADMIN, None) in roles
    assert len(data.partners) >= 2
    assert all(
        any(r.role is IncentivesRole.INCENTIVES_USER and r.location_id for u in p.item.users for r in u.roles)
        for p in data.partners[:2]
    )
    assert any(
        not loc.payee_profile_valid for p in data.partners for loc in p.item.locations if loc.mci_enrolled
    )

    tenants = [t.item for t in data.tenants]
    opportunities = [o.item for o in data.opportunities]
    assert 20 <= len(tenants) <= 30 and 8 <= len(opportunities) <= 16
    # Currencies: rates to USD, deals in another currency (one without a rate), an engagement in another one.
    rated = {r.item.currency for r in data.exchange_rates}
    assert rated and "USD" not in rated
    assert {o.currency for o in opportunities} & rated
    assert {o.currency for o in opportunities} - rated - {"USD"}
    assert any(e.currency in rated for e in variable)
    assert {o.status for o in opportunities} == set(OpportunityStatus)
    minimum = min(e.min_deal_size for e in variable if e.min_deal_size is not None)
    assert any(o.deal_size < minimum for o in opportunities)
    assert any(o.deal_size >= minimum and o.status is OpportunityStatus.OPEN for o in opportunities)
    assert all(t.domains for t in tenants[:5]) and any(t.tpid for t in tenants)
    assert any(t.azure_subscription_ids for t in tenants)
    markets = {m.item[0] for m in data.markets}
    assert {loc.country for p in data.partners for loc in p.item.locations} <= markets
    assert {t.country for t in tenants} <= markets


# --- idempotence and updates --------------------------------------------------------------------------------


async def test_a_second_import_changes_nothing(empty_database: Database) -> None:
    db = empty_database
    await import_reference_data(db.sessions, demo())
    before = await snapshot(db)

    summary = await import_reference_data(db.sessions, demo())

    assert await snapshot(db) == before
    assert not summary.changed
    assert summary.tenants.unchanged == len(_DEMO["directory"]["tenants"])
    assert str(summary).startswith("Reference data already up to date (3 partners, 11 locations,")


async def test_a_modified_document_updates_in_place(empty_database: Database) -> None:
    db = empty_database
    await import_reference_data(db.sessions, demo())
    counts = await row_counts(db)
    partner_pk = await one(db, select(PartnerAccount.id).where(PartnerAccount.key == "contoso-partners"))
    tenant_pk = await one(db, select(DirectoryTenant.id).where(DirectoryTenant.name == NORTHWIND))

    document = demo()
    document["partners"][0]["name"] = "Contoso Partners Ltd"
    document["partners"][0]["locations"][3]["mciEnrolled"] = True  # Mexico City enrols
    migrate = engagement(document, "azure-migrate-and-modernize")
    migrate["cap"] = "30000.50"
    migrate["eligibleLocationIds"] = ["4100101", "4100104"]
    northwind = tenant(document, NORTHWIND)
    northwind["domains"] = ["northwindtraders.example", "northwind-traders.example"]
    northwind["tpid"] = "5500999"
    northwind["azureSubscriptionIds"] = northwind["azureSubscriptionIds"][:1]
    document["directory"]["opportunities"][0]["status"] = "WON"
    document["markets"]["IN"] = "B"

    summary = await import_reference_data(db.sessions, document)

    assert (summary.partners.updated, summary.partners.unchanged) == (1, 2)
    assert (summary.locations.updated, summary.engagements.updated, summary.tenants.updated) == (1, 1, 1)
    assert (summary.domains.created, summary.domains.deleted) == (1, 1)
    assert summary.subscriptions.deleted == 1
    assert (summary.opportunities.updated, summary.markets.updated) == (1, 1)
    assert summary.users.changed is False and summary.roles.changed is False

    partner = await one(db, select(PartnerAccount).where(PartnerAccount.key == "contoso-partners"))
    assert (partner.id, partner.name) == (partner_pk, "Contoso Partners Ltd")
    mexico = await one(db, select(PartnerLocation).where(PartnerLocation.location_id == "4100104"))
    assert mexico.mci_enrolled is True
    row = await one(db, select(Engagement).where(Engagement.key == "azure-migrate-and-modernize"))
    assert row.payout_cap == Decimal("30000.50") and row.hourly_rate_a == 150
    eligible = await all_of(
        db, select(EngagementLocation.location_id).where(EngagementLocation.engagement_id == row.id)
    )
    assert sorted(eligible) == ["4100101", "4100104"]
    northwind_row = await one(db, select(DirectoryTenant).where(DirectoryTenant.name == NORTHWIND))
    assert (northwind_row.id, northwind_row.tpid) == (tenant_pk, "5500999")
    domains = await all_of(db, select(DirectoryDomain.domain).where(DirectoryDomain.tenant_pk == tenant_pk))
    assert sorted(domains) == ["northwind-traders.example", "northwindtraders.example"]
    subscriptions = await all_of(
        db, select(DirectorySubscription.subscription_id).where(DirectorySubscription.tenant_pk == tenant_pk)
    )
    assert subscriptions == northwind["azureSubscriptionIds"]
    status = await one(
        db,
        select(DirectoryOpportunity.status).where(DirectoryOpportunity.msx_opportunity_id == "7-3FS2XQBWAO"),
    )
    assert status == "WON"

    after = await row_counts(db)
    assert after["engagement_location"] == counts["engagement_location"] - 4
    assert after["directory_subscription"] == counts["directory_subscription"] - 1
    assert {k: v for k, v in after.items() if k not in {"engagement_location", "directory_subscription"}} == {
        k: v for k, v in counts.items() if k not in {"engagement_location", "directory_subscription"}
    }


async def test_roles_are_replaced_to_match_the_document(empty_database: Database) -> None:
    db = empty_database
    await import_reference_data(db.sessions, demo())

    document = demo()
    user(document, "seller@contoso-partners.example")["roles"] = [
        {"role": "INCENTIVES_ADMIN", "locationId": None},
        {"role": "INCENTIVES_USER", "locationId": "4100101"},
    ]
    summary = await import_reference_data(db.sessions, document)

    assert await roles_of(db, "seller@contoso-partners.example") == {
        ("INCENTIVES_ADMIN", None),
        ("INCENTIVES_USER", "4100101"),
    }
    assert (summary.roles.created, summary.roles.deleted) == (2, 1)
    assert await roles_of(db, "admin@contoso-partners.example") == {("INCENTIVES_ADMIN", None)}
    assert await roles_of(db, "adele.vance@contoso-partners.example") == {
        ("INCENTIVES_USER", "4100101"),
        ("INCENTIVES_USER", "4100103"),
    }

    user(document, "seller@contoso-partners.example")["roles"] = []
    await import_reference_data(db.sessions, document)
    assert await roles_of(db, "seller@contoso-partners.example") == set()
    seller = await one(db, select(PartnerUser).where(PartnerUser.email == "seller@contoso-partners.example"))
    assert seller.name == "Alex Wilber"  # the user stays, without access


async def test_values_are_normalised(empty_database: Database) -> None:
    db = empty_database
    document = {
        "partners": [
            {
                "key": "northwind-partner",
                "name": "  Northwind Partner  ",
                "locations": [
                    {
                        "locationId": "123",
                        "name": "HQ",
                        "country": "us",
                        "mciEnrolled": True,
                        "payeeProfileValid": True,
                    }
                ],
                "users": [{"email": "Ana.Admin@Northwind-Partner.EXAMPLE", "name": "Ana", "roles": []}],
            }
        ],
        "markets": {"us": "A"},
        "directory": {
            "tenants": [
                {
                    "tenantId": "{0F8FAD5B-D9CB-469F-A165-70867728950E}",
                    "name": "Tenant",
                    "domains": ["WWW.Example.COM."],
                    "tpid": "0042",
                    "azureSubscriptionIds": ["7C9E6679-7425-40DE-944B-E07FC1F90AE7"],
                    "country": "de",
                    "segment": "SMB",
                }
            ],
            "opportunities": [
                {
                    "msxOpportunityId": "7-abcdef12",
                    "tenantId": "0f8fad5b-d9cb-469f-a165-70867728950e",
                    "dealSize": 1000.5,
                    "status": "OPEN",
                    "currency": "eur",
                }
            ],
        },
    }
    await import_reference_data(db.sessions, document)

    assert await one(db, select(PartnerAccount.name)) == "Northwind Partner"
    assert await one(db, select(PartnerLocation.country)) == "US"
    assert await one(db, select(PartnerUser.email)) == "ana.admin@northwind-partner.example"
    assert await one(db, select(CountryMarket.country)) == "US"
    row = await one(db, select(DirectoryTenant))
    assert (row.tenant_id, row.tpid, row.country) == ("0f8fad5b-d9cb-469f-a165-70867728950e", "42", "DE")
    assert await one(db, select(DirectoryDomain.domain)) == "www.example.com"
    assert (
        await one(db, select(DirectorySubscription.subscription_id)) == "7c9e6679-7425-40de-944b-e07fc1f90ae7"
    )
    opportunity = await one(db, select(DirectoryOpportunity))
    assert (opportunity.msx_opportunity_id, opportunity.currency) == ("7-ABCDEF12", "EUR")
    assert opportunity.deal_size == Decimal("1000.50")


async def test_a_domain_moves_to_the_tenant_that_now_claims_it(empty_database: Database) -> None:
    db = empty_database
    await import_reference_data(db.sessions, demo())
    woodgrove = tenant(demo(), "Woodgrove Bank")
    newco = {
        "tenantId": "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
        "name": "Woodgrove Wealth",
        "domains": ["woodgrove.example"],
        "country": "GB",
        "segment": "Corporate",
    }
    summary = await import_reference_data(db.sessions, {"directory": {"tenants": [newco]}})

    assert (summary.tenants.created, summary.domains.updated) == (1, 1)
    owner = await one(
        db,
        select(DirectoryTenant.name)
        .join(DirectoryDomain, DirectoryDomain.tenant_pk == DirectoryTenant.id)
        .where(DirectoryDomain.domain == "woodgrove.example"),
    )
    assert owner == "Woodgrove Wealth"
    remaining = await all_of(
        db,
        select(DirectoryDomain.domain)
        .join(DirectoryTenant, DirectoryDomain.tenant_pk == DirectoryTenant.id)
        .where(DirectoryTenant.tenant_id == woodgrove["tenantId"]),
    )
    assert remaining == ["woodgrovebank.example"]


async def test_references_may_point_at_rows_already_in_the_database(empty_database: Database) -> None:
    db = empty_database
    await import_reference_data(db.sessions, demo())
    document = {
        "engagements": [
            {
                "key": "dynamics-365-sales-pilot",
                "name": "Dynamics 365 Sales Pilot",
                "solutionArea": "AI Business Solutions",
                "engagementType": "PROJECT_S",
                "payType": "FIXED",
                "allowedCustomerIdTypes": ["TENANT_ID"],
                "eligibleLocationIds": ["4100101", "4300301"],
            }
        ],
        "directory": {
            "opportunities": [
                {
                    "msxOpportunityId": "7-NEWDEAL001",
                    "tenantId": tenant(demo(), NORTHWIND)["tenantId"],
                    "dealSize": 75000,
                    "status": "OPEN",
                }
            ]
        },
    }
    summary = await import_reference_data(db.sessions, document)

    assert (summary.engagements.created, summary.eligible_locations.created) == (1, 2)
    row = await one(db, select(Engagement).where(Engagement.key == "dynamics-365-sales-pilot"))
    assert (row.description, row.max_active_claims_per_customer, row.criteria_countries) == ("", 1, None)
    assert (row.currency, row.claims_open_until) == ("USD", None)
    currency = select(DirectoryOpportunity.currency).where(
        DirectoryOpportunity.msx_opportunity_id == "7-NEWDEAL001"
    )
    assert await one(db, currency) == "USD"


# --- problems -----------------------------------------------------------------------------------------------


def broken_demo() -> dict[str, Any]:
    document = demo()
    document["partners"][0]["name"] = "Renamed, but never written"
    document["engagements"][3]["payType"] = "HOURLY"  # bad enum
    del document["engagements"][1]["name"]  # missing field
    document["engagements"][2]["eligibleLocationIds"].append("9999999")  # unknown location
    document["directory"]["tenants"][0]["tenantId"] = "not-a-guid"  # bad GUID
    return document


def assert_reported(problems: list[str], path: str, *fragments: str) -> None:
    """A problem at exactly `path` whose message holds every fragment."""
    at_path = [p.split(": ", 1)[1] for p in problems if p.split(": ", 1)[0] == path]
    assert any(all(f in message for f in fragments) for message in at_path), (path, problems)


async def test_a_broken_document_names_every_problem_and_writes_nothing(empty_database: Database) -> None:
    db = empty_database
    await import_reference_data(db.sessions, demo())
    before = await snapshot(db)

    with pytest.raises(InvalidReferenceData) as raised:
        await import_reference_data(db.sessions, broken_demo())

    problems = raised.value.problems
    assert "engagements[3].payType: Input should be 'FIXED' or 'VARIABLE'" in problems
    assert "engagements[1].name: Field required" in problems
    index = len(_DEMO["engagements"][2]["eligibleLocationIds"])
    assert_reported(problems, f"engagements[2].eligibleLocationIds[{index}]", "unknown location 9999999")
    assert_reported(problems, "directory.tenants[0].tenantId", "GUID", "'not-a-guid'")
    assert len(problems) == 4
    assert "4 problems in the reference data:" in str(raised.value)
    assert await snapshot(db) == before


async def test_a_broken_document_leaves_an_empty_database_empty(empty_database: Database) -> None:
    db = empty_database
    with pytest.raises(InvalidReferenceData):
        await import_reference_data(db.sessions, broken_demo())
    assert set((await row_counts(db)).values()) == {0}


def problems_of(document: Any) -> list[str]:
    with pytest.raises(InvalidReferenceData) as raised:
        validate_document(document)
    return raised.value.problems


def test_duplicates_and_conflicts_within_the_document() -> None:
    document = demo()
    contoso, fabrikam = document["partners"][0], document["partners"][1]
    fabrikam["locations"].append(dict(contoso["locations"][0]))  # a location in two accounts
    fabrikam["users"][1]["email"] = "ADMIN@contoso-partners.example"  # the same user twice (case aside)
    # a role at one of fabrikam's locations
    contoso["users"][1]["roles"] = [{"role": "INCENTIVES_USER", "locationId": "4200201"}]
    document["partners"].append({"key": "contoso-partners", "name": "Again"})
    tenants = document["directory"]["tenants"]
    tenants[2]["domains"].append("Northwind.example")
    tenants[3]["azureSubscriptionIds"].append(tenants[0]["azureSubscriptionIds"][0])
    document["directory"]["opportunities"][1]["tenantId"] = "00000000-0000-4000-8000-000000000000"
    document["engagements"].append(copy.deepcopy(document["engagements"][0]))

    problems = problems_of(document)

    assert_reported(problems, "partners[1].locations[5].locationId", "'4100101' appears twice", "partners[0]")
    assert_reported(problems, "partners[1].users[1].email", "'admin@contoso-partners.example' appears twice")
    assert_reported(
        problems, "partners[0].users[1].roles[0].locationId", "4200201 is not a location of partner 'contoso"
    )
    assert_reported(problems, "partners[3].key", "partner key 'contoso-partners' appears twice")
    assert_reported(
        problems, "directory.tenants[2].domains[1]", "'northwind.example' is claimed by two tenants"
    )
    assert_reported(problems, "directory.tenants[3].azureSubscriptionIds[2]", "claimed by two tenants")
    assert_reported(problems, "directory.opportunities[1].tenantId", "unknown tenant 00000000-")
    assert_reported(problems, f"engagements[{len(_DEMO['engagements'])}].key", "appears twice")
    sections = [p.split("[", 1)[0] for p in problems]
    assert sections == sorted(
        sections, key=["partners", "engagements", "directory.tenants", "directory.opportunities"].index
    )  # in document order


def test_pay_type_rules() -> None:
    document = demo()
    fixed = engagement(document, "copilot-readiness-assessment")
    fixed["cap"] = 100
    fixed["allowedCustomerIdTypes"] = ["DOMAIN_NAME", "MSX_OPPORTUNITY_ID", "DOMAIN_NAME"]
    variable = engagement(document, "sap-on-azure-migration")
    del variable["hourlyRates"]
    variable["allowedCustomerIdTypes"] = ["MSX_OPPORTUNITY_ID", "TPID"]
    variable["percentOfDeal"] = 5  # a fraction, not a percentage
    variable["minDealSize"] = "12.345"
    rates = engagement(document, "fabric-analytics-platform")["hourlyRates"]
    rates["D"] = 1
    del rates["C"]

    problems = problems_of(document)

    assert_reported(problems, "engagements[0].cap", "not allowed for FIXED pay")
    assert_reported(problems, "engagements[0].allowedCustomerIdTypes[1]", "FIXED pay accepts only")
    assert_reported(problems, "engagements[0].allowedCustomerIdTypes[2]", "'DOMAIN_NAME' appears twice")
    sap = f"engagements[{_DEMO['engagements'].index(engagement(_DEMO, 'sap-on-azure-migration'))}]"
    assert_reported(problems, f"{sap}.percentOfDeal", "less than or equal to 1")
    assert_reported(problems, f"{sap}.minDealSize", "2 decimal places")
    fabric = f"engagements[{_DEMO['engagements'].index(engagement(_DEMO, 'fabric-analytics-platform'))}]"
    assert f"{fabric}.hourlyRates.C: Field required" in problems
    assert f"{fabric}.hourlyRates.D: Extra inputs are not permitted" in problems

    del variable["percentOfDeal"], variable["minDealSize"]
    problems = problems_of(document)
    assert f"{sap}.hourlyRates: required for VARIABLE pay" in problems
    assert f"{sap}.percentOfDeal: required for VARIABLE pay" in problems
    assert f"{sap}.allowedCustomerIdTypes: VARIABLE pay accepts exactly [MSX_OPPORTUNITY_ID]" in problems


def test_shapes_and_formats() -> None:
    document = demo()
    document["partners"][0]["locations"][0]["mciEnrolled"] = "yes"
    document["partners"][0]["locations"][1]["locationId"] = "LOC-1"
    document["partners"][0]["users"][0]["roles"][0]["role"] = "incentives_admin"
    document["partners"][0]["users"][1]["email"] = "not an email"
    document["engagements"][0]["claimsOpenUntil"] = "2026-01-01T00:00:00"
    document["engagements"][0]["customerCriteria"] = {"country": ["US"]}
    document["engagements"][0]["maxActiveClaimsPerCustomer"] = 0
    document["directory"]["tenants"][1]["domains"] = ["https://adatum.example/path"]
    document["directory"]["tenants"][1]["tpid"] = "12345678901234"
    document["directory"]["opportunities"][0]["msxOpportunityId"] = "OPP-1"
    document["markets"]["US"] = "D"
    document["directory"]["extra"] = []

    problems = problems_of(document)

    assert "partners[0].locations[0].mciEnrolled: Input should be a valid boolean" in problems
    assert_reported(problems, "partners[0].locations[1].locationId", "'LOC-1' is not a location ID")
    assert_reported(problems, "partners[0].users[0].roles[0].role", "INCENTIVES_ADMIN")
    assert_reported(problems, "partners[0].users[1].email", "is not an email address")
    assert "engagements[0].claimsOpenUntil: Input should have timezone info" in problems
    assert "engagements[0].customerCriteria.country: Extra inputs are not permitted" in problems
    assert_reported(problems, "engagements[0].maxActiveClaimsPerCustomer", "greater than or equal to 1")
    assert_reported(problems, "directory.tenants[1].domains[0]", "domain name")
    assert_reported(problems, "directory.tenants[1].tpid", "TPID")
    assert_reported(problems, "directory.opportunities[0].msxOpportunityId", "MSX opportunity ID")
    assert_reported(problems, "markets.US", "'A', 'B' or 'C'")
    assert "directory.extra: Extra inputs are not permitted" in problems


def test_a_document_that_is_not_an_object() -> None:
    assert problems_of([1, 2]) == ["(document): Input should be a valid dictionary or instance of _Envelope"]
    assert problems_of({"partners": {}}) == ["partners: Input should be a valid list"]


async def test_a_location_or_user_cannot_move_to_another_account(empty_database: Database) -> None:
    db = empty_database
    await import_reference_data(db.sessions, demo())
    document = {
        "partners": [
            {
                "key": "litware-cloud",
                "name": "Litware Cloud Services",
                "locations": [
                    {
                        "locationId": "4100101",
                        "name": "Seattle",
                        "country": "US",
                        "mciEnrolled": True,
                        "payeeProfileValid": True,
                    }
                ],
                "users": [{"email": "admin@contoso-partners.example", "name": "Megan", "roles": []}],
            }
        ]
    }
    with pytest.raises(InvalidReferenceData) as raised:
        await import_reference_data(db.sessions, document)
    problems = raised.value.problems
    assert_reported(problems, "partners[0].locations[0].locationId", "belongs to partner 'contoso-partners'")
    assert_reported(problems, "partners[0].users[0].email", "belongs to partner 'contoso-partners'")


# --- files and scale ----------------------------------------------------------------------------------------


def test_load_document_keeps_money_exact(tmp_path: Path) -> None:
    path = tmp_path / "reference.json"
    path.write_text('{"directory": {"opportunities": [{"dealSize": 0.1, "n": 3}]}}', encoding="utf-8")
    document = load_document(path)
    assert document["directory"]["opportunities"][0] == {"dealSize": Decimal("0.1"), "n": 3}

    path.write_text('{"partners": [\n  {"key": "x",}\n]}', encoding="utf-8")
    with pytest.raises(InvalidReferenceData) as raised:
        load_document(path)
    assert raised.value.problems[0].startswith("(document): not valid JSON at line 2")


async def test_thousands_of_tenants_take_a_bounded_number_of_queries(empty_database: Database) -> None:
    db = empty_database
    n = 3000
    document = {
        "markets": {"US": "A"},
        "directory": {
            "tenants": [
                {
                    "tenantId": f"00000000-0000-4000-8000-{i:012d}",
                    "name": f"Tenant {i}",
                    "domains": [f"tenant{i}.example"],
                    "tpid": str(100000 + i),
                    "azureSubscriptionIds": [f"11111111-0000-4000-8000-{i:012d}"],
                    "country": "US",
                    "segment": "SMB",
                }
                for i in range(n)
            ],
            "opportunities": [
                {
                    "msxOpportunityId": f"7-OPP{i:08d}",
                    "tenantId": f"00000000-0000-4000-8000-{i:012d}",
                    "dealSize": 1000 + i,
                    "status": "OPEN",
                }
                for i in range(0, n, 3)
            ],
        },
    }
    with counting_statements(db.engine) as statements:
        summary = await import_reference_data(db.sessions, json.loads(json.dumps(document)))
    assert (summary.tenants.created, summary.domains.created, summary.opportunities.created) == (n, n, n // 3)
    assert len(statements) < 100

    document["directory"]["tenants"][7]["segment"] = "Corporate"
    with counting_statements(db.engine) as statements:
        summary = await import_reference_data(db.sessions, document)
    assert (summary.tenants.updated, summary.tenants.unchanged, summary.domains.unchanged) == (1, n - 1, n)
    assert len(statements) < 100


def test_a_partial_timeline_override_is_judged_with_the_types_defaults() -> None:
    document = demo()
    index, assessment = next(
        (i, e) for i, e in enumerate(document["engagements"]) if e["engagementType"] == "ASSESSMENT"
    )
    assessment["timelines"] = {"submitDays": 120}  # past the assessment's default 90-day review window
    assert_reported(
        problems_of(document), f"engagements[{index}].timelines.reviewDays", "90 days", "120 days"
    )
    assessment["timelines"] = {"submitDays": 80}
    validate_document(document)


# --- currencies and exchange rates; cooling-off and partner-action days ---------------------------------------


def test_exchange_rates_are_validated_with_their_paths() -> None:
    document = demo()
    document["exchangeRates"] = [
        {"currency": "eur", "usdPerUnit": "1.08"},  # lower-case: normalised, valid
        {"currency": "EUE", "usdPerUnit": "1"},  # not an ISO 4217 code
        {"currency": "GBP", "usdPerUnit": "0"},  # not positive
        {"currency": "CAD", "usdPerUnit": "-0.73"},
        {"currency": "JPY", "usdPerUnit": "0.00000000001"},  # more than 10 decimal places
        {"currency": "EUR", "usdPerUnit": "1.09"},  # twice
        {"currency": "USD", "usdPerUnit": "1"},  # implicit
        {"currency": "CHF", "usdPerUnit": "one"},
        {"currency": "SEK"},
        {"currency": "NOK", "usdPerUnit": "0.09", "source": "ECB"},
        {"currency": "DK", "usdPerUnit": "0.14"},
    ]
    problems = problems_of(document)
    assert_reported(problems, "exchangeRates[1].currency", "'EUE' is not an ISO 4217 currency code")
    assert_reported(problems, "exchangeRates[2].usdPerUnit", "greater than 0")
    assert_reported(problems, "exchangeRates[3].usdPerUnit", "greater than 0")
    assert_reported(problems, "exchangeRates[4].usdPerUnit", "10 decimal places")
    assert_reported(
        problems, "exchangeRates[5].currency", "'EUR' appears twice (first at exchangeRates[0].currency)"
    )
    assert_reported(problems, "exchangeRates[6].currency", "USD is worth 1 USD by definition")
    assert_reported(problems, "exchangeRates[7].usdPerUnit", "valid decimal")
    assert_reported(problems, "exchangeRates[8].usdPerUnit", "Field required")
    assert "exchangeRates[9].source: Extra inputs are not permitted" in problems
    assert_reported(problems, "exchangeRates[10].currency", "ISO 4217")
    assert not [p for p in problems if p.startswith("exchangeRates[0]")]
    assert problems_of({"exchangeRates": {"EUR": "1.08"}}) == ["exchangeRates: Input should be a valid list"]


def test_currencies_of_engagements_and_opportunities_are_iso_codes() -> None:
    document = demo()
    migrate_index = next(
        i for i, e in enumerate(document["engagements"]) if e["key"] == "azure-migrate-and-modernize"
    )
    document["engagements"][migrate_index]["currency"] = "EURO"
    document["directory"]["opportunities"][0]["currency"] = "XXX"  # "no currency"
    document["directory"]["opportunities"][1]["currency"] = "usd"  # normalised
    problems = problems_of(document)
    assert_reported(
        problems, f"engagements[{migrate_index}].currency", "'EURO' is not an ISO 4217 currency code"
    )
    assert_reported(problems, "directory.opportunities[0].currency", "'XXX' is not an ISO 4217 currency code")
    assert not [p for p in problems if p.startswith("directory.opportunities[1]")]
    # A valid code without a rate imports: such deals are judged CURRENCY_NOT_SUPPORTED, not refused here.
    document = demo()
    document["directory"]["opportunities"][0]["currency"] = "SEK"
    assert validate_document(document).opportunities[0].item.currency == "SEK"


def test_cooling_off_and_partner_action_days_are_optional_and_at_least_one() -> None:
    data = validate_document(demo())
    by_key = {e.item.key: e.item for e in data.engagements}
    assert (
        by_key["copilot-readiness-assessment"].timelines.cooling_off_days,
        by_key["copilot-readiness-assessment"].timelines.partner_action_days,
    ) == (30, 14)
    assert (
        by_key["azure-migrate-emea"].timelines.cooling_off_days,
        by_key["azure-migrate-emea"].timelines.partner_action_days,
    ) == (14, 21)
    document = demo()
    document["engagements"][0]["timelines"] = {"coolingOffDays": 0, "partnerActionDays": "7"}
    document["engagements"][1]["timelines"] = {"coolingOffDays": 3651, "partnerActionDays": 1.5}
    problems = problems_of(document)
    assert_reported(problems, "engagements[0].timelines.coolingOffDays", "greater than or equal to 1")
    assert_reported(problems, "engagements[0].timelines.partnerActionDays", "valid integer")
    assert_reported(problems, "engagements[1].timelines.coolingOffDays", "less than or equal to 3650")
    assert_reported(problems, "engagements[1].timelines.partnerActionDays", "valid integer")


async def test_rates_and_days_are_written_and_updated_in_place(empty_database: Database) -> None:
    db = empty_database
    summary = await import_reference_data(db.sessions, demo())
    assert summary.exchange_rates.created == len(_DEMO["exchangeRates"])
    rates = {r.currency: r.usd_per_unit for r in await all_of(db, select(ExchangeRate))}
    assert rates == {
        "EUR": Decimal("1.08"),
        "GBP": Decimal("1.27"),
        "CAD": Decimal("0.73"),
        "JPY": Decimal("0.0067"),
    }
    emea = await one(db, select(Engagement).where(Engagement.key == "azure-migrate-emea"))
    assert (emea.currency, emea.cooling_off_days, emea.partner_action_days) == ("EUR", 14, 21)
    assessment = await one(db, select(Engagement).where(Engagement.key == "copilot-readiness-assessment"))
    assert (assessment.currency, assessment.cooling_off_days, assessment.partner_action_days) == (
        "USD",
        30,
        14,
    )
    yen = await one(
        db, select(DirectoryOpportunity).where(DirectoryOpportunity.msx_opportunity_id == "7-VAN10MJPY")
    )
    assert (yen.deal_size, yen.currency) == (Decimal("10000000"), "JPY")

    again = await import_reference_data(db.sessions, demo())
    assert again.exchange_rates.unchanged == len(_DEMO["exchangeRates"]) and not again.changed

    document = demo()
    document["exchangeRates"] = [
        {"currency": "JPY", "usdPerUnit": "0.0070"},
        {"currency": "SEK", "usdPerUnit": "0.095"},
    ]
    engagement(document, "copilot-readiness-assessment")["timelines"] = {"coolingOffDays": 7}
    summary = await import_reference_data(db.sessions, document)
    assert (summary.exchange_rates.created, summary.exchange_rates.updated) == (1, 1)
    rates = {r.currency: r.usd_per_unit for r in await all_of(db, select(ExchangeRate))}
    # Rates the document does not mention are left alone, as every other row.
    assert rates == {
        "EUR": Decimal("1.08"),
        "GBP": Decimal("1.27"),
        "CAD": Decimal("0.73"),
        "JPY": Decimal("0.0070"),
        "SEK": Decimal("0.095"),
    }
    assessment = await one(db, select(Engagement).where(Engagement.key == "copilot-readiness-assessment"))
    assert (assessment.cooling_off_days, assessment.partner_action_days) == (7, 14)


async def test_a_bad_rate_writes_nothing(empty_database: Database) -> None:
    db = empty_database
    document = demo()
    document["exchangeRates"].append({"currency": "SEK", "usdPerUnit": "0"})
    with pytest.raises(InvalidReferenceData) as raised:
        await import_reference_data(db.sessions, document)
    assert any(p.startswith("exchangeRates[4].usdPerUnit") for p in raised.value.problems)
    assert await all_of(db, select(ExchangeRate)) == []
    assert (await row_counts(db))["engagement"] == 0
