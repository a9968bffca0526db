"""The sandbox test clock, shared in the database: every worker and host reads one offset, and a move is one
atomic UPDATE, so two moves at once both count and no process runs on a clock of its own."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.clock import Clock
from app.db import transaction
from app.domain import sandbox
from app.models import SandboxClock
from app.services import expiry
from app.services.problems import ErrorCode, Problem, Problems
from app.services.viewer import Principal

_OFFSET = select(SandboxClock.offset_seconds).where(SandboxClock.id == 1)
_MOVE = (
    update(SandboxClock)
    .where(SandboxClock.id == 1)
    .values(offset_seconds=SandboxClock.offset_seconds + bindparam("seconds"))
    .returning(SandboxClock.offset_seconds)
)


async def shared_offset(session: AsyncSession) -> timedelta:
    """How far the sandbox runs ahead of the wall clock (zero before any move)."""
    seconds = await session.scalar(_OFFSET)
    return timedelta(seconds=seconds or 0)


async def sync(sessions: async_sessionmaker[AsyncSession], clock: Clock) -> None:
    """Bring this process's clock up to the shared one (it never goes back: a move elsewhere only adds)."""
    async with sessions() as session:
        offset = await shared_offset(session)
    # A row written by hand cannot push the clock past what datetime holds: bounded like a move.
    offset = min(offset, sandbox.largest_offset(datetime.now(UTC)))
    if offset > clock.offset:
        clock.offset = offset


async def advance(
    sessions: async_sessionmaker[AsyncSession], clock: Clock, viewer: Principal, days: int
) -> tuple[datetime, int] | list[Problem]:
    """Move the shared clock by `days` and expire what that passed: the new time and how many claims expired."""
    if not sandbox.may_move_clock(viewer.grants):
        return [Problem(ErrorCode.ADMIN_ONLY, None, "Only an INCENTIVES_ADMIN moves the test clock.")]
    if (message := sandbox.days_problem(days)) is not None:
        return [Problem(ErrorCode.CLOCK_OUT_OF_RANGE, ("input", "days"), message)]
    try:
        async with transaction(sessions, write=True) as session:
            seconds = (await session.execute(_MOVE, {"seconds": days * 86_400})).scalar_one()
            offset = timedelta(seconds=seconds)
            # Every earlier move was bounded, so this one lands at most 400 days past LATEST: no overflow.
            if (message := sandbox.moved_too_far(datetime.now(UTC) + offset)) is not None:
                raise Problems([Problem(ErrorCode.CLOCK_OUT_OF_RANGE, ("input", "days"), message)])
    except Problems as error:
        return error.problems
    clock.offset = max(clock.offset, offset)
    now = clock.now()
    return now, await expiry.expire_due(sessions, now)
