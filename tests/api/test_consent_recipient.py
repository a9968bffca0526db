"""The consent recipient (DOMAIN.md, Decision) through HTTP, on every path that sets or changes the customer
contact: addCustomer, claimCustomer, sendConsent (first send and re-send) and the preview. Consent is what the
incentive pays on: it must come from the customer, from the newest link, at a bounded pace."""

import re
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from tests.api.claim_flow import RESPOND, act, reviewer_token
from tests.api.claim_flow import claim as read_claim
from tests.api.nominating import (
    CLAIM,
    PARTNER_CONTACT,
    add,
    add_input,
    contact,
    errors,
    global_ids,
    mark_consented,
    preview,
    row_counts,
)
from tests.conftest import Api, SmtpSink
from tests.demo import (
    CONTOSO_ADMIN,
    FABRIKAM_ADMIN,
    NORTHWIND_DOMAIN,
    NORTHWIND_TENANT,
    SEATTLE,
)

ENGAGEMENT = "copilot-readiness-assessment"
SEND = """mutation($input: SendConsentInput!) { sendConsent(input: $input) {
  claim { id status deadline tenantMismatchReason availableActions customerContact { email firstName } }
  consentRequest { recipient sendCount lastSentAt nextReminderAllowedAt remainingSends }
  userErrors { code field message } } }"""
READ = """query($id: ID!) { claim(id: $id) {
  status deadline tenantMismatchReason availableActions customerContact { firstName email }
  consentRequest { recipient sendCount nextReminderAllowedAt remainingSends }
  history(first: 50) { edges { node { action fromStatus toStatus actor { kind name } comment occurredAt } } } } }"""
ROW = """query($id: ID!) { node(id: $id) { ... on Engagement {
  customers(tab: ELIGIBLE, first: 50) { edges { claim { id } availableActions } } } } }"""


@pytest.fixture
async def timed_api(clean_api: Api) -> AsyncIterator[Api]:
    """`clean_api` for a test that moves the clock: set back to the wall clock's time after it."""
    yield clean_api
    clean_api.clock.offset = timedelta(0)


def _address(domain: str = "northwind.example", name: str = "nancy") -> str:
    return f"{name}.{uuid.uuid4().hex[:8]}@{domain}"


def _person(email: str, first: str = "Nancy", last: str = "Davolio") -> dict[str, str]:
    return {"firstName": first, "lastName": last, "email": email}


async def _added(api: Api, recipient: str, **extra: Any) -> str:
    """A claim on Northwind (by domain) at Seattle, for `recipient`; its id."""
    payload = await add(
        api,
        CONTOSO_ADMIN,
        location=SEATTLE,
        id_type=extra.pop("id_type", "DOMAIN_NAME"),
        id_value=extra.pop("id_value", NORTHWIND_DOMAIN),
        engagements=[ENGAGEMENT],
        friendly_name="Project Bluebird (internal)",
        customer_contact=_person(recipient),
        **extra,
    )
    assert payload["userErrors"] == [], payload["userErrors"]
    return payload["claims"][0]["id"]


async def _send(api: Api, claim_id: str, **fields: Any) -> dict[str, Any]:
    response = await api.graphql(SEND, {"input": {"claimId": claim_id, **fields}}, as_user=CONTOSO_ADMIN)
    return response.data["sendConsent"]


async def _read(api: Api, claim_id: str, token: str | None = None) -> dict[str, Any]:
    if token is not None:
        return (await api.graphql(READ, {"id": claim_id}, token=token)).data["claim"]
    return (await api.graphql(READ, {"id": claim_id}, as_user=CONTOSO_ADMIN)).data["claim"]


def _history(claim: dict[str, Any]) -> list[dict[str, Any]]:
    return [edge["node"] for edge in claim["history"]["edges"]]


def _token(message: Any) -> str:
    text_part = message.get_body(preferencelist=("plain",)).get_content()
    return re.search(r"/consent/(\S+)", text_part).group(1)


async def _outbox(api: Api) -> int:
    async with api.database.engine.connect() as conn:
        return (await conn.execute(text("SELECT COUNT(*) FROM mail_outbox"))).scalar_one()


# ------------------------------------------------------------------------------ mismatch reason on sendConsent


async def test_send_consent_to_another_domain_needs_a_reason_and_changes_nothing(timed_api, smtp):
    api = timed_api
    first = _address()
    claim_id = await _added(api, first)
    assert (await _send(api, claim_id))["userErrors"] == []
    before, mails = await _read(api, claim_id), await _outbox(api)

    elsewhere = _person(_address("holding.example"), "Andrew", "Fuller")
    for reason in (None, "   "):
        refused = await _send(api, claim_id, customerContact=elsewhere, tenantMismatchReason=reason)
        assert errors(refused) == [("TENANT_MISMATCH_REASON_REQUIRED", ("input", "tenantMismatchReason"))]
        assert refused["claim"] is None
    assert await _read(api, claim_id) == before  # contact, history, send count: all as they were
    assert await _outbox(api) == mails  # no mail

    reason = "Northwind's holding signs for its subsidiaries."
    sent = await _send(api, claim_id, customerContact=elsewhere, tenantMismatchReason=reason)
    assert sent["userErrors"] == []
    assert sent["claim"]["tenantMismatchReason"] == reason
    assert sent["claim"]["customerContact"]["email"] == elsewhere["email"]
    after = await _read(api, claim_id)
    assert after["deadline"] == before["deadline"]  # a contact change and a reminder never move it
    history = _history(after)
    assert [(e["action"], e["fromStatus"], e["toStatus"]) for e in history[-2:]] == [
        ("UPDATE_CONTACT", "AWAITING_CUSTOMER_CONSENT_RESPONSE", "AWAITING_CUSTOMER_CONSENT_RESPONSE"),
        ("RESEND_CONSENT", "AWAITING_CUSTOMER_CONSENT_RESPONSE", "AWAITING_CUSTOMER_CONSENT_RESPONSE"),
    ]
    update = history[-2]
    assert update["actor"]["kind"] == "PARTNER_USER" and update["actor"]["name"]
    assert (
        first in update["comment"] and elsewhere["email"] in update["comment"] and reason in update["comment"]
    )
    assert [e["occurredAt"] for e in history] == sorted(e["occurredAt"] for e in history)

    # The reason stands while the recipient does (a reminder to the same address needs none) ...
    api.clock.offset += timedelta(hours=24)
    again = await _send(api, claim_id)
    assert again["userErrors"] == [] and again["claim"]["tenantMismatchReason"] == reason
    # ... and back at the tenant's domain, none is needed nor kept.
    api.clock.offset += timedelta(hours=24)
    home = await _send(api, claim_id, customerContact=_person(_address()))
    assert home["userErrors"] == [] and home["claim"]["tenantMismatchReason"] is None


async def test_changing_the_contact_before_the_first_send_is_recorded_too(clean_api, smtp):
    api = clean_api
    claim_id = await _added(api, _address())
    new_recipient = _address(name="andrew")
    sent = await _send(api, claim_id, customerContact=_person(new_recipient, "Andrew", "Fuller"))
    assert sent["userErrors"] == []
    history = _history(await _read(api, claim_id))
    assert [(e["action"], e["fromStatus"], e["toStatus"]) for e in history] == [
        ("CREATE", None, "CUSTOMER_CLAIMED"),
        ("UPDATE_CONTACT", "CUSTOMER_CLAIMED", "CUSTOMER_CLAIMED"),
        ("SEND_CONSENT", "CUSTOMER_CLAIMED", "AWAITING_CUSTOMER_CONSENT_RESPONSE"),
    ]
    assert (await smtp.wait_for(new_recipient))[0]["To"] == new_recipient


async def test_the_reason_is_shown_to_the_reviewer_and_in_the_history(clean_api, smtp):
    api = clean_api
    reason = "The CIO signs from the group's address."
    recipient = _address("group.example")
    claim_id = await _added(
        api, recipient, id_type="TENANT_ID", id_value=NORTHWIND_TENANT, tenantMismatchReason=reason
    )
    created = _history(await _read(api, claim_id))[0]
    assert created["action"] == "CREATE" and reason in created["comment"]
    assert (await _send(api, claim_id))["userErrors"] == []  # the same recipient: the kept reason stands
    token = _token((await smtp.wait_for(recipient))[0])
    accepted = (await api.graphql(RESPOND, {"token": token, "decision": "ACCEPT"})).data["respondToConsent"]
    assert accepted["accepted"] is True
    assert (await act(api, "submitClaim", claim_id))["claim"]["status"] == "SUBMITTED"
    seen = await _read(api, claim_id, token=reviewer_token(api))
    assert seen["tenantMismatchReason"] == reason
    assert reason in _history(seen)[0]["comment"]


# ----------------------------------------------------------------------------------- never the partner itself


async def test_the_recipient_is_never_at_the_partners_domain_on_add(clean_api):
    api = clean_api
    for reason in (None, "The partner signs for the customer."):
        payload = await add(
            api,
            CONTOSO_ADMIN,
            location=SEATTLE,
            id_type="TENANT_ID",
            id_value=NORTHWIND_TENANT,
            engagements=[ENGAGEMENT],
            customer_contact=contact("seller@Contoso-Partners.example"),  # a partner user's domain
            tenantMismatchReason=reason,
        )
        assert ("RECIPIENT_IS_PARTNER", ("input", "customerContact", "email")) in errors(payload)
    # The partner contact given in the same input is the partner's too.
    payload = await add(
        api,
        CONTOSO_ADMIN,
        location=SEATTLE,
        id_type="DOMAIN_NAME",
        id_value=NORTHWIND_DOMAIN,
        engagements=[ENGAGEMENT],
        customer_contact=contact("megan@contoso-consulting.example"),
        tenantMismatchReason="Contoso Consulting runs Northwind's IT.",
        partnerContact=dict(PARTNER_CONTACT, email="megan@contoso-consulting.example"),
    )
    assert errors(payload) == [("RECIPIENT_IS_PARTNER", ("input", "customerContact", "email"))]
    assert sum((await row_counts(api)).values()) == 0


async def test_a_partner_contacts_domain_becomes_the_partners_on_add(clean_api, smtp):
    api = clean_api
    claim_id = await _added(
        api, _address(), partnerContact=dict(PARTNER_CONTACT, email="megan@contoso-consulting.example")
    )
    # Kept in the same transaction as the claim: the next send to that domain is refused.
    refused = await _send(
        api,
        claim_id,
        customerContact=_person("ops@contoso-consulting.example"),
        tenantMismatchReason="Contoso Consulting runs Northwind's IT.",
    )
    assert errors(refused) == [("RECIPIENT_IS_PARTNER", ("input", "customerContact", "email"))]
    # Another partner is not affected by Contoso's domains.
    fabrikam = await add(
        api,
        FABRIKAM_ADMIN,
        location="4200201",
        id_type="DOMAIN_NAME",
        id_value=NORTHWIND_DOMAIN,
        engagements=[ENGAGEMENT],
        customer_contact=contact("ops@contoso-consulting.example"),
        partnerContact=dict(PARTNER_CONTACT, email="anna@fabrikam-consulting.example"),
        tenantMismatchReason="Contoso Consulting runs Northwind's IT.",
    )
    assert ("RECIPIENT_IS_PARTNER", ("input", "customerContact", "email")) not in errors(fabrikam)


async def test_the_recipient_is_never_at_the_partners_domain_on_send(clean_api, smtp):
    api = clean_api
    claim_id = await _added(api, _address())
    before, mails = await _read(api, claim_id), await _outbox(api)
    for changed in (
        {"customerContact": _person("admin@contoso-partners.example")},
        {"customerContact": _person("x@eu.contoso-partners.example"), "tenantMismatchReason": "ours"},
        # The partner contact set in the same input counts as the partner's.
        {
            "customerContact": _person("ops@contoso-consulting.example"),
            "partnerContact": _person("megan@contoso-consulting.example", "Megan", "Bowen"),
            "tenantMismatchReason": "Contoso Consulting runs Northwind's IT.",
        },
    ):
        refused = await _send(api, claim_id, **changed)
        assert errors(refused) == [("RECIPIENT_IS_PARTNER", ("input", "customerContact", "email"))], changed
    assert await _read(api, claim_id) == before and await _outbox(api) == mails
    # Nothing was written: the refused partner contact's domain did not become the partner's.
    async with api.database.engine.connect() as conn:
        domains = (await conn.execute(text("SELECT domain FROM partner_domain"))).scalars().all()
    assert "contoso-consulting.example" not in domains


async def test_the_recipient_is_never_at_the_partners_domain_on_claim(clean_api):
    api = clean_api
    customer = await _known_customer(api)
    payload = await _claim(api, customer, contact("adele@contoso-partners.example"), reason="ours")
    assert errors(payload) == [("RECIPIENT_IS_PARTNER", ("input", "customerContact", "email"))]


async def test_the_preview_says_when_the_email_is_the_partners(clean_api):
    answer = await preview(
        clean_api,
        CONTOSO_ADMIN,
        location=SEATTLE,
        id_type="DOMAIN_NAME",
        id_value=NORTHWIND_DOMAIN,
        customerEmail="Admin@Contoso-Partners.example",
    )
    assert errors(answer) == [("RECIPIENT_IS_PARTNER", ("input", "customerEmail"))]
    assert answer["tenantMismatchReasonRequired"] is True
    assert answer["eligibleEngagements"]  # the identifier is still judged


async def test_an_unknown_identifier_is_not_judged_for_a_reason(clean_api):
    api = clean_api
    unknown = {"id_type": "DOMAIN_NAME", "id_value": "not-in-the-directory.example"}
    answer = await preview(api, CONTOSO_ADMIN, location=SEATTLE, customerEmail="a@b.example", **unknown)
    assert answer["tenantMismatchReasonRequired"] is None
    payload = await add(
        api,
        CONTOSO_ADMIN,
        location=SEATTLE,
        engagements=[ENGAGEMENT],
        customer_contact=contact("a@b.example"),
        **unknown,
    )
    assert errors(payload) == [("IDENTIFIER_NOT_FOUND", ("input", "engagementIds", "0"))]


# --------------------------------------------------------------------------------------- claimCustomer


async def _known_customer(api: Api) -> str:
    """Northwind by tenant ID, known to Contoso (consented on an earlier claim, now ended); its global id."""
    payload = await add(
        api,
        CONTOSO_ADMIN,
        location=SEATTLE,
        id_type="TENANT_ID",
        id_value=NORTHWIND_TENANT,
        engagements=["teams-phone-deployment"],
        customer_contact=contact("cio@northwind.example"),
    )
    assert payload["userErrors"] == []
    await mark_consented(api, payload["claims"][0]["id"])
    return payload["customer"]["id"]


async def _claim(api: Api, customer: str, customer_contact: dict[str, Any], reason: str | None = None):
    ids = await global_ids(api)
    variables = {
        "input": {
            "customerId": customer,
            "friendlyName": "Northwind, again",
            "locationId": ids.location(SEATTLE),
            "engagementIds": ids.engagement(ENGAGEMENT),
            "customerContact": customer_contact,
            "partnerContact": PARTNER_CONTACT,
            "tenantMismatchReason": reason,
        }
    }
    return (await api.graphql(CLAIM, variables, as_user=CONTOSO_ADMIN)).data["claimCustomer"]


async def test_claiming_a_known_customer_needs_a_reason_for_a_contact_elsewhere(clean_api):
    api = clean_api
    customer = await _known_customer(api)
    before = await row_counts(api)
    refused = await _claim(api, customer, contact("cio@holding.example"))
    assert errors(refused) == [("TENANT_MISMATCH_REASON_REQUIRED", ("input", "tenantMismatchReason"))]
    assert await row_counts(api) == before
    reason = "The holding signs."
    claimed = await _claim(api, customer, contact("cio@holding.example"), reason)
    assert claimed["userErrors"] == []
    assert claimed["claims"][0]["tenantMismatchReason"] == reason
    created = claimed["claims"][0]["history"]["edges"][0]["node"]
    assert created["action"] == "CREATE"


# ----------------------------------------------------------------------------- a new link after a change


async def test_a_resend_after_a_change_voids_the_earlier_link(clean_api, smtp: SmtpSink):
    api = clean_api
    first = _address()
    claim_id = await _added(api, first)
    assert (await _send(api, claim_id))["userErrors"] == []
    old_token = _token((await smtp.wait_for(first))[0])

    second = _address(name="andrew")
    assert (await _send(api, claim_id, customerContact=_person(second, "Andrew", "Fuller")))[
        "userErrors"
    ] == []
    new_token = _token((await smtp.wait_for(second))[0])
    assert new_token != old_token
    before = await _read(api, claim_id)

    for decision in ("ACCEPT", "DECLINE"):
        old = (await api.graphql(RESPOND, {"token": old_token, "decision": decision})).data[
            "respondToConsent"
        ]
        assert [e["code"] for e in old["userErrors"]] == ["CONSENT_LINK_REPLACED"]
    page = await api.http.get(f"/consent/{old_token}")
    assert page.status_code == 410 and "replaced" in page.text
    posted = await api.http.post(
        f"/consent/{old_token}",
        data={"decision": "ACCEPT", "csrf": "c"},
        headers={"Cookie": "mci_consent_csrf=c"},
    )
    assert posted.status_code == 410
    assert await _read(api, claim_id) == before  # changed nothing

    answered = (await api.graphql(RESPOND, {"token": new_token, "decision": "ACCEPT"})).data
    assert answered["respondToConsent"]["accepted"] is True
    last = _history(await _read(api, claim_id))[-1]
    assert (last["action"], last["actor"]) == (
        "ACCEPT_CONSENT",
        {"kind": "CUSTOMER", "name": "Andrew Fuller"},
    )


async def test_a_change_of_name_only_keeps_the_link(clean_api, smtp):
    api = clean_api
    recipient = _address()
    claim_id = await _added(api, recipient)
    await _send(api, claim_id)
    sent = await _send(api, claim_id, customerContact=_person(recipient, "Nancy", "Davolio-Fuller"))
    assert sent["userErrors"] == []
    first, second = await smtp.wait_for(recipient, count=2)
    assert _token(first) == _token(second)
    assert _history(await _read(api, claim_id))[-2]["action"] == "UPDATE_CONTACT"


# ----------------------------------------------------------------------------------------------- reminders


async def _row_actions(api: Api, claim_id: str) -> list[str]:
    ids = await global_ids(api)
    data = (await api.graphql(ROW, {"id": ids.engagements[ENGAGEMENT]}, as_user=CONTOSO_ADMIN)).data
    [row] = [e for e in data["node"]["customers"]["edges"] if e["claim"] and e["claim"]["id"] == claim_id]
    return row["availableActions"]


async def test_reminders_are_limited_and_say_when_the_next_is_allowed(timed_api, smtp):
    api = timed_api
    recipient = _address()
    claim_id = await _added(api, recipient)
    sent = await _send(api, claim_id)
    assert sent["consentRequest"]["nextReminderAllowedAt"] == sent["consentRequest"]["lastSentAt"]
    assert "RESEND_CONSENT" in sent["claim"]["availableActions"]
    assert "RESEND_CONSENT" in await _row_actions(api, claim_id)

    reminded = await _send(api, claim_id)  # the first reminder: at once (the customer says nothing arrived)
    assert reminded["userErrors"] == []
    request = reminded["consentRequest"]
    assert (request["sendCount"], request["remainingSends"]) == (2, 3)
    next_at = request["nextReminderAllowedAt"]
    assert next_at > request["lastSentAt"]

    # While refused, neither the claim nor the Customers page row offers it.
    assert "RESEND_CONSENT" not in (await _read(api, claim_id))["availableActions"]
    assert "RESEND_CONSENT" not in await _row_actions(api, claim_id)
    before, mails = await _read(api, claim_id), await _outbox(api)
    for changed in (
        {},
        {"customerContact": _person(_address(name="andrew"))},
    ):  # a change is no way around it
        refused = await _send(api, claim_id, **changed)
        assert errors(refused) == [("REMINDER_LIMIT", ("input", "claimId"))]
        assert next_at[:19] in refused["userErrors"][0]["message"]  # the instant, to the second
    assert await _read(api, claim_id) == before and await _outbox(api) == mails

    for count in (3, 4, 5):
        api.clock.offset += timedelta(hours=24)
        assert "RESEND_CONSENT" in (await _read(api, claim_id))["availableActions"]
        assert "RESEND_CONSENT" in await _row_actions(api, claim_id)
        again = await _send(api, claim_id)
        assert again["userErrors"] == [] and again["consentRequest"]["sendCount"] == count
    assert again["consentRequest"]["nextReminderAllowedAt"] is None
    assert again["consentRequest"]["remainingSends"] == 0
    api.clock.offset += timedelta(days=3)
    sixth = await _send(api, claim_id)
    assert errors(sixth) == [("REMINDER_LIMIT", ("input", "claimId"))]
    assert "RESEND_CONSENT" not in (await _read(api, claim_id))["availableActions"]
    assert "RESEND_CONSENT" not in await _row_actions(api, claim_id)
    assert len(await smtp.wait_for(recipient, count=5)) == 5


# ------------------------------------------------------------------------------------- what the customer reads


async def test_the_mail_and_page_name_the_customer_organisation_not_the_friendly_name(clean_api, smtp):
    api = clean_api
    recipient = _address()
    ids = await global_ids(api)
    payload = (
        await api.graphql(
            """mutation($input: AddCustomerInput!) { addCustomer(input: $input) {
               customer { name } claims { id } userErrors { code } } }""",
            {
                "input": await add_input(
                    api,
                    location=SEATTLE,
                    id_type="DOMAIN_NAME",
                    id_value=NORTHWIND_DOMAIN,
                    engagements=[ENGAGEMENT],
                    friendly_name="Project Bluebird (internal)",
                    customer_contact=_person(recipient),
                )
            },
            as_user=CONTOSO_ADMIN,
        )
    ).data["addCustomer"]
    assert payload["userErrors"] == [] and ids
    assert payload["customer"]["name"] == "Northwind Traders"  # the directory's name, not the friendly name
    claim_id = payload["claims"][0]["id"]
    await _send(api, claim_id)
    [message] = await smtp.wait_for(recipient)
    text_part = message.get_body(preferencelist=("plain",)).get_content()
    html_part = message.get_body(preferencelist=("html",)).get_content()
    for part in (text_part, html_part, message["Subject"]):
        assert "Bluebird" not in part
    for part in (text_part, html_part):
        assert "Northwind Traders" in part and "Contoso Partners" in part and "Copilot" in part
    page = await api.http.get(f"/consent/{_token(message)}")
    assert page.status_code == 200
    assert (
        "Northwind Traders" in page.text and "Contoso Partners" in page.text and "Bluebird" not in page.text
    )
    assert (await read_claim(api, claim_id))["status"] == "AWAITING_CUSTOMER_CONSENT_RESPONSE"
