"""Consent: sending the request (and reminders), the customer's answer through a signed single-use link."""

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from html import escape

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.db import transaction
from app.domain import lifecycle
from app.domain.contacts import Contact
from app.domain.enums import ActorKind, ClaimAction, ClaimStatus
from app.mail import Message, enqueue
from app.models import Claim, ConsentRequest, Engagement, PartnerAccount
from app.services.claims import CONCURRENT_CHANGE, Actor, ClaimChanged, apply_action, transition_problem
from app.services.contacts import contact_input_problems, contact_record
from app.services.problems import ErrorCode, Problem, Problems
from app.services.records import may_see_claim
from app.services.viewer import Principal

ACCEPT = "ACCEPT"
DECLINE = "DECLINE"


# ------------------------------------------------------------------------------------------------ the link


def _signature(settings: Settings, request_id: int, nonce: str) -> str:
    digest = hmac.new(settings.link_secret.encode(), f"consent:{request_id}:{nonce}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()).decode().rstrip("=")


def consent_token(settings: Settings, request: ConsentRequest) -> str:
    assert request.id is not None
    return f"{request.id}.{_signature(settings, request.id, request.nonce)}"


def consent_url(settings: Settings, request: ConsentRequest) -> str:
    return f"{settings.public_url.rstrip('/')}/consent/{consent_token(settings, request)}"


@dataclass(frozen=True)
class OpenRequest:
    """A consent request a link may answer now, with what the customer is shown."""

    request: ConsentRequest
    claim: Claim
    engagement: Engagement
    partner: PartnerAccount


def _link_problem(code: ErrorCode, message: str) -> Problems:
    return Problems([Problem(code, ("input", "token"), message)])


async def open_request(session: AsyncSession, settings: Settings, token: str, now: datetime) -> OpenRequest:
    """The request a token answers, or Problems: forged or unknown, already answered, expired, no longer open."""
    request_id, _, signature = token.partition(".")
    # ASCII digits only ("¹" is a digit to str.isdigit, not to int), and no number past the 32-bit keys.
    known = request_id.isascii() and request_id.isdigit() and int(request_id) < 2**31
    request = await session.get(ConsentRequest, int(request_id)) if known else None
    if request is None or not hmac.compare_digest(
        signature, _signature(settings, request.id or 0, request.nonce)
    ):
        raise _link_problem(ErrorCode.CONSENT_LINK_INVALID, "This consent link is not valid.")
    if request.responded_at is not None:
        raise _link_problem(ErrorCode.CONSENT_ALREADY_ANSWERED, "This consent request was already answered.")
    if now >= request.expires_at:
        raise _link_problem(ErrorCode.CONSENT_LINK_EXPIRED, "This consent link expired with its deadline.")
    claim = await session.get(Claim, request.claim_id)
    assert claim is not None
    if claim.status != ClaimStatus.AWAITING_CUSTOMER_CONSENT_RESPONSE:
        raise _link_problem(ErrorCode.CONSENT_NO_LONGER_OPEN, "This request no longer waits for an answer.")
    engagement = await session.get(Engagement, claim.engagement_id)
    partner = await session.get(PartnerAccount, claim.partner_id)
    assert engagement is not None and partner is not None
    return OpenRequest(request, claim, engagement, partner)


# ------------------------------------------------------------------------------------------------ sending


def _message(
    settings: Settings, request: ConsentRequest, claim: Claim, engagement: Engagement, partner: str
) -> Message:
    contact = claim.customer_contact
    url = consent_url(settings, request)
    deadline = request.expires_at.strftime("%d %B %Y, %H:%M UTC")
    greeting = f"Hello {contact.get('firstName') or ''},".replace(" ,", ",")
    text = (
        f'{greeting}\n\n{partner} asks for your consent to run the engagement "{engagement.name}" with '
        f"{claim.friendly_name} under the Microsoft Commerce Incentive program.\n\n{engagement.description}\n\n"
        f"Accept or decline here before {deadline}:\n{url}\n\nThe link works once. If you did not expect this "
        "email, you can ignore it.\n"
    )
    html = (
        f"<p>{escape(greeting)}</p><p><strong>{escape(partner)}</strong> asks for your consent to run the "
        f"engagement <strong>{escape(engagement.name)}</strong> with {escape(claim.friendly_name)} under the "
        f"Microsoft Commerce Incentive program.</p><p>{escape(engagement.description)}</p>"
        f'<p><a href="{escape(url)}">Accept or decline</a> before {escape(deadline)}.</p>'
        "<p>The link works once. If you did not expect this email, you can ignore it.</p>"
    )
    return Message(
        recipient=contact["email"],
        subject=f"{partner} asks for your consent: {engagement.name}",
        text=text,
        html=html,
    )


@dataclass(frozen=True)
class SendConsent:
    claim_pk: int | None
    customer_contact: Contact | None = None
    partner_contact: Contact | None = None


async def send_consent(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    viewer: Principal,
    command: SendConsent,
    now: datetime,
) -> tuple[Claim, ConsentRequest] | list[Problem]:
    """First send (CUSTOMER_CLAIMED) or reminder (AWAITING_...): the claim change and the email in one transaction."""
    try:
        async with transaction(sessions, write=True) as session:
            claim = await session.get(Claim, command.claim_pk) if command.claim_pk is not None else None
            if claim is None or not may_see_claim(viewer, claim):
                raise Problems(
                    [Problem(ErrorCode.NOT_FOUND, ("input", "claimId"), "No such claim of yours.")]
                )
            problems = contact_input_problems(
                {"customerContact": command.customer_contact, "partnerContact": command.partner_contact}
            )
            if problems:
                raise Problems(problems)
            waiting = claim.status in (
                ClaimStatus.CUSTOMER_CLAIMED,
                ClaimStatus.AWAITING_CUSTOMER_CONSENT_RESPONSE,
            )
            if waiting and claim.deadline is not None and now >= claim.deadline:
                raise Problems(
                    [
                        Problem(
                            ErrorCode.DEADLINE_PASSED,
                            ("input", "claimId"),
                            "The consent deadline has passed.",
                        )
                    ]
                )
            if command.customer_contact is not None:
                claim.customer_contact = contact_record(command.customer_contact)
            if command.partner_contact is not None:
                claim.partner_contact = contact_record(command.partner_contact)
            resend = claim.status == ClaimStatus.AWAITING_CUSTOMER_CONSENT_RESPONSE
            engagement = await session.get(Engagement, claim.engagement_id)
            partner = await session.get(PartnerAccount, claim.partner_id)
            assert engagement is not None and partner is not None
            actor = Actor(ActorKind.PARTNER_USER, viewer.email, viewer.name)
            action = ClaimAction.RESEND_CONSENT if resend else ClaimAction.SEND_CONSENT
            try:
                await apply_action(session, claim, engagement, action, actor, now)
            except lifecycle.TransitionNotAllowed as error:
                raise Problems([transition_problem(error)]) from error
            request = (
                await session.execute(select(ConsentRequest).where(ConsentRequest.claim_id == claim.id))
            ).scalar_one_or_none()
            recipient = claim.customer_contact["email"]
            if request is None:
                assert claim.id is not None and claim.deadline is not None
                request = ConsentRequest(
                    claim_id=claim.id,
                    recipient_email=recipient,
                    nonce=secrets.token_urlsafe(24),
                    first_sent_at=now,
                    last_sent_at=now,
                    expires_at=claim.deadline,  # the consent deadline; a reminder does not move it
                )
            else:
                request.recipient_email = recipient
                request.last_sent_at = now
                request.send_count += 1
            session.add(request)
            await session.flush()
            await enqueue(
                session,
                _message(settings, request, claim, engagement, partner.name),
                now,
                consent_request_id=request.id,
            )
            return claim, request
    except Problems as error:
        return error.problems
    except ClaimChanged:
        return [CONCURRENT_CHANGE]


# ------------------------------------------------------------------------------------------------ the answer


@dataclass(frozen=True)
class ConsentAnswer:
    accepted: bool
    engagement_name: str
    partner_name: str


async def respond(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, token: str, decision: str, now: datetime
) -> ConsentAnswer | list[Problem]:
    """The customer's answer: ACCEPT → CUSTOMER_CONSENT_RECEIVED (starts the submit timeline), DECLINE → declined."""
    try:
        async with transaction(sessions, write=True) as session:
            opened = await open_request(session, settings, token, now)
            request, claim = opened.request, opened.claim
            contact = claim.customer_contact
            name = f"{contact.get('firstName', '')} {contact.get('lastName', '')}".strip() or None
            actor = Actor(ActorKind.CUSTOMER, request.recipient_email, name)
            action = ClaimAction.ACCEPT_CONSENT if decision == ACCEPT else ClaimAction.DECLINE_CONSENT
            request.responded_at = now
            request.response = decision
            session.add(request)  # written with the claim: its event is the transaction's last write
            await apply_action(session, claim, opened.engagement, action, actor, now)
            return ConsentAnswer(decision == ACCEPT, opened.engagement.name, opened.partner.name)
    except Problems as error:
        return error.problems
    except ClaimChanged:
        return [
            Problem(ErrorCode.CONCURRENT_CHANGE, ("input", "token"), "The claim changed at the same moment.")
        ]


async def consent_requests_by_claim(session: AsyncSession, claim_ids: list[int]) -> dict[int, ConsentRequest]:
    rows = (
        await session.execute(select(ConsentRequest).where(ConsentRequest.claim_id.in_(claim_ids)))  # type: ignore[attr-defined]
    ).scalars()
    return {r.claim_id: r for r in rows}
