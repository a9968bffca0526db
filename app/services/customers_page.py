"""The Customers page of an engagement (DOMAIN.md): which of the partner's customers sit on which tab, each with
its claim, its ineligibility reasons and the actions open to it.

- ELIGIBLE: known customers (consented to this partner on any earlier claim) that are eligible for the engagement,
  plus every customer with an active claim of the partner on it; one row per customer, by customer id.
- INELIGIBLE: known customers that are not eligible and have no active claim on it, by customer id; the reasons are
  withheld for variable pay.
- COMPLETE: the partner's terminal claims on it, one row per claim, by claim id.

Claims are those the viewer may see (`records.may_see_claim`: its partner, and for a location-scoped user its
locations); customers are the whole account's (`records.may_see_customer`). Eligibility is the identifier's side
only (`customer_reasons`): the page has no location.

Cost model. A customer's place on ELIGIBLE or INELIGIBLE depends on rules evaluated in Python over the directory
and the claim counts (`domain/eligibility`), so those tabs cannot be filtered in SQL. Their *candidates* (the
partner's known customers, and on ELIGIBLE those with a visible active claim here) come from SQL in customer-id
order, through indexes (migration 0002); the rule decides which of them are on the tab.
- With the total (`with_total=True`, the client selected `totalCount`): every candidate is judged, in a fixed
  number of statements (candidates, active claims, directory, claim counts) whatever the page's size and the
  partner's size, but the work grows with the partner's K known customers (one directory entry and one claim
  count each).
- Without it: the candidates are read in keyset order from the cursor and judged in chunks (twice the page's
  size + 1, then doubling) until the page and one row more (`hasNextPage`) are found, plus one short scan on the
  far side of the cursor (`hasPreviousPage`, or `hasNextPage` going backwards). Work and statements grow with the
  page and with how sparse the tab is among the candidates (about four statements per chunk, log2(1/density) + 1
  chunks), not with K.
COMPLETE is a keyset page in SQL (`pagination.keyset_page`), total included.

A judged tab (with the total) is kept and reused while nothing it was judged from changed (`TabJudgements`): the
first page of a tab costs the partner's K known customers, the next pages and the next reads cost one more
statement than the page.
"""

from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple, Protocol, TypeVar

from sqlalchemy import ColumnElement, Row, bindparam, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.domain.eligibility import (
    NO_CLAIMS,
    accepts_claims,
    cooling_off_until,
    customer_reasons,
    location_reasons,
    reasons_shown,
)
from app.domain.enums import ActorKind, ClaimAction, ClaimStatus, CustomerIdType, IneligibilityReason, PayType
from app.domain.identifiers import Identifier, limit_key
from app.domain.nomination import claim_selection_problems
from app.domain.payout import NO_RATES
from app.models import (
    Claim,
    ClaimEvent,
    Customer,
    CustomerIdentifier,
    Engagement,
    EngagementLocation,
    PartnerLocation,
    ReferenceDataVersion,
)
from app.services import claims as claim_service
from app.services.catalogue import customer_facts, engagement_rules, exchange_rates, location_facts
from app.services.consent import consent_requests_by_claim, reminder_allowed
from app.services.directory import DatabaseDirectory
from app.services.pagination import Page, PageRequest, keyset_page
from app.services.records import TERMINAL_STATUSES, claim_counts, claim_is_active, customers_by_id
from app.services.viewer import Principal

CUSTOMER = Customer.__table__  # type: ignore[attr-defined]
CLAIM = Claim.__table__  # type: ignore[attr-defined]


class _Keyed(Protocol):
    @property
    def key(self) -> int: ...


K = TypeVar("K", bound=_Keyed)


class CustomersTab(StrEnum):
    ELIGIBLE = "ELIGIBLE"
    INELIGIBLE = "INELIGIBLE"
    COMPLETE = "COMPLETE"


class CustomerAction(StrEnum):
    """The buttons of a row, in the order the page shows them."""

    CLAIM_CUSTOMER = "CLAIM_CUSTOMER"
    SEND_CONSENT = "SEND_CONSENT"
    RESEND_CONSENT = "RESEND_CONSENT"
    SUBMIT = "SUBMIT"
    CANCEL = "CANCEL"
    DISPUTE = "DISPUTE"


# The claim actions a partner user can take, as the row's buttons (1:1 by name).
CLAIM_BUTTONS = {
    ClaimAction[action.name]: action for action in CustomerAction if action.name in ClaimAction.__members__
}


@dataclass(frozen=True)
class CustomerRow:
    """One row of a tab. `key` orders the tab and is the cursor: the customer's id, or (COMPLETE) the claim's."""

    key: int
    customer: Customer | Row[Any]  # ORM object or plain row: the same attributes
    claim: Claim | Row[Any] | None
    ineligibility_reasons: list[IneligibilityReason]
    available_actions: list[CustomerAction]
    deadline: datetime | None
    days_remaining: int | None


# ------------------------------------------------------------------------------------------------ the rules


def row_actions(
    claim: Claim | Row[Any] | None, *, may_claim: bool, reminder_allowed: bool = True
) -> list[CustomerAction]:
    """What the row offers: the partner's actions on its claim, or claiming the customer when it has none.

    `may_claim`: the customer is eligible, has no active claim here, and the engagement is fixed pay (variable
    pay always goes through add with an MSX opportunity ID). `reminder_allowed`: the claim's consent request may
    be sent again now (services/consent.reminder_allowed); RESEND_CONSENT is offered only then."""
    offered = set()
    if claim is not None:
        partner_actions = claim_service.available_actions(claim, ActorKind.PARTNER_USER)
        offered = {CLAIM_BUTTONS[a] for a in partner_actions if a in CLAIM_BUTTONS}
        if not reminder_allowed:
            offered.discard(CustomerAction.RESEND_CONSENT)
    elif may_claim:
        offered = {CustomerAction.CLAIM_CUSTOMER}
    return [action for action in CustomerAction if action in offered]


def _row(
    key: int,
    customer: Customer | Row[Any],
    claim: Claim | Row[Any] | None,
    now: datetime,
    *,
    reasons: list[IneligibilityReason] | None = None,
    actions: list[CustomerAction] | None = None,
) -> CustomerRow:
    return CustomerRow(
        key=key,
        customer=customer,
        claim=claim,
        ineligibility_reasons=reasons or [],
        available_actions=actions or [],
        deadline=claim.deadline if claim is not None else None,
        days_remaining=claim_service.days_left(claim, now) if claim is not None else None,
    )


# ---------------------------------------------------------------------------------------------- the queries


def _visible(viewer: Principal) -> ColumnElement[bool]:
    """Claims the viewer may see (`records.may_see_claim`), as SQL."""
    return (col(Claim.partner_id) == viewer.partner_id) & col(Claim.location_pk).in_(
        sorted(viewer.location_pks)
    )


def _customer_matches(search: str) -> ColumnElement[bool]:
    """The customer's name or any of its identifiers' values contains `search`, in any case."""
    needle = search.lower()
    return or_(
        func.lower(Customer.name).contains(needle, autoescape=True),
        func.lower(Customer.id_value).contains(needle, autoescape=True),
        exists().where(
            col(CustomerIdentifier.customer_id) == col(Customer.id),
            func.lower(CustomerIdentifier.value).contains(needle, autoescape=True),
        ),
    )


async def _candidates(
    session: AsyncSession,
    viewer: Principal,
    engagement_id: int,
    search: str | None,
    *,
    with_active: bool,
    after: int | None = None,
    before: int | None = None,
    descending: bool = False,
    limit: int | None = None,
) -> list[Row[Any]]:
    """The partner's known customers (and, `with_active`, those with a visible active claim here), each with
    whether it is known (`known`), by id (`descending`: from the highest), strictly between `after` and `before`,
    at most `limit`. One statement; plain rows with what judging needs (`id`, `id_type`, `id_value`, `known`):
    a partner may know thousands, and only the page's rows are read whole (`_page_rows`). Correlated EXISTS over
    indexes (`ix_claim_partner_consented`, `ix_claim_engagement_partner_customer`, `ix_customer_partner_key`), so a
    LIMIT stops the scan early."""
    known = exists().where(
        col(Claim.customer_id) == col(Customer.id),
        col(Claim.partner_id) == viewer.partner_id,
        col(Claim.consented_at).is_not(None),
    )
    wanted: ColumnElement[bool] = known
    if with_active:
        active_here = exists().where(
            col(Claim.customer_id) == col(Customer.id),
            col(Claim.engagement_id) == engagement_id,
            _visible(viewer),
            claim_is_active(),
        )
        wanted = or_(known, active_here)
    statement = select(CUSTOMER.c.id, CUSTOMER.c.id_type, CUSTOMER.c.id_value, known.label("known")).where(
        col(Customer.partner_id) == viewer.partner_id, wanted
    )
    if search:
        statement = statement.where(_customer_matches(search))
    if after is not None:
        statement = statement.where(col(Customer.id) > after)
    if before is not None:
        statement = statement.where(col(Customer.id) < before)
    statement = statement.order_by(col(Customer.id).desc() if descending else col(Customer.id))
    if limit is not None:
        statement = statement.limit(limit)
    return list(await session.execute(statement))


async def _active_claims_here(
    session: AsyncSession, viewer: Principal, engagement_id: int, customer_ids: Sequence[int] | None = None
) -> dict[int, int]:
    """The ids of the viewer's visible active claims on the engagement, of these customers (None: all), by
    customer (the newest if ever more than one)."""
    statement = select(CLAIM.c.customer_id, CLAIM.c.id).where(
        _visible(viewer), col(Claim.engagement_id) == engagement_id, claim_is_active()
    )
    if customer_ids is not None:
        statement = statement.where(col(Claim.customer_id).in_(customer_ids))
    rows = await session.execute(statement.order_by(col(Claim.id)))
    return {customer_id: claim_id for customer_id, claim_id in rows}


class _Judged(NamedTuple):
    """Customers' reasons (empty: eligible), and until when they hold for certain: the earliest end of a cooling
    off among them (None: until something they were judged from changes)."""

    reasons: dict[int, list[IneligibilityReason]]
    holds_until: datetime | None


async def _eligibility(
    session: AsyncSession,
    viewer: Principal,
    engagement: Engagement,
    customers: Sequence[Row[Any]],
    now: datetime,
) -> _Judged:
    """Each customer's reasons on its own identifier (empty: eligible), in a fixed number of statements: the
    rules addCustomer and claimCustomer apply, the location's side aside (`customer_reasons`)."""
    assert engagement.id is not None
    identifiers = {c.id: Identifier(CustomerIdType(c.id_type), c.id_value) for c in customers}
    entries = await DatabaseDirectory(session).lookup_many(identifiers.values(), with_domains=False)
    keys = {
        pk: limit_key(identifier, entries[identifier].tenant_id) for pk, identifier in identifiers.items()
    }
    counts = await claim_counts(session, viewer.partner_id, [engagement.id], keys.values())
    rules = engagement_rules(engagement, frozenset())  # no location on this page: no location reasons
    opportunities = any(i.id_type is CustomerIdType.MSX_OPPORTUNITY_ID for i in identifiers.values())
    variable = engagement.pay_type == PayType.VARIABLE and opportunities
    rates = await exchange_rates(session) if variable else NO_RATES
    reasons, ends = {}, []
    for pk, identifier in identifiers.items():
        judged = counts.get((engagement.id, keys[pk]), NO_CLAIMS)
        facts = customer_facts(entries[identifier])
        reasons[pk] = customer_reasons(rules, identifier.id_type, facts, judged, now, rates=rates)
        if (until := cooling_off_until(rules, judged, now)) is not None:
            ends.append(until)
    return _Judged(reasons, min(ends, default=None))


# ------------------------------------------------------------------------------------------------ the pages


def window(rows: Sequence[K], request: PageRequest) -> Page[K]:
    """`pagination.keyset_page`'s window over rows already in key order (each with a `key`), for a list decided
    in memory."""
    inside = [
        row
        for row in rows
        if (request.after is None or row.key > request.after)
        and (request.before is None or row.key < request.before)
    ]
    backwards = request.last is not None and request.first is None
    limit = request.last if backwards else request.first
    assert limit is not None
    chosen = inside[max(len(inside) - limit, 0) :] if backwards else inside[:limit]
    more = len(inside) > limit
    beyond_after = request.after is not None and any(row.key <= request.after for row in rows)
    beyond_before = request.before is not None and any(row.key >= request.before for row in rows)
    return Page(
        items=chosen,
        keys=[row.key for row in chosen],
        has_next=beyond_before if backwards else more,
        has_previous=more if backwards else beyond_after,
        total=len(rows),
    )


class _Decided(NamedTuple):
    """A row's place on the tab: its customer (`key`), the id of its claim, its reasons. Only the page's rows are
    then read whole, with their actions and deadline (`_page_rows`)."""

    key: int
    claim_id: int | None
    reasons: list[IneligibilityReason]


async def _decide(
    session: AsyncSession,
    viewer: Principal,
    engagement: Engagement,
    tab: CustomersTab,
    candidates: Sequence[Row[Any]],
    claims: dict[int, int],
    now: datetime,
) -> tuple[list[_Decided], datetime | None]:
    """The candidates that are on the tab, in the candidates' order, with their claim and (INELIGIBLE) reasons;
    and until when that holds for certain (`_Judged.holds_until`)."""
    eligible_tab = tab is CustomersTab.ELIGIBLE
    # A customer with an active claim here is on the Eligible tab, whatever its eligibility: no need to judge it.
    to_judge = [customer for customer in candidates if customer.known and customer.id not in claims]
    judged = await _eligibility(session, viewer, engagement, to_judge, now)
    reasons = judged.reasons
    pay_type = PayType(engagement.pay_type)
    decided = []
    for customer in candidates:
        claim_id = claims.get(customer.id)
        if claim_id is not None:
            if eligible_tab:
                decided.append(_Decided(customer.id, claim_id, []))
            continue
        if not customer.known:  # its active claim ended between our two reads
            continue
        found = reasons[customer.id]
        if eligible_tab and not found:
            decided.append(_Decided(customer.id, None, []))
        elif not eligible_tab and found:
            decided.append(_Decided(customer.id, None, reasons_shown(pay_type, found)))
    return decided, judged.holds_until


class TabJudgements:
    """Whole ELIGIBLE and INELIGIBLE tabs as last judged (which customers are on the tab, with their claim's id
    and reasons; never the rows, which every page reads afresh), for the pages that show the total.

    A judgement holds while its *change mark* stands: the latest claim event on the engagement (any partner's:
    claim counts, active claims here) and of the partner (any engagement: which customers it knows, as claims are
    created and consented only with an event), and the count of reference-data imports (directory, engagement
    rules, locations, exchange rates). The clock enters a judgement as whether the engagement still takes claims,
    which is part of the key with the viewer's partner and locations, the tab and the search, and as the end of
    the earliest cooling off among the customers judged, after which the judgement is made again. The mark is
    read before the judgement, so a change committed in between makes the kept judgement newer than its mark,
    never older. One per process (`Runtime.judgements`); bounded, the least recently used dropped first."""

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._kept: OrderedDict[Hashable, tuple[tuple[Any, ...], datetime | None, list[_Decided]]] = (
            OrderedDict()
        )

    def get(self, key: Hashable, mark: tuple[Any, ...], now: datetime | None = None) -> list[_Decided] | None:
        kept = self._kept.get(key)
        if kept is None or kept[0] != mark:
            return None
        holds_until = kept[1]
        if holds_until is not None and (now is None or now >= holds_until):
            return None
        self._kept.move_to_end(key)
        return kept[2]

    def clear(self) -> None:
        """Forget every judgement: for writes that bypass the claim event log (tests writing a scene)."""
        self._kept.clear()

    def put(
        self,
        key: Hashable,
        mark: tuple[Any, ...],
        decided: list[_Decided],
        holds_until: datetime | None = None,
    ) -> None:
        self._kept[key] = (mark, holds_until, decided)
        self._kept.move_to_end(key)
        while len(self._kept) > self.size:
            self._kept.popitem(last=False)


async def _change_mark(session: AsyncSession, engagement_id: int, partner_id: int) -> tuple[Any, ...]:
    """What a judgement of this engagement's tabs for this partner depends on (`TabJudgements`): one statement,
    two backward index scans (`ix_claim_event_engagement`, `ix_claim_event_partner`) and a one-row table."""
    events = ClaimEvent.__table__  # type: ignore[attr-defined]
    latest_here = select(func.max(events.c.id)).where(events.c.engagement_id == engagement_id)
    latest_mine = select(func.max(events.c.id)).where(events.c.partner_id == partner_id)
    imports = select(ReferenceDataVersion.version).where(ReferenceDataVersion.id == 1)
    row = await session.execute(
        select(latest_here.scalar_subquery(), latest_mine.scalar_subquery(), imports.scalar_subquery())
    )
    return tuple(row.one())


async def _whole_tab(
    session: AsyncSession,
    viewer: Principal,
    engagement: Engagement,
    tab: CustomersTab,
    search: str | None,
    now: datetime,
    judgements: TabJudgements | None,
) -> list[_Decided]:
    """Every row of the tab, judged (or as judged before, when nothing it depends on changed since)."""
    assert engagement.id is not None
    key = (
        engagement.id,
        viewer.partner_id,
        frozenset(viewer.location_pks),
        tab,
        search,
        accepts_claims(engagement.claims_open_until, now),
    )
    mark: tuple[Any, ...] = ()
    if judgements is not None:
        mark = await _change_mark(session, engagement.id, viewer.partner_id)
        if (kept := judgements.get(key, mark, now)) is not None:
            return kept
    candidates = await _candidates(
        session, viewer, engagement.id, search, with_active=tab is CustomersTab.ELIGIBLE
    )
    claims = await _active_claims_here(session, viewer, engagement.id)
    decided, holds_until = await _decide(session, viewer, engagement, tab, candidates, claims, now)
    if judgements is not None:
        judgements.put(key, mark, decided, holds_until)
    return decided


async def _scan(
    session: AsyncSession,
    viewer: Principal,
    engagement: Engagement,
    tab: CustomersTab,
    search: str | None,
    now: datetime,
    *,
    after: int | None,
    before: int | None,
    descending: bool,
    want: int,
) -> list[_Decided]:
    """The first `want` rows of the tab strictly between `after` and `before`, in key order (`descending`: from
    `before` down): candidates read and judged in chunks of twice `want` (one chunk when at least half the
    candidates are on the tab), then twice as many each time, until enough are found or the candidates run out."""
    assert engagement.id is not None
    found: list[_Decided] = []
    chunk = 2 * want
    while len(found) < want:
        candidates = await _candidates(
            session,
            viewer,
            engagement.id,
            search,
            with_active=tab is CustomersTab.ELIGIBLE,
            after=after,
            before=before,
            descending=descending,
            limit=chunk,
        )
        if not candidates:
            break
        claims = await _active_claims_here(session, viewer, engagement.id, [c.id for c in candidates])
        found += (await _decide(session, viewer, engagement, tab, candidates, claims, now))[0]
        if len(candidates) < chunk:
            break
        if descending:
            before = candidates[-1].id
        else:
            after = candidates[-1].id
        chunk *= 2
    return found[:want]


async def _decided_page(
    session: AsyncSession,
    viewer: Principal,
    engagement: Engagement,
    tab: CustomersTab,
    search: str | None,
    request: PageRequest,
    now: datetime,
) -> Page[_Decided]:
    """`window`'s page without the total: only the candidates next to the cursor are judged (`_scan`)."""
    backwards = request.last is not None and request.first is None
    limit = request.last if backwards else request.first
    assert limit is not None

    async def scan(after: int | None, before: int | None, descending: bool, want: int) -> list[_Decided]:
        return await _scan(
            session,
            viewer,
            engagement,
            tab,
            search,
            now,
            after=after,
            before=before,
            descending=descending,
            want=want,
        )

    rows = await scan(request.after, request.before, backwards, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    if backwards:
        rows.reverse()
    # Whether the tab holds a row beyond the cursor on its far side (keys are integers: `<= after` is
    # `< after + 1`); usually the first candidate there answers it.
    beyond_after = request.after is not None and bool(await scan(None, request.after + 1, True, 1))
    beyond_before = request.before is not None and bool(await scan(request.before - 1, None, False, 1))
    return Page(
        items=rows,
        keys=[row.key for row in rows],
        has_next=beyond_before if backwards else more,
        has_previous=more if backwards else beyond_after,
        total=None,
    )


async def _customer_tab(
    session: AsyncSession,
    viewer: Principal,
    engagement: Engagement,
    tab: CustomersTab,
    search: str | None,
    request: PageRequest,
    now: datetime,
    with_total: bool,
    judgements: TabJudgements | None,
) -> Page[CustomerRow]:
    assert engagement.id is not None
    eligible_tab = tab is CustomersTab.ELIGIBLE
    if with_total:
        page = window(await _whole_tab(session, viewer, engagement, tab, search, now, judgements), request)
    else:
        page = await _decided_page(session, viewer, engagement, tab, search, request, now)
    # The rules claimCustomer applies beside the customer's own: known customers are claimed for fixed-pay
    # engagements only, at a location of the viewer's that can be chosen for the engagement.
    may_claim = (
        eligible_tab
        and not claim_selection_problems([PayType(engagement.pay_type)])
        and any(row.claim_id is None for row in page.items)  # only rows without a claim may offer it
        and await _viewer_can_claim_on(session, viewer, engagement)
    )
    customers, claims = await _page_rows(session, page.items)
    awaiting = [c.id for c in claims.values() if c.status == ClaimStatus.AWAITING_CUSTOMER_CONSENT_RESPONSE]
    requests = await consent_requests_by_claim(session, awaiting) if awaiting and eligible_tab else {}
    rows = []
    for row in page.items:
        claim = claims[row.claim_id] if row.claim_id is not None else None
        reminder = claim is None or reminder_allowed(requests.get(claim.id), now)
        actions = row_actions(claim, may_claim=may_claim, reminder_allowed=reminder) if eligible_tab else None
        rows.append(_row(row.key, customers[row.key], claim, now, reasons=row.reasons, actions=actions))
    return Page(rows, page.keys, page.has_next, page.has_previous, page.total)


_ELIGIBLE_HERE = (
    select(PartnerLocation)
    .join(EngagementLocation, col(EngagementLocation.location_id) == col(PartnerLocation.location_id))
    .where(col(EngagementLocation.engagement_id) == bindparam("engagement_id"))
    .where(col(PartnerLocation.id).in_(bindparam("location_pks", expanding=True)))
)


async def _viewer_can_claim_on(session: AsyncSession, viewer: Principal, engagement: Engagement) -> bool:
    """Whether one of the viewer's locations can be chosen for a claim on the engagement (`location_reasons`,
    as claimCustomer judges it): one statement over the viewer's locations eligible for it."""
    if not viewer.location_pks:
        return False
    rows = await session.execute(
        _ELIGIBLE_HERE, {"engagement_id": engagement.id, "location_pks": sorted(viewer.location_pks)}
    )
    rules = engagement_rules(engagement, frozenset())
    for location in rows.scalars():
        here = replace(rules, eligible_location_ids=frozenset([location.location_id]))
        if not location_reasons(here, location_facts(location)):
            return True
    return False


async def _page_rows(
    session: AsyncSession, decided: Sequence[_Decided]
) -> tuple[dict[int, Row[Any]], dict[int, Row[Any]]]:
    """The page's customers and claims, whole, as plain rows: one statement each."""
    if not decided:
        return {}, {}
    customers = await session.execute(select(CUSTOMER).where(CUSTOMER.c.id.in_([row.key for row in decided])))
    claim_ids = [row.claim_id for row in decided if row.claim_id is not None]
    claims = await session.execute(select(CLAIM).where(CLAIM.c.id.in_(claim_ids))) if claim_ids else []
    return {c.id: c for c in customers}, {c.id: c for c in claims}


async def _complete_tab(
    session: AsyncSession,
    viewer: Principal,
    engagement: Engagement,
    search: str | None,
    request: PageRequest,
    now: datetime,
) -> Page[CustomerRow]:
    statement = select(Claim).where(
        _visible(viewer), col(Claim.engagement_id) == engagement.id, col(Claim.status).in_(TERMINAL_STATUSES)
    )
    if search:
        matching = select(col(Customer.id)).where(
            col(Customer.partner_id) == viewer.partner_id, _customer_matches(search)
        )
        statement = statement.where(
            or_(
                func.lower(Claim.claim_number).contains(search.lower(), autoescape=True),
                col(Claim.customer_id).in_(matching),
            )
        )
    page = await keyset_page(session, statement, col(Claim.id), request)
    customers = (
        await customers_by_id(session, {claim.customer_id for claim in page.items}) if page.items else {}
    )
    rows = [
        _row(claim.id, customers[claim.customer_id], claim, now, actions=row_actions(claim, may_claim=False))
        for claim in page.items
    ]
    return Page(rows, page.keys, page.has_next, page.has_previous, page.total)


async def customers_page(
    session: AsyncSession,
    viewer: Principal,
    engagement: Engagement,
    tab: CustomersTab,
    search: str | None,
    request: PageRequest,
    now: datetime,
    *,
    with_total: bool = True,
    judgements: TabJudgements | None = None,
) -> Page[CustomerRow]:
    """One page of a tab of the engagement's Customers page, as the viewer may see it.

    `search`: a case-insensitive substring of the customer's name or of any of its identifiers' values, or
    (COMPLETE) of the claim number. `with_total=False`: the page's `total` is None, and ELIGIBLE and INELIGIBLE
    cost the page, not the partner's known customers (see the module's cost model). `judgements`: where judged
    tabs are kept between requests (None: judged afresh)."""
    search = (search or "").strip() or None
    if tab is CustomersTab.COMPLETE:
        return await _complete_tab(session, viewer, engagement, search, request, now)
    return await _customer_tab(session, viewer, engagement, tab, search, request, now, with_total, judgements)
