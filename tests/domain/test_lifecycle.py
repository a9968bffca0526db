import contextlib
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.enums import ActorKind as K
from app.domain.enums import ClaimAction as A
from app.domain.enums import ClaimStatus as S
from app.domain.enums import TerminalCategory as C
from app.domain.lifecycle import (
    EXPIRY_ACTIONS,
    RECORDED_ONLY,
    TERMINAL,
    TRANSITIONS,
    ClaimState,
    TransitionNotAllowed,
    available_actions,
    deadline_for,
    expiry_action_for,
    initial_state,
    is_terminal,
    next_state,
    next_status,
)
from app.domain.timelines import Timeline

P, CU, RV, SY = K.PARTNER_USER, K.CUSTOMER, K.REVIEWER, K.SYSTEM


def run(steps: list[tuple[A, K]], state: ClaimState | None = None) -> ClaimState:
    state = state or initial_state(P)
    for action, actor in steps:
        state = next_state(state, action, actor)
    return state


TO_SUBMITTED = [(A.SEND_CONSENT, P), (A.ACCEPT_CONSENT, CU), (A.SUBMIT, P)]


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        ([], S.CUSTOMER_CLAIMED),
        ([(A.SEND_CONSENT, P)], S.AWAITING_CUSTOMER_CONSENT_RESPONSE),
        (
            [(A.SEND_CONSENT, P), (A.RESEND_CONSENT, P), (A.RESEND_CONSENT, P)],
            S.AWAITING_CUSTOMER_CONSENT_RESPONSE,
        ),
        ([(A.SEND_CONSENT, P), (A.ACCEPT_CONSENT, CU)], S.CUSTOMER_CONSENT_RECEIVED),
        ([(A.SEND_CONSENT, P), (A.DECLINE_CONSENT, CU)], S.CUSTOMER_CONSENT_DECLINED),
        ([(A.EXPIRE_CONSENT, SY)], S.CUSTOMER_CONSENT_EXPIRED),
        ([(A.SEND_CONSENT, P), (A.EXPIRE_CONSENT, SY)], S.CUSTOMER_CONSENT_EXPIRED),
        ([(A.CANCEL, P)], S.CANCELED),
        ([(A.SEND_CONSENT, P), (A.CANCEL, P)], S.CANCELED),
        ([(A.SEND_CONSENT, P), (A.ACCEPT_CONSENT, CU), (A.CANCEL, P)], S.CANCELED),
        (
            [(A.SEND_CONSENT, P), (A.ACCEPT_CONSENT, CU), (A.EXPIRE_NOT_SUBMITTED, SY)],
            S.NOT_SUBMITTED_EXPIRED,
        ),
        (TO_SUBMITTED, S.SUBMITTED),
        ([*TO_SUBMITTED, (A.START_REVIEW, RV)], S.UNDER_REVIEW),
        ([*TO_SUBMITTED, (A.APPROVE, RV)], S.APPROVED),
        ([*TO_SUBMITTED, (A.START_REVIEW, RV), (A.APPROVE, RV)], S.APPROVED),
        ([*TO_SUBMITTED, (A.REQUEST_PARTNER_ACTION, RV)], S.PARTNER_ACTION_REQUIRED),
        ([*TO_SUBMITTED, (A.START_REVIEW, RV), (A.REQUEST_PARTNER_ACTION, RV), (A.SUBMIT, P)], S.SUBMITTED),
        (
            [*TO_SUBMITTED, (A.REQUEST_PARTNER_ACTION, RV), (A.EXPIRE_POST_SUBMISSION, SY)],
            S.POST_SUBMISSION_EXPIRED,
        ),
        ([*TO_SUBMITTED, (A.REJECT, RV)], S.REJECTED),
        ([*TO_SUBMITTED, (A.START_REVIEW, RV), (A.REJECT, RV)], S.REJECTED),
        ([*TO_SUBMITTED, (A.REJECT, RV), (A.EXPIRE_DISPUTE, SY)], S.DISPUTED_EXPIRED),
        ([*TO_SUBMITTED, (A.REJECT, RV), (A.DISPUTE, P)], S.DISPUTED),
        ([*TO_SUBMITTED, (A.REJECT, RV), (A.DISPUTE, P), (A.EXPIRE_DISPUTE, SY)], S.DISPUTED_EXPIRED),
        ([*TO_SUBMITTED, (A.REJECT, RV), (A.DISPUTE, P), (A.SUBMIT, P)], S.SUBMITTED),
        ([*TO_SUBMITTED, (A.REJECT, RV), (A.DISPUTE, P), (A.SUBMIT, P), (A.APPROVE, RV)], S.APPROVED),
        ([*TO_SUBMITTED, (A.REJECT, RV), (A.DISPUTE, P), (A.SUBMIT, P), (A.REJECT, RV)], S.REJECTED_FINAL),
        (
            [
                *TO_SUBMITTED,
                (A.REJECT, RV),
                (A.DISPUTE, P),
                (A.SUBMIT, P),
                (A.START_REVIEW, RV),
                (A.REQUEST_PARTNER_ACTION, RV),
                (A.SUBMIT, P),
                (A.REJECT, RV),
            ],
            S.REJECTED_FINAL,
        ),
    ],
)
def test_transitions_of_domain_md(steps: list[tuple[A, K]], expected: S) -> None:
    assert run(steps).status is expected


def test_dispute_is_remembered_and_allowed_once() -> None:
    rejected = run([*TO_SUBMITTED, (A.REJECT, RV)])
    assert not rejected.disputed
    assert run([(A.DISPUTE, P)], rejected).disputed
    with pytest.raises(TransitionNotAllowed, match="only once"):
        next_state(ClaimState(S.REJECTED, disputed=True), A.DISPUTE, P)


def test_only_a_partner_creates_a_claim() -> None:
    assert initial_state(P) == ClaimState(S.CUSTOMER_CLAIMED, disputed=False)
    with pytest.raises(TransitionNotAllowed) as error:
        initial_state(RV)
    assert error.value.wrong_actor


def test_refusals_say_why() -> None:
    with pytest.raises(TransitionNotAllowed, match="terminal") as terminal:
        next_status(ClaimState(S.APPROVED), A.SUBMIT, P)
    assert not terminal.value.wrong_actor
    with pytest.raises(TransitionNotAllowed, match="Submit is not open to a reviewer") as actor:
        next_status(ClaimState(S.CUSTOMER_CONSENT_RECEIVED), A.SUBMIT, RV)
    assert actor.value.wrong_actor
    assert actor.value.action is A.SUBMIT and actor.value.actor is RV
    with pytest.raises(
        TransitionNotAllowed, match="Submit is not possible on a claim in status customer claimed"
    ) as status:
        next_status(ClaimState(S.CUSTOMER_CLAIMED), A.SUBMIT, P)
    assert not status.value.wrong_actor
    assert isinstance(status.value, ValueError)


def test_who_does_what() -> None:
    assert available_actions(ClaimState(S.CUSTOMER_CLAIMED), P) == [A.SEND_CONSENT, A.CANCEL]
    assert available_actions(ClaimState(S.AWAITING_CUSTOMER_CONSENT_RESPONSE), P) == [
        A.RESEND_CONSENT,
        A.CANCEL,
    ]
    assert available_actions(ClaimState(S.AWAITING_CUSTOMER_CONSENT_RESPONSE), CU) == [
        A.ACCEPT_CONSENT,
        A.DECLINE_CONSENT,
    ]
    assert available_actions(ClaimState(S.CUSTOMER_CONSENT_RECEIVED), P) == [A.CANCEL, A.SUBMIT]
    assert available_actions(ClaimState(S.SUBMITTED), P) == []
    assert available_actions(ClaimState(S.SUBMITTED), RV) == [
        A.START_REVIEW,
        A.REQUEST_PARTNER_ACTION,
        A.APPROVE,
        A.REJECT,
    ]
    assert available_actions(ClaimState(S.UNDER_REVIEW), RV) == [
        A.REQUEST_PARTNER_ACTION,
        A.APPROVE,
        A.REJECT,
    ]
    assert available_actions(ClaimState(S.REJECTED), P) == [A.DISPUTE]
    assert available_actions(ClaimState(S.REJECTED, disputed=True), P) == []
    assert available_actions(ClaimState(S.DISPUTED, disputed=True), P) == [A.SUBMIT]
    assert available_actions(ClaimState(S.REJECTED), SY) == [A.EXPIRE_DISPUTE]


def test_claims_waiting_on_the_reviewer_never_expire() -> None:
    for status in (S.SUBMITTED, S.UNDER_REVIEW):
        assert available_actions(ClaimState(status), SY) == []
        assert expiry_action_for(status) is None


def test_terminal_categories() -> None:
    assert dict(TERMINAL) == {
        S.APPROVED: C.COMPLETED,
        S.CUSTOMER_CONSENT_EXPIRED: C.EXPIRED,
        S.NOT_SUBMITTED_EXPIRED: C.EXPIRED,
        S.POST_SUBMISSION_EXPIRED: C.EXPIRED,
        S.DISPUTED_EXPIRED: C.EXPIRED,
        S.CANCELED: C.CANCELED,
        S.CUSTOMER_CONSENT_DECLINED: C.DECLINED,
        S.REJECTED_FINAL: C.FINAL_REJECTED,
    }
    assert not is_terminal(S.REJECTED)
    assert is_terminal(S.REJECTED_FINAL)


def test_the_table_is_consistent() -> None:
    sources = {status for status, _ in TRANSITIONS}
    assert not sources & set(TERMINAL), "terminal statuses have no way out"
    assert sources | set(TERMINAL) == set(S), "every status is either left somehow or terminal"
    assert all(A.CREATE is not action for _, action in TRANSITIONS)
    # The clock does exactly the expiries, and each waiting status's expiry is in the table.
    clock_moves = {(s, a) for (s, a), t in TRANSITIONS.items() if K.SYSTEM in t.actors}
    assert clock_moves == {(s, a) for s, a in EXPIRY_ACTIONS.items()}
    for (_, action), transition in TRANSITIONS.items():
        assert transition.actors, action
        assert (K.SYSTEM in transition.actors) == action.name.startswith("EXPIRE"), action


# Property-based: random walks through the machine by random actors.
steps = st.lists(st.tuples(st.sampled_from(list(A)), st.sampled_from(list(K))), max_size=40)


@settings(max_examples=300)
@given(steps)
def test_random_walks_keep_the_invariants(walk: list[tuple[A, K]]) -> None:
    state = initial_state(P)
    disputes = 0
    for action, actor in walk:
        allowed = available_actions(state, actor)
        assert A.CREATE not in allowed
        if action in RECORDED_ONLY:  # done only as part of another action: never offered; keeps the state
            assert action not in allowed
            with contextlib.suppress(TransitionNotAllowed):
                assert next_state(state, action, actor) == state
            continue
        if action in allowed:
            after = next_state(state, action, actor)
            assert after.status in set(S)
            assert after.status == TRANSITIONS[(state.status, action)].to or after.status is S.REJECTED_FINAL
            disputes += action is A.DISPUTE
            assert after.disputed == (disputes > 0)
            if after.status is S.REJECTED_FINAL:
                assert state.disputed, "a rejection is final only after the dispute"
            state = after
        else:
            with pytest.raises(TransitionNotAllowed):
                next_state(state, action, actor)
            if is_terminal(state.status):
                assert available_actions(state, actor) == [], "terminal states are absorbing"
        assert disputes <= 1


@settings(max_examples=100)
@given(st.sampled_from(list(S)), st.booleans(), st.sampled_from(list(K)))
def test_available_actions_match_next_status(status: S, disputed: bool, actor: K) -> None:
    state = ClaimState(status, disputed)
    allowed = available_actions(state, actor)
    for action in A:
        if action in allowed:
            assert next_status(state, action, actor) in set(S)
        elif action in RECORDED_ONLY:  # never offered on its own, though it may be open
            continue
        else:
            with pytest.raises(TransitionNotAllowed):
                next_status(state, action, actor)
    if is_terminal(status):
        assert allowed == []


# Deadlines (DOMAIN.md "Timelines"): start instant + N x 24 h.
TL = Timeline(consent_days=30, submit_days=90, review_days=120, dispute_days=30)
CREATED = datetime(2025, 1, 1, 9, 0, tzinfo=UTC)
CONSENTED = CREATED + timedelta(days=5, hours=3)
REJECTED_AT = CONSENTED + timedelta(days=40)
DISPUTE_SUBMITTED = REJECTED_AT + timedelta(days=10)
ASKED = CONSENTED + timedelta(days=20)  # a partner-action request well inside the review window


def deadline_of(
    status: S, dispute_submitted_at: datetime | None = None, partner_action_requested_at: datetime = ASKED
) -> datetime | None:
    return deadline_for(
        status,
        TL,
        created_at=CREATED,
        consented_at=CONSENTED,
        rejected_at=REJECTED_AT,
        dispute_submitted_at=dispute_submitted_at,
        partner_action_requested_at=partner_action_requested_at,
    )


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (S.CUSTOMER_CLAIMED, CREATED + timedelta(days=30)),
        (S.AWAITING_CUSTOMER_CONSENT_RESPONSE, CREATED + timedelta(days=30)),
        (S.CUSTOMER_CONSENT_RECEIVED, CONSENTED + timedelta(days=90)),
        (S.PARTNER_ACTION_REQUIRED, CONSENTED + timedelta(days=120)),
        (S.REJECTED, REJECTED_AT + timedelta(days=30)),
        (S.DISPUTED, REJECTED_AT + timedelta(days=30)),
        (S.SUBMITTED, None),
        (S.UNDER_REVIEW, None),
        *[(status, None) for status in TERMINAL],
    ],
)
def test_deadlines_follow_the_table(status: S, expected: datetime | None) -> None:
    assert deadline_of(status) == expected


def test_after_a_dispute_submit_the_partner_has_one_more_window() -> None:
    assert deadline_of(S.PARTNER_ACTION_REQUIRED, DISPUTE_SUBMITTED) == DISPUTE_SUBMITTED + timedelta(days=30)


@given(
    asked_after_consent=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=2000)),
    after_dispute=st.booleans(),
    partner_action_days=st.integers(min_value=1, max_value=60),
)
def test_a_partner_action_request_always_leaves_time_to_answer(
    asked_after_consent: timedelta, after_dispute: bool, partner_action_days: int
) -> None:
    """Decision (DOMAIN.md): the later of the window and the request + partner-action days, so a request made
    late in (or after) the review window never gives a deadline in the past."""
    asked = CONSENTED + asked_after_consent
    dispute_submitted = min(DISPUTE_SUBMITTED, asked) if after_dispute else None
    timeline = Timeline(30, 90, 120, 30, partner_action_days=partner_action_days)
    got = deadline_for(
        S.PARTNER_ACTION_REQUIRED,
        timeline,
        created_at=CREATED,
        consented_at=CONSENTED,
        rejected_at=REJECTED_AT,
        dispute_submitted_at=dispute_submitted,
        partner_action_requested_at=asked,
    )
    window = dispute_submitted + timedelta(days=30) if dispute_submitted else CONSENTED + timedelta(days=120)
    assert got == max(window, asked + timedelta(days=partner_action_days))
    assert got is not None and got > asked


def test_a_request_after_the_review_window_gives_the_partner_its_days() -> None:
    late = CONSENTED + timedelta(days=130)  # 10 days after the 120-day review window closed
    assert deadline_of(S.PARTNER_ACTION_REQUIRED, partner_action_requested_at=late) == late + timedelta(
        days=14
    )


def test_a_deadline_needs_its_start() -> None:
    with pytest.raises(ValueError, match="consented_at"):
        deadline_for(S.CUSTOMER_CONSENT_RECEIVED, TL, created_at=CREATED)
    with pytest.raises(ValueError, match="rejected_at"):
        deadline_for(S.DISPUTED, TL, created_at=CREATED, consented_at=CONSENTED)
    assert deadline_for(S.AWAITING_CUSTOMER_CONSENT_RESPONSE, TL, created_at=CREATED) == CREATED + timedelta(
        30
    )


@pytest.mark.parametrize("status", list(S))
def test_a_status_has_a_deadline_exactly_when_the_clock_can_end_it(status: S) -> None:
    has_deadline = deadline_of(status) is not None
    assert has_deadline == (expiry_action_for(status) is not None)
    action = expiry_action_for(status)
    if action is not None:
        assert action in available_actions(ClaimState(status), SY)
