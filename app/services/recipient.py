"""The consent recipient rules (domain/consent) as every path that sets or changes the customer contact applies
them: addCustomer, claimCustomer and sendConsent (first send and re-send). One check, so the paths cannot drift.
"""

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.consent import (
    kept_reason,
    partner_domains_with,
    recipient_is_partner,
    tenant_mismatch_reason_required,
)
from app.services.partner_domains import partner_domains
from app.services.problems import ErrorCode, Path, Problem

RECIPIENT_FIELD: Path = ("input", "customerContact", "email")
REASON_FIELD: Path = ("input", "tenantMismatchReason")


@dataclass(frozen=True)
class RecipientCheck:
    problems: list[Problem]
    reason: str | None  # the mismatch reason the claim keeps (None when none is needed)
    partner_domains: frozenset[
        str
    ]  # the partner's domains as read (what `partner_domains.remember` may skip)


def mismatch_reason_problem() -> Problem:
    return Problem(
        ErrorCode.TENANT_MISMATCH_REASON_REQUIRED,
        REASON_FIELD,
        "The customer contact's email domain is not one of the customer's tenant's domains (or no domain of the "
        "tenant is known): give a reason.",
    )


def recipient_is_partner_problem(field: Path = RECIPIENT_FIELD) -> Problem:
    return Problem(
        ErrorCode.RECIPIENT_IS_PARTNER,
        field,
        "Consent must come from the customer: this address is at a domain of your own organisation.",
    )


async def check_recipient(
    session: AsyncSession,
    partner_id: int,
    tenant_domains: Collection[str] | None,
    customer_email: str,
    partner_email: str,
    reason: str | None,
) -> RecipientCheck:
    """Whether `customer_email` may receive the partner's consent request: never at a domain of the partner
    (its recorded domains and `partner_email`, the partner contact being set), and with a `reason` unless it is
    at one of the customer's `tenant_domains` (None: the customer is not in the directory, which is its own
    problem, IDENTIFIER_NOT_FOUND; no reason is asked then). One statement (the partner's domains)."""
    # An empty `customer_email`: none to judge (the caller reports it as invalid input).
    required = tenant_domains is not None and bool(
        tenant_mismatch_reason_required(tenant_domains, customer_email)
    )
    kept = kept_reason(required, reason)
    own = await partner_domains(session, partner_id)
    if recipient_is_partner(customer_email, partner_domains_with(own, partner_email)):
        # Refused with or without a reason: asking for one as well would only mislead.
        return RecipientCheck([recipient_is_partner_problem()], kept, own)
    problems = [mismatch_reason_problem()] if required and kept is None else []
    return RecipientCheck(problems, kept, own)
