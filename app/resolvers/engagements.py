"""Engagements: the catalogue, with timelines, criteria, limits, variable-pay rules and which of the viewer's
locations can earn on each."""

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry

from app import models
from app.resolvers.context import Info
from app.resolvers.enums import CustomerIdType, EngagementType, IneligibilityReason, Market, PayType
from app.resolvers.errors import check_search
from app.resolvers.partners import PartnerLocation
from app.resolvers.relay import (
    After,
    Before,
    Connection,
    First,
    Last,
    Node,
    page_request,
    pk_of,
    to_global_id,
)
from app.services import catalogue

if TYPE_CHECKING:
    from app.resolvers.customers_page import CustomersTab, EngagementCustomerConnection


@strawberry.type(description="An amount of money.")
class Money:
    amount: str = strawberry.field(description='Decimal amount as a string, e.g. `"1250.00"`, never a float.')
    currency: str = strawberry.field(description="ISO 4217 currency code.")

    @classmethod
    def of(cls, amount: Decimal, currency: str) -> "Money":
        return cls(amount=f"{amount:.2f}", currency=currency)


@strawberry.type(
    description="A proposed variable-pay payout, in the engagement's currency, with the conversion of the "
    "opportunity's deal it was figured on: the deal size converted into the engagement's currency (deal x "
    "`exchangeRate`, rounded half-up to cents) is what the minimum deal size and the percent of deal apply to."
)
class ProposedPayout:
    amount: str = strawberry.field(description='Decimal amount as a string, e.g. `"1250.00"`, never a float.')
    currency: str = strawberry.field(description="ISO 4217 currency code of the payout: the engagement's.")
    deal_currency: str = strawberry.field(
        description="ISO 4217 currency code of the opportunity's deal size, as the directory gives it."
    )
    exchange_rate: str = strawberry.field(
        description="Units of `currency` per unit of `dealCurrency` the deal was converted at, as a decimal "
        "string (e.g. `0.0067`): the two currencies' rates to USD divided, rounded half-up to 10 decimal places; "
        "`1` when the deal is in the engagement's currency. A claim keeps the rate it was made with."
    )

    @classmethod
    def of(
        cls, amount: Decimal, currency: str, deal_currency: str, exchange_rate: Decimal
    ) -> "ProposedPayout":
        return cls(
            amount=f"{amount:.2f}",
            currency=currency,
            deal_currency=deal_currency,
            exchange_rate=f"{exchange_rate.normalize():f}",
        )


@strawberry.type(description="How many days each step of a claim may take on an engagement.")
class Timelines:
    consent_days: int = strawberry.field(
        description="Days from the claim's creation to the customer's consent."
    )
    submit_days: int = strawberry.field(description="Days from consent to the first submit.")
    review_days: int = strawberry.field(description="Days from consent to the end of the review.")
    dispute_days: int = strawberry.field(description="Days from a rejection to the dispute's submit.")
    cooling_off_days: int = strawberry.field(
        description="After your claim ends with the customer's consent declined or expired, days before you may "
        "nominate the same customer (limit key) for this engagement again (COOLING_OFF); other partners may at "
        "once."
    )
    partner_action_days: int = strawberry.field(
        description="The fewest days a reviewer's request for partner action leaves you to answer it."
    )


@strawberry.type(description="Which customers an engagement accepts.")
class CustomerCriteria:
    countries: list[str] | None = strawberry.field(
        description="Customer countries accepted (ISO 3166-1 alpha-2); null means any country."
    )
    segments: list[str] | None = strawberry.field(
        description="Customer segments accepted; null means any segment."
    )


@strawberry.type(description="The hourly rate of one market.")
class MarketRate:
    market: Market = strawberry.field(description="The market.")
    rate: Money = strawberry.field(description="Pay per hour in that market.")


@strawberry.type(
    description="How a variable-pay engagement pays: the smallest of hours x rate, percent of deal x deal size, "
    "and the cap."
)
class VariablePayRules:
    hourly_rates: list[MarketRate] = strawberry.field(description="Hourly rate per market.")
    percent_of_deal: str = strawberry.field(
        description="Fraction of the deal size, as a decimal string (0.05 = 5%)."
    )
    cap: Money = strawberry.field(description="The most one claim can pay.")
    min_deal_size: Money = strawberry.field(description="The smallest opportunity deal size accepted.")
    max_hours: int = strawberry.field(description="The most hours a partner can state.")


@strawberry.type(
    description="Whether one of the viewer's locations can nominate for, and earn on, an engagement."
)
class LocationEligibility:
    location: PartnerLocation = strawberry.field(description="The viewer's location.")
    can_earn: bool = strawberry.field(
        description="True when a claim of the location on it earns: it is enrolled, eligible for it and its payee "
        "profile is valid."
    )
    can_nominate: bool = strawberry.field(
        description="True when the location can be chosen for a claim on it (addCustomer, claimCustomer): it is "
        "enrolled and eligible. An invalid payee profile does not stop it nominating, only earning "
        "(`canEarn` false, PAYEE_PROFILE_INVALID) until the profile is fixed."
    )
    reasons: list[IneligibilityReason] = strawberry.field(
        description="Why it cannot earn: LOCATION_NOT_ENROLLED, LOCATION_NOT_ELIGIBLE (it cannot nominate either), "
        "PAYEE_PROFILE_INVALID (it can nominate); empty when it can earn."
    )


@strawberry.type(
    description="An MCI engagement (workshop, assessment or project) partners earn on through claims."
)
class Engagement(Node):
    key: str = strawberry.field(description="Stable key in Microsoft's reference data.")
    name: str = strawberry.field(description="Name of the engagement.")
    description: str = strawberry.field(description="What the engagement is.")
    solution_area: str = strawberry.field(description="The solution area it belongs to.")
    engagement_type: EngagementType = strawberry.field(description="The kind of engagement.")
    pay_type: PayType = strawberry.field(description="Fixed or variable pay.")
    allowed_customer_id_types: list[CustomerIdType] = strawberry.field(
        description="The identifiers customers can be nominated with."
    )
    customer_criteria: CustomerCriteria = strawberry.field(description="Which customers it accepts.")
    max_active_claims_per_customer: int = strawberry.field(
        description="How many active claims one customer identifier may have on it, across all partners."
    )
    max_completed_claims_per_customer: int = strawberry.field(
        description="How many times one customer identifier may complete it, across all partners."
    )
    claims_open_until: datetime | None = strawberry.field(
        description="After this instant it accepts no new claims; null means no end date."
    )
    timelines: Timelines = strawberry.field(description="Days allowed for each step of a claim.")
    variable_pay: VariablePayRules | None = strawberry.field(
        description="Payout rules; null for fixed-pay engagements."
    )
    row: strawberry.Private[models.Engagement]

    @strawberry.field(description="Whether the engagement accepts new claims now.")
    def open_for_claims(self, info: Info) -> bool:
        return catalogue.open_for_claims(self.row, info.context.runtime.clock.now())

    @strawberry.field(
        description="For each location the viewer may act for, whether it can earn on this engagement."
    )
    async def location_eligibility(self, info: Info) -> list[LocationEligibility]:
        loaders = info.context.loaders
        viewer = info.context.require_viewer()
        eligible_ids = await loaders.engagement_location_ids.load(self.row.id)
        locations = [loc for loc in await loaders.location.load_many(sorted(viewer.location_pks)) if loc]
        result = []
        for location in locations:
            reasons = catalogue.location_earning(self.row, eligible_ids, location)
            blocking = catalogue.location_ineligibility(self.row, eligible_ids, location)
            result.append(
                LocationEligibility(
                    location=PartnerLocation.from_model(location),
                    can_earn=not reasons,
                    can_nominate=not blocking,
                    reasons=reasons,
                )
            )
        return result

    @strawberry.field(
        description="The engagement's Customers page, one tab at a time: your customers with their claim on it, "
        "why they are not eligible, and what you can do."
    )
    async def customers(
        self,
        info: Info,
        tab: Annotated[
            Annotated["CustomersTab", strawberry.lazy("app.resolvers.customers_page")],
            strawberry.argument(description="Which tab."),
        ],
        search: Annotated[
            str | None,
            strawberry.argument(
                description="Only rows whose customer name or identifier contains this text (any case); on "
                "Complete, also the claim number."
            ),
        ] = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Annotated["EngagementCustomerConnection", strawberry.lazy("app.resolvers.customers_page")]:
        from app.resolvers.customers_page import resolve_customers  # late: that module imports this one

        return await resolve_customers(self.row, info, tab, search, first, after, last, before)

    @classmethod
    def from_model(cls, row: models.Engagement) -> "Engagement":
        assert row.id is not None
        timeline = catalogue.engagement_timeline(row)
        return cls(
            id=to_global_id("Engagement", row.id),
            row=row,
            key=row.key,
            name=row.name,
            description=row.description,
            solution_area=row.solution_area,
            engagement_type=EngagementType(row.engagement_type),
            pay_type=PayType(row.pay_type),
            allowed_customer_id_types=[CustomerIdType(t) for t in row.allowed_customer_id_types],
            customer_criteria=CustomerCriteria(
                countries=row.criteria_countries, segments=row.criteria_segments
            ),
            max_active_claims_per_customer=row.max_active_claims_per_customer,
            max_completed_claims_per_customer=row.max_completed_claims_per_customer,
            claims_open_until=row.claims_open_until,
            timelines=Timelines(
                consent_days=timeline.consent_days,
                submit_days=timeline.submit_days,
                review_days=timeline.review_days,
                dispute_days=timeline.dispute_days,
                cooling_off_days=row.cooling_off_days,
                partner_action_days=row.partner_action_days,
            ),
            variable_pay=_variable_pay(row),
        )


def _variable_pay(row: models.Engagement) -> VariablePayRules | None:
    if row.pay_type != PayType.VARIABLE:
        return None
    rates = {Market.A: row.hourly_rate_a, Market.B: row.hourly_rate_b, Market.C: row.hourly_rate_c}
    return VariablePayRules(
        hourly_rates=[
            MarketRate(market=market, rate=Money.of(rate, row.currency))
            for market, rate in rates.items()
            if rate is not None
        ],
        percent_of_deal=str(row.percent_of_deal or Decimal(0)),
        cap=Money.of(row.payout_cap or Decimal(0), row.currency),
        min_deal_size=Money.of(row.min_deal_size or Decimal(0), row.currency),
        max_hours=row.max_hours or 0,
    )


@strawberry.input(description="Narrows the engagement catalogue; every given condition must hold.")
class EngagementFilter:
    pay_type: PayType | None = strawberry.field(default=None, description="Only this pay type.")
    engagement_types: list[EngagementType] | None = strawberry.field(
        default=None, description="Only these engagement types."
    )
    solution_area: str | None = strawberry.field(
        default=None, description="Only this solution area (any case)."
    )
    search: str | None = strawberry.field(
        default=None, description="Text found in the name or description (any case)."
    )
    open_for_claims: bool | None = strawberry.field(
        default=None,
        description="True: only engagements that accept new claims now; false: only closed ones.",
    )


EngagementConnection = Connection[Engagement]


async def resolve_engagements(
    info: Info,
    filter: Annotated[
        EngagementFilter | None, strawberry.argument(description="Conditions to narrow the list.")
    ] = None,
    first: First = None,
    after: After = None,
    last: Last = None,
    before: Before = None,
) -> EngagementConnection:
    context = info.context
    context.require_viewer()
    settings = context.runtime.settings
    request = page_request(settings, first, after, last, before)
    given = filter or EngagementFilter()
    check_search(given.search, "filter.search")
    check_search(given.solution_area, "filter.solutionArea")
    service_filter = catalogue.EngagementFilter(
        pay_type=given.pay_type,
        engagement_types=tuple(given.engagement_types or ()),
        solution_area=given.solution_area,
        search=given.search,
        open_for_claims=given.open_for_claims,
        now=context.runtime.clock.now(),
    )
    async with context.runtime.sessions() as session:
        page = await catalogue.list_engagements(session, service_filter, request)
    for row in page.items:  # later fields of the same request reuse these rows
        context.loaders.engagement.prime(row.id, row)
    return EngagementConnection.of(page, Engagement.from_model)


async def resolve_engagement(
    info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="The engagement's global ID.")]
) -> Engagement | None:
    info.context.require_viewer()
    pk = pk_of(id, "Engagement")
    row = await info.context.loaders.engagement.load(pk) if pk is not None else None
    return Engagement.from_model(row) if row else None
