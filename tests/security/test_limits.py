"""Bounded queries: depth, aliases, tokens and cost refused before any resolver runs, each with its code; the
cost of every response in `extensions.cost`; a leaky bucket per user; the body cap, batches, the timeout."""

import asyncio
import json
import time

import httpx
from graphql import parse

from app.auth import PARTNER, mint_token
from app.config import Settings
from app.resolvers.limits import LIST_ESTIMATE, MUTATION_COST, Limits, requested_cost
from app.resolvers.schema import schema
from app.services import catalogue
from tests.api.subscriptions import open_socket
from tests.demo import CONTOSO_ADMIN, ENGAGEMENT_COUNT, FABRIKAM_ADMIN
from tests.security.conftest import serve

LIMITS = Limits.of(Settings.model_construct())


def cost(query: str, variables: dict | None = None) -> int:
    return requested_cost(schema._schema, parse(query), None, variables, LIMITS)


def fresh_token(api, email: str = CONTOSO_ADMIN) -> str:
    """A token of its own (a bucket of its user's, shared with the user's other tokens): tokens minted in one
    second are otherwise identical."""
    return mint_token(api.settings, email, PARTNER, f"limits-{time.perf_counter_ns()}")


async def available(api, token: str) -> int:
    """The points the token's bucket holds now (a free operation reports them)."""
    response = await api.graphql("{ __typename }", token=token)
    return response.body["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"]


def claim_chain(fields: int) -> str:
    """A document whose deepest path has `fields` fields: claim > history > edges > node > claim > ..."""
    names = ['claim(id: "Q2xhaW06MQ")', *(["history(first: 1)", "edges", "node", "claim"] * 10)][: fields - 1]
    query = "id"
    for name in reversed(names):
        query = f"{name} {{ {query} }}"
    return f"{{ {query} }}"


def untouched(statements: list[str]) -> bool:
    """No statement but the token's user lookup: no resolver (and not the deadline sweep) ran."""
    return not [s for s in statements if "engagement" in s or "claim" in s]


# -------------------------------------------------------------------------------- the cost of a document


def test_objects_count_one_and_lists_count_what_they_may_hold():
    assert cost("{ __typename viewer { user { id email } } }") == 2
    connection = (
        "{ engagements(first: 7) { totalCount pageInfo { hasNextPage } edges { cursor node { id } } } }"
    )
    assert cost(connection) == 1 + 1 + 7 * (1 + 1)
    assert cost("{ engagements { edges { node { id } } } }") == 1 + LIMITS.default_page_size * 2
    assert cost("query($n: Int) { engagements(last: $n) { edges { node { id } } } }", {"n": 3}) == 1 + 3 * 2
    # Past the maximum page size the resolver refuses anyway: the cost counts the most a page can hold.
    assert cost("{ engagements(first: 100000) { edges { node { id } } } }") == 1 + LIMITS.max_page_size * 2
    assert cost('{ nodes(ids: ["a", "b", "c"]) { id } }') == 3
    assert cost('{ claim(id: "x") { comments { id } } }') == 1 + LIST_ESTIMATE


def test_nested_lists_multiply_and_fragments_count_like_fields():
    nested = """{ engagements(first: 10) { edges { node {
        customers(tab: ELIGIBLE, first: 10) { edges { node { id } } } } } } }"""
    assert cost(nested) == 1 + 10 * (1 + 1 + (1 + 10 * 2))
    with_fragment = """query { viewer { ...who } } fragment who on Viewer { user { id } partner { id } }"""
    assert cost(with_fragment) == 3
    mutation = 'mutation { cancelClaim(input: {claimId: "x"}) { claim { id } userErrors { code } } }'
    assert cost(mutation) == MUTATION_COST + 1 + 1 + LIST_ESTIMATE


# The case: 1 + 100 engagement edges x (edge + node + customers + 100 x (edge + customer + claim)).
PAGES = """engagements(first: $a) { edges { node {
    customers(tab: ELIGIBLE, first: $b) { edges { node { id } claim { id } } } } } }"""
INLINE_30301 = "{ " + PAGES.replace("$a", "100").replace("$b", "100") + " }"


def test_cost_counts_variables_at_their_coerced_values():
    """Variables as graphql-core coerces them for execution: defaults included, `100.0` an Int of 100, lists of
    variables, a single ID for a list of one; the same values inline cost the same."""
    assert cost(INLINE_30301) == 30_301
    assert cost("query($a: Int = 100, $b: Int = 100) { " + PAGES + " }") == 30_301
    assert cost("query($a: Int! = 100, $b: Int) { " + PAGES + " }", {"b": 100}) == 30_301
    assert cost("query($a: Int, $b: Int) { " + PAGES + " }", {"a": 100.0, "b": 100.0}) == 30_301
    assert cost("query($a: Int = 1, $b: Int = 1) { " + PAGES + " }", {"a": 100, "b": 100}) == 30_301
    # A variable given no value and no default: the default page size, as the resolver will page.
    size = LIMITS.default_page_size
    assert cost("query($a: Int, $b: Int) { " + PAGES + " }") == 1 + size * (3 + size * 3)
    # Through fragments too.
    spread = "query($a: Int = 100, $b: Int = 100) { ...Pages } fragment Pages on Query { " + PAGES + " }"
    assert cost(spread) == 30_301

    ids = [f"id{n}" for n in range(150)]
    assert cost("query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": ids}) == 150
    default = "query($ids: [ID!]! = [" + ", ".join(f'"{i}"' for i in ids) + "]) { nodes(ids: $ids) { id } }"
    assert cost(default) == 150
    assert cost('query($a: ID!, $b: ID!) { nodes(ids: [$a, $b, "c"]) { id } }', {"a": "x", "b": "y"}) == 3
    assert cost("query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": "one"}) == 1  # coerced to [one]


async def test_costs_given_through_variables_are_refused_like_inline_ones(api):
    token = api.token(CONTOSO_ADMIN)
    inline = await api.graphql(INLINE_30301, token=token)
    assert inline.error_codes == ["MAX_COST_EXCEEDED"]
    assert inline.body["errors"][0]["extensions"]["cost"] == 30_301
    for query, variables in [
        ("query($a: Int = 100, $b: Int = 100) { " + PAGES + " }", {}),
        ("query($a: Int, $b: Int) { " + PAGES + " }", {"a": 100.0, "b": 100.0}),
        ("query($a: Int = 5, $b: Int!) { " + PAGES + " }", {"a": 100, "b": 100}),
    ]:
        with api.statements() as statements:
            refused = await api.graphql(query, variables, token=token)
        assert refused.error_codes == ["MAX_COST_EXCEEDED"] and refused.body["data"] is None, variables
        assert refused.body["errors"][0]["extensions"]["cost"] == 30_301
        assert untouched(statements), statements
    # `nodes` counts its IDs, however they are given.
    ids = ["x"] * 60
    counted = await api.graphql(
        "query($ids: [ID!]! = [" + ", ".join('"x"' for _ in ids) + "]) { nodes(ids: $ids) { id } }",
        token=token,
    )
    assert counted.body["extensions"]["cost"]["requestedQueryCost"] == 60
    by_variable = await api.graphql(
        "query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": ids}, token=token
    )
    assert by_variable.body["extensions"]["cost"]["requestedQueryCost"] == 60
    # A float literal for an Int is the document's mistake; a variable that cannot be coerced is refused with a
    # code before anything runs.
    literal = await api.graphql("{ engagements(first: 100.0) { totalCount } }", token=token)
    assert literal.error_codes == ["GRAPHQL_VALIDATION_FAILED"]
    with api.statements() as statements:
        wrong = await api.graphql(
            "query($n: Int) { engagements(first: $n) { totalCount } }", {"n": 100.5}, token=token
        )
    assert wrong.error_codes == ["BAD_USER_INPUT"] and wrong.body["data"] is None
    assert "Int cannot represent" in wrong.body["errors"][0]["message"]
    assert untouched(statements), statements


# ----------------------------------------------------------------------- refusals before any resolver runs


async def test_depth_past_the_limit_is_refused_with_its_code(api):
    at_limit = await api.graphql(claim_chain(13), as_user=CONTOSO_ADMIN)
    assert "MAX_DEPTH_EXCEEDED" not in at_limit.error_codes
    with api.statements() as statements:
        deeper = await api.graphql(claim_chain(14), as_user=CONTOSO_ADMIN)
    assert deeper.error_codes == ["MAX_DEPTH_EXCEEDED"] and deeper.body["data"] is None
    assert untouched(statements), statements


async def test_aliases_past_the_limit_are_refused_with_their_code(api):
    def aliased(count: int) -> str:
        return "{ " + " ".join(f"a{i}: __typename" for i in range(count)) + " }"

    assert (await api.graphql(aliased(30), as_user=CONTOSO_ADMIN)).data["a29"] == "Query"
    with api.statements() as statements:
        refused = await api.graphql(aliased(31), as_user=CONTOSO_ADMIN)
    assert refused.error_codes == ["MAX_ALIASES_EXCEEDED"] and refused.body["data"] is None
    assert untouched(statements)


async def test_documents_past_the_token_limit_are_refused_with_their_code(api):
    def tokens(count: int) -> str:  # { nodes ( ids : [ "a" ... ] ) { id } }: 12 tokens and the strings
        return "{ nodes(ids: [" + " ".join(['"a"'] * (count - 12)) + "]) { id } }"

    at_limit = await api.graphql(tokens(2000), as_user=CONTOSO_ADMIN)
    assert at_limit.error_codes == ["BAD_USER_INPUT"]  # parsed, validated, run: `nodes` takes 100 IDs at most
    refused = await api.graphql(tokens(2001), as_user=CONTOSO_ADMIN)
    assert refused.error_codes == ["MAX_TOKENS_EXCEEDED"] and refused.body["data"] is None


async def test_documents_sent_again_meet_the_same_checks(api):
    """Parsed documents are remembered (limits.TokenLimit): a repeat gets the same answer, and what failed to
    parse fails again with its code."""
    query = "{ engagements(first: 2) { edges { node { key } } } }"
    first = await api.graphql(query, as_user=CONTOSO_ADMIN)
    again = await api.graphql(query, as_user=CONTOSO_ADMIN)
    assert first.body["data"]["engagements"]["edges"] and again.body["data"] == first.body["data"]
    too_long = "{ nodes(ids: [" + " ".join(['"a"'] * 1990) + "]) { id } }"
    for _ in range(2):
        refused = await api.graphql(too_long, as_user=CONTOSO_ADMIN)
        assert refused.error_codes == ["MAX_TOKENS_EXCEEDED"]
        broken = await api.graphql("{ engagements(first: 2) { edges ", as_user=CONTOSO_ADMIN)
        assert broken.error_codes == ["GRAPHQL_PARSE_FAILED"]


async def test_an_operation_over_the_cost_budget_is_refused_before_it_runs(api):
    query = """{ engagements(first: 100) { edges { node { key
        customers(tab: ELIGIBLE, first: 100) { edges { node { id identifiers { value } } } } } } } }"""
    token = fresh_token(api)
    before = await available(api, token)
    with api.statements() as statements:
        refused = await api.graphql(query, token=token)
    assert refused.error_codes == ["MAX_COST_EXCEEDED"] and refused.body["data"] is None
    error = refused.body["errors"][0]["extensions"]
    assert error["cost"] == cost(query) > error["maximumCost"] == api.settings.max_query_cost
    assert untouched(statements), statements
    spent = refused.body["extensions"]["cost"]
    assert spent["throttleStatus"]["currentlyAvailable"] >= before  # nothing spent


async def test_subscriptions_are_bounded_too(api):
    socket = await open_socket(api.base_url, api.token(CONTOSO_ADMIN))
    try:
        assert json.loads(await socket.recv())["type"] == "connection_ack"
        deep = (
            "subscription { claimStatusChanged { claim { history { edges { node { claim { history { edges {"
            " node { claim { history { edges { node { claim { id } } } } } } } } } } } } } } }"
        )
        await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": deep}}))
        message = json.loads(await asyncio.wait_for(socket.recv(), 10))
    finally:
        await socket.close()
    assert message["type"] == "error"
    assert [e["extensions"]["code"] for e in message["payload"]] == ["MAX_DEPTH_EXCEEDED"]


# --------------------------------------------------------------------------------------- cost and throttle


async def test_every_response_reports_its_requested_and_actual_cost(api):
    query = "{ engagements(first: 100) { totalCount edges { node { id key } } } }"
    token = fresh_token(api)
    before = await available(api, token)
    response = await api.graphql(query, token=token)
    reported = response.body["extensions"]["cost"]
    listed = len(response.data["engagements"]["edges"])
    assert reported["requestedQueryCost"] == 1 + 100 * 2 == cost(query)
    assert reported["actualQueryCost"] == 1 + listed * 2 < reported["requestedQueryCost"]
    status = reported["throttleStatus"]
    assert status["maximumAvailable"] == api.settings.throttle_bucket_size
    assert status["restoreRate"] == api.settings.throttle_restore_rate
    assert status["currentlyAvailable"] >= before - reported["actualQueryCost"]


async def test_a_user_that_spent_its_bucket_is_throttled_and_others_are_not(api, smtp):
    async with serve(
        api.database.url, smtp, throttle_bucket_size=1000, throttle_restore_rate=0.001
    ) as server:
        token = fresh_token(server)
        query = "{ engagements(first: 100) { edges { node { id } } } }"  # requests 201, returns the demo's engagements
        first = await server.graphql(query, token=token)
        spent = first.body["extensions"]["cost"]
        actual = 1 + 2 * ENGAGEMENT_COUNT
        assert (spent["requestedQueryCost"], spent["actualQueryCost"]) == (201, actual)
        # The unused part of the requested cost came back once the operation ran.
        assert spent["throttleStatus"]["currentlyAvailable"] == 1000 - actual
        big = "{ engagements(first: 81) { edges { node { id locationEligibility { canEarn } } } } }"
        assert 1000 - actual < cost(big) == 1 + 81 * (1 + 1 + LIST_ESTIMATE) <= 1000
        throttled = await server.graphql(big, token=token)
        assert throttled.error_codes == ["THROTTLED"] and throttled.body["data"] is None
        assert throttled.body["errors"][0]["extensions"]["retryAfterSeconds"] > 0
        status = throttled.body["extensions"]["cost"]["throttleStatus"]
        assert status == {
            "maximumAvailable": 1000.0,
            "currentlyAvailable": 1000 - actual,
            "restoreRate": 0.001,
        }
        # Small operations still fit; a second token of the same user spends from the same bucket.
        assert (await server.graphql("{ viewer { user { id } } }", token=token)).error_codes == []
        second = await server.graphql(big, token=fresh_token(server))
        assert second.error_codes == ["THROTTLED"]
        # Another user has a bucket of its own.
        other = await server.graphql(big, token=fresh_token(server, FABRIKAM_ADMIN))
        assert other.error_codes == [] and other.body["extensions"]["cost"]["actualQueryCost"] <= cost(big)
        # What could never fit the bucket is over the budget, not merely throttled.
        huge = "{ engagements(first: 100) { edges { node { id locationEligibility { canEarn } } } } }"
        assert (await server.graphql(huge, token=fresh_token(server))).error_codes == ["MAX_COST_EXCEEDED"]


# ------------------------------------------------------------------------------- around the GraphQL layer


async def test_a_body_over_the_cap_gets_413_with_a_json_error(api):
    padding = "x" * api.settings.max_body_bytes
    declared = await api.http.post("/graphql", json={"query": "{ __typename }", "variables": {"p": padding}})
    assert declared.status_code == 413
    assert declared.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"

    async def chunks():  # no Content-Length: the cap counts what arrives
        yield b'{"query": "{ __typename }", "variables": {"p": "'
        for _ in range(api.settings.max_body_bytes // 65536 + 1):
            yield b"x" * 65536
        yield b'"}}'

    streamed = await api.http.post("/graphql", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413
    assert streamed.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    assert (await api.graphql("{ __typename }", as_user=CONTOSO_ADMIN)).data == {"__typename": "Query"}


async def test_batches_are_refused_with_a_clear_error(api):
    batch = [{"query": "{ __typename }"}, {"query": "{ __typename }"}]
    response = await api.http.post(
        "/graphql", json=batch, headers={"Authorization": f"Bearer {api.token(CONTOSO_ADMIN)}"}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BATCHING_NOT_SUPPORTED"


async def test_malformed_requests_get_json_errors(api):
    response = await api.http.post(
        "/graphql", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


async def test_an_operation_past_the_timeout_is_stopped(api, smtp, monkeypatch):
    async def slow(*_args, **_kwargs):
        await asyncio.sleep(30)

    async with serve(api.database.url, smtp, execution_timeout_seconds=0.5) as server:
        monkeypatch.setattr(catalogue, "list_engagements", slow)
        started = time.monotonic()
        response = await server.graphql("{ engagements { totalCount } }", as_user=CONTOSO_ADMIN)
        assert time.monotonic() - started < 5
        assert response.status == 200 and response.error_codes == ["TIMEOUT"]
        monkeypatch.undo()
        assert (
            await server.graphql("{ engagements { totalCount } }", as_user=CONTOSO_ADMIN)
        ).error_codes == []


async def test_limits_come_from_settings(api, smtp):
    async with serve(
        api.database.url, smtp, max_query_depth=3, max_query_aliases=1, max_query_cost=10
    ) as server:
        deep = await server.graphql(claim_chain(5), as_user=CONTOSO_ADMIN)
        assert deep.error_codes == ["MAX_DEPTH_EXCEEDED"]
        aliases = await server.graphql("{ a: __typename b: __typename }", as_user=CONTOSO_ADMIN)
        assert aliases.error_codes == ["MAX_ALIASES_EXCEEDED"]
        costly = await server.graphql(
            "{ engagements(first: 5) { edges { node { id } } } }", as_user=CONTOSO_ADMIN
        )
        assert costly.error_codes == ["MAX_COST_EXCEEDED"]
    async with httpx.AsyncClient(base_url=api.base_url) as http:  # the shared server keeps its defaults
        ok = await http.post(
            "/graphql",
            json={"query": "{ a: __typename b: __typename }"},
            headers={"Authorization": f"Bearer {api.token(CONTOSO_ADMIN)}"},
        )
        assert "errors" not in ok.json()
