"""`Engagement.customers`: the Customers page of an engagement, one tab at a time (app/services/customers_page)."""

from datetime import datetime

import strawberry
from strawberry.types.nodes import SelectedField, Selection

from app import models
from app.resolvers.claims import Claim
from app.resolvers.context import Info
from app.resolvers.customers import Customer
from app.resolvers.enums import IneligibilityReason, expose
from app.resolvers.errors import check_search
from app.resolvers.relay import PageInfo, encode_cursor, page_request
from app.services import consent, records
from app.services import customers_page as service

CustomersTab = expose(
    service.CustomersTab,
    "A tab of an engagement's Customers page.",
    {
        "ELIGIBLE": "Your known customers that are eligible for the engagement, and every customer with an active "
        "claim of yours on it; one row per customer.",
        "INELIGIBLE": "Your known customers that are not eligible for the engagement and have no active claim on "
        "it, with the reasons (withheld for variable pay).",
        "COMPLETE": "Your claims on the engagement that have ended (terminal), one row per claim.",
    },
)

CustomerAction = expose(
    service.CustomerAction,
    "What a row of the Customers page lets you do now.",
    {
        "CLAIM_CUSTOMER": "Claim this known, eligible customer for the engagement (fixed pay only): `claimCustomer`.",
        "SEND_CONSENT": "Send the consent email for the row's claim.",
        "RESEND_CONSENT": "Send the consent email again, as a reminder; the deadline does not move. Offered only "
        "while the reminder limits allow one now.",
        "SUBMIT": "Submit the row's claim (also the resubmit after a request or a dispute).",
        "CANCEL": "Cancel the row's claim (before its first submit).",
        "DISPUTE": "Dispute the rejection of the row's claim (once).",
    },
)


@strawberry.type(
    description="A row of an engagement's Customers page: the customer, with its claim on the engagement, why it "
    "is not eligible, and what you can do."
)
class EngagementCustomerEdge:
    cursor: str = strawberry.field(description="Opaque cursor of this row, for `after` or `before`.")
    node: Customer = strawberry.field(description="The customer.")
    claim: Claim | None = strawberry.field(
        description="On Eligible, the customer's active claim on the engagement (null when it has none); on "
        "Complete, the row's ended claim; on Ineligible, null."
    )
    ineligibility_reasons: list[IneligibilityReason] = strawberry.field(
        description="On Ineligible, why the customer's identifier cannot be claimed for the engagement (empty for "
        "variable-pay engagements: the detail is withheld); empty on the other tabs."
    )
    available_actions: list[CustomerAction] = strawberry.field(
        description="The buttons open on this row now, in display order."
    )
    deadline: datetime | None = strawberry.field(
        description="When the claim's current waiting status ends; null without a claim or a deadline."
    )
    days_remaining: int | None = strawberry.field(
        description="Whole days left before the deadline, rounded up; null without a claim or a deadline."
    )


@strawberry.type(description="A page of one tab of an engagement's Customers page.")
class EngagementCustomerConnection:
    edges: list[EngagementCustomerEdge] = strawberry.field(description="The rows of this page, in order.")
    page_info: PageInfo = strawberry.field(description="Where this page sits in the whole tab.")
    total_count: int = strawberry.field(description="Number of rows on the whole tab, across all pages.")


def _edge(row: service.CustomerRow) -> EngagementCustomerEdge:
    return EngagementCustomerEdge(
        cursor=encode_cursor(row.key),
        node=Customer.from_model(row.customer),
        claim=Claim.from_model(row.claim) if row.claim is not None else None,
        ineligibility_reasons=row.ineligibility_reasons,
        available_actions=row.available_actions,
        deadline=row.deadline,
        days_remaining=row.days_remaining,
    )


def _selects(selections: list[Selection], *path: str) -> bool:
    """Whether the selection set asks for the field at `path` (each step directly or through fragments)."""
    name, rest = path[0], path[1:]
    for selection in selections:
        if not isinstance(selection, SelectedField):
            if _selects(selection.selections, *path):
                return True
        elif selection.name == name and (not rest or _selects(selection.selections, *rest)):
            return True
    return False


async def resolve_customers(
    engagement: models.Engagement,
    info: Info,
    tab: service.CustomersTab,
    search: str | None,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> EngagementCustomerConnection:
    context = info.context
    viewer = context.require_viewer()
    settings = context.runtime.settings
    request = page_request(settings, first, after, last, before)
    check_search(search, "search")
    async with context.runtime.sessions() as session:
        asks = [field.selections for field in info.selected_fields]
        # The total costs judging every known customer: only when the client asks for it (service docstring).
        with_total = any(_selects(selections, "totalCount") for selections in asks)
        page = await service.customers_page(
            session,
            viewer,
            engagement,
            tab,
            search,
            request,
            context.runtime.clock.now(),
            with_total=with_total,
            judgements=context.runtime.judgements,
        )
        # What the rows' fields will ask for, read now for the whole page (one statement each), so those fields
        # resolve at once instead of waiting on a loader row by row (loaders.now_or_later).
        loaders = context.loaders
        customer_ids = [row.customer.id for row in page.items]
        claim_ids = [row.claim.id for row in page.items if row.claim is not None]
        if customer_ids and any(_selects(selections, "edges", "node", "identifiers") for selections in asks):
            identifiers = await records.identifiers_by_customer(session, customer_ids)
            for pk in customer_ids:
                loaders.customer_identifiers.prime(pk, identifiers.get(pk, []))
        if claim_ids and any(_selects(selections, "edges", "claim", "consentRequest") for selections in asks):
            requests = await consent.consent_requests_by_claim(session, claim_ids)
            for pk in claim_ids:
                loaders.consent_request.prime(pk, requests.get(pk))
    for row in page.items:  # later fields of the same request (claim.customer, ...) reuse these rows
        loaders.customer.prime(row.customer.id, row.customer)
        if row.claim is not None:
            loaders.claim.prime(row.claim.id, row.claim)
    edges = [_edge(row) for row in page.items]
    return EngagementCustomerConnection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=page.has_next,
            has_previous_page=page.has_previous,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        total_count=page.total if page.total is not None else 0,  # not selected when None: never shown
    )
