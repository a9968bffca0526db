"""The sandbox test clock: advanceTestClock."""

from datetime import datetime
from typing import Annotated

import strawberry

from app.domain import sandbox as rules
from app.resolvers.context import Info
from app.resolvers.user_errors import UserError
from app.services import sandbox
from app.services.problems import ErrorCode, Problem


@strawberry.input(description="Move the sandbox clock forward, for every partner and every server process.")
class AdvanceTestClockInput:
    days: int = strawberry.field(
        description=f"Whole days to move forward ({rules.MIN_ADVANCE_DAYS} to {rules.MAX_ADVANCE_DAYS}); the "
        f"clock never goes past {rules.LATEST:%Y-%m-%d}."
    )


@strawberry.type(description="The result of advanceTestClock.")
class AdvanceTestClockPayload:
    now: datetime | None = strawberry.field(description="The service's time after the move.")
    expired_claims: int = strawberry.field(description="How many claims expired because of the move.")
    user_errors: list[UserError] = strawberry.field(description="Problems; the clock did not move when any.")


async def advance_test_clock(
    info: Info, input: Annotated[AdvanceTestClockInput, strawberry.argument(description="How far to move.")]
) -> AdvanceTestClockPayload:
    viewer = info.context.require_viewer()
    runtime = info.context.runtime
    if not runtime.settings.sandbox:
        outcome: tuple[datetime, int] | list[Problem] = [
            Problem(ErrorCode.SANDBOX_ONLY, None, "The test clock exists only in sandbox mode.")
        ]
    else:
        outcome = await sandbox.advance(runtime.sessions, runtime.clock, viewer, input.days)
    if isinstance(outcome, list):
        return AdvanceTestClockPayload(
            now=None, expired_claims=0, user_errors=[UserError.of(p) for p in outcome]
        )
    now, expired = outcome
    return AdvanceTestClockPayload(now=now, expired_claims=expired, user_errors=[])
