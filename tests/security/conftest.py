"""Servers with settings of their own (production mode, small limits, a database behind a proxy), each a real
uvicorn in a thread like the shared `api` server, and fresh seeded databases for the tests that damage theirs."""

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn

from app.auth import mint_token
from app.cli import DEMO_DATA
from app.clock import Clock
from app.config import Settings
from app.main import GraphQLApp, create_app, uvicorn_options
from app.runtime import Runtime
from app.services.importer import import_reference_data, load_document
from tests.conftest import Database, GraphQLResponse, SmtpSink, _free_port, _open_database

PRODUCTION_SECRETS = {
    "jwt_secret": "security-tests-jwt-secret-0123456789-abcdefghijklmnop",
    "link_secret": "security-tests-link-secret-0123456789-abcdefghijklmnop",
}


@dataclass
class Server:
    base_url: str
    http: httpx.AsyncClient
    runtime: Runtime
    thread: threading.Thread
    app: Any = None  # the Starlette app: `graphql_app(server.app)` reaches its stores

    @property
    def graphql_app(self) -> GraphQLApp:
        return graphql_app(self.app)

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    def token(self, email: str) -> str:
        return mint_token(self.settings, email)

    async def graphql(self, query: str | None, variables: dict[str, Any] | None = None, **kwargs: Any):
        return await call(self, query, variables, **kwargs)


def graphql_app(app: Any) -> GraphQLApp:
    """The GraphQL endpoint of a Starlette app made by `create_app` (its persisted queries, its schema)."""
    for route in app.routes:
        if isinstance(getattr(route, "endpoint", None), GraphQLApp):
            return route.endpoint
    raise LookupError("no GraphQL endpoint")


async def call(
    target: Any,
    query: str | None,
    variables: dict[str, Any] | None = None,
    *,
    as_user: str | None = None,
    token: str | None = None,
    extensions: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> GraphQLResponse:
    """POST one operation to `target` (the shared `api` or a `Server`), with optional request extensions."""
    headers = dict(headers or {})
    if as_user is not None:
        token = target.token(as_user)
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    body: dict[str, Any] = {"query": query, "variables": variables or {}}
    if extensions is not None:
        body["extensions"] = extensions
    response = await target.http.post("/graphql", json=body, headers=headers)
    return GraphQLResponse(response.status_code, response.json())


@contextlib.asynccontextmanager
async def serve(
    database_url: str,
    smtp: SmtpSink | None = None,
    *,
    uvicorn_config: dict[str, Any] | None = None,
    **overrides: Any,
) -> AsyncIterator[Server]:
    """A server over `database_url` with these settings on top of the test defaults, for the `async with`; uvicorn
    configured as `mci serve` configures it, with `uvicorn_config` on top."""
    port = _free_port()
    values: dict[str, Any] = {
        "database_url": database_url,
        "public_url": f"http://127.0.0.1:{port}",
        "env": "development",
        "sandbox": True,
        "smtp_url": f"smtp://127.0.0.1:{smtp.port}" if smtp else None,
        "mail_poll_seconds": 0.2,
        "sweep_interval_seconds": 3600,
    }
    if overrides.get("env") == "production":
        values |= {"sandbox": False, **PRODUCTION_SECRETS}
    settings = Settings(**(values | overrides))
    app = create_app(settings, Clock())
    options = uvicorn_options(settings) | (uvicorn_config or {})
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", **options)
    )
    thread = threading.Thread(target=server.run, name=f"uvicorn-security-{port}", daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive(), "the server failed to start"
        await asyncio.sleep(0.02)
    base_url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            yield Server(base_url, http, app.state.runtime, thread, app)
    finally:
        server.should_exit = True
        await asyncio.to_thread(thread.join, 10)


async def seeded_database(backend: str, purpose: str) -> Database:
    """A fresh database of this backend with the demo reference data."""
    database = await _open_database(backend, purpose)
    await import_reference_data(database.sessions, load_document(DEMO_DATA))
    return database
