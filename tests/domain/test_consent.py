"""The consent recipient rules (app/domain/consent.py) as pure functions."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.consent import (
    REMINDERS,
    ReminderPolicy,
    belongs_to,
    contact_changed,
    creation_comment,
    customer_organisation,
    kept_reason,
    next_send_allowed_at,
    partner_domains_with,
    recipient_changed,
    recipient_is_partner,
    reminder_refusal,
    tenant_mismatch_reason_required,
    update_contact_comment,
)
from app.domain.enums import ActorKind, ClaimAction, ClaimStatus
from app.domain.lifecycle import ClaimState, available_actions, next_state

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.mark.parametrize(
    ("domains", "email", "required"),
    [
        (["contoso.com"], "ana@contoso.com", False),
        (["Contoso.com", "contoso.onmicrosoft.com"], "ana@CONTOSO.COM", False),
        (["contoso.com"], "ana@mail.contoso.com", False),  # a subdomain of one
        (["contoso.com", "fabrikam.com"], "ana@fabrikam.com", False),  # any of them (e.g. a TPID's tenants)
        (["contoso.com"], "ana@fabrikam.com", True),
        (["contoso.com"], "ana@notcontoso.com", True),  # a suffix is not a subdomain
        (["contoso.com"], "ana@contoso.com.evil", True),
        ([], "ana@contoso.com", True),  # no tenant domain known (e.g. an opportunity without tenant)
        (["contoso.com"], "not an email", True),
        (["contoso.com"], None, None),  # no email yet: nothing to judge (the preview)
        (["contoso.com"], "   ", None),
    ],
)
def test_tenant_mismatch_reason_required(
    domains: list[str], email: str | None, required: bool | None
) -> None:
    assert tenant_mismatch_reason_required(domains, email) is required


def test_a_reason_is_kept_trimmed_and_only_when_required() -> None:
    assert kept_reason(True, "  The holding signs.  ") == "The holding signs."
    assert kept_reason(True, "   ") is None
    assert kept_reason(True, None) is None
    assert kept_reason(False, "not needed") is None


@pytest.mark.parametrize(
    ("email", "own", "refused"),
    [
        ("ana@contoso-partners.example", ["contoso-partners.example"], True),
        ("ANA@Contoso-Partners.Example", ["contoso-partners.example"], True),
        ("ana@eu.contoso-partners.example", ["contoso-partners.example"], True),  # a subdomain
        ("ana@northwind.example", ["contoso-partners.example"], False),
        ("ana@partners.example", ["contoso-partners.example"], False),
        ("ana@northwind.example", [], False),
        ("not an email", ["contoso-partners.example"], False),  # refused elsewhere, as an invalid email
    ],
)
def test_the_recipient_is_never_the_partner(email: str, own: list[str], refused: bool) -> None:
    assert recipient_is_partner(email, own) is refused


def test_the_partner_contact_being_set_counts_as_the_partners() -> None:
    own = partner_domains_with(["contoso-partners.example"], "megan@Contoso-Consulting.example", None, "x")
    assert own == {"contoso-partners.example", "contoso-consulting.example"}
    assert recipient_is_partner("ana@contoso-consulting.example", own)


@given(st.from_regex(r"[a-z]{1,8}(\.[a-z]{1,8}){1,3}", fullmatch=True))
def test_a_domain_belongs_to_itself_and_covers_its_subdomains(domain: str) -> None:
    assert belongs_to(domain, domain)
    assert belongs_to(f"mail.{domain}", domain)
    assert not belongs_to(domain, f"mail.{domain}")
    assert not belongs_to(f"x{domain}", domain)


def test_a_contact_change_and_a_recipient_change() -> None:
    before = {"firstName": "Nancy", "lastName": "Davolio", "email": "nancy@northwind.example", "phone": None}
    assert not contact_changed(before, dict(before, jobTitle=None))
    assert not contact_changed(before, dict(before, phone=""))  # empty and missing are the same
    assert contact_changed(before, dict(before, phone="+1 425 555 0101"))
    assert contact_changed(before, dict(before, email="andrew@northwind.example"))
    assert not recipient_changed("nancy@northwind.example", " Nancy@Northwind.example")
    assert recipient_changed("nancy@northwind.example", "andrew@northwind.example")


def test_the_history_comments() -> None:
    changed = update_contact_comment("a@northwind.example", "b@holding.example", "Group IT signs.")
    assert changed == (
        "Customer contact changed from a@northwind.example to b@holding.example. "
        "Tenant mismatch reason: Group IT signs."
    )
    assert update_contact_comment("a@x.example", "a@x.example", None) == (
        "Customer contact details changed (a@x.example)."
    )
    assert creation_comment("Group IT signs.") == "Tenant mismatch reason: Group IT signs."
    assert creation_comment(None) is None


# --------------------------------------------------------------------------------------------- reminders


def test_the_first_reminder_may_follow_at_once() -> None:
    assert next_send_allowed_at(REMINDERS, 1, T0) == T0
    assert reminder_refusal(REMINDERS, 1, T0, T0) is None


def test_after_the_first_reminder_one_per_24_hours() -> None:
    refused = reminder_refusal(REMINDERS, 2, T0, T0 + 23 * HOUR)
    assert refused is not None and refused.next_allowed_at == T0 + 24 * HOUR
    assert "2026-03-02T09:00:00Z" in refused.message
    assert reminder_refusal(REMINDERS, 2, T0, T0 + 24 * HOUR) is None


def test_five_sends_in_all() -> None:
    assert reminder_refusal(REMINDERS, 4, T0, T0 + 24 * HOUR) is None
    refused = reminder_refusal(REMINDERS, 5, T0, T0 + 1000 * HOUR)
    assert refused is not None and refused.next_allowed_at is None
    assert next_send_allowed_at(REMINDERS, 5, T0) is None


def test_the_numbers_are_data() -> None:
    strict = ReminderPolicy(max_sends=2, first_reminder_at_once=False, interval=timedelta(hours=48))
    assert next_send_allowed_at(strict, 1, T0) == T0 + 48 * HOUR
    assert next_send_allowed_at(strict, 2, T0) is None


@given(st.lists(st.integers(min_value=0, max_value=72 * 60), min_size=1, max_size=12))
def test_sends_that_follow_the_policy_never_break_it(waits: list[int]) -> None:
    """Whatever the partner tries, the sends allowed keep at most one reminder (after the first) in any 24
    hours and five sends in all."""
    sent = [T0]
    now = T0
    for minutes in waits:
        now += timedelta(minutes=minutes)
        if reminder_refusal(REMINDERS, len(sent), sent[-1], now) is None:
            sent.append(now)
    assert len(sent) <= REMINDERS.max_sends
    later_reminders = sent[2:]
    for earlier, later in zip(sent[1:], later_reminders, strict=False):
        assert later - earlier >= REMINDERS.interval


def test_the_customer_organisation_is_never_the_friendly_name() -> None:
    assert customer_organisation("Northwind Traders", "northwind.example") == "Northwind Traders"
    assert customer_organisation(None, "7-3FS2XQBWAO") == "7-3FS2XQBWAO"
    assert customer_organisation("  ", "7-3FS2XQBWAO") == "7-3FS2XQBWAO"


# ------------------------------------------------------------------------------------ UPDATE_CONTACT


@pytest.mark.parametrize(
    "status", [ClaimStatus.CUSTOMER_CLAIMED, ClaimStatus.AWAITING_CUSTOMER_CONSENT_RESPONSE]
)
def test_a_contact_change_keeps_the_status(status: ClaimStatus) -> None:
    state = ClaimState(status)
    assert next_state(state, ClaimAction.UPDATE_CONTACT, ActorKind.PARTNER_USER) == state
    # Done with a send (sendConsent), never offered on its own.
    assert ClaimAction.UPDATE_CONTACT not in available_actions(state, ActorKind.PARTNER_USER)


@pytest.mark.parametrize(
    "status",
    [
        s
        for s in ClaimStatus
        if s not in (ClaimStatus.CUSTOMER_CLAIMED, ClaimStatus.AWAITING_CUSTOMER_CONSENT_RESPONSE)
    ],
)
def test_the_contact_is_locked_once_consent_is_answered(status: ClaimStatus) -> None:
    with pytest.raises(ValueError):
        next_state(ClaimState(status), ClaimAction.UPDATE_CONTACT, ActorKind.PARTNER_USER)


def test_only_a_partner_changes_the_contact() -> None:
    state = ClaimState(ClaimStatus.AWAITING_CUSTOMER_CONSENT_RESPONSE)
    for actor in (ActorKind.CUSTOMER, ActorKind.REVIEWER, ActorKind.SYSTEM):
        with pytest.raises(ValueError):
            next_state(state, ClaimAction.UPDATE_CONTACT, actor)
