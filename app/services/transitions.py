"""Partner and reviewer actions on an existing claim: submit, cancel, dispute; start review, request partner
action, approve, reject. One use case for all of them: find the claim the actor may act on, let the lifecycle
decide, apply through the one claim-change function."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import transaction
from app.domain import lifecycle
from app.domain.enums import ActorKind, ClaimAction
from app.models import Claim, Engagement
from app.services.claims import CONCURRENT_CHANGE, Actor, ClaimChanged, apply_action, transition_problem
from app.services.problems import ErrorCode, Problem, Problems, control_problems
from app.services.records import may_see_claim
from app.services.viewer import Principal, Reviewer

MAX_COMMENT = 4000

# Actions whose comment is required: the other side must know what to fix or why.
COMMENT_REQUIRED = frozenset({ClaimAction.REQUEST_PARTNER_ACTION, ClaimAction.REJECT, ClaimAction.DISPUTE})


@dataclass(frozen=True)
class Act:
    claim_pk: int | None
    action: ClaimAction
    comment: str | None = None


def _actor(who: Principal | Reviewer) -> Actor:
    if isinstance(who, Reviewer):
        return Actor(ActorKind.REVIEWER, who.email, who.name)
    return Actor(ActorKind.PARTNER_USER, who.email, who.name)


async def act(
    sessions: async_sessionmaker[AsyncSession], who: Principal | Reviewer, command: Act, now: datetime
) -> Claim | list[Problem]:
    if problems := control_problems(("input", "comment"), command.comment, multiline=True):
        return problems
    comment = (command.comment or "").strip() or None
    if command.action in COMMENT_REQUIRED and comment is None:
        return [
            Problem(ErrorCode.INVALID_INPUT, ("input", "comment"), "A comment is required for this action.")
        ]
    if comment is not None and len(comment) > MAX_COMMENT:
        return [Problem(ErrorCode.INVALID_INPUT, ("input", "comment"), f"At most {MAX_COMMENT} characters.")]
    try:
        async with transaction(sessions, write=True) as session:
            claim = await _claim(session, who, command.claim_pk)
            if claim.deadline is not None and now >= claim.deadline:
                # The sweep applies it on the next read; the action itself is already too late.
                raise Problems(
                    [Problem(ErrorCode.DEADLINE_PASSED, ("input", "claimId"), "The deadline has passed.")]
                )
            engagement = await session.get(Engagement, claim.engagement_id)
            assert engagement is not None
            try:
                await apply_action(
                    session, claim, engagement, command.action, _actor(who), now, comment=comment
                )
            except lifecycle.TransitionNotAllowed as error:
                raise Problems([transition_problem(error)]) from error
            return claim
    except Problems as error:
        return error.problems
    except ClaimChanged:
        return [CONCURRENT_CHANGE]


async def _claim(session: AsyncSession, who: Principal | Reviewer, claim_pk: int | None) -> Claim:
    claim = await session.get(Claim, claim_pk) if claim_pk is not None else None
    if claim is None or not may_see_claim(who, claim):
        raise Problems([Problem(ErrorCode.NOT_FOUND, ("input", "claimId"), "No such claim.")])
    return claim
