"""Consent: sending the request (and reminders), the customer's answer through a signed single-use link.

The consent recipient rules (domain/consent) hold on every send: never the partner itself, a mismatch reason
when the recipient is not at the customer's tenant, a change of contact recorded (UPDATE_CONTACT) and voiding the
earlier link, and the reminder limits."""

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from html import escape

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.db import transaction
from app.domain import lifecycle, nomination
from app.domain.consent import (
    REMINDERS,
    contact_changed,
    customer_organisation,
    next_send_allowed_at,
    recipient_changed,
    reminder_refusal,
    update_contact_comment,
)
from app.domain.contacts import Contact
from app.domain.enums import ActorKind, ClaimAction, ClaimStatus, CustomerIdType
from app.domain.identifiers import Identifier
from app.mail import Message, enqueue
from app.models import Claim, ConsentRequest, Engagement, MailMessage, PartnerAccount
from app.services.claims import (
    CONCURRENT_CHANGE,
    Actor,
    ClaimChanged,
    apply_action,
    available_actions,
    claim_state,
    transition_problem,
)
from app.services.contacts import contact_input_problems, contact_record
from app.services.directory import DatabaseDirectory
from app.services.partner_domains import remember
from app.services.problems import ErrorCode, Problem, Problems, control_problems
from app.services.recipient import REASON_FIELD, check_recipient
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
    return _url(settings, consent_token(settings, request))


def _url(settings: Settings, token: str) -> str:
    return f"{settings.public_url.rstrip('/')}/consent/{token}"


def _link_line(url: str) -> str:
    """How the link stands in the mail's text: on a line of its own (what `_replaced` looks for)."""
    return f"{url}\n"


_MAX_TOKEN = 200  # an id of 10 digits, a dot and a 43-character signature, with room to spare
_TOKEN_CHARACTERS = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_.")


async def _replaced(session: AsyncSession, settings: Settings, request_id: int, token: str) -> bool:
    """Whether `token` is a link this request was mailed with before its recipient changed (and its nonce with
    it): the request's outbox holds a mail with exactly this link. A forged token is in no mail."""
    if not token or not set(token) <= _TOKEN_CHARACTERS:
        return False
    line = _link_line(_url(settings, token))
    mailed = exists().where(
        MailMessage.consent_request_id == request_id,  # type: ignore[arg-type]
        MailMessage.text_body.contains(line, autoescape=True),  # type: ignore[attr-defined]
    )
    return bool(await session.scalar(select(mailed)))


@dataclass(frozen=True)
class OpenRequest:
    """A consent request a link may answer now, with what the customer is shown."""

    request: ConsentRequest
    claim: Claim
    engagement: Engagement
    partner: PartnerAccount
    customer_name: str  # the customer organisation (domain/consent.customer_organisation)


def _link_problem(code: ErrorCode, message: str) -> Problems:
    return Problems([Problem(code, ("input", "token"), message)])


async def open_request(session: AsyncSession, settings: Settings, token: str, now: datetime) -> OpenRequest:
    """The request a token answers, or Problems: forged or unknown, already answered, expired, no longer open."""
    request_id, _, signature = token.partition(".")
    # A link's characters only (a non-ASCII signature cannot be compared); ASCII digits only ("¹" is a digit to
    # str.isdigit, not to int), few enough for int() to read, and no number past the 32-bit keys.
    well_formed = len(token) <= _MAX_TOKEN and set(token) <= _TOKEN_CHARACTERS
    known = well_formed and request_id.isdigit() and len(request_id) <= 10 and int(request_id) < 2**31
    request = await session.get(ConsentRequest, int(request_id)) if known else None
    if request is None or not hmac.compare_digest(
        signature, _signature(settings, request.id or 0, request.nonce)
    ):
        if request is not None and await _replaced(session, settings, int(request_id), token):
            raise _link_problem(
                ErrorCode.CONSENT_LINK_REPLACED,
                "This consent link was replaced by a newer one: please use the latest email about this request.",
            )
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
    return OpenRequest(request, claim, engagement, partner, await customer_name(session, claim))


async def customer_name(session: AsyncSession, claim: Claim) -> str:
    """How the customer's mail and page name the customer: the directory's name, else the identifier."""
    identifier = Identifier(CustomerIdType(claim.id_type), claim.id_value)
    entry = await DatabaseDirectory(session).lookup(identifier, with_domains=False)
    return customer_organisation(entry.name, claim.id_value)


# ------------------------------------------------------------------------------------------------ sending


def _message(
    settings: Settings,
    request: ConsentRequest,
    claim: Claim,
    engagement: Engagement,
    partner: str,
    customer: str,
) -> Message:
    """The mail names the partner organisation, the engagement and the customer organisation (`customer`), never
    the partner's internal friendly name (DOMAIN.md)."""
    contact = claim.customer_contact
    url = consent_url(settings, request)
    deadline = request.expires_at.strftime("%d %B %Y, %H:%M UTC")
    greeting = f"Hello {contact.get('firstName') or ''},".replace(" ,", ",")
    text = (
        f'{greeting}\n\n{partner} asks for the consent of {customer} to run the engagement "{engagement.name}" '
        f"under the Microsoft Commerce Incentive program.\n\n{engagement.description}\n\n"
        f"Accept or decline here before {deadline}:\n{_link_line(url)}\nThe link works once. If you did not "
        "expect this email, you can ignore it.\n"
    )
    html = (
        f"<p>{escape(greeting)}</p><p><strong>{escape(partner)}</strong> asks for the consent of "
        f"<strong>{escape(customer)}</strong> to run the engagement <strong>{escape(engagement.name)}</strong> "
        f"under the Microsoft Commerce Incentive program.</p><p>{escape(engagement.description)}</p>"
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
    tenant_mismatch_reason: str | None = None


def _not_found() -> Problems:
    return Problems([Problem(ErrorCode.NOT_FOUND, ("input", "claimId"), "No such claim of yours.")])


def next_reminder_at(request: ConsentRequest) -> datetime | None:
    """When the request may next be sent (REMINDERS); None when it never may again (answered, or every send
    used)."""
    if request.responded_at is not None:
        return None
    return next_send_allowed_at(REMINDERS, request.send_count, request.last_sent_at)


def reminder_allowed(request: ConsentRequest | None, now: datetime) -> bool:
    """Whether a re-send (RESEND_CONSENT) of this request succeeds now, as far as the reminder limits go."""
    if request is None:
        return True
    at = next_reminder_at(request)
    return at is not None and at <= now


def partner_actions(claim: Claim, request: ConsentRequest | None, now: datetime) -> list[ClaimAction]:
    """What a partner user may do to the claim now: the lifecycle's actions, without RESEND_CONSENT while the
    reminder limits refuse it (DOMAIN.md: rows offer only what succeeds)."""
    actions = available_actions(claim, ActorKind.PARTNER_USER)
    if ClaimAction.RESEND_CONSENT in actions and not reminder_allowed(request, now):
        actions.remove(ClaimAction.RESEND_CONSENT)
    return actions


async def send_consent(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    viewer: Principal,
    command: SendConsent,
    now: datetime,
) -> tuple[Claim, ConsentRequest] | list[Problem]:
    """First send (CUSTOMER_CLAIMED) or reminder (AWAITING_...), with the contacts as given (or as they are):
    the claim change, its events (UPDATE_CONTACT when the customer contact changes, then the send) and the email
    in one transaction; nothing written when refused."""
    try:
        async with transaction(sessions, write=True) as session:
            claim = await session.get(Claim, command.claim_pk) if command.claim_pk is not None else None
            if claim is None or not may_see_claim(viewer, claim):
                raise _not_found()
            problems = contact_input_problems(
                {"customerContact": command.customer_contact, "partnerContact": command.partner_contact}
            )
            given_reason = command.tenant_mismatch_reason
            problems += control_problems(REASON_FIELD, given_reason, multiline=True)
            if given_reason is not None and len(given_reason) > nomination.MAX_MISMATCH_REASON:
                problems.append(
                    Problem(
                        ErrorCode.INVALID_INPUT,
                        REASON_FIELD,
                        f"At most {nomination.MAX_MISMATCH_REASON} characters.",
                    )
                )
            if problems:
                raise Problems(problems)
            resend = claim.status == ClaimStatus.AWAITING_CUSTOMER_CONSENT_RESPONSE
            action = ClaimAction.RESEND_CONSENT if resend else ClaimAction.SEND_CONSENT
            try:
                lifecycle.next_state(claim_state(claim), action, ActorKind.PARTNER_USER)
            except lifecycle.TransitionNotAllowed as error:
                raise Problems([transition_problem(error)]) from error
            if claim.deadline is not None and now >= claim.deadline:
                raise Problems(
                    [
                        Problem(
                            ErrorCode.DEADLINE_PASSED,
                            ("input", "claimId"),
                            "The consent deadline has passed.",
                        )
                    ]
                )
            request = (
                await session.execute(select(ConsentRequest).where(ConsentRequest.claim_id == claim.id))
            ).scalar_one_or_none()
            if request is not None:
                refused = reminder_refusal(REMINDERS, request.send_count, request.last_sent_at, now)
                if refused is not None:
                    problems.append(Problem(ErrorCode.REMINDER_LIMIT, ("input", "claimId"), refused.message))

            before = dict(claim.customer_contact)
            after = (
                contact_record(command.customer_contact) if command.customer_contact is not None else before
            )
            partner_contact = (
                contact_record(command.partner_contact)
                if command.partner_contact is not None
                else dict(claim.partner_contact)
            )
            was_to, goes_to = str(before["email"] or ""), str(after["email"] or "")
            partner_email = str(partner_contact["email"] or "")
            new_recipient = recipient_changed(was_to, goes_to)
            identifier = Identifier(CustomerIdType(claim.id_type), claim.id_value)
            entry = await DatabaseDirectory(session).lookup(identifier)
            # The reason kept for this recipient stands while the recipient does; a new one needs its own.
            reason = (
                given_reason
                if (given_reason or "").strip() or new_recipient
                else claim.tenant_mismatch_reason
            )
            recipient = await check_recipient(
                session,
                claim.partner_id,
                entry.tenant_domains,
                goes_to,
                partner_email,
                reason,
            )
            problems += recipient.problems
            if problems:
                raise Problems(problems)

            engagement = await session.get(Engagement, claim.engagement_id)
            partner = await session.get(PartnerAccount, claim.partner_id)
            assert engagement is not None and partner is not None
            actor = Actor(ActorKind.PARTNER_USER, viewer.email, viewer.name)
            changed = contact_changed(before, after)
            claim.customer_contact = after
            claim.partner_contact = partner_contact
            claim.tenant_mismatch_reason = recipient.reason
            await remember(session, [(claim.partner_id, partner_email)], known=recipient.partner_domains)
            if changed:
                comment = update_contact_comment(was_to, goes_to, recipient.reason)
                await apply_action(
                    session, claim, engagement, ClaimAction.UPDATE_CONTACT, actor, now, comment=comment
                )
            await apply_action(session, claim, engagement, action, actor, now)
            if request is None:
                assert claim.id is not None and claim.deadline is not None
                request = ConsentRequest(
                    claim_id=claim.id,
                    recipient_email=goes_to,
                    nonce=_nonce(),
                    first_sent_at=now,
                    last_sent_at=now,
                    expires_at=claim.deadline,  # the consent deadline; a reminder does not move it
                )
            else:
                if new_recipient:  # a new link: the one mailed to the earlier recipient no longer answers
                    request.nonce = _nonce()
                request.recipient_email = goes_to
                request.last_sent_at = now
                request.send_count += 1
            session.add(request)
            await session.flush()
            organisation = customer_organisation(entry.name, claim.id_value)
            await enqueue(
                session,
                _message(settings, request, claim, engagement, partner.name, organisation),
                now,
                consent_request_id=request.id,
            )
            return claim, request
    except Problems as error:
        return error.problems
    except ClaimChanged:
        return [CONCURRENT_CHANGE]


def _nonce() -> str:
    return secrets.token_urlsafe(24)


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
            # Credited to the request's recipient at answer time: the link it holds is the only one that answers.
            contact = claim.customer_contact
            name = None
            if not recipient_changed(contact.get("email") or "", request.recipient_email):
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
