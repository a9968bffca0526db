"""The consent recipient (DOMAIN.md, Decision): who the consent request may go to, when a mismatch reason is
needed, what a change of contact is, how often a request may be sent, and how the customer's mail names things.

Consent is what the incentive pays on, so it must come from the customer. Each rule is a pure function over
facts the caller gathered (the customer's tenant domains from the directory, the partner's own domains); the
services apply them on every path that sets or changes the customer contact: addCustomer, claimCustomer,
sendConsent (first send and re-send) and the add-customer preview.
"""

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from app.domain.identifiers import email_domain


def belongs_to(domain: str, owner_domain: str) -> bool:
    """Decision: a domain covers its subdomains (mail.contoso.com belongs to contoso.com); any case."""
    domain, owner_domain = domain.strip().lower(), owner_domain.strip().lower()
    return bool(owner_domain) and (domain == owner_domain or domain.endswith("." + owner_domain))


def _at_one_of(email: str, domains: Collection[str]) -> bool:
    domain = email_domain(email)
    return domain is not None and any(belongs_to(domain, d) for d in domains)


# ------------------------------------------------------------------------------------ the mismatch reason


def tenant_mismatch_reason_required(
    tenant_domains: Collection[str], contact_email: str | None
) -> bool | None:
    """Whether the partner must give a mismatch reason for this customer contact, for any identifier type.

    `tenant_domains`: the domains of the customer's tenant as the directory knows them (a domain, tenant ID or
    subscription: its tenant's; a TPID: those of every tenant under it; an MSX opportunity: its tenant's).
    - None when no email is given yet (the preview before the email is typed): nothing to judge.
    - True when the email's domain is not one of `tenant_domains` nor a subdomain of one. Decision: with no
      tenant domain known (an MSX opportunity without a tenant, a tenant with no domain) or an email that is not
      an address, no match can be shown, so a reason is required.
    """
    if contact_email is None or not contact_email.strip():
        return None
    return not _at_one_of(contact_email, tenant_domains)


def kept_reason(required: bool, given: str | None) -> str | None:
    """The reason a claim keeps: the one given (trimmed), only when one is required; None otherwise."""
    reason = (given or "").strip() or None
    return reason if required else None


# ------------------------------------------------------------------------------- never the partner itself


def recipient_is_partner(contact_email: str, partner_domains: Collection[str]) -> bool:
    """The recipient is at a domain of the partner itself (its users', its partner contacts', or a subdomain of
    one): consent could then be self-granted. Refused with or without a mismatch reason (RECIPIENT_IS_PARTNER)."""
    return _at_one_of(contact_email, partner_domains)


def partner_domains_with(partner_domains: Collection[str], *emails: str | None) -> frozenset[str]:
    """The partner's domains, plus those of these addresses of its own (e.g. the partner contact being set)."""
    extra = {d for e in emails if e and (d := email_domain(e)) is not None}
    return frozenset(d.strip().lower() for d in partner_domains) | extra


# --------------------------------------------------------------------------------------- a contact change


def contact_changed(before: Mapping[str, Any], after: Mapping[str, Any]) -> bool:
    """Whether the stored customer contact (the API's field names) changes: any of its fields."""
    fields = ("firstName", "lastName", "email", "phone", "jobTitle")
    return any((before.get(f) or None) != (after.get(f) or None) for f in fields)


def recipient_changed(before_email: str, after_email: str) -> bool:
    """A new recipient: the earlier link is voided and a new one is mailed (DOMAIN.md)."""
    return before_email.strip().lower() != after_email.strip().lower()


def update_contact_comment(before_email: str, after_email: str, reason: str | None) -> str:
    """The history's comment on an UPDATE_CONTACT event: who the request now goes to, and the mismatch reason."""
    if recipient_changed(before_email, after_email):
        text = f"Customer contact changed from {before_email} to {after_email}."
    else:
        text = f"Customer contact details changed ({after_email})."
    return f"{text} Tenant mismatch reason: {reason}" if reason else text


def creation_comment(reason: str | None) -> str | None:
    """The history's comment on a CREATE event: the mismatch reason, when one was given and needed."""
    return f"Tenant mismatch reason: {reason}" if reason else None


# -------------------------------------------------------------------------------------------- reminders


@dataclass(frozen=True)
class ReminderPolicy:
    """How often one consent request may be sent (DOMAIN.md: data values). Every send counts, whoever it goes
    to: a re-send after a change of contact is timed like any reminder (Decision), so changing the contact is
    no way around the limits."""

    max_sends: int = 5  # the first send and the reminders, per consent request
    first_reminder_at_once: bool = True  # the customer says nothing arrived
    interval: timedelta = timedelta(hours=24)  # after the first reminder: at most one reminder per interval


REMINDERS = ReminderPolicy()


def next_send_allowed_at(policy: ReminderPolicy, send_count: int, last_sent_at: datetime) -> datetime | None:
    """When the request may next be sent (at or before now: at once), or None when it may never be again.

    With `interval` between consecutive reminders after the first, any window of that length holds at most one
    of them."""
    if send_count >= policy.max_sends:
        return None
    if send_count <= 1 and policy.first_reminder_at_once:
        return last_sent_at
    return last_sent_at + policy.interval


@dataclass(frozen=True)
class ReminderRefused:
    """Why a reminder cannot be sent now; `next_allowed_at` is None when the request reached its last send."""

    next_allowed_at: datetime | None
    message: str


def reminder_refusal(
    policy: ReminderPolicy, send_count: int, last_sent_at: datetime, now: datetime
) -> ReminderRefused | None:
    """None when a reminder may be sent now; else why not, with the instant the next one is allowed."""
    at = next_send_allowed_at(policy, send_count, last_sent_at)
    if at is None:
        return ReminderRefused(
            None, f"This consent request was sent {send_count} times, the most allowed: no more reminders."
        )
    if now < at:
        return ReminderRefused(
            at,
            f"At most one reminder per {_duration(policy.interval)} after the first: the next one can be sent "
            f"from {at.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}.",
        )
    return None


def _duration(interval: timedelta) -> str:
    hours = interval.total_seconds() / 3600
    return f"{hours:g} hours"


# ------------------------------------------------------------------------------- what the customer reads


def customer_organisation(directory_name: str | None, identifier_value: str) -> str:
    """How the customer's mail and consent page name the customer: the directory's name, else the identifier;
    never the partner's internal friendly name."""
    return (directory_name or "").strip() or identifier_value
