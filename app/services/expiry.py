"""The clock's side of the lifecycle: claims whose deadline passed leave their waiting status, through the one
claim-change function, whether or not anyone reads them."""

from collections.abc import Hashable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import transaction
from app.domain import lifecycle
from app.domain.enums import ClaimStatus
from app.models import Claim, Engagement
from app.services.claims import SYSTEM, apply_action

_EXPIRING = [status.value for status in lifecycle.EXPIRY_ACTIONS]


def _due(now: datetime):  # type: ignore[no-untyped-def]
    return select(Claim).where(Claim.deadline <= now, Claim.status.in_(_EXPIRING))  # type: ignore[operator, attr-defined]


async def next_deadline(session: AsyncSession) -> datetime | None:
    """One indexed read (`ix_claim_deadline`): the earliest deadline of a claim in a waiting status."""
    earliest = select(func.min(Claim.deadline)).where(Claim.status.in_(_EXPIRING))  # type: ignore[attr-defined]
    return (await session.execute(earliest)).scalar_one()


class DeadlineWatch:
    """When a deadline can next pass, so that requests need not ask the database each time whether one did.

    The earliest waiting deadline, as last read, stands until a claim event is appended (a new claim or a
    transition may bring an earlier one): the caller's `mark` says so, and any other mark means read it again.
    New deadlines lie days ahead, so a mark that trails another process's commit by moments loses nothing."""

    def __init__(self) -> None:
        self._mark: Hashable = object()  # equal to no caller's mark: nothing read yet
        self._next: datetime | None = None

    def quiet(self, now: datetime, mark: Hashable) -> bool:
        """Nothing can be due at `now`: the earliest deadline read under this same mark lies after it."""
        return self._mark == mark and (self._next is None or now < self._next)

    def saw(self, mark: Hashable, earliest: datetime | None) -> None:
        self._mark, self._next = mark, earliest

    def forget(self) -> None:
        """For writes that bypass the claim event log (tests writing a scene)."""
        self._mark = object()


async def expire_due(
    sessions: async_sessionmaker[AsyncSession],
    now: datetime,
    batch: int = 200,
    *,
    watch: DeadlineWatch | None = None,
    mark: Hashable = None,
) -> int:
    """Apply every passed deadline; returns how many claims expired. Safe with several processes: on PostgreSQL
    each batch skips rows another process holds, and the claim's version check stops a double transition.
    With a `watch` (and the caller's change `mark`), nothing is read while no deadline can have passed."""
    if watch is not None and watch.quiet(now, mark):
        return 0
    async with sessions() as session:
        earliest = await next_deadline(session)
    if earliest is None or earliest > now:
        if watch is not None:
            watch.saw(mark, earliest)
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
