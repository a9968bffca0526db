"""Reading the claim event log: events after a cursor, with what subscribers filter on."""

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Claim, ClaimEvent


@dataclass(frozen=True)
class LoggedEvent:
    """An event with the facts of its claim that decide who may receive it."""

    event: ClaimEvent
    location_pk: int
    submitted: bool  # the claim was submitted at least once (reviewers see it)

    @property
    def id(self) -> int:
        assert self.event.id is not None
        return self.event.id


def _select():  # type: ignore[no-untyped-def]
    return select(ClaimEvent, Claim.location_pk, Claim.first_submitted_at).join(
        Claim, Claim.id == ClaimEvent.claim_id
    )


async def events_after(
    session: AsyncSession,
    after: int,
    limit: int,
    *,
    partner_id: int | None = None,
    engagement_id: int | None = None,
    claim_id: int | None = None,
) -> list[LoggedEvent]:
    """Up to `limit` events with id > `after`, oldest first, narrowed by the given filters."""
    statement = _select().where(ClaimEvent.id > after)
    if partner_id is not None:
        statement = statement.where(ClaimEvent.partner_id == partner_id)
    if engagement_id is not None:
        statement = statement.where(ClaimEvent.engagement_id == engagement_id)
    if claim_id is not None:
        statement = statement.where(ClaimEvent.claim_id == claim_id)
    rows = await session.execute(statement.order_by(ClaimEvent.id).limit(limit))
    return [
        LoggedEvent(event, location_pk, submitted_at is not None) for event, location_pk, submitted_at in rows
    ]


async def last_event_id(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.coalesce(func.max(ClaimEvent.id), 0))) or 0)
