"""The clock's side of the lifecycle: claims whose deadline passed leave their waiting status, through the one
claim-change function, whether or not anyone reads them."""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import transaction
from app.domain import lifecycle
from app.domain.enums import ClaimStatus
from app.models import Claim, Engagement
from app.services.claims import SYSTEM, apply_action

_EXPIRING = [status.value for status in lifecycle.EXPIRY_ACTIONS]


def _due(now: datetime):  # type: ignore[no-untyped-def]
    return select(Claim).where(Claim.deadline <= now, Claim.status.in_(_EXPIRING))  # type: ignore[operator, attr-defined]


async def anything_due(session: AsyncSession, now: datetime) -> bool:
    """One indexed read: is any claim past its deadline in a waiting status?"""
    return (await session.execute(_due(now).with_only_columns(Claim.id).limit(1))).first() is not None


async def expire_due(sessions: async_sessionmaker[AsyncSession], now: datetime, batch: int = 200) -> int:
    """Apply every passed deadline; returns how many claims expired. Safe with several processes: on PostgreSQL
    each batch skips rows another process holds, and the claim's version check stops a double transition."""
    async with sessions() as session:
        if not await anything_due(session, now):
            return 0
    expired = 0
    while True:
        async with transaction(sessions, write=True) as session:
            statement = _due(now).order_by(Claim.deadline).limit(batch)
            if session.bind.dialect.name == "postgresql":
                statement = statement.with_for_update(skip_locked=True)
            claims = list((await session.execute(statement)).scalars())
            engagements = {
                e.id: e
                for e in (
                    await session.execute(
                        select(Engagement).where(Engagement.id.in_({c.engagement_id for c in claims}))
                    )  # type: ignore[union-attr]
                ).scalars()
            }
            for claim in claims:
                action = lifecycle.expiry_action_for(ClaimStatus(claim.status))
                assert action is not None and claim.deadline is not None
                # The event is dated at the deadline: that is when the claim expired, whenever we noticed.
                await apply_action(
                    session, claim, engagements[claim.engagement_id], action, SYSTEM, claim.deadline
                )
            expired += len(claims)
        if len(claims) < batch:
            return expired
