"""Nominating customers: the eligibility preview, addCustomer and claimCustomer.

The preview and the add share `assess`, so they agree on every engagement. The add re-assesses inside its write
transaction after taking the claim-limit locks, so limits hold under concurrent requests.
"""

import hashlib
import json
import secrets
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from decimal import Decimal

from sqlalchemy import bindparam, exists, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from app.db import transaction
from app.domain import nomination
from app.domain.consent import (
    creation_comment,
    customer_organisation,
    recipient_is_partner,
    tenant_mismatch_reason_required,
)
from app.domain.contacts import Contact, normalise_contact
from app.domain.eligibility import (
    LOCATION_REASONS,
    NO_CLAIMS,
    ClaimCounts,
    cooling_off_until,
    earning_reasons,
    ineligibility_reasons,
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
from app.domain.payout import (
    NO_RATES,
    Payout,
    VariablePayRules,
    market_for_country,
    payout_for,
    validate_hours,
)
from app.domain.text import has_control_characters
from app.models import (
    Claim,
    CountryMarket,
    Customer,
    CustomerIdentifier,
    Engagement,
    EngagementLocation,
    IdempotencyKey,
    PartnerLocation,
)
from app.services.catalogue import customer_facts, engagement_rules, exchange_rates, location_facts
from app.services.claims import Actor, apply_action
from app.services.contacts import contact_input_problems, contact_record
from app.services.directory import DatabaseDirectory, DirectoryEntry
from app.services.partner_domains import partner_domains, remember
from app.services.problems import (
    REASON_MESSAGES,
    ErrorCode,
    Path,
    Problem,
    Problems,
    code_for,
    control_problems,
    cooling_off_message,
)
from app.services.recipient import RECIPIENT_FIELD, check_recipient, recipient_is_partner_problem
from app.services.records import claim_counts
from app.services.viewer import Principal

MAX_IDEMPOTENCY_KEY = 200  # the column's size
_IDEMPOTENCY_KEY = select(IdempotencyKey).where(
    IdempotencyKey.user_id == bindparam("user_id"),
    IdempotencyKey.operation == bindparam("operation"),
    IdempotencyKey.key == bindparam("key"),
)


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
    reasons: list[IneligibilityReason]  # why it cannot be chosen, the location's first; empty: it can
    payout: Payout | None = None  # variable pay, when hours were given and are valid and the deal converts
    cooling_off_until: datetime | None = None  # with COOLING_OFF: when the partner may nominate again
    earning_reasons: list[IneligibilityReason] = field(default_factory=list)  # `reasons` + an invalid payee

    @property
    def eligible(self) -> bool:
        return not self.reasons


@dataclass(frozen=True)
class Assessment:
    location: PartnerLocation
    identifier: Identifier
    entry: DirectoryEntry
    limit_key: str
    # None until the customer email is given; for every identifier type (domain/consent).
    tenant_mismatch_reason_required: bool | None
    verdicts: list[EngagementVerdict]
    # The preview's problems that leave its verdicts standing: the location's own, once (not per engagement),
    # and hours outside some variable-pay engagement's range.
    problems: list[Problem] = field(default_factory=list)


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


@dataclass(frozen=True)
class Choice:
    """An engagement that may be judged, with whether the asking location can earn on it."""

    engagement: Engagement
    location_eligible: bool


_location_eligible = (
    exists()
    .where(
        EngagementLocation.engagement_id == Engagement.id,
        EngagementLocation.location_id == bindparam("location_id"),
    )
    .label("location_eligible")
)
_ALL_ENGAGEMENTS = select(Engagement, _location_eligible).order_by(Engagement.id)
_ENGAGEMENTS = _ALL_ENGAGEMENTS.where(col(Engagement.id).in_(bindparam("pks", expanding=True)))


async def _choices(
    session: AsyncSession, location: PartnerLocation | None, pks: Sequence[int] | None
) -> dict[int, Choice]:
    """The engagements with these ids (every one when None) by id, each with whether `location` can earn on it:
    one statement."""
    location_id = location.location_id if location is not None else None
    if pks is None:
        rows = await session.execute(_ALL_ENGAGEMENTS, {"location_id": location_id})
    elif pks:
        rows = await session.execute(_ENGAGEMENTS, {"location_id": location_id, "pks": list(pks)})
    else:
        return {}
    return {e.id: Choice(e, bool(eligible)) for e, eligible in rows if e.id is not None}


@dataclass(frozen=True)
class _Facts:
    """What an assessment reads before counting claims: none of it changes with nominations, so it is read
    once, before the claim-limit locks."""

    location: PartnerLocation
    identifier: Identifier
    entry: DirectoryEntry
    limit_key: str


async def _facts(
    session: AsyncSession,
    question: EligibilityQuestion,
    location: PartnerLocation | None,
    field_prefix: Path,
) -> _Facts:
    """Raises Problems when the location is not the viewer's or the identifier is malformed."""
    if location is None:
        raise Problems(
            [Problem(ErrorCode.NOT_FOUND, (*field_prefix, "locationId"), "No such location of yours.")]
        )
    identifier = _parse(question.id_type, question.id_value, (*field_prefix, "customerIdValue"))
    # With the customer's tenant's domains when there is an email to judge: the consent recipient rule applies to
    # every identifier type.
    with_domains = bool((question.customer_email or "").strip())
    entry = await DatabaseDirectory(session).lookup(identifier, with_domains=with_domains)
    return _Facts(location, identifier, entry, limit_key(identifier, entry.tenant_id))


async def _judge(
    session: AsyncSession,
    question: EligibilityQuestion,
    facts: _Facts,
    choices: Sequence[Choice],
    counts: dict[tuple[int, str], ClaimCounts],
    now: datetime,
) -> Assessment:
    location, entry, key = facts.location, facts.entry, facts.limit_key
    customer, at = customer_facts(entry), location_facts(location)
    # Variable pay judges (minimum deal size) and pays an MSX opportunity's deal in the engagement's currency.
    opportunity = facts.identifier.id_type is CustomerIdType.MSX_OPPORTUNITY_ID
    variable = opportunity and any(c.engagement.pay_type == PayType.VARIABLE for c in choices)
    rates = await exchange_rates(session) if variable and customer.found else NO_RATES
    market = None
    if variable and question.hours is not None and entry.deal_size is not None:
        market = await _market(session, location.country)
    verdicts = []
    for choice in choices:
        engagement = choice.engagement
        assert engagement.id is not None
        eligible_ids = frozenset([location.location_id]) if choice.location_eligible else frozenset()
        rules = engagement_rules(engagement, eligible_ids)
        engagement_counts = counts.get((engagement.id, key), NO_CLAIMS)
        reasons = ineligibility_reasons(
            rules, at, facts.identifier.id_type, customer, engagement_counts, now, rates=rates
        )
        payout = None
        if opportunity and engagement.pay_type == PayType.VARIABLE and question.hours is not None:
            pay = _variable_pay_rules(engagement)
            if validate_hours(pay, question.hours) is not None:
                reasons.append(IneligibilityReason.HOURS_OUT_OF_RANGE)  # no payout for hours it refuses
            elif market is not None and market in pay.hourly_rates:
                assert entry.deal_size is not None
                payout = payout_for(
                    pay, market, question.hours, entry.deal_size, customer.deal_currency, rates
                )
        earning = reasons + [r for r in earning_reasons(rules, at) if r not in reasons]
        until = cooling_off_until(rules, engagement_counts, now)
        verdicts.append(EngagementVerdict(engagement, reasons, payout, until, earning))
    return Assessment(
        location=location,
        identifier=facts.identifier,
        entry=entry,
        limit_key=key,
        # Not judged for an identifier the directory does not know (IDENTIFIER_NOT_FOUND says it all).
        tenant_mismatch_reason_required=tenant_mismatch_reason_required(
            entry.tenant_domains, question.customer_email
        )
        if entry.facts.found
        else None,
        verdicts=verdicts,
    )


async def assess(
    session: AsyncSession, viewer: Principal, question: EligibilityQuestion, now: datetime
) -> Assessment:
    """The preview: every engagement's verdict for this location and identifier. Raises Problems when the
    location is not the viewer's or the identifier is malformed. The add judges by the same `_judge`."""
    location = await visible_location(session, viewer, question.location_pk)
    choices = await _choices(session, location, None)
    facts = await _facts(session, question, location, ("input",))
    counts = await claim_counts(session, viewer.partner_id, list(choices), [facts.limit_key])
    assessment = await _judge(session, question, facts, list(choices.values()), counts, now)
    email = (question.customer_email or "").strip()
    at_partner = bool(email) and recipient_is_partner(
        email, await partner_domains(session, viewer.partner_id)
    )
    return replace(assessment, problems=_preview_problems(assessment, at_partner))


def _preview_problems(assessment: Assessment, recipient_at_partner: bool) -> list[Problem]:
    """What the preview reports as userErrors beside its verdicts (which still name each reason): a location not
    enrolled, once on `input.locationId` (whether it may earn on an engagement is that engagement's verdict:
    LOCATION_NOT_ELIGIBLE); hours out of range, once on `input.hours`, naming the engagements; and a customer
    email at the partner's own domain, on `input.customerEmail`, which the add would refuse."""
    problems = []
    location = assessment.location
    if not location.mci_enrolled:
        problems.append(
            Problem(
                ErrorCode.LOCATION_NOT_ENROLLED,
                ("input", "locationId"),
                f"{location.name}: {REASON_MESSAGES[IneligibilityReason.LOCATION_NOT_ENROLLED]}",
            )
        )
    out_of_range = [
        v.engagement for v in assessment.verdicts if IneligibilityReason.HOURS_OUT_OF_RANGE in v.reasons
    ]
    if out_of_range:
        ranges = "; ".join(f"{e.name}: 1 to {e.max_hours or 1}" for e in out_of_range)
        problems.append(
            Problem(
                ErrorCode.HOURS_OUT_OF_RANGE,
                ("input", "hours"),
                f"Hours must be a whole number within each engagement's range ({ranges}).",
            )
        )
    if recipient_at_partner:
        problems.append(recipient_is_partner_problem(("input", "customerEmail")))
    return problems


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
    problems = control_problems(("input", "friendlyName"), command.friendly_name)
    name = command.friendly_name.strip()
    if not problems and not 1 <= len(name) <= nomination.MAX_FRIENDLY_NAME:
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
    problems += control_problems(("input", "idempotencyKey"), key)
    if key is not None and not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY:
        problems.append(
            Problem(
                ErrorCode.INVALID_INPUT,
                ("input", "idempotencyKey"),
                f"An idempotency key is 1 to {MAX_IDEMPOTENCY_KEY} characters.",
            )
        )
    reason = command.tenant_mismatch_reason
    problems += control_problems(("input", "tenantMismatchReason"), reason, multiline=True)
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


def _chosen(command: Nominate, found: dict[int, Choice]) -> tuple[list[Choice], list[Problem]]:
    """The engagements chosen that exist (`found`), in order, without repeats, and the problems of the choice.
    When the combination itself is wrong, none is returned: judging each one would say nothing useful."""
    problems: list[Problem] = []
    chosen: list[Choice] = []
    for index, pk in enumerate(command.engagement_pks):
        choice = found.get(pk) if pk is not None else None
        if choice is None:
            problems.append(
                Problem(ErrorCode.NOT_FOUND, ("input", "engagementIds", index), "No such engagement.")
            )
        elif choice not in chosen:
            chosen.append(choice)
    if not chosen and problems:
        return [], problems
    pay_types = [PayType(c.engagement.pay_type) for c in chosen]
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
        message = validate_hours(_variable_pay_rules(chosen[0].engagement), command.hours)
        if message:
            return [], [*problems, Problem(ErrorCode.HOURS_OUT_OF_RANGE, ("input", "hours"), message)]
    return chosen, problems


_LIMIT_LOCK = text("SELECT pg_advisory_xact_lock(:engagement_id, hashtext(:key))")


async def _lock_limits(session: AsyncSession, engagement_ids: Sequence[int], key: str) -> None:
    """Serialise nominations of one identifier for one engagement, so counting then inserting cannot race.

    SQLite needs nothing: its write transactions already run one at a time (BEGIN IMMEDIATE)."""
    if session.bind.dialect.name != "postgresql":
        return
    for engagement_id in sorted(engagement_ids):  # one order everywhere: no deadlock between two nominations
        await session.execute(
            _LIMIT_LOCK,
            {"engagement_id": engagement_id, "key": key},
        )


async def _replay(session: AsyncSession, viewer: Principal, command: Nominate) -> Nomination | None:
    """The first result for this idempotency key, or None; Problems when the key came with another input."""
    key = command.idempotency_key
    if key is None or not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY or has_control_characters(key):
        return None  # no key, or one that could never have been stored (_basic_problems reports it)
    stored = (
        await session.execute(
            _IDEMPOTENCY_KEY,
            {"user_id": viewer.user_id, "operation": command.operation, "key": command.idempotency_key},
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
    assert customer is not None
    # Keys are stored with their claims' numbers (known before the claims are written); keys stored before
    # that carry the claims' ids.
    by, wanted = (
        (col(Claim.claim_number), stored.result["claimNumbers"])
        if "claimNumbers" in stored.result
        else (col(Claim.id), stored.result["claimIds"])
    )
    claims = {
        getattr(c, by.key): c for c in (await session.execute(select(Claim).where(by.in_(wanted)))).scalars()
    }
    return Nomination(customer, [claims[w] for w in wanted])


_CUSTOMER = select(Customer).where(
    Customer.partner_id == bindparam("partner_id"),
    Customer.id_type == bindparam("id_type"),
    Customer.id_value == bindparam("id_value"),
)


async def _customer(
    session: AsyncSession, viewer: Principal, assessment: Assessment, now: datetime
) -> Customer:
    """The partner's customer for this identifier, created on its first nomination."""
    identifier = assessment.identifier
    existing = (
        await session.execute(
            _CUSTOMER,
            {
                "partner_id": viewer.partner_id,
                "id_type": identifier.id_type.value,
                "id_value": identifier.value,
            },
        )
    ).scalar_one_or_none()
    if existing is not None:
        return existing
    customer = Customer(
        partner_id=viewer.partner_id,
        name=customer_organisation(assessment.entry.name, identifier.value),
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


async def _refuse(
    session: AsyncSession, viewer: Principal, command: Nominate, problems: list[Problem], looked_up: bool
) -> Nomination:
    """Problems, unless the idempotency key was used before: its first result wins over any problem."""
    replayed = None if looked_up else await _replay(session, viewer, command)
    if replayed is None:
        raise Problems(problems)
    return replayed


async def _nominate(
    session: AsyncSession, viewer: Principal, command: Nominate, now: datetime, *, retry: bool = False
) -> Nomination:
    """Read what does not change with nominations, lock the claim limits, count, judge, write; the claim
    events are appended last (services/claims.py).

    A replay of the idempotency key wins over any problem. The stored key is read only when there is a problem
    or on a `retry`: with no problem, a stored key makes the new key's INSERT fail, and `nominate` retries."""
    problems = _basic_problems(command)
    location = await visible_location(session, viewer, command.location_pk)
    found = await _choices(session, location, [pk for pk in command.engagement_pks if pk is not None])
    chosen, choice_problems = _chosen(command, found)
    problems += choice_problems
    facts = known = question = None
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
        facts = await _facts(session, question, location, ("input",))
    except Problems as error:
        problems += error.problems
    engagement_ids = [c.engagement.id for c in chosen if c.engagement.id is not None]
    if facts is not None:
        await _lock_limits(session, engagement_ids, facts.limit_key)
    replayed = await _replay(session, viewer, command) if retry else None
    if replayed is not None:
        return replayed
    if facts is None or question is None:
        return await _refuse(session, viewer, command, problems, looked_up=retry)
    # Counted under the locks, in a statement that starts after them: it sees every claim a twin committed.
    counts = await claim_counts(session, viewer.partner_id, engagement_ids, [facts.limit_key])
    assessment = await _judge(session, question, facts, chosen, counts, now)
    # The consent recipient (domain/consent), for added and claimed customers alike.
    # An invalid email is reported as such (INVALID_INPUT on it): the recipient rules judge a valid one.
    email_invalid = any(p.field == RECIPIENT_FIELD for p in problems)
    recipient = await check_recipient(
        session,
        viewer.partner_id,
        facts.entry.tenant_domains if facts.entry.facts.found else None,
        "" if email_invalid else question.customer_email or "",
        command.partner_contact.email,
        command.tenant_mismatch_reason,
    )
    problems += recipient.problems
    reason = recipient.reason
    problems += _verdict_problems(command, assessment)
    if problems:
        return await _refuse(session, viewer, command, problems, looked_up=retry)

    customer = known or await _customer(session, viewer, assessment, now)
    assert customer.id is not None and assessment.location.id is not None
    claims = [
        Claim(
            claim_number=new_claim_number(now),
            partner_id=viewer.partner_id,
            location_pk=assessment.location.id,
            engagement_id=verdict.engagement.id,
            customer_id=customer.id,
            friendly_name=command.friendly_name.strip(),
            id_type=assessment.identifier.id_type.value,
            id_value=assessment.identifier.value,
            limit_key=assessment.limit_key,
            tenant_mismatch_reason=reason,
            hours=command.hours if verdict.engagement.pay_type == PayType.VARIABLE else None,
            proposed_payout=verdict.payout.amount if verdict.payout is not None else None,
            currency=verdict.payout.currency if verdict.payout is not None else None,
            deal_currency=verdict.payout.deal_currency if verdict.payout is not None else None,
            exchange_rate=verdict.payout.exchange_rate if verdict.payout is not None else None,
            customer_contact=contact_record(command.customer_contact),
            partner_contact=contact_record(command.partner_contact),
            created_by_user_id=viewer.user_id,
            created_at=now,
            updated_at=now,
        )
        for verdict in assessment.verdicts
    ]
    # Before the claims (their events are the transaction's last writes). A key used before fails the INSERT.
    await remember(
        session, [(viewer.partner_id, command.partner_contact.email)], known=recipient.partner_domains
    )
    if command.idempotency_key is not None:
        session.add(
            IdempotencyKey(
                user_id=viewer.user_id,
                operation=command.operation,
                key=command.idempotency_key,
                request_hash=command.fingerprint(),
                result={"customerId": customer.id, "claimNumbers": [c.claim_number for c in claims]},
                created_at=now,
            )
        )
    actor = Actor(ActorKind.PARTNER_USER, viewer.email, viewer.name)
    for claim, verdict in zip(claims, assessment.verdicts, strict=True):
        # Sets its first status, writes it (and, with it, what was added above) and appends its event.
        await apply_action(
            session,
            claim,
            verdict.engagement,
            ClaimAction.CREATE,
            actor,
            now,
            comment=creation_comment(reason),
        )
    return Nomination(customer, claims)


def _verdict_problems(command: Nominate, assessment: Assessment) -> list[Problem]:
    """Why the chosen engagements cannot be: the location's problems once each, on `input.locationId` (naming
    the engagements a LOCATION_NOT_ELIGIBLE concerns), then the identifier's, on each engagement's index."""
    index: dict[int | None, int] = {}
    for position, pk in enumerate(command.engagement_pks):
        index.setdefault(pk, position)
    at_location: dict[IneligibilityReason, list[str]] = {}
    problems = []
    for verdict in assessment.verdicts:
        engagement = verdict.engagement
        for r in verdict.reasons:
            if r in LOCATION_REASONS:
                at_location.setdefault(r, []).append(engagement.name)
                continue
            message = (
                cooling_off_message(verdict.cooling_off_until)
                if r is IneligibilityReason.COOLING_OFF and verdict.cooling_off_until is not None
                else REASON_MESSAGES[r]
            )
            problems.append(
                Problem(
                    code_for(r),
                    ("input", "engagementIds", index[engagement.id]),
                    f"{engagement.name}: {message}",
                )
            )
    name = assessment.location.name
    located = [
        Problem(
            code_for(r),
            ("input", "locationId"),
            f"{name} is not eligible for {', '.join(names)}."
            if r is IneligibilityReason.LOCATION_NOT_ELIGIBLE
            else f"{name}: {REASON_MESSAGES[r]}",
        )
        for r, names in sorted(at_location.items(), key=lambda item: _LOCATION_ORDER.index(item[0]))
    ]
    return located + problems


_LOCATION_ORDER = [IneligibilityReason.LOCATION_NOT_ENROLLED, IneligibilityReason.LOCATION_NOT_ELIGIBLE]


async def nominate(
    sessions: async_sessionmaker[AsyncSession], viewer: Principal, command: Nominate, now: datetime
) -> Nomination | list[Problem]:
    """addCustomer / claimCustomer: every claim or none, and every problem reported at once."""
    for attempt in range(2):
        try:
            async with transaction(sessions, write=True) as session:
                return await _nominate(session, viewer, command, now, retry=attempt > 0)
        except Problems as error:
            return error.problems
        except IntegrityError:
            # The idempotency key was used before (replayed on retry), or a racing twin committed first: the
            # same new customer nominated for another engagement (found on retry), or the one-active-claim index.
            if attempt == 1:
                # The index that is left: one active claim per (partner, engagement, limit key), this partner's.
                return [
                    Problem(
                        ErrorCode.ALREADY_CLAIMED_BY_YOU,
                        ("input", "engagementIds"),
                        "You already have an active claim for this customer on this engagement: another "
                        "nomination of yours made it at the same moment.",
                    )
                ]
    raise AssertionError("unreachable")
