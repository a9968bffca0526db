"""The claim state machine, as data: which action moves a claim from which status to which, and who may do it;
which statuses are terminal; and each waiting status's deadline and the clock action that ends it.

The machine does not read the clock: a clock action (EXPIRE_*) is allowed whenever its status allows it; the
caller applies it only once `deadline_for` has passed.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from types import MappingProxyType

from app.domain.enums import ActorKind, ClaimAction, ClaimStatus, TerminalCategory
from app.domain.timelines import Timeline, deadline

S = ClaimStatus
A = ClaimAction

PARTNER = frozenset({ActorKind.PARTNER_USER})
CUSTOMER = frozenset({ActorKind.CUSTOMER})
REVIEWER = frozenset({ActorKind.REVIEWER})
CLOCK = frozenset({ActorKind.SYSTEM})


@dataclass(frozen=True)
class ClaimState:
    """What the machine needs to know about a claim: its status and whether its one dispute was used."""

    status: ClaimStatus
    disputed: bool = False


@dataclass(frozen=True)
class Transition:
    to: ClaimStatus
    actors: frozenset[ActorKind]


class TransitionNotAllowed(ValueError):
    """The action is not open to this actor on a claim in this state; the message is user-facing.

    `wrong_actor` is True when the action is possible in this state, only not for this kind of actor.
    """

    def __init__(
        self, message: str, state: ClaimState, action: ClaimAction, actor: ActorKind, wrong_actor: bool
    ) -> None:
        super().__init__(message)
        self.state = state
        self.action = action
        self.actor = actor
        self.wrong_actor = wrong_actor


# A new claim (add or claim customer) starts here; CREATE is its first event, from no status.
INITIAL_STATUS = S.CUSTOMER_CLAIMED
CREATE_ACTORS = PARTNER

# DOMAIN.md "Transitions". Statuses absent on the left have no way out: the terminal ones.
# SUBMITTED and UNDER_REVIEW have no clock action: claims waiting on the reviewer never expire (Decision).
TRANSITIONS: Mapping[tuple[ClaimStatus, ClaimAction], Transition] = MappingProxyType(
    {
        (S.CUSTOMER_CLAIMED, A.SEND_CONSENT): Transition(S.AWAITING_CUSTOMER_CONSENT_RESPONSE, PARTNER),
        (S.CUSTOMER_CLAIMED, A.CANCEL): Transition(S.CANCELED, PARTNER),
        (S.CUSTOMER_CLAIMED, A.EXPIRE_CONSENT): Transition(S.CUSTOMER_CONSENT_EXPIRED, CLOCK),
        # A re-send is a reminder to the same request: same status, same deadline.
        (S.AWAITING_CUSTOMER_CONSENT_RESPONSE, A.RESEND_CONSENT): Transition(
            S.AWAITING_CUSTOMER_CONSENT_RESPONSE, PARTNER
        ),
        # Changing the customer contact is an action on the claim: same status, same deadline (DOMAIN.md).
        (S.CUSTOMER_CLAIMED, A.UPDATE_CONTACT): Transition(S.CUSTOMER_CLAIMED, PARTNER),
        (S.AWAITING_CUSTOMER_CONSENT_RESPONSE, A.UPDATE_CONTACT): Transition(
            S.AWAITING_CUSTOMER_CONSENT_RESPONSE, PARTNER
        ),
        (S.AWAITING_CUSTOMER_CONSENT_RESPONSE, A.ACCEPT_CONSENT): Transition(
            S.CUSTOMER_CONSENT_RECEIVED, CUSTOMER
        ),
        (S.AWAITING_CUSTOMER_CONSENT_RESPONSE, A.DECLINE_CONSENT): Transition(
            S.CUSTOMER_CONSENT_DECLINED, CUSTOMER
        ),
        (S.AWAITING_CUSTOMER_CONSENT_RESPONSE, A.CANCEL): Transition(S.CANCELED, PARTNER),
        (S.AWAITING_CUSTOMER_CONSENT_RESPONSE, A.EXPIRE_CONSENT): Transition(
            S.CUSTOMER_CONSENT_EXPIRED, CLOCK
        ),
        (S.CUSTOMER_CONSENT_RECEIVED, A.SUBMIT): Transition(S.SUBMITTED, PARTNER),
        (S.CUSTOMER_CONSENT_RECEIVED, A.CANCEL): Transition(S.CANCELED, PARTNER),
        (S.CUSTOMER_CONSENT_RECEIVED, A.EXPIRE_NOT_SUBMITTED): Transition(S.NOT_SUBMITTED_EXPIRED, CLOCK),
        (S.SUBMITTED, A.START_REVIEW): Transition(S.UNDER_REVIEW, REVIEWER),
        (S.SUBMITTED, A.REQUEST_PARTNER_ACTION): Transition(S.PARTNER_ACTION_REQUIRED, REVIEWER),
        (S.SUBMITTED, A.APPROVE): Transition(S.APPROVED, REVIEWER),
        (S.SUBMITTED, A.REJECT): Transition(S.REJECTED, REVIEWER),
        (S.UNDER_REVIEW, A.REQUEST_PARTNER_ACTION): Transition(S.PARTNER_ACTION_REQUIRED, REVIEWER),
        (S.UNDER_REVIEW, A.APPROVE): Transition(S.APPROVED, REVIEWER),
        (S.UNDER_REVIEW, A.REJECT): Transition(S.REJECTED, REVIEWER),
        (S.PARTNER_ACTION_REQUIRED, A.SUBMIT): Transition(S.SUBMITTED, PARTNER),
        (S.PARTNER_ACTION_REQUIRED, A.EXPIRE_POST_SUBMISSION): Transition(S.POST_SUBMISSION_EXPIRED, CLOCK),
        (S.REJECTED, A.DISPUTE): Transition(S.DISPUTED, PARTNER),
        (S.REJECTED, A.EXPIRE_DISPUTE): Transition(S.DISPUTED_EXPIRED, CLOCK),
        (S.DISPUTED, A.SUBMIT): Transition(S.SUBMITTED, PARTNER),
        (S.DISPUTED, A.EXPIRE_DISPUTE): Transition(S.DISPUTED_EXPIRED, CLOCK),
    }
)

# Actions recorded in the history but done only as part of another: a contact changes with a send (sendConsent).
# They are never offered on their own in `available_actions`.
RECORDED_ONLY: frozenset[ClaimAction] = frozenset({A.UPDATE_CONTACT})

# Once the one dispute is used: a rejection is final, and there is no second dispute (None: not allowed).
AFTER_DISPUTE: Mapping[tuple[ClaimStatus, ClaimAction], ClaimStatus | None] = MappingProxyType(
    {
        (S.SUBMITTED, A.REJECT): S.REJECTED_FINAL,
        (S.UNDER_REVIEW, A.REJECT): S.REJECTED_FINAL,
        (S.REJECTED, A.DISPUTE): None,
    }
)

TERMINAL: Mapping[ClaimStatus, TerminalCategory] = MappingProxyType(
    {
        S.APPROVED: TerminalCategory.COMPLETED,
        S.CUSTOMER_CONSENT_EXPIRED: TerminalCategory.EXPIRED,
        S.NOT_SUBMITTED_EXPIRED: TerminalCategory.EXPIRED,
        S.POST_SUBMISSION_EXPIRED: TerminalCategory.EXPIRED,
        S.DISPUTED_EXPIRED: TerminalCategory.EXPIRED,
        S.CANCELED: TerminalCategory.CANCELED,
        S.CUSTOMER_CONSENT_DECLINED: TerminalCategory.DECLINED,
        S.REJECTED_FINAL: TerminalCategory.FINAL_REJECTED,
    }
)

# The clock action that ends each waiting status when its deadline passes.
EXPIRY_ACTIONS: Mapping[ClaimStatus, ClaimAction] = MappingProxyType(
    {
        S.CUSTOMER_CLAIMED: A.EXPIRE_CONSENT,
        S.AWAITING_CUSTOMER_CONSENT_RESPONSE: A.EXPIRE_CONSENT,
        S.CUSTOMER_CONSENT_RECEIVED: A.EXPIRE_NOT_SUBMITTED,
        S.PARTNER_ACTION_REQUIRED: A.EXPIRE_POST_SUBMISSION,
        S.REJECTED: A.EXPIRE_DISPUTE,
        S.DISPUTED: A.EXPIRE_DISPUTE,
    }
)


def is_terminal(status: ClaimStatus) -> bool:
    return status in TERMINAL


def initial_state(actor: ActorKind) -> ClaimState:
    """The state of a claim just created (action CREATE) by `actor`."""
    if actor not in CREATE_ACTORS:
        raise TransitionNotAllowed(
            "Only a partner user can add or claim a customer.",
            ClaimState(INITIAL_STATUS),
            A.CREATE,
            actor,
            wrong_actor=True,
        )
    return ClaimState(INITIAL_STATUS)


def _words(enum_value: ClaimAction | ClaimStatus | ActorKind) -> str:
    return str(enum_value).replace("_", " ").lower()


def next_state(state: ClaimState, action: ClaimAction, actor: ActorKind) -> ClaimState:
    """The state after `actor` does `action`; raises TransitionNotAllowed when it may not."""
    key = (state.status, action)
    transition = TRANSITIONS.get(key)
    if transition is None:
        if is_terminal(state.status):
            message = f"The claim is {_words(state.status)}: a terminal claim can no longer change."
        else:
            message = (
                f"{_words(action).capitalize()} is not possible on a claim in status {_words(state.status)}."
            )
        raise TransitionNotAllowed(message, state, action, actor, wrong_actor=False)
    if actor not in transition.actors:
        message = f"{_words(action).capitalize()} is not open to a {_words(actor)} on a claim in this status."
        raise TransitionNotAllowed(message, state, action, actor, wrong_actor=True)
    to = transition.to
    if state.disputed and key in AFTER_DISPUTE:
        after = AFTER_DISPUTE[key]
        if after is None:
            raise TransitionNotAllowed(
                "A claim can be disputed only once.", state, action, actor, wrong_actor=False
            )
        to = after
    return ClaimState(to, state.disputed or action is A.DISPUTE)


def next_status(state: ClaimState, action: ClaimAction, actor: ActorKind) -> ClaimStatus:
    return next_state(state, action, actor).status


def available_actions(state: ClaimState, actor: ActorKind) -> list[ClaimAction]:
    """What `actor` may do now, in ClaimAction order. Clock actions are listed regardless of deadlines; actions
    done only as part of another (`RECORDED_ONLY`) are not listed."""
    return list(_available(state, actor))


@cache  # a few dozen (state, actor) pairs; the Customers page asks for every row
def _available(state: ClaimState, actor: ActorKind) -> tuple[ClaimAction, ...]:
    actions = []
    for action in ClaimAction:
        if action in RECORDED_ONLY:
            continue
        try:
            next_state(state, action, actor)
        except TransitionNotAllowed:
            continue
        actions.append(action)
    return tuple(actions)


def expiry_action_for(status: ClaimStatus) -> ClaimAction | None:
    """The clock action to apply once this status's deadline passes; None for statuses that never expire."""
    return EXPIRY_ACTIONS.get(status)


def deadline_for(
    status: ClaimStatus,
    timeline: Timeline,
    *,
    created_at: datetime,
    consented_at: datetime | None = None,
    rejected_at: datetime | None = None,
    dispute_submitted_at: datetime | None = None,
    partner_action_requested_at: datetime | None = None,
) -> datetime | None:
    """The instant the claim's current waiting status ends (None: it never expires).

    Reading of DOMAIN.md "Timelines":
    - CUSTOMER_CLAIMED, AWAITING_...: created_at + consent days (a re-send does not move it).
    - CUSTOMER_CONSENT_RECEIVED: consented_at + first-submit days.
    - PARTNER_ACTION_REQUIRED: consented_at + review days ("review complete, from consent"), so the partner's
      answers to the reviewer must fit in the review window; after a dispute was submitted it is instead
      dispute_submitted_at + dispute days ("one more 30-day window from that submit"). Either way never before
      partner_action_requested_at + partner-action days (Decision: a request always leaves time to answer).
    - REJECTED, DISPUTED: rejected_at + dispute days: the dispute must be opened and
      submitted within it.
    - SUBMITTED, UNDER_REVIEW (waiting on the reviewer) and terminal statuses: None.
    Raises ValueError when the start instant the status needs is not given.
    """
    if status in (S.CUSTOMER_CLAIMED, S.AWAITING_CUSTOMER_CONSENT_RESPONSE):
        return deadline(created_at, timeline.consent_days)
    if status is S.CUSTOMER_CONSENT_RECEIVED:
        return deadline(_required(consented_at, "consented_at", status), timeline.submit_days)
    if status is S.PARTNER_ACTION_REQUIRED:
        if dispute_submitted_at is not None:
            window = deadline(dispute_submitted_at, timeline.dispute_days)
        else:
            window = deadline(_required(consented_at, "consented_at", status), timeline.review_days)
        requested = _required(partner_action_requested_at, "partner_action_requested_at", status)
        return max(window, deadline(requested, timeline.partner_action_days))
    if status in (S.REJECTED, S.DISPUTED):
        return deadline(_required(rejected_at, "rejected_at", status), timeline.dispute_days)
    return None


def _required(value: datetime | None, name: str, status: ClaimStatus) -> datetime:
    if value is None:
        raise ValueError(f"the deadline of a {status.value} claim needs {name}")
    return value
