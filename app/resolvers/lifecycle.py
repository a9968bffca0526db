"""The claim's life after consent: the partner's submitClaim, cancelClaim, disputeClaim and the reviewer's
startClaimReview, requestPartnerAction, approveClaim, rejectClaim. Each maps to one lifecycle action."""

from typing import Annotated

import strawberry

from app.domain.enums import ClaimAction
from app.domain.enums import ClaimStatus as DomainClaimStatus
from app.resolvers.claims import Claim, ClaimConnection
from app.resolvers.context import Info
from app.resolvers.enums import ClaimStatus
from app.resolvers.relay import After, Before, First, Last, page_request, pk_of
from app.resolvers.user_errors import UserError
from app.services import records, transitions


@strawberry.type(description="The result of an action on a claim.")
class ClaimActionPayload:
    claim: Claim | None = strawberry.field(
        description="The claim after the action; null when nothing changed."
    )
    user_errors: list[UserError] = strawberry.field(
        description="Problems; the claim did not change when any."
    )


async def _act(info: Info, claim_id: strawberry.ID, action: ClaimAction, comment: str | None, reviewer: bool):
    context = info.context
    who = context.require_reviewer() if reviewer else context.require_viewer()
    outcome = await transitions.act(
        context.runtime.sessions,
        who,
        transitions.Act(pk_of(claim_id, "Claim"), action, comment),
        context.runtime.clock.now(),
    )
    if isinstance(outcome, list):
        return None, [UserError.of(p) for p in outcome]
    return Claim.from_model(outcome), []


def _mutation(name: str, action: ClaimAction, *, reviewer: bool, comment: str | None, description: str):
    """The input type, payload type and resolver of one claim action (`comment`: how the comment is asked for,
    None when the action takes none)."""
    fields = {"claim_id": strawberry.field(description="Global ID of the claim.")}
    annotations: dict[str, object] = {"claim_id": strawberry.ID}
    if comment is not None:
        required = action in transitions.COMMENT_REQUIRED
        annotations["comment"] = str if required else str | None
        fields["comment"] = (
            strawberry.field(description=comment)
            if required
            else strawberry.field(default=None, description=comment)
        )
    input_type = strawberry.input(
        type(f"{name}Input", (), {"__annotations__": annotations, **fields}),
        description=f"Input of {name[0].lower() + name[1:]}.",
    )
    payload_type = strawberry.type(
        type(f"{name}Payload", (ClaimActionPayload,), {}),
        description=f"The result of {name[0].lower() + name[1:]}.",
    )

    async def resolve(
        info: Info, input: Annotated[input_type, strawberry.argument(description="The claim.")]
    ):  # type: ignore[valid-type]
        claim, errors = await _act(info, input.claim_id, action, getattr(input, "comment", None), reviewer)
        return payload_type(claim=claim, user_errors=errors)

    resolve.__annotations__["return"] = payload_type
    return strawberry.mutation(resolver=resolve, description=description)


submit_claim = _mutation(
    "SubmitClaim",
    ClaimAction.SUBMIT,
    reviewer=False,
    comment="A note for the reviewer, e.g. what was fixed.",
    description="Submit the claim after consent; also the resubmit after a partner-action request or a dispute.",
)
cancel_claim = _mutation(
    "CancelClaim",
    ClaimAction.CANCEL,
    reviewer=False,
    comment=None,
    description="Cancel the claim; possible only before its first submit.",
)
dispute_claim = _mutation(
    "DisputeClaim",
    ClaimAction.DISPUTE,
    reviewer=False,
    comment="Why the rejection is wrong (required).",
    description="Dispute a rejection, once, within the dispute window; then submit the claim again.",
)
start_claim_review = _mutation(
    "StartClaimReview",
    ClaimAction.START_REVIEW,
    reviewer=True,
    comment=None,
    description="Reviewer: start reviewing a submitted claim.",
)
request_partner_action = _mutation(
    "RequestPartnerAction",
    ClaimAction.REQUEST_PARTNER_ACTION,
    reviewer=True,
    comment="What the partner must fix or add (required).",
    description="Reviewer: ask the partner for more; the partner fixes and resubmits.",
)
approve_claim = _mutation(
    "ApproveClaim",
    ClaimAction.APPROVE,
    reviewer=True,
    comment="An optional note for the partner.",
    description="Reviewer: approve the claim: the engagement is completed.",
)
reject_claim = _mutation(
    "RejectClaim",
    ClaimAction.REJECT,
    reviewer=True,
    comment="Why the claim is rejected (required).",
    description="Reviewer: reject the claim; after a dispute the rejection is final.",
)

REVIEW_STATUSES = [DomainClaimStatus.SUBMITTED, DomainClaimStatus.UNDER_REVIEW]


async def resolve_claims_for_review(
    info: Info,
    statuses: Annotated[
        list[ClaimStatus] | None,
        strawberry.argument(description="Only claims in these statuses; default SUBMITTED and UNDER_REVIEW."),
    ] = None,
    first: First = None,
    after: After = None,
    last: Last = None,
    before: Before = None,
) -> ClaimConnection:
    context = info.context
    context.require_reviewer()
    settings = context.runtime.settings
    request = page_request(settings, first, after, last, before)
    async with context.runtime.sessions() as session:
        page = await records.claims_for_review(
            session, [s.value for s in statuses or REVIEW_STATUSES], request
        )
    return ClaimConnection.of(page, Claim.from_model)
