"""Reads of what partners created: customers, their identifiers, claims and claim events."""

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, Row, bindparam, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.eligibility import COOLING_OFF_STATUSES, ClaimCounts
from app.domain.enums import ClaimStatus
from app.domain.lifecycle import TERMINAL
from app.models import Claim, ClaimEvent, Customer, CustomerIdentifier
from app.services.pagination import Page, PageRequest, keyset_page
from app.services.viewer import Principal, Reviewer

TERMINAL_STATUSES = [status.value for status in TERMINAL]


def claim_is_active() -> ColumnElement[bool]:
    """Not terminal: what claim limits count as active."""
    return Claim.status.not_in(TERMINAL_STATUSES)  # type: ignore[attr-defined]


def _claim_counts_statement():  # type: ignore[no-untyped-def]
    active = claim_is_active()
    mine = Claim.partner_id == bindparam("partner_id")
    ended_without_consent = Claim.status.in_([s.value for s in COOLING_OFF_STATUSES])  # type: ignore[attr-defined]
    return (
        select(
            Claim.engagement_id,
            Claim.limit_key,
            func.sum(case((active, 1), else_=0)),
            func.sum(case((Claim.status == ClaimStatus.APPROVED.value, 1), else_=0)),
            func.sum(case((active & mine, 1), else_=0)),
            # Cooling off runs from the end of this partner's latest claim here that ended without consent.
            func.max(case((mine & ended_without_consent, Claim.ended_at), else_=None)),
        )
        .where(
            Claim.engagement_id.in_(bindparam("engagements", expanding=True)),  # type: ignore[attr-defined]
            Claim.limit_key.in_(bindparam("keys", expanding=True)),  # type: ignore[attr-defined]
        )
        .group_by(Claim.engagement_id, Claim.limit_key)
    )


_CLAIM_COUNTS = _claim_counts_statement()  # built once; every nomination and Customers page runs it


async def claim_counts(
    session: AsyncSession, partner_id: int, engagement_ids: Iterable[int], limit_keys: Iterable[str]
) -> dict[tuple[int, str], ClaimCounts]:
    """Claims per (engagement, limit key), across all partners, with this partner's active ones and when its
    latest one ended without consent (cooling off): one statement. Pairs without claims are absent."""
    engagements, keys = sorted(set(engagement_ids)), sorted(set(limit_keys))
    if not engagements or not keys:
        return {}
    rows = await session.execute(
        _CLAIM_COUNTS, {"partner_id": partner_id, "engagements": engagements, "keys": keys}
    )
    return {
        (engagement_id, key): ClaimCounts(
            active=int(a), completed=int(c), active_by_this_partner=int(mine), cooling_off_from=ended
        )
        for engagement_id, key, a, c, mine, ended in rows
    }


def may_see_claim(viewer: Principal | Reviewer, claim: Claim) -> bool:
    """A claim belongs to its partner and, for a location-scoped user, to the location it was made for.
    Reviewers see a claim once it was submitted, whatever its partner."""
    if isinstance(viewer, Reviewer):
        return claim.first_submitted_at is not None
    return claim.partner_id == viewer.partner_id and viewer.may_see_location(claim.location_pk)


def may_see_customer(viewer: Principal, customer: Customer) -> bool:
    """Decision: customers are known to the whole partner account (any of its users may claim a known one);
    their claims stay scoped to locations."""
    return customer.partner_id == viewer.partner_id


async def customers_by_id(session: AsyncSession, ids: Iterable[int]) -> dict[int, Customer]:
    rows = (await session.execute(select(Customer).where(Customer.id.in_(list(ids))))).scalars()  # type: ignore[union-attr]
    return {c.id: c for c in rows if c.id is not None}


async def identifiers_by_customer(session: AsyncSession, ids: Iterable[int]) -> dict[int, list[Row[Any]]]:
    """Each customer's identifiers (`id_type`, `value`), in the order they were recorded: plain rows, as a page
    asks for a hundred customers' at once."""
    identifier = CustomerIdentifier.__table__  # type: ignore[attr-defined]
    rows = await session.execute(
        select(identifier.c.customer_id, identifier.c.id_type, identifier.c.value)
        .where(identifier.c.customer_id.in_(list(ids)))
        .order_by(identifier.c.id)
    )
    found: dict[int, list[Row[Any]]] = defaultdict(list)
    for row in rows:
        found[row.customer_id].append(row)
    return found


async def claims_by_id(session: AsyncSession, ids: Iterable[int]) -> dict[int, Claim]:
    rows = (await session.execute(select(Claim).where(Claim.id.in_(list(ids))))).scalars()  # type: ignore[union-attr]
    return {c.id: c for c in rows if c.id is not None}


async def events_by_id(session: AsyncSession, ids: Iterable[int]) -> dict[int, ClaimEvent]:
    rows = (await session.execute(select(ClaimEvent).where(ClaimEvent.id.in_(list(ids))))).scalars()  # type: ignore[union-attr]
    return {e.id: e for e in rows if e.id is not None}


async def claim_history(session: AsyncSession, claim_id: int, page: PageRequest) -> Page[ClaimEvent]:
    """A claim's events, oldest first; an event's id is its cursor."""
    return await keyset_page(
        session, select(ClaimEvent).where(ClaimEvent.claim_id == claim_id), ClaimEvent.id, page
    )


async def claim_comments(session: AsyncSession, claim_id: int) -> list[ClaimEvent]:
    rows = await session.execute(
        select(ClaimEvent)
        .where(ClaimEvent.claim_id == claim_id, ClaimEvent.comment.is_not(None))  # type: ignore[union-attr]
        .order_by(ClaimEvent.id)
    )
    return list(rows.scalars())


async def claims_for_review(session: AsyncSession, statuses: list[str], page: PageRequest) -> Page[Claim]:
    """Claims waiting on or handled by reviewers: submitted at least once, in these statuses, oldest first."""
    statement = select(Claim).where(Claim.first_submitted_at.is_not(None), Claim.status.in_(statuses))  # type: ignore[union-attr]
    return await keyset_page(session, statement, Claim.id, page)
