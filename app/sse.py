"""GraphQL over Server-Sent Events, for clients that cannot use WebSockets (graphql-sse, "distinct connections"
mode): POST the operation as JSON with `Accept: text/event-stream` and a bearer token; each result arrives as an
`event: next`, the end as `event: complete`."""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import strawberry
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from app.resolvers.context import build_context
from app.runtime import Runtime

KEEP_ALIVE_SECONDS = 15


def _result(result: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"data": result.data}
    if result.errors:
        body["errors"] = [error.formatted for error in result.errors]
    return body


def sse_route(runtime: Runtime, schema: strawberry.Schema) -> Route:
    async def stream(request: Request) -> Response:
        try:
            payload = await request.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            error = {"message": "POST a JSON body with `query`.", "extensions": {"code": "BAD_REQUEST"}}
            return JSONResponse({"errors": [error]}, 400)
        context = await build_context(runtime, request, None)
        if not context.authenticated:
            return JSONResponse({"errors": [context.auth_failure().formatted]}, context.auth_status)
        results = await schema.subscribe(
            payload["query"],
            payload.get("variables") or {},
            context,
            operation_name=payload.get("operationName"),
        )

        async def events() -> AsyncIterator[str]:
            if not hasattr(results, "__aiter__"):  # refused before it started (validation, authentication)
                yield f"event: next\ndata: {json.dumps(_result(results))}\n\n"
                yield "event: complete\ndata: \n\n"
                return
            iterator = results.__aiter__()
            pending: asyncio.Task[Any] | None = None
            try:
                while True:
                    pending = pending or asyncio.ensure_future(iterator.__anext__())
                    done, _ = await asyncio.wait({pending}, timeout=KEEP_ALIVE_SECONDS)
                    if not done:
                        yield ": keep-alive\n\n"
                        continue
                    try:
                        result = pending.result()
                    except StopAsyncIteration:
                        break
                    pending = None
                    yield f"event: next\ndata: {json.dumps(_result(result), default=str)}\n\n"
                yield "event: complete\ndata: \n\n"
            finally:
                if pending is not None:
                    pending.cancel()
                with contextlib.suppress(Exception):
                    await iterator.aclose()  # type: ignore[attr-defined]

        return StreamingResponse(
            events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )

    return Route("/graphql/stream", stream, methods=["POST"])
