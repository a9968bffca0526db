"""The claim's whole life through HTTP: submit, review, partner action, reject, dispute, final rejection, approval,
cancellation, every expiry, and the history that records it."""

import asyncio
from datetime import datetime, timedelta

from tests.api.claim_flow import act, claim, consented_claim, new_claim, reviewer_token
from tests.demo import CONTOSO_ADMIN, FABRIKAM_ADMIN


def _steps(claim_data: dict) -> list[tuple[str, str, str]]:
    return [
        (e["node"]["action"], e["node"]["toStatus"], e["node"]["actor"]["kind"])
        for e in claim_data["history"]["edges"]
    ]


async def test_the_longest_road_ends_in_a_final_rejection(clean_api, smtp):
    api = clean_api
    reviewer = reviewer_token(api)
    claim_id = await consented_claim(api, smtp)
    assert (await claim(api, claim_id))["availableActions"] == ["CANCEL", "SUBMIT"]

    assert (await act(api, "submitClaim", claim_id))["claim"]["status"] == "SUBMITTED"
    submitted = await claim(api, claim_id)
    assert (
        submitted["deadline"] is None and submitted["daysRemaining"] is None
    )  # waits on the reviewer: no expiry
    assert submitted["availableActions"] == []

    assert (await act(api, "startClaimReview", claim_id, token=reviewer))["claim"]["status"] == "UNDER_REVIEW"
    asked = await act(api, "requestPartnerAction", claim_id, "Attach the workshop agenda.", token=reviewer)
    assert asked["claim"]["status"] == "PARTNER_ACTION_REQUIRED"
    assert (await act(api, "submitClaim", claim_id, "Agenda attached."))["claim"]["status"] == "SUBMITTED"
    rejected = await act(
        api, "rejectClaim", claim_id, "The agenda does not cover the required modules.", token=reviewer
    )
    assert rejected["claim"]["status"] == "REJECTED"
    assert (await claim(api, claim_id))["availableActions"] == ["DISPUTE"]

    assert (await act(api, "disputeClaim", claim_id, "Modules 2 and 3 are on page 4."))["claim"][
        "status"
    ] == "DISPUTED"
    assert (await act(api, "submitClaim", claim_id))["claim"]["status"] == "SUBMITTED"
    final = await act(api, "rejectClaim", claim_id, "Still incomplete.", token=reviewer)
    assert final["claim"]["status"] == "REJECTED_FINAL"

    data = await claim(api, claim_id)
    assert data["terminalCategory"] == "FINAL_REJECTED"
    assert data["availableActions"] == []
    assert _steps(data) == [
        ("CREATE", "CUSTOMER_CLAIMED", "PARTNER_USER"),
        ("SEND_CONSENT", "AWAITING_CUSTOMER_CONSENT_RESPONSE", "PARTNER_USER"),
        ("ACCEPT_CONSENT", "CUSTOMER_CONSENT_RECEIVED", "CUSTOMER"),
        ("SUBMIT", "SUBMITTED", "PARTNER_USER"),
        ("START_REVIEW", "UNDER_REVIEW", "REVIEWER"),
        ("REQUEST_PARTNER_ACTION", "PARTNER_ACTION_REQUIRED", "REVIEWER"),
        ("SUBMIT", "SUBMITTED", "PARTNER_USER"),
        ("REJECT", "REJECTED", "REVIEWER"),
        ("DISPUTE", "DISPUTED", "PARTNER_USER"),
        ("SUBMIT", "SUBMITTED", "PARTNER_USER"),
        ("REJECT", "REJECTED_FINAL", "REVIEWER"),
    ]
    comments = [(c["action"], c["comment"]) for c in data["comments"]]
    assert comments[0] == ("REQUEST_PARTNER_ACTION", "Attach the workshop agenda.")
    assert ("DISPUTE", "Modules 2 and 3 are on page 4.") in comments
    # Partners see Microsoft's reviewers as such, never by name; the reviewer sees names.
    assert {c["actor"]["name"] for c in data["comments"] if c["actor"]["kind"] == "REVIEWER"} == {
        "Microsoft reviewer"
    }
    as_reviewer = await claim(api, claim_id, token=reviewer)
    assert {c["actor"]["name"] for c in as_reviewer["comments"] if c["actor"]["kind"] == "REVIEWER"} == {
        "Rita Reviewer"
    }


async def test_approval_completes_the_claim(clean_api, smtp):
    api = clean_api
    reviewer = reviewer_token(api)
    claim_id = await consented_claim(api, smtp)
    await act(api, "submitClaim", claim_id)
    approved = await act(api, "approveClaim", claim_id, token=reviewer)
    assert approved["claim"]["status"] == "APPROVED"
    data = await claim(api, claim_id)
    assert data["terminalCategory"] == "COMPLETED"
    for mutation in ("cancelClaim", "submitClaim"):
        refused = await act(api, mutation, claim_id)
        assert [e["code"] for e in refused["userErrors"]] == ["CLAIM_CLOSED"]
    assert len(data["history"]["edges"]) == 5


async def test_cancel_only_before_the_first_submit(clean_api, smtp):
    api = clean_api
    claimed, _ = await new_claim(api, domain="adatum.example")
    assert (await act(api, "cancelClaim", claimed))["claim"]["status"] == "CANCELED"
    assert (await claim(api, claimed))["terminalCategory"] == "CANCELED"

    submitted = await consented_claim(api, smtp, domain="tailwindtraders.example")
    await act(api, "submitClaim", submitted)
    refused = await act(api, "cancelClaim", submitted)
    assert [e["code"] for e in refused["userErrors"]] == ["ACTION_NOT_AVAILABLE"]
    assert (await claim(api, submitted))["status"] == "SUBMITTED"


async def test_only_one_dispute(clean_api, smtp):
    api = clean_api
    reviewer = reviewer_token(api)
    claim_id = await consented_claim(api, smtp)
    await act(api, "submitClaim", claim_id)
    await act(api, "rejectClaim", claim_id, "No evidence.", token=reviewer)
    missing_reason = await act(api, "disputeClaim", claim_id, "   ")
    assert [(e["code"], e["field"]) for e in missing_reason["userErrors"]] == [
        ("INVALID_INPUT", ["input", "comment"])
    ]
    await act(api, "disputeClaim", claim_id, "Evidence attached.")
    await act(api, "submitClaim", claim_id)
    await act(api, "requestPartnerAction", claim_id, "One more document.", token=reviewer)
    await act(api, "submitClaim", claim_id)
    # A rejection after the dispute is final: no second dispute.
    assert (await act(api, "rejectClaim", claim_id, "No.", token=reviewer))["claim"][
        "status"
    ] == "REJECTED_FINAL"
    again = await act(api, "disputeClaim", claim_id, "Please.")
    assert [e["code"] for e in again["userErrors"]] == ["CLAIM_CLOSED"]


async def test_roles_are_kept_apart(clean_api, smtp):
    api = clean_api
    reviewer = reviewer_token(api)
    claim_id = await consented_claim(api, smtp)
    # Before the first submit a reviewer cannot see the claim at all.
    assert [
        e["code"] for e in (await act(api, "startClaimReview", claim_id, token=reviewer))["userErrors"]
    ] == ["NOT_FOUND"]
    assert (
        await api.graphql("query($id: ID!) { claim(id: $id) { id } }", {"id": claim_id}, token=reviewer)
    ).data == {"claim": None}
    await act(api, "submitClaim", claim_id)
    # A partner cannot act as a reviewer, nor a reviewer as a partner: top-level FORBIDDEN.
    response = await api.graphql(
        "mutation($id: ID!) { approveClaim(input: {claimId: $id}) { claim { status } } }",
        {"id": claim_id},
        as_user=CONTOSO_ADMIN,
    )
    assert response.error_codes == ["FORBIDDEN"]
    response = await api.graphql("{ viewer { user { email } } }", token=reviewer)
    assert response.error_codes == ["FORBIDDEN"]
    # Another partner's claim is missing for a partner, visible to reviewers once submitted.
    other = await api.graphql(
        "mutation($id: ID!) { submitClaim(input: {claimId: $id}) { userErrors { code } } }",
        {"id": claim_id},
        as_user=FABRIKAM_ADMIN,
    )
    assert other.data["submitClaim"]["userErrors"] == [{"code": "NOT_FOUND"}]
    queue = await api.graphql(
        "{ claimsForReview(first: 10) { totalCount edges { node { id status } } } }", token=reviewer
    )
    assert [e["node"]["id"] for e in queue.data["claimsForReview"]["edges"]] == [claim_id]
    assert (await api.graphql("{ claimsForReview { totalCount } }", as_user=CONTOSO_ADMIN)).error_codes == [
        "FORBIDDEN"
    ]


async def _advance(api, days: int) -> None:
    moved = await api.graphql(
        "mutation($d: Int!) { advanceTestClock(input: {days: $d}) { userErrors { code } } }",
        {"d": days},
        as_user=CONTOSO_ADMIN,
    )
    assert moved.data["advanceTestClock"]["userErrors"] == []


async def test_every_waiting_status_expires_and_reviewer_waits_never_do(clean_api, smtp):
    api = clean_api
    reviewer = reviewer_token(api)
    # copilot-readiness-assessment is an ASSESSMENT: submit within 60 days of consent, review window 90, dispute 30.
    not_submitted = await consented_claim(api, smtp, domain="northwind.example")
    action_required = await consented_claim(api, smtp, domain="adatum.example")
    rejected = await consented_claim(api, smtp, domain="tailwindtraders.example")
    disputed = await consented_claim(api, smtp, domain="woodgrovebank.example")
    waiting_on_reviewer = await consented_claim(api, smtp, domain="alpineskihouse.example")
    for claim_id in (action_required, rejected, disputed, waiting_on_reviewer):
        await act(api, "submitClaim", claim_id)
    await act(api, "requestPartnerAction", action_required, "More.", token=reviewer)
    await act(api, "rejectClaim", rejected, "No.", token=reviewer)
    await act(api, "rejectClaim", disputed, "No.", token=reviewer)
    await act(api, "disputeClaim", disputed, "Yes.")

    await _advance(api, 31)  # the dispute windows (30 days from rejection) pass
    assert (await claim(api, rejected))["status"] == "DISPUTED_EXPIRED"
    assert (await claim(api, disputed))["status"] == "DISPUTED_EXPIRED"
    assert (await claim(api, not_submitted))["status"] == "CUSTOMER_CONSENT_RECEIVED"

    await _advance(api, 30)  # day 61 after consent: the first-submit window (60) passed
    expired = await claim(api, not_submitted)
    assert (expired["status"], expired["terminalCategory"]) == ("NOT_SUBMITTED_EXPIRED", "EXPIRED")
    assert expired["history"]["edges"][-1]["node"]["actor"]["kind"] == "SYSTEM"
    assert (await claim(api, action_required))["status"] == "PARTNER_ACTION_REQUIRED"

    await _advance(api, 30)  # day 91: the review window (90 from consent) passed
    assert (await claim(api, action_required))["status"] == "POST_SUBMISSION_EXPIRED"

    await _advance(api, 400)
    assert (await claim(api, waiting_on_reviewer))["status"] == "SUBMITTED"
    late = await act(api, "submitClaim", not_submitted)
    assert [e["code"] for e in late["userErrors"]] == ["CLAIM_CLOSED"]


async def test_racing_reviewer_decisions_have_exactly_one_winner(clean_api, smtp):
    api = clean_api
    claim_id = await consented_claim(api, smtp)
    await act(api, "submitClaim", claim_id)
    tokens = [reviewer_token(api, f"reviewer{i}@microsoft.example") for i in range(10)]
    results = await asyncio.gather(
        *[
            act(
                api,
                "approveClaim" if i % 2 else "rejectClaim",
                claim_id,
                None if i % 2 else "No.",
                token=token,
            )
            for i, token in enumerate(tokens)
        ]
    )
    winners = [r for r in results if not r["userErrors"]]
    assert len(winners) == 1
    for loser in results:
        if loser["userErrors"]:
            assert loser["userErrors"][0]["code"] in {
                "CLAIM_CLOSED",
                "ACTION_NOT_AVAILABLE",
                "CONCURRENT_CHANGE",
            }
    data = await claim(api, claim_id)
    decisions = [e for e in _steps(data) if e[0] in {"APPROVE", "REJECT"}]
    assert len(decisions) == 1
    assert data["status"] == winners[0]["claim"]["status"]


async def test_a_partner_action_request_after_the_review_window_leaves_the_partner_time(clean_api, smtp):
    """Decision (DOMAIN.md): the deadline is the later of the review window and the request + 14 days; the claim
    cannot expire at or before the request, and the history stays in time order."""
    api = clean_api
    reviewer = reviewer_token(api)
    claim_id = await consented_claim(api, smtp)  # an ASSESSMENT: review complete 90 days after consent
    assert (await act(api, "submitClaim", claim_id))["claim"]["status"] == "SUBMITTED"
    await _advance(api, 100)  # past the review window: the claim waits on the reviewer, so it cannot expire
    asked = await act(api, "requestPartnerAction", claim_id, "Attach the agenda.", token=reviewer)
    assert asked["userErrors"] == [] and asked["claim"]["status"] == "PARTNER_ACTION_REQUIRED"
    now = api.clock.now()
    deadline = datetime.fromisoformat(asked["claim"]["deadline"])
    assert timedelta(days=14) - timedelta(minutes=1) < deadline - now <= timedelta(days=14)
    assert (await claim(api, claim_id))["status"] == "PARTNER_ACTION_REQUIRED"  # a read does not expire it

    await _advance(api, 13)
    assert (await claim(api, claim_id))["status"] == "PARTNER_ACTION_REQUIRED"
    await _advance(api, 2)
    expired = await claim(api, claim_id)
    assert expired["status"] == "POST_SUBMISSION_EXPIRED"
    times = [datetime.fromisoformat(e["node"]["occurredAt"]) for e in (await _history(api, claim_id))]
    assert times == sorted(times)
    assert times[-1] > times[-2]  # the expiry comes after the request that gave the deadline


async def _history(api, claim_id: str) -> list[dict]:
    query = (
        "query($id: ID!) { claim(id: $id) { history(first: 50) { edges { node { action occurredAt } } } } }"
    )
    return (await api.graphql(query, {"id": claim_id}, as_user=CONTOSO_ADMIN)).data["claim"]["history"][
        "edges"
    ]
