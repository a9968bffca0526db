"""The lifecycle's rules through HTTP: in every status, each partner and reviewer action is either offered or
refused with a code (and changes nothing); each deadline fires at its instant and not a moment before."""

from datetime import datetime, timedelta

from app.services.expiry import expire_due
from tests.api.claim_flow import (
    RESPOND,
    SEND,
    act,
    claim,
    consent_token,
    consented_claim,
    ids,
    new_claim,
    reviewer_token,
)
from tests.demo import CONTOSO_ADMIN

PARTNER_ACTIONS = {"submitClaim": "SUBMIT", "cancelClaim": "CANCEL", "disputeClaim": "DISPUTE"}
REVIEWER_ACTIONS = {
    "startClaimReview": "START_REVIEW",
    "requestPartnerAction": "REQUEST_PARTNER_ACTION",
    "approveClaim": "APPROVE",
    "rejectClaim": "REJECT",
}
COMMENTED = {"disputeClaim", "requestPartnerAction", "rejectClaim"}

# DOMAIN.md "Transitions", as the partner and the reviewer may act on them (consent is the customer's; the clock
# expires). Written out here, independently of app/domain/lifecycle.py, as the specification the API must meet.
ALLOWED = {
    "CUSTOMER_CLAIMED": {"cancelClaim"},
    "AWAITING_CUSTOMER_CONSENT_RESPONSE": {"cancelClaim"},
    "CUSTOMER_CONSENT_RECEIVED": {"submitClaim", "cancelClaim"},
    "CUSTOMER_CONSENT_DECLINED": set(),
    "CANCELED": set(),
    "SUBMITTED": {"startClaimReview", "requestPartnerAction", "approveClaim", "rejectClaim"},
    "UNDER_REVIEW": {"requestPartnerAction", "approveClaim", "rejectClaim"},
    "PARTNER_ACTION_REQUIRED": {"submitClaim"},
    "APPROVED": set(),
    "REJECTED": {"disputeClaim"},
    "DISPUTED": {"submitClaim"},
    "REJECTED_FINAL": set(),
}
TERMINAL = {"CUSTOMER_CONSENT_DECLINED", "CANCELED", "APPROVED", "REJECTED_FINAL"}
DOMAINS = [
    "northwind.example",
    "adatum.example",
    "tailwindtraders.example",
    "woodgrovebank.example",
    "alpineskihouse.example",
    "wideworldimporters.example",
    "cohowinery.example",
    "fourthcoffee.example",
    "lucernepublishing.example",
    "margiestravel.example",
    "relecloud.example",
    "treyresearch.example",
]


async def _claims_in_every_status(api, smtp) -> dict[str, str]:
    reviewer = reviewer_token(api)
    domains = iter(DOMAINS)
    found: dict[str, str] = {}
    found["CUSTOMER_CLAIMED"], _ = await new_claim(api, domain=next(domains))
    awaiting, _ = await new_claim(api, domain=next(domains))
    await api.graphql(SEND, {"id": awaiting}, as_user=CONTOSO_ADMIN)
    found["AWAITING_CUSTOMER_CONSENT_RESPONSE"] = awaiting
    declined, recipient = await new_claim(api, domain=next(domains))
    token = await consent_token(api, smtp, declined, recipient)
    await api.graphql(RESPOND, {"token": token, "decision": "DECLINE"})
    found["CUSTOMER_CONSENT_DECLINED"] = declined
    found["CUSTOMER_CONSENT_RECEIVED"] = await consented_claim(api, smtp, domain=next(domains))
    canceled = await consented_claim(api, smtp, domain=next(domains))
    await act(api, "cancelClaim", canceled)
    found["CANCELED"] = canceled

    async def submitted() -> str:
        claim_id = await consented_claim(api, smtp, domain=next(domains))
        await act(api, "submitClaim", claim_id)
        return claim_id

    found["SUBMITTED"] = await submitted()
    found["UNDER_REVIEW"] = await submitted()
    await act(api, "startClaimReview", found["UNDER_REVIEW"], token=reviewer)
    found["PARTNER_ACTION_REQUIRED"] = await submitted()
    await act(api, "requestPartnerAction", found["PARTNER_ACTION_REQUIRED"], "More.", token=reviewer)
    found["APPROVED"] = await submitted()
    await act(api, "approveClaim", found["APPROVED"], token=reviewer)
    found["REJECTED"] = await submitted()
    await act(api, "rejectClaim", found["REJECTED"], "No.", token=reviewer)
    found["DISPUTED"] = await submitted()
    await act(api, "rejectClaim", found["DISPUTED"], "No.", token=reviewer)
    await act(api, "disputeClaim", found["DISPUTED"], "Yes.")
    found["REJECTED_FINAL"] = found["DISPUTED"]  # made below, from a second disputed claim
    final = await submitted()
    await act(api, "rejectClaim", final, "No.", token=reviewer)
    await act(api, "disputeClaim", final, "Yes.")
    await act(api, "submitClaim", final)
    await act(api, "rejectClaim", final, "Still no.", token=reviewer)
    found["REJECTED_FINAL"] = final
    return found


async def test_every_action_in_every_status_is_offered_or_refused_with_a_code(clean_api, smtp):
    api = clean_api
    reviewer = reviewer_token(api)
    claims = await _claims_in_every_status(api, smtp)
    assert set(claims) == set(ALLOWED)
    for status, claim_id in claims.items():
        before = await claim(api, claim_id)
        assert before["status"] == status
        offered_to_partner = set(before["availableActions"])
        offered_to_reviewer = set(
            (await claim(api, claim_id, token=reviewer) or {}).get("availableActions", [])
        )
        for mutation, action in {**PARTNER_ACTIONS, **REVIEWER_ACTIONS}.items():
            offered = offered_to_reviewer if mutation in REVIEWER_ACTIONS else offered_to_partner
            allowed = mutation in ALLOWED[status]
            assert (action in offered) is allowed, (status, mutation)
            if allowed:
                continue
            token = reviewer if mutation in REVIEWER_ACTIONS else None
            refused = await act(
                api, mutation, claim_id, "Why." if mutation in COMMENTED else None, token=token
            )
            codes = [e["code"] for e in refused["userErrors"]]
            if mutation in REVIEWER_ACTIONS and status in {
                "CUSTOMER_CLAIMED",
                "AWAITING_CUSTOMER_CONSENT_RESPONSE",
                "CUSTOMER_CONSENT_RECEIVED",
                "CUSTOMER_CONSENT_DECLINED",
                "CANCELED",
            }:
                assert codes == ["NOT_FOUND"], (status, mutation)  # never submitted: reviewers cannot see it
            else:
                assert codes == ["CLAIM_CLOSED" if status in TERMINAL else "ACTION_NOT_AVAILABLE"], (
                    status,
                    mutation,
                )
            assert refused["claim"] is None
        after = await claim(api, claim_id)
        assert (after["status"], after["history"]["totalCount"]) == (status, before["history"]["totalCount"])


async def test_each_deadline_fires_at_its_instant_and_not_a_moment_before(clean_api, smtp):
    api = clean_api
    reviewer = reviewer_token(api)
    claimed, _ = await new_claim(api, domain="northwind.example")
    consented = await consented_claim(api, smtp, domain="adatum.example")
    rejected = await consented_claim(api, smtp, domain="tailwindtraders.example")
    await act(api, "submitClaim", rejected)
    await act(api, "rejectClaim", rejected, "No.", token=reviewer)
    asked = await consented_claim(api, smtp, domain="woodgrovebank.example")
    await act(api, "submitClaim", asked)
    await act(api, "requestPartnerAction", asked, "More.", token=reviewer)
    expected = {
        claimed: "CUSTOMER_CONSENT_EXPIRED",
        consented: "NOT_SUBMITTED_EXPIRED",
        rejected: "DISPUTED_EXPIRED",
        asked: "POST_SUBMISSION_EXPIRED",
    }
    deadlines = {
        claim_id: datetime.fromisoformat((await claim(api, claim_id))["deadline"]) for claim_id in expected
    }
    for claim_id in sorted(
        expected, key=deadlines.get
    ):  # earliest first: each sweep then expires only its own
        waiting = (await claim(api, claim_id))["status"]
        assert await expire_due(api.database.sessions, deadlines[claim_id] - timedelta(microseconds=1)) == 0
        assert (await claim(api, claim_id))["status"] == waiting
        assert await expire_due(api.database.sessions, deadlines[claim_id]) == 1
        expired = await claim(api, claim_id)
        assert expired["status"] == expected[claim_id]
        assert expired["history"]["edges"][-1]["node"]["actor"]["kind"] == "SYSTEM"


COMPLETE_TAB = """query($id: ID!) { engagement(id: $id) { customers(tab: COMPLETE, first: 50) {
  totalCount edges { claim { id claimNumber status terminalCategory } } } } }"""


async def test_the_complete_tab_holds_every_ended_claim_with_its_category(clean_api, smtp):
    api = clean_api
    claims = await _claims_in_every_status(api, smtp)
    expired, _ = await new_claim(api, domain="nodpublishers.example")
    deadline = datetime.fromisoformat((await claim(api, expired))["deadline"])
    # Its consent deadline comes after those of the two earlier claims still waiting for consent, and after the
    # dispute windows of the two claims rejected earlier: they all end too.
    await expire_due(api.database.sessions, deadline)
    _, engagements = await ids(api)
    engagement = engagements["copilot-readiness-assessment"]  # where claim_flow nominates
    page = (await api.graphql(COMPLETE_TAB, {"id": engagement}, as_user=CONTOSO_ADMIN)).data["engagement"][
        "customers"
    ]
    by_category: dict[str, set[str]] = {}
    for edge in page["edges"]:
        by_category.setdefault(edge["claim"]["terminalCategory"], set()).add(edge["claim"]["status"])
    assert by_category == {
        "COMPLETED": {"APPROVED"},
        "DECLINED": {"CUSTOMER_CONSENT_DECLINED"},
        "CANCELED": {"CANCELED"},
        "FINAL_REJECTED": {"REJECTED_FINAL"},
        "EXPIRED": {"CUSTOMER_CONSENT_EXPIRED", "DISPUTED_EXPIRED"},
    }
    swept = ["CUSTOMER_CLAIMED", "AWAITING_CUSTOMER_CONSENT_RESPONSE", "REJECTED", "DISPUTED"]
    ended = {claims[s] for s in [*TERMINAL, *swept]} | {expired}
    assert {edge["claim"]["id"] for edge in page["edges"]} == ended
    assert page["totalCount"] == len(ended)
