"""Reads of the reference data: engagements, partner accounts and locations, scoped to the viewer."""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.eligibility import (
    CustomerFacts,
    EngagementRules,
    LocationFacts,
    accepts_claims,
    earning_reasons,
    location_reasons,
)
from app.domain.enums import CustomerIdType, EngagementType, IneligibilityReason, PayType
from app.domain.payout import USD, ExchangeRates
from app.domain.timelines import Timeline, timeline_for
from app.models import Engagement, EngagementLocation, ExchangeRate, PartnerAccount, PartnerLocation
from app.services.directory import DirectoryEntry
from app.services.pagination import Page, PageRequest, keyset_page
from app.services.viewer import Principal


@dataclass(frozen=True)
class EngagementFilter:
    pay_type: PayType | None = None
    engagement_types: tuple[EngagementType, ...] = ()
    solution_area: str | None = None
    search: str | None = None
    open_for_claims: bool | None = None  # True: only those accepting claims at `now`; False: only closed ones
    now: datetime | None = None


def _engagements(filter_: EngagementFilter) -> Select[tuple[Engagement]]:
    statement = select(Engagement)
    if filter_.pay_type is not None:
        statement = statement.where(Engagement.pay_type == filter_.pay_type.value)
    if filter_.engagement_types:
        statement = statement.where(
            Engagement.engagement_type.in_([t.value for t in filter_.engagement_types])
        )
    if filter_.solution_area:
        statement = statement.where(func.lower(Engagement.solution_area) == filter_.solution_area.lower())
    if filter_.search:
        pattern = f"%{filter_.search.lower()}%"
        statement = statement.where(
            or_(func.lower(Engagement.name).like(pattern), func.lower(Engagement.description).like(pattern))
        )
    if filter_.open_for_claims is not None:
        assert filter_.now is not None
        is_open = or_(Engagement.claims_open_until.is_(None), Engagement.claims_open_until >= filter_.now)
        statement = statement.where(is_open if filter_.open_for_claims else ~is_open)
    return statement


async def list_engagements(
    session: AsyncSession, filter_: EngagementFilter, page: PageRequest
) -> Page[Engagement]:
    """The catalogue is the same for every partner: engagements are not scoped."""
    return await keyset_page(session, _engagements(filter_), Engagement.id, page)


async def engagements_by_id(session: AsyncSession, ids: Iterable[int]) -> dict[int, Engagement]:
    rows = (await session.execute(select(Engagement).where(Engagement.id.in_(list(ids))))).scalars()
    return {e.id: e for e in rows if e.id is not None}


async def eligible_location_ids(
    session: AsyncSession, engagement_ids: Iterable[int]
) -> dict[int, frozenset[str]]:
    """For each engagement, the public location IDs that can earn on it."""
    rows = await session.execute(
        select(EngagementLocation.engagement_id, EngagementLocation.location_id).where(
            EngagementLocation.engagement_id.in_(list(engagement_ids))
        )
    )
    found: dict[int, set[str]] = defaultdict(set)
    for engagement_id, location_id in rows:
        found[engagement_id].add(location_id)
    return {key: frozenset(value) for key, value in found.items()}


def _visible_locations(viewer: Principal) -> Select[tuple[PartnerLocation]]:
    return select(PartnerLocation).where(PartnerLocation.id.in_(sorted(viewer.location_pks)))


async def list_locations(
    session: AsyncSession, viewer: Principal, page: PageRequest
) -> Page[PartnerLocation]:
    return await keyset_page(session, _visible_locations(viewer), PartnerLocation.id, page)


async def locations_by_pk(session: AsyncSession, pks: Iterable[int]) -> dict[int, PartnerLocation]:
    """Locations by primary key, unscoped: callers check the viewer may see them."""
    rows = (await session.execute(select(PartnerLocation).where(PartnerLocation.id.in_(list(pks))))).scalars()
    return {loc.id: loc for loc in rows if loc.id is not None}


async def partners_by_id(session: AsyncSession, ids: Iterable[int]) -> dict[int, PartnerAccount]:
    rows = (await session.execute(select(PartnerAccount).where(PartnerAccount.id.in_(list(ids))))).scalars()
    return {p.id: p for p in rows if p.id is not None}


def engagement_rules(engagement: Engagement, eligible_ids: frozenset[str]) -> EngagementRules:
    """The engagement as the eligibility rules see it."""
    return EngagementRules(
        pay_type=PayType(engagement.pay_type),
        allowed_id_types=frozenset(CustomerIdType(t) for t in engagement.allowed_customer_id_types),
        countries=frozenset(engagement.criteria_countries)
        if engagement.criteria_countries is not None
        else None,
        segments=frozenset(engagement.criteria_segments)
        if engagement.criteria_segments is not None
        else None,
        min_deal_size=engagement.min_deal_size,
        max_active_claims_per_customer=engagement.max_active_claims_per_customer,
        max_completed_claims_per_customer=engagement.max_completed_claims_per_customer,
        claims_open_until=engagement.claims_open_until,
        eligible_location_ids=eligible_ids,
        cooling_off_days=engagement.cooling_off_days,
        currency=engagement.currency,
    )


def location_facts(location: PartnerLocation) -> LocationFacts:
    """The location as the eligibility rules see it."""
    return LocationFacts(location.location_id, location.mci_enrolled, location.payee_profile_valid)


def customer_facts(entry: DirectoryEntry) -> CustomerFacts:
    """The directory's facts as the eligibility rules see them, with the currency of an opportunity's deal."""
    return replace(entry.facts, deal_currency=entry.currency or USD)


_EXCHANGE_RATES = select(ExchangeRate.currency, ExchangeRate.usd_per_unit)


async def exchange_rates(session: AsyncSession) -> ExchangeRates:
    """The reference data's rates to USD, by currency (USD itself is implicit): one statement, a small table."""
    return {currency: rate for currency, rate in await session.execute(_EXCHANGE_RATES)}


def open_for_claims(engagement: Engagement, now: datetime) -> bool:
    return accepts_claims(engagement.claims_open_until, now)


def engagement_timeline(engagement: Engagement) -> Timeline:
    return timeline_for(
        EngagementType(engagement.engagement_type),
        consent_days=engagement.consent_days,
        submit_days=engagement.submit_days,
        review_days=engagement.review_days,
        dispute_days=engagement.dispute_days,
        partner_action_days=engagement.partner_action_days,
    )


def location_ineligibility(
    engagement: Engagement, eligible_ids: frozenset[str], location: PartnerLocation
) -> list[IneligibilityReason]:
    """Why this location cannot be chosen for a claim on the engagement (empty: it can)."""
    return location_reasons(engagement_rules(engagement, eligible_ids), location_facts(location))


def location_earning(
    engagement: Engagement, eligible_ids: frozenset[str], location: PartnerLocation
) -> list[IneligibilityReason]:
    """Why this location cannot earn on the engagement (empty: it can); an invalid payee profile is among them,
    though it does not stop the location nominating."""
    return earning_reasons(engagement_rules(engagement, eligible_ids), location_facts(location))
