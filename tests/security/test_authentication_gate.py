"""The authentication gate (app/resolvers/extensions.py) sees every root field, wherever it sits: directly, in an
inline fragment, in a named fragment, in fragments within fragments. Without a token, anything but introspection
and `respondToConsent` is refused UNAUTHENTICATED (HTTP 401) before validation, and nothing runs."""

import pytest
from graphql import parse

from app.resolvers.extensions import document_root_fields
from tests.security.conftest import call

PROTECTED = [
    "{ ... on Query { engagements { totalCount } } }",
    "{ ... { engagements { totalCount } } }",  # an inline fragment without a type condition
    "query { ...Catalogue } fragment Catalogue on Query { engagements { totalCount } }",
    "query { ...Outer } fragment Outer on Query { ... on Query { ...Inner } } "
    "fragment Inner on Query { viewer { user { id } } }",
    "{ __typename ... on Query { __typename engagements { totalCount } } }",
    "{ __typename ...Catalogue } fragment Catalogue on Query { __typename engagements { totalCount } }",
    "query Named { ...Twice ...Twice } fragment Twice on Query { claimsForReview { totalCount } }",
    "{ ...Missing }",  # a fragment the document does not define: not public
    'mutation { ... on Mutation { cancelClaim(input: {claimId: "x"}) { userErrors { code } } } }',
    'mutation { ...Cancel } fragment Cancel on Mutation { cancelClaim(input: {claimId: "x"}) { '
    "userErrors { code } } }",
    'mutation { ... on Mutation { respondToConsent(input: {token: "x", decision: ACCEPT}) { accepted } '
    'cancelClaim(input: {claimId: "x"}) { userErrors { code } } } }',
]


@pytest.mark.parametrize("query", PROTECTED)
async def test_protected_fields_behind_fragments_are_refused_before_anything_runs(api, query):
    with api.statements() as statements:
        refused = await call(api, query)
    assert refused.status == 401 and refused.error_codes == ["UNAUTHENTICATED"], refused.body
    assert refused.body["data"] is None
    assert statements == []  # not even the deadline sweep: nothing ran


async def test_over_get_too(api):
    query = "query { ...Catalogue } fragment Catalogue on Query { engagements { totalCount } }"
    response = await api.http.get("/graphql", params={"query": query}, headers={"Accept": "application/json"})
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_public_fields_stay_public_through_fragments(api):
    typename = await call(
        api, "{ ... on Query { __typename } ...Name } fragment Name on Query { __typename }"
    )
    assert typename.status == 200 and typename.data == {"__typename": "Query"}
    respond = await call(
        api,
        "mutation { ...Answer } fragment Answer on Mutation { "
        'respondToConsent(input: {token: "not-a-link", decision: ACCEPT}) { accepted userErrors { code } } }',
    )
    assert respond.status == 200
    assert respond.data["respondToConsent"]["accepted"] is None
    assert respond.data["respondToConsent"]["userErrors"]
    introspection = await call(api, "{ ... on Query { __schema { queryType { name } } } }")
    assert introspection.data == {"__schema": {"queryType": {"name": "Query"}}}  # development only


async def test_fragment_cycles_end_the_walk(api):
    """A cycle is refused by validation; the gate's walk ends on it (each fragment followed once)."""
    looping = "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A engagements { totalCount } }"
    refused = await call(api, looping)
    assert refused.status == 401 and refused.error_codes == ["UNAUTHENTICATED"]
    only_typename = "{ ...A } fragment A on Query { __typename ...A }"
    assert (await call(api, only_typename)).error_codes == ["GRAPHQL_VALIDATION_FAILED"]


def test_root_fields_are_found_through_every_fragment():
    document = parse(
        'query { __typename ... on Query { viewer { user { id } } ... { node(id: "x") { id } } } ...F } '
        "fragment F on Query { ...G engagements { totalCount } } fragment G on Query { nodes(ids: []) { id } } "
        'fragment Unused on Query { claim(id: "x") { id } }'
    )
    # Fields below a root field are not root fields; a fragment no operation spreads is not walked.
    assert document_root_fields(document) == {"__typename", "viewer", "node", "engagements", "nodes"}
