"""The app factory: Starlette serving the GraphQL endpoint (HTTP and WebSocket on one path) and GraphiQL."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from app import db
from app.clock import Clock
from app.config import Settings, get_settings
from app.consent_page import consent_routes
from app.resolvers.context import Context, build_context
from app.resolvers.schema import build_schema
from app.runtime import Runtime


class GraphQLApp(GraphQL[Context, None]):
    def __init__(self, runtime: Runtime, **options: Any) -> None:
        production = runtime.settings.env == "production"
        super().__init__(
            build_schema(production=production), graphql_ide=None if production else "graphiql", **options
        )
        self.runtime = runtime

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Context:
        return await build_context(self.runtime, request, response)


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> Starlette:
    runtime = Runtime.create(settings or get_settings(), clock)
    graphql = GraphQLApp(runtime)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        if runtime.settings.is_sqlite:
            # The embedded default needs no operator: it creates and migrates its own file.
            await db.upgrade(runtime.settings.database_url)
        runtime.start()
        yield
        await runtime.close()

    app = Starlette(
        routes=[
            Route("/", lambda _request: RedirectResponse("/graphql")),
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            *consent_routes(runtime),
        ],
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    return app
