"""Import of the reference data Microsoft owns: partners, engagements, markets and the customer directory.

Two steps, kept apart:

1. **Validation** (pure): `validate_document` checks the shape of every item with pydantic, normalises the
   values (emails, GUIDs and domains lower-case, MSX IDs and countries upper-case, ...) and runs the
   cross-document checks (duplicates, references). Every problem names its path in the document:
   `engagements[3].payType: Input should be 'FIXED' or 'VARIABLE'`.
2. **Writing** (`import_reference_data`): one transaction. It loads what exists with one query per kind (keyed
   by natural key), checks the document's references against it, then upserts by natural key.

Importing the same document twice changes nothing. Rows the document does not mention are left alone; the
lists a parent owns (a user's roles, an engagement's eligible locations, a tenant's domains and subscriptions)
are replaced to match the document. When anything is invalid, nothing is written.
"""

import json
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC
from decimal import Decimal
from functools import partial
from operator import attrgetter
from pathlib import Path
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)
from pydantic.alias_generators import to_camel
from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from app.db import transaction
from app.domain.eligibility import DEFAULT_COOLING_OFF_DAYS
from app.domain.enums import (
    FIXED_PAY_ID_TYPES,
    CustomerIdType,
    EngagementType,
    IncentivesRole,
    Market,
    OpportunityStatus,
    PayType,
)
from app.domain.identifiers import InvalidIdentifier, email_domain, parse_identifier
from app.domain.payout import RATE_PLACES, USD, is_currency_code
from app.domain.timelines import timeline_for
from app.models import (
    CountryMarket,
    DirectoryDomain,
    DirectoryOpportunity,
    DirectorySubscription,
    DirectoryTenant,
    Engagement,
    EngagementLocation,
    ExchangeRate,
    PartnerAccount,
    PartnerLocation,
    PartnerUser,
    ReferenceDataVersion,
    RoleAssignment,
)
from app.services import partner_domains

DEMO_DOCUMENT = Path(__file__).resolve().parent.parent / "data" / "demo.json"

# Bound parameters per IN (...) query: SQLite allows 32766 (999 before 3.32), PostgreSQL 32767.
_CHUNK = 500


class InvalidReferenceData(Exception):
    """The document cannot be imported; `problems` lists every problem found, each as `path: message`."""

    MAX_SHOWN = 50

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__(self.problems)

    def __str__(self) -> str:
        shown = "\n".join(f"  {p}" for p in self.problems[: self.MAX_SHOWN])
        more = len(self.problems) - self.MAX_SHOWN
        tail = f"\n  ... and {more} more" if more > 0 else ""
        count = len(self.problems)
        return f"{count} problem{'s' if count != 1 else ''} in the reference data:\n{shown}{tail}"


# ----------------------------------------------------------------------------------------------------
# The summary
# ----------------------------------------------------------------------------------------------------


@dataclass
class Counts:
    """What an import did to the rows of one kind."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0  # only for the lists a parent owns (roles, eligible locations, domains, subscriptions)

    @property
    def in_document(self) -> int:
        return self.created + self.updated + self.unchanged

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.deleted)

    def __str__(self) -> str:
        parts = [f"{n} {what}" for what, n in vars(self).items() if n]
        return ", ".join(parts) or "none"


@dataclass
class ImportSummary:
    """Per kind of row: how many the import created, updated, left unchanged and (owned lists) deleted."""

    partners: Counts = field(default_factory=Counts)
    locations: Counts = field(default_factory=Counts)
    users: Counts = field(default_factory=Counts)
    roles: Counts = field(default_factory=Counts)
    engagements: Counts = field(default_factory=Counts)
    eligible_locations: Counts = field(default_factory=Counts)
    markets: Counts = field(default_factory=Counts)
    exchange_rates: Counts = field(default_factory=Counts)
    tenants: Counts = field(default_factory=Counts)
    domains: Counts = field(default_factory=Counts)
    subscriptions: Counts = field(default_factory=Counts)
    opportunities: Counts = field(default_factory=Counts)

    def kinds(self) -> Iterator[tuple[str, Counts]]:
        for f in fields(self):
            yield f.name, getattr(self, f.name)

    @property
    def changed(self) -> bool:
        return any(counts.changed for _, counts in self.kinds())

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {kind: dict(vars(counts)) for kind, counts in self.kinds()}

    def __str__(self) -> str:
        if not self.changed:
            totals = ", ".join(
                f"{c.in_document} {k.replace('_', ' ')}" for k, c in self.kinds() if c.in_document
            )
            return f"Reference data already up to date ({totals or 'empty document'})."
        parts = [
            f"{c.in_document} {k.replace('_', ' ')} ({c})"
            for k, c in self.kinds()
            if c.in_document or c.deleted
        ]
        return f"Reference data imported: {'; '.join(parts)}."


# ----------------------------------------------------------------------------------------------------
# The document: one pydantic model per kind of item, normalising as DOMAIN.md says
# ----------------------------------------------------------------------------------------------------


def _identifier(id_type: CustomerIdType) -> Callable[[str], str]:
    def normalise(value: str) -> str:
        try:
            return parse_identifier(id_type, value).value
        except InvalidIdentifier as error:
            raise ValueError(f"{error} Given: {value!r}.") from None

    return normalise


def _email(value: str) -> str:
    value = value.lower()
    if email_domain(value) is None:
        raise ValueError(f"{value!r} is not an email address")
    return value


def _pattern(regex: str, explanation: str, transform: Callable[[str], str] = str) -> Callable[[str], str]:
    compiled = re.compile(regex)

    def check(value: str) -> str:
        value = transform(value)
        if not compiled.fullmatch(value):
            raise ValueError(f"{value!r} is not {explanation}")
        return value

    return check


Key = Annotated[
    str,
    AfterValidator(
        _pattern(r"[a-z0-9][a-z0-9._-]{0,63}", "a key (lower-case letters, digits, '.', '_', '-')")
    ),
]
LocationId = Annotated[str, AfterValidator(_pattern(r"[0-9]{1,20}", "a location ID (1 to 20 digits)"))]


def _currency(value: str) -> str:
    value = value.upper()
    if not is_currency_code(value):
        raise ValueError(f"{value!r} is not an ISO 4217 currency code (three letters, such as EUR)")
    return value


Country = Annotated[str, AfterValidator(_pattern(r"[A-Z]{2}", "an ISO 3166 country code", str.upper))]
Currency = Annotated[str, AfterValidator(_currency)]
Email = Annotated[str, StringConstraints(max_length=254), AfterValidator(_email)]
TenantId = Annotated[str, AfterValidator(_identifier(CustomerIdType.TENANT_ID))]
SubscriptionId = Annotated[str, AfterValidator(_identifier(CustomerIdType.AZURE_SUBSCRIPTION_ID))]
DomainName = Annotated[str, AfterValidator(_identifier(CustomerIdType.DOMAIN_NAME))]
Tpid = Annotated[str, AfterValidator(_identifier(CustomerIdType.TPID))]
MsxId = Annotated[str, AfterValidator(_identifier(CustomerIdType.MSX_OPPORTUNITY_ID))]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Segment = Annotated[str, StringConstraints(min_length=1, max_length=40)]
Days = Annotated[StrictInt, Field(ge=1, le=3650)]
Limit = Annotated[StrictInt, Field(ge=1, le=1000)]
# Money: JSON numbers or strings, parsed to Decimal; at most the column's scale, so values round-trip.
Rate = Annotated[Decimal, Field(gt=0, max_digits=14, decimal_places=2)]
DealAmount = Annotated[Decimal, Field(ge=0, max_digits=16, decimal_places=2)]
Fraction = Annotated[Decimal, Field(gt=0, le=1, decimal_places=4)]
# What one unit is worth in USD: positive, at most the column's 10 decimal places and 10 digits before the point.
UsdPerUnit = Annotated[Decimal, Field(gt=0, max_digits=20, decimal_places=RATE_PLACES)]


class _Item(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        extra="forbid",
        str_strip_whitespace=True,
        frozen=True,
    )


class RoleIn(_Item):
    role: IncentivesRole
    location_id: LocationId | None = None  # None: the whole account


class LocationIn(_Item):
    location_id: LocationId
    name: Name
    country: Country
    mci_enrolled: StrictBool
    payee_profile_valid: StrictBool


class UserIn(_Item):
    email: Email
    name: Name
    roles: list[RoleIn]  # required: an omitted list would silently revoke every role


class PartnerIn(_Item):
    key: Key
    name: Name
    locations: list[LocationIn] = Field(default_factory=list)
    users: list[UserIn] = Field(default_factory=list)


class CriteriaIn(_Item):
    countries: list[Country] | None = Field(default=None, min_length=1)  # None: any country
    segments: list[Segment] | None = Field(default=None, min_length=1)  # None: any segment


class TimelinesIn(_Item):
    consent_days: Days | None = None
    submit_days: Days | None = None
    review_days: Days | None = None
    dispute_days: Days | None = None
    # Decisions (DOMAIN.md), per engagement: the same default whatever the engagement's type.
    cooling_off_days: Days = DEFAULT_COOLING_OFF_DAYS
    partner_action_days: Days = 14


class HourlyRatesIn(_Item):
    a: Rate = Field(alias="A")
    b: Rate = Field(alias="B")
    c: Rate = Field(alias="C")


class EngagementIn(_Item):
    key: Key
    name: Name
    description: str = ""
    solution_area: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    engagement_type: EngagementType
    pay_type: PayType
    allowed_customer_id_types: list[CustomerIdType] = Field(min_length=1)
    eligible_location_ids: list[LocationId]
    customer_criteria: CriteriaIn = Field(default_factory=CriteriaIn)
    max_active_claims_per_customer: Limit = 1
    max_completed_claims_per_customer: Limit = 1
    claims_open_until: AwareDatetime | None = None
    timelines: TimelinesIn = Field(default_factory=TimelinesIn)
    # Variable pay only: required then, forbidden for fixed pay (checked in `_engagement_problems`).
    hourly_rates: HourlyRatesIn | None = None
    percent_of_deal: Fraction | None = None
    cap: Rate | None = None
    min_deal_size: DealAmount | None = None
    max_hours: Annotated[StrictInt, Field(ge=1, le=100_000)] | None = None
    currency: Currency | None = None


_VARIABLE_PAY_FIELDS = ("hourly_rates", "percent_of_deal", "cap", "min_deal_size", "max_hours")


class TenantIn(_Item):
    tenant_id: TenantId
    name: Name
    domains: list[DomainName] = Field(default_factory=list)
    tpid: Tpid | None = None
    azure_subscription_ids: list[SubscriptionId] = Field(default_factory=list)
    country: Country
    segment: Segment


class OpportunityIn(_Item):
    msx_opportunity_id: MsxId
    tenant_id: TenantId
    deal_size: DealAmount
    status: OpportunityStatus
    currency: Currency = "USD"


class ExchangeRateIn(_Item):
    currency: Currency
    usd_per_unit: UsdPerUnit


class _Container(_Item):
    """An object of lists; unknown keys are kept (and reported by `unknown_keys`) so validation goes on."""

    model_config = ConfigDict(extra="allow")

    def unknown_keys(self, prefix: str) -> list[str]:
        return [f"{_join(prefix, [key])}: Extra inputs are not permitted" for key in self.model_extra or {}]


class _Directory(_Container):
    tenants: list[Any] = Field(default_factory=list)
    opportunities: list[Any] = Field(default_factory=list)


class _Envelope(_Container):
    """The top level only; the items are validated one by one so one bad item does not hide the others."""

    partners: list[Any] = Field(default_factory=list)
    engagements: list[Any] = Field(default_factory=list)
    directory: _Directory = Field(default_factory=_Directory)
    markets: dict[str, Any] = Field(default_factory=dict)
    exchange_rates: list[Any] = Field(default_factory=list)


T = TypeVar("T")


@dataclass(frozen=True)
class At(Generic[T]):
    """A validated item and where it is in the document."""

    path: str
    item: T


@dataclass(frozen=True)
class ReferenceData:
    """A validated, normalised document."""

    partners: list[At[PartnerIn]]
    engagements: list[At[EngagementIn]]
    tenants: list[At[TenantIn]]
    opportunities: list[At[OpportunityIn]]
    markets: list[At[tuple[str, Market]]]
    exchange_rates: list[At[ExchangeRateIn]] = field(default_factory=list)
    # IDs found in items that failed validation: references to them are not reported as unknown as well.
    unvalidated_location_ids: frozenset[str] = frozenset()
    unvalidated_tenant_ids: frozenset[str] = frozenset()

    def location_ids(self) -> set[str]:
        """Every location ID the document defines or refers to."""
        ids = {loc.location_id for p in self.partners for loc in p.item.locations}
        ids |= {r.location_id for p in self.partners for u in p.item.users for r in u.roles if r.location_id}
        ids |= {lid for e in self.engagements for lid in e.item.eligible_location_ids}
        return ids

    def tenant_ids(self) -> set[str]:
        """Every tenant ID the document defines or refers to."""
        return {t.item.tenant_id for t in self.tenants} | {o.item.tenant_id for o in self.opportunities}


@dataclass(frozen=True)
class DatabaseFacts:
    """What the database already holds that the document may refer to (empty: check the document alone)."""

    location_partner: Mapping[str, str] = field(default_factory=dict)  # location ID -> partner key
    user_partner: Mapping[str, str] = field(default_factory=dict)  # email -> partner key
    tenant_ids: Collection[str] = frozenset()


# ----------------------------------------------------------------------------------------------------
# Validation (pure)
# ----------------------------------------------------------------------------------------------------

_IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")


def _join(prefix: str, loc: Iterable[int | str]) -> str:
    """Pydantic's error location as a path: ("tenants", 3, "tenantId") -> "tenants[3].tenantId"."""
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif _IDENTIFIER.fullmatch(part):
            path += f".{part}" if path else part
        else:
            path += f"[{json.dumps(part)}]"
    return path


def _messages(error: ValidationError) -> Iterator[tuple[tuple[int | str, ...], str]]:
    for e in error.errors(include_url=False):
        yield e["loc"], str(e["ctx"]["error"]) if e["type"] == "value_error" else e["msg"]


def _problems(prefix: str, error: ValidationError) -> list[str]:
    return [f"{_join(prefix, loc) or '(document)'}: {message}" for loc, message in _messages(error)]


def _validate_items(
    raw_items: list[Any], prefix: str, model: type[T], problems: list[str]
) -> tuple[list[At[T]], list[Any]]:
    """The items that passed, with their paths, and the raw items that failed (problems go to `problems`)."""
    adapter = TypeAdapter(model)
    items, failed = [], []
    for index, raw in enumerate(raw_items):
        path = f"{prefix}[{index}]"
        try:
            items.append(At(path, adapter.validate_python(raw)))
        except ValidationError as error:
            problems.extend(_problems(path, error))
            failed.append(raw)
    return items, failed


def _validate_markets(raw: Mapping[str, Any], problems: list[str]) -> list[At[tuple[str, Market]]]:
    """`{"US": "A", ...}`: a problem is reported at the country, for a bad country and a bad market alike."""
    country, market = TypeAdapter(Country), TypeAdapter(Market)
    items = []
    for key, value in raw.items():
        path = _join("markets", [key])
        try:
            items.append(At(path, (country.validate_python(key), market.validate_python(value))))
        except ValidationError as error:
            problems.extend(f"{path}: {message}" for _, message in _messages(error))
    return items


def _loose_ids(raw_items: Iterable[Any], *steps: str) -> set[str]:
    """The string values at `steps` (a list along the way is walked) in items that failed validation."""
    values: list[Any] = list(raw_items)
    for step in steps:
        nested = [v.get(step) for v in values if isinstance(v, dict)]
        values = [x for v in nested for x in (v if isinstance(v, list) else [v])]
    return {v.strip().lower() for v in values if isinstance(v, str)}


def _duplicates(entries: Iterable[tuple[str, str]], what: str) -> list[str]:
    """`entries` are (path, value); every repeat of a value is a problem at its own path."""
    first: dict[str, str] = {}
    problems = []
    for path, value in entries:
        if value in first:
            problems.append(f"{path}: {what} {value!r} appears twice (first at {first[value]})")
        else:
            first[value] = path
    return problems


def _engagement_problems(at: At[EngagementIn]) -> list[str]:
    """Rules between an engagement's own fields: pay type against ID types and the variable-pay figures."""
    path, e = at.path, at.item
    problems = []
    id_types = e.allowed_customer_id_types
    problems += _duplicates(
        ((f"{path}.allowedCustomerIdTypes[{i}]", t.value) for i, t in enumerate(id_types)), "ID type"
    )
    problems += _duplicates(
        ((f"{path}.eligibleLocationIds[{i}]", lid) for i, lid in enumerate(e.eligible_location_ids)),
        "location",
    )
    variable_fields = [*_VARIABLE_PAY_FIELDS, "currency"]
    if e.pay_type is PayType.FIXED:
        for i, t in enumerate(id_types):
            if t not in FIXED_PAY_ID_TYPES:
                accepted = ", ".join(sorted(FIXED_PAY_ID_TYPES))
                problems.append(f"{path}.allowedCustomerIdTypes[{i}]: FIXED pay accepts only {accepted}")
        problems += [
            f"{path}.{to_camel(name)}: not allowed for FIXED pay"
            for name in variable_fields
            if getattr(e, name) is not None
        ]
    else:
        if id_types != [CustomerIdType.MSX_OPPORTUNITY_ID]:
            problems.append(
                f"{path}.allowedCustomerIdTypes: VARIABLE pay accepts exactly [MSX_OPPORTUNITY_ID]"
            )
        problems += [
            f"{path}.{to_camel(name)}: required for VARIABLE pay"
            for name in _VARIABLE_PAY_FIELDS
            if getattr(e, name) is None
        ]
    given = e.timelines
    # Judged on the timeline in force: the type's defaults with the overrides given.
    effective = timeline_for(
        e.engagement_type,
        consent_days=given.consent_days,
        submit_days=given.submit_days,
        review_days=given.review_days,
        dispute_days=given.dispute_days,
    )
    if effective.review_days < effective.submit_days:
        problems.append(
            f"{path}.timelines.reviewDays: the review window ({effective.review_days} days) must not be shorter "
            f"than the submit window ({effective.submit_days} days)"
        )
    return problems


def _document_problems(data: ReferenceData) -> list[str]:
    """Duplicates within the document and the rules within each item; nothing that needs the database."""
    partners, engagements, tenants = data.partners, data.engagements, data.tenants
    problems = _duplicates(((f"{p.path}.key", p.item.key) for p in partners), "partner key")
    problems += _duplicates(
        (
            (f"{p.path}.locations[{j}].locationId", loc.location_id)
            for p in partners
            for j, loc in enumerate(p.item.locations)
        ),
        "location",
    )
    problems += _duplicates(
        ((f"{p.path}.users[{j}].email", u.email) for p in partners for j, u in enumerate(p.item.users)),
        "user",
    )
    for p in partners:
        for j, user in enumerate(p.item.users):
            problems += _duplicates(
                (
                    (f"{p.path}.users[{j}].roles[{k}]", f"{r.role.value} at {r.location_id or 'the account'}")
                    for k, r in enumerate(user.roles)
                ),
                "role",
            )
    problems += _duplicates(((f"{e.path}.key", e.item.key) for e in engagements), "engagement key")
    for e in engagements:
        problems += _engagement_problems(e)
    problems += _duplicates(((m.path, m.item[0]) for m in data.markets), "country")
    problems += _duplicates(
        ((f"{r.path}.currency", r.item.currency) for r in data.exchange_rates), "currency"
    )
    problems += [
        f"{r.path}.currency: USD is worth 1 USD by definition; leave it out"
        for r in data.exchange_rates
        if r.item.currency == USD
    ]
    problems += _duplicates(((f"{t.path}.tenantId", t.item.tenant_id) for t in tenants), "tenant")
    problems += [
        p.replace("appears twice", "is claimed by two tenants")
        for p in _duplicates(
            ((f"{t.path}.domains[{j}]", d) for t in tenants for j, d in enumerate(t.item.domains)), "domain"
        )
    ]
    problems += [
        p.replace("appears twice", "is claimed by two tenants")
        for p in _duplicates(
            (
                (f"{t.path}.azureSubscriptionIds[{j}]", s)
                for t in tenants
                for j, s in enumerate(t.item.azure_subscription_ids)
            ),
            "subscription",
        )
    ]
    problems += _duplicates(
        ((f"{o.path}.msxOpportunityId", o.item.msx_opportunity_id) for o in data.opportunities), "opportunity"
    )
    return problems


def _reference_problems(data: ReferenceData, facts: DatabaseFacts) -> list[str]:
    """References that neither the document nor the database can satisfy, and ownership conflicts."""
    problems = []
    document_locations = {
        loc.location_id: p.item.key for p in data.partners for loc in p.item.locations
    }  # location ID -> partner key
    for p in data.partners:
        key = p.item.key
        for j, loc in enumerate(p.item.locations):
            owner = facts.location_partner.get(loc.location_id)
            if owner is not None and owner != key:
                problems.append(
                    f"{p.path}.locations[{j}].locationId: location {loc.location_id} belongs to partner "
                    f"{owner!r} in the database; moving a location between accounts is not supported"
                )
        for j, user in enumerate(p.item.users):
            owner = facts.user_partner.get(user.email)
            if owner is not None and owner != key:
                problems.append(
                    f"{p.path}.users[{j}].email: user {user.email} belongs to partner {owner!r} in the "
                    "database; moving a user between accounts is not supported"
                )
            for k, role in enumerate(user.roles):
                lid = role.location_id
                if lid is None:
                    continue
                owner = document_locations.get(lid) or facts.location_partner.get(lid)
                if owner is None and lid in data.unvalidated_location_ids:
                    continue  # defined in an item that failed validation: already reported there
                if owner != key:
                    problems.append(
                        f"{p.path}.users[{j}].roles[{k}].locationId: location {lid} is not a location of "
                        f"partner {key!r}"
                    )
    known_locations = (
        document_locations.keys() | facts.location_partner.keys() | data.unvalidated_location_ids
    )
    for e in data.engagements:
        for i, lid in enumerate(e.item.eligible_location_ids):
            if lid not in known_locations:
                problems.append(
                    f"{e.path}.eligibleLocationIds[{i}]: unknown location {lid} (neither in this document "
                    "nor in the database)"
                )
    known_tenants = (
        {t.item.tenant_id for t in data.tenants} | set(facts.tenant_ids) | data.unvalidated_tenant_ids
    )
    for o in data.opportunities:
        if o.item.tenant_id not in known_tenants:
            problems.append(
                f"{o.path}.tenantId: unknown tenant {o.item.tenant_id} (neither in this document nor in the "
                "database)"
            )
    return problems


_SECTIONS = (
    "partners",
    "markets",
    "exchangeRates",
    "engagements",
    "directory.tenants",
    "directory.opportunities",
)
_ITEM = re.compile(r"(?P<section>directory\.\w+|\w+)(?:\[(?P<index>\d+)\])?")


def _in_document_order(problems: list[str]) -> list[str]:
    """Sorted by section and item as the document reads; an item's problems keep the order they were found."""

    def position(problem: str) -> tuple[int, int]:
        match = _ITEM.match(problem)
        if match is None or match["section"] not in _SECTIONS:
            return (-1, 0)
        return (_SECTIONS.index(match["section"]), int(match["index"] or 0))

    return sorted(problems, key=position)


def _parse(document: Any) -> tuple[ReferenceData, list[str]]:
    """Validate every item: what passed, and the document's own problems (references are checked later)."""
    try:
        envelope = _Envelope.model_validate(document)
    except ValidationError as error:
        raise InvalidReferenceData(_problems("", error)) from None
    directory = envelope.directory
    problems = envelope.unknown_keys("") + directory.unknown_keys("directory")
    partners, failed_partners = _validate_items(envelope.partners, "partners", PartnerIn, problems)
    engagements, _ = _validate_items(envelope.engagements, "engagements", EngagementIn, problems)
    tenants, failed_tenants = _validate_items(directory.tenants, "directory.tenants", TenantIn, problems)
    opportunities, _ = _validate_items(
        directory.opportunities, "directory.opportunities", OpportunityIn, problems
    )
    markets = _validate_markets(envelope.markets, problems)
    rates, _ = _validate_items(envelope.exchange_rates, "exchangeRates", ExchangeRateIn, problems)
    data = ReferenceData(
        partners=partners,
        engagements=engagements,
        tenants=tenants,
        opportunities=opportunities,
        markets=markets,
        exchange_rates=rates,
        unvalidated_location_ids=frozenset(_loose_ids(failed_partners, "locations", "locationId")),
        unvalidated_tenant_ids=frozenset(_loose_ids(failed_tenants, "tenantId")),
    )
    return data, problems + _document_problems(data)


def validate_document(document: Any, facts: DatabaseFacts | None = None) -> ReferenceData:
    """Validate and normalise a document (pure). Without `facts`, the document must satisfy its references."""
    data, problems = _parse(document)
    problems += _reference_problems(data, facts or DatabaseFacts())
    if problems:
        raise InvalidReferenceData(_in_document_order(problems))
    return data


def load_document(path: str | Path) -> Any:
    """Read a JSON document; numbers with a fraction are read as Decimal, so money keeps its exact value."""
    try:
        with Path(path).open(encoding="utf-8") as file:
            return json.load(file, parse_float=Decimal)
    except json.JSONDecodeError as error:
        raise InvalidReferenceData(
            [f"(document): not valid JSON at line {error.lineno} column {error.colno}: {error.msg}"]
        ) from None


# ----------------------------------------------------------------------------------------------------
# Writing
# ----------------------------------------------------------------------------------------------------

M = TypeVar("M")


async def _rows_where_in(
    session: AsyncSession, model: type[M], column: Any, values: Iterable[Any]
) -> list[M]:
    """The rows whose `column` is one of `values`: one query (per chunk of values)."""
    values = list(dict.fromkeys(values))
    rows: list[M] = []
    for start in range(0, len(values), _CHUNK):
        statement = select(model).where(col(column).in_(values[start : start + _CHUNK]))
        rows += (await session.execute(statement)).scalars().all()
    return rows


@dataclass
class _Existing:
    """The rows the document touches, as loaded before writing; new rows are added as they are created."""

    partners: dict[str, PartnerAccount]  # by key
    partner_keys: dict[int, str]  # partner pk -> key, for every partner owning a loaded location or user
    locations: dict[str, PartnerLocation]  # by location ID
    users: dict[str, PartnerUser]  # by email
    roles: dict[int, list[RoleAssignment]]  # by user pk
    engagements: dict[str, Engagement]  # by key
    eligible_locations: dict[int, list[EngagementLocation]]  # by engagement pk
    markets: dict[str, CountryMarket]  # by country
    exchange_rates: dict[str, ExchangeRate]  # by currency
    tenants: dict[str, DirectoryTenant]  # by tenant ID
    domains: dict[str, DirectoryDomain]  # by domain: the document's and those of the document's tenants
    subscriptions: dict[str, DirectorySubscription]  # likewise
    opportunities: dict[str, DirectoryOpportunity]  # by MSX ID

    def facts(self) -> DatabaseFacts:
        return DatabaseFacts(
            location_partner={lid: self.partner_keys[loc.partner_id] for lid, loc in self.locations.items()},
            user_partner={email: self.partner_keys[u.partner_id] for email, u in self.users.items()},
            tenant_ids=frozenset(self.tenants),
        )


def _group(rows: Iterable[M], key: Callable[[M], int]) -> dict[int, list[M]]:
    groups: dict[int, list[M]] = {}
    for row in rows:
        groups.setdefault(key(row), []).append(row)
    return groups


async def _load_existing(session: AsyncSession, data: ReferenceData) -> _Existing:
    s = session
    partners = await _rows_where_in(
        s, PartnerAccount, PartnerAccount.key, (p.item.key for p in data.partners)
    )
    locations = await _rows_where_in(s, PartnerLocation, PartnerLocation.location_id, data.location_ids())
    emails = (u.email for p in data.partners for u in p.item.users)
    users = await _rows_where_in(s, PartnerUser, PartnerUser.email, emails)
    owners = {loc.partner_id for loc in locations} | {u.partner_id for u in users}
    owners -= {p.id for p in partners}
    partners_by_pk = {p.id: p.key for p in partners} | {
        p.id: p.key for p in await _rows_where_in(s, PartnerAccount, PartnerAccount.id, owners)
    }
    roles = await _rows_where_in(s, RoleAssignment, RoleAssignment.user_id, (u.id for u in users))
    engagements = await _rows_where_in(s, Engagement, Engagement.key, (e.item.key for e in data.engagements))
    eligible = await _rows_where_in(
        s, EngagementLocation, EngagementLocation.engagement_id, (e.id for e in engagements)
    )
    markets = await _rows_where_in(s, CountryMarket, CountryMarket.country, (m.item[0] for m in data.markets))
    rates = await _rows_where_in(
        s, ExchangeRate, ExchangeRate.currency, (r.item.currency for r in data.exchange_rates)
    )
    tenants = await _rows_where_in(s, DirectoryTenant, DirectoryTenant.tenant_id, data.tenant_ids())
    document_tenant_ids = {t.item.tenant_id for t in data.tenants}
    document_tenant_pks = [t.id for t in tenants if t.tenant_id in document_tenant_ids]
    domains = await _rows_where_in(
        s, DirectoryDomain, DirectoryDomain.domain, (d for t in data.tenants for d in t.item.domains)
    )
    domains += await _rows_where_in(s, DirectoryDomain, DirectoryDomain.tenant_pk, document_tenant_pks)
    subscriptions = await _rows_where_in(
        s,
        DirectorySubscription,
        DirectorySubscription.subscription_id,
        (sub for t in data.tenants for sub in t.item.azure_subscription_ids),
    )
    subscriptions += await _rows_where_in(
        s, DirectorySubscription, DirectorySubscription.tenant_pk, document_tenant_pks
    )
    opportunities = await _rows_where_in(
        s,
        DirectoryOpportunity,
        DirectoryOpportunity.msx_opportunity_id,
        (o.item.msx_opportunity_id for o in data.opportunities),
    )
    return _Existing(
        partners={p.key: p for p in partners},
        partner_keys={pk: key for pk, key in partners_by_pk.items() if pk is not None},
        locations={loc.location_id: loc for loc in locations},
        users={u.email: u for u in users},
        roles=_group(roles, lambda r: r.user_id),
        engagements={e.key: e for e in engagements},
        eligible_locations=_group(eligible, lambda r: r.engagement_id),
        markets={m.country: m for m in markets},
        exchange_rates={r.currency: r for r in rates},
        tenants={t.tenant_id: t for t in tenants},
        domains={d.domain: d for d in domains},
        subscriptions={sub.subscription_id: sub for sub in subscriptions},
        opportunities={o.msx_opportunity_id: o for o in opportunities},
    )


def _assign(row: Any, values: Mapping[str, Any]) -> bool:
    """Set the fields that differ; True when any did."""
    changed = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    return changed


def _pk(row: Any) -> int:
    assert row.id is not None, "flushed rows have a primary key"
    return int(row.id)


class _Writer:
    """Upserts a validated document over the rows in `existing`, counting what it does in `summary`.

    Changed rows are updated through the ORM; new rows are inserted in bulk (one executemany per kind: the ORM
    would insert them one by one on SQLite to learn each primary key) and, where children need their keys,
    loaded back with one query.
    """

    def __init__(self, session: AsyncSession, existing: _Existing) -> None:
        self.session = session
        self.existing = existing
        self.summary = ImportSummary()

    async def write(self, data: ReferenceData) -> ImportSummary:
        await self._partners([p.item for p in data.partners])
        await self._engagements([e.item for e in data.engagements])
        await self._markets([m.item for m in data.markets])
        await self._exchange_rates([r.item for r in data.exchange_rates])
        await self._directory([t.item for t in data.tenants], [o.item for o in data.opportunities])
        await self.session.flush()
        return self.summary

    @staticmethod
    def _upsert(counts: Counts, row: Any, values: dict[str, Any], new: list[dict[str, Any]]) -> None:
        """Update `row` to `values`, or queue `values` as a new row when there is none."""
        if row is None:
            new.append(values)
            counts.created += 1
        elif _assign(row, values):
            counts.updated += 1
        else:
            counts.unchanged += 1

    async def _insert(self, model: type[Any], new: list[dict[str, Any]]) -> None:
        if new:
            await self.session.execute(insert(model), new)

    async def _insert_and_load(
        self, model: type[M], key: Any, rows: dict[str, M], new: list[dict[str, Any]]
    ) -> None:
        """Insert the new rows, then load them into `rows` (by natural key) with their primary keys."""
        await self._insert(model, new)
        name = key.key  # the attribute's name
        for row in await _rows_where_in(self.session, model, key, [values[name] for values in new]):
            rows[getattr(row, name)] = row

    async def _replace(
        self,
        counts: Counts,
        current: Iterable[M],
        identity: Callable[[M], T],
        wanted: Iterable[T],
        new: Callable[[T], dict[str, Any]],
        pending: list[dict[str, Any]],
    ) -> None:
        """Make an owned list match `wanted`: delete rows not wanted, queue the missing ones in `pending`."""
        wanted = set(wanted)
        have = set()
        for row in current:
            if identity(row) in wanted:
                have.add(identity(row))
                counts.unchanged += 1
            else:
                await self.session.delete(row)
                counts.deleted += 1
        for ident in wanted - have:
            pending.append(new(ident))
            counts.created += 1

    async def _partners(self, partners: list[PartnerIn]) -> None:
        ex, summary = self.existing, self.summary
        new: list[dict[str, Any]] = []
        for p in partners:
            self._upsert(summary.partners, ex.partners.get(p.key), {"key": p.key, "name": p.name}, new)
        await self._insert_and_load(PartnerAccount, PartnerAccount.key, ex.partners, new)

        new_locations: list[dict[str, Any]] = []
        new_users: list[dict[str, Any]] = []
        for p in partners:
            partner_pk = _pk(ex.partners[p.key])
            for loc in p.locations:
                values = {
                    "location_id": loc.location_id,
                    "partner_id": partner_pk,
                    "name": loc.name,
                    "country": loc.country,
                    "mci_enrolled": loc.mci_enrolled,
                    "payee_profile_valid": loc.payee_profile_valid,
                }
                self._upsert(summary.locations, ex.locations.get(loc.location_id), values, new_locations)
            for u in p.users:
                values = {"email": u.email, "partner_id": partner_pk, "name": u.name}
                self._upsert(summary.users, ex.users.get(u.email), values, new_users)
        await self._insert_and_load(PartnerLocation, PartnerLocation.location_id, ex.locations, new_locations)
        await self._insert_and_load(PartnerUser, PartnerUser.email, ex.users, new_users)

        new_roles: list[dict[str, Any]] = []
        for p in partners:
            for u in p.users:
                user_pk = _pk(ex.users[u.email])
                wanted = {
                    (r.role.value, _pk(ex.locations[r.location_id]) if r.location_id else None)
                    for r in u.roles
                }
                await self._replace(
                    summary.roles,
                    ex.roles.get(user_pk, []),
                    _role_identity,
                    wanted,
                    partial(_new_role, user_pk),
                    new_roles,
                )
        await self._insert(RoleAssignment, new_roles)
        # The partners' own email domains, where consent is never mailed (services/partner_domains).
        await partner_domains.remember(
            self.session, ((_pk(ex.partners[p.key]), u.email) for p in partners for u in p.users)
        )

    async def _engagements(self, engagements: list[EngagementIn]) -> None:
        ex = self.existing
        new: list[dict[str, Any]] = []
        for e in engagements:
            self._upsert(self.summary.engagements, ex.engagements.get(e.key), _engagement_values(e), new)
        await self._insert_and_load(Engagement, Engagement.key, ex.engagements, new)
        new_eligible: list[dict[str, Any]] = []
        for e in engagements:
            engagement_pk = _pk(ex.engagements[e.key])
            await self._replace(
                self.summary.eligible_locations,
                ex.eligible_locations.get(engagement_pk, []),
                attrgetter("location_id"),
                e.eligible_location_ids,
                partial(_new_eligible_location, engagement_pk),
                new_eligible,
            )
        await self._insert(EngagementLocation, new_eligible)

    async def _markets(self, markets: list[tuple[str, Market]]) -> None:
        new: list[dict[str, Any]] = []
        for country, market in markets:
            values = {"country": country, "market": market.value}
            self._upsert(self.summary.markets, self.existing.markets.get(country), values, new)
        await self._insert(CountryMarket, new)

    async def _exchange_rates(self, rates: list[ExchangeRateIn]) -> None:
        new: list[dict[str, Any]] = []
        for r in rates:
            values = {"currency": r.currency, "usd_per_unit": r.usd_per_unit}
            self._upsert(
                self.summary.exchange_rates, self.existing.exchange_rates.get(r.currency), values, new
            )
        await self._insert(ExchangeRate, new)

    async def _directory(self, tenants: list[TenantIn], opportunities: list[OpportunityIn]) -> None:
        ex, summary = self.existing, self.summary
        new: list[dict[str, Any]] = []
        for t in tenants:
            values: dict[str, Any] = {
                "tenant_id": t.tenant_id,
                "name": t.name,
                "tpid": t.tpid,
                "country": t.country,
                "segment": t.segment,
            }
            self._upsert(summary.tenants, ex.tenants.get(t.tenant_id), values, new)
        await self._insert_and_load(DirectoryTenant, DirectoryTenant.tenant_id, ex.tenants, new)

        owners = {_pk(ex.tenants[t.tenant_id]) for t in tenants}
        domains = {d: _pk(ex.tenants[t.tenant_id]) for t in tenants for d in t.domains}
        subscriptions = {s: _pk(ex.tenants[t.tenant_id]) for t in tenants for s in t.azure_subscription_ids}
        await self._move_to_owners(summary.domains, DirectoryDomain, "domain", ex.domains, domains, owners)
        await self._move_to_owners(
            summary.subscriptions,
            DirectorySubscription,
            "subscription_id",
            ex.subscriptions,
            subscriptions,
            owners,
        )

        new = []
        for o in opportunities:
            values = {
                "msx_opportunity_id": o.msx_opportunity_id,
                "tenant_pk": _pk(ex.tenants[o.tenant_id]),
                "deal_size": o.deal_size,
                "currency": o.currency,
                "status": o.status.value,
            }
            self._upsert(summary.opportunities, ex.opportunities.get(o.msx_opportunity_id), values, new)
        await self._insert(DirectoryOpportunity, new)

    async def _move_to_owners(
        self,
        counts: Counts,
        model: type[Any],
        key_field: str,
        rows: dict[str, Any],
        wanted: dict[str, int],
        owners: set[int],
    ) -> None:
        """Domains and subscriptions: keyed by their own value, owned by a tenant, movable between tenants.

        `rows` holds the existing rows for the values in `wanted` and those of the tenants in `owners`.
        """
        for value, row in rows.items():
            if value in wanted:
                self._upsert(counts, row, {"tenant_pk": wanted[value]}, [])
            elif row.tenant_pk in owners:
                await self.session.delete(row)
                counts.deleted += 1
        new = [{key_field: value, "tenant_pk": pk} for value, pk in wanted.items() if value not in rows]
        counts.created += len(new)
        await self._insert(model, new)


def _role_identity(row: RoleAssignment) -> tuple[str, int | None]:
    return row.role, row.location_pk


def _new_role(user_pk: int, identity: tuple[str, int | None]) -> dict[str, Any]:
    return {"user_id": user_pk, "role": identity[0], "location_pk": identity[1]}


def _new_eligible_location(engagement_pk: int, location_id: str) -> dict[str, Any]:
    return {"engagement_id": engagement_pk, "location_id": location_id}


def _engagement_values(e: EngagementIn) -> dict[str, Any]:
    rates = e.hourly_rates
    open_until = e.claims_open_until.astimezone(UTC) if e.claims_open_until is not None else None
    return {
        "key": e.key,
        "name": e.name,
        "description": e.description,
        "solution_area": e.solution_area,
        "engagement_type": e.engagement_type.value,
        "pay_type": e.pay_type.value,
        "allowed_customer_id_types": [t.value for t in e.allowed_customer_id_types],
        "criteria_countries": e.customer_criteria.countries,
        "criteria_segments": e.customer_criteria.segments,
        "max_active_claims_per_customer": e.max_active_claims_per_customer,
        "max_completed_claims_per_customer": e.max_completed_claims_per_customer,
        "claims_open_until": open_until,
        "consent_days": e.timelines.consent_days,
        "submit_days": e.timelines.submit_days,
        "review_days": e.timelines.review_days,
        "dispute_days": e.timelines.dispute_days,
        "cooling_off_days": e.timelines.cooling_off_days,
        "partner_action_days": e.timelines.partner_action_days,
        "currency": e.currency or "USD",
        "hourly_rate_a": rates.a if rates else None,
        "hourly_rate_b": rates.b if rates else None,
        "hourly_rate_c": rates.c if rates else None,
        "percent_of_deal": e.percent_of_deal,
        "payout_cap": e.cap,
        "min_deal_size": e.min_deal_size,
        "max_hours": e.max_hours,
    }


async def import_reference_data(sessions: async_sessionmaker[AsyncSession], document: Any) -> ImportSummary:
    """Validate `document` and upsert it in one transaction; raise InvalidReferenceData (writing nothing) when
    anything in it is invalid, including references that neither the document nor the database satisfy."""
    data, problems = _parse(document)
    async with transaction(sessions, write=True) as session:
        existing = await _load_existing(session, data)
        problems += _reference_problems(data, existing.facts())
        if problems:
            raise InvalidReferenceData(_in_document_order(problems))
        summary = await _Writer(session, existing).write(data)
        await _count_import(session)
        return summary


async def _count_import(session: AsyncSession) -> None:
    """One more import: judgements made from the reference data before it are out of date."""
    counted = await session.execute(
        update(ReferenceDataVersion).values(version=col(ReferenceDataVersion.version) + 1)
    )
    if counted.rowcount == 0:  # type: ignore[attr-defined]  # a database made without the migration's row
        session.add(ReferenceDataVersion(id=1, version=1))
