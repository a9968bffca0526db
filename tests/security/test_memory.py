"""Memory bounded in bytes: the parse memo, the validation memo and the APQ store each stay within their byte bound
however many distinct large documents arrive (anonymous, signed in, APQ registrations); documents longer than the
token limit could ever need are refused before anything is parsed or stored; anonymous callers store nothing.

Each store is measured twice: by its own accounting and by a count that does not trust it (the bytes of the texts
it holds, a lower bound of what it keeps), and the process's resident memory is watched with a generous bound.
With a bound removed (a store keeping everything), the store assertions fail at once and the resident memory grows
by well over its bound (~1 MB per signed-in document)."""

import asyncio
import hashlib
import json
import logging
import os
import sys
import tracemalloc
from pathlib import Path

import pytest
from graphql import parse

from app.config import DOCUMENT_BYTES_PER_TOKEN, Settings
from app.persisted import PersistedQueries, text_bytes
from app.resolvers.limits import DOCUMENT_BYTES, TOKEN_BYTES, _Remembered, parsed_bytes, pipeline_of
from tests.api.subscriptions import open_socket
from tests.demo import CONTOSO_ADMIN, FABRIKAM_ADMIN
from tests.security.conftest import serve

MiB = 1024 * 1024
BOUNDS = {
    "document_cache_bytes": 4 * MiB,
    "validation_cache_bytes": 1 * MiB,
    "persisted_query_cache_bytes": 1 * MiB,
}
RSS_GROWTH_BOUND = 96 * MiB
"""Generous: the stores may hold 6 MiB; the rest is room for the allocator. Without the bounds, the signed-in
documents below alone keep ~200 MiB."""


def large_document(tag: str, ids: int = 1900, width: int = 48) -> str:
    """A valid document of ~`ids` tokens and ~`ids * (width + 3)` bytes (97 KB by default: under the token limit and
    the document cap), distinct per tag; parsed, it keeps ~1 MB."""
    value = (tag + "-" * width)[:width]
    return "{ nodes(ids: [" + " ".join(f'"{value}"' for _ in range(ids)) + "]) { id } }"


def over_the_cap(tag: str, settings: Settings) -> str:
    """A document just longer than the cap, its text within the body cap."""
    return "{ viewer { user { id } } } # " + tag + "x" * settings.max_document_bytes


def apq(query: str) -> dict:
    return {"persistedQuery": {"version": 1, "sha256Hash": hashlib.sha256(query.encode()).hexdigest()}}


def resident_bytes() -> int | None:
    statm = Path("/proc/self/statm")
    if not statm.exists():
        return None
    return int(statm.read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def within_bounds(server) -> dict[str, int]:
    """Every store's accounted bytes and the bytes of the texts it holds, each asserted under its bound."""
    pipeline = pipeline_of(server.graphql_app.schema)
    persisted = server.graphql_app.persisted
    stores = {
        "document_cache_bytes": (pipeline.documents, pipeline.documents.texts()),
        "validation_cache_bytes": (pipeline.validations, pipeline.validations.texts()),
        "persisted_query_cache_bytes": (persisted, persisted.stored()),
    }
    measured = {}
    for setting, (store, texts) in stores.items():
        bound = BOUNDS[setting]
        held = sum(sys.getsizeof(text) for text in texts)
        assert store.bytes <= bound, (setting, store.bytes, bound)
        assert held <= store.bytes, (setting, held, store.bytes)  # the accounting counts at least the texts
        measured[setting] = store.bytes
    return measured


async def test_distinct_large_documents_stay_within_the_byte_bounds(api, smtp, caplog):
    # The refusals are logged (strawberry.execution) with their execution context, which pytest's log capture
    # would keep, and the documents with it: a test artefact, not the server's memory.
    caplog.set_level(logging.CRITICAL, logger="strawberry.execution")
    async with serve(api.database.url, smtp, throttle_bucket_size=10**9, **BOUNDS) as server:
        pipeline = pipeline_of(server.graphql_app.schema)
        persisted = server.graphql_app.persisted
        token = server.token(CONTOSO_ADMIN)
        for n in range(
            3
        ):  # warm up: the allocator's and the server's first-request growth is not the stores'
            await server.graphql(large_document(f"warm{n}"))
        before = resident_bytes()

        # Anonymous: refused before validation; nothing parsed is kept, nothing registered.
        for n in range(40):
            query = large_document(f"anonymous{n}")
            refused = await server.graphql(query, extensions=apq(query) if n % 2 else None)
            assert refused.status == 401 and refused.error_codes == ["UNAUTHENTICATED"]
        assert (len(pipeline.documents), len(pipeline.validations), len(persisted)) == (0, 0, 0)

        # Signed in: every store fills up to its bound and no further.
        for n in range(200):
            query = large_document(f"signed-in{n}")
            answered = await server.graphql(query, extensions=apq(query) if n % 2 else None, token=token)
            assert answered.error_codes == ["BAD_USER_INPUT"]  # parsed, validated, run: 100 IDs at most
            within_bounds(server)
        assert len(pipeline.documents) >= 2 and len(pipeline.validations) >= 5 and len(persisted) >= 5

        # Longer than the token limit could need: refused before anything is parsed or stored, whoever sends it.
        kept = (pipeline.documents.texts(), pipeline.validations.texts(), persisted.stored())
        for n in range(20):
            query = over_the_cap(str(n), server.settings)
            refused = await server.graphql(
                query, extensions=apq(query) if n % 2 else None, token=token if n % 4 < 2 else None
            )
            assert refused.error_codes == ["MAX_DOCUMENT_SIZE_EXCEEDED"] and refused.body["data"] is None
        assert (pipeline.documents.texts(), pipeline.validations.texts(), persisted.stored()) == kept

        measured = within_bounds(server)
        after = resident_bytes()
        print(f"stores (bytes accounted): {measured}; bounds {BOUNDS}")
        if before is not None and after is not None:
            print(f"resident memory grew by {(after - before) / MiB:.1f} MiB over 280 large documents")
            assert after - before < RSS_GROWTH_BOUND


async def test_documents_over_the_cap_are_refused_on_every_transport(api, smtp):
    settings = api.settings
    assert settings.max_document_bytes == settings.max_query_tokens * DOCUMENT_BYTES_PER_TOKEN == 128_000
    query = over_the_cap("transports", settings)
    async with serve(api.database.url, smtp, **BOUNDS) as server:
        token = server.token(FABRIKAM_ADMIN)
        over_post = await server.graphql(query, token=token)
        assert over_post.error_codes == ["MAX_DOCUMENT_SIZE_EXCEEDED"]
        # A document one byte under the cap is parsed as usual (here: a comment, so under the token limit).
        at_cap = "{ viewer { user { id } } } #"
        at_cap += "y" * (settings.max_document_bytes - len(at_cap))
        assert (await server.graphql(at_cap, token=token)).error_codes == []
        # Non-ASCII text counts its UTF-8 bytes.
        wide = "{ viewer { user { id } } } #" + "é" * (settings.max_document_bytes // 2)
        assert (await server.graphql(wide, token=token)).error_codes == ["MAX_DOCUMENT_SIZE_EXCEEDED"]

        socket = await open_socket(server.base_url, token)
        try:
            assert json.loads(await socket.recv())["type"] == "connection_ack"
            subscription = "subscription { claimStatusChanged { id } } #" + "z" * settings.max_document_bytes
            await socket.send(
                json.dumps({"id": "1", "type": "subscribe", "payload": {"query": subscription}})
            )
            message = json.loads(await asyncio.wait_for(socket.recv(), 10))
        finally:
            await socket.close()
        assert message["type"] == "error"
        assert [e["extensions"]["code"] for e in message["payload"]] == ["MAX_DOCUMENT_SIZE_EXCEEDED"]

        stream = await server.http.post(
            "/graphql/stream",
            json={
                "query": "subscription { claimStatusChanged { id } } #" + "z" * settings.max_document_bytes
            },
            headers={"Authorization": f"Bearer {token}", "Accept": "text/event-stream"},
        )
        assert "MAX_DOCUMENT_SIZE_EXCEEDED" in stream.text
        pipeline = pipeline_of(server.graphql_app.schema)
        assert not any(len(text) > settings.max_document_bytes for text in pipeline.documents.texts())


def test_the_parse_estimate_covers_what_a_parsed_document_keeps():
    """`parsed_bytes` against tracemalloc's count of what graphql-core's parser allocated and the document keeps,
    for documents of many fields, many strings, one long string, many comments."""
    shapes = {
        "fields": "{ " + " ".join(["viewer { user { id } }"] * 300) + " }",
        "strings": large_document("estimate"),
        "long string": '{ engagements(filter: {search: "' + "s" * 90_000 + '"}) { totalCount } }',
        "comments": "{ viewer { user { id } } }" + "#\n" * 40_000,
        "small": "{ viewer { user { id } } }",
    }
    for name, text in shapes.items():
        tracemalloc.start()
        try:
            before = tracemalloc.take_snapshot()
            document = parse(text, max_tokens=10**6)
            after = tracemalloc.take_snapshot()
        finally:
            tracemalloc.stop()
        only_graphql = [tracemalloc.Filter(True, "*/graphql/*")]
        kept = sum(
            stat.size_diff
            for stat in after.filter_traces(only_graphql).compare_to(
                before.filter_traces(only_graphql), "filename"
            )
        )
        kept += text_bytes(text)
        estimate = parsed_bytes(text, document)
        print(f"{name}: {len(text)} characters, kept {kept} bytes, estimated {estimate}")
        assert kept <= estimate <= 4 * kept + DOCUMENT_BYTES + TOKEN_BYTES, name
        del document


def test_a_store_drops_the_least_recently_used_until_its_bytes_fit():
    memo = _Remembered(max_bytes=1000, max_entries=10)
    assert memo.keep("a", 1, 400) and memo.keep("b", 2, 400)
    assert memo.recall("a") == 1  # now the most recently used
    assert memo.keep("c", 3, 400)
    assert memo.texts() == ["a", "c"] and memo.bytes == 800
    assert not memo.keep("huge", 4, 1001) and "huge" not in memo and memo.bytes == 800
    assert (
        memo.keep("a", 5, 100) and memo.bytes == 500 and memo.recall("a") == 5
    )  # replaced, not counted twice

    store = PersistedQueries({}, capacity=100, enforced=False, max_bytes=3 * 1024, max_document_bytes=10_000)
    queries = [f"{{ viewer {{ user {{ id }} }} }} # {n} " + "q" * 900 for n in range(10)]
    for query in queries:
        assert store.resolve(query, apq(query)) == query
        assert store.bytes <= 3 * 1024
    assert store.stored() == queries[-len(store) :] and 1 <= len(store) < 4
    anonymous = "{ __typename } # anonymous"
    assert store.resolve(anonymous, apq(anonymous), may_register=False) == anonymous
    assert anonymous not in store.stored()
    too_long = "{ __typename } #" + "x" * 10_000
    assert store.resolve(too_long, apq(too_long)).extensions == {"code": "MAX_DOCUMENT_SIZE_EXCEEDED"}


@pytest.mark.parametrize("tokens", [1, 2000, 5000])
def test_the_document_cap_follows_the_token_limit(tokens):
    settings = Settings.model_construct(max_query_tokens=tokens)
    assert settings.max_document_bytes == tokens * DOCUMENT_BYTES_PER_TOKEN
