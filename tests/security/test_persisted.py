"""Persisted queries: Apollo's automatic persisted queries over POST and GET, bounded in memory (entries and
bytes), registered by signed-in callers only; trusted documents as the only operations a production server
accepts, refused before they are parsed."""

import asyncio
import hashlib
import json

import pytest

from app.config import Settings
from app.persisted import PersistedQueries
from app.resolvers.limits import pipeline_of
from tests.api.subscriptions import EVENTS, open_socket
from tests.demo import CONTOSO_ADMIN
from tests.security.conftest import call, serve

VIEWER = "query Me { viewer { user { email } } }"
ENGAGEMENT_KEYS = "query Keys($n: Int) { engagements(first: $n) { edges { node { key } } } }"


def digest(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()


def apq(query: str) -> dict:
    return {"persistedQuery": {"version": 1, "sha256Hash": digest(query)}}


async def get(server, token: str, **params: object):
    encoded = {k: json.dumps(v) if isinstance(v, dict) else v for k, v in params.items()}
    response = await server.http.get(
        "/graphql", params=encoded, headers={"Authorization": f"Bearer {token}", "Accept": "*/*"}
    )
    return response.status_code, response.json()


def codes(body: dict) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors") or []]


async def test_automatic_persisted_queries_over_post(api):
    query = VIEWER + " # post " + str(id(api))  # a hash no earlier test registered
    miss = await call(api, None, extensions=apq(query), as_user=CONTOSO_ADMIN)
    assert miss.error_codes == ["PERSISTED_QUERY_NOT_FOUND"] and miss.body["errors"][0]["message"] == (
        "PersistedQueryNotFound"
    )
    registered = await call(api, query, extensions=apq(query), as_user=CONTOSO_ADMIN)
    assert registered.data == {"viewer": {"user": {"email": CONTOSO_ADMIN}}}
    by_hash = await call(api, None, extensions=apq(query), as_user=CONTOSO_ADMIN)
    assert by_hash.data == registered.data


async def test_automatic_persisted_queries_over_get(api):
    token = api.token(CONTOSO_ADMIN)
    query = ENGAGEMENT_KEYS + " # get"
    status, body = await get(api, token, extensions=apq(query), variables={"n": 2})
    assert (status, codes(body)) == (200, ["PERSISTED_QUERY_NOT_FOUND"])  # an operation, not GraphiQL's page
    status, body = await get(api, token, query=query, extensions=apq(query), variables={"n": 2})
    assert status == 200 and len(body["data"]["engagements"]["edges"]) == 2
    status, body = await get(api, token, extensions=apq(query), variables={"n": 3})
    assert status == 200 and len(body["data"]["engagements"]["edges"]) == 3
    # GET never changes anything: a mutation by hash is refused like any mutation over GET.
    mutation = 'mutation { cancelClaim(input: {claimId: "x"}) { userErrors { code } } }'
    await call(api, mutation, extensions=apq(mutation), as_user=CONTOSO_ADMIN)
    status, body = await get(api, token, extensions=apq(mutation))
    assert (status, codes(body)) == (400, ["BAD_REQUEST"])


async def test_the_hash_must_be_the_querys(api):
    query = VIEWER + " # mismatch"
    wrong = {"persistedQuery": {"version": 1, "sha256Hash": digest(query + " ")}}
    response = await call(api, query, extensions=wrong, as_user=CONTOSO_ADMIN)
    assert response.error_codes == ["PERSISTED_QUERY_HASH_MISMATCH"] and response.body["data"] is None
    # Nothing was stored under either hash.
    for extensions in (wrong, apq(query)):
        again = await call(api, None, extensions=extensions, as_user=CONTOSO_ADMIN)
        assert again.error_codes == ["PERSISTED_QUERY_NOT_FOUND"]
    for malformed in ({"version": 2, "sha256Hash": digest(query)}, {"version": 1}, "x"):
        response = await call(api, query, extensions={"persistedQuery": malformed}, as_user=CONTOSO_ADMIN)
        assert response.error_codes == ["PERSISTED_QUERY_INVALID"]


async def test_the_store_keeps_the_most_recently_used_queries_only(api, smtp):
    async with serve(api.database.url, smtp, persisted_query_cache_size=2) as server:
        queries = [f"{VIEWER} # {n}" for n in range(3)]
        for query in queries:
            assert (
                await server.graphql(query, extensions=apq(query), as_user=CONTOSO_ADMIN)
            ).error_codes == []
        first = await server.graphql(None, extensions=apq(queries[0]), as_user=CONTOSO_ADMIN)
        assert first.error_codes == ["PERSISTED_QUERY_NOT_FOUND"]
        for query in queries[1:]:
            assert (
                await server.graphql(None, extensions=apq(query), as_user=CONTOSO_ADMIN)
            ).error_codes == []


async def test_the_store_is_bounded_in_bytes(api, smtp):
    async with serve(api.database.url, smtp, persisted_query_cache_bytes=5000) as server:
        queries = [f"{VIEWER} # {n} " + "p" * 2000 for n in range(4)]
        for query in queries:
            assert (
                await server.graphql(query, extensions=apq(query), as_user=CONTOSO_ADMIN)
            ).error_codes == []
        store = server.graphql_app.persisted
        assert store.stored() == queries[-2:] and store.bytes <= 5000
        for query, code in zip(queries, [["PERSISTED_QUERY_NOT_FOUND"]] * 2 + [[]] * 2, strict=True):
            assert (
                await server.graphql(None, extensions=apq(query), as_user=CONTOSO_ADMIN)
            ).error_codes == code


async def test_only_signed_in_callers_register_queries(api):
    protected = VIEWER + " # anonymous " + str(id(api))
    refused = await call(api, protected, extensions=apq(protected))
    assert (refused.status, refused.error_codes) == (401, ["UNAUTHENTICATED"])
    public = "{ __typename } # anonymous " + str(id(api))
    assert (await call(api, public, extensions=apq(public))).data == {"__typename": "Query"}  # it runs
    for query in (protected, public):  # but neither was kept
        miss = await call(api, None, extensions=apq(query), as_user=CONTOSO_ADMIN)
        assert miss.error_codes == ["PERSISTED_QUERY_NOT_FOUND"]
    # What a signed-in caller registered, anyone may send by hash (and the gate judges it as usual).
    await call(api, public, extensions=apq(public), as_user=CONTOSO_ADMIN)
    assert (await call(api, None, extensions=apq(public))).data == {"__typename": "Query"}


async def test_documents_over_the_cap_are_never_registered(api):
    query = VIEWER + " #" + "x" * api.settings.max_document_bytes
    refused = await call(api, query, extensions=apq(query), as_user=CONTOSO_ADMIN)
    assert refused.error_codes == ["MAX_DOCUMENT_SIZE_EXCEEDED"] and refused.body["data"] is None
    miss = await call(api, None, extensions=apq(query), as_user=CONTOSO_ADMIN)
    assert miss.error_codes == ["PERSISTED_QUERY_NOT_FOUND"]


@pytest.fixture
def trusted_file(tmp_path):
    documents = {digest(q): q for q in (VIEWER, ENGAGEMENT_KEYS, EVENTS)}
    path = tmp_path / "trusted.json"
    path.write_text(json.dumps(documents))
    return str(path)


async def test_in_production_trusted_documents_are_the_only_operations(api, smtp, trusted_file):
    async with serve(api.database.url, smtp, env="production", trusted_documents=trusted_file) as server:
        by_hash = await server.graphql(None, extensions=apq(VIEWER), as_user=CONTOSO_ADMIN)
        assert by_hash.data == {"viewer": {"user": {"email": CONTOSO_ADMIN}}}
        as_text = await server.graphql(ENGAGEMENT_KEYS, {"n": 1}, as_user=CONTOSO_ADMIN)
        assert len(as_text.data["engagements"]["edges"]) == 1
        status, body = await get(server, server.token(CONTOSO_ADMIN), extensions=apq(VIEWER))
        assert status == 200 and body["data"]["viewer"]["user"]["email"] == CONTOSO_ADMIN

        other = "{ viewer { user { id } } }"
        parsed = pipeline_of(server.graphql_app.schema).documents
        for refused in (
            await server.graphql(other, as_user=CONTOSO_ADMIN),  # plain text
            await server.graphql(other, extensions=apq(other), as_user=CONTOSO_ADMIN),  # an APQ registration
            await server.graphql(None, extensions=apq(other), as_user=CONTOSO_ADMIN),  # an unknown hash
            await server.graphql(VIEWER + " ", as_user=CONTOSO_ADMIN),  # a trusted one, changed
        ):
            assert refused.error_codes == ["PERSISTED_QUERY_NOT_ALLOWED"] and refused.body["data"] is None
        # Refused before parsing: no untrusted text was parsed and kept, none registered.
        assert set(parsed.texts()) <= {VIEWER, ENGAGEMENT_KEYS} and len(server.graphql_app.persisted) == 0

        # Over WebSocket too: only the trusted subscription document runs.
        socket = await open_socket(server.base_url, server.token(CONTOSO_ADMIN))
        try:
            assert json.loads(await socket.recv())["type"] == "connection_ack"
            untrusted = "subscription { claimStatusChanged { id } }"
            await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": untrusted}}))
            message = json.loads(await asyncio.wait_for(socket.recv(), 10))
            assert message["type"] == "error"
            assert [e["extensions"]["code"] for e in message["payload"]] == ["PERSISTED_QUERY_NOT_ALLOWED"]
            await socket.send(json.dumps({"id": "2", "type": "subscribe", "payload": {"query": EVENTS}}))
            with pytest.raises(TimeoutError):  # accepted: it waits for events
                await asyncio.wait_for(socket.recv(), 0.5)
        finally:
            await socket.close()


async def test_in_development_trusted_documents_add_to_what_runs(api, smtp, trusted_file):
    async with serve(api.database.url, smtp, trusted_documents=trusted_file) as server:
        assert (await server.graphql(None, extensions=apq(VIEWER), as_user=CONTOSO_ADMIN)).error_codes == []
        assert (await server.graphql("{ __typename }", as_user=CONTOSO_ADMIN)).error_codes == []


def test_a_trusted_documents_file_whose_hashes_lie_is_refused_at_start(tmp_path):
    path = tmp_path / "trusted.json"
    path.write_text(json.dumps({digest(VIEWER): ENGAGEMENT_KEYS}))
    settings = Settings.model_construct(
        trusted_documents=str(path), env="development", persisted_query_cache_size=1
    )
    with pytest.raises(ValueError, match="not the SHA-256"):
        PersistedQueries.of(settings)
    too_long = VIEWER + " #" + "x" * 200
    path.write_text(json.dumps({digest(too_long): too_long}))
    with pytest.raises(ValueError, match="longer than 128 bytes"):
        PersistedQueries.of(settings.model_copy(update={"max_query_tokens": 2}))
    manifest = tmp_path / "manifest.json"
    manifest.write_text(
        json.dumps(
            {
                "format": "apollo-persisted-query-manifest",
                "version": 1,
                "operations": [{"id": digest(VIEWER), "name": "Me", "body": VIEWER}],
            }
        )
    )
    settings = Settings.model_construct(
        trusted_documents=str(manifest), env="production", persisted_query_cache_size=1
    )
    loaded = PersistedQueries.of(settings)
    assert loaded.trusted == {digest(VIEWER): VIEWER} and loaded.enforced
