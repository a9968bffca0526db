"""The domain's enums as GraphQL enums, each value described (GraphiQL is the documentation)."""

from collections.abc import Mapping
from enum import Enum
from typing import TypeVar

import strawberry

from app.domain import enums as domain

E = TypeVar("E", bound=type[Enum])


def expose(enum: E, description: str, values: Mapping[str, str]) -> E:
    """Wrap a domain enum for GraphQL; every member must be described, so a new one cannot slip in bare."""
    undescribed = {member.name for member in enum} ^ set(values)
    assert not undescribed, f"{enum.__name__}: describe exactly its members ({sorted(undescribed)})"
    strawberry.enum(enum, description=description)
    for value in enum.__strawberry_definition__.values:  # type: ignore[attr-defined]
        value.description = values[value.name]
    return enum


IncentivesRole = expose(
    domain.IncentivesRole,
    "A partner user's role in the incentives program.",
    {
        "INCENTIVES_ADMIN": "Sees and acts for every location of the partner account.",
        "INCENTIVES_USER": "Sees and acts only for the locations where the role is held.",
    },
)

EngagementType = expose(
    domain.EngagementType,
    "The kind of engagement; it sets the default timelines.",
    {
        "ASSESSMENT": "An assessment.",
        "WORKSHOP": "A workshop.",
        "PROJECT_XS": "An extra-small project.",
        "PROJECT_S": "A small project.",
        "PROJECT_M": "A medium project.",
        "PROJECT_L": "A large project.",
        "PROJECT_XL": "An extra-large project.",
        "PROJECT_XXL": "A double-extra-large project.",
    },
)

PayType = expose(
    domain.PayType,
    "How an engagement pays.",
    {
        "FIXED": "A fixed amount; customers are nominated by domain, tenant, TPID or subscription.",
        "VARIABLE": "Paid by hours and deal size; customers are nominated by MSX opportunity ID only.",
    },
)

CustomerIdType = expose(
    domain.CustomerIdType,
    "The kind of identifier a customer is nominated with.",
    {
        "DOMAIN_NAME": "A domain of the customer (resolved to its tenant), e.g. `contoso.com`.",
        "TENANT_ID": "A Microsoft Entra tenant ID (GUID).",
        "TPID": "A Top Parent ID: 1 to 12 digits.",
        "AZURE_SUBSCRIPTION_ID": "An Azure subscription ID (GUID).",
        "MSX_OPPORTUNITY_ID": "A Microsoft Sales Experience opportunity ID, e.g. `7-3FS2XQBWAO`.",
    },
)

IneligibilityReason = expose(
    domain.IneligibilityReason,
    "Why a customer or a location cannot be nominated for an engagement.",
    {
        "CRITERIA_NOT_MET": "The identifier does not meet the engagement's customer criteria.",
        "NOT_FOUND": "The identifier could not be found in the customer directory.",
        "ID_TYPE_NOT_ALLOWED": "The engagement does not accept this kind of identifier.",
        "CLAIM_LIMIT_REACHED": "The customer already has as many active claims as the engagement allows.",
        "ALREADY_PARTICIPATED": "The customer already completed this engagement as often as it allows.",
        "ENGAGEMENT_CLOSED": "The engagement accepts no new claims.",
        "LOCATION_NOT_ENROLLED": "The partner location is not enrolled in MCI.",
        "LOCATION_NOT_ELIGIBLE": "The partner location is not eligible for this engagement.",
    },
)

Market = expose(
    domain.Market,
    "The variable-pay market of a partner location's country; it sets the hourly rate.",
    {"A": "Market A.", "B": "Market B.", "C": "Market C (also every country not listed)."},
)
