"""The schema: the root types assembled from each domain's resolvers."""

from typing import Annotated

import strawberry
from strawberry.extensions import DisableIntrospection, SchemaExtension
from strawberry.schema.config import StrawberryConfig

from app.config import Settings
from app.observability import ObserveOperations
from app.persisted import PersistedQueries
from app.resolvers import claims as claim_resolvers
from app.resolvers import clock, lifecycle, nominations, partners, subscriptions
from app.resolvers import consent as consent_resolvers
from app.resolvers import engagements as engagement_resolvers
from app.resolvers import node as node_resolvers
from app.resolvers.context import Info
from app.resolvers.extensions import ApplyPassedDeadlines, RequireAuthentication
from app.resolvers.limits import guard_extensions
from app.resolvers.relay import Node, to_global_id


@strawberry.type(description="The entry points for reading.")
class Query:
    node: Node | None = strawberry.field(
        resolver=node_resolvers.resolve_node,
        description="Any object by its global ID; null when missing or not yours.",
    )
    nodes: list[Node | None] = strawberry.field(
        resolver=node_resolvers.resolve_nodes,
        description="Objects by global IDs, in order; null for each missing one.",
    )
    engagements: engagement_resolvers.EngagementConnection = strawberry.field(
        resolver=engagement_resolvers.resolve_engagements, description="The engagement catalogue."
    )
    engagement: engagement_resolvers.Engagement | None = strawberry.field(
        resolver=engagement_resolvers.resolve_engagement,
        description="One engagement; null when there is no such one.",
    )

    customer_eligibility: nominations.CustomerEligibility = strawberry.field(
        resolver=nominations.resolve_customer_eligibility,
        description="The add-customer preview: for a location and identifier, the engagements it can be nominated "
        "for and why not the others.",
    )

    claims_for_review: claim_resolvers.ClaimConnection = strawberry.field(
        resolver=lifecycle.resolve_claims_for_review,
        description="Reviewers: submitted claims of every partner, oldest first.",
    )

    @strawberry.field(description="One of your claims; null when there is no such claim you may see.")
    async def claim(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The claim's global ID.")],
    ) -> claim_resolvers.Claim | None:
        node = await node_resolvers.resolve_node(info, id)
        return node if isinstance(node, claim_resolvers.Claim) else None

    @strawberry.field(description="The signed-in partner user.")
    def viewer(self, info: Info) -> partners.Viewer:
        viewer = info.context.require_viewer()
        return partners.Viewer(
            user=partners.PartnerUser(
                id=to_global_id("PartnerUser", viewer.user_id), email=viewer.email, name=viewer.name
            ),
            partner_pk=viewer.partner_id,
        )


@strawberry.type(description="The entry points for changing data. Each returns a payload with `userErrors`.")
class Mutation:
    add_customer: nominations.AddCustomerPayload = strawberry.field(
        resolver=nominations.add_customer,
        description="Add a customer: one claim per chosen engagement in CUSTOMER_CLAIMED, all or none.",
    )
    claim_customer: nominations.ClaimCustomerPayload = strawberry.field(
        resolver=nominations.claim_customer,
        description="Claim a known customer for fixed-pay engagements: one claim per engagement, all or none.",
    )
    send_consent: consent_resolvers.SendConsentPayload = strawberry.field(
        resolver=consent_resolvers.send_consent,
        description="Email the customer a consent request (CUSTOMER_CLAIMED to AWAITING_CUSTOMER_CONSENT_RESPONSE), "
        "or a reminder of it; the deadline does not move.",
    )
    respond_to_consent: consent_resolvers.RespondToConsentPayload = strawberry.field(
        resolver=consent_resolvers.respond_to_consent,
        description="The customer's answer. Public: authorised by the consent link's token, which works once.",
    )
    submit_claim = lifecycle.submit_claim
    cancel_claim = lifecycle.cancel_claim
    dispute_claim = lifecycle.dispute_claim
    start_claim_review = lifecycle.start_claim_review
    request_partner_action = lifecycle.request_partner_action
    approve_claim = lifecycle.approve_claim
    reject_claim = lifecycle.reject_claim
    advance_test_clock: clock.AdvanceTestClockPayload = strawberry.field(
        resolver=clock.advance_test_clock,
        description="Sandbox only, INCENTIVES_ADMIN only: move the one clock of the whole sandbox (every partner, "
        "every server process) forward so deadlines pass; refused in production.",
    )


@strawberry.type(
    description="Live updates over WebSocket (graphql-transport-ws, graphql-ws) or Server-Sent Events."
)
class Subscription:
    claim_status_changed: claim_resolvers.ClaimEvent = strawberry.subscription(
        resolver=subscriptions.claim_status_changed,
        description="Every change of the claims you may see, as claim events, in order. Pass `after` (the cursor of "
        "the last event you saw) to resume without a gap.",
    )


def build_schema(
    *, production: bool = False, settings: Settings | None = None, persisted: PersistedQueries | None = None
) -> strawberry.Schema:
    """The schema; in production without introspection and field suggestions, and with faults masked. Query
    limits (app/resolvers/limits.py) come from `settings` (their defaults without)."""
    extensions: list[type[SchemaExtension] | SchemaExtension] = [
        ObserveOperations,
        RequireAuthentication,
        ApplyPassedDeadlines,
        *guard_extensions(settings, production=production, persisted=persisted),
    ]
    if production:
        extensions += [DisableIntrospection]
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[
            claim_resolvers.Claim,
            claim_resolvers.ClaimEvent,
            nominations.Customer,
            engagement_resolvers.Engagement,
            partners.PartnerLocation,
            partners.PartnerAccount,
            partners.PartnerUser,
        ],
        extensions=extensions,
        config=StrawberryConfig(disable_field_suggestions=production),
    )


schema = build_schema()
