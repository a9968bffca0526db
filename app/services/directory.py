"""The customer directory behind one interface: what Microsoft knows about an identifier.

Today it reads the imported tables; a live source replaces it by implementing `CustomerDirectory`.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import Row, bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

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
    # The customer's tenant's domains, for the consent recipient rule (domain/consent): a domain's, tenant ID's,
    # subscription's or MSX opportunity's tenant; for a TPID, every tenant under it. Empty: none known.
    tenant_domains: tuple[str, ...] = field(default_factory=tuple)
    deal_size: Decimal | None = None
    currency: str | None = None


NOT_FOUND = DirectoryEntry(CustomerFacts(found=False))


class CustomerDirectory(Protocol):
    async def lookup(self, identifier: Identifier, *, with_domains: bool = True) -> DirectoryEntry: ...

    async def lookup_many(
        self, identifiers: Iterable[Identifier], *, with_domains: bool = True
    ) -> dict[Identifier, DirectoryEntry]:
        """Each identifier's entry (NOT_FOUND when unknown), in a fixed number of round trips."""
        ...


# Built once: the statements' parameters are bound per call (expanding IN lists).
_tenant = DirectoryTenant.__table__  # type: ignore[attr-defined]
_BY_DOMAIN = (
    select(col(DirectoryDomain.domain).label("matched"), *_tenant.c)
    .join(_tenant, _tenant.c.id == DirectoryDomain.tenant_pk)
    .where(col(DirectoryDomain.domain).in_(bindparam("values", expanding=True)))
)
_DIRECT = (
    select(_tenant)
    .where(
        or_(
            _tenant.c.tenant_id.in_(bindparam("tenant_ids", expanding=True)),
            _tenant.c.tpid.in_(bindparam("tpids", expanding=True)),
        )
    )
    .order_by(_tenant.c.id)
)
_BY_SUBSCRIPTION = (
    select(col(DirectorySubscription.subscription_id).label("matched"), *_tenant.c)
    .join(_tenant, _tenant.c.id == DirectorySubscription.tenant_pk)
    .where(col(DirectorySubscription.subscription_id).in_(bindparam("values", expanding=True)))
)
_BY_OPPORTUNITY = (
    select(DirectoryOpportunity, DirectoryTenant)
    .outerjoin(DirectoryTenant, col(DirectoryTenant.id) == DirectoryOpportunity.tenant_pk)
    .where(col(DirectoryOpportunity.msx_opportunity_id).in_(bindparam("values", expanding=True)))
)
_DOMAINS = (
    select(col(DirectoryDomain.tenant_pk), col(DirectoryDomain.domain))
    .where(col(DirectoryDomain.tenant_pk).in_(bindparam("tenant_pks", expanding=True)))
    .order_by(col(DirectoryDomain.domain))
)


class DatabaseDirectory:
    """The directory as imported into our database (`mci import`).

    `lookup_many` answers any number of identifiers in at most five statements (one per kind of match, one for
    the domains of the found tenants, of every tenant under a TPID and of the opportunities' tenants); `lookup` is
    its one-identifier case."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lookup(self, identifier: Identifier, *, with_domains: bool = True) -> DirectoryEntry:
        return (await self.lookup_many([identifier], with_domains=with_domains))[identifier]

    async def lookup_many(
        self, identifiers: Iterable[Identifier], *, with_domains: bool = True
    ) -> dict[Identifier, DirectoryEntry]:
        """`with_domains=False` leaves `tenant_domains` empty and saves a statement (for callers that judge
        eligibility only). Tenants are read as plain rows (no ORM objects): the Customers page asks for thousands."""
        wanted: dict[CustomerIdType, set[str]] = defaultdict(set)
        for identifier in identifiers:
            wanted[identifier.id_type].add(identifier.value)
        tenants: dict[Identifier, Row[Any]] = {}
        under_tpid: dict[str, list[int]] = defaultdict(list)  # every tenant under each TPID asked for
        opportunities: dict[str, tuple[DirectoryOpportunity, DirectoryTenant | None]] = {}
        execute = self.session.execute

        if domain_names := wanted[CustomerIdType.DOMAIN_NAME]:
            for tenant in await execute(_BY_DOMAIN, {"values": sorted(domain_names)}):
                tenants[Identifier(CustomerIdType.DOMAIN_NAME, tenant.matched)] = tenant
        tenant_ids, tpids = wanted[CustomerIdType.TENANT_ID], wanted[CustomerIdType.TPID]
        if tenant_ids or tpids:
            direct = await execute(_DIRECT, {"tenant_ids": sorted(tenant_ids), "tpids": sorted(tpids)})
            for tenant in direct:
                if tenant.tenant_id in tenant_ids:
                    tenants[Identifier(CustomerIdType.TENANT_ID, tenant.tenant_id)] = tenant
                if tenant.tpid is not None and tenant.tpid in tpids:
                    # Decision: several tenants may share a top parent; the first imported speaks for it.
                    tenants.setdefault(Identifier(CustomerIdType.TPID, tenant.tpid), tenant)
                    under_tpid[tenant.tpid].append(tenant.id)
        if subscription_ids := wanted[CustomerIdType.AZURE_SUBSCRIPTION_ID]:
            for tenant in await execute(_BY_SUBSCRIPTION, {"values": sorted(subscription_ids)}):
                tenants[Identifier(CustomerIdType.AZURE_SUBSCRIPTION_ID, tenant.matched)] = tenant
        if msx_ids := wanted[CustomerIdType.MSX_OPPORTUNITY_ID]:
            for opportunity, owner in await execute(_BY_OPPORTUNITY, {"values": sorted(msx_ids)}):
                opportunities[opportunity.msx_opportunity_id] = (opportunity, owner)

        domains: dict[int, list[str]] = defaultdict(list)
        owner_pks = {owner.id for _, owner in opportunities.values() if owner is not None}
        if with_domains and (tenants or owner_pks):
            tenant_pks = {t.id for t in tenants.values()} | owner_pks
            tenant_pks |= {pk for pks in under_tpid.values() for pk in pks}
            for tenant_pk, domain in await execute(_DOMAINS, {"tenant_pks": sorted(tenant_pks)}):
                domains[tenant_pk].append(domain)

        found: dict[Identifier, DirectoryEntry] = {}
        by_tenant: dict[int, DirectoryEntry] = {}  # one entry per tenant, however many identifiers match it
        for id_type, values in wanted.items():
            for value in values:
                identifier = Identifier(id_type, value)
                if id_type is CustomerIdType.MSX_OPPORTUNITY_ID:
                    pair = opportunities.get(value)
                    found[identifier] = _opportunity_entry(*pair, domains) if pair else NOT_FOUND
                elif (match := tenants.get(identifier)) is not None:
                    if (entry := by_tenant.get(match.id)) is None:
                        entry = by_tenant[match.id] = _tenant_entry(match, domains[match.id])
                    if id_type is CustomerIdType.TPID:  # any tenant under the TPID is the customer's
                        group = sorted({d for pk in under_tpid[value] for d in domains[pk]})
                        entry = replace(entry, tenant_domains=tuple(group))
                    found[identifier] = entry
                else:
                    found[identifier] = NOT_FOUND
        return found


def _tenant_entry(tenant: "DirectoryTenant | Row[Any]", domains: Iterable[str]) -> DirectoryEntry:
    return DirectoryEntry(
        facts=CustomerFacts(found=True, country=tenant.country, segment=tenant.segment),
        name=tenant.name,
        tenant_id=tenant.tenant_id,
        tenant_domains=tuple(domains),
    )


def _opportunity_entry(
    opportunity: DirectoryOpportunity, tenant: DirectoryTenant | None, domains: dict[int, list[str]]
) -> DirectoryEntry:
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
        tenant_domains=tuple(domains.get(tenant.id, ())) if tenant and tenant.id is not None else (),
        deal_size=opportunity.deal_size,
        currency=opportunity.currency,
    )
