"""What the consent recipient rules read (services/directory.py, services/partner_domains.py), over reference data
of the test's own: the customer's tenant domains for every identifier type, and the partner's own domains kept by
the import."""

import copy
from decimal import Decimal

from sqlalchemy import select

from app.db import transaction
from app.domain.consent import tenant_mismatch_reason_required
from app.domain.enums import CustomerIdType as T
from app.domain.identifiers import Identifier
from app.models import DirectoryOpportunity, DirectoryTenant, PartnerAccount, PartnerDomain
from app.services.directory import DatabaseDirectory
from app.services.importer import DEMO_DOCUMENT, import_reference_data, load_document
from app.services.partner_domains import partner_domains, remember
from tests.conftest import Database

ALPHA = "0a1b2c3d-0000-4000-8000-000000000001"
BETA = "0a1b2c3d-0000-4000-8000-000000000002"
SUBSCRIPTION = "0a1b2c3d-0000-4000-8000-0000000000aa"


def _document() -> dict:
    """The demo's partners and engagements, with a directory of this test's own: two tenants under one TPID."""
    document = copy.deepcopy(load_document(DEMO_DOCUMENT))
    document["directory"] = {
        "tenants": [
            {
                "tenantId": ALPHA,
                "name": "Alpha Holding",
                "domains": ["alpha.example"],
                "tpid": "900001",
                "azureSubscriptionIds": [SUBSCRIPTION],
                "country": "US",
                "segment": "Enterprise",
            },
            {
                "tenantId": BETA,
                "name": "Alpha Beta Subsidiary",
                "domains": ["beta.example", "beta-mail.example"],
                "tpid": "900001",
                "azureSubscriptionIds": [],
                "country": "US",
                "segment": "SMB",
            },
        ],
        "opportunities": [
            {
                "msxOpportunityId": "7-BETA000001",
                "tenantId": BETA,
                "dealSize": 100000,
                "status": "OPEN",
                "currency": "USD",
            }
        ],
    }
    return document


async def test_every_identifier_type_has_its_tenants_domains(empty_database: Database) -> None:
    db = empty_database
    await import_reference_data(db.sessions, _document())
    async with transaction(db.sessions, write=True) as session:
        beta = (
            await session.execute(select(DirectoryTenant).where(DirectoryTenant.tenant_id == BETA))
        ).scalar_one()
        # An opportunity with no tenant: only a live directory (or an older import) has one.
        session.add(
            DirectoryOpportunity(
                msx_opportunity_id="7-NOTENANT01", tenant_pk=None, deal_size=Decimal(1), status="OPEN"
            )
        )
        assert beta.id is not None
    async with transaction(db.sessions) as session:
        directory = DatabaseDirectory(session)
        asked = {
            Identifier(T.DOMAIN_NAME, "beta-mail.example"): {"beta.example", "beta-mail.example"},
            Identifier(T.TENANT_ID, ALPHA): {"alpha.example"},
            Identifier(T.AZURE_SUBSCRIPTION_ID, SUBSCRIPTION): {"alpha.example"},
            # Any tenant under the TPID is the customer's.
            Identifier(T.TPID, "900001"): {"alpha.example", "beta.example", "beta-mail.example"},
            Identifier(T.MSX_OPPORTUNITY_ID, "7-BETA000001"): {"beta.example", "beta-mail.example"},
            Identifier(T.MSX_OPPORTUNITY_ID, "7-NOTENANT01"): set(),
        }
        found = await directory.lookup_many(asked)
        assert {i: set(found[i].tenant_domains) for i in asked} == asked
        # One identifier at a time answers the same.
        for identifier, domains in asked.items():
            assert set((await directory.lookup(identifier)).tenant_domains) == domains
        # The TPID's wider set is its own: the tenant speaking for it keeps its domains when asked directly.
        assert set(found[Identifier(T.TENANT_ID, ALPHA)].tenant_domains) == {"alpha.example"}
    no_tenant = found[Identifier(T.MSX_OPPORTUNITY_ID, "7-NOTENANT01")]
    assert no_tenant.facts.found and no_tenant.tenant_id is None
    # Decision: no tenant known, no match to show: a reason is required.
    assert tenant_mismatch_reason_required(no_tenant.tenant_domains, "cio@beta.example") is True
    tpid = found[Identifier(T.TPID, "900001")]
    assert tenant_mismatch_reason_required(tpid.tenant_domains, "cio@mail.beta.example") is False


async def test_the_import_keeps_the_partners_user_domains(empty_database: Database) -> None:
    db = empty_database
    document = _document()
    await import_reference_data(db.sessions, document)
    async with transaction(db.sessions) as session:
        contoso = (
            await session.execute(select(PartnerAccount).where(PartnerAccount.key == "contoso-partners"))
        ).scalar_one()
        assert contoso.id is not None
        assert await partner_domains(session, contoso.id) == {"contoso-partners.example"}
    # A new user at another domain: the next import adds it; a second import changes nothing.
    contoso_document = next(p for p in document["partners"] if p["key"] == "contoso-partners")
    contoso_document["users"].append(
        {"email": "ops@contoso-cloud.example", "name": "Ops", "roles": [{"role": "INCENTIVES_ADMIN"}]}
    )
    await import_reference_data(db.sessions, document)
    await import_reference_data(db.sessions, document)
    async with transaction(db.sessions, write=True) as session:
        assert await partner_domains(session, contoso.id) == {
            "contoso-partners.example",
            "contoso-cloud.example",
        }
        # Recorded once, whoever records it again (a partner contact at a known domain, twice in one call).
        await remember(
            session, [(contoso.id, "Megan@Contoso-Cloud.example"), (contoso.id, "x@new.example")] * 2
        )
    async with transaction(db.sessions) as session:
        rows = (
            await session.execute(select(PartnerDomain).where(PartnerDomain.partner_id == contoso.id))
        ).all()
        assert len(rows) == 3
