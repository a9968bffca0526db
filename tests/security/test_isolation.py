"""Isolation, proven by enumeration: every Node type, every field that takes an ID (an ID argument, or an input
holding one at any depth), every connection and every root field is found in the schema itself, and each must be
covered by a table below, or `test_every_*_is_covered` fails. Then, through the real server:

- a Contoso admin holding Fabrikam's IDs (a claim, submitted or not, its events, the customer, locations, the user,
  the account) gets exactly what an unknown ID of the same type gets, on `node`, `nodes`, `claim`, every query and
  mutation that takes an ID, and the `claimStatusChanged` subscription;
- a location-scoped user (the Contoso seller, Toronto only) holding another Contoso location's IDs likewise;
- a reviewer reaches submitted claims and the reviewer operations only;
- a consent link's token answers its own request only, and is no bearer token;
- anonymous callers reach `respondToConsent` only.
"""

import asyncio
import base64
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from graphql import (
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    get_named_type,
    is_leaf_type,
)

from app.auth import PARTNER, REVIEWER, mint_token
from app.resolvers.relay import encode_cursor, to_global_id
from app.resolvers.schema import schema as app_schema
from tests.api.nominating import DEMO, row_counts, wipe_nominations
from tests.api.subscriptions import open_socket
from tests.demo import CONTOSO_ADMIN, CONTOSO_SELLER, FABRIKAM_ADMIN, SEATTLE, TORONTO

SCHEMA: GraphQLSchema = app_schema._schema
ROOTS = ("Query", "Mutation", "Subscription")
UNKNOWN_PK = 999_999_999
FROM_THE_START = encode_cursor(0)
BERLIN, PARIS = "4200201", "4200202"

# ------------------------------------------------------------------------------------------------ discovery


def _unwrap(type_: Any) -> tuple[Any, str]:
    """The named type and "[]" for each list around it."""
    suffix = ""
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        if isinstance(type_, GraphQLList):
            suffix += "[]"
        type_ = type_.of_type
    return type_, suffix


def _id_paths(type_: Any, prefix: str, seen: frozenset[str] = frozenset()) -> list[str]:
    named, suffix = _unwrap(type_)
    if named.name == "ID":
        return [prefix + suffix]
    if isinstance(named, GraphQLInputObjectType) and named.name not in seen:
        return [
            path
            for name, input_field in named.fields.items()
            for path in _id_paths(input_field.type, f"{prefix}{suffix}.{name}", seen | {named.name})
        ]
    return []


def object_types() -> list[GraphQLObjectType]:
    return [
        t for n, t in SCHEMA.type_map.items() if isinstance(t, GraphQLObjectType) and not n.startswith("__")
    ]


def discovered_id_slots() -> set[str]:
    """`Type.field(argument.path)` for every ID a field takes, directly or inside its inputs."""
    return {
        f"{owner.name}.{name}({path})"
        for owner in object_types()
        for name, field_ in owner.fields.items()
        for arg_name, arg in field_.args.items()
        for path in _id_paths(arg.type, arg_name)
    }


def discovered_node_types() -> set[str]:
    node = SCHEMA.get_type("Node")
    return {t.name for t in object_types() if node in t.interfaces}


def discovered_connections() -> set[str]:
    return {
        f"{owner.name}.{name}"
        for owner in object_types()
        for name, field_ in owner.fields.items()
        if get_named_type(field_.type).name.endswith("Connection")
    }


def discovered_root_fields() -> set[str]:
    return {f"{root}.{name}" for root in ROOTS for name in SCHEMA.get_type(root).fields}


# ------------------------------------------------------------------------------------------------ the tables

# Each Node type: the key of the world's objects of that type (None: the engagement catalogue, shared by all).
NODE_TYPES: dict[str, str | None] = {
    "Claim": "claim",
    "ClaimEvent": "event",
    "Customer": "customer",
    "PartnerLocation": "location",
    "PartnerUser": "user",
    "PartnerAccount": "partner",
    "Engagement": None,
}


@dataclass
class Own:
    """Valid values of one role, to fill the arguments around the ID under test."""

    location: str
    engagement: str
    customer: str
    domain: str
    visible: str  # a node it may see


def _contact(domain: str) -> dict[str, str]:
    return {"firstName": "Nancy", "lastName": "Davolio", "email": f"it@{domain}"}


def _add(own: Own) -> dict[str, Any]:
    return {
        "input": {
            "friendlyName": "Isolation",
            "locationId": own.location,
            "customerIdType": "DOMAIN_NAME",
            "customerIdValue": own.domain,
            "engagementIds": [own.engagement],
            "customerContact": _contact(own.domain),
            "partnerContact": _contact("partner.example"),
        }
    }


def _claim_customer(own: Own) -> dict[str, Any]:
    return {
        "input": {
            "customerId": own.customer,
            "friendlyName": "Isolation",
            "locationId": own.location,
            "engagementIds": [own.engagement],
            "customerContact": _contact(own.domain),
            "partnerContact": _contact("partner.example"),
        }
    }


def _claim_action(comment: str | None = None) -> Callable[[Own], dict[str, Any]]:
    def variables(_own: Own) -> dict[str, Any]:
        return {"input": {"claimId": None} | ({"comment": comment} if comment else {})}

    return variables


# Every ID slot: the arguments to call it with (the slot itself is then set to the ID under test).
SLOTS: dict[str, Callable[[Own], dict[str, Any]]] = {
    "Query.node(id)": lambda own: {},
    "Query.nodes(ids[])": lambda own: {},
    "Query.engagement(id)": lambda own: {},
    "Query.claim(id)": lambda own: {},
    "Query.customerEligibility(input.locationId)": lambda own: {
        "input": {"customerIdType": "DOMAIN_NAME", "customerIdValue": own.domain}
    },
    "Mutation.addCustomer(input.locationId)": _add,
    "Mutation.addCustomer(input.engagementIds[])": _add,
    "Mutation.claimCustomer(input.customerId)": _claim_customer,
    "Mutation.claimCustomer(input.locationId)": _claim_customer,
    "Mutation.claimCustomer(input.engagementIds[])": _claim_customer,
    "Mutation.sendConsent(input.claimId)": _claim_action(),
    "Mutation.submitClaim(input.claimId)": _claim_action("Fixed."),
    "Mutation.cancelClaim(input.claimId)": _claim_action(),
    "Mutation.disputeClaim(input.claimId)": _claim_action("Please look again."),
    "Mutation.startClaimReview(input.claimId)": _claim_action(),
    "Mutation.requestPartnerAction(input.claimId)": _claim_action("Add the report."),
    "Mutation.approveClaim(input.claimId)": _claim_action("Fine."),
    "Mutation.rejectClaim(input.claimId)": _claim_action("Not eligible."),
    "Subscription.claimStatusChanged(engagementId)": lambda own: {"after": FROM_THE_START},
    "Subscription.claimStatusChanged(claimId)": lambda own: {"after": FROM_THE_START},
}

# Who may call each root field: "partner" (partner users), "reviewer", "anyone signed in", "public".
ACCESS: dict[str, str] = {
    "Query.node": "anyone signed in",
    "Query.nodes": "anyone signed in",
    "Query.claim": "anyone signed in",
    "Query.engagements": "partner",
    "Query.engagement": "partner",
    "Query.customerEligibility": "partner",
    "Query.claimsForReview": "reviewer",
    "Query.viewer": "partner",
    "Mutation.addCustomer": "partner",
    "Mutation.claimCustomer": "partner",
    "Mutation.sendConsent": "partner",
    "Mutation.respondToConsent": "public",
    "Mutation.advanceTestClock": "partner",
    "Mutation.submitClaim": "partner",
    "Mutation.cancelClaim": "partner",
    "Mutation.disputeClaim": "partner",
    "Mutation.startClaimReview": "reviewer",
    "Mutation.requestPartnerAction": "reviewer",
    "Mutation.approveClaim": "reviewer",
    "Mutation.rejectClaim": "reviewer",
    "Subscription.claimStatusChanged": "anyone signed in",
}

# Every connection: what a role must (not) find in it is checked by `test_connections_hold_only_what_a_role_may_see`.
CONNECTIONS = {
    "Query.engagements": "the shared catalogue: the same for every partner user",
    "Query.claimsForReview": "reviewers only: submitted claims, of every partner",
    "Viewer.locations": "the viewer's own locations (a location-scoped user: its own ones)",
    "Claim.history": "reachable through a claim the caller may see, and holding that claim's events only",
    "Engagement.customers": "the viewer's partner's customers, and claims of locations it may see",
}


def test_every_id_taking_field_is_covered():
    assert discovered_id_slots() == set(SLOTS), "add the new ID slot to SLOTS (and make it isolate)"


def test_every_node_type_is_covered():
    assert discovered_node_types() == set(NODE_TYPES), "add the new Node type to NODE_TYPES and to the world"


def test_every_connection_is_covered():
    assert discovered_connections() == set(CONNECTIONS), "add the new connection to CONNECTIONS and its check"


def test_every_root_field_has_an_access_rule():
    assert discovered_root_fields() == set(ACCESS), "say who may call the new root field in ACCESS"


# ---------------------------------------------------------------------------------- documents from the schema


def _selection(type_: Any, depth: int) -> str:
    named = get_named_type(type_)
    if is_leaf_type(named):
        return ""
    if isinstance(named, GraphQLInterfaceType | GraphQLUnionType):
        return "{ __typename ... on Node { id } }"
    parts = ["__typename"]
    for name, field_ in named.fields.items():
        if field_.args:
            continue  # connections and fields with arguments: the connection checks cover them
        if is_leaf_type(get_named_type(field_.type)):
            parts.append(name)
        elif depth > 0:
            parts.append(f"{name} {_selection(field_.type, depth - 1)}")
    return "{ " + " ".join(parts) + " }"


def document(root: str, name: str, variables: dict[str, Any], depth: int = 2) -> str:
    """`root.name` called with `variables` as its arguments, selecting every field without arguments."""
    field_: GraphQLField = SCHEMA.get_type(root).fields[name]
    declared = [(arg, field_.args[arg]) for arg in variables]
    header = ", ".join(f"${arg}: {definition.type}" for arg, definition in declared)
    arguments = ", ".join(f"{arg}: ${arg}" for arg, _ in declared)
    call = f"{name}({arguments})" if arguments else name
    return f"{root.lower()}{f'({header})' if header else ''} {{ {call} {_selection(field_.type, depth)} }}"


def place(variables: dict[str, Any], path: str, value: str) -> dict[str, Any]:
    """A copy of `variables` with the ID slot `path` (e.g. `input.engagementIds[]`) set to `value`."""
    result = json.loads(json.dumps(variables))
    *parents, last = path.split(".")
    target = result
    for part in parents:
        target = target.setdefault(part.removesuffix("[]"), {})
    key = last.removesuffix("[]")
    target[key] = [value] if last.endswith("[]") else value
    return result


def _slot(key: str) -> tuple[str, str, str]:
    owner, rest = key.split(".", 1)
    name, _, path = rest.partition("(")
    return owner, name, path.rstrip(")")


def _dummy(type_: Any) -> Any:
    """A valid value of an input type, for calls whose point is who may make them."""
    named, suffix = _unwrap(type_)
    if isinstance(named, GraphQLInputObjectType):
        value: Any = {
            n: _dummy(f.type) for n, f in named.fields.items() if isinstance(f.type, GraphQLNonNull)
        }
    elif named.name == "ID":
        value = to_global_id("Claim", UNKNOWN_PK)
    elif named.name in ("Int", "Float"):
        value = 1
    elif named.name == "Boolean":
        value = True
    elif hasattr(named, "values"):
        value = next(iter(named.values))
    else:
        value = "x"
    return [value] if suffix else value


def minimal_call(key: str) -> tuple[str, dict[str, Any]]:
    root, name = key.split(".")
    field_ = SCHEMA.get_type(root).fields[name]
    variables = {n: _dummy(a.type) for n, a in field_.args.items() if isinstance(a.type, GraphQLNonNull)}
    return document(root, name, variables, depth=0), variables


def normalise(body: Any, *ids: str) -> str:
    """What a caller learns from a response: data, and each error's message, path and code; never the
    cost report. The IDs the call used read as <ID>."""
    if isinstance(body, dict) and "errors" in body:
        body = {
            "data": body.get("data"),
            "errors": [
                [e.get("message"), e.get("path"), (e.get("extensions") or {}).get("code")]
                for e in body["errors"]
            ],
        }
    elif isinstance(body, dict):
        body = {"data": body.get("data")}
    text = json.dumps(body, sort_keys=True)
    for value in ids:
        text = text.replace(value, "<ID>")
    return text


# ----------------------------------------------------------------------------------------------- the world

PREVIEW = """query($input: CustomerEligibilityInput!) { customerEligibility(input: $input) {
  eligibleEngagements { engagement { id payType } } userErrors { code } } }"""
ADD = """mutation($input: AddCustomerInput!) { addCustomer(input: $input) {
  customer { id } claims { id } userErrors { code field message } } }"""
HISTORY = "query($id: ID!) { claim(id: $id) { history(first: 50) { edges { node { id } } } } }"
VIEWER = (
    """{ viewer { user { id } partner { id } locations(first: 50) { edges { node { id locationId } } } } }"""
)
SEND = "mutation($id: ID!) { sendConsent(input: {claimId: $id}) { userErrors { code message } } }"
RESPOND = """mutation($token: String!, $decision: ConsentDecision!) {
  respondToConsent(input: {token: $token, decision: $decision}) {
    accepted engagementName partnerName userErrors { code field message } } }"""
SUBMIT = "mutation($id: ID!) { submitClaim(input: {claimId: $id}) { claim { status } userErrors { code } } }"


@dataclass
class Party:
    """One partner user's objects, by Node kind (NODE_TYPES' keys)."""

    token: str
    objects: dict[str, list[str]] = field(default_factory=dict)
    own: Own | None = None

    def add(self, kind: str, *ids: str) -> None:
        self.objects.setdefault(kind, []).extend(ids)


@dataclass
class World:
    contoso: Party
    seller: Party
    fabrikam: Party
    reviewer: str
    seattle_claim: str
    fabrikam_claim: str  # Fabrikam's, never submitted
    fabrikam_submitted: str
    seattle_recipient: str
    fabrikam_recipient: str
    engagements: set[str] = field(default_factory=set)  # those the world's claims are on


async def _viewer(api, token: str) -> tuple[dict, dict[str, str]]:
    viewer = (await api.graphql(VIEWER, token=token)).data["viewer"]
    return viewer, {e["node"]["locationId"]: e["node"]["id"] for e in viewer["locations"]["edges"]}


async def _nominate(api, token: str, location: str, used: set[str]) -> dict[str, str]:
    """Add a directory customer, by domain, for a fixed-pay engagement it and the location are eligible for."""
    for tenant in DEMO["directory"]["tenants"]:
        domain = tenant["domains"][0] if tenant.get("domains") else None
        if domain is None or domain in used:
            continue
        variables = {
            "input": {"locationId": location, "customerIdType": "DOMAIN_NAME", "customerIdValue": domain}
        }
        preview = (await api.graphql(PREVIEW, variables, token=token)).data["customerEligibility"]
        fixed = [
            v["engagement"]["id"]
            for v in preview["eligibleEngagements"]
            if v["engagement"]["payType"] == "FIXED"
        ]
        if not fixed:
            continue
        used.add(domain)
        recipient = f"isolation.{uuid.uuid4().hex[:8]}@{domain}"
        payload = (
            await api.graphql(
                ADD,
                {
                    "input": {
                        "friendlyName": f"Isolation {domain}",
                        "locationId": location,
                        "customerIdType": "DOMAIN_NAME",
                        "customerIdValue": domain,
                        "engagementIds": [fixed[0]],
                        "customerContact": {"firstName": "Ada", "lastName": "Lovelace", "email": recipient},
                        "partnerContact": _contact("partner.example"),
                    }
                },
                token=token,
            )
        ).data["addCustomer"]
        assert payload["userErrors"] == [], payload
        return {
            "claim": payload["claims"][0]["id"],
            "customer": payload["customer"]["id"],
            "engagement": fixed[0],
            "domain": domain,
            "recipient": recipient,
        }
    raise AssertionError(f"no eligible directory customer left for {location}")


async def _events(api, token: str, claim_id: str) -> list[str]:
    history = (await api.graphql(HISTORY, {"id": claim_id}, token=token)).data["claim"]["history"]
    return [edge["node"]["id"] for edge in history["edges"]]


async def _consent_token(smtp, recipient: str) -> str:
    [message] = await smtp.wait_for(recipient)
    return re.search(r"/consent/(\S+)", message.get_body(preferencelist=("plain",)).get_content()).group(1)


async def build_world(api, smtp) -> World:
    """Through the API, as each partner would: Contoso's claims at Seattle and Toronto, Fabrikam's at Berlin
    (one of them consented and submitted), every object's global ID."""
    used: set[str] = set()
    parties = {}
    for email in (CONTOSO_ADMIN, CONTOSO_SELLER, FABRIKAM_ADMIN):
        token = mint_token(api.settings, email, PARTNER, f"isolation {email}")
        viewer, locations = await _viewer(api, token)
        party = Party(token)
        party.add("user", viewer["user"]["id"])
        party.add("partner", viewer["partner"]["id"])
        party.add("location", *locations.values())
        parties[email] = (party, locations)
    contoso, contoso_locations = parties[CONTOSO_ADMIN]
    seller, seller_locations = parties[CONTOSO_SELLER]
    fabrikam, fabrikam_locations = parties[FABRIKAM_ADMIN]
    assert set(seller_locations) == {TORONTO}

    seattle = await _nominate(api, contoso.token, contoso_locations[SEATTLE], used)
    toronto = await _nominate(api, seller.token, seller_locations[TORONTO], used)
    berlin = await _nominate(api, fabrikam.token, fabrikam_locations[BERLIN], used)
    submitted = await _nominate(api, fabrikam.token, fabrikam_locations[BERLIN], used)
    # Fabrikam's second claim goes through consent to SUBMITTED: what reviewers may see.
    assert (await api.graphql(SEND, {"id": submitted["claim"]}, token=fabrikam.token)).data["sendConsent"][
        "userErrors"
    ] == []
    link = await _consent_token(smtp, submitted["recipient"])
    answer = (await api.graphql(RESPOND, {"token": link, "decision": "ACCEPT"})).data["respondToConsent"]
    assert answer["accepted"] is True, answer
    sent = (await api.graphql(SUBMIT, {"id": submitted["claim"]}, token=fabrikam.token)).data["submitClaim"]
    assert sent == {"claim": {"status": "SUBMITTED"}, "userErrors": []}

    for party, nominated in ((contoso, [seattle]), (seller, [toronto]), (fabrikam, [berlin, submitted])):
        for one in nominated:
            party.add("claim", one["claim"])
            party.add("customer", one["customer"])
            party.add("event", *await _events(api, party.token, one["claim"]))
    contoso.add("claim", toronto["claim"])  # the admin sees every location's claims
    contoso.own = Own(
        contoso_locations[SEATTLE],
        seattle["engagement"],
        seattle["customer"],
        "northwind.example",
        contoso_locations[SEATTLE],
    )
    seller.own = Own(
        seller_locations[TORONTO],
        toronto["engagement"],
        toronto["customer"],
        "northwind.example",
        seller_locations[TORONTO],
    )
    reviewer = mint_token(api.settings, "rita.reviewer@microsoft.example", REVIEWER, "Rita Reviewer")
    return World(
        contoso=contoso,
        seller=seller,
        fabrikam=fabrikam,
        reviewer=reviewer,
        seattle_claim=seattle["claim"],
        fabrikam_claim=berlin["claim"],
        fabrikam_submitted=submitted["claim"],
        seattle_recipient=seattle["recipient"],
        fabrikam_recipient=berlin["recipient"],
        engagements={one["engagement"] for one in (seattle, toronto, berlin, submitted)},
    )


@pytest.fixture(scope="module")
async def world(api, smtp) -> World:
    """The shared server with no claims but the world's (the claim limits count across partners)."""
    api.clock.offset = timedelta(0)
    await wipe_nominations(api)
    return await build_world(api, smtp)


def _type_of(global_id: str) -> str:
    return base64.urlsafe_b64decode(global_id + "=" * (-len(global_id) % 4)).decode().partition(":")[0]


def _unknown(global_id: str) -> str:
    return to_global_id(_type_of(global_id), UNKNOWN_PK)


@dataclass
class Role:
    name: str
    token: str
    own: Own
    foreign: list[str]  # IDs of objects this role must not reach
    seen: list[str] = field(default_factory=list)  # IDs of objects it may reach (positive controls)


def roles(world: World) -> list[Role]:
    def kinds(party: Party, *names: str) -> list[str]:
        """Two objects of each kind: more of one kind take the same path."""
        return [i for n in names for i in party.objects.get(n, [])[:2]]

    fabrikam = world.fabrikam
    contoso = world.contoso
    other_locations = [i for i in contoso.objects["location"] if i not in world.seller.objects["location"]][
        :2
    ]
    seattle_events = contoso.objects["event"][:2]
    everyone_unsubmitted = [
        world.seattle_claim,
        world.fabrikam_claim,
        *seattle_events,
        *kinds(fabrikam, "event")[:1],
    ]
    return [
        Role(
            "Contoso admin with Fabrikam's IDs",
            contoso.token,
            contoso.own,
            kinds(fabrikam, *[k for k in NODE_TYPES.values() if k]),
            [world.seattle_claim, *kinds(contoso, "customer", "location", "user", "partner")],
        ),
        Role(
            "Contoso seller (Toronto) with Seattle's and London's IDs",
            world.seller.token,
            world.seller.own,
            [world.seattle_claim, *seattle_events, *other_locations, *kinds(contoso, "user")],
            [*kinds(world.seller, "claim", "event", "location", "user", "partner")],
        ),
        Role(
            "reviewer with unsubmitted claims and partner objects",
            world.reviewer,
            contoso.own,
            [
                *everyone_unsubmitted,
                *kinds(fabrikam, "customer", "location", "user", "partner"),
                *kinds(contoso, "customer", "location", "user", "partner"),
            ],
            [world.fabrikam_submitted],
        ),
    ]


async def _http_outcome(api, token: str, key: str, own: Own, value: str) -> str:
    root, name, path = _slot(key)
    base = SLOTS[key](own)
    variables = place(base, path, value)
    response = await api.graphql(document(root, name, variables), variables, token=token)
    assert response.status < 500, response.body
    return normalise(response.body, value)


async def test_foreign_ids_answer_exactly_like_unknown_ones(api, world):
    """Every query and mutation ID slot, for every role, every foreign ID vs an unknown ID of its type."""
    http_slots = [k for k in SLOTS if not k.startswith("Subscription.")]
    gate = asyncio.Semaphore(6)

    async def outcome(role: Role, key: str, value: str) -> str:
        async with gate:
            return await _http_outcome(api, role.token, key, role.own, value)

    before = await _snapshot(api, world)
    checked = 0
    for role in roles(world):
        unknown_ids = sorted({_unknown(i) for i in role.foreign})
        for key in http_slots:
            unknown = dict(
                zip(
                    unknown_ids,
                    await asyncio.gather(*(outcome(role, key, u) for u in unknown_ids)),
                    strict=True,
                )
            )
            foreign = await asyncio.gather(*(outcome(role, key, f) for f in role.foreign))
            for value, got in zip(role.foreign, foreign, strict=True):
                assert got == unknown[_unknown(value)], f"{role.name}: {key} with {_type_of(value)} {value}"
                checked += 1
    assert checked > 500
    # None of those calls changed anything of anyone's.
    assert await _snapshot(api, world) == before


async def test_the_harness_sees_what_a_role_may_see(api, world):
    """Positive controls: through the same slots, a role's own objects do not look missing."""
    for role in roles(world):
        for value in role.seen:
            for key in ("Query.node(id)", "Query.nodes(ids[])"):
                assert await _http_outcome(api, role.token, key, role.own, value) != await _http_outcome(
                    api, role.token, key, role.own, _unknown(value)
                ), f"{role.name} should see {value}"


async def _snapshot(api, world: World) -> dict[str, Any]:
    """Every claim's status and history as its owner sees them, and the rows of every claim table."""
    query = "query($id: ID!) { claim(id: $id) { status history(first: 50) { totalCount } } }"
    claims = {
        claim: (await api.graphql(query, {"id": claim}, token=owner)).data["claim"]
        for claim, owner in (
            (world.seattle_claim, world.contoso.token),
            (world.fabrikam_claim, world.fabrikam.token),
            (world.fabrikam_submitted, world.fabrikam.token),
        )
    }
    return {"claims": claims, "rows": await row_counts(api)}


# --------------------------------------------------------------------------------------------- subscriptions

EVENTS = """subscription($engagementId: ID, $claimId: ID, $after: String) {
  claimStatusChanged(engagementId: $engagementId, claimId: $claimId, after: $after) {
    id action toStatus claim { id status } } }"""


async def _subscription_outcome(
    api, token: str, variables: dict[str, Any], ids: list[str], seconds: float
) -> str:
    socket = await open_socket(api.base_url, token)
    messages = []
    try:
        ack = json.loads(await asyncio.wait_for(socket.recv(), 10))
        assert ack["type"] == "connection_ack", ack
        await socket.send(
            json.dumps({"id": "1", "type": "subscribe", "payload": {"query": EVENTS, "variables": variables}})
        )
        deadline = asyncio.get_running_loop().time() + seconds
        while (remaining := deadline - asyncio.get_running_loop().time()) > 0:
            try:
                message = json.loads(await asyncio.wait_for(socket.recv(), remaining))
            except TimeoutError:
                break
            if message["type"] in ("ping", "pong", "ka"):
                continue
            messages.append(
                {"type": message["type"], "payload": json.loads(normalise(message.get("payload")))}
            )
            if message["type"] in ("complete", "error"):
                break
    finally:
        await socket.close()
    return normalise(messages, *ids)


async def test_subscriptions_to_foreign_ids_get_what_unknown_ones_get(api, smtp, world):
    """Every subscription ID slot, every role: replay from the start and live events, foreign vs unknown; while
    they listen, Fabrikam and Contoso each change a claim."""
    subscription_slots = [k for k in SLOTS if k.startswith("Subscription.")]
    window = 2.5
    jobs: list[tuple[str, str, str, asyncio.Task[str]]] = []
    controls: list[tuple[str, asyncio.Task[str], asyncio.Task[str]]] = []
    for role in roles(world):
        for key in subscription_slots:
            _, _, path = _slot(key)
            for value in sorted({*role.foreign, *(_unknown(i) for i in role.foreign)}):
                variables = place(SLOTS[key](role.own), path, value)
                task = asyncio.create_task(_subscription_outcome(api, role.token, variables, [value], window))
                jobs.append((role.name, key, value, task))
        own_claim = role.seen[0]
        mine = asyncio.create_task(
            _subscription_outcome(
                api, role.token, {"claimId": own_claim, "after": FROM_THE_START}, [], window
            )
        )
        nothing = asyncio.create_task(
            _subscription_outcome(
                api, role.token, {"claimId": _unknown(own_claim), "after": FROM_THE_START}, [], window
            )
        )
        controls.append((role.name, mine, nothing))
    await asyncio.sleep(1.0)  # every socket subscribed
    for claim, token in (
        (world.fabrikam_claim, world.fabrikam.token),
        (world.seattle_claim, world.contoso.token),
    ):
        assert (await api.graphql(SEND, {"id": claim}, token=token)).data["sendConsent"]["userErrors"] == []
    outcomes = {(name, key, value): await task for name, key, value, task in jobs}
    for (name, key, value), got in outcomes.items():
        if _unknown(value) == value:
            continue
        assert got == outcomes[(name, key, _unknown(value))], f"{name}: {key} with {_type_of(value)} {value}"
    for name, mine, nothing in controls:
        assert await mine != await nothing, f"{name}: its own claim's events should arrive"


# ------------------------------------------------------------------------------------------------ connections


CUSTOMERS_PAGE = """query($id: ID!, $tab: CustomersTab!) { engagement(id: $id) {
  customers(tab: $tab, first: 100) { edges { node { id } claim { id } } } } }"""


async def test_connections_hold_only_what_a_role_may_see(api, world):
    contoso, seller, fabrikam = world.contoso, world.seller, world.fabrikam
    catalogue = "{ engagements(first: 100) { edges { node { id } } } }"
    seen = [
        [e["node"]["id"] for e in (await api.graphql(catalogue, token=t)).data["engagements"]["edges"]]
        for t in (contoso.token, seller.token, fabrikam.token)
    ]
    assert seen[0] == seen[1] == seen[2] and all(_type_of(i) == "Engagement" for i in seen[0])

    review = "{ claimsForReview(first: 100) { edges { node { id } } } }"
    for token in (contoso.token, seller.token, fabrikam.token):
        assert (await api.graphql(review, token=token)).error_codes == ["FORBIDDEN"]
    queued = [
        e["node"]["id"]
        for e in (await api.graphql(review, token=world.reviewer)).data["claimsForReview"]["edges"]
    ]
    assert world.fabrikam_submitted in queued
    assert world.fabrikam_claim not in queued and world.seattle_claim not in queued

    for party in (contoso, seller, fabrikam):
        _, locations = await _viewer(api, party.token)
        assert sorted(locations.values()) == sorted(party.objects["location"])
    assert (await api.graphql(VIEWER, token=world.reviewer)).error_codes == ["FORBIDDEN"]

    # History: only through a claim the caller may see, and only that claim's events.
    owners = "query($id: ID!) { claim(id: $id) { history(first: 50) { edges { node { claim { id } } } } } }"
    for token, claim in (
        (contoso.token, world.seattle_claim),
        (seller.token, seller.objects["claim"][0]),
        (world.reviewer, world.fabrikam_submitted),
    ):
        edges = (await api.graphql(owners, {"id": claim}, token=token)).data["claim"]["history"]["edges"]
        assert edges and {e["node"]["claim"]["id"] for e in edges} == {claim}
    for token, claim in (
        (contoso.token, world.fabrikam_claim),
        (seller.token, world.seattle_claim),
        (world.reviewer, world.fabrikam_claim),
    ):
        assert (await api.graphql(HISTORY, {"id": claim}, token=token)).data == {"claim": None}
    reviewed = await _events(api, world.reviewer, world.fabrikam_submitted)
    assert reviewed == await _events(api, fabrikam.token, world.fabrikam_submitted)

    # The Customers page of every engagement, every tab: no other partner's customers or claims, and for a
    # location-scoped user no claim of another location (customers are the whole account's, by design).
    engagements = sorted(world.engagements)
    foreign_to = {
        contoso.token: set(fabrikam.objects["customer"]) | set(fabrikam.objects["claim"]),
        fabrikam.token: set(contoso.objects["customer"]) | set(contoso.objects["claim"]),
        seller.token: {world.seattle_claim}
        | set(fabrikam.objects["customer"])
        | set(fabrikam.objects["claim"]),
    }
    found_own = set()
    for token, forbidden in foreign_to.items():
        for engagement in engagements:
            for tab in ("ELIGIBLE", "INELIGIBLE", "COMPLETE"):
                page = (await api.graphql(CUSTOMERS_PAGE, {"id": engagement, "tab": tab}, token=token)).data
                rows = page["engagement"]["customers"]["edges"]
                ids = {r["node"]["id"] for r in rows} | {r["claim"]["id"] for r in rows if r["claim"]}
                assert not ids & forbidden, (tab, ids & forbidden)
                found_own |= ids
    assert world.seattle_claim in found_own and world.fabrikam_claim in found_own  # the pages are not empty


# ------------------------------------------------------------------------------------- who may call what


async def test_every_root_field_refuses_who_may_not_call_it(api, world):
    """Anonymous callers reach only public fields; reviewers no partner field; partners no reviewer field."""
    partner = world.contoso.token
    for key, rule in ACCESS.items():
        if key.startswith("Subscription."):
            continue
        query, variables = minimal_call(key)
        anonymous = await api.graphql(query, variables)
        if rule == "public":
            assert "UNAUTHENTICATED" not in anonymous.error_codes, key
        else:
            assert (anonymous.status, anonymous.error_codes) == (401, ["UNAUTHENTICATED"]), key
            assert anonymous.body["data"] is None
        if rule == "partner":
            assert (await api.graphql(query, variables, token=world.reviewer)).error_codes == ["FORBIDDEN"], (
                key
            )
        if rule == "reviewer":
            assert (await api.graphql(query, variables, token=partner)).error_codes == ["FORBIDDEN"], key
    # Subscriptions: no operation runs before a token is checked.
    socket = await open_socket(api.base_url, None)
    try:
        closed = await asyncio.wait_for(socket.wait_closed(), 10)
    finally:
        await socket.close()
    assert closed is None and socket.close_code == 4403


# -------------------------------------------------------------------------------------------- consent links


async def test_a_consent_link_reaches_its_own_request_only(api, smtp, world):
    """The links of the Seattle and Berlin claims (sent while testing subscriptions, or now)."""
    for claim, token, recipient in (
        (world.seattle_claim, world.contoso.token, world.seattle_recipient),
        (world.fabrikam_claim, world.fabrikam.token, world.fabrikam_recipient),
    ):
        if not [m for m in smtp.messages if m["To"] == recipient]:
            assert (await api.graphql(SEND, {"id": claim}, token=token)).data["sendConsent"][
                "userErrors"
            ] == []
    seattle_link = await _consent_token(smtp, world.seattle_recipient)
    berlin_link = await _consent_token(smtp, world.fabrikam_recipient)
    seattle_id, _, seattle_signature = seattle_link.partition(".")
    berlin_id, _, berlin_signature = berlin_link.partition(".")

    async def answer(link: str, decision: str = "DECLINE") -> str:
        return normalise((await api.graphql(RESPOND, {"token": link, "decision": decision})).body)

    # Another request's number with this link's signature, or a signature of another request: exactly what a
    # link to no request at all gets.
    nowhere = await answer(f"{UNKNOWN_PK}.{seattle_signature}")
    assert json.loads(nowhere)["data"]["respondToConsent"]["userErrors"][0]["code"] == "CONSENT_LINK_INVALID"
    for forged in (
        f"{berlin_id}.{seattle_signature}",
        f"{seattle_id}.{berlin_signature}",
        f"{berlin_id}.",
        f"{berlin_id}.{berlin_signature[:-2]}",
    ):
        assert await answer(forged) == nowhere, forged

    # The link is no bearer token.
    for link in (seattle_link, berlin_link):
        refused = await api.graphql("{ viewer { user { id } } }", token=link)
        assert refused.error_codes == ["UNAUTHENTICATED"]

    # Its answer changes its own claim only.
    status = "query($id: ID!) { claim(id: $id) { status } }"
    accepted = json.loads(await answer(seattle_link, "ACCEPT"))["data"]["respondToConsent"]
    assert accepted["accepted"] is True and accepted["userErrors"] == []
    assert (await api.graphql(status, {"id": world.seattle_claim}, token=world.contoso.token)).data["claim"][
        "status"
    ] == "CUSTOMER_CONSENT_RECEIVED"
    assert (await api.graphql(status, {"id": world.fabrikam_claim}, token=world.fabrikam.token)).data[
        "claim"
    ]["status"] == "AWAITING_CUSTOMER_CONSENT_RESPONSE"
