"""Nominating customers: the eligibility preview, addCustomer and claimCustomer.

The preview and the add share `assess`, so they agree on every engagement. The add re-assesses inside its write
transaction after taking the claim-limit locks, so limits hold under concurrent requests.
"""

import hashlib
import json
import secrets
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import transaction
from app.domain import nomination
from app.domain.contacts import Contact, normalise_contact
from app.domain.eligibility import (
    NO_CLAIMS,
    LocationFacts,
    ineligibility_reasons,
    tenant_mismatch_reason_required,
)
from app.domain.enums import (
    ActorKind,
    ClaimAction,
    CustomerIdType,
    IneligibilityReason,
    Market,
    PayType,
)
from app.domain.identifiers import Identifier, InvalidIdentifier, limit_key, parse_identifier
from app.domain.payout import VariablePayRules, market_for_country, proposed_payout, validate_hours
from app.models import (
    Claim,
    CountryMarket,
    Customer,
    CustomerIdentifier,
    Engagement,
    IdempotencyKey,
    PartnerLocation,
)
from app.services.catalogue import eligible_location_ids, engagement_rules, engagements_by_id
from app.services.claims import Actor, apply_action
from app.services.contacts import contact_input_problems, contact_record
from app.services.directory import DatabaseDirectory, DirectoryEntry
from app.services.problems import REASON_MESSAGES, ErrorCode, Path, Problem, Problems, code_for
from app.services.records import claim_counts
from app.services.viewer import Principal

MAX_IDEMPOTENCY_KEY = 200  # the column's size


# ---------------------------------------------------------------------------------------------- the preview


@dataclass(frozen=True)
class EligibilityQuestion:
    location_pk: int | None
    id_type: CustomerIdType
    id_value: str
    customer_email: str | None = None
    hours: int | None = None


@dataclass(frozen=True)
class EngagementVerdict:
    engagement: Engagement
    reasons: list[IneligibilityReason]
    proposed_payout: Decimal | None = None  # variable pay, when hours were given and are valid

    @property
    def eligible(self) -> bool:
        return not self.reasons


@dataclass(frozen=True)
class Assessment:
    location: PartnerLocation
    identifier: Identifier
    entry: DirectoryEntry
    limit_key: str
    tenant_mismatch_reason_required: bool
    verdicts: list[EngagementVerdict]


async def visible_location(
    session: AsyncSession, viewer: Principal, location_pk: int | None
) -> PartnerLocation | None:
    if location_pk is None or not viewer.may_see_location(location_pk):
        return None
    return await session.get(PartnerLocation, location_pk)


def _parse(id_type: CustomerIdType, raw: str, field: Path) -> Identifier:
    try:
        return parse_identifier(id_type, raw)
    except InvalidIdentifier as error:
        raise Problems([Problem(ErrorCode.INVALID_ID_FORMAT, field, str(error))]) from error


async def _market(session: AsyncSession, country: str) -> Market:
    markets = {
        row.country: Market(row.market) for row in (await session.execute(select(CountryMarket))).scalars()
    }
    return market_for_country(country, markets)


def _variable_pay_rules(engagement: Engagement) -> VariablePayRules:
    rates = {
        Market.A: engagement.hourly_rate_a,
        Market.B: engagement.hourly_rate_b,
        Market.C: engagement.hourly_rate_c,
    }
    return VariablePayRules(
        hourly_rates={market: rate for market, rate in rates.items() if rate is not None},
        percent_of_deal=engagement.percent_of_deal or Decimal(0),
        cap=engagement.payout_cap or Decimal(0),
        min_deal_size=engagement.min_deal_size or Decimal(0),
        max_hours=engagement.max_hours or 1,
        currency=engagement.currency,
    )


async def assess(
    session: AsyncSession,
    viewer: Principal,
    question: EligibilityQuestion,
    now: datetime,
    engagements: Sequence[Engagement] | None = None,
    *,
    field_prefix: Path = ("input",),
) -> Assessment:
    """Every engagement's verdict (or those given) for this location and identifier. Raises Problems when the
    location is not the viewer's or the identifier is malformed."""
    location = await visible_location(session, viewer, question.location_pk)
    if location is None:
        raise Problems(
            [Problem(ErrorCode.NOT_FOUND, (*field_prefix, "locationId"), "No such location of yours.")]
        )
    identifier = _parse(question.id_type, question.id_value, (*field_prefix, "customerIdValue"))
    entry = await DatabaseDirectory(session).lookup(identifier)
    key = limit_key(identifier, entry.tenant_id)
    if engagements is None:
        engagements = list((await session.execute(select(Engagement).order_by(Engagement.id))).scalars())
    ids = [e.id for e in engagements if e.id is not None]
    counts = await claim_counts(session, viewer.partner_id, ids, [key])
    eligible_ids = await eligible_location_ids(session, ids)
    market = await _market(session, location.country)
    verdicts = []
    for engagement in engagements:
        assert engagement.id is not None
        reasons = ineligibility_reasons(
            engagement_rules(engagement, eligible_ids.get(engagement.id, frozenset())),
            LocationFacts(location.location_id, location.mci_enrolled),
            identifier.id_type,
            entry.facts,
            counts.get((engagement.id, key), NO_CLAIMS),
            now,
        )
        payout = None
        if (
            engagement.pay_type == PayType.VARIABLE
            and question.hours is not None
            and entry.deal_size is not None
        ):
            rules = _variable_pay_rules(engagement)
            if validate_hours(rules, question.hours) is None and market in rules.hourly_rates:
                payout = proposed_payout(rules, market, question.hours, entry.deal_size)
        verdicts.append(EngagementVerdict(engagement, reasons, payout))
    return Assessment(
        location=location,
        identifier=identifier,
        entry=entry,
        limit_key=key,
        tenant_mismatch_reason_required=tenant_mismatch_reason_required(
            identifier.id_type, entry.tenant_domains, question.customer_email
        ),
        verdicts=verdicts,
    )


# ------------------------------------------------------------------------------------- add and claim customer


@dataclass(frozen=True)
class Nominate:
    """addCustomer (identifier given) or claimCustomer (customer_pk given): what both need."""

    friendly_name: str
    location_pk: int | None
    engagement_pks: list[int | None]  # None: an ID that names no engagement
    customer_contact: Contact
    partner_contact: Contact
    id_type: CustomerIdType | None = None
    id_value: str | None = None
    tenant_mismatch_reason: str | None = None
    hours: int | None = None
    claiming: bool = False  # claimCustomer: customer_pk names the known customer
    customer_pk: int | None = None
    idempotency_key: str | None = None

    @property
    def operation(self) -> str:
        return "claimCustomer" if self.claiming else "addCustomer"

    def fingerprint(self) -> str:
        payload = asdict(self) | {"idempotency_key": None}
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class Nomination:
    customer: Customer
    claims: list[Claim] = field(default_factory=list)


def _basic_problems(command: Nominate) -> list[Problem]:
    problems = []
    name = command.friendly_name.strip()
    if not name or len(name) > nomination.MAX_FRIENDLY_NAME:
        problems.append(
            Problem(
                ErrorCode.INVALID_INPUT,
                ("input", "friendlyName"),
                f"A friendly name of 1 to {nomination.MAX_FRIENDLY_NAME} characters is required.",
            )
        )
    problems += contact_input_problems(
        {"customerContact": command.customer_contact, "partnerContact": command.partner_contact}
    )
    key = command.idempotency_key
    if key is not None and not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY:
        problems.append(
            Problem(
                ErrorCode.INVALID_INPUT,
                ("input", "idempotencyKey"),
                f"An idempotency key is 1 to {MAX_IDEMPOTENCY_KEY} characters.",
            )
        )
    reason = command.tenant_mismatch_reason
    if reason is not None and len(reason) > nomination.MAX_MISMATCH_REASON:
        problems.append(
            Problem(
                ErrorCode.INVALID_INPUT,
                ("input", "tenantMismatchReason"),
                f"At most {nomination.MAX_MISMATCH_REASON} characters.",
            )
        )
    return problems


_SELECTION = {  # how each selection problem reads in the API: its code and the input field at fault
    nomination.SelectionProblem.NO_ENGAGEMENT: (ErrorCode.INVALID_INPUT, "engagementIds"),
    nomination.SelectionProblem.TOO_MANY_ENGAGEMENTS: (ErrorCode.INVALID_INPUT, "engagementIds"),
    nomination.SelectionProblem.MIXED_PAY_TYPES: (ErrorCode.MIXED_PAY_TYPES, "engagementIds"),
    nomination.SelectionProblem.SINGLE_ENGAGEMENT_FOR_VARIABLE_PAY: (
        ErrorCode.SINGLE_ENGAGEMENT_FOR_VARIABLE_PAY,
        "engagementIds",
    ),
    nomination.SelectionProblem.HOURS_REQUIRED: (ErrorCode.HOURS_REQUIRED, "hours"),
    nomination.SelectionProblem.HOURS_NOT_ALLOWED: (ErrorCode.HOURS_NOT_ALLOWED, "hours"),
    nomination.SelectionProblem.VARIABLE_PAY_NOT_CLAIMABLE: (
        ErrorCode.VARIABLE_PAY_NOT_CLAIMABLE,
        "engagementIds",
    ),
}


async def _chosen_engagements(
    session: AsyncSession, command: Nominate
) -> tuple[list[Engagement], list[Problem]]:
    """The engagements chosen that exist, in order, without repeats, and the problems of the choice. When the
    combination itself is wrong, no engagement is returned: judging each one would say nothing useful."""
    found = await engagements_by_id(session, [pk for pk in command.engagement_pks if pk is not None])
    problems: list[Problem] = []
    chosen: list[Engagement] = []
    for index, pk in enumerate(command.engagement_pks):
        engagement = found.get(pk) if pk is not None else None
        if engagement is None:
            problems.append(
                Problem(ErrorCode.NOT_FOUND, ("input", "engagementIds", index), "No such engagement.")
            )
        elif engagement not in chosen:
            chosen.append(engagement)
    if not chosen and problems:
        return [], problems
    pay_types = [PayType(e.pay_type) for e in chosen]
    selection = (
        nomination.claim_selection_problems(pay_types)
        if command.claiming
        else nomination.selection_problems(pay_types, command.hours)
    )
    for problem in selection:
        code, field = _SELECTION[problem]
        problems.append(Problem(code, ("input", field), problem.value))
    if selection:
        return [], problems
    if command.hours is not None:
        message = validate_hours(_variable_pay_rules(chosen[0]), command.hours)
        if message:
            return [], [*problems, Problem(ErrorCode.HOURS_OUT_OF_RANGE, ("input", "hours"), message)]
    return chosen, problems


async def _lock_limits(session: AsyncSession, engagement_ids: Sequence[int], key: str) -> None:
    """Serialise nominations of one identifier for one engagement, so counting then inserting cannot race.

    SQLite needs nothing: its write transactions already run one at a time (BEGIN IMMEDIATE)."""
    if session.bind.dialect.name != "postgresql":
        return
    for engagement_id in sorted(engagement_ids):  # one order everywhere: no deadlock between two nominations
        await session.execute(
            text("SELECT pg_advisory_xact_lock(:engagement_id, hashtext(:key))"),
            {"engagement_id": engagement_id, "key": key},
        )


async def _replay(session: AsyncSession, viewer: Principal, command: Nominate) -> Nomination | None:
    """The first result for this idempotency key, or None; Problems when the key came with another input."""
    if command.idempotency_key is None:
        return None
    stored = (
        await session.execute(
            select(IdempotencyKey).where(
                IdempotencyKey.user_id == viewer.user_id,
                IdempotencyKey.operation == command.operation,
                IdempotencyKey.key == command.idempotency_key,
            )
        )
    ).scalar_one_or_none()
    if stored is None:
        return None
    if stored.request_hash != command.fingerprint():
        raise Problems(
            [
                Problem(
                    ErrorCode.IDEMPOTENCY_KEY_REUSED,
                    ("input", "idempotencyKey"),
                    "This idempotency key was used with a different input; use a new key for a new request.",
                )
            ]
        )
    customer = await session.get(Customer, stored.result["customerId"])
    claims = (await session.execute(select(Claim).where(Claim.id.in_(stored.result["claimIds"])))).scalars()  # type: ignore[union-attr]
    assert customer is not None
    return Nomination(customer, sorted(claims, key=lambda c: stored.result["claimIds"].index(c.id)))


async def _customer(
    session: AsyncSession, viewer: Principal, assessment: Assessment, friendly_name: str, now: datetime
) -> Customer:
    """The partner's customer for this identifier, created on its first nomination."""
    identifier = assessment.identifier
    existing = (
        await session.execute(
            select(Customer).where(
                Customer.partner_id == viewer.partner_id,
                Customer.id_type == identifier.id_type.value,
                Customer.id_value == identifier.value,
            )
        )
    ).scalar_one_or_none()
    if existing is not None:
        return existing
    customer = Customer(
        partner_id=viewer.partner_id,
        name=assessment.entry.name or friendly_name,
        id_type=identifier.id_type.value,
        id_value=identifier.value,
        tenant_id=assessment.entry.tenant_id,
        created_at=now,
    )
    session.add(customer)
    await session.flush()
    assert customer.id is not None
    shown = [identifier]
    if identifier.id_type is CustomerIdType.DOMAIN_NAME and assessment.entry.tenant_id:
        shown.append(Identifier(CustomerIdType.TENANT_ID, assessment.entry.tenant_id))
    session.add_all(
        CustomerIdentifier(customer_id=customer.id, id_type=i.id_type.value, value=i.value) for i in shown
    )
    return customer


def new_claim_number(now: datetime) -> str:
    """Human-readable and unguessable, e.g. C26-7K3Q9XWD (Crockford base32: no I, L, O or U to misread)."""
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    return f"C{now:%y}-" + "".join(secrets.choice(alphabet) for _ in range(8))


async def _known_customer(session: AsyncSession, viewer: Principal, customer_pk: int | None) -> Customer:
    """A customer of this partner that consented on an earlier claim of this partner (DOMAIN.md: known)."""
    customer = await session.get(Customer, customer_pk) if customer_pk is not None else None
    if customer is None or customer.partner_id != viewer.partner_id:
        raise Problems([Problem(ErrorCode.NOT_FOUND, ("input", "customerId"), "No such customer of yours.")])
    consented = await session.scalar(
        select(func.count()).where(
            Claim.customer_id == customer_pk,
            Claim.partner_id == viewer.partner_id,
            Claim.consented_at.is_not(None),  # type: ignore[union-attr]
        )
    )
    if not consented:
        raise Problems(
            [
                Problem(
                    ErrorCode.NOT_A_KNOWN_CUSTOMER,
                    ("input", "customerId"),
                    "Only customers who consented to you on an earlier claim can be claimed; add this one instead.",
                )
            ]
        )
    return customer


async def _nominate(session: AsyncSession, viewer: Principal, command: Nominate, now: datetime) -> Nomination:
    problems = _basic_problems(command)
    chosen, choice_problems = await _chosen_engagements(session, command)
    problems += choice_problems
    try:
        known = await _known_customer(session, viewer, command.customer_pk) if command.claiming else None
        if known is not None:
            id_type, id_value = CustomerIdType(known.id_type), known.id_value
        else:
            assert command.id_type is not None and command.id_value is not None
            id_type, id_value = command.id_type, command.id_value
        question = EligibilityQuestion(
            command.location_pk,
            id_type,
            id_value,
            normalise_contact(command.customer_contact).email,
            command.hours,
        )
        first = await assess(session, viewer, question, now, chosen)  # resolves the identifier's limit key
    except Problems as error:
        raise Problems(problems + error.problems) from error
    await _lock_limits(session, [e.id for e in chosen if e.id is not None], first.limit_key)
    # A twin request with the same idempotency key may have committed while we waited for the locks.
    replayed = await _replay(session, viewer, command)
    if replayed is not None:
        return replayed
    assessment = await assess(session, viewer, question, now, chosen)  # counted under the locks
    reason = (command.tenant_mismatch_reason or "").strip() or None
    if assessment.tenant_mismatch_reason_required and reason is None and known is None:
        problems.append(
            Problem(
                ErrorCode.TENANT_MISMATCH_REASON_REQUIRED,
                ("input", "tenantMismatchReason"),
                "The tenant ID does not match the customer contact's email domain: give a reason.",
            )
        )
    index: dict[int | None, int] = {}
    for position, pk in enumerate(command.engagement_pks):
        index.setdefault(pk, position)
    for verdict in assessment.verdicts:
        for r in verdict.reasons:
            problems.append(
                Problem(
                    code_for(r),
                    ("input", "engagementIds", index[verdict.engagement.id]),
                    f"{verdict.engagement.name}: {REASON_MESSAGES[r]}",
                )
            )
    if problems:
        raise Problems(problems)

    customer = known or await _customer(session, viewer, assessment, command.friendly_name.strip(), now)
    assert customer.id is not None
    actor = Actor(ActorKind.PARTNER_USER, viewer.email, viewer.name)
    result = Nomination(customer)
    for verdict in assessment.verdicts:
        engagement = verdict.engagement
        assert engagement.id is not None and assessment.location.id is not None
        claim = Claim(
            claim_number=new_claim_number(now),
            partner_id=viewer.partner_id,
            location_pk=assessment.location.id,
            engagement_id=engagement.id,
            customer_id=customer.id,
            friendly_name=command.friendly_name.strip(),
            id_type=assessment.identifier.id_type.value,
            id_value=assessment.identifier.value,
            limit_key=assessment.limit_key,
            tenant_mismatch_reason=reason if assessment.tenant_mismatch_reason_required else None,
            hours=command.hours if engagement.pay_type == PayType.VARIABLE else None,
            proposed_payout=verdict.proposed_payout,
            currency=engagement.currency if verdict.proposed_payout is not None else None,
            customer_contact=contact_record(command.customer_contact),
            partner_contact=contact_record(command.partner_contact),
            created_by_user_id=viewer.user_id,
            created_at=now,
            updated_at=now,
        )
        await apply_action(
            session, claim, engagement, ClaimAction.CREATE, actor, now
        )  # sets its first status
        result.claims.append(claim)
    if command.idempotency_key is not None:
        session.add(
            IdempotencyKey(
                user_id=viewer.user_id,
                operation=command.operation,
                key=command.idempotency_key,
                request_hash=command.fingerprint(),
                result={"customerId": customer.id, "claimIds": [c.id for c in result.claims]},
                created_at=now,
            )
        )
        await session.flush()
    return result


async def nominate(
    sessions: async_sessionmaker[AsyncSession], viewer: Principal, command: Nominate, now: datetime
) -> Nomination | list[Problem]:
    """addCustomer / claimCustomer: every claim or none, and every problem reported at once."""
    for attempt in range(2):
        try:
            async with transaction(sessions, write=True) as session:
                replayed = await _replay(session, viewer, command)
                return replayed or await _nominate(session, viewer, command, now)
        except Problems as error:
            return error.problems
        except IntegrityError:
            # A racing twin committed first: the same idempotency key (replayed on retry), the same new customer
            # nominated for another engagement (found on retry), or the one-active-claim index.
            if attempt == 1:
                return [
                    Problem(
                        ErrorCode.CLAIM_LIMIT_REACHED,
                        ("input", "engagementIds"),
                        "Another nomination of this customer for this engagement was made at the same moment.",
                    )
                ]
    raise AssertionError("unreachable")
