"""DOMAIN.md, "rows offer only what succeeds": random sequences of nominations, consent answers, claim actions,
reviews and clock moves, by random viewers, through the real API. After every step: each action offered in
`availableActions` (a claim's, or a Customers page row's) succeeds when invoked at once with valid input. At the
end: every claim's history is in time order, each event starting where the one before it ended.

Hypothesis draws the steps (`MCI_OFFERED_EXAMPLES` sequences, 20 by default; derandomized, so CI is repeatable).
The sequences run in a thread; each API call is run on the test's event loop, where the server's client lives.
"""

import asyncio
import base64
import itertools
import os
import random
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from tests.api.claim_flow import reviewer_token
from tests.conftest import CLAIM_TABLES, Api, reset_partner_domains
from tests.demo import (
    ADELE,
    CONTOSO_ADMIN,
    CONTOSO_SELLER,
    FABRIKAM_ADMIN,
    NORTHWIND_DOMAIN,
    NORTHWIND_SUBSCRIPTION,
    NORTHWIND_TENANT,
    NORTHWIND_TPID,
)

EXAMPLES = int(os.environ.get("MCI_OFFERED_EXAMPLES", "20"))

USERS = [CONTOSO_ADMIN, CONTOSO_SELLER, ADELE, FABRIKAM_ADMIN]
ADMIN_OF = {CONTOSO_ADMIN: CONTOSO_ADMIN, CONTOSO_SELLER: CONTOSO_ADMIN, ADELE: CONTOSO_ADMIN}
PARTNER_CONTACT = {
    CONTOSO_ADMIN: "megan.bowen@contoso-partners.example",
    FABRIKAM_ADMIN: "diego.siciliani@fabrikam-consulting.example",
}
# Identifiers, with the domain a customer contact of theirs writes from: several name one tenant (Northwind), so
# limits and "add or claim, not both" are met through different identifiers.
IDENTIFIERS = [
    ("DOMAIN_NAME", NORTHWIND_DOMAIN, NORTHWIND_DOMAIN),
    ("TENANT_ID", NORTHWIND_TENANT, NORTHWIND_DOMAIN),
    ("TPID", NORTHWIND_TPID, NORTHWIND_DOMAIN),
    ("AZURE_SUBSCRIPTION_ID", NORTHWIND_SUBSCRIPTION, NORTHWIND_DOMAIN),
    ("DOMAIN_NAME", "adatum.example", "adatum.example"),
    ("DOMAIN_NAME", "tailwindtraders.example", "tailwindtraders.example"),
    ("MSX_OPPORTUNITY_ID", "7-3FS2XQBWAO", NORTHWIND_DOMAIN),
]
CONTACT_DOMAIN = {value: domain for _type, value, domain in IDENTIFIERS}
# Engagements with the identifier types they accept (demo data): most nominations drawn are of a type accepted.
ENGAGEMENTS = {
    "copilot-readiness-assessment": {"DOMAIN_NAME", "TENANT_ID"},
    "security-posture-assessment": {"TENANT_ID", "DOMAIN_NAME", "TPID"},
    "copilot-adoption-workshop": {"DOMAIN_NAME", "TENANT_ID"},
    "defender-for-cloud-deployment": {"AZURE_SUBSCRIPTION_ID", "TPID"},
    "azure-migrate-and-modernize": {"MSX_OPPORTUNITY_ID"},
}
VARIABLE = {"azure-migrate-and-modernize"}

ERRORS = "userErrors { code field message }"
ADD = (
    f"""mutation($input: AddCustomerInput!) {{ addCustomer(input: $input) {{ claims {{ id }} {ERRORS} }} }}"""
)
CLAIM_CUSTOMER = f"""mutation($input: ClaimCustomerInput!) {{
  claimCustomer(input: $input) {{ claims {{ id }} {ERRORS} }} }}"""
SEND = (
    f"""mutation($input: SendConsentInput!) {{ sendConsent(input: $input) {{ claim {{ id }} {ERRORS} }} }}"""
)
RESPOND = f"""mutation($token: String!, $decision: ConsentDecision!) {{
  respondToConsent(input: {{token: $token, decision: $decision}}) {{ accepted {ERRORS} }} }}"""
ADVANCE = f"""mutation($days: Int!) {{ advanceTestClock(input: {{days: $days}}) {{ now {ERRORS} }} }}"""
CLAIM = """query($id: ID!) { claim(id: $id) { id status availableActions
  history(first: 100) { edges { node { action fromStatus toStatus occurredAt } } } } }"""
PAGE = """query($id: ID!) { engagement(id: $id) {
  locationEligibility { location { id } canEarn reasons }
  customers(tab: ELIGIBLE, first: 100) { edges {
    node { id identifier { idType value } } claim { id } availableActions } } } }"""
IDS = """{ viewer { locations(first: 50) { edges { node { id locationId } } } }
          engagements(first: 100) { edges { node { id key } } } }"""

# What a claim action is, as a mutation, and whether it takes a comment (required ones get one).
MUTATIONS = {
    "SEND_CONSENT": ("sendConsent", None),
    "RESEND_CONSENT": ("sendConsent", None),
    "CANCEL": ("cancelClaim", None),
    "SUBMIT": ("submitClaim", None),
    "DISPUTE": ("disputeClaim", "The rejection overlooked the signed agenda."),
    "START_REVIEW": ("startClaimReview", None),
    "REQUEST_PARTNER_ACTION": ("requestPartnerAction", "Attach the attendee list."),
    "APPROVE": ("approveClaim", None),
    "REJECT": ("rejectClaim", "The agenda does not cover the modules."),
}
# Problems of the location that do not keep it from being chosen (it may nominate, it cannot earn yet).
NOMINATING_DESPITE = {"PAYEE_PROFILE_INVALID"}


@dataclass
class World:
    """What one sequence made: its claims, by the partner admin who may read each."""

    engagement_ids: dict[str, str]
    claims: dict[str, str] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)


Run = Callable[[Coroutine[Any, Any, Any]], Any]


def _contact(domain: str) -> dict[str, str]:
    return {"firstName": "Nancy", "lastName": "Davolio", "email": f"nancy.{uuid.uuid4().hex[:8]}@{domain}"}


def _partner_contact(user: str) -> dict[str, str]:
    return {"firstName": "Megan", "lastName": "Bowen", "email": PARTNER_CONTACT[ADMIN_OF.get(user, user)]}


def _pk(global_id: str) -> int:
    return int(base64.urlsafe_b64decode(global_id + "=" * (-len(global_id) % 4)).decode().partition(":")[2])


async def _locations(api: Api, user: str) -> list[str]:
    data = (await api.graphql(IDS, as_user=user)).data
    return [e["node"]["id"] for e in data["viewer"]["locations"]["edges"]]


async def _reset(api: Api) -> None:
    api.clock.offset = timedelta(0)
    async with api.writing() as conn:
        for table in CLAIM_TABLES:
            await conn.execute(text(f"DELETE FROM {table}"))
        await conn.execute(text("UPDATE sandbox_clock SET offset_seconds = 0"))
        await reset_partner_domains(conn)


async def _latest_link(api: Api, claim_id: str) -> str | None:
    """The token of the latest consent mail of the claim, as the outbox holds it."""
    async with api.database.engine.connect() as conn:
        body = (
            await conn.execute(
                text(
                    "SELECT m.text_body FROM mail_outbox m JOIN consent_request r ON r.id = m.consent_request_id "
                    "WHERE r.claim_id = :claim ORDER BY m.id DESC LIMIT 1"
                ),
                {"claim": _pk(claim_id)},
            )
        ).scalar_one_or_none()
    if body is None:
        return None
    return body.split("/consent/", 1)[1].split()[0]


def _succeeded(payload: dict[str, Any], what: str, world: World) -> None:
    assert payload["userErrors"] == [], (
        f"{what} was offered but failed: {payload['userErrors']}\n" + "\n".join(world.log)
    )


def _act(run: Run, api: Api, world: World, claim_id: str, action: str, **who: str) -> None:
    """Invoke a claim action at once, with valid input; it must succeed."""
    mutation, comment = MUTATIONS[action]
    name = mutation[0].upper() + mutation[1:]
    variables: dict[str, Any] = {"input": {"claimId": claim_id}}
    if comment is not None:
        variables["input"]["comment"] = comment
    query = f"mutation($input: {name}Input!) {{ {mutation}(input: $input) {{ {ERRORS} }} }}"
    world.log.append(f"{action} on {claim_id} by {who}")
    _succeeded(run(api.graphql(query, variables, **who)).data[mutation], f"{action} on a claim", world)


def _pick(rnd: random.Random, offered: list[Any], action_of: Callable[[Any], str]) -> Any:
    """One of the offered, the ends of the road (cancel, reject) less often, so sequences go far."""
    weights = [1 if action_of(item) in ("CANCEL", "REJECT") else 4 for item in offered]
    return rnd.choices(offered, weights)[0]


# ------------------------------------------------------------------------------------------------ the steps


def add(run: Run, api: Api, world: World, rnd: random.Random) -> None:
    user = rnd.choice(USERS)
    engagement = rnd.choice(sorted(ENGAGEMENTS))
    accepted = [i for i in IDENTIFIERS if i[0] in ENGAGEMENTS[engagement]]
    id_type, value, domain = rnd.choice(accepted if rnd.random() < 0.8 else IDENTIFIERS)
    # Mostly a location that can be chosen for the engagement, as a user would pick; sometimes any of theirs.
    read = run(api.graphql(PAGE, {"id": world.engagement_ids[engagement]}, as_user=user)).data["engagement"]
    fitting = [
        e["location"]["id"] for e in read["locationEligibility"] if set(e["reasons"]) <= NOMINATING_DESPITE
    ]
    location = rnd.choice(fitting if fitting and rnd.random() < 0.8 else run(_locations(api, user)))
    variables = {
        "input": {
            "friendlyName": "Random pilot",
            "locationId": location,
            "customerIdType": id_type,
            "customerIdValue": value,
            "engagementIds": [world.engagement_ids[engagement]],
            "customerContact": _contact(domain),
            "partnerContact": _partner_contact(user),
            "tenantMismatchReason": "The contact writes from the group's mail domain.",
            **({"hours": 40} if engagement in VARIABLE else {}),
        }
    }
    payload = run(api.graphql(ADD, variables, as_user=user)).data["addCustomer"]
    world.log.append(f"add {value} for {engagement} by {user}: {[e['code'] for e in payload['userErrors']]}")
    for claim in payload["claims"] or []:
        world.claims[claim["id"]] = ADMIN_OF.get(user, user)


def page_action(run: Run, api: Api, world: World, rnd: random.Random) -> None:
    """An action offered on a row of a Customers page."""
    user = rnd.choice(USERS)
    engagement = rnd.choice(sorted(ENGAGEMENTS))
    read = run(api.graphql(PAGE, {"id": world.engagement_ids[engagement]}, as_user=user)).data["engagement"]
    offered = [(edge, action) for edge in read["customers"]["edges"] for action in edge["availableActions"]]
    if not offered:
        return
    edge, action = _pick(rnd, offered, lambda pair: pair[1])
    if action != "CLAIM_CUSTOMER":
        _act(run, api, world, edge["claim"]["id"], action, as_user=user)
        return
    locations = [
        e["location"]["id"] for e in read["locationEligibility"] if set(e["reasons"]) <= NOMINATING_DESPITE
    ]
    assert locations, f"CLAIM_CUSTOMER offered to {user} on {engagement}, who has no location to claim at"
    identifier = edge["node"]["identifier"]
    domain = CONTACT_DOMAIN.get(identifier["value"], identifier["value"])
    variables = {
        "input": {
            "customerId": edge["node"]["id"],
            "friendlyName": "Claimed again",
            "locationId": rnd.choice(locations),
            "engagementIds": [world.engagement_ids[engagement]],
            "customerContact": _contact(domain),
            "partnerContact": _partner_contact(user),
            "tenantMismatchReason": "The contact writes from the group's mail domain.",
        }
    }
    world.log.append(f"CLAIM_CUSTOMER {identifier['value']} for {engagement} by {user}")
    payload = run(api.graphql(CLAIM_CUSTOMER, variables, as_user=user)).data["claimCustomer"]
    _succeeded(payload, f"CLAIM_CUSTOMER on {engagement}", world)
    for claim in payload["claims"]:
        world.claims[claim["id"]] = ADMIN_OF.get(user, user)


def _claim_with_actions(run: Run, api: Api, world: World, rnd: random.Random, **who: str) -> dict | None:
    """A claim of the sequence that offers `who` something (a few tried at random), or None."""
    for claim_id in rnd.sample(sorted(world.claims), min(4, len(world.claims))):
        claim = run(api.graphql(CLAIM, {"id": claim_id}, **who)).data["claim"]
        if claim is not None and claim["availableActions"]:
            return claim
    return None


def claim_action(run: Run, api: Api, world: World, rnd: random.Random) -> None:
    """An action offered on a claim, to a partner user who may see it."""
    if not world.claims:
        return
    # Mostly a user of a partner with claims here (who may or may not see their locations); sometimes anyone.
    partners = set(world.claims.values())
    colleagues = [u for u in USERS if ADMIN_OF.get(u, u) in partners]
    user = rnd.choice(colleagues if rnd.random() < 0.9 else USERS)
    claim = _claim_with_actions(run, api, world, rnd, as_user=user)
    if claim is not None:
        _act(run, api, world, claim["id"], _pick(rnd, claim["availableActions"], str), as_user=user)


def review(run: Run, api: Api, world: World, rnd: random.Random) -> None:
    """An action offered on a claim to a reviewer."""
    if not world.claims:
        return
    token = reviewer_token(api)
    claim = _claim_with_actions(run, api, world, rnd, token=token)
    if claim is not None:
        _act(run, api, world, claim["id"], _pick(rnd, claim["availableActions"], str), token=token)


def answer(run: Run, api: Api, world: World, rnd: random.Random) -> None:
    """The customer answers the latest consent mail of a claim (the link may be spent, voided or dead)."""
    if not world.claims:
        return
    claim_id = rnd.choice(sorted(world.claims))
    token = run(_latest_link(api, claim_id))
    if token is None:
        return
    decision = rnd.choice(["ACCEPT", "ACCEPT", "ACCEPT", "DECLINE"])
    response = run(api.graphql(RESPOND, {"token": token, "decision": decision}))
    assert not response.body.get("errors"), response.body
    codes = [e["code"] for e in response.data["respondToConsent"]["userErrors"]]
    world.log.append(f"{decision} on {claim_id}: {codes}")


def move_clock(run: Run, api: Api, world: World, rnd: random.Random) -> None:
    days = rnd.choice([1, 2, 5, 10, 20, 40, 100])
    world.log.append(f"clock +{days} days")
    moved = run(api.graphql(ADVANCE, {"days": days}, as_user=CONTOSO_ADMIN)).data["advanceTestClock"]
    _succeeded(moved, "advanceTestClock", world)


STEPS = [add] * 4 + [page_action] * 3 + [claim_action] * 3 + [review] * 2 + [answer] * 2 + [move_clock]


def _histories_in_order(run: Run, api: Api, world: World) -> None:
    for claim_id, reader in world.claims.items():
        claim = run(api.graphql(CLAIM, {"id": claim_id}, as_user=reader)).data["claim"]
        events = [edge["node"] for edge in claim["history"]["edges"]]
        times = [datetime.fromisoformat(event["occurredAt"]) for event in events]
        assert times == sorted(times), f"history of {claim_id} out of time order: {events}"
        assert events[0]["fromStatus"] is None
        for before, after in itertools.pairwise(events):
            assert after["fromStatus"] == before["toStatus"], events
        assert events[-1]["toStatus"] == claim["status"]


async def test_every_offered_action_succeeds_and_every_history_is_in_time_order(api):
    loop = asyncio.get_running_loop()

    def run(coroutine: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(120)

    data = (await api.graphql(IDS, as_user=CONTOSO_ADMIN)).data
    engagement_ids = {e["node"]["key"]: e["node"]["id"] for e in data["engagements"]["edges"]}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def sequence(data: st.DataObject) -> None:
        run(_reset(api))
        world = World(engagement_ids)
        # One seed per sequence: its choices are uniform (hypothesis's own draws lean to the first options).
        rnd = random.Random(data.draw(st.integers(min_value=0, max_value=2**32 - 1), label="seed"))
        for _ in range(rnd.randint(15, 50)):
            rnd.choice(STEPS)(run, api, world, rnd)
        _histories_in_order(run, api, world)

    try:
        await asyncio.to_thread(sequence)
    finally:
        await _reset(api)
