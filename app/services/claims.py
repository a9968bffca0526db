"""The one way a claim changes. Every status change, whoever causes it (partner, customer, reviewer, clock),
goes through `apply_action`: lifecycle decides, the claim row is written, and a claim event is appended, all in
the caller's transaction."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import String, bindparam, cast, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from app.db import EVENTS_WRITTEN
from app.domain import lifecycle
from app.domain.enums import ActorKind, ClaimAction, ClaimStatus, TerminalCategory
from app.domain.lifecycle import ClaimState
from app.domain.timelines import days_remaining
from app.events.postgres import CHANNEL
from app.models import Claim, ClaimEvent, Engagement
from app.services.catalogue import engagement_timeline
from app.services.problems import ErrorCode, Path, Problem


@dataclass(frozen=True)
class Actor:
    kind: ActorKind
    id: str | None = (
        None  # the user's email, the reviewer's email, the consent request...; None for the clock
    )
    name: str | None = None


SYSTEM = Actor(ActorKind.SYSTEM, name="MCI clock")

EVENT_LOG_LOCK = 7_310_001  # the advisory lock that orders event appends on PostgreSQL

# Event ids must follow commit order, so that a reader resuming after id N never misses a later commit of a
# smaller id. On PostgreSQL an appender takes EVENT_LOG_LOCK, draws its id from the sequence while holding it, and
# keeps it until its transaction ends (a transaction-level advisory lock is released after the commit is
# visible). The lock is taken in the same statement that appends the event, so callers keep the time between
# it and their commit short by appending last (services/nominations.py writes everything else first).
_EVENTS = ClaimEvent.__table__  # type: ignore[attr-defined]
_EVENT_FIELDS = [
    "claim_id",
    "engagement_id",
    "partner_id",
    "action",
    "from_status",
    "to_status",
    "actor_kind",
    "actor_id",
    "actor_name",
    "comment",
    "occurred_at",
]
_ordered = select(func.pg_advisory_xact_lock(EVENT_LOG_LOCK).label("locked")).cte("ordered")
_appended = (
    insert(_EVENTS)
    .from_select(
        _EVENT_FIELDS,
        select(*(bindparam(name, type_=_EVENTS.c[name].type) for name in _EVENT_FIELDS)).select_from(
            _ordered
        ),
    )
    .returning(_EVENTS.c.id)
    .cte("appended")
)
_APPEND_IN_ORDER = select(_appended.c.id, func.pg_notify(CHANNEL, cast(_appended.c.id, String)))
_APPEND = insert(_EVENTS).returning(_EVENTS.c.id)


class ClaimChanged(Exception):
    """Another writer changed the claim between our read and our write; nothing of ours was written."""


def _stamp(claim: Claim, action: ClaimAction, was: ClaimStatus | None, now: datetime) -> None:
    """Record the instants the timelines start from."""
    if action is ClaimAction.ACCEPT_CONSENT:
        claim.consented_at = now
    elif action is ClaimAction.SUBMIT:
        claim.first_submitted_at = claim.first_submitted_at or now
        if was is ClaimStatus.DISPUTED:
            claim.dispute_submitted_at = now
    elif action is ClaimAction.REJECT:
        claim.rejected_at = now
    elif action is ClaimAction.DISPUTE:
        claim.disputed_at = now
    elif action is ClaimAction.REQUEST_PARTNER_ACTION:
        claim.partner_action_requested_at = now


async def apply_action(
    session: AsyncSession,
    claim: Claim,
    engagement: Engagement,
    action: ClaimAction,
    actor: Actor,
    now: datetime,
    *,
    comment: str | None = None,
) -> int:
    """Apply `action` to `claim` (CREATE for a new, unsaved claim) and append its event; returns the event's id.

    Raises lifecycle.TransitionNotAllowed when the action is not open, ClaimChanged when a concurrent writer won.
    On PostgreSQL the event-log lock is held from here until the caller's transaction ends: make this the
    transaction's last write, so other appenders wait as little as possible.
    """
    was = ClaimStatus(claim.status) if action is not ClaimAction.CREATE else None
    if was is None:
        state = lifecycle.initial_state(actor.kind)
    else:
        state = lifecycle.next_state(claim_state(claim), action, actor.kind)
    kept_deadline = claim.deadline
    _stamp(claim, action, was, now)
    claim.status = state.status
    if lifecycle.is_terminal(state.status):
        claim.ended_at = now
    claim.deadline = lifecycle.deadline_for(
        state.status,
        engagement_timeline(engagement),
        created_at=claim.created_at,
        consented_at=claim.consented_at,
        rejected_at=claim.rejected_at,
        dispute_submitted_at=claim.dispute_submitted_at,
        partner_action_requested_at=claim.partner_action_requested_at,
    )
    if was is state.status:  # a same-status action (a reminder, a contact change) never moves the deadline
        claim.deadline = kept_deadline
    claim.updated_at = now
    number = claim.claim_number  # read now: after a failed flush the row's attributes are expired
    session.add(claim)
    try:
        await session.flush()
    except StaleDataError as error:
        raise ClaimChanged(f"claim {number} changed meanwhile") from error
    assert claim.id is not None
    values = {
        "claim_id": claim.id,
        "engagement_id": claim.engagement_id,
        "partner_id": claim.partner_id,
        "action": action.value,
        "from_status": was.value if was else None,
        "to_status": state.status.value,
        "actor_kind": actor.kind.value,
        "actor_id": actor.id,
        "actor_name": actor.name,
        "comment": comment,
        "occurred_at": now,
    }
    if session.bind.dialect.name == "postgresql":
        # One round trip: take the event-log lock, append, NOTIFY (delivered if and only if we commit).
        event_id = (await session.execute(_APPEND_IN_ORDER, values)).scalar_one()
    else:  # SQLite writers are already one at a time
        event_id = (await session.execute(_APPEND, values)).scalar_one()
    # The latest event of the transaction: after the commit it wakes this process's event hub (db.session_factory).
    session.info[EVENTS_WRITTEN] = max(session.info.get(EVENTS_WRITTEN, 0), int(event_id))
    return int(event_id)


def claim_state(claim: Claim) -> ClaimState:
    return ClaimState(ClaimStatus(claim.status), disputed=claim.disputed_at is not None)


def available_actions(claim: Claim, actor: ActorKind) -> list[ClaimAction]:
    """What this kind of actor may do to the claim now."""
    return lifecycle.available_actions(claim_state(claim), actor)


def terminal_category(claim: Claim) -> TerminalCategory | None:
    return lifecycle.TERMINAL.get(ClaimStatus(claim.status))


def days_left(claim: Claim, now: datetime) -> int | None:
    return days_remaining(claim.deadline, now) if claim.deadline is not None else None


def transition_problem(
    error: lifecycle.TransitionNotAllowed, field: Path | None = ("input", "claimId")
) -> Problem:
    """A refused transition as the user sees it: the claim ended, or the action is not open now."""
    code = (
        ErrorCode.CLAIM_CLOSED
        if lifecycle.is_terminal(error.state.status)
        else ErrorCode.ACTION_NOT_AVAILABLE
    )
    return Problem(code, field, str(error))


CONCURRENT_CHANGE = Problem(
    ErrorCode.CONCURRENT_CHANGE, ("input", "claimId"), "The claim changed at the same moment; read it again."
)
