"""Consent through HTTP as a new user would: add a customer, send consent, read the real email from the SMTP
server, open the link, answer; reminders, single use, outages and the test clock."""

import re
import uuid

from tests.demo import CONTOSO_ADMIN, FABRIKAM_ADMIN

IDS = """{ viewer { locations(first: 50) { edges { node { id locationId } } } }
          engagements(first: 100) { edges { node { id key } } } }"""
ADD = """mutation($input: AddCustomerInput!) { addCustomer(input: $input) {
  claims { id status deadline } userErrors { code field message } } }"""
SEND = """mutation($input: SendConsentInput!) { sendConsent(input: $input) {
  claim { id status deadline availableActions customerContact { email firstName } }
  consentRequest { recipient status sendCount firstSentAt lastSentAt expiresAt response }
  userErrors { code field message } } }"""
RESPOND = """mutation($input: RespondToConsentInput!) { respondToConsent(input: $input) {
  accepted engagementName partnerName userErrors { code field message } } }"""
CLAIM = """query($id: ID!) { claim(id: $id) { status deadline consentRequest { status response sendCount }
  history(first: 20) { edges { node { action fromStatus toStatus actor { kind name } occurredAt } } } } }"""


async def _ids(api):
    data = (await api.graphql(IDS, as_user=CONTOSO_ADMIN)).data
    locations = {e["node"]["locationId"]: e["node"]["id"] for e in data["viewer"]["locations"]["edges"]}
    engagements = {e["node"]["key"]: e["node"]["id"] for e in data["engagements"]["edges"]}
    return locations, engagements


async def _claim(api, recipient: str, domain: str = "northwind.example") -> str:
    locations, engagements = await _ids(api)
    contact = {"firstName": "Nancy", "lastName": "Davolio", "email": recipient}
    response = await api.graphql(
        ADD,
        {
            "input": {
                "friendlyName": "Northwind pilot",
                "locationId": locations["4100101"],
                "customerIdType": "DOMAIN_NAME",
                "customerIdValue": domain,
                "engagementIds": [engagements["copilot-readiness-assessment"]],
                "customerContact": contact,
                "partnerContact": {"firstName": "Megan", "lastName": "Bowen", "email": CONTOSO_ADMIN},
            }
        },
        as_user=CONTOSO_ADMIN,
    )
    payload = response.data["addCustomer"]
    assert payload["userErrors"] == []
    return payload["claims"][0]["id"]


def _recipient(domain: str = "northwind.example") -> str:
    return f"nancy.{uuid.uuid4().hex[:8]}@{domain}"


def _link(message) -> str:
    text = message.get_body(preferencelist=("plain",)).get_content()
    return re.search(r"http://\S+/consent/\S+", text).group(0)


async def test_send_consent_email_and_accept_through_the_page(clean_api, smtp):
    api = clean_api
    recipient = _recipient()
    claim_id = await _claim(api, recipient)
    sent = (await api.graphql(SEND, {"input": {"claimId": claim_id}}, as_user=CONTOSO_ADMIN)).data[
        "sendConsent"
    ]
    assert sent["userErrors"] == []
    assert sent["claim"]["status"] == "AWAITING_CUSTOMER_CONSENT_RESPONSE"
    assert sent["consentRequest"]["recipient"] == recipient
    assert sent["consentRequest"]["status"] == "PENDING"
    assert sent["consentRequest"]["expiresAt"] == sent["claim"]["deadline"]

    [message] = await smtp.wait_for(recipient)
    assert "Contoso Partners" in message["Subject"]
    html = message.get_body(preferencelist=("html",)).get_content()
    text = message.get_body(preferencelist=("plain",)).get_content()
    for part in (text, html):
        assert "Contoso Partners" in part and "Copilot" in part
    link = _link(message)
    assert link in text

    assert link.startswith(f"{api.base_url}/consent/")  # the link opens this very server
    path = link.removeprefix(api.base_url)
    page = await api.http.get(path)
    assert page.status_code == 200
    assert "Contoso Partners" in page.text and "Accept" in page.text and "Decline" in page.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)

    forged = await api.http.post(path, data={"decision": "ACCEPT", "csrf": "not-the-cookie"})
    assert forged.status_code == 403

    answered = await api.http.post(path, data={"decision": "ACCEPT", "csrf": csrf})
    assert answered.status_code == 200 and "accepted" in answered.text

    claim = (await api.graphql(CLAIM, {"id": claim_id}, as_user=CONTOSO_ADMIN)).data["claim"]
    assert claim["status"] == "CUSTOMER_CONSENT_RECEIVED"
    assert claim["consentRequest"]["status"] == "ACCEPTED"
    history = [e["node"] for e in claim["history"]["edges"]]
    assert [(e["action"], e["toStatus"]) for e in history] == [
        ("CREATE", "CUSTOMER_CLAIMED"),
        ("SEND_CONSENT", "AWAITING_CUSTOMER_CONSENT_RESPONSE"),
        ("ACCEPT_CONSENT", "CUSTOMER_CONSENT_RECEIVED"),
    ]
    assert history[2]["actor"] == {"kind": "CUSTOMER", "name": "Nancy Davolio"}

    again = await api.http.get(path)
    assert again.status_code == 410
    second = await api.http.post(
        path, data={"decision": "DECLINE", "csrf": csrf}
    )  # the client kept the cookie
    assert second.status_code == 410
    assert (await api.graphql(CLAIM, {"id": claim_id}, as_user=CONTOSO_ADMIN)).data["claim"]["status"] == (
        "CUSTOMER_CONSENT_RECEIVED"
    )


async def test_decline_through_the_public_mutation_and_a_second_use_fails(clean_api, smtp):
    api = clean_api
    recipient = _recipient()
    claim_id = await _claim(api, recipient)
    await api.graphql(SEND, {"input": {"claimId": claim_id}}, as_user=CONTOSO_ADMIN)
    token = _link((await smtp.wait_for(recipient))[0]).rsplit("/", 1)[1]

    declined = (await api.graphql(RESPOND, {"input": {"token": token, "decision": "DECLINE"}})).data
    assert declined["respondToConsent"] == {
        "accepted": False,
        "engagementName": declined["respondToConsent"]["engagementName"],
        "partnerName": "Contoso Partners",
        "userErrors": [],
    }
    again = (await api.graphql(RESPOND, {"input": {"token": token, "decision": "ACCEPT"}})).data[
        "respondToConsent"
    ]
    assert [e["code"] for e in again["userErrors"]] == ["CONSENT_ALREADY_ANSWERED"]
    claim = (await api.graphql(CLAIM, {"id": claim_id}, as_user=CONTOSO_ADMIN)).data["claim"]
    assert claim["status"] == "CUSTOMER_CONSENT_DECLINED"
    assert claim["deadline"] is None


async def test_forged_and_unknown_tokens_change_nothing(clean_api, smtp):
    api = clean_api
    recipient = _recipient()
    claim_id = await _claim(api, recipient)
    await api.graphql(SEND, {"input": {"claimId": claim_id}}, as_user=CONTOSO_ADMIN)
    token = _link((await smtp.wait_for(recipient))[0]).rsplit("/", 1)[1]
    request_id, signature = token.split(".")
    for bad in [f"{request_id}.{signature[:-2]}xx", f"99999.{signature}", "garbage", ""]:
        result = (await api.graphql(RESPOND, {"input": {"token": bad, "decision": "ACCEPT"}})).data
        assert [e["code"] for e in result["respondToConsent"]["userErrors"]] == ["CONSENT_LINK_INVALID"]
        assert (await api.http.get(f"/consent/{bad or 'x'}")).status_code == 404
    claim = (await api.graphql(CLAIM, {"id": claim_id}, as_user=CONTOSO_ADMIN)).data["claim"]
    assert claim["status"] == "AWAITING_CUSTOMER_CONSENT_RESPONSE"


async def test_resend_is_a_reminder_of_the_same_request(clean_api, smtp):
    api = clean_api
    recipient = _recipient()
    claim_id = await _claim(api, recipient)
    first = (await api.graphql(SEND, {"input": {"claimId": claim_id}}, as_user=CONTOSO_ADMIN)).data[
        "sendConsent"
    ]
    second = (await api.graphql(SEND, {"input": {"claimId": claim_id}}, as_user=CONTOSO_ADMIN)).data[
        "sendConsent"
    ]
    assert second["userErrors"] == []
    assert second["claim"]["status"] == "AWAITING_CUSTOMER_CONSENT_RESPONSE"
    assert second["claim"]["deadline"] == first["claim"]["deadline"]
    assert second["consentRequest"]["sendCount"] == 2
    assert second["consentRequest"]["firstSentAt"] == first["consentRequest"]["firstSentAt"]
    messages = await smtp.wait_for(recipient, count=2)
    assert _link(messages[0]) == _link(messages[1])
    # The first reminder may follow the first send at once; the next one only 24 hours later.
    assert first["claim"]["availableActions"] == ["RESEND_CONSENT", "CANCEL"]
    assert second["claim"]["availableActions"] == ["CANCEL"]


async def test_contacts_can_be_updated_on_the_way(clean_api, smtp):
    api = clean_api
    claim_id = await _claim(api, _recipient())
    new_recipient = _recipient()
    contact = {"firstName": "Andrew", "lastName": "Fuller", "email": new_recipient.upper()}
    sent = (
        await api.graphql(
            SEND, {"input": {"claimId": claim_id, "customerContact": contact}}, as_user=CONTOSO_ADMIN
        )
    ).data["sendConsent"]
    assert sent["claim"]["customerContact"] == {"email": new_recipient, "firstName": "Andrew"}
    assert (await smtp.wait_for(new_recipient))[0]["To"] == new_recipient
    bad = {"firstName": "", "lastName": "Fuller", "email": "nope"}
    refused = (
        await api.graphql(
            SEND, {"input": {"claimId": claim_id, "customerContact": bad}}, as_user=CONTOSO_ADMIN
        )
    ).data["sendConsent"]
    assert {tuple(e["field"]) for e in refused["userErrors"]} == {
        ("input", "customerContact", "firstName"),
        ("input", "customerContact", "email"),
    }


async def test_another_partners_claim_looks_missing(clean_api):
    api = clean_api
    claim_id = await _claim(api, _recipient())
    result = (await api.graphql(SEND, {"input": {"claimId": claim_id}}, as_user=FABRIKAM_ADMIN)).data[
        "sendConsent"
    ]
    assert [(e["code"], e["field"]) for e in result["userErrors"]] == [("NOT_FOUND", ["input", "claimId"])]


async def test_consent_is_delivered_after_an_smtp_outage(clean_api, smtp):
    api = clean_api
    recipient = _recipient()
    claim_id = await _claim(api, recipient)
    smtp.stop()
    try:
        sent = (await api.graphql(SEND, {"input": {"claimId": claim_id}}, as_user=CONTOSO_ADMIN)).data[
            "sendConsent"
        ]
        assert sent["userErrors"] == []
        assert sent["claim"]["status"] == "AWAITING_CUSTOMER_CONSENT_RESPONSE"
    finally:
        smtp.start()
    [message] = await smtp.wait_for(recipient, seconds=15)
    assert "/consent/" in _link(message)


async def test_the_test_clock_expires_unanswered_requests(clean_api, smtp):
    api = clean_api
    awaiting = await _claim(api, _recipient())
    await api.graphql(SEND, {"input": {"claimId": awaiting}}, as_user=CONTOSO_ADMIN)
    never_sent = await _claim(api, _recipient("adatum.example"), domain="adatum.example")
    moved = await api.graphql(
        "mutation { advanceTestClock(input: {days: 31}) { now expiredClaims userErrors { code } } }",
        as_user=CONTOSO_ADMIN,
    )
    assert moved.data["advanceTestClock"]["expiredClaims"] >= 2
    for claim_id in (awaiting, never_sent):
        claim = (await api.graphql(CLAIM, {"id": claim_id}, as_user=CONTOSO_ADMIN)).data["claim"]
        assert claim["status"] == "CUSTOMER_CONSENT_EXPIRED"
        last = claim["history"]["edges"][-1]["node"]
        assert (last["action"], last["actor"]["kind"]) == ("EXPIRE_CONSENT", "SYSTEM")
    refused = (await api.graphql(SEND, {"input": {"claimId": awaiting}}, as_user=CONTOSO_ADMIN)).data[
        "sendConsent"
    ]
    assert [e["code"] for e in refused["userErrors"]] == ["CLAIM_CLOSED"]
