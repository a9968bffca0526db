"""The app factory: Starlette serving the GraphQL endpoint (HTTP and WebSocket on one path) and GraphiQL.

Bounds of its own (SECURITY.md): an HTTP request's deadline (the execution timeout) starts when it reaches the
view and covers authentication as well as execution; WebSocket `connection_init` authenticates within the same
time and opens a live session (app/sessions.py); a WebSocket message larger than the HTTP body cap closes the
socket (1009), whichever server runs the app (`uvicorn_options` also sets uvicorn's own cap for `mci serve`)."""

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.middleware import Middleware
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
from app.resolvers.context import Context, DeadlinePassed, build_context
from app.resolvers.extensions import is_unavailable
from app.resolvers.limits import Refused, RequestGuards, decode_json, request_middleware
from app.resolvers.schema import build_schema
from app.resolvers.subscriptions import ConnectionRefused
from app.runtime import Runtime
from app.sessions import CLOSE_TOO_MANY, LiveSessions, TooMany
from app.sse import sse_route

log = logging.getLogger("mci.limits")
TRY_AGAIN_LATER = 1013  # WebSocket close code: the database cannot be reached now; clients retry


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """What uvicorn must be told for this app (`mci serve`, the test servers): WebSocket messages no larger than
    the HTTP body cap (uvicorn closes with 1009 before buffering more), uncompressed (small JSON: compressing each
    costs CPU per delivery and ~40 KiB of zlib state per open WebSocket, bench (6): 111 -> 71 KiB per
    subscription, for little saved on the wire). The app enforces the same cap itself under any other server."""
    return {"ws_max_size": settings.max_body_bytes, "ws_per_message_deflate": False}


class WebSocketMessageCap:
    """ASGI middleware: a WebSocket message larger than `max_bytes` closes the socket with 1009 ("message too
    big"); the app sees the client leave. The HTTP body cap (`BodySizeLimit`) for WebSocket messages, so one message
    cannot pin more than a request body may, whichever server runs the app."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_big(self, message: Any) -> bool:
        if message.get("type") != "websocket.receive":
            return False
        text = message.get("text")
        if text is not None:
            # A character is 1 to 4 bytes in UTF-8: count bytes only when the characters do not settle it.
            return len(text) > self.max_bytes or (
                len(text) * 4 > self.max_bytes and len(text.encode()) > self.max_bytes
            )
        return len(message.get("bytes") or b"") > self.max_bytes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        closed = False

        async def capped_receive() -> Any:
            nonlocal closed
            message = await receive()
            if not closed and self._too_big(message):
                closed = True
                await send({"type": "websocket.close", "code": 1009, "reason": "message too big"})
                return {"type": "websocket.disconnect", "code": 1009, "reason": "message too big"}
            return message

        async def guarded_send(message: Any) -> None:
            # After our close, the app's late messages (a `complete`, its own close) are dropped.
            if not closed:
                await send(message)

        await self.app(scope, capped_receive, guarded_send)


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
            # graphql-transport-ws's, and the legacy graphql-ws's too (app/resolvers/subscriptions.py)
            connection_init_wait_timeout=timedelta(seconds=settings.ws_init_timeout_seconds),
        )
        self.runtime = runtime
        self.live = LiveSessions(settings, runtime.sessions)

    def decode_json(self, data: str | bytes) -> object:
        return decode_json(data)

    def encode_json(self, data: object) -> str:
        """Every response and WebSocket message: orjson (compact) instead of json.dumps. As text: Strawberry sends
        bytes as binary WebSocket frames, which browsers hand to graphql-ws clients as Blobs they cannot parse."""
        return orjson.dumps(data).decode()

    @property
    def _timeout(self) -> float:
        return self.runtime.settings.execution_timeout_seconds

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Context:
        """Over HTTP the request's deadline starts here: authentication and then execution must both end by it."""
        try:
            return await build_context(self.runtime, request, response)
        except DeadlinePassed:
            log.warning("authentication stopped after %ss", self._timeout)
            raise Refused(
                503, "TIMEOUT", f"Authentication took longer than {self._timeout:g} seconds and was stopped."
            ) from None

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """No operation runs before the token in `connection_init` is checked: `{"Authorization": "Bearer …"}`
        (or `{"token": "…"}`), within the execution timeout. The connection is then a live session: bound to the
        token's lifetime and its user's roles, counted against the user's connection cap."""
        params = context.connection_params or {}
        raw = params.get("Authorization") or params.get("authorization")
        token = bearer_token(raw) if isinstance(raw, str) else None
        if token is None and isinstance(params.get("token"), str):
            token = str(params["token"])
        version = self.live.version  # the import count before the principal is read (app/sessions.py)
        try:
            await context.authenticate_by(token, asyncio.get_running_loop().time() + self._timeout)
        except DeadlinePassed:
            raise ConnectionRefused(
                TRY_AGAIN_LATER, "database not answering", "TIMEOUT", "Authentication took too long."
            ) from None
        except Exception as error:
            if not is_unavailable(error):
                raise
            raise ConnectionRefused(
                TRY_AGAIN_LATER,
                "database unavailable",
                "UNAVAILABLE",
                "The service cannot reach its database; try again shortly.",
            ) from None
        if not context.authenticated:
            raise ConnectionRejectionError({"message": context.auth_error or "Authentication required."})
        who = context.viewer or context.reviewer
        assert who is not None and context.token_expires_at is not None
        try:
            context.session = self.live.open(who, context.token_expires_at, version, context.session_closer)
        except TooMany as refused:
            raise ConnectionRefused(
                CLOSE_TOO_MANY, "too many connections", refused.code, refused.message
            ) from None
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
        await graphql.live.start()
        with observability.drain_on_signals(runtime):
            yield
        await graphql.live.stop()
        await runtime.close()

    app = Starlette(
        routes=[
            Route("/", lambda _request: RedirectResponse("/graphql")),
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            sse_route(runtime, graphql.schema, graphql.live),
            *consent_routes(runtime),
        ],
        lifespan=lifespan,
        middleware=[
            *request_middleware(runtime.settings),  # CORS allowlist, request body cap
            Middleware(WebSocketMessageCap, max_bytes=runtime.settings.max_body_bytes),
        ],
    )
    # No redirect to the path with or without a trailing slash: Starlette builds it from the request's Host header,
    # which a client chooses; a path that is not ours is a 404.
    app.router.redirect_slashes = False
    app.state.runtime = runtime
    app.state.live_sessions = graphql.live
    observability.install(app, runtime, graphql.schema)  # probes, /metrics, request logs and ids, tracing
    return app
