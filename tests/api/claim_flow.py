"""Driving a claim through its life over HTTP, for tests: add, send consent, answer from the real email."""

import re
import uuid

from app.auth import REVIEWER, mint_token
from tests.demo import CONTOSO_ADMIN

IDS = """{ viewer { locations(first: 50) { edges { node { id locationId } } } }
          engagements(first: 100) { edges { node { id key } } } }"""
ADD = """mutation($input: AddCustomerInput!) { addCustomer(input: $input) {
  claims { id status } userErrors { code field message } } }"""
SEND = "mutation($id: ID!) { sendConsent(input: {claimId: $id}) { userErrors { code message } } }"
RESPOND = """mutation($token: String!, $decision: ConsentDecision!) {
  respondToConsent(input: {token: $token, decision: $decision}) { accepted userErrors { code message } } }"""
CLAIM = """query($id: ID!) { claim(id: $id) { id status deadline daysRemaining terminalCategory availableActions
  comments { action comment actor { kind name } }
  history(first: 50) { totalCount edges { node { action fromStatus toStatus actor { kind name } comment } } } } }"""


def reviewer_token(api, email: str = "rita.reviewer@microsoft.example") -> str:
    return mint_token(api.settings, email, REVIEWER, "Rita Reviewer")


async def ids(api) -> tuple[dict[str, str], dict[str, str]]:
    data = (await api.graphql(IDS, as_user=CONTOSO_ADMIN)).data
    locations = {e["node"]["locationId"]: e["node"]["id"] for e in data["viewer"]["locations"]["edges"]}
    engagements = {e["node"]["key"]: e["node"]["id"] for e in data["engagements"]["edges"]}
    return locations, engagements


async def new_claim(
    api, *, domain: str = "northwind.example", engagement: str = "copilot-readiness-assessment"
) -> tuple[str, str]:
    """A claim in CUSTOMER_CLAIMED at Contoso's Seattle location; returns (claim id, customer email)."""
    locations, engagements = await ids(api)
    recipient = f"contact.{uuid.uuid4().hex[:10]}@{domain}"
    payload = (
        await api.graphql(
            ADD,
            {
                "input": {
                    "friendlyName": "Pilot",
                    "locationId": locations["4100101"],
                    "customerIdType": "DOMAIN_NAME",
                    "customerIdValue": domain,
                    "engagementIds": [engagements[engagement]],
                    "customerContact": {"firstName": "Nancy", "lastName": "Davolio", "email": recipient},
                    "partnerContact": {"firstName": "Megan", "lastName": "Bowen", "email": CONTOSO_ADMIN},
                }
            },
            as_user=CONTOSO_ADMIN,
        )
    ).data["addCustomer"]
    assert payload["userErrors"] == [], payload["userErrors"]
    return payload["claims"][0]["id"], recipient


async def consent_token(api, smtp, claim_id: str, recipient: str) -> str:
    """Send consent and read the link's token from the email the SMTP server received."""
    sent = (await api.graphql(SEND, {"id": claim_id}, as_user=CONTOSO_ADMIN)).data["sendConsent"]
    assert sent["userErrors"] == [], sent["userErrors"]
    [message] = await smtp.wait_for(recipient)
    text = message.get_body(preferencelist=("plain",)).get_content()
    return re.search(r"/consent/(\S+)", text).group(1)


async def consented_claim(api, smtp, **kwargs: str) -> str:
    """A claim in CUSTOMER_CONSENT_RECEIVED."""
    claim_id, recipient = await new_claim(api, **kwargs)
    token = await consent_token(api, smtp, claim_id, recipient)
    answer = (await api.graphql(RESPOND, {"token": token, "decision": "ACCEPT"})).data["respondToConsent"]
    assert answer["accepted"] is True, answer
    return claim_id


async def claim(api, claim_id: str, token: str | None = None) -> dict:
    if token is None:
        return (await api.graphql(CLAIM, {"id": claim_id}, as_user=CONTOSO_ADMIN)).data["claim"]
    return (await api.graphql(CLAIM, {"id": claim_id}, token=token)).data["claim"]


async def act(
    api, mutation: str, claim_id: str, comment: str | None = None, token: str | None = None
) -> dict:
    """Run one claim-action mutation (e.g. "submitClaim") as the partner admin, or with `token`."""
    name = mutation[0].upper() + mutation[1:]
    variables: dict = {"input": {"claimId": claim_id}}
    if comment is not None:
        variables["input"]["comment"] = comment
    query = f"""mutation($input: {name}Input!) {{ {mutation}(input: $input) {{
        claim {{ id status deadline }} userErrors {{ code field message }} }} }}"""
    if token is None:
        response = await api.graphql(query, variables, as_user=CONTOSO_ADMIN)
    else:
        response = await api.graphql(query, variables, token=token)
    return response.data[mutation]
