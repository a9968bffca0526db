"""The app factory: Starlette serving the GraphQL endpoint (HTTP and WebSocket on one path) and GraphiQL."""

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.types.unset import UNSET, UnsetType

from app import db, observability
from app.auth import bearer_token
from app.clock import Clock
from app.config import Settings, get_settings
from app.consent_page import consent_routes
from app.persisted import PersistedQueries
from app.resolvers import subscriptions
from app.resolvers.context import Context, build_context
from app.resolvers.limits import RequestGuards, request_middleware
from app.resolvers.schema import build_schema
from app.runtime import Runtime
from app.sse import sse_route


class GraphQLApp(RequestGuards, GraphQL[Context, None]):
    # Live events are delivered as shared, pre-encoded frames (app/resolvers/subscriptions.py).
    graphql_transport_ws_handler_class = subscriptions.TransportWSHandler
    graphql_ws_handler_class = subscriptions.LegacyWSHandler

    def __init__(self, runtime: Runtime) -> None:
        settings = runtime.settings
        production = settings.env == "production"
        self.persisted = PersistedQueries.of(settings)
        super().__init__(
            build_schema(production=production, settings=settings, persisted=self.persisted),
            graphql_ide=None if production else "graphiql",
            keep_alive=True,
            keep_alive_interval=15,
            max_subscriptions_per_connection=settings.max_subscriptions_per_connection,
            allowed_origins=settings.allowed_origins,
        )
        self.runtime = runtime

    def encode_json(self, data: object) -> str:
        """Every response and WebSocket message: orjson (compact) instead of json.dumps. As text: Strawberry sends
        bytes as binary WebSocket frames, which browsers hand to graphql-ws clients as Blobs they cannot parse."""
        return orjson.dumps(data).decode()

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Context:
        return await build_context(self.runtime, request, response)

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """No operation runs before the token in `connection_init` is checked: `{"Authorization": "Bearer …"}`
        (or `{"token": "…"}`)."""
        params = context.connection_params or {}
        raw = params.get("Authorization") or params.get("authorization")
        token = bearer_token(raw) if isinstance(raw, str) else None
        if token is None and isinstance(params.get("token"), str):
            token = str(params["token"])
        await context.authenticate(token)
        if not context.authenticated:
            raise ConnectionRejectionError({"message": context.auth_error or "Authentication required."})
        return UNSET


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> Starlette:
    runtime = Runtime.create(settings or get_settings(), clock)
    graphql = GraphQLApp(runtime)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        if runtime.settings.is_sqlite:
            # The embedded default needs no operator: it creates and migrates its own file.
            await db.upgrade(runtime.settings.database_url)
        # Open subscriptions are many long-lived objects (~600 per WebSocket); with CPython's default young threshold
        # (700) the objects in flight during a fan-out are promoted fast enough to force a full collection every
        # ~15 s, a ~0.3 s pause at 1,000 subscribers (bench (6)). A larger young generation promotes far fewer.
        gc.set_threshold(50_000, 20, 10)
        await runtime.start()
        with observability.drain_on_signals(runtime):
            yield
        await runtime.close()

    app = Starlette(
        routes=[
            Route("/", lambda _request: RedirectResponse("/graphql")),
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            sse_route(runtime, graphql.schema),
            *consent_routes(runtime),
        ],
        lifespan=lifespan,
        middleware=request_middleware(runtime.settings),  # CORS allowlist, request body cap
    )
    app.state.runtime = runtime
    observability.install(app, runtime, graphql.schema)  # probes, /metrics, request logs and ids, tracing
    return app
