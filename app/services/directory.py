"""The customer directory behind one interface: what Microsoft knows about an identifier.

Today it reads the imported tables; a live source replaces it by implementing `CustomerDirectory`.
"""

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.eligibility import CustomerFacts
from app.domain.enums import CustomerIdType, OpportunityStatus
from app.domain.identifiers import Identifier
from app.models import DirectoryDomain, DirectoryOpportunity, DirectorySubscription, DirectoryTenant


@dataclass(frozen=True)
class DirectoryEntry:
    """What the directory says about one identifier. No cascading: facts are of this identifier only
    (a domain: of the tenant it resolves to)."""

    facts: CustomerFacts
    name: str | None = None  # the organisation's name, when known
    tenant_id: str | None = None  # the tenant a domain resolves to (or the tenant given)
    tenant_domains: tuple[str, ...] = field(default_factory=tuple)
    deal_size: Decimal | None = None
    currency: str | None = None


NOT_FOUND = DirectoryEntry(CustomerFacts(found=False))


class CustomerDirectory(Protocol):
    async def lookup(self, identifier: Identifier) -> DirectoryEntry: ...


class DatabaseDirectory:
    """The directory as imported into our database (`mci import`)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _tenant(self, *condition: object) -> DirectoryTenant | None:
        statement = select(DirectoryTenant).where(*condition).order_by(DirectoryTenant.id).limit(1)  # type: ignore[arg-type]
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def _entry(self, tenant: DirectoryTenant | None) -> DirectoryEntry:
        if tenant is None:
            return NOT_FOUND
        domains = (
            await self.session.execute(
                select(DirectoryDomain.domain)
                .where(DirectoryDomain.tenant_pk == tenant.id)
                .order_by(DirectoryDomain.domain)
            )
        ).scalars()
        return DirectoryEntry(
            facts=CustomerFacts(found=True, country=tenant.country, segment=tenant.segment),
            name=tenant.name,
            tenant_id=tenant.tenant_id,
            tenant_domains=tuple(domains),
        )

    async def lookup(self, identifier: Identifier) -> DirectoryEntry:
        value = identifier.value
        match identifier.id_type:
            case CustomerIdType.DOMAIN_NAME:
                pk = (
                    select(DirectoryDomain.tenant_pk).where(DirectoryDomain.domain == value).scalar_subquery()
                )
                return await self._entry(await self._tenant(DirectoryTenant.id == pk))
            case CustomerIdType.TENANT_ID:
                return await self._entry(await self._tenant(DirectoryTenant.tenant_id == value))
            case CustomerIdType.TPID:
                # Decision: several tenants may share a top parent; the first imported speaks for it.
                return await self._entry(await self._tenant(DirectoryTenant.tpid == value))
            case CustomerIdType.AZURE_SUBSCRIPTION_ID:
                pk = (
                    select(DirectorySubscription.tenant_pk)
                    .where(DirectorySubscription.subscription_id == value)
                    .scalar_subquery()
                )
                return await self._entry(await self._tenant(DirectoryTenant.id == pk))
            case CustomerIdType.MSX_OPPORTUNITY_ID:
                return await self._opportunity(value)

    async def _opportunity(self, msx_id: str) -> DirectoryEntry:
        opportunity = await self.session.get(DirectoryOpportunity, msx_id)
        if opportunity is None:
            return NOT_FOUND
        tenant = (
            await self.session.get(DirectoryTenant, opportunity.tenant_pk) if opportunity.tenant_pk else None
        )
        return DirectoryEntry(
            facts=CustomerFacts(
                found=True,
                country=tenant.country if tenant else None,
                segment=tenant.segment if tenant else None,
                opportunity_open=opportunity.status == OpportunityStatus.OPEN,
                deal_size=opportunity.deal_size,
            ),
            name=tenant.name if tenant else None,
            tenant_id=tenant.tenant_id if tenant else None,
            deal_size=opportunity.deal_size,
            currency=opportunity.currency,
        )
