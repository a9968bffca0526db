"""Fuzzing: Schemathesis generates valid operations for every query and mutation from the schema and sends them,
with a valid token, to a real production-mode server: none may answer 5xx or a masked internal error.

Bounded for CI: `MCI_FUZZ_EXAMPLES` cases per operation and token (default 25), seeded by `MCI_FUZZ_SEED`
(default fixed, so a run is repeatable). IDs are drawn from real objects (the caller's, another partner's), IDs
of absent and out-of-range rows, other types' IDs and arbitrary text. Whatever it finds becomes a test in
test_fuzz_regressions.py.
"""

import asyncio
import json
import os

import graphql
import hypothesis
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis.graphql import nodes

from app.auth import REVIEWER, mint_token
from app.resolvers.relay import to_global_id
from app.resolvers.schema import schema
from tests.demo import CONTOSO_ADMIN, FABRIKAM_ADMIN
from tests.security.conftest import seeded_database, serve

EXAMPLES = int(os.environ.get("MCI_FUZZ_EXAMPLES", "25"))
SEED = int(os.environ.get("MCI_FUZZ_SEED", "20240611"))

REVIEWER_OPERATIONS = {
    "Query.node",
    "Query.nodes",
    "Query.claim",
    "Query.claimsForReview",
    "Mutation.startClaimReview",
    "Mutation.requestPartnerAction",
    "Mutation.approveClaim",
    "Mutation.rejectClaim",
}
IDS = """{ viewer { user { id } partner { id } locations(first: 10) { edges { node { id } } } }
           engagements(first: 5) { edges { node { id } } } }"""


@pytest.fixture(scope="module")
async def fuzz_server(backend, smtp):
    database = await seeded_database(backend, "fuzz")
    try:
        async with serve(database.url, smtp, env="production", throttle_bucket_size=1e9) as server:
            yield server
    finally:
        await database.engine.dispose()


async def _real_ids(server) -> list[str]:
    found: list[str] = []
    for user in (CONTOSO_ADMIN, FABRIKAM_ADMIN):
        data = (await server.graphql(IDS, as_user=user)).data
        found += [data["viewer"]["user"]["id"], data["viewer"]["partner"]["id"]]
        found += [e["node"]["id"] for e in data["viewer"]["locations"]["edges"]]
        found += [e["node"]["id"] for e in data["engagements"]["edges"]]
    return found


def _ids(real: list[str]) -> st.SearchStrategy[graphql.ValueNode]:
    special = [
        to_global_id("Claim", 999_999_999),
        to_global_id("Claim", 2**70),  # larger than any database integer
        to_global_id("PartnerLocation", 0),
        to_global_id("Nothing", 1),
        "",
        "not-an-id",
    ]
    return st.one_of(st.sampled_from(real + special), st.text(max_size=24)).map(nodes.String)


def _problems(response) -> str | None:
    if response.status_code >= 500:
        return f"HTTP {response.status_code}"
    try:
        body = response.json()
    except ValueError:
        return f"not JSON: {response.text[:200]!r}"
    if not isinstance(body, dict) or not ({"data", "errors"} & body.keys()):
        return f"not a GraphQL response: {body!r}"[:300]
    codes = [(e.get("extensions") or {}).get("code") for e in body.get("errors") or []]
    if "INTERNAL_SERVER_ERROR" in codes:
        return f"masked internal error: {json.dumps(body)[:300]}"
    return None


def _fuzz_operation(operation, url: str, headers: dict[str, str]) -> int:
    """Send `EXAMPLES` generated cases of one operation; fails on the first problem. How many were sent."""
    sent = 0

    @hypothesis.given(case=operation.as_strategy())
    @hypothesis.settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        phases=[hypothesis.Phase.generate],
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    @hypothesis.seed(SEED)
    def run(case) -> None:
        nonlocal sent
        response = case.call(base_url=url, headers=headers, timeout=30)
        sent += 1
        problem = _problems(response)
        assert problem is None, f"{operation.label}: {problem}\n{case.as_curl_command(headers=headers)}"

    run()
    return sent


def _fuzz(url: str, tokens: dict[str, str], real: list[str]) -> list[str]:
    """Every operation with the partner token; those reviewers may call with the reviewer token too."""
    schemathesis.graphql.scalar("ID", _ids(real))
    loaded = schemathesis.graphql.from_dict(graphql.introspection_from_schema(schema._schema))
    report = []
    for operation in (result.ok() for result in loaded.get_all_operations()):
        for who, token in tokens.items():
            if who == "reviewer" and operation.label not in REVIEWER_OPERATIONS:
                continue
            sent = _fuzz_operation(operation, url, {"Authorization": f"Bearer {token}"})
            report.append(f"{operation.label} as {who}: {sent}")
    return report


async def test_fuzzing_every_operation_finds_no_server_error(fuzz_server, record_property):
    tokens = {
        "partner": fuzz_server.token(CONTOSO_ADMIN),
        "reviewer": mint_token(fuzz_server.settings, "rita.reviewer@microsoft.example", REVIEWER, "Rita"),
    }
    real = await _real_ids(fuzz_server)
    report = await asyncio.to_thread(_fuzz, f"{fuzz_server.base_url}/graphql", tokens, real)
    record_property("fuzz", "; ".join(report))
    print("\nfuzz (cases sent):", "; ".join(report))
    operations = len(schema._schema.query_type.fields) + len(schema._schema.mutation_type.fields)
    assert len(report) == operations + len(REVIEWER_OPERATIONS)
