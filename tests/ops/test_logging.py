"""Structured logs: one line per request with its id, operation, duration, (pseudonymous) user and error codes;
JSON in production, readable text in development; no token, email address or consent link in production logs."""

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from graphql import GraphQLError

from app.auth import REVIEWER
from app.config import Settings
from app.observability import (
    DropExpectedGraphQLErrors,
    JsonFormatter,
    TextFormatter,
    logging_config,
    pseudonym,
    request_id_var,
)
from tests.api.subscriptions import open_socket
from tests.demo import CONTOSO_ADMIN
from tests.ops import ADD, PRODUCTION_ENV, SEND, ServeProcess, add_customer_input, seeded_database

REVIEWER_EMAIL = "rita.reviewer@microsoft.example"
FOR_REVIEW = "{ claimsForReview(first: 5) { totalCount } }"


async def test_the_request_id_is_the_client_s_when_sane_and_returned(api):
    mine = await api.http.get("/healthz", headers={"X-Request-ID": "client-7f3a.1:retry-2"})
    assert mine.headers["x-request-id"] == "client-7f3a.1:retry-2"
    for insane in ("has spaces in it", "x" * 129, "someone@example.com", ""):
        response = await api.http.get("/healthz", headers={"X-Request-ID": insane})
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"]), insane
    first, second = (await api.http.get("/healthz")), (await api.http.get("/healthz"))
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    graphql = await api.http.post("/graphql", json={"query": "{ __typename }"})
    assert re.fullmatch(r"[0-9a-f]{32}", graphql.headers["x-request-id"])


async def test_a_websocket_gets_a_request_id_too(api):
    socket = await open_socket(api.base_url, api.token(CONTOSO_ADMIN))
    try:
        assert re.fullmatch(r"[0-9a-f]{32}", socket.response.headers["x-request-id"])
    finally:
        await socket.close()


@pytest.fixture
async def production(backend: str) -> AsyncIterator[ServeProcess]:
    """`mci serve` with MCI_ENV=production and no SMTP server (mail goes to the log)."""
    database = await seeded_database(backend, "ops_logging")
    server = ServeProcess(database.url, env=dict(PRODUCTION_ENV))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
        await database.engine.dispose()


async def test_production_logs_are_json_lines_without_tokens_emails_or_links(production):
    server = production
    partner = server.token(CONTOSO_ADMIN)
    reviewer = server.token(REVIEWER_EMAIL, REVIEWER, "Rita Reviewer")
    locations, engagements = await server.ids(partner)
    customer_input = add_customer_input(locations, engagements, "northwind.example")
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        added = await client.post(
            "/graphql",
            json={"query": ADD, "variables": {"input": customer_input}},
            headers={"Authorization": f"Bearer {partner}", "X-Request-ID": "ops-add-1"},
        )
        assert added.headers["x-request-id"] == "ops-add-1"
        [claim] = added.json()["data"]["addCustomer"]["claims"]
        sent = await server.graphql(client, SEND, {"id": claim["id"]}, token=partner)
        assert sent.json()["data"]["sendConsent"]["userErrors"] == []
        await server.graphql(client, FOR_REVIEW, token=reviewer)
        await client.post("/graphql", json={"query": "{ viewer { user { id } } }"})  # no token
        assert (await client.get("/consent/not-a-real-token.but-secret-looking")).status_code == 404
        for _ in range(100):  # until the sender has written the consent mail to the log
            if any('"logger": "mci.mail"' in line and "asks for your consent" in line for line in server.log):
                break
            await asyncio.sleep(0.05)
    await server.stop()

    entries = [json.loads(line) for line in server.log]  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= set(entry) for entry in entries)
    requests = [entry for entry in entries if entry["logger"] == "mci.request"]
    [add] = [entry for entry in requests if entry.get("request_id") == "ops-add-1"]
    assert add["operation"] == "AddCustomer"
    assert add["operation_type"] == "mutation"
    assert add["status"] == 200
    assert add["duration_ms"] > 0
    assert re.fullmatch(r"partner-user:\d+", add["user"])
    [review] = [entry for entry in requests if entry.get("operation") == "claimsForReview"]
    assert review["user"] == f"reviewer:{pseudonym(server.settings, REVIEWER_EMAIL)}"
    [anonymous] = [entry for entry in requests if entry.get("operation") == "viewer"]
    assert anonymous["errors"] == ["UNAUTHENTICATED"] and "user" not in anonymous
    [page] = [entry for entry in requests if entry["path"].startswith("/consent/")]
    assert page["path"] == "/consent/{token}"
    [mail] = [e for e in entries if e["logger"] == "mci.mail" and "asks for your consent" in e["message"]]
    assert "*@northwind.example" in mail["message"]

    everything = "\n".join(server.log)
    for secret in (
        partner,
        reviewer,
        CONTOSO_ADMIN,
        REVIEWER_EMAIL,
        customer_input["customerContact"]["email"],
        customer_input["partnerContact"]["email"],
        "not-a-real-token",
    ):
        assert secret not in everything, secret
    assert not re.search(r"/consent/(?!\{token\})", everything)
    assert not re.search(r"[\w.+-]+@[\w-]+\.[\w.]+", everything.replace("*@northwind.example", ""))


def _record(message: str, **fields: object) -> logging.LogRecord:
    record = logging.LogRecord("mci.request", logging.INFO, __file__, 1, message, (), None)
    record.fields = fields
    return record


def test_development_logs_are_readable_text():
    settings = Settings()
    assert settings.env == "development"
    assert logging_config(settings)["formatters"]["mci"]["()"] == "app.observability.TextFormatter"
    token = request_id_var.set("abc")
    try:
        line = TextFormatter().format(
            _record("POST /graphql 200", method="POST", status=200, operation="viewer", errors=["A", "B"])
        )
        entry = json.loads(JsonFormatter().format(_record("POST /graphql 200", operation="viewer")))
    finally:
        request_id_var.reset(token)
    assert line.endswith("INFO mci.request: POST /graphql 200 operation=viewer errors=A,B")
    assert entry["request_id"] == "abc" and entry["operation"] == "viewer"


def test_the_format_can_be_chosen():
    assert logging_config(Settings(log_format="json"))["formatters"]["mci"]["()"].endswith("JsonFormatter")
    production = Settings(**{k[4:].lower(): v for k, v in PRODUCTION_ENV.items()})
    assert logging_config(production)["formatters"]["mci"]["()"].endswith("JsonFormatter")
    assert logging_config(production.model_copy(update={"log_format": "text"}))["formatters"]["mci"][
        "()"
    ].endswith("TextFormatter")


def test_expected_graphql_errors_are_not_logged_as_faults():
    """Strawberry logs every error with a traceback; `mci serve` keeps only faults (the request line already
    carries the codes of the others)."""
    keep = DropExpectedGraphQLErrors().filter

    def record(error: object) -> logging.LogRecord:
        return logging.LogRecord("strawberry.execution", logging.ERROR, __file__, 1, error, (), None)

    coded = GraphQLError("Authentication required.", extensions={"code": "UNAUTHENTICATED"})
    assert not keep(record(coded))
    assert not keep(record(GraphQLError("Cannot query field 'x' on type 'Query'.")))
    assert not keep(record(GraphQLError(coded.message, original_error=coded)))  # as a resolver raised it
    assert keep(
        record(GraphQLError("division by zero", original_error=ZeroDivisionError("division by zero")))
    )
    assert keep(record("anything else"))
