"""GraphQL over Server-Sent Events, for clients that cannot use WebSockets (graphql-sse, "distinct connections"
mode): POST the operation as JSON with `Accept: text/event-stream` and a bearer token; each result arrives as an
`event: next`, the end as `event: complete`.

A stream is a live session (app/sessions.py): it counts against its user's connection and subscription caps
(HTTP 429, `TOO_MANY_CONNECTIONS`, when one too many), and ends with an error (`event: next` whose `errors` say
why, UNAUTHENTICATED or FORBIDDEN) and `event: complete` at the token's `exp` or when an import changed the user's
roles. Authentication runs within the execution timeout: a database that does not answer gets 503 (`TIMEOUT` or
`UNAVAILABLE`), never a stream that hangs before it starts."""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import strawberry
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from app.resolvers.context import Context, DeadlinePassed, build_context
from app.resolvers.extensions import is_unavailable
from app.resolvers.limits import decode_json
from app.runtime import Runtime
from app.sessions import LiveSessions, SessionEnd, TooMany

KEEP_ALIVE_SECONDS = 15
UNAVAILABLE = "The service cannot reach its database; try again shortly."


def _refusal(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(
        {"data": None, "errors": [{"message": message, "extensions": {"code": code}}]}, status
    )


def _ended(why: SessionEnd) -> str:
    body = {"data": None, "errors": [{"message": why.message, "extensions": {"code": why.code}}]}
    return f"event: next\ndata: {json.dumps(body)}\n\nevent: complete\ndata: \n\n"


def _result(result: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"data": result.data}
    if result.errors:
        body["errors"] = [error.formatted for error in result.errors]
    return body


async def _authenticated(runtime: Runtime, request: Request) -> Context | Response:
    try:
        return await build_context(runtime, request, None)
    except DeadlinePassed:
        seconds = runtime.settings.execution_timeout_seconds
        return _refusal(
            503, "TIMEOUT", f"Authentication took longer than {seconds:g} seconds and was stopped."
        )
    except Exception as error:
        if not is_unavailable(error):
            raise
        return _refusal(503, "UNAVAILABLE", UNAVAILABLE)


def sse_route(runtime: Runtime, schema: strawberry.Schema, live: LiveSessions) -> Route:
    async def stream(request: Request) -> Response:
        try:
            payload = decode_json(await request.body())
        except ValueError:
            payload = None
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            error = {"message": "POST a JSON body with `query`.", "extensions": {"code": "BAD_REQUEST"}}
            return JSONResponse({"errors": [error]}, 400)
        version = live.version  # the import count before the principal is read (app/sessions.py)
        context = await _authenticated(runtime, request)
        if not isinstance(context, Context):
            return context
        if not context.authenticated:
            return JSONResponse({"errors": [context.auth_failure().formatted]}, context.auth_status)
        who = context.viewer or context.reviewer
        assert who is not None and context.token_expires_at is not None
        try:
            session = context.session = live.open(who, context.token_expires_at, version, None)
        except TooMany as refused:
            return _refusal(429, refused.code, refused.message)
        try:
            results = await schema.subscribe(
                payload["query"],
                payload.get("variables") or {},
                context,
                operation_name=payload.get("operationName"),
            )
        except BaseException:
            session.close()
            raise

        async def events() -> AsyncIterator[str]:
            if not hasattr(results, "__aiter__"):  # refused before it started (validation, authentication)
                session.close()
                yield f"event: next\ndata: {json.dumps(_result(results))}\n\n"
                yield "event: complete\ndata: \n\n"
                return
            iterator = results.__aiter__()
            pending: asyncio.Task[Any] | None = None
            ended = asyncio.ensure_future(session.done.wait())
            try:
                while True:
                    pending = pending or asyncio.ensure_future(iterator.__anext__())
                    done, _ = await asyncio.wait(
                        {pending, ended}, timeout=KEEP_ALIVE_SECONDS, return_when=asyncio.FIRST_COMPLETED
                    )
                    if not done:
                        yield ": keep-alive\n\n"
                        continue
                    if pending not in done:  # the session ended (token expired, roles changed) or closed
                        if session.ended is not None:
                            yield _ended(session.ended)
                        return
                    try:
                        result = pending.result()
                    except StopAsyncIteration:
                        break
                    pending = None
                    yield f"event: next\ndata: {json.dumps(_result(result), default=str)}\n\n"
                yield "event: complete\ndata: \n\n"
            finally:
                ended.cancel()
                session.close()
                if pending is not None:
                    pending.cancel()
                with contextlib.suppress(Exception):
                    await iterator.aclose()  # type: ignore[attr-defined]

        return StreamingResponse(
            events(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache"},
            background=BackgroundTask(session.close),  # also when the client left before the stream began
        )

    return Route("/graphql/stream", stream, methods=["POST"])
